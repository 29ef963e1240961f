"""Embeddings from an OpenAI-compatible ``/embeddings`` endpoint."""

from __future__ import annotations

import numpy as np
import openai

from ..llm.chat import LLMError, Usage
from ..llm.connection import OpenAIConnection
from .base import Embedder

__all__ = ["OpenAIEmbedder"]


class OpenAIEmbedder(OpenAIConnection, Embedder):
    """Embeddings through the ``openai`` SDK (OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp ...).

    Parameters
    ----------
    model : str, default="text-embedding-3-small"
    base_url, api_key, timeout, max_retries, client
        As for :class:`~nlmodels.ChatModel`; the key never reaches a pickle or an export.
    dimensions : int, default=None
        Ask the server for shorter vectors where it supports it.
    batch_size : int, default=256
        Texts per request.
    normalize : bool, default=True
        L2-normalise the returned vectors.
    cache_dir, use_cache, progress
        See :class:`~nlmodels.embed.Embedder`.
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        normalize: bool = True,
        timeout: float = 60.0,
        max_retries: int = 3,
        client=None,
        cache_dir: str | None = None,
        use_cache: bool = True,
        progress: bool = True,
    ):
        OpenAIConnection.__init__(
            self, model, base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
            client=client,
        )
        Embedder.__init__(self, cache_dir=cache_dir, use_cache=use_cache, progress=progress)
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.chunk_size = batch_size
        self.normalize = normalize
        self.usage = Usage()

    @property
    def identity(self) -> dict:
        return {"type": "openai", **super().identity, "dimensions": self.dimensions, "normalize": self.normalize}

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            raw = self.client.embeddings.with_raw_response.create(model=self.model, input=texts, **extra)
        except openai.APIError as error:  # re-raised without the key a server may have echoed
            raise LLMError(self._redact(f"embedding request failed: {type(error).__name__}: {error}")) from None
        response = raw.parse()
        vectors = np.asarray([d.embedding for d in sorted(response.data, key=lambda d: d.index)], dtype=np.float32)
        with self._lock:
            self.usage.calls += 1
            self.usage.retries += getattr(raw, "retries_taken", 0) or 0
            self.usage.prompt_tokens += getattr(response.usage, "prompt_tokens", 0) or 0
        if self.normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def __getstate__(self):
        return {**OpenAIConnection.__getstate__(self), "_memo": {}}
