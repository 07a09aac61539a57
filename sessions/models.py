from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from practice.fields import EncryptedJSONField, EncryptedTextField
from practice.models import PracticeOwned
from practice.querysets import PracticeQuerySet
from sessions.querysets import (
    AppointmentQuerySet,
    ClinicalNoteQuerySet,
    RecordingQuerySet,
    SessionNoteQuerySet,
    SessionQuerySet,
)
from therapies.models import MAX_DURATION, MIN_DURATION

MAX_NOTE_LENGTH = 50_000
MAX_AMENDMENT_LENGTH = 10_000


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    CONFIRMED = "confirmed", _("Confirmed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")


OPEN_STATUSES = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)
# A cancelled appointment frees its slot; every other status keeps it taken.
FREE_STATUSES = (AppointmentStatus.CANCELLED,)


class AppointmentSeries(PracticeOwned):
    """A recurring appointment: the rule it was booked with. Each occurrence is an
    Appointment of its own (so one can be moved or cancelled alone); editing "this and
    following" changes the open occurrences from one date on."""

    every_weeks = models.PositiveSmallIntegerField(_("every (weeks)"), default=1)
    count = models.PositiveSmallIntegerField(_("times"), null=True, blank=True)
    until = models.DateField(_("until"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("appointment series")
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(count__isnull=False) | models.Q(until__isnull=False),
                name="series_ends",
            ),
            models.CheckConstraint(condition=models.Q(every_weeks__gte=1), name="series_every"),
        ]

    def __str__(self) -> str:
        return f"series {self.pk}"


class Appointment(PracticeOwned):
    """A slot in the calendar: a patient with a therapist. Times are stored in UTC.

    Everything here is administrative: the front-desk note is never clinical (the session
    record, written after the appointment, holds the clinical notes)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments"
    )
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    therapy_type = models.ForeignKey(
        "therapies.TherapyType",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("therapy"),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=AppointmentStatus.choices,
        default=AppointmentStatus.SCHEDULED,
    )
    room = models.CharField(_("room or location"), max_length=80, blank=True)
    meeting_url = models.URLField(_("online meeting link"), max_length=500, blank=True)
    front_desk_note = models.TextField(
        _("front-desk note"),
        max_length=500,
        blank=True,
        help_text=_("Administrative only (parking, payment, reminders). Never clinical."),
    )
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=200, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    series = models.ForeignKey(
        AppointmentSeries,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
    )
    # Set when the patient's reminder email is claimed for sending; cleared when the
    # appointment moves to another time (the patient is reminded of the new one).
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ("starts_at",)
        indexes: ClassVar = [
            models.Index(fields=["practice", "starts_at"]),
            models.Index(fields=["therapist", "starts_at"], name="appointment_therapist_start"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="appointment_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} @ {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def minutes(self) -> int:
        return int(self.duration.total_seconds() // 60)

    @property
    def is_cancelled(self) -> bool:
        return self.status == AppointmentStatus.CANCELLED

    @property
    def is_open(self) -> bool:
        """Still to happen or to be recorded: it can be edited, cancelled or marked."""
        return self.status in OPEN_STATUSES


class CalendarFeed(PracticeOwned):
    """A therapist's secret iCalendar address for phone calendars. Whoever holds the URL
    reads the therapist's appointment times, patient initials and therapies (nothing
    clinical), so it can be revoked (the row is deleted) and replaced at any time."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "user"], name="one_feed_per_member")
        ]

    def __str__(self) -> str:
        return f"feed of {self.user_id} in {self.practice_id}"


