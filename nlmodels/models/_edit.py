"""Expert edits: remove concepts, add concepts a person wrote, refit only the head.

``model.edit(remove=[...], add=[...], author="...")`` returns a copy whose concepts are changed and
whose head is cleared; ``.refit_head(X, y)`` measures what is new, refits the sparse head on the
same settings and records the edit in ``edits_`` (shown on the model card and written to the JSON).

What is re-measured: with ``measure="embedding"`` only the added concepts get new probes and bounds
(texts' embeddings come from the cache); with ``measure="distill"`` only the added questions are put
to the chat model (for ``n_distill`` of the texts given); with ``measure="llm"`` all concepts are
asked in one prompt per text, so adding a question changes every prompt and every text is asked
again; a removal alone keeps the prompts, and their cached answers, unchanged.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import numpy as np

from .._validation import check_texts_labels
from ..concepts import Concept, check_phrases, describe_phrases
from ._pipeline import training_summary

__all__ = ["as_concept", "edit", "refit_head"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def as_concept(spec) -> Concept:
    """A concept written by a person: a question or description (str), a list of phrases, a dict
    (``{"text": ..., "phrases": [...]}``) or a :class:`~nlmodels.Concept`."""
    if isinstance(spec, Concept):
        return spec
    if isinstance(spec, str):
        return Concept(" ".join(spec.split()), (), "expert")
    if isinstance(spec, dict):
        phrases = tuple(spec.get("phrases") or ())
        return Concept(spec.get("text") or describe_phrases(phrases), phrases, spec.get("source", "expert"),
                       spec.get("target"))
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(p, str) for p in spec):
        phrases = tuple(" ".join(p.lower().split()) for p in spec)
        return Concept(describe_phrases(phrases), phrases, "expert")
    raise TypeError(f"cannot make a concept from {spec!r}: give a question (str), a list of phrases, "
                    "a dict with 'text'/'phrases', or a Concept")


def _find(model, spec) -> int:
    names = model.concept_names()
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if not 0 <= spec < len(names):
            raise ValueError(f"no concept number {spec}: the model has {len(names)} (0 to {len(names) - 1})")
        return int(spec)
    if isinstance(spec, Concept):
        matches = [k for k, c in enumerate(model.concepts_) if c == spec]
    else:
        text = str(spec)
        matches = [k for k, n in enumerate(names) if n == text] or [
            k for k, c in enumerate(model.concepts_) if c.text == text]
    if not matches:
        shown = "\n  ".join(f"{k}: {n}" for k, n in enumerate(names))
        raise ValueError(f"no concept {spec!r} in the model; its concepts are:\n  {shown}")
    return matches[0]


def edit(model, remove=(), add=(), *, author: str | None = None, note: str | None = None):
    """A copy of ``model`` with concepts removed and added; its head must be refitted.

    Parameters
    ----------
    model : fitted ConceptClassifier or ConceptRegressor
    remove : list of str, int or Concept
        Concepts to drop: by name (as printed / ``concept_names()``), by text, or by number (its
        place in ``concepts_`` and in the model file, from 0: the ``#`` on the model card; not
        its line in the printed model, which sorts by weight).
    add : list of str, list of phrases, dict or Concept
        Concepts to add: a question (``"Does the text ask for money?"``), a list of phrases
        (``["refund", "money back"]``; the text contains one of them), or a Concept.
    author, note : str
        Who made the edit and why; recorded in ``edits_``.

    Returns
    -------
    A copy whose head is cleared: call ``refit_head(X, y)`` on it (the original is untouched).
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "coef_")
    if isinstance(remove, (str, int, Concept)):
        remove = [remove]
    if isinstance(add, (str, Concept, dict)):
        add = [add]
    drop = sorted({_find(model, spec) for spec in remove})
    added = [as_concept(spec) for spec in add]
    for i, concept in enumerate(added):
        check_phrases(concept.phrases, f"add[{i}]")
    existing = {c.text for c in model.concepts_}
    for concept in added:
        if concept.text in existing:
            raise ValueError(f"the model already has the concept {concept.text!r}")
    if len(drop) == len(model.concepts_) and not added:
        raise ValueError("an edit must leave at least one concept")
    if not drop and not added:
        raise ValueError("nothing to edit: give remove=[...] and/or add=[...]")
    if any(c.is_prototype for c in added):
        raise ValueError("prototype concepts are measured from the training labels; they cannot be added by an "
                         "edit (fit the model again with prototypes=True)")
    if added and not hasattr(model.measurer_, "extend"):
        raise TypeError(f"adding concepts is not supported with a {type(model.measurer_).__name__}")

    shared = {id(model.embedder_): model.embedder_}
    if getattr(model, "embedder", None) is not None:
        shared[id(model.embedder)] = model.embedder
    new = copy.deepcopy(model, memo=shared)
    removed_names = [model.concept_names()[k] for k in drop]
    keep = np.array([k for k in range(len(model.concepts_)) if k not in set(drop)], dtype=int)
    new.concepts_ = [new.concepts_[k] for k in keep]
    new.measurer_.select(keep)
    for attribute in ("coef_", "intercept_"):
        delattr(new, attribute)
    new.edits_ = list(getattr(model, "edits_", [])) + [{
        "date": _now(), "author": author, "note": note, "removed": removed_names,
        "added": [c.text for c in added], "refit": None,
    }]
    new._pending_edit = {"added": added}
    return new


