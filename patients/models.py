from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from patients.querysets import PatientQuerySet
from practice.models import PracticeOwned


class Patient(PracticeOwned):
    """A person treated by the practice. Therapists are assigned with the object
    permission `patients.treat_patient` (django-guardian)."""

    full_name = models.CharField(_("full name"), max_length=200)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ("full_name",)
        permissions: ClassVar = [("treat_patient", _("Can treat this patient"))]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["practice", "full_name", "email"], name="patient_unique_in_practice"
            )
        ]

    def __str__(self) -> str:
        return self.full_name
