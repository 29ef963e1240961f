"""What the measurers share: phrase matches, logistic probes on embeddings, held-out probe scores."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from joblib import Parallel, delayed
from scipy.special import expit
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from ..concept import Concept

__all__ = ["auc", "fit_probes", "held_out_probe_scores", "phrase_matches"]


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
                          random_state: int = 0, n_jobs=None, holdout: bool = False) -> np.ndarray:
    """Each text's probe score from probes fitted without it: ``n_folds``-fold cross-validation,
    or with ``holdout=True`` one split (probes fitted on ``1 - 1/n_folds`` of the texts score the
    rest; the other rows are NaN). What :func:`fit_probes` would score on texts it was not fitted on."""
    out = np.full(targets.shape, np.nan)
    if len(X) < 2 * n_folds:
        return out
    for train, test in KFold(n_folds, shuffle=True, random_state=random_state).split(X):
        W, b = fit_probes(X[train], targets[train], C=C, n_jobs=n_jobs)
        out[test] = expit(X[test] @ W + b)
        if holdout:
            break
    return out


def auc(target: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC over the scored rows, or NaN where the target has one value only there."""
    scored = ~np.isnan(score)
    target, score = target[scored], score[scored]
    if len(target) == 0 or target.min() == target.max():
        return float("nan")
    return float(roc_auc_score(target, score))
