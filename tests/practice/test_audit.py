from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib import admin
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.db.utils import ProgrammingError
from django.test import RequestFactory
from django.urls import reverse

from practice.audit import ACTIONS, label
from practice.models import AuditEvent, Membership, Practice, Role, User
from practice.services import audit_record
from practice.views import AUDIT_PAGE_SIZE
from tests.factories import MembershipFactory, PatientFactory, UserFactory

AUDIT_URL = reverse("practice:audit")
HTMX = {"HTTP_HX_REQUEST": "true"}


def record(
    practice: Practice,
    actor: User | None,
    action: str = "session_note.read",
    *,
    at: datetime | None = None,
    **fields,
) -> AuditEvent:
    """An audit row as the services write it; `at` sets its time (created_at is
    auto_now_add, and the row can never be updated afterwards)."""
    if at is None:
        return audit_record(practice=practice, actor=actor, action=action, **fields)
    with mock.patch("django.utils.timezone.now", return_value=at):
        return audit_record(practice=practice, actor=actor, action=action, **fields)


def row_ids(response_or_html) -> list[int]:
    html = getattr(response_or_html, "content", b"").decode() or response_or_html
    return [int(pk) for pk in re.findall(r'id="audit-(\d+)"', html)]


# --- What an Owner sees -----------------------------------------------------------------


def test_owner_sees_the_practice_events_newest_first(client_for, owner, therapist, clinic):
    patient = PatientFactory(practice=clinic, full_name="Beatriz Lima")
    older = record(clinic, owner, "patient.create", target=patient, patient_id=patient.pk)
    newer = record(
        clinic,
        therapist,
        "session_note.read",
        patient_id=patient.pk,
        session_id=4242,
        ip="203.0.113.7",
    )

    response = client_for(owner).get(AUDIT_URL)

    assert response.status_code == 200
    assert row_ids(response) == [newer.pk, older.pk]
    html = response.content.decode()
    assert "Read a session note" in html
    assert "Added a patient" in html
    assert therapist.display_name in html and therapist.email in html
    assert f'href="{reverse("patients:detail", args=[patient.pk])}">Beatriz Lima</a>' in html
    assert f'href="{reverse("sessions:detail", args=[4242])}"' in html
    assert "203.0.113.7" in html
    assert "no-store" in response["Cache-Control"]
    assert 'hx-history="false"' in html


def test_times_are_shown_in_the_practice_time_zone(client_for, owner, clinic):
    # 02:30 UTC is 23:30 the day before in São Paulo (UTC-3).
    record(clinic, owner, at=datetime(2025, 3, 10, 2, 30, 15, tzinfo=ZoneInfo("UTC")))

    html = client_for(owner).get(AUDIT_URL).content.decode()

    assert "23:30:15" in html
    assert 'datetime="2025-03-09T23:30:15-03:00"' in html


def test_unknown_action_code_is_shown_as_it_is(client_for, owner, clinic):
    record(clinic, owner, "tera.something_new")

    html = client_for(owner).get(AUDIT_URL).content.decode()

    assert label("tera.something_new") == "tera.something_new"
    assert "tera.something_new" in html


def test_system_events_without_an_actor_are_shown(client_for, owner, clinic):
    record(clinic, None, "payment.overdue")

    html = client_for(owner).get(AUDIT_URL).content.decode()

    assert "Marked a payment as overdue" in html
    assert "Holos (automatic)" in html


def test_a_patient_that_is_gone_or_of_another_practice_shows_as_removed(
    client_for, owner, clinic, other_practice
):
    foreign = PatientFactory(practice=other_practice, full_name="Zélia Estrangeira")
    record(clinic, owner, "patient.update", patient_id=foreign.pk)
    record(clinic, owner, "patient.update", patient_id=987654321)

    html = client_for(owner).get(AUDIT_URL).content.decode()

    assert html.count("(removed)") == 2
    assert "Zélia" not in html


def test_empty_log_and_no_match_have_their_own_messages(client_for, owner, clinic):
    client = client_for(owner)
    # A brand-new practice from the factory has no audit rows at all.
    assert "Nothing recorded yet" in client.get(AUDIT_URL).content.decode()

    record(clinic, owner, "patient.create")
    html = client.get(AUDIT_URL, {"action": "session_note.sign"}).content.decode()
    assert "No entries match these filters" in html
    assert row_ids(html) == []


def test_settings_navigation_links_to_the_audit_log(client_for, owner):
    html = client_for(owner).get(reverse("practice:settings")).content.decode()
    assert f'href="{AUDIT_URL}"' in html


