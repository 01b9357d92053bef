"""The analytics dashboard in a real headless browser (Debian's chromium, driven by Playwright) against a real
ASGI server: a staff user logs in through the admin's form, every chart is drawn, nothing is loaded from outside
127.0.0.1, no console or page error; a screenshot is kept in var/artifacts/ for CI."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from aimodels import services as aimodels_services
from aimodels.models import TrainingJob
from aimodels.tests.factories import ready_version, run, spec
from incubator.tests.browser import ARTIFACTS, browser_missing, chromium, record
from incubator.tests.live import asgi_server
from projects import services as projects_services
from projects.models import Project
from projects.tests.factories import make_project

pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]


def _seed() -> None:
    """A little of everything the dashboard counts, made through the services."""
    staff = UserFactory(username="admin", email="admin@example.com", is_staff=True, is_superuser=True)
    # The tests hash with MD5 (conftest), which the server process does not accept: its own default hasher.
    User.objects.filter(pk=staff.pk).update(password=PBKDF2PasswordHasher().encode(PASSWORD, "dashboard-salt"))
    owner = UserFactory(username="li", display_name="李雷")
    UserFactory.create_batch(3)
    project = make_project(owner, name="城市空气质量预测", tags=["机器学习"])
    projects_services.project_update(project=project, actor=owner, data={"status": "in_progress"})
    make_project(owner, name="Speech to text")
    done = make_project(owner, name="图像分类")
    projects_services.project_update(project=done, actor=owner, data={"status": "completed"})
    version = ready_version(project, owner, rows=60)
    job = run(aimodels_services.job_create(project=project, version=version, actor=owner, data=spec()))
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error_message
    aimodels_services.job_create(project=project, version=version, actor=owner, data=spec(seed=4))
    # Spread the people and projects over the month, so the trend lines have a shape in the screenshot.
    now = timezone.now()
    for days, pk in zip((24, 17, 11, 6, 2), User.objects.order_by("pk").values_list("pk", flat=True), strict=False):
        User.objects.filter(pk=pk).update(date_joined=now - timedelta(days=days))
    for days, pk in zip((20, 9), Project.objects.order_by("pk").values_list("pk", flat=True), strict=False):
        Project.objects.filter(pk=pk).update(created_at=now - timedelta(days=days))


def _open_dashboard(base: str, locale: str, screenshot: Path) -> dict:
    """Logs in, opens the dashboard, waits for the charts; returns what the page did."""
    with chromium() as browser:
        context = browser.new_context(locale=locale, viewport={"width": 1360, "height": 1000})
        page = context.new_page()
        log = record(page)

        page.goto(f"{base}/admin/analytics/dashboard/?range=30&interval=day")
        assert "/admin/login/" in page.url  # anonymous: sent to the admin's login form
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/analytics/dashboard/**")
        page.wait_for_function(
            "() => window.Chart && [...document.querySelectorAll('canvas[data-chart]')]"
            ".every(canvas => Chart.getChart(canvas))"
        )
        charts = page.evaluate(
            """() => [...document.querySelectorAll('canvas[data-chart]')].map(canvas => {
                const chart = Chart.getChart(canvas);
                return {
                    name: canvas.dataset.chart,
                    type: chart.config.type,
                    labels: chart.data.labels,
                    series: chart.data.datasets.map(d => ({label: d.label, data: d.data})),
                    width: canvas.width,
                    height: canvas.height,
                };
            })"""
        )
        tiles = page.eval_on_selector_all(
            ".analytics-tile",
            "tiles => tiles.map(t => [t.dataset.tile, t.querySelector('.analytics-tile-value').textContent])",
        )
        text = page.inner_text("body")
        lang = page.get_attribute("html", "lang")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    return {
        "base": base,
        "log": log,
        "charts": charts,
        "tiles": dict(tiles),
        "text": text,
        "lang": lang,
    }


def _check_common(seen: dict) -> None:
    log = seen["log"]
    assert log.errors() == []
    assert log.foreign_requests(seen["base"]) == [], log.requests
    assert any(url.endswith("/static/analytics/chart.umd.min.js") for url in log.requests)
    charts = {chart["name"]: chart for chart in seen["charts"]}
    assert set(charts) == {"projects_by_status", "jobs_by_status", "trend_people", "trend_jobs", "trend_datasets"}
    for chart in charts.values():
        assert chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["labels"] and chart["series"], chart
        assert all(len(series["data"]) == len(chart["labels"]) for series in chart["series"]), chart
    assert charts["projects_by_status"]["type"] == "doughnut"
    assert charts["projects_by_status"]["series"][0]["data"] == [1, 1, 1]
    # Two jobs, trained by the eager worker; the created line holds both, today.
    assert sum(charts["jobs_by_status"]["series"][0]["data"]) == 2
    assert sum(charts["trend_jobs"]["series"][0]["data"]) == 2
    assert charts["trend_jobs"]["series"][0]["data"][-1] == 2
    assert sum(charts["trend_datasets"]["series"][0]["data"]) == 1
    people = charts["trend_people"]["series"]
    assert sum(people[0]["data"]) == 3 and sum(people[1]["data"]) == 5  # every project and user is in the month
    assert seen["tiles"]["projects"] == "3" and seen["tiles"]["jobs"] == "2"
    assert seen["tiles"]["success_rate"] == "100.0%"


@pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")
def test_dashboard_draws_every_chart_offline_in_english_and_chinese():
    _seed()
    with asgi_server() as base:
        english = _open_dashboard(base, "en-US", ARTIFACTS / "analytics-dashboard.png")
        chinese = _open_dashboard(base, "zh-CN", ARTIFACTS / "analytics-dashboard-zh-hans.png")

    _check_common(english)
    assert "Analytics dashboard" in english["text"]
    assert {chart["name"]: chart for chart in english["charts"]}["projects_by_status"]["labels"] == [
        "Recruiting",
        "In progress",
        "Completed",
    ]

    _check_common(chinese)
    # The status labels come translated from the server, into the chart's legend.
    assert {chart["name"]: chart for chart in chinese["charts"]}["projects_by_status"]["labels"] == [
        "招募中",
        "进行中",
        "已完成",
    ]
    assert "首页" in chinese["text"] and "Home" not in chinese["text"]  # the admin's own breadcrumbs, in Chinese
    assert chinese["lang"] == "zh-hans" and english["lang"] == "en"
