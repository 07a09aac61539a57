"""Benchmark of Tera's search over 100k note chunks: HNSW latency and recall@10, and the
embedding model's throughput on the CPU.

    .venv/bin/python -m tests.bench.tera_search [--chunks 100000] [--queries 200]
                                                [--threads 2] [--database holos_bench_tera]
                                                [--keep]

1. Recreates a database of its own (`holos_bench_tera`) on the embedded PostgreSQL, or on
   the server of DATABASE_URL when set; dev and test databases are never touched. Migrates
   it and seeds the busy practice of tests/bench/busy_practice.py (10 therapists with 15
   patients each, an Owner), plus a few sessions (tests.factories.SessionFactory).
2. Embedding throughput: loads all-MiniLM-L6-v2 through `tera.embeddings` with torch held
   to --threads (loading timed apart), embeds 2,000 therapy-note sentences generated from
   templates and vocabulary below (texts/s), then 400 chunk-sized texts cut by
   `tera.embeddings.split` (chunks/s).
3. The table's vectors: embedding 100k real chunks would take about an hour on 2 cores,
   so each row is a random convex combination (Dirichlet weights) of 2 or 3 of those 2,400
   real embeddings plus gaussian noise, renormalised: clustered like real ones, not
   uniform on the sphere. Its text is the texts it was mixed from. Rows go to the seeded
   patients (unevenly), in sources (a note, a transcript, an AI note) of 1-12 chunks.
4. Drops the model's HNSW index (`chunk_embedding_hnsw`), loads the rows with a binary COPY
   (pgvector's psycopg adapter, on a connection of its own), then creates the index from
   the model's definition (timed, with maintenance_work_mem 512MB and one parallel
   maintenance worker per core beyond the first) and ANALYZEs.
5. Queries: --queries query vectors, half real (embeddings of search phrases and held-out
   note sentences, none of them mixed into the table) and half perturbed (held-out
   sentences' embeddings plus the same noise); 20 more warm up first. Each runs the view's
   query through the ORM (`Chunk.objects.visible_to(membership)
   .select_related("patient", "session").nearest(vector, 20)`, which orders by
   CosineDistance with `hnsw.ef_search` = TERA_EF_SEARCH for its transaction), timed with
   perf_counter, as the Owner (the practice filter) and as a Therapist (their 15
   patients, ~10% of the rows; the 10 therapists take turns). recall@10 compares its
   first 10 with the exact top 10 in that scope, computed in numpy from the loaded
   vectors and checked against a sequential scan in SQL on a few queries.
6. Prints p50/p95/p99/max ms, mean/min recall@10, the queries that got fewer than 10 rows
   and the plan the planner chose, per scope: as Holos searches (TERA_EF_SEARCH, 100 by
   default), with whether the issue's targets were met (p95 <= 50 ms, recall@10 >= 0.95
   on 2 cores), recall by kind of query and the worst queries; then the same SQL at
   pgvector's default `hnsw.ef_search` (40) and at higher ones; with
   `hnsw.iterative_scan` when pgvector has it (0.8+); with the HNSW index forced
   (`enable_sort = off`: the planner may prefer the patient index and an exact sort for a
   Therapist); and with the index scan off (exact search, 50 queries). Then the EXPLAIN
   ANALYZE of one query per scope, and of the Therapist's with the index forced.

Figures are printed, never asserted: the exit code is 1 only when the harness broke. The
CPU is shared with whatever else runs (PostgreSQL itself, a test suite); the load average
is printed at start and end. The database is dropped at the end unless --keep.

Nothing runs on import; pytest does not collect this module.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from cryptography.fernet import Fernet

from tests.bench.harness import HarnessError, run_main, step
from tests.bench.week_view_load import (
    bench_database_url,
    cores,
    percentile,
    recreate_database,
)

if TYPE_CHECKING:
    from practice.models import Membership

Vectors = npt.NDArray[np.float32]
VECTOR_LITERAL = re.compile(r"'\[[^\]]*\]'::vector")

SETTINGS_MODULE = "practice.settings"
INDEX_NAME = "chunk_embedding_hnsw"
TARGET_P95_MS = 50.0
TARGET_RECALL = 0.95
TARGET_CORES = 2
K = 10  # recall@K
WARM_UP = 20
SENTENCES = 2_000  # real note sentences embedded for throughput and as the vectors' base
CHUNK_TEXTS = 400  # real chunk-sized texts, the same
CHUNK_SIZE = 600  # tera.embeddings.split's default
NOISE = 0.25  # norm of the gaussian noise added to a mix before renormalising
SEED = 20
BATCH = 10_000
MAINTENANCE_WORK_MEM = "512MB"
SESSIONS_PER_THERAPIST = 3  # on their first patients; other chunks have no session
WORST = 3  # queries shown with the lowest recall per scope
SQL_CHECKS = 5  # queries whose numpy top 10 is checked against a sequential scan
EXACT_QUERIES = 50  # queries timed with the index scan off (a scan of 100k rows is slow)
EF_SEARCH_DEFAULT = 40  # pgvector's default hnsw.ef_search
DEFAULT_SETTING = f"ef_search {EF_SEARCH_DEFAULT} (default)"
# The view's own query (Chunk.objects.nearest), with the ef_search of TERA_EF_SEARCH.
APP_SETTING = "Holos (nearest, TERA_EF_SEARCH)"
EF_SEARCH_SWEEP = (100, 200, 400, 1000)  # 1000 is pgvector's maximum
ITERATIVE_SCAN_SINCE = (0, 8, 0)
CHUNK_CARDINALITY = (1, 12)  # chunks per source
KINDS = {"session_note": 0.5, "transcript": 0.35, "clinical_note": 0.15}
COLUMNS = (
    "id",
    "practice_id",
    "patient_id",
    "session_id",
    "kind",
    "source_id",
    "position",
    "text",
    "embedding",
    "created_at",
)

# --- Note-like text -------------------------------------------------------------------------

VOCABULARY: dict[str, list[str]] = {
    "name": ["Ana", "Bruno", "Carla", "Diego", "Elena", "Fábio", "Gabriela", "Hugo", "Isabel",
             "João", "Karen", "Lucas", "Marina", "Nuno", "Olívia", "Paulo"],
    "symptom": ["trouble falling asleep", "waking at 3 am with racing thoughts",
                "panic attacks on the metro", "a tight chest before meetings", "low appetite",
                "tension headaches", "irritability in the afternoons", "crying spells",
                "nightmares about the accident", "constant worry about money",
                "loss of interest in hobbies", "avoiding phone calls",
                "fatigue despite sleeping nine hours", "back pain that worsens with stress",
                "binge eating at night", "feeling numb and disconnected",
                "intrusive memories of the hospital", "restlessness and pacing",
                "difficulty concentrating at work", "dizziness in crowded places"],
    "context": ["after the work deadlines moved", "on Sunday evenings",
                "before visiting her mother", "since the divorce", "after the night shifts",
                "since starting the new job", "when the children are at school",
                "around exam weeks", "after arguments with the partner",
                "since the miscarriage", "during the long commute",
                "since moving to the city", "after drinking coffee late",
                "since the father's diagnosis", "when alone at home"],
    "person": ["manager", "partner", "mother", "father", "sister", "teenage son", "daughter",
               "ex-husband", "colleague", "flatmate", "best friend", "mother-in-law"],
    "topic": ["setting boundaries", "grief for the grandmother", "fear of failure",
              "perfectionism at work", "the upcoming court hearing",
              "returning to work after sick leave", "shared custody", "self-criticism",
              "loneliness after retirement", "the end of the relationship",
              "drinking at weekends", "body image", "procrastinating on the thesis",
              "anger at the insurer", "trust after the affair"],
    "technique": ["the 4-6 breathing exercise", "cognitive restructuring",
                  "the 5-4-3-2-1 grounding exercise", "progressive muscle relaxation",
                  "behavioural activation", "a graded exposure hierarchy", "a sleep diary",
                  "thought records", "mindful walking", "an empty chair exercise",
                  "Reiki on the heart chakra", "a body scan",
                  "role play of the difficult conversation", "values clarification",
                  "structured problem solving"],
    "outcome": ["felt calmer by the end", "found it hard to stay with the feeling",
                "said it helped a little", "reported less tension in the shoulders",
                "became tearful and then relieved", "was sceptical but willing to try again",
                "noticed warmth in the hands", "described a clearer head",
                "could not finish it and felt frustrated", "wants to practise daily"],
    "plan": ["keep the sleep diary", "practise the breathing twice a day",
             "talk to the manager about priorities", "walk after lunch",
             "stop coffee after noon", "call the sister on Sunday",
             "write three thought records", "plan one pleasant activity a day",
             "bring the medication list", "book the GP appointment",
             "leave the phone outside the bedroom", "drink only at weekends"],
    "feeling": ["anxious", "flat", "hopeful", "angry", "ashamed", "exhausted", "relieved",
                "guilty", "overwhelmed", "calm"],
    "risk": ["no suicidal ideation", "denies self-harm",
             "passive thoughts of not waking up, no plan or intent, safety plan reviewed",
             "no risk concerns today", "self-harm urges this week, none acted on"],
}  # fmt: skip
NOTE_TEMPLATES = [
    "{name} reported {symptom} {context}.",
    "Discussed {topic}; {name} felt {feeling} and {outcome}.",
    "Practised {technique} for {symptom}; the patient {outcome}.",
    "Plan: {plan} and {plan} before the next session.",
    "Mood {score}/10, anxiety {score}/10, {risk}.",
    "{name} described a conflict with the {person} about {topic}.",
    "Patient feels {feeling} {context} and links it to {topic}.",
    "Homework review: {name} tried to {plan} and {outcome}.",
    "The {person} has been supportive, but {name} still reports {symptom}.",
    "We explored {topic} using {technique}; {name} {outcome}.",
]
QUERY_TEMPLATES = [
    "{symptom} {context}",
    "{technique} for {symptom}",
    "conflict with the {person} about {topic}",
    "{topic}",
    "patient feels {feeling} {context}",
    "homework: {plan}",
]


def fill(template: str, rng: random.Random) -> str:
    """The template with each {field} drawn anew (a field may appear twice)."""
    parts = template.split("{")
    out = [parts[0]]
    for part in parts[1:]:
        field, rest = part.split("}", 1)
        word = str(rng.randint(2, 9)) if field == "score" else rng.choice(VOCABULARY[field])
        out.append(word + rest)
    return "".join(out)


def unique_texts(
    count: int, templates: Sequence[str], rng: random.Random, taken: set[str]
) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        text = fill(rng.choice(templates), rng)
        if text not in taken:
            taken.add(text)
            texts.append(text)
    return texts


def chunk_texts(count: int, rng: random.Random, taken: set[str]) -> list[str]:
    """Chunk-sized pieces of longer notes, cut as tera.indexing cuts them."""
    from tera.embeddings import split

    pieces: list[str] = []
    while len(pieces) < count:
        note = " ".join(unique_texts(rng.randint(5, 9), NOTE_TEMPLATES, rng, taken))
        pieces += split(note, size=CHUNK_SIZE)
    return pieces[:count]


# --- Options and the run --------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.tera_search", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--chunks", type=int, default=100_000, help="rows in the table (default 100000)"
    )
    parser.add_argument(
        "--queries", type=int, default=200, help="measured queries per scope (default 200)"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="torch threads for the embeddings (default 2)"
    )
    parser.add_argument(
        "--database",
        default="holos_bench_tera",
        help="database to drop and recreate for the run (default holos_bench_tera)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.chunks < 1000 or args.queries < 2 or args.threads < 1:
        parser.error("--chunks must be >= 1000, --queries >= 2, --threads >= 1")
    if not args.database.isidentifier():
        parser.error("--database must be a plain identifier such as holos_bench_tera")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_args(argv), prefix="holos-bench-tera-")


def run(args: argparse.Namespace, _tmp: Path) -> None:
    load_before = os.getloadavg()
    with bench_database(args.database, keep=args.keep) as (bench_url, label):
        setup_django(args.threads)
        step(f"database {args.database}: migrate and seed a busy practice")
        fixtures = seed()

        rng = random.Random(SEED)
        taken: set[str] = set()
        sentences = unique_texts(SENTENCES, NOTE_TEMPLATES, rng, taken)
        chunks = chunk_texts(CHUNK_TEXTS, rng, taken)
        half = args.queries // 2
        phrases = unique_texts(half - half // 2, QUERY_TEMPLATES, rng, taken)
        held_out = unique_texts(args.queries - len(phrases) + WARM_UP, NOTE_TEMPLATES, rng, taken)
        throughput = measure_embeddings(args.threads, sentences, chunks)

        step("embedding the queries")
        query_texts = phrases + held_out
        query_real = embed(query_texts)
        base = np.concatenate([throughput.sentence_vectors, throughput.chunk_vectors])
        base_texts = sentences + chunks
        generator = np.random.default_rng(SEED)
        queries = make_queries(query_texts, query_real, len(phrases), half, args.queries, generator)

        step(f"mixing {args.chunks} vectors from {len(base)} real embeddings")
        vectors, parts = synthesise(base, args.chunks, generator)
        rows = layout(args.chunks, fixtures, generator)
        texts = [" ".join(base_texts[i] for i in row if i >= 0) for row in parts]
        similarity = compare_distributions(base, vectors, generator)

        load = load_rows(bench_url, fixtures, rows, texts, vectors)
        build = build_index()
        versions = server_versions()

        step("exact top 10 in numpy for both scopes")
        owner = Scope("Owner", [fixtures.owner], [np.ones(args.chunks, dtype=bool)])
        therapist = Scope(
            "Therapist",
            fixtures.therapists,
            [np.isin(rows.patient, fixtures.caseloads[m.pk]) for m in fixtures.therapists],
        )
        for scope in (owner, therapist):
            exact_top(vectors, queries.vectors, scope)
        checked = check_exact_in_sql(queries, owner, therapist)

        results, explains = sweep(queries, owner, therapist, versions)
        report(
            args,
            label,
            load_before,
            throughput,
            len(base),
            similarity,
            fixtures,
            rows,
            load,
            build,
            versions,
            queries,
            checked,
            (owner, therapist),
            results,
            explains,
            vectors,
        )


# --- Database ------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(database: str, *, keep: bool) -> Iterator[tuple[str, str]]:
    """Recreate the benchmark's own database and point Django at it; drop it afterwards
    unless `keep`. Yields the database's URL and a label without credentials."""
    server_url, bench_url, label = bench_database_url(database)
    step(f"recreating database {database}")
    recreate_database(server_url, database)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": bench_url,
            "CACHE_KEY_PREFIX": f"holos-{database}",
            "LOG_LEVEL": "WARNING",
            # The chunks' text is encrypted as in production (DEBUG is turned off below).
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
    )
    # Nothing here talks to Redis; a placeholder keeps settings from starting one.
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:9/0")
    try:
        yield bench_url, label
    finally:
        if not keep:
            drop_database(server_url, database)