def test_the_page_offers_no_way_to_change_or_delete(client_for, owner, clinic):
    record(clinic, owner)
    client = client_for(owner)

    fragment = client.get(AUDIT_URL, **HTMX).content.decode()
    assert "<form" not in fragment
    assert "hx-post" not in fragment and "hx-delete" not in fragment
    assert client.post(AUDIT_URL).status_code == 405


# --- Filters -----------------------------------------------------------------------------


def test_filter_by_action(client_for, owner, clinic):
    read = record(clinic, owner, "session_note.read")
    record(clinic, owner, "patient.create")

    response = client_for(owner).get(AUDIT_URL, {"action": "session_note.read"})

    assert row_ids(response) == [read.pk]


def test_action_menu_lists_every_known_action_and_all(client_for, owner):
    html = client_for(owner).get(AUDIT_URL).content.decode()
    assert "All actions" in html
    for code in ACTIONS:
        assert f'value="{code}"' in html


def test_filter_by_member(client_for, owner, therapist, assistant, clinic):
    by_therapist = record(clinic, therapist)
    record(clinic, assistant, "payment.update")
    record(clinic, owner)
    Membership.objects.filter(practice=clinic, user=assistant).update(is_active=False)

    response = client_for(owner).get(AUDIT_URL, {"member": therapist.pk})

    assert row_ids(response) == [by_therapist.pk]
    # The menu names members, deactivated or not, and no one else.
    html = response.content.decode()
    assert f'<option value="{assistant.pk}">{assistant.display_name}</option>' in html


def test_member_menu_offers_only_the_practices_members(client_for, owner, clinic, outsider):
    record(clinic, owner)
    response = client_for(owner).get(AUDIT_URL, {"member": outsider.pk})

    html = response.content.decode()
    assert f'<option value="{outsider.pk}"' not in html
    assert "Select a valid choice" in html


def test_filter_by_patient_name_ignores_accents_and_case(client_for, owner, clinic):
    joao = PatientFactory(practice=clinic, full_name="João Araújo")
    maria = PatientFactory(practice=clinic, full_name="Maria Souza")
    about_joao = record(clinic, owner, "patient.update", patient_id=joao.pk)
    record(clinic, owner, "patient.update", patient_id=maria.pk)
    record(clinic, owner, "practice.update")

    response = client_for(owner).get(AUDIT_URL, {"patient": "JOAO arau"})

    assert row_ids(response) == [about_joao.pk]


def test_patient_filter_does_not_reach_another_practices_patients(
    client_for, owner, clinic, other_practice
):
    foreign = PatientFactory(practice=other_practice, full_name="Xavier Forasteiro")
    # Even an event that names the other practice's patient id is not matched by name.
    record(clinic, owner, "patient.update", patient_id=foreign.pk)

    response = client_for(owner).get(AUDIT_URL, {"patient": "Xavier"})

    assert row_ids(response) == []


def test_filter_by_days_in_the_practice_time_zone(client_for, owner, clinic):
    utc = ZoneInfo("UTC")
    # São Paulo is UTC-3: 02:00 UTC on the 11th is still the 10th there.
    late_on_10th = record(clinic, owner, at=datetime(2025, 3, 11, 2, 0, tzinfo=utc))
    on_9th = record(clinic, owner, at=datetime(2025, 3, 9, 15, 0, tzinfo=utc))
    on_11th = record(clinic, owner, at=datetime(2025, 3, 11, 12, 0, tzinfo=utc))
    client = client_for(owner)

    assert row_ids(client.get(AUDIT_URL, {"start": "2025-03-10", "end": "2025-03-10"})) == [
        late_on_10th.pk
    ]
    assert row_ids(client.get(AUDIT_URL, {"start": "2025-03-11"})) == [on_11th.pk]
    assert row_ids(client.get(AUDIT_URL, {"end": "2025-03-09"})) == [on_9th.pk]


def test_a_bad_date_shows_an_error(client_for, owner, clinic):
    record(clinic, owner)
    html = client_for(owner).get(AUDIT_URL, {"start": "not-a-date"}).content.decode()
    assert "Enter a valid date" in html


def test_clinical_only_keeps_session_note_events(client_for, owner, clinic):
    events = [
        record(clinic, owner, f"session_note.{verb}")
        for verb in ("read", "edit", "sign", "amend", "export")
    ]
    record(clinic, owner, "session.record")
    record(clinic, owner, "patient.update")
    client = client_for(owner)

    assert sorted(row_ids(client.get(AUDIT_URL, {"clinical": "on"}))) == sorted(
        e.pk for e in events
    )
    # Unticked means everything, not "everything but notes".
    assert len(row_ids(client.get(AUDIT_URL, {"action": ""}))) == 7


