"""The public estimators."""

from .concept import ConceptClassifier, ConceptRegressor, QuestionEmbedder

__all__ = ["ConceptClassifier", "ConceptRegressor", "QuestionEmbedder"]
