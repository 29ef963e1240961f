"""What a chat model's calls can raise, and what a ChatModel counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["BudgetExceededError", "LLMBatchError", "LLMError", "MissingAnswerWarning", "Usage"]


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


class MissingAnswerWarning(UserWarning):
    """Texts got no usable answer from the chat model (``on_error="missing"``): their missing
    scores were replaced by the training means, so their predictions and explanations rest on
    answers that were not given. The message names the rows; ``rows`` holds them all (positions
    in the texts measured) and ``n_texts`` how many texts were measured."""

    def __init__(self, message: str, rows=(), n_texts: int = 0):
        super().__init__(message)
        self.rows = [int(r) for r in rows]
        self.n_texts = int(n_texts)


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
