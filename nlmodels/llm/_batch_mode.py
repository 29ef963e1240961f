"""The Batch API side of :class:`~nlmodels.ChatModel` (``batch=True``, and batch files run elsewhere).

A mixin of ChatModel: the batch's requests are planned by the model (``_plan``, from the cache),
submitted and read by :mod:`nlmodels.llm.batch`, and every answer is stored in the cache as it is read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import openai
import pydantic
from openai.types.chat import ChatCompletion

from .batch import read_output, run_batch, write_requests
from .cache import default_cache_dir, get_cache
from .errors import BudgetExceededError, LLMError
from ._wire import read_completion

__all__ = ["BatchModeMixin"]

Prompt = "str | Sequence[dict[str, str]]"


class BatchModeMixin:
    """Batch API methods of ChatModel (see the module docstring)."""

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
        one = self._chat_fn(system, max_tokens) if schema is None else self._structured_fn(schema, system, max_tokens)
        pending, _ = self._plan(list(prompts), one)
        Path(path).write_bytes(write_requests(pending))
        return len(pending)

    def read_batch_output(self, path: str | os.PathLike) -> dict[str, Any]:
        """Read a Batch API output file (from :meth:`write_batch_file`'s requests, run by the provider
        or by ``vllm run-batch``) into the cache. Returns ``{"answers": n, "failed": {custom_id:
        reason}}``; call ``structured``/``chat`` with the same prompts afterwards to get the answers
        (0 requests for the lines that were answered; the others are asked synchronously)."""
        failed: dict[str, str] = {}
        n = read_output(Path(path).read_text(encoding="utf-8"), self._store_batch_answer, failed)
        return {"answers": n, "failed": failed}

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
        text, tops = read_completion(completion)
        usage = completion.usage
        get_cache(self.cache_dir).set(key, {"text": text, "top_logprobs": tops})
        with self._lock:
            self._fresh.add(key)
        self._count(calls=1, batched=1, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                    completion_tokens=getattr(usage, "completion_tokens", 0) or 0)

