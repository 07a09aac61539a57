from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PracticeConfig(AppConfig):
    name = "practice"
    verbose_name = _("Practice and accounts")

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from practice import (
            checks,  # noqa: F401 - registers the deploy checks
            sign_in_audit,
        )
        from practice.middleware import mark_signed_in

        def signed_in(sender: object, request: object, **kwargs: object) -> None:
            if request is not None and hasattr(request, "session"):
                mark_signed_in(request)  # type: ignore[arg-type]

        user_logged_in.connect(signed_in, dispatch_uid="practice.session_clocks")
        # The sign-in audit (practice.sign_in_audit). tests/conftest.py's `login` signs in
        # without it by this dispatch_uid: a test's audit rows are then its own.
        user_logged_in.connect(sign_in_audit.on_logged_in, dispatch_uid=sign_in_audit.UID_IN)
        user_logged_out.connect(sign_in_audit.on_logged_out, dispatch_uid="practice.audit_out")
        user_login_failed.connect(
            sign_in_audit.on_login_failed, dispatch_uid="practice.audit_failed"
        )
        user_locked_out.connect(sign_in_audit.on_locked_out, dispatch_uid="practice.audit_locked")
