"""The public estimators."""

from .concept import ConceptClassifier, ConceptRegressor, QuestionEmbedder

__all__ = ["ConceptClassifier", "ConceptRegressor", "QuestionEmbedder"]
from .rules import ConceptTreeClassifier, RuleListClassifier  # noqa: E402
__all__ += ["ConceptTreeClassifier", "RuleListClassifier"]
