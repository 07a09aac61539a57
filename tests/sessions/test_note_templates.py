"""The Owner's note templates: who reaches the pages, creating from a built-in or blank,
editing (section keys stay), archiving and restoring, and bad input that saves nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from practice.models import AuditEvent
from sessions.models import NoteTemplate
from sessions.services.note_templates import (
    note_template_archive,
    note_template_create,
    note_template_update,
)
from tests.factories import TherapyTypeFactory
from therapies.models import TherapyType

HX = {"HTTP_HX_REQUEST": "true"}
LIST = reverse("sessions:note_templates")
NEW = reverse("sessions:note_template_new")

FOLLOW_UP = [
    {"key": "arrival", "title": "On arrival", "instruction": "How the patient arrived."},
    {"key": "work", "title": "Work done", "instruction": "What was done in the session."},
]


@pytest.fixture
def reiki(clinic) -> TherapyType:
    return TherapyTypeFactory(practice=clinic, name="Reiki")


@pytest.fixture
def follow_up(clinic, owner) -> NoteTemplate:
    return NoteTemplate.objects.create(
        practice=clinic, name="Reiki follow-up", sections=FOLLOW_UP, created_by=owner
    )


def edit_url(template: NoteTemplate) -> str:
    return reverse("sessions:note_template_edit", args=[template.pk])


def archive_url(template: NoteTemplate) -> str:
    return reverse("sessions:note_template_archive", args=[template.pk])


def form_data(
    name: str = "Short intake",
    sections: Sequence[tuple[str, str] | tuple[str, str, str]] = (
        ("Presenting problem", "Why the patient came."),
        ("Plan", "What comes next."),
    ),
    *,
    description: str = "",
    therapy: TherapyType | None = None,
    field_keys: Sequence[str] = (),
    initial_forms: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The editor's POST: (title, instruction) or (key, title, instruction) per row."""
    data: dict[str, Any] = {
        "name": name,
        "description": description,
        "therapy_type": therapy.pk if therapy else "",
        "field_keys": list(field_keys),
        "sections-TOTAL_FORMS": str(len(sections)),
        "sections-INITIAL_FORMS": str(len(sections) if initial_forms is None else initial_forms),
        "sections-MIN_NUM_FORMS": "0",
        "sections-MAX_NUM_FORMS": "12",
    }
    for i, row in enumerate(sections):
        key, title, instruction = row if len(row) == 3 else ("", *row)
        data[f"sections-{i}-key"] = key
        data[f"sections-{i}-title"] = title
        data[f"sections-{i}-instruction"] = instruction
    data.update(extra)
    return data


def stored(template: NoteTemplate) -> list[tuple[str, str]]:
    template.refresh_from_db()
    return [(s["key"], s["title"]) for s in template.sections]


# --- who gets in --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["therapist", "assistant"])
def test_only_owners_reach_the_note_template_pages(persona, request, client_for, follow_up):
    client = client_for(request.getfixturevalue(persona))
    for url in (LIST, NEW, edit_url(follow_up), archive_url(follow_up)):
        assert client.get(url).status_code == 403, url
    assert client.post(NEW, form_data()).status_code == 403
    assert client.post(edit_url(follow_up), form_data(name="Taken over")).status_code == 403
    assert client.post(archive_url(follow_up)).status_code == 403
    assert client.post(archive_url(follow_up), {"restore": "1"}).status_code == 403
    follow_up.refresh_from_db()
    assert follow_up.name == "Reiki follow-up" and follow_up.is_active
    assert NoteTemplate.objects.count() == 1
    assert not AuditEvent.objects.filter(action__startswith="note_template.").exists()


def test_outsider_gets_404_for_another_practices_template(client_for, outsider, follow_up):
    client = client_for(outsider)
    assert client.get(edit_url(follow_up)).status_code == 404
    assert client.get(archive_url(follow_up)).status_code == 404
    assert client.post(edit_url(follow_up), form_data(name="Mine now")).status_code == 404
    assert client.post(archive_url(follow_up)).status_code == 404
    follow_up.refresh_from_db()
    assert follow_up.name == "Reiki follow-up" and follow_up.is_active
    # Their own list does not show it either.
    assert b"Reiki follow-up" not in client.get(LIST).content


