"""What members ask of Tera that writes and queues work: a patient's treatment summary and
an appointment's briefing, prepared now. Each is audited in the same transaction and its
task queued when the transaction commits (tera.tasks runs tera.insights)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from practice.services import audit_record
from tera.insights import is_stalled
from tera.models import Insight, InsightKind, InsightStatus
from tera.tasks import briefing_prepare, summary_prepare

if TYPE_CHECKING:
    from patients.models import Patient
    from practice.models import Membership
    from sessions.models import Appointment


@transaction.atomic
def summary_request(
    membership: Membership, patient: Patient, *, language: str, ip: str | None = None
) -> Insight:
    """Queue a new summary of `patient` for `membership` (who may read the patient's
    notes: the caller checked). One at a time: a summary being prepared is left to
    finish unless it has stalled."""
    insight, created = Insight.objects.select_for_update().get_or_create(
        kind=InsightKind.SUMMARY,
        patient=patient,
        defaults={"practice": membership.practice, "requested_by": membership.user},
    )
    if not created and insight.is_preparing and not is_stalled(insight):
        return insight
    insight.status, insight.failure = InsightStatus.PREPARING, ""
    insight.requested_by, insight.heartbeat_at = membership.user, timezone.now()
    insight.stream_tokens = 0
    insight.save()
    audit_record(
        practice=membership.practice,
        actor=membership.user,
        action="tera.summary",
        target=insight,
        patient_id=patient.pk,
        ip=ip,
    )
    transaction.on_commit(lambda: summary_prepare.delay(insight.pk, membership.pk, language))
    return insight


@transaction.atomic
def briefing_request(
    membership: Membership, appointment: Appointment, *, ip: str | None = None
) -> None:
    """Prepare an appointment's briefing now (the caller checked `may_brief`), whatever
    its failures so far."""
    audit_record(
        practice=membership.practice,
        actor=membership.user,
        action="tera.briefing_prepare",
        target=appointment,
        patient_id=appointment.patient_id,
        ip=ip,
    )
    # Preparing (so the block polls) and from no notes (so the task cannot skip it).
    fresh = {
        "status": InsightStatus.PREPARING,
        "heartbeat_at": timezone.now(),
        "inputs": "",
        "attempts": 0,
        "retry_after": None,
    }
    Insight.objects.update_or_create(
        kind=InsightKind.BRIEFING,
        appointment=appointment,
        defaults=fresh,
        create_defaults=fresh
        | {"practice_id": appointment.practice_id, "patient_id": appointment.patient_id},
    )
    transaction.on_commit(lambda: briefing_prepare.delay(appointment.pk))
