"""nlmodels: text classifiers and regressors a person can read end to end."""

from ._version import __version__
from .embed import Embedder, OpenAIEmbedder, SentenceTransformerEmbedder
from .llm import BudgetExceededError, CallCache, ChatModel, LLMBatchError, LLMError, Usage

__all__ = [
    "BudgetExceededError",
    "CallCache",
    "ChatModel",
    "Embedder",
    "LLMBatchError",
    "LLMError",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "Usage",
    "__version__",
]
