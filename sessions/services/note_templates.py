"""Writes to a practice's own note templates (the built-ins in sessions/note_templates.py
are code, never rows). Only active Owners write them.

Every write validates the whole template again, whatever the form already checked, so a
template saved from a page, a test or a shell obeys the same rules: a unique name, 1 to
MAX_SECTIONS sections with a title and an instruction each, and custom-field keys that
belong to the template's therapy. Templates are archived, never deleted: a drafted note
keeps its own copy of the sections, so neither editing nor archiving changes a note.
Audit rows carry ids, section keys and field names only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from practice.models import Membership, Practice, Role, User
from practice.services import audit_record
from sessions.models import NoteTemplate
from sessions.note_templates import (
    BUILTINS,
    MAX_INSTRUCTION,
    MAX_SECTIONS,
    MAX_TITLE,
    SECTION_KEY_RE,
    Section,
)
from therapies.models import TherapyType
from therapies.schema import MAX_KEY, key_from_label

MAX_NAME = NoteTemplate._meta.get_field("name").max_length or 100
MAX_DESCRIPTION = NoteTemplate._meta.get_field("description").max_length or 300


def _require_owner(practice: Practice, actor: User) -> None:
    is_owner = (
        Membership.objects.for_practice(practice)
        .active()
        .filter(user=actor, role=Role.OWNER)
        .exists()
    )
    if not is_owner:
        raise PermissionDenied


def builtin_names() -> set[str]:
    """The built-ins' names, folded, as shown in the current language and in English: a
    template of the practice may not take one, or the template menu would list it twice."""
    names = {str(t.name).casefold() for t in BUILTINS.values()}
    with translation.override("en"):
        names |= {str(t.name).casefold() for t in BUILTINS.values()}
    return names


def name_problem(practice: Practice, name: str, *, exclude_pk: int | None = None) -> str | None:
    """Why `name` cannot be used by a template of `practice`, or None when it can."""
    if not name:
        return _("Give the template a name.")
    if len(name) > MAX_NAME:
        return _("A name has at most %(max)d characters.") % {"max": MAX_NAME}
    if name.casefold() in builtin_names():
        return _("A built-in template already has this name; choose another.")
    # Archived templates count too: restoring one must not create a second of the name.
    clash = NoteTemplate.objects.for_practice(practice).filter(name__iexact=name)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        return _("This practice already has a note template with this name.")
    return None


def _valid_key(key: object) -> bool:
    return isinstance(key, str) and len(key) <= MAX_KEY and bool(SECTION_KEY_RE.match(key))


def clean_sections(sections: Iterable[Mapping[str, object]]) -> list[Section]:
    """The sections as stored: [{"key", "title", "instruction"}], in the given order.

    A section keeps its key when it has a valid one that no earlier section uses, so
    renaming a section never changes its key; any other section gets a new key derived
    from its title. Raises ValidationError listing every problem."""
    rows = list(sections)
    problems: list[str] = []
    if not rows:
        problems.append(_("Add at least one section."))
    elif len(rows) > MAX_SECTIONS:
        problems.append(
            _("A template has at most %(max)d sections; this one has %(count)d.")
            % {"max": MAX_SECTIONS, "count": len(rows)}
        )
    titles: set[str] = set()
    cleaned: list[dict[str, str]] = []
    for number, row in enumerate(rows, start=1):
        title = str(row.get("title") or "").strip()
        instruction = str(row.get("instruction") or "").strip()
        if not title:
            problems.append(_("Section %(n)d has no title.") % {"n": number})
        elif len(title) > MAX_TITLE:
            problems.append(
                _("The title of section %(n)d is longer than %(max)d characters.")
                % {"n": number, "max": MAX_TITLE}
            )
        elif title.casefold() in titles:
            problems.append(
                _("Two sections are called “%(title)s”; give each its own title.")
                % {"title": title}
            )
        titles.add(title.casefold())
        if not instruction:
            problems.append(_("Section %(n)d has no instruction for the AI.") % {"n": number})
        elif len(instruction) > MAX_INSTRUCTION:
            problems.append(
                _("The instruction of section %(n)d is longer than %(max)d characters.")
                % {"n": number, "max": MAX_INSTRUCTION}
            )
        cleaned.append(
            {"key": str(row.get("key") or ""), "title": title, "instruction": instruction}
        )
    if problems:
        raise ValidationError(problems)

    kept: set[str] = set()
    for section in cleaned:
        if _valid_key(section["key"]) and section["key"] not in kept:
            kept.add(section["key"])
        else:
            section["key"] = ""
    taken = set(kept)
    for section in cleaned:
        if not section["key"]:
            section["key"] = key_from_label(section["title"], taken)
            taken.add(section["key"])
    return [
        {"key": s["key"], "title": s["title"], "instruction": s["instruction"]} for s in cleaned
    ]


def clean_field_keys(
    practice: Practice, therapy_type: TherapyType | None, field_keys: Iterable[str]
) -> list[str]:
    """The custom-field keys the AI proposes values for, in the therapy's field order.
    They must all be fields of the template's therapy; none without a therapy."""
    keys = list(dict.fromkeys(field_keys))
    if therapy_type is None:
        if keys:
            raise ValidationError(
                _("Choose a therapy before choosing custom fields for the AI to fill in.")
            )
        return []
    if therapy_type.practice_id != practice.pk:
        raise ValidationError(_("Choose one of this practice's therapies."))
    known = [f["key"] for f in therapy_type.custom_fields]
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise ValidationError(
            _("%(therapy)s has no custom field “%(key)s”.")
            % {"therapy": therapy_type.name, "key": unknown[0]}
        )
    return [key for key in known if key in keys]


