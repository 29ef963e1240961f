"""Sparse heads over concept scores: choose at most ``max_concepts`` concepts, then fit weights.

Selection walks an L1 regularisation path (weak to strong weights) and keeps the richest model
whose weighted concepts number at most ``max_concepts``; a concept counts once however many
measurement columns (signals) it has. The chosen columns are then refitted with an L2 penalty
chosen by cross-validation (a relaxed lasso: L1 picks, L2 weighs without shrinking to zero).
Columns are standardised while fitting and the scaling is folded back, so the returned weights
apply to the raw [0, 1] scores: ``decision = intercept + scores @ coef.T`` exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV, lasso_path

__all__ = ["LinearDecisionMixin", "fit_sparse_classifier", "fit_sparse_regressor"]


def _standardise(F):
    mean = F.mean(axis=0)
    scale = F.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return (F - mean) / scale, mean, scale


def _unscale(coef, intercept, mean, scale):
    raw = coef / scale
    return raw, intercept - raw @ mean


def _select_along_path(coefs, groups, max_concepts):
    """Columns of the concepts that enter an L1 path first, at most ``max_concepts`` of them.

    ``coefs`` yields coefficient arrays (n_outputs, n_columns) from strong to weak penalty. At the
    step where the count would pass ``max_concepts``, the newly entered concepts with the largest
    weights fill the remaining places, so the budget is used, not left half empty by a coarse path.
    """
    chosen: list[int] = []
    for coef in coefs:
        strength = np.zeros(groups.max() + 1)
        np.maximum.at(strength, groups, np.abs(np.atleast_2d(coef)).max(axis=0))
        entered = [g for g in np.argsort(-strength) if strength[g] > 1e-10 and g not in chosen]
        chosen += entered[: max_concepts - len(chosen)]
        if len(chosen) >= max_concepts:
            break
    return np.isin(groups, chosen)


def fit_sparse_classifier(F, y, groups, max_concepts, *, random_state=0, n_Cs=30):
    """Returns ``(coef (n_classes_or_1, n_columns), intercept, used_columns)``."""
    Z, mean, scale = _standardise(F)

    def path():
        l1 = LogisticRegression(l1_ratio=1.0, solver="saga", max_iter=300, tol=1e-3, warm_start=True,
                                random_state=random_state)
        for C in np.logspace(-3, 1, n_Cs):
            yield l1.set_params(C=C).fit(Z, y).coef_

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        used = _select_along_path(path(), groups, max_concepts)
        if not used.any():  # even the weakest penalty picked nothing: keep the single best column
            used[int(np.argmax(np.abs(Z.T @ (y == y[0]))))] = True
        refit = LogisticRegressionCV(Cs=10, cv=5, l1_ratios=(0.0,), scoring="accuracy", max_iter=2000,
                                     use_legacy_attributes=False, random_state=random_state).fit(Z[:, used], y)
    coef = np.zeros((refit.coef_.shape[0], F.shape[1]))
    coef[:, used] = refit.coef_
    raw, raw_intercept = _unscale(coef, refit.intercept_.copy(), mean, scale)
    raw[:, ~used] = 0.0
    return raw, raw_intercept, used


def fit_sparse_regressor(F, y, groups, max_concepts):
    """Returns ``(coef (n_columns,), intercept, used_columns)`` for a least-squares target."""
    Z, mean, scale = _standardise(F)
    y_mean = y.mean()
    _, coefs, _ = lasso_path(Z, y - y_mean, alphas=60)
    used = _select_along_path(coefs.T, groups, max_concepts)  # alphas go from strong to weak
    if not used.any():
        used[int(np.argmax(np.abs(Z.T @ (y - y_mean))))] = True
    refit = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(Z[:, used], y)
    coef = np.zeros(F.shape[1])
    coef[used] = refit.coef_
    raw, raw_intercept = _unscale(coef, float(refit.intercept_), mean, scale)
    raw[~used] = 0.0
    return raw, float(raw_intercept), used


class LinearDecisionMixin:
    """``predict_proba`` and ``predict`` of a linear classifier from its ``decision_function``:
    shape (n,) toward ``classes_[1]`` for two classes (logistic link), (n, n_classes) otherwise
    (softmax)."""

    def predict_proba(self, X):
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1 - p, p])
        return softmax(scores, axis=1)

    def predict(self, X):
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]
