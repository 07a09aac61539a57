"""The note assistant (tera/assistant.py): its answer must do what was asked — "Expand" longer
with the facts kept, "Shorten" shorter, "Translate" in the other language, a free
instruction edited rather than echoed — else it is asked again once, then refused. Against
a scripted endpoint here (what the model says is known); the real model is asked in
tests/tera/test_note_quality.py."""

from __future__ import annotations

import json

import pytest

from tera import assistant, llm
from tera.drafting import Line
from tests.factories import statement
from tests.llm import ScriptedEndpoint

LINES = [
    Line(1, 101, "Therapist", "How did you sleep this week?"),
    Line(2, 102, "Patient", "Badly. I woke up at four every night and slept maybe five hours."),
    Line(3, 103, "Patient", "Work has been stressful since the merger, and I drink more coffee."),
    Line(4, 104, "Therapist", "Let's try a sleep diary for two weeks, and no coffee after lunch."),
]
PLAN = {
    "key": "plan",
    "title": "Plan",
    "statements": [
        statement("The patient will keep a sleep diary for two weeks.", [104]),
        statement("The patient will stop coffee after lunch.", [104]),
    ],
}
SUBJECTIVE = {
    "key": "subjective",
    "title": "Subjective",
    "statements": [statement("The patient wakes at 4 a.m. every night.", [102])],
}


def _answer(*sentences: str) -> str:
    return json.dumps({"sentences": list(sentences)})


def _rewrite(settings, replies, request, sections=(PLAN,), keys=("plan",)):
    with ScriptedEndpoint(replies) as endpoint:
        settings.LLM_BASE_URL = endpoint.url
        settings.LLM_SCHEMA_STYLE = "openai"
        settings.LLM_PREFILL_CHARS = 0
        settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's
        result = assistant.rewrite(
            sections=list(sections),
            keys=list(keys),
            request=request,
            lines=LINES,
            quick_notes="",
            language="en",
        )
    return result, endpoint


def test_a_rewrite_that_echoes_the_request_is_asked_again(settings):
    request = assistant.Request("Rewrite the plan")
    (sections, _stats), endpoint = _rewrite(
        settings,
        [
            _answer("Rewrite the plan."),
            _answer("A sleep diary for two weeks; no coffee after lunch."),
        ],
        request,
    )
    assert [s["text"] for s in sections[0]["statements"]] == [
        "A sleep diary for two weeks; no coffee after lunch."
    ]
    assert "repeats the request" in endpoint.requests[1]["messages"][-1]["content"]
    asked = endpoint.requests[0]["messages"][-1]["content"]
    assert "The therapist asks: Rewrite the plan" in asked
    assert "- The patient will keep a sleep diary for two weeks." in asked


def test_a_free_instruction_answered_with_the_section_unchanged_is_asked_again(settings):
    unchanged = _answer(
        "The patient will keep a sleep diary for two weeks.",
        "The patient will stop coffee after lunch.",
    )
    edited = _answer(
        "The patient will keep a paper sleep diary for two weeks.",
        "The patient will stop coffee after lunch.",
    )
    (sections, _stats), endpoint = _rewrite(
        settings, [unchanged, edited], assistant.Request("Mention that the diary is on paper")
    )
    assert "as it was" in endpoint.requests[1]["messages"][-1]["content"]
    assert sections[0]["statements"][0]["text"] == (
        "The patient will keep a paper sleep diary for two weeks."
    )


def test_an_echo_twice_fails_and_changes_nothing(settings):
    with pytest.raises(llm.LLMError) as failed:
        _rewrite(settings, [_answer("Rewrite the plan."), _answer("Rewrite the plan.")],
                 assistant.Request("Rewrite the plan"))  # fmt: skip
    assert failed.value.code == "invalid"


