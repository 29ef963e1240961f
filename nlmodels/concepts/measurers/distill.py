"""``DistillMeasurer``: chat-model answers on ``n_distill`` training texts, distilled into one probe per
concept, each checked against the chat model on held-out answered texts."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..._codec import decode_array, encode_array, plain
from ..._splits import distinct_texts
from ...llm import ChatModel
from .. import fidelity
from ._probes import fit_probes, held_out_probe_scores
from .llm import MAX_CHARS, LLMMeasurer, chat_model_for

__all__ = ["DistillMeasurer"]


class DistillMeasurer:
    """Chat-model answers on ``n_distill`` training texts, distilled into one probe per concept.

    Each probe's fidelity is its agreement with the chat model's answers on answered texts it was
    not fitted on (5-fold cross-validation), beside the majority-answer rate. A probe that fails
    the gate (:mod:`nlmodels.concepts.fidelity`) is handled as ``gated`` says: ``"drop"`` (the
    concept never carries weight) or ``"llm"`` (the chat model answers that concept, and only the
    gated ones, for every text at fit and at predict: one call per text).

    ``fit`` makes at most ``n_distill`` chat calls (plus one per training text with ``gated="llm"``
    and a gated concept); ``transform`` makes none unless a kept concept is answered by the chat model.
    """

    name = "distill"
    signals = ("answer",)

    def __init__(self, llm: ChatModel, n_distill: int = 200, C: float = 1.0, random_state: int = 0,
                 on_error: str = "raise", n_jobs=None, gated: str = "drop"):
        self.llm = llm
        self.n_distill = n_distill
        self.C = C
        self.random_state = random_state
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.gated = gated

    def sample(self, n_texts: int) -> np.ndarray:
        """The training rows the chat model answers for (``n_distill`` of them, seeded)."""
        rng = np.random.RandomState(self.random_state)
        return np.sort(rng.choice(n_texts, min(self.n_distill, n_texts), replace=False))

    def fit(self, texts, embeddings, concepts, y=None):
        if self.gated not in ("drop", "llm"):
            raise ValueError(f"gated must be 'drop' or 'llm', got {self.gated!r}")
        self.concepts_ = list(concepts)
        sample = self.sample(len(texts))
        teacher = LLMMeasurer(self.llm, on_error="missing" if self.on_error == "missing" else "raise")
        teacher.fit(None, None, self.concepts_)
        answers = teacher.answer([texts[i] for i in sample])
        answered = ~np.isnan(answers).any(axis=1)
        self.n_answered_ = int(answered.sum())
        X, A = embeddings[sample][answered], answers[answered]
        self.W_, self.b_ = fit_probes(X, A, C=self.C, n_jobs=self.n_jobs)
        asked = [texts[i] for i in sample[answered]]   # copies of a text in one fold: a copy is never its own judge
        held_out = held_out_probe_scores(X, A, C=self.C, n_folds=5, random_state=self.random_state, n_jobs=self.n_jobs,
                                         groups=distinct_texts(asked))
        self.fidelity_ = []
        for k in range(len(self.concepts_)):
            yes = A[:, k].mean() if len(A) else np.nan
            agreement = np.mean((held_out[:, k] >= 0.5) == (A[:, k] > 0.5)) if len(A) else np.nan
            self.fidelity_.append(fidelity.record(k, "answer", "agreement", agreement, max(yes, 1 - yes), len(A)))
        self.answered_by_llm_ = np.array([r["passed"] is False for r in self.fidelity_]) & (self.gated == "llm")
        self._fit_fallback()
        return self

    def _fit_fallback(self):
        """The chat model for the concepts it answers itself (their probes failed the gate)."""
        asked = [c for c, by_llm in zip(self.concepts_, self.answered_by_llm_) if by_llm]
        self.fallback_ = None
        if asked:
            self.fallback_ = LLMMeasurer(self.llm, on_error=self.on_error).fit(None, None, asked)
            self.fallback_column_ = np.cumsum(self.answered_by_llm_) - 1
            for k in np.flatnonzero(self.answered_by_llm_):   # its answers define it now
                probe = self.fidelity_[k]
                if probe["metric"] != "agreement":
                    continue
                self.fidelity_[k] = {**fidelity.record(k, "answer", "defined", n_texts=probe["n_texts"]),
                                     "probe_fidelity": probe["fidelity"], "probe_baseline": probe["baseline"]}

    def select(self, keep: np.ndarray) -> None:
        """Keep only these concepts' probes (and the chat model only if a kept concept needs it;
        it still asks every question it asked at fit, so its prompts do not change)."""
        self.concepts_ = [self.concepts_[k] for k in keep]
        self.W_, self.b_ = self.W_[:, keep], self.b_[keep]
        self.fidelity_ = fidelity.reindex(self.fidelity_, keep)
        self.answered_by_llm_ = self.answered_by_llm_[keep]
        if self.fallback_ is not None:
            self.fallback_column_ = self.fallback_column_[keep]
            if not self.answered_by_llm_.any():
                self.fallback_ = None

    def extend(self, texts, embeddings, added) -> None:
        """Distil ``added`` concepts too (their own sample of answers, same settings)."""
        extra = DistillMeasurer(self.llm, n_distill=self.n_distill, C=self.C, random_state=self.random_state,
                                on_error=self.on_error, n_jobs=self.n_jobs, gated=self.gated)
        extra.fit(texts, embeddings, added)
        n = len(self.concepts_)
        self.concepts_ = list(self.concepts_) + list(added)
        self.W_, self.b_ = np.concatenate([self.W_, extra.W_], axis=1), np.concatenate([self.b_, extra.b_])
        self.fidelity_ = self.fidelity_ + [{**r, "concept": r["concept"] + n} for r in extra.fidelity_]
        self.answered_by_llm_ = np.concatenate([self.answered_by_llm_, extra.answered_by_llm_])
        self._fit_fallback()

    def reading_signal(self) -> np.ndarray:
        return np.zeros(len(self.concepts_), int)

    def to_state(self) -> dict:
        return {"type": "distill", "signals": list(self.signals), "C": self.C, "n_distill": self.n_distill,
                "random_state": plain(self.random_state), "on_error": self.on_error,
                "n_answered": plain(getattr(self, "n_answered_", None)), "gated": self.gated,
                "probe_weights": encode_array(self.W_), "probe_bias": encode_array(self.b_),
                "answered_by_llm": encode_array(self.answered_by_llm_),
                "fallback": None if self.fallback_ is None else {
                    **self.fallback_.to_state(), "column": encode_array(self.fallback_column_)},
                "fidelity": plain(self.fidelity_)}

    @classmethod
    def from_state(cls, state: dict, concepts, *, embedder=None, llm, n_jobs=None) -> "DistillMeasurer":
        llm = chat_model_for(state, llm)
        m = cls(llm, n_distill=state["n_distill"], C=state["C"], random_state=state["random_state"],
                on_error=state["on_error"], n_jobs=n_jobs, gated=state.get("gated", "drop"))
        m.concepts_ = list(concepts)
        m.W_, m.b_ = decode_array(state["probe_weights"]), decode_array(state["probe_bias"])
        m.answered_by_llm_ = decode_array(state["answered_by_llm"]) if "answered_by_llm" in state \
            else np.zeros(len(concepts), bool)
        m.fallback_ = None
        if state.get("fallback"):
            m.fallback_ = LLMMeasurer.from_state(state["fallback"], llm=llm)
            m.fallback_column_ = decode_array(state["fallback"]["column"])
        if state.get("n_answered") is not None:
            m.n_answered_ = state["n_answered"]
        m.fidelity_ = list(state.get("fidelity") or [])
        return m

    def describe(self) -> str:
        identity = self.llm.identity
        return (f"Distilled: the chat model {identity['model']} ({identity['server']}) answered every question "
                f"yes/no for {getattr(self, 'n_answered_', '?')} training texts (reading the first {MAX_CHARS:,} "
                "characters of each); a logistic probe per question on "
                "the text embedding learned those answers, and each probe's agreement with the chat model on "
                "answered texts it was not fitted on is its fidelity. Probes that fail the gate "
                + ("are answered by the chat model itself (one call per predicted text)."
                   if self.fallback_ is not None else "carry no weight in a model (a ConceptTransformer outputs them "
                   "only with gated='keep', named '(not faithful)'); prediction makes no chat call."))

    @property
    def chat_calls_per_text(self) -> int:
        return int(self.fallback_ is not None)

    def transform(self, texts, embeddings) -> np.ndarray:
        scores = expit(embeddings @ self.W_ + self.b_)
        if self.fallback_ is not None:
            answers = self.fallback_.answer(texts)
            columns = np.flatnonzero(self.answered_by_llm_)
            scores[:, columns] = answers[:, self.fallback_column_[columns]]
        return scores
