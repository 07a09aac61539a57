"""The Owner's therapy-type pages: roles, the field editor over htmx, and that an invalid
schema never reaches the database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from practice.models import AuditEvent, Language
from tests.factories import TherapyTypeFactory
from therapies.models import TherapyType

HX = {"HX-Request": "true"}


@pytest.fixture
def reiki(clinic) -> TherapyType:
    return TherapyTypeFactory(practice=clinic, name="Reiki")


def keys(therapy_type: TherapyType) -> list[str]:
    therapy_type.refresh_from_db()
    return [f["key"] for f in therapy_type.custom_fields]


def new_field(**overrides: str) -> dict[str, str]:
    data = {"new-label": "Theme", "new-kind": "short_text", "new-key": "", "new-help_text": ""}
    data.update({f"new-{k}": v for k, v in overrides.items()})
    return data


# --- who gets in --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["therapist", "assistant"])
def test_only_owners_reach_the_therapy_pages(persona, request, client_for, reiki):
    client = client_for(request.getfixturevalue(persona))
    assert client.get(reverse("therapies:index")).status_code == 403
    assert client.get(reverse("therapies:create")).status_code == 403
    for name, kwargs in [
        ("therapies:edit", {"pk": reiki.pk}),
        ("therapies:field_edit", {"pk": reiki.pk, "key": "chakras"}),
        ("therapies:field_remove", {"pk": reiki.pk, "key": "chakras"}),
    ]:
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 404
    response = client.post(reverse("therapies:field_add", args=[reiki.pk]), new_field())
    assert response.status_code == 404
    assert keys(reiki) == ["chakras", "sensations", "energy"]


def test_outsider_gets_404_for_another_practices_type(client_for, outsider, reiki):
    client = client_for(outsider)
    assert client.get(reverse("therapies:edit", args=[reiki.pk])).status_code == 404
    response = client.post(
        reverse("therapies:field_remove", kwargs={"pk": reiki.pk, "key": "chakras"})
    )
    assert response.status_code == 404
    assert "chakras" in keys(reiki)


def test_a_missing_field_key_answers_404(client_for, owner, reiki):
    url = reverse("therapies:field_edit", kwargs={"pk": reiki.pk, "key": "nope"})
    assert client_for(owner).get(url).status_code == 404


# --- list and creation --------------------------------------------------------------------


def test_empty_list_offers_to_create_one(client_for, owner):
    response = client_for(owner).get(reverse("therapies:index"))
    assert response.status_code == 200
    assert b"No therapies yet" in response.content
    assert reverse("therapies:create").encode() in response.content


def test_list_shows_types_with_price_in_the_practice_currency(
    client_for, owner, clinic, django_assert_max_num_queries
):
    for i in range(12):
        TherapyTypeFactory(practice=clinic, name=f"Therapy {i:02d}", price=Decimal("180.50"))
    TherapyTypeFactory(practice=clinic, name="Retired", is_active=False)
    client = client_for(owner)
    client.get(reverse("therapies:index"))  # the first request stores the practice choice
    with django_assert_max_num_queries(4):
        response = client.get(reverse("therapies:index"))
    body = response.content.decode()
    assert "Therapy 11" in body and "Retired" in body
    assert "180,50" in body or "180.50" in body
    assert 'data-nav="settings"' in body and 'aria-current="page" data-nav="settings"' in body


def test_owner_creates_a_blank_type(client_for, owner, clinic):
    response = client_for(owner).post(
        reverse("therapies:create"),
        {"name": "Massage", "default_duration": "50", "price": "120", "colour": "#123456",
         "is_active": "on"},
    )  # fmt: skip
    therapy_type = TherapyType.objects.get(practice=clinic, name="Massage")
    assert response.status_code == 302
    assert response["Location"] == reverse("therapies:edit", args=[therapy_type.pk])
    assert therapy_type.custom_fields == []
    assert therapy_type.currency == clinic.currency
    assert AuditEvent.objects.filter(practice=clinic, action="therapy_type.create").exists()


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("reiki", ["chakras", "sensations", "energy_before", "energy_after"]),
        ("family-constellation", ["theme", "dynamics", "representatives"]),
        ("access-bars", ["bars", "reactions"]),
    ],
)
def test_owner_creates_a_type_from_a_starter(slug, expected, client_for, owner, clinic):
    clinic.language = Language.ENGLISH
    clinic.save()
    client = client_for(owner)
    page = client.get(reverse("therapies:create"), {"starter": slug})
    assert page.status_code == 200
    assert page.context["form"].initial["name"]

    client.post(
        reverse("therapies:create"),
        {"starter": slug, "name": f"Our {slug}", "default_duration": "60", "price": "100",
         "colour": "#2f6f62", "is_active": "on"},
    )  # fmt: skip
    therapy_type = TherapyType.objects.get(practice=clinic, name=f"Our {slug}")
    assert keys(therapy_type) == expected


def test_starters_follow_the_practice_language(client_for, owner, clinic):
    clinic.language = Language.PORTUGUESE_BRAZIL
    clinic.save()
    page = client_for(owner).get(reverse("therapies:create"), {"starter": "reiki"})
    labels = [f["label"] for f in page.context["starter_fields"]]
    assert labels[0] == "Chakras trabalhados"


def test_access_bars_starter_offers_the_32_bars(clinic):
    from therapies.starters import starter

    bars = starter("access-bars").build()["custom_fields"][0]  # type: ignore[union-attr]
    assert bars["kind"] == "multiple_choice" and len(bars["choices"]) == 32


def test_names_are_unique_in_a_practice_ignoring_case(client_for, owner, clinic, reiki):
    response = client_for(owner).post(
        reverse("therapies:create"),
        {"name": "REIKI", "default_duration": "60", "price": "100", "colour": "#2f6f62"},
    )
    assert response.status_code == 422
    assert "already has a therapy with this name" in response.content.decode()
    assert TherapyType.objects.filter(practice=clinic).count() == 1


def test_another_practice_may_use_the_same_name(client_for, outsider, other_practice, reiki):
    client_for(outsider).post(
        reverse("therapies:create"),
        {"name": "Reiki", "default_duration": "60", "price": "100", "colour": "#2f6f62"},
    )
    assert TherapyType.objects.filter(practice=other_practice, name="Reiki").exists()


# --- details ------------------------------------------------------------------------------


def test_owner_edits_details(client_for, owner, reiki):
    response = client_for(owner).post(
        reverse("therapies:edit", args=[reiki.pk]),
        {"name": "Reiki Usui", "description": "Level 2", "default_duration": "75",
         "price": "199.90", "colour": "#7b5ea7"},
    )  # fmt: skip
    assert response.status_code == 302
    reiki.refresh_from_db()
    assert (reiki.name, reiki.default_duration, reiki.price, reiki.is_active) == (
        "Reiki Usui", 75, Decimal("199.90"), False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", "-1", "greater than or equal to 0"),
        ("default_duration", "2", "greater than or equal to 5"),
        ("colour", "red", "Use a colour such as"),
        ("name", "", "This field is required"),
    ],
)
def test_bad_details_get_a_message_and_change_nothing(
    field, value, message, client_for, owner, reiki
):
    data = {"name": "Reiki", "default_duration": "60", "price": "150", "colour": "#2f6f62",
            "is_active": "on", field: value}  # fmt: skip
    response = client_for(owner).post(reverse("therapies:edit", args=[reiki.pk]), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    before = (reiki.name, reiki.price, reiki.default_duration, reiki.colour)
    reiki.refresh_from_db()
    assert (reiki.name, reiki.price, reiki.default_duration, reiki.colour) == before


# --- the field editor ---------------------------------------------------------------------


def test_adding_a_field_over_htmx_returns_the_card_and_the_preview(
    client_for, owner, reiki, django_assert_max_num_queries
):
    client = client_for(owner)
    with django_assert_max_num_queries(12):
        response = client.post(
            reverse("therapies:field_add", args=[reiki.pk]),
            new_field(**{"label": "Colour of the aura", "kind": "single_choice",
                         "choices": "Blue\nGold\n\nGreen", "required": "on"}),
            headers=HX,
        )  # fmt: skip
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'id="fields-card"' in body and 'id="preview"' in body
    assert 'hx-swap-oob="true"' in body
    assert 'name="preview-colour_of_the_aura"' in body
    reiki.refresh_from_db()
    added = reiki.custom_fields[-1]
    assert added["key"] == "colour_of_the_aura"
    assert added["choices"] == ["Blue", "Gold", "Green"] and added["required"] is True
    assert added["order"] == 3


def test_without_htmx_adding_redirects_back_to_the_page(client_for, owner, reiki):
    response = client_for(owner).post(reverse("therapies:field_add", args=[reiki.pk]), new_field())
    assert response.status_code == 302
    assert response["Location"].endswith("#fields-card")
    assert keys(reiki)[-1] == "theme"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "multiple_choice", "choices": "Only one"}, "at least two choices"),
        ({"kind": "single_choice", "choices": "Yes\nyes"}, "appears twice"),
        ({"kind": "number", "min": "10", "max": "1"}, "maximum must not be below"),
        ({"label": ""}, "This field is required"),
        ({"label": "x" * 121}, "at most 120 characters"),
        ({"key": "Bad Key"}, "lower-case letters"),
        ({"key": "chakras"}, "already used in this therapy"),
    ],
)
def test_an_invalid_field_is_refused_and_nothing_is_saved(
    overrides, message, client_for, owner, reiki
):
    before = keys(reiki)
    audits = AuditEvent.objects.count()
    for headers in ({}, HX):
        response = client_for(owner).post(
            reverse("therapies:field_add", args=[reiki.pk]), new_field(**overrides), headers=headers
        )
        assert response.status_code == 422
        assert message in response.content.decode()
    assert keys(reiki) == before
    assert AuditEvent.objects.count() == audits


def test_the_key_of_a_removed_field_is_not_reused(client_for, owner, reiki):
    client = client_for(owner)
    client.post(reverse("therapies:field_remove", kwargs={"pk": reiki.pk, "key": "sensations"}))
    response = client.post(
        reverse("therapies:field_add", args=[reiki.pk]),
        new_field(label="Sensations", key="sensations"),
    )
    assert response.status_code == 422
    # Derived from the label, the key steps around the removed one.
    client.post(reverse("therapies:field_add", args=[reiki.pk]), new_field(label="Sensations"))
    assert keys(reiki) == ["chakras", "energy", "sensations_2"]


def test_editing_relabels_but_keeps_key_and_kind(client_for, owner, reiki):
    client = client_for(owner)
    url = reverse("therapies:field_edit", kwargs={"pk": reiki.pk, "key": "energy"})
    editor = client.get(url, headers=HX)
    assert editor.status_code == 200 and "<html" not in editor.content.decode()
    assert 'name="edit-label"' in editor.content.decode()

    response = client.post(
        url,
        {"edit-label": "Energy afterwards", "edit-kind": "date", "edit-key": "hacked",
         "edit-help_text": "0 to 10"},
        headers=HX,
    )  # fmt: skip
    assert response.status_code == 200
    reiki.refresh_from_db()
    energy = reiki.custom_fields[2]
    assert (energy["key"], energy["kind"], energy["label"]) == (
        "energy",
        "scale",
        "Energy afterwards",
    )
    assert energy["required"] is False


def test_an_invalid_edit_keeps_the_editor_open_with_the_message(client_for, owner, reiki):
    url = reverse("therapies:field_edit", kwargs={"pk": reiki.pk, "key": "chakras"})
    response = client_for(owner).post(
        url, {"edit-label": "Chakras", "edit-choices": "Root"}, headers=HX
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "at least two choices" in body and 'name="edit-label"' in body
    reiki.refresh_from_db()
    assert reiki.custom_fields[0]["choices"] == ["Root", "Heart", "Crown"]


def test_moving_a_field_up_and_down(client_for, owner, reiki):
    client = client_for(owner)
    move = reverse("therapies:field_move", kwargs={"pk": reiki.pk, "key": "energy"})
    client.post(move, {"direction": "up"}, headers=HX)
    assert keys(reiki) == ["chakras", "energy", "sensations"]
    client.post(move, {"direction": "up"})
    client.post(move, {"direction": "up"})
    assert keys(reiki) == ["energy", "chakras", "sensations"]
    client.post(move, {"direction": "down"})
    assert keys(reiki) == ["chakras", "energy", "sensations"]
    assert [f["order"] for f in reiki.custom_fields] == [0, 1, 2]
    assert client.post(move, {"direction": "sideways"}).status_code == 400
    assert client.get(move).status_code == 405


def test_reordering_by_drag_sends_the_whole_order(client_for, owner, reiki):
    client = client_for(owner)
    url = reverse("therapies:fields_reorder", args=[reiki.pk])
    response = client.post(url, {"keys": ["sensations", "energy", "chakras"]}, headers=HX)
    assert response.status_code == 200
    assert keys(reiki) == ["sensations", "energy", "chakras"]


@pytest.mark.parametrize(
    "sent", [["sensations", "energy"], ["sensations", "energy", "chakras", "x"], []]
)
def test_a_stale_order_is_refused_with_a_message(sent, client_for, owner, reiki):
    response = client_for(owner).post(
        reverse("therapies:fields_reorder", args=[reiki.pk]), {"keys": sent}, headers=HX
    )
    assert response.status_code == 422
    assert "changed while you were reordering" in response.content.decode()
    assert keys(reiki) == ["chakras", "sensations", "energy"]


def test_removing_asks_first_and_keeps_the_definition(client_for, owner, reiki):
    client = client_for(owner)
    url = reverse("therapies:field_remove", kwargs={"pk": reiki.pk, "key": "sensations"})
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "Values already recorded stay stored" in confirm.content.decode()
    assert "sensations" in keys(reiki)

    response = client.post(url, headers=HX)
    assert response.status_code == 200
    assert keys(reiki) == ["chakras", "energy"]
    assert reiki.removed_fields[0]["label"] == "Perceived sensations"
    assert AuditEvent.objects.filter(action="therapy_type.field_remove").count() == 1


def test_live_preview_of_a_draft_field(client_for, owner, reiki):
    client = client_for(owner)
    url = reverse("therapies:field_preview", args=[reiki.pk])
    response = client.post(url, new_field(label="Energy now", kind="scale"), headers=HX)
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.count('type="radio"') == 12  # 0..10 and "no answer"
    assert keys(reiki) == ["chakras", "sensations", "energy"]  # a preview saves nothing

    broken = client.post(url, new_field(kind="single_choice", choices="One"), headers=HX)
    assert "at least two choices" in broken.content.decode()
    editing = client.post(
        url, {"editing": "chakras", "edit-label": "Chakras!", "edit-choices": "A\nB"}, headers=HX
    )
    assert 'type="checkbox"' in editing.content.decode()


def test_the_page_shows_fields_and_the_preview(client_for, owner, reiki):
    body = client_for(owner).get(reverse("therapies:edit", args=[reiki.pk])).content.decode()
    assert 'id="field-chakras"' in body and 'id="preview"' in body
    assert 'name="preview-energy"' in body and 'name="preview-chakras"' in body


def test_without_javascript_the_editor_opens_on_its_own_page(client_for, owner, reiki):
    client = client_for(owner)
    url = reverse("therapies:field_edit", kwargs={"pk": reiki.pk, "key": "sensations"})
    page = client.get(url)
    assert page.status_code == 200
    assert "<html" in page.content.decode() and 'name="edit-label"' in page.content.decode()
    saved = client.post(url, {"edit-label": "Sensations felt", "edit-help_text": ""})
    assert saved.status_code == 302
    reiki.refresh_from_db()
    assert reiki.custom_fields[1]["label"] == "Sensations felt"


def test_a_new_type_asks_for_its_price(client_for, owner, clinic):
    client = client_for(owner)
    page = client.get(reverse("therapies:create"), {"starter": "reiki"})
    assert page.context["form"]["price"].value() is None
    response = client.post(
        reverse("therapies:create"),
        {"starter": "reiki", "name": "Reiki", "default_duration": "60", "colour": "#2f6f62"},
    )
    assert response.status_code == 422
    assert not TherapyType.objects.filter(practice=clinic).exists()
