from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectsConfig(AppConfig):
    name = "projects"
    verbose_name = _("Projects")

    def ready(self) -> None:
        from incubator.events.topics import topic_kind_register

        from .selectors import application_topic_readable, project_topic_readable

        # Who may read `project:{id}` and `applications:{project id}` on the live stream.
        topic_kind_register("project", project_topic_readable)
        topic_kind_register("applications", application_topic_readable)

        from schema_registry.declarations import Documents, subject_declare

        subject_declare(
            "project.extra",
            description="A project's free-form extra fields (the `extra` object of the project API).",
            documents=Documents("projects.Project", "extra"),
        )