def drop_database(server_url: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()
    try:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    except psycopg.Error as error:
        print(f"note: could not drop database {database}: {error}", flush=True)


def setup_django(threads: int) -> None:
    """Django with torch held to `threads` before the embedding model loads."""
    import django

    django.setup()
    import torch
    from django.conf import settings

    # The measured query is the view's, without DEBUG's logging of every SQL string.
    settings.DEBUG = False
    settings.EMBEDDING_CPU_THREADS = threads
    torch.set_num_threads(threads)


@dataclass
class Fixtures:
    practice_id: int
    owner: Membership
    therapists: list[Membership]
    caseloads: dict[int, list[int]]  # patient ids by therapist membership id
    patients: list[int]
    sessions: dict[int, int]  # a session id by patient id, for the patients with one


def seed() -> Fixtures:
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from patients.models import Patient
    from practice.models import Membership, Role
    from sessions.models import Session
    from tests.bench import busy_practice
    from tests.factories import SessionFactory
    from therapies.models import TherapyType

    call_command("migrate", interactive=False, verbosity=0)
    busy_practice.seed(extra_accounts=0)
    members = Membership.objects.select_related("practice", "user").order_by("pk")
    owner = members.get(role=Role.OWNER)
    practice = owner.practice
    therapists = list(members.filter(role=Role.THERAPIST))
    therapy_type = TherapyType.objects.filter(practice=practice).order_by("pk").first()
    caseloads: dict[int, list[int]] = {}
    yesterday = (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    with transaction.atomic():
        for therapist in therapists:
            mine = Patient.objects.for_practice(practice).assigned_to(therapist.user_id)
            caseloads[therapist.pk] = sorted(mine.values_list("pk", flat=True))
            for day, patient in enumerate(mine.order_by("pk")[:SESSIONS_PER_THERAPIST]):
                SessionFactory(
                    practice=practice,
                    patient=patient,
                    therapist=therapist.user,
                    therapy_type=therapy_type,
                    starts_at=yesterday - timedelta(days=day),
                )
    patients = sorted(Patient.objects.for_practice(practice).values_list("pk", flat=True))
    sessions = dict(Session.objects.for_practice(practice).values_list("patient_id", "pk"))
    return Fixtures(practice.pk, owner, therapists, caseloads, patients, sessions)


# --- Embeddings ----------------------------------------------------------------------------


@dataclass
class Throughput:
    threads: int
    interop_threads: int
    load_seconds: float
    sentence_seconds: float
    sentence_chars: float
    chunk_seconds: float
    chunk_chars: float
    sentence_vectors: Vectors
    chunk_vectors: Vectors


def embed(texts: list[str]) -> Vectors:
    from tera.embeddings import embed as app_embed

    return np.asarray(app_embed(texts), dtype=np.float32)


def timed(function: Callable[[], Vectors]) -> tuple[Vectors, float]:
    began = time.perf_counter()
    result = function()
    return result, time.perf_counter() - began


def measure_embeddings(threads: int, sentences: list[str], chunks: list[str]) -> Throughput:
    import torch

    from tera.embeddings import model

    step(f"loading the embedding model (torch threads {threads})")
    with contextlib.suppress(ImportError):  # a progress bar on stderr while loading
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    began = time.perf_counter()
    try:
        model()
    except (ImportError, OSError, ValueError) as error:
        raise HarnessError(f"the embedding model did not load: {error}") from error
    loaded = time.perf_counter() - began
    embed(sentences[:64])  # the first batches allocate; not counted
    step(f"embedding {len(sentences)} note sentences")
    sentence_vectors, sentence_seconds = timed(lambda: embed(sentences))
    step(f"embedding {len(chunks)} chunk-sized texts")
    chunk_vectors, chunk_seconds = timed(lambda: embed(chunks))
    return Throughput(
        threads=torch.get_num_threads(),
        interop_threads=torch.get_num_interop_threads(),
        load_seconds=loaded,
        sentence_seconds=sentence_seconds,
        sentence_chars=float(np.mean([len(t) for t in sentences])),
        chunk_seconds=chunk_seconds,
        chunk_chars=float(np.mean([len(t) for t in chunks])),
        sentence_vectors=sentence_vectors,
        chunk_vectors=chunk_vectors,
    )


def normalised(vectors: npt.NDArray[Any]) -> Vectors:
    result: Vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return result


def noise(shape: tuple[int, int], generator: np.random.Generator) -> npt.NDArray[np.float64]:
    """Gaussian noise whose rows have a norm of about NOISE."""
    return generator.normal(0.0, NOISE / np.sqrt(shape[1]), size=shape)


def synthesise(
    base: Vectors, count: int, generator: np.random.Generator
) -> tuple[Vectors, npt.NDArray[np.int64]]:
    """`count` unit vectors, each a convex combination of 2 or 3 rows of `base` (Dirichlet
    weights) plus noise; and the rows each was mixed from (-1 for no third)."""
    vectors = np.empty((count, base.shape[1]), dtype=np.float32)
    parts = np.empty((count, 3), dtype=np.int64)
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        picked = generator.integers(0, len(base), size=(size, 3))
        weights = generator.dirichlet(np.ones(3), size=size)
        two = generator.random(size) < 0.5
        weights[two, 2] = 0.0
        weights /= weights.sum(axis=1, keepdims=True)
        mixed = np.einsum("nk,nkd->nd", weights, base[picked])
        vectors[start : start + size] = normalised(mixed + noise(mixed.shape, generator))
        picked[two, 2] = -1
        parts[start : start + size] = picked
    return vectors, parts


@dataclass
class Queries:
    vectors: Vectors  # WARM_UP warm-up queries first, then the measured ones
    labels: list[str]  # the text each was embedded from, "perturbed: " before it if so
    real: int  # measured queries that are real embeddings (the first ones after warm-up)
    phrases: int  # of those, search phrases (the first ones); then held-out sentences

    def kinds(self) -> dict[str, slice]:
        """Where each kind of query is among the measured ones."""
        return {
            "search phrases": slice(0, self.phrases),
            "held-out sentences": slice(self.phrases, self.real),
            "perturbed sentences": slice(self.real, None),
        }


def make_queries(
    texts: list[str],
    real_vectors: Vectors,
    phrases: int,
    half: int,
    total: int,
    generator: np.random.Generator,
) -> Queries:
    """`real_vectors` embed `texts`, the phrases then the held-out sentences: the first
    `half` measured queries are real embeddings, the rest (and the warm-up) perturbed
    held-out ones."""
    real = real_vectors[:half]
    rest = real_vectors[half:]
    perturbed = normalised(rest + noise(rest.shape, generator))
    measured = np.concatenate([real, perturbed[: total - half]])
    warm = perturbed[total - half :]
    labels = [f"perturbed: {t}" for t in texts[half:]]
    labels = labels[total - half :] + texts[:half] + labels[: total - half]
    return Queries(np.concatenate([warm, measured]), labels, half, phrases)


@dataclass
class Similarity:
    real_nearest: float
    synthetic_nearest: float
    real_random: float
    synthetic_random: float


def compare_distributions(
    base: Vectors, vectors: Vectors, generator: np.random.Generator
) -> Similarity:
    """Mean cosine to the nearest other vector, and between random pairs, for a sample of
    the real embeddings and of the mixed ones: how alike the two clouds are."""

    def nearest(sample: Vectors, among: Vectors, offset: npt.NDArray[np.int64]) -> float:
        scores = sample @ among.T
        scores[np.arange(len(sample)), offset] = -np.inf  # not itself
        return float(scores.max(axis=1).mean())

    def random_pairs(among: Vectors) -> float:
        a = generator.integers(0, len(among), 2000)
        b = generator.integers(0, len(among), 2000)
        keep = a != b
        return float(np.einsum("nd,nd->n", among[a[keep]], among[b[keep]]).mean())

    picked_real = generator.choice(len(base), size=min(500, len(base)), replace=False)
    picked_mixed = generator.choice(len(vectors), size=500, replace=False)
    return Similarity(
        real_nearest=nearest(base[picked_real], base, picked_real),
        synthetic_nearest=nearest(vectors[picked_mixed], vectors, picked_mixed),
        real_random=random_pairs(base),
        synthetic_random=random_pairs(vectors),
    )


# --- Rows, load and index ------------------------------------------------------------------


@dataclass
class Rows:
    patient: npt.NDArray[np.int64]
    session: list[int | None]
    kind: list[str]
    source: list[int]
    position: list[int]
    sources: int


def layout(count: int, fixtures: Fixtures, generator: np.random.Generator) -> Rows:
    """Sources of 1-12 chunks each, for patients drawn unevenly (some have many notes)."""
    patients = np.array(fixtures.patients, dtype=np.int64)
    weight = generator.gamma(2.0, size=len(patients))
    weight /= weight.sum()
    kinds = list(KINDS)
    kind_weights = np.array(list(KINDS.values()))
    next_id = dict.fromkeys(kinds, 1)
    rows = Rows(np.empty(count, dtype=np.int64), [], [], [], [], 0)
    filled = 0
    while filled < count:
        patient = int(generator.choice(patients, p=weight))
        kind = kinds[int(generator.choice(len(kinds), p=kind_weights))]
        size = min(int(generator.integers(*CHUNK_CARDINALITY, endpoint=True)), count - filled)
        rows.patient[filled : filled + size] = patient
        rows.session += [fixtures.sessions.get(patient)] * size
        rows.kind += [kind] * size
        rows.source += [next_id[kind]] * size
        rows.position += list(range(size))
        next_id[kind] += 1
        rows.sources += 1
        filled += size
    return rows


@dataclass
class Load:
    seconds: float
    table_size: str
    rows: int


def load_rows(
    bench_url: str, fixtures: Fixtures, rows: Rows, texts: list[str], vectors: Vectors
) -> Load:
    """Drop the HNSW index, then COPY the rows in binary on a connection of our own (the
    pgvector adapter registered there changes how vectors load; Django's stays as is)."""
    import psycopg
    from django.db import connection
    from django.utils import timezone
    from pgvector.psycopg import register_vector
    from psycopg import sql

    from practice import crypto
    from tera.models import Chunk

    with connection.schema_editor() as editor:
        editor.remove_index(Chunk, hnsw_index())
    table = Chunk._meta.db_table
    now = timezone.now()
    # The text is stored encrypted, as tera.models.Chunk.text would write it.
    tokens = [crypto.encrypt_text(text) for text in texts]
    step(f"COPY of {len(texts)} rows into {table} (binary)")
    with psycopg.connect(bench_url, autocommit=True) as raw:
        register_vector(raw)
        types = [
            str(raw.execute(
                "SELECT atttypid::regtype::text FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attname = %s",
                [table, column],
            ).fetchone()[0])  # type: ignore[index]
            for column in COLUMNS
        ]  # fmt: skip
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        )
        began = time.perf_counter()
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(types)
            for i in range(len(texts)):
                copy.write_row(
                    (
                        i + 1,
                        fixtures.practice_id,
                        int(rows.patient[i]),
                        rows.session[i],
                        rows.kind[i],
                        rows.source[i],
                        rows.position[i],
                        tokens[i],
                        vectors[i],
                        now,
                    )
                )
        seconds = time.perf_counter() - began
        raw.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, len(texts)])
        size = raw.execute("SELECT pg_size_pretty(pg_total_relation_size(%s))", [table])
        count = raw.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        return Load(seconds, str(size.fetchone()[0]), int(count.fetchone()[0]))  # type: ignore[index]


