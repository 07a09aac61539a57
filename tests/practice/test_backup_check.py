"""`manage.py backup_check DUMPFILE`: a pg_dump -Fc archive of the database restores into a
scratch database with the same row count in every model table; a truncated or foreign
file, and a dump missing rows the live database has, fail with a clear message and a
non-zero exit. The scratch database is dropped every time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from practice.backups import SCRATCH_PREFIX, libpq_env, model_tables, pg_binary
from practice.models import AuditEvent, Practice
from practice.services import audit_record
from tests.factories import PatientFactory, PracticeFactory, SessionFactory

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump sees committed rows only

BASE_DIR = Path(__file__).resolve().parents[2]


def _dump(path: Path) -> Path:
    subprocess.run(
        [pg_binary("pg_dump"), "-Fc", "--no-owner", "--file", str(path)],
        env=libpq_env(),
        check=True,
        capture_output=True,
    )
    return path


def _check(dump: Path) -> str:
    out = StringIO()
    call_command("backup_check", str(dump), stdout=out)
    return out.getvalue()


def _scratch_databases() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [SCRATCH_PREFIX + "%"]
        )
        return [row[0] for row in cursor.fetchall()]


def _count_line(output: str, table: str) -> str:
    match = re.search(rf"^{re.escape(table)}\s+.*$", output, re.MULTILINE)
    assert match, f"{table} not in the table"
    return match.group(0)


@pytest.fixture
def data(clinic, owner, therapist):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    SessionFactory(practice=clinic, patient=patient, therapist=therapist)
    for action in ("practice.update", "patient.create"):  # rows under the chain trigger
        audit_record(practice=clinic, actor=owner, action=action)
    return clinic


def test_the_binaries_are_the_embedded_servers():
    assert "pgserver" in pg_binary("pg_restore") and os.access(pg_binary("pg_dump"), os.X_OK)


def test_a_good_dump_restores_with_the_same_counts(tmp_path, data):
    dump = _dump(tmp_path / "holos.dump")
    output = _check(dump)
    assert "Backup OK" in output
    practices = Practice.objects.count()
    audit_rows = AuditEvent.objects.count()
    assert practices == 1 and audit_rows == 2
    assert re.fullmatch(
        rf"practice_practice\s+{practices}\s+{practices}", _count_line(output, "practice_practice")
    )
    assert re.fullmatch(
        rf"practice_auditevent\s+{audit_rows}\s+{audit_rows}",
        _count_line(output, "practice_auditevent"),
    )
    for table in model_tables():  # every model table is compared
        assert _count_line(output, table)
    assert "MISMATCH" not in output
    assert _scratch_databases() == []


def test_a_truncated_or_foreign_file_fails_clearly(tmp_path, data):
    dump = _dump(tmp_path / "holos.dump")
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    with pytest.raises(CommandError, match="pg_restore could not restore the dump"):
        _check(truncated)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a dump")
    with pytest.raises(CommandError, match="pg_restore could not restore the dump"):
        _check(foreign)
    with pytest.raises(CommandError, match="is not a file"):
        _check(tmp_path / "missing.dump")
    assert _scratch_databases() == []


def test_rows_missing_from_the_dump_are_reported(tmp_path, data):
    dump = _dump(tmp_path / "holos.dump")
    PracticeFactory(name="Nova")  # written after the dump
    out = StringIO()
    with pytest.raises(CommandError, match="1 table\\(s\\) differ.*practice_practice"):
        call_command("backup_check", str(dump), stdout=out)
    assert re.fullmatch(
        r"practice_practice\s+2\s+1\s+MISMATCH", _count_line(out.getvalue(), "practice_practice")
    )
    assert _scratch_databases() == []


@pytest.mark.slow  # two runs of manage.py: ~25 s
def test_the_command_exits_non_zero(tmp_path, data):
    """As an operator runs it: `manage.py backup_check`, pointed at the database by
    DATABASE_URL, with the exit status a cron job reads."""
    dump = _dump(tmp_path / "holos.dump")
    settings = connection.settings_dict
    host = settings["HOST"]
    url = f"postgres://{settings['USER']}@/{settings['NAME']}?host={host}"
    if not host.startswith("/"):
        url = f"postgres://{settings['USER']}:{settings['PASSWORD']}@{host}:{settings['PORT']}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "backup_check", str(dump)],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    good = run()
    assert good.returncode == 0, good.stderr
    assert "Backup OK" in good.stdout
    PracticeFactory(name="Nova")
    bad = run()
    assert bad.returncode != 0
    assert "MISMATCH" in bad.stdout and "differ from the live database" in bad.stderr
