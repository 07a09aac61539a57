"""The LLM, reached through the `openai` client at any OpenAI-compatible endpoint.

`LLM_BASE_URL`, `LLM_MODEL` and `LLM_API_KEY` say where: OpenAI, Ollama, vLLM or a
llama.cpp server. The default is the local llama.cpp server that `./holos run` starts
(tera/llm_server.py) on a model shipped on PyPI.

Everything asked of the model here is JSON matching a schema, with constrained decoding:
OpenAI's API takes the schema as `response_format={"type": "json_schema", ...}`;
llama-cpp-python's server refuses that and takes `{"type": "json_object", "schema": ...}`
instead, turning it into a grammar; `LLM_SCHEMA_STYLE` chooses ("openai" or
"llama.cpp"). A grammar does not guarantee a *finished* answer (`max_tokens` can cut it),
so the answer is still parsed, checked against the schema and by the caller's own check;
one wrong answer is retried once, a second one is an `LLMError`.

An `LLMError` carries a `code` (`FAILURES`), never text for people: tasks store the code
and pages say it in the reader's language (`failure_message`), so a Portuguese page never
shows an English error written by a worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jsonschema
from django.conf import settings
from django.utils.translation import gettext_lazy as _

T = TypeVar("T")
Messages = list[dict[str, str]]

# What can go wrong, and how each page says it (one sentence; the page adds "try again").
FAILURES = {
    "unreachable": _("The language model could not be reached."),
    "timeout": _("The language model took too long to answer."),
    "error": _("The language model answered with an error."),
    "unreadable": _("The language model’s answer could not be read."),
    "invalid": _("The language model gave no usable answer."),
}
GENERIC_FAILURE = _("The language model could not answer.")


def failure_message(code: str) -> str:
    """What a page says for a stored failure code (older rows held English text)."""
    return str(FAILURES.get(code, GENERIC_FAILURE))


class LLMError(Exception):
    """The model could not give a usable answer. `code` is one of FAILURES; str() is a
    detail for logs (never clinical text)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


class InvalidAnswer(ValueError):
    """An answer that is not JSON, or not the JSON that was asked for."""


class Imperfect(InvalidAnswer):
    """An answer worth asking again once (the reason is told to the model), but better
    than none: if the second answer is imperfect too, it is taken as it is (`value`)."""

    def __init__(self, reason: str, value: Any) -> None:
        super().__init__(reason)
        self.value = value


@dataclass
class Stats:
    """How one or more answers went: seconds to the first token, tokens streamed, seconds
    in all, calls made."""

    first_token: float | None = None
    tokens: int = 0
    seconds: float = 0.0
    attempts: int = 0
    calls: int = 0

    @property
    def tokens_per_second(self) -> float:
        generating = self.seconds - (self.first_token or 0)
        return self.tokens / generating if generating > 0 else 0.0

    def add(self, other: Stats) -> None:
        if self.first_token is None and other.first_token is not None:
            self.first_token = self.seconds + other.first_token
        self.tokens += other.tokens
        self.seconds += other.seconds
        self.attempts += other.attempts
        self.calls += other.calls


def client() -> Any:
    from openai import OpenAI

    return OpenAI(
        base_url=settings.LLM_BASE_URL,
        api_key=settings.LLM_API_KEY or "not-needed",
        timeout=settings.LLM_TIMEOUT,
        max_retries=0,
    )


def response_format(schema: dict[str, Any], name: str = "answer") -> dict[str, Any]:
    if settings.LLM_SCHEMA_STYLE == "openai":
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": False},
        }
    return {"type": "json_object", "schema": schema}


