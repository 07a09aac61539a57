"""Benchmark of drafting a SOAP note from a 10-minute session transcript on the CPU.

    .venv/bin/python -m tests.bench.drafting [--runs 3] [--threads 2] [--minutes 10]
                                             [--fields] [--no-quick-notes] [--show]

1. Builds the transcript of a therapy session: the scripted two-speaker SCRIPT below,
   82 lines of ~1,500 words, which is 10 minutes at 150 spoken words a minute (--minutes
   takes a share of its lines, or cycles it), as `tera.drafting.Line` objects with fake
   segment ids (no database).
2. Starts the embedded llama.cpp server (tests/llm.py, the command `./holos run` starts)
   on the shipped SmolLM2-135M-Instruct Q4_1 with --threads threads and the configured
   context (LLM_EMBEDDED_CONTEXT), and points the settings at it.
3. Drafts as `tera.drafting.draft_note` does, without the database: `render_transcript`
   within LLM_PROMPT_CHARS, `draft_messages` and `draft_schema` for the built-in SOAP
   template (with --fields, also the three custom fields of tests.factories'
   TherapyTypeFactory), then `tera.llm.ask_json` with a check that grounds the answer
   (`ground`) and keeps the valid field values (`suggestions`).
4. One warm-up draft, then --runs drafts, then one "regenerate" of the last prompt.
   The llama.cpp server keeps the previous request's tokens and evaluates only what
   follows the longest shared prefix. Each run therefore gets its own transcript (the
   patient's name in line 1 differs), so the whole transcript is evaluated anew, as for a
   new session; the system prompt and instructions before it are shared, as they are
   between two SOAP drafts in the app. The regenerate row (the app's "Regenerate" right
   after a draft) has the whole prompt cached: its time to first token is the fixed cost
   (grammar from the schema, one token, HTTP).
5. Prints per draft and summarised: prompt characters and tokens (ChatML tokenised by the
   server's /extras/tokenize, checked once against a real request's usage.prompt_tokens),
   the tokens evaluated anew, time to first token, streamed tokens, tokens/s, seconds,
   attempts, and what came back: statements, how many cite a transcript line, how many
   cite the quick notes, how many are flagged (no valid source), how many cite a number
   that is no line; whether the transcript was truncated.

Figures are printed, never asserted: the exit code is 1 only when the harness broke (the
server did not start). A draft that fails twice is a result, shown in its row. The CPU is
shared with whatever else runs; the load average is printed. Touches no database and no
Redis: unless DATABASE_URL and REDIS_URL are set, settings get placeholder addresses so
importing them starts no embedded server.

Nothing runs on import; pytest does not collect this module.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.bench.harness import HarnessError, run_main, step

if TYPE_CHECKING:
    from tera.drafting import Line
    from tera.llm import Messages, Stats

SETTINGS_MODULE = "practice.settings"
SCRIPT_MINUTES = 10  # SCRIPT's ~1,500 words at 150 words a minute
SEGMENT_ID_OFFSET = 1000  # fake segment ids, apart from the line numbers
MODEL_NAME = "SmolLM2-135M-Instruct Q4_1"
# Settings read on import; placeholders so importing them starts no embedded server.
PLACEHOLDERS = {
    "DATABASE_URL": "postgres://unused@127.0.0.1:9/unused",
    "REDIS_URL": "redis://127.0.0.1:9/0",
}
SPEAKERS = {"therapist": "Therapist", "patient": "Patient"}  # Speaker.__str__ of a role
# The patient's name in line 1: a different one per draft, so no two prompts share the
# transcript (the server would reuse the evaluated tokens of a shared prefix).
NAMES = ["Ana", "Beatriz", "Carla", "Daniela", "Elena", "Fernanda", "Gabriela", "Helena"]
QUICK_NOTES = (
    "Early waking (3 am) 4 nights; work deadlines moved. Anxiety 6/10, mood 5/10. No SI. "
    "Cognitive restructuring of 'I will fail'. Plan: breathing at night, phone out of the "
    "bedroom, no coffee after lunch, walk, talk to manager Monday, sleep diary. 2 weeks."
)
# tests.factories.TherapyTypeFactory's custom fields, for --fields.
FIELDS: list[dict[str, Any]] = [
    {"key": "chakras", "label": "Chakras worked on", "kind": "multiple_choice",
     "choices": ["Root", "Heart", "Crown"]},
    {"key": "sensations", "label": "Perceived sensations", "kind": "long_text", "choices": []},
    {"key": "energy", "label": "Energy level", "kind": "scale", "choices": []},
]  # fmt: skip
FIELD_DEFAULTS = {"help_text": "", "required": False, "min": None, "max": None, "unit": ""}

SCRIPT = [
    ("therapist", "Good afternoon, {name}. Come in and sit wherever you like. How have you "
     "been since our last session two weeks ago?"),
    ("patient", "Honestly, up and down. The first week was better, but the last few days "
     "have been hard again, mostly because of sleep."),
    ("therapist", "Tell me about the sleep. What has it looked like this week?"),
    ("patient", "I fall asleep fine, around eleven, but I wake up at three in the morning "
     "and my mind starts racing. Then I lie there until five or so."),
    ("therapist", "What do you notice yourself thinking about when that happens?"),
    ("patient", "Mostly work. My manager changed the deadlines again on Monday, and the "
     "whole project moved up by two weeks. I keep going over the list of things I have not "
     "done."),
    ("therapist", "So the thoughts are about what is still unfinished. Do they come as "
     "words, as pictures, or more as a feeling in your body?"),
    ("patient", "A bit of both. I feel it in my chest first, like a tightness, and then the "
     "list starts. Sometimes I picture the meeting where I have to say I am behind."),
    ("therapist", "That sounds exhausting, especially night after night. How many nights "
     "this week did it happen?"),
    ("patient", "Four, I think. Monday, Tuesday, Thursday and last night. On Wednesday I "
     "slept through, which surprised me."),
    ("therapist", "What was different about Wednesday?"),
    ("patient", "I went to my sister's for dinner and we walked home together. I did not "
     "look at my email after eight. I think that helped."),
    ("therapist", "That is useful to know. Did you try the breathing exercise we practised "
     "last time?"),
    ("patient", "A little. On Tuesday I did it twice in the night, four seconds in and six "
     "seconds out, and the second time I fell asleep again quite quickly."),
    ("therapist", "That is real progress. What about the other nights?"),
    ("patient", "On Thursday I forgot about it completely. I just reached for my phone and "
     "started reading the news, which made it worse."),
    ("therapist", "The phone comes up a lot when we talk about the nights. Where does it "
     "sleep?"),
    ("patient", "On the bedside table, right next to me. I use it as my alarm."),
    ("therapist", "Would it be possible to charge it in another room and use a simple alarm "
     "clock instead?"),
    ("patient", "I could. I have an old alarm clock somewhere. It feels a bit silly, but I "
     "can try it."),
    ("therapist", "It is not silly at all. It removes one decision at three in the morning, "
     "when decisions are hardest. How has your mood been during the day?"),
    ("patient", "Tired, mostly. Irritable in the afternoons. I snapped at a colleague on "
     "Thursday and felt terrible about it afterwards."),
    ("therapist", "What happened with the colleague?"),
    ("patient", "He asked me for a report that I had already sent him twice. I said "
     "something sharp in front of the team. I apologised later and he was fine, but I kept "
     "replaying it."),
    ("therapist", "You apologised, and he accepted it. And still your mind kept going back "
     "to it. Is that familiar?"),
    ("patient", "Very. It is the same as at night. Once something goes wrong, I cannot let "
     "it go."),
    ("therapist", "On a scale from zero to ten, where ten is the worst anxiety you can "
     "imagine, where would you put this week on average?"),
    ("patient", "Around six. Two weeks ago I would have said seven or eight, so it is a bit "
     "better."),
    ("therapist", "And your mood, from zero meaning very low to ten meaning very good?"),
    ("patient", "Maybe five. Not low, just flat and tired."),
    ("therapist", "Have you had any thoughts of harming yourself, or that life is not worth "
     "living?"),
    ("patient", "No, nothing like that. I just want to sleep and get through the project."),
    ("therapist", "Thank you for answering that. I ask everyone. How about eating, and "
     "coffee?"),
    ("patient", "I eat at my desk most days. I am drinking more coffee, probably four cups, "
     "and the last one around four in the afternoon."),
    ("therapist", "Caffeine late in the afternoon can stay in the body well into the night. "
     "Would you be willing to stop coffee after lunch for the next two weeks, as an "
     "experiment?"),
    ("patient", "That will be hard, but I see the point. Maybe I can switch to tea in the "
     "afternoon."),
    ("therapist", "Herbal tea would be best, without caffeine. Let us go back to work for a "
     "moment. When the deadlines moved, what did you tell yourself?"),
    ("patient", "That I will fail, and everyone will see that I am not good enough for this "
     "job. That they made a mistake promoting me."),
    ("therapist", "That is a heavy thought. What evidence do you have for it, and what "
     "evidence against it?"),
    ("patient", "For it, I am behind on two tasks. Against it, my manager told me last month "
     "that my work on the last release was excellent, and the client asked for me by name."),
    ("therapist", "So the same person who moved the deadlines also told you recently that "
     "your work was excellent."),
    ("patient", "Yes. When you say it like that, it sounds different. The deadline is about "
     "the client, not about me."),
    ("therapist", "How would you put the thought now, in a more balanced way?"),
    ("patient", "Something like: the deadline is tight and I am behind on two tasks, but I "
     "have done hard projects before, and I can ask for help with the priorities."),
    ("therapist", "How much do you believe that version, from zero to one hundred percent?"),
    ("patient", "About sixty percent. The old one I believed at ninety."),
    ("therapist", "That is a meaningful shift. Have you talked with your manager about the "
     "priorities?"),
    ("patient", "Not yet. I am afraid it will look like I cannot cope."),
    ("therapist", "What would you say to a colleague on your team who came to you with too "
     "many tasks and a new deadline?"),
    ("patient", "I would tell them to come and talk to me early, so we can decide together "
     "what to drop. I would be glad they asked."),
    ("therapist", "Could your manager feel the same way?"),
    ("patient", "Probably. She is reasonable. I think I am more afraid of the conversation "
     "than of her."),
    ("therapist", "Would you like to plan that conversation now, so it feels less like a "
     "leap?"),
    ("patient", "Yes, that would help."),
    ("therapist", "What are the two tasks you are behind on, and which one matters most to "
     "the client?"),
    ("patient", "The data migration and the user guide. The migration matters most. The "
     "user guide could wait a week without anyone noticing."),
    ("therapist", "So you could propose finishing the migration first and moving the guide "
     "by a week. When could you talk to her?"),
    ("patient", "We have our one-to-one on Monday morning. I could bring it up then."),
    ("therapist", "Good. What would be your first sentence?"),
    ("patient", "I want to make sure we hit the client deadline, so I would like to agree "
     "the priorities with you for the next two weeks."),
    ("therapist", "That sounds clear and calm. How do you feel saying it out loud?"),
    ("patient", "Nervous, but less than I expected. It sounds like something a competent "
     "person would say."),
    ("therapist", "It is. Let us go back to the nights. When you wake at three, what could "
     "you do instead of reaching for the phone?"),
    ("patient", "The breathing, four in and six out. And if I am still awake after twenty "
     "minutes, get up and read something boring in the living room."),
    ("therapist", "Exactly. Keep the light low and go back to bed when you feel sleepy. "
     "Would a short walk during the day also fit?"),
    ("patient", "I can try walking after lunch, maybe fifteen minutes around the park. It "
     "might clear my head before the afternoon meetings."),
    ("therapist", "How have things been at home with your partner while all this is going "
     "on?"),
    ("patient", "He has been patient, but he notices when I am up at night. Last weekend he "
     "suggested we go away for a day, and I said no because of work. I regretted it."),
    ("therapist", "What would it mean to you to say yes next time?"),
    ("patient", "That work does not get all of me. We used to go hiking on Sundays, and I "
     "felt much calmer in those weeks. We could start again with a short one this Sunday."),
    ("therapist", "That fits well with the walking. Shall we add it to the plan, as something "
     "for the two of you rather than another task?"),
    ("patient", "Yes. I will ask him tonight."),
    ("therapist", "Let us write down the plan. The breathing exercise at night, the phone "
     "charging in the kitchen, no coffee after lunch, a walk after lunch, and the "
     "conversation with your manager on Monday."),
    ("patient", "That is a lot, but each part is small. I think I can do it."),
    ("therapist", "And please keep a simple sleep diary: what time you went to bed, when you "
     "woke up, and your anxiety from zero to ten in the morning."),
    ("patient", "On paper or on the phone?"),
    ("therapist", "On paper, next to the alarm clock. Then the phone can stay in the "
     "kitchen."),
    ("patient", "Fair enough. I will buy a small notebook on the way home."),
    ("therapist", "Before we finish, how are you feeling now compared with when you came in?"),
    ("patient", "Lighter. Maybe a four instead of a six. Having a plan for Monday helps a "
     "lot."),
    ("therapist", "I am glad. We will meet again in two weeks, same time, and look at the "
     "diary together. If the nights get much worse before then, call the practice and we "
     "will find an earlier slot."),
    ("patient", "Thank you. See you in two weeks."),
]  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.drafting", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=3, help="measured drafts (default 3)")
    parser.add_argument(
        "--threads", type=int, default=2, help="llama.cpp server threads (default 2)"
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=10,
        help=f"minutes of session; the script is {SCRIPT_MINUTES} (default 10)",
    )
    parser.add_argument(
        "--fields",
        action="store_true",
        help="also ask for the three custom fields of TherapyTypeFactory",
    )
    parser.add_argument(
        "--no-quick-notes", action="store_true", help="draft without the therapist's quick notes"
    )
    parser.add_argument("--show", action="store_true", help="print the last run's note")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.threads < 1 or args.minutes <= 0:
        parser.error("--runs, --threads and --minutes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_args(argv), prefix="holos-bench-drafting-")


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    for name, placeholder in PLACEHOLDERS.items():
        os.environ.setdefault(name, placeholder)
    import django

    django.setup()
    for name in ("httpx", "httpx2"):  # the openai client's transport: a line per request
        logging.getLogger(name).setLevel(logging.WARNING)


# --- The transcript -----------------------------------------------------------------------


def transcript(minutes: float, name: str) -> list[Line]:
    """The script as prompt lines: all of it for SCRIPT_MINUTES, a part of it for less,
    cycled for more."""
    from tera.drafting import Line

    count = max(1, round(minutes / SCRIPT_MINUTES * len(SCRIPT)))
    lines = []
    for number in range(1, count + 1):
        speaker, text = SCRIPT[(number - 1) % len(SCRIPT)]
        lines.append(
            Line(number, SEGMENT_ID_OFFSET + number, SPEAKERS[speaker], text.format(name=name))
        )
    return lines


# --- One draft ----------------------------------------------------------------------------


@dataclass
class Draft:
    label: str
    lines: int
    words: int
    prompt_chars: int
    truncated: bool
    prompt_tokens: int
    new_tokens: int  # after the prefix shared with the previous request's prompt
    wall: float = 0.0
    stats: Stats | None = None
    error: str = ""
    neighbours: int = 0  # other llama.cpp servers seen running during the draft
    sections: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[dict[str, Any]] = field(default_factory=list)

    def statements(self) -> list[dict[str, Any]]:
        return [s for section in self.sections for s in section["statements"]]


@dataclass(frozen=True)
class Prompt:
    lines: list[Line]
    shown: list[Line]
    transcript: str
    truncated: bool
    messages: Messages
    schema: dict[str, Any]
    tokens: list[int]


def build_prompt(lines: list[Line], args: argparse.Namespace, base: str) -> Prompt:
    """What draft_note builds from a note, for the built-in SOAP template."""
    from django.conf import settings

    from sessions.note_templates import BUILTINS
    from tera.drafting import draft_messages, draft_schema, render_transcript

    soap = BUILTINS["soap"]
    sections = soap.section_dicts()
    fields = fields_asked(args)
    text, shown = render_transcript(lines, settings.LLM_PROMPT_CHARS)
    truncated = len(shown) < len(lines)
    messages = draft_messages(
        title=str(soap.name),
        sections=sections,
        fields=fields,
        transcript=text,
        quick_notes=quick_notes(args),
        language="en",
    )
    shown = [line for line in lines if f"[{line.number}] " in text]
    return Prompt(
        lines,
        shown,
        text,
        truncated,
        messages,
        draft_schema(sections, fields),
        tokenize(base, chatml(messages)),
    )


def fields_asked(args: argparse.Namespace) -> list[dict[str, Any]]:
    if not args.fields:
        return []
    return [{**FIELD_DEFAULTS, **f, "order": i} for i, f in enumerate(FIELDS)]


def quick_notes(args: argparse.Namespace) -> str:
    return "" if args.no_quick_notes else QUICK_NOTES


def chatml(messages: Messages) -> str:
    """The prompt as SmolLM2's chat template (ChatML) lays it out for the server."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def tokenize(base: str, text: str) -> list[int]:
    """The server's own tokens for `text` (llama-cpp-python's /extras/tokenize)."""
    request = urllib.request.Request(
        f"{base}/extras/tokenize",
        data=json.dumps({"input": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return list(json.load(response)["tokens"])


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def draft(label: str, prompt: Prompt, previous: Prompt | None, args: argparse.Namespace) -> Draft:
    """ask_json with draft_note's check; a failed draft is recorded, not raised."""
    from tera import llm
    from tera.drafting import ground, suggestions

    sections = build_sections()
    fields = fields_asked(args)
    keys = [f["key"] for f in fields]
    notes = quick_notes(args)

    def check(answer: dict[str, Any]) -> dict[str, Any]:
        return {
            "sections": ground(
                answer["sections"], sections, prompt.shown, has_quick_notes=bool(notes)
            ),
            "suggestions": suggestions(answer.get("fields", {}), fields, keys),
        }

    shared = shared_prefix(previous.tokens, prompt.tokens) if previous else 0
    result = Draft(
        label=label,
        lines=len(prompt.lines),
        words=sum(len(line.text.split()) for line in prompt.lines),
        prompt_chars=sum(len(m["content"]) for m in prompt.messages),
        truncated=prompt.truncated,
        prompt_tokens=len(prompt.tokens),
        new_tokens=len(prompt.tokens) - shared,
    )
    began = time.perf_counter()
    try:
        answer, result.stats = llm.ask_json(prompt.messages, prompt.schema, check)
    except llm.LLMError as error:
        result.error = str(error)
    else:
        result.sections, result.suggestions = answer["sections"], answer["suggestions"]
    result.wall = time.perf_counter() - began
    return result


def build_sections() -> list[dict[str, str]]:
    from sessions.note_templates import BUILTINS

    return list(BUILTINS["soap"].section_dicts())


def usage_prompt_tokens(prompt: Prompt) -> int | None:
    """usage.prompt_tokens of one non-streamed request of a single token: the server's
    count of the prompt with its chat template, to check the ChatML count against."""
    from django.conf import settings

    from tera import llm

    answer = llm.client().chat.completions.create(
        model=settings.LLM_MODEL, messages=prompt.messages, max_tokens=1
    )
    return answer.usage.prompt_tokens if answer.usage else None


# --- The run ------------------------------------------------------------------------------


def run(args: argparse.Namespace, tmp: Path) -> None:
    setup_django()
    from django.conf import settings

    from tera import llm_server
    from tests.llm import llama_server

    load_before = os.getloadavg()[0]
    uptime_before = uptime()
    context = settings.LLM_EMBEDDED_CONTEXT
    with ExitStack() as stack:
        step(f"starting the llama.cpp server on {MODEL_NAME} ({args.threads} threads)")
        began = time.perf_counter()
        try:
            url = stack.enter_context(llama_server(threads=args.threads, context=context))
        except (RuntimeError, OSError) as error:
            raise HarnessError(f"the llama.cpp server did not start: {error}") from error
        started = time.perf_counter() - began
        settings.LLM_BASE_URL = url
        settings.LLM_SCHEMA_STYLE = "llama.cpp"
        settings.LLM_MODEL = llm_server.MODEL_ALIAS
        base = url.removesuffix("/v1")
        neighbours = stack.enter_context(Neighbours(urlsplit(url).port or 0))

        prompts = [
            build_prompt(transcript(args.minutes, NAMES[i % len(NAMES)]), args, base)
            for i in range(args.runs + 1)
        ]
        labels = ["warm-up", *(f"run {i}" for i in range(1, args.runs + 1)), "regenerate"]
        drafts: list[Draft] = []
        previous: Prompt | None = None
        checked: int | None = None
        for label, prompt in zip(labels, [*prompts, prompts[-1]], strict=True):
            step(f"{label}: drafting ({len(prompt.tokens)} prompt tokens)")
            neighbours.reset()
            drafts.append(draft(label, prompt, previous, args))
            drafts[-1].neighbours = neighbours.seen
            previous = prompt
            if label == "warm-up":
                checked = usage_prompt_tokens(prompt)
        report(args, drafts, started, context, checked, load_before, uptime_before)
        if args.show:
            show(drafts[-2], prompts[-1])


class Neighbours:
    """Other llama.cpp servers running beside ours, sampled every second (the e2e tests
    start their own): two servers each spinning their threads on the same 2 cores slow
    each other down far more than twofold."""

    def __init__(self, port: int) -> None:
        self.port = str(port)
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Neighbours:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self.seen = self.count()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.seen = max(self.seen, self.count())

    def count(self) -> int:
        found = 0
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes().split(b"\0")
            except OSError:
                continue  # ended meanwhile, or not ours to read
            words = [a.decode(errors="replace") for a in argv]
            if "llama_cpp.server" in words and self.port not in words:
                found += 1
        return found


def uptime() -> str:
    try:
        seconds = float(Path("/proc/uptime").read_text().split()[0])
    except OSError:
        return "?"
    return f"up {seconds / 3600:.1f} h"


# --- Report -------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    from tests.bench.week_view_load import percentile as nearest_rank

    return nearest_rank(sorted(values), fraction)


def counts(d: Draft) -> dict[str, int]:
    from tera.drafting import is_supported

    statements = d.statements()
    return {
        "statements": len(statements),
        "sourced": sum(bool(s["sources"]) for s in statements),
        "notes": sum(bool(s["from_notes"]) for s in statements),
        "flagged": sum(not is_supported(s) for s in statements),
        "bad_refs": sum(bool(s["rejected"]) for s in statements),
        "empty_sections": sum(not section["statements"] for section in d.sections),
    }


HEADER = (
    f"{'draft':<11}{'chars':>6}{'tok':>6}{'new':>6}{'1st tok':>9}{'gen':>6}{'tok/s':>7}"
    f"{'secs':>7}{'att':>4}{'stmts':>6}{'src':>5}{'qn':>4}{'flag':>5}{'bad':>5}{'fld':>5}"
)


def row(d: Draft) -> str:
    head = f"{d.label:<11}{d.prompt_chars:>6}{d.prompt_tokens:>6}{d.new_tokens:>6}"
    s = d.stats
    if s is None:
        return f"{head}  FAILED in {d.wall:.1f} s: {d.error[:80]}"
    timing = (
        f"{s.first_token or 0:>8.2f}s{s.tokens:>6}{s.tokens_per_second:>7.1f}"
        f"{s.seconds:>7.1f}{s.attempts:>4}"
    )
    c = counts(d)
    got = (
        f"{c['statements']:>6}{c['sourced']:>5}{c['notes']:>4}{c['flagged']:>5}"
        f"{c['bad_refs']:>5}{len(d.suggestions):>5}"
    )
    return head + timing + got + (" *" if d.neighbours else "")


def report(
    args: argparse.Namespace,
    drafts: list[Draft],
    started: float,
    context: int,
    checked: int | None,
    load_before: float,
    uptime_before: str,
) -> None:
    from django.conf import settings

    from tests.bench.week_view_load import cores

    measured = [d for d in drafts if d.label.startswith("run ")]
    done = [d for d in measured if d.stats is not None]
    regenerate = drafts[-1]
    first = drafts[1]
    rule = "=" * 96
    out = [
        rule,
        f"Holos drafting benchmark: SOAP note from ~{args.minutes:g} minutes of transcript,"
        f" {MODEL_NAME} on the embedded llama.cpp server, {args.threads} threads",
        rule,
        f"machine     os.cpu_count() {os.cpu_count()}, {cores()} usable; shared with anything"
        f" else running (1-min load {load_before:.2f} before, {os.getloadavg()[0]:.2f} after;"
        f" {uptime_before})",
        f"server      started in {started:.1f} s (not counted); context {context} tokens,"
        f" LLM_MAX_TOKENS {settings.LLM_MAX_TOKENS}, temperature {settings.LLM_TEMPERATURE}",
        f"transcript  {first.lines} lines, {first.words} words, 2 speakers (~{args.minutes:g}"
        f" min at {first.words / args.minutes:.0f} words/min); truncated at LLM_PROMPT_CHARS"
        f" {settings.LLM_PROMPT_CHARS}: {'YES' if first.truncated else 'no'}",
        f"prompt      SOAP (4 sections), {len(fields_asked(args))} custom fields, quick notes"
        f" {'no' if args.no_quick_notes else 'yes'}; {first.prompt_chars} characters,"
        f" {first.prompt_tokens} tokens (ChatML through /extras/tokenize; the server's"
        f" usage.prompt_tokens on the warm-up: {checked if checked is not None else '?'}"
        f" against {drafts[0].prompt_tokens} counted)",
        "",
        "tok = prompt tokens, new = tokens evaluated anew (after the prefix shared with the"
        " previous request),",
        "1st tok = seconds to the first streamed token, gen = tokens streamed (all attempts),"
        " tok/s = gen / (secs - 1st tok),",
        "secs = all attempts, att = attempts; stmts = statements, src = citing a transcript"
        " line, qn = citing the quick notes,",
        "flag = flagged (no valid source), bad = citing a number that is no line,"
        " fld = field values kept",
        "",
        HEADER,
        *(row(d) for d in drafts),
        "",
    ]
    if any(d.neighbours for d in drafts):
        out += [
            "* another llama.cpp server was running on this machine during that draft: its"
            " figures are not those of an idle machine",
            "",
        ]
    if done:
        ttft = [d.stats.first_token or 0 for d in done if d.stats]
        seconds = [d.stats.seconds for d in done if d.stats]
        rate = [d.stats.tokens_per_second for d in done if d.stats]
        tokens = [d.stats.tokens for d in done if d.stats]
        totals = [counts(d) for d in done]
        statements = sum(c["statements"] for c in totals)
        out += [
            f"summary of {len(measured)} runs ({len(measured) - len(done)} failed twice,"
            f" {sum(bool(d.neighbours) for d in measured)} beside another llama.cpp server):",
            f"  first token   p50 {percentile(ttft, 0.5):6.2f} s   max {max(ttft):6.2f} s",
            f"  total         p50 {percentile(seconds, 0.5):6.2f} s   max {max(seconds):6.2f} s",
            f"  generated     p50 {percentile(tokens, 0.5):6.0f} tokens at p50"
            f" {percentile(rate, 0.5):.1f} tokens/s",
            "  attempts      " + ", ".join(str(d.stats.attempts) for d in done if d.stats),
            f"  statements    {statements} in all: {sum(c['sourced'] for c in totals)} cite a"
            f" transcript line, {sum(c['notes'] for c in totals)} the quick notes,"
            f" {sum(c['flagged'] for c in totals)} flagged,"
            f" {sum(c['bad_refs'] for c in totals)} cite a number that is no line;"
            f" {sum(c['empty_sections'] for c in totals)} empty sections",
        ]
        fixed = regenerate.stats.first_token if regenerate.stats else None
        new = percentile([d.new_tokens for d in done], 0.5)
        if fixed is not None and percentile(ttft, 0.5) > fixed:
            prompt_seconds = percentile(ttft, 0.5) - fixed
            out += [
                f"  prompt        ~{new:.0f} tokens evaluated anew per run in ~"
                f"{prompt_seconds:.2f} s (first token p50 minus the regenerate's"
                f" {fixed:.2f} s): ~{new / prompt_seconds:.0f} tokens/s;"
                f" {percentile(ttft, 0.5) / percentile(seconds, 0.5):.0%} of a draft's p50"
                " seconds go before the first token",
            ]
    else:
        out.append("every measured run failed twice")
    out.append(rule)
    print("\n".join(out), flush=True)


def show(d: Draft, prompt: Prompt) -> None:
    numbers = {line.segment_id: line.number for line in prompt.lines}
    print(f"\n{d.label}'s note (cited line numbers; 0 = quick notes; ! = no such line):")
    for section in d.sections:
        print(f"## {section['title']}")
        for s in section["statements"]:
            cited = [numbers[i] for i in s["sources"]] + ([0] if s["from_notes"] else [])
            bad = f" !{s['rejected']}" if s["rejected"] else ""
            print(f"- {s['text']} {cited}{bad}")
    for suggestion in d.suggestions:
        print(f"field {suggestion['key']}: {suggestion['value']!r}")


if __name__ == "__main__":
    sys.exit(main())
