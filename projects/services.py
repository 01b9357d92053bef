"""Every write on projects, members and applications: validated, atomic, with its outbox event."""

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from incubator.errors import InvalidInput, NotFound
from incubator.events.services import event_record
from incubator.generations import generation_bump
from incubator.schemas import json_equal
from incubator.validation import model_clean
from schema_registry.services import document_validate

from .access import access_require, project_access
from .errors import (
    AlreadyMember,
    ApplicationAlreadyPending,
    ApplicationNotPending,
    NotAMember,
    OwnerImmutable,
    ProjectNotRecruiting,
)
from .models import Application, Membership, Project, ProjectTag, PublicMembershipCount, Tag
from .selectors import LIST_GENERATION

MAX_TAGS = 20
MAX_TAG_LENGTH = 50
PROJECT_FIELDS = ("name", "description", "video_url", "status", "visibility")


# --- list counts --------------------------------------------------------------------------------------------


def _invalidate_list_counts() -> None:
    """Every write that can change which projects a list holds (a project, its tags, visibility or members)."""
    generation_bump(LIST_GENERATION)


# --- tags ---------------------------------------------------------------------------------------------------


def tags_normalize(raw: list[Any]) -> list[str]:
    """Trimmed, inner whitespace collapsed, de-duplicated case-insensitively (first spelling wins), in order."""
    if not isinstance(raw, list):
        raise InvalidInput({"tags": [_("Expected a list of strings.")]})
    seen: set[str] = set()
    tags: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, str):
            raise InvalidInput({"tags": {str(index): [_("Each tag must be a string.")]}})
        tag = " ".join(item.split())
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidInput(
                {"tags": {str(index): [_("A tag has at most %(n)d characters.") % {"n": MAX_TAG_LENGTH}]}}
            )
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidInput({"tags": [_("At most %(n)d tags.") % {"n": MAX_TAGS}]})
    return tags


def _tags_resolve(names: list[str]) -> list[Tag]:
    """The Tag rows for these names, creating missing ones; an existing spelling is reused."""
    tags = []
    for name in names:
        tag = Tag.objects.filter(name__iexact=name).first()
        if tag is None:
            try:
                with transaction.atomic():
                    tag = Tag.objects.create(name=name)
            except IntegrityError:  # created concurrently
                tag = Tag.objects.get(name__iexact=name)
        tags.append(tag)
    return tags


def extra_validate(extra: Any) -> int:
    """The `project.extra` schema version the object fits (InvalidInput naming each JSON path otherwise)."""
    return document_validate(subject="project.extra", document=extra, field="extra")


def _search_text(project: Project) -> str:
    return " ".join(" ".join([project.name, " ".join(project.tags), project.description]).split()).casefold()


def _link_tags(project: Project, tags: list[Tag]) -> None:
    ProjectTag.objects.filter(project=project).exclude(tag__in=tags).delete()
    existing = set(ProjectTag.objects.filter(project=project).values_list("tag_id", flat=True))
    ProjectTag.objects.bulk_create([ProjectTag(project=project, tag=t) for t in tags if t.id not in existing])


# --- projects -----------------------------------------------------------------------------------------------


def _project_payload(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "status": project.status,
        "visibility": project.visibility,
        "tags": project.tags,
        "owner_id": project.owner_id,
        "member_count": project.member_count,
    }


@transaction.atomic
def project_create(*, owner: User, data: dict[str, Any], actor: User | None = None) -> Project:
    """A project with its owner as its first member; `actor`: who made it, when not the owner (an admin)."""
    project = Project(owner=owner, **{f: data[f] for f in PROJECT_FIELDS if f in data})
    project.extra = data.get("extra", {})
    project.schema_version = extra_validate(project.extra)
    tags = _tags_resolve(tags_normalize(data.get("tags", [])))
    project.tags = [tag.name for tag in tags]
    project.search_text = _search_text(project)
    model_clean(project)
    project.save()
    _link_tags(project, tags)
    Membership.objects.create(project=project, user=owner, role=Membership.Role.OWNER)
    if project.visibility == Project.Visibility.PUBLIC:
        _public_counts_recount([owner.pk])
    event_record(
        type="project.created",
        topic=f"project:{project.id}",
        subject_type="project",
        subject_id=project.id,
        payload=_project_payload(project),
        actor_id=(actor or owner).id,
    )
    _invalidate_list_counts()
    return project


