"""The public estimators, and the model file (``to_json`` / ``load``) they own."""

from ._document import ESTIMATORS, from_dict, load, to_dict, to_json
from .auglinear_classifier import AugLinearClassifier
from .auglinear_regressor import AugLinearRegressor
from .concept_classifier import ConceptClassifier
from .concept_regressor import ConceptRegressor
from .concept_transformer import ConceptTransformer, QuestionEmbedder
from .concept_tree import ConceptTreeClassifier
from .rule_list import RuleListClassifier

__all__ = ["ESTIMATORS", "AugLinearClassifier", "AugLinearRegressor", "ConceptClassifier", "ConceptRegressor",
           "ConceptTransformer", "ConceptTreeClassifier", "QuestionEmbedder", "RuleListClassifier", "from_dict", "load", "to_dict",
           "to_json"]
