"""Email reminders to patients: who gets one and when, at most once (beat runs, retries and
races), in the practice's language and time zone, with nothing clinical in it; and the
settings that control them."""

from __future__ import annotations

import re
import threading
import time
import uuid
import zoneinfo
from datetime import datetime, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from patients.models import Patient
from practice.celery import app
from practice.models import AuditEvent, Practice, Role
from sessions import services
from sessions.models import Appointment, AppointmentStatus
from sessions.reminders import appointment_reminder_send, appointments_due_reminder
from sessions.services import Booking
from sessions.tasks import appointment_reminder_send_one, appointment_reminders_send
from tests.factories import (
    AppointmentFactory,
    MembershipFactory,
    PatientFactory,
    PracticeFactory,
    TherapyTypeFactory,
    UserFactory,
)

SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")
LISBON = zoneinfo.ZoneInfo("Europe/Lisbon")
PT_WEEKDAYS = ["segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira"]
PT_WEEKDAYS += ["sábado", "domingo"]
PT_MONTHS = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto"]
PT_MONTHS += ["setembro", "outubro", "novembro", "dezembro"]


class FailingBackend(BaseEmailBackend):
    """Stands in for an SMTP server that cannot be reached."""

    def send_messages(self, email_messages):
        raise OSError("SMTP server unreachable")


FAILING_BACKEND = f"{__name__}.FailingBackend"


@pytest.fixture
def worker(settings):
    """A real Celery worker on the real Redis broker, on a queue of its own."""
    queue = f"holos-test-{uuid.uuid4().hex}"
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        with start_worker(app, queues=[queue], perform_ping_check=False, pool="solo"):
            yield queue
    finally:
        app.conf.task_default_queue = "celery"


def in_hours(hours: float) -> datetime:
    """A time `hours` from now, on a whole minute (so the email's hh:mm is exact)."""
    return (timezone.now() + timedelta(hours=hours)).replace(second=0, microsecond=0) + timedelta(
        minutes=1
    )


def appointment(practice: Practice | None = None, hours: float = 3, **extra) -> Appointment:
    practice = practice or PracticeFactory()
    return AppointmentFactory(practice=practice, starts_at=in_hours(hours), **extra)


def due_ids() -> list[int]:
    return list(appointments_due_reminder().values_list("pk", flat=True))


def reminded(appt: Appointment) -> bool:
    return Appointment.objects.get(pk=appt.pk).reminder_sent_at is not None


# --- who is due a reminder ---------------------------------------------------------------


def test_an_appointment_within_the_window_is_reminded_once(db):
    appt = appointment(hours=3)

    assert due_ids() == [appt.pk]
    assert appointment_reminder_send(appointment_id=appt.pk) is True
    assert appointment_reminder_send(appointment_id=appt.pk) is False

    assert [m.to for m in mail.outbox] == [[appt.patient.email]]
    assert reminded(appt)
    assert due_ids() == []
    event = AuditEvent.objects.get(action="appointment.reminder")
    assert event.actor is None and event.target_id == str(appt.pk)
    assert event.practice_id == appt.practice_id


@pytest.mark.parametrize(
    ("hours", "extra"),
    [
        pytest.param(30, {}, id="beyond-24-hours"),
        pytest.param(-1, {}, id="already-started"),
        pytest.param(3, {"status": AppointmentStatus.CANCELLED}, id="cancelled"),
        pytest.param(3, {"status": AppointmentStatus.NO_SHOW}, id="no-show"),
        pytest.param(3, {"status": AppointmentStatus.COMPLETED}, id="completed"),
        pytest.param(3, {"patient__email_reminders": False}, id="patient-opted-out"),
        pytest.param(3, {"patient__email": ""}, id="patient-without-email"),
        pytest.param(3, {"patient__archived_at": timezone.now()}, id="archived-patient"),
    ],
)
def test_no_reminder_for(db, hours, extra):
    appt = appointment(hours=hours, **extra)

    assert due_ids() == []
    assert appointment_reminder_send(appointment_id=appt.pk) is False
    assert mail.outbox == []
    assert not reminded(appt)
    assert not AuditEvent.objects.filter(action="appointment.reminder").exists()


def test_a_practice_with_reminders_off_sends_none(db):
    appt = appointment(PracticeFactory(reminder_hours=0), hours=1)

    assert due_ids() == []
    assert appointment_reminder_send(appointment_id=appt.pk) is False
    assert mail.outbox == []


def test_each_practice_uses_its_own_number_of_hours(db):
    short, long = PracticeFactory(reminder_hours=2), PracticeFactory(reminder_hours=48)
    short_soon = appointment(short, hours=1)
    appointment(short, hours=10)
    long_later = appointment(long, hours=10)
    long_in_two_days = appointment(long, hours=47)
    appointment(long, hours=49)

    assert set(due_ids()) == {short_soon.pk, long_later.pk, long_in_two_days.pk}
    assert appointment_reminders_send() == 3
    assert len(mail.outbox) == 3


