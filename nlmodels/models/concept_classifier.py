"""``ConceptClassifier``: a text classifier that is a short list of natural-language concepts with weights."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .._codec import counted, label_text
from ._document import register
from ._head import MANY_CLASSES, LinearDecisionMixin
from ._linear import ATTRIBUTES_DOC, LinearConceptModel
from ._pipeline import DEFAULT_CONCEPTS, PARAMETERS_DOC

__all__ = ["ConceptClassifier"]


@register
class ConceptClassifier(LinearDecisionMixin, ClassifierMixin, LinearConceptModel):
    __doc__ = f"""A text classifier that is a short list of natural-language concepts with weights.

    Concepts are proposed (mined phrase groups offline, or questions from a chat model), every
    text is scored on each in [0, 1], and an L1-selected logistic regression over the scores, each
    weight bounded to the sign of its concept's association with the class, keeps
    at most ``max_concepts`` of them. ``print(model)`` shows the whole model; :meth:`explain` gives
    each concept's contribution to each prediction, adding up exactly to :meth:`decision_function`.

    Parameters
    ----------{PARAMETERS_DOC}
    Attributes
    ----------
    classes_ : ndarray
{ATTRIBUTES_DOC.format(rows="1 or n_classes", toward=" (binary: toward ``classes_[1]``)",
                       support="classes split", balance="class balance")}    Examples
    --------
    >>> clf = ConceptClassifier(max_concepts=10).fit(texts, labels)     # doctest: +SKIP
    >>> print(clf)                                                       # doctest: +SKIP
    >>> clf.explain(["a dull, lifeless film"])                           # doctest: +SKIP
    """

    def fit(self, X, y):
        """Propose concepts, measure them, check their fidelity and fit the sign-bounded sparse head.

        Parameters
        ----------
        X : list, numpy array or pandas Series of str
        y : array-like of labels (any hashable type), one per text

        Returns
        -------
        self
        """
        return self._fit(X, y)

    def decision_function(self, X):
        """The decision values: shape (n,) toward ``classes_[1]`` for two classes, else
        (n, n_classes); ``intercept_`` plus each concept's scores times its weights."""
        check_is_fitted(self, "coef_")
        F = self._measure(X)
        scores = np.stack([self.intercept_[r] + self._contributions(F, r).sum(axis=1)
                           for r in range(len(self.intercept_))], axis=1)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def explain(self, X, target=None) -> pd.DataFrame:
        """Each concept's contribution to each text's decision value, plus the intercept.

        Binary: the decision value toward ``classes_[1]`` (``target`` may be omitted). Multiclass:
        ``target`` picks the class (default: the first class). Row sums equal
        ``decision_function`` (that class's column for multiclass).
        """
        return self._explain(X, self._row(target))

    def _rows(self):
        if len(self.classes_) == 2:
            return [0], [f"score toward {label_text(self.classes_[1], quoted=True)} (below 0: {label_text(self.classes_[0], quoted=True)})"]
        return list(range(len(self.classes_))), [f"class {label_text(c, quoted=True)}" for c in self.classes_]

    def __str__(self):
        check_is_fitted(self, "coef_")
        header = (f"ConceptClassifier: {counted(len(self.concepts_), 'concept')}, measured by {self.measurer_.name}; "
                  f"classes {', '.join(label_text(c, quoted=True) for c in self.classes_)}")
        cv = getattr(self, "concept_budget_cv_", None)
        if cv:
            header += (f"\nconcept budget {self.max_concepts_} chosen by {cv['folds']}-fold cross-validation that "
                       f"mines inside each fold (max_concepts='auto')")
            if cv.get("mined_phrases") is False:
                header += (f"; it chose the prototypes alone (held-out accuracy {cv['prototypes_alone_accuracy']:.3f} "
                           f"against at most {max(cv['accuracy']):.3f} with mined phrases), so no mined phrase "
                           "concept carries weight")
        elif self.max_concepts == "auto" and self.max_concepts_ > DEFAULT_CONCEPTS:
            header += f"\nconcept budget {self.max_concepts_}: two per class (max_concepts='auto')"
        if len(self.classes_) > MANY_CLASSES:
            header += (f"\nmore than {MANY_CLASSES} classes: a concept mined from a class's texts, or its prototype, "
                       "weighs toward that class only")
        rows, titles = self._rows()
        return self._format(rows, header, titles)

    def _repr_html_(self):
        if not hasattr(self, "coef_"):
            return html.escape(repr(self))
        rows, titles = self._rows()
        return self._format(rows, f"ConceptClassifier ({counted(len(self.concepts_), 'concept')})", titles, html_out=True)
