"""How good the drafted notes are: ROUGE against notes clinicians wrote, the statements the
grounding check flags, schema failures, and the time a note takes.

    .venv/bin/python -m tests.bench.note_quality --data PATH [--limit N] [--start K]
        [--template KEY] [--model NAME|PATH] [--threads 2] [--show] [--no-fields]

`--data` is either

* a CSV with the columns `dialogue` and `note` in the format of ACI-BENCH
  (../shared/eval/aci-bench/{train,valid}.csv: `[doctor]`/`[patient]` lines, a
  clinician's note): each dialogue becomes a transcript of two speakers (guests speak as
  themselves), drafted with the built-in "medical" template unless `--template` says
  otherwise; or
* a therapy dialogue of ours (tests/bench/data/therapy/*.json), or the folder of them:
  drafted with its reference's template in its language, and also scored by the share of
  its key facts the note states (by part of the session, for the 60-minute one), whether
  the note is in the dialogue's language, and the custom fields it proposes against the
  values said.

Every dialogue goes through the project's own path, `tera.drafting.draft` (the prompts,
the grammar, the grounding check and the field suggestions of the app), against the
embedded llama.cpp server on `--model` (started here with `--threads`, as `./holos run`
starts it), or against `LLM_BASE_URL`/`LLM_MODEL` when that is set, so a practice can
compare its own endpoint.

Per dialogue it prints ROUGE-1/2/L F1 (rouge-score, stemmed, as the ACI-BENCH paper), the
words of the note against the reference's, statements and how many are flagged, the
seconds to the first progress report and to the first written token, the seconds in all,
and whether drafting failed (a schema failure: the model gave no usable answer twice);
then the means, the server's peak resident memory, and last, exactly (one line):

    ROUGE-1 <r1> ROUGE-2 <r2> ROUGE-L <rl> schema_failures <f>/<n>
    unsupported <pct> seconds_per_note <s>

(ROUGE as percentages with one decimal; `unsupported` the percentage of statements
flagged.) A failed note scores 0. Published anchors on the ACI-BENCH test split, zero-shot:
copying the transcript ROUGE-1 32.8, ChatGPT 47.4, GPT-4 51.8.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACI_SPEAKERS = {"doctor": "Doctor", "patient": "Patient"}
PLACEHOLDERS = {  # settings are read on import; nothing here needs a database or Redis
    "DATABASE_URL": "postgres://unused@127.0.0.1:9/unused",
    "REDIS_URL": "redis://127.0.0.1:9/0",
}
ACI_LINE = re.compile(r"^\[(\w+)\]\s*(.*)$")


@dataclass
class Case:
    """One dialogue to draft, with what to score it against."""

    name: str
    lines: list[tuple[str, str]]  # (speaker, text)
    reference: str
    language: str = "en"
    template: str = "medical"
    key_facts: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)


def aci_lines(dialogue: str) -> list[tuple[str, str]]:
    """`[doctor] …` lines as (speaker, text); a line without a tag continues the last."""
    out: list[tuple[str, str]] = []
    for raw in dialogue.splitlines():
        match = ACI_LINE.match(raw.strip())
        if match:
            tag = match.group(1).lower()
            speaker = ACI_SPEAKERS.get(tag, tag.replace("_", " ").capitalize())
            out.append((speaker, match.group(2).strip()))
        elif raw.strip() and out:
            out[-1] = (out[-1][0], f"{out[-1][1]} {raw.strip()}")
    return out


def load_cases(path: Path, template: str | None) -> list[Case]:
    if path.is_dir():
        return [c for p in sorted(path.glob("*.json")) for c in load_cases(p, template)]
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [
            Case(
                name=row.get("encounter_id") or f"row{i}",
                lines=aci_lines(row["dialogue"]),
                reference=row["note"],
                template=template or "medical",
            )
            for i, row in enumerate(rows, start=1)
        ]
    data = json.loads(path.read_text(encoding="utf-8"))
    reference = data["reference"]
    return [
        Case(
            name=data["id"],
            lines=[(line["speaker"], line["text"]) for line in data["lines"]],
            reference="\n\n".join(reference["sections"].values()),
            language=data["language"],
            template=template or reference.get("template", "soap"),
            key_facts=data.get("key_facts", []),
            fields=data.get("fields", {}),
        )
    ]


# Custom fields a therapy dialogue's `fields` may name (as a practice would define them).
THERAPY_FIELDS = {
    "anxiety": {"label": {"en": "Anxiety level", "pt": "Nível de ansiedade"}, "kind": "scale"},
    "sleep_hours": {
        "label": {"en": "Hours of sleep", "pt": "Horas de sono"},
        "kind": "number",
        "min": 0,
        "max": 24,
    },
}


def custom_fields(case: Case) -> list[dict[str, Any]]:
    from tera.grounding import base_language

    lang = base_language(case.language)
    out = []
    for key in case.fields:
        spec = THERAPY_FIELDS.get(key)
        if spec is None:
            continue
        out.append(
            {
                "key": key,
                "label": spec["label"][lang],
                "kind": spec["kind"],
                "choices": [],
                "required": False,
                "help_text": "",
                "min": spec.get("min"),
                "max": spec.get("max"),
                "unit": "",
            }
        )
    return out


@dataclass
class Result:
    name: str
    rouge: tuple[float, float, float]
    words: int
    reference_words: int
    statements: int
    flagged: int
    first_progress: float | None
    first_token: float | None
    seconds: float
    failed: str = ""
    facts: str = ""
    language_ok: bool | None = None
    fields: str = ""
    note: str = ""
    stages: str = ""  # seconds spent in each stage of drafting


def note_text(sections: list[dict[str, Any]], *, flags: bool = False) -> str:
    """The note as plain text (headings and sentences), its flagged statements marked ⚠
    with `flags` (for reading; ROUGE is scored without the marks)."""
    from tera.drafting import is_supported

    return "\n\n".join(
        f"{s['title'].upper()}\n\n"
        + " ".join(
            ("" if is_supported(st) or not flags else "⚠ ") + st["text"] for st in s["statements"]
        )
        for s in sections
        if s["statements"]
    )


def fact_recall(case: Case, text: str) -> str:
    """Key facts the note states (every one of their words in it, as stems or numbers:
    "3" and "three" are one), overall and by part."""
    from tera.grounding import terms

    if not case.key_facts:
        return ""
    said = terms(text, case.language)
    hits: dict[int, list[bool]] = {}
    for fact in case.key_facts:
        found = True
        for word in fact.get("words", []):
            wanted = terms(str(word), case.language)
            found &= wanted.stems <= said.stems and wanted.numbers <= said.numbers
        hits.setdefault(int(fact.get("part", 1)), []).append(found)
    total = sum(sum(v) for v in hits.values())
    count = sum(len(v) for v in hits.values())
    by_part = " ".join(f"p{p}:{sum(v)}/{len(v)}" for p, v in sorted(hits.items()))
    return f"{total}/{count}" + (f" ({by_part})" if len(hits) > 1 else "")


def draft_case(case: Case, scorer: Any, with_fields: bool, strategy: str) -> Result:
    from django.utils import translation

    from sessions.note_templates import BUILTINS
    from tera import drafting, grounding
    from tera.llm import LLMError

    with translation.override(case.language):
        sections = BUILTINS[case.template].section_dicts()
        title = str(BUILTINS[case.template].name)
    lines = [
        drafting.Line(n, 1000 + n, speaker, " ".join(text.split()))
        for n, (speaker, text) in enumerate(case.lines, start=1)
    ]
    fields = custom_fields(case) if with_fields else []
    began = time.monotonic()
    first_progress: list[float] = []
    spent: dict[str, float] = {}
    current = ["", began]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if not first_progress:
            first_progress.append(now - began)
        if stage != current[0]:
            if current[0]:
                spent[current[0]] = spent.get(current[0], 0.0) + now - current[1]
            current[:] = [stage, now]

    try:
        result = drafting.draft(
            title=title,
            sections=sections,
            fields=fields,
            field_keys=[f["key"] for f in fields],
            lines=lines,
            quick_notes="",
            language=case.language,
            on_progress=progress,
            strategy=strategy,
        )
    except LLMError as error:
        seconds = time.monotonic() - began
        return Result(case.name, (0, 0, 0), 0, len(case.reference.split()), 0, 0,
                      first_progress[0] if first_progress else None, None, seconds,
                      failed=error.code)  # fmt: skip
    seconds = time.monotonic() - began
    spent[current[0]] = spent.get(current[0], 0.0) + began + seconds - current[1]
    text = note_text(result.sections)
    scores = scorer.score(case.reference, text)
    statements = [s for section in result.sections for s in section["statements"]]
    said = grounding.detect_language(" ".join(s["text"] for s in statements))
    expected = {f"{k}": v for k, v in case.fields.items()}
    proposed = {s["key"]: s["value"] for s in result.suggestions}
    fields_line = ""
    if with_fields and expected:
        right = sum(proposed.get(k) == v for k, v in expected.items())
        wrong = sum(k in proposed and proposed[k] != v for k, v in expected.items())
        fields_line = f"{right}/{len(expected)} right, {wrong} wrong: {proposed}"
    return Result(
        name=case.name,
        rouge=tuple(scores[m].fmeasure * 100 for m in ("rouge1", "rouge2", "rougeL")),  # type: ignore[arg-type]
        words=len(text.split()),
        reference_words=len(case.reference.split()),
        statements=len(statements),
        flagged=sum(not drafting.is_supported(s) for s in statements),
        first_progress=first_progress[0] if first_progress else None,
        first_token=result.stats.first_token,
        seconds=seconds,
        facts=fact_recall(case, text),
        language_ok=None if said is None else said == case.language,
        fields=fields_line,
        note=note_text(result.sections, flags=True),
        stages=" ".join(f"{stage} {secs:.0f}s" for stage, secs in spent.items()),
    )


def peak_rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def fmt(value: float | None, unit: str = "s") -> str:
    return "—" if value is None else f"{value:.1f}{unit}"


def main(argv: list[str] | None = None) -> int:
    # Stopped with SIGTERM (kill, a CI timeout), unwind so the server it started stops too.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--template", default=None)
    parser.add_argument("--model", default=None, help="a shipped model's name or a GGUF path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=32768)
    parser.add_argument("--show", action="store_true", help="print every note")
    parser.add_argument("--no-fields", action="store_true")
    parser.add_argument(
        "--strategy", default="sections", choices=("sections", "parts"),
        help="how each part is asked: the app's one call a section, or one call a part",
    )  # fmt: skip
    parser.add_argument(
        "--part-chars", type=int, default=0, help="LLM_PROMPT_CHARS (the size of a part)"
    )
    args = parser.parse_args(argv)

    for key, value in PLACEHOLDERS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings")
    import django

    django.setup()
    from django.conf import settings
    from rouge_score import rouge_scorer

    from tests.llm import llama_server

    cases = load_cases(args.data, args.template)
    cases = cases[args.start :]
    if args.limit:
        cases = cases[: args.limit]
    if not cases:
        print("No dialogues in", args.data, file=sys.stderr)
        return 1
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    results: list[Result] = []
    with ExitStack() as stack:
        server_pid = None
        if settings.LLM_EMBEDDED:
            model = args.model or settings.LLM_EMBEDDED_MODEL
            server = stack.enter_context(
                llama_server(model, threads=args.threads, context=args.context)
            )
            settings.LLM_BASE_URL, settings.LLM_MODEL = server.url, server.name
            server_pid = server.pid
            print(f"· model {server.name} on {args.threads} threads, context {args.context}")
        else:
            print(f"· endpoint {settings.LLM_BASE_URL}, model {settings.LLM_MODEL}")
        if args.part_chars:
            settings.LLM_PROMPT_CHARS = args.part_chars
        print(f"· strategy {args.strategy}, parts of {settings.LLM_PROMPT_CHARS} characters")
        print(f"· {len(cases)} dialogues from {args.data}; load {os.getloadavg()[0]:.2f}")
        header = (
            f"{'dialogue':<24} {'R-1':>5} {'R-2':>5} {'R-L':>5} {'words':>9} {'stmts':>5} "
            f"{'flag':>4} {'1st prog':>8} {'1st tok':>8} {'secs':>6}  notes"
        )
        print(header, flush=True)
        for case in cases:
            r = draft_case(case, scorer, with_fields=not args.no_fields, strategy=args.strategy)
            results.append(r)
            extra = " ".join(
                part
                for part in (
                    f"FAILED ({r.failed})" if r.failed else "",
                    f"facts {r.facts}" if r.facts else "",
                    ""
                    if r.language_ok is None
                    else f"language {'ok' if r.language_ok else 'WRONG'}",
                    f"fields {r.fields}" if r.fields else "",
                    f"({r.stages})" if r.stages else "",
                )
                if part
            )
            print(
                f"{r.name:<24} {r.rouge[0]:5.1f} {r.rouge[1]:5.1f} {r.rouge[2]:5.1f} "
                f"{r.words:>4}/{r.reference_words:<4} {r.statements:>5} {r.flagged:>4} "
                f"{fmt(r.first_progress):>8} {fmt(r.first_token):>8} {r.seconds:6.1f}  {extra}",
                flush=True,
            )
            if args.show and r.note:
                print(r.note.replace("\n\n", "\n"), "\n", flush=True)
        rss = peak_rss_mb(server_pid)
    n = len(results)
    mean = [sum(r.rouge[i] for r in results) / n for i in range(3)]
    failures = sum(bool(r.failed) for r in results)
    statements = sum(r.statements for r in results)
    flagged = sum(r.flagged for r in results)
    unsupported = 100 * flagged / statements if statements else 0.0
    seconds = sum(r.seconds for r in results) / n
    drafted = [r for r in results if not r.failed]
    firsts = [r.first_token for r in drafted if r.first_token is not None]
    progress = [r.first_progress for r in drafted if r.first_progress is not None]
    print(
        f"mean        ROUGE-1 {mean[0]:.1f} ROUGE-2 {mean[1]:.1f} ROUGE-L {mean[2]:.1f}; "
        f"{statements} statements, {flagged} flagged; first progress "
        f"{fmt(max(progress) if progress else None)} at most, first token "
        f"{fmt(sum(firsts) / len(firsts) if firsts else None)} on average; "
        f"server peak RSS {fmt(rss, ' MB')}; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    print(
        f"ROUGE-1 {mean[0]:.1f} ROUGE-2 {mean[1]:.1f} ROUGE-L {mean[2]:.1f} "
        f"schema_failures {failures}/{n} unsupported {unsupported:.1f} "
        f"seconds_per_note {seconds:.1f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
