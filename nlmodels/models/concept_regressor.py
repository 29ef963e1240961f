"""``ConceptRegressor``: a text regressor that is a short list of natural-language concepts with weights."""

from __future__ import annotations

import html

import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .._codec import counted
from ._document import register
from ._linear import ATTRIBUTES_DOC, LinearConceptModel
from ._pipeline import PARAMETERS_DOC

__all__ = ["ConceptRegressor"]


@register
class ConceptRegressor(RegressorMixin, LinearConceptModel):
    __doc__ = f"""A text regressor that is a short list of natural-language concepts with weights.

    Like :class:`ConceptClassifier`, with concepts mined from the low and high thirds of the target
    and a Lasso-selected linear model (at most ``max_concepts`` concepts), refitted with ridge.

    Parameters
    ----------{PARAMETERS_DOC}
    Attributes
    ----------
{ATTRIBUTES_DOC.format(rows="1", toward="", support="mean target differs", balance="target range")}    """

    _regression = True

    def fit(self, X, y):
        """Propose concepts on texts ``X`` with numeric targets ``y``, measure them, check their
        fidelity and fit the sign-bounded sparse linear head; returns ``self``."""
        return self._fit(X, y)

    def predict(self, X):
        """``intercept_`` plus each concept's scores times its weights, for texts ``X``."""
        check_is_fitted(self, "coef_")
        F = self._measure(X)
        return self.intercept_[0] + self._contributions(F, 0).sum(axis=1)

    def explain(self, X, target=None) -> pd.DataFrame:
        """Each concept's contribution to each prediction, plus the intercept; rows sum to ``predict``."""
        check_is_fitted(self, "coef_")
        return self._explain(X, 0)

    def __str__(self):
        check_is_fitted(self, "coef_")
        header = f"ConceptRegressor: {counted(len(self.concepts_), 'concept')}, measured by {self.measurer_.name}"
        return self._format([0], header, ["prediction"])

    def _repr_html_(self):
        if not hasattr(self, "coef_"):
            return html.escape(repr(self))
        return self._format([0], f"ConceptRegressor ({counted(len(self.concepts_), 'concept')})", ["prediction"], html_out=True)
