"""Sparse heads over concept scores whose weights point the way their concepts read.

Every weight is bounded to one sign, fixed before fitting from the concept's association with the
target in the training data: toward a class exactly when texts that score higher on the concept's
reading signal are more often of that class (two classes: toward ``classes_[1]``; more classes:
per class row, one-vs-rest; regression: the sign of the correlation with the target). All signals
of a concept share that sign; a column whose measurement failed its fidelity gate is bounded to 0.

With signs fixed, the L1 penalty is linear (``|w| = sign * w``), so the sparse path is a smooth
problem with simple bounds, solved by scipy's L-BFGS-B (:func:`_bounded_fit`, the one solver here).
Selection walks that path (strong to weak penalty) and keeps the richest model with at most
``max_concepts`` weighted concepts; a concept counts once however many columns it has. The chosen
columns are refitted with an L2 penalty chosen by cross-validation, under the same bounds.
Columns are standardised while fitting and the scaling folded back, so the returned weights apply
to the raw [0, 1] scores: ``decision = intercept + scores @ coef.T`` exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, minimize
from scipy.sparse import csr_matrix
from scipy.special import expit, log_softmax, softmax
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._codec import label_text, plain_label

__all__ = ["MANY_CLASSES", "LinearDecisionMixin", "association_signs", "own_class_rows", "fit_sparse_classifier", "fit_sparse_regressor"]

_L2_GRID = np.logspace(-4, 4, 10)        # the C values LogisticRegressionCV(Cs=10) tries
_RIDGE_GRID = np.logspace(-3, 3, 13)
# Iterations per cross-validation fit: warm-started along the grid, most converge within it; one
# that does not (a weak penalty, many classes) is ranked well enough unfinished. The final refit
# runs to convergence. (150 classes: 51 fits took 8,700 iterations uncapped.)
_CV_MAXITER = 200
#: Beyond this many classes: a concept that names a class weighs toward it only (:func:`own_class_rows`),
#: the L2 penalty is chosen by 3-fold instead of 5-fold CV, and ``max_concepts="auto"`` gives two per class.
MANY_CLASSES = 15


def standardise(F, eps: float = 1e-9):
    """Columns centred and scaled to unit variance (a column with spread below ``eps`` is only
    centred); returns ``(Z, mean, scale)`` so weights on ``Z`` fold back onto ``F``."""
    mean = F.mean(axis=0)
    scale = F.std(axis=0)
    scale[scale < eps] = 1.0
    return (F - mean) / scale, mean, scale


def _unscale(coef, intercept, mean, scale):
    raw = coef / scale
    return raw, intercept - raw @ mean


def _targets(y, classes=None, regression=False) -> np.ndarray:
    """(n, R) targets: a 0/1 column for ``classes_[1]`` (two classes), one-hot (more), or y."""
    if regression:
        return np.asarray(y, float)[:, None]
    classes = np.unique(y) if classes is None else classes
    onehot = (np.asarray(y)[:, None] == classes[None, :]).astype(float)
    return onehot[:, 1:] if len(classes) == 2 else onehot


def association_signs(F, y, groups, primary=None, *, regression=False) -> np.ndarray:
    """Per target row and column: +1, -1 or 0, the sign of the association between the concept's
    reading signal (column ``primary[g]`` of concept ``g``; default its first column) and the
    target row (see the module docstring). Every column of a concept gets its concept's sign."""
    groups = np.asarray(groups)
    n_groups = groups.max() + 1
    if primary is None:
        primary = np.array([np.flatnonzero(groups == g)[0] for g in range(n_groups)])
    T = _targets(y, regression=regression)
    X = F[:, primary] - F[:, primary].mean(axis=0)
    cov = X.T @ (T - T.mean(axis=0)) / len(F)           # (n_groups, R)
    sign = np.where(np.abs(cov) > 1e-12, np.sign(cov), 0.0)
    return sign.T[:, groups]                              # (R, n_columns)


def _loss(S, T, kind):
    """Mean loss of decision values ``S`` (n, R) against targets ``T`` and its gradient in ``S``."""
    n = len(S)
    if kind == "logistic":
        return np.mean(np.logaddexp(0, S) - T * S), (expit(S) - T) / n
    if kind == "softmax":
        L = log_softmax(S, axis=1)
        return -np.mean((T * L).sum(axis=1)), (np.exp(L) - T) / n
    E = S - T
    return 0.5 * np.mean(E ** 2), E / n


