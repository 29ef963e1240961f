"""``ChatModel``: one client for every chat language model, over the ``openai`` SDK."""

from __future__ import annotations

import logging
import os
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence, TypeVar

import openai
import pydantic
from tqdm.auto import tqdm

from .._validation import check_int_param
from .cache import cache_key, get_cache
from ._batch_mode import BatchModeMixin
from ._structured import StructuredMixin
from ._wire import _CACHE_ONLY, _NotCached
from ._wire import (Answer as _Answer, is_transient as _is_transient, item_key as _item_key,
                    read_completion as _read_completion, short as _short, unique as _unique)
from .connection import OpenAIConnection
from .errors import BudgetExceededError, LLMBatchError, LLMError, Usage
from .cost import CostEstimate, request_tokens, token_counter

__all__ = ["BudgetExceededError", "ChatModel", "LLMBatchError", "LLMError", "Usage"]

T = TypeVar("T", bound=pydantic.BaseModel)
Prompt = "str | Sequence[dict[str, str]]"

_PROGRESS_MIN_ITEMS = 20
_log = logging.getLogger("nlmodels")
class ChatModel(StructuredMixin, BatchModeMixin, OpenAIConnection):
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

    def _chat_fn(self, system, max_tokens) -> Callable:
        def one(prompt):
            return self._complete(self._messages(prompt, system), max_tokens=max_tokens).text

        return one

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
