from django.apps import AppConfig


class SessionsConfig(AppConfig):
    """Therapy sessions; labelled so it never clashes with django.contrib.sessions."""

    name = "sessions"
    label = "therapy_sessions"
