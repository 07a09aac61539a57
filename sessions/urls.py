from django.urls import path

from sessions import views

app_name = "sessions"
urlpatterns = [
    path("", views.calendar, name="calendar"),
]
