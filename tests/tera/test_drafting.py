"""Drafting without a database (tera/drafting.py, tera/llm.py): the prompts and schemas, the
checks on what the model answers, and the whole `draft` against a scripted
OpenAI-compatible endpoint (so what the model "says" is known); and the LLM client against
endpoints that are down, answer errors or garbage, or answer wrong once. The real model
drafts in tests/tera/test_note_quality.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import pytest

from tera import drafting, grounding, llm
from tera.drafting import Line
from tests.llm import ScriptedEndpoint, free_port

SOAP = [
    {"key": "subjective", "title": "Subjective", "instruction": "What the patient reports."},
    {"key": "plan", "title": "Plan", "instruction": "Next steps, homework, next session."},
]
CHAKRAS = {
    "key": "chakras",
    "label": "Chakras worked on",
    "kind": "multiple_choice",
    "choices": ["Root", "Heart", "Crown"],
    "required": False,
}
ANXIETY = {"key": "anxiety", "label": "Anxiety level", "kind": "scale", "required": False}
SLEEP = {
    "key": "sleep",
    "label": "Hours of sleep",
    "kind": "number",
    "required": False,
    "min": 0,
    "max": 24,
}
LINES = [
    Line(1, 101, "Therapist", "How did you sleep this week?"),
    Line(2, 102, "Patient", "Badly. I woke up at four every night and slept maybe five hours."),
    Line(3, 103, "Therapist", "From zero to ten, how anxious have you been?"),
    Line(4, 104, "Patient", "A seven, I'd say. Work has been stressful since the merger."),
    Line(5, 105, "Therapist", "Let's try a sleep diary for two weeks, and we meet again then."),
]


def _point_at(settings, url: str) -> None:
    settings.LLM_BASE_URL = url
    settings.LLM_SCHEMA_STYLE = "openai"
    settings.LLM_TIMEOUT = 10
    settings.LLM_PREFILL_CHARS = 0
    settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's


# --- Transcript and prompts ----------------------------------------------------------------
def test_transcript_lines_number_from_one_and_name_speakers():
    segments = [
        SimpleNamespace(pk=7, speaker_id=1, speaker="Patient", text="  I   slept badly. "),
        SimpleNamespace(pk=9, speaker_id=None, speaker=None, text="Okay."),
    ]
    lines = drafting.transcript_lines(segments)
    assert lines == [Line(1, 7, "Patient", "I slept badly."), Line(2, 9, "Unknown", "Okay.")]
    assert drafting.render_lines(lines) == "Patient: I slept badly.\nUnknown: Okay."


def test_a_long_transcript_is_read_in_parts_of_whole_lines():
    parts = drafting.split_parts(LINES, budget=120)
    assert [line for part in parts for line in part] == LINES  # nothing lost, in order
    assert len(parts) > 1
    assert all(len(drafting.render_lines(part)) <= 120 for part in parts if len(part) > 1)
    assert drafting.split_parts(LINES, budget=100_000) == [LINES]
    assert drafting.split_parts([], budget=100) == [[]]


def test_a_part_asks_for_every_section_with_its_instruction_in_the_notes_language():
    messages = drafting.part_messages(
        LINES[:2],
        2,
        3,
        title="Nota SOAP",
        sections=SOAP,
        quick_notes="Parecia cansada.",
        language="pt-br",
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "português do Brasil" in messages[0]["content"]
    user = messages[1]["content"]
    assert user.startswith(
        "Transcrição da sessão (parte 2 de 3):\nTherapist: How did you sleep this week?"
    )
    assert "Anotações rápidas do terapeuta:\nParecia cansada." in user
    assert "a parte 2 de 3" in user
    assert '- "plan" (Plan): Next steps, homework, next session.' in user
    english = drafting.part_messages(
        LINES, 1, 1, title="SOAP note", sections=SOAP, quick_notes="", language="en"
    )[1]["content"]
    assert "the whole transcript" in english and "quick notes:\n(none)" in english


def test_section_requests_share_the_transcript_as_their_prefix():
    context = drafting.context_message(LINES, "", "en")
    first, second = (
        drafting.section_messages(context, title="SOAP", sections=SOAP, key=key, language="en")
        for key in ("subjective", "plan")
    )
    assert first[1]["content"].startswith(context) and second[1]["content"].startswith(context)
    assert 'section "Plan"' in second[1]["content"] and "(Subjective)" in second[1]["content"]


def test_schemas_refuse_chinese_and_overlong_text_and_keep_scales_on_the_scale():
    schema = drafting.part_schema(["subjective", "plan"])
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate({"subjective": ["Sleeps badly."], "plan": []}, schema)
    for bad in (
        {"subjective": ["Dorme mal 睡眠."], "plan": []},
        {"subjective": ["x" * (drafting.MAX_ITEM + 1)], "plan": []},
        {"subjective": []},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    fields = drafting.fields_schema([CHAKRAS, ANXIETY])
    jsonschema.validate({"fields": {"chakras": ["Heart"], "anxiety": 10}}, fields)
    jsonschema.validate({"fields": {"chakras": None, "anxiety": None}}, fields)
    for bad_value in ({"chakras": ["Liver"], "anxiety": 1}, {"chakras": None, "anxiety": 11}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"fields": bad_value}, fields)


# --- Checking what came back ---------------------------------------------------------------
def test_clean_sentences_drop_headings_echoes_talk_and_repeats():
    written: list[grounding.Terms] = []
    kept = drafting.clean_sentences(
        [
            "Subjective: The patient sleeps about five hours. She wakes at four.",
            "Subjective",
            "What the patient reports.",  # the instruction, echoed
            "What time do you need to be up?",  # a question from the talk
            "You know, I think we fix a time, okay.",
            "Write down everything on your mind at half seven.",  # addressed to the patient
            "Homework: None.",  # a heading of the instruction, filled with nothing
            "Fica pesado. Terapeuta: Tá tudo bem.",  # a line copied with its speaker
            "The patient sleeps about five hours.",  # said already
        ],
        SOAP[0],
        "en",
        written,
    )
    assert kept == ["The patient sleeps about five hours.", "She wakes at four.", "Fica pesado."]
    # An earlier section's sentences count as written for the next ones.
    assert drafting.clean_sentences(["She wakes at four."], SOAP[1], "en", written) == []


def test_a_sentence_copied_word_for_word_from_a_line_is_dropped():
    """The default model filled a Portuguese Plan with "Fica com isso." and "Respira.",
    the therapist's own words: the word match calls a copy supported."""
    lines = [
        Line(1, 11, "Terapeuta", "Fica com isso. Respira."),
        Line(2, 12, "Paciente", "Ele bebia, mas... ele me deu a vida, né."),
    ]
    kept = drafting.clean_sentences(
        [
            "Fica com isso.",
            "Respira.",
            "Ele bebia, mas...",
            "O paciente relata que o pai bebia.",
            "O paciente respira.",
            "Me deu a vida.",  # a stretch of a sentence, not a sentence said
        ],
        SOAP[1],
        "pt-br",
        [],
        drafting.spoken_sentences(lines),
    )
    assert kept == ["O paciente relata que o pai bebia.", "O paciente respira.", "Me deu a vida."]


