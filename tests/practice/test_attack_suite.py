"""The attack suite: every role of practice A, and the Owner of practice B, asks for every
URL of the project with the ids of objects they must not reach.

Canaries (tests/sessions/test_barrier.py's `plant`: session notes, custom-field values,
amendments, transcript segments, live text, AI note versions and proposals, Tera's
insights and the chunks it indexed) are planted in a patient of each practice. Then:

- the Owner, a Therapist, another Therapist and the Assistant of practice A ask for
  practice B's objects, and each Therapist for the objects of the patient the other one
  treats (the Owner reads all of A's patients; the Assistant's view of A's own patients is
  tests/sessions/test_barrier.py's sweep, where scheduling and payment pages are hers);
- the Owner of practice B asks for practice A's objects;

by GET and POST (with a form that would do something if the view let it through), with
and without HX-Request; and the routes naming an object inside another (NESTED) with the
attacker's own outer object and the victim's inner one. Each answer must be 404 (or 403
where that is designed, DESIGNED_403: today none) and byte for byte the answer to the
same request with a missing id. Nothing in the database may change (audit rows included),
and no response body, log line (root logger at DEBUG) or Celery message may carry a
canary. Each attacker also opens every page without an id, searching for "Canary": no
canary there either, and the only 403s are the pages gated against their role
(ROLE_PAGES_403).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from psycopg import sql

from practice.models import Membership, Role, User
from sessions.models import NoteProposal, ProposalStatus
from tests.conftest import PracticeObjects, login
from tests.factories import (
    ClinicalNoteVersionFactory,
    MembershipFactory,
    PatientFactory,
    SessionFactory,
    TranscriptSegmentFactory,
    UserFactory,
)
from tests.practice.test_side_channels import celery_messages, log_lines
from tests.practice.test_url_sweep import SAMPLES, _without_csrf, swept_routes
from tests.sessions.test_barrier import CANARIES, _text, plant

MISSING_ID = 987654321
MISSING_TOKEN = "no-such-token-7Qm2xZ"

# No object route answers 403: the role-gated ones (members, invitations, therapies, note
# templates) are `owner_objects` or look the object up first, so another role gets the
# same 404 as for a missing id. Should one ever answer 403 by design (before any lookup,
# so a missing id gets the same page), name it here with the reason.
DESIGNED_403: dict[str, str] = {}

# The deliberate 403s: pages without an id, gated by role ("this page isn't available to
# your role; ask an Owner"), which say nothing about any object.
OWNER_PAGES = {
    "practice:members": "members and invitations are the Owner's",
    "practice:settings": "the practice's settings are the Owner's",
    "practice:audit": "the audit log is the Owner's",
    "practice:audit_export": "the audit log is the Owner's",
    "therapies:index": "therapy types and their fields are the Owner's",
    "therapies:create": "therapy types and their fields are the Owner's",
    "sessions:note_templates": "note templates are the Owner's",
    "sessions:note_template_new": "note templates are the Owner's",
}
ROLE_PAGES_403: dict[Role, dict[str, str]] = {
    Role.OWNER: {},
    Role.THERAPIST: OWNER_PAGES,
    Role.ASSISTANT: {
        **OWNER_PAGES,
        "sessions:walk_in": "a walk-in session writes a note, which Assistants never do",
    },
}

# A form that would act if a view let it through: every field name our forms use, with
# a plausible value (an Owner's role, an active flag, a note, a time, an amount...).
POST_DATA: dict[str, Any] = {
    "role": Role.OWNER,
    "is_active": "on",
    "active": "false",
    "text": "Attacker wrote this.",
    "full_name": "Attacker",
    "name": "Attacker",
    "email": "attacker@example.com",
    "phone": "+55 11 99999-0000",
    "status": "done",
    "scope": "this",
    "starts_at": "2030-01-01T10:00",
    "date": "2030-01-01",
    "time": "10:00",
    "start": "2030-01-01T10:00",
    "duration": "50",
    "minutes": "50",
    "amount": "100.00",
    "method": "pix",
    "paid_on": "2030-01-01",
    "due_date": "2030-01-01",
    "instruction": "Rewrite it.",
    "action": "accept",
    "decision": "accept",
    "content": "Attacker content.",
    "label": "Attacker",
    "kind": "text",
    "order": "chakras",
    "keys": "chakras",
    "speaker": "1",
    "value": "x",
    "consent": "on",
    "confirm": "on",
    "reason": "x",
    "password": "attacker-password",
    "confirm_name": "Clara Luz",
    "format": "json",
}

# Tables that change on any signed-in request, by design: the session row (last activity,
# for the idle timeout). Everything else must be byte for byte the same after a walk.
VOLATILE_TABLES = {"django_session"}


@dataclass
class Walk:
    """What one attacker's walk found wrong."""

    client: Client
    missing: dict[tuple[str, str, bool], tuple[int, bytes]] = field(default_factory=dict)
    failures: list[tuple] = field(default_factory=list)
    forbidden: set[str] = field(default_factory=set)  # routes that answered 403
    requests: int = 0


