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

from ..llm import ChatModel
from .concept import Concept
from .proposers import DATA_NOTICE, quote_text

__all__ = ["DistillMeasurer", "EmbeddingMeasurer", "LLMMeasurer", "fit_probes", "phrase_matches", "quote_text"]


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
        self.W_, self.b_ = fit_probes(embeddings, phrase_matches(texts, self.concepts_), C=self.C, n_jobs=self.n_jobs)
        return self

    def select(self, keep: np.ndarray) -> None:
        """Keep only these concepts (each one's measurement is independent of the others)."""
        self.concepts_ = [self.concepts_[k] for k in keep]
        self.centroids_, self.low_, self.high_ = self.centroids_[:, keep], self.low_[keep], self.high_[keep]
        self.has_phrases_ = self.has_phrases_[keep]
        self.W_, self.b_ = self.W_[:, keep], self.b_[keep]

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
        What happens to a text whose call fails for good (after the SDK's retries and the chat
        model's ``max_repairs`` repairs):
        ``"raise"`` raises :class:`~nlmodels.LLMBatchError` naming the rows (the finished answers
        are cached, so a second call resumes); ``"missing"`` scores that text NaN, which the
        estimators replace by the training mean of each concept.
    """

    name = "llm"
    signals = ("answer",)

    def __init__(self, llm: ChatModel, max_chars: int = 2000, on_error: str = "raise"):
        self.llm = llm
        self.max_chars = max_chars
        self.on_error = on_error

    def fit(self, texts, embeddings, concepts, y=None):
        self.concepts_ = list(concepts)
        self.keep_ = np.arange(len(self.concepts_))
        return self

    def select(self, keep: np.ndarray) -> None:
        """Return only these concepts' columns from now on. Every concept asked during fit is still
        asked, so a text's prompt, and so its answers, are the same at fit and at predict."""
        self.keep_ = self.keep_[keep]

    def prompt(self, text: str) -> str:
        questions = "\n".join(f"{i + 1}. {c.text}" for i, c in enumerate(self.concepts_))
        return (
            f"<text>{quote_text(text[: self.max_chars])}</text>\n\n"
            f"Answer each question about the text above with yes or no, in order:\n{questions}\n\n"
            f'Reply as JSON: {{"answers": [...{len(self.concepts_)} answers, each "yes" or "no"...]}}'
        )

    def answer(self, texts: Sequence[str]) -> np.ndarray:
        if self.on_error not in ("raise", "missing"):
            raise ValueError(f"on_error must be 'raise' or 'missing', got {self.on_error!r}")
        schema = _answers_schema(len(self.concepts_))
        replies = self.llm.structured(
            [self.prompt(t) for t in texts], schema, system=DATA_NOTICE,
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

    ``fit`` makes at most ``n_distill`` chat calls; ``transform`` makes none.
    """

    name = "distill"
    signals = ("answer",)

    def __init__(self, llm: ChatModel, n_distill: int = 200, C: float = 1.0, random_state: int = 0,
                 on_error: str = "raise", n_jobs=None):
        self.llm = llm
        self.n_distill = n_distill
        self.C = C
        self.random_state = random_state
        self.on_error = on_error
        self.n_jobs = n_jobs

    def sample(self, n_texts: int) -> np.ndarray:
        """The training rows the chat model answers for (``n_distill`` of them, seeded)."""
        rng = np.random.RandomState(self.random_state)
        return np.sort(rng.choice(n_texts, min(self.n_distill, n_texts), replace=False))

    def fit(self, texts, embeddings, concepts, y=None):
        self.concepts_ = list(concepts)
        sample = self.sample(len(texts))
        teacher = LLMMeasurer(self.llm, on_error="missing" if self.on_error == "missing" else "raise")
        teacher.fit(None, None, self.concepts_)
        answers = teacher.answer([texts[i] for i in sample])
        answered = ~np.isnan(answers).any(axis=1)
        self.n_answered_ = int(answered.sum())
        self.W_, self.b_ = fit_probes(embeddings[sample][answered], answers[answered], C=self.C, n_jobs=self.n_jobs)
        return self

    def select(self, keep: np.ndarray) -> None:
        """Keep only these concepts' probes."""
        self.concepts_ = [self.concepts_[k] for k in keep]
        self.W_, self.b_ = self.W_[:, keep], self.b_[keep]

    def transform(self, texts, embeddings) -> np.ndarray:
        return expit(embeddings @ self.W_ + self.b_)
