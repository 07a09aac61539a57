"""Hypothesis fuzzing of every form and of the views that take them.

Every Django form class of the project (found by importing the apps' form modules) is fed
random data — text with NUL bytes, any unicode, huge strings, numbers, dates in odd
formats, several values for one key, missing keys — and `is_valid()` must never raise.
Then the same kind of data is POSTed to each create/edit endpoint (a recording upload gets
random bytes as its file): never a 500, and when the answer is a form error nothing in
the database changed.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django import forms
from django.contrib.messages import constants as message_levels
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from django.test import RequestFactory
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from practice.models import Membership
from sessions.models import Speaker
from tests.conftest import PracticeObjects, login
from tests.factories import authenticator
from tests.practice.test_attack_suite import fingerprint

FORM_MODULES = (
    "practice.forms",
    "patients.forms",
    "sessions.forms",
    "sessions.note_template_forms",
    "payments.forms",
    "therapies.forms",
    "therapies.formbuilder",
    "therapies.schema",
)


def discovered_forms() -> list[type[forms.BaseForm]]:
    found = []
    for name in FORM_MODULES:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, forms.BaseForm) and cls.__module__ == name:
                found.append(cls)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


FORMS = discovered_forms()


# How to build the forms that need more than data: keyword arguments from the world of
# one practice (`o`, the planted objects; `m`, the Owner's membership).
def _kwargs(o: PracticeObjects, m: Membership) -> dict[str, Callable[[], dict[str, Any]]]:
    rf = RequestFactory()
    return {
        "EmailAuthenticationForm": lambda: {"request": rf.post("/accounts/login/")},
        "AcceptInvitationForm": lambda: {"email": "new@example.com"},
        "InvitationForm": lambda: {"practice": o.practice},
        "MembershipRoleForm": lambda: {"instance": o.membership},
        "PracticeSettingsForm": lambda: {"instance": o.practice},
        "PlanForm": lambda: {"instance": o.practice},
        "AccountForm": lambda: {"instance": m.user},
        "TwoFactorCodeForm": lambda: {"device": authenticator(m.user)},
        "TwoFactorSetupForm": lambda: {"device": authenticator(m.user)},
        "PatientForm": lambda: {"practice": o.practice, "instance": o.patient},
        "TherapistsForm": lambda: {"practice": o.practice, "patient": o.patient},
        "PatientFilterForm": lambda: {"therapists": [m.user], "tags": ["anxiety"]},
        "PatientEraseForm": lambda: {
            "patient": o.patient,
            "user": m.user,
            "blocked_until": date(2031, 1, 1),
        },
        "AppointmentForm": lambda: {"membership": m, "appointment": o.appointment},
        "CancelForm": lambda: {"appointment": o.appointment},
        "RecordForm": lambda: {"practice": o.practice, "kept": o.therapy_type},
        "WalkInForm": lambda: {"membership": m},
        "SegmentForm": lambda: {"recording": o.recording},
        "SpeakerForm": lambda: {"instance": Speaker.objects.filter(recording=o.recording)[0]},
        "GenerateNotesForm": lambda: {
            "templates": {},
            "recordings": o.recording.appointment.recordings.all(),
        },
        "AssistForm": lambda: {"sections": o.proposal.base.content["sections"]},
        "NoteTemplateForm": lambda: {"practice": o.practice, "template": o.note_template},
        "TherapyTypeForm": lambda: {"practice": o.practice, "instance": o.therapy_type},
        "ChargeForm": lambda: {"currency": "BRL"},
        "CustomFieldsForm": lambda: {"schema": o.therapy_type.custom_fields},
    }


def _build(cls: type[forms.BaseForm], o, m, data, files) -> forms.BaseForm:
    kwargs = _kwargs(o, m).get(cls.__name__, dict)()
    if cls.__name__ == "CustomFieldsForm":
        return cls(kwargs.pop("schema"), data, files, **kwargs)  # type: ignore[call-arg]
    if cls.__name__ == "EmailAuthenticationForm":
        return cls(kwargs.pop("request"), data, files)  # type: ignore[call-arg]
    return cls(data, files, **kwargs)


ODD_DATES = st.dates(min_value=date(1, 1, 1)).flatmap(
    lambda d: st.sampled_from(
        [
            d.isoformat(),
            d.strftime("%d/%m/%Y"),
            d.strftime("%m/%d/%y"),
            d.strftime("%Y%m%d"),
            f"{d.isoformat()}T25:61",
            f"{d.day}/{d.month}",
        ]
    )
)
VALUES = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")).map(lambda s: f"\x00{s}\x00"),
    st.sampled_from(["", " ", "\x00", "on", "true", "-1", "0", "1e309", "NaN", "inf", "[]"]),
    st.sampled_from(["99/99/9999", "2024-02-30", "31/12/2024", "12:60", "24:00", "1:2:3"]),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=True).map(str),
    ODD_DATES,
    st.integers(min_value=1, max_value=300_000).map(lambda n: "x" * n),
)


def fuzzed(names: list[str]) -> st.SearchStrategy[QueryDict]:
    """A form's keys (each missing, or with one to three values) and some stray ones."""

    def build(chosen: dict[str, list[str]]) -> QueryDict:
        data = QueryDict(mutable=True)
        for key, values in chosen.items():
            data.setlist(key, values)
        return data

    known = st.fixed_dictionaries(
        {}, optional={name: st.lists(VALUES, min_size=1, max_size=3) for name in names}
    )
    stray = st.dictionaries(st.text(max_size=10), st.lists(VALUES, min_size=1, max_size=2))
    return st.tuples(known, stray).map(lambda kv: build({**kv[1], **kv[0]}))


