"""The fitted model as plain JSON, and back: :func:`to_json`, :func:`load`.

The document (described field by field in ``docs/model-json-schema.json``) holds everything that
prediction uses, as numbers a person can read, plus the record an auditor needs: library version,
embedder identity (name, weights hash), chat-model identity (model name, server; never a key),
training-data summary and edit history. Loading rebuilds an estimator that computes the same numbers
bit for bit: arrays keep their dtype and memory order, floats are written so they read back exactly.

Estimators plug in through two methods::

    def _export_state(self) -> dict: ...            # JSON-ready; arrays through encode_array
    @classmethod
    def _from_state(cls, state, *, llm, embedder): ...  # the estimator, fitted

and are found at load time by class name in :mod:`nlmodels.models`. ConceptClassifier,
ConceptRegressor and QuestionEmbedder are handled by :mod:`nlmodels.report.concept_state`;
RuleListClassifier and ConceptTreeClassifier define the two methods on top of its concept pipeline
(``pipeline_state``/``rebuild_pipeline``), AugLinearClassifier and AugLinearRegressor on their own.
"""

from __future__ import annotations

import json
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__

__all__ = ["FORMAT", "FORMAT_VERSION", "decode_array", "encode_array", "from_dict", "load", "to_dict", "to_json"]

FORMAT = "nlmodels.model"
FORMAT_VERSION = 1


# ---------------------------------------------------------------------- arrays and values
def _short_floats(a: np.ndarray) -> np.ndarray:
    """float32 values as the shortest decimals that read back to the same float32 (else exact)."""
    flat = a.ravel()
    short = np.array([float(str(v)) for v in flat], dtype=np.float64)
    exact = short.astype(a.dtype) == flat
    return np.where(exact, short, flat.astype(np.float64)).reshape(a.shape)


def encode_array(a) -> dict:
    """``{"dtype", "shape", "order", "data"}`` with ``data`` as nested lists of plain numbers.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"`` (JSON has no such numbers).
    """
    a = np.asarray(a)
    order = "F" if a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous else "C"
    if a.dtype.kind == "f":
        values = _short_floats(a) if a.dtype == np.float32 else a.astype(np.float64)
        if np.isfinite(values).all():
            data = values.tolist()
        else:
            data = np.vectorize(lambda v: v if np.isfinite(v) else str(v), otypes=[object])(values).tolist()
    elif a.dtype.kind in "biu":
        data = a.tolist()
    else:
        raise TypeError(f"cannot export an array of dtype {a.dtype}")
    return {"dtype": a.dtype.str if a.dtype.kind != "b" else "bool", "shape": list(a.shape), "order": order,
            "data": data}


def decode_array(d: dict) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    data = d["data"]
    if dtype.kind == "f":
        a = np.array(data, dtype=object)
        a = np.array([float(v) for v in a.ravel()], dtype=np.float64).reshape(a.shape).astype(dtype)
    else:
        a = np.array(data, dtype=dtype)
    a = a.reshape(d["shape"])
    return np.asfortranarray(a) if d.get("order") == "F" else np.ascontiguousarray(a)


