"""Embedders: ``encode(texts) -> np.ndarray``, batched, cached and with progress."""

from .base import Embedder
from .openai import OpenAIEmbedder
from .sentence_transformer import SentenceTransformerEmbedder, bundled_minilm_path, export_onnx

__all__ = ["Embedder", "OpenAIEmbedder", "SentenceTransformerEmbedder", "bundled_minilm_path", "export_onnx"]