@pytest.mark.parametrize("persona", ["owner", "therapist", "assistant"])
def test_another_practices_template_answers_404_to_every_role(
    persona, request, client_for, other_practice, outsider
):
    theirs = NoteTemplate.objects.create(
        practice=other_practice, name="Theirs", sections=FOLLOW_UP, created_by=outsider
    )
    client = client_for(request.getfixturevalue(persona))
    for url in (edit_url(theirs), archive_url(theirs)):
        for method in ("get", "post"):
            for headers in ({}, {"HX-Request": "true"}):
                response = getattr(client, method)(url, form_data("Mine"), headers=headers)
                assert response.status_code == 404, (url, method, headers)
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and theirs.is_active


def test_an_unknown_template_answers_404(client_for, owner):
    url = reverse("sessions:note_template_edit", args=[9999])
    assert client_for(owner).get(url).status_code == 404


# --- the list -----------------------------------------------------------------------------


def test_empty_list_shows_the_builtins_and_offers_a_new_template(client_for, owner):
    response = client_for(owner).get(LIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="no-templates"' in content
    assert f'href="{NEW}"' in content
    assert 'data-builtin="soap"' in content and 'data-builtin="holistic"' in content
    # A built-in's sections are there to read, in a <details>.
    assert "<details" in content and "Subjective" in content
    assert f"{NEW}?from=soap" in content
    assert 'aria-current="page">Note templates</a>' in content


def test_list_shows_active_then_archived_templates_in_few_queries(
    client_for, owner, clinic, reiki, django_assert_max_num_queries
):
    for n in range(5):
        NoteTemplate.objects.create(
            practice=clinic,
            name=f"Template {n}",
            sections=FOLLOW_UP,
            therapy_type=reiki if n % 2 else None,
            field_keys=["energy"] if n % 2 else [],
        )
    NoteTemplate.objects.create(
        practice=clinic, name="Old format", sections=FOLLOW_UP, is_active=False
    )
    client = client_for(owner)
    with django_assert_max_num_queries(7):
        response = client.get(LIST)
    content = response.content.decode()
    assert 'id="no-templates"' not in content
    own, archived = content.split('id="archived-note-templates"')
    assert all(f"Template {n}" in own for n in range(5))
    assert "Old format" not in own and "Old format" in archived
    assert 'name="restore"' in archived
    assert "Reiki" in own and "proposes 1 field" in own


# --- creating -----------------------------------------------------------------------------


def test_starting_from_a_builtin_prefills_its_sections(client_for, owner):
    response = client_for(owner).get(NEW + "?from=soap")
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="sections-TOTAL_FORMS" value="4"' in content
    for key in ("subjective", "objective", "assessment", "plan"):
        assert f'value="{key}"' in content
    assert 'data-from="soap" aria-current="true"' in content


def test_a_blank_template_starts_with_one_empty_row(client_for, owner):
    content = client_for(owner).get(NEW).content.decode()
    assert 'name="sections-TOTAL_FORMS" value="1"' in content
    assert 'name="sections-0-title"' in content


def test_owner_creates_a_template_and_the_audit_log_says_so(client_for, owner, clinic, reiki):
    response = client_for(owner).post(
        NEW,
        form_data(
            "Reiki session",
            [("On arrival", "Body, emotions, energy."), ("Chakras", "Which chakras, how.")],
            description="For Reiki only",
            therapy=reiki,
            field_keys=["energy", "chakras"],
        ),
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302
    assert response["Location"] == LIST
    template = NoteTemplate.objects.get(practice=clinic)
    assert template.name == "Reiki session"
    assert template.description == "For Reiki only"
    assert template.therapy_type == reiki
    # Keys come from the titles; field keys in the therapy's own order.
    assert stored(template) == [("on_arrival", "On arrival"), ("chakras", "Chakras")]
    assert template.field_keys == ["chakras", "energy"]
    assert template.is_active and template.created_by == owner
    event = AuditEvent.objects.get(action="note_template.create")
    assert (event.practice, event.actor, event.target_id) == (clinic, owner, str(template.pk))
    assert event.ip == "203.0.113.9"
    assert event.data["sections"] == ["on_arrival", "chakras"]


def test_duplicate_name_in_any_case_is_refused_and_nothing_saved(client_for, owner, follow_up):
    response = client_for(owner).post(NEW, form_data("REIKI FOLLOW-UP"))
    assert response.status_code == 422
    assert "already has a note template with this name" in response.content.decode()
    assert NoteTemplate.objects.count() == 1
    assert not AuditEvent.objects.filter(action__startswith="note_template.").exists()


def test_the_name_of_a_builtin_is_refused(client_for, owner):
    response = client_for(owner).post(NEW, form_data("soap note"))
    assert response.status_code == 422
    assert "A built-in template already has this name" in response.content.decode()
    assert not NoteTemplate.objects.exists()


def test_field_keys_must_be_fields_of_the_chosen_therapy(client_for, owner, clinic, reiki):
    other = TherapyTypeFactory(practice=clinic, name="Constellation", custom_fields=[])
    client = client_for(owner)
    response = client.post(NEW, form_data(therapy=other, field_keys=["energy"]))
    assert response.status_code == 422
    assert "Constellation has no custom field “energy”" in response.content.decode()
    response = client.post(NEW, form_data(therapy=reiki, field_keys=["energy", "nope"]))
    assert response.status_code == 422
    assert "Reiki has no custom field “nope”" in response.content.decode()
    response = client.post(NEW, form_data(field_keys=["energy"]))
    assert response.status_code == 422
    assert "Choose a therapy before choosing custom fields" in response.content.decode()
    assert not NoteTemplate.objects.exists()


def test_another_practices_therapy_cannot_be_chosen(client_for, owner, other_practice):
    theirs = TherapyTypeFactory(practice=other_practice)
    response = client_for(owner).post(NEW, form_data(therapy=theirs))
    assert response.status_code == 422
    assert not NoteTemplate.objects.exists()


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ([], "Add at least one section."),
        ([("", "")], "Add at least one section."),
        (
            [(f"Part {n}", "Write it.") for n in range(13)],
            "A template has at most 12 sections; this one has 13.",
        ),
        ([("Plan", ""), ("Goals", "The goals.")], "Tell the AI what to write in this section."),
        ([("", "Orphan instruction")], "Give this section a title."),
        ([("Plan", "One."), ("plan", "Two.")], "Another section already has this title."),
        ([("T" * 81, "Write it.")], "at most 80 characters"),
        ([("Plan", "x" * 601)], "at most 600 characters"),
    ],
)
def test_bad_sections_are_refused_and_nothing_saved(client_for, owner, sections, message):
    response = client_for(owner).post(NEW, form_data(sections=sections))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not NoteTemplate.objects.exists()


