"""Writes of the sessions app, by sub-domain: `appointments` (the calendar) and `records`
(what happened in a session). The names callers use are re-exported here."""

from sessions.services.appointments import (
    MAX_OCCURRENCES,
    MAX_SERIES_SPAN,
    Booking,
    Repeat,
    appointment_book,
    appointment_book_series,
    appointment_cancel,
    appointment_cancel_following,
    appointment_confirm,
    appointment_mark_no_show,
    appointment_update,
    appointment_update_following,
    describe_when,
    occurrences,
)

__all__ = [
    "MAX_OCCURRENCES",
    "MAX_SERIES_SPAN",
    "Booking",
    "Repeat",
    "appointment_book",
    "appointment_book_series",
    "appointment_cancel",
    "appointment_cancel_following",
    "appointment_confirm",
    "appointment_mark_no_show",
    "appointment_update",
    "appointment_update_following",
    "describe_when",
    "occurrences",
]
