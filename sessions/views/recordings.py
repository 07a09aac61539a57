"""Recording a session's audio and reviewing its transcript.

Scope: an appointment's recordings page answers only to members who may record it
(`services.may_record`: an Owner, or the appointment's own therapist); a recording, its
live text, speakers and segments are fetched through `Recording.objects.visible_to`, the
same barrier as notes. Assistants, other therapists and other practices get 404, as for
an id that does not exist. Pages that show what was said send `Cache-Control: no-store`
and stay out of htmx's history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from practice.http import PracticeRequest, wants_fragment
from practice.models import Role
from practice.permissions import role_required
from sessions.forms import (
    RecordingOptionsForm,
    RecordingUploadForm,
    SegmentForm,
    SpeakerFormSet,
    transcript_language,
)
from sessions.models import Appointment, Recording, RecordingStatus
from sessions.services import recordings as services
from sessions.uploads import InMemoryAudioUploadHandler
from sessions.views.common import acting, first_error, no_store, recordable_appointment

treating_only = role_required(Role.OWNER, Role.THERAPIST, hide=True)
MAX_SEARCH = 200


def _recording(request: PracticeRequest, pk: int) -> Recording:
    return get_object_or_404(
        Recording.objects.visible_to(request.membership).select_related(
            "appointment__therapy_type", "appointment__session", "patient", "therapist"
        ),
        pk=pk,
    )


def _options_initial(request: PracticeRequest) -> dict[str, Any]:
    return {"language": transcript_language(request.practice.language), "speakers_expected": 2}


def _appointment_page(
    request: PracticeRequest,
    appointment: Appointment,
    *,
    options_form: RecordingOptionsForm | None = None,
    upload_form: RecordingUploadForm | None = None,
    status: int = 200,
) -> HttpResponse:
    initial = _options_initial(request)
    context = {
        "appointment": appointment,
        "patient": appointment.patient,
        "recordings": Recording.objects.visible_to(request.membership)
        .filter(appointment=appointment)
        .select_related("started_by"),
        "options_form": options_form or RecordingOptionsForm(initial=initial),
        "upload_form": upload_form or RecordingUploadForm(initial=initial),
        "left": services.recordings_left(request.practice),
        "allowance": services.recordings_per_month(request.practice),
        "max_length": services.max_length_message(),
        "upload_max_mb": settings.RECORDING_UPLOAD_MAX_MB,
        "session": getattr(appointment, "session", None),
    }
    return no_store(render(request, "sessions/recordings.html", context, status=status))


@treating_only
def appointment_recordings(request: PracticeRequest, pk: int) -> HttpResponse:
    """An appointment's recordings, and where to start or upload one."""
    return _appointment_page(request, recordable_appointment(request, pk))


