"""Measurers: texts x concepts -> scores in [0, 1].

Every measurer has ``fit(texts, embeddings, concepts, y=None)`` and ``transform(texts, embeddings)``
and names its columns with ``signals``: the matrix has one column per concept and signal,
concept-major (column ``k * len(signals) + s``).

- :class:`EmbeddingMeasurer` (offline): ``similar``, a probe on the text embedding trained to
  recognise texts that mention the concept's phrases (so it also scores paraphrases); ``close``,
  the cosine between text and concept, rescaled on the training texts; ``mentions``, whether the
  text contains one of the phrases.
- :class:`LLMMeasurer`: a chat model answers every concept for one text in one structured call.
- :class:`DistillMeasurer`: the chat model answers for ``n_distill`` training texts; a probe per
  concept on the embeddings learns those answers; transform makes no chat call.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pydantic
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from ..llm import ChatModel
from . import fidelity
from .concept import Concept
from .proposers import DATA_NOTICE, quote_text

__all__ = ["DistillMeasurer", "EmbeddingMeasurer", "LLMMeasurer", "fit_probes", "held_out_probe_scores",
           "phrase_matches", "quote_text"]


def phrase_matches(texts: Sequence[str], concepts: Sequence[Concept]) -> np.ndarray:
    """1.0 where a text contains (as whole words, any case) one of a concept's phrases."""
    phrases = sorted({p.lower() for c in concepts for p in c.phrases})
    out = np.zeros((len(texts), len(concepts)))
    if not phrases:
        return out
    longest = max(len(p.split()) for p in phrases)
    counts = CountVectorizer(ngram_range=(1, longest), binary=True, vocabulary=phrases).transform(texts)
    position = {p: i for i, p in enumerate(phrases)}
    membership = np.zeros((len(phrases), len(concepts)))
    for k, concept in enumerate(concepts):
        for p in concept.phrases:
            membership[position[p.lower()], k] = 1.0
    return (np.asarray(counts @ membership) > 0).astype(float)


