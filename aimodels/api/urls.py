from django.urls import path

from . import views

urlpatterns = [
    path("algorithms", views.AlgorithmListView.as_view(), name="algorithm-list"),
    path("jobs", views.JobListCreateView.as_view(), name="job-list"),
    path("jobs/<int:job_id>", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/retry", views.JobRetryView.as_view(), name="job-retry"),
    path("jobs/<int:job_id>/metrics", views.JobMetricsView.as_view(), name="job-metrics"),
    path("jobs/<int:job_id>/logs", views.JobLogsView.as_view(), name="job-logs"),
    path("models", views.ModelListCreateView.as_view(), name="model-list"),
    path("models/<int:model_id>", views.ModelDetailView.as_view(), name="model-detail"),
    path("models/<int:model_id>/versions", views.ModelVersionListView.as_view(), name="model-versions"),
    path("models/<int:model_id>/versions/<int:number>", views.ModelVersionDetailView.as_view(), name="model-version"),
    path(
        "models/<int:model_id>/versions/<int:number>/predict",
        views.ModelVersionPredictView.as_view(),
        name="model-version-predict",
    ),
]
