"""No clinical text in side channels: not in error e-mails (form values, query strings and
traceback variables are hidden whatever the view), not in log lines, not in Celery task
arguments or results, through a flow that writes, indexes, searches and summarises a
note."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from celery.signals import task_postrun, task_prerun
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse
from django.utils.log import AdminEmailHandler

from practice.models import Membership
from tera import services as tera_services
from tera.indexing import index_source
from tera.models import SourceKind
from tests.factories import PatientFactory, SessionFactory

CANARY = "CanarySideChannel5e1b7d"


def test_an_error_email_carries_no_form_value_query_or_local_variable(settings, rf: RequestFactory):
    settings.ADMINS = [("Admin", "admin@example.com")]
    request = rf.post(
        f"/sessions/1/edit/?q={CANARY}",
        {"text": f"She said {CANARY}."},
        HTTP_REFERER=f"http://testserver/tera/search/?q={CANARY}",
    )

    def view(note: str) -> None:
        raise ValueError("the view failed")

    try:
        view(f"note {CANARY}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s",
        (request.path,), exc_info,
    )  # fmt: skip
    record.request = request
    record.status_code = 500
    AdminEmailHandler(include_html=True).emit(record)

    (email,) = mail.outbox
    html = email.alternatives[0][0]
    assert "the view failed" in email.body and "the view failed" in html  # still useful
    assert CANARY not in email.body and CANARY not in html
    assert CANARY not in email.subject


@contextmanager
def celery_messages() -> Iterator[list[str]]:
    """The name, arguments and result of every Celery task run inside the block, as text
    (also used by tests/practice/test_attack_suite.py)."""
    tasks: list[str] = []

    def before(task_id, task, args, kwargs, **extra) -> None:
        tasks.append(repr((task.name, args, kwargs)))

    def after(task_id, task, args, kwargs, retval, **extra) -> None:
        tasks.append(repr((task.name, retval)))

    task_prerun.connect(before, weak=False)
    task_postrun.connect(after, weak=False)
    try:
        yield tasks
    finally:
        task_prerun.disconnect(before)
        task_postrun.disconnect(after)


def log_lines(records: list[logging.LogRecord]) -> list[str]:
    """What captured records say, with their arguments; factory_boy's narration of a
    test's own set-up left out."""
    records = [r for r in records if not r.name.startswith("factory")]
    return [r.getMessage() for r in records] + [repr(r.args) for r in records]


@pytest.mark.slow  # the embedding model indexes the note
def test_logs_and_celery_messages_carry_ids_only(
    caplog, client_for, pro, therapist, scripted_llm, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    with celery_messages() as tasks:
        patient = PatientFactory(practice=pro, therapist=therapist)
        session = SessionFactory(
            practice=pro, patient=patient, therapist=therapist, note__text=f"Said {CANARY}."
        )
        index_source(SourceKind.SESSION_NOTE, session.pk)
        client = client_for(therapist)
        assert CANARY in client.get(reverse("tera:search"), {"q": CANARY}).content.decode()
        summary = json.dumps({"claims": [{"text": f"About {CANARY}.", "sessions": [1]}]})
        membership = Membership.objects.get(user=therapist, practice=pro)
        with scripted_llm([summary]), django_capture_on_commit_callbacks(execute=True):
            tera_services.summary_request(membership, patient, language="en")
        assert (
            CANARY in client.get(reverse("patients:insights", args=[patient.pk])).content.decode()
        )
    assert any("summary_prepare" in t for t in tasks)  # the task did run through Celery
    lines = log_lines(caplog.records)
    assert lines and not [line for line in lines if CANARY in line]
    assert not [t for t in tasks if CANARY in t]
