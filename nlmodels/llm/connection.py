"""What every client of an OpenAI-compatible endpoint shares: configuration, the SDK client, and
the rule that an API key is used for requests only and never written anywhere."""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlparse

import openai

__all__ = ["OpenAIConnection"]


class OpenAIConnection:
    """Base of :class:`~nlmodels.ChatModel` and :class:`~nlmodels.OpenAIEmbedder`.

    ``api_key`` falls back to ``OPENAI_API_KEY`` and ``base_url`` to ``OPENAI_BASE_URL``. The key
    is kept out of ``repr``, pickles (a pickled object reads the environment again when used) and
    every export: :attr:`identity` holds only the model name and the server address. A ``base_url``
    that carries credentials (``https://user:key@host/v1``) or a query (``?api-key=...``) is pickled
    as that address without them: pass it again after loading if the server needs them.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        client: openai.OpenAI | None = None,
    ):
        self.model = model
        if client is not None:
            self.base_url = str(client.base_url)
        else:
            self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        self.timeout = timeout
        self.max_retries = max_retries
        self._api_key = api_key
        self._client = client
        self._lock = threading.Lock()

    @property
    def identity(self) -> dict[str, str]:
        """Model name and server address (scheme, host, path; no credentials, no query)."""
        parsed = urlparse(self.base_url)
        host = parsed.hostname or ""
        if parsed.port:
            host = f"{host}:{parsed.port}"
        return {"model": self.model, "server": f"{parsed.scheme}://{host}{parsed.path}".rstrip("/")}

    @property
    def client(self) -> openai.OpenAI:
        """The ``openai`` SDK client, built on first use."""
        with self._lock:
            if self._client is None:
                key = self._api_key or os.environ.get("OPENAI_API_KEY") or "no-key"
                self._client = openai.OpenAI(
                    api_key=key, base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries
                )
            return self._client

    def _redact(self, message: str) -> str:
        """Take the API key out of an error message (some servers and proxies echo it back)."""
        key = getattr(self._client, "api_key", None) or self._api_key
        return message.replace(key, "[api key]") if isinstance(key, str) and len(key) >= 8 else message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.identity['server']!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for private in ("_api_key", "_client", "_lock"):  # a key never reaches a pickle
            state.pop(private, None)
        parsed = urlparse(self.base_url)
        if parsed.username or parsed.password or parsed.query:  # a key written into the address
            state["base_url"] = self.identity["server"]  # nor does one in the URL (user:key@, ?api-key=)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._api_key = None
        self._client = None
        self._lock = threading.Lock()

    def __deepcopy__(self, memo):
        # One client object is shared by every estimator it is given to (sklearn.clone included).
        return self
