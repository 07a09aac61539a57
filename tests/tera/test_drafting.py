"""Prompt assembly, the schemas asked for, and the checks on what the model answers
(tera/drafting.py, tera/llm.py), without a database; and the LLM client against endpoints
that are down, answer errors or garbage, or answer wrong once."""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import pytest

from tera import drafting, llm
from tera.drafting import Line
from tests.llm import ScriptedEndpoint, free_port

SOAP = [
    {"key": "subjective", "title": "Subjective", "instruction": "What the patient reports."},
    {"key": "plan", "title": "Plan", "instruction": "Next steps."},
]
CHAKRAS = {
    "key": "chakras",
    "label": "Chakras worked on",
    "kind": "multiple_choice",
    "choices": ["Root", "Heart", "Crown"],
    "required": False,
}
ENERGY = {"key": "energy", "label": "Energy level", "kind": "scale", "required": False}
LINES = [
    Line(1, 101, "Therapist", "How did you sleep this week?"),
    Line(2, 102, "Patient", "Badly, I woke up at four every night."),
    Line(3, 103, "Patient", "Work has been stressful."),
]


def test_transcript_lines_number_from_one_and_name_speakers():
    segments = [
        SimpleNamespace(pk=7, speaker_id=1, speaker="Patient", text="  I   slept badly. "),
        SimpleNamespace(pk=9, speaker_id=None, speaker=None, text="Okay."),
    ]
    lines = drafting.transcript_lines(segments)
    assert lines == [Line(1, 7, "Patient", "I slept badly."), Line(2, 9, "Unknown", "Okay.")]


def test_render_transcript_cuts_at_a_whole_line_and_says_so():
    text, shown = drafting.render_transcript(LINES, budget=10_000)
    truncated = len(shown) < len(LINES)
    assert text.splitlines() == [
        "[1] Therapist: How did you sleep this week?",
        "[2] Patient: Badly, I woke up at four every night.",
        "[3] Patient: Work has been stressful.",
    ]
    assert not truncated
    two = text.splitlines()[:2]
    text, shown = drafting.render_transcript(LINES, budget=sum(len(t) + 1 for t in two))
    truncated = len(shown) < len(LINES)
    assert text.splitlines() == two
    assert truncated
    assert shown == LINES[:2]


