"""``ChatModel``: one client for every chat language model, over the ``openai`` SDK."""

from __future__ import annotations

import contextvars
import json
import logging
import math
import os
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import openai
import pydantic
from openai.types.chat import ChatCompletion
from tqdm.auto import tqdm

from .._validation import check_int_param
from .cache import cache_key, default_cache_dir, get_cache
from .connection import OpenAIConnection
from .cost import CostEstimate, request_tokens, token_counter

__all__ = ["BudgetExceededError", "ChatModel", "LLMBatchError", "LLMError", "Usage"]

T = TypeVar("T", bound=pydantic.BaseModel)
Prompt = "str | Sequence[dict[str, str]]"

# What each server accepted for structured answers, remembered per (base_url, model) for the process.
_STRUCTURED_MODES = ("json_schema", "json_object", "text")
_SERVER_STRUCTURED_MODE: dict[tuple[str, str], str] = {}
_SERVER_NO_LOGPROBS: set[tuple[str, str]] = set()
_PROGRESS_MIN_ITEMS = 20
_log = logging.getLogger("nlmodels")
# Set while a batch is planned (estimate_cost, batch mode): answers come from the cache only, a miss
# raises _NotCached with the request that would be sent, and nothing is counted in ``usage``.
_CACHE_ONLY = contextvars.ContextVar("nlmodels_cache_only", default=False)


