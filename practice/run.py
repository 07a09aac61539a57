"""`./holos run`: start the embedded services once, prepare the database, then run web,
worker and beat together under honcho. Children inherit DATABASE_URL and REDIS_URL, so
they join the services this process holds instead of starting their own."""

from __future__ import annotations

import os
import subprocess
import sys

from practice import embedded


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = embedded.postgres_url()
        print(f"Embedded PostgreSQL: {env['DATABASE_URL']}")
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = embedded.redis_url()
        print(f"Redis: {env['REDIS_URL']}")
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--no-input"], ["seed_demo"]):
        subprocess.run([*manage, *command], env=env, check=True)
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    port = env.get("HOLOS_PORT", "8000")
    print(f"Holos is starting at http://localhost:{port} (Ctrl+C stops everything)")
    try:
        return subprocess.call(
            [os.path.join(bin_dir, "honcho"), "start", "-f", "Procfile"], env=env
        )
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
