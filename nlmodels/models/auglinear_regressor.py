"""``AugLinearRegressor``: every n-gram embedded, a ridge regression on the sums; the model is one number per n-gram."""


from __future__ import annotations


from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.linear_model import RidgeCV
from sklearn.utils.validation import check_is_fitted

from .._validation import check_numbers_param, check_texts_labels
from ._document import register
from ._pipeline import training_summary

from ._auglinear_base import PARAMETERS_DOC_AUGLINEAR, AugLinearBase, _design

__all__ = ["AugLinearRegressor"]


@register
class AugLinearRegressor(RegressorMixin, AugLinearBase):
    __doc__ = f"""An additive n-gram regressor whose n-gram weights come from embeddings (Aug-Linear).

    As :class:`AugLinearClassifier`, with ridge regression (penalty chosen by efficient
    leave-one-out cross-validation) in place of logistic regression: a prediction is the intercept
    plus one number per n-gram occurrence.

    Parameters
    ----------{PARAMETERS_DOC_AUGLINEAR}
    alphas : sequence of float, default=numpy.logspace(-2, 4, 13)
        Ridge penalties to try (leave-one-out, :class:`~sklearn.linear_model.RidgeCV`).

    Attributes
    ----------
    vocabulary_, ngram_scores_, coef_, intercept_, lexical_scale_, document_frequency_, embedder_,
    vectorizer_, training_ : as for :class:`AugLinearClassifier`, with one output.
    alpha_ : float
        The chosen penalty.
    cv_results_ : DataFrame
        Leave-one-out mean squared error per ``lexical_scale`` at its best alpha.

    Examples
    --------
    >>> reg = AugLinearRegressor().fit(texts, ratings)             # doctest: +SKIP
    >>> reg.explain(["a gripping, beautifully shot thriller"])      # doctest: +SKIP
    """

    _regression = True

    def __init__(self, embedder=None, *, ngram_range=(1, 2), stop_words=None, lowercase=True,
                 token_pattern=r"(?u)\b\w\w+\b|n't", lexical_scales=(3.0, 10.0), min_df=1, max_ngrams="auto",
                 alphas=None):
        super().__init__(embedder, ngram_range=ngram_range, stop_words=stop_words, lowercase=lowercase,
                         token_pattern=token_pattern, lexical_scales=lexical_scales, min_df=min_df,
                         max_ngrams=max_ngrams)
        self.alphas = alphas

    def fit(self, X, y):
        """Fit the model on texts ``X`` and numeric targets ``y``; returns ``self``."""
        texts, y = check_texts_labels(X, y, regression=True)
        self._fit_table(texts, y)
        self.training_, self.edits_ = training_summary(texts, y, True), []
        return self

    _parameter_constraints = {**AugLinearBase._parameter_constraints, "alphas": ["array-like", None]}

    def _check_head_params(self):
        if self.alphas is not None:
            check_numbers_param("alphas", self.alphas)

    def _fit_head(self, Z, counts, y, scales):
        alphas = np.logspace(-2, 4, 13) if self.alphas is None else np.asarray(self.alphas, dtype=float).ravel()
        fits = []
        for scale in scales:
            model = RidgeCV(alphas=alphas).fit(_design(Z, counts, scale), y)
            fits.append((-model.best_score_, scale, model))
        self.cv_results_ = pd.DataFrame({"lexical_scale": scales, "mse": [f[0] for f in fits],
                                         "alpha": [f[2].alpha_ for f in fits]})
        _, scale, model = min(fits, key=lambda f: f[0])
        self.alpha_ = float(model.alpha_)
        dim = Z.shape[1]
        coef = np.atleast_2d(model.coef_)
        lexical = coef[:, dim:].T if scale else np.zeros((counts.shape[1], 1))
        return coef[:, :dim], lexical, np.atleast_1d(float(model.intercept_)), float(scale)

    def predict(self, X):
        """Intercept plus the sum of the n-grams' contributions."""
        return self._decision(X)[:, 0]

    def explain(self, X, target=None) -> pd.DataFrame:
        """Each n-gram's contribution to each prediction, plus the intercept; rows sum to ``predict``."""
        check_is_fitted(self, "ngram_scores_")
        return self._explain(X, 0)

    def ngram_contributions(self, phrases: Sequence[str], target=None) -> pd.DataFrame:
        """What each phrase adds to a prediction (the sum of its n-grams' contributions); see
        :meth:`AugLinearClassifier.ngram_contributions`."""
        check_is_fitted(self, "ngram_scores_")
        phrases, scores = self._phrase_scores(phrases)
        frame = pd.DataFrame({"contribution": scores[:, 0]}, index=phrases)
        frame["seen"] = self._seen(phrases)
        frame.index.name = "phrase"
        return frame

    def _sections(self):
        return [({"direction": "higher"}, "toward higher predictions", 0, 1),
                ({"direction": "lower"}, "toward lower predictions", 0, -1)]