def test_statements_rest_on_the_lines_that_say_them():
    statements = drafting.ground_sentences(
        [
            "The patient wakes at 4 a.m. every night and sleeps about 5 hours.",
            "The patient rates anxiety at 7/10, with work stress since the merger.",
            "The patient wakes at 2 a.m.",  # a number nobody said
            "The patient exercises regularly at the gym.",  # an invention
            "She looked tired.",  # the quick notes say it
        ],
        LINES,
        "Looked tired and tense.",
        "en",
    )
    by_text = {s["text"]: s for s in statements}
    first = by_text["The patient wakes at 4 a.m. every night and sleeps about 5 hours."]
    assert first["supported"] and first["sources"][0] == 102 and first["origin"] == "ai"
    assert by_text["The patient rates anxiety at 7/10, with work stress since the merger."][
        "sources"
    ][0] in (103, 104)
    assert not by_text["The patient wakes at 2 a.m."]["supported"]
    assert not by_text["The patient exercises regularly at the gym."]["supported"]
    tired = by_text["She looked tired."]
    assert tired["supported"] and tired["from_notes"]
    assert all(drafting.is_supported(s) == s["supported"] for s in statements)


def test_the_model_reads_what_the_word_match_cannot_settle(settings):
    """Sure verdicts stand (well covered: supported; a number nobody said: flagged); the
    unsure ones are read by the model, the least covered first, at most `ask`; where it
    cannot answer, the word match's verdict stands."""
    sentences = [
        "The patient wakes at 4 a.m. every night and sleeps about 5 hours.",  # sure: yes
        "The patient wakes at 2 a.m.",  # sure: no (a number nobody said)
        "The patient reports insomnia linked to the merger at work.",  # unsure
        "Work pressure has grown since the merger, the patient says.",  # unsure
    ]
    yes, no = json.dumps({"supported": True}), json.dumps({"supported": False})
    with ScriptedEndpoint([no, yes]) as endpoint:
        _point_at(settings, endpoint.url)
        statements = drafting.ground_sentences(sentences, LINES, "", "en", ask=5)
    assert [s["supported"] for s in statements] == [True, False, False, True]
    assert len(endpoint.requests) == 2
    first = endpoint.requests[0]["messages"][-1]["content"]
    assert '"The patient reports insomnia linked to the merger at work."' in first
    assert "Patient: A seven, I'd say. Work has been stressful since the merger." in first
    assert "Therapist: From zero to ten, how anxious have you been?" in first  # the question
    with ScriptedEndpoint([]) as down:  # every answer an error
        _point_at(settings, down.url)
        fallback = drafting.ground_sentences(sentences, LINES, "", "en", ask=1)
    lexical = drafting.ground_sentences(sentences, LINES, "", "en")
    assert [s["supported"] for s in fallback] == [s["supported"] for s in lexical]
    assert len(down.requests) == 1  # one statement asked about, then the budget is spent


