"""Every event type the outbox carries: the kinds of topic it goes to and what it means (docs/events.md shows
the data). An event about several audiences is written once per topic (an application: to those who decide
it, `applications:{project}`, and to the applicant, `user:{id}`).

event_record refuses a type that is not here, so the catalogue, the documentation (a test compares them) and
the code cannot drift apart.
"""

EVENT_TYPES: dict[str, tuple[str, str]] = {
    # Projects and their community: topic project:{id}
    "project.created": ("project", "A project was created."),
    "project.updated": ("project", "A project's fields or tags changed; `changed` names them."),
    "project.deleted": ("project", "A project was deleted; `removed` names what went with it."),
    "project.ownership_transferred": ("project", "The project has a new owner."),
    "member.added": ("project", "A user joined the project (added, or an application approved)."),
    "member.updated": ("project", "A member's role changed."),
    "member.removed": ("project", "A member was removed or left."),
    # Applications: topic applications:{project id} (owners, maintainers, admins) and user:{applicant id}
    "application.submitted": ("applications|user", "A user applied to join."),
    "application.approved": ("applications|user", "An application was approved."),
    "application.rejected": ("applications|user", "An application was rejected."),
    "application.withdrawn": ("applications|user", "An applicant withdrew."),
    # Models are the project's: topic project:{id}
    "model.created": ("project", "A model was registered."),
    "model.updated": ("project", "A model was renamed or described."),
    "model.deleted": ("project", "A model was deleted."),
    "model.version.created": ("project", "A training job produced a new model version (and its model, on first use)."),
    "model.version.stage": ("project", "A model version moved to another stage."),
    "model.version.deleted": ("project", "A model version was deleted."),
    # Datasets: topic dataset:{id}
    "dataset.created": ("dataset", "A dataset was created."),
    "dataset.updated": ("dataset", "A dataset's fields changed."),
    "dataset.deleted": ("dataset", "A dataset was deleted."),
    "dataset.version.processing": ("dataset", "A new version is being converted (an upload, or preprocessing)."),
    "dataset.version.progress": ("dataset", "Conversion progress of a version, 0 to 1."),
    "dataset.version.ready": ("dataset", "A version is converted and can be previewed and trained on."),
    "dataset.version.failed": ("dataset", "A version's conversion failed, with the error."),
    "dataset.version.deleted": ("dataset", "A version was deleted."),
    "dataset.profile.progress": ("dataset", "Profiling progress of a version, 0 to 1."),
    "dataset.profile.ready": ("dataset", "A version's statistics are ready."),
    # Training jobs: topic job:{id}
    "job.status": ("job", "A job was queued, started, succeeded, failed or was cancelled."),
    "job.progress": ("job", "A job's progress (0 to 100) and stage, about once a second while it runs."),
    "job.metric": ("job", "New points of a job's learning curves (loss, accuracy... per step)."),
    # Document migrations of the schema registry: topic schema_migration:{id}, readable by platform admins
    "schema_migration.status": (
        "schema_migration",
        "A document migration was created, started, finished, failed, "
        "was aborted by its threshold, or began or finished a rollback.",
    ),
    "schema_migration.progress": ("schema_migration", "A batch of a migration (or of its rollback) was committed."),
    # Users: topic user:{id}, readable by that user and platform admins
    "user.created": ("user", "An account was created by an admin."),
    "user.updated": ("user", "An admin changed the account; `changed` names the fields (password included)."),
    # Exports of analytics reports: topic user:{creator id}
    "export.status": ("user", "An export was queued, started, succeeded or failed."),
    "export.progress": ("user", "An export's progress, 0 to 1, at most about once a second while it runs."),
}
