"""The Owner's note-template editor: the template's details and its sections.

The sections are a formset that works without JavaScript: "Add a section" and the arrows
post the form back and the page comes again with the rows as typed (see
sessions/views/note_templates.py). A row's key is a hidden field: kept for the sections a
template already has, derived from the title for new ones by
`services.note_templates.clean_sections`, which also checks everything again.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.formsets import DELETION_FIELD_NAME
from django.utils.translation import gettext_lazy as _

from practice.models import Practice
from sessions.models import NoteTemplate
from sessions.note_templates import MAX_INSTRUCTION, MAX_SECTIONS, MAX_TITLE, SECTION_KEY_RE
from sessions.services.note_templates import (
    MAX_DESCRIPTION,
    MAX_NAME,
    clean_field_keys,
    name_problem,
)
from therapies.models import TherapyType
from therapies.schema import MAX_KEY

SECTIONS_PREFIX = "sections"


class FieldKeysField(forms.MultipleChoiceField):
    """Checkboxes for the custom fields of the chosen therapy. The form's clean() checks
    the keys against the therapy chosen in the same post, with a clearer message than
    "not one of the available choices"."""

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")


class NoteTemplateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=MAX_NAME)
    description = forms.CharField(
        label=_("Description"),
        max_length=MAX_DESCRIPTION,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Shown beside the name when a therapist chooses a template."),
    )
    therapy_type = forms.ModelChoiceField(
        label=_("Therapy"),
        queryset=TherapyType.objects.none(),
        required=False,
        empty_label=_("Any therapy"),
        help_text=_(
            "Optional. A template for one therapy can also propose values for that "
            "therapy’s custom fields."
        ),
    )
    field_keys = FieldKeysField(
        label=_("Custom fields the AI proposes values for"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The therapist confirms or declines every proposed value."),
    )

    def __init__(
        self, *args: Any, practice: Practice, template: NoteTemplate | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.practice = practice
        self.template = template
        # Active therapies, and the template's own even if it was deactivated since.
        offered = Q(is_active=True)
        if template is not None and template.therapy_type_id is not None:
            offered |= Q(pk=template.therapy_type_id)
        therapies = TherapyType.objects.for_practice(practice).filter(offered).order_by("name")
        self.therapies = {t.pk: t for t in therapies}
        therapy_field = self.fields["therapy_type"]
        assert isinstance(therapy_field, forms.ModelChoiceField)
        therapy_field.queryset = therapies
        self.chosen_therapy = self._chosen_therapy()
        keys_field = self.fields["field_keys"]
        assert isinstance(keys_field, forms.MultipleChoiceField)
        keys_field.choices = [
            (f["key"], f["label"])
            for f in (self.chosen_therapy.custom_fields if self.chosen_therapy else [])
        ]

    def _chosen_therapy(self) -> TherapyType | None:
        """The therapy whose fields the checkboxes offer: the one posted, else the initial."""
        if self.is_bound:
            raw = self.data.get(self.add_prefix("therapy_type"))
        else:
            raw = self.initial.get("therapy_type")
        if isinstance(raw, TherapyType):
            raw = raw.pk
        try:
            return self.therapies.get(int(str(raw)))
        except ValueError:
            return None

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        problem = name_problem(
            self.practice, name, exclude_pk=self.template.pk if self.template else None
        )
        if problem:
            raise ValidationError(problem)
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "therapy_type" in self.errors or "field_keys" in self.errors:
            return cleaned
        try:
            cleaned["field_keys"] = clean_field_keys(
                self.practice, cleaned.get("therapy_type"), cleaned.get("field_keys") or []
            )
        except ValidationError as error:
            self.add_error("field_keys", error)
        return cleaned

    def raw_values(self) -> dict[str, Any]:
        """What was posted, as initial values for showing the form again without errors."""
        return {name: self[name].value() for name in self.fields}


class SectionForm(forms.Form):
    key = forms.CharField(required=False, widget=forms.HiddenInput)
    title = forms.CharField(label=_("Title"), max_length=MAX_TITLE, required=False)
    instruction = forms.CharField(
        label=_("Instruction for the AI"),
        max_length=MAX_INSTRUCTION,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_blank = False

    def clean_key(self) -> str:
        # Hidden and never typed: an unusable key is replaced by one derived from the title.
        key = self.cleaned_data["key"].strip()
        return key if len(key) <= MAX_KEY and SECTION_KEY_RE.match(key) else ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        title, instruction = cleaned.get("title", ""), cleaned.get("instruction", "")
        # A row left blank is no section (an "Add a section" row nobody filled in).
        self.is_blank = not title and not instruction
        if not self.is_blank:
            if not title:
                self.add_error("title", _("Give this section a title."))
            if not instruction:
                self.add_error("instruction", _("Tell the AI what to write in this section."))
        return cleaned


class BaseSectionFormSet(forms.BaseFormSet):
    """The template's sections, in the order of the rows."""

    def __init__(self, *args: Any, extra: int = 0, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", SECTIONS_PREFIX)
        super().__init__(*args, **kwargs)
        self.extra = extra

    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        form.fields[DELETION_FIELD_NAME].label = _("Remove this section")

    def _kept(self) -> list[SectionForm]:
        return [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get(DELETION_FIELD_NAME)
            and not getattr(form, "is_blank", False)
        ]

    def clean(self) -> None:
        if any(self.errors):
            return
        kept = self._kept()
        seen: set[str] = set()
        for form in kept:
            folded = form.cleaned_data["title"].casefold()
            if folded in seen:
                form.add_error("title", _("Another section already has this title."))
            seen.add(folded)
        if not kept:
            raise ValidationError(_("Add at least one section."))
        if len(kept) > MAX_SECTIONS:
            raise ValidationError(
                _("A template has at most %(max)d sections; this one has %(count)d."),
                params={"max": MAX_SECTIONS, "count": len(kept)},
            )

    def sections(self) -> list[dict[str, str]]:
        """The valid sections, in order; keys may be empty (new rows)."""
        return [
            {
                "key": form.cleaned_data["key"],
                "title": form.cleaned_data["title"],
                "instruction": form.cleaned_data["instruction"],
            }
            for form in self._kept()
        ]

    def raw_rows(self) -> list[dict[str, Any]]:
        """Every row as posted, for showing the rows again (added to or reordered)."""
        return [
            {
                "key": form["key"].value() or "",
                "title": form["title"].value() or "",
                "instruction": form["instruction"].value() or "",
                DELETION_FIELD_NAME: bool(form[DELETION_FIELD_NAME].value()),
            }
            for form in self.forms
        ]


SectionFormSet = cast(
    "type[BaseSectionFormSet]",
    forms.formset_factory(
        SectionForm,
        formset=BaseSectionFormSet,
        extra=0,
        can_delete=True,
        # Shown rows; more posted rows are validated (and refused) by clean().
        max_num=MAX_SECTIONS,
        absolute_max=MAX_SECTIONS * 2,
    ),
)
