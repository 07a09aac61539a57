from __future__ import annotations

from celery import shared_task

from payments.services import payments_mark_overdue


@shared_task
def payments_overdue() -> int:
    """Beat job: Pending payments past their due date become Overdue (idempotent)."""
    return payments_mark_overdue()