def _bounded_fit(Z, T, signs, l1, l2, kind, start=None, maxiter=2000, free_only=None):
    """Minimise mean loss + l1 * sum(signs * W) + l2 / 2 * ||W||^2 over W with sign(W) = signs
    (0 where signs is 0) and a free intercept per row, by L-BFGS-B. ``kind``: "logistic" (one 0/1
    row), "softmax" (one-hot rows) or "squares" (one real row). Returns (W, b, theta).

    When most weights are bounded to 0 (many classes, each concept allowed toward its own class
    only), the solver works on the free weights alone: the same problem, far fewer products
    (``free_only``: None decides so, True / False forces it)."""
    n, p = Z.shape
    R = signs.shape[0]
    if free_only is None:
        free_only = R > 1 and np.count_nonzero(signs) < 0.5 * signs.size
    if free_only:
        return _bounded_fit_free(Z, T, signs, l1, l2, kind, start, maxiter)

    def objective(theta):
        W, b = theta[: R * p].reshape(R, p), theta[R * p:]
        loss, G = _loss(Z @ W.T + b, T, kind)
        value = loss + l1 * np.sum(signs * W) + 0.5 * l2 * np.sum(W * W)
        grad_W = G.T @ Z + l1 * signs + l2 * W
        return value, np.concatenate([grad_W.ravel(), G.sum(axis=0)])

    bounds = _sign_bounds(signs.ravel(), R)
    start = _start(T, kind, R * p) if start is None else start
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": maxiter, "gtol": 1e-7})
    return result.x[: R * p].reshape(R, p), result.x[R * p:], result.x


def _sign_bounds(signs, n_intercepts) -> Bounds:
    """Each weight on the side of its sign (0 when its sign is 0), then free intercepts."""
    free = np.full(n_intercepts, np.inf)
    return Bounds(np.concatenate([np.where(signs >= 0, 0.0, -np.inf), -free]),
                  np.concatenate([np.where(signs <= 0, 0.0, np.inf), free]))


def _start(T, kind, n_weights):
    """Zero weights and the intercepts that fit the targets' means."""
    if kind == "squares":
        b0 = T.mean(axis=0)
    else:
        mean = np.clip(T.mean(axis=0), 1e-6, 1 - 1e-6)
        b0 = np.log(mean / (1 - mean)) if kind == "logistic" else np.log(mean)
    return np.concatenate([np.zeros(n_weights), b0])


def _bounded_fit_free(Z, T, signs, l1, l2, kind, start, maxiter):
    """:func:`_bounded_fit` over the free weights only (``start`` and the returned theta are in the
    full (R * p + R) layout, so warm starts pass between the two)."""
    n, p = Z.shape
    R = signs.shape[0]
    rows, cols = np.nonzero(signs)
    s = signs[rows, cols]
    m = len(rows)
    Zc = Z[:, cols]                                   # (n, m): each free weight's column
    to_rows = csr_matrix((np.ones(m), (np.arange(m), rows)), shape=(m, R))   # weight -> its row

    def objective(theta):
        w, b = theta[:m], theta[m:]
        S = np.asarray(to_rows.T @ (Zc * w).T).T       # S[:, r]: the columns weighted toward row r
        loss, G = _loss(S + b, T, kind)
        value = loss + l1 * np.sum(s * w) + 0.5 * l2 * np.sum(w * w)
        grad_w = np.einsum("ij,ij->j", G[:, rows], Zc) + l1 * s + l2 * w
        return value, np.concatenate([grad_w, G.sum(axis=0)])

    bounds = _sign_bounds(s, R)
    if start is None:
        start = _start(T, kind, R * p)
    theta0 = np.concatenate([start[: R * p].reshape(R, p)[rows, cols], start[R * p:]])
    result = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": maxiter, "gtol": 1e-7})
    W = np.zeros((R, p))
    W[rows, cols] = result.x[:m]
    b = result.x[m:]
    return W, b, np.concatenate([W.ravel(), b])


def own_class_rows(signs, targets, classes, groups) -> np.ndarray:
    """``signs`` with each concept that names a class (a phrase concept mined from its texts, a
    prototype) allowed toward that class only: its other rows bounded to 0. Used with many classes,
    where a concept's weights against 149 other classes say little and cost most of the fit."""
    position = {c: i for i, c in enumerate(classes)}
    signs = signs.copy()
    for g, target in enumerate(targets):
        row = position.get(target) if target is not None else None
        if row is None:
            continue
        columns = np.asarray(groups) == g
        keep = signs[row, columns].copy()
        signs[:, columns] = 0.0
        signs[row, columns] = keep
    return signs


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


