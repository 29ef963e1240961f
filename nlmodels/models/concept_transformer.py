"""``ConceptTransformer``: the propose + measure part of the concept models as a scikit-learn transformer."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import check_texts_labels
from ._contract import CONCEPT_LINEAR
from ._document import register
from ._pipeline import PARAMETERS_DOC, ConceptPipeline, drop_param_doc, store_params

__all__ = ["ConceptTransformer", "QuestionEmbedder"]


@register
class ConceptTransformer(ConceptPipeline, TransformerMixin, BaseEstimator):
    _parameter_constraints = {**{k: v for k, v in CONCEPT_LINEAR.items() if k != "prototypes"},
                              "gated": [StrOptions({"drop", "llm", "keep"})], "regression": ["boolean"]}

    __doc__ = f"""A scikit-learn transformer: ``fit`` proposes concepts, ``transform`` measures them.

    Put it in a Pipeline before any model. Output columns are concepts (times signals for
    ``measure="embedding"``: ``similar`` and ``mentions``); :meth:`get_feature_names_out` names them.
    ``max_concepts`` is not applied here (no head chooses); the proposer decides how many there are.
    Only columns whose measurement passed its fidelity gate (or has none to pass) are output, unless
    ``gated="keep"``.

    Parameters
    ----------{drop_param_doc(PARAMETERS_DOC, "prototypes")}
    gated : {{"drop", "llm", "keep"}}, default="drop"
        Here: ``"drop"`` leaves a column whose measurement failed its fidelity gate out of
        :meth:`transform` (``output_columns_`` lists the ones kept); ``"llm"`` with
        ``measure="distill"`` has the chat model answer a question whose probe failed (so its column
        is kept, measured by the answer), other failed columns are left out as with ``"drop"``;
        ``"keep"`` outputs every column and names a failed one "... (not faithful)".
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
        One row per measured column (concept and signal): how its measurement was checked on held-out
        texts and whether it passed its gate (see nlmodels.concepts.fidelity).
    output_columns_ : list of int
        The measured columns :meth:`transform` outputs, in order (all of them with ``gated="keep"``).

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
        passed = self._column_gate()
        self.output_columns_ = [int(j) for j in (range(len(passed)) if self.gated == "keep" else np.flatnonzero(passed))]
        if not self.output_columns_:
            raise ValueError(f"no measured column passed its fidelity gate ({len(passed)} failed): there is nothing "
                             "faithful to output; see fidelity_, or pass gated='keep' to output them anyway")
        self.n_features_in_ = 1
        return self

    def _output(self) -> list[int]:
        """The measured columns transform outputs (a file written before the gate applied here: all)."""
        columns = getattr(self, "output_columns_", None)
        return list(range(len(self.concepts_) * self.n_signals_)) if columns is None else list(columns)

    def transform(self, X):
        """Scores of texts ``X`` on the concepts' measured columns that passed their fidelity gate
        (every one with ``gated="keep"``): shape (n_texts, len(output_columns_)), in [0, 1]."""
        check_is_fitted(self, "measurer_")
        return self._measure(X)[:, self._output()]

    def get_feature_names_out(self, input_features=None):
        """The column names of :meth:`transform`: ``"<concept> [<signal>]"`` (or the concept alone),
        with what its check found after a column not shown to measure its sentence: " (unverified)"
        (a written question scored offline: nothing here can check it), and, output only with
        ``gated="keep"``, " (not faithful)" (it failed its gate) or " (not measured: no phrases)" (a
        question's ``mentions``, always 0)."""
        check_is_fitted(self, "measurer_")
        signals = self.measurer_.signals
        names = self.concept_names()
        columns = names if len(signals) == 1 else [f"{n} [{s}]" for n in names for s in signals]
        notes = self._column_notes() if self.measurer_.fidelity_ else np.full(len(columns), "", dtype=object)
        return np.array([columns[j] + notes[j] for j in self._output()], dtype=object)

    def _column_notes(self) -> np.ndarray:
        """Per column, what its output name adds to say how far its measurement was checked."""
        def note(r):
            if r["metric"] == "absent":
                return " (not measured: no phrases)"
            return {True: "", None: " (unverified)", False: " (not faithful)"}[r["passed"]]
        return self._per_column(note, dtype=object)

    def _measurement_note(self) -> str:
        """What this transformer does with a column that failed its gate, after the measurer's sentence."""
        if getattr(self, "output_columns_", None) is None:
            return " ConceptTransformer: every measured column is output (a file written before the gate applied here)."
        notes = self._column_notes() if self.measurer_.fidelity_ else np.array([], dtype=object)
        failed = int(sum(n in (" (not faithful)", " (not measured: no phrases)") for n in notes))
        unverified = int(sum(n == " (unverified)" for n in notes))
        said = (f" {unverified} output column(s) are named '(unverified)': a written question scored offline, which "
                "nothing here can check." if unverified else "")
        if self.gated == "keep":
            return (f" ConceptTransformer(gated='keep'): every measured column is output; {failed} of them failed "
                    "their fidelity gate, named '(not faithful)', or have nothing to measure (a question's "
                    "mentions, always 0), named '(not measured: no phrases)'." + said)
        return (f" ConceptTransformer: the {failed} measured column(s) that failed their fidelity gate or have nothing "
                "to measure (a question's mentions) are left out of its output." + said)


@register
class QuestionEmbedder(ConceptTransformer):
    """Deprecated name of :class:`ConceptTransformer` (it has no ``encode``: it is not an Embedder).

    Works as before and warns at ``fit``; the name will be removed in a later release.
    """

    def fit(self, X, y):
        warnings.warn("QuestionEmbedder is now ConceptTransformer; the old name will be removed",
                      DeprecationWarning, stacklevel=2)
        return super().fit(X, y)
