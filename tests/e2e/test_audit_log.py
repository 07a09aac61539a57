"""The audit log in a browser: a therapist reads a session's note, and the Owner finds that
read in Settings → Audit log, narrowed to session notes and to that therapist; the front
desk cannot open the log."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from practice.models import AuditEvent, User
from sessions.models import Session
from tests.e2e.conftest import shot, sign_in

DEMO_PASSWORD = "holos-demo"
OWNER = "owner@holos.demo"
THERAPIST = "ana@holos.demo"
ASSISTANT = "carla@holos.demo"


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    # Assertions read English labels; the demo's members mostly work in Portuguese.
    User.objects.filter(email__in=[OWNER, THERAPIST, ASSISTANT]).update(language="en")


def test_owner_finds_a_therapists_read_of_a_note_in_the_audit_log(demo, new_page) -> None:
    session = (
        Session.objects.filter(therapist__email=THERAPIST)
        .select_related("patient")
        .latest("starts_at")
    )
    patient = session.patient

    # --- Ana reads the note, in a browser of her own ---------------------------------------
    ana = new_page()
    sign_in(ana, THERAPIST, DEMO_PASSWORD)
    ana.locator("nav.mainnav a[data-nav=patients]").click()
    ana.locator(f"#patient-{patient.pk} a").first.click()
    ana.locator("#tab-sessions").click()
    ana.locator(f"#session-{session.pk} a[href$='/sessions/{session.pk}/']").click()
    expect(ana).to_have_url(re.compile(rf"/sessions/{session.pk}/$"))
    expect(ana.locator("#session-notes")).to_contain_text(session.note.text)
    read = AuditEvent.objects.get(action="session_note.read", actor__email=THERAPIST)
    assert read.session_id == session.pk and read.patient_id == patient.pk

    # --- The Owner: Settings → Audit log ---------------------------------------------------
    owner = new_page()
    sign_in(owner, OWNER, DEMO_PASSWORD)
    owner.locator("nav.mainnav a[data-nav=settings]").click()
    expect(owner).to_have_url(re.compile(r"/practice/settings/$"))
    owner.locator("nav.subnav").get_by_role("link", name="Audit log").click()
    expect(owner).to_have_url(re.compile(r"/practice/audit/$"))
    expect(owner.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(owner.locator(f"#audit-{read.pk}")).to_be_visible()  # newest first, on page one

    filters = owner.locator("form.audit-filters")
    filters.get_by_label("Session notes and transcripts only").check()
    expect(owner).to_have_url(re.compile(r"clinical=on"))
    filters.locator("select[name=member]").select_option(label="Ana Ribeiro")
    expect(owner).to_have_url(re.compile(rf"member={read.actor_id}"))
    rows = owner.locator("#audit-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(owner.locator(".results-count")).to_have_text(re.compile(r"^\s*1 entry\s*$"))

    row = owner.locator(f"#audit-{read.pk}")
    expect(row.locator(".audit-who")).to_contain_text("Ana Ribeiro")
    expect(row.locator(".audit-what")).to_have_text("Read a session note")
    expect(row.locator(".audit-patient a")).to_have_text(patient.full_name)
    expect(row.locator(".audit-patient a")).to_have_attribute(
        "href", re.compile(rf"/patients/{patient.pk}/$")
    )
    session_link = row.locator(".audit-session a")
    expect(session_link).to_have_text(f"Session #{session.pk}")
    expect(session_link).to_have_attribute("href", re.compile(rf"/sessions/{session.pk}/$"))
    shot(owner, "audit-log")

    # The filtered log as CSV, each row with its place in the practice's hash chain.
    with owner.expect_download() as download:
        owner.get_by_role("link", name="Export CSV").click()
    exported = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    read.refresh_from_db()
    assert len(exported) == 2 and exported[1][3] == "session_note.read"
    assert exported[1][9:] == [str(read.seq), read.chain_hash]

    # The link opens the session (the Owner may read notes; that read is audited too).
    session_link.click()
    expect(owner).to_have_url(re.compile(rf"/sessions/{session.pk}/$"))
    expect(owner.locator("#session-notes")).to_contain_text(session.note.text)
    assert AuditEvent.objects.filter(
        action="session_note.read", actor__email=OWNER, session_id=session.pk
    ).exists()

    # --- The front desk may not open the log ------------------------------------------------
    desk = new_page()
    sign_in(desk, ASSISTANT, DEMO_PASSWORD)
    expect(desk.locator("nav.mainnav a[data-nav=settings]")).to_have_count(0)
    response = desk.goto("/practice/audit/")
    assert response is not None and response.status == 403
    expect(desk.locator(".error-page .error-code")).to_have_text("403")
    expect(
        desk.get_by_role("heading", name="This page isn’t available to your role")
    ).to_be_visible()
    expect(desk.locator("main")).not_to_contain_text("Read a session note")
    expect(desk.locator("main")).not_to_contain_text(patient.full_name)
