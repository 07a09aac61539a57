"""Load benchmark of the calendar's week view, served by gunicorn as in production.

    .venv/bin/python -m tests.bench.week_view_load [--users 20] [--seconds 30] [--workers 2]

1. Recreates a database of its own (`holos_bench`) on the embedded PostgreSQL, or on the
   server of DATABASE_URL when set; dev and test databases are never touched.
2. Migrates it and seeds a busy practice (tests/bench/busy_practice.py).
3. Collects static files into a temporary folder and starts gunicorn on 127.0.0.1 with
   production settings: DEBUG=false, a random SECRET_KEY, ALLOWED_HOSTS=127.0.0.1 and
   BEHIND_TLS_PROXY=true; the simulated users send `X-Forwarded-Proto: https` as the TLS
   proxy would, so the HTTPS redirect, Secure cookies and CSRF Referer checks stay on.
4. Signs every simulated user in as a different member, then has them load the week
   view with 1-3 s of think time for --seconds (tests/bench/week_view_users.py, locust).
5. Prints count, failures, requests/s and p50/p95/p99/max latency, and whether the
   issue's target (p95 <= 100 ms on 2 cores) was met.
6. Phase 2, the same load while a transcription runs: starts a Celery worker beside
   gunicorn with the same environment (`celery -A practice worker --concurrency=1
   -Q celery,live`), uploads ~3 minutes of synthesised dialogue (espeak-ng, tests/audio.py)
   for one seeded appointment through `recording_upload`, waits until the worker has taken
   the job, measures again and prints a second block, then how far the job had got; on
   exit it lets the job finish (up to 5 minutes), reports it and stops the worker.

The targets are reported, never asserted: the exit code is 1 only when the harness itself
broke (gunicorn or the worker did not start, sign-ins did not finish, more than 5% of
requests failed, the transcription job failed).

Nothing runs on import; pytest does not collect this module.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.bench.harness import HarnessError, run_main, step

BASE_DIR = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "practice.settings"
TARGET_P95_MS = 100.0
TARGET_CORES = 2
MAX_FAILURE_RATE = 0.05
SIGN_IN_TIMEOUT = 120.0
SERVER_START_TIMEOUT = 60.0
JOB_REPEAT = 4  # the scripted dialogue (~44 s) four times: ~3 minutes of audio
JOB_START_TIMEOUT = 180.0  # for the worker to start and take the job
JOB_FINISH_TIMEOUT = 300.0  # for the job to finish after the measured load
WORKER_STOP_TIMEOUT = 30.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.week_view_load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--users", type=int, default=20, help="simulated users (default 20)")
    parser.add_argument(
        "--seconds", type=float, default=30, help="measured seconds of load (default 30)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--spawn-rate", type=float, default=10, help="users started per second (default 10)"
    )
    parser.add_argument(
        "--database",
        default="holos_bench",
        help="database to drop and recreate for the run (default holos_bench)",
    )
    args = parser.parse_args(argv)
    if args.users < 1 or args.seconds <= 0 or args.workers < 1 or args.spawn_rate <= 0:
        parser.error("--users, --seconds, --workers and --spawn-rate must be positive")
    if not args.database.isidentifier():
        parser.error("--database must be a plain identifier such as holos_bench")
    return args


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_args(argv), prefix="holos-bench-")


def run(args: argparse.Namespace, tmp: Path) -> None:
    database_label = prepare_environment(args.database, static_root=tmp / "static")
    step(f"database {args.database}: migrate and seed a busy practice")
    accounts, seeded = migrate_seed_collectstatic(extra_accounts=max(20, args.users - 12))
    with gunicorn(workers=args.workers, log=tmp / "gunicorn.log") as (host, server_pid):
        step(f"gunicorn answers at {host}; {args.users} users sign in, then {args.seconds:g} s")
        users = accounts[: args.users]
        result = measure(args, host, server_pid, users, tmp)
        report("week view", args, host, database_label, seeded, users, result)
        check_harness(result)
        with transcription_job(tmp) as job:
            step(f"phase 2: the same load while the worker transcribes ({job})")
            result = measure(args, host, server_pid, users, tmp)
            at_end = job.state()
            report(f"week view + {job}", args, host, database_label, seeded, users, result)
            print(
                f"job       when the load ended: {at_end} (the worker's CPU is in 'the rest')",
                flush=True,
            )
            check_harness(result)


# --- Database, Redis and the environment every process of the run shares ------------------


def prepare_environment(database: str, *, static_root: Path) -> str:
    """Recreate the benchmark's database and export what Django, gunicorn and collectstatic
    read. Returns where the database is, without credentials, for the report."""
    from practice import embedded

    server_url, bench_url, label = bench_database_url(database)
    step(f"recreating database {database}")
    recreate_database(server_url, database)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": bench_url,
            "REDIS_URL": embedded.redis_url(),
            "CACHE_KEY_PREFIX": f"holos-{database}",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            # Production sits behind a TLS proxy; the simulated users play its part.
            "BEHIND_TLS_PROXY": "true",
            "STATIC_ROOT": str(static_root),
            "LOG_LEVEL": "WARNING",
            # DEBUG=false needs the keys of the recorded audio and of the clinical text.
            "AUDIO_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        }
    )
    return label


def bench_database_url(database: str) -> tuple[str, str, str]:
    """The database server's URL (DATABASE_URL, or the embedded one), the URL of the
    benchmark's own `database` on it, and where that is without credentials, for reports.
    Refuses a `database` that DATABASE_URL itself names: it is about to be dropped."""
    from practice import embedded

    server_url = os.environ.get("DATABASE_URL") or embedded.postgres_url()
    parts = urlsplit(server_url)
    if parts.path.lstrip("/") == database:
        raise HarnessError(f"DATABASE_URL already names {database}; it would be dropped")
    bench_url = parts._replace(path=f"/{database}").geturl()
    if parts.hostname:
        label = f"{database} on {parts.hostname}:{parts.port or 5432}"
    else:
        socket_dir = parse_qs(parts.query).get("host", ["the default place"])[-1]
        label = f"{database} on the socket in {socket_dir}"
    return server_url, bench_url, label


def recreate_database(server_url: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    name = sql.Identifier(database)
    try:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
    except psycopg.Error as error:
        raise HarnessError(f"could not recreate database {database}: {error}") from error


def migrate_seed_collectstatic(*, extra_accounts: int) -> tuple[list[Any], dict[str, int]]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from patients.models import Patient
    from practice.models import Membership
    from sessions.models import Appointment
    from tests.bench import busy_practice

    call_command("migrate", interactive=False, verbosity=0)
    accounts = busy_practice.seed(extra_accounts=extra_accounts)
    seeded = {
        "members": Membership.objects.count(),
        "patients": Patient.objects.count(),
        "appointments": Appointment.objects.count(),
    }
    step("collectstatic into a temporary STATIC_ROOT (hashed names, as DEBUG=false needs)")
    call_command("collectstatic", interactive=False, verbosity=0)
    # gunicorn's workers open their own connections; leave none of ours behind.
    connections.close_all()
    return accounts, seeded


# --- gunicorn -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(*, workers: int, log: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "practice.wsgi",
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--log-level=warning",
    ]
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=BASE_DIR, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_answering(server, host, log)
            yield host, server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    if tracebacks := log.read_text(errors="replace").count("Traceback"):
        print(f"note: gunicorn logged {tracebacks} traceback(s); its last lines:", flush=True)
        print(tail(log), flush=True)


def wait_until_answering(server: subprocess.Popen[bytes], host: str, log: Path) -> None:
    request = urllib.request.Request(
        f"{host}/accounts/login/", headers={"X-Forwarded-Proto": "https"}
    )
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise HarnessError(f"gunicorn exited with {server.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            raise HarnessError(f"the sign-in page answered {error.code}:\n{tail(log)}") from error
        except OSError:
            pass
        time.sleep(0.3)
    raise HarnessError(f"gunicorn did not answer within {SERVER_START_TIMEOUT:g} s:\n{tail(log)}")


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# --- Load ---------------------------------------------------------------------------------


def measure(
    args: argparse.Namespace, host: str, server_pid: int, accounts: list[Any], tmp: Path
) -> dict[str, Any]:
    """Run the simulated users in a child process (locust patches the standard library
    with gevent on import) and return its raw samples."""
    from tests.bench import busy_practice

    config = {
        "host": host,
        "server_pid": server_pid,
        "users": args.users,
        "spawn_rate": args.spawn_rate,
        "seconds": args.seconds,
        "sign_in_timeout": SIGN_IN_TIMEOUT,
        "accounts": [[account.email, str(account.role)] for account in accounts],
        "password": busy_practice.PASSWORD,
    }
    config_path, result_path = tmp / "locust-config.json", tmp / "locust-result.json"
    config_path.write_text(json.dumps(config))
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "tests.bench.week_view_users", config_path, result_path]
    load_before = os.getloadavg()[0]
    try:
        subprocess.run(
            [str(part) for part in command],
            cwd=BASE_DIR,
            check=True,
            timeout=args.seconds + SIGN_IN_TIMEOUT + 60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        raise HarnessError(f"the locust process failed: {error}") from error
    result = json.loads(result_path.read_text())
    if not result["signed_in_in_time"]:
        raise HarnessError(f"not every user had tried to sign in after {SIGN_IN_TIMEOUT:g} s")
    result["load_average"] = (load_before, os.getloadavg()[0])
    return result


def check_harness(result: dict[str, Any]) -> None:
    for name, times in result["samples"].items():
        failed = len(result["failures"][name])
        total = len(times) + failed
        if total == 0:
            raise HarnessError(f"no {name} request completed")
        if failed / total > MAX_FAILURE_RATE:
            reasons = Counter(result["failures"][name]).most_common(3)
            raise HarnessError(
                f"{failed} of {total} {name} requests failed (more than "
                f"{MAX_FAILURE_RATE:.0%}); most common: {reasons}"
            )


# --- Report -------------------------------------------------------------------------------


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 0


def report(
    label: str,
    args: argparse.Namespace,
    host: str,
    database_label: str,
    seeded: dict[str, int],
    accounts: list[Any],
    result: dict[str, Any],
) -> None:
    seconds = result["measured_seconds"]
    roles = Counter(str(account.role) for account in accounts)
    sizes = result["week_view_bytes"]
    load_before, load_after = result["load_average"]
    cpu = result["cpu_seconds"]
    other = max(0.0, cpu["machine"] - cpu["server"] - cpu["load_generator"])
    week_views = len(result["samples"]["week view"])
    rule = "=" * 78
    lines = [
        rule,
        f"Holos load benchmark: {label}",
        rule,
        f"server    gunicorn, {args.workers} sync workers, DEBUG=false, {host}"
        " (TLS proxy emulated by X-Forwarded-Proto)",
        f"machine   {cores()} CPU cores shared by gunicorn, PostgreSQL and the load generator"
        f" (1-min load average {load_before:.2f} before, {load_after:.2f} after)",
        f"cpu       busy {cpu['machine'] / seconds:.2f} cores during the load: gunicorn"
        f" {cpu['server'] / seconds:.2f}, locust {cpu['load_generator'] / seconds:.2f},"
        f" the rest (PostgreSQL and anything else running) {other / seconds:.2f}",
        f"database  {database_label}: {seeded['members']} members, {seeded['patients']} patients,"
        f" {seeded['appointments']} appointments this week",
        f"users     {args.users}, each a different member ("
        + ", ".join(f"{n} {role}" for role, n in sorted(roles.items()))
        + "), think time 1-3 s",
        f"duration  {seconds:.1f} s of load after every user had signed in",
        "",
        f"{'request':<12}{'count':>7}{'fail':>6}{'req/s':>8}"
        f"{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}   (ms)",
    ]
    failures = result["failures"]
    rows = [(name, times, len(failures[name])) for name, times in result["samples"].items()]
    rows += [
        (f"  {role}", times, None) for role, times in sorted(result["week_view_by_role"].items())
    ]
    for name, times, failed in rows:
        ordered = sorted(times)
        rate = f"{len(ordered) / seconds:.1f}" if name != "sign in" and seconds else "-"
        figures = [percentile(ordered, q) for q in (0.50, 0.95, 0.99)] + [
            ordered[-1] if ordered else math.nan
        ]
        lines.append(
            f"{name:<12}{len(ordered):>7}{'' if failed is None else failed:>6}{rate:>8}"
            + "".join(f"{value:>8.0f}" for value in figures)
        )
    if sizes:
        lines.append(
            f"week view page {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KB"
            f" (mean {sum(sizes) / len(sizes) / 1024:.0f} KB); gunicorn CPU per week view"
            f" {cpu['server'] * 1000 / max(1, week_views):.0f} ms"
        )
    p95 = percentile(sorted(result["samples"]["week view"]), 0.95)
    verdict = "NOT JUDGED" if math.isnan(p95) else "MET" if p95 <= TARGET_P95_MS else "NOT MET"
    lines += [
        "",
        f"target    week view p95 <= {TARGET_P95_MS:.0f} ms on {TARGET_CORES} cores: "
        f"{verdict} (p95 {p95:.0f} ms)",
    ]
    if cores() != TARGET_CORES:
        lines.append(f"note      this machine has {cores()} cores, the target is for 2")
    if result["load_generator_cpu_above_90"]:
        lines.append("note      locust's CPU went above 90%: latencies include client delay")
    lines.append(rule)
    print("\n".join(lines), flush=True)


# --- Phase 2: a transcription job beside gunicorn -------------------------------------------


@dataclass(frozen=True)
class TranscriptionJob:
    recording_id: int
    audio_seconds: float
    taken_at: float  # time.monotonic() when the worker was seen transcribing

    def __str__(self) -> str:
        return f"1 transcription job ({self.audio_seconds:.0f} s of audio)"

    def state(self) -> str:
        from sessions.models import Recording, RecordingStatus

        status, progress, failure = Recording.objects.values_list(
            "status", "progress", "failure"
        ).get(pk=self.recording_id)
        elapsed = time.monotonic() - self.taken_at
        if status == RecordingStatus.TRANSCRIBING:
            status = f"transcribing ({progress}% done)"
        elif failure:
            status = f"{status} ({failure})"
        return f"{status}, {elapsed:.0f} s after the worker took it"


@contextlib.contextmanager
def transcription_job(tmp: Path) -> Iterator[TranscriptionJob]:
    """The issue's second phase: the same load while a transcription job runs.

    Starts a Celery worker with gunicorn's environment (`celery -A practice worker
    --concurrency=1 -Q celery,live`, on the same cores), gives one seeded appointment's
    patient audio consent and uploads ~3 minutes of synthesised dialogue for it through
    `recording_upload`, outside any transaction so its on_commit hook enqueues the final
    pass. Yields once the worker is transcribing. On exit it waits (up to
    JOB_FINISH_TIMEOUT) for the job to finish, prints how it went and stops the worker.

    The worker listens on the `celery` queue of the run's Redis: another worker on the same
    Redis (a `./holos run` beside the benchmark) could take the job instead; stop it first.
    """
    from tests import audio

    if not audio.espeak_available():
        raise HarnessError("espeak-ng and sox are needed to synthesise the recording")
    step(f"synthesising the dialogue {JOB_REPEAT} times for the recording (espeak-ng)")
    wav, _turns = audio.dialogue_wav(tmp / "job-audio", repeat=JOB_REPEAT)
    log = tmp / "celery.log"
    command = [
        str(Path(sys.executable).with_name("celery")),
        "-A",
        "practice",
        "worker",
        "--concurrency=1",
        "-Q",
        "celery,live",
        "--loglevel=INFO",
        f"--hostname=holos-bench-{os.getpid()}@%h",
    ]
    with log.open("wb") as output:
        # A session of its own, so the worker and its pool child can be stopped together.
        worker = subprocess.Popen(
            command, cwd=BASE_DIR, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            recording_id, seconds = upload_recording(wav.read_bytes())
            step(f"Celery worker starting; recording {recording_id} uploaded and queued")
            taken_at = wait_until_taken(worker, recording_id, log)
            job = TranscriptionJob(recording_id, seconds, taken_at)
            yield job
            finish(job, worker, log)
        finally:
            stop_worker(worker)


def upload_recording(data: bytes) -> tuple[int, float]:
    """Upload `data` for the first open appointment, as its therapist would."""
    from django.db import connections
    from django.utils import timezone

    from sessions.models import OPEN_STATUSES, Appointment
    from sessions.services.recordings import RecordingOptions, recording_upload

    appointment = (
        Appointment.objects.select_related("practice", "patient", "therapist")
        .filter(status__in=OPEN_STATUSES)
        .order_by("starts_at", "pk")
        .first()
    )
    if appointment is None:
        raise HarnessError("the seeded practice has no open appointment to record")
    patient = appointment.patient
    patient.audio_consent_at = timezone.now()
    patient.save(update_fields=["audio_consent_at"])
    # Not inside atomic(): the service's own transaction commits and enqueues the task.
    recording = recording_upload(
        practice=appointment.practice,
        actor=appointment.therapist,
        appointment=appointment,
        data=data,
        options=RecordingOptions(language="", speakers_expected=2),
        ip=None,
    )
    connections.close_all()
    return recording.pk, recording.audio_seconds


def recording_status(recording_id: int) -> tuple[str, str]:
    from sessions.models import Recording

    return Recording.objects.values_list("status", "failure").get(pk=recording_id)


def wait_until_taken(worker: subprocess.Popen[bytes], recording_id: int, log: Path) -> float:
    """time.monotonic() when the worker was first seen transcribing the recording."""
    from sessions.models import RecordingStatus

    deadline = time.monotonic() + JOB_START_TIMEOUT
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise HarnessError(f"the Celery worker exited with {worker.returncode}:\n{tail(log)}")
        status, failure = recording_status(recording_id)
        if status == RecordingStatus.TRANSCRIBING:
            return time.monotonic()
        if status != RecordingStatus.QUEUED:
            raise HarnessError(f"the job was {status} before the load: {failure}\n{tail(log)}")
        time.sleep(0.2)
    raise HarnessError(
        f"the worker did not take the job within {JOB_START_TIMEOUT:g} s (is another worker"
        f" on the same Redis taking the celery queue?):\n{tail(log)}"
    )


def finish(job: TranscriptionJob, worker: subprocess.Popen[bytes], log: Path) -> None:
    from sessions.models import Recording, RecordingStatus

    deadline = time.monotonic() + JOB_FINISH_TIMEOUT
    status, failure = recording_status(job.recording_id)
    running = RecordingStatus.TRANSCRIBING
    while status == running and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.5)
        status, failure = recording_status(job.recording_id)
    elapsed = time.monotonic() - job.taken_at
    if status == RecordingStatus.DONE:
        recording = Recording.objects.get(pk=job.recording_id)
        print(
            f"job       done {elapsed:.0f} s after the worker took it (real-time factor"
            f" {elapsed / job.audio_seconds:.2f}, partly under the load):"
            f" {recording.segments.count()} transcript segments,"
            f" {recording.speakers.count()} speakers",
            flush=True,
        )
    elif status == RecordingStatus.TRANSCRIBING:
        print(
            f"job       still transcribing {elapsed:.0f} s after the worker took it; stopping",
            flush=True,
        )
    else:
        raise HarnessError(f"the transcription job ended {status}: {failure}\n{tail(log)}")


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """Warm shutdown; the whole session of the worker when it does not stop in time."""
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


if __name__ == "__main__":
    sys.exit(main())