def hnsw_index() -> Any:
    from tera.models import Chunk

    return next(index for index in Chunk._meta.indexes if index.name == INDEX_NAME)


@dataclass
class Build:
    sql: str
    seconds: float
    workers: int
    index_size: str
    analyze_seconds: float
    notices: list[str]


def build_index() -> Build:
    """Create the model's HNSW index over the loaded rows, then ANALYZE."""
    from django.db import connection

    from tera.models import Chunk

    workers = max(0, cores() - 1)
    notices: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
        cursor.execute(f"SET max_parallel_maintenance_workers = {workers}")
    raw = connection.connection
    assert raw is not None

    def notice(diagnostic: Any) -> None:
        notices.append(str(diagnostic.message_primary))

    raw.add_notice_handler(notice)
    index = hnsw_index()
    step(f"CREATE INDEX {INDEX_NAME} ({MAINTENANCE_WORK_MEM}, {workers} parallel worker(s))")
    try:
        with connection.schema_editor(atomic=False) as editor:
            statement = str(index.create_sql(Chunk, editor))
            began = time.perf_counter()
            editor.add_index(Chunk, index)
            seconds = time.perf_counter() - began
    finally:
        raw.remove_notice_handler(notice)
    with connection.cursor() as cursor:
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("RESET max_parallel_maintenance_workers")
        began = time.perf_counter()
        cursor.execute(f"ANALYZE {Chunk._meta.db_table}")
        analyzed = time.perf_counter() - began
        cursor.execute("SELECT pg_size_pretty(pg_relation_size(%s))", [INDEX_NAME])
        size = cursor.fetchone()[0]
    return Build(statement, seconds, workers, str(size), analyzed, notices)


