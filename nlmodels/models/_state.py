"""The model-file state of the concept estimators (ConceptClassifier, ConceptRegressor,
ConceptTransformer), and of the concept pipeline that RuleListClassifier and ConceptTreeClassifier
share with them. The estimators own it: their ``_export_state`` / ``_from_state`` call these.

What the file holds for them (``docs/model-json-schema.json`` has every field):

- ``params``: the constructor parameters (``llm`` and ``embedder`` are recorded as identities in
  ``chat_model`` and ``embedder``);
- ``concepts``: the concepts that carry weight, in column order, each with its weights;
- ``measurer``: how scores are computed, with every array it needs (probe weights, centroids, the
  5th/95th percentile bounds; for ``measure="llm"`` the questions asked in the prompt);
- ``head``: ``coef`` and ``intercept`` on the raw scores, the values that replace missing scores,
  the link and the decision rule.

:func:`pipeline_state` and :func:`rebuild_pipeline` write and rebuild everything but the head; the
rule list and the tree use them for their own ``_export_state`` and ``_from_state`` and add their head.
"""

from __future__ import annotations


from .._codec import decode_array, decode_labels, encode_array, encode_labels, plain
from ..concepts import Concept
from ..concepts.measurers import measurer_from_state
from ..embed.record import embedder_record, rebuild_embedder
from ..llm.record import chat_model_record, rebuild_chat_model

__all__ = ["export_state", "from_state", "measurement_text", "pipeline_state", "rebuild_pipeline"]

# Fitted attributes that are plain values and are carried over as they are.
_SIMPLE_ATTRIBUTES = ("n_features_in_", "groups_per_class_", "measure_", "gated_concepts_", "support_",
                      "class_shares_", "max_concepts_", "phrases_per_class_", "prototypes_",
                      "concept_budget_cv_", "surrogate_of_", "output_columns_")


def _task(model) -> str:
    if not hasattr(model, "coef_"):  # the transformer: no head
        return "transform"
    return "regression" if model._regression else "classification"


def concept_record(concept: Concept) -> dict:
    return plain(concept.to_dict())


def measurement_text(model) -> str:
    """One sentence on how the scores are measured (shown on the card and in the JSON)."""
    note = getattr(model, "_measurement_note", None)   # a transformer: what it outputs of them
    return model.measurer_.describe() + (note() if note else "")


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
        "measurer": model.measurer_.to_state(),
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
    model.measurer_ = measurer_from_state(doc["measurer"], model.concepts_, embedder=embedder_, llm=llm,
                                          n_jobs=params.get("n_jobs"))
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
