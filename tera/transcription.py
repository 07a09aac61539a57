"""Turning a recording's audio into its transcript: the live pass on each chunk as it
arrives, and the final pass over the whole recording (words, timestamps, speakers).

Both are idempotent. The final pass writes the transcript, deletes the audio and marks
the recording done in one transaction, under a lock on the recording, so a worker killed
halfway leaves nothing behind and the redelivered task starts over; a second delivery of
a finished task finds the recording done and does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from practice import crypto
from sessions.models import (
    AudioChunk,
    LiveText,
    Recording,
    RecordingStatus,
    Speaker,
    TranscriptSegment,
)
from sessions.services.recordings import (
    MAX_LENGTH_GRACE,
    max_length_message,
    recording_audio_delete,
)
from tera import speakers, speech
from tera.indexing import queue_index
from tera.models import SourceKind

logger = logging.getLogger(__name__)

LIVE_STATUSES = (RecordingStatus.RECORDING, RecordingStatus.QUEUED)
PROGRESS_EVERY = 1.0  # seconds between progress writes
TRANSCRIBE_SHARE = 85  # percent of the progress bar for speech to text; the rest is speakers


class TranscriptionFailed(Exception):
    """A reason to show the therapist (no clinical content)."""


def _audio(recording: Recording, chunks: list[tuple[int, bytes]]) -> np.ndarray:
    pieces = []
    for seq, sealed in chunks:
        try:
            data = crypto.decrypt(recording.audio_key, sealed, context=f"{recording.pk}:{seq}")
        except crypto.DecryptionError as error:
            raise TranscriptionFailed(_("The stored audio could not be decrypted.")) from error
        try:
            pieces.append(speech.decode(data))
        except speech.NotAudio as error:
            raise TranscriptionFailed(_("Part of the audio could not be decoded.")) from error
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def transcribe_chunk(recording_id: int, seq: int) -> None:
    """The live pass: what one chunk says, shown while the recording goes on."""
    recording = Recording.objects.filter(pk=recording_id, status__in=LIVE_STATUSES).first()
    if recording is None or not recording.has_audio:
        return
    chunk = recording.chunks.filter(seq=seq).values_list("seq", "data").first()
    if chunk is None:
        return
    try:
        audio = _audio(recording, [(chunk[0], bytes(chunk[1]))])
    except TranscriptionFailed:
        return  # deleted meanwhile, or unreadable: the final pass reports it
    language = recording.language or recording.detected_language or None
    result = speech.transcribe(audio, language=language, word_timestamps=False, beam_size=1)
    text = " ".join(segment.text for segment in result.segments)
    with transaction.atomic():
        locked = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if locked is None or locked.status not in LIVE_STATUSES:
            return  # finished or cancelled meanwhile: the live text is no longer wanted
        LiveText.objects.update_or_create(
            practice_id=locked.practice_id, recording=locked, seq=seq, defaults={"text": text}
        )
        if not locked.language and not locked.detected_language and result.language:
            # Later chunks keep the language the first one was heard in.
            locked.detected_language = result.language
            locked.save(update_fields=["detected_language"])


def _begin(recording_id: int) -> Recording | None:
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or recording.status not in (
            RecordingStatus.QUEUED,
            RecordingStatus.TRANSCRIBING,  # a worker died mid-pass: start over
        ):
            return None
        recording.status = RecordingStatus.TRANSCRIBING
        recording.attempts += 1
        recording.progress = 0
        recording.failure = ""
        recording.heartbeat_at = timezone.now()
        recording.save(update_fields=["status", "attempts", "progress", "failure", "heartbeat_at"])
        return recording


def _progress_writer(recording_id: int) -> Callable[[float], None]:
    last = 0.0

    def write(fraction: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY:
            last = now
            Recording.objects.filter(pk=recording_id, status=RecordingStatus.TRANSCRIBING).update(
                progress=int(fraction * TRANSCRIBE_SHARE), heartbeat_at=timezone.now()
            )

    return write


def transcribe_recording(recording_id: int) -> None:
    """The final pass: the whole recording, with timestamps and speakers."""
    recording = _begin(recording_id)
    if recording is None:
        return
    try:
        if not recording.has_audio:
            raise TranscriptionFailed(_("The audio is no longer available."))
        chunks = [(seq, bytes(data)) for seq, data in recording.chunks.values_list("seq", "data")]
        audio = _audio(recording, chunks)
        limit = settings.RECORDING_MAX_SECONDS + MAX_LENGTH_GRACE * max(len(chunks), 1)
        if len(audio) / speech.SAMPLE_RATE > limit:
            # Only a file whose container understated its length gets here.
            raise TranscriptionFailed(max_length_message())
        result = speech.transcribe(
            audio,
            language=recording.language or None,
            on_progress=_progress_writer(recording_id),
        )
        Recording.objects.filter(pk=recording_id).update(
            progress=TRANSCRIBE_SHARE, heartbeat_at=timezone.now()
        )
        labelled = speakers.label(audio, result.segments, expected=recording.speakers_expected)
    except TranscriptionFailed as error:
        _fail(recording_id, str(error), final=True)
        return
    except Exception:
        logger.exception("Transcription of recording %s failed", recording_id)
        _fail(recording_id, _("Transcription stopped with an internal error."), final=False)
        return
    _finish(recording_id, result.language, labelled)


def _finish(recording_id: int, language: str, labelled: list[speakers.LabelledSegment]) -> None:
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or recording.status != RecordingStatus.TRANSCRIBING:
            return  # cancelled meanwhile, or another delivery finished first
        # Nothing of an earlier attempt can be here (each commits all or nothing), but a
        # retried pass replaces whatever is, so the transcript is never doubled.
        recording.segments.all().delete()
        recording.speakers.all().delete()
        numbers = sorted({segment.speaker for segment in labelled})
        voices = {
            number: Speaker.objects.create(
                practice_id=recording.practice_id, recording=recording, number=number
            )
            for number in numbers
        }
        TranscriptSegment.objects.bulk_create(
            TranscriptSegment(
                practice_id=recording.practice_id,
                recording=recording,
                position=position,
                start=round(segment.start, 2),
                end=round(segment.end, 2),
                text=segment.text,
                speaker=voices[segment.speaker],
            )
            for position, segment in enumerate(labelled)
        )
        recording.status = RecordingStatus.DONE
        recording.progress = 100
        recording.detected_language = language
        recording.finished_at = timezone.now()
        recording.save(update_fields=["status", "progress", "detected_language", "finished_at"])
        recording_audio_delete(recording)
        queue_index(SourceKind.TRANSCRIPT, recording.pk)


def _fail(recording_id: int, reason: str, *, final: bool) -> None:
    """Mark the attempt failed. The audio stays for a Retry unless the failure cannot
    be cured by one or this was the last allowed attempt; then it is deleted."""
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or recording.status != RecordingStatus.TRANSCRIBING:
            return
        _mark_failed(recording, reason)
        if final or recording.attempts >= settings.TRANSCRIBE_MAX_ATTEMPTS:
            recording_audio_delete(recording)


def _mark_failed(recording: Recording, reason: str) -> None:
    recording.status = RecordingStatus.FAILED
    recording.failure = reason[:300]
    recording.finished_at = timezone.now()
    recording.save(update_fields=["status", "failure", "finished_at"])


def audio_sweep() -> int:
    """Delete any audio older than AUDIO_MAX_AGE, whatever its recording's state; a
    recording that had not been transcribed yet is marked failed. Returns how many
    recordings lost their audio."""
    cutoff = timezone.now() - settings.AUDIO_MAX_AGE
    stale = list(
        Recording.objects.exclude(audio_key=b"")
        .filter(created_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    for recording_id in stale:
        with transaction.atomic():
            recording = Recording.objects.select_for_update().get(pk=recording_id)
            if recording.status not in (RecordingStatus.DONE, RecordingStatus.CANCELLED):
                reason = _("The audio was deleted after %(hours)d hours.") % {
                    "hours": settings.AUDIO_MAX_AGE.total_seconds() // 3600
                }
                _mark_failed(recording, reason)
            recording_audio_delete(recording)
    # Chunks whose recording somehow kept no key are unreadable; remove them all the same.
    AudioChunk.objects.filter(created_at__lt=cutoff).delete()
    return len(stale)


def recordings_resume() -> list[int]:
    """Queue again the recordings no worker has shown signs of life on for
    TRANSCRIBE_STALE_AFTER: their message was lost with a killed worker node or a
    restarted broker. (A worker's child killed alone is redelivered at once by Celery.)
    A duplicate delivery is harmless: the final pass commits once. Returns their ids."""
    from django.db.models.functions import Coalesce

    cutoff = timezone.now() - settings.TRANSCRIBE_STALE_AFTER
    with transaction.atomic():
        stale = list(
            Recording.objects.select_for_update(skip_locked=True)
            .filter(status__in=(RecordingStatus.QUEUED, RecordingStatus.TRANSCRIBING))
            .exclude(audio_key=b"")
            .alias(seen=Coalesce("heartbeat_at", "stopped_at", "created_at"))
            .filter(seen__lt=cutoff)
            .values_list("pk", flat=True)
        )
        # Seen now, so the next check waits a whole period before queuing them again.
        Recording.objects.filter(pk__in=stale).update(heartbeat_at=timezone.now())
    from tera.tasks import recording_transcribe

    for recording_id in stale:
        logger.warning("Recording %s was stalled; queued again", recording_id)
        recording_transcribe.delay(recording_id)
    return stale
