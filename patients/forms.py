from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

from babel import Locale, UnknownLocaleError
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from patients.normalise import (
    TAG_MAX_LENGTH,
    TAGS_MAX,
    format_phone,
    parse_tags,
    phone_example,
    phone_region,
    validate_tags,
)
from patients.services import PatientFields
from practice.forms import PasswordAgainMixin
from practice.models import Practice, User
from practice.selectors import treating_users

OLDEST_AGE = 130


def _one_line(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())


def _country_name(region: str) -> str:
    try:
        return Locale.parse(to_locale(get_language() or "en")).territories.get(region, region)
    except (UnknownLocaleError, ValueError):
        return region


class TagsField(forms.CharField):
    """Tags typed as comma-separated text, cleaned to a list (see `parse_tags`)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return parse_tags(super().to_python(value) or "")


class PatientForm(forms.ModelForm):
    """The patient's own data. Who treats them is TherapistsForm's job."""

    tags = TagsField(
        label=_("Tags"),
        required=False,
        validators=[validate_tags],
    )

    class Meta:
        model = Patient
        fields = (
            "full_name",
            "preferred_name",
            "pronouns",
            "birth_date",
            "email",
            "email_reminders",
            "phone",
            "emergency_contact_name",
            "emergency_contact_phone",
            "address",
            "tags",
            "admin_notes",
        )
        widgets = {
            "full_name": forms.TextInput(attrs={"autocomplete": "off"}),
            "preferred_name": forms.TextInput(attrs={"autocomplete": "off"}),
            "pronouns": forms.TextInput(attrs={"autocomplete": "off"}),
            "birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(
                attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off"}
            ),
            "emergency_contact_name": forms.TextInput(attrs={"autocomplete": "off"}),
            "emergency_contact_phone": forms.TextInput(
                attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off"}
            ),
            "address": forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
            "admin_notes": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {"emergency_contact_name": _("Emergency contact name")}
        error_messages = {
            "full_name": {"required": _("Enter the patient’s full name.")},
            "email": {"invalid": _("Enter a valid email address, like name@example.com.")},
            "birth_date": {"invalid": _("Enter a valid date of birth.")},
        }

    def __init__(self, *args: Any, practice: Practice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.practice = practice
        self.region = phone_region(practice.time_zone)
        phone_help = _(
            "Without a country code, a number is taken to be from %(country)s, e.g. %(example)s."
        ) % {"country": _country_name(self.region), "example": phone_example(self.region)}
        self.fields["phone"].help_text = phone_help
        self.fields["emergency_contact_phone"].help_text = phone_help
        self.fields["tags"].help_text = _(
            "Separate tags with commas, e.g. “Reiki, evenings”. Up to %(max)d tags of "
            "%(length)d characters each."
        ) % {"max": TAGS_MAX, "length": TAG_MAX_LENGTH}

    def clean_full_name(self) -> str:
        name = _one_line(self.cleaned_data["full_name"])
        if not name:
            raise ValidationError(_("Enter the patient’s full name."), code="required")
        return name

    def clean_preferred_name(self) -> str:
        return _one_line(self.cleaned_data["preferred_name"])

    def clean_pronouns(self) -> str:
        return _one_line(self.cleaned_data["pronouns"])

    def clean_emergency_contact_name(self) -> str:
        return _one_line(self.cleaned_data["emergency_contact_name"])

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean_phone(self) -> str:
        return format_phone(self.cleaned_data["phone"], self.region)

    def clean_emergency_contact_phone(self) -> str:
        return format_phone(self.cleaned_data["emergency_contact_phone"], self.region)

    def clean_birth_date(self) -> date | None:
        born: date | None = self.cleaned_data["birth_date"]
        if born is None:
            return None
        today = timezone.localdate()  # the practice's day: its time zone is active
        if born > today:
            raise ValidationError(
                _("The date of birth can’t be in the future."), code="birth_date_future"
            )
        if born.year < today.year - OLDEST_AGE:
            raise ValidationError(
                _("Check the year: that is more than %(years)d years ago."),
                code="birth_date_too_old",
                params={"years": OLDEST_AGE},
            )
        return born

    def patient_fields(self) -> PatientFields:
        data = self.cleaned_data
        return PatientFields(
            full_name=data["full_name"],
            preferred_name=data["preferred_name"],
            pronouns=data["pronouns"],
            birth_date=data["birth_date"],
            email=data["email"],
            email_reminders=data["email_reminders"],
            phone=data["phone"],
            address=data["address"].strip(),
            emergency_contact_name=data["emergency_contact_name"],
            emergency_contact_phone=data["emergency_contact_phone"],
            tags=data["tags"],
            admin_notes=data["admin_notes"].strip(),
        )


class TherapistChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


class TherapistsForm(forms.Form):
    """Who treats the patient; shown to Owners and Assistants only."""

    therapists = TherapistChoiceField(
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label=_("Therapists"),
        help_text=_("The Owners and Therapists who treat this patient and may see their notes."),
        error_messages={"required": _("Choose at least one therapist.")},
    )

    def __init__(self, *args: Any, practice: Practice, patient: Patient | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices = treating_users(practice)
        if patient is not None:
            # Someone assigned before leaving the practice stays until unticked.
            current = [user.pk for user in patient.therapists]
            choices = choices | User.objects.filter(pk__in=current)
            self.initial.setdefault("therapists", current)
        field = self.fields["therapists"]
        assert isinstance(field, TherapistChoiceField)
        field.queryset = choices


class PatientFilterForm(forms.Form):
    """The list's search, filters and order, read from the query string."""

    STATUS_CHOICES = (("active", _("Active")), ("archived", _("Archived")))
    SORT_CHOICES = (("name", _("Name")), ("newest", _("Newest first")))

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "autocomplete": "off",
                "placeholder": _("Name, phone or email"),
            }
        ),
    )
    # Plain fields shown as menus: a value outside the menu just matches no one (the list
    # is already scoped), so an htmx swap need not query the menus' choices.
    therapist = forms.IntegerField(label=_("Therapist"), required=False, widget=forms.Select)
    tag = forms.CharField(
        label=_("Tag"), required=False, max_length=TAG_MAX_LENGTH, widget=forms.Select
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=STATUS_CHOICES)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORT_CHOICES)

    def __init__(
        self,
        *args: Any,
        therapists: list[User] | None,
        tags: list[str],
        **kwargs: Any,
    ) -> None:
        """`therapists`: the menu of the therapist filter, None to leave the filter out
        (a Therapist sees only their own patients). `tags`: the menu of the tag filter."""
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if therapists is None:
            del self.fields["therapist"]
        else:
            therapist_menu = self.fields["therapist"].widget
            assert isinstance(therapist_menu, forms.Select)
            therapist_menu.choices = [("", _("All therapists"))] + [
                (user.pk, user.display_name) for user in therapists
            ]
        tag_menu = self.fields["tag"].widget
        assert isinstance(tag_menu, forms.Select)
        tag_menu.choices = [("", _("All tags"))] + [(tag, tag) for tag in tags]

    def value(self, name: str, default: Any = "") -> Any:
        """The cleaned value of `name`; the default when it was missing or invalid, so a
        stale bookmark still shows a list rather than an error."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        return self.cleaned_data.get(name) or default


class PatientEraseForm(PasswordAgainMixin, forms.Form):
    """The Owner's confirmation of an erasure: the patient's full name typed out and the
    Owner's password; within the record-keeping period (`blocked_until`), also a lawful
    reason ticked."""

    lawful_reason = forms.BooleanField(
        label=_("I confirm a lawful reason to erase these records now"),
        help_text=_(
            "For example a court order, or the patient’s request where it overrides the duty "
            "to keep the records. You take responsibility for this decision."
        ),
        required=False,
    )
    confirm_name = forms.CharField(
        label=_("Type the patient’s full name to confirm"), max_length=200, strip=True
    )
    field_order = ("lawful_reason", "confirm_name", "password")

    def __init__(
        self,
        *args: Any,
        patient: Patient,
        user: User,
        blocked_until: date | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.password_user = user
        self.blocked_until = blocked_until
        if blocked_until is None:
            del self.fields["lawful_reason"]
        self.fields["confirm_name"].widget.attrs["autocomplete"] = "off"

    def clean_lawful_reason(self) -> bool:
        confirmed: bool = self.cleaned_data["lawful_reason"]
        if self.blocked_until is not None and not confirmed:
            raise ValidationError(
                _("Tick the box to confirm the lawful reason, or wait until the date above."),
                code="lawful_reason",
            )
        return confirmed

    def clean_confirm_name(self) -> str:
        typed: str = self.cleaned_data["confirm_name"]
        if _one_line(typed).casefold() != _one_line(self.patient.full_name).casefold():
            raise ValidationError(
                _("That isn’t the patient’s full name as it is recorded."), code="name"
            )
        return typed

    @property
    def override(self) -> bool:
        return bool(self.cleaned_data.get("lawful_reason"))
