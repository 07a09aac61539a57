from django.apps import AppConfig


class TeraConfig(AppConfig):
    name = "tera"
