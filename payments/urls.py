from django.urls import path

from payments import views

app_name = "payments"
urlpatterns = [
    path("", views.index, name="index"),
    path("export.csv", views.export_csv, name="export"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/paid/", views.mark_paid, name="mark_paid"),
    path("<int:pk>/receipt.pdf", views.receipt, name="receipt"),
]
