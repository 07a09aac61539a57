"""Checking a backup: restore a `pg_dump -Fc` archive into a scratch database on the same
server and compare the row count of every Django model's table with the live database.

The scratch database has a new, unique name and is dropped afterwards whatever happens.
pg_dump and pg_restore are the embedded server's own (the `pgserver` wheel ships them) or,
failing that, the ones on PATH. Passwords reach them through the environment (PGPASSWORD),
never the command line. See README, "Backups"."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.apps import apps
from django.db import connection
from psycopg import sql

SCRATCH_PREFIX = "holos_backup_check_"


class BackupCheckError(Exception):
    """The archive could not be read or restored; the message says why."""


def pg_binary(name: str) -> str:
    """The path of a PostgreSQL client program: the embedded server's, else PATH's."""
    try:
        import pgserver

        candidate = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    except ImportError:  # pragma: no cover - pgserver is a dependency
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupCheckError(f"{name} was not found (neither pgserver's nor on PATH).")
    return found


def libpq_env(dbname: str | None = None) -> dict[str, str]:
    """The environment that points libpq programs at the live database's server (and at
    `dbname` on it, or the live database itself)."""
    settings = connection.settings_dict
    env = dict(os.environ)
    values = {
        "PGHOST": settings.get("HOST") or "",
        "PGPORT": str(settings.get("PORT") or ""),
        "PGUSER": settings.get("USER") or "",
        "PGPASSWORD": settings.get("PASSWORD") or "",
        "PGDATABASE": dbname or settings["NAME"],
        "PGSSLMODE": (settings.get("OPTIONS") or {}).get("sslmode", ""),
    }
    env.update({key: value for key, value in values.items() if value})
    return env


def _connect(dbname: str) -> psycopg.Connection[Any]:
    settings = connection.settings_dict
    params: dict[str, Any] = {
        "dbname": dbname,
        "host": settings.get("HOST") or None,
        "port": settings.get("PORT") or None,
        "user": settings.get("USER") or None,
        "password": settings.get("PASSWORD") or None,
    }
    if sslmode := (settings.get("OPTIONS") or {}).get("sslmode"):
        params["sslmode"] = sslmode
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v})


def model_tables() -> list[str]:
    """Every table a Django model of the project keeps (many-to-many tables included)."""
    tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(tables)


def _counts(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, int | None]:
    """Rows per table; None for a table the database does not have."""
    counts: dict[str, int | None] = {}
    for table in tables:
        with conn.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f'public."{table}"'])
            row = cursor.fetchone()
            if not (row and row[0]):
                counts[table] = None
                continue
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            row = cursor.fetchone()
            counts[table] = int(row[0]) if row else None
    return counts


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new empty database on the live server, dropped on the way out."""
    name = SCRATCH_PREFIX + secrets.token_hex(6)
    with _connect(connection.settings_dict["NAME"]) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with _connect(connection.settings_dict["NAME"]) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _last_lines(text: str, n: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def restore(dumpfile: Path, dbname: str) -> None:
    """Restore a custom-format archive into `dbname`, stopping at the first error."""
    command = [
        pg_binary("pg_restore"),
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        "--dbname",
        dbname,
        str(dumpfile),
    ]
    result = subprocess.run(
        command, env=libpq_env(dbname), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupCheckError(
            "pg_restore could not restore the dump (is it a complete pg_dump -Fc archive?):\n"
            + _last_lines(result.stderr or result.stdout)
        )


@dataclass(frozen=True)
class TableCount:
    table: str
    live: int | None
    backup: int | None

    @property
    def matches(self) -> bool:
        return self.live == self.backup


def backup_check(dumpfile: Path) -> list[TableCount]:
    """Restore `dumpfile` into a scratch database and count every model table's rows there
    and in the live database. Raises BackupCheckError when the archive can't be restored."""
    if not dumpfile.is_file():
        raise BackupCheckError(f"{dumpfile} is not a file.")
    tables = model_tables()
    with scratch_database() as scratch:
        restore(dumpfile, scratch)
        with _connect(scratch) as restored:
            backup = _counts(restored, tables)
    with _connect(connection.settings_dict["NAME"]) as live_conn:
        live = _counts(live_conn, tables)
    return [TableCount(table, live[table], backup[table]) for table in tables]
