from django.urls import path

from . import views

urlpatterns = [
    path("schema", views.SchemaBundleView.as_view(), name="schema-bundle"),
    path("schemas", views.SubjectListView.as_view(), name="schema-subjects"),
    path("schemas/<str:subject>", views.SubjectDetailView.as_view(), name="schema-subject"),
    path("schemas/<str:subject>/versions", views.VersionListCreateView.as_view(), name="schema-versions"),
    path("schemas/<str:subject>/versions/<int:number>", views.VersionDetailView.as_view(), name="schema-version"),
    path("schemas/<str:subject>/compatibility", views.CompatibilityView.as_view(), name="schema-compatibility"),
    path("schemas/<str:subject>/migration-plan", views.MigrationPlanView.as_view(), name="schema-migration-plan"),
    path("schema-migrations", views.MigrationListCreateView.as_view(), name="schema-migrations"),
    path("schema-migrations/<int:migration_id>", views.MigrationDetailView.as_view(), name="schema-migration"),
    path("schema-migrations/<int:migration_id>/log", views.MigrationLogView.as_view(), name="schema-migration-log"),
    path(
        "schema-migrations/<int:migration_id>/rollback",
        views.MigrationRollbackView.as_view(),
        name="schema-migration-rollback",
    ),
]