# --- at most once -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_beat_runs_on_a_real_worker_send_one_email(worker):
    appt = appointment(hours=3)
    appointment(hours=100)  # beyond the window: stays for later

    assert appointment_reminders_send.delay().get(timeout=30) == 1
    assert appointment_reminders_send.delay().get(timeout=30) == 0
    assert appointment_reminder_send_one.delay(appt.pk).get(timeout=30) is False

    assert [m.to for m in mail.outbox] == [[appt.patient.email]]


def _wait_for_lock_waiters(count: int) -> None:
    deadline = time.monotonic() + 10
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.02)
    raise AssertionError(f"expected {count} sessions waiting on a lock")


@pytest.mark.django_db(transaction=True)
def test_two_racing_sends_for_one_appointment_send_one_email():
    appt = appointment(hours=3)
    results: list[bool] = []

    def send() -> None:
        try:
            results.append(appointment_reminder_send(appointment_id=appt.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    # Hold the row so both claims queue on it and then race for it the moment it frees:
    # the one that goes second must see the first one's claim.
    with transaction.atomic():
        Appointment.objects.select_for_update().get(pk=appt.pk)
        for thread in threads:
            thread.start()
        _wait_for_lock_waiters(2)
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [False, True]
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action="appointment.reminder").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_send_is_released_and_sent_by_a_later_run(worker, settings):
    appt = appointment(hours=3)
    settings.EMAIL_BACKEND = FAILING_BACKEND

    assert appointment_reminders_send.delay().get(timeout=30) == 0
    assert not reminded(appt)
    assert not AuditEvent.objects.filter(action="appointment.reminder").exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert appointment_reminders_send.delay().get(timeout=30) == 1
    assert reminded(appt)
    assert [m.to for m in mail.outbox] == [[appt.patient.email]]


def test_the_service_reraises_a_failed_send_so_the_task_retries(db, settings):
    appt = appointment(hours=3)
    settings.EMAIL_BACKEND = FAILING_BACKEND

    with pytest.raises(OSError, match="unreachable"):
        appointment_reminder_send(appointment_id=appt.pk)
    assert not reminded(appt)
    assert due_ids() == [appt.pk]


def test_a_moved_appointment_is_reminded_of_its_new_time(db):
    practice = PracticeFactory(time_zone="Europe/Lisbon", language="en")
    therapist = UserFactory(first_name="Theo", last_name="Silva")
    MembershipFactory(practice=practice, user=therapist, role=Role.THERAPIST)
    patient = PatientFactory(practice=practice, therapist=therapist)
    appt = appointment(practice, hours=3, patient=patient, therapist=therapist)
    assert appointment_reminder_send(appointment_id=appt.pk)
    appt.refresh_from_db()  # as the edit view would fetch it

    new_start = in_hours(5)
    services.appointment_update(
        practice=practice,
        actor=therapist,
        appointment=appt,
        booking=Booking(
            patient=patient,
            therapist=therapist,
            starts_at=new_start,
            ends_at=new_start + timedelta(minutes=50),
        ),
    )

    assert due_ids() == [appt.pk]
    assert appointment_reminder_send(appointment_id=appt.pk)
    assert len(mail.outbox) == 2
    assert f"{new_start.astimezone(LISBON):%H:%M}" in mail.outbox[1].subject


# --- what the email says ------------------------------------------------------------------


def test_email_is_in_the_practice_language_and_time_zone(db):
    brazil = PracticeFactory(language="pt-br", time_zone="America/Sao_Paulo")
    portugal = PracticeFactory(language="en", time_zone="Europe/Lisbon")
    start = in_hours(20)
    in_brazil = AppointmentFactory(practice=brazil, starts_at=start)
    in_portugal = AppointmentFactory(practice=portugal, starts_at=start)

    assert appointment_reminders_send() == 2

    by_address = {m.to[0]: m for m in mail.outbox}
    pt = by_address[in_brazil.patient.email]
    local = start.astimezone(SAO_PAULO)
    assert f"{local:%H:%M}" in pt.subject
    assert PT_WEEKDAYS[local.weekday()] in pt.subject
    assert f"{local.day} de {PT_MONTHS[local.month - 1]}" in pt.subject

    en = by_address[in_portugal.patient.email]
    local = start.astimezone(LISBON)
    assert en.subject.startswith("Reminder: your appointment on")
    assert f"{local:%H:%M}" in en.subject and f"{local:%A}" in en.subject
    assert f"{local:%B} {local.day}" in en.subject
    assert f"{start.astimezone(SAO_PAULO):%H:%M}" not in en.subject
    assert in_portugal.practice.name in en.body
    assert pt.from_email == en.from_email == "Holos <no-reply@localhost>"


def test_email_names_time_place_and_therapist_but_nothing_clinical(db):
    practice = PracticeFactory(name="Casa Sol", language="en", time_zone="Europe/Lisbon")
    patient = PatientFactory(
        practice=practice,
        full_name="Maria Clara Souza",
        preferred_name="Clarinha",
        admin_notes="CANARY-ADMIN-NOTE",
    )
    appt = appointment(
        practice,
        patient=patient,
        therapist=UserFactory(first_name="Theo", last_name="Silva"),
        therapy_type=TherapyTypeFactory(practice=practice, name="CANARY-THERAPY"),
        front_desk_note="CANARY-FRONT-DESK",
        room="Sala Lótus",
        meeting_url="https://meet.example.com/abc",
    )

    assert appointment_reminder_send(appointment_id=appt.pk)

    message = mail.outbox[0]
    text = message.subject + message.body
    assert "Hello Clarinha," in message.body
    for shown in ("Theo Silva", "Sala Lótus", "https://meet.example.com/abc", "Casa Sol"):
        assert shown in message.body
    assert "contact Casa Sol" in message.body
    assert "CANARY" not in text
    assert "Maria Clara Souza" not in text
    assert "&" not in text  # plain text, not HTML-escaped


def test_greeting_uses_the_first_name_without_a_preferred_name(db):
    practice = PracticeFactory(language="en")
    appt = appointment(practice, patient=PatientFactory(practice=practice, full_name="João Lima"))

    appointment_reminder_send(appointment_id=appt.pk)

    assert "Hello João," in mail.outbox[0].body
    assert "Where:" not in mail.outbox[0].body and "Online:" not in mail.outbox[0].body


# --- settings ---------------------------------------------------------------------------


def settings_data(practice: Practice, **changes) -> dict:
    return {
        "name": practice.name,
        "time_zone": practice.time_zone,
        "currency": practice.currency,
        "language": practice.language,
        "reminder_hours": practice.reminder_hours,
        **changes,
    }


def test_owner_sets_the_hours_before_reminders(client_for, owner, clinic):
    client = client_for(owner)
    page = client.get(reverse("practice:settings")).content.decode()
    assert 'name="reminder_hours"' in page and 'max="168"' in page

    response = client.post(reverse("practice:settings"), settings_data(clinic, reminder_hours=48))

    assert response.status_code == 302
    clinic.refresh_from_db()
    assert clinic.reminder_hours == 48


@pytest.mark.parametrize("hours", ["200", "-1", "", "two"])
def test_impossible_hours_give_a_clear_error_and_save_nothing(client_for, owner, clinic, hours):
    response = client_for(owner).post(
        reverse("practice:settings"), settings_data(clinic, name="Renamed", reminder_hours=hours)
    )

    assert response.status_code == 200
    errors = response.context["form"].errors["reminder_hours"]
    assert errors and "hours" in errors[0]
    assert 'id="id_reminder_hours_error"' in response.content.decode()
    clinic.refresh_from_db()
    assert (clinic.name, clinic.reminder_hours) == ("Clínica Aurora", 24)


def test_patient_opt_out_is_saved_from_the_edit_form(client_for, owner, clinic):
    patient = PatientFactory(practice=clinic, therapist=owner, full_name="Clara Luz")
    client = client_for(owner)
    url = reverse("patients:edit", kwargs={"pk": patient.pk})
    form = client.get(url).content.decode()
    assert 'name="email_reminders"' in form and "checked" in form
    data = {"full_name": "Clara Luz", "email": patient.email, "therapists": [owner.pk]}

    assert client.post(url, data).status_code == 302  # an unticked box is not sent
    assert Patient.objects.get(pk=patient.pk).email_reminders is False
    assert AuditEvent.objects.get(action="patient.update").data == {"fields": ["email_reminders"]}
    profile = client.get(reverse("patients:detail", kwargs={"pk": patient.pk})).content.decode()
    assert "asked for none" in profile

    client.post(url, {**data, "email_reminders": "on"})
    assert Patient.objects.get(pk=patient.pk).email_reminders is True
    profile = client.get(reverse("patients:detail", kwargs={"pk": patient.pk})).content.decode()
    assert "By email, 24 hours before" in profile


def test_new_patients_get_reminders_unless_unticked(client_for, owner, clinic):
    form = client_for(owner).get(reverse("patients:create")).content.decode()
    assert re.search(r'<input type="checkbox" name="email_reminders"[^>]* checked>', form)


def test_starting_a_practice_keeps_the_default_hours(client_for, owner):
    response = client_for(owner).post(
        reverse("practice:new"),
        {"name": "Nova", "time_zone": "Europe/Lisbon", "currency": "EUR", "language": "en"},
    )
    assert response.status_code == 302
    assert Practice.objects.get(name="Nova").reminder_hours == 24
