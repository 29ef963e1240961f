"""``explain_model``: a concept surrogate of any black-box text model, with its fidelity on held-out texts."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .._codec import label_text
from .._splits import copies_follow_first, distinct_texts
from .._validation import check_int_param, check_texts
from ..models import ConceptClassifier, ConceptRegressor
from ..models._linear import constant_note

__all__ = ["ModelExplanation", "explain_model"]

_TASKS = ("auto", "classification", "regression")


def _black_box_outputs(predict, texts: list[str], task: str):
    """Call ``predict`` once on all texts; return (outputs, kind, two_columns) or raise naming the problem.

    ``kind`` is ``"labels"``, ``"probability"`` (a predict_proba's positive column, or a 1-d output
    in [0, 1]) or ``"scores"``; ``two_columns``: the outputs are column 1 of an (n, 2) array.
    """
    name = getattr(predict, "__qualname__", None) or type(predict).__name__
    try:
        raw = predict(texts)
    except Exception as error:
        raise ValueError(f"the black box's predict ({name}) raised {type(error).__name__} when called on the "
                         f"{len(texts)} texts: {error}") from error
    if raw is None:
        raise TypeError(f"the black box's predict ({name}) returned None; it must return one output per text")
    try:
        out = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw)
    except Exception as error:
        raise TypeError(f"the black box's predict ({name}) returned a {type(raw).__name__} that is not an "
                        f"array of outputs: {error}") from None
    if out.ndim == 0:
        raise TypeError(f"the black box's predict ({name}) returned one value ({out!r}) for {len(texts)} texts; "
                        "it must return one output per text")
    if out.shape[0] != len(texts):
        raise ValueError(f"the black box's predict ({name}) returned {out.shape[0]} outputs for {len(texts)} texts; "
                         "it must return one per text, in order")
    kind, two_columns = "labels", out.ndim == 2 and out.shape[1] == 2
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim == 2:
        if out.shape[1] != 2 or not np.issubdtype(out.dtype, np.number):
            raise ValueError(f"the black box's predict ({name}) returned an array of shape {out.shape}; give labels "
                             "(1-d), scores (1-d floats) or a binary predict_proba (n, 2); for several classes "
                             "pass the model's predict (labels)")
        out, kind = out[:, 1].astype(float), "probability"
    elif out.ndim != 1:
        raise ValueError(f"the black box's predict ({name}) returned an array of shape {out.shape}; it must be 1-d "
                         "(labels or scores) or a binary predict_proba (n, 2)")
    if np.issubdtype(out.dtype, np.floating):
        bad = ~np.isfinite(out)
        if bad.any():
            raise ValueError(f"the black box's predict ({name}) returned a non-finite output at row "
                             f"{int(np.flatnonzero(bad)[0])}")
        whole = bool(np.all(out == np.round(out)))
        if kind == "labels" and not (task == "classification" or (task == "auto" and whole)):
            kind = "probability" if out.min() >= 0 and out.max() <= 1 else "scores"
    elif out.dtype == object:
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in out):
            row = next(i for i, v in enumerate(out) if v is None or (isinstance(v, float) and math.isnan(v)))
            raise ValueError(f"the black box's predict ({name}) returned a missing output at row {row}")
    if kind != "labels" and task == "classification":
        raise ValueError(f"task='classification' but the black box's predict ({name}) returned probabilities; "
                         "pass its predict (labels) or use task='regression'")
    if kind == "labels" and task == "regression":
        if not np.issubdtype(out.dtype, np.number):
            raise TypeError(f"task='regression' needs numeric outputs; predict ({name}) returned {out.dtype}")
        out, kind = out.astype(float), "scores"
    if kind == "labels" and len(np.unique(out)) < 2:
        only = out[0].item() if hasattr(out[0], "item") else out[0]
        raise ValueError(f"the black box's predict ({name}) returned one label ({only!r}) for all {len(texts)} "
                         "texts: there is nothing to explain")
    if kind != "labels" and np.ptp(out) == 0:
        raise ValueError(f"the black box's predict ({name}) returned the same score ({out[0]!r}) for all texts")
    return out, kind, two_columns


class ModelExplanation:
    """A concept surrogate of a black box, returned by :func:`explain_model`.

    Attributes
    ----------
    surrogate : ConceptClassifier or ConceptRegressor
        Fitted on the black box's outputs for the training texts. Print it to read what the black
        box appears to look at; like any concept model it has ``explain``, ``to_json``, a card.
    fidelity : dict
        On the held-out texts the surrogate never saw. Labels: ``agreement`` (share of texts where
        surrogate and black box give the same label), with ``agreement_train``. Probabilities:
        ``agreement`` (same side of 0.5), ``r2`` and ``correlation`` (Pearson) between the two.
        Both kinds also ``constant_agreement``: what a constant answer (the black box's most common
        training output, or side of 0.5) agrees on, the figure an agreement is read against.
        Other scores: ``r2`` and ``correlation``. Always ``n_train``, ``n_test``, ``kind``.
    disagreements : pandas.DataFrame
        The held-out texts where the two differ (other label; other side of 0.5; or, for scores,
        an error larger than one standard deviation of the black box's scores), largest first,
        with columns ``text``, ``black_box``, ``surrogate``.
    kind : {"labels", "probability", "scores"}
        What the black box returned.
    """

    def __init__(self, surrogate, fidelity: dict, disagreements: pd.DataFrame, kind: str, split: dict):
        self.surrogate = surrogate
        self.fidelity = fidelity
        self.disagreements = disagreements
        self.kind = kind
        self.split = split

    def explain(self, texts, target=None) -> pd.DataFrame:
        """Each concept's contribution to the surrogate's value for each text, plus the intercept.

        Rows sum exactly to ``surrogate.decision_function`` (labels; for several classes, the
        column of ``target``, default the first class) or ``surrogate.predict`` (probabilities
        and scores).
        """
        return self.surrogate.explain(texts, target=target)

    def _fidelity_text(self) -> str:
        f = self.fidelity
        parts = []
        if "agreement" in f:
            parts.append(f"agreement {f['agreement']:.3f}")
        if "r2" in f:
            parts.append(f"R² {f['r2']:.3f}, correlation {f['correlation']:.3f}")
        return (", ".join(parts) + f" on {f['n_test']} held-out texts (surrogate fitted on {f['n_train']})"
                f"{constant_note(f)}; {self._disagreements_text()}")

    def _disagreements_text(self) -> str:
        """How many held-out texts the two disagree on, and whose head that was: after ``refit_head`` on
        the surrogate, these figures are of the head it had before."""
        text = f"{len(self.disagreements)} disagreements"
        if (getattr(self.surrogate, "surrogate_of_", None) or {}).get("head_refitted"):
            text += " (these figures are of the surrogate's head before refit_head, not of its head now)"
        return text

    def __str__(self) -> str:   # the surrogate's own first lines say what it is and how well it agrees
        return f"Concept surrogate of a black box ({self.kind}): {self._disagreements_text()}\n{self.surrogate}"

    def __repr__(self) -> str:
        return f"<ModelExplanation: {self._fidelity_text()}>"

    def _repr_html_(self) -> str:
        return (f"<div><p><b>Concept surrogate of a black box ({html.escape(self.kind)})</b>: "
                f"{html.escape(self._fidelity_text())}</p>{self.surrogate._repr_html_()}</div>")

    def to_dict(self) -> dict:
        """Fidelity, split and disagreements as plain values; the surrogate itself is ``surrogate.to_json()``."""
        def plain(v):
            return v.item() if hasattr(v, "item") else v
        return {"kind": self.kind, "fidelity": {k: plain(v) for k, v in self.fidelity.items()}, "split": self.split,
                "disagreements": [{k: plain(v) for k, v in r.items()} for r in self.disagreements.to_dict("records")],
                "surrogate": str(self.surrogate)}


def explain_model(predict, texts, *, llm=None, max_concepts=10, test_size=0.25, task="auto", embedder=None,
                  surrogate_params=None, random_state=0) -> ModelExplanation:
    """Explain a black-box text model with a concept surrogate fitted to its outputs.

    The black box is called once, on all ``texts``. A :class:`~nlmodels.ConceptClassifier` (for
    labels) or :class:`~nlmodels.ConceptRegressor` (for scores: 1-d floats, or a binary
    ``predict_proba``'s positive column) is fitted to its outputs on the training part; its
    agreement with the black box is measured on the held-out part.

    Parameters
    ----------
    predict : callable
        ``predict(list_of_texts)`` -> labels (1-d), scores (1-d floats) or a binary
        ``predict_proba`` array (n, 2). E.g. ``pipeline.predict`` or ``pipeline.predict_proba``.
    texts : list, numpy array or pandas Series of str
        Texts to explain the model on (unlabelled: the black box labels them).
    llm : ChatModel, default=None
        Passed to the surrogate: with one, concepts are questions it writes.
    max_concepts : int, default=10
        At most this many concepts in the surrogate.
    test_size : float, default=0.25
        Share of the texts held out to measure fidelity (stratified by the black box's label);
        every later copy of a repeated text goes to the side of its first copy, so no held-out text
        has a copy among the texts the surrogate was fitted on.
    task : {"auto", "classification", "regression"}, default="auto"
        ``"auto"``: whole-number or non-numeric outputs are labels, other floats scores.
    embedder : Embedder, default=None
    surrogate_params : dict, default=None
        More parameters of the surrogate (e.g. ``{"measure": "distill"}``).
    random_state : int, default=0

    Returns
    -------
    ModelExplanation
        ``.surrogate``, ``.fidelity``, ``.disagreements``, ``.explain(texts)``.

    Raises
    ------
    TypeError, ValueError
        Before the surrogate is fitted: ``predict`` not callable, raising, returning the wrong
        number or shape of outputs, missing or non-finite outputs, one label for every text; bad
        texts (naming the row).

    Examples
    --------
    >>> explained = explain_model(pipeline.predict, texts, max_concepts=10)   # doctest: +SKIP
    >>> explained.fidelity                                                    # doctest: +SKIP
    {'agreement': 0.91, ...}
    >>> print(explained.surrogate)                                            # doctest: +SKIP
    """
    if not callable(predict):
        raise TypeError(f"predict must be a function of a list of texts (e.g. model.predict), got "
                        f"{type(predict).__name__}")
    texts = check_texts(texts, name="texts")
    check_int_param("max_concepts", max_concepts, 1)
    if task not in _TASKS:
        raise ValueError(f"task must be one of {_TASKS}, got {task!r}")
    if not (isinstance(test_size, float) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a float strictly between 0 and 1, got {test_size!r}")
    if len(texts) < 8:
        raise ValueError(f"texts has {len(texts)} texts; at least 8 are needed to fit a surrogate and test it")
    groups = distinct_texts(texts)
    n_distinct = len(np.unique(groups))
    if n_distinct < 8:
        raise ValueError(f"texts has {n_distinct} distinct texts; at least 8 are needed to fit a surrogate and test "
                         "it on texts it never saw (a copy of a held-out text is never fitted on)")
    outputs, kind, two_columns = _black_box_outputs(predict, texts, task)

    index = np.arange(len(texts))
    stratify = outputs if kind == "labels" and np.unique(outputs, return_counts=True)[1].min() >= 2 else None
    train, test = train_test_split(index, test_size=test_size, random_state=random_state, stratify=stratify)
    if n_distinct < len(texts):   # a copy of a held-out text is never fitted on: each goes where its first copy went
        held = np.zeros(len(texts), bool)
        held[test] = True
        held = copies_follow_first(held, groups)
        train, test = np.flatnonzero(~held), np.flatnonzero(held)
        if not len(test) or not len(train):
            raise ValueError(f"every text fell on one side once copies of a text were kept together ({n_distinct} "
                             "distinct texts); pass more distinct texts or another random_state")
    params = {"llm": llm, "max_concepts": max_concepts, "embedder": embedder, "random_state": random_state,
              **(surrogate_params or {})}
    cls = ConceptClassifier if kind == "labels" else ConceptRegressor
    train_texts, test_texts = [texts[i] for i in train], [texts[i] for i in test]
    if kind == "labels" and len(np.unique(outputs[train])) < 2:
        raise ValueError("the black box gives one label to every training text; use more texts")
    surrogate = cls(**params).fit(train_texts, outputs[train])
    predicted = surrogate.predict(test_texts)
    truth = outputs[test]
    fidelity = {"kind": kind, "n_train": len(train), "n_test": len(test)}
    if kind == "labels":
        fidelity["agreement"] = float(np.mean(predicted == truth))
        values, counts = np.unique(outputs[train], return_counts=True)
        fidelity["constant_agreement"] = float(np.mean(truth == values[np.argmax(counts)]))
        fidelity["agreement_train"] = float(np.mean(surrogate.predict(train_texts) == outputs[train]))
        differ = predicted != truth
        size = differ.astype(float)
    else:
        from sklearn.metrics import r2_score

        fidelity["r2"] = float(r2_score(truth, predicted))
        fidelity["correlation"] = float(np.corrcoef(truth, predicted)[0, 1]) if np.ptp(predicted) > 0 else float("nan")
        size = np.abs(predicted - truth)
        if kind == "probability":
            differ = (predicted >= 0.5) != (truth >= 0.5)
            fidelity["agreement"] = float(1 - differ.mean())
            side = np.mean(outputs[train] >= 0.5) >= 0.5   # the side a constant answer would take
            fidelity["constant_agreement"] = float(np.mean((truth >= 0.5) == side))
        else:
            differ = size > np.std(truth)
    order = [i for i in np.argsort(-size, kind="stable") if differ[i]]
    disagreements = pd.DataFrame({"text": [test_texts[i] for i in order], "black_box": truth[order],
                                  "surrogate": predicted[order]})
    split = {"test_size": test_size, "random_state": random_state, "train_rows": train.tolist(), "test_rows": test.tolist()}
    # the surrogate says what it is wherever it goes (printed, its JSON, its card): whose outputs it fitted, and
    # how well it agrees with them on texts it never saw
    name = getattr(predict, "__qualname__", None) or type(predict).__name__
    surrogate.surrogate_of_ = {"black_box": name, "kind": kind, "fidelity": dict(fidelity)}
    if two_columns:   # a predict_proba: say whose probability the targets are
        classes = getattr(getattr(predict, "__self__", None), "classes_", None)
        surrogate.surrogate_of_["output"] = ("column 1 of its (n, 2) output" if classes is None or len(classes) != 2
                                             else f"the probability of class {label_text(classes[1], quoted=True)}, "
                                                  "column 1 of its predict_proba")
    return ModelExplanation(surrogate, fidelity, disagreements, kind, split)
