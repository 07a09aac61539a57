"""The embedded LLM's weights and command (tera/llm_server.py, tera/shipped.py): the shipped
models are joined once from their packages and checked against their pinned sha256, a
mismatch refuses to start, and the server runs with the settings a small CPU needs."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tera import llm_server, shipped


def _parts(tmp_path: Path, *chunks: bytes) -> list[Path]:
    paths = []
    for i, chunk in enumerate(chunks):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def test_parts_are_joined_once_in_order_and_checked(tmp_path):
    parts = _parts(tmp_path, b"GGUF", b"-two", b"-three")
    digest = hashlib.sha256(b"GGUF-two-three").hexdigest()
    seen = []
    target = shipped.join(
        parts, tmp_path / "models" / "m.gguf", sha256=digest, progress=lambda d, t: seen.append(d)
    )
    assert target.read_bytes() == b"GGUF-two-three"
    assert seen[-1] == len(b"GGUF-two-three")
    assert shipped.is_verified(target, digest)
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.gguf", "m.gguf.sha256"]
    parts[0].unlink()  # a second start neither needs nor reads the parts
    assert shipped.join(parts, target, sha256=digest) == target


def test_parts_that_join_into_other_bytes_leave_nothing_behind(tmp_path):
    parts = _parts(tmp_path, b"GGUF", b"-tampered")
    with pytest.raises(shipped.WeightsError, match="not the pinned"):
        shipped.join(parts, tmp_path / "models" / "m.gguf", sha256="0" * 64)
    assert list((tmp_path / "models").iterdir()) == []


def test_a_joined_file_changed_afterwards_refuses_to_start(tmp_path):
    parts = _parts(tmp_path, b"GGUF", b"-weights")
    digest = hashlib.sha256(b"GGUF-weights").hexdigest()
    target = shipped.join(parts, tmp_path / "m.gguf", sha256=digest)
    target.write_bytes(b"GGUF-w3ights")  # same size, other bytes
    assert not shipped.is_verified(target, digest)
    with pytest.raises(shipped.WeightsError, match="delete it and start again"):
        shipped.verify(target, digest)


def test_the_shipped_models_are_pinned_and_joined_from_their_packages(settings):
    for name, model in llm_server.SHIPPED.items():
        path = llm_server.model_path(name, settings.LLM_MODELS_DIR, quiet=True)
        assert path.stat().st_size == model.size
        assert shipped.is_verified(path, model.sha256)
        assert path.read_bytes()[:4] == b"GGUF"
        parts = [shipped.part_path(package) for package in model.packages]
        assert sum(p.stat().st_size for p in parts) == model.size
    assert llm_server.DEFAULT == "qwen2.5-coder-1.5b-instruct"
    assert settings.LLM_EMBEDDED_MODEL == llm_server.DEFAULT


def test_any_gguf_file_may_be_named_and_a_missing_one_is_refused(tmp_path):
    own = tmp_path / "my-model.Q4.gguf"
    own.write_bytes(b"GGUF")
    assert llm_server.model_path(str(own), tmp_path) == own
    assert llm_server.served_name(str(own)) == "my-model.Q4"
    assert llm_server.served_name(llm_server.DEFAULT) == llm_server.DEFAULT
    with pytest.raises(shipped.WeightsError, match="neither a shipped model"):
        llm_server.model_path(str(tmp_path / "nothing.gguf"), tmp_path)


def test_the_server_runs_with_what_a_small_cpu_needs(tmp_path):
    argv = llm_server.command(tmp_path / "m.gguf", "m", 8081, context=32768, threads=0)
    options = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert argv[:3] == [sys.executable, "-m", "llama_cpp.server"]
    assert options["--n_ctx"] == "32768"  # a 60-minute session
    assert options["--logits_all"] == "False"  # ~1 GB otherwise
    assert options["--interrupt_requests"] == "False"  # else a second request empties the first
    assert options["--n_threads"] == str(llm_server.machine_threads())
    assert options["--model_alias"] == "m"


def test_the_server_process_refuses_weights_that_are_not_pinned(tmp_path):
    (tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").write_bytes(b"GGUF-not-the-model")
    result = subprocess.run(
        [sys.executable, "-m", "tera.llm_server"],
        env={
            **llm_server.server_env(),
            "LLM_BASE_URL": "",
            "LLM_EMBEDDED_MODEL": llm_server.SMALLEST,
            "LLM_MODELS_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://unused@127.0.0.1:9/unused",
            "REDIS_URL": "redis://127.0.0.1:9/0",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "The language model cannot start" in result.stderr and "sha256" in result.stderr