def test_removed_and_blank_rows_are_not_sections(client_for, owner, clinic):
    data = form_data(
        sections=[("Kept", "Stays."), ("Dropped", "Goes."), ("", "")],
        initial_forms=2,
        **{"sections-1-DELETE": "on"},
    )
    assert client_for(owner).post(NEW, data).status_code == 302
    assert stored(NoteTemplate.objects.get(practice=clinic)) == [("kept", "Kept")]


# --- the editor without JavaScript --------------------------------------------------------


def test_add_a_section_shows_one_more_row_and_saves_nothing(client_for, owner):
    data = form_data(sections=[("subjective", "Subjective", "What they say.")], add_section="1")
    response = client_for(owner).post(NEW, data)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="sections-TOTAL_FORMS" value="2"' in content
    assert 'name="sections-1-title"' in content
    assert 'value="Subjective"' in content and 'value="subjective"' in content
    # Nothing unfinished is flagged as an error, and nothing is saved.
    assert "errorlist" not in content and "form-errors" not in content
    assert not NoteTemplate.objects.exists()


def test_arrows_move_a_section_and_save_nothing(client_for, owner):
    data = form_data(sections=[("First", "One."), ("Second", "Two.")], move="1:up")
    content = client_for(owner).post(NEW, data).content.decode()
    assert content.index('value="Second"') < content.index('value="First"')
    assert not NoteTemplate.objects.exists()


