"""Export and rebuild of the concept estimators (ConceptClassifier, ConceptRegressor, QuestionEmbedder),
and of the concept pipeline that RuleListClassifier and ConceptTreeClassifier share with them.

What the file holds for them (``docs/model-json-schema.json`` has every field):

- ``params``: the constructor parameters (``llm`` and ``embedder`` are recorded as identities in
  ``chat_model`` and ``embedder``);
- ``concepts``: the concepts that carry weight, in column order, each with its weights;
- ``measurer``: how scores are computed, with every array it needs (probe weights, centroids, the
  5th/95th percentile bounds; for ``measure="llm"`` the questions asked in the prompt);
- ``head``: ``coef`` and ``intercept`` on the raw scores, the values that replace missing scores,
  the link and the decision rule.

:func:`pipeline_state` and :func:`rebuild_pipeline` write and rebuild everything but the head; the
rule list and the tree (``nlmodels/models/rules.py``) use them for their own ``_export_state`` and
``_from_state`` and add their head.
"""

from __future__ import annotations

import numpy as np

from ..concepts import Concept, DistillMeasurer, EmbeddingMeasurer, LLMMeasurer
from .export import (chat_model_record, decode_array, decode_labels, embedder_record, encode_array,
                     encode_labels, plain, rebuild_chat_model, rebuild_embedder)

__all__ = ["export_state", "from_state", "handles", "measurement_text", "pipeline_state", "rebuild_pipeline"]

_NAMES = ("ConceptClassifier", "ConceptRegressor", "QuestionEmbedder")
# Fitted attributes that are plain values and are carried over as they are.
_SIMPLE_ATTRIBUTES = ("n_features_in_", "groups_per_class_", "measure_", "gated_concepts_", "support_")


def handles(model_or_class) -> bool:
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    return any(c.__name__ in _NAMES and c.__module__.startswith("nlmodels.") for c in cls.__mro__)


def _task(model) -> str:
    if type(model).__name__ == "QuestionEmbedder" or not hasattr(model, "coef_"):
        return "transform"
    return "regression" if model._regression else "classification"


def concept_record(concept: Concept) -> dict:
    return plain(concept.to_dict())


def measurement_text(model) -> str:
    """One sentence on how the scores are measured (shown on the card and in the JSON)."""
    m = model.measurer_
    if isinstance(m, EmbeddingMeasurer):
        emb = model.embedder_.identity.get("name") or model.embedder_.identity.get("model", "the embedder")
        parts = []
        if "similar" in m.signals:
            parts.append("'similar': a logistic probe on the text's embedding that recognises texts containing "
                         "one of the concept's phrases (for a written question: its rescaled cosine to the text)")
        if "close" in m.signals:
            parts.append("'close': cosine between the text and the concept, rescaled so the 5th-95th percentile "
                         "of training texts spans 0-1")
        if "mentions" in m.signals:
            parts.append("'mentions': 1 if the text contains one of the phrases (whole words, any case), else 0")
        return f"Embedding ({emb}), offline. Signals per concept: " + "; ".join(parts) + "."
    llm = model.llm.identity if getattr(model, "llm", None) is not None else {"model": "?", "server": "?"}
    if isinstance(m, DistillMeasurer):
        return (f"Distilled: the chat model {llm['model']} ({llm['server']}) answered every question yes/no for "
                f"{getattr(m, 'n_answered_', '?')} training texts; a logistic probe per question on the text "
                "embedding learned those answers, and each probe's agreement with the chat model on answered texts "
                "it was not fitted on is its fidelity. Probes that fail the gate "
                + ("are answered by the chat model itself (one call per predicted text)."
                   if getattr(m, "fallback_", None) is not None else
                   "carry no weight; prediction makes no chat call."))
    if isinstance(m, LLMMeasurer):
        return (f"Chat model: {llm['model']} ({llm['server']}) answers all {len(m.concepts_)} questions yes (1) "
                "or no (0) for each text in one call; missing answers are replaced by the training mean.")
    return f"{type(m).__name__}"


def _measurer_state(m) -> dict:
    return {**_measurer_arrays(m), "fidelity": plain(getattr(m, "fidelity_", []))}


