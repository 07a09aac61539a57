"""Settings come from the environment; production values pass Django's deploy checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from practice import embedded
from practice.celery import app

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-Zq8vR3nT1xW6yB0pL4mH7sD9fJ2gK5cE-" + "x" * 20,
    "ALLOWED_HOSTS": "holos.example.com",
    # Never connected to by `check`; the URLs only have to parse.
    "DATABASE_URL": "postgres://holos:secret@db.internal:5432/holos",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "BEHIND_TLS_PROXY": "true",
    "AUDIO_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1zaGFwZWQtYXVkaW8ta2V5LTMyYnk=",
    "FIELD_ENCRYPTION_KEYS": "cHJvZHVjdGlvbi1zaGFwZWQtZmllbGRzLWtleS0zMmI=",
}


def test_check_deploy_with_production_values_is_clean():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["AUDIO_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_check_deploy_fails_without_an_encryption_key(missing):
    env = {name: value for name, value in PRODUCTION.items() if name != missing}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_check_deploy_fails_on_a_malformed_field_key():
    result = run_manage(
        "check", "--deploy", env={**PRODUCTION, "FIELD_ENCRYPTION_KEYS": "not-a-key"}
    )
    assert result.returncode != 0
    assert "practice.E002" in result.stderr


def test_check_deploy_fails_with_development_defaults():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env={"REDIS_URL": PRODUCTION["REDIS_URL"]}
    )
    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://holos:s%40cret@db.internal:5433/holos?sslmode=require",
            {"NAME": "holos", "USER": "holos", "PASSWORD": "s%40cret", "HOST": "db.internal",
             "PORT": "5433", "OPTIONS": {"sslmode": "require"}},
        ),
        (
            "postgresql://postgres:@/holos?host=/work/var/pgdata",
            {"NAME": "holos", "USER": "postgres", "HOST": "/work/var/pgdata", "PORT": "",
             "OPTIONS": {}},
        ),
    ],
)  # fmt: skip
def test_database_url_parsing(url, expected):
    config = embedded.database_config(url)
    for key, value in expected.items():
        assert config[key] == value, key


def test_celery_reads_acks_late_and_reject_on_worker_lost():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert visibility > app.conf.task_time_limit


def test_pages_carry_a_content_security_policy_without_inline_scripts(client, db):
    response = client.get(reverse("accounts:login"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in response.content.decode()


def test_production_cookies_are_host_only_and_secure():
    script = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'practice.settings'; "
        "django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_DOMAIN, s.CSRF_COOKIE_DOMAIN)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **PRODUCTION},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == [
        "__Host-sessionid",
        "__Host-csrftoken",
        "True",
        "True",
        "None",
        "None",
    ], result.stderr