def test_a_note_in_another_language_than_its_transcript_is_left_unchecked():
    statements = drafting.ground_sentences(
        ["O paciente acorda às 4h todas as noites."], LINES, "", "pt-br"
    )
    assert statements[0]["supported"] is None and statements[0]["sources"] == []
    assert not drafting.is_supported(statements[0])


def test_older_versions_count_any_cited_line_and_the_therapists_words_need_none():
    assert drafting.is_supported({"origin": "ai", "sources": [3]})
    assert not drafting.is_supported({"origin": "ai", "sources": [], "from_notes": False})
    assert drafting.is_supported({"origin": "me", "sources": []})


def test_a_suggested_value_needs_a_line_that_says_it_and_the_forms_approval():
    fields = [ANXIETY, SLEEP, CHAKRAS]
    keys = [f["key"] for f in fields]
    proposed = drafting.suggestions(
        {"anxiety": 7, "sleep": 5, "chakras": ["Heart"]}, fields, keys, LINES, "en"
    )
    assert [(s["key"], s["value"], s["sources"]) for s in proposed] == [
        ("anxiety", 7, [103, 104]),
        ("sleep", 5, [102]),
    ]  # nobody spoke of chakras
    assert all(s["status"] == "pending" for s in proposed)
    unsaid = drafting.suggestions({"anxiety": 1, "sleep": 20}, fields, keys, LINES, "en")
    assert unsaid == []  # "Horas de sono: 20" and "Nível de ansiedade 1" were never said
    wrong = drafting.suggestions({"anxiety": 11, "sleep": "five"}, fields, keys, LINES, "en")
    assert wrong == []  # off the scale, or not a number
    over = [dict(SLEEP, max=4)]
    assert drafting.suggestions({"sleep": 5}, over, ["sleep"], LINES, "en") == []
    assert drafting.suggestions({"anxiety": 7}, fields, ["sleep"], LINES, "en") == []


