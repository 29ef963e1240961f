"""``LLMMeasurer``: a chat model answers every concept for one text in one structured call."""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pydantic

from ..._codec import decode_array, encode_array, plain
from ...llm import ChatModel
from .. import fidelity
from ..concept import Concept, asked_text
from ..proposers import DATA_NOTICE, quote_text

__all__ = ["LLMMeasurer", "chat_model_for"]

#: Characters of a text the chat model reads when it answers the questions (the rest is not read).
MAX_CHARS = 2000


def chat_model_for(state: dict, llm):
    if llm is None:
        raise ValueError(f"this model is measured by a chat model (measure={state['type']!r}): "
                         "pass load(path, llm=...)")
    return llm


def _answers_schema(n: int) -> type[pydantic.BaseModel]:
    return pydantic.create_model(
        "ConceptAnswers",
        answers=(list[Literal["yes", "no"]], pydantic.Field(min_length=n, max_length=n)),
    )


class LLMMeasurer:
    """A chat model answers all concepts for one text in one structured call.

    Parameters
    ----------
    llm : ChatModel
    max_chars : int, default=2000
        Texts are cut to this many characters inside the prompt.
    on_error : {"raise", "missing"}, default="raise"
        What happens to a text whose call fails for good (after the SDK's retries and the chat
        model's ``max_repairs`` repairs):
        ``"raise"`` raises :class:`~nlmodels.LLMBatchError` naming the rows (the finished answers
        are cached, so a second call resumes); ``"missing"`` scores that text NaN, which the
        estimators replace by the training mean of each concept.
    recheck : int, default=0
        The opt-in consistency check: this many training texts are asked again with the questions
        in another order (``recheck`` more chat calls, cached like any), and each concept's
        agreement between the two answers is its fidelity (see :mod:`nlmodels.concepts.fidelity`).
        0: the answers define the concepts and are recorded as such.
    random_state : int, default=0
        Picks the rechecked texts and the other order.
    """

    name = "llm"
    signals = ("answer",)

    def __init__(self, llm: ChatModel, max_chars: int = MAX_CHARS, on_error: str = "raise", recheck: int = 0,
                 random_state: int = 0):
        self.llm = llm
        self.max_chars = max_chars
        self.on_error = on_error
        self.recheck = recheck
        self.random_state = random_state

    def fit(self, texts, embeddings, concepts, y=None):
        self.concepts_ = list(concepts)
        self.keep_ = np.arange(len(self.concepts_))
        n = 0 if texts is None else len(texts)
        self.fidelity_ = [fidelity.record(k, "answer", "defined", n_texts=n) for k in range(len(self.concepts_))]
        if self.recheck and texts is not None:
            self.fidelity_ = self._consistency(texts)
        return self

    def _consistency(self, texts) -> list[dict]:
        rng = np.random.RandomState(self.random_state)
        sample = [texts[i] for i in np.sort(rng.choice(len(texts), min(self.recheck, len(texts)), replace=False))]
        order = rng.permutation(len(self.concepts_))
        if len(order) > 1 and (order == np.arange(len(order))).all():
            order = np.roll(order, 1)
        first = self.answer(sample)                      # the prompts of transform: from the cache
        again = self.answer(sample, order=order)[:, np.argsort(order)]
        both = ~(np.isnan(first) | np.isnan(again)).any(axis=1)
        records = []
        for k in range(len(self.concepts_)):
            a, b = first[both, k], again[both, k]
            yes = np.concatenate([a, b]).mean() if both.any() else np.nan
            chance = yes ** 2 + (1 - yes) ** 2
            agreement = float(np.mean(a == b)) if both.any() else None
            records.append(fidelity.record(k, "answer", "consistency", agreement, chance, int(both.sum())))
        return records

    def select(self, keep: np.ndarray) -> None:
        """Return only these concepts' columns from now on. Every concept asked during fit is still
        asked, so a text's prompt, and so its answers, are the same at fit and at predict."""
        self.keep_ = self.keep_[keep]
        self.fidelity_ = fidelity.reindex(self.fidelity_, keep)

    def extend(self, texts, embeddings, added) -> None:
        """Ask ``added`` concepts too. One prompt asks every concept, so the prompt is rebuilt (and
        the consistency check, if on, run again on ``texts``)."""
        kept = [self.concepts_[k] for k in self.keep_]
        self.fit(texts, embeddings, kept + list(added))

    def reading_signal(self) -> np.ndarray:
        return np.zeros(len(self.keep_), int)

    def to_state(self) -> dict:
        return {"type": "llm", "signals": list(self.signals), "max_chars": self.max_chars, "on_error": self.on_error,
                "recheck": self.recheck, "random_state": plain(self.random_state),
                "asked_concepts": [plain(c.to_dict()) for c in self.concepts_],
                "questions": [asked_text(c) for c in self.concepts_], "keep": encode_array(self.keep_),
                "fidelity": plain(self.fidelity_)}

    @classmethod
    def from_state(cls, state: dict, concepts=None, *, embedder=None, llm, n_jobs=None) -> "LLMMeasurer":
        m = cls(chat_model_for(state, llm), max_chars=state["max_chars"], on_error=state["on_error"],
                recheck=state.get("recheck", 0), random_state=state.get("random_state", 0))
        m.concepts_ = [Concept.from_dict(c) for c in state["asked_concepts"]]
        m.keep_ = decode_array(state["keep"])
        m.fidelity_ = list(state.get("fidelity") or [])
        return m

    def describe(self) -> str:
        identity = self.llm.identity
        return (f"Chat model: {identity['model']} ({identity['server']}) answers all {len(self.concepts_)} questions "
                f"yes (1) or no (0) for each text in one call, reading its first {self.max_chars:,} characters; "
                "missing answers are replaced by the training mean.")

    chat_calls_per_text = 1

    def prompt(self, text: str, order=None) -> str:
        order = range(len(self.concepts_)) if order is None else order
        questions = "\n".join(f"{i + 1}. {asked_text(self.concepts_[k])}" for i, k in enumerate(order))
        return (
            f"<text>{quote_text(text[: self.max_chars])}</text>\n\n"
            f"Answer each question about the text above with yes or no, in order:\n{questions}\n\n"
            f'Reply as JSON: {{"answers": [...{len(self.concepts_)} answers, each "yes" or "no"...]}}'
        )

    def answer(self, texts: Sequence[str], order=None) -> np.ndarray:
        """(texts x concepts) 1.0 yes, 0.0 no, NaN where a call failed (``on_error="missing"``);
        columns follow ``order`` when given (the order the questions were asked in)."""
        if self.on_error not in ("raise", "missing"):
            raise ValueError(f"on_error must be 'raise' or 'missing', got {self.on_error!r}")
        schema = _answers_schema(len(self.concepts_))
        replies = self.llm.structured(
            [self.prompt(t, order) for t in texts], schema, system=DATA_NOTICE,
            max_tokens=8 * len(self.concepts_) + 40, on_error="raise" if self.on_error == "raise" else "none",
            desc="measuring concepts",
        )
        out = np.full((len(texts), len(self.concepts_)), np.nan)
        for i, reply in enumerate(replies):
            if reply is not None:
                out[i] = [a == "yes" for a in reply.answers]
        return out

    def transform(self, texts, embeddings) -> np.ndarray:
        return self.answer(texts)[:, self.keep_]
