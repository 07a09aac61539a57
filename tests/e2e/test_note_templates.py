"""An Owner makes a note template of their own in the browser: from the SOAP built-in,
renamed, with a therapy's field picked over htmx and a section added without JavaScript's
help, then archives and restores it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from practice.models import Practice, User
from sessions.models import NoteTemplate
from tests.e2e.conftest import shot, sign_in
from tests.factories import TherapyTypeFactory


@pytest.fixture
def owner_in_english(transactional_db, owner: User, clinic: Practice) -> User:
    owner.language = "en"
    owner.save()
    clinic.language = "en"
    clinic.save()
    return owner


def test_owner_makes_a_template_from_soap(owner_in_english, clinic, page: Page) -> None:
    TherapyTypeFactory(practice=clinic, name="Reiki")
    sign_in(page, owner_in_english.email)
    page.locator("nav.mainnav a[data-nav=settings]").click()
    page.locator("nav.subnav a[href$='/note-templates/']").click()
    expect(page.locator("#no-templates")).to_be_visible()
    expect(page.locator("nav.subnav a[aria-current=page]")).to_have_text("Note templates")

    # A built-in's sections can be read before starting from it.
    soap = page.locator("#builtin-templates tr[data-builtin=soap]")
    soap.locator("summary").click()
    expect(soap.locator("ol > li")).to_have_count(4)
    shot(page, "note_templates-empty")

    page.locator("main a", has_text="New template").click()
    page.locator("a[data-from=soap]").click()
    expect(page.locator("input[name=name]")).to_have_value("SOAP note (copy)")
    expect(page.locator("fieldset[id^=section-]")).to_have_count(4)
    page.locator("input[name=name]").fill("SOAP for Reiki")

    # Choosing a therapy brings its custom fields in place (htmx), nothing else reloads.
    page.evaluate("window.__e2eNoReload = true")
    page.locator("select[name=therapy_type]").select_option(label="Reiki")
    fields = page.locator("#ai-fields input[name=field_keys]")
    expect(fields).to_have_count(3)
    assert page.evaluate("window.__e2eNoReload") is True
    page.locator("#ai-fields label", has_text="Energy level").click()

    # "Add a section" posts the form back: one more row, focused, and what was typed stays.
    page.locator("button[name=add_section]").click()
    new_title = page.locator("input[name=sections-4-title]")
    expect(new_title).to_be_focused()
    expect(page.locator("input[name=name]")).to_have_value("SOAP for Reiki")
    expect(page.locator("#ai-fields input[value=energy]")).to_be_checked()
    new_title.fill("Energy work")
    page.locator("textarea[name=sections-4-instruction]").fill(
        "Which techniques were used and how the patient's energy changed."
    )
    # A section left without instruction gets its message and nothing is saved.
    page.locator("textarea[name=sections-0-instruction]").fill("")
    page.locator("button[name=save]").click()
    expect(page.locator("#section-0 .errorlist")).to_contain_text("Tell the AI what to write")
    assert not NoteTemplate.objects.exists()
    shot(page, "note_template_form-error")

    page.locator("textarea[name=sections-0-instruction]").fill("What the patient reports.")
    page.locator("#section-4 button[value='4:up']").click()
    expect(page.locator("#section-3 input[name$=-title]")).to_have_value("Energy work")
    page.locator("input[name=name]").press("Enter")  # Enter saves, whatever buttons come first

    expect(page).to_have_url(re.compile(r"/note-templates/$"))
    expect(page.locator(".message-success")).to_contain_text("SOAP for Reiki")
    row = page.locator("#note-templates tbody tr", has_text="SOAP for Reiki")
    expect(row).to_contain_text("Reiki")
    expect(row).to_contain_text("proposes 1 field")
    shot(page, "note_templates")

    template = NoteTemplate.objects.get(practice=clinic)
    assert [s["key"] for s in template.sections] == [
        "subjective",
        "objective",
        "assessment",
        "energy_work",
        "plan",
    ]
    assert template.field_keys == ["energy"]

    # Archive after confirming, then restore from the list.
    row.locator("a", has_text="Archive").click()
    expect(page.locator("h1")).to_contain_text("Archive “SOAP for Reiki”?")
    page.locator("main button[type=submit]", has_text="Archive template").click()
    archived = page.locator("#archived-note-templates tbody tr", has_text="SOAP for Reiki")
    expect(archived).to_be_visible()
    expect(page.locator("#no-templates")).to_be_visible()
    archived.locator("button[name=restore]").click()
    expect(page.locator("#note-templates")).to_contain_text("SOAP for Reiki")
    template.refresh_from_db()
    assert template.is_active


def test_the_editor_fits_a_phone(owner_in_english, new_page) -> None:
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, owner_in_english.email)
    page.goto("/note-templates/new/?from=intake")
    expect(page.locator("fieldset[id^=section-]")).to_have_count(5)
    shot(page, "note_template_form-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"
