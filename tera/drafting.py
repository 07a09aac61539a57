"""Clinical notes drafted by the LLM from a transcript.

`draft` turns a transcript (and the therapist's quick notes) into a note's sections and
proposed custom-field values without touching the database: the Celery task
(tera.clinical_notes), the benchmark (tests/bench/note_quality.py) and the tests all run
it. How it asks a small local model, chosen by measuring the variants on ACI-BENCH and our
therapy dialogues:

* the transcript is read in parts of LLM_PROMPT_CHARS (a long session in at most
  LLM_MAX_PARTS): a 1.5B model reading a whole 10-minute transcript wrote about its first
  minutes only;
* for each part, one call per section with the section's own instruction (strategy
  "sections"): the server evaluates the part once and each further call reads only its
  request. One call per part for all sections ("parts") was faster but wrote strings of
  keywords for templates with many sections;
* each answer is a list of sentences, JSON under a grammar (no malformed answer; no Chinese
  characters, which Qwen slips into Portuguese; bounded length), in the note's language;
  a repeating answer is cut and what it wrote whole is kept;
* sentences that repeat the section's heading or instruction, copy the talk, or say again
  what the note said are dropped;
* the model does not cite: `tera.grounding` finds the lines each sentence rests on and
  whether they say it, and the model reads those the word match cannot settle (`judge`);
  a statement without support is flagged with the lines nearest to it;
* proposed custom-field values need a line that says them (no line: no proposal) and
  must pass the session form's own validation (`validate_values`); a scale is asked as
  one of its allowed values.

No clinical text leaves through logs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from tera import grounding, llm
from tera.llm import LLMError
from therapies.formbuilder import SCALE, validate_values
from therapies.schema import Kind

log = logging.getLogger(__name__)

QUICK_NOTES = 0  # the source number that stands for the therapist's quick notes
MAX_SENTENCES = 10  # per section
MAX_STATEMENT = 400  # characters
MAX_ITEM = 800  # characters of one item of an answer (a small model writes paragraphs)
MAX_PART_SENTENCES = 5  # per section, from one part of a transcript
# A section's answer may run to this many tokens a sentence asked for (a sentence of a
# note is ~25-40 tokens; an answer cut short keeps the sentences it wrote whole).
TOKENS_PER_SENTENCE = 60
# Qwen slips Chinese (and the odd Japanese or Korean) word into Portuguese: the grammar
# refuses those scripts, and the fullwidth punctuation that comes with them.
NO_CJK = "[^\u2e80-\u9fff\uac00-\ud7af\u3040-\u30ff\uff00-\uffef]"
# How a note reads when the model copied the talk instead of writing a note: the share of
# its words that are spoken forms ("you know", "I think", "né", "você").
SPOKEN_WORDS = {
    "en": "you your yours yourself you're you've you'll you'd i i'm i've i'd i'll we we're "
    "we've we'll we'd let's okay ok um uh gonna wanna na yeah alright hey dragon",
    "pt": "você vocês voce voces te contigo tá ta né ne eu tô to pra tipo aí ai gente hein",
}
SPOKEN = {lang: frozenset(words.split()) for lang, words in SPOKEN_WORDS.items()}
# Words a note never addresses to its reader: one of them marks a sentence as copied talk.
ADDRESSED = {
    "en": frozenset(
        ["you", "your", "yours", "yourself", "you're", "you've", "you'll", "you'd", "let's"]
    ),
    "pt": frozenset(["você", "vocês", "voce", "voces", "te", "contigo"]),
}
# "Homework: None.", "Encaminhamentos: nenhum." — a template's heading filled with nothing.
NOTHING = re.compile(
    r"^[^:]{1,40}:\s*(none|nothing|n/?a|not discussed|nenhum|nenhuma|nada|não)\W*$", re.I
)
# "Terapeuta: Tá tudo bem." — a line of the transcript copied with its speaker.
SPEAKER_LINE = re.compile(
    r"^(therapist|patient|client|doctor|terapeuta|paciente|cliente|m[ée]dic[oa])\s*:", re.I
)
MAX_SPOKEN = 0.04
LANGUAGE_NAMES = {"en": "English", "pt-br": "Brazilian Portuguese", "pt": "Portuguese"}

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Line:
    """One transcript segment, numbered from 1 as the page shows it."""

    number: int
    segment_id: int
    speaker: str
    text: str


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code.lower(), code)


def transcript_lines(segments: Iterable[Any], *, unknown: str = "Unknown") -> list[Line]:
    """Segments (with `speaker` selected) in order, numbered from 1; a segment without a
    speaker is said by `unknown`."""
    return [
        Line(i, s.pk, str(s.speaker) if s.speaker_id else unknown, " ".join(s.text.split()))
        for i, s in enumerate(segments, start=1)
    ]


def render_lines(lines: Sequence[Line]) -> str:
    return "\n".join(f"{line.speaker}: {line.text}" for line in lines)


def part_budget(lines: Sequence[Line], most: int, parts: int) -> int:
    """The size of a part: `most` characters, unless the transcript would then be read in
    more than `parts` parts (a long session), when it is cut into `parts` even ones."""
    total = sum(len(line.speaker) + len(line.text) + 3 for line in lines)
    return max(most, -(-total // parts))


def split_parts(lines: Sequence[Line], budget: int) -> list[list[Line]]:
    """The lines in consecutive parts of at most `budget` characters each (a line longer
    than that is a part of its own); one part when they all fit."""
    parts: list[list[Line]] = [[]]
    used = 0
    for line in lines:
        size = len(line.speaker) + len(line.text) + 3
        if parts[-1] and used + size > budget:
            parts.append([])
            used = 0
        parts[-1].append(line)
        used += size
    return [part for part in parts if part] or [[]]


# --- Wording -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Wording:
    """What the model is told, in the language the note is written in (a small model keeps
    to the language it is addressed in)."""

    system: str
    transcript: str  # {lines}
    quick_notes: str  # {notes}
    section: str  # {title} {note} {instruction} {others}
    fields: str
    empty: str
    part: str  # {which} {note} {sections}
    whole: str
    which: str  # {part} {parts}
    judge_system: str
    judge_question: str
    judge: str  # {lines} {statement}


WORDING = {
    "en": Wording(
        system=(
            "You are the clinical documentation assistant of a therapist. You write "
            "clinical notes from the transcript of a session and the therapist's quick "
            "notes, in English. Write only what they say: never add facts, advice, "
            "diagnoses or numbers that are not there. Write short, complete sentences in "
            "the third person and in clinical language ('The patient reports…'); never "
            "copy the spoken words. Answer only with JSON that follows the schema."
        ),
        transcript="Transcript of the session{which}:\n{lines}",
        quick_notes="The therapist's quick notes:\n{notes}",
        section=(
            'Write the section "{title}" of the {note}: {instruction}\n'
            "Only what belongs in this section, in at most {most} sentences; leave out what "
            "belongs in the others ({others}). If this transcript does not touch on it, "
            "answer an empty list."
        ),
        fields=(
            "Give the value of each field below exactly as the session states it, or null "
            "when nobody said it:\n{fields}"
        ),
        empty="(none)",
        part=(
            "This is {which} of the session. Write what it gives to each section of the "
            "{note}:\n{sections}\nEach item is one short, complete sentence in the third "
            "person, with a subject and a verb ('The patient reports …', 'The therapist "
            "suggests …'); only what this part says; a section it says nothing about gets an "
            "empty list."
        ),
        whole="the whole transcript",
        which=" (part {part} of {parts})",
        judge_system=(
            "You check clinical notes against the transcript they were written from. "
            "Answer only with JSON."
        ),
        judge_question=(
            "You are shown lines of a therapy session transcript and a statement written in "
            "the clinical note of the session. Is everything the statement says stated by "
            "these lines: the same facts, the same people and who did what, the same "
            'numbers, and no where the lines say no? Answer {"supported": true} or '
            '{"supported": false}.'
        ),
        judge='Lines:\n{lines}\n\nStatement: "{statement}"',
    ),
    "pt": Wording(
        system=(
            "Você é o assistente de documentação clínica de um terapeuta. Você escreve "
            "notas clínicas a partir da transcrição de uma sessão e das anotações rápidas "
            "do terapeuta, em português do Brasil. Escreva só o que elas dizem: nunca "
            "acrescente fatos, conselhos, diagnósticos ou números que não estejam lá. "
            "Escreva frases curtas e completas, na terceira pessoa e em linguagem clínica "
            "('A paciente relata…'); nunca copie as palavras faladas. Responda apenas com "
            "JSON que siga o esquema."
        ),
        transcript="Transcrição da sessão{which}:\n{lines}",
        quick_notes="Anotações rápidas do terapeuta:\n{notes}",
        section=(
            'Escreva a seção "{title}" da nota ({note}): {instruction}\n'
            "Só o que pertence a esta seção, em no máximo {most} frases; deixe de fora o que "
            "pertence às outras ({others}). Se esta transcrição não trata disso, responda "
            "com uma lista vazia."
        ),
        fields=(
            "Dê o valor de cada campo abaixo exatamente como a sessão o diz, ou null "
            "quando ninguém o disse:\n{fields}"
        ),
        empty="(nenhuma)",
        part=(
            "Esta é a {which} da sessão. Escreva o que ela traz para cada seção da nota "
            "({note}):\n{sections}\nCada item é uma frase curta e completa, na terceira "
            "pessoa, com sujeito e verbo ('A paciente relata …', 'O terapeuta sugere …'); só o "
            "que este trecho diz; uma seção sobre a qual ele nada diz recebe uma lista vazia."
        ),
        whole="transcrição inteira",
        which=" (parte {part} de {parts})",
        judge_system=(
            "Você confere notas clínicas com a transcrição de que foram escritas. Responda "
            "apenas com JSON."
        ),
        judge_question=(
            "Você vê falas da transcrição de uma sessão de terapia e uma afirmação escrita "
            "na nota clínica da sessão. Tudo o que a afirmação diz é dito por estas falas: os "
            "mesmos fatos, as mesmas pessoas e quem fez o quê, os mesmos números, e não onde "
            'as falas dizem não? Responda {"supported": true} ou {"supported": false}.'
        ),
        judge='Falas:\n{lines}\n\nAfirmação: "{statement}"',
    ),
}


def wording(language: str) -> Wording:
    return WORDING[grounding.base_language(language)]


# --- Schemas -------------------------------------------------------------------------------
def text_pattern(longest: int) -> str:
    """A JSON schema `pattern` for text without Chinese, Japanese or Korean characters, at
    most `longest` long (the grammar enforces the pattern; with a pattern it ignores
    `maxLength`)."""
    return f"^{NO_CJK}{{0,{longest}}}$"


def sentences_schema(key: str = "sentences") -> dict[str, Any]:
    """An answer of one list of sentences. (No `maxItems`: llama.cpp's grammar does not
    enforce it, so a longer list would fail validation; `sentences_of` cuts the list, and
    a repeating answer is stopped by `repeating`.)"""
    sentence = {"type": "string", "pattern": text_pattern(MAX_ITEM)}
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": sentence}},
        "required": [key],
    }


def field_value_schema(field: Mapping[str, Any]) -> dict[str, Any]:
    """JSON schema of a custom field's value, or null when the session did not say it. A
    scale is one of its values, so an answer off the scale cannot be written."""
    kind = field["kind"]
    value: dict[str, Any]
    if kind in (Kind.SHORT_TEXT, Kind.LONG_TEXT, Kind.DATE):
        value = {"type": "string", "pattern": text_pattern(MAX_STATEMENT)}
    elif kind == Kind.NUMBER:
        value = {"type": "number"}
    elif kind == Kind.SCALE:
        value = {"type": "integer", "enum": list(SCALE)}
    elif kind == Kind.YES_NO:
        value = {"type": "boolean"}
    elif kind == Kind.SINGLE_CHOICE:
        value = {"type": "string", "enum": list(field["choices"])}
    else:  # multiple choice
        value = {"type": "array", "items": {"type": "string", "enum": list(field["choices"])}}
    return {"anyOf": [value, {"type": "null"}]}


def fields_schema(fields: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "fields": {
                "type": "object",
                "properties": {f["key"]: field_value_schema(f) for f in fields},
                "required": [f["key"] for f in fields],
            }
        },
        "required": ["fields"],
    }


# --- Prompts -------------------------------------------------------------------------------
def context_message(
    lines: Sequence[Line], quick_notes: str, language: str, part: int = 1, parts: int = 1
) -> str:
    """What every call about one part of a transcript shares, first (the server evaluates
    it once): the lines (and which part of the session they are), and the quick notes."""
    words = wording(language)
    which = words.which.format(part=part, parts=parts) if parts > 1 else ""
    body = words.transcript.format(which=which, lines=render_lines(lines) or words.empty)
    notes = words.quick_notes.format(notes=quick_notes.strip() or words.empty)
    return f"{body}\n\n{notes}\n\n"


def _field_line(field: Mapping[str, Any]) -> str:
    described = f"- {field['key']}: {field['label']} ({field['kind'].replace('_', ' ')}"
    if field.get("choices"):
        described += "; one of: " + ", ".join(field["choices"])
    if field["kind"] == Kind.SCALE:
        described += f"; {SCALE.start} to {SCALE.stop - 1}"
    if field.get("unit"):
        described += f"; in {field['unit']}"
    return described + ")"


def section_messages(
    context: str,
    *,
    title: str,
    sections: Sequence[Mapping[str, str]],
    key: str,
    language: str,
    most: int = MAX_SENTENCES,
) -> llm.Messages:
    words = wording(language)
    section = next(s for s in sections if s["key"] == key)
    others = ", ".join(s["title"] for s in sections if s["key"] != key) or words.empty
    request = words.section.format(
        title=section["title"],
        note=title,
        instruction=section["instruction"],
        others=others,
        most=most,
    )
    return [
        {"role": "system", "content": words.system},
        {"role": "user", "content": context + request},
    ]


def part_messages(
    lines: Sequence[Line],
    part: int,
    parts: int,
    *,
    title: str,
    sections: Sequence[Mapping[str, str]],
    quick_notes: str,
    language: str,
) -> llm.Messages:
    words = wording(language)
    which = words.whole if parts == 1 else words.which.format(part=part, parts=parts).strip(" ()")
    listed = "\n".join(f'- "{s["key"]}" ({s["title"]}): {s["instruction"]}' for s in sections)
    request = words.part.format(which=which, note=title, sections=listed)
    context = context_message(lines, quick_notes, language, part, parts)
    return [
        {"role": "system", "content": words.system},
        {"role": "user", "content": context + request},
    ]


def part_schema(keys: Sequence[str]) -> dict[str, Any]:
    items = sentences_schema("x")["properties"]["x"]
    return {"type": "object", "properties": dict.fromkeys(keys, items), "required": list(keys)}


def fields_messages(
    context: str, fields: Sequence[Mapping[str, Any]], language: str
) -> llm.Messages:
    words = wording(language)
    request = words.fields.format(fields="\n".join(_field_line(f) for f in fields))
    return [
        {"role": "system", "content": words.system},
        {"role": "user", "content": context + request},
    ]


# --- Checking what came back ---------------------------------------------------------------
JSON_ITEM = re.compile(r'"(?:[^"\\]|\\.)*"|\]')


def whole_items(text: str, key: str) -> list[str]:
    """The strings written whole in the list `key` of an answer, finished or not."""
    start = text.find(f'"{key}"')
    bracket = text.find("[", start) if start >= 0 else -1
    if bracket < 0:
        return []
    items = []
    for match in JSON_ITEM.finditer(text, bracket):
        if match.group() == "]":
            break
        try:
            items.append(json.loads(match.group()))
        except json.JSONDecodeError:
            break
    return items


def repeating(*keys: str) -> Callable[[str], bool]:
    """A `stop` for llm.ask_json: the model wrote the same item twice in one of the lists
    `keys` (a small model at temperature 0 then loops until its token budget is spent)."""

    def stop(text: str) -> bool:
        for key in keys:
            seen = [" ".join(grounding.fold(item).split()) for item in whole_items(text, key)]
            if len(set(seen)) < len(seen):
                return True
        return False

    return stop


def salvage(*keys: str) -> Callable[[str], dict[str, Any] | None]:
    """A `repair` for llm.ask_json: an unfinished answer of lists becomes the items
    written whole (each once; a list not begun is empty)."""

    def repair(text: str) -> dict[str, Any] | None:
        answer = {key: list(dict.fromkeys(whole_items(text, key))) for key in keys}
        return answer if any(answer.values()) else None

    return repair


def spoken_share(texts: Iterable[str], language: str) -> float:
    """The share of the words that only speech uses (see SPOKEN)."""
    words = [w.replace("’", "'") for t in texts for w in grounding.WORD.findall(t.lower())]
    marks = SPOKEN[grounding.base_language(language)]
    return sum(w in marks for w in words) / len(words) if words else 0.0


def is_talk(sentence: str, language: str) -> bool:
    """A sentence copied from the talk rather than written for the note: a question, one
    that addresses someone ("Write down what is on your mind"), or one with two or more
    spoken forms ("I think we fix a time, okay")."""
    if sentence.rstrip().endswith("?"):
        return True
    words = [w.replace("’", "'") for w in grounding.WORD.findall(sentence.lower())]
    lang = grounding.base_language(language)
    if any(w in ADDRESSED[lang] for w in words):
        return True
    return sum(w in SPOKEN[lang] for w in words) >= 2


def _said_as(text: str) -> str:
    return " ".join(grounding.WORD.findall(grounding.fold(text)))


def spoken_sentences(lines: Sequence[Line]) -> frozenset[str]:
    """Every sentence said in the transcript, as its folded words, for `is_copied`."""
    return frozenset(
        _said_as(sentence) for line in lines for sentence in grounding.sentences(line.text)
    )


def is_copied(sentence: str, spoken: Collection[str]) -> bool:
    """A sentence said in the talk, word for word ("Respira.", "Ele bebia, mas..."): copied,
    not written for the note, and the word match would call it supported. A note's phrase
    that reuses part of a sentence ("A sleep diary for two weeks.") is not a copy."""
    said = _said_as(sentence)
    return bool(said) and said in spoken


def as_written(language: str, most: int = MAX_SENTENCES) -> Callable[[dict[str, Any]], list[str]]:
    """A check for a section's answer: its sentences (at most `most`), asked again once if
    they copy the talk instead of writing a note (kept the second time: better than
    nothing)."""

    def check(answer: dict[str, Any]) -> list[str]:
        sentences = sentences_of(answer, most=most)
        if spoken_share(sentences, language) > MAX_SPOKEN:
            raise llm.Imperfect(
                "it copies the spoken words: write it as a clinical note, in the third "
                "person, without 'you', 'I' or filler words",
                sentences,
            )
        return sentences

    return check


def same(a: grounding.Terms, b: grounding.Terms, threshold: float = 0.75) -> bool:
    """Two texts saying (nearly) the same words, as stems: one repeats the other."""
    if not a.stems or not b.stems:
        return False
    shared = len(a.stems & b.stems)
    return shared / max(len(a.stems), len(b.stems)) >= threshold and a.numbers <= b.numbers


def clean_sentences(
    raw: Iterable[Any],
    section: Mapping[str, str],
    language: str,
    written: list[grounding.Terms],
    spoken: Collection[str] = (),
) -> list[str]:
    """The answer's sentences worth keeping: whitespace tidied, a leading "Heading:"
    removed, and none that is only the heading, says nothing of its own, is talk copied
    from the transcript (`is_talk`, or a sentence of it word for word: `spoken`, from
    `spoken_sentences`), echoes the section's instruction, or says again what an earlier
    sentence of the note said (`written`, extended here)."""
    heading = grounding.fold(section["title"]).strip()
    instruction = grounding.terms(section.get("instruction", ""), language)
    kept = []
    for text in (s for item in raw for s in grounding.sentences(str(item))):
        text = text[:MAX_STATEMENT]
        folded = grounding.fold(text)
        if folded.startswith(heading) and folded[len(heading) : len(heading) + 1] in (":", "-"):
            text = text[len(heading) + 1 :].strip(" :-")
        if (
            not text
            or grounding.fold(text).strip(" .:") == heading
            or NOTHING.match(text)
            or SPEAKER_LINE.match(text)
            or is_talk(text, language)
            or is_copied(text, spoken)
        ):
            continue
        said = grounding.terms(text, language)
        if not (said.stems or said.numbers):  # "The patient reports." says nothing
            continue
        if same(said, instruction) or any(same(said, before) for before in written):
            continue
        written.append(said)
        kept.append(text)
    return kept


JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"supported": {"type": "boolean"}},
    "required": ["supported"],
}


def judge_messages(statement: str, lines: Sequence[str], language: str) -> llm.Messages:
    """The lines and the statement, then the question. Asked first (a prefix the server
    would evaluate once for a note's statements), the question lost the small model
    precision in Portuguese (0.56 against 0.70 on the labelled set, recall 0.89/0.85)."""
    words = wording(language)
    ask = words.judge.format(lines="\n".join(lines), statement=statement)
    return [
        {"role": "system", "content": words.judge_system},
        {"role": "user", "content": f"{ask}\n\n{words.judge_question}"},
    ]


def judge(statement: str, lines: Sequence[str], language: str) -> bool | None:
    """The model's reading of whether `lines` say `statement` (None: it could not answer,
    and the word match's verdict stands). Measured on the labelled set of
    tests/tera/data/, asking it where the word match is unsure (`grounding.settled`) lifts
    the flag's precision from ~0.45 to ~0.64-0.70 and its recall from ~0.76 to 0.85."""
    try:
        verdict, _stats = llm.ask_json(
            judge_messages(statement, lines, language),
            JUDGE_SCHEMA,
            lambda answer: bool(answer["supported"]),
            max_tokens=12,
        )
    except LLMError:
        return None
    return verdict


def _cited(lines: Sequence[Line], sources: Sequence[int]) -> list[str]:
    """The lines a statement rests on, each with the one before it (the question an answer
    answers), in order, as the judge reads them."""
    shown = sorted({j for i in sources for j in (i - 1, i) if 0 <= j < len(lines)})
    return [f"{lines[j].speaker}: {lines[j].text}" for j in shown]


def ground_sentences(
    sentences: Sequence[str],
    lines: Sequence[Line],
    quick_notes: str,
    language: str,
    *,
    ask: int = 0,
) -> list[dict[str, Any]]:
    """Statements as a version stores them: each with the segment ids of the lines it
    rests on (`sources`), whether it rests on the quick notes, and whether that support
    holds (`supported`). The word match decides where it is sure (`grounding.settled`);
    up to `ask` of the others, the least covered first, are read by the model (`judge`).
    Written in another language than the transcript, a statement cannot be matched word
    for word: it is left unchecked (`supported` None)."""
    spoken = grounding.detect_language(render_lines(lines))
    crossed = spoken is not None and grounding.base_language(spoken) != (
        grounding.base_language(language)
    )
    line_terms = [grounding.terms(line.text, language) for line in lines]
    notes = grounding.terms(quick_notes, language) if quick_notes.strip() else None
    searched = [] if crossed else line_terms
    found = [grounding.support(grounding.terms(text, language), searched) for text in sentences]
    verdicts: list[bool | None] = [
        None if crossed else grounding.settled(support) for support in found
    ]
    unsure = sorted(
        (i for i, v in enumerate(verdicts) if v is None and not crossed),
        key=lambda i: found[i].coverage,
    )
    for i in unsure[:ask]:
        verdicts[i] = judge(sentences[i], _cited(lines, found[i].sources), language)
    statements = []
    for text, support, verdict in zip(sentences, found, verdicts, strict=True):
        supported: bool | None = None if crossed else support.supported
        if verdict is not None:
            supported = verdict
        from_notes = False
        if notes is not None and not supported:
            from_notes = grounding.support(grounding.terms(text, language), [notes]).supported
            supported = from_notes or supported
        statements.append(
            {
                "text": text,
                "sources": [lines[i].segment_id for i in support.sources],
                "from_notes": from_notes,
                "rejected": [],
                "origin": "ai",
                "supported": supported,
            }
        )
    return statements


def is_supported(statement: Mapping[str, Any]) -> bool:
    """What the therapist wrote needs no support; an AI statement is supported when the
    check found lines (or the quick notes) that say it. Versions drafted before the check
    existed count any cited line."""
    if statement.get("origin") != "ai":
        return True
    if "supported" in statement:
        return bool(statement["supported"])
    return bool(statement.get("sources")) or bool(statement.get("from_notes"))


def _value_support(
    field: Mapping[str, Any], value: Any, lines: Sequence[Line], language: str
) -> list[int]:
    """Indexes of the lines that say a proposed value (empty: nobody said it). A number is
    said in a line where the field's own words come up in it or the line before (the
    question it answers); a choice by its own words; text by its content."""
    line_terms = [grounding.terms(line.text, language) for line in lines]
    label = grounding.terms(field["label"], language).stems
    kind = field["kind"]

    def about(stems: frozenset[str]) -> bool:  # "anxious" speaks of "anxiety"; "horas" of
        # "horas" (a stem too short for prefixes)
        return (
            not label
            or bool(label & stems)
            or bool(grounding.prefixes(label) & grounding.prefixes(stems))
        )

    if kind in (Kind.NUMBER, Kind.SCALE):
        for i, said in enumerate(line_terms):
            if float(value) not in said.numbers:
                continue
            if about(said.stems):
                return [i]
            if (
                i > 0
                and lines[i - 1].text.rstrip().endswith("?")
                and about(line_terms[i - 1].stems)
            ):
                return [i - 1, i]
        return []
    if kind in (Kind.SINGLE_CHOICE, Kind.MULTIPLE_CHOICE):
        found = []
        for choice in value if isinstance(value, list) else [value]:
            words = grounding.terms(choice, language).stems
            index = next((i for i, s in enumerate(line_terms) if words and words <= s.stems), None)
            if index is None:
                return []
            found.append(index)
        return sorted(set(found))
    if kind == Kind.YES_NO:
        return [i for i, said in enumerate(line_terms) if label and about(said.stems)][:1]
    result = grounding.support(grounding.terms(str(value), language), line_terms)
    return result.sources if result.supported else []


def suggestions(
    raw_fields: Mapping[str, Any],
    schema: Sequence[Mapping[str, Any]],
    keys: list[str],
    lines: Sequence[Line],
    language: str,
) -> list[dict[str, Any]]:
    """Proposed custom-field values that a line of the transcript says and the session
    form itself would accept, each with those lines (`sources`, segment ids); the rest
    (null, empty, unsaid, or invalid for the field) are dropped."""
    proposed = []
    for field in schema:
        key = field["key"]
        value = raw_fields.get(key)
        if key not in keys or value in (None, "", []):
            continue
        try:
            clean = validate_values([dict(field)], {key: value})
        except ValidationError:
            continue
        if key not in clean:
            continue
        said = _value_support(field, clean[key], lines, language)
        if not said:
            continue
        proposed.append(
            {
                "key": key,
                "value": clean[key],
                "status": "pending",
                "sources": [lines[i].segment_id for i in said],
            }
        )
    return proposed


def statements_from_text(text: str, before: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A section edited by hand (one statement per line): a line left as it was keeps its
    sources; a new or changed line is the therapist's own."""
    kept = {s["text"]: s for s in before}
    out = []
    for raw in text.splitlines():
        line = " ".join(raw.split()).lstrip("-• ").strip()
        if not line:
            continue
        if line in kept:
            out.append(dict(kept[line]))
        else:
            out.append(
                {"text": line, "sources": [], "from_notes": False, "rejected": [], "origin": "me"}
            )
    return out


# --- Drafting ------------------------------------------------------------------------------
@dataclass
class Draft:
    """A drafted note: its sections (as a version stores them), proposed field values,
    how many parts the transcript was read in, and how the calls went."""

    sections: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]
    parts: int
    stats: llm.Stats = dataclasses.field(default_factory=llm.Stats)


def sentences_of(
    answer: dict[str, Any], key: str = "sentences", most: int = MAX_SENTENCES
) -> list[str]:
    return [" ".join(str(s).split()) for s in answer[key] if str(s).strip()][:most]


def draft(
    *,
    title: str,
    sections: Sequence[Mapping[str, str]],
    fields: Sequence[Mapping[str, Any]],
    field_keys: list[str],
    lines: Sequence[Line],
    quick_notes: str,
    language: str,
    on_progress: Progress | None = None,
    strategy: str = "sections",
) -> Draft:
    """Draft a note (see the module's docstring); LLMError when the model cannot.

    The transcript is read in parts of LLM_PROMPT_CHARS (one part when it is shorter), and
    each part writes its share of the sections, joined in order: with `strategy` "parts",
    one call a part for all its sections; with "sections", one call a section (the part is
    read once and each further call reads only its request)."""
    report = on_progress or (lambda stage, done, total: None)

    def reading(done: int, total: int) -> None:
        report("reading", done, total)

    stats = llm.Stats()
    budget = part_budget(lines, settings.LLM_PROMPT_CHARS, settings.LLM_MAX_PARTS)
    parts = split_parts(lines, budget)
    most = max(2, MAX_SENTENCES // len(parts))
    keys = [s["key"] for s in sections]
    written: list[grounding.Terms] = []
    drafted: dict[str, list[str]] = {key: [] for key in keys}
    if strategy == "parts":
        for number, part in enumerate(parts, start=1):
            report("part", number - 1, len(parts))
            messages = part_messages(
                part,
                number,
                len(parts),
                title=title,
                sections=sections,
                quick_notes=quick_notes,
                language=language,
            )
            if len(parts) == 1:
                llm.prefill(messages, on_progress=reading)
            answer, used = llm.ask_json(
                messages,
                part_schema(keys),
                lambda a: {key: sentences_of(a, key) for key in keys},
                stop=repeating(*keys),
                repair=salvage(*keys),
            )
            stats.add(used)
            for key in keys:
                drafted[key] += answer[key]
    else:
        for number, part in enumerate(parts, start=1):
            context = context_message(part, quick_notes, language, number, len(parts))
            for index, section in enumerate(sections):
                done = (number - 1) * len(sections) + index
                report("writing", done, len(sections) * len(parts))
                messages = section_messages(
                    context,
                    title=title,
                    sections=sections,
                    key=section["key"],
                    language=language,
                    most=most,
                )
                if index == 0:
                    llm.prefill(messages, on_progress=reading)
                written_here, used = llm.ask_json(
                    messages,
                    sentences_schema(),
                    as_written(language, most),
                    max_tokens=TOKENS_PER_SENTENCE * most,
                    stop=repeating("sentences"),
                    repair=salvage("sentences"),
                )
                stats.add(used)
                drafted[section["key"]] += written_here
    # The fields while the last part is still the server's prompt (its prefix is reused).
    context = context_message(parts[-1], quick_notes, language, len(parts), len(parts))
    proposed: list[dict[str, Any]] = []
    if fields:
        report("fields", 0, 1)
        values, used = llm.ask_json(
            fields_messages(context, fields, language),
            fields_schema(fields),
            lambda a: a["fields"],
        )
        stats.add(used)
        proposed = suggestions(values, fields, field_keys, lines, language)
    report("checking", 0, 1)
    spoken = spoken_sentences(lines)
    kept = {
        section["key"]: clean_sentences(drafted[section["key"]], section, language, written, spoken)
        for section in sections
    }
    everything = [text for section in sections for text in kept[section["key"]]]
    grounded = iter(
        ground_sentences(everything, lines, quick_notes, language, ask=settings.LLM_JUDGE_MAX)
    )
    out = [
        {
            "key": section["key"],
            "title": section["title"],
            "statements": [next(grounded) for _ in kept[section["key"]]],
        }
        for section in sections
    ]
    return Draft(out, proposed, len(parts), stats)
