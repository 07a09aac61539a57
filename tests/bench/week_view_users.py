"""The simulated users of the week-view benchmark: locust, used as a library, no web UI.

Run by `tests.bench.week_view_load` in a process of its own, because importing locust
monkey-patches the standard library with gevent; the parent process (Django, the
embedded PostgreSQL and Redis, gunicorn) stays unpatched. Reads a JSON config file,
writes a JSON file of raw response times. Nothing runs on import.

    python -m tests.bench.week_view_users CONFIG.json RESULT.json
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

LOGIN_PATH = "/accounts/login/"
WEEK_VIEW_PATH = "/calendar/?view=week"
SIGN_IN, WEEK_VIEW = "sign in", "week view"


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Sign every user in, then load the week view for `seconds`. Returns raw samples."""
    import http.cookiejar

    import gevent
    from gevent.event import Event
    from locust import HttpUser, between, task
    from locust.env import Environment

    host: str = config["host"]
    users: int = config["users"]
    accounts = iter(config["accounts"])  # [email, role] pairs, one per user
    password: str = config["password"]
    samples: dict[str, list[float]] = {SIGN_IN: [], WEEK_VIEW: []}
    failures: dict[str, list[str]] = {SIGN_IN: [], WEEK_VIEW: []}
    # The week view of each role separately (an Assistant sees every therapist's week),
    # and the size of the page it got.
    by_role: dict[str, list[float]] = {}
    page_bytes: list[int] = []
    attempted = {"sign_ins": 0}
    everyone_signed_in = Event()

    # The app runs as in production, behind a TLS proxy (X-Forwarded-Proto below), so its
    # cookies are Secure. http.cookiejar never returns a Secure cookie over plain http, and
    # requests builds a fresh default-policy jar for every request and redirect, so no
    # per-session policy reaches it. This process only ever talks to 127.0.0.1.
    http.cookiejar.DefaultCookiePolicy.return_ok_secure = (  # type: ignore[method-assign]
        lambda self, cookie, request: True
    )

    class WeekViewUser(HttpUser):
        wait_time = between(1, 3)

        def on_start(self) -> None:
            try:
                email, self.role = next(accounts)
                self.sign_in(email)
            finally:
                attempted["sign_ins"] += 1
                if attempted["sign_ins"] >= users:
                    everyone_signed_in.set()
            # Measure the week view in steady state, not behind the sign-in burst (each
            # sign-in hashes a password, ~0.25 s of a server core). Then think before the
            # first click, so users do not all ask at the same instant.
            everyone_signed_in.wait()
            self.wait()

        def sign_in(self, email: str) -> None:
            self.client.headers["X-Forwarded-Proto"] = "https"
            self.client.get(LOGIN_PATH, name="sign-in page")
            data = {
                "username": email,
                "password": password,
                # "__Host-csrftoken" in production, "csrftoken" with DEBUG on.
                "csrfmiddlewaretoken": next(
                    (c.value for c in self.client.cookies if c.name.endswith("csrftoken")), ""
                ),
            }
            # Django checks the Referer of secure requests against the Host.
            referer = host.replace("http://", "https://", 1) + LOGIN_PATH
            with self.client.post(
                LOGIN_PATH,
                data=data,
                headers={"Referer": referer},
                allow_redirects=False,
                name=SIGN_IN,
                catch_response=True,
            ) as response:
                location = response.headers.get("Location", "")
                if response.status_code != 302 or LOGIN_PATH in location:
                    response.failure(f"{email}: HTTP {response.status_code}, Location {location!r}")
                    return
            # The browser follows the redirect (home, then the calendar). Not measured: it
            # also warms every gunicorn worker before the measured phase begins.
            self.client.get(location, name="sign-in landing")

        @task
        def week_view(self) -> None:
            with self.client.get(
                WEEK_VIEW_PATH, name=WEEK_VIEW, catch_response=True, context={"role": self.role}
            ) as response:
                if response.status_code != 200:
                    response.failure(f"HTTP {response.status_code}")
                elif LOGIN_PATH in response.url:
                    response.failure("signed out: landed on the sign-in page")

    def on_request(
        name: str,
        response_time: float,
        response_length: int,
        context: dict[str, Any],
        exception: Any = None,
        **_: Any,
    ) -> None:
        if name not in samples:
            return
        if exception is not None:
            failures[name].append(str(exception)[:200])
            return
        samples[name].append(response_time)
        if name == WEEK_VIEW:
            by_role.setdefault(context["role"], []).append(response_time)
            page_bytes.append(response_length)

    env = Environment(user_classes=[WeekViewUser], host=host)
    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=config["spawn_rate"])
    signed_in_in_time = everyone_signed_in.wait(timeout=config["sign_in_timeout"])
    cpu_before = cpu_seconds(config["server_pid"])
    started = time.monotonic()
    if signed_in_in_time:
        gevent.sleep(config["seconds"])
    measured = time.monotonic() - started
    cpu_after = cpu_seconds(config["server_pid"])
    runner.quit()
    return {
        "signed_in_in_time": signed_in_in_time,
        "measured_seconds": measured,
        "samples": samples,
        "failures": failures,
        "week_view_by_role": by_role,
        "week_view_bytes": page_bytes,
        "load_generator_cpu_above_90": runner.cpu_warning_emitted,
        "cpu_seconds": {key: cpu_after[key] - cpu_before[key] for key in cpu_before},
    }


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time so far: the whole machine (busy, all cores), gunicorn's processes, and this
    load generator. What remains is PostgreSQL and whatever else runs on the machine."""
    import psutil

    machine = psutil.cpu_times()
    busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
    server = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        master = psutil.Process(server_pid)
        for process in [master, *master.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                server += times.user + times.system
    own = psutil.Process().cpu_times()
    return {"machine": busy, "server": server, "load_generator": own.user + own.system}


def main(argv: list[str]) -> int:
    config_path, result_path = argv
    result = run(json.loads(Path(config_path).read_text()))
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
