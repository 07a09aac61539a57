"""The LLM, reached through the `openai` client at any OpenAI-compatible endpoint.

`LLM_BASE_URL`, `LLM_MODEL` and `LLM_API_KEY` say where: OpenAI, Ollama, vLLM or a
llama.cpp server. The default is the local llama.cpp server that `./holos run` starts
(tera/llm_server.py) on a tiny GGUF shipped on PyPI.

Everything asked of the model here is JSON matching a schema. OpenAI's API takes the
schema as `response_format={"type": "json_schema", ...}`; llama-cpp-python's server
refuses that and takes `{"type": "json_object", "schema": ...}` instead, which
`LLM_SCHEMA_STYLE` chooses ("openai" or "llama.cpp"). The answer is streamed (the caller
sees progress), parsed, checked against the schema and by the caller's own check; one
wrong answer is retried once, a second one is an `LLMError` with a message for people.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jsonschema
from django.conf import settings
from django.utils.translation import gettext as _

T = TypeVar("T")
Messages = list[dict[str, str]]


class LLMError(Exception):
    """The model could not give a usable answer; str() is fit to show to the user."""


class InvalidAnswer(ValueError):
    """An answer that is not JSON, or not the JSON that was asked for."""


@dataclass
class Stats:
    """How one answer went: seconds to the first token, tokens streamed, seconds in all."""

    first_token: float | None = None
    tokens: int = 0
    seconds: float = 0.0
    attempts: int = 0

    @property
    def tokens_per_second(self) -> float:
        generating = self.seconds - (self.first_token or 0)
        return self.tokens / generating if generating > 0 else 0.0


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


def _stream(
    messages: Messages,
    schema: dict[str, Any],
    *,
    on_text: Callable[[str, int], None] | None,
    stats: Stats,
) -> str:
    started = time.monotonic()
    stream = client().chat.completions.create(
        model=settings.LLM_MODEL,
        messages=messages,
        response_format=response_format(schema),
        temperature=settings.LLM_TEMPERATURE,
        max_tokens=settings.LLM_MAX_TOKENS,
        stream=True,
    )
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
        if on_text is not None and now - last_report >= settings.LLM_PROGRESS_EVERY:
            on_text("".join(parts), stats.tokens)
            last_report = now
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
) -> tuple[T, Stats]:
    """Ask for JSON matching `schema`, then `check(answer)` (which raises InvalidAnswer
    when the content is wrong). A wrong answer is retried once, telling the model what was
    wrong; a second one, or an endpoint that is down or answers an error, raises LLMError.
    """
    from openai import APIConnectionError, APIError, APITimeoutError

    stats = Stats()
    asked = list(messages)
    reason = ""
    for attempt in (1, 2):
        stats.attempts = attempt
        try:
            text = _stream(asked, schema, on_text=on_text, stats=stats)
        except APITimeoutError as error:
            raise LLMError(_("The language model took too long to answer.")) from error
        except APIConnectionError as error:
            raise LLMError(
                _("The language model cannot be reached at %(url)s.")
                % {"url": settings.LLM_BASE_URL}
            ) from error
        except ValueError as error:  # the stream is not the chat-completions protocol
            raise LLMError(
                _(
                    "The language model’s answer could not be read: is %(url)s an "
                    "OpenAI-compatible endpoint?"
                )
                % {"url": settings.LLM_BASE_URL}
            ) from error
        except APIError as error:
            raise LLMError(
                _("The language model answered with an error: %(error)s")
                % {"error": str(error)[:200]}
            ) from error
        try:
            return check(parse(text, schema)), stats
        except InvalidAnswer as error:
            reason = str(error)
            asked = [
                *messages,
                {"role": "assistant", "content": text[: settings.LLM_MAX_TOKENS * 4]},
                {
                    "role": "user",
                    "content": f"That answer was not valid: {reason}. "
                    "Answer again with JSON that follows the schema exactly.",
                },
            ]
    raise LLMError(
        _("The language model gave no valid answer twice (%(reason)s). Nothing was changed.")
        % {"reason": reason}
    )