@dataclass
class Versions:
    postgres: str
    pgvector: str

    @property
    def iterative_scan(self) -> bool:
        return tuple(int(p) for p in self.pgvector.split(".")[:3]) >= ITERATIVE_SCAN_SINCE


def server_versions() -> Versions:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        pgvector = cursor.fetchone()[0]
    return Versions(str(postgres), str(pgvector))


# --- Queries -------------------------------------------------------------------------------


@dataclass
class Scope:
    name: str
    members: list[Membership]  # query i runs as members[i % len(members)]
    masks: list[npt.NDArray[np.bool_]]  # the rows each member may read
    exact: list[list[int]] | None = None  # exact top K ids per query (all queries)
    similarity: list[tuple[float, float]] | None = None  # cosine of the exact 1st and Kth

    def member(self, i: int) -> tuple[Membership, npt.NDArray[np.bool_]]:
        return self.members[i % len(self.members)], self.masks[i % len(self.masks)]


def exact_top(vectors: Vectors, queries: Vectors, scope: Scope) -> None:
    """The K nearest ids by cosine distance among the rows the query's member may read
    (ids are row numbers + 1, as loaded), and the cosine of the 1st and the Kth."""
    scores = vectors @ queries.T  # unit vectors: cosine similarity
    scope.exact, scope.similarity = [], []
    for i in range(len(queries)):
        _, mask = scope.member(i)
        allowed = np.flatnonzero(mask)
        column = scores[allowed, i]
        best = np.argpartition(-column, K)[:K]
        best = best[np.argsort(-column[best])]
        scope.exact.append([int(allowed[j]) + 1 for j in best])
        scope.similarity.append((float(column[best[0]]), float(column[best[-1]])))


