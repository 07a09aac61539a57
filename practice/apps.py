from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PracticeConfig(AppConfig):
    name = "practice"
    verbose_name = _("Practice and accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from practice.middleware import mark_signed_in

        def signed_in(sender: object, request: object, **kwargs: object) -> None:
            if request is not None and hasattr(request, "session"):
                mark_signed_in(request)  # type: ignore[arg-type]

        user_logged_in.connect(signed_in, dispatch_uid="practice.session_clocks")
