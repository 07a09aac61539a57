from __future__ import annotations

import logging

from celery import shared_task

from sessions.reminders import appointment_reminder_send, appointments_due_reminder

log = logging.getLogger(__name__)


@shared_task
def appointment_reminders_send() -> int:
    """Beat job: send every reminder that is due; return how many went out. A reminder
    that fails to send is released and tried again by the next run."""
    sent = 0
    for appointment_id in list(appointments_due_reminder().values_list("pk", flat=True)):
        try:
            sent += appointment_reminder_send(appointment_id=appointment_id)
        except OSError:  # smtplib.SMTPException is an OSError
            log.warning("Reminder for appointment %s not sent", appointment_id, exc_info=True)
    return sent


# smtplib.SMTPException is an OSError, so this also retries on SMTP errors.
@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def appointment_reminder_send_one(appointment_id: int) -> bool:
    """Send one appointment's reminder if it is (still) due."""
    return appointment_reminder_send(appointment_id=appointment_id)


@shared_task
def transcripts_expire() -> dict[int, int]:
    """Beat job, daily: delete transcripts past their practice's retention (notes stay).
    Returns {practice id: transcripts deleted}: ids and counts only."""
    from sessions.services.retention import transcripts_expire_all

    return transcripts_expire_all()
