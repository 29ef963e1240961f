"""Reading and writing the chat-completion wire format: answers, response formats, error kinds."""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import openai


__all__ = ["_CACHE_ONLY", "_NotCached", "Answer", "item_key", "read_completion", "rejects_request_option", "response_format", "short",
           "strip_fences", "unique", "is_transient"]


# Set while a batch is planned (estimate_cost, batch mode): answers come from the cache only, a miss
# raises _NotCached with the request that would be sent, and nothing is counted in ``usage``.
_CACHE_ONLY = contextvars.ContextVar("nlmodels_cache_only", default=False)


class _NotCached(Exception):
    """Raised in cache-only mode: this request is not in the cache."""

    def __init__(self, key: str, request: dict):
        super().__init__(key)
        self.key, self.request = key, request


@dataclass
class Answer:
    text: str
    top_logprobs: list[list[tuple[str, float]]] = field(default_factory=list)
    cached: bool = False


def item_key(item) -> str:
    return item if isinstance(item, str) else json.dumps(item, sort_keys=True, default=str)


def unique(items: Sequence) -> dict[str, Any]:
    """The distinct prompts of a batch, in first-seen order, by their text (or messages' JSON)."""
    out: dict[str, Any] = {}
    for item in items:
        out.setdefault(item_key(item), item)
    return out


def read_completion(completion) -> tuple[str, list[list[tuple[str, float]]]]:
    """The answer text and the top log-probabilities per token of a parsed chat completion."""
    choice = completion.choices[0]
    text = choice.message.content or ""
    tops: list[list[tuple[str, float]]] = []
    if choice.logprobs is not None and choice.logprobs.content:
        tops = [
            [(t.token, t.logprob) for t in (c.top_logprobs or [])] or [(c.token, c.logprob)]
            for c in choice.logprobs.content
        ]
    return text, tops


def response_format(mode: str, schema, json_schema: dict) -> dict | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": json_schema, "strict": False}}
    if mode == "json_object":
        return {"type": "json_object", "schema": json_schema}
    return None


def is_transient(error: openai.APIError) -> bool:
    return isinstance(
        error, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
    )


def rejects_request_option(error: openai.APIStatusError, option: str) -> bool:
    """Did the server refuse the request because it does not support ``option``?

    OpenAI answers 400, vLLM 400, the llama.cpp server 422 or 500 with a validation message.
    """
    if error.status_code in (400, 422):
        return True
    return error.status_code == 500 and option in str(error)


def strip_fences(text: str) -> str:
    """Small models often wrap JSON in Markdown fences; keep what lies between the outer braces."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
