"""Recording a session's audio and keeping its transcript.

Who may do what (checked here as well as by the views' querysets):

- record or upload: an Owner, or the appointment's own therapist, who must still treat the
  patient, and only when the patient has consented to audio recording; within the
  practice plan's monthly allowance and the maximum length;
- read, correct and name the speakers of a transcript: whoever
  `Recording.objects.visible_to` lets through (never an Assistant); every read is audited.

Audio is encrypted as it arrives (practice.crypto) and deleted for good by
`recording_audio_delete`: after transcription, after the last failed attempt, on cancel,
and by the age sweep. The transcription itself is tera's (tera/transcription.py).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from practice import crypto
from practice.models import Membership, Practice, User
from practice.services import audit_record
from sessions.models import (
    Appointment,
    AppointmentStatus,
    AudioChunk,
    Recording,
    RecordingSource,
    RecordingStatus,
    Speaker,
    SpeakerRole,
    TranscriptSegment,
    TranscriptSegmentRevision,
)
from sessions.services.records import require_treats
from tera.indexing import queue_index
from tera.models import Chunk, SourceKind

UPLOAD_EXTENSIONS = ("wav", "mp3", "m4a", "ogg", "oga", "opus", "webm")
# The recorder stops at the limit by its own clock; its last piece may run a little over.
MAX_LENGTH_GRACE = 2.0


@dataclass(frozen=True)
class RecordingOptions:
    language: str  # Whisper's code; "" detects it
    speakers_expected: int


def _audit(
    recording: Recording,
    *,
    actor: User | None,
    action: str,
    ip: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session_id = getattr(getattr(recording.appointment, "session", None), "pk", None)
    audit_record(
        practice=recording.practice,
        actor=actor,
        action=action,
        target=recording,
        patient_id=recording.patient_id,
        session_id=session_id,
        ip=ip,
        data=data,
    )


# --- Allowance ----------------------------------------------------------------------------


def month_start(practice: Practice, now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now(), zoneinfo.ZoneInfo(practice.time_zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def recordings_per_month(practice: Practice) -> int | None:
    """The plan's monthly allowance of recorded sessions; None when unlimited."""
    allowance = settings.RECORDINGS_PER_MONTH.get(practice.plan, 0)
    return allowance or None


def recordings_left(practice: Practice) -> int | None:
    """Recorded sessions left this month (in the practice's time zone); None: unlimited."""
    allowance = recordings_per_month(practice)
    if allowance is None:
        return None
    used = (
        Recording.objects.for_practice(practice)
        .counted_against_plan()
        .filter(created_at__gte=month_start(practice))
        .count()
    )
    return max(allowance - used, 0)


def may_record(membership: Membership, appointment: Appointment) -> bool:
    """Owners, and the appointment's own therapist (who must treat the patient)."""
    return (
        membership.is_active
        and membership.treats_patients
        and (membership.is_owner or appointment.therapist_id == membership.user_id)
    )


def _require_may_record(practice: Practice, actor: User, appointment: Appointment) -> None:
    membership = require_treats(practice, actor, appointment.patient)
    if not may_record(membership, appointment):
        raise PermissionDenied
    if appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW):
        raise ValidationError(
            _("This appointment was %(status)s; there is nothing to record.")
            % {"status": appointment.get_status_display().lower()},
            code="status",
        )
    if not appointment.patient.has_audio_consent:
        raise ValidationError(
            _(
                "%(patient)s has not consented to audio recording. Record the consent on "
                "their profile first."
            )
            % {"patient": appointment.patient},
            code="consent",
        )


def _lock(practice: Practice, actor: User, recording: Recording) -> Recording:
    """The recording, locked for this transaction, once the actor may record it."""
    recording = Recording.objects.select_for_update().get(pk=recording.pk)
    _require_may_record(practice, actor, recording.appointment)
    return recording