def _path(Z, T, signs, kind, n_steps, screen=True):
    """Coefficients along the sign-bounded L1 path, from the penalty where the first column
    enters down to a thousandth of it (warm-started).

    With ``screen`` (glmnet's strong rules, Tibshirani et al. 2012), each step is solved over the
    columns that may be non-zero: those already weighted and those whose loss gradient at the
    previous solution passes ``2 * l1 - previous l1`` in their allowed direction. Then every other
    column is checked against the optimality condition (``-sign * gradient <= l1``, which keeps it
    at 0); a column that breaks it joins and the step is solved again. The result is the solution
    of the whole problem, at the cost of the few columns that matter (150 classes: 1,200 columns,
    a few dozen weighted)."""
    R, p = signs.shape
    residual = T - T.mean(axis=0)   # at W = 0 with the best intercepts, for all three losses
    entering = np.max(signs * (residual.T @ Z) / len(Z), initial=0.0)
    if entering <= 0:
        return
    start = None
    if not screen:
        for l1 in entering * np.logspace(0, -3, n_steps):
            W, _, start = _bounded_fit(Z, T, signs, l1, 0.0, kind, start)
            yield W.reshape(R, -1)
        return
    W, b = np.zeros((R, p)), _bounded_fit(Z[:, :0], T, signs[:, :0], 0.0, 0.0, kind)[1]   # intercepts alone
    previous = entering
    possible = (signs != 0).any(axis=0)
    for l1 in entering * np.logspace(0, -3, n_steps):
        pull = -signs * (_loss(Z @ W.T + b, T, kind)[1].T @ Z)        # > 0: the loss wants the column in
        active = possible & (((pull >= 2 * l1 - previous) & (signs != 0)).any(axis=0) | (W != 0).any(axis=0))
        while True:
            cols = np.flatnonzero(active)
            start = np.concatenate([W[:, cols].ravel(), b])
            Wa, b, _ = _bounded_fit(Z[:, cols], T, signs[:, cols], l1, 0.0, kind, start)
            W = np.zeros((R, p))
            W[:, cols] = Wa
            pull = -signs * (_loss(Z @ W.T + b, T, kind)[1].T @ Z)
            broken = possible & ~active & ((pull > l1 + 1e-9) & (signs != 0)).any(axis=0)
            if not broken.any():
                break
            active |= broken
        previous = l1
        yield W


def _kind(T, regression):
    return "squares" if regression else ("logistic" if T.shape[1] == 1 else "softmax")


def _score(Z, T, W, b, kind):
    S = Z @ W.T + b
    if kind == "squares":
        return -np.mean((S - T) ** 2)
    if kind == "logistic":
        return np.mean((S[:, 0] > 0) == (T[:, 0] > 0.5))
    return np.mean(S.argmax(axis=1) == T.argmax(axis=1))


def _best_penalty(scores, losses) -> int:
    """The grid index with the best summed held-out score; among those tied on it (equal counts of
    right answers, summed over folds as floats, so equal to within rounding), the lowest summed
    log-loss; then the first, the strongest penalty."""
    scores, losses = np.asarray(scores, float), np.asarray(losses, float)
    tied = np.flatnonzero(np.isclose(scores, scores.max(), rtol=0, atol=1e-9))
    return int(tied[np.argmin(losses[tied])])


