"""nlmodels: text classifiers and regressors a person can read end to end."""

from ._version import __version__
from .embed import Embedder, OpenAIEmbedder, SentenceTransformerEmbedder
from .concepts import Concept
from .llm import (BudgetExceededError, CallCache, ChatModel, CostEstimate, LLMBatchError, LLMError,
                  MissingAnswerWarning, Usage)
from .models import AugLinearClassifier, AugLinearRegressor
from .models import ConceptClassifier, ConceptRegressor, ConceptTransformer, QuestionEmbedder

__all__ = [
    "AugLinearClassifier",
    "AugLinearRegressor",
    "BudgetExceededError",
    "CallCache",
    "ChatModel",
    "Concept",
    "CostEstimate",
    "ConceptClassifier",
    "ConceptRegressor",
    "ConceptTransformer",
    "Embedder",
    "LLMBatchError",
    "LLMError",
    "MissingAnswerWarning",
    "OpenAIEmbedder",
    "QuestionEmbedder",
    "SentenceTransformerEmbedder",
    "Usage",
    "__version__",
]

from . import report  # noqa: E402,F401  (registers the card and plot renderers the estimators offer)
from .models import load  # noqa: E402  (reads a model written by model.to_json)

__all__.append("load")
from .models import ConceptTreeClassifier, RuleListClassifier  # noqa: E402
__all__ += ["ConceptTreeClassifier", "RuleListClassifier"]
from .explain import DifferenceReport, ModelExplanation, explain_difference, explain_model  # noqa: E402
__all__ += ["DifferenceReport", "ModelExplanation", "explain_difference", "explain_model"]
