"""Reads of session records that other apps' pages show (the patient's Sessions tab)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from patients.models import Patient
from practice.models import Membership
from sessions.models import Session, SessionNote
from therapies.formbuilder import NO, YES
from therapies.models import TherapyType
from therapies.schema import Kind

# Fields a session list can be filtered on: those with a closed set of answers.
FILTERABLE = (Kind.SINGLE_CHOICE, Kind.MULTIPLE_CHOICE, Kind.YES_NO)


@dataclass(frozen=True)
class ValueOption:
    """One "therapy · field = answer" choice of the filter menu."""

    value: str  # "<therapy id>:<field key>:<answer>"
    label: str


@dataclass(frozen=True)
class ValueGroup:
    label: str  # "Reiki · Chakras worked on"
    options: list[ValueOption]


def value_options(therapies: list[TherapyType]) -> list[ValueGroup]:
    groups = []
    for therapy in therapies:
        for field in therapy.custom_fields:
            if field["kind"] not in FILTERABLE:
                continue
            prefix = f"{therapy.pk}:{field['key']}:"
            if field["kind"] == Kind.YES_NO:
                answers = [(YES, _("Yes")), (NO, _("No"))]
            else:
                answers = [(choice, choice) for choice in field["choices"]]
            groups.append(
                ValueGroup(
                    label=f"{therapy.name} · {field['label']}",
                    options=[ValueOption(prefix + a, label) for a, label in answers],
                )
            )
    return groups


def _containing(therapy: TherapyType, key: str, answer: str) -> dict[str, Any] | None:
    """The JSONB containment (`custom_values @> …`, served by the GIN index) that finds
    notes where field `key` was answered `answer`; None for an unknown field or answer."""
    field = therapy.field(key)
    if field is None or field["kind"] not in FILTERABLE:
        return None
    if field["kind"] == Kind.YES_NO:
        return {key: answer == YES} if answer in (YES, NO) else None
    if answer not in field["choices"]:
        return None
    return {key: [answer] if field["kind"] == Kind.MULTIPLE_CHOICE else answer}


def _has_answer(values: dict[str, Any], containing: dict[str, Any]) -> bool:
    """Whether a note's custom values hold the answer `_containing` describes: the same
    yes/no or choice, or for a multiple choice that option among those chosen."""
    ((key, wanted),) = containing.items()
    have = values.get(key)
    if isinstance(wanted, list):
        return isinstance(have, list) and all(option in have for option in wanted)
    return type(have) is type(wanted) and have == wanted


@dataclass(frozen=True)
class PatientSessions:
    sessions: QuerySet[Session]
    groups: list[ValueGroup]  # empty for members who may not read notes
    value: str  # the filter applied ("" for none)
    field_key: str


def patient_sessions(
    membership: Membership, patient: Patient, *, oldest_first: bool = False, value: str = ""
) -> PatientSessions:
    """The patient's sessions a member may see, with what the list shows (therapy,
    therapist, payment). Members who may read notes can narrow them to one custom-field
    answer ("Reiki sessions where the heart chakra was worked on"); for anyone else the
    filter does not exist, so nothing about the notes can be inferred from it."""
    sessions = (
        Session.objects.visible_to(membership)
        .filter(patient=patient)
        .select_related("therapist", "therapy_type", "payment")
    )
    sessions = sessions.oldest_first() if oldest_first else sessions.newest_first()
    if not membership.treats_patients:
        return PatientSessions(sessions, [], "", "")

    used = TherapyType.objects.for_practice(membership.practice).filter(
        pk__in=sessions.order_by().values("therapy_type_id")
    )
    therapies = list(used.order_by("name"))
    applied, key = "", ""
    parts = value.split(":", 2)
    if len(parts) == 3 and parts[0].isdigit():
        therapy = next((t for t in therapies if t.pk == int(parts[0])), None)
        containing = _containing(therapy, parts[1], parts[2]) if therapy else None
        if therapy is not None and containing is not None:
            # The values are encrypted, so the one patient's notes are compared here.
            notes = (
                SessionNote.objects.visible_to(membership)
                .filter(session__patient=patient, session__therapy_type=therapy)
                .only("session_id", "custom_values")
            )
            chosen = [n.session_id for n in notes if _has_answer(n.custom_values, containing)]
            sessions = sessions.filter(therapy_type=therapy, pk__in=chosen)
            applied, key = value, parts[1]
    return PatientSessions(sessions, value_options(therapies), applied, key)
