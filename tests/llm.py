"""LLM endpoints for the tests.

* `llama_server`: the real local llama.cpp server (llama-cpp-python) on a model shipped
  on PyPI, the same command `./holos run` starts (tera.llm_server.command).
* `ScriptedEndpoint`: a broken or scripted OpenAI-compatible endpoint, for what the real
  server will not do on demand: be down, answer garbage or an HTTP error, answer invalid
  JSON first and valid JSON on the retry. It speaks the same wire protocol (the chat
  completions API, streamed as server-sent events), which the real server also passes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tera import llm_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str  # its /v1 base URL
    name: str  # the model name it answers to
    pid: int


@contextmanager
def llama_server(
    model: str = llm_server.SMALLEST, *, threads: int = 2, context: int = 8192
) -> Iterator[Server]:
    """Start the embedded server on `model` (a shipped model's name or a GGUF path) on a
    free port; yield it; stop it."""
    from django.conf import settings

    port = free_port()
    path = llm_server.model_path(model, settings.LLM_MODELS_DIR, quiet=True)
    name = llm_server.served_name(model)
    process = subprocess.Popen(
        llm_server.command(path, name, port, context=context, threads=threads),
        env=llm_server.server_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"the llama.cpp server exited: {err[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the llama.cpp server did not start in 120 s") from None
                time.sleep(0.3)
        yield Server(url, name, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class ScriptedEndpoint:
    """An OpenAI-compatible chat endpoint that answers from a script, one reply per
    request: a string is streamed as the message content; ("status", code) answers that
    HTTP error; ("garbage", bytes) sends those bytes as the body; ("sleep", seconds)
    answers nothing for that long. Requests are kept."""

    def __init__(self, replies: list[Any]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                endpoint.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                reply = endpoint.replies.pop(0) if endpoint.replies else ("status", 500)
                if isinstance(reply, tuple) and reply[0] == "sleep":
                    time.sleep(reply[1])
                    return
                if isinstance(reply, tuple) and reply[0] == "status":
                    body = json.dumps({"error": {"message": "scripted failure"}}).encode()
                    self.send_response(reply[1])
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if isinstance(reply, tuple) and reply[0] == "garbage":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    self.wfile.write(reply[1])
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i in range(0, len(reply), 7):
                    chunk = {
                        "id": "x",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": "scripted",
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"content": reply[i : i + 7]},
                                "finish_reason": None,
                            }
                        ],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
