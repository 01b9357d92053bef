"""Reads on datasets: visibility through the project, lists with filters, versions, preview pages."""

import logging
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from incubator.errors import InvalidInput, NotFound
from incubator.generations import generation_get
from incubator.totals import cached_total
from projects.access import ProjectRowLookup
from projects.models import Project
from projects.selectors import LIST_GENERATION as PROJECTS_GENERATION
from projects.selectors import normalize_search, project_visibility_scope, project_visible_q

from . import storage
from .errors import VersionNotReady
from .models import Dataset, DatasetUpload, DatasetVersion

logger = logging.getLogger(__name__)

# The family of rows dataset lists depend on: datasets, their versions (a list shows the latest one's status)
# and the projects they live in (visibility, membership), so project writes bump it too.
LIST_GENERATION = "datasets"
MAX_PREVIEW_ROWS = 500


def _visible_projects_q(*, user: Any) -> Q:
    """Datasets of the projects the user may see, through project_visible_q on the related project."""
    inner = project_visible_q(user=user)
    if not inner:
        return Q()
    from projects.models import Project

    return Q(project__in=Project.objects.filter(inner).values("pk"))


def dataset_list(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet:
    """Datasets in projects the user may see, filtered. Unordered: the caller orders."""
    filters = filters or {}
    qs = Dataset.objects.filter(_visible_projects_q(user=user))
    if projects := filters.get("project"):
        qs = qs.filter(project_id__in=projects)
    if formats := filters.get("format"):
        qs = qs.filter(latest_version__format__in=formats)
    if statuses := filters.get("status"):
        qs = qs.filter(latest_version__status__in=statuses)
    if search := filters.get("search"):
        needle = normalize_search(search)
        if needle:
            qs = qs.filter(search_text__contains=needle)
    return qs


def dataset_list_total(queryset: QuerySet, *, user: Any, filters: dict[str, Any]) -> int:
    """The exact total of dataset_list(user=user, filters=filters), cached until a dataset or project changes."""
    # Which datasets a user sees follows the projects' visibility and membership: their family names the key.
    key = (project_visibility_scope(user=user), repr(sorted(filters.items())), generation_get(PROJECTS_GENERATION))
    return cached_total(queryset, family=LIST_GENERATION, key=key)


_DATASET = ProjectRowLookup(
    Dataset,
    lambda dataset_id: Dataset.objects.select_related("project", "latest_version", "created_by").filter(pk=dataset_id),
    project="project",
)


def dataset_get(*, dataset_id: int, viewer: Any = None) -> Dataset:
    """The dataset with its project and latest version, or 404. Callers check the project's access; with
    `viewer`, the same query brings the viewer's role in the project (projects.access.ProjectRowLookup)."""
    dataset = _DATASET.first(viewer, dataset_id=dataset_id)
    if dataset is None:
        raise NotFound()
    return dataset


def version_list(*, dataset: Dataset) -> QuerySet:
    return DatasetVersion.objects.filter(dataset=dataset).defer("profile").order_by("number")


def version_get(*, dataset: Dataset, number: int, with_profile: bool = False) -> DatasetVersion:
    qs = DatasetVersion.objects.filter(dataset=dataset, number=number)
    if not with_profile:
        qs = qs.defer("profile")
    version = qs.first()
    if version is None:
        raise NotFound()
    version.dataset = dataset
    return version


def version_ready(*, dataset: Dataset, number: int, with_profile: bool = False) -> DatasetVersion:
    """A version whose Parquet copy exists (409 VERSION_NOT_READY while it processes or after it failed)."""
    version = version_get(dataset=dataset, number=number, with_profile=with_profile)
    if version.status != DatasetVersion.Status.READY:
        raise VersionNotReady(details={"status": version.status})
    return version


def version_rows(
    *, version: DatasetVersion, page: int, page_size: int, columns: list[str] | None
) -> tuple[list[str], list[dict[str, Any]]]:
    """One page of a ready version's rows, read from its Parquet copy by row group, never the whole file."""
    known = [column["name"] for column in version.columns]
    if columns:
        unknown = [name for name in columns if name not in known]
        if unknown:
            raise InvalidInput({"columns": [f"{', '.join(unknown)}: " + _("no such column in this version.")]})
        chosen = [name for name in known if name in set(columns)]
    else:
        chosen = known
    offset = (page - 1) * page_size
    if offset >= (version.row_count or 0):
        return chosen, []
    from .engine import rows as engine_rows  # pyarrow: loaded by the web process that serves pages, not by workers

    try:
        path = storage.local_copy(version.parquet)
    except FileNotFoundError:
        # Deleted since the version was read (a delete racing this page), or lost from the storage behind its back.
        logger.warning("dataset version %s: its Parquet copy %s is not in the storage", version.pk, version.parquet)
        raise NotFound(_("This version's data is no longer in the storage."), details={"file": "parquet"}) from None
    rows = engine_rows.read_rows(path, offset=offset, limit=page_size, columns=chosen)
    return chosen, rows


def upload_get(*, dataset: Dataset, upload_id: int) -> DatasetUpload:
    upload = DatasetUpload.objects.filter(dataset=dataset, pk=upload_id).first()
    if upload is None:
        raise NotFound()
    return upload


def dataset_topic_readable(user: Any, ids: list[int]) -> set[int]:
    """Which of these datasets' live topics (`dataset:{id}`) the user may read: those of projects they can see."""
    visible = Project.objects.filter(project_visible_q(user=user))
    return set(Dataset.objects.filter(pk__in=ids, project__in=visible).values_list("pk", flat=True))
