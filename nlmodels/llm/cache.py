"""The persistent call cache that every language-model and embedding call goes through.

One SQLite database (through :mod:`diskcache`) under the user's cache folder, or under
``NLMODELS_CACHE_DIR`` when that is set. SQLite's locking makes it safe for several threads and
processes at once; each answer is written in its own transaction as soon as it arrives.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import diskcache
import platformdirs

__all__ = ["CallCache", "cache_key", "default_cache_dir", "get_cache"]


def default_cache_dir() -> Path:
    """Return the cache folder: ``$NLMODELS_CACHE_DIR`` or the platform's user cache folder."""
    env = os.environ.get("NLMODELS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("nlmodels"))


def cache_key(**parts: Any) -> str:
    """A stable key for everything that changes an answer: sha256 of the parts as canonical JSON."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CallCache:
    """A key-value store on disk for answers of language models and embedders.

    Parameters
    ----------
    directory : str or Path, default=None
        Where the database lives; ``None`` means :func:`default_cache_dir`.

    Notes
    -----
    Values are plain Python objects (dicts, strings, bytes). The cache never stores API keys: the
    keys of entries are hashes of the request, and the values are the answers.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        # Large entries stay in SQLite too (min_file_size) so one file holds everything;
        # no eviction: answers cost money and are kept until the user clears the folder.
        self._store = diskcache.Cache(
            str(self.directory), size_limit=2**40, eviction_policy="none", disk_min_file_size=2**24
        )

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default=default)

    def set(self, key: str, value: Any) -> None:
        self._store.set(key, value)

    def add_many(self, items: dict[str, Any]) -> dict[str, Any]:
        """Write several entries in one transaction, each only if its key is not stored yet (the
        first writer wins), and return the value now stored under every key. Used for a finished
        batch of embeddings: two threads or processes that computed the same text (in batches of
        other texts, so the floats may differ in the last bits) both go on with the one stored
        vector, the one a later run reads back."""
        stored = {}
        with self._store.transact():
            for key, value in items.items():
                if self._store.add(key, value):
                    stored[key] = value
                else:
                    stored[key] = self._store.get(key, default=value)
        return stored

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        self._store.clear()

    def close(self) -> None:
        self._store.close()

    def __getstate__(self):
        return {"directory": str(self.directory)}

    def __setstate__(self, state):
        self.__init__(state["directory"])

    def __repr__(self) -> str:
        return f"CallCache({str(self.directory)!r})"


_CACHES: dict[Path, CallCache] = {}
_LOCK = threading.Lock()


def get_cache(directory: str | os.PathLike | None = None) -> CallCache:
    """The shared :class:`CallCache` for a folder (one open handle per folder and process)."""
    path = Path(directory).expanduser() if directory is not None else default_cache_dir()
    with _LOCK:
        if path not in _CACHES:
            _CACHES[path] = CallCache(path)
        return _CACHES[path]
