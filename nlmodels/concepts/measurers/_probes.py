"""What the measurers share: phrase matches, logistic probes on embeddings, held-out probe scores."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from ..._splits import fold_copies_together
from ..concept import Concept

__all__ = ["PHRASE_WORDS", "WORD_FEATURES", "auc", "check_phrases", "fit_probes", "fit_words", "held_out_probe_scores",
           "phrase_matches", "phrase_words", "word_features"]


#: What phrase matching reads, in words: scikit-learn's default tokens.
PHRASE_WORDS = "whole words of two or more letters or digits, any case; punctuation and one-character words are skipped"


def phrase_words(phrase: str) -> str:
    """A phrase as phrase matching reads it: its tokens (``PHRASE_WORDS``), lowercased, joined by spaces."""
    return " ".join(CountVectorizer().build_analyzer()(phrase))


def check_phrases(phrases: Sequence[str], where: str) -> None:
    """Refuse a given phrase that phrase matching would read as something else (``"don't"`` is read
    as ``don``, ``"£1000"`` as ``1000``) or not at all (``"u"``): a mention of it could never be
    counted, and a hypothesis or concept made of it would print a measured 0 that was never measured."""
    for phrase in phrases:
        read = phrase_words(phrase)
        if not read or read != phrase.lower():   # "call  now" or "call\tnow" is never matched either
            what = f"reads it as {read!r}" if read else "cannot see it at all"
            raise ValueError(f"{where}: the phrase {phrase!r} cannot be matched as written: phrase matching reads "
                             f"{PHRASE_WORDS}, so it {what}" + (f"; write {read!r} if that is meant" if read else ""))


def phrase_matches(texts: Sequence[str], concepts: Sequence[Concept]) -> np.ndarray:
    """1.0 where a text contains one of a concept's phrases (``PHRASE_WORDS``; so "call now" also
    matches "call u now")."""
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


#: How a prototype probe reads a text's words: TF-IDF of its 1-2-grams (sublinear counts, rows of
#: unit length like the embeddings), over the at most 10,000 most frequent that occur in two or more
#: training texts.
WORD_FEATURES = {"ngram_range": (1, 2), "min_df": 2, "max_features": 10000, "sublinear_tf": True}


def fit_words(texts: Sequence[str]) -> dict | None:
    """The training texts' word vocabulary and inverse document frequencies (:data:`WORD_FEATURES`),
    as plain values: ``{"vocabulary": [...], "idf": array}``; None when no word occurs twice."""
    try:
        vectorizer = TfidfVectorizer(**WORD_FEATURES).fit(texts)
    except ValueError:   # no term in two texts (tiny data)
        return None
    return {"vocabulary": vectorizer.get_feature_names_out().tolist(), "idf": vectorizer.idf_}


def word_features(texts: Sequence[str], words: dict):
    """(texts x vocabulary) TF-IDF rows of unit length, sparse, from :func:`fit_words`'s output."""
    options = {k: v for k, v in WORD_FEATURES.items() if k in ("ngram_range", "sublinear_tf")}
    vectorizer = TfidfVectorizer(**options, vocabulary=list(words["vocabulary"]))
    vectorizer.idf_ = np.asarray(words["idf"], dtype=np.float64)
    return vectorizer.transform(texts)


_BLOCK = 256   # probes solved together: (texts x block) arrays, BLAS-sized products