@treating_only
def recording_start(request: PracticeRequest, pk: int) -> HttpResponse:
    appointment = recordable_appointment(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = RecordingOptionsForm(request.POST)
    if not form.is_valid():
        return _appointment_page(request, appointment, options_form=form, status=422)
    try:
        recording = services.recording_start(
            appointment=appointment,
            options=form.options(),
            **acting(request),
        )
    except (ValidationError, PermissionDenied) as error:
        message = (
            first_error(error)
            if isinstance(error, ValidationError)
            else _("You cannot record this appointment.")
        )
        form.add_error(None, message)
        return _appointment_page(request, appointment, options_form=form, status=422)
    return redirect("sessions:recording", recording.pk)


@csrf_exempt  # the upload handler must be set before the CSRF check reads the body
@treating_only
def recording_upload(request: PracticeRequest, pk: int) -> HttpResponse:
    handler = InMemoryAudioUploadHandler(
        request, max_bytes=settings.RECORDING_UPLOAD_MAX_MB * 1024 * 1024
    )
    request.upload_handlers = [handler]
    return _recording_upload(request, pk, handler)


@csrf_protect
def _recording_upload(
    request: PracticeRequest, pk: int, handler: InMemoryAudioUploadHandler
) -> HttpResponse:
    appointment = recordable_appointment(request, pk)
    if request.method != "POST":
        return redirect("sessions:recordings", appointment.pk)
    form = RecordingUploadForm(request.POST, request.FILES, too_large=handler.too_large)
    if not form.is_valid():
        return _appointment_page(request, appointment, upload_form=form, status=422)
    try:
        recording = services.recording_upload(
            appointment=appointment,
            data=form.cleaned_data["audio"].read(),
            options=form.options(),
            **acting(request),
        )
    except ValidationError as error:
        field = "audio" if error.code in ("empty", "not_audio", "too_long") else None
        form.add_error(field, first_error(error))
        return _appointment_page(request, appointment, upload_form=form, status=422)
    except PermissionDenied:
        raise Http404 from None
    messages.success(request, _("The file was uploaded and is being transcribed."))
    return redirect("sessions:recording", recording.pk)


@treating_only
def recording_detail(request: PracticeRequest, pk: int) -> HttpResponse:
    """The recorder while recording; progress while transcribing; then the transcript,
    with search, speaker names and corrections. An htmx poll gets only #recording-state."""
    recording = _recording(request, pk)
    polling = wants_fragment(request) and request.GET.get("part") == "state"
    if polling and not (recording.is_recording or recording.is_processing):
        return HttpResponseClientRefresh()  # finished: the whole page changes
    query = request.GET.get("q", "").strip()[:MAX_SEARCH]
    # A poll shows only the live text; the page, the final transcript.
    segments = [] if polling else list(recording.segments.select_related("speaker"))
    segment_count = len(segments)
    if query:  # the text is encrypted at rest: one recording's segments are searched here
        wanted = query.casefold()
        segments = [segment for segment in segments if wanted in segment.text.casefold()]
    if not polling:
        services.transcript_open(recording=recording, **acting(request))
    context = {
        "recording": recording,
        "appointment": recording.appointment,
        "patient": recording.patient,
        "session": getattr(recording.appointment, "session", None),
        "live_texts": recording.live_texts.all(),
        "segments": segments,
        "query": query,
        "segment_count": segment_count,
        "speakers": SpeakerFormSet(queryset=recording.speakers.all(), prefix="speakers"),
        "may_record": services.may_record(request.membership, recording.appointment),
        "chunk_seconds": settings.RECORDING_CHUNK_SECONDS,
        "max_seconds": settings.RECORDING_MAX_SECONDS,
        "next_seq": _next_seq(recording),
    }
    template = "sessions/recording.html"
    if polling:
        template += "#recording-state"
    return no_store(render(request, template, context))


@treating_only
def recording_chunk(request: PracticeRequest, pk: int, seq: int) -> HttpResponse:
    """One piece of audio from the browser's recorder (the raw request body). Answers
    JSON, which the recorder reads: 201 stored, 200 already had it, 4xx with a message."""
    recording = _recording(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        created = services.recording_add_chunk(
            practice=request.practice,
            actor=request.user,
            recording=recording,
            seq=seq,
            data=request.body,
        )
    except ValidationError as error:
        return JsonResponse({"error": first_error(error), "code": error.code}, status=422)
    except PermissionDenied:
        raise Http404 from None
    recording.refresh_from_db(fields=["audio_seconds"])
    return JsonResponse(
        {"seq": seq, "seconds": round(recording.audio_seconds, 1)}, status=201 if created else 200
    )


def _next_seq(recording: Recording) -> int:
    """The number the recorder gives its next piece: after the last one stored."""
    last = recording.chunks.aggregate(last=Max("seq"))["last"]
    return 0 if last is None else last + 1


def _after_action(request: PracticeRequest, recording: Recording) -> HttpResponse:
    url = reverse("sessions:recording", args=[recording.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _recording_post(
    request: PracticeRequest, pk: int, action: Callable[..., Recording]
) -> HttpResponse:
    """A POST that hands a recording to one service and goes back to its page."""
    recording = _recording(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        action(recording=recording, **acting(request))
    except ValidationError as error:
        messages.error(request, first_error(error))
    except PermissionDenied:
        raise Http404 from None
    return _after_action(request, recording)


@treating_only
def recording_stop(request: PracticeRequest, pk: int) -> HttpResponse:
    return _recording_post(request, pk, services.recording_stop)


@treating_only
def recording_cancel(request: PracticeRequest, pk: int) -> HttpResponse:
    """Asks first (GET), then deletes the audio (POST)."""
    recording = _recording(request, pk)
    if not services.may_record(request.membership, recording.appointment):
        raise Http404
    if request.method != "POST":
        return no_store(render(request, "sessions/recording_cancel.html", {"recording": recording}))
    try:
        services.recording_cancel(recording=recording, **acting(request))
    except PermissionDenied:
        raise Http404 from None
    messages.success(request, _("The recording was cancelled and its audio deleted."))
    return redirect("sessions:recordings", recording.appointment_id)


@treating_only
def recording_retry(request: PracticeRequest, pk: int) -> HttpResponse:
    return _recording_post(request, pk, services.recording_retry)


@treating_only
def recording_speakers(request: PracticeRequest, pk: int) -> HttpResponse:
    recording = _recording(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    formset = SpeakerFormSet(request.POST, queryset=recording.speakers.all(), prefix="speakers")
    if formset.is_valid():
        names = {
            form.instance.pk: (form.cleaned_data.get("role", ""), form.cleaned_data.get("name", ""))
            for form in formset.forms
        }
        try:
            services.speakers_name(
                recording=recording,
                names=names,
                **acting(request),
            )
        except ValidationError as error:
            messages.error(request, first_error(error))
        else:
            messages.success(request, _("Speakers saved."))
    else:
        messages.error(request, _("Check the speakers' names."))
    return redirect("sessions:recording", recording.pk)


@treating_only
def segment_edit(request: PracticeRequest, pk: int, segment: int) -> HttpResponse:
    """Correct one segment. htmx swaps the segment's row for the form and back."""
    recording = _recording(request, pk)
    item = get_object_or_404(recording.segments.select_related("speaker"), pk=segment)
    if recording.status != RecordingStatus.DONE:
        raise Http404

    def respond(form: SegmentForm | None, status: int = 200) -> HttpResponse:
        context = {"recording": recording, "segment": item, "form": form, "query": ""}
        template = "sessions/recording_segment.html"
        if wants_fragment(request):
            template += "#segment"
        return no_store(render(request, template, context, status=status))

    if request.method == "POST":
        form = SegmentForm(request.POST, recording=recording)
        if form.is_valid():
            try:
                item = services.transcript_segment_edit(
                    segment=item,
                    text=form.cleaned_data["text"],
                    speaker=form.cleaned_data["speaker"],
                    **acting(request),
                )
            except ValidationError as error:
                form.add_error("text", first_error(error))
            else:
                if not request.htmx:
                    url = reverse("sessions:recording", args=[recording.pk])
                    return redirect(f"{url}#segment-{item.pk}")
                return respond(None)
        return respond(form, status=422)
    if "cancel" in request.GET:
        return respond(None)
    return respond(
        SegmentForm(recording=recording, initial={"text": item.text, "speaker": item.speaker})
    )
