"""What the sessions app's clinical views share: the services' common arguments, the
first message of a ValidationError, responses kept out of caches, and the appointments
whose audio and notes a member may work on."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from practice.http import PracticeRequest, client_ip
from sessions.models import Appointment
from sessions.services.recordings import may_record


def acting(request: PracticeRequest) -> dict[str, Any]:
    """Who does it, where, and from which address: the services' common arguments."""
    return {"practice": request.practice, "actor": request.user, "ip": client_ip(request)}


def first_error(error: ValidationError) -> str:
    return str(error.messages[0]) if error.messages else _("That did not work.")


def no_store(response: HttpResponse) -> HttpResponse:
    """Pages with clinical content are never cached, by the browser or anything between."""
    add_never_cache_headers(response)
    return response


def recordable_appointment(request: PracticeRequest, pk: int) -> Appointment:
    """An appointment whose audio the member may record and whose notes they may draft
    (`may_record`: an Owner, or its own therapist); 404 for anything else."""
    appointment = get_object_or_404(
        Appointment.objects.manageable_by(request.membership).select_related(
            "patient", "therapist", "therapy_type"
        ),
        pk=pk,
    )
    if not may_record(request.membership, appointment):
        raise Http404
    return appointment
