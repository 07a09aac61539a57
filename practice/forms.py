from __future__ import annotations

import math
import zoneinfo
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.http import sign_in_email
from practice.models import (
    MAX_REMINDER_HOURS,
    MAX_TRANSCRIPT_RETENTION_DAYS,
    PLAN_TRANSCRIPT_RETENTION_DAYS,
    Invitation,
    Language,
    Membership,
    Practice,
    Role,
    User,
)
from practice.templatetags.holos import tz_label


def time_zone_choices() -> list[tuple[str, str]]:
    return [(tz, tz_label(tz)) for tz in sorted(zoneinfo.available_timezones())]


class EmailAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("That email and password don’t match an account. Check the password."),
    }
    username = forms.EmailField(
        label=_("Email"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean_username(self) -> str:
        return sign_in_email(self.cleaned_data["username"])


class PasswordPairMixin(forms.Form):
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_password2(self) -> str:
        p1, p2 = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if p1 and p2 and p1 != p2:
            raise forms.ValidationError(_("The two passwords differ."))
        return p2 or ""

    def validate_password_for(self, user: User) -> None:
        password = self.cleaned_data.get("password2")
        if password:
            try:
                password_validation.validate_password(password, user)
            except forms.ValidationError as error:
                self.add_error("password2", error)


class PasswordAgainMixin(forms.Form):
    """Asks for the member's own password again before a change that must not ride on an
    unattended session (replacing the authenticator app, erasing a patient).
    `password_user` is whose password it is, set by the form's __init__."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    password_user: User | None = None

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if self.password_user is not None and not self.password_user.check_password(password):
            raise forms.ValidationError(_("That password isn’t right."), code="password")
        return password


class SignUpForm(PasswordPairMixin, forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(
        label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    practice_name = forms.CharField(
        label=_("Name of your practice"), max_length=120, help_text=_("You can change it later.")
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"), choices=time_zone_choices, initial="America/Sao_Paulo"
    )
    language = forms.ChoiceField(
        label=_("Language"), choices=Language.choices, initial=Language.PORTUGUESE_BRAZIL
    )

    field_order = [
        "first_name", "last_name", "email", "password1", "password2",
        "practice_name", "time_zone", "language",
    ]  # fmt: skip

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _("An account with this email already exists. Sign in or reset your password.")
            )
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.validate_password_for(
            User(
                email=cleaned.get("email", ""),
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
        )
        return cleaned


class AcceptInvitationForm(PasswordPairMixin, forms.Form):
    """For an invited address that has no account yet."""

    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)

    field_order = ["first_name", "last_name", "language", "password1", "password2"]

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.validate_password_for(
            User(
                email=self.email,
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
        )
        return cleaned


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ("email", "role")
        widgets = {"email": forms.EmailInput(attrs={"autocomplete": "off"})}

    def __init__(self, *args: Any, practice: Practice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.practice = practice
        self.fields["role"].initial = Role.THERAPIST

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if (
            Membership.objects.for_practice(self.practice)
            .active()
            .filter(user__email__iexact=email)
            .exists()
        ):
            raise forms.ValidationError(_("This person is already a member of the practice."))
        return email


class MembershipRoleForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("role",)


class PracticeSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices)

    class Meta:
        model = Practice
        fields = (
            "name",
            "time_zone",
            "currency",
            "language",
            "reminder_hours",
            # The letterhead of receipts and exported records.
            "legal_name",
            "tax_id",
            "address",
            "phone",
            "email",
        )
        help_texts = {"currency": _("Three-letter code, e.g. BRL, EUR, USD.")}
        widgets = {
            "reminder_hours": forms.NumberInput(
                attrs={"min": 0, "max": MAX_REMINDER_HOURS, "step": 1, "inputmode": "numeric"}
            ),
            "address": forms.Textarea(attrs={"rows": 3}),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        }
        error_messages = {
            "reminder_hours": {
                "required": _("Enter a number of hours, or 0 to send no reminders."),
                "invalid": _("Enter a whole number of hours, or 0 to send no reminders."),
                "min_value": _("Enter a number of hours, or 0 to send no reminders."),
            }
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            # Starting a practice asks only the essentials; the rest waits for Settings.
            for name in ("reminder_hours", "legal_name", "tax_id", "address", "phone", "email"):
                del self.fields[name]

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean_reminder_hours(self) -> int:
        hours: int = self.cleaned_data["reminder_hours"]
        if hours > MAX_REMINDER_HOURS:
            raise forms.ValidationError(
                _("Reminders can go out at most %(max)d hours (%(days)d days) ahead."),
                code="max_value",
                params={"max": MAX_REMINDER_HOURS, "days": MAX_REMINDER_HOURS // 24},
            )
        return hours


class PlanForm(forms.ModelForm):
    class Meta:
        model = Practice
        fields = ("plan",)
        widgets = {"plan": forms.RadioSelect}


class TranscriptRetentionForm(forms.ModelForm):
    """How long transcripts are kept: empty follows the plan, 0 keeps them for good."""

    class Meta:
        model = Practice
        fields = ("transcript_retention_days",)
        widgets = {
            "transcript_retention_days": forms.NumberInput(
                attrs={
                    "min": 0,
                    "max": MAX_TRANSCRIPT_RETENTION_DAYS,
                    "step": 1,
                    "inputmode": "numeric",
                }
            )
        }
        error_messages = {
            "transcript_retention_days": {
                "invalid": _("Enter a whole number of days, 0, or nothing."),
                "min_value": _("A number of days can’t be negative. Enter 0 to keep transcripts."),
            }
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["transcript_retention_days"]
        default = PLAN_TRANSCRIPT_RETENTION_DAYS.get(self.instance.plan)
        field.help_text = _(
            "Transcripts are deleted this many days after their recording; session notes and "
            "clinical notes stay. Enter 0 to keep them, or leave it empty for your plan’s "
            "default (%(default)s)."
        ) % {"default": _("%(days)d days") % {"days": default} if default else _("keep them")}

    def clean_transcript_retention_days(self) -> int | None:
        days: int | None = self.cleaned_data["transcript_retention_days"]
        if days is not None and days > MAX_TRANSCRIPT_RETENTION_DAYS:
            raise forms.ValidationError(
                _("Enter at most %(max)d days (ten years), or 0 to keep transcripts for good."),
                code="max_value",
                params={"max": MAX_TRANSCRIPT_RETENTION_DAYS},
            )
        return days


class AccountForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "language")


class TwoFactorCodeForm(forms.Form):
    """The six digits of the authenticator app, checked by django-otp (a used code is
    refused, and each wrong one doubles the wait before the next)."""

    code = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=9,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "size": 9,
            }
        ),
    )

    def __init__(self, *args: Any, device: TOTPDevice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not (code.isdigit() and len(code) == 6):
            raise forms.ValidationError(_("Enter the six digits your app shows."), code="format")
        if self.has_error("password"):
            return code  # no code is spent on a wrong password
        allowed, why = self.device.verify_is_allowed()
        if not allowed:
            locked_until = (why or {}).get("locked_until") or timezone.now()
            wait = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
            raise forms.ValidationError(
                _("Too many wrong codes. Wait %(seconds)d seconds, then try again."),
                code="throttled",
                params={"seconds": wait},
            )
        if not self.device.verify_token(code):
            raise forms.ValidationError(
                _("That code isn’t right, or was used already. Enter the code your app shows now."),
                code="wrong",
            )
        return code


class TwoFactorSetupForm(PasswordAgainMixin, TwoFactorCodeForm):
    """The first code of a new app; replacing an app also asks for the password."""

    def __init__(self, *args: Any, replacing_for: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.password_user = replacing_for
        if replacing_for is None:
            del self.fields["password"]
        else:  # the password first, then the code
            self.order_fields(["password", "code"])
