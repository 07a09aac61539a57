"""Tera's insights about one patient, written by the LLM from the patient's indexed notes:
the treatment summary over time and the briefing before an appointment.

The barrier is inside every retrieval: the notes are read through
`Chunk.objects.visible_to(membership)` of the member the insight is for (the one who
asked for a summary; the appointment's therapist for a briefing), and the insight itself
is read back only through `Insight.objects.visible_to` at every page view.

The model is asked as for a clinical note (tera.drafting): lists of short sentences under a
grammar, in the language of the reader, a repeating answer cut and what it wrote whole
kept. It does not cite: `tera.grounding` finds the sessions whose notes say each claim
(`cite`), and a claim no session says is flagged. A failure is stored as a code
(`tera.llm.FAILURES`) and said in the reader's language. A briefing that fails is tried
again later and later (`retry_after`, doubling from `BRIEFING_RETRY` up to
`BRIEFING_RETRY_MAX`), not at every round of the beat job.

Tasks take ids and log ids only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from tera import drafting, grounding, llm
from tera.llm import InvalidAnswer, LLMError
from tera.models import Chunk, Insight, InsightKind, InsightStatus, SourceKind

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from patients.models import Patient
    from practice.models import Membership, Practice
    from sessions.models import Appointment

log = logging.getLogger(__name__)

MAX_CLAIMS = 10
MAX_ITEMS = 6
MIN_SESSION_BUDGET = 600  # characters of one session's notes, at least
# Written notes, in this order; a session's transcript only stands in when it has none.
WRITTEN = (SourceKind.SESSION_NOTE, SourceKind.CLINICAL_NOTE)
BRIEFING_RETRY = timedelta(minutes=15)
BRIEFING_RETRY_MAX = timedelta(hours=6)

REQUESTS = {
    "en": {
        "summary": "Summarise this patient's treatment over time: the reasons for coming, how "
        "things changed from session to session, what helped, and where things stand now. "
        "One short sentence per claim.",
        "sessions": "Session notes, oldest first:\n{sessions}",
        "briefing": "The therapist sees this patient again soon. Give the key points of the "
        "last session, and the open items to follow up (homework, things left unsaid, plans "
        "made). One short sentence per item.",
        "last": "Notes of the last session:\n{sessions}",
    },
    "pt": {
        "summary": "Resuma o tratamento deste paciente ao longo do tempo: os motivos da "
        "procura, como as coisas mudaram de sessão para sessão, o que ajudou e como estão "
        "agora. Uma frase curta por afirmação.",
        "sessions": "Notas das sessões, da mais antiga à mais recente:\n{sessions}",
        "briefing": "O terapeuta verá este paciente de novo em breve. Dê os pontos-chave da "
        "última sessão e os itens em aberto a acompanhar (tarefas de casa, o que ficou por "
        "dizer, planos feitos). Uma frase curta por item.",
        "last": "Notas da última sessão:\n{sessions}",
    },
}


@dataclass(frozen=True)
class SessionText:
    """One session's notes as the prompt shows them, numbered from 1 (oldest)."""

    number: int
    session_id: int
    day: date
    text: str


def plan_allows(practice: Practice) -> bool:
    from practice.models import Plan

    return practice.plan == Plan.PRO


