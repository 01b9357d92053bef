"""The analytics dashboard in Django admin (staff only): the overview figures and the main trends as charts.

Figures are computed here, on the server, by the same selectors and cache as the API (analytics.selectors,
analytics.memo), embedded in the page with `json_script`, and drawn by static/analytics/dashboard.js with the
vendored Chart.js: nothing is loaded from outside the host, and no inline script runs.
"""

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from projects.models import Project

from .charts import chart
from .memo import memoized
from .scope import Scope
from .selectors.figures import (
    DEFAULT_DAYS,
    EARLIEST,
    LATEST,
    MAX_BUCKETS,
    bucket_count,
    overview,
    time_zone_names,
    trends,
)

DEFAULT_INTERVAL = "day"
DEFAULT_TZ = settings.ANALYTICS_TIME_ZONE
# Past this many projects the project selector becomes an id box: a <select> of every project would not scale.
PROJECT_SELECT_LIMIT = 200

RANGE_CHOICES = [
    ("7", _("Last 7 days")),
    ("30", _("Last 30 days")),
    ("90", _("Last 90 days")),
    ("365", _("Last 365 days")),
    ("custom", _("From / to dates")),
]
INTERVAL_CHOICES = [("day", _("Day")), ("week", _("Week")), ("month", _("Month"))]
# The zones the time zone box suggests; any IANA name is accepted.
COMMON_ZONES = [
    "Asia/Shanghai",
    "UTC",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Kolkata",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Australia/Sydney",
]

# The trend charts: (key, title, metrics drawn together).
TREND_CHARTS = [
    ("trend_people", _("New projects and users"), ["projects_created", "users_registered"]),
    ("trend_jobs", _("Training jobs"), ["jobs_created", "jobs_succeeded", "jobs_failed"]),
    ("trend_datasets", _("Dataset versions uploaded"), ["datasets_uploaded"]),
]