def fingerprint() -> dict[str, str]:
    """Row count and a hash of every row of every table but VOLATILE_TABLES."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        )
        tables = [t for (t,) in cursor.fetchall() if t not in VOLATILE_TABLES]
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL(
                "SELECT {name}, count(*)::text || ':' || "
                "md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
            ).format(name=sql.Literal(table), table=sql.Identifier(table))
            for table in tables
        )
        cursor.execute(query)
        return dict(cursor.fetchall())


def _missing_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same route's parameters naming nothing: every id missing, every token unknown
    (a slug like a field key stays: it names no row)."""
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name == "seq" or name == "key":
            out[name] = value
        elif isinstance(value, int):
            out[name] = MISSING_ID
        else:
            out[name] = MISSING_TOKEN
    return out


def _variants() -> Iterator[tuple[str, bool]]:
    for method in ("get", "post"):
        for htmx in (False, True):
            yield method, htmx


def _request(client: Client, method: str, url: str, htmx: bool):
    headers = {"HX-Request": "true"} if htmx else {}
    data = POST_DATA if method == "post" else {}
    return getattr(client, method)(url, data, headers=headers)


def _leaks(response) -> list[str]:
    body = _text(response)
    return [c for c in CANARIES if c in body]


def _attack(walk: Walk, routes: list[str], objects: PracticeObjects, allowed_403: set[str]):
    """Ask for each route with `objects`' ids and compare with a missing id's answer."""
    for route in routes:
        kwargs = SAMPLES[route](objects)
        url = reverse(route, kwargs=kwargs)
        missing_url = reverse(route, kwargs=_missing_kwargs(kwargs))
        expected = {403, 404} if route in allowed_403 else {404}
        for method, htmx in _variants():
            key = (route, method, htmx)
            if key not in walk.missing:
                response = _request(walk.client, method, missing_url, htmx)
                walk.missing[key] = (response.status_code, _without_csrf(response.content))
            response = _request(walk.client, method, url, htmx)
            walk.requests += 1
            status, body = response.status_code, _without_csrf(response.content)
            if status == 403:
                walk.forbidden.add(route)
            if status not in expected:
                walk.failures.append(("status", route, method, htmx, status))
            elif (status, body) != walk.missing[key]:
                walk.failures.append(("differs from a missing id", route, method, htmx, status))
            if response.get("HX-Redirect") is not None:
                walk.failures.append(("HX-Redirect", route, method, htmx, status))
            if found := _leaks(response):
                walk.failures.append(("canary", route, method, htmx, found))


# Routes naming two objects, the second inside the first: asked with the attacker's own
# first object and the victim's second ("a form loaded by id without checking whose").
NESTED = {
    "sessions:segment_edit": ("pk", "recording", "segment", "segment"),
    "sessions:note_proposal": ("pk", "clinical_note", "proposal", "proposal"),
}


