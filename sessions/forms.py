from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from patients.models import Patient
from practice.models import Membership, User
from practice.selectors import treating_users
from sessions.models import (
    MAX_AMENDMENT_LENGTH,
    MAX_NOTE_LENGTH,
    MAX_SPEAKERS,
    MIN_SPEAKERS,
    Appointment,
    Recording,
    Speaker,
    SpeakerRole,
)
from sessions.services import MAX_OCCURRENCES, MAX_SERIES_SPAN, Booking, Repeat
from sessions.services.recordings import UPLOAD_EXTENSIONS, RecordingOptions
from therapies.models import MAX_DURATION, MIN_DURATION, TherapyType

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class Scope(models.TextChoices):
    THIS = "this", _("This appointment")
    FOLLOWING = "following", _("This and following")


class ScopeMixin(forms.Form):
    """For an appointment of a series: change only it, or it and the later ones."""

    scope = forms.ChoiceField(
        label=_("Apply to"),
        choices=Scope.choices,
        initial=Scope.THIS,
        widget=forms.RadioSelect,
        required=False,
    )

    def _drop_scope_unless_series(self, appointment: Appointment | None) -> None:
        if appointment is None or appointment.series_id is None:
            del self.fields["scope"]

    @property
    def following(self) -> bool:
        return self.cleaned_data.get("scope") == Scope.FOLLOWING


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.display_name)


class PatientChoiceField(forms.ModelChoiceField):
    """A patient by full name, with the name they go by: two patients may share either."""

    def label_from_instance(self, obj: Any) -> str:
        if obj.preferred_name:
            return f"{obj.full_name} ({obj.preferred_name})"
        return str(obj.full_name)


REPEAT_CHOICES = [
    ("", _("Does not repeat")),
    ("1", _("Every week")),
    *[
        (str(n), ngettext_lazy("Every %(n)d week", "Every %(n)d weeks", "n") % {"n": n})
        for n in (2, 3, 4, 6, 8)
    ],
]


class Ends(models.TextChoices):
    AFTER = "after", _("After a number of times")
    ON = "on", _("On a date")


