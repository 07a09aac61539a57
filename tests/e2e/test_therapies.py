"""An Owner builds a therapy type in the browser: three kinds of field, reordered with the
arrows and by dragging, with the live preview of the therapist's form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from practice.models import Practice, User
from tests.e2e.conftest import shot, sign_in
from therapies.models import TherapyType


@pytest.fixture
def owner_in_english(transactional_db, owner: User, clinic: Practice) -> User:
    owner.language = "en"
    owner.save()
    return owner


def add_field(card: Locator, label: str, kind: str, choices: str = "", required: bool = False):
    form = card.locator("form#add-field")
    form.locator("input[name=new-label]").fill(label)
    form.locator("select[name=new-kind]").select_option(kind)
    if choices:
        form.locator("textarea[name=new-choices]").fill(choices)
    if required:
        form.locator("input[name=new-required]").check()
    form.locator("button[type=submit]").click()


def drag(page: Page, source: Locator, target: Locator) -> None:
    """Drag with the mouse as a person does, to just inside the top edge of `target`."""
    # Centred, so that neither end hides under the sticky top bar.
    target.evaluate("el => el.parentElement.scrollIntoView({block: 'center'})")
    start, end = source.bounding_box(), target.bounding_box()
    assert start and end
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + 40, end["y"] + end["height"] / 2, steps=8)
    page.mouse.move(end["x"] + 40, end["y"] + 3, steps=4)
    page.mouse.up()


def field_keys(page: Page) -> list[str]:
    return page.locator("#fields-card ol.field-list > li").evaluate_all(
        "items => items.map(li => li.dataset.key)"
    )


def test_owner_builds_a_therapy_type_and_sees_the_preview(owner_in_english, page: Page) -> None:
    sign_in(page, owner_in_english.email)
    page.locator("nav.mainnav a[data-nav=settings]").click()
    page.locator("nav.subnav a[href$='/practice/therapies/']").click()
    expect(page.locator(".empty-state")).to_be_visible()
    shot(page, "therapies-empty")

    page.locator(".empty-state a[href$='/practice/therapies/new/']").click()
    page.locator("input[name=name]").fill("Reiki")
    page.locator("input[name=default_duration]").fill("60")
    page.locator("input[name=price]").fill("150")
    page.locator("main form[action$='/practice/therapies/new/'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/practice/therapies/\d+/$"))
    expect(page.locator("#fields-card .empty-inline")).to_be_visible()

    page.evaluate("window.__e2eNoReload = true")
    card = page.locator("#fields-card")
    # Only the settings of the chosen kind are shown.
    expect(card.locator("textarea[name=new-choices]")).to_be_hidden()
    page.locator("select[name=new-kind]").select_option("multiple_choice")
    expect(card.locator("textarea[name=new-choices]")).to_be_visible()
    expect(card.locator("input[name=new-min]")).to_be_hidden()

    add_field(card, "Chakras worked on", "multiple_choice", "Root\nSacral\nHeart\nCrown")
    expect(card.locator("li#field-chakras_worked_on")).to_be_visible()
    add_field(card, "Energy level", "scale", required=True)
    expect(card.locator("li#field-energy_level")).to_be_visible()

    # A bad field gets its message in place and is not added.
    add_field(card, "Mood", "single_choice", "Calm")
    expect(card.locator("#id_new-choices_error")).to_contain_text("at least two choices")
    expect(card.locator("ol.field-list > li")).to_have_count(2)
    card.locator("textarea[name=new-choices]").fill("Calm\nRestless")
    card.locator("input[name=new-label]").fill("Perceived sensations")
    card.locator("select[name=new-kind]").select_option("long_text")
    card.locator("form#add-field button[type=submit]").click()
    expect(card.locator("li#field-perceived_sensations")).to_be_visible()
    assert field_keys(page) == ["chakras_worked_on", "energy_level", "perceived_sensations"]

    preview = page.locator("#preview")
    expect(preview.locator("input[type=checkbox][name=preview-chakras_worked_on]")).to_have_count(4)
    expect(preview.locator("input[type=radio][name=preview-energy_level]")).to_have_count(11)
    expect(preview.locator("textarea[name=preview-perceived_sensations]")).to_be_visible()

    # Reorder with the keyboard-friendly arrows…
    card.locator("li#field-chakras_worked_on button[value=down]").click()
    expect(card.locator("ol.field-list > li").first).to_have_attribute("data-key", "energy_level")
    # …and by dragging the last field to the top.
    with page.expect_response(lambda r: r.url.endswith("/fields/order/")) as reordered:
        drag(
            page,
            card.locator("li#field-perceived_sensations .drag-handle"),
            card.locator("li#field-energy_level"),
        )
    assert reordered.value.status == 200
    expect(card.locator(".message-success")).to_be_visible()
    order = ["perceived_sensations", "energy_level", "chakras_worked_on"]
    assert field_keys(page) == order
    preview_names = preview.locator(
        "textarea, input[type=radio], input[type=checkbox]"
    ).evaluate_all("els => [...new Set(els.map(e => e.name.replace('preview-', '')))]")
    assert preview_names == order
    assert page.evaluate("window.__e2eNoReload") is True

    therapy_type = TherapyType.objects.get(name="Reiki")
    assert [f["key"] for f in therapy_type.custom_fields] == order
    assert [f["kind"] for f in therapy_type.custom_fields] == [
        "long_text",
        "scale",
        "multiple_choice",
    ]
    shot(page, "therapies-editor")

    # Live preview of a field before it is added.
    card.locator("input[name=new-label]").fill("Follow-up needed")
    card.locator("select[name=new-kind]").select_option("yes_no")
    expect(card.locator(".draft-preview input[type=radio]")).to_have_count(3)
    card.locator(".draft-preview").scroll_into_view_if_needed()
    shot(page, "therapies-draft-preview")

    # Relabel in place: the key stays.
    card.locator("li#field-energy_level a", has_text="Edit").click()
    editor = card.locator("li#field-energy_level form.field-editor")
    editor.locator("input[name=edit-label]").fill("Energy level after the session")
    editor.locator("button[type=submit]").click()
    expect(card.locator("li#field-energy_level .field-label")).to_have_text(
        "Energy level after the session"
    )
    expect(preview).to_contain_text("Energy level after the session")


def test_owner_starts_from_the_access_bars_template(owner_in_english, clinic, page: Page) -> None:
    clinic.language = "en"
    clinic.save()
    sign_in(page, owner_in_english.email)
    page.goto("/practice/therapies/new/")
    page.locator("a[data-starter=access-bars]").click()
    expect(page.locator("input[name=name]")).to_have_value("Access Bars")
    expect(page.locator(".starter-fields li")).to_have_count(2)
    shot(page, "therapies-starter")
    page.locator("input[name=price]").fill("180")
    page.locator("main form[action$='/practice/therapies/new/'] button[type=submit]").click()
    expect(page.locator("#preview input[type=checkbox]")).to_have_count(32)
    shot(page, "therapies-access-bars")


def test_the_editor_fits_a_phone(owner_in_english, clinic, new_page) -> None:
    therapy_type = TherapyType.objects.create(
        practice=clinic,
        name="Family Constellation",
        default_duration=90,
        price=280,
        custom_fields=[
            {"key": "theme", "label": "Theme of the constellation", "kind": "short_text",
             "help_text": "", "required": True, "order": 0, "choices": [], "min": None,
             "max": None, "unit": ""},
            {"key": "representatives", "label": "Representatives used", "kind": "number",
             "help_text": "", "required": False, "order": 1, "choices": [], "min": 0,
             "max": 100, "unit": "people"},
        ],
    )  # fmt: skip
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, owner_in_english.email)
    page.goto(f"/practice/therapies/{therapy_type.pk}/")
    expect(page.locator("#preview input[name=preview-representatives]")).to_be_visible()
    shot(page, "therapies-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"
