from django.urls import path

from patients import views

app_name = "patients"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    # The profile's tabs: one view, each tab with its own address.
    path("<int:pk>/", views.profile, {"tab": "overview"}, name="detail"),
    path("<int:pk>/sessions/", views.profile, {"tab": "sessions"}, name="sessions"),
    path("<int:pk>/payments/", views.profile, {"tab": "payments"}, name="payments"),
    path("<int:pk>/insights/", views.profile, {"tab": "insights"}, name="insights"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/archive/", views.archive, name="archive"),
    path("<int:pk>/restore/", views.restore, name="restore"),
    path("<int:pk>/consent/", views.consent, name="consent"),
    # The patient's data rights (Owners only): access and erasure.
    path("<int:pk>/export.json", views.export, {"fmt": "json"}, name="export_json"),
    path("<int:pk>/export.pdf", views.export, {"fmt": "pdf"}, name="export_pdf"),
    path("<int:pk>/erase/", views.erase, name="erase"),
]