def session_texts(
    chunks: QuerySet[Chunk], zone: ZoneInfo, budget: int
) -> tuple[list[SessionText], bool]:
    """The sessions' notes (newest first until `budget` characters are used, each session
    getting a fair share), then numbered oldest first. True when something was left out."""
    by_session: dict[int, dict[str, Any]] = {}
    rows = chunks.filter(session__isnull=False).values_list(
        "session_id", "session__starts_at", "kind", "text"
    )
    for session_id, starts_at, kind, text in rows.order_by(
        "-session__starts_at", "kind", "source_id", "position"
    ):
        entry = by_session.setdefault(session_id, {"at": starts_at, "kinds": {}})
        entry["kinds"].setdefault(kind, []).append(text)
    if not by_session:
        return [], False
    share = max(MIN_SESSION_BUDGET, budget // len(by_session))
    chosen: list[tuple[int, Any, str]] = []
    used, cut = 0, False
    for session_id, entry in by_session.items():  # newest first
        kinds = entry["kinds"]
        written = [k for k in WRITTEN if k in kinds] or [SourceKind.TRANSCRIPT]
        text = "\n".join("\n".join(kinds[k]) for k in written)
        allowed = min(share, budget - used)
        if allowed < MIN_SESSION_BUDGET // 2:
            cut = True
            break
        if len(text) > allowed:
            text, cut = text[:allowed].rsplit(" ", 1)[0] + " …", True
        chosen.append((session_id, entry["at"], text))
        used += len(text)
    chosen.reverse()
    return [
        SessionText(n, session_id, timezone.localtime(at, zone).date(), text)
        for n, (session_id, at, text) in enumerate(chosen, start=1)
    ], cut


def render_sessions(sessions: Sequence[SessionText]) -> str:
    return "\n\n".join(f"[S{s.number}] {s.day.isoformat()}\n{s.text}" for s in sessions)


def summary_schema() -> dict[str, Any]:
    schema = drafting.sentences_schema("claims")
    schema["properties"]["claims"]["minItems"] = 1
    return schema


def briefing_schema() -> dict[str, Any]:
    items = drafting.sentences_schema("key_points")["properties"]["key_points"]
    return {
        "type": "object",
        "properties": {"key_points": items, "open_items": items},
        "required": ["key_points", "open_items"],
    }


def _messages(request: str, notes: str, language: str) -> llm.Messages:
    words = REQUESTS[grounding.base_language(language)]
    return [
        {"role": "system", "content": drafting.wording(language).system},
        {"role": "user", "content": f"{notes}\n\n{words[request]}"},
    ]


def summary_messages(sessions: str, language: str) -> llm.Messages:
    words = REQUESTS[grounding.base_language(language)]
    return _messages("summary", words["sessions"].format(sessions=sessions), language)


def briefing_messages(session: str, language: str) -> llm.Messages:
    words = REQUESTS[grounding.base_language(language)]
    return _messages("briefing", words["last"].format(sessions=session), language)


def _notes_language(sessions: Sequence[SessionText], language: str) -> str:
    """The language the notes are written in (not always the reader's), `language` when
    that cannot be told."""
    return grounding.detect_language(" ".join(s.text for s in sessions)) or language


def _read_in(text: str, language: str) -> grounding.Terms:
    """A claim's terms in the language it is written in, `language` when a short claim
    cannot tell."""
    return grounding.terms(text, grounding.detect_language(text) or language)


def _session_lines(sessions: Sequence[SessionText], language: str) -> list[tuple[int, Any]]:
    """Each session's notes cut into sentences, as (session number, terms)."""
    return [
        (s.number, grounding.terms(sentence, language))
        for s in sessions
        for sentence in grounding.sentences(s.text)
    ]


def _grounded(
    raw: Sequence[Any], lines: Sequence[grounding.Terms], language: str
) -> Iterator[tuple[str, grounding.Support]]:
    """Each item of an answer once (tidied; empty ones and repeats of an earlier one
    dropped), with what the lines say of it."""
    written: list[grounding.Terms] = []
    for item in raw:
        text = " ".join(str(item).split())
        if not text:
            continue
        said = _read_in(text, language)
        if any(drafting.same(said, before) for before in written):
            continue
        written.append(said)
        yield text, grounding.support(said, lines)


def cite(
    raw: Sequence[str], sessions: Sequence[SessionText], language: str
) -> list[dict[str, Any]]:
    """The claims with the sessions whose notes say them (`sessions`: id and day, oldest
    first) and whether any does (`supported`). Empty claims are dropped; InvalidAnswer
    when none is left."""
    by_number = {s.number: {"id": s.session_id, "day": s.day.isoformat()} for s in sessions}
    language = _notes_language(sessions, language)
    lines = _session_lines(sessions, language)
    claims = []
    for text, found in _grounded(raw, [terms for _number, terms in lines], language):
        numbers = sorted({lines[i][0] for i in found.sources}) if found.supported else []
        claims.append(
            {
                "text": text,
                "sessions": [by_number[n] for n in numbers],
                "supported": found.supported,
            }
        )
    if not claims:
        raise InvalidAnswer("no claim has any text")
    return claims


def clean_items(
    raw: Sequence[Any], sessions: Sequence[SessionText], language: str
) -> list[dict[str, Any]]:
    """A briefing's items, each once, with whether the last session's notes say it."""
    language = _notes_language(sessions, language)
    lines = [terms for _number, terms in _session_lines(sessions, language)]
    return [
        {"text": text, "supported": found.supported}
        for text, found in _grounded(raw, lines, language)
    ]


def fingerprint(messages: llm.Messages) -> str:
    return hashlib.sha256(repr(messages).encode()).hexdigest()


# --- Preparing ----------------------------------------------------------------------------


def _progress(pk: int) -> Any:
    def report(_text: str, tokens: int) -> None:
        Insight.objects.filter(pk=pk).update(stream_tokens=tokens, heartbeat_at=timezone.now())

    return report


def retry_delay(attempts: int) -> timedelta:
    """How long a briefing that failed `attempts` times in a row waits before the beat job
    tries it again: BRIEFING_RETRY, doubling, at most BRIEFING_RETRY_MAX."""
    return min(BRIEFING_RETRY * 2 ** max(attempts - 1, 0), BRIEFING_RETRY_MAX)


def _finish(insight: Insight, *, content: dict[str, Any] | None, failure: str = "") -> None:
    """Store the answer (or the failure's code, keeping the last good content) once."""
    now = timezone.now()
    fields: dict[str, Any] = {"heartbeat_at": None, "updated_at": now}
    if content is None:
        attempts = insight.attempts + 1
        fields |= {
            "status": InsightStatus.FAILED,
            "failure": failure,
            "attempts": attempts,
            "retry_after": now + retry_delay(attempts),
        }
    else:
        fields |= {
            "status": InsightStatus.READY,
            "failure": "",
            "content": content,
            "inputs": insight.inputs,
            "prepared_at": now,
            "attempts": 0,
            "retry_after": None,
        }
    Insight.objects.filter(pk=insight.pk, status=InsightStatus.PREPARING).update(**fields)


def _ask(
    messages: llm.Messages, schema: dict[str, Any], check: Any, pk: int
) -> tuple[Any, llm.Stats]:
    keys = list(schema["properties"])
    return llm.ask_json(
        messages,
        schema,
        check,
        on_text=_progress(pk),
        # A summary's claims or a briefing's items, MAX_CLAIMS sentences' worth: an answer
        # cut there keeps what it wrote whole (repair), and a slow machine is not kept
        # writing to LLM_MAX_TOKENS.
        max_tokens=drafting.TOKENS_PER_SENTENCE * MAX_CLAIMS,
        stop=drafting.repeating(*keys),
        repair=drafting.salvage(*keys),
    )


def prepare_summary(insight_id: int, membership_id: int, language: str) -> bool:
    """Write a patient's treatment summary from the notes the requesting member may read.
    Returns whether it succeeded."""
    from practice.models import Membership

    insight = Insight.objects.filter(
        pk=insight_id, kind=InsightKind.SUMMARY, status=InsightStatus.PREPARING
    ).first()
    membership = Membership.objects.select_related("practice").filter(pk=membership_id).first()
    if insight is None or membership is None:
        return False
    chunks = Chunk.objects.visible_to(membership).filter(patient_id=insight.patient_id)
    zone = ZoneInfo(membership.practice.time_zone)
    sessions, cut = session_texts(chunks, zone, settings.LLM_PROMPT_CHARS)
    if not sessions:
        _finish(insight, content={"claims": [], "sessions": 0, "truncated": False})
        return True
    messages = summary_messages(render_sessions(sessions), language)
    insight.inputs = fingerprint(messages)
    try:
        claims, stats = _ask(
            messages,
            summary_schema(),
            lambda answer: cite(answer["claims"][:MAX_CLAIMS], sessions, language),
            insight.pk,
        )
    except LLMError as error:
        log.warning("summary %s: failed (%s)", insight.pk, error.code)
        _finish(insight, content=None, failure=error.code)
        return False
    content = {
        "claims": claims,
        "sessions": len(sessions),
        "first": sessions[0].day.isoformat(),
        "truncated": cut,
        "language": language,
    }
    _finish(insight, content=content)
    log.info("summary %s: %d claims in %.1f s", insight.pk, len(claims), stats.seconds)
    return True


def _last_session_chunks(appointment: Appointment, membership: Membership) -> QuerySet[Chunk]:
    """The chunks of the patient's latest session before the appointment that the
    appointment's therapist may read."""
    from sessions.models import Session

    last = (
        Session.objects.filter(
            practice_id=appointment.practice_id,
            patient_id=appointment.patient_id,
            starts_at__lt=appointment.starts_at,
        )
        .order_by("-starts_at")
        .values("pk")[:1]
    )
    return Chunk.objects.visible_to(membership).filter(
        patient_id=appointment.patient_id, session__in=last
    )


def prepare_briefing(appointment_id: int) -> bool:
    """Write (or bring up to date) the briefing before an appointment for its therapist:
    the key points and open items of the patient's last session, with the trends and
    recurring themes. A briefing whose notes have not changed is left as it is, and so is
    one another worker is preparing from the same notes. Returns whether it was written
    (or tried: a failure is stored with when to try again)."""
    from practice.models import Membership
    from sessions.models import Appointment
    from tera import patterns

    appointment = (
        Appointment.objects.select_related("practice", "patient").filter(pk=appointment_id).first()
    )
    if appointment is None or not plan_allows(appointment.practice):
        return False
    membership = (
        Membership.objects.select_related("practice")
        .filter(practice_id=appointment.practice_id, user_id=appointment.therapist_id)
        .first()
    )
    if membership is None:
        return False
    zone = ZoneInfo(appointment.practice.time_zone)
    sessions, cut = session_texts(
        _last_session_chunks(appointment, membership), zone, settings.LLM_PROMPT_CHARS
    )
    language = appointment.practice.language
    messages = briefing_messages(render_sessions(sessions), language) if sessions else []
    inputs = fingerprint(messages)
    with transaction.atomic():
        insight, _created = Insight.objects.select_for_update().get_or_create(
            kind=InsightKind.BRIEFING,
            appointment=appointment,
            defaults={"practice_id": appointment.practice_id, "patient_id": appointment.patient_id},
        )
        if insight.inputs == inputs and (
            insight.status == InsightStatus.READY
            or (insight.is_preparing and not is_stalled(insight))  # a duplicate delivery
        ):
            return False
        insight.status, insight.inputs = InsightStatus.PREPARING, inputs
        insight.heartbeat_at, insight.stream_tokens = timezone.now(), 0
        insight.save(update_fields=["status", "inputs", "heartbeat_at", "stream_tokens"])
    content: dict[str, Any] = {"key_points": [], "open_items": [], "truncated": cut}
    if sessions:
        try:
            answer, _stats = _ask(
                messages,
                briefing_schema(),
                lambda answer: {
                    k: clean_items(answer[k][:MAX_ITEMS], sessions, language)
                    for k in ("key_points", "open_items")
                },
                insight.pk,
            )
        except LLMError as error:
            log.warning("briefing %s: failed (%s)", insight.pk, error.code)
            _finish(insight, content=None, failure=error.code)
            return True
        content |= answer | {"last_session": sessions[0].session_id}
        content["last_day"] = sessions[0].day.isoformat()
    content["themes"] = [
        {"label": t.label, "sessions": len(t.sessions)}
        for t in patterns.recurring_themes(membership, appointment.patient)[:3]
    ]
    with translation.override(language):
        charts = patterns.patient_charts(membership, appointment.patient)
        content["trends"] = patterns.trends(charts)
    _finish(insight, content=content)
    return True


def briefings_due(now: Any = None) -> list[int]:
    """The open appointments of Pro practices in the next BRIEFING_HOURS_AHEAD hours whose
    briefing should be (re)considered: all but those whose last attempt failed and whose
    `retry_after` has not come (a prepared one whose notes are unchanged costs a few
    queries and no model call). Appointment ids, soonest first."""
    from practice.models import Plan
    from sessions.models import Appointment

    now = now or timezone.now()
    waiting = Insight.objects.filter(
        kind=InsightKind.BRIEFING, status=InsightStatus.FAILED, retry_after__gt=now
    ).values("appointment_id")
    return list(
        Appointment.objects.filter(
            practice__plan=Plan.PRO,
            starts_at__gt=now,
            starts_at__lte=now + settings.BRIEFING_AHEAD,
        )
        .taking_time()
        .exclude(pk__in=waiting)
        .order_by("starts_at")
        .values_list("pk", flat=True)
    )


def is_stalled(insight: Insight) -> bool:
    seen = insight.heartbeat_at or insight.updated_at
    return insight.is_preparing and seen < timezone.now() - settings.LLM_STALE_AFTER


def summary_of(membership: Membership, patient: Patient) -> Insight | None:
    return (
        Insight.objects.visible_to(membership)
        .filter(kind=InsightKind.SUMMARY, patient=patient)
        .first()
    )


def briefing_of(membership: Membership, appointment: Appointment) -> Insight | None:
    """The briefing of an appointment if the member may read its patient's notes (the
    plan and the appointment are `may_brief`'s business)."""
    return (
        Insight.objects.visible_to(membership)
        .filter(kind=InsightKind.BRIEFING, appointment=appointment)
        .first()
    )


def may_brief(membership: Membership, appointment: Appointment) -> bool:
    """Briefings are for upcoming, open appointments of a Pro practice, shown to those who
    may read the patient's notes."""
    from patients.models import Patient

    return (
        plan_allows(membership.practice)
        and membership.treats_patients
        and appointment.is_open
        and appointment.starts_at > timezone.now()
        and Patient.objects.visible_to(membership).filter(pk=appointment.patient_id).exists()
    )


def briefing_context(membership: Membership, appointment: Appointment | None) -> dict[str, Any]:
    """What the briefing block needs (empty when the member gets no briefing here)."""
    if appointment is None or not may_brief(membership, appointment):
        return {}
    briefing = briefing_of(membership, appointment)
    return {
        "briefing_for": appointment,
        "briefing_hours": int(settings.BRIEFING_AHEAD.total_seconds() // 3600),
        "briefing": briefing,
        "briefing_stalled": briefing is not None and is_stalled(briefing),
    }


def next_briefing(membership: Membership, patient: Patient) -> dict[str, Any]:
    """The briefing block of the patient's next appointment (empty when there is none to
    show this member)."""
    if not (plan_allows(membership.practice) and membership.treats_patients):
        return {}
    return briefing_context(membership, next_appointment(membership, patient))


def next_appointment(membership: Membership, patient: Patient) -> Appointment | None:
    from sessions.models import Appointment

    return (
        Appointment.objects.for_practice(membership.practice)
        .filter(patient=patient, starts_at__gt=timezone.now())
        .taking_time()
        .select_related("therapist")
        .order_by("starts_at")
        .first()
    )


def audit_briefing_read(
    membership: Membership, context: Mapping[str, Any], *, ip: str | None = None
) -> None:
    """A briefing shown with its content is a read of clinical content."""
    from practice.services import audit_record

    briefing = context.get("briefing")
    if briefing is not None and briefing.content:
        audit_record(
            practice=membership.practice,
            actor=membership.user,
            action="tera.briefing",
            target=briefing,
            patient_id=briefing.patient_id,
            ip=ip,
        )


def summary_context(membership: Membership, patient: Patient) -> dict[str, Any]:
    summary = summary_of(membership, patient)
    return {"summary": summary, "summary_stalled": summary is not None and is_stalled(summary)}


def patient_insights(membership: Membership, patient: Patient) -> dict[str, Any]:
    """The Insights tab of a patient (the caller checked the member may read the notes):
    the summary, the recurring themes, the custom-field charts and the next briefing."""
    from tera import patterns

    if not plan_allows(membership.practice):
        return {"tera_off": True}
    return {
        **summary_context(membership, patient),
        **next_briefing(membership, patient),
        "themes": patterns.recurring_themes(membership, patient),
        "charts": patterns.patient_charts(membership, patient),
    }