def plain(value: Any) -> Any:
    """A value as plain JSON (numpy scalars and arrays to numbers and lists, tuples to lists)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    return str(value)


def encode_labels(values) -> dict:
    """Class labels with their numpy dtype, so ``predict`` returns the same type after loading."""
    a = np.asarray(values)
    if a.dtype.kind == "O":
        kinds = {type(v).__name__ for v in a}
        if not all(isinstance(v, (str, int, float, bool, np.generic)) for v in a):
            warnings.warn(f"class labels of type {kinds} are written as strings", stacklevel=3)
        return {"dtype": "object", "values": [plain(v) for v in a]}
    return {"dtype": a.dtype.str, "values": plain(a.tolist())}


def decode_labels(d: dict) -> np.ndarray:
    if d["dtype"] == "object":
        out = np.empty(len(d["values"]), dtype=object)
        out[:] = d["values"]
        return out
    return np.array(d["values"], dtype=np.dtype(d["dtype"]))


# ---------------------------------------------------------------------- embedder and chat model
def embedder_record(embedder) -> dict:
    """What identifies the embedder (``identity``: name, weights hash ...) and the settings that
    rebuild it. Never a key: OpenAI-compatible embedders give only model name and server."""
    from ..embed import OpenAIEmbedder, SentenceTransformerEmbedder

    record = {"class": type(embedder).__name__, "identity": plain(embedder.identity)}
    if isinstance(embedder, SentenceTransformerEmbedder):
        record["settings"] = {"model": embedder.model, "device": embedder.device,
                              "batch_size": embedder.batch_size, "normalize": embedder.normalize}
    elif isinstance(embedder, OpenAIEmbedder):
        record["settings"] = {"model": embedder.model, "base_url": embedder.identity["server"],
                              "dimensions": embedder.dimensions, "batch_size": embedder.batch_size,
                              "normalize": embedder.normalize}
    else:
        record["settings"] = None  # load(..., embedder=...) must supply it
    return record


def rebuild_embedder(record: dict, given=None):
    from ..embed import OpenAIEmbedder, SentenceTransformerEmbedder

    if given is not None:
        embedder = given
    elif record["class"] == "SentenceTransformerEmbedder" and record.get("settings"):
        embedder = SentenceTransformerEmbedder(**record["settings"])
    elif record["class"] == "OpenAIEmbedder" and record.get("settings"):
        embedder = OpenAIEmbedder(**record["settings"])
    else:
        raise ValueError(
            f"the model was fitted with a {record['class']} ({record['identity']}), which cannot be rebuilt "
            "from the file: pass it as load(path, embedder=...)"
        )
    identity = plain(embedder.identity)
    if identity != record["identity"]:
        warnings.warn(
            f"the embedder differs from the one the model was fitted with: fitted with {record['identity']}, "
            f"now {identity}; predictions may differ", stacklevel=3,
        )
    return embedder


def chat_model_record(llm) -> dict | None:
    """Model name and server (``ChatModel.identity``) and the settings that change answers; never a key."""
    if llm is None:
        return None
    record = dict(llm.identity)
    for name in ("temperature", "seed", "max_tokens"):
        if hasattr(llm, name):
            record[name] = plain(getattr(llm, name))
    return record


def rebuild_chat_model(record: dict | None, given=None):
    """``given`` wins (e.g. a client with its own key or an Azure client); otherwise a ChatModel
    for the recorded model and server, whose key comes from ``OPENAI_API_KEY`` when it is used."""
    if record is None:
        return given
    if given is not None:
        if dict(given.identity) != {"model": record["model"], "server": record["server"]}:
            warnings.warn(f"the chat model differs from the recorded one ({record['model']} at "
                          f"{record['server']}): answers, and so predictions, may differ", stacklevel=3)
        return given
    from ..llm import ChatModel

    options = {k: record[k] for k in ("temperature", "seed", "max_tokens") if k in record}
    return ChatModel(record["model"], base_url=record["server"], **options)


# ---------------------------------------------------------------------- the document
def _estimator_class(name: str):
    from .. import models

    cls = getattr(models, name, None)
    if cls is None:
        raise ValueError(f"unknown estimator {name!r} in the model file (this nlmodels {__version__} has "
                         f"{', '.join(models.__all__)})")
    return cls


def to_dict(model) -> dict:
    """The fitted model as a JSON-ready dict (see the module docstring)."""
    from . import concept_state

    if getattr(model, "_pending_edit", None):
        raise ValueError("this model has an edit waiting for refit_head(X, y); refit the head before exporting")
    if hasattr(model, "_export_state"):
        state = model._export_state()
    elif concept_state.handles(model):
        state = concept_state.export_state(model)
    else:
        raise TypeError(f"{type(model).__name__} cannot be exported to JSON yet (it has no _export_state)")
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library": {"name": "nlmodels", "version": __version__},
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "estimator": type(model).__name__,
    }
    doc.update(state)
    doc.setdefault("training_data", plain(getattr(model, "training_", None)))
    doc.setdefault("edits", plain(getattr(model, "edits_", [])))
    return doc


def to_json(model, path: str | os.PathLike | None = None, *, indent: int | None = 1) -> str:
    """Write the model as JSON to ``path`` (returns the path) or return the JSON text."""
    text = json.dumps(to_dict(model), indent=indent, ensure_ascii=False, allow_nan=False)
    if path is None:
        return text
    Path(path).write_text(text + "\n", encoding="utf-8")
    return str(path)


def from_dict(doc: dict, *, llm=None, embedder=None):
    """Rebuild a fitted estimator from :func:`to_dict`'s output."""
    from . import concept_state

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"not an nlmodels model file (expected \"format\": {FORMAT!r})")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"the file has format version {doc['format_version']}; this nlmodels ({__version__}) "
                         f"reads up to {FORMAT_VERSION}: upgrade nlmodels")
    cls = _estimator_class(doc["estimator"])
    if hasattr(cls, "_from_state"):
        model = cls._from_state(doc, llm=llm, embedder=embedder)
    elif concept_state.handles(cls):
        model = concept_state.from_state(cls, doc, llm=llm, embedder=embedder)
    else:
        raise TypeError(f"{cls.__name__} cannot be loaded from JSON yet (it has no _from_state)")
    if doc.get("training_data") is not None:
        model.training_ = doc["training_data"]
    model.edits_ = list(doc.get("edits") or [])
    return model


def load(path: str | os.PathLike, *, llm=None, embedder=None):
    """Load a model written by ``model.to_json(path)``.

    Parameters
    ----------
    path : str or path-like
    llm : ChatModel, default=None
        For models measured by a chat model: the client to use. ``None`` builds a
        :class:`~nlmodels.ChatModel` for the recorded model name and server; its key comes from
        ``OPENAI_API_KEY`` (the file never holds one).
    embedder : Embedder, default=None
        ``None`` rebuilds the recorded embedder; a warning is given if its identity (e.g. the hash
        of its weights) differs from the recorded one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    return from_dict(doc, llm=llm, embedder=embedder)
