"""Whether what the model wrote rests on what was said: each statement of a drafted note
(and each proposed custom-field value) is matched against the transcript's lines, in
English or Portuguese, without the model's help.

A statement's *terms* are its content words, stemmed (Snowball, the language's own
stemmer) and stripped of accents, and its numbers (digits or number words: "three",
"três", "3" are one number). The lines that best cover those terms are its sources (at
most `MAX_SOURCES`); it is *supported* when they cover enough of its terms
(`MIN_COVERAGE`), every number it states was said there (or in the line just before or
after: an answer's question), a denial rests on lines that deny, and it says something
of its own (a statement of template words alone, "The patient reports…", rests on
nothing). The thresholds were chosen on the labelled set in
tests/tera/data/grounding_set.json (precision and recall printed by
tests/tera/test_grounding.py).

This is deliberately lexical: it cannot tell who said what or catch a paraphrase that
shares no words. A flag says "check this", it is not a verdict.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import snowballstemmer

MAX_SOURCES = 3
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
MIN_COVERAGE = 0.6
# Covered this well (and its numbers said), a statement is taken as supported without
# asking the model (tera.drafting's judge); below it, the model is asked.
SURE = 0.75
WORD = re.compile(r"\d+(?:[.,]\d+)?|[^\W\d_]+(?:['’][^\W\d_]+)*")

_EN_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "once": 1, "twice": 2,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "half": 0.5,
    "dozen": 12, "thrice": 3,
}  # fmt: skip
_PT_NUMBERS = {
    "zero": 0, "um": 1, "uma": 1, "dois": 2, "duas": 2, "tres": 3, "quatro": 4, "cinco": 5,
    "seis": 6, "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12,
    "treze": 13, "catorze": 14, "quatorze": 14, "quinze": 15, "dezesseis": 16,
    "dezessete": 17, "dezoito": 18, "dezenove": 19, "vinte": 20, "trinta": 30,
    "quarenta": 40, "cinquenta": 50, "sessenta": 60, "setenta": 70, "oitenta": 80,
    "noventa": 90, "cem": 100, "cento": 100, "meia": 0.5, "meio": 0.5, "primeiro": 1,
    "primeira": 1, "segundo": 2, "segunda": 2, "terceiro": 3, "terceira": 3,
    "duzentos": 200, "trezentos": 300, "mil": 1000,
}  # fmt: skip
# Number words that are also articles or pronouns ("a one-off", "uma semana"): a number
# when a line says it, but a statement must use digits for it to count as a claim.
_AMBIGUOUS = {"one", "um", "uma", "first", "second", "segundo", "segunda", "half", "meia",
              "meio", "primeiro", "primeira", "once"}  # fmt: skip

# Words that say nothing of their own in a note: grammar, and the scribe's template words
# ("the patient reports…"), in both languages, accents stripped.
_STOP_WORDS = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his
    how i if in into is it its itself just me more most my myself now of off on once
    only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves ll re ve s t d m don doesn didn isn wasn
    weren won wouldn couldn shouldn pm ok okay yeah yes uh um hmm mm like really well oh
    right just kind sort thing things something anything lot bit little maybe also still
    even much many get gets got gotten getting patient patients client clients therapist
    therapists practitioner clinician doctor session sessions report reports reported
    reporting state states
    stated say says said describe describes described mention mentions mentioned note
    notes noted express expresses expressed share shares shared discuss discusses
    discussed indicate indicates indicated explain explains explained talk talks talked
    tell tells told feel feels felt feeling today currently current week weeks time
    times day days o os as um uns umas de do da dos das no na nos nas em por pelo pela
    pelos pelas para pra com sem sob sobre entre ate ao aos e ou mas se que quem qual
    quais cujo onde quando como porque pois ja tambem so ainda muito muita muitos muitas
    pouco mais menos bem mal eu tu ele ela nos vos eles elas me te lhe nos vos lhes meu
    minha meus minhas teu tua seu sua seus suas nosso nossa este esta estes estas esse
    essa esses essas aquele aquela isso isto aquilo ser sou es e somos sao era eram foi
    foram sido estar estou esta estamos estao estava estavam esteve ter tenho tem temos
    tinha tinham teve haver ha havia fazer faz fez vai vou ir ne ta tipo assim entao
    aqui ali la sim ah eh hum paciente pacientes cliente terapeuta terapeutas sessao
    sessoes relata relatou relatam refere referiu refere diz disse dizem afirma afirmou
    menciona mencionou descreve descreveu conta contou fala falou comenta comentou
    expressa expressou observa observou hoje atual atualmente semana semanas vez vezes
    dia dias coisa coisas
"""
_STOP = frozenset(_STOP_WORDS.split())
# English past forms the stemmer keeps apart from their verbs ("woke" is "wake").
_IRREGULAR_WORDS = """
    woke:wake woken:wake slept:sleep felt:feel thought:think ate:eat eaten:eat
    drank:drink drunk:drink went:go gone:go came:come took:take taken:take gave:give
    given:give told:tell began:begin begun:begin left:leave lost:lose kept:keep ran:run
    fell:fall fallen:fall got:get gotten:get saw:see seen:see met:meet sat:sit
    heard:hear made:make found:find bought:buy brought:bring spent:spend sent:send
    stood:stand understood:understand wrote:write written:write spoke:speak spoken:speak
    broke:break broken:break forgot:forget forgotten:forget chose:choose chosen:choose
    drove:drive driven:drive rode:ride flew:fly grew:grow knew:know known:know
    threw:throw wore:wear worn:wear paid:pay laid:lay lay:lie slid:slide fought:fight
    caught:catch taught:teach sought:seek held:hold led:lead fed:feed meant:mean won:win
    hid:hide hidden:hide swam:swim sang:sing rang:ring stuck:stick struck:strike
    dealt:deal shook:shake woken:wake
"""
_IRREGULAR = dict(pair.split(":") for pair in _IRREGULAR_WORDS.split())
# A statement that denies something: it must rest on lines that deny it too.
_NEGATIONS_WORDS = """
    no not never nothing none nobody neither nor without cannot deny denies denied denying nao
    nunca nada nenhum nenhuma ninguem nem sem nega negou negam negando
"""
_NEGATIONS = frozenset(_NEGATIONS_WORDS.split())