def test_a_suggested_value_is_found_in_portuguese_talk():
    """ "Horas de sono" stems to words too short for prefixes: the label's own words count."""
    fields = [dict(ANXIETY, label="Nível de ansiedade"), dict(SLEEP, label="Horas de sono")]
    lines = [
        Line(1, 201, "Terapeuta", "De zero a dez, quanto estava a sua ansiedade?"),
        Line(2, 202, "Paciente", "Hmm... uns sete. É, eu diria sete."),
        Line(3, 203, "Terapeuta", "E o sono, quantas horas por noite?"),
        Line(4, 204, "Paciente", "Umas cinco horas. Cinco, se tanto."),
        Line(5, 205, "Paciente", "Saio do escritório sete e meia, oito horas da noite."),
    ]
    proposed = drafting.suggestions(
        {"anxiety": 7, "sleep": 5}, fields, ["anxiety", "sleep"], lines, "pt-br"
    )
    assert [(s["key"], s["value"], s["sources"]) for s in proposed] == [
        ("anxiety", 7, [201, 202]),
        ("sleep", 5, [204]),
    ]
    unsaid = drafting.suggestions(
        {"anxiety": 1, "sleep": 7}, fields, ["anxiety", "sleep"], lines, "pt-br"
    )
    assert unsaid == []  # "sete e meia" is half past seven, not 7


def test_a_repeating_answer_is_stopped_and_what_was_written_whole_is_kept():
    cut = '{"subjective": ["A b.", "C \\"d\\" e.", "A b.", "unfini'
    assert drafting.whole_items(cut, "subjective") == ["A b.", 'C "d" e.', "A b."]
    assert drafting.repeating("subjective")(cut)
    assert not drafting.repeating("subjective")('{"subjective": ["A b.", "C d."')
    assert drafting.salvage("subjective", "plan")(cut) == {
        "subjective": ["A b.", 'C "d" e.'],
        "plan": [],
    }
    two = '{"subjective": ["A."], "plan": ["B.", "C'
    assert drafting.salvage("subjective", "plan")(two) == {"subjective": ["A."], "plan": ["B."]}
    assert drafting.salvage("subjective")('{"subj') is None


def test_statements_from_text_keep_sources_of_unchanged_lines():
    before = [
        {"text": "Slept badly.", "sources": [102], "from_notes": False, "rejected": [],
         "origin": "ai", "supported": True},
    ]  # fmt: skip
    after = drafting.statements_from_text("- Slept badly.\n\nStarted a sleep diary.", before)
    assert after[0] == before[0]
    assert after[1] == {
        "text": "Started a sleep diary.",
        "sources": [],
        "from_notes": False,
        "rejected": [],
        "origin": "me",
    }


# --- The whole draft against a scripted endpoint ------------------------------------------
def test_a_draft_reads_every_part_and_joins_their_sections_in_order(settings):
    settings.LLM_PROMPT_CHARS = 150  # LINES in several parts
    parts = drafting.split_parts(LINES, 150)
    replies = [
        json.dumps({"subjective": ["The patient sleeps about 5 hours."], "plan": []}),
        json.dumps(
            {
                "subjective": [
                    "The patient has been anxious, a 7 out of 10.",
                    "The patient sleeps about 5 hours.",
                ],
                "plan": [],
            }
        ),
        *[
            json.dumps({"subjective": [], "plan": ["A sleep diary for two weeks."]})
            for _ in parts[2:]
        ],
        json.dumps({"fields": {"anxiety": 7}}),
    ]
    progress = []
    with ScriptedEndpoint(replies) as endpoint:
        _point_at(settings, endpoint.url)
        result = drafting.draft(
            title="SOAP note",
            sections=SOAP,
            fields=[ANXIETY],
            field_keys=["anxiety"],
            lines=LINES,
            quick_notes="",
            language="en",
            on_progress=lambda stage, done, total: progress.append((stage, done, total)),
            strategy="parts",
        )
    assert result.parts == len(parts) >= 3
    subjective, plan = result.sections
    assert [s["text"] for s in subjective["statements"]] == [
        "The patient sleeps about 5 hours.",
        "The patient has been anxious, a 7 out of 10.",
    ]  # the repeat from part 2 dropped
    assert [s["text"] for s in plan["statements"]] == ["A sleep diary for two weeks."]
    assert all(s["supported"] for s in subjective["statements"] + plan["statements"])
    assert result.suggestions[0]["value"] == 7
    assert progress[0] == ("part", 0, len(parts))
    assert progress[-2:] == [("fields", 0, 1), ("checking", 0, 1)]
    # Every request was constrained to its schema.
    assert all(r["response_format"]["type"] == "json_schema" for r in endpoint.requests)