@dataclass
class Own:
    """A patient the attacker may read, with a transcript and an AI note of its own."""

    recording: Any
    segment: Any
    clinical_note: Any
    proposal: Any


def own_objects(practice, therapist) -> Own:
    patient = PatientFactory(practice=practice, therapist=therapist)
    session = SessionFactory(practice=practice, patient=patient, therapist=therapist)
    segment = TranscriptSegmentFactory(recording__appointment=session.appointment)
    version = ClinicalNoteVersionFactory(
        note__appointment=session.appointment, note__recording=segment.recording
    )
    proposal = NoteProposal.objects.create(
        practice=practice,
        note=version.note,
        base=version,
        instruction="Shorten",
        status=ProposalStatus.READY,
        sections=version.content["sections"][:1],
    )
    return Own(segment.recording, segment, version.note, proposal)


def _attack_nested(walk: Walk, own: Own, victim: PracticeObjects) -> None:
    for route, (outer, outer_attr, inner, inner_attr) in NESTED.items():
        mine = getattr(own, outer_attr).pk
        url = reverse(route, kwargs={outer: mine, inner: getattr(victim, inner_attr).pk})
        missing_url = reverse(route, kwargs={outer: mine, inner: MISSING_ID})
        for method, htmx in _variants():
            missing = _request(walk.client, method, missing_url, htmx)
            response = _request(walk.client, method, url, htmx)
            walk.requests += 1
            expected = (missing.status_code, _without_csrf(missing.content))
            if (response.status_code, _without_csrf(response.content)) != expected:
                walk.failures.append(("nested", route, method, htmx, response.status_code))
            if found := _leaks(response):
                walk.failures.append(("canary", route, method, htmx, found))


def _patient_routes() -> list[str]:
    """Routes whose object belongs to one patient (found by which of the sample objects
    each route's parameters read)."""
    patient_bound = {
        "patient", "appointment", "session", "payment", "recording", "segment",
        "clinical_note", "proposal",
    }  # fmt: skip

    class Reads:
        def __init__(self) -> None:
            self.names: set[str] = set()

        def __getattr__(self, name: str) -> Any:
            self.names.add(name)
            return _Anything()

    routes = []
    for route, sample in SAMPLES.items():
        reads = Reads()
        sample(reads)  # type: ignore[arg-type]
        if reads.names & patient_bound:
            routes.append(route)
    return sorted(routes)


class _Anything:
    pk = 1
    token = "t"


def _search_urls() -> list[tuple[str, str]]:
    """Every route without parameters, asked with a query that would find a canary."""
    urls = []
    for name, params in swept_routes().items():
        if params or name == "accounts:logout":
            continue
        urls.append((name, reverse(name) + "?q=Canary&search=Canary"))
    return urls


def _look_around(walk: Walk) -> None:
    for name, url in _search_urls():
        for htmx in (False, True):
            response = _request(walk.client, "get", url, htmx)
            walk.requests += 1
            if response.status_code == 403:
                walk.forbidden.add(name)
            if response.status_code >= 500:
                walk.failures.append(("server error", url, "get", htmx, response.status_code))
            if found := _leaks(response):
                walk.failures.append(("canary", url, "get", htmx, found))


@pytest.fixture
def b_therapist(other_practice):
    colleague = UserFactory(email="bianca@example.com")
    MembershipFactory(practice=other_practice, user=colleague, role=Role.THERAPIST)
    return colleague


@pytest.fixture
def plant_in(pro, clinic, other_practice, owner, therapist, other_therapist, outsider, b_therapist):
    """plant_in(victim) puts the canaries in a patient of A's Therapist ("therapist"),
    of A's other Therapist ("other_therapist") or of practice B ("b")."""

    def planted(victim: str) -> PracticeObjects:
        if victim == "b":
            return plant(other_practice, b_therapist, outsider)
        return plant(clinic, therapist if victim == "therapist" else other_therapist, owner)

    return planted


