"""``ChatModel``: one client for every chat language model, over the ``openai`` SDK."""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence, TypeVar

import openai
import pydantic
from tqdm.auto import tqdm

from .cache import cache_key, get_cache
from .connection import OpenAIConnection

__all__ = ["BudgetExceededError", "ChatModel", "LLMBatchError", "LLMError", "Usage"]

T = TypeVar("T", bound=pydantic.BaseModel)
Prompt = "str | Sequence[dict[str, str]]"

# What each server accepted for structured answers, remembered per (base_url, model) for the process.
_STRUCTURED_MODES = ("json_schema", "json_object", "text")
_SERVER_STRUCTURED_MODE: dict[tuple[str, str], str] = {}
_SERVER_NO_LOGPROBS: set[tuple[str, str]] = set()
_PROGRESS_MIN_ITEMS = 20


class LLMError(RuntimeError):
    """A language-model call failed."""


class BudgetExceededError(LLMError):
    """The next call would go over the ``max_calls`` or ``max_total_tokens`` budget.

    Everything finished before it is in the cache: raising the budget and calling again
    resumes where the batch stopped.
    """


class LLMBatchError(LLMError):
    """Some items of a batch failed for good; the others finished and are cached.

    Attributes
    ----------
    failures : dict[int, str]
        Index in the batch -> what went wrong.
    results : list
        The batch's results, ``None`` where an item failed.
    """

    def __init__(self, failures: dict[int, str], results: list):
        self.failures = failures
        self.results = results
        shown = "; ".join(f"item {i}: {msg}" for i, msg in list(failures.items())[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(
            f"{len(failures)} of {len(results)} language-model calls failed: {shown}{more}. "
            "The finished calls are cached; calling again retries only the failed ones."
        )


@dataclass
class Usage:
    """Counts of what a :class:`ChatModel` did.

    ``calls`` are requests that reached the server (answered), ``cached`` are answers served
    from the cache, ``retries`` are extra HTTP attempts the SDK made after transient errors,
    ``failures`` are calls that failed for good, ``unparsed`` are answers that could not be
    read as the requested schema or as yes/no.
    """

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failures: int = 0
    unparsed: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total_tokens": self.total_tokens}

    def __sub__(self, other: "Usage") -> "Usage":
        return Usage(**{k: getattr(self, k) - getattr(other, k) for k in asdict(self)})


@dataclass
class _Answer:
    text: str
    top_logprobs: list[list[tuple[str, float]]] = field(default_factory=list)
    cached: bool = False


class ChatModel(OpenAIConnection):
    """A chat language model behind any OpenAI-compatible endpoint, with a persistent cache.

    Build it once and pass it to any estimator as ``llm=``. Works with OpenAI, Azure OpenAI
    (pass ``client=openai.AzureOpenAI(...)``) and OpenAI-compatible servers such as vLLM,
    Ollama, the llama.cpp server and LM Studio (pass ``base_url``).

    Parameters
    ----------
    model : str, default=None
        Model name; ``None`` reads ``NLMODELS_CHAT_MODEL`` and falls back to ``"gpt-4o-mini"``.
    base_url : str, default=None
        Server address, e.g. ``"http://127.0.0.1:8000/v1"``; ``None`` reads ``OPENAI_BASE_URL``
        and falls back to OpenAI.
    api_key : str, default=None
        ``None`` reads ``OPENAI_API_KEY``. The key is used for requests only: it is never part of
        ``repr``, a pickle, an export or a cache entry. A pickled ChatModel reads the environment
        again when it is unpickled.
    temperature : float, default=0.0
    seed : int or None, default=0
    max_tokens : int, default=512
        Default completion limit per call; small models loop until the limit, so keep it bounded.
    timeout : float, default=60.0
        Seconds per HTTP request.
    max_retries : int, default=3
        Retries of transient errors (429 honouring Retry-After, 5xx, dropped connections,
        timeouts), done by the ``openai`` SDK with exponential backoff.
    max_concurrency : int, default=8
        Requests in flight at once in a batch.
    max_calls : int, default=None
        Budget of requests that reach the server; checked before each request.
    max_total_tokens : int, default=None
        Budget of prompt plus completion tokens; checked before each request.
    cache_dir : str, default=None
        Cache folder; ``None`` uses ``NLMODELS_CACHE_DIR`` or the user cache folder.
    use_cache : bool, default=True
    progress : bool, default=True
        Show a progress bar for batches of 20 or more.
    client : openai.OpenAI, default=None
        A ready client (e.g. ``openai.AzureOpenAI``); then ``base_url`` and ``api_key`` are unused.

    Examples
    --------
    >>> llm = ChatModel("gpt-4o-mini")                                  # doctest: +SKIP
    >>> llm.chat(["Say hi."])                                           # doctest: +SKIP
    ['Hi!']
    >>> llm.yes_probability(["Is Paris in France?"])                    # doctest: +SKIP
    array([0.9997])
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        seed: int | None = 0,
        max_tokens: int = 512,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_concurrency: int = 8,
        max_calls: int | None = None,
        max_total_tokens: int | None = None,
        cache_dir: str | None = None,
        use_cache: bool = True,
        progress: bool = True,
        client: openai.OpenAI | None = None,
    ):
        super().__init__(
            model or os.environ.get("NLMODELS_CHAT_MODEL") or "gpt-4o-mini",
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, client=client,
        )
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.max_concurrency = max_concurrency
        self.max_calls = max_calls
        self.max_total_tokens = max_total_tokens
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.progress = progress
        self.usage = Usage()

    @property
    def _server(self) -> tuple[str, str]:
        return (self.base_url, self.model)

    # ------------------------------------------------------------------ public batch methods
    def chat(
        self,
        prompts: Sequence[Prompt],
        *,
        system: str | None = None,
        max_tokens: int | None = None,
        on_error: str = "raise",
        desc: str = "chat",
    ) -> list[str | None]:
        """Complete many prompts concurrently; return the answer texts in order.

        Each prompt is a string (one user message) or a list of chat messages.
        ``on_error="raise"`` raises :class:`LLMBatchError` after the whole batch ran if any
        item failed for good; ``on_error="none"`` returns ``None`` for those items.
        """
        def one(prompt):
            return self._complete(self._messages(prompt, system), max_tokens=max_tokens).text

        return self._batch(prompts, one, on_error=on_error, desc=desc)

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
        remembered per server. An answer that does not validate gets one repair request.
        """
        json_schema = schema.model_json_schema()
        instruction = (
            "Reply with one JSON object only, no prose, matching this JSON schema:\n"
            + json.dumps(json_schema, separators=(",", ":"))
        )
        system = f"{system}\n\n{instruction}" if system else instruction

        def one(prompt):
            messages = self._messages(prompt, system)
            answer = self._complete_structured(messages, schema, json_schema, max_tokens)
            try:
                return schema.model_validate_json(_strip_fences(answer.text))
            except pydantic.ValidationError as error:
                repair = messages + [
                    {"role": "assistant", "content": answer.text},
                    {
                        "role": "user",
                        "content": "That reply is not valid for the schema ("
                        + _short(str(error), 300)
                        + "). Reply with the corrected JSON object only.",
                    },
                ]
                answer = self._complete_structured(repair, schema, json_schema, max_tokens)
                try:
                    return schema.model_validate_json(_strip_fences(answer.text))
                except pydantic.ValidationError as error2:
                    self._count(unparsed=1)
                    raise LLMError(f"answer does not match {schema.__name__}: {_short(str(error2), 200)}")

        return self._batch(prompts, one, on_error=on_error, desc=desc)

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

        return self._batch(prompts, one, on_error=on_error, desc=desc)

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _messages(prompt: Prompt, system: str | None) -> list[dict[str, str]]:
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        else:
            messages = [dict(m) for m in prompt]
        if system:
            if messages and messages[0].get("role") == "system":
                messages[0]["content"] = f"{messages[0]['content']}\n\n{system}"
            else:
                messages.insert(0, {"role": "system", "content": system})
        return messages

    def _complete_structured(self, messages, schema, json_schema, max_tokens) -> _Answer:
        known = _SERVER_STRUCTURED_MODE.get(self._server)
        for mode in _STRUCTURED_MODES[_STRUCTURED_MODES.index(known or _STRUCTURED_MODES[0]):]:
            if mode == "json_schema":
                response_format = {
                    "type": "json_schema",
                    "json_schema": {"name": schema.__name__, "schema": json_schema, "strict": False},
                }
            elif mode == "json_object":
                response_format = {"type": "json_object", "schema": json_schema}
            else:
                response_format = None
            probe = known is None and mode != "text"
            try:
                answer = self._complete(messages, max_tokens=max_tokens, response_format=response_format, probe=probe)
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
                answer = self._complete(messages, max_tokens=max_tokens, response_format=response_format)
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

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.usage, name, getattr(self.usage, name) + delta)

    def _check_budget(self) -> None:
        with self._lock:
            if self.max_calls is not None and self.usage.calls >= self.max_calls:
                raise BudgetExceededError(
                    f"call budget reached: {self.usage.calls} of max_calls={self.max_calls} calls made"
                )
            if self.max_total_tokens is not None and self.usage.total_tokens >= self.max_total_tokens:
                raise BudgetExceededError(
                    f"token budget reached: {self.usage.total_tokens} of "
                    f"max_total_tokens={self.max_total_tokens} tokens used"
                )

    def _complete(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        response_format: dict | None = None,
        logprobs: bool = False,
        probe: bool = False,
    ) -> _Answer:
        """One chat completion through the cache.

        ``probe=True`` tries a request option the server may reject: no retries, and an error is
        not counted (the caller decides whether it was a rejection or a failure).
        """
        max_tokens = max_tokens or self.max_tokens
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": max_tokens,
        }
        if self.seed is not None:
            request["seed"] = self.seed
        if response_format is not None:
            request["response_format"] = response_format
        if logprobs:
            request["logprobs"] = True
            request["top_logprobs"] = 10
        key = cache_key(kind="chat", server=self.identity["server"], **request)
        cache = get_cache(self.cache_dir) if self.use_cache else None
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                self._count(cached=1)
                return _Answer(hit["text"], [[tuple(t) for t in tops] for tops in hit["top_logprobs"]], True)

        self._check_budget()
        client = self.client.with_options(max_retries=0) if probe else self.client
        try:
            raw = client.chat.completions.with_raw_response.create(**request)
        except openai.APIError as error:
            if probe:  # the caller tells a rejected option from a failure
                raise
            retried = self.max_retries if _is_transient(error) else 0
            self._count(failures=1, retries=retried)
            raise
        try:
            completion = raw.parse()
            choice = completion.choices[0]
            text = choice.message.content or ""
        except (ValueError, TypeError, AttributeError, IndexError) as error:  # truncated or not a completion
            self._count(failures=1)
            raise LLMError(f"the server's reply is not a chat completion ({type(error).__name__}: "
                           f"{_short(str(error), 120)})") from None
        tops: list[list[tuple[str, float]]] = []
        if logprobs and choice.logprobs is not None and choice.logprobs.content:
            tops = [
                [(t.token, t.logprob) for t in (c.top_logprobs or [])] or [(c.token, c.logprob)]
                for c in choice.logprobs.content
            ]
        usage = completion.usage
        self._count(
            calls=1,
            retries=getattr(raw, "retries_taken", 0) or 0,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )
        if cache is not None:
            cache.set(key, {"text": text, "top_logprobs": tops})  # written as soon as it arrives
        return _Answer(text, tops, False)

    def _batch(self, items: Sequence, fn: Callable, *, on_error: str, desc: str) -> list:
        if on_error not in ("raise", "none"):
            raise ValueError(f"on_error must be 'raise' or 'none', got {on_error!r}")
        items = list(items)
        results: list = [None] * len(items)
        failures: dict[int, str] = {}
        budget_error: BudgetExceededError | None = None
        show = self.progress and len(items) >= _PROGRESS_MIN_ITEMS
        with tqdm(total=len(items), desc=desc, disable=not show, leave=False) as bar, ThreadPoolExecutor(
            max_workers=max(1, self.max_concurrency)
        ) as pool:
            pending = {}
            queue = iter(enumerate(items))
            for i, item in queue:  # fill the pool
                pending[pool.submit(fn, item)] = i
                if len(pending) >= self.max_concurrency:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    bar.update(1)
                    try:
                        results[i] = future.result()
                    except BudgetExceededError as error:
                        budget_error = error
                    except (LLMError, openai.APIError, pydantic.ValidationError) as error:
                        failures[i] = _short(self._redact(f"{type(error).__name__}: {error}"), 300)
                    if budget_error is None:
                        nxt = next(queue, None)
                        if nxt is not None:
                            pending[pool.submit(fn, nxt[1])] = nxt[0]
        if budget_error is not None:
            raise budget_error
        if failures and on_error == "raise":
            raise LLMBatchError(failures, results)
        return results


def _is_transient(error: openai.APIError) -> bool:
    return isinstance(
        error, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)
    )


def _rejects_request_option(error: openai.APIStatusError, option: str) -> bool:
    """Did the server refuse the request because it does not support ``option``?

    OpenAI answers 400, vLLM 400, the llama.cpp server 422 or 500 with a validation message.
    """
    if error.status_code in (400, 422):
        return True
    return error.status_code == 500 and option in str(error)


def _strip_fences(text: str) -> str:
    """Small models often wrap JSON in Markdown fences; keep what lies between the outer braces."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