def test_by_sections_each_part_is_asked_for_each_section_with_the_part_read_once(settings):
    settings.LLM_PROMPT_CHARS = 200  # LINES in two parts
    parts = drafting.split_parts(LINES, 200)
    assert len(parts) == 2
    said = {
        "subjective": ["The patient wakes at four every night.", "She has been anxious, a 7."],
        "plan": ["A sleep diary for two weeks."],
    }
    replies = [
        json.dumps({"sentences": said["subjective"][:1]}),
        json.dumps({"sentences": []}),
        json.dumps({"sentences": said["subjective"][1:]}),
        json.dumps({"sentences": said["plan"]}),
    ]
    progress = []
    with ScriptedEndpoint(replies) as endpoint:
        _point_at(settings, endpoint.url)
        result = drafting.draft(
            title="SOAP note",
            sections=SOAP,
            fields=[],
            field_keys=[],
            lines=LINES,
            quick_notes="",
            language="en",
            on_progress=lambda stage, done, total: progress.append((stage, done, total)),
        )
    assert [[s["text"] for s in section["statements"]] for section in result.sections] == [
        said["subjective"],
        said["plan"],
    ]
    prompts = [r["messages"][-1]["content"] for r in endpoint.requests]
    first_part = drafting.context_message(parts[0], "", "en", 1, 2)
    assert first_part.startswith("Transcript of the session (part 1 of 2):\n")
    assert prompts[0].startswith(first_part) and prompts[1].startswith(first_part)
    assert prompts[2].startswith(drafting.context_message(parts[1], "", "en", 2, 2))
    assert "in at most 5 sentences" in prompts[0]
    assert [p for p in progress if p[0] == "writing"] == [("writing", n, 4) for n in range(4)]


def test_prefill_reads_a_long_prompt_in_steps_and_says_how_far(settings):
    _point_at(settings, "unused")
    long = [Line(n, n, "Patient", f"Line number {n} of a long session.") for n in range(1, 200)]
    messages = drafting.part_messages(
        long, 1, 1, title="SOAP", sections=SOAP, quick_notes="", language="en"
    )
    seen = []
    with ScriptedEndpoint(["x"] * 20) as endpoint:
        _point_at(settings, endpoint.url)
        llm.prefill(messages, on_progress=lambda done, total: seen.append((done, total)), step=2000)
    content = messages[-1]["content"]
    assert len(seen) >= 2 and seen[-1][1] == len(content)
    sent = [r["messages"][-1]["content"] for r in endpoint.requests]
    assert all(content.startswith(part) for part in sent)  # each a prefix of the prompt
    assert [len(part) for part in sent] == sorted(len(part) for part in sent)
    assert all(r["max_tokens"] == 1 and "response_format" not in r for r in endpoint.requests)
    settings.LLM_PREFILL_CHARS = 0
    settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's
    with ScriptedEndpoint([]) as idle:
        settings.LLM_BASE_URL = idle.url
        llm.prefill(messages, on_progress=lambda done, total: seen.append((done, total)))
    assert idle.requests == []


# --- The client against endpoints that misbehave -----------------------------------------
SCHEMA = drafting.sentences_schema()
VALID = json.dumps({"sentences": ["Sleep diary."]})


def test_response_format_follows_the_schema_style(settings):
    settings.LLM_SCHEMA_STYLE = "llama.cpp"
    assert llm.response_format(SCHEMA) == {"type": "json_object", "schema": SCHEMA}
    settings.LLM_SCHEMA_STYLE = "openai"
    assert llm.response_format(SCHEMA)["json_schema"]["schema"] == SCHEMA
    assert llm.response_format(SCHEMA)["type"] == "json_schema"


def test_parse_says_what_is_wrong():
    assert llm.parse(VALID, SCHEMA) == {"sentences": ["Sleep diary."]}
    with pytest.raises(llm.InvalidAnswer, match="not JSON"):
        llm.parse('{"sentences": [', SCHEMA)
    with pytest.raises(llm.InvalidAnswer, match="not a JSON object"):
        llm.parse("[]", SCHEMA)
    with pytest.raises(llm.InvalidAnswer, match="sentences"):
        llm.parse('{"sentences": "no"}', SCHEMA)


