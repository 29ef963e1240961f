"""The public estimators."""

from .auglinear import AugLinearClassifier, AugLinearRegressor
from .concept import ConceptClassifier, ConceptRegressor, QuestionEmbedder

__all__ = ["AugLinearClassifier", "AugLinearRegressor", "ConceptClassifier", "ConceptRegressor", "QuestionEmbedder"]
from .rules import ConceptTreeClassifier, RuleListClassifier  # noqa: E402
__all__ += ["ConceptTreeClassifier", "RuleListClassifier"]