@transaction.atomic
def project_update(*, project: Project, actor: User, data: dict[str, Any]) -> Project:
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    changed = [f for f in PROJECT_FIELDS if f in data and getattr(project, f) != data[f]]
    for field in changed:
        setattr(project, field, data[field])
    if "tags" in data:
        tags = _tags_resolve(tags_normalize(data["tags"]))
        if [tag.name for tag in tags] != project.tags:
            project.tags = [tag.name for tag in tags]
            _link_tags(project, tags)
            changed.append("tags")
    if "extra" in data and not json_equal(data["extra"], project.extra):
        project.schema_version = extra_validate(data["extra"])
        project.extra = data["extra"]
        changed.append("extra")
    if not changed:
        return project
    project.search_text = _search_text(project)
    model_clean(project)
    project.save()
    if "visibility" in changed:
        _public_counts_recount(Membership.objects.filter(project=project).values_list("user_id", flat=True))
    event_record(
        type="project.updated",
        topic=f"project:{project.id}",
        subject_type="project",
        subject_id=project.id,
        payload={**_project_payload(project), "changed": changed},
        actor_id=actor.id,
    )
    _invalidate_list_counts()
    return project


def project_dependents(*, project: Project) -> list[str]:
    """Names of the kinds of work hanging under the project (datasets, jobs, ...) besides its community."""
    community = {"memberships", "applications", "tag_links"}
    found = []
    for relation in Project._meta.related_objects:
        accessor = relation.get_accessor_name()
        if accessor is None or accessor in community or not relation.one_to_many:
            continue
        if relation.related_model._default_manager.filter(**{relation.field.name: project}).exists():
            found.append(accessor)
    return found


