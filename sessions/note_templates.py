"""The note templates every practice has: SOAP, DAP, BIRP, Progress Note, H&P (intake) and
a Holistic Session note. Each is a list of sections, each with a title and the
instruction the AI drafts it by. Owners add their own (`NoteTemplate` rows) in the same
shape; a drafted note keeps a copy of the sections it was drafted from, so editing or
archiving a template never changes a note."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

Section = dict[str, str]  # {"key": ..., "title": ..., "instruction": ...}
SECTION_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_SECTIONS = 12
MAX_TITLE = 80
MAX_INSTRUCTION = 600


@dataclass(frozen=True)
class BuiltinTemplate:
    key: str
    name: Promise
    description: Promise
    sections: tuple[tuple[str, Promise, Promise], ...]
    # Built-ins propose values for every custom field of the session's therapy.
    field_keys: tuple[str, ...] = field(default=())

    def section_dicts(self) -> list[Section]:
        return [
            {"key": key, "title": str(title), "instruction": str(instruction)}
            for key, title, instruction in self.sections
        ]


BUILTINS: dict[str, BuiltinTemplate] = {
    t.key: t
    for t in (
        BuiltinTemplate(
            "soap",
            _("SOAP note"),
            _("Subjective, Objective, Assessment, Plan."),
            (
                (
                    "subjective",
                    _("Subjective"),
                    _("What the patient reports: complaints, feelings, history in their words."),
                ),
                (
                    "objective",
                    _("Objective"),
                    _("What the therapist observed: appearance, behaviour, affect, measures."),
                ),
                (
                    "assessment",
                    _("Assessment"),
                    _("The therapist's clinical impression and progress towards goals."),
                ),
                ("plan", _("Plan"), _("Next steps, homework, referrals and the next session.")),
            ),
        ),
        BuiltinTemplate(
            "dap",
            _("DAP note"),
            _("Data, Assessment, Plan."),
            (
                (
                    "data",
                    _("Data"),
                    _("What was said and observed in the session, without interpretation."),
                ),
                ("assessment", _("Assessment"), _("The meaning of the data; progress and risks.")),
                ("plan", _("Plan"), _("Interventions to come, homework and the next session.")),
            ),
        ),
        BuiltinTemplate(
            "birp",
            _("BIRP note"),
            _("Behaviour, Intervention, Response, Plan."),
            (
                ("behaviour", _("Behaviour"), _("The patient's behaviour, mood and reports.")),
                ("intervention", _("Intervention"), _("What the therapist did in the session.")),
                ("response", _("Response"), _("How the patient responded to the interventions.")),
                ("plan", _("Plan"), _("What comes next.")),
            ),
        ),
        BuiltinTemplate(
            "progress",
            _("Progress note"),
            _("A short narrative of the session and progress towards goals."),
            (
                ("summary", _("Session summary"), _("The main topics of the session.")),
                ("progress", _("Progress"), _("Progress towards the treatment goals.")),
                ("next_steps", _("Next steps"), _("Plans and homework until the next session.")),
            ),
        ),
        BuiltinTemplate(
            "intake",
            _("H&P (intake)"),
            _("History and presentation for a first session."),
            (
                (
                    "presenting_problem",
                    _("Presenting problem"),
                    _("Why the patient came, in their words, and since when."),
                ),
                (
                    "history",
                    _("History"),
                    _("Relevant personal, family, medical and treatment history."),
                ),
                (
                    "mental_status",
                    _("Mental status"),
                    _("Appearance, mood, affect, thought, risk."),
                ),
                ("goals", _("Goals"), _("What the patient wants to achieve.")),
                ("plan", _("Plan"), _("Proposed treatment and frequency.")),
            ),
        ),
        BuiltinTemplate(
            "medical",
            _("Medical visit note"),
            _(
                "Integrative or medical consultations: complaint, history, systems, examination, "
                "results, assessment and plan."
            ),
            (
                (
                    "chief_complaint",
                    _("Chief complaint"),
                    _("The reason for the visit, in a few words."),
                ),
                (
                    "history",
                    _("History of present illness"),
                    _(
                        "The patient's age and background, then each complaint as the patient "
                        "told it: onset, duration, severity, what helps or worsens it, "
                        "medication taken."
                    ),
                ),
                (
                    "review_of_systems",
                    _("Review of systems"),
                    _("For each body system asked about: what the patient has and what they deny."),
                ),
                (
                    "examination",
                    _("Physical examination"),
                    _("For each body system examined: the findings the clinician stated."),
                ),
                (
                    "results",
                    _("Results"),
                    _("Tests, imaging and lab results discussed, with their values."),
                ),
                (
                    "assessment_plan",
                    _("Assessment and plan"),
                    _(
                        "Each problem with the clinician's assessment, then its plan: tests, "
                        "medication and doses, referrals, advice and follow-up."
                    ),
                ),
            ),
        ),
        BuiltinTemplate(
            "holistic",
            _("Holistic session note"),
            _("Energy work: how the patient arrived, what was worked on, how they left."),
            (
                ("arrival", _("On arrival"), _("How the patient arrived: body, emotions, energy.")),
                ("work", _("Work done"), _("Techniques used and the areas or chakras worked on.")),
                ("perceptions", _("Perceptions"), _("What patient and therapist perceived.")),
                (
                    "guidance",
                    _("Guidance"),
                    _("Recommendations until the next session."),
                ),
            ),
        ),
    )
}


def builtin_choices() -> list[tuple[str, Any]]:
    return [(f"builtin:{key}", t.name) for key, t in BUILTINS.items()]
