"""The embedder contract: ``encode(texts) -> np.ndarray``, every text through the cache."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from ..llm.cache import cache_key, get_cache

__all__ = ["Embedder"]

_PROGRESS_MIN_TEXTS = 512


class Embedder:
    """Base class: subclasses give :attr:`identity` and ``_encode_batch``; this class batches,
    caches (on disk and in memory) and shows progress.

    Each unique text is embedded once: looked up in memory, then on disk, and only then computed,
    in chunks of ``chunk_size`` that are written to the disk cache as soon as each is done. A text
    computed by two callers at once (threads sharing this object or the cache folder) is stored
    once, by the first to finish, and both get that vector, so a cold fit and a warm refit of the
    same data see the same numbers.
    """

    chunk_size = 256

    def __init__(self, *, cache_dir: str | None = None, use_cache: bool = True, progress: bool = True):
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        self.progress = progress
        self._memo: dict[str, np.ndarray] = {}

    @property
    def identity(self) -> dict:
        """What identifies this embedder's vectors (name, version, weights hash); part of every key."""
        raise NotImplementedError

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _key_parts(self, text: str) -> dict:
        """What, beyond :attr:`identity` and the text, decides this text's vector (added to its key)."""
        return {}

    def encode(self, texts: Sequence[str], *, show_progress: bool | None = None) -> np.ndarray:
        """Embed texts; returns a float32 array of shape (len(texts), dim)."""
        if isinstance(texts, str):
            raise TypeError("encode expects a list of texts, not a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text at row {i} is {type(text).__name__}, not str")
        unique = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if unique:
            self._fill(unique, show_progress)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])

    @property
    def dimension(self) -> int:
        return int(self.encode(["dimension probe"]).shape[1])

    def _fill(self, texts: list[str], show_progress: bool | None) -> None:
        identity = self.identity
        cache = get_cache(self.cache_dir) if self.use_cache else None
        keys = {t: cache_key(kind="embed", embedder=identity, text=t, **self._key_parts(t)) for t in texts}
        missing = []
        for text in texts:
            hit = cache.get(keys[text]) if cache is not None else None
            if hit is None:
                missing.append(text)
            else:
                self._memo[text] = np.frombuffer(hit, dtype=np.float32)
        if not missing:
            return
        show = self.progress if show_progress is None else show_progress
        missing.sort(key=len)  # similar lengths batch with less padding
        chunks = [missing[i : i + self.chunk_size] for i in range(0, len(missing), self.chunk_size)]
        bar = tqdm(
            total=len(missing), desc=f"embedding ({type(self).__name__})", leave=False,
            disable=not (show and len(missing) >= _PROGRESS_MIN_TEXTS),
        )
        with bar:
            for chunk in chunks:
                vectors = np.asarray(self._encode_batch(chunk), dtype=np.float32)
                if cache is not None:  # each finished chunk is on disk before the next starts
                    stored = cache.add_many({keys[t]: v.tobytes() for t, v in zip(chunk, vectors)})
                    vectors = [np.frombuffer(stored[keys[t]], dtype=np.float32) for t in chunk]
                for text, vector in zip(chunk, vectors):
                    # The first vector stored for a text is the one every caller gets: a text computed
                    # twice at once (threads, in batches of other texts) differs in the last bits, and
                    # a fit must use what a later, cached run will read (the same model cold and warm).
                    self._memo.setdefault(text, vector)
                bar.update(len(chunk))

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_memo"] = {}
        return state
