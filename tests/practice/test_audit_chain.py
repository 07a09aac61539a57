"""The audit log's hash chain: the database numbers and hashes every row as it goes in,
`verify_chain` / `manage.py audit_verify` recompute it, and a row changed, removed or
forged behind the app's back (here: by the database owner, with the append-only trigger
switched off, as someone holding the database's keys could) is reported. And the CSV
export of the log, with each row's place in the chain."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.urls import reverse

from practice.audit import GENESIS, verify_chain
from practice.models import AuditEvent
from practice.services import audit_record
from tests.factories import PatientFactory


def _write(practice, actor, n: int, **extra) -> list[AuditEvent]:
    return [
        audit_record(
            practice=practice, actor=actor, action="patient.update", data={"n": i}, **extra
        )
        for i in range(n)
    ]


def _as_the_database_owner(sql: str, params: list) -> None:
    """Run `sql` with triggers off (replication role), as a superuser could."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


def test_every_row_is_numbered_and_chained_per_practice(clinic, other_practice, owner, outsider):
    _write(clinic, owner, 3)
    _write(other_practice, outsider, 2)
    _write(clinic, owner, 1, ip="::ffff:10.0.0.1")
    rows = list(AuditEvent.objects.filter(practice=clinic).order_by("seq"))
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.chain_hash for a, b in zip(rows, rows[1:], strict=False))
    assert len({r.chain_hash for r in rows}) == 4
    assert list(
        AuditEvent.objects.filter(practice=other_practice)
        .values_list("seq", flat=True)
        .order_by("seq")
    ) == [1, 2]
    reports = {r.practice_id: r for r in verify_chain()}
    assert reports[clinic.pk].rows == 4 and reports[clinic.pk].head == rows[-1].chain_hash
    assert not reports[clinic.pk].problems and not reports[other_practice.pk].problems


def test_a_changed_row_is_found(clinic, owner):
    rows = _write(clinic, owner, 3)
    _as_the_database_owner(
        "UPDATE practice_auditevent SET data = '{\"n\": 99}' WHERE id = %s", [rows[1].pk]
    )
    (report,) = verify_chain(clinic.pk)
    assert report.problems == [f"row 2 (id {rows[1].pk}) was changed after it was written"]
    with pytest.raises(CommandError, match="1 audit chain"):
        call_command("audit_verify", stdout=io.StringIO())


def test_a_removed_row_is_found(clinic, owner):
    rows = _write(clinic, owner, 3)
    _as_the_database_owner("DELETE FROM practice_auditevent WHERE id = %s", [rows[1].pk])
    (report,) = verify_chain(clinic.pk)
    assert f"rows 2–2 are missing (before row id {rows[2].pk})" in report.problems
    assert f"row 3 (id {rows[2].pk}) does not follow row 2" in report.problems


def test_a_forged_row_rehashed_on_its_own_is_found(clinic, owner):
    """Someone changes a row and recomputes its own hash: the next row no longer follows."""
    rows = _write(clinic, owner, 3)
    _as_the_database_owner(
        "UPDATE practice_auditevent e SET action = 'patient.create' WHERE id = %s", [rows[1].pk]
    )
    _as_the_database_owner(
        "UPDATE practice_auditevent e SET chain_hash = practice_auditevent_digest(e) WHERE id = %s",
        [rows[1].pk],
    )
    (report,) = verify_chain(clinic.pk)
    assert report.problems == [f"row 3 (id {rows[2].pk}) does not follow row 2"]


def test_the_command_prints_each_chains_head(clinic, owner):
    rows = _write(clinic, owner, 2)
    out = io.StringIO()
    call_command("audit_verify", "--practice", str(clinic.pk), stdout=out)
    head = AuditEvent.objects.get(pk=rows[-1].pk).chain_hash
    assert f"2 rows, intact, last hash {head}" in out.getvalue()
    assert "Every audit chain is intact." in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain(clinic, owner):
    """Two connections writing at once: the insert trigger's lock keeps the numbers
    consecutive and each row after the one before."""
    errors: list[BaseException] = []

    def write() -> None:
        try:
            _write(clinic, owner, 15)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    (report,) = verify_chain(clinic.pk)
    assert report.rows == 45 and not report.problems


# --- The CSV export ------------------------------------------------------------------------


def test_the_owner_exports_the_filtered_log_with_the_chain(client_for, owner, clinic):
    patient = PatientFactory(practice=clinic, full_name='=HYPERLINK("x")')
    audit_record(practice=clinic, actor=owner, action="patient.create", patient_id=patient.pk)
    audit_record(practice=clinic, actor=owner, action="patient.update", data={"fields": ["phone"]})
    response = client_for(owner).get(reverse("practice:audit_export"), {"action": "patient.create"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["When", "Member", "Action", "Code"]
    assert len(rows) == 2 and rows[1][3] == "patient.create"
    assert rows[1][5] == '\'=HYPERLINK("x")'  # no formula in a spreadsheet
    created = AuditEvent.objects.get(action="patient.create")
    assert rows[1][9:] == [str(created.seq), created.chain_hash]
    export = AuditEvent.objects.get(action="audit.export")
    assert export.data == {"rows": 1, "filters": ["action"]}


@pytest.mark.parametrize("persona", ["therapist", "assistant"])
def test_only_owners_export_the_log(persona, request, client_for, clinic, owner):
    audit_record(practice=clinic, actor=owner, action="patient.create")
    response = client_for(request.getfixturevalue(persona)).get(reverse("practice:audit_export"))
    assert response.status_code == 403 and b"patient.create" not in response.content
    assert not AuditEvent.objects.filter(practice=clinic, action="audit.export").exists()


def test_another_practices_owner_exports_only_their_own(client_for, clinic, owner, outsider):
    audit_record(practice=clinic, actor=owner, action="patient.create")
    response = client_for(outsider).get(reverse("practice:audit_export"))
    assert response.status_code == 200 and b"patient.create" not in response.content


def test_bad_filters_export_nothing(client_for, owner, clinic):
    response = client_for(owner).get(reverse("practice:audit_export"), {"start": "not a day"})
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="audit.export").exists()