RANDOM_FILES = st.binary(max_size=4096).flatmap(
    lambda data: st.sampled_from(["a.wav", "b.mp3", "c.webm", "d.txt", "e", "f.wav.exe"]).map(
        lambda name: SimpleUploadedFile(name, data, content_type="audio/wav")
    )
)


def _field_names(form: forms.BaseForm) -> list[str]:
    return [form.add_prefix(name) for name in form.fields]


@pytest.fixture
def world(other_practice_objects, outsider) -> tuple[PracticeObjects, Membership]:
    """One practice's objects (conftest's practice B) and its Owner."""
    practice = other_practice_objects.practice
    return other_practice_objects, Membership.objects.get(practice=practice, user=outsider)


def test_every_form_class_is_fuzzed():
    assert len(FORMS) >= 25
    assert {"PatientForm", "AppointmentForm", "RecordingUploadForm"} <= {f.__name__ for f in FORMS}


# FUZZ_EXAMPLES=500 ./holos test tests/practice/test_fuzz.py digs deeper.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))


@pytest.mark.parametrize("form_class", FORMS, ids=lambda cls: cls.__name__)
@settings(
    max_examples=EXAMPLES or 30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_is_valid_never_raises(form_class, data, world):
    objects, membership = world
    names = _field_names(_build(form_class, objects, membership, None, None))
    post = data.draw(fuzzed(names))
    files = MultiValueDict()
    for name, field in _build(form_class, objects, membership, None, None).fields.items():
        if isinstance(field, forms.FileField) and data.draw(st.booleans()):
            files[name] = data.draw(RANDOM_FILES)
    form = _build(form_class, objects, membership, post, files)
    form.is_valid()  # must not raise


# --- Through the views -----------------------------------------------------------------
# route, its parameters from the planted objects, and the forms whose fields to fuzz
# (several where one page posts several forms).
Endpoint = tuple[str, Callable[[PracticeObjects], dict[str, Any]], str]
SESSION_FORMS = "RecordForm CustomFieldsForm ChargeForm"
ENDPOINTS: list[Endpoint] = [
    ("patients:create", lambda o: {}, "PatientForm"),
    ("patients:edit", lambda o: {"pk": o.patient.pk}, "PatientForm"),
    ("patients:erase", lambda o: {"pk": o.patient.pk}, "PatientEraseForm"),
    ("sessions:appointment_new", lambda o: {}, "AppointmentForm"),
    ("sessions:appointment_edit", lambda o: {"pk": o.appointment.pk}, "AppointmentForm"),
    ("sessions:appointment_cancel", lambda o: {"pk": o.appointment.pk}, "CancelForm"),
    ("sessions:appointment_move", lambda o: {"pk": o.appointment.pk}, "MoveForm"),
    ("sessions:record", lambda o: {"pk": o.appointment.pk}, SESSION_FORMS),
    ("sessions:walk_in", lambda o: {}, "WalkInForm"),
    ("sessions:edit", lambda o: {"pk": o.session.pk}, SESSION_FORMS),
    ("sessions:amend", lambda o: {"pk": o.session.pk}, "AmendForm"),
    ("sessions:note_template_new", lambda o: {}, "NoteTemplateForm"),
    ("sessions:note_template_edit", lambda o: {"pk": o.note_template.pk}, "NoteTemplateForm"),
    ("therapies:create", lambda o: {}, "TherapyTypeForm"),
    ("therapies:edit", lambda o: {"pk": o.therapy_type.pk}, "TherapyTypeForm"),
    ("therapies:field_add", lambda o: {"pk": o.therapy_type.pk}, "FieldDefinitionForm"),
    ("payments:mark_paid", lambda o: {"pk": o.payment.pk}, "MarkPaidForm"),
    ("practice:member_invite", lambda o: {}, "InvitationForm"),
    ("practice:member_role", lambda o: {"pk": o.membership.pk}, "MembershipRoleForm"),
    ("practice:settings", lambda o: {}, "PracticeSettingsForm"),
    ("practice:plan", lambda o: {}, "PlanForm"),
    ("accounts:account", lambda o: {}, "AccountForm"),
    ("sessions:recording_upload", lambda o: {"pk": o.appointment.pk}, "RecordingUploadForm"),
    (
        "sessions:segment_edit",
        lambda o: {"pk": o.recording.pk, "segment": o.segment.pk},
        "SegmentForm",
    ),
    ("sessions:recording_speakers", lambda o: {"pk": o.recording.pk}, "SpeakerFormSet"),
    ("sessions:notes", lambda o: {"pk": o.appointment.pk}, "GenerateNotesForm"),
    ("sessions:note_assist", lambda o: {"pk": o.clinical_note.pk}, "AssistForm"),
    (
        "sessions:note_section",
        lambda o: {"pk": o.clinical_note.pk, "key": "subjective"},
        "SectionEditForm",
    ),
]
FORMS_BY_NAME = {cls.__name__: cls for cls in FORMS}


def _forget_messages(client) -> None:
    client.cookies.pop("messages", None)
    session = client.session
    if session.pop("_messages", None) is not None:
        session.save()


def _is_form_error(response) -> bool:
    """A refusal of the input: 400 or 422, a page drawn again with its errors, or a
    redirect back with an error message (the amendment and assistant forms)."""
    if any(m.level == message_levels.ERROR for m in get_messages(response.wsgi_request)):
        return True
    if response.get("HX-Redirect") or response.get("HX-Location"):
        return False
    return response.status_code in (400, 422) or (
        response.status_code == 200 and b'class="errorlist"' in response.content
    )


@pytest.mark.slow
@pytest.mark.parametrize("route,params,form_name", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
@settings(
    max_examples=EXAMPLES or 15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzzed_posts_never_fail_and_save_nothing_on_error(
    route, params, form_name, data, world, client
):
    objects, membership = world
    login(client, membership.user)
    names: list[str] = []
    files: list[str] = []
    for name in form_name.split():
        if name == "SpeakerFormSet":  # its management form and one speaker's fields
            names += [f"speakers-{key}" for key in ("TOTAL_FORMS", "INITIAL_FORMS")]
            names += [f"speakers-0-{key}" for key in ("id", "role", "name")]
            continue
        form = _build(FORMS_BY_NAME[name], objects, membership, None, None)
        names += _field_names(form)
        files += [n for n, f in form.fields.items() if isinstance(f, forms.FileField)]
    post = data.draw(fuzzed(names))
    payload: dict[str, Any] = {key: post.getlist(key) for key in post}
    for name in files:
        payload[name] = data.draw(RANDOM_FILES)
    htmx = data.draw(st.booleans())
    _forget_messages(client)  # an earlier example's message is not this answer's
    before = fingerprint()
    response = client.post(
        reverse(route, kwargs=params(objects)),
        payload,
        headers={"HX-Request": "true"} if htmx else {},
    )
    assert response.status_code < 500
    event(f"{response.status_code} {'form error' if _is_form_error(response) else ''}")
    if _is_form_error(response):
        assert fingerprint() == before


def test_a_form_error_is_recognised(world, client):
    """The control for _is_form_error: an empty patient form is one, and saves nothing."""
    objects, membership = world
    login(client, membership.user)
    before = fingerprint()
    response = client.post(reverse("patients:create"), {"full_name": ""})
    assert _is_form_error(response)
    # A form that answers with a redirect and an error message.
    response = client.post(reverse("sessions:amend", args=[objects.session.pk]), {"text": ""})
    assert response.status_code == 302 and _is_form_error(response)
    assert fingerprint() == before
    # ...and a message shown once is not taken for the next answer's.
    _forget_messages(client)
    assert not _is_form_error(client.get(reverse("patients:index")))