def test_expand_must_come_back_longer_with_the_facts_it_had(settings):
    request = assistant.Request("Expand", "expand")
    longer = _answer(
        "The patient will keep a sleep diary for two weeks, noting bedtimes and wakings.",
        "The patient will stop coffee after lunch, as the stress at work raised her intake.",
    )
    (sections, _), endpoint = _rewrite(settings, [_answer("A sleep diary."), longer], request)
    assert len(endpoint.requests) == 2
    assert "not longer" in endpoint.requests[1]["messages"][-1]["content"]
    assert len(" ".join(s["text"] for s in sections[0]["statements"]).split()) > 17
    dropped = _answer(
        "The patient described work stress since the merger and drinking more coffee daily.",
        "She wakes at four every night and sleeps about five hours in all.",
    )
    with pytest.raises(llm.LLMError):  # longer, but the diary and the coffee rule are gone
        _rewrite(settings, [dropped, dropped], request)


def test_shorten_must_come_back_shorter(settings):
    request = assistant.Request("Shorten", "shorten")
    (sections, _), endpoint = _rewrite(
        settings,
        [
            _answer(
                "The patient will keep a detailed sleep diary for two full weeks at home.",
                "The patient will also stop drinking coffee after lunch every day.",
            ),
            _answer("Sleep diary for two weeks; no coffee after lunch."),
        ],
        request,
    )
    assert "not shorter" in endpoint.requests[1]["messages"][-1]["content"]
    assert [s["text"] for s in sections[0]["statements"]] == [
        "Sleep diary for two weeks; no coffee after lunch."
    ]


def test_translate_must_change_the_language_and_keeps_each_statements_support(settings):
    request = assistant.Request("Translate to Portuguese", "translate_pt")
    portuguese = _answer(
        "O paciente vai manter um diário do sono por duas semanas.",
        "O paciente vai parar de tomar café depois do almoço.",
    )
    (sections, _), endpoint = _rewrite(
        settings, [_answer("The patient keeps a sleep diary."), portuguese], request
    )
    assert "not in Brazilian Portuguese" in endpoint.requests[1]["messages"][-1]["content"]
    statements = sections[0]["statements"]
    assert [s["text"] for s in statements] == json.loads(portuguese)["sentences"]
    assert [s["sources"] for s in statements] == [[104], [104]]
    assert all(s["supported"] for s in statements)
    # Asked in the language it is to be written in.
    assert "português do Brasil" in endpoint.requests[0]["messages"][0]["content"]


def test_a_translation_that_adds_or_drops_sentences_is_refused_and_changes_nothing(settings):
    """Translating the Plan, a small model once wrote what the session said instead: one
    sentence for each of the section's, or the request fails and the note stays."""
    request = assistant.Request("Translate to Portuguese", "translate_pt")
    invented = _answer(
        "O paciente vai manter um diário do sono por duas semanas.",
        "O paciente vai parar de tomar café depois do almoço.",
        "O paciente relata que a fusão na empresa tem sido estressante.",
    )
    with ScriptedEndpoint([invented, invented]) as endpoint:
        settings.LLM_BASE_URL = endpoint.url
        settings.LLM_SCHEMA_STYLE = "openai"
        settings.LLM_PREFILL_CHARS = 0
        with pytest.raises(llm.LLMError):
            assistant.rewrite(
                sections=[PLAN], keys=["plan"], request=request, lines=LINES,
                quick_notes="", language="en",
            )  # fmt: skip
    asked = [r["messages"][-1]["content"] for r in endpoint.requests]
    assert "3 sentences and the section 2" in asked[1]
    # Shown the section alone: no line of the transcript is in the request.
    assert all(line.text not in message for message in asked for line in LINES)
    assert [s["text"] for s in PLAN["statements"]] == [
        "The patient will keep a sleep diary for two weeks.",
        "The patient will stop coffee after lunch.",
    ]


def test_the_whole_note_is_rewritten_section_by_section(settings):
    request = assistant.Request("Shorten", "shorten")
    (sections, _), endpoint = _rewrite(
        settings,
        [_answer("Wakes at 4 a.m."), _answer("Sleep diary; no coffee after lunch.")],
        request,
        sections=(SUBJECTIVE, PLAN),
        keys=("subjective", "plan"),
    )
    assert [s["key"] for s in sections] == ["subjective", "plan"]
    assert sections[0]["statements"][0]["sources"] == [102]
    assert len(endpoint.requests) == 2
