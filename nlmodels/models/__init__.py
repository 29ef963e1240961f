"""The public estimators, and the model file (``to_json`` / ``load``) they own."""

from ._document import ESTIMATORS, from_dict, load, to_dict, to_json
from .auglinear import AugLinearClassifier, AugLinearRegressor
from .concept import ConceptClassifier, ConceptRegressor, QuestionEmbedder
from .rules import ConceptTreeClassifier, RuleListClassifier

__all__ = ["ESTIMATORS", "AugLinearClassifier", "AugLinearRegressor", "ConceptClassifier", "ConceptRegressor",
           "ConceptTreeClassifier", "QuestionEmbedder", "RuleListClassifier", "from_dict", "load", "to_dict",
           "to_json"]