def parse(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The answer as a dict that matches `schema`; InvalidAnswer with the reason if not."""
    try:
        value = json.loads(text, strict=False)  # raw newlines inside strings are fine
    except json.JSONDecodeError as error:
        raise InvalidAnswer(f"not JSON ({error.msg} at {error.pos})") from error
    if not isinstance(value, dict):
        raise InvalidAnswer("not a JSON object")
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "the answer"
        raise InvalidAnswer(f"{where}: {error.message[:200]}") from error
    return value


def _failure(error: Exception) -> LLMError:
    from openai import APIConnectionError, APIError, APITimeoutError

    if isinstance(error, APITimeoutError):
        return LLMError("timeout")
    if isinstance(error, APIConnectionError):
        return LLMError("unreachable", settings.LLM_BASE_URL)
    if isinstance(error, APIError):
        return LLMError("error", str(error)[:200])
    return LLMError("unreadable", f"is {settings.LLM_BASE_URL} an OpenAI-compatible endpoint?")


def _stream(
    messages: Messages,
    schema: dict[str, Any] | None,
    *,
    on_text: Callable[[str, int], None] | None,
    stats: Stats,
    max_tokens: int,
    stop: Callable[[str], bool] | None = None,
) -> str:
    started = time.monotonic()
    extra: dict[str, Any] = {}
    if schema is not None:
        extra["response_format"] = response_format(schema)
    stream = client().chat.completions.create(
        model=settings.LLM_MODEL,
        messages=messages,
        temperature=settings.LLM_TEMPERATURE,
        max_tokens=max_tokens,
        stream=True,
        **extra,
    )
    stats.calls += 1
    parts: list[str] = []
    last_report = 0.0
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta.content
        if not delta:
            continue
        now = time.monotonic()
        if stats.first_token is None:
            stats.first_token = now - started
        stats.tokens += 1
        parts.append(delta)
        if now - last_report >= settings.LLM_PROGRESS_EVERY:
            last_report = now
            if on_text is not None:
                on_text("".join(parts), stats.tokens)
            if stop is not None and stop("".join(parts)):
                stream.close()  # the server stops writing when the connection goes
                break
    stats.seconds += time.monotonic() - started
    text = "".join(parts)
    if on_text is not None:
        on_text(text, stats.tokens)
    return text


def ask_json(
    messages: Messages,
    schema: dict[str, Any],
    check: Callable[[dict[str, Any]], T],
    *,
    on_text: Callable[[str, int], None] | None = None,
    max_tokens: int | None = None,
    stop: Callable[[str], bool] | None = None,
    repair: Callable[[str], dict[str, Any] | None] | None = None,
) -> tuple[T, Stats]:
    """Ask for JSON matching `schema`, then `check(answer)` (which raises InvalidAnswer
    when the content is wrong). A wrong answer is retried once, telling the model what was
    wrong; a second one, or an endpoint that is down or answers an error, raises LLMError.

    `stop(text so far)` may end the answer early (a model repeating itself), and
    `repair(text)` may make an answer of an unfinished one (cut by `stop` or by
    `max_tokens`: the items written whole), which must still match `schema`.
    """
    stats = Stats()
    asked = list(messages)
    limit = max_tokens or settings.LLM_MAX_TOKENS
    reason = ""
    for attempt in (1, 2):
        stats.attempts = attempt
        try:
            text = _stream(asked, schema, on_text=on_text, stats=stats, max_tokens=limit, stop=stop)
        except Exception as error:  # the client's errors, and a stream it cannot read
            raise _failure(error) from error
        try:
            try:
                answer = parse(text, schema)
            except InvalidAnswer:
                repaired = repair(text) if repair else None
                if repaired is None:
                    raise
                answer = parse(json.dumps(repaired), schema)
            return check(answer), stats
        except Imperfect as error:
            if attempt == 2:
                return error.value, stats
            reason = str(error)
            asked = _again(messages, text, reason, limit)
        except InvalidAnswer as error:
            reason = str(error)
            asked = _again(messages, text, reason, limit)
    raise LLMError("invalid", reason)


def _again(messages: Messages, answer: str, reason: str, limit: int) -> Messages:
    """The conversation asking once more, with what was wrong."""
    return [
        *messages,
        {"role": "assistant", "content": answer[: limit * 4]},
        {
            "role": "user",
            "content": f"That answer was not right: {reason}. "
            "Answer again with JSON that follows the schema exactly.",
        },
    ]


def prefill(
    messages: Messages,
    *,
    on_progress: Callable[[int, int], None],
    step: int | None = None,
) -> None:
    """Let the embedded server read a long prompt in steps before it is asked, reporting
    after each (`on_progress(characters read, characters in all)`), so a page shows real
    progress during the minute a small CPU spends reading a transcript.

    llama.cpp's server keeps the tokens of the last prompt and evaluates only what follows
    their longest shared prefix: each step sends the last message cut shorter (whole
    lines) and asks for one token, and the real request then finds all but its tail
    evaluated. The steps cost one token each. Only for a llama.cpp server on the CPU
    (`LLM_PREFILL_CHARS`, on for the embedded one: another endpoint would bill the steps and
    gain nothing); any failure is left to the real request to report."""
    step = step or settings.LLM_PREFILL_CHARS
    if step <= 0:
        return
    *head, last = messages
    content = last["content"]
    total = len(content)
    cut = step
    while cut < total - step // 2:
        end = content.rfind("\n", 0, cut)
        end = end if end > 0 else cut
        try:
            _stream(
                [*head, {**last, "content": content[:end]}],
                None,
                on_text=None,
                stats=Stats(),
                max_tokens=1,
            )
        except Exception:  # noqa: BLE001 (the real request reports what is wrong)
            return
        on_progress(end, total)
        cut = end + step
