from django.urls import path

from therapies import views

app_name = "therapies"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("<int:pk>/", views.edit, name="edit"),
    path("<int:pk>/fields/add/", views.field_add, name="field_add"),
    path("<int:pk>/fields/preview/", views.field_preview, name="field_preview"),
    path("<int:pk>/fields/order/", views.fields_reorder, name="fields_reorder"),
    path("<int:pk>/fields/<slug:key>/", views.field_edit, name="field_edit"),
    path("<int:pk>/fields/<slug:key>/move/", views.field_move, name="field_move"),
    path("<int:pk>/fields/<slug:key>/remove/", views.field_remove, name="field_remove"),
]
