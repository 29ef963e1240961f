"""Language-model access: the chat client, the persistent call cache, usage and budget."""

from .cache import CallCache, cache_key, default_cache_dir, get_cache
from .chat import ChatModel
from .errors import BudgetExceededError, LLMBatchError, LLMError, MissingAnswerWarning, Usage
from .cost import CostEstimate

__all__ = [
    "BudgetExceededError",
    "CallCache",
    "ChatModel",
    "CostEstimate",
    "LLMBatchError",
    "LLMError",
    "MissingAnswerWarning",
    "Usage",
    "cache_key",
    "default_cache_dir",
    "get_cache",
]