def search(membership: Membership, vector: Sequence[float], *, app: bool = False) -> list[int]:
    """The Tera view's query: as the view runs it (`app`: `nearest`, which widens
    hnsw.ef_search to TERA_EF_SEARCH for its own transaction), or the same SQL under the
    connection's settings of the sweep."""
    from pgvector.django import CosineDistance

    from tera.models import Chunk
    from tera.views import RESULTS

    chunks = Chunk.objects.visible_to(membership).select_related("patient", "session")
    if app:
        return [chunk.pk for chunk in chunks.nearest(vector, RESULTS)]
    return [
        chunk.pk
        for chunk in chunks.annotate(distance=CosineDistance("embedding", vector)).order_by(
            "distance"
        )[:RESULTS]
    ]


def check_exact_in_sql(queries: Queries, *scopes: Scope) -> tuple[int, int]:
    """Ids of the numpy top K that a sequential scan in SQL also returns, out of all."""
    from django.db import connection, transaction

    agree = total = 0
    for scope in scopes:
        assert scope.exact is not None
        for i in range(WARM_UP, WARM_UP + min(SQL_CHECKS, len(queries.vectors) - WARM_UP)):
            member, _ = scope.member(i)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_indexscan = off")
                found = search(member, queries.vectors[i].tolist())[:K]
            agree += len(set(found) & set(scope.exact[i]))
            total += K
    return agree, total