def _refit(Z, T, signs, kind, y, random_state):
    """L2-penalised refit under the bounds, the penalty chosen by 5-fold CV (accuracy, or squared
    error for regression). Penalties tied on accuracy are told apart by their held-out log-loss:
    on a few hundred texts accuracy is often flat over the whole grid, and its first value (the
    strongest penalty) then shrank every weight to near 0 and every probability to near 0.5 while
    the model was 90% right; the remaining ties go to the strongest penalty."""
    n = len(Z)
    if kind == "squares":
        grid = [alpha / n for alpha in _RIDGE_GRID]          # RidgeCV's alphas on the summed loss
        folds = KFold(5, shuffle=True, random_state=random_state).split(Z)
    else:
        grid = [1.0 / (C * n) for C in _L2_GRID]            # LogisticRegression's C, strong to weak
        counts = np.bincount(np.asarray(T.argmax(axis=1) if T.shape[1] > 1 else T[:, 0], int))
        n_splits = int(min(5 if T.shape[1] <= MANY_CLASSES else 3, counts[counts > 0].min())) if len(counts) else 1
        folds = (StratifiedKFold(n_splits, shuffle=True, random_state=random_state).split(Z, y)
                 if n_splits >= 2 else [])
    folds = list(folds)
    if folds:
        scores, losses = np.zeros(len(grid)), np.zeros(len(grid))
        for train, test in folds:
            start = None
            for i, l2 in enumerate(grid):          # strong to weak: warm starts along the grid
                W, b, start = _bounded_fit(Z[train], T[train], signs, 0.0, l2, kind, start, maxiter=_CV_MAXITER)
                scores[i] += _score(Z[test], T[test], W, b, kind)
                losses[i] += _loss(Z[test] @ W.T + b, T[test], kind)[0]
        best = grid[_best_penalty(scores, losses)]
    else:
        best = grid[len(grid) // 2]
    W, b, _ = _bounded_fit(Z, T, signs, 0.0, best, kind)
    return W, b


def _fit_sparse(F, y, groups, max_concepts, signs, allowed, regression, random_state, n_steps):
    # One BLAS thread: the solver makes thousands of small products (texts x a few dozen columns),
    # where OpenBLAS threads cost more than they give (8 classes, 300 texts: 69 s -> 1.9 s with
    # the two cores busy; AugLinear's head found the same).
    with threadpool_limits(1, user_api="blas"):
        return _fit_sparse_unthreaded(F, y, groups, max_concepts, signs, allowed, regression, random_state, n_steps)


def _fit_sparse_unthreaded(F, y, groups, max_concepts, signs, allowed, regression, random_state, n_steps):
    Z, mean, scale = standardise(F)
    T = _targets(y, regression=regression)
    kind = _kind(T, regression)
    signs = signs * (np.ones(F.shape[1], bool) if allowed is None else np.asarray(allowed, bool))
    signs = signs * (F.std(axis=0) > 1e-9)
    used = _select_along_path(_path(Z, T, signs, kind, n_steps), groups, max_concepts)
    if not used.any():  # nothing can enter (every column gated or unassociated): the intercept alone
        W = np.zeros_like(signs)
        b = _bounded_fit(Z, T, np.zeros_like(signs), 0.0, 0.0, kind)[1]
    else:  # columns outside ``used`` are bounded to 0: the refit solves over the chosen ones only
        W = np.zeros_like(signs)
        W[:, used], b = _refit(Z[:, used], T, signs[:, used], kind, y, random_state)
        used = used & (np.abs(W) > 0).any(axis=0)   # a chosen column refitted to 0 carries nothing
    raw, raw_intercept = _unscale(W, b, mean, scale)
    raw[:, ~used] = 0.0
    return raw, raw_intercept, used


def fit_sparse_classifier(F, y, groups, max_concepts, *, signs=None, allowed=None, random_state=0, n_steps=30):
    """Returns ``(coef (n_classes_or_1, n_columns), intercept, used_columns)``.

    ``signs`` (rows x columns, from :func:`association_signs` unless given) bound each weight's
    direction; ``allowed`` (a column mask) keeps gated columns at 0."""
    groups = np.asarray(groups)
    if signs is None:
        signs = association_signs(F, y, groups)
    return _fit_sparse(F, y, groups, max_concepts, np.asarray(signs, float), allowed, False, random_state, n_steps)


def fit_sparse_regressor(F, y, groups, max_concepts, *, signs=None, allowed=None, random_state=0, n_steps=30):
    """Returns ``(coef (n_columns,), intercept, used_columns)`` for a least-squares target."""
    groups = np.asarray(groups)
    if signs is None:
        signs = association_signs(F, y, groups, regression=True)
    coef, intercept, used = _fit_sparse(F, np.asarray(y, float), groups, max_concepts, np.asarray(signs, float),
                                        allowed, True, random_state, n_steps)
    return coef[0], float(intercept[0]), used


class LinearDecisionMixin:
    """``predict_proba`` and ``predict`` of a linear classifier from its ``decision_function``:
    shape (n,) toward ``classes_[1]`` for two classes (logistic link), (n, n_classes) otherwise
    (softmax)."""

    def _row(self, target) -> int:
        """The row of ``coef_`` that ``explain(X, target)`` explains. Two classes: the one row, toward
        ``classes_[1]``; ``target=classes_[0]`` is refused (its contributions would be those numbers
        negated, and a table toward 'spam' handed out as toward 'ham' reads the wrong way round)."""
        check_is_fitted(self, "coef_")
        classes = list(self.classes_)
        if target is not None and target not in classes:
            raise ValueError(f"target {target!r} is not a class; classes are {classes}")
        if len(classes) == 2:
            if target is not None and target != classes[1]:
                raise ValueError(f"with two classes, contributions point toward {label_text(classes[1], quoted=True)} "
                                 f"(classes_[1]); toward {label_text(classes[0], quoted=True)} they are the same "
                                 f"numbers negated: pass target=None or target={plain_label(classes[1])!r}")
            return 0
        return classes.index(self.classes_[0] if target is None else target)

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