def test_filters_combine(client_for, owner, therapist, clinic):
    patient = PatientFactory(practice=clinic, full_name="Célia Rocha")
    wanted = record(clinic, therapist, "session_note.export", patient_id=patient.pk)
    record(clinic, therapist, "session_note.read", patient_id=patient.pk)
    record(clinic, owner, "session_note.export", patient_id=patient.pk)
    record(clinic, therapist, "patient.update", patient_id=patient.pk)

    response = client_for(owner).get(
        AUDIT_URL,
        {
            "member": therapist.pk,
            "patient": "celia",
            "clinical": "on",
            "action": "session_note.export",
        },
    )

    assert row_ids(response) == [wanted.pk]


# --- Pages and htmx ---------------------------------------------------------------------


def test_pagination_shows_50_a_page_and_keeps_the_filters(client_for, owner, clinic):
    base = datetime(2025, 1, 1, 12, 0, tzinfo=ZoneInfo("UTC"))
    events = [
        record(clinic, owner, "session_note.read", at=base + timedelta(minutes=i))
        for i in range(AUDIT_PAGE_SIZE * 2 + 5)
    ]
    record(clinic, owner, "patient.create")  # filtered out below
    client = client_for(owner)
    newest_first = [e.pk for e in reversed(events)]

    first = client.get(AUDIT_URL, {"action": "session_note.read"})
    third = client.get(AUDIT_URL, {"action": "session_note.read", "page": 3})

    assert row_ids(first) == newest_first[:AUDIT_PAGE_SIZE]
    assert row_ids(third) == newest_first[AUDIT_PAGE_SIZE * 2 :]
    html = first.content.decode()
    assert "105 entries" in html
    assert 'href="?action=session_note.read&amp;page=2"' in html


