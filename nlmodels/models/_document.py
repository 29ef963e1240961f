"""The fitted model as plain JSON, and back: :func:`to_json`, :func:`load`.

The document (described field by field in ``docs/model-json-schema.json``) holds everything that
prediction uses, as numbers a person can read, plus the record an auditor needs: library version,
embedder identity (name, weights hash), chat-model identity (model name, server; never a key),
training-data summary and edit history. Loading rebuilds an estimator that computes the same numbers
bit for bit: arrays keep their dtype and memory order, floats are written so they read back exactly.

Every estimator owns its state through two methods::

    def _export_state(self) -> dict: ...            # JSON-ready; arrays through nlmodels._codec
    @classmethod
    def _from_state(cls, state, *, llm, embedder): ...  # the estimator, fitted

and :func:`from_dict` finds the class in the registry :data:`ESTIMATORS` (every public estimator of
:mod:`nlmodels.models`), by the name the file records.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from .._codec import plain
from .._version import __version__

__all__ = ["ESTIMATORS", "FORMAT", "FORMAT_VERSION", "from_dict", "load", "register", "to_dict", "to_json"]

FORMAT = "nlmodels.model"
FORMAT_VERSION = 1

#: name -> estimator class, filled by :func:`register` as the estimator modules are imported.
ESTIMATORS: dict[str, type] = {}


def register(cls):
    """Class decorator: the estimator can be loaded from a model file."""
    ESTIMATORS[cls.__name__] = cls
    return cls


def _estimator_class(name: str):
    cls = ESTIMATORS.get(name)
    if cls is None:
        raise ValueError(f"unknown estimator {name!r} in the model file (this nlmodels {__version__} has "
                         f"{', '.join(sorted(ESTIMATORS))})")
    return cls


def to_dict(model) -> dict:
    """The fitted model as a JSON-ready dict (see the module docstring)."""
    if getattr(model, "_pending_edit", None):
        raise ValueError("this model has an edit waiting for refit_head(X, y); refit the head before exporting")
    if hasattr(model, "_export_state"):
        state = model._export_state()
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
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"not an nlmodels model file (expected \"format\": {FORMAT!r})")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"the file has format version {doc['format_version']}; this nlmodels ({__version__}) "
                         f"reads up to {FORMAT_VERSION}: upgrade nlmodels")
    cls = _estimator_class(doc["estimator"])
    model = cls._from_state(doc, llm=llm, embedder=embedder)
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
