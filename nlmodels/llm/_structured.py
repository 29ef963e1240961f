"""Structured answers and yes-probabilities of :class:`~nlmodels.ChatModel` (a mixin of it).

``structured`` sends the schema as ``response_format`` json_schema where the server accepts it, else
as json_object with the schema (llama.cpp), else in the prompt only, and remembers per server what
worked; an answer that does not validate is asked again with its validation error, up to
``max_repairs`` times. ``yes_probability`` reads P(yes) from the first answer token's log-probabilities.
"""

from __future__ import annotations

import json
import math
from typing import Callable, Sequence, TypeVar

import openai
import pydantic

from ._wire import _CACHE_ONLY, _NotCached
from ._wire import is_transient as _is_transient
from ._wire import Answer as _Answer, rejects_request_option as _rejects_request_option, response_format as \
    _response_format, short as _short, strip_fences as _strip_fences
from .errors import LLMError

__all__ = ["StructuredMixin"]

T = TypeVar("T", bound=pydantic.BaseModel)
Prompt = "str | Sequence[dict[str, str]]"

# What each server accepted for structured answers, remembered per (base_url, model) for the process.
_STRUCTURED_MODES = ("json_schema", "json_object", "text")
_SERVER_STRUCTURED_MODE: dict[tuple[str, str], str] = {}
_SERVER_NO_LOGPROBS: set[tuple[str, str]] = set()


class StructuredMixin:
    """``structured`` and ``yes_probability``; the requests go through ChatModel's ``_complete``."""

    def structured(
        self,
        prompts: Sequence[Prompt],
        schema: type[T],
        *,
        system: str | None = None,
        max_tokens: int | None = None,
        on_error: str = "raise",
        desc: str = "structured",
    ) -> list[T | None]:
        """Answers validated against a pydantic model.

        The schema is sent as ``response_format`` json_schema where the server accepts it, else as
        json_object with the schema (llama.cpp), else described in the prompt only; what worked is
        remembered per server. An answer that does not validate is asked again with its validation
        error, up to ``max_repairs`` times.
        """
        return self._run(prompts, self._structured_fn(schema, system, max_tokens), on_error=on_error, desc=desc)

    def yes_probability(
        self,
        prompts: Sequence[Prompt],
        *,
        system: str | None = None,
        on_error: str = "raise",
        desc: str = "yes/no",
    ) -> list[float | None]:
        """The probability that the answer to each yes/no question is yes.

        Read from the first answer token's log-probabilities when the server returns them
        (P(yes) / (P(yes) + P(no))); otherwise 1.0 for an answer starting with "yes", 0.0 for
        "no", and 0.5 (counted in ``usage.unparsed``) for anything else.
        """
        instruction = "Answer with a single word: yes or no."
        system = f"{system}\n\n{instruction}" if system else instruction

        def one(prompt):
            messages = self._messages(prompt, system)
            use_logprobs = self._server not in _SERVER_NO_LOGPROBS
            try:
                answer = self._complete(messages, max_tokens=3, logprobs=use_logprobs)
            except openai.APIStatusError as error:
                if not use_logprobs or not _rejects_request_option(error, "logprobs"):
                    raise
                _SERVER_NO_LOGPROBS.add(self._server)
                answer = self._complete(messages, max_tokens=3, logprobs=False)
            return self._read_yes(answer)

        return self._run(prompts, one, on_error=on_error, desc=desc)

    # ------------------------------------------------------------------ what one item does
    def _structured_fn(self, schema, system, max_tokens) -> Callable:
        """One structured item: the request, then up to ``max_repairs`` follow-ups that show the model
        its answer and the validation error. Every request goes through the cache."""
        json_schema = schema.model_json_schema()
        instruction = (
            "Reply with one JSON object only, no prose, matching this JSON schema:\n"
            + json.dumps(json_schema, separators=(",", ":"))
        )
        system = f"{system}\n\n{instruction}" if system else instruction

        def one(prompt):
            messages = self._messages(prompt, system)
            for attempt in range(self.max_repairs + 1):
                if attempt:
                    self._count(repairs=1)
                    messages = messages + [
                        {"role": "assistant", "content": answer.text},
                        {"role": "user", "content": "That reply is not valid for the schema ("
                         + _short(str(error), 300) + "). Reply with the corrected JSON object only."},
                    ]
                answer = self._complete_structured(messages, schema, json_schema, max_tokens)
                try:
                    return schema.model_validate_json(_strip_fences(answer.text))
                except pydantic.ValidationError as invalid:
                    error = invalid
            self._count(unparsed=1)
            raise LLMError(f"answer does not match {schema.__name__} after {self.max_repairs} repairs: "
                           f"{_short(str(error), 200)}")

        return one

    # ------------------------------------------------------------------ planning, estimates, batches
    def _complete_structured(self, messages, schema, json_schema, max_tokens) -> _Answer:
        known = _SERVER_STRUCTURED_MODE.get(self._server)
        modes = _STRUCTURED_MODES[_STRUCTURED_MODES.index(known or _STRUCTURED_MODES[0]):]
        requests = [self._request(messages, max_tokens=max_tokens,
                                  response_format=_response_format(mode, schema, json_schema)) for mode in modes]
        # An answer cached under any format this server may take is the answer (a new process does
        # not know yet which format the server accepts, and must not pay to find out again).
        for request in requests:
            hit = self._cached(self._key(request))
            if hit is not None:
                return hit
        if _CACHE_ONLY.get():
            raise _NotCached(self._key(requests[0]), requests[0])
        for mode, request in zip(modes, requests):
            probe = known is None and mode != "text"
            try:
                answer = self._send(request, probe=probe)
            except openai.APIError as error:
                if (mode != "text" and isinstance(error, openai.APIStatusError)
                        and _rejects_request_option(error, "response_format")):
                    continue
                if not probe:
                    raise
                if not _is_transient(error):
                    self._count(failures=1)
                    raise
                # A rate limit, 5xx or dropped connection says nothing about the option:
                # the same request again, now with the SDK's retries.
                self._count(retries=1)
                answer = self._send(request)
            _SERVER_STRUCTURED_MODE[self._server] = mode
            return answer
        raise AssertionError("unreachable")

    def _read_yes(self, answer: _Answer) -> float:
        for tops in answer.top_logprobs[:3]:
            p_yes = sum(math.exp(lp) for tok, lp in tops if tok.strip().lower().strip(".,!") == "yes")
            p_no = sum(math.exp(lp) for tok, lp in tops if tok.strip().lower().strip(".,!") == "no")
            if p_yes + p_no > 0:
                return p_yes / (p_yes + p_no)
        word = answer.text.strip().lower().lstrip("\"'*` ")
        if word.startswith("yes"):
            return 1.0
        if word.startswith("no"):
            return 0.0
        self._count(unparsed=1)
        return 0.5