@dataclass
class Result:
    scope: str
    setting: str
    milliseconds: list[float]
    recalls: list[float]
    short: int  # queries that returned fewer than K rows
    found: list[list[int]] = field(default_factory=list)  # the first K ids of each
    plan: str = ""

    def p(self, fraction: float) -> float:
        return percentile(sorted(self.milliseconds), fraction)

    @property
    def recall(self) -> float:
        return float(np.mean(self.recalls))


def measure(
    scope: Scope, queries: Queries, setting: str, *, limit: int | None = None, app: bool = False
) -> Result:
    assert scope.exact is not None
    end = len(queries.vectors) if limit is None else min(len(queries.vectors), WARM_UP + limit)
    for i in range(WARM_UP):
        search(scope.member(i)[0], queries.vectors[i].tolist(), app=app)
    result = Result(scope.name, setting, [], [], 0)
    for i in range(WARM_UP, end):
        member, _ = scope.member(i)
        vector = queries.vectors[i].tolist()
        began = time.perf_counter()
        found = search(member, vector, app=app)
        result.milliseconds.append((time.perf_counter() - began) * 1000)
        top = found[:K]
        result.found.append(top)
        result.recalls.append(len(set(top) & set(scope.exact[i])) / K)
        result.short += len(top) < K
    return result


