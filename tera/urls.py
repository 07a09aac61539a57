from django.urls import path

from tera import views

app_name = "tera"
urlpatterns = [
    path("", views.index, name="index"),
    path("search/", views.search, name="search"),
    path("patients/<int:pk>/summary/", views.summary, name="summary"),
    path("appointments/<int:pk>/briefing/", views.briefing, name="briefing"),
]