def test_draft_messages_carry_sections_fields_notes_transcript_and_language():
    transcript, _ = drafting.render_transcript(LINES, 10_000)
    messages = drafting.draft_messages(
        title="SOAP note",
        sections=SOAP,
        fields=[CHAKRAS],
        transcript=transcript,
        quick_notes="Looked tired.",
        language="pt-br",
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "never add facts" in messages[0]["content"]
    user = messages[1]["content"]
    assert user.startswith("Write a SOAP note in Brazilian Portuguese.")
    assert "- subjective (Subjective): What the patient reports." in user
    assert "- chakras: Chakras worked on (multiple choice; one of: Root, Heart, Crown)" in user
    assert "Therapist's quick notes (source 0):\nLooked tired." in user
    assert user.endswith(transcript)


def test_draft_messages_without_fields_or_notes_say_none():
    user = drafting.draft_messages(
        title="DAP note", sections=SOAP, fields=[], transcript="", quick_notes="", language="en"
    )[1]["content"]
    assert "Also give a value" not in user
    assert "(none)" in user and "(no transcript)" in user and "in English." in user


def test_draft_schema_requires_every_section_and_field_in_order():
    schema = drafting.draft_schema(SOAP, [CHAKRAS, ENERGY])
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["sections"]["required"] == ["subjective", "plan"]
    assert schema["properties"]["fields"]["required"] == ["chakras", "energy"]
    good = {
        "sections": {"subjective": [{"text": "Slept badly.", "sources": [2]}], "plan": []},
        "fields": {"chakras": ["Heart"], "energy": None},
    }
    jsonschema.validate(good, schema)
    for bad in (
        {"sections": {"subjective": []}, "fields": good["fields"]},  # a section missing
        {**good, "fields": {"chakras": ["Liver"], "energy": None}},  # not a choice
        {"sections": {"subjective": [{"text": "x"}], "plan": []}, "fields": good["fields"]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert "fields" not in drafting.draft_schema(SOAP, [])["properties"]
    # A value off the scale is not the schema's business: `suggestions` drops it, rather
    # than the whole note failing (grammar-constrained servers ignore the bounds).
    jsonschema.validate({**good, "fields": {"chakras": None, "energy": 11}}, schema)


def test_ground_keeps_real_lines_as_segment_ids_and_rejects_the_rest():
    answer = {
        "subjective": [
            {"text": " Slept   badly. ", "sources": [2, 2, 99]},
            {"text": "Stress at work.", "sources": [3, 0]},
            {"text": "Invented.", "sources": [42]},
            {"text": "   ", "sources": [1]},
        ],
        "plan": [{"text": "Sleep diary.", "sources": [0]}],
    }
    sections = drafting.ground(answer, SOAP, LINES, has_quick_notes=True)
    subjective, plan = sections
    assert [s["key"] for s in sections] == ["subjective", "plan"]
    assert subjective["statements"][0] == {
        "text": "Slept badly.",
        "sources": [102],
        "from_notes": False,
        "rejected": [99],
        "origin": "ai",
    }
    assert subjective["statements"][1]["sources"] == [103]
    assert subjective["statements"][1]["from_notes"] is True
    assert subjective["statements"][2]["sources"] == [] and subjective["statements"][2][
        "rejected"
    ] == [42]
    assert len(subjective["statements"]) == 3  # the empty one is dropped
    assert [drafting.is_supported(s) for s in subjective["statements"]] == [True, True, False]
    assert plan["statements"][0]["from_notes"] and drafting.is_supported(plan["statements"][0])


def test_ground_without_quick_notes_rejects_source_zero():
    sections = drafting.ground(
        {"subjective": [{"text": "A.", "sources": [0]}], "plan": []},
        SOAP,
        LINES,
        has_quick_notes=False,
    )
    statement = sections[0]["statements"][0]
    assert statement["rejected"] == [0] and not drafting.is_supported(statement)


def test_ground_refuses_an_answer_without_a_section():
    with pytest.raises(llm.InvalidAnswer, match="plan"):
        drafting.ground({"subjective": []}, SOAP, LINES, has_quick_notes=False)


def test_suggestions_keep_only_values_the_session_form_accepts():
    proposed = drafting.suggestions(
        {"chakras": ["Heart", "Root"], "energy": 7}, [CHAKRAS, ENERGY], ["chakras", "energy"]
    )
    assert proposed == [
        {"key": "chakras", "value": ["Root", "Heart"], "status": "pending"},
        {"key": "energy", "value": 7, "status": "pending"},
    ]
    assert (
        drafting.suggestions({"chakras": [], "energy": None}, [CHAKRAS, ENERGY], ["chakras"]) == []
    )
    # Invalid for the field (scale is 0..10), or a field the template does not ask for.
    assert drafting.suggestions({"energy": 12}, [ENERGY], ["energy"]) == []
    assert drafting.suggestions({"energy": 5}, [ENERGY], []) == []


def test_statements_from_text_keep_sources_of_unchanged_lines():
    before = [
        {
            "text": "Slept badly.",
            "sources": [102],
            "from_notes": False,
            "rejected": [],
            "origin": "ai",
        },
        {"text": "Old.", "sources": [], "from_notes": False, "rejected": [9], "origin": "ai"},
    ]
    after = drafting.statements_from_text("Slept badly.\n\n- A new line of mine.\n", before)
    assert after[0] == before[0]
    assert after[1] == {
        "text": "A new line of mine.",
        "sources": [],
        "from_notes": False,
        "rejected": [],
        "origin": "me",
    }
    assert drafting.is_supported(after[1])  # the therapist's own words need no source


def test_note_as_prompt_shows_line_numbers_and_quick_notes():
    sections = [
        {
            "key": "subjective",
            "title": "Subjective",
            "statements": [{"text": "Slept badly.", "sources": [102, 103], "from_notes": True}],
        }
    ]
    assert drafting.note_as_prompt(sections, {102: 2, 103: 3}) == (
        "## subjective (Subjective)\n- Slept badly. [0, 2, 3]"
    )


def test_response_format_follows_the_schema_style(settings):
    schema = {"type": "object"}
    settings.LLM_SCHEMA_STYLE = "llama.cpp"
    assert llm.response_format(schema) == {"type": "json_object", "schema": schema}
    settings.LLM_SCHEMA_STYLE = "openai"
    assert llm.response_format(schema)["json_schema"]["schema"] == schema
    assert llm.response_format(schema)["type"] == "json_schema"


def test_parse_says_what_is_wrong():
    schema = drafting.sections_schema(["plan"])
    assert llm.parse('{"plan": []}', schema) == {"plan": []}
    with pytest.raises(llm.InvalidAnswer, match="not JSON"):
        llm.parse('{"plan": [', schema)
    with pytest.raises(llm.InvalidAnswer, match="not a JSON object"):
        llm.parse("[]", schema)
    with pytest.raises(llm.InvalidAnswer, match="plan"):
        llm.parse('{"plan": "no"}', schema)


# --- The client against endpoints that misbehave -----------------------------------------
SCHEMA = drafting.sections_schema(["plan"])
VALID = json.dumps({"plan": [{"text": "Sleep diary.", "sources": [1]}]})


def _point_at(settings, url: str) -> None:
    settings.LLM_BASE_URL = url
    settings.LLM_SCHEMA_STYLE = "openai"
    settings.LLM_TIMEOUT = 10


def test_an_invalid_answer_is_retried_once_with_the_reason(settings):
    with ScriptedEndpoint(['{"plan": "not a list"}', VALID]) as endpoint:
        _point_at(settings, endpoint.url)
        progress = []
        answer, stats = llm.ask_json(
            [{"role": "user", "content": "hi"}],
            SCHEMA,
            lambda a: a,
            on_text=lambda text, tokens: progress.append(tokens),
        )
    assert answer == json.loads(VALID)
    assert stats.attempts == 2 and stats.tokens > 0 and progress
    first, retry = endpoint.requests
    assert first["response_format"]["type"] == "json_schema"
    assert first["stream"] is True
    assert retry["messages"][-2] == {"role": "assistant", "content": '{"plan": "not a list"}'}
    assert "not valid: plan" in retry["messages"][-1]["content"]


def test_two_invalid_answers_give_a_clear_error(settings):
    with ScriptedEndpoint(["no json", '{"plan": 1}']) as endpoint:
        _point_at(settings, endpoint.url)
        with pytest.raises(llm.LLMError, match="no valid answer twice"):
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)
    assert len(endpoint.requests) == 2


def test_the_callers_own_check_can_refuse_an_answer(settings):
    def check(answer):
        raise llm.InvalidAnswer("section plan is empty")

    with ScriptedEndpoint([VALID, VALID]) as endpoint:
        _point_at(settings, endpoint.url)
        with pytest.raises(llm.LLMError, match="section plan is empty"):
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, check)


def test_an_endpoint_that_is_down_is_named(settings):
    _point_at(settings, f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(llm.LLMError, match="cannot be reached at http://127.0.0.1"):
        llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)


def test_an_http_error_is_reported_not_retried(settings):
    with ScriptedEndpoint([("status", 500), VALID]) as endpoint:
        _point_at(settings, endpoint.url)
        with pytest.raises(llm.LLMError, match="answered with an error"):
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)
    assert len(endpoint.requests) == 1


def test_a_garbage_stream_is_an_error(settings):
    garbage = ("garbage", b"data: {not json at all\n\n")
    with ScriptedEndpoint([garbage, garbage]) as endpoint:
        _point_at(settings, endpoint.url)
        with pytest.raises(llm.LLMError, match="could not be read"):
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)