# Who attacks, and whose objects: practice B's, or those of the A patient another
# Therapist treats. (A's Owner reads all of A; the Assistant's view of A's patients is
# test_barrier's, but their canaries are planted for her too: no page may show them.)
ATTACKS = {
    "owner": ["b"],
    "therapist": ["b", "other_therapist"],
    "other_therapist": ["b", "therapist"],
    "assistant": ["b"],
    "outsider": ["therapist", "other_therapist"],
}
CANARIES_ONLY = {"assistant": ["therapist"]}
# The attacker's own readable objects, for NESTED: the Owner reads A's Therapist's patient;
# the Assistant reads no transcript or note at all.
OWN = {
    "owner": lambda r: own_objects(r.getfixturevalue("clinic"), r.getfixturevalue("therapist")),
    "therapist": lambda r: own_objects(r.getfixturevalue("clinic"), r.getfixturevalue("therapist")),
    "other_therapist": lambda r: own_objects(
        r.getfixturevalue("clinic"), r.getfixturevalue("other_therapist")
    ),
    "assistant": lambda r: None,
    "outsider": lambda r: own_objects(
        r.getfixturevalue("other_practice"), r.getfixturevalue("b_therapist")
    ),
}
ROLES = {
    "owner": Role.OWNER,
    "therapist": Role.THERAPIST,
    "other_therapist": Role.THERAPIST,
    "assistant": Role.ASSISTANT,
    "outsider": Role.OWNER,
}


@pytest.mark.parametrize("attacker", list(ATTACKS))
def test_the_attack_suite(attacker, request, caplog, client, plant_in, assistant):
    user: User = request.getfixturevalue(attacker)
    victims = {v: plant_in(v) for v in ATTACKS[attacker] + CANARIES_ONLY.get(attacker, [])}
    own = OWN[attacker](request)
    login(client, user)
    walk = Walk(client)
    if own is not None:
        # The attacker does reach their own first objects, so NESTED's 404s are the
        # second's (reads are audited, so this comes before the fingerprint).
        for route, pk in (
            ("sessions:recording", own.recording.pk),
            ("sessions:note", own.clinical_note.pk),
        ):
            assert client.get(reverse(route, args=[pk])).status_code == 200, route
    everything = sorted(SAMPLES)
    patient_routes = _patient_routes()
    before = fingerprint()
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with celery_messages() as tasks:
        for target in ATTACKS[attacker]:
            same_practice = Membership.objects.filter(
                practice=victims[target].practice, user=user
            ).exists()
            # Within their own practice a member is refused only the other patient's
            # objects; the practice's own settings pages are theirs or role-gated.
            routes = patient_routes if same_practice else everything
            _attack(walk, routes, victims[target], set(DESIGNED_403))
            if own is not None:
                _attack_nested(walk, own, victims[target])
        after = fingerprint()
        # Pages of their own (the two-factor set-up page draws a new key, the audit
        # records what was read): only the canaries count here.
        _look_around(walk)
    lines = log_lines(caplog.records)
    assert not walk.failures, "\n".join(map(repr, walk.failures))
    assert after == before
    # The 403s are exactly the pages gated against the attacker's role.
    assert walk.forbidden == set(ROLE_PAGES_403[ROLES[attacker]]), sorted(walk.forbidden)
    assert not [line for line in lines if any(c in line for c in CANARIES)]
    assert not [t for t in tasks if any(c in t for c in CANARIES)]
    assert walk.requests > 100
    # Signed in all along: a redirect to the sign-in page did not make the walk pass.
    assert client.get(reverse("patients:index")).status_code == 200


def test_the_control_a_treating_therapist_sees_the_canaries(client, plant_in, therapist):
    """The same checks must be able to fail: the patient's own therapist reads them."""
    objects = plant_in("therapist")
    walk = Walk(login(client, therapist))
    _attack(walk, ["sessions:detail", "sessions:note"], objects, set())
    assert {f[0] for f in walk.failures} == {"status", "canary"}
    _look_around(walk)
    assert ("canary", "/tera/search/?q=Canary&search=Canary") in {f[:2] for f in walk.failures}