class Session(PracticeOwned):
    """That an appointment took place: when, with whom, which therapy and for how long.

    These facts are administrative: everyone who may see the patient may see them
    (Assistants included, to take payments). What happened in the session — the notes and
    the therapy's custom-field values — lives in SessionNote, behind the note barrier
    (`SessionNote.objects.visible_to`). A session is always tied to an appointment (a
    walk-in creates one), which shows Completed in the calendar."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, related_name="session"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="sessions"
    )
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    therapy_type = models.ForeignKey(
        "therapies.TherapyType",
        on_delete=models.PROTECT,
        related_name="sessions",
        verbose_name=_("therapy"),
    )
    # Copied from the appointment, which can no longer move once it is completed: lists
    # of sessions sort and filter on it without a join.
    starts_at = models.DateTimeField(_("date"))
    minutes = models.PositiveSmallIntegerField(
        _("duration (minutes)"),
        validators=[MinValueValidator(MIN_DURATION), MaxValueValidator(MAX_DURATION)],
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ("-starts_at", "-pk")
        indexes: ClassVar = [
            models.Index(fields=["patient", "-starts_at"], name="session_patient_newest"),
            models.Index(fields=["practice", "-starts_at"], name="session_practice_newest"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(minutes__gte=MIN_DURATION) & models.Q(minutes__lte=MAX_DURATION),
                name="session_minutes_in_range",
            )
        ]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.patient_id} @ {self.starts_at:%Y-%m-%d}"


class SessionNote(PracticeOwned):
    """The clinical part of a session: the therapist's notes and the therapy type's
    custom-field values (validated by therapies.formbuilder). Both are encrypted at rest
    (practice.fields).

    Read only through `SessionNote.objects.visible_to(membership)`, the note barrier:
    Owners read the whole practice's notes, a Therapist those of their own patients, an
    Assistant none. Once signed, the note is never changed again: later words are
    SessionAmendments, appended beside the original."""

    session = models.OneToOneField(
        Session, on_delete=models.PROTECT, primary_key=True, related_name="note"
    )
    text = EncryptedTextField(_("session notes"), blank=True, max_length=MAX_NOTE_LENGTH)
    custom_values = EncryptedJSONField(_("custom fields"), default=dict, blank=True)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = SessionNoteQuerySet.as_manager()

    def __str__(self) -> str:
        return f"note of session {self.session_id}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class SessionNoteRevision(PracticeOwned):
    """One edit of an unsigned note: who changed what, and when, with the values before
    and after each changed field. Clinical (it holds earlier wordings): read it only
    through a note the reader may see."""

    note = models.ForeignKey(SessionNote, on_delete=models.PROTECT, related_name="revisions")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    # {"field": {"before": ..., "after": ...}}; custom fields as "custom:<key>".
    changes = EncryptedJSONField(default=dict)

    objects = PracticeQuerySet["SessionNoteRevision"].as_manager()

    class Meta:
        ordering = ("-at", "-pk")

    def __str__(self) -> str:
        return f"revision {self.pk} of {self.note_id}"


class SessionAmendment(PracticeOwned):
    """Words added to a signed note. The note itself stays as it was signed."""

    note = models.ForeignKey(SessionNote, on_delete=models.PROTECT, related_name="amendments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = EncryptedTextField(_("amendment"), max_length=MAX_AMENDMENT_LENGTH)
    at = models.DateTimeField(default=timezone.now)

    objects = PracticeQuerySet["SessionAmendment"].as_manager()

    class Meta:
        ordering = ("at", "pk")

    def __str__(self) -> str:
        return f"amendment {self.pk} of {self.note_id}"


# --- Recordings and transcripts -----------------------------------------------------------
MIN_SPEAKERS, MAX_SPEAKERS = 1, 6


class RecordingStatus(models.TextChoices):
    RECORDING = "recording", _("Recording")
    QUEUED = "queued", _("Queued")
    TRANSCRIBING = "transcribing", _("Transcribing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class RecordingSource(models.TextChoices):
    MICROPHONE = "microphone", _("Recorded in the browser")
    UPLOAD = "upload", _("Uploaded file")


class SpeakerRole(models.TextChoices):
    THERAPIST = "therapist", _("Therapist")
    PATIENT = "patient", _("Patient")
    OTHER = "other", _("Other")


class Recording(PracticeOwned):
    """The audio of one appointment, on its way to a transcript.

    Audio waits in AudioChunk rows, encrypted under this recording's own key, which
    `audio_key` holds wrapped by AUDIO_ENCRYPTION_KEY. When the audio is deleted (after
    transcription, the last failed attempt, a cancel, or the age sweep) the chunks go and
    the key is emptied, so no copy the database keeps for a while can be read either.
    Clinical: read it only through `Recording.objects.visible_to`."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="recordings"
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    source = models.CharField(_("source"), max_length=16, choices=RecordingSource.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=RecordingStatus.choices,
        default=RecordingStatus.RECORDING,
    )
    # Whisper's language code ("en", "pt"); empty detects it.
    language = models.CharField(_("language"), max_length=8, blank=True)
    detected_language = models.CharField(max_length=8, blank=True)
    speakers_expected = models.PositiveSmallIntegerField(
        _("people speaking"),
        default=2,
        validators=[MinValueValidator(MIN_SPEAKERS), MaxValueValidator(MAX_SPEAKERS)],
    )
    audio_key = models.BinaryField(default=b"", editable=False)
    audio_seconds = models.FloatField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)  # percent of the final pass
    attempts = models.PositiveSmallIntegerField(default=0)
    failure = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    audio_deleted_at = models.DateTimeField(null=True, blank=True)
    # When the transcript was deleted under the practice's retention policy, and the
    # policy's days then (sessions.services.retention): the page says so.
    transcript_expired_at = models.DateTimeField(null=True, blank=True)
    transcript_retention_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # When a worker last showed it was on this recording (queued, began, progressed):
    # one that stays silent too long was lost with its worker or broker and is re-queued.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = RecordingQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes: ClassVar = [
            models.Index(fields=["practice", "created_at"]),
            models.Index(fields=["appointment", "-created_at"]),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="recording_progress_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"Recording {self.pk} ({self.status})"

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_key)

    @property
    def is_recording(self) -> bool:
        return self.status == RecordingStatus.RECORDING

    @property
    def is_processing(self) -> bool:
        return self.status in (RecordingStatus.QUEUED, RecordingStatus.TRANSCRIBING)

    @property
    def can_retry(self) -> bool:
        return self.status == RecordingStatus.FAILED and self.has_audio


