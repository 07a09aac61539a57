from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db.models import F, Func, Prefetch, Q

from patients.normalise import fold, phone_digits
from practice.querysets import PracticeQuerySet

if TYPE_CHECKING:
    from patients.models import ConsentEvent, Patient  # noqa: F401
    from practice.models import Membership, User

TREAT_PATIENT = "treat_patient"


class PatientQuerySet(PracticeQuerySet["Patient"]):
    def visible_to(self, membership: Membership) -> Self:
        """The patients a member may see, and so reach by any URL: the whole practice for
        Owners and Assistants, only the patients assigned to them for Therapists.

        Every patient view, list and search starts here; a patient outside it answers 404,
        exactly like a missing one."""
        if not membership.is_active:
            return self.none()
        patients = self.for_practice(membership.practice)
        if membership.is_therapist:
            patients = patients.assigned_to(membership.user_id)
        return patients

    def assigned_to(self, user: User | int) -> Self:
        """Patients on whom `user` holds `patients.treat_patient`: one indexed join on
        guardian's direct-foreign-key table (PatientUserObjectPermission)."""
        return self.filter(
            user_permissions__user=user, user_permissions__permission__codename=TREAT_PATIENT
        )

    def active(self) -> Self:
        return self.filter(archived_at__isnull=True)

    def archived(self) -> Self:
        return self.filter(archived_at__isnull=False)

    def search(self, query: str) -> Self:
        """Patients whose name, preferred name or email contains every word of `query`,
        ignoring case and accents ("joao" finds "João", "JOÃO" finds "joão"), or whose
        phone contains the digits of a query that looks like a phone number."""
        words = fold(query).split()
        if not words:
            return self
        condition = Q()
        for word in words:
            condition &= Q(search_text__contains=word)
        digits = phone_digits(query)
        if len(digits) >= 3:
            condition |= Q(phone_digits__contains=digits)
        return self.filter(condition)

    def with_tag(self, tag: str) -> Self:
        return self.filter(tags__contains=[tag])

    def by_name(self) -> Self:
        # search_text starts with the folded full name, so "Álvaro" sorts beside "Alvaro"
        # whatever the database's collation.
        return self.order_by("search_text", "pk")

    def newest_first(self) -> Self:
        return self.order_by("-created_at", "-pk")

    def with_therapists(self) -> Self:
        """Prefetch the assigned therapists into `patient.therapist_grants`, for
        `Patient.therapists`: one query for the whole page."""
        from patients.models import PatientUserObjectPermission

        grants = (
            PatientUserObjectPermission.objects.filter(permission__codename=TREAT_PATIENT)
            .select_related("user")
            .order_by("user__first_name", "user__last_name", "user__email")
        )
        return self.prefetch_related(
            Prefetch("user_permissions", queryset=grants, to_attr="therapist_grants")
        )

    def tag_names(self) -> list[str]:
        """Every tag in use on these patients, in alphabetical order."""
        unnested = (
            self.order_by()
            .annotate(tag=Func(F("tags"), function="unnest"))
            .values_list("tag", flat=True)
            .distinct()
        )
        return sorted(unnested, key=fold)


class ConsentEventQuerySet(PracticeQuerySet["ConsentEvent"]):
    def of_patient(self, patient: Patient) -> Self:
        return self.filter(practice_id=patient.practice_id, patient=patient)
