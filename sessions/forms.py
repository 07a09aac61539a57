from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from practice.models import Membership, User
from practice.selectors import treating_users
from sessions.models import Appointment
from sessions.services import Booking
from therapies.models import MAX_DURATION, MIN_DURATION, TherapyType

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.display_name)


class AppointmentForm(forms.Form):
    """Book or change an appointment. Times are entered in the practice's time zone (the
    middleware activates it), so the cleaned start is already an aware datetime."""

    patient = PersonChoiceField(label=_("Patient"), queryset=Patient.objects.none())
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

    def __init__(
        self,
        *args: Any,
        membership: Membership,
        appointment: Appointment | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        practice = membership.practice
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


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("For the practice's records, e.g. “patient unwell” or “therapist away”."),
    )
