"""What a batch of chat calls will cost, known before it runs: :class:`CostEstimate` and token counts."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["CostEstimate", "request_tokens", "token_counter"]

# Chat framing per message (role, separators) and the reply's priming, as OpenAI counts them.
_TOKENS_PER_MESSAGE = 4
_TOKENS_PER_REPLY = 3
_FALLBACK = "estimate: chars/4"


@dataclass
class CostEstimate:
    """The chat calls a batch (or a fit, or a prediction) will make, and their tokens.

    Attributes
    ----------
    calls : int
        Chat calls, one per prompt (per text measured, per proposal round).
    cached : int
        Of those, the ones the cache already answers: free, no request.
    prompt_tokens : int
        Prompt tokens of the ``requests`` (the calls not cached), counted with ``tokenizer``.
    completion_tokens : int
        An upper bound: each request's ``max_tokens``. Real answers are usually far shorter.
    tokenizer : str
        ``"tiktoken:<encoding>"`` or ``"estimate: chars/4"`` (when tiktoken is not installed or
        cannot load the model's encoding offline).
    notes : list of str
        What the numbers assume (e.g. that every answer validates, or which calls' prompts could
        not be known before the run).
    """

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokenizer: str = _FALLBACK
    notes: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """Calls that reach the server: ``calls - cached``."""
        return self.calls - self.cached

    def price(self, per_million_prompt: float, per_million_completion: float) -> float:
        """Cost in the currency of the prices given (per million tokens), with the completion tokens'
        upper bound: ``prompt_tokens * p / 1e6 + completion_tokens * c / 1e6``. For the Batch API
        pass its (discounted) prices."""
        return self.prompt_tokens * per_million_prompt / 1e6 + self.completion_tokens * per_million_completion / 1e6

    def __add__(self, other: "CostEstimate") -> "CostEstimate":
        tokenizer = self.tokenizer if self.calls or not other.calls else other.tokenizer
        return CostEstimate(self.calls + other.calls, self.cached + other.cached,
                            self.prompt_tokens + other.prompt_tokens,
                            self.completion_tokens + other.completion_tokens, tokenizer,
                            list(dict.fromkeys(self.notes + other.notes)))

    def __str__(self) -> str:
        lines = [f"{self.calls} chat calls: {self.cached} cached (free), {self.requests} requests",
                 f"prompt tokens {self.prompt_tokens:,} ({self.tokenizer}); completion tokens at most "
                 f"{self.completion_tokens:,} (max_tokens per request)"]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def request_tokens(messages: list[dict], count: Callable[[str], int]) -> int:
    """Prompt tokens of one request's messages, with the chat framing."""
    return sum(count(str(m.get("content") or "")) + _TOKENS_PER_MESSAGE for m in messages) + _TOKENS_PER_REPLY


def _chars_over_4(text: str) -> int:
    return (len(text) + 3) // 4


_COUNTERS: dict[str, tuple[str, Callable[[str], int]]] = {}


def token_counter(model: str) -> tuple[str, Callable[[str], int]]:
    """``(name, count)`` for a model: tiktoken's encoding when tiktoken is installed, knows the
    model and has the encoding's file on disk already (tiktoken downloads it otherwise, and
    nlmodels makes no request for an estimate); else characters / 4."""
    if model not in _COUNTERS:
        _COUNTERS[model] = _tiktoken_counter(model) or (_FALLBACK, _chars_over_4)
    return _COUNTERS[model]


def _tiktoken_counter(model: str):
    try:
        import tiktoken
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None
    try:
        name = encoding_name_for_model(model)
    except KeyError:  # not an OpenAI model name
        return None
    if not _encoding_on_disk(name):
        return None
    try:
        encoding = tiktoken.get_encoding(name)
    except Exception:  # noqa: BLE001  (any failure to load means: estimate instead)
        return None
    return f"tiktoken:{name}", lambda text: len(encoding.encode(text, disallowed_special=()))


def _encoding_on_disk(name: str) -> bool:
    """Is tiktoken's file for this encoding in its cache folder (where ``tiktoken.load`` looks)?"""
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    folder = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or str(
        Path(tempfile.gettempdir()) / "data-gym-cache")
    return (Path(folder) / hashlib.sha1(url.encode()).hexdigest()).is_file()
