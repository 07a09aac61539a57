from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from practice.models import Practice
from therapies.models import TherapyType


class TherapyTypeForm(forms.ModelForm):
    class Meta:
        model = TherapyType
        fields = ("name", "description", "default_duration", "price", "colour", "is_active")
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "colour": forms.TextInput(attrs={"type": "color"}),
            "default_duration": forms.NumberInput(attrs={"step": 5}),
            "price": forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        }

    def __init__(self, *args: Any, practice: Practice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.practice = practice
        self.fields["price"].label = _("Price (%(currency)s)") % {"currency": practice.currency}
        self.fields["default_duration"].help_text = _(
            "Prefilled when an appointment of this type is booked."
        )

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        clash = TherapyType.objects.for_practice(self.practice).filter(name__iexact=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(_("This practice already has a therapy with this name."))
        return name