def sentences(text: str) -> list[str]:
    """A text cut into its sentences (and lines), whitespace tidied."""
    return [" ".join(s.split()) for s in SENTENCE_END.split(text) if s.strip()]


def fold(text: str) -> str:
    """Lower case without accents ("Ansiedade, insônia" -> "ansiedade, insonia")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def base_language(language: str) -> str:
    return "pt" if language.lower().startswith("pt") else "en"


@cache
def _stemmer(language: str) -> Any:
    return snowballstemmer.stemmer("portuguese" if language == "pt" else "english")


@dataclass(frozen=True)
class Terms:
    """What a piece of text says, for matching: stems of content words, numbers, and
    whether it denies something."""

    stems: frozenset[str]
    numbers: frozenset[float]
    claimed: frozenset[float] = frozenset()  # numbers stated unambiguously (digits)
    negated: bool = False
    denied: frozenset[str] = frozenset()  # stems said after a denial, in its clause


def _as_number(token: str) -> float | None:
    try:
        return float(token.replace(",", "."))
    except ValueError:
        return None


# Where a denial ends: the end of its clause ("Not hopeless, but tired": tired is said).
CLAUSE = re.compile(r"[.,;:!?…]+|\b(?:but|though|mas|porém|porem)\b", re.IGNORECASE)


def terms(text: str, language: str) -> Terms:
    """The terms of `text` (English or Portuguese; number words of both are read, since
    a session may mix them). Stems said after a denial in the same clause ("no thoughts
    of hurting", "não tomei o remédio") are `denied` as well."""
    lang = base_language(language)
    stemmer = _stemmer(lang)
    stems: set[str] = set()
    denied: set[str] = set()
    numbers: set[float] = set()
    claimed: set[float] = set()
    negated = False
    for clause in CLAUSE.split(text.lower()):
        previous: float | None = None
        denying = False
        for raw in WORD.findall(clause):
            word = fold(raw)
            value = _as_number(word)
            if value is None:
                value = _PT_NUMBERS.get(word) if lang == "pt" else _EN_NUMBERS.get(word)
                if value is None:
                    value = _EN_NUMBERS.get(word) or _PT_NUMBERS.get(word)
                if value is not None and word not in _AMBIGUOUS:
                    claimed.add(value)
            else:
                claimed.add(value)
            if value == 0.5 and previous is not None and previous >= 1 and previous % 1 == 0:
                # "five and a half", "sete e meia": the number said is 5.5, not 5.
                numbers.discard(previous)
                claimed.discard(previous)
                numbers.add(previous + 0.5)
                claimed.add(previous + 0.5)
            if value is not None:
                numbers.add(value)
                # "twenty five", "vinte e cinco": the compound is the number said.
                if previous is not None and previous >= 20 and previous % 10 == 0 and value < 10:
                    numbers.add(previous + value)
                    if claimed & {previous, value}:
                        claimed -= {previous, value}
                        claimed.add(previous + value)
                previous = value
                continue
            if word not in ("e", "and", "a"):
                previous = None
            if word in _NEGATIONS or word.endswith("n't"):
                negated = denying = True
                continue
            word = word.replace("’", "'").split("'")[0]
            if word in _STOP or len(word) < 2:
                continue
            word = _IRREGULAR.get(word, word) if lang == "en" else word
            stem = fold(stemmer.stemWord(word))
            stems.add(stem)
            if denying:
                denied.add(stem)
    return Terms(
        frozenset(stems), frozenset(numbers), frozenset(claimed), negated, frozenset(denied)
    )


PREFIX = 4


def prefixes(stems: Iterable[str]) -> set[str]:
    """Stems cut to their first letters, for words of one family that the stemmer keeps
    apart ("anxious" and "anxiety", "ansioso" and "ansiedade")."""
    return {stem[:PREFIX] for stem in stems if len(stem) >= PREFIX}


@dataclass(frozen=True)
class Support:
    """Where a statement rests: the indexes of its source lines (best first) and whether
    they support it."""

    sources: list[int]
    coverage: float
    supported: bool
    missing_numbers: list[float] = field(default_factory=list)
    contradicted: bool = False  # it affirms what a line it rests on (or beside) denies


def _window_numbers(indexes: Iterable[int], lines: Sequence[Terms]) -> set[float]:
    found: set[float] = set()
    for i in indexes:
        for j in (i - 1, i, i + 1):
            if 0 <= j < len(lines):
                found |= lines[j].numbers
    return found


def support(statement: Terms, lines: Sequence[Terms]) -> Support:
    """Match one statement's terms against the lines' (from `terms`)."""
    wanted = statement.stems
    if not wanted and not statement.claimed:
        return Support([], 0.0, False)
    chosen: list[int] = []
    covered: set[str] = set()
    for _ in range(MAX_SOURCES):
        best, gain = -1, 0
        for i, line in enumerate(lines):
            if i in chosen:
                continue
            new = len((wanted - covered) & line.stems)
            if new > gain:
                best, gain = i, new
        if best < 0:
            break
        chosen.append(best)
        covered |= wanted & lines[best].stems
    if not chosen and statement.claimed:
        chosen = [i for i, line in enumerate(lines) if statement.claimed & line.numbers][:1]
    coverage = len(covered) / len(wanted) if wanted else 1.0
    said = _window_numbers(chosen, lines)
    missing = sorted(n for n in statement.claimed if n not in said)
    near = [lines[j] for i in chosen for j in (i - 1, i, i + 1) if 0 <= j < len(lines)]
    denies = not statement.negated or any(line.negated for line in near)
    # A statement that affirms what a line it rests on (or the next) denies ("reports
    # feeling hopeless" from "No, not hopeless") may say the opposite: only reading
    # tells ("kept her from switching off" is what "cannot switch off" says).
    affirmed = statement.stems - statement.denied
    contradicted = bool(affirmed & frozenset().union(*(line.denied for line in near)))
    supported = bool(chosen) and coverage >= MIN_COVERAGE and not missing and denies
    return Support(chosen, coverage, supported, missing, contradicted)


def settled(found: Support) -> bool | None:
    """The word match's verdict where it is sure of it: False for a statement that rests on
    no line or states a number nobody said; True for one its lines cover well and do not
    deny; None where only reading can tell (a paraphrase, words borrowed for another claim,
    or words its lines say after a "no")."""
    if not found.sources or found.missing_numbers:
        return False
    if found.supported and found.coverage >= SURE and not found.contradicted:
        return True
    return None


# --- Language ------------------------------------------------------------------------------
# Common words of one language and not the other (accents stripped; "a", "no", "as", "do"
# are both), enough to tell even a terse note's language.
_PT_MARKER_WORDS = """
    nao que de uma com para voce eu ele ela isso muito tambem mas esta sao o os da dos das
    na em por ao sobre apos antes dele dela eles elas foi tem seu sua pela pelo ou
"""
_EN_MARKER_WORDS = """
    the and you that with for have this not was what but are it's i'm is of to in on about
    after before she he her his they it at be has had were from by an or
"""
_PT_MARKERS = frozenset(_PT_MARKER_WORDS.split())
_EN_MARKERS = frozenset(_EN_MARKER_WORDS.split())


def detect_language(text: str) -> str | None:
    """ "pt-br" or "en" by their commonest words, or None when the text says too little."""
    words = [fold(w) for w in WORD.findall(text.lower())[:2000]]
    pt = sum(w in _PT_MARKERS for w in words)
    en = sum(w in _EN_MARKERS for w in words)
    if pt == en:  # nothing to tell them apart (a short text, or names only)
        return None
    return "pt-br" if pt > en else "en"