def _require_allowance(practice: Practice) -> None:
    if recordings_left(practice) == 0:
        allowance = recordings_per_month(practice) or 0
        raise ValidationError(
            ngettext(
                "Your plan includes %(count)d recorded session a month, and it has been "
                "used. Upgrade to Pro for unlimited recordings.",
                "Your plan includes %(count)d recorded sessions a month, and they have "
                "all been used. Upgrade to Pro for unlimited recordings.",
                allowance,
            )
            % {"count": allowance},
            code="plan_limit",
        )


def max_length_message() -> str:
    limit = settings.RECORDING_MAX_SECONDS
    hours, rest = divmod(limit, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    parts += [f"{seconds} s"] if seconds or not parts else []
    return _("Recordings can be at most %(length)s long.") % {"length": " ".join(parts)}


# --- Audio in -----------------------------------------------------------------------------


def audio_seconds(data: bytes) -> float:
    """How long the audio in `data` is; ValidationError when it is not audio or holds
    nothing. Read in memory (tera.speech.probe)."""
    from tera.speech import NotAudio, probe

    if not data:
        raise ValidationError(_("The file is empty."), code="empty")
    try:
        seconds = probe(data)
    except NotAudio:
        raise ValidationError(
            _("This is not an audio file we can read. Use wav, mp3, m4a, ogg or webm."),
            code="not_audio",
        ) from None
    if seconds <= 0:
        raise ValidationError(_("The file holds no sound."), code="empty")
    return seconds


@transaction.atomic
def recording_start(
    *,
    practice: Practice,
    actor: User,
    appointment: Appointment,
    options: RecordingOptions,
    ip: str | None,
) -> Recording:
    """Start recording an appointment in the browser, or go back to the recording that
    was interrupted (a closed tab, a lost connection): that one is resumed, not doubled."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    _require_may_record(practice, actor, appointment)
    open_one = (
        Recording.objects.for_practice(practice)
        .filter(appointment=appointment, status=RecordingStatus.RECORDING)
        .first()
    )
    if open_one is not None:
        return open_one
    _require_allowance(practice)
    recording = _new(practice, actor, appointment, options, source=RecordingSource.MICROPHONE)
    _audit(recording, actor=actor, action="recording.start", ip=ip)
    return recording


def _new(
    practice: Practice,
    actor: User,
    appointment: Appointment,
    options: RecordingOptions,
    **fields: Any,
) -> Recording:
    """A recording of `appointment` with a fresh key of its own."""
    return Recording.objects.create(
        practice=practice,
        appointment=appointment,
        patient_id=appointment.patient_id,
        therapist_id=appointment.therapist_id,
        started_by=actor,
        language=options.language,
        speakers_expected=options.speakers_expected,
        audio_key=crypto.new_wrapped_key(),
        **fields,
    )


def _store_chunk(recording: Recording, seq: int, data: bytes, seconds: float) -> AudioChunk:
    sealed = crypto.encrypt(recording.audio_key, data, context=f"{recording.pk}:{seq}")
    return AudioChunk.objects.create(
        practice_id=recording.practice_id,
        recording=recording,
        seq=seq,
        data=sealed,
        seconds=seconds,
    )


def recording_add_chunk(
    *, practice: Practice, actor: User, recording: Recording, seq: int, data: bytes
) -> bool:
    """Store the next piece of a browser recording and transcribe it live. Sending the
    same piece again (a retry after a lost answer) changes nothing; returns whether it
    was new."""
    seconds = audio_seconds(data)  # before the lock: decoding takes a moment
    with transaction.atomic():
        recording = _lock(practice, actor, recording)
        if recording.chunks.filter(seq=seq).exists():
            return False
        if recording.status != RecordingStatus.RECORDING:
            raise ValidationError(_("This recording has already been stopped."), code="stopped")
        if recording.audio_seconds + seconds > settings.RECORDING_MAX_SECONDS + MAX_LENGTH_GRACE:
            raise ValidationError(max_length_message(), code="too_long")
        _store_chunk(recording, seq, data, seconds)
        recording.audio_seconds += seconds
        recording.save(update_fields=["audio_seconds"])
        transaction.on_commit(lambda: _enqueue_live(recording.pk, seq))
    return True


@transaction.atomic
def recording_upload(
    *,
    practice: Practice,
    actor: User,
    appointment: Appointment,
    data: bytes,
    options: RecordingOptions,
    ip: str | None,
) -> Recording:
    """A recording made elsewhere: checked, stored encrypted and queued for transcription."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    _require_may_record(practice, actor, appointment)
    _require_allowance(practice)
    seconds = audio_seconds(data)
    if seconds > settings.RECORDING_MAX_SECONDS:
        raise ValidationError(max_length_message(), code="too_long")
    recording = _new(
        practice,
        actor,
        appointment,
        options,
        source=RecordingSource.UPLOAD,
        status=RecordingStatus.QUEUED,
        audio_seconds=seconds,
        stopped_at=timezone.now(),
    )
    _store_chunk(recording, 0, data, seconds)
    _audit(recording, actor=actor, action="recording.upload", ip=ip, data={"seconds": seconds})
    transaction.on_commit(lambda: _enqueue_final(recording.pk))
    return recording


@transaction.atomic
def recording_stop(
    *, practice: Practice, actor: User, recording: Recording, ip: str | None
) -> Recording:
    """End a browser recording and queue the final pass. Stopping twice is harmless."""
    recording = _lock(practice, actor, recording)
    if recording.status != RecordingStatus.RECORDING:
        return recording
    if not recording.chunks.exists():
        raise ValidationError(
            _("Nothing has been recorded yet. Cancel the recording if you do not need it."),
            code="nothing",
        )
    recording.status = RecordingStatus.QUEUED
    recording.stopped_at = timezone.now()
    recording.save(update_fields=["status", "stopped_at"])
    _audit(
        recording,
        actor=actor,
        action="recording.stop",
        ip=ip,
        data={"seconds": round(recording.audio_seconds, 1)},
    )
    transaction.on_commit(lambda: _enqueue_final(recording.pk))
    return recording


@transaction.atomic
def recording_cancel(
    *, practice: Practice, actor: User, recording: Recording, ip: str | None
) -> Recording:
    """Throw a recording away: its audio and live text are deleted at once. A finished
    transcript is not cancelled (there is no audio left to delete)."""
    recording = _lock(practice, actor, recording)
    if recording.status in (RecordingStatus.DONE, RecordingStatus.CANCELLED):
        return recording
    recording.status = RecordingStatus.CANCELLED
    recording.finished_at = timezone.now()
    recording.save(update_fields=["status", "finished_at"])
    recording_audio_delete(recording)
    _audit(recording, actor=actor, action="recording.cancel", ip=ip)
    return recording


@transaction.atomic
def recording_retry(
    *, practice: Practice, actor: User, recording: Recording, ip: str | None
) -> Recording:
    recording = _lock(practice, actor, recording)
    if not recording.can_retry:
        raise ValidationError(
            _("This recording cannot be transcribed again: its audio has been deleted."),
            code="no_audio",
        )
    recording.status = RecordingStatus.QUEUED
    recording.failure = ""
    recording.progress = 0
    recording.save(update_fields=["status", "failure", "progress"])
    _audit(recording, actor=actor, action="recording.retry", ip=ip)
    transaction.on_commit(lambda: _enqueue_final(recording.pk))
    return recording


def recording_audio_delete(recording: Recording) -> int:
    """Delete a recording's audio for good: the encrypted chunks and the key that could
    read any copy of them, and the live text heard from them (provisional: a transcript
    replaces it, and without audio none will). Call inside the transaction that records
    why."""
    recording.live_texts.all().delete()
    deleted, _detail = AudioChunk.objects.filter(recording_id=recording.pk).delete()
    if recording.audio_key or recording.audio_deleted_at is None:
        recording.audio_key = b""
        recording.audio_deleted_at = timezone.now()
        recording.save(update_fields=["audio_key", "audio_deleted_at"])
    return deleted


def transcripts_delete(recordings: list[Recording]) -> dict[str, int]:
    """Delete what the recordings heard, keeping the recordings: the transcript segments
    and their corrections, the speakers, live text and audio (`recording_audio_delete`),
    and Tera's vectors of the transcripts. Returns the counts by kind. Call inside the
    transaction that records why, with the recordings locked."""
    ids = [recording.pk for recording in recordings]
    return {
        "revisions": TranscriptSegmentRevision.objects.filter(
            segment__recording_id__in=ids
        ).delete()[0],
        "segments": TranscriptSegment.objects.filter(recording_id__in=ids).delete()[0],
        # Speakers are the transcript's voices and names: nothing else refers to them.
        "speakers": Speaker.objects.filter(recording_id__in=ids).delete()[0],
        "audio_chunks": sum(recording_audio_delete(recording) for recording in recordings),
        "index_chunks": Chunk.objects.filter(
            kind=SourceKind.TRANSCRIPT, source_id__in=ids
        ).delete()[0],
    }


def _enqueue_live(recording_id: int, seq: int) -> None:
    from tera.tasks import recording_transcribe_chunk

    recording_transcribe_chunk.delay(recording_id, seq)


def _enqueue_final(recording_id: int) -> None:
    from tera.tasks import recording_transcribe

    recording_transcribe.delay(recording_id)


# --- The transcript -----------------------------------------------------------------------


def transcript_open(
    *, practice: Practice, actor: User, recording: Recording, ip: str | None
) -> None:
    """Audit a read of a transcript (the page, or the live text while recording)."""
    _audit(recording, actor=actor, action="transcript.read", ip=ip)


def _speaker_label(speaker: Speaker | None) -> str:
    return str(speaker) if speaker is not None else ""


@transaction.atomic
def transcript_segment_edit(
    *,
    practice: Practice,
    actor: User,
    segment: TranscriptSegment,
    text: str,
    speaker: Speaker | None,
    ip: str | None,
) -> TranscriptSegment:
    """Correct a segment's words or speaker, keeping what it said before."""
    segment = TranscriptSegment.objects.select_for_update().get(pk=segment.pk)
    if speaker is not None and speaker.recording_id != segment.recording_id:
        raise ValidationError(_("That speaker is not in this recording."), code="speaker")
    text = text.strip()
    if not text:
        raise ValidationError(_("A segment cannot be empty."), code="empty")
    old_speaker = segment.speaker
    if text == segment.text and speaker == old_speaker:
        return segment
    TranscriptSegmentRevision.objects.create(
        practice=practice,
        segment=segment,
        author=actor,
        text_before=segment.text,
        text_after=text,
        speaker_before=_speaker_label(old_speaker),
        speaker_after=_speaker_label(speaker),
    )
    segment.text = text
    segment.speaker = speaker
    segment.edited = True
    segment.save(update_fields=["text", "speaker", "edited"])
    changed = [
        name for name, differs in (("text", True), ("speaker", speaker != old_speaker)) if differs
    ]
    _audit(
        segment.recording,
        actor=actor,
        action="transcript.edit",
        ip=ip,
        data={"segment": segment.pk, "fields": changed},
    )
    queue_index(SourceKind.TRANSCRIPT, segment.recording_id)
    return segment


@transaction.atomic
def speakers_name(
    *,
    practice: Practice,
    actor: User,
    recording: Recording,
    names: dict[int, tuple[str, str]],
    ip: str | None,
) -> None:
    """Say who each voice is: {speaker id: (role, name)}."""
    speakers = {s.pk: s for s in recording.speakers.select_for_update()}
    if names.keys() - speakers.keys():
        raise ValidationError(_("That speaker is not in this recording."), code="speaker")
    for pk, (role, name) in names.items():
        if role and role not in SpeakerRole.values:
            raise ValidationError(_("Choose who this speaker is."), code="role")
        speaker = speakers[pk]
        speaker.role, speaker.name = role, name.strip()
        speaker.save(update_fields=["role", "name"])
    _audit(recording, actor=actor, action="transcript.speakers", ip=ip)
    queue_index(SourceKind.TRANSCRIPT, recording.pk)
