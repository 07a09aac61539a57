"""What every benchmark here shares: how it reports progress and how it ends. A benchmark
prints its figures and exits 0; it exits 1 only when the harness itself broke."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


class HarnessError(Exception):
    """The benchmark could not measure anything meaningful (not a slow result)."""


def step(message: str) -> None:
    print(f"· {message}", flush=True)


def run_main(
    run: Callable[[argparse.Namespace, Path], None], args: argparse.Namespace, *, prefix: str
) -> int:
    """Run a benchmark in a temporary folder; the exit code says only whether it broke."""
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            run(args, Path(tmp))
    except HarnessError as error:
        print(f"\nBENCHMARK BROKEN: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        print(f"(whole run took {time.monotonic() - began:.0f} s)", flush=True)
    return 0
