"""Recording a session: from an appointment or as a walk-in, the form's prefill and
validation, editing with history, signing, amendments, export, and the audit of reads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import Payment, PaymentStatus
from practice.models import AuditEvent
from sessions.models import (
    Appointment,
    AppointmentStatus,
    Session,
    SessionAmendment,
    SessionNote,
    SessionNoteRevision,
)
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    SessionFactory,
    TherapyTypeFactory,
    practice_today,
)
from therapies.schema import validate_schema


@pytest.fixture
def reiki(clinic):
    return TherapyTypeFactory(practice=clinic, name="Reiki", price=Decimal("150.00"))


@pytest.fixture
def patient(clinic, therapist):
    return PatientFactory(practice=clinic, full_name="Clara Luz", therapist=therapist)


@pytest.fixture
def past_appointment(clinic, patient, therapist, reiki):
    start = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
    return AppointmentFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        therapy_type=reiki,
        starts_at=start,
        ends_at=start + timedelta(minutes=50),
    )


def record_url(appointment: Appointment) -> str:
    return reverse("sessions:record", args=[appointment.pk])


def valid_post(therapy, **overrides) -> dict:
    today = practice_today().isoformat()
    data = {
        "therapy_type": therapy.pk,
        "minutes": "45",
        "text": "Arrived tense.\nLeft calmer.",
        "custom-chakras": ["Heart", "Crown"],
        "custom-sensations": "Warmth in the hands",
        "custom-energy": "7",
        "payment-amount": "150.00",
        "payment-status": "pending",
        "payment-method": "",
        "payment-due_date": today,
        "payment-paid_on": "",
    }
    data.update(overrides)
    return data


def counts() -> tuple[int, ...]:
    return (
        Session.objects.count(),
        SessionNote.objects.count(),
        Payment.objects.count(),
        Appointment.objects.filter(status=AppointmentStatus.COMPLETED).count(),
    )


# --- Recording from an appointment ---------------------------------------------------


def test_form_is_prefilled_from_the_appointment_and_its_therapy(
    client_for, therapist, past_appointment, reiki
):
    response = client_for(therapist).get(record_url(past_appointment))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    form = response.context["record_form"]
    assert form["therapy_type"].value() == reiki.pk
    assert form["minutes"].value() == 50
    assert response.context["charge_form"]["amount"].value() == Decimal("150.00")
    assert response.context["charge_form"]["status"].value() == PaymentStatus.PENDING
    assert list(response.context["custom_form"].fields) == ["chakras", "sensations", "energy"]
    html = response.content.decode()
    assert 'name="custom-chakras"' in html and 'hx-history="false"' in html


def test_therapist_records_a_session_and_the_appointment_is_completed(
    client_for, therapist, past_appointment, reiki
):
    response = client_for(therapist).post(record_url(past_appointment), valid_post(reiki))

    session = Session.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sessions:detail", args=[session.pk])
    assert session.appointment == past_appointment
    assert (session.patient, session.therapist, session.therapy_type) == (
        past_appointment.patient,
        therapist,
        reiki,
    )
    assert session.minutes == 45 and session.starts_at == past_appointment.starts_at
    assert session.note.text == "Arrived tense.\nLeft calmer."
    assert session.note.custom_values == {
        "chakras": ["Heart", "Crown"],
        "sensations": "Warmth in the hands",
        "energy": 7,
    }
    assert session.payment.amount == Decimal("150.00")
    assert session.payment.status == PaymentStatus.PENDING
    assert session.payment.currency == "BRL"
    past_appointment.refresh_from_db()
    assert past_appointment.status == AppointmentStatus.COMPLETED
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"session.record", "payment.create"} <= actions


def test_owner_records_any_appointment_of_the_practice(client_for, owner, past_appointment, reiki):
    response = client_for(owner).post(record_url(past_appointment), valid_post(reiki))

    assert response.status_code == 302
    assert Session.objects.get().recorded_by == owner


def test_a_future_appointment_cannot_be_recorded_yet(
    client_for, therapist, past_appointment, reiki
):
    past_appointment.starts_at = timezone.now() + timedelta(hours=2)
    past_appointment.ends_at = past_appointment.starts_at + timedelta(minutes=50)
    past_appointment.save()
    client = client_for(therapist)

    response = client.post(record_url(past_appointment), valid_post(reiki), follow=True)

    assert "once its appointment has started" in response.content.decode()
    assert counts() == (0, 0, 0, 0)


def test_cancelled_appointment_has_no_session_to_record(
    client_for, therapist, past_appointment, reiki
):
    past_appointment.status = AppointmentStatus.CANCELLED
    past_appointment.save()

    response = client_for(therapist).post(
        record_url(past_appointment), valid_post(reiki), follow=True
    )

    assert "no session to record" in response.content.decode()
    assert counts() == (0, 0, 0, 0)


def test_a_completed_appointment_opens_its_session_and_is_never_recorded_twice(
    client_for, therapist, past_appointment, reiki
):
    client = client_for(therapist)
    client.post(record_url(past_appointment), valid_post(reiki))
    session = Session.objects.get()

    again = client.get(record_url(past_appointment))
    assert again.status_code == 302
    assert again["Location"] == reverse("sessions:detail", args=[session.pk])
    client.post(record_url(past_appointment), valid_post(reiki, text="Second"))
    assert Session.objects.count() == 1
    assert SessionNote.objects.get().text == "Arrived tense.\nLeft calmer."


def test_changing_the_therapy_swaps_only_its_fields(
    client_for, therapist, past_appointment, clinic
):
    bars = TherapyTypeFactory(
        practice=clinic,
        name="Access Bars",
        custom_fields=validate_schema(
            [{"key": "bars", "label": "Bars run", "kind": "short_text", "required": False}]
        ),
    )
    response = client_for(therapist).get(
        record_url(past_appointment), {"therapy_type": bars.pk}, headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="custom-fields"')
    assert 'name="custom-bars"' in html and "custom-chakras" not in html
    assert "<html" not in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("custom-energy", "", "This field is required."),
        ("custom-energy", "11", "Select a valid choice."),
        ("custom-chakras", ["Spleen"], "Select a valid choice."),
        ("minutes", "3", "Ensure this value is greater than or equal to 5."),
        ("payment-amount", "-1", "Ensure this value is greater than or equal to 0."),
        ("payment-amount", "abc", "Enter a number."),
        ("payment-due_date", "", "Say when it is due."),
        ("payment-status", "refunded", "Select a valid choice."),
        ("therapy_type", "999999", "Select a valid choice."),
    ],
)
def test_bad_input_shows_the_error_and_saves_nothing(
    client_for, therapist, past_appointment, reiki, field, value, message
):
    response = client_for(therapist).post(
        record_url(past_appointment), valid_post(reiki, **{field: value})
    )

    assert response.status_code == 422
    assert message in response.content.decode()
    assert counts() == (0, 0, 0, 0)
    past_appointment.refresh_from_db()
    assert past_appointment.status == AppointmentStatus.SCHEDULED


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"payment-status": "paid", "payment-method": "", "payment-paid_on": "2026-01-05"},
         "method", "Say how it was paid."),
        ({"payment-status": "paid", "payment-method": "pix", "payment-paid_on": ""},
         "paid_on", "Say when it was paid."),
        ({"payment-status": "overdue", "payment-due_date": "2099-01-01"},
         "due_date", "Only a payment due before today can be overdue."),
    ],
)  # fmt: skip
def test_the_payment_asks_for_what_its_status_needs(
    client_for, therapist, past_appointment, reiki, overrides, field, message
):
    response = client_for(therapist).post(
        record_url(past_appointment), valid_post(reiki, **overrides)
    )

    assert response.status_code == 422
    assert response.context["charge_form"].errors[field] == [message]
    assert counts() == (0, 0, 0, 0)


def test_a_paid_session_keeps_only_the_paid_fields(client_for, therapist, past_appointment, reiki):
    today = practice_today()
    client_for(therapist).post(
        record_url(past_appointment),
        valid_post(
            reiki,
            **{
                "payment-status": "paid",
                "payment-method": "pix",
                "payment-paid_on": today.isoformat(),
                "payment-due_date": today.isoformat(),
            },
        ),
    )

    payment = Payment.objects.get()
    assert (payment.status, payment.method, payment.paid_on, payment.due_date) == (
        PaymentStatus.PAID,
        "pix",
        today,
        None,
    )


ALL_KINDS = [
    {"key": "note", "label": "Short", "kind": "short_text", "required": False},
    {"key": "story", "label": "Long", "kind": "long_text", "required": False},
    {"key": "score", "label": "Score", "kind": "number", "required": False, "min": 0, "max": 10},
    {"key": "mood", "label": "Mood", "kind": "single_choice", "required": False,
     "choices": ["Calm", "Tense"]},
    {"key": "areas", "label": "Areas", "kind": "multiple_choice", "required": False,
     "choices": ["Head", "Feet"]},
    {"key": "slept", "label": "Slept well", "kind": "yes_no", "required": False},
    {"key": "pain", "label": "Pain", "kind": "scale", "required": False},
    {"key": "next", "label": "Next visit", "kind": "date", "required": False},
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "bad", "message"),
    [
        ("note", "x" * 301, "Ensure this value has at most 300 characters"),
        ("score", "11", "Ensure this value is less than or equal to 10."),
        ("score", "many", "Enter a number."),
        ("mood", "Angry", "Select a valid choice."),
        ("areas", ["Knees"], "Select a valid choice."),
        ("slept", "maybe", "Select a valid choice."),
        ("pain", "12", "Select a valid choice."),
        ("next", "31/02/2026", "Enter a valid date."),
    ],
)
def test_every_kind_of_custom_field_is_validated(
    client_for, therapist, past_appointment, clinic, key, bad, message
):
    therapy = TherapyTypeFactory(
        practice=clinic, name="Everything", custom_fields=validate_schema(ALL_KINDS)
    )
    good = {
        "custom-note": "ok",
        "custom-story": "long",
        "custom-score": "3.5",
        "custom-mood": "Calm",
        "custom-areas": ["Head"],
        "custom-slept": "yes",
        "custom-pain": "2",
        "custom-next": "2026-12-01",
    }
    client = client_for(therapist)
    data = valid_post(therapy, **good)
    for name in ("custom-chakras", "custom-sensations", "custom-energy"):
        data.pop(name)

    response = client.post(record_url(past_appointment), {**data, f"custom-{key}": bad})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert counts() == (0, 0, 0, 0)

    response = client.post(record_url(past_appointment), data)
    assert response.status_code == 302
    assert SessionNote.objects.get().custom_values == {
        "note": "ok",
        "story": "long",
        "score": 3.5,
        "mood": "Calm",
        "areas": ["Head"],
        "slept": True,
        "pain": 2,
        "next": "2026-12-01",
    }


# --- Who may record ------------------------------------------------------------------


def test_assistant_cannot_record_a_session(client_for, assistant, past_appointment, reiki):
    client = client_for(assistant)

    assert client.get(record_url(past_appointment)).status_code == 403
    assert client.post(record_url(past_appointment), valid_post(reiki)).status_code == 403
    assert counts() == (0, 0, 0, 0)


def test_another_therapist_gets_404_for_an_appointment_not_theirs(
    client_for, other_therapist, past_appointment, reiki
):
    client = client_for(other_therapist)

    assert client.get(record_url(past_appointment)).status_code == 404
    assert client.post(record_url(past_appointment), valid_post(reiki)).status_code == 404
    assert counts() == (0, 0, 0, 0)


def test_outsider_gets_404(client_for, outsider, past_appointment, reiki):
    response = client_for(outsider).post(record_url(past_appointment), valid_post(reiki))

    assert response.status_code == 404
    assert counts() == (0, 0, 0, 0)


def test_a_therapist_no_longer_treating_the_patient_cannot_record(
    client_for, therapist, past_appointment, reiki, patient
):
    from guardian.shortcuts import remove_perm

    remove_perm("patients.treat_patient", therapist, patient)

    response = client_for(therapist).post(record_url(past_appointment), valid_post(reiki))

    assert response.status_code == 403
    assert counts() == (0, 0, 0, 0)


# --- Walk-ins -----------------------------------------------------------------------


def walk_in_post(therapy, patient, therapist, start, **overrides) -> dict:
    data = valid_post(
        therapy,
        patient=patient.pk,
        therapist=therapist.pk,
        # Typed in the practice's time zone, as the form reads it.
        starts_at=timezone.localtime(start, ZoneInfo(patient.practice.time_zone)).strftime(
            "%Y-%m-%dT%H:%M"
        ),
        room="Room 2",
    )
    data.update(overrides)
    return data


def test_a_walk_in_creates_its_appointment_already_completed(
    client_for, owner, therapist, patient, reiki
):
    start = (timezone.now() - timedelta(hours=1)).replace(second=0, microsecond=0)

    response = client_for(owner).post(
        reverse("sessions:walk_in"), walk_in_post(reiki, patient, therapist, start)
    )

    assert response.status_code == 302
    session = Session.objects.get()
    appointment = session.appointment
    assert appointment.status == AppointmentStatus.COMPLETED
    assert (appointment.patient, appointment.therapist, appointment.room) == (
        patient,
        therapist,
        "Room 2",
    )
    assert appointment.starts_at == start and appointment.minutes == 45
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["appointment.book", "payment.create", "session.record"]


def test_a_walk_in_cannot_double_book_the_therapist(client_for, owner, therapist, patient, reiki):
    start = (timezone.now() - timedelta(hours=1)).replace(second=0, microsecond=0)
    AppointmentFactory(
        practice=patient.practice,
        patient=patient,
        therapist=therapist,
        starts_at=start + timedelta(minutes=15),
        ends_at=start + timedelta(minutes=65),
    )

    response = client_for(owner).post(
        reverse("sessions:walk_in"), walk_in_post(reiki, patient, therapist, start)
    )

    assert response.status_code == 422
    assert "already has an appointment with Clara Luz" in response.content.decode()
    assert Session.objects.count() == 0 and Appointment.objects.count() == 1


def test_a_walk_in_must_have_started(client_for, therapist, patient, reiki):
    start = timezone.now() + timedelta(hours=2)

    response = client_for(therapist).post(
        reverse("sessions:walk_in"), walk_in_post(reiki, patient, therapist, start)
    )

    assert response.status_code == 422
    assert "must have started already" in response.content.decode()
    assert counts() == (0, 0, 0, 0)


def test_a_therapist_records_walk_ins_only_for_themselves(
    client_for, therapist, other_therapist, patient, reiki
):
    patient_of_other = PatientFactory(practice=patient.practice, therapist=other_therapist)
    start = (timezone.now() - timedelta(hours=1)).replace(second=0, microsecond=0)
    client = client_for(therapist)

    # The therapist menu is fixed to themselves; another's patient is not on the menu.
    response = client.post(
        reverse("sessions:walk_in"),
        walk_in_post(reiki, patient_of_other, other_therapist, start),
    )

    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert Session.objects.count() == 0


def test_assistant_cannot_record_walk_ins(client_for, assistant, therapist, patient, reiki):
    start = timezone.now() - timedelta(hours=1)
    client = client_for(assistant)

    assert client.get(reverse("sessions:walk_in")).status_code == 403
    response = client.post(
        reverse("sessions:walk_in"), walk_in_post(reiki, patient, therapist, start)
    )
    assert response.status_code == 403
    assert Session.objects.count() == 0


# --- Reading, and its audit ------------------------------------------------------------


@pytest.fixture
def session(clinic, patient, therapist, reiki):
    return SessionFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        therapy_type=reiki,
        note__text="Spoke about her mother.",
        note__custom_values={"chakras": ["Heart"], "sensations": "Tingling", "energy": 6},
    )


def detail_url(session: Session) -> str:
    return reverse("sessions:detail", args=[session.pk])


def reads() -> list[tuple]:
    return list(
        AuditEvent.objects.filter(action="session_note.read").values_list(
            "actor_id", "patient_id", "session_id", "ip"
        )
    )


def test_the_therapist_reads_the_note_and_the_read_is_audited_once(
    client_for, therapist, session, django_assert_max_num_queries
):
    client = client_for(therapist)
    # 16, and two for the AI-drafted notes card and their versions in the history.
    with django_assert_max_num_queries(18):
        response = client.get(detail_url(session), REMOTE_ADDR="203.0.113.9")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Spoke about her mother." in html and "Tingling" in html and "Heart" in html
    assert "no-store" in response["Cache-Control"]
    assert reads() == [(therapist.pk, session.patient_id, session.pk, "203.0.113.9")]


def test_each_read_writes_exactly_one_event(client_for, owner, session):
    client = client_for(owner)
    client.get(detail_url(session))
    client.get(detail_url(session))

    assert len(reads()) == 2


def test_assistant_sees_that_the_session_happened_but_not_the_note(client_for, assistant, session):
    response = client_for(assistant).get(detail_url(session))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Spoke about her mother." not in html and "Tingling" not in html
    assert session.therapist.display_name in html and "50 minutes" in html
    assert "R$" in html  # the payment
    assert reads() == []


def test_another_therapist_and_an_outsider_get_404(client_for, other_therapist, outsider, session):
    for user in (other_therapist, outsider):
        response = client_for(user).get(detail_url(session))
        assert response.status_code == 404
        assert "Spoke about" not in response.content.decode()
    assert reads() == []


def test_a_colleague_who_also_treats_the_patient_reads_but_cannot_edit(
    client_for, other_therapist, session
):
    from guardian.shortcuts import assign_perm

    assign_perm("patients.treat_patient", other_therapist, session.patient)
    client = client_for(other_therapist)

    assert "Spoke about her mother." in client.get(detail_url(session)).content.decode()
    assert client.get(reverse("sessions:edit", args=[session.pk])).status_code == 403
    response = client.post(
        reverse("sessions:edit", args=[session.pk]),
        {"minutes": 50, "text": "Changed", "custom-energy": "6"},
    )
    assert response.status_code == 403
    assert SessionNote.objects.get().text == "Spoke about her mother."


# --- Editing keeps history --------------------------------------------------------------


def edit_post(**overrides) -> dict:
    data = {
        "minutes": "50",
        "text": "Spoke about her mother.",
        "custom-chakras": ["Heart"],
        "custom-sensations": "Tingling",
        "custom-energy": "6",
    }
    data.update(overrides)
    return data


def test_an_edit_keeps_who_changed_what_and_when(client_for, therapist, session):
    client = client_for(therapist)

    response = client.post(
        reverse("sessions:edit", args=[session.pk]),
        edit_post(text="Spoke about her father.", **{"custom-energy": "8"}),
    )

    assert response.status_code == 302
    note = SessionNote.objects.get()
    assert note.text == "Spoke about her father."
    assert note.custom_values["energy"] == 8
    revision = SessionNoteRevision.objects.get()
    assert revision.author == therapist
    assert revision.changes == {
        "text": {"before": "Spoke about her mother.", "after": "Spoke about her father."},
        "custom:energy": {"before": 6, "after": 8},
    }
    event = AuditEvent.objects.get(action="session_note.edit")
    assert event.data == {"fields": ["text", "custom:energy"]}
    assert "father" not in str(event.data)

    history = client.get(detail_url(session)).content.decode()
    assert "Spoke about her mother." in history  # the earlier wording, under History
    assert "Energy level" in history


def test_saving_unchanged_notes_records_no_revision(client_for, therapist, session):
    response = client_for(therapist).post(
        reverse("sessions:edit", args=[session.pk]), edit_post(), follow=True
    )

    assert "Nothing was changed." in response.content.decode()
    assert not SessionNoteRevision.objects.exists()
    assert not AuditEvent.objects.filter(action="session_note.edit").exists()


def test_a_bad_edit_changes_nothing(client_for, therapist, session):
    response = client_for(therapist).post(
        reverse("sessions:edit", args=[session.pk]), edit_post(**{"custom-energy": "99"})
    )

    assert response.status_code == 422
    assert SessionNote.objects.get().custom_values["energy"] == 6
    assert not SessionNoteRevision.objects.exists()


def test_values_of_removed_fields_survive_an_edit(client_for, therapist, session, reiki):
    note = session.note
    note.custom_values = {**note.custom_values, "aura": "gold"}  # a field removed since
    note.save()

    client_for(therapist).post(
        reverse("sessions:edit", args=[session.pk]), edit_post(text="New words")
    )

    assert SessionNote.objects.get().custom_values["aura"] == "gold"


# --- Signing and amendments -------------------------------------------------------------


def test_only_the_sessions_therapist_signs(client_for, owner, therapist, session):
    assert client_for(owner).post(reverse("sessions:sign", args=[session.pk])).status_code == 403
    client = client_for(therapist)
    assert (
        "can no longer be edited"
        in client.get(reverse("sessions:sign", args=[session.pk])).content.decode()
    )

    client.post(reverse("sessions:sign", args=[session.pk]))

    note = SessionNote.objects.get()
    assert note.signed_by == therapist and note.signed_at is not None
    assert AuditEvent.objects.filter(action="session_note.sign", actor=therapist).count() == 1


def test_a_signed_note_is_never_edited_again(client_for, therapist, owner, session):
    client_for(therapist).post(reverse("sessions:sign", args=[session.pk]))

    for user in (therapist, owner):
        client = client_for(user)
        response = client.post(reverse("sessions:edit", args=[session.pk]), edit_post(text="X"))
        assert response.status_code == 302
        assert client.get(reverse("sessions:edit", args=[session.pk])).status_code == 302
    assert SessionNote.objects.get().text == "Spoke about her mother."
    assert not SessionNoteRevision.objects.exists()


def test_amendments_follow_a_signed_note_and_keep_the_original(
    client_for, therapist, owner, session
):
    client = client_for(therapist)
    refused = client.post(reverse("sessions:amend", args=[session.pk]), {"text": "Too early"})
    assert refused.status_code == 302 and not SessionAmendment.objects.exists()

    client.post(reverse("sessions:sign", args=[session.pk]))
    client.post(reverse("sessions:amend", args=[session.pk]), {"text": "She called: better."})
    client_for(owner).post(reverse("sessions:amend", args=[session.pk]), {"text": "Reviewed."})

    assert list(SessionAmendment.objects.values_list("author", "text")) == [
        (therapist.pk, "She called: better."),
        (owner.pk, "Reviewed."),
    ]
    assert SessionNote.objects.get().text == "Spoke about her mother."
    html = client.get(detail_url(session)).content.decode()
    assert html.index("Spoke about her mother.") < html.index("She called: better.")
    assert AuditEvent.objects.filter(action="session_note.amend").count() == 2


def test_an_empty_amendment_is_refused(client_for, therapist, session):
    client = client_for(therapist)
    client.post(reverse("sessions:sign", args=[session.pk]))

    response = client.post(
        reverse("sessions:amend", args=[session.pk]), {"text": "  "}, follow=True
    )

    assert "This field is required." in response.content.decode()
    assert not SessionAmendment.objects.exists()


# --- Export ---------------------------------------------------------------------------


def test_export_is_a_pdf_of_the_record_and_is_audited(client_for, therapist, session, clinic):
    import io

    from pypdf import PdfReader

    clinic.legal_name, clinic.tax_id = "Clínica Aurora Ltda", "12.345.678/0001-90"
    clinic.save()
    response = client_for(therapist).get(reverse("sessions:export", args=[session.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    text = " ".join(PdfReader(io.BytesIO(response.content)).pages[0].extract_text().split())
    assert "Clínica Aurora Ltda" in text and "12.345.678/0001-90" in text
    assert "Spoke about her mother." in text and "Tingling" in text
    assert AuditEvent.objects.filter(action="session_note.export").count() == 1
    assert reads() == []


def test_assistant_cannot_export(client_for, assistant, session):
    assert (
        client_for(assistant).get(reverse("sessions:export", args=[session.pk])).status_code == 404
    )
    assert not AuditEvent.objects.filter(action="session_note.export").exists()


@pytest.mark.parametrize(
    "values",
    [{"energy": 99}, {"energy": 5, "chakras": "Heart"}, {"energy": 5, "unknown": "x"}, {}],
)
def test_the_service_itself_refuses_values_the_form_would_refuse(
    clinic, therapist, past_appointment, reiki, values
):
    from django.core.exceptions import ValidationError

    from payments.services import Charge
    from sessions.services import Record, session_record

    with pytest.raises(ValidationError):
        session_record(
            practice=clinic,
            actor=therapist,
            appointment=past_appointment,
            record=Record(therapy_type=reiki, minutes=50, text="", custom_values=values),
            charge=Charge(Decimal("10"), PaymentStatus.PENDING, due_date=practice_today()),
        )
    assert counts() == (0, 0, 0, 0)


def test_error_reports_would_not_carry_what_was_typed(
    client_for, therapist, past_appointment, reiki
):
    from django.views.debug import SafeExceptionReporterFilter

    response = client_for(therapist).post(record_url(past_appointment), valid_post(reiki))

    request = response.wsgi_request
    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    assert "Arrived tense" not in str(dict(shown))
    assert "Warmth in the hands" not in str(dict(shown))


def test_ticking_the_same_choices_in_another_order_is_no_change(client_for, therapist, session):
    note = session.note
    note.custom_values = {**note.custom_values, "chakras": ["Crown", "Heart"]}  # not schema order
    note.save()

    client_for(therapist).post(
        reverse("sessions:edit", args=[session.pk]),
        edit_post(text="New words", **{"custom-chakras": ["Heart", "Crown"]}),
    )

    assert list(SessionNoteRevision.objects.get().changes) == ["text"]
    assert SessionNote.objects.get().custom_values["chakras"] == ["Heart", "Crown"]