def _fit_probe(X: np.ndarray, target: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    if target.min() == target.max():  # nothing to learn: a constant score
        p = float(np.clip(target.mean(), 1e-3, 1 - 1e-3))
        return np.zeros(X.shape[1]), float(np.log(p / (1 - p)))
    model = LogisticRegression(C=C, class_weight="balanced", solver="liblinear").fit(X, target)
    return model.coef_[0], float(model.intercept_[0])


def fit_probes(X: np.ndarray, targets: np.ndarray, *, C: float = 1.0, n_jobs=None) -> tuple[np.ndarray, np.ndarray]:
    """One logistic probe per column of ``targets`` (0/1) on the embeddings ``X``.

    Returns ``(W, b)`` so that the scores are ``expit(X @ W + b)``. Classes are balanced, so a
    rare concept still gets a score that moves between 0 and 1.
    """
    fitted = Parallel(n_jobs=n_jobs)(delayed(_fit_probe)(X, targets[:, k], C) for k in range(targets.shape[1]))
    W = np.stack([w for w, _ in fitted], axis=1) if fitted else np.zeros((X.shape[1], 0))
    b = np.array([b for _, b in fitted])
    return W, b


def held_out_probe_scores(X: np.ndarray, targets: np.ndarray, *, C: float = 1.0, n_folds: int = 3,
                          random_state: int = 0, n_jobs=None) -> np.ndarray:
    """Each text's probe score from probes fitted without it (``n_folds``-fold cross-validation):
    what :func:`fit_probes` would score on texts it was not fitted on."""
    out = np.zeros(targets.shape, float)
    if len(X) < 2 * n_folds:
        return np.full(targets.shape, np.nan)
    for train, test in KFold(n_folds, shuffle=True, random_state=random_state).split(X):
        W, b = fit_probes(X[train], targets[train], C=C, n_jobs=n_jobs)
        out[test] = expit(X[test] @ W + b)
    return out


def _auc(target: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC, or NaN where the target has one value only (nothing to recognise)."""
    if np.isnan(score).any() or target.min() == target.max():
        return float("nan")
    return float(roc_auc_score(target, score))


class EmbeddingMeasurer:
    """Offline measurement from embeddings and phrases (see the module docstring).

    Parameters
    ----------
    embedder : Embedder
        Embeds the concepts' phrases and written questions.
    signals : tuple of {"similar", "close", "mentions"}, default=("similar", "close", "mentions")
        The columns measured per concept. ``similar``: a logistic probe on the text embedding trained
        to recognise texts that contain one of the concept's phrases (for a written question: same as
        ``close``). ``close``: cosine between the text and the concept (mean of its phrase embeddings,
        or the question), rescaled so the 5th-95th percentile of training texts spans [0, 1], clipped.
        ``mentions``: 1 if the text contains one of the phrases.
    C : float, default=1.0
        Inverse L2 strength of the probes.
    n_jobs : int, default=None
        Probes are fitted in parallel through joblib.
    """

    name = "embedding"

    def __init__(self, embedder, signals=("similar", "close", "mentions"), C: float = 1.0, n_jobs=None):
        self.embedder = embedder
        self.signals = tuple(signals)
        self.C = C
        self.n_jobs = n_jobs

    def _centroids(self, concepts) -> np.ndarray:
        vectors = []
        for c in concepts:
            v = self.embedder.encode(list(c.phrases) or [c.text]).mean(axis=0)
            vectors.append(v / max(np.linalg.norm(v), 1e-12))
        return np.stack(vectors, axis=1)

    def fit(self, texts, embeddings, concepts, y=None):
        unknown = set(self.signals) - {"similar", "close", "mentions"}
        if unknown or not self.signals:
            raise ValueError(f"signals must be a non-empty subset of similar, close, mentions; got {self.signals}")
        self.concepts_ = list(concepts)
        self.centroids_ = self._centroids(self.concepts_)
        cosine = embeddings @ self.centroids_
        self.low_, self.high_ = np.percentile(cosine, 5, axis=0), np.percentile(cosine, 95, axis=0)
        self.has_phrases_ = np.array([bool(c.phrases) for c in self.concepts_])
        matches = phrase_matches(texts, self.concepts_)
        self.W_, self.b_ = fit_probes(embeddings, matches, C=self.C, n_jobs=self.n_jobs)
        self.fidelity_ = self._fidelity(embeddings, matches, cosine)
        return self

    def _fidelity(self, embeddings, matches, cosine) -> list[dict]:
        """``similar``: held-out AUC of the probe for texts that use the phrases; ``close``: AUC of
        the cosine for the same (nothing fitted on them but the rescaling); ``mentions``: exact.
        Written questions (no phrases) have no ground truth here: unverified."""
        held_out = held_out_probe_scores(embeddings, matches, C=self.C, n_jobs=self.n_jobs) \
            if "similar" in self.signals and self.has_phrases_.any() else None
        records = []
        n = len(embeddings)
        for k in range(len(self.concepts_)):
            for signal in self.signals:
                if signal == "mentions":
                    records.append(fidelity.record(k, signal, "exact", 1.0, None, n))
                elif not self.has_phrases_[k]:
                    records.append(fidelity.record(k, signal, "unverified", n_texts=n))
                else:
                    score = held_out[:, k] if signal == "similar" else cosine[:, k]
                    records.append(fidelity.record(k, signal, "auc", _auc(matches[:, k], score), 0.5, n))
        return records

    def select(self, keep: np.ndarray) -> None:
        """Keep only these concepts (each one's measurement is independent of the others)."""
        self.concepts_ = [self.concepts_[k] for k in keep]
        self.centroids_, self.low_, self.high_ = self.centroids_[:, keep], self.low_[keep], self.high_[keep]
        self.has_phrases_ = self.has_phrases_[keep]
        self.W_, self.b_ = self.W_[:, keep], self.b_[keep]
        self.fidelity_ = fidelity.reindex(self.fidelity_, keep)

    def extend(self, texts, embeddings, added) -> None:
        """Measure ``added`` concepts too (fitted on these texts), after the ones it has."""
        extra = EmbeddingMeasurer(self.embedder, signals=self.signals, C=self.C, n_jobs=self.n_jobs)
        extra.fit(texts, embeddings, added)
        n = len(self.concepts_)
        self.concepts_ = list(self.concepts_) + list(added)
        self.centroids_ = np.concatenate([self.centroids_, extra.centroids_], axis=1)
        self.low_, self.high_ = np.concatenate([self.low_, extra.low_]), np.concatenate([self.high_, extra.high_])
        self.has_phrases_ = np.concatenate([self.has_phrases_, extra.has_phrases_])
        self.W_, self.b_ = np.concatenate([self.W_, extra.W_], axis=1), np.concatenate([self.b_, extra.b_])
        self.fidelity_ = self.fidelity_ + [{**r, "concept": r["concept"] + n} for r in extra.fidelity_]

    def reading_signal(self) -> np.ndarray:
        """Per concept, the column (signal index) that measures what its sentence says: ``mentions``
        for a phrase concept ("mentions something like ..."), ``similar`` (or the first) otherwise."""
        first = 0 if "similar" not in self.signals else self.signals.index("similar")
        if "mentions" not in self.signals:
            return np.full(len(self.concepts_), first)
        return np.where(self.has_phrases_, self.signals.index("mentions"), first)

    chat_calls_per_text = 0

    def transform(self, texts, embeddings) -> np.ndarray:
        close = np.clip((embeddings @ self.centroids_ - self.low_) / np.maximum(self.high_ - self.low_, 1e-6), 0, 1)
        columns = {"close": close}
        if "similar" in self.signals:
            columns["similar"] = np.where(self.has_phrases_, expit(embeddings @ self.W_ + self.b_), close)
        if "mentions" in self.signals:
            columns["mentions"] = phrase_matches(texts, self.concepts_)
        return np.stack([columns[s] for s in self.signals], axis=2).reshape(len(texts), -1)


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
        What happens to a text whose call fails for good (after the SDK's retries and one repair):
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

    def __init__(self, llm: ChatModel, max_chars: int = 2000, on_error: str = "raise", recheck: int = 0,
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
        self.fidelity_ = [{**self.fidelity_[int(k)], "concept": i} for i, k in enumerate(keep)]

    def extend(self, texts, embeddings, added) -> None:
        """Ask ``added`` concepts too. One prompt asks every concept, so the prompt is rebuilt (and
        the consistency check, if on, run again on ``texts``)."""
        kept = [self.concepts_[k] for k in self.keep_]
        self.fit(texts, embeddings, kept + list(added))

    def reading_signal(self) -> np.ndarray:
        return np.zeros(len(self.keep_), int)

    chat_calls_per_text = 1

    def prompt(self, text: str, order=None) -> str:
        order = range(len(self.concepts_)) if order is None else order
        questions = "\n".join(f"{i + 1}. {self.concepts_[k].text}" for i, k in enumerate(order))
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

    def fit(self, texts, embeddings, concepts, y=None):
        if self.gated not in ("drop", "llm"):
            raise ValueError(f"gated must be 'drop' or 'llm', got {self.gated!r}")
        self.concepts_ = list(concepts)
        rng = np.random.RandomState(self.random_state)
        sample = np.sort(rng.choice(len(texts), min(self.n_distill, len(texts)), replace=False))
        teacher = LLMMeasurer(self.llm, on_error="missing" if self.on_error == "missing" else "raise")
        teacher.fit(None, None, self.concepts_)
        answers = teacher.answer([texts[i] for i in sample])
        answered = ~np.isnan(answers).any(axis=1)
        self.n_answered_ = int(answered.sum())
        X, A = embeddings[sample][answered], answers[answered]
        self.W_, self.b_ = fit_probes(X, A, C=self.C, n_jobs=self.n_jobs)
        held_out = held_out_probe_scores(X, A, C=self.C, n_folds=5, random_state=self.random_state, n_jobs=self.n_jobs)
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