class AudioChunk(PracticeOwned):
    """A piece of a recording's audio as it arrived (a whole file each: a browser chunk
    or an upload), AES-GCM encrypted; deleted with the recording's audio."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()
    seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeQuerySet["AudioChunk"].as_manager()

    class Meta:
        ordering = ("recording", "seq")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["recording", "seq"], name="one_chunk_per_seq"),
        ]
        indexes: ClassVar = [models.Index(fields=["created_at"])]


class LiveText(PracticeOwned):
    """What the live pass heard in one chunk, shown while recording; the final pass
    replaces all of it with TranscriptSegments."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="live_texts")
    seq = models.PositiveIntegerField()
    text = EncryptedTextField(blank=True)

    objects = PracticeQuerySet["LiveText"].as_manager()

    class Meta:
        ordering = ("recording", "seq")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["recording", "seq"], name="one_live_text_per_seq"),
        ]


class Speaker(PracticeOwned):
    """A voice the final pass told apart, numbered in order of first appearance; the
    therapist says who it is."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="speakers")
    number = models.PositiveSmallIntegerField()
    role = models.CharField(_("who"), max_length=16, choices=SpeakerRole.choices, blank=True)
    name = models.CharField(_("name"), max_length=80, blank=True)

    objects = PracticeQuerySet["Speaker"].as_manager()

    class Meta:
        ordering = ("recording", "number")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["recording", "number"], name="one_speaker_number"),
        ]

    def __str__(self) -> str:
        if self.name:
            return self.name
        if self.role:
            return str(self.get_role_display())
        return str(_("Speaker %(number)s") % {"number": self.number + 1})


class TranscriptSegment(PracticeOwned):
    """One stretch of the final transcript: who said what, from when to when (seconds
    from the start of the audio)."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="segments")
    position = models.PositiveIntegerField()
    start = models.FloatField()
    end = models.FloatField()
    text = EncryptedTextField(_("text"), max_length=MAX_NOTE_LENGTH)
    speaker = models.ForeignKey(
        Speaker, on_delete=models.PROTECT, null=True, blank=True, related_name="segments"
    )
    edited = models.BooleanField(default=False)

    objects = PracticeQuerySet["TranscriptSegment"].as_manager()

    class Meta:
        ordering = ("recording", "position")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["recording", "position"], name="one_segment_per_position"
            ),
        ]


