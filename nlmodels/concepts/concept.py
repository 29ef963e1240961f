"""The ``Concept`` record: a sentence a person reads, and what measuring it needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Concept"]


@dataclass(frozen=True)
class Concept:
    """One natural-language feature of a text.

    Parameters
    ----------
    text : str
        What a person reads: a yes/no question ("Does the review complain about the acting?")
        or a short description ("mentions something like: boring, dull, waste of time").
    phrases : tuple of str
        Example phrases that show the concept. Data-driven concepts are defined by them (a text
        "mentions" the concept when it contains one); for questions they may be empty.
    source : str
        Where it came from: ``"data"`` (mined phrases), ``"llm"`` (proposed by a chat model) or
        ``"expert"`` (written by a person).
    target : object, default=None
        For mined concepts, the class (or the end of the target range) whose texts the phrases
        came from; informative only.

    How a concept is scored (embedding probe, phrase match, chat-model answer, distilled probe)
    is the measurer's business; the fitted estimator records it in ``measure_``.
    """

    text: str
    phrases: tuple[str, ...] = ()
    source: str = "data"
    target: Any = None
    notes: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("a Concept needs a non-empty text")
        object.__setattr__(self, "phrases", tuple(self.phrases))

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["phrases"] = list(self.phrases)
        if d["target"] is not None and not isinstance(d["target"], (str, int, float, bool)):
            d["target"] = str(d["target"])
        if hasattr(d["target"], "item"):
            d["target"] = d["target"].item()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Concept":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def __str__(self) -> str:
        return self.text


def describe_phrases(phrases, limit: int = 5) -> str:
    """The readable text of a mined concept: "mentions something like: a, b, c"."""
    shown = [f"'{p}'" for p in list(phrases)[:limit]]
    return "mentions something like: " + ", ".join(shown)