def _measure_added(model, texts, E, added: list[Concept]) -> None:
    """Fit the measurement of the added concepts and append them to the model's concepts."""
    model.measurer_.extend(texts, E, added)
    model.concepts_ = list(model.concepts_) + added


def refit_head(model, X, y):
    """Refit only the head of ``model`` (in place; returns it), measuring only what an edit added.

    Called after :func:`edit`, it completes the edit; called on a fitted model, it refits the
    head on new data (recorded as an edit too). The sparse head may give an added concept no
    weight; the edit history then lists it under ``dropped``.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "measurer_")
    texts, y = check_texts_labels(X, y, regression=model._regression)
    pending = getattr(model, "_pending_edit", None)
    if pending is None:
        model.edits_ = list(getattr(model, "edits_", [])) + [{
            "date": _now(), "author": None, "note": "head refitted", "removed": [], "added": [], "refit": None}]
        pending = {"added": []}
    E = model._embed(texts)
    if pending["added"]:
        _measure_added(model, texts, E, pending["added"])
    before = model.concept_names()
    labelled = getattr(model.measurer_, "labelled_transform", None)   # a probe that learnt labels: cross-fitted
    F = model._fill_missing(labelled(texts, E, y) if labelled else model.measurer_.transform(texts, E))
    if not model._regression:
        model.classes_ = np.unique(y)
    gated_before = list(getattr(model, "gated_concepts_", []))
    model._fit_head_step(F, y)
    # concepts the fit left out for failing their gate are no longer measured, so the head step cannot list
    # them again: the printed model keeps saying they were not measured faithfully
    listed = {g["concept"] for g in model.gated_concepts_} | set(model.concept_names())
    model.gated_concepts_ = model.gated_concepts_ + [g for g in gated_before if g["concept"] not in listed]
    if getattr(model, "surrogate_of_", None):   # its agreement with the black box was measured on the old head
        model.surrogate_of_ = {**model.surrogate_of_, "head_refitted": True}
    after = set(model.concept_names())
    entry = dict(model.edits_[-1])
    entry["refit"] = {"date": _now(), "n_texts": len(texts), "concepts": len(model.concepts_),
                      "dropped": [n for n in before if n not in after],
                      "training": training_summary(texts, y, model._regression)}   # what the head now rests on
    model.edits_ = model.edits_[:-1] + [entry]
    model._pending_edit = None
    return model