def _fit_block(X: np.ndarray, T: np.ndarray, C: float) -> tuple[np.ndarray, np.ndarray]:
    """Logistic probes for the columns of ``T`` (each with both values), solved together.

    Each column's problem is the one scikit-learn's ``LogisticRegression(C, class_weight="balanced",
    solver="liblinear")`` solves (the intercept penalised like a weight, as liblinear does); they
    are independent, so their sum is minimised at once by L-BFGS, one matrix product per step for
    all of them (150 probes on 2,000 texts: 3.8 s instead of 9.0 s, scores within 3e-4)."""
    n, d = X.shape
    K = T.shape[1]
    positives = T.sum(axis=0)
    weight = C * np.where(T > 0, n / (2 * positives), n / (2 * (n - positives)))   # balanced classes
    ones = np.ones((n, 1), np.float64)
    Xb = sparse.hstack([X, ones], format="csr") if sparse.issparse(X) else np.hstack([X, ones])

    def objective(theta):
        W = theta.reshape(d + 1, K)
        Z = Xb @ W
        value = 0.5 * np.sum(W * W) + np.sum(weight * (np.logaddexp(0, Z) - T * Z))
        return value, (W + Xb.T @ (weight * (expit(Z) - T))).ravel()

    result = minimize(objective, np.zeros((d + 1) * K), jac=True, method="L-BFGS-B",
                      options={"maxiter": 2000, "gtol": 1e-5})
    W = result.x.reshape(d + 1, K)
    return W[:d], W[d]


def fit_probes(X: np.ndarray, targets: np.ndarray, *, C: float = 1.0, n_jobs=None) -> tuple[np.ndarray, np.ndarray]:
    """One logistic probe per column of ``targets`` (0/1) on the embeddings ``X`` (dense), or on
    the texts' words (sparse, :func:`word_features`).

    Returns ``(W, b)`` so that the scores are ``expit(X @ W + b)``. Classes are balanced, so a
    rare concept still gets a score that moves between 0 and 1. A constant column gets a constant
    score. Blocks of columns are solved in joblib threads (``n_jobs``)."""
    X = X.astype(np.float64).tocsr() if sparse.issparse(X) else np.asarray(X, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    K = targets.shape[1]
    W, b = np.zeros((X.shape[1], K)), np.zeros(K)
    constant = targets.min(axis=0) == targets.max(axis=0) if len(targets) else np.ones(K, bool)
    p = np.clip(targets[:, constant].mean(axis=0), 1e-3, 1 - 1e-3) if len(targets) else np.full(constant.sum(), 0.5)
    b[constant] = np.log(p / (1 - p))
    varied = np.flatnonzero(~constant)
    blocks = [varied[i:i + _BLOCK] for i in range(0, len(varied), _BLOCK)]
    # One BLAS thread: OpenBLAS threads slowed these products down at every size measured (2 cores,
    # 1,811 texts: 3 probes 1.32 -> 0.22 s, 256 probes 11.2 -> 6.4 s); the blocks themselves run on
    # joblib threads.
    with threadpool_limits(1, user_api="blas"):
        fitted = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(_fit_block)(X, targets[:, cols], C) for cols in blocks)
    for cols, (Wk, bk) in zip(blocks, fitted):
        W[:, cols], b[cols] = Wk, bk
    return W, b


def held_out_probe_scores(X: np.ndarray, targets: np.ndarray, *, C: float = 1.0, n_folds: int = 3,
                          random_state: int = 0, n_jobs=None, holdout: bool = False, stratify=None,
                          groups=None) -> np.ndarray:
    """Each text's probe score from probes fitted without it: ``n_folds``-fold cross-validation,
    or with ``holdout=True`` one split (probes fitted on ``1 - 1/n_folds`` of the texts score the
    rest; the other rows are NaN). What :func:`fit_probes` would score on texts it was not fitted on.
    ``stratify`` (the training labels, for probes that recognise classes): folds that keep each
    class's share, as far as its count allows (a class with fewer texts than folds is spread over
    as many folds as it has texts). ``groups`` (``distinct_texts`` of the rows' texts): every copy of a
    text is in the fold of its first copy, so no probe scores a copy of a text it was fitted on."""
    out = np.full(targets.shape, np.nan)
    if X.shape[0] < 2 * n_folds:
        return out
    rows = np.arange(X.shape[0])
    if stratify is None:
        folds = KFold(n_folds, shuffle=True, random_state=random_state).split(rows)
    else:
        with warnings.catch_warnings():   # "the least populated class has only k members": spread as it can
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(rows, stratify))
    for train, test in fold_copies_together(folds, groups):
        W, b = fit_probes(X[train], targets[train], C=C, n_jobs=n_jobs)
        out[test] = expit(np.asarray(X[test] @ W) + b)
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