class AppointmentForm(ScopeMixin, forms.Form):
    """Book or change an appointment. Times are entered in the practice's time zone (the
    middleware activates it), so the cleaned start is already an aware datetime."""

    patient = PatientChoiceField(label=_("Patient"), queryset=Patient.objects.none())
    therapist = PersonChoiceField(label=_("Therapist"), queryset=User.objects.none())
    therapy_type = forms.ModelChoiceField(label=_("Therapy"), queryset=TherapyType.objects.none())
    starts_at = forms.DateTimeField(
        label=_("Starts"),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": 300}, format=DATETIME_LOCAL
        ),
    )
    minutes = forms.IntegerField(
        label=_("Duration (minutes)"),
        min_value=MIN_DURATION,
        max_value=MAX_DURATION,
        widget=forms.NumberInput(attrs={"step": 5}),
    )
    room = forms.CharField(label=_("Room or location"), max_length=80, required=False)
    meeting_url = forms.URLField(
        label=_("Online meeting link"), max_length=500, required=False, assume_scheme="https"
    )
    front_desk_note = forms.CharField(
        label=_("Front-desk note"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Administrative only (parking, payment, reminders). Never clinical."),
    )
    # Only when booking: an existing appointment's series is changed with `scope`.
    repeat = forms.TypedChoiceField(
        label=_("Repeats"), choices=REPEAT_CHOICES, coerce=int, empty_value=None, required=False
    )
    ends = forms.ChoiceField(
        label=_("Ends"),
        choices=Ends.choices,
        initial=Ends.AFTER,
        widget=forms.RadioSelect,
        required=False,
    )
    count = forms.IntegerField(
        label=_("Times"), min_value=2, max_value=MAX_OCCURRENCES, initial=10, required=False
    )
    until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(
        self,
        *args: Any,
        membership: Membership,
        appointment: Appointment | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        practice = membership.practice
        self._drop_scope_unless_series(appointment)
        if appointment is not None:
            for name in ("repeat", "ends", "count", "until"):
                del self.fields[name]
        # An archived patient or retired therapy already on the appointment stays valid.
        kept_patient = Q(pk=appointment.patient_id) if appointment else Q()
        kept_therapy = Q(pk=appointment.therapy_type_id) if appointment else Q()
        patients = Patient.objects.visible_to(membership).filter(
            Q(archived_at__isnull=True) | kept_patient
        )
        therapy_types = TherapyType.objects.for_practice(practice).filter(
            Q(is_active=True) | kept_therapy
        )
        self.fields["patient"].queryset = patients.order_by("full_name")  # type: ignore[attr-defined]
        self.fields["therapy_type"].queryset = therapy_types.order_by("name")  # type: ignore[attr-defined]
        self.fields["therapist"].queryset = treating_users(practice)  # type: ignore[attr-defined]
        if membership.is_therapist:
            # A Therapist books only for themselves.
            self.fields["therapist"].disabled = True
            self.initial["therapist"] = membership.user_id
        self.durations = json.dumps(
            {
                str(pk): minutes
                for pk, minutes in therapy_types.values_list("pk", "default_duration")
            }
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("repeat"):
            return data
        if data.get("ends") == Ends.ON:
            until, start = data.get("until"), data.get("starts_at")
            if until is None:
                self.add_error("until", _("Choose the date of the last appointment."))
            elif start is not None and until <= start.date():
                self.add_error("until", _("Choose a date after the first appointment."))
            elif start is not None and until > start.date() + MAX_SERIES_SPAN:
                self.add_error("until", _("A series can cover one year at most."))
        elif data.get("count") is None and "count" not in self.errors:
            self.add_error(
                "count", _("Say how many times, from 2 to %(max)d.") % {"max": MAX_OCCURRENCES}
            )
        return data

    def recurrence(self) -> Repeat | None:
        """The recurrence asked for, or None for a single appointment."""
        data = self.cleaned_data
        if not data.get("repeat"):
            return None
        if data.get("ends") == Ends.ON:
            return Repeat(every_weeks=data["repeat"], until=data["until"])
        return Repeat(every_weeks=data["repeat"], count=data["count"])

    def booking(self) -> Booking:
        data = self.cleaned_data
        return Booking(
            patient=data["patient"],
            therapist=data["therapist"],
            therapy_type=data["therapy_type"],
            starts_at=data["starts_at"],
            ends_at=data["starts_at"] + timedelta(minutes=data["minutes"]),
            room=data["room"].strip(),
            meeting_url=data["meeting_url"],
            front_desk_note=data["front_desk_note"].strip(),
        )


class CancelForm(ScopeMixin, forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("For the practice's records, e.g. “patient unwell” or “therapist away”."),
    )

    def __init__(self, *args: Any, appointment: Appointment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._drop_scope_unless_series(appointment)


class MoveForm(forms.Form):
    """A drag in the calendar: the new start (practice time) and length."""

    starts_at = forms.DateTimeField(input_formats=[DATETIME_LOCAL])
    minutes = forms.IntegerField(min_value=MIN_DURATION, max_value=MAX_DURATION)


class RecordForm(forms.Form):
    """The session's own fields. Its custom fields (therapies.formbuilder) and its payment
    (payments.forms.ChargeForm) are forms of their own on the same page."""

    therapy_type = forms.ModelChoiceField(label=_("Therapy"), queryset=TherapyType.objects.none())
    minutes = forms.IntegerField(
        label=_("Duration (minutes)"),
        min_value=MIN_DURATION,
        max_value=MAX_DURATION,
        widget=forms.NumberInput(attrs={"step": 5}),
    )
    text = forms.CharField(
        label=_("Session notes"),
        required=False,
        max_length=MAX_NOTE_LENGTH,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "Your observations. Only the patient's therapists and the practice's Owners can "
            "read them; assistants never do."
        ),
    )

    def __init__(
        self,
        *args: Any,
        practice: Any,
        kept: TherapyType | None = None,
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            # A recorded session keeps its therapy: its custom fields were filled for it.
            del self.fields["therapy_type"]
            return
        kept_therapy = Q(pk=kept.pk) if kept is not None else Q()
        therapy_types = TherapyType.objects.for_practice(practice).filter(
            Q(is_active=True) | kept_therapy
        )
        self.fields["therapy_type"].queryset = therapy_types.order_by("name")  # type: ignore[attr-defined]

    def clean_text(self) -> str:
        # Keep the therapist's own line breaks and indentation; drop only outer blank lines.
        return self.cleaned_data["text"].strip("\n\r ").replace("\r\n", "\n")


class WalkInForm(forms.Form):
    """Who and when, for a session recorded without an appointment."""

    patient = PatientChoiceField(label=_("Patient"), queryset=Patient.objects.none())
    therapist = PersonChoiceField(label=_("Therapist"), queryset=User.objects.none())
    starts_at = forms.DateTimeField(
        label=_("Start time"),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": 300}, format=DATETIME_LOCAL
        ),
    )
    room = forms.CharField(label=_("Room or location"), max_length=80, required=False)

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = (  # type: ignore[attr-defined]
            Patient.objects.visible_to(membership).active().order_by("full_name")
        )
        self.fields["therapist"].queryset = treating_users(membership.practice)  # type: ignore[attr-defined]
        if membership.is_therapist:
            self.fields["therapist"].disabled = True
            self.initial["therapist"] = membership.user_id

    def booking(self, minutes: int) -> Booking:
        data = self.cleaned_data
        return Booking(
            patient=data["patient"],
            therapist=data["therapist"],
            starts_at=data["starts_at"],
            ends_at=data["starts_at"] + timedelta(minutes=minutes),
            room=data["room"].strip(),
        )


class AmendForm(forms.Form):
    text = forms.CharField(
        label=_("Amendment"),
        max_length=MAX_AMENDMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Added below the signed note, with your name and the time."),
    )


# --- Recordings ---------------------------------------------------------------------------

# Whisper's language codes for the practice languages, plus detection.
TRANSCRIPT_LANGUAGES = (
    ("", _("Detect automatically")),
    ("pt", _("Portuguese")),
    ("en", _("English")),
    ("es", _("Spanish")),
)


def transcript_language(practice_language: str) -> str:
    """The transcript language a practice starts with: its own."""
    return practice_language.split("-")[0]


class RecordingOptionsForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language spoken"), choices=TRANSCRIPT_LANGUAGES, required=False
    )
    speakers_expected = forms.TypedChoiceField(
        label=_("People speaking"),
        choices=[(n, str(n)) for n in range(MIN_SPEAKERS, MAX_SPEAKERS + 1)],
        coerce=int,
        initial=2,
        help_text=_("Helps tell the voices apart. Two for an individual session."),
    )

    def options(self) -> RecordingOptions:
        return RecordingOptions(
            language=self.cleaned_data["language"],
            speakers_expected=self.cleaned_data["speakers_expected"],
        )


class RecordingUploadForm(RecordingOptionsForm):
    audio = forms.FileField(
        label=_("Audio file"),
        validators=[FileExtensionValidator(list(UPLOAD_EXTENSIONS))],
        help_text=_("wav, mp3, m4a, ogg or webm."),
        widget=forms.ClearableFileInput(attrs={"accept": "audio/*"}),
    )

    def __init__(self, *args: Any, too_large: bool = False, **kwargs: Any) -> None:
        # It shares a page with the start form: its own element ids, the same field names.
        kwargs.setdefault("auto_id", "id_upload_%s")
        super().__init__(*args, **kwargs)
        self.too_large = too_large

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.too_large:
            self.add_error(
                "audio",
                _("The file is larger than %(mb)d MB.") % {"mb": settings.RECORDING_UPLOAD_MAX_MB},
            )
        return cleaned


class SegmentForm(forms.Form):
    text = forms.CharField(
        label=_("Text"), widget=forms.Textarea(attrs={"rows": 3}), max_length=MAX_NOTE_LENGTH
    )
    speaker = forms.ModelChoiceField(
        label=_("Speaker"), queryset=Speaker.objects.none(), required=False
    )

    def __init__(self, *args: Any, recording: Recording, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        speaker_field = self.fields["speaker"]
        assert isinstance(speaker_field, forms.ModelChoiceField)
        speaker_field.queryset = recording.speakers.all()


class SpeakerForm(forms.ModelForm):
    role = forms.ChoiceField(
        label=_("Who"), choices=[("", _("Not said yet")), *SpeakerRole.choices], required=False
    )

    class Meta:
        model = Speaker
        fields = ("role", "name")
        widgets = {"name": forms.TextInput(attrs={"placeholder": _("Name (optional)")})}


SpeakerFormSet = forms.modelformset_factory(Speaker, form=SpeakerForm, extra=0)


# --- Clinical notes ------------------------------------------------------------------------
NOTE_LANGUAGES = (
    ("auto", _("The transcript’s language")),
    ("en", _("English")),
    ("pt-br", _("Portuguese (Brazil)")),
)
MAX_QUICK_NOTES = 5000


class TranscriptChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        when = date_format(timezone.localtime(obj.created_at), "SHORT_DATETIME_FORMAT")
        return str(_("Transcript of %(when)s") % {"when": when})


class GenerateNotesForm(forms.Form):
    """Draft one note per chosen template from a transcript and the quick notes."""

    templates = forms.MultipleChoiceField(
        label=_("Templates"), widget=forms.CheckboxSelectMultiple, choices=()
    )
    recording = TranscriptChoiceField(
        label=_("Transcript"),
        queryset=Recording.objects.none(),
        required=False,
        empty_label=_("No transcript: my quick notes only"),
    )
    quick_notes = forms.CharField(
        label=_("Your quick notes"),
        required=False,
        max_length=MAX_QUICK_NOTES,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What you noted during the session; the draft may rest on it too."),
    )
    language = forms.ChoiceField(label=_("Language of the note"), choices=NOTE_LANGUAGES)

    def __init__(
        self, *args: Any, templates: dict[str, Any], recordings: Any, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["templates"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(value, choice.title) for value, choice in templates.items()]
        recording = self.fields["recording"]
        assert isinstance(recording, TranscriptChoiceField)
        recording.queryset = recordings

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("recording") and not (data.get("quick_notes") or "").strip():
            raise ValidationError(
                _("A note is drafted from a transcript or your quick notes: give at least one.")
            )
        return data


ASSIST_PRESETS = {
    "expand": _("Expand"),
    "differentials": _("Add differential diagnoses"),
    "shorten": _("Shorten"),
    "translate_pt": _("Translate to Portuguese"),
    "translate_en": _("Translate to English"),
}


class AssistForm(forms.Form):
    """An instruction for the note's assistant: a preset (the button pressed) or free
    text, for one section or the whole note."""

    section = forms.ChoiceField(label=_("Section"), required=False, choices=())
    instruction = forms.CharField(
        label=_("Or tell the assistant what to do"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. mention the sleep diary")}),
    )
    preset = forms.ChoiceField(required=False, choices=[("", "")] + list(ASSIST_PRESETS.items()))

    def __init__(self, *args: Any, sections: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        section = self.fields["section"]
        assert isinstance(section, forms.ChoiceField)
        section.choices = [("", _("The whole note"))] + [(s["key"], s["title"]) for s in sections]

    def clean(self) -> dict[str, Any]:
        """A preset becomes its own words (tera.assistant knows what each must do), with the
        therapist's words after them, if any."""
        data = super().clean() or {}
        preset, text = data.get("preset"), (data.get("instruction") or "").strip()
        if preset:
            data["instruction"] = str(ASSIST_PRESETS[preset]) + (f": {text}" if text else "")
        elif not text:
            raise ValidationError(_("Choose an action or say what the assistant should do."))
        return data


class SectionEditForm(forms.Form):
    text = forms.CharField(
        label=_("Text"),
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("One statement per line. Lines you change become your own words."),
    )
