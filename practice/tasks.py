from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from practice.models import Invitation


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def invitation_send(invitation_id: int) -> None:
    """E-mail an invitation link. Idempotent: a used or revoked invitation is not sent."""
    invitation = (
        Invitation.objects.pending()
        .select_related("practice", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None:
        return
    context = {
        "invitation": invitation,
        "practice": invitation.practice,
        "url": settings.SITE_URL.rstrip("/")
        + reverse("accounts:invitation", kwargs={"token": invitation.token}),
    }
    with translation.override(invitation.practice.language):
        subject = render_to_string("practice/email/invitation_subject.txt", context).strip()
        body = render_to_string("practice/email/invitation_body.txt", context)
    send_mail(subject, body, None, [invitation.email])


@shared_task
def invitations_expire() -> int:
    """Delete invitations that expired unused, so their tokens stop existing at all."""
    deleted, _ = Invitation.objects.expired().delete()
    return deleted