@transaction.atomic
def project_delete(*, project: Project, actor: User) -> None:
    """Maintainers may delete an empty project; one with datasets or jobs only its owner or an admin, and
    everything under it goes in the same transaction."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    dependents = project_dependents(project=project)
    if dependents:
        access_require(project_access(project=project, user=actor), "project.delete_with_work")
    payload = _project_payload(project)
    project_id = project.id
    members = list(Membership.objects.filter(project=project).values_list("user_id", flat=True))
    project.delete()
    if project.visibility == Project.Visibility.PUBLIC:
        _public_counts_recount(members)
    event_record(
        type="project.deleted",
        topic=f"project:{project_id}",
        subject_type="project",
        subject_id=project_id,
        payload={**payload, "removed": dependents},
        actor_id=actor.id,
    )
    _invalidate_list_counts()


# --- members ------------------------------------------------------------------------------------------------


def _member_event(type_: str, membership: Membership, actor: User, **extra: Any) -> None:
    event_record(
        type=type_,
        topic=f"project:{membership.project_id}",
        subject_type="membership",
        subject_id=f"{membership.project_id}:{membership.user_id}",
        payload={"project_id": membership.project_id, "user_id": membership.user_id, "role": membership.role, **extra},
        actor_id=actor.id,
    )


def _membership_add(*, project: Project, user: User, role: str) -> Membership:
    try:
        with transaction.atomic():
            membership = Membership(project=project, user=user, role=role)
            model_clean(membership, unique=False)  # a second membership: the unique index says so (409)
            membership.save()
    except IntegrityError as exc:
        raise AlreadyMember() from exc
    Project.objects.filter(pk=project.pk).update(member_count=F("member_count") + 1, updated_at=timezone.now())
    # After that update, and whatever `project.visibility` says: it was read before, and the update waits for a
    # concurrent visibility change to commit (the change holds the project FOR UPDATE; the foreign-key check that
    # could also wait is deferred to the commit), so only a recount from here sees what that change made.
    _public_counts_recount([user.pk])
    return membership


@transaction.atomic
def member_add(*, project: Project, actor: User, user_id: int, role: str) -> Membership:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise InvalidInput({"user_id": [_("No active user with this id.")]})
    if role == Membership.Role.OWNER:
        raise InvalidInput({"role": [_("Use the ownership transfer to make someone the owner.")]})
    membership = _membership_add(project=project, user=user, role=role)
    # An invitation settles any pending application of the same user.
    Application.objects.filter(project=project, applicant=user, status=Application.Status.PENDING).update(
        status=Application.Status.APPROVED, decided_by=actor, decided_at=timezone.now()
    )
    _member_event("member.added", membership, actor)
    _invalidate_list_counts()
    return membership


def _membership_locked(project: Project, user_id: int) -> Membership:
    membership = Membership.objects.select_for_update().filter(project=project, user_id=user_id).first()
    if membership is None:
        raise NotFound()
    return membership


@transaction.atomic
def member_update(*, project: Project, actor: User, user_id: int, role: str) -> Membership:
    membership = _membership_locked(project, user_id)
    if membership.role == Membership.Role.OWNER:
        raise OwnerImmutable()
    if role == Membership.Role.OWNER:
        raise InvalidInput({"role": [_("Use the ownership transfer to make someone the owner.")]})
    if membership.role != role:
        previous = membership.role
        membership.role = role
        model_clean(membership, unique=False)
        membership.save(update_fields=["role"])
        _member_event("member.updated", membership, actor, previous_role=previous)
    return membership


@transaction.atomic
def member_remove(*, project: Project, actor: User, user_id: int) -> None:
    membership = _membership_locked(project, user_id)
    if membership.role == Membership.Role.OWNER:
        raise OwnerImmutable()
    membership.delete()
    Project.objects.filter(pk=project.pk).update(member_count=F("member_count") - 1, updated_at=timezone.now())
    _public_counts_recount([membership.user_id])
    _member_event("member.removed", membership, actor)
    _invalidate_list_counts()


@transaction.atomic
def ownership_transfer(*, project: Project, actor: User, user_id: int) -> Project:
    """The new owner must already be a member; the previous owner stays on as a maintainer."""
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    # Under the row lock: of concurrent transfers, only those by whoever is the owner now go through.
    access_require(project_access(project=project, user=actor), "project.transfer_ownership")
    target = Membership.objects.select_for_update().filter(project=project, user_id=user_id).first()
    if target is None:
        raise NotAMember()
    if target.role == Membership.Role.OWNER:
        return project
    current = Membership.objects.select_for_update().get(project=project, role=Membership.Role.OWNER)
    current.role = Membership.Role.MAINTAINER
    current.save(update_fields=["role"])  # first, so the one-owner constraint holds at every statement
    target.role = Membership.Role.OWNER
    target.save(update_fields=["role"])
    project.owner_id = user_id
    project.save(update_fields=["owner", "updated_at"])
    event_record(
        type="project.ownership_transferred",
        topic=f"project:{project.id}",
        subject_type="project",
        subject_id=project.id,
        payload={"project_id": project.id, "previous_owner_id": current.user_id, "owner_id": user_id},
        actor_id=actor.id,
    )
    _invalidate_list_counts()
    return project


# --- public membership counts -------------------------------------------------------------------------------


# The users whose counts a public_counts_batch() block will recount at its end; None outside such a block.
_pending_counts: ContextVar[set[int] | None] = ContextVar("pending_public_counts", default=None)


@contextlib.contextmanager
def public_counts_batch() -> Iterator[None]:
    """For a transaction that calls several of the services below (an admin's bulk delete): their recounts wait
    for the end of the block, which locks every user's row at once, in user order. One service after another would
    lock them group by group, and two such transactions over the same users could each hold a row the other waits
    for. Use it inside the transaction: the recount must commit with the changes. When the block raises, nothing is
    recounted (the transaction rolls back)."""
    if _pending_counts.get() is not None:
        yield  # the enclosing block recounts
        return
    pending: set[int] = set()
    token = _pending_counts.set(pending)
    try:
        yield
    finally:
        _pending_counts.reset(token)
    _public_counts_recount(pending)


def _public_counts_recount(user_ids: Iterable[int]) -> None:
    """Counts the public projects of these users again into PublicMembershipCount, in the transaction that changed
    their memberships or a project's visibility, after that change. Their rows are made when missing and locked
    in user order before the count: a concurrent change for the same user waits here until this one commits, and
    then counts in a statement of its own, whose snapshot (READ COMMITTED) holds this one's rows. Counted rather
    than moved by one, so a count changed by hand is right again after the user's next change.

    The rows are the last ones a transaction locks (member_add settles an application after them, which only a
    decision on that same application also locks, and that decision adds the same membership, so waits on the
    membership first), always in the same order: two transactions over the same users cannot wait on each other
    in a circle. A transaction that calls several services recounts once, at the end (public_counts_batch)."""
    pending = _pending_counts.get()
    if pending is not None:
        pending.update(user_ids)
        return
    ids = sorted(set(user_ids))
    if not ids:
        return
    counts = PublicMembershipCount.objects.filter(user_id__in=ids)
    PublicMembershipCount.objects.bulk_create([PublicMembershipCount(user_id=pk) for pk in ids], ignore_conflicts=True)
    list(counts.select_for_update().order_by("user_id").values_list("pk", flat=True))
    public = (
        Membership.objects.filter(user_id=OuterRef("user_id"), project__visibility=Project.Visibility.PUBLIC.value)
        .order_by()
        .values("user_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    counts.update(count=Coalesce(Subquery(public), 0))


@transaction.atomic
def public_memberships_recount(*, user_ids: Iterable[int]) -> None:
    """_public_counts_recount in a transaction of its own: for rows written without the services (a test's
    factory, a bulk load of a few users)."""
    _public_counts_recount(user_ids)


def public_memberships_rebuild(*, batch: int = 1000) -> int:
    """Counts every user's public projects again into PublicMembershipCount: the repair (`manage.py
    public_memberships_recount`) after memberships were written without the services (a bulk load, SQL by hand, the
    old code of a release between its migration and its switch). Only the users whose stored count differs from
    their memberships are recounted, `batch` to a transaction, through _public_counts_recount: the same locks in
    the same order as the services take, so it can run beside them. Returns how many users it recounted."""
    counted = dict(
        Membership.objects.filter(project__visibility=Project.Visibility.PUBLIC.value)
        .order_by()
        .values("user_id")
        .annotate(count=Count("pk"))
        .values_list("user_id", "count")
    )
    stored = dict(PublicMembershipCount.objects.values_list("user_id", "count"))
    wrong = sorted(pk for pk in counted.keys() | stored.keys() if counted.get(pk, 0) != stored.get(pk, 0))
    for start in range(0, len(wrong), batch):
        with transaction.atomic():
            _public_counts_recount(wrong[start : start + batch])
    return len(wrong)


# --- applications -------------------------------------------------------------------------------------------


def _application_event(type_: str, application: Application, actor: User) -> None:
    """Applications are read by those who decide them (`applications:{project}`, like the REST list) and by
    the applicant (`user:{id}`): never on the project's topic, which a public project's every visitor reads."""
    payload = {
        "id": application.id,
        "project_id": application.project_id,
        "applicant_id": application.applicant_id,
        "status": application.status,
        "reason": application.decision_reason,
    }
    for topic in (f"applications:{application.project_id}", f"user:{application.applicant_id}"):
        event_record(
            type=type_,
            topic=topic,
            subject_type="application",
            subject_id=application.id,
            payload=payload,
            actor_id=actor.id,
        )


@transaction.atomic
def application_submit(*, project: Project, applicant: User, message: str) -> Application:
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    if project.status != Project.Status.RECRUITING:
        raise ProjectNotRecruiting()
    if Membership.objects.filter(project=project, user=applicant).exists():
        raise AlreadyMember()
    try:
        with transaction.atomic():
            application = Application(project=project, applicant=applicant, message=message)
            model_clean(application, unique=False)  # a second pending one: the unique index says so (409)
            application.save()
    except IntegrityError as exc:
        raise ApplicationAlreadyPending() from exc
    _application_event("application.submitted", application, applicant)
    return application


def _application_locked(application: Application) -> Application:
    locked = Application.objects.select_for_update().get(pk=application.pk)
    if locked.status != Application.Status.PENDING:
        raise ApplicationNotPending()
    return locked


@transaction.atomic
def application_approve(*, application: Application, actor: User, role: str = Membership.Role.MEMBER) -> Application:
    """Approve and create the membership in one transaction; of two concurrent approvals one wins, the
    other sees the application decided (409)."""
    application = _application_locked(application)
    if role == Membership.Role.OWNER:
        raise InvalidInput({"role": [_("Use the ownership transfer to make someone the owner.")]})
    project = Project.objects.get(pk=application.project_id)
    membership = _membership_add(project=project, user=application.applicant, role=role)
    application.status = Application.Status.APPROVED
    application.decided_by = actor
    application.decided_at = timezone.now()
    application.save(update_fields=["status", "decided_by", "decided_at"])
    _application_event("application.approved", application, actor)
    _member_event("member.added", membership, actor)
    _invalidate_list_counts()
    return application


@transaction.atomic
def application_reject(*, application: Application, actor: User, reason: str) -> Application:
    application = _application_locked(application)
    application.status = Application.Status.REJECTED
    application.decided_by = actor
    application.decision_reason = reason
    model_clean(application, unique=False)
    application.decided_at = timezone.now()
    application.save(update_fields=["status", "decided_by", "decision_reason", "decided_at"])
    _application_event("application.rejected", application, actor)
    return application


@transaction.atomic
def application_withdraw(*, application: Application, actor: User) -> Application:
    application = _application_locked(application)
    application.status = Application.Status.WITHDRAWN
    application.decided_at = timezone.now()
    application.save(update_fields=["status", "decided_at"])
    _application_event("application.withdrawn", application, actor)
    return application


# --- admin --------------------------------------------------------------------------------------------------
# Writes only Django admin makes; everything else the admin does goes through the functions above.


def _admin_clean(obj: Tag | Project) -> None:
    model_clean(obj)


@transaction.atomic
def tag_rename(*, tag: Tag, actor: User, name: str) -> Tag:
    """Respell or rename a tag everywhere: every project carrying it gets the new name in its `tags` and its
    search text, and its own project.updated event. A name another tag already has is refused (no merge)."""
    names = tags_normalize([name])
    if len(names) != 1:
        raise InvalidInput({"name": [_("A tag needs a name.")]})
    new_name = names[0]
    locked = Tag.objects.select_for_update().filter(pk=tag.pk).first()
    if locked is None:
        raise NotFound()
    if locked.name == new_name:
        return locked
    if Tag.objects.filter(name__iexact=new_name).exclude(pk=locked.pk).exists():
        raise InvalidInput({"name": [_("A tag with this name already exists.")]})
    previous = locked.name.casefold()
    locked.name = new_name
    _admin_clean(locked)
    locked.save(update_fields=["name"])
    for project in Project.objects.select_for_update(no_key=True).filter(tag_links__tag=locked).order_by("pk"):
        project.tags = [new_name if name.casefold() == previous else name for name in project.tags]
        project.search_text = _search_text(project)
        _admin_clean(project)
        project.save(update_fields=["tags", "search_text", "updated_at"])
        event_record(
            type="project.updated",
            topic=f"project:{project.id}",
            subject_type="project",
            subject_id=project.id,
            payload={**_project_payload(project), "changed": ["tags"]},
            actor_id=actor.id,
        )
    _invalidate_list_counts()  # ?tags=<old name> and ?tags=<new name> now count differently
    return locked
