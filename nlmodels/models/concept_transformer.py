"""``ConceptTransformer``: the propose + measure part of the concept models as a scikit-learn transformer."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import check_texts_labels
from ._contract import CONCEPT_LINEAR
from ._document import register
from ._pipeline import PARAMETERS_DOC, ConceptPipeline, drop_param_doc, store_params

__all__ = ["ConceptTransformer", "QuestionEmbedder"]


@register
class ConceptTransformer(ConceptPipeline, TransformerMixin, BaseEstimator):
    _parameter_constraints = {**{k: v for k, v in CONCEPT_LINEAR.items() if k != "prototypes"},
                              "regression": ["boolean"]}

    __doc__ = f"""A scikit-learn transformer: ``fit`` proposes concepts, ``transform`` measures them.

    Put it in a Pipeline before any model. Output columns are concepts (times signals for
    ``measure="embedding"``: ``similar`` and ``mentions``); :meth:`get_feature_names_out` names them.
    ``max_concepts`` is not applied here (no head chooses); the proposer decides how many there are.

    Parameters
    ----------{drop_param_doc(PARAMETERS_DOC, "prototypes")}
    regression : bool, default=False
        Treat ``y`` as a numeric target when proposing concepts.

    Attributes
    ----------
    concepts_ : list of Concept
    measurer_ : the fitted measurer; ``measurer_.signals`` names the columns of each concept.
    measure_ : str
        The measurement ``measure="auto"`` resolved to.
    embedder_ : the embedder used.
    fill_values_ : ndarray
        Each column's training mean, which replaces a missing score (a failed chat call).
    groups_per_class_ : int
        Phrase groups mined per class (offline proposer).
    fidelity_ : DataFrame
        One row per output column: how its measurement was checked on held-out texts and whether it
        passed its gate (see nlmodels.concepts.fidelity). No head chooses here, so a column that failed
        is output too: keep ``fidelity_.passed != False`` columns before a model that should only see
        faithful ones.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline                       # doctest: +SKIP
    >>> from sklearn.linear_model import LogisticRegression              # doctest: +SKIP
    >>> pipe = make_pipeline(ConceptTransformer(), LogisticRegression()).fit(texts, labels)  # doctest: +SKIP
    """

    def __init__(self, llm=None, *, embedder=None, measure="auto", max_concepts=30, concepts=None,
                 proposer="auto", n_rounds=1, questions_per_round=10, n_distill=200, gated="drop", recheck=0,
                 phrases_per_class="auto", groups_per_class="auto", on_error="raise", n_jobs=None, random_state=0,
                 regression=False):
        store_params(self, locals())

    def fit(self, X, y):
        """Propose concepts on texts ``X`` with labels (or targets) ``y`` and fit their measurement;
        returns ``self``."""
        self._check_contract()
        self._regression = self.regression
        texts, y = check_texts_labels(X, y, regression=self.regression)
        _, F = self._propose_and_measure(texts, y)
        self._fill_missing(F)
        self.n_features_in_ = 1
        return self

    def transform(self, X):
        """Scores of texts ``X`` on every concept: shape (n_texts, n_concepts * n_signals), in [0, 1]."""
        check_is_fitted(self, "measurer_")
        return self._measure(X)

    def get_feature_names_out(self, input_features=None):
        """The column names of :meth:`transform`: ``"<concept> [<signal>]"`` (or the concept alone)."""
        check_is_fitted(self, "measurer_")
        signals = self.measurer_.signals
        names = self.concept_names()
        if len(signals) == 1:
            return np.array(names, dtype=object)
        return np.array([f"{n} [{s}]" for n in names for s in signals], dtype=object)


@register
class QuestionEmbedder(ConceptTransformer):
    """Deprecated name of :class:`ConceptTransformer` (it has no ``encode``: it is not an Embedder).

    Works as before and warns at ``fit``; the name will be removed in a later release.
    """

    def fit(self, X, y):
        warnings.warn("QuestionEmbedder is now ConceptTransformer; the old name will be removed",
                      DeprecationWarning, stacklevel=2)
        return super().fit(X, y)