def test_choosing_a_therapy_over_htmx_returns_its_fields_only(client_for, owner, reiki):
    data = form_data(therapy=reiki, pick_therapy="1")
    response = client_for(owner).post(NEW, data, **HX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="ai-fields">')
    assert "<html" not in content
    for key in ("chakras", "sensations", "energy"):
        assert f'name="field_keys" value="{key}"' in content


# --- editing, archiving, restoring --------------------------------------------------------


def test_owner_edits_a_template_and_existing_section_keys_stay(
    client_for, owner, clinic, follow_up, reiki
):
    data = form_data(
        "Reiki follow-up (v2)",
        [
            ("work", "What we did", "Techniques used."),
            ("arrival", "How they came in", "Body and mood on arrival."),
            ("", "Guidance", "Advice until the next session."),
        ],
        therapy=reiki,
        field_keys=["sensations"],
    )
    response = client_for(owner).post(edit_url(follow_up), data)
    assert response.status_code == 302
    assert stored(follow_up) == [
        ("work", "What we did"),
        ("arrival", "How they came in"),
        ("guidance", "Guidance"),
    ]
    assert follow_up.name == "Reiki follow-up (v2)"
    assert follow_up.field_keys == ["sensations"]
    event = AuditEvent.objects.get(action="note_template.update")
    assert (event.actor, event.target_id) == (owner, str(follow_up.pk))


def test_the_edit_page_shows_the_saved_template(client_for, owner, follow_up):
    content = client_for(owner).get(edit_url(follow_up)).content.decode()
    assert 'value="Reiki follow-up"' in content
    assert 'name="sections-TOTAL_FORMS" value="2"' in content
    assert 'value="arrival"' in content and 'value="Work done"' in content


def test_keeping_its_own_name_is_no_clash(client_for, owner, follow_up):
    data = form_data(
        "reiki FOLLOW-UP", [(s["key"], s["title"], s["instruction"]) for s in FOLLOW_UP]
    )
    assert client_for(owner).post(edit_url(follow_up), data).status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.name == "reiki FOLLOW-UP"


def test_renaming_onto_another_template_is_refused(client_for, owner, clinic, follow_up):
    other = NoteTemplate.objects.create(practice=clinic, name="Intake", sections=FOLLOW_UP)
    response = client_for(owner).post(edit_url(other), form_data("Reiki Follow-Up"))
    assert response.status_code == 422
    other.refresh_from_db()
    assert other.name == "Intake"


def test_archive_asks_first_then_archives(client_for, owner, follow_up):
    client = client_for(owner)
    response = client.get(archive_url(follow_up))
    assert response.status_code == 200
    assert "Archive “Reiki follow-up”?" in response.content.decode()
    follow_up.refresh_from_db()
    assert follow_up.is_active

    response = client.post(archive_url(follow_up))
    assert response.status_code == 302
    follow_up.refresh_from_db()
    assert not follow_up.is_active
    assert NoteTemplate.objects.filter(pk=follow_up.pk).exists()  # never deleted
    event = AuditEvent.objects.get(action="note_template.archive")
    assert (event.actor, event.target_id) == (owner, str(follow_up.pk))
    # Archiving again changes nothing and writes no second row.
    client.post(archive_url(follow_up))
    assert AuditEvent.objects.filter(action="note_template.archive").count() == 1


def test_owner_restores_an_archived_template(client_for, owner, follow_up):
    follow_up.is_active = False
    follow_up.save()
    client = client_for(owner)
    assert 'name="restore"' in client.get(archive_url(follow_up)).content.decode()
    response = client.post(archive_url(follow_up), {"restore": "1"})
    assert response.status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.is_active
    assert AuditEvent.objects.filter(action="note_template.restore", actor=owner).count() == 1


# --- the services on their own ------------------------------------------------------------


def test_services_refuse_anyone_but_an_active_owner(clinic, owner, therapist, follow_up):
    fields = {
        "name": "Mine",
        "description": "",
        "sections": FOLLOW_UP,
        "therapy_type": None,
        "field_keys": [],
    }
    with pytest.raises(PermissionDenied):
        note_template_create(practice=clinic, actor=therapist, **fields)
    with pytest.raises(PermissionDenied):
        note_template_update(practice=clinic, actor=therapist, template=follow_up, **fields)
    with pytest.raises(PermissionDenied):
        note_template_archive(practice=clinic, actor=therapist, template=follow_up, archived=True)
    owner.memberships.update(is_active=False)
    with pytest.raises(PermissionDenied):
        note_template_create(practice=clinic, actor=owner, **fields)


def test_services_validate_whatever_the_form_checked(clinic, owner, reiki):
    def create(**changes: Any) -> NoteTemplate:
        fields: dict[str, Any] = {
            "name": "Mine",
            "description": "",
            "sections": FOLLOW_UP,
            "therapy_type": None,
            "field_keys": [],
        }
        return note_template_create(practice=clinic, actor=owner, **{**fields, **changes})

    for changes in (
        {"sections": []},
        {"sections": [{"title": f"P{n}", "instruction": "x"} for n in range(13)]},
        {"sections": [{"title": "Plan", "instruction": ""}]},
        {"field_keys": ["energy"]},
        {"therapy_type": reiki, "field_keys": ["nope"]},
        {"name": "  "},
    ):
        with pytest.raises(ValidationError):
            create(**changes)
    assert not NoteTemplate.objects.exists()
    # Duplicate or unusable keys are replaced, never trusted.
    template = create(
        sections=[
            {"key": "plan", "title": "Plan", "instruction": "a"},
            {"key": "plan", "title": "Plan B", "instruction": "b"},
            {"key": "Bad Key!", "title": "Notes", "instruction": "c"},
        ]
    )
    assert [s["key"] for s in template.sections] == ["plan", "plan_b", "notes"]
