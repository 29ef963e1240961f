"""The scikit-learn contract, declared once: parameter constraints and the text-input tags.

Each estimator declares ``_parameter_constraints`` (scikit-learn's own constraint objects) and
checks them at the top of ``fit``, before any embedding or chat call, through
:meth:`TextEstimatorMixin._check_contract`; a bad value raises scikit-learn's
``InvalidParameterError`` (a ``ValueError``) naming the parameter, the allowed values and the value
given. The shared concept pipeline's parameters are declared here once.
"""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

__all__ = ["CONCEPT_PIPELINE", "N_JOBS", "TextEstimatorMixin", "positive_int", "non_negative_int"]

positive_int = Interval(Integral, 1, None, closed="left")
non_negative_int = Interval(Integral, 0, None, closed="left")
#: joblib's n_jobs: a positive count, a negative one (-1: every core), or None; 0 means nothing to joblib.
N_JOBS = [positive_int, Interval(Integral, None, -1, closed="right"), None]

#: Parameters every concept estimator (classifier, regressor, transformer, rule list, tree) shares.
CONCEPT_PIPELINE = {
    "llm": [HasMethods(["structured"]), None],
    "embedder": [HasMethods(["encode"]), None],
    "measure": [StrOptions({"auto", "embedding", "llm", "distill"})],
    "concepts": [list, tuple, None],
    "proposer": [StrOptions({"auto", "phrases", "llm"})],
    "n_rounds": [positive_int],
    "questions_per_round": [positive_int],
    "n_distill": [positive_int],
    "phrases_per_class": [positive_int, StrOptions({"auto"})],
    "groups_per_class": [positive_int, StrOptions({"auto"})],
    "on_error": [StrOptions({"raise", "missing"})],
    "n_jobs": N_JOBS,
    "random_state": [non_negative_int],
}

#: What the linear concept models add.
CONCEPT_LINEAR = {
    **CONCEPT_PIPELINE,
    "max_concepts": [positive_int, StrOptions({"auto"})],
    "gated": [StrOptions({"drop", "llm"})],
    "recheck": [non_negative_int],
    "prototypes": [StrOptions({"auto", "embedding"}), "boolean"],
}


class TextEstimatorMixin:
    """Tags that say the input is a 1-d sequence of texts, and the parameter check of ``fit``."""

    _parameter_constraints: dict = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.categorical = False
        return tags

    def _check_contract(self) -> None:
        """Raise ``InvalidParameterError`` (a ``ValueError``) for any parameter outside its constraint."""
        self._validate_params()