def test_an_invalid_answer_is_retried_once_with_the_reason(settings):
    with ScriptedEndpoint(['{"sentences": "not a list"}', VALID]) as endpoint:
        _point_at(settings, endpoint.url)
        progress = []
        answer, stats = llm.ask_json(
            [{"role": "user", "content": "hi"}],
            SCHEMA,
            lambda a: a,
            on_text=lambda text, tokens: progress.append(tokens),
        )
    assert answer == json.loads(VALID)
    assert stats.attempts == 2 and stats.calls == 2 and stats.tokens > 0 and progress
    first, retry = endpoint.requests
    assert first["response_format"]["type"] == "json_schema"
    assert first["stream"] is True
    assert retry["messages"][-2] == {"role": "assistant", "content": '{"sentences": "not a list"}'}
    assert "not right: sentences" in retry["messages"][-1]["content"]


def test_an_unfinished_answer_is_repaired_rather_than_asked_again(settings):
    with ScriptedEndpoint(['{"sentences": ["Sleep diary.", "Walk da']) as endpoint:
        _point_at(settings, endpoint.url)
        answer, stats = llm.ask_json(
            [{"role": "user", "content": "hi"}],
            SCHEMA,
            drafting.sentences_of,
            repair=drafting.salvage("sentences"),
        )
    assert answer == ["Sleep diary."] and stats.attempts == 1 and len(endpoint.requests) == 1


def test_an_imperfect_answer_is_asked_again_once_then_taken(settings):
    talk = json.dumps({"sentences": ["You know, I think you sleep badly, okay?"]})
    with ScriptedEndpoint([talk, talk]) as endpoint:
        _point_at(settings, endpoint.url)
        answer, stats = llm.ask_json(
            [{"role": "user", "content": "hi"}], SCHEMA, drafting.as_written("en")
        )
    assert answer == ["You know, I think you sleep badly, okay?"] and stats.attempts == 2
    assert "copies the spoken words" in endpoint.requests[1]["messages"][-1]["content"]


def test_two_invalid_answers_fail_with_a_code(settings):
    with ScriptedEndpoint(["no json", '{"sentences": 1}']) as endpoint:
        _point_at(settings, endpoint.url)
        with pytest.raises(llm.LLMError) as failed:
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)
    assert failed.value.code == "invalid" and len(endpoint.requests) == 2


def test_the_callers_own_check_can_refuse_an_answer(settings):
    def check(answer):
        raise llm.InvalidAnswer("section plan is empty")

    with ScriptedEndpoint([VALID, VALID]) as endpoint:
        _point_at(settings, endpoint.url)
        with pytest.raises(llm.LLMError, match="section plan is empty"):
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, check)


def test_an_endpoint_that_is_down_is_unreachable(settings):
    _point_at(settings, f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(llm.LLMError) as failed:
        llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)
    assert failed.value.code == "unreachable"


def test_an_http_error_is_reported_not_retried(settings):
    with ScriptedEndpoint([("status", 500), VALID]) as endpoint:
        _point_at(settings, endpoint.url)
        with pytest.raises(llm.LLMError) as failed:
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)
    assert failed.value.code == "error" and len(endpoint.requests) == 1


def test_a_garbage_stream_is_unreadable(settings):
    garbage = ("garbage", b"data: {not json at all\n\n")
    with ScriptedEndpoint([garbage, garbage]) as endpoint:
        _point_at(settings, endpoint.url)
        with pytest.raises(llm.LLMError) as failed:
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)
    assert failed.value.code == "unreadable"


def test_a_slow_endpoint_times_out(settings):
    with ScriptedEndpoint([("sleep", 3)]) as endpoint:
        _point_at(settings, endpoint.url)
        settings.LLM_TIMEOUT = 0.5
        with pytest.raises(llm.LLMError) as failed:
            llm.ask_json([{"role": "user", "content": "hi"}], SCHEMA, lambda a: a)
    assert failed.value.code == "timeout"


def test_every_failure_has_a_sentence_in_each_language():
    from django.utils import translation

    for code in llm.FAILURES:
        with translation.override("en"):
            english = llm.failure_message(code)
        with translation.override("pt-br"):
            portuguese = llm.failure_message(code)
        assert english.endswith(".") and portuguese.endswith(".") and english != portuguese
    assert llm.failure_message("Expecting value at 0, in English") == str(llm.GENERIC_FAILURE)