class _NotCached(Exception):
    """Raised in cache-only mode: this request is not in the cache."""

    def __init__(self, key: str, request: dict):
        super().__init__(key)
        self.key, self.request = key, request


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
    read as the requested schema or as yes/no (after ``max_repairs`` repairs), ``repairs`` are the
    follow-up requests that showed the model its answer's validation error (each one is also a
    call or a cached answer), ``batched`` are the calls answered through the Batch API (also
    counted in ``calls``).
    """

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failures: int = 0
    unparsed: int = 0
    repairs: int = 0
    batched: int = 0

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
    max_repairs : int, default=2
        A structured answer that does not validate (broken or cut-short JSON, wrong shape) is asked
        again, showing the model its answer and the validation error, up to this many times; then the
        item fails. Each repair goes through the cache and is counted in ``usage.repairs``.
    batch : bool, default=False
        Send the uncached calls of each batch of at least ``batch_min_size`` calls through the
        provider's Batch API (OpenAI, Azure OpenAI: half the price, answers within 24 h) instead of
        one request each; see :meth:`write_batch_file` for running the file elsewhere
        (``vllm run-batch``). Needs the cache (the answers are written there).
    batch_dir : str, default=None
        Where a submitted batch's id and input-file hash are kept, so that a process started again
        picks up the same batch; ``None``: ``batches/`` in the cache folder.
    batch_min_size : int, default=100
        Smaller batches (a proposal round is one call) are sent synchronously.
    batch_poll_interval : float, default=30.0
        Seconds between status checks of a submitted batch.

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
        max_repairs: int = 2,
        batch: bool = False,
        batch_dir: str | None = None,
        batch_min_size: int = 100,
        batch_poll_interval: float = 30.0,
    ):
        check_int_param("max_repairs", max_repairs, 0)
        check_int_param("batch_min_size", batch_min_size, 1)
        if not isinstance(batch, bool):
            raise ValueError(f"batch must be True or False, got {batch!r}")
        if batch and not use_cache:
            raise ValueError("batch=True needs use_cache=True: the Batch API's answers are read into the cache")
        if not (isinstance(batch_poll_interval, (int, float)) and batch_poll_interval >= 0):
            raise ValueError(f"batch_poll_interval must be a number of seconds >= 0, got {batch_poll_interval!r}")
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
        self.max_repairs = max_repairs
        self.batch = batch
        self.batch_dir = batch_dir
        self.batch_min_size = batch_min_size
        self.batch_poll_interval = batch_poll_interval
        self.usage = Usage()
        self._fresh: set[str] = set()  # keys just read from a batch's output: not "cached" when served
        self._batch_api_checked = False

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        defaults = dict(max_repairs=2, batch=False, batch_dir=None, batch_min_size=100, batch_poll_interval=30.0,
                        _batch_api_checked=False)
        for name, value in defaults.items():  # a ChatModel pickled before these options existed
            self.__dict__.setdefault(name, value)
        self._fresh = set()

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
        return self._run(prompts, self._chat_fn(system, max_tokens), on_error=on_error, desc=desc)

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

    def estimate_cost(
        self,
        prompts: Sequence[Prompt],
        schema: type[pydantic.BaseModel] | None = None,
        *,
        system: str | None = None,
        max_tokens: int | None = None,
    ) -> CostEstimate:
        """What ``structured(prompts, schema, ...)`` (or ``chat(prompts, ...)`` without a schema)
        would cost, without making a request.

        The requests are built and looked up in the cache exactly as the real call does them:
        ``calls`` is one per prompt, ``cached`` those the cache already answers (a repeated prompt
        is asked once), and ``requests`` (the difference) what the server would see, assuming every
        answer validates (each one that does not costs up to ``max_repairs`` more). Tokens are counted
        for those requests only: prompt tokens with tiktoken where it is installed and knows the model
        offline, else estimated as characters / 4 (``tokenizer`` says which); completion tokens are
        the upper bound ``max_tokens`` per request.
        """
        one = self._chat_fn(system, max_tokens) if schema is None else self._structured_fn(schema, system, max_tokens)
        prompts = list(prompts)
        return self._estimate(self._plan(prompts, one)[0], len(prompts))

    def write_batch_file(
        self,
        prompts: Sequence[Prompt],
        schema: type[pydantic.BaseModel] | None = None,
        *,
        path: str | os.PathLike,
        system: str | None = None,
        max_tokens: int | None = None,
    ) -> int:
        """Write the uncached requests of ``structured(prompts, schema)`` (or ``chat(prompts)``) as a
        JSONL file in the OpenAI Batch API format, for a batch run elsewhere (``vllm run-batch -i
        FILE -o OUT --model ...``, or an upload of your own). Each line's ``custom_id`` is the
        request's cache key, so :meth:`read_batch_output` puts the answers where the real call finds
        them. The file holds the requests only (no API key). Returns the number of lines."""
        from .batch import write_requests

        one = self._chat_fn(system, max_tokens) if schema is None else self._structured_fn(schema, system, max_tokens)
        pending, _ = self._plan(list(prompts), one)
        Path(path).write_bytes(write_requests(pending))
        return len(pending)

    def read_batch_output(self, path: str | os.PathLike) -> dict[str, Any]:
        """Read a Batch API output file (from :meth:`write_batch_file`'s requests, run by the provider
        or by ``vllm run-batch``) into the cache. Returns ``{"answers": n, "failed": {custom_id:
        reason}}``; call ``structured``/``chat`` with the same prompts afterwards to get the answers
        (0 requests for the lines that were answered; the others are asked synchronously)."""
        from .batch import read_output

        failed: dict[str, str] = {}
        n = read_output(Path(path).read_text(encoding="utf-8"), self._store_batch_answer, failed)
        return {"answers": n, "failed": failed}

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
    def _chat_fn(self, system, max_tokens) -> Callable:
        def one(prompt):
            return self._complete(self._messages(prompt, system), max_tokens=max_tokens).text

        return one

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
    def _plan(self, prompts: list, one: Callable) -> tuple[dict[str, dict], list]:
        """The requests ``one`` would send for these prompts, ``{cache key: request}``, and the answers
        the cache already gives (``None`` where a request is needed or the item fails).

        Each prompt is replayed against the cache only (nothing sent, nothing counted): a prompt
        whose answers, repairs included, are all cached needs nothing; otherwise the first request
        missing from the cache is the one needed (a repair, if the original answer is cached)."""
        pending: dict[str, dict] = {}
        answers: dict[str, Any] = {}
        token = _CACHE_ONLY.set(True)
        try:
            for key, prompt in _unique(prompts).items():
                try:
                    answers[key] = one(prompt)
                except _NotCached as miss:
                    pending.setdefault(miss.key, miss.request)
                except (LLMError, pydantic.ValidationError):
                    pass  # fully answered from the cache, and it fails: no request either
        finally:
            _CACHE_ONLY.reset(token)
        return pending, [answers.get(_item_key(p)) for p in prompts]

    def _estimate(self, pending: dict[str, dict], n_calls: int) -> CostEstimate:
        name, count = token_counter(self.model)
        return CostEstimate(
            calls=n_calls, cached=n_calls - len(pending),
            prompt_tokens=sum(request_tokens(r["messages"], count) for r in pending.values()),
            completion_tokens=sum(r["max_tokens"] for r in pending.values()),
            tokenizer=name,
        )

    def _run(self, prompts: Sequence, one: Callable, *, on_error: str, desc: str) -> list:
        """A batch: through the Batch API first when ``batch=True`` and it is large enough, then the
        synchronous path (which finds those answers in the cache, and asks what is left)."""
        if on_error not in ("raise", "none"):
            raise ValueError(f"on_error must be 'raise' or 'none', got {on_error!r}")
        prompts = list(prompts)
        if self.batch:
            pending, _ = self._plan(prompts, one)
            if pending:  # checked before the first paid call, also one sent synchronously
                self._check_batch_api()
            if len(pending) >= self.batch_min_size:
                failed = self._run_batch(pending, desc)
                if failed:
                    _log.info("%d of %d batch lines got no answer; asking them synchronously", len(failed), len(pending))
        return self._batch(prompts, one, on_error=on_error, desc=desc)

    def _check_batch_api(self) -> None:
        """Before any call with ``batch=True``: does the server have the Batch API?"""
        if self._batch_api_checked:
            return
        where = self.identity["server"]
        try:
            page = self.client.batches.list(limit=1)
        except openai.APIStatusError as error:
            raise LLMError(
                f"batch=True needs the Batch API (/v1/files, /v1/batches), but {where} answered "
                f"HTTP {error.status_code} to GET /batches. Use batch=False, or write the requests with "
                "ChatModel.write_batch_file and run them elsewhere (e.g. vllm run-batch)") from None
        except openai.APIConnectionError as error:
            raise LLMError(f"batch=True: cannot reach {where} ({type(error).__name__})") from None
        if any(getattr(item, "object", "batch") != "batch" for item in getattr(page, "data", []) or []):
            raise LLMError(
                f"batch=True needs the Batch API, but GET /batches at {where} did not list batches "
                "(the server does not implement it). Use batch=False or ChatModel.write_batch_file")
        self._batch_api_checked = True

    def _run_batch(self, pending: dict[str, dict], desc: str) -> dict[str, str]:
        from .batch import run_batch

        with self._lock:
            if self.max_calls is not None and self.usage.calls + len(pending) > self.max_calls:
                raise BudgetExceededError(
                    f"call budget: a batch of {len(pending)} calls would go over max_calls={self.max_calls} "
                    f"({self.usage.calls} made)")
        folder = Path(self.batch_dir) if self.batch_dir else Path(self.cache_dir or default_cache_dir()) / "batches"
        try:
            return self._submit_and_read(run_batch, pending, folder, desc)
        except openai.APIError as error:  # some proxies echo the key back in an error: never pass it on
            raise LLMError(self._redact(f"batch: {type(error).__name__}: {error}")) from None

    def _submit_and_read(self, run_batch, pending, folder, desc):
        return run_batch(self.client, pending, folder=folder, server=self.identity, on_answer=self._store_batch_answer,
                          poll_interval=self.batch_poll_interval, progress=self.progress, desc=desc,
                          redact=self._redact)

    def _store_batch_answer(self, key: str, body: dict) -> None:
        """One answered line of a batch output: into the cache, counted as a call."""
        completion = ChatCompletion.model_validate(body)
        text, tops = _read_completion(completion)
        usage = completion.usage
        get_cache(self.cache_dir).set(key, {"text": text, "top_logprobs": tops})
        with self._lock:
            self._fresh.add(key)
        self._count(calls=1, batched=1, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                    completion_tokens=getattr(usage, "completion_tokens", 0) or 0)

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

    def _request(self, messages, *, max_tokens=None, response_format=None, logprobs=False) -> dict[str, Any]:
        """The body of one chat completion request: the one place it is built (calls, cache keys,
        estimates and batch files all use it)."""
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": max_tokens or self.max_tokens,
        }
        if self.seed is not None:
            request["seed"] = self.seed
        if response_format is not None:
            request["response_format"] = response_format
        if logprobs:
            request["logprobs"] = True
            request["top_logprobs"] = 10
        return request

    def _key(self, request: dict) -> str:
        return cache_key(kind="chat", server=self.identity["server"], **request)

    def _cached(self, key: str) -> _Answer | None:
        """The cached answer for a request key, counted as cached (unless it just came from a batch)."""
        if not self.use_cache:
            return None
        hit = get_cache(self.cache_dir).get(key)
        if hit is None:
            return None
        with self._lock:
            fresh = key in self._fresh
            self._fresh.discard(key)
        if not fresh:
            self._count(cached=1)
        return _Answer(hit["text"], [[tuple(t) for t in tops] for tops in hit["top_logprobs"]], True)

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

    def _count(self, **deltas: int) -> None:
        if _CACHE_ONLY.get():
            return
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
    ) -> _Answer:
        """One chat completion through the cache."""
        request = self._request(messages, max_tokens=max_tokens, response_format=response_format, logprobs=logprobs)
        hit = self._cached(self._key(request))
        if hit is not None:
            return hit
        if _CACHE_ONLY.get():
            raise _NotCached(self._key(request), request)
        return self._send(request)

    def _send(self, request: dict, *, probe: bool = False) -> _Answer:
        """Send one request (not in the cache) and write its answer to the cache as it arrives.

        ``probe=True`` tries a request option the server may reject: no retries, and an error is
        not counted (the caller decides whether it was a rejection or a failure).
        """
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
            text, tops = _read_completion(completion)
        except (ValueError, TypeError, AttributeError, IndexError) as error:  # truncated or not a completion
            self._count(failures=1)
            raise LLMError(f"the server's reply is not a chat completion ({type(error).__name__}: "
                           f"{_short(str(error), 120)})") from None
        if not request.get("logprobs"):
            tops = []
        usage = completion.usage
        self._count(
            calls=1,
            retries=getattr(raw, "retries_taken", 0) or 0,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )
        if self.use_cache:
            get_cache(self.cache_dir).set(self._key(request), {"text": text, "top_logprobs": tops})  # at once
        return _Answer(text, tops, False)

    def _batch(self, items: Sequence, fn: Callable, *, on_error: str, desc: str) -> list:
        if on_error not in ("raise", "none"):
            raise ValueError(f"on_error must be 'raise' or 'none', got {on_error!r}")
        items = list(items)
        unique = _unique(items)  # an identical prompt is asked once; its copies get the same answer
        positions: dict[int, list[int]] = {}
        for i, item in enumerate(items):
            positions.setdefault(_item_key(item), []).append(i)
        results: list = [None] * len(items)
        failures: dict[int, str] = {}
        budget_error: BudgetExceededError | None = None
        show = self.progress and len(items) >= _PROGRESS_MIN_ITEMS
        with tqdm(total=len(items), desc=desc, disable=not show, leave=False) as bar, ThreadPoolExecutor(
            max_workers=max(1, self.max_concurrency)
        ) as pool:
            pending = {}
            queue = iter((positions[k][0], item) for k, item in unique.items())
            for i, item in queue:  # fill the pool
                pending[pool.submit(fn, item)] = i
                if len(pending) >= self.max_concurrency:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    copies = positions[_item_key(items[i])]
                    bar.update(len(copies))
                    try:
                        result = future.result()
                        for j in copies:
                            results[j] = result
                        if len(copies) > 1:
                            self._count(cached=len(copies) - 1)
                    except BudgetExceededError as error:
                        budget_error = error
                    except (LLMError, openai.APIError, pydantic.ValidationError) as error:
                        for j in copies:
                            failures[j] = _short(self._redact(f"{type(error).__name__}: {error}"), 300)
                    if budget_error is None:
                        nxt = next(queue, None)
                        if nxt is not None:
                            pending[pool.submit(fn, nxt[1])] = nxt[0]
        if budget_error is not None:
            raise budget_error
        if failures and on_error == "raise":
            raise LLMBatchError(failures, results)
        return results


def _item_key(item) -> str:
    return item if isinstance(item, str) else json.dumps(item, sort_keys=True, default=str)


def _unique(items: Sequence) -> dict[str, Any]:
    """The distinct prompts of a batch, in first-seen order, by their text (or messages' JSON)."""
    out: dict[str, Any] = {}
    for item in items:
        out.setdefault(_item_key(item), item)
    return out


def _read_completion(completion) -> tuple[str, list[list[tuple[str, float]]]]:
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


def _response_format(mode: str, schema, json_schema: dict) -> dict | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": json_schema, "strict": False}}
    if mode == "json_object":
        return {"type": "json_object", "schema": json_schema}
    return None


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
