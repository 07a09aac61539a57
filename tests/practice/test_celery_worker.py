"""A real Celery worker on the real Redis broker runs our tasks."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.utils import timezone

from practice.celery import app
from practice.models import Invitation
from practice.tasks import invitation_send, invitations_expire
from tests.factories import InvitationFactory, PracticeFactory


@pytest.fixture
def worker(settings):
    queue = f"holos-test-{uuid.uuid4().hex}"
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        with start_worker(app, queues=[queue], perform_ping_check=False, pool="solo"):
            yield queue
    finally:
        app.conf.task_default_queue = "celery"


@pytest.mark.django_db(transaction=True)
def test_worker_sends_an_invitation_email(worker):
    invitation = InvitationFactory(practice=PracticeFactory(name="Casa Sol"))

    result = invitation_send.delay(invitation.pk)
    result.get(timeout=30)

    assert [m.to for m in mail.outbox] == [[invitation.email]]
    assert "Casa Sol" in mail.outbox[0].subject


@pytest.mark.django_db(transaction=True)
def test_sending_a_revoked_invitation_is_a_no_op(worker):
    invitation = InvitationFactory()
    invitation_id = invitation.pk
    invitation.delete()

    invitation_send.delay(invitation_id).get(timeout=30)
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_beat_job_deletes_expired_invitations_only(worker):
    practice = PracticeFactory()
    expired = InvitationFactory(practice=practice, expires_at=timezone.now() - timedelta(days=1))
    valid = InvitationFactory(practice=practice)

    assert invitations_expire.delay().get(timeout=30) == 1
    assert list(Invitation.objects.values_list("pk", flat=True)) == [valid.pk]
    assert not Invitation.objects.filter(pk=expired.pk).exists()


def test_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks
