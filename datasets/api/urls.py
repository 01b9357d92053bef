from django.urls import path

from . import views

urlpatterns = [
    path("datasets", views.DatasetListCreateView.as_view(), name="dataset-list"),
    path("datasets/<int:dataset_id>", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<int:dataset_id>/versions", views.VersionListCreateView.as_view(), name="dataset-versions"),
    path("datasets/<int:dataset_id>/versions/<int:number>", views.VersionDetailView.as_view(), name="dataset-version"),
    path(
        "datasets/<int:dataset_id>/versions/<int:number>/rows",
        views.VersionRowsView.as_view(),
        name="dataset-version-rows",
    ),
    path(
        "datasets/<int:dataset_id>/versions/<int:number>/profile",
        views.VersionProfileView.as_view(),
        name="dataset-version-profile",
    ),
    path(
        "datasets/<int:dataset_id>/versions/<int:number>/download",
        views.VersionDownloadView.as_view(),
        name="dataset-version-download",
    ),
    path(
        "datasets/<int:dataset_id>/versions/<int:number>/preprocess",
        views.VersionPreprocessView.as_view(),
        name="dataset-version-preprocess",
    ),
    path("datasets/<int:dataset_id>/uploads", views.UploadStartView.as_view(), name="dataset-uploads"),
    path(
        "datasets/<int:dataset_id>/uploads/<int:upload_id>/complete",
        views.UploadCompleteView.as_view(),
        name="dataset-upload-complete",
    ),
    path(
        "datasets/<int:dataset_id>/uploads/<int:upload_id>/abort",
        views.UploadAbortView.as_view(),
        name="dataset-upload-abort",
    ),
]
