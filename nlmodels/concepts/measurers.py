"""Measurers: texts x concepts -> scores in [0, 1].

Every measurer has ``fit(texts, embeddings, concepts, y=None)`` and ``transform(texts, embeddings)``
and names its columns with ``signals``: the matrix has one column per concept and signal,
concept-major (column ``k * len(signals) + s``).

- :class:`EmbeddingMeasurer` (offline): ``similar``, a probe on the text embedding trained to
  recognise texts that mention the concept's phrases (so it also scores paraphrases), and
  ``mentions``, whether the text contains one of the phrases. Concepts with no phrases (written
  questions) get the cosine between text and question, rescaled on the training texts.
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

from ..llm import ChatModel, LLMBatchError
from .concept import Concept
from .proposers import DATA_NOTICE

__all__ = ["DistillMeasurer", "EmbeddingMeasurer", "LLMMeasurer", "fit_probes", "phrase_matches"]


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
        Embeds written questions (concepts with no phrases).
    C : float, default=1.0
        Inverse L2 strength of the probes.
    n_jobs : int, default=None
        Probes are fitted in parallel through joblib.
    """

    name = "embedding"
    signals = ("similar", "mentions")

    def __init__(self, embedder, C: float = 1.0, n_jobs=None):
        self.embedder = embedder
        self.C = C
        self.n_jobs = n_jobs

    def fit(self, texts, embeddings, concepts, y=None):
        self.concepts_ = list(concepts)
        mentions = phrase_matches(texts, self.concepts_)
        self.W_, self.b_ = fit_probes(embeddings, mentions, C=self.C, n_jobs=self.n_jobs)
        self.questions_ = np.array([k for k, c in enumerate(self.concepts_) if not c.phrases], dtype=int)
        if len(self.questions_):
            self.Q_ = self.embedder.encode([self.concepts_[k].text for k in self.questions_]).T
            cosine = embeddings @ self.Q_
            self.low_, self.high_ = np.percentile(cosine, 5, axis=0), np.percentile(cosine, 95, axis=0)
        return self

    def select(self, keep: np.ndarray) -> None:
        """Keep only these concepts (their probes and phrases are independent of the others)."""
        position = {k: i for i, k in enumerate(keep)}
        kept_questions = [j for j, k in enumerate(self.questions_) if k in position]
        if len(self.questions_):
            self.Q_, self.low_, self.high_ = (self.Q_[:, kept_questions], self.low_[kept_questions],
                                              self.high_[kept_questions])
        self.questions_ = np.array([position[self.questions_[j]] for j in kept_questions], dtype=int)
        self.concepts_ = [self.concepts_[k] for k in keep]
        self.W_, self.b_ = self.W_[:, keep], self.b_[keep]

    def transform(self, texts, embeddings) -> np.ndarray:
        similar = expit(embeddings @ self.W_ + self.b_)
        if len(self.questions_):
            cosine = embeddings @ self.Q_
            similar[:, self.questions_] = np.clip(
                (cosine - self.low_) / np.maximum(self.high_ - self.low_, 1e-6), 0, 1
            )
        mentions = phrase_matches(texts, self.concepts_)
        return np.stack([similar, mentions], axis=2).reshape(len(texts), -1)


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
            f"<text>{text[: self.max_chars]}</text>\n\n"
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

    def fit(self, texts, embeddings, concepts, y=None):
        self.concepts_ = list(concepts)
        rng = np.random.RandomState(self.random_state)
        sample = np.sort(rng.choice(len(texts), min(self.n_distill, len(texts)), replace=False))
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