class DashboardForm(forms.Form):
    """The selector bar (GET): time range, interval, time zone and project."""

    range = forms.ChoiceField(label=_("Range"), choices=RANGE_CHOICES, required=False, initial=str(DEFAULT_DAYS))
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    interval = forms.ChoiceField(
        label=_("Interval"), choices=INTERVAL_CHOICES, required=False, initial=DEFAULT_INTERVAL
    )
    tz = forms.CharField(
        label=_("Time zone"),
        required=False,
        initial=DEFAULT_TZ,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "analytics-zones", "autocomplete": "off", "spellcheck": "false"}),
    )
    project = forms.IntegerField(label=_("Project"), required=False, min_value=1, max_value=2**63 - 1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        projects = Project.objects.order_by("name", "pk").values_list("pk", "name")[: PROJECT_SELECT_LIMIT + 1]
        if len(projects) <= PROJECT_SELECT_LIMIT:
            choices = [("", _("All projects"))] + [(pk, name) for pk, name in projects]
            self.fields["project"].widget = forms.Select(choices=choices)
        else:
            self.fields["project"].widget = forms.NumberInput(attrs={"placeholder": _("All projects (or an id)")})

    def clean_tz(self) -> str:
        name = self.cleaned_data.get("tz", "").strip()
        if name and name not in time_zone_names():
            raise forms.ValidationError(_("Unknown time zone: use an IANA name such as Asia/Shanghai."), code="invalid")
        return name

    def clean_project(self) -> int | None:
        project_id = self.cleaned_data.get("project")
        if project_id is not None and not Project.objects.filter(pk=project_id).exists():
            raise forms.ValidationError(_("No project has this id."), code="not_found")
        return project_id

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        for name, value in (("start", start), ("end", end)):
            if value is not None and not EARLIEST <= value <= LATEST:
                self.add_error(name, _("Choose a date between %(a)s and %(b)s.") % {"a": EARLIEST, "b": LATEST})
        if data.get("range") != "custom" or self.errors:
            return data
        if start is None:
            self.add_error("start", _("Give the first day of the range."))
        if end is None:
            self.add_error("end", _("Give the last day of the range."))
        if start and end and start > end:
            self.add_error("end", _("The last day comes before the first."))
        interval = data.get("interval") or DEFAULT_INTERVAL
        if start and end and start <= end and bucket_count(interval, start, end) > MAX_BUCKETS:
            raise forms.ValidationError(
                _("This range holds more than %(max)d points: choose a longer interval or a shorter range."),
                code="too_many_points",
                params={"max": MAX_BUCKETS},
            )
        return data


def dashboard_form(query: QueryDict) -> DashboardForm:
    """The form bound to the query, what it leaves out filled with the defaults (so the bar shows what is drawn);
    `?start=...&end=...` alone means those dates."""
    data = query.copy()
    custom = "start" in data or "end" in data
    defaults = {"range": "custom" if custom else str(DEFAULT_DAYS), "interval": DEFAULT_INTERVAL, "tz": DEFAULT_TZ}
    for name, value in defaults.items():
        if not data.get(name):
            data[name] = value
    form = DashboardForm(data)
    form.is_valid()
    return form


def dashboard_params(form: DashboardForm, *, today: dt.date | None = None) -> dict[str, Any]:
    """The figures' parameters: the form's where it is valid, the defaults for every field that is not (a
    range with any error falls back to the last DEFAULT_DAYS days)."""
    data = form.cleaned_data if form.is_bound else {}
    errors = form.errors if form.is_bound else {}

    def valid(name: str) -> Any:
        return None if name in errors else data.get(name)

    tz_name = valid("tz") or DEFAULT_TZ
    today = today or timezone.now().astimezone(zoneinfo.ZoneInfo(tz_name)).date()
    range_ = valid("range") or str(DEFAULT_DAYS)
    range_ok = not any(name in errors for name in ("range", "start", "end", "__all__"))
    if range_ == "custom" and range_ok:
        start, end = data["start"], data["end"]
    else:
        range_ = range_ if range_.isdigit() else str(DEFAULT_DAYS)
        start, end = today - dt.timedelta(days=int(range_) - 1), today
    return {
        "range": range_,
        "start": start,
        "end": end,
        # An interval that made the range too long is not kept either.
        "interval": (valid("interval") if "__all__" not in errors else None) or DEFAULT_INTERVAL,
        "tz": tz_name,
        "project": valid("project"),
    }


def _status_chart(rows: list[dict[str, Any]], name: Any) -> dict[str, Any]:
    return chart([force_str(row["label"]) for row in rows], [(name, [row["count"] for row in rows])], _("count"))


def dashboard_data(*, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
    """Everything the page draws: the overview, its two status charts and the trend charts (JSON-able)."""
    figures = memoized("dashboard.overview", scope, {}, lambda: overview(scope=scope))
    tz = zoneinfo.ZoneInfo(params["tz"])
    charts = {
        "projects_by_status": _status_chart(figures["projects"]["by_status"], _("Projects")),
        "jobs_by_status": _status_chart(figures["jobs"]["by_status"], _("Training jobs")),
    }
    for key, _title, metrics in TREND_CHARTS:
        trend_params = {name: params[name] for name in ("interval", "start", "end", "tz")} | {"metrics": metrics}
        charts[key] = memoized(
            "dashboard.trends",
            scope,
            trend_params,
            lambda metrics=metrics: trends(
                scope=scope,
                metrics=metrics,
                interval=params["interval"],
                start=params["start"],
                end=params["end"],
                tz=tz,
            ),
        )
    keys = {
        "projects_by_status": [row["key"] for row in figures["projects"]["by_status"]],
        "jobs_by_status": [row["key"] for row in figures["jobs"]["by_status"]],
        **{key: metrics for key, _title, metrics in TREND_CHARTS},
    }
    return {"overview": figures, "charts": charts, "keys": keys, "i18n": {"no_data": gettext("No data")}}


def _tiles(figures: dict[str, Any]) -> list[dict[str, Any]]:
    jobs = figures["jobs"]
    rate = jobs.get("success_rate")
    duration = jobs.get("duration_seconds") or {}
    return [
        {"key": "projects", "label": _("Projects"), "value": figures["projects"]["total"]},
        {"key": "users", "label": _("Users"), "value": figures["users"]["total"]},
        {"key": "datasets", "label": _("Datasets"), "value": figures["datasets"]["datasets"]},
        {"key": "versions", "label": _("Dataset versions"), "value": figures["datasets"]["versions"]},
        {"key": "jobs", "label": _("Training jobs"), "value": jobs["total"]},
        {"key": "success_rate", "label": _("Job success rate"), "value": _percent(rate)},
        {"key": "duration_median", "label": _("Median job duration"), "value": _duration(duration.get("median"))},
        {"key": "duration_p90", "label": _("90th percentile job duration"), "value": _duration(duration.get("p90"))},
        {"key": "models", "label": _("Models in production"), "value": figures["models"]["in_production"]},
    ]


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return gettext("%(n).1f s") % {"n": seconds}
    if seconds < 3600:
        return gettext("%(n).1f min") % {"n": seconds / 60}
    return gettext("%(n).1f h") % {"n": seconds / 3600}


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """GET /admin/analytics/dashboard/ (routed through admin.site.admin_view, which sends others to login)."""
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied  # admin_view already refused; this holds if the view is ever routed without it
    form = dashboard_form(request.GET)
    params = dashboard_params(form)
    scope = Scope(user=request.user, project_id=params["project"])
    data = dashboard_data(scope=scope, params=params)
    project_name = (
        Project.objects.filter(pk=params["project"]).values_list("name", flat=True).first()
        if params["project"] is not None
        else None
    )
    data["params"] = {**params, "start": params["start"].isoformat(), "end": params["end"].isoformat()}
    context = {
        **admin.site.each_context(request),
        "title": _("Analytics dashboard"),
        "form": form,
        "params": params,
        "project_name": project_name,
        "interval_label": dict(INTERVAL_CHOICES)[params["interval"]],
        "zones": COMMON_ZONES,
        "tiles": _tiles(data["overview"]),
        "trend_charts": [(key, title) for key, title, _metrics in TREND_CHARTS],
        "dashboard": data,
    }
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)
