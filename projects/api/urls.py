from django.urls import path

from . import views

urlpatterns = [
    path("projects", views.ProjectListCreateView.as_view(), name="project-list"),
    path("projects/<int:project_id>", views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<int:project_id>/members", views.MemberListView.as_view(), name="project-members"),
    path("projects/<int:project_id>/members/<int:user_id>", views.MemberDetailView.as_view(), name="project-member"),
    path(
        "projects/<int:project_id>/transfer-ownership",
        views.OwnershipTransferView.as_view(),
        name="project-transfer-ownership",
    ),
    path(
        "projects/<int:project_id>/applications", views.ApplicationListCreateView.as_view(), name="project-applications"
    ),
    path(
        "projects/<int:project_id>/applications/<int:application_id>/approve",
        views.ApplicationApproveView.as_view(),
        name="application-approve",
    ),
    path(
        "projects/<int:project_id>/applications/<int:application_id>/reject",
        views.ApplicationRejectView.as_view(),
        name="application-reject",
    ),
    path(
        "projects/<int:project_id>/applications/<int:application_id>/withdraw",
        views.ApplicationWithdrawView.as_view(),
        name="application-withdraw",
    ),
    path("tags", views.TagListView.as_view(), name="tag-list"),
    path("users/me/applications", views.MyApplicationsView.as_view(), name="my-applications"),
    path("users/me/projects", views.MyProjectsView.as_view(), name="my-projects"),
]