@contextlib.contextmanager
def session_settings(**values: str) -> Iterator[None]:
    """SET for the Django connection's session, RESET afterwards."""
    from django.db import connection

    with connection.cursor() as cursor:
        for name, value in values.items():
            cursor.execute(f"SET {name.replace('__', '.')} = {value}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name in values:
                cursor.execute(f"RESET {name.replace('__', '.')}")


def sweep(
    queries: Queries, owner: Scope, therapist: Scope, versions: Versions
) -> tuple[list[Result], dict[str, str]]:
    """Both scopes at the default ef_search, then at the others; with iterative scans when
    pgvector has them; with the HNSW index forced (sorting made too dear for the planner);
    and with the index scan off (exact search). Also the EXPLAIN ANALYZE of one query at
    the default and, for the Therapist, with the index forced."""
    forced = "forced HNSW (enable_sort off)"
    settings: list[tuple[str, dict[str, str], int | None]] = [
        (APP_SETTING, {}, None),
        (DEFAULT_SETTING, {}, None),
        *((f"ef_search {ef}", {"hnsw__ef_search": str(ef)}, None) for ef in EF_SEARCH_SWEEP),
    ]
    if versions.iterative_scan:
        settings += [
            (
                f"ef_search {ef}, iterative_scan {mode}",
                {"hnsw__ef_search": str(ef), "hnsw__iterative_scan": mode},
                None,
            )
            for mode in ("relaxed_order", "strict_order")
            for ef in (EF_SEARCH_DEFAULT, 100)
        ]
    settings += [
        (forced, {"enable_sort": "off"}, None),
        *(
            (f"{forced}, ef_search {ef}", {"enable_sort": "off", "hnsw__ef_search": str(ef)}, None)
            for ef in EF_SEARCH_SWEEP
        ),
        ("exact (enable_indexscan off)", {"enable_indexscan": "off"}, EXACT_QUERIES),
    ]
    results = []
    explains: dict[str, str] = {}
    vector = queries.vectors[WARM_UP]
    for label, values, limit in settings:
        for scope in (owner, therapist):
            step(f"{scope.name}, {label}")
            with session_settings(**values):
                result = measure(scope, queries, label, limit=limit, app=label == APP_SETTING)
                result.plan = plan_of(explain(scope, vector, analyze=False))
                if label == DEFAULT_SETTING or (label == forced and scope is therapist):
                    explains[f"{scope.name}, {label}"] = explain(scope, vector, analyze=True)
            results.append(result)
    return results, explains


def explain(scope: Scope, vector: Vectors, *, analyze: bool) -> str:
    """The plan of the view's query for `scope`'s first measured member, with the query
    vector's 384 numbers left out."""
    from pgvector.django import CosineDistance

    from tera.models import Chunk
    from tera.views import RESULTS

    member, _ = scope.member(WARM_UP)
    queryset = (
        Chunk.objects.visible_to(member)
        .annotate(distance=CosineDistance("embedding", vector.tolist()))
        .select_related("patient", "session")
        .order_by("distance")[:RESULTS]
    )
    plan = queryset.explain(analyze=analyze)
    return VECTOR_LITERAL.sub("'[the query vector]'::vector", plan)


def plan_of(plan: str) -> str:
    """How the plan finds the chunks, in a few words."""
    if INDEX_NAME in plan:
        return "HNSW index"
    if (
        "Bitmap Index Scan on tera_chunk_patient" in plan
        or "Index Scan using tera_chunk_patient" in plan
    ):
        return "patient index + sort"
    if "Seq Scan on tera_chunk" in plan:
        return "seq scan + sort"
    return "other"


def worst(result: Result, scope: Scope, queries: Queries, vectors: Vectors) -> list[str]:
    """The queries with the lowest recall: what they were, and how near the exact
    neighbours were against what the index returned."""
    assert scope.similarity is not None
    order = sorted(range(len(result.recalls)), key=lambda n: result.recalls[n])
    lines = []
    for n in order[:WORST]:
        if result.recalls[n] >= 1.0:
            break
        i = WARM_UP + n
        found = result.found[n]
        returned = vectors[[j - 1 for j in found]] @ queries.vectors[i] if found else []
        first, kth = scope.similarity[i]
        lines.append(
            f"            worst: recall {result.recalls[n]:.1f} for {queries.labels[i]!r}:"
            f" exact cosine 1st {first:.3f}, {K}th {kth:.3f}; returned 1st"
            f" {max(returned, default=float('nan')):.3f}, {len(found)}th"
            f" {min(returned, default=float('nan')):.3f}"
        )
    return lines


# --- Report --------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def report(
    args: argparse.Namespace,
    label: str,
    load_before: tuple[float, float, float],
    throughput: Throughput,
    base_size: int,
    similarity: Similarity,
    fixtures: Fixtures,
    rows: Rows,
    load: Load,
    build: Build,
    versions: Versions,
    queries: Queries,
    checked: tuple[int, int],
    scopes: tuple[Scope, Scope],
    results: list[Result],
    explains: dict[str, str],
    vectors: Vectors,
) -> None:
    from tera.views import RESULTS

    load_after = os.getloadavg()
    t = throughput
    sentence_rate = SENTENCES / t.sentence_seconds
    chunk_rate = CHUNK_TEXTS / t.chunk_seconds
    per_patient = np.unique(rows.patient, return_counts=True)[1]
    share = np.mean([mask.mean() for mask in scopes[1].masks])
    measured = len(queries.vectors) - WARM_UP
    rule = "=" * 100
    out = [
        rule,
        f"Holos Tera search benchmark: {load.rows} chunks, HNSW (m=16, ef_construction=64,"
        f" cosine), {measured} queries per scope, torch {args.threads} threads",
        rule,
        f"machine     {cores()} usable cores (os.cpu_count() {os.cpu_count()}), shared with"
        f" PostgreSQL and anything else running; load 1/5/15 min before"
        f" {'/'.join(f'{x:.2f}' for x in load_before)}, after"
        f" {'/'.join(f'{x:.2f}' for x in load_after)}",
        f"database    {label}; PostgreSQL {versions.postgres}, pgvector {versions.pgvector}"
        f" (hnsw.iterative_scan needs 0.8: {'yes' if versions.iterative_scan else 'not here'})",
        f"embedding   all-MiniLM-L6-v2 loaded in {t.load_seconds:.1f} s (not counted);"
        f" torch.get_num_threads() {t.threads}, interop {t.interop_threads}",
        f"            {SENTENCES} note sentences (mean {t.sentence_chars:.0f} chars):"
        f" {t.sentence_seconds:.1f} s, {sentence_rate:.0f} texts/s",
        f"            {CHUNK_TEXTS} chunks (mean {t.chunk_chars:.0f} chars, cut by"
        f" tera.embeddings.split at {CHUNK_SIZE}): {t.chunk_seconds:.1f} s,"
        f" {chunk_rate:.1f} chunks/s; embedding {load.rows} such chunks would take"
        f" ~{load.rows / chunk_rate / 60:.0f} min",
        f"vectors     NOT the model's: each row mixes 2 or 3 (half each) of the {base_size} real"
        f" embeddings above with Dirichlet weights, plus gaussian noise of norm {NOISE},"
        " renormalised; its text is theirs joined",
        f"            cosine to the nearest other vector: real {similarity.real_nearest:.3f}"
        f" (among {base_size}), mixed {similarity.synthetic_nearest:.3f} (among {load.rows});"
        f" between random pairs: real {similarity.real_random:.3f},"
        f" mixed {similarity.synthetic_random:.3f}",
        f"data        1 practice, {len(fixtures.patients)} patients ({len(fixtures.therapists)}"
        f" therapists with {len(fixtures.caseloads[fixtures.therapists[0].pk])} each),"
        f" {len(fixtures.sessions)} sessions; {rows.sources} sources of"
        f" {CHUNK_CARDINALITY[0]}-{CHUNK_CARDINALITY[1]} chunks; chunks per patient p50"
        f" {int(np.median(per_patient))}, max {int(per_patient.max())}; a Therapist reads"
        f" {share:.1%} of the rows on average",
        f"load        binary COPY of {load.rows} rows in {load.seconds:.1f} s"
        f" ({load.rows / load.seconds:.0f} rows/s) with the other indexes in place;"
        f" table with indexes {load.table_size}",
        f"index       {build.seconds:.1f} s to build (maintenance_work_mem {MAINTENANCE_WORK_MEM},"
        f" max_parallel_maintenance_workers {build.workers}),"
        f" {build.index_size}; ANALYZE {build.analyze_seconds:.1f} s",
        f"            {build.sql}",
        *(f"            notice: {n}" for n in build.notices),
        f"queries     {measured} per scope after {WARM_UP} warm-up: {queries.real} real"
        f" embeddings ({queries.phrases} search phrases, {queries.real - queries.phrases}"
        f" held-out note sentences) and {measured - queries.real} held-out sentences"
        " perturbed by the same noise",
        f"            the view's ORM query (visible_to, CosineDistance, select_related,"
        f" [:{RESULTS}]) timed whole; recall@{K} of its first {K} against the exact top"
        f" {K} in numpy (a sequential scan in SQL agreed on {checked[0]}/{checked[1]} ids)",
        "            Owner: the practice filter; Therapist: the 10 therapists in turn",
        "",
        f"{'scope':<10} {'setting':<46}{'n':>4}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
        f"{'recall':>8}{'min':>6}{'<10':>5}  plan",
    ]
    for r in results:
        out.append(
            f"{r.scope:<10} {r.setting:<46}{len(r.milliseconds):>4}{r.p(0.5):>8.1f}"
            f"{r.p(0.95):>8.1f}{r.p(0.99):>8.1f}{max(r.milliseconds):>8.1f}"
            f"{r.recall:>8.3f}{min(r.recalls):>6.1f}{r.short:>5}  {r.plan}"
        )
    out += [
        f"(ms; recall = mean recall@{K}, min = the worst query's, <10 = queries that returned"
        f" fewer than {K} rows; plan = the planner's way to the chunks for one query)",
        "",
    ]
    for r, scope in zip(results[:2], scopes, strict=True):
        by_kind = ", ".join(
            f"{kind} {np.mean(r.recalls[where]):.3f}"
            for kind, where in queries.kinds().items()
            if r.recalls[where]
        )
        out += [
            f"target      {r.scope} as Holos searches: p95 {r.p(0.95):.1f} ms <="
            f" {TARGET_P95_MS:.0f} ms {verdict(r.p(0.95) <= TARGET_P95_MS)}; recall@{K}"
            f" {r.recall:.3f} >= {TARGET_RECALL} {verdict(r.recall >= TARGET_RECALL)}",
            f"            recall by query: {by_kind}",
            *worst(r, scope, queries, vectors),
        ]
    if cores() != TARGET_CORES:
        out.append(f"note        this machine has {cores()} cores, the targets are for 2")
    for name, plan in explains.items():
        out += ["", f"EXPLAIN ANALYZE, {name}:", plan]
    out.append(rule)
    print("\n".join(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
