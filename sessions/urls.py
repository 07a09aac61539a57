from django.urls import path

from sessions import feeds, views

app_name = "sessions"
urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("appointments/new/", views.appointment_new, name="appointment_new"),
    path("appointments/patients/", views.patient_options, name="patient_options"),
    path("feed/", feeds.calendar_feed, name="calendar_feed"),
    path("feed/<str:token>.ics", feeds.calendar_feed_ics, name="calendar_feed_ics"),
    path("appointments/<int:pk>/", views.appointment_edit, name="appointment_edit"),
    path("appointments/<int:pk>/cancel/", views.appointment_cancel, name="appointment_cancel"),
    path("appointments/<int:pk>/status/", views.appointment_status, name="appointment_status"),
    path("appointments/<int:pk>/move/", views.appointment_move, name="appointment_move"),
]