def test_htmx_request_gets_only_the_rows(client_for, owner, clinic):
    event = record(clinic, owner)

    response = client_for(owner).get(AUDIT_URL, {"action": "session_note.read"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="audit-rows">')
    assert "<html" not in html and "audit-filters" not in html and "subnav" not in html
    assert row_ids(response) == [event.pk]


def _fill(practice: Practice, actors: list[User], count: int) -> None:
    for i in range(count):
        patient = PatientFactory(practice=practice)
        record(
            practice,
            actors[i % len(actors)],
            "session_note.read",
            patient_id=patient.pk,
            session_id=1000 + i,
            ip="198.51.100.1",
        )


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_query_count_does_not_grow_with_the_page(
    client_for, owner, therapist, other_therapist, clinic, headers, django_assert_max_num_queries
):
    client = client_for(owner)
    _fill(clinic, [owner, therapist, other_therapist], 3)
    client.get(AUDIT_URL)  # the first request after signing in also stores the session
    # Session, user, membership; count, events (actors joined), the page's patients; and on
    # the whole page the member menu.
    with django_assert_max_num_queries(7 if not headers else 6) as few:
        client.get(AUDIT_URL, **headers)
    _fill(clinic, [owner, therapist, other_therapist], AUDIT_PAGE_SIZE)
    filters = {"patient": "a", "member": therapist.pk, "start": "2000-01-01", "clinical": "on"}
    with django_assert_max_num_queries(len(few.captured_queries) + 1):
        # +1: a chosen member is looked up to validate the choice.
        client.get(AUDIT_URL, filters, **headers)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        client.get(AUDIT_URL, **headers)
    assert len(many.captured_queries) == len(few.captured_queries)


# --- Who may see it ----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["therapist", "assistant"])
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_non_owners_are_refused_the_audit_log(client_for, request, clinic, persona, headers):
    user = request.getfixturevalue(persona)
    record(clinic, user, "patient.update", ip="192.0.2.55")

    response = client_for(user).get(AUDIT_URL, **headers)

    assert response.status_code == 403
    assert "192.0.2.55" not in response.content.decode()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(AUDIT_URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_another_practices_events_never_show(client_for, owner, clinic, outsider, other_practice):
    patient = PatientFactory(practice=other_practice, full_name="Otávio Alheio")
    theirs = record(
        other_practice, outsider, "session_note.read", patient_id=patient.pk, ip="192.0.2.99"
    )
    ours = record(clinic, owner, "patient.create")
    client = client_for(owner)

    for params in ({}, {"member": outsider.pk}, {"patient": "Otávio"}, {"clinical": "on"}):
        for headers in ({}, HTMX):
            response = client.get(AUDIT_URL, params, **headers)
            # The filter form echoes the search; the rows must not name them.
            rows = response.content.decode().partition('<div id="audit-rows">')[2]
            assert rows
            assert theirs.pk not in row_ids(rows)
            assert "192.0.2.99" not in rows
            assert "Otávio" not in rows
            assert outsider.email not in response.content.decode()
    assert row_ids(client.get(AUDIT_URL)) == [ours.pk]


def test_an_owner_of_two_practices_sees_only_the_current_ones(
    client_for, owner, clinic, other_practice
):
    MembershipFactory(practice=other_practice, user=owner, role=Role.OWNER)
    elsewhere = record(other_practice, owner, "practice.update")
    here = record(clinic, owner, "practice.update")
    client = client_for(owner)

    client.post(reverse("practice:switch", args=[clinic.pk]))
    assert row_ids(client.get(AUDIT_URL)) == [here.pk]

    client.post(reverse("practice:switch", args=[other_practice.pk]))
    assert row_ids(client.get(AUDIT_URL)) == [elsewhere.pk]


# --- Append-only ---------------------------------------------------------------------------


def _refused(action) -> None:
    """`action` must be refused by the database trigger (SQLSTATE 42501,
    insufficient_privilege: psycopg raises InsufficientPrivilege, a ProgrammingError)."""
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        action()


def _unchanged(event: AuditEvent) -> None:
    fresh = AuditEvent.objects.get(pk=event.pk)
    assert (fresh.action, fresh.ip, fresh.patient_id, fresh.data, fresh.created_at) == (
        event.action,
        event.ip,
        event.patient_id,
        event.data,
        event.created_at,
    )


@pytest.fixture
def event(clinic, owner) -> AuditEvent:
    return record(clinic, owner, "session_note.read", patient_id=7, session_id=8, ip="203.0.113.1")


def test_queryset_update_is_refused(event):
    _refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(action="practice.update"))
    _unchanged(event)


def test_saving_an_existing_row_is_refused(event):
    changed = AuditEvent.objects.get(pk=event.pk)
    changed.ip = "10.0.0.1"
    _refused(changed.save)
    _unchanged(event)


def test_deleting_a_row_is_refused(event):
    _refused(AuditEvent.objects.get(pk=event.pk).delete)
    _unchanged(event)


def test_deleting_all_rows_is_refused(event, clinic, owner):
    record(clinic, owner, "patient.create")
    before = AuditEvent.objects.count()
    _refused(AuditEvent.objects.all().delete)
    assert AuditEvent.objects.count() == before
    _unchanged(event)


def test_raw_sql_update_and_delete_are_refused(event):
    def raw(sql: str):
        def run() -> None:
            with connection.cursor() as cursor:
                cursor.execute(sql, [event.pk])

        return run

    _refused(raw("UPDATE practice_auditevent SET ip = '10.0.0.2' WHERE id = %s"))
    _refused(raw("DELETE FROM practice_auditevent WHERE id = %s"))
    _unchanged(event)


def test_the_trigger_raises_insufficient_privilege(event):
    with pytest.raises(ProgrammingError) as caught, transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(ip="10.0.0.3")
    assert caught.value.__cause__.sqlstate == "42501"


def test_admin_refuses_to_add_change_or_delete(event, rf: RequestFactory):
    model_admin = admin.site._registry[AuditEvent]
    request = rf.get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request)
    assert not model_admin.has_delete_permission(request, event)


def test_a_user_with_audit_rows_cannot_be_deleted(event, owner):
    with pytest.raises(ProtectedError), transaction.atomic():
        owner.delete()
    assert User.objects.filter(pk=owner.pk).exists()
    _unchanged(event)


# --- The registry ---------------------------------------------------------------------------

WRITTEN_ACTION = re.compile(r'action="([a-z_]+\.[a-z_]+)"')
APPS = ("practice", "patients", "therapies", "sessions", "payments", "tera")


def test_every_action_the_code_writes_has_a_label():
    root = Path(settings.BASE_DIR)
    written = {
        code
        for app in APPS
        for path in (root / app).rglob("*.py")
        if "migrations" not in path.parts
        for code in WRITTEN_ACTION.findall(path.read_text())
    }
    # Written through a variable: session_note_open(action="read" | "export").
    written |= {"session_note.read", "session_note.export"}
    assert written, "the pattern found no audit actions at all"
    unlabelled = written - ACTIONS.keys()
    assert not unlabelled, f"add labels to practice/audit.py for {sorted(unlabelled)}"