class TranscriptSegmentRevision(PracticeOwned):
    """An edit of a segment's text or speaker: who, when, before and after."""

    segment = models.ForeignKey(
        TranscriptSegment, on_delete=models.CASCADE, related_name="revisions"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    text_before = EncryptedTextField(blank=True)
    text_after = EncryptedTextField(blank=True)
    speaker_before = models.CharField(max_length=120, blank=True)
    speaker_after = models.CharField(max_length=120, blank=True)

    objects = PracticeQuerySet["TranscriptSegmentRevision"].as_manager()

    class Meta:
        ordering = ("-at", "-pk")


# --- Clinical notes drafted from templates -------------------------------------------------


class NoteTemplate(PracticeOwned):
    """An Owner's own note template: sections (each a title and the AI's instruction, see
    sessions/note_templates.py for the shape and the built-ins) and which custom fields of
    a therapy the AI should propose values for. Archived, never deleted: notes keep a
    copy of the sections they were drafted from."""

    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)
    sections = models.JSONField(default=list)
    therapy_type = models.ForeignKey(
        "therapies.TherapyType",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("therapy"),
    )
    field_keys = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PracticeQuerySet["NoteTemplate"].as_manager()

    class Meta:
        ordering = ("name",)
        constraints: ClassVar = [
            models.UniqueConstraint(
                "practice", Lower("name"), name="note_template_name_unique_in_practice"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ClinicalNoteStatus(models.TextChoices):
    DRAFTING = "drafting", _("Drafting")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class ClinicalNote(PracticeOwned):
    """A clinical note of one appointment, drafted by the LLM from a template, a transcript
    and the therapist's quick notes, then edited. Its words live in ClinicalNoteVersion
    rows: every draft, regeneration, accepted assistant change or edit is a new version,
    and the newest is the note. Clinical: read only through `ClinicalNote.objects.visible_to`
    (the note barrier)."""

    appointment = models.ForeignKey(
        Appointment, on_delete=models.PROTECT, related_name="clinical_notes"
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recording = models.ForeignKey(
        Recording,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="clinical_notes",
        verbose_name=_("transcript"),
    )
    template = models.ForeignKey(
        NoteTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    builtin = models.CharField(max_length=20, blank=True)  # key in note_templates.BUILTINS
    title = models.CharField(_("title"), max_length=100)
    # The template's sections and custom-field keys as they were when drafted.
    sections = models.JSONField(default=list)
    field_keys = models.JSONField(default=list, blank=True)
    quick_notes = EncryptedTextField(_("your quick notes"), blank=True, max_length=5000)
    language = models.CharField(_("language of the note"), max_length=8)
    status = models.CharField(
        max_length=16, choices=ClinicalNoteStatus.choices, default=ClinicalNoteStatus.DRAFTING
    )
    # Why the last draft failed: a code of tera.llm.FAILURES, said in the reader's language.
    failure = models.CharField(max_length=300, blank=True)
    # Where the draft is, shown while drafting: {"stage": "reading"|"writing"|"fields",
    # "done": n, "total": n}.
    progress = models.JSONField(default=dict, blank=True)
    # When a worker last showed it was drafting (tera.clinical_notes.stalled).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicalNoteQuerySet.as_manager()

    class Meta:
        ordering = ("created_at", "pk")
        indexes: ClassVar = [models.Index(fields=["appointment", "created_at"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.pk})"

    @property
    def is_drafting(self) -> bool:
        return self.status == ClinicalNoteStatus.DRAFTING


class NoteVersionKind(models.TextChoices):
    DRAFT = "draft", _("Drafted")
    REGENERATED = "regenerated", _("Regenerated")
    ASSISTANT = "assistant", _("Changed with the assistant")
    EDITED = "edited", _("Edited")


class ClinicalNoteVersion(PracticeOwned):
    """One wording of a clinical note, never changed once written (but for the therapist's
    decisions on its suggested custom-field values).

    `content`: {"sections": [{"key", "title", "statements": [{"text", "sources": [segment
    ids], "rejected": [numbers the model cited that are no line], "origin": "ai" |
    "therapist"}]}], "truncated": bool}. An AI statement without a valid source is
    flagged on the page. `suggestions`: [{"key", "value", "status": "pending" | "accepted"
    | "declined"}], values already valid for the therapy's schema."""

    note = models.ForeignKey(ClinicalNote, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=NoteVersionKind.choices)
    instruction = EncryptedTextField(max_length=500, blank=True)
    content = EncryptedJSONField(default=dict)
    suggestions = EncryptedJSONField(default=list, blank=True)
    model = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = PracticeQuerySet["ClinicalNoteVersion"].as_manager()

    class Meta:
        ordering = ("note", "-number")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["note", "number"], name="one_note_version_number"),
        ]

    def __str__(self) -> str:
        return f"version {self.number} of {self.note_id}"

    @property
    def section_list(self) -> list[dict[str, Any]]:
        return list(self.content.get("sections", []))


class ProposalStatus(models.TextChoices):
    WORKING = "working", _("Working")
    READY = "ready", _("Ready for review")
    FAILED = "failed", _("Failed")
    APPLIED = "applied", _("Applied")
    DISCARDED = "discarded", _("Discarded")


class NoteProposal(PracticeOwned):
    """The assistant's answer to an instruction on a note ("shorten", "translate to
    Portuguese"): new wordings of sections, shown as a diff against `base`. The therapist
    accepts or rejects each section; accepting writes a new version."""

    note = models.ForeignKey(ClinicalNote, on_delete=models.CASCADE, related_name="proposals")
    base = models.ForeignKey(ClinicalNoteVersion, on_delete=models.CASCADE, related_name="+")
    instruction = EncryptedTextField(_("instruction"), max_length=500)
    # The quick action asked for (sessions.forms.ASSIST_PRESETS), or "" for free words.
    action = models.CharField(max_length=20, blank=True)
    section_key = models.CharField(max_length=40, blank=True)  # one section, or all
    status = models.CharField(
        max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.WORKING
    )
    failure = models.CharField(max_length=300, blank=True)  # a code of tera.llm.FAILURES
    sections = EncryptedJSONField(default=list, blank=True)  # as in a version's content
    language = models.CharField(max_length=8, blank=True)  # of `sections`
    progress = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeQuerySet["NoteProposal"].as_manager()

    class Meta:
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"proposal {self.pk} on {self.note_id}"