def _measurer_arrays(m) -> dict:
    if isinstance(m, EmbeddingMeasurer):
        return {"type": "embedding", "signals": list(m.signals), "C": m.C,
                "centroids": encode_array(m.centroids_), "low": encode_array(m.low_), "high": encode_array(m.high_),
                "has_phrases": encode_array(m.has_phrases_), "probe_weights": encode_array(m.W_),
                "probe_bias": encode_array(m.b_)}
    if isinstance(m, DistillMeasurer):
        return {"type": "distill", "signals": list(m.signals), "C": m.C, "n_distill": m.n_distill,
                "random_state": plain(m.random_state), "on_error": m.on_error,
                "n_answered": plain(getattr(m, "n_answered_", None)), "gated": m.gated,
                "probe_weights": encode_array(m.W_), "probe_bias": encode_array(m.b_),
                "answered_by_llm": encode_array(m.answered_by_llm_),
                "fallback": None if m.fallback_ is None else {
                    **_measurer_arrays(m.fallback_), "column": encode_array(m.fallback_column_)}}
    if isinstance(m, LLMMeasurer):
        return {"type": "llm", "signals": list(m.signals), "max_chars": m.max_chars, "on_error": m.on_error,
                "recheck": m.recheck, "random_state": plain(m.random_state),
                "asked_concepts": [concept_record(c) for c in m.concepts_], "keep": encode_array(m.keep_)}
    raise TypeError(f"cannot export a {type(m).__name__}")


def _rebuild_measurer(state: dict, concepts: list[Concept], embedder, llm, n_jobs):
    m = _rebuild_arrays(state, concepts, embedder, llm, n_jobs)
    m.fidelity_ = list(state.get("fidelity") or [])
    return m


def _rebuild_arrays(state: dict, concepts: list[Concept], embedder, llm, n_jobs):
    kind = state["type"]
    if kind == "embedding":
        m = EmbeddingMeasurer(embedder, signals=tuple(state["signals"]), C=state["C"], n_jobs=n_jobs)
        m.concepts_ = list(concepts)
        m.centroids_, m.low_, m.high_ = (decode_array(state[k]) for k in ("centroids", "low", "high"))
        m.has_phrases_ = decode_array(state["has_phrases"])
        m.W_, m.b_ = decode_array(state["probe_weights"]), decode_array(state["probe_bias"])
        return m
    if llm is None:
        raise ValueError(f"this model is measured by a chat model (measure={kind!r}): pass load(path, llm=...)")
    if kind == "distill":
        m = DistillMeasurer(llm, n_distill=state["n_distill"], C=state["C"], random_state=state["random_state"],
                            on_error=state["on_error"], n_jobs=n_jobs, gated=state.get("gated", "drop"))
        m.concepts_ = list(concepts)
        m.W_, m.b_ = decode_array(state["probe_weights"]), decode_array(state["probe_bias"])
        m.answered_by_llm_ = decode_array(state["answered_by_llm"]) if "answered_by_llm" in state \
            else np.zeros(len(concepts), bool)
        m.fallback_ = None
        if state.get("fallback"):
            m.fallback_ = _rebuild_arrays(state["fallback"], [], embedder, llm, n_jobs)
            m.fallback_column_ = decode_array(state["fallback"]["column"])
        if state.get("n_answered") is not None:
            m.n_answered_ = state["n_answered"]
        return m
    if kind == "llm":
        m = LLMMeasurer(llm, max_chars=state["max_chars"], on_error=state["on_error"],
                        recheck=state.get("recheck", 0), random_state=state.get("random_state", 0))
        m.concepts_ = [Concept.from_dict(c) for c in state["asked_concepts"]]
        m.keep_ = decode_array(state["keep"])
        return m
    raise ValueError(f"unknown measurer type {kind!r} in the model file")


def _params(model) -> dict:
    params = model.get_params(deep=False)
    params["llm"] = None
    params["embedder"] = None
    if params.get("concepts") is not None:
        params["concepts"] = [concept_record(c) if isinstance(c, Concept) else str(c) for c in params["concepts"]]
    return plain(params)