def _clean(
    *,
    practice: Practice,
    template: NoteTemplate,
    name: str,
    description: str,
    sections: Iterable[Mapping[str, object]],
    therapy_type: TherapyType | None,
    field_keys: Iterable[str],
) -> None:
    """Validate everything and write it onto `template` (not saved)."""
    problems: list[str] = []
    name = name.strip()
    problem = name_problem(practice, name, exclude_pk=template.pk)
    if problem:
        problems.append(problem)
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        problems.append(
            _("A description has at most %(max)d characters.") % {"max": MAX_DESCRIPTION}
        )
    try:
        template.sections = clean_sections(sections)
    except ValidationError as error:
        problems.extend(error.messages)
    try:
        template.field_keys = clean_field_keys(practice, therapy_type, field_keys)
    except ValidationError as error:
        problems.extend(error.messages)
    if problems:
        raise ValidationError(problems)
    template.name = name
    template.description = description
    template.therapy_type = therapy_type


def _save(template: NoteTemplate, update_fields: list[str] | None = None) -> None:
    """Save, turning a name taken meanwhile (the unique constraint) into a clear error."""
    try:
        with transaction.atomic():
            template.save(update_fields=update_fields)
    except IntegrityError as error:
        raise ValidationError(
            _("This practice already has a note template with this name.")
        ) from error


def _audit_data(template: NoteTemplate) -> dict[str, object]:
    return {
        "sections": [s["key"] for s in template.sections],
        "therapy_type": template.therapy_type_id,
        "field_keys": list(template.field_keys),
    }


@transaction.atomic
def note_template_create(
    *,
    practice: Practice,
    actor: User,
    name: str,
    description: str,
    sections: Iterable[Mapping[str, object]],
    therapy_type: TherapyType | None,
    field_keys: Iterable[str],
    ip: str | None = None,
) -> NoteTemplate:
    """Create an active template of the practice. Raises PermissionDenied unless `actor`
    is an active Owner, ValidationError (nothing saved) for invalid content."""
    _require_owner(practice, actor)
    template = NoteTemplate(practice=practice, created_by=actor)
    _clean(
        practice=practice,
        template=template,
        name=name,
        description=description,
        sections=sections,
        therapy_type=therapy_type,
        field_keys=field_keys,
    )
    _save(template)
    audit_record(
        practice=practice,
        actor=actor,
        action="note_template.create",
        target=template,
        data=_audit_data(template),
        ip=ip,
    )
    return template


@transaction.atomic
def note_template_update(
    *,
    practice: Practice,
    actor: User,
    template: NoteTemplate,
    name: str,
    description: str,
    sections: Iterable[Mapping[str, object]],
    therapy_type: TherapyType | None,
    field_keys: Iterable[str],
    ip: str | None = None,
) -> NoteTemplate:
    """Replace a template's name, description, sections and custom fields. Notes already
    drafted from it keep the sections they were drafted from."""
    _require_owner(practice, actor)
    locked = NoteTemplate.objects.for_practice(practice).select_for_update().get(pk=template.pk)
    _clean(
        practice=practice,
        template=locked,
        name=name,
        description=description,
        sections=sections,
        therapy_type=therapy_type,
        field_keys=field_keys,
    )
    _save(
        locked,
        update_fields=[
            "name",
            "description",
            "sections",
            "therapy_type",
            "field_keys",
            "updated_at",
        ],
    )
    audit_record(
        practice=practice,
        actor=actor,
        action="note_template.update",
        target=locked,
        data=_audit_data(locked),
        ip=ip,
    )
    return locked


@transaction.atomic
def note_template_archive(
    *,
    practice: Practice,
    actor: User,
    template: NoteTemplate,
    archived: bool,
    ip: str | None = None,
) -> NoteTemplate:
    """Archive a template (no longer offered for new notes) or restore it. Doing what is
    already done changes nothing and writes no audit row."""
    _require_owner(practice, actor)
    locked = NoteTemplate.objects.for_practice(practice).select_for_update().get(pk=template.pk)
    if locked.is_active != archived:
        return locked
    locked.is_active = not archived
    locked.save(update_fields=["is_active", "updated_at"])
    audit_record(
        practice=practice,
        actor=actor,
        action="note_template.archive" if archived else "note_template.restore",
        target=locked,
        ip=ip,
    )
    return locked