def pipeline_state(model, *, task: str, printed: str | None, attributes=()) -> dict:
    """Everything but the head: params, embedder, chat model, measurement, concepts (in column
    order, without weights), measurer, plain fitted attributes (``_SIMPLE_ATTRIBUTES`` and
    ``attributes``), and the class labels of a classifier."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "measurer_")
    names = (*_SIMPLE_ATTRIBUTES, *attributes)
    state = {
        "task": task,
        "printed": printed,
        "params": _params(model),
        "embedder": embedder_record(model.embedder_),
        "chat_model": chat_model_record(getattr(model, "llm", None)),
        "measurement": measurement_text(model),
        "concepts": [{"index": k, "name": name, **concept_record(concept)}
                     for k, (concept, name) in enumerate(zip(model.concepts_, model.concept_names()))],
        "measurer": _measurer_state(model.measurer_),
        "attributes": {a: plain(getattr(model, a)) for a in names if hasattr(model, a)},
    }
    if task == "classification":
        state["classes"] = encode_labels(model.classes_)
    return state


def export_state(model) -> dict:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "measurer_")
    task = _task(model)
    state = pipeline_state(model, task=task, printed=str(model) if hasattr(model, "coef_") else None)
    signals = list(model.measurer_.signals)
    S = len(signals)
    if hasattr(model, "coef_"):
        for k, record in enumerate(state["concepts"]):
            block = model.coef_[:, k * S:(k + 1) * S]
            record["weights"] = {s: plain(block[:, j]) for j, s in enumerate(signals)}
            record["total_weight"] = plain(block.sum(axis=1))
    head = {"fill_values": encode_array(model.fill_values_)}
    if task != "transform":
        if task == "classification":
            binary = len(model.classes_) == 2
            head["link"] = "logistic" if binary else "softmax"
            head["decision_rule"] = (
                "decision = intercept[0] + scores @ coef[0]; predict classes[1] when decision > 0, else classes[0]; "
                "P(classes[1]) = 1 / (1 + exp(-decision))" if binary else
                "decision[c] = intercept[c] + scores @ coef[c]; predict the class with the largest decision; "
                "probabilities = softmax(decision)")
            if binary:
                head["threshold"] = 0.0
        else:
            head["link"] = "identity"
            head["decision_rule"] = "prediction = intercept[0] + scores @ coef[0]"
        head["coef"] = encode_array(model.coef_)
        head["intercept"] = encode_array(model.intercept_)
        head["score_columns"] = [f"{name} [{s}]" for name in model.concept_names() for s in signals]
    state["head"] = head
    return state


def rebuild_pipeline(cls, doc: dict, *, llm=None, embedder=None):
    """An instance of ``cls`` with everything :func:`pipeline_state` wrote (and ``fill_values_``
    from ``doc["head"]``) restored; the caller restores the rest of its head."""
    params = dict(doc["params"])
    if params.get("concepts") is not None:
        params["concepts"] = [Concept.from_dict(c) if isinstance(c, dict) else c for c in params["concepts"]]
    llm = rebuild_chat_model(doc.get("chat_model"), llm)
    embedder_ = rebuild_embedder(doc["embedder"], embedder)
    params["llm"] = llm
    params["embedder"] = embedder  # None unless the caller gave one: the default embedder is rebuilt anyway
    params = {k: v for k, v in params.items() if k in cls().get_params(deep=False)}
    model = cls(**params)
    model.embedder_ = embedder_
    model.concepts_ = [Concept.from_dict(c) for c in doc["concepts"]]
    model.measurer_ = _rebuild_measurer(doc["measurer"], model.concepts_, embedder_, llm, params.get("n_jobs"))
    model.fill_values_ = decode_array(doc["head"]["fill_values"])
    if doc["task"] == "classification":
        model.classes_ = decode_labels(doc["classes"])
    for name, value in (doc.get("attributes") or {}).items():
        setattr(model, name, value)
    return model


def from_state(cls, doc: dict, *, llm=None, embedder=None):
    model = rebuild_pipeline(cls, doc, llm=llm, embedder=embedder)
    if doc["task"] != "transform":
        head = doc["head"]
        model.coef_ = decode_array(head["coef"])
        model.intercept_ = decode_array(head["intercept"])
    else:
        model._regression = bool(doc["params"].get("regression", False))
    return model
