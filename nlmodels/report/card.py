"""Model cards: what a fitted concept model does, how well, on what evidence, and its limits.

:func:`card_data` gathers everything (metrics, each concept's weight, how often it fires and the
test texts where it fires most, how it is measured, chat-model usage, data, limitations, edit
history; for a rule list or a tree, each rule measured on the test texts instead of weights) into a dict; :func:`write_card` renders it as Markdown (``.md``; plots written beside it
as PNG files) or as one self-contained HTML page (``.html``; inline CSS, plots as base64 PNG, no
script, no outside resource).
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._validation import MAX_TEXT_CHARS, check_texts_labels
from .._version import __version__
from ..concepts.fidelity import describe as describe_fidelity
from ..concepts.fidelity import wilson_interval
from .._codec import label_text, plain
from ..llm import MissingAnswerWarning
from ..llm.record import chat_model_record
from .card_render import FIRES_AT, render_html, render_markdown
from .markup import short as _short
from .plots import concept_weights, figure_png, plot_explanation, plot_weights

__all__ = ["card_data", "check_card_support", "write_card"]




def _usage(llm):
    """The chat model's counts now (a copy; None without one): the card's own calls are the difference."""
    return copy.copy(llm.usage) if llm is not None and hasattr(llm, "usage") else None


def _classification_metrics(model, texts, y):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
    from sklearn.metrics import precision_recall_fscore_support

    predicted = model.predict(texts)
    labels = list(model.classes_) + [c for c in np.unique(y) if c not in set(model.classes_)]
    p, r, f, s = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    accuracy = float(accuracy_score(y, predicted))
    with warnings.catch_warnings():   # test texts of fewer classes than the model: said in the limitations
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = float(balanced_accuracy_score(y, predicted))
    return predicted, {
        "kind": "classification",
        "n": len(texts),
        "accuracy": accuracy,
        # Wilson's interval: a normal-approximation one reads ±0.000 at 5 of 5 right, and passes 1
        "accuracy_95": list(wilson_interval(round(accuracy * len(texts)), len(texts))),
        "balanced_accuracy": balanced,
        "macro_f1": float(f1_score(y, predicted, labels=list(model.classes_), average="macro", zero_division=0)),
        "per_class": [{"class": label_text(c), "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                       "support": int(s[i])} for i, c in enumerate(labels)],
        "labels": [label_text(c) for c in labels],
        "confusion": confusion_matrix(y, predicted, labels=labels).tolist(),
        "unknown_classes": [label_text(c) for c in labels[len(model.classes_):]],
        "absent_classes": [label_text(c) for c in model.classes_ if c not in set(np.unique(y))],
    }


def _regression_metrics(model, texts, y):
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    predicted = model.predict(texts)
    y = np.asarray(y, dtype=float)
    metrics = {"r2": lambda t, p: r2_score(t, p), "mae": mean_absolute_error,
               "rmse": lambda t, p: math.sqrt(mean_squared_error(t, p))}
    out = {"kind": "regression", "n": len(texts),
           "r2": float(r2_score(y, predicted)) if len(texts) > 1 else float("nan"),
           "mae": float(mean_absolute_error(y, predicted)),
           "rmse": float(math.sqrt(mean_squared_error(y, predicted))),
           "target_mean": float(np.mean(y)), "target_std": float(np.std(y))}
    for name, metric in metrics.items():   # how well the test set knows each: a 95% bootstrap interval
        out[f"{name}_95"] = _bootstrap_interval(metric, y, predicted)
    return predicted, out


def _bootstrap_interval(metric, y, predicted, n_resamples: int = 999) -> list[float] | None:
    """95% percentile interval of ``metric(y, predicted)`` over the test texts resampled in pairs
    (scipy.stats.bootstrap; fixed seed); None for fewer than 10 texts or a constant resample."""
    from scipy.stats import bootstrap

    if len(y) < 10 or np.ptp(y) == 0:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        result = bootstrap((y, predicted), lambda t, p: metric(t, p), paired=True, vectorized=False,
                           n_resamples=n_resamples, method="percentile", random_state=0)
    low, high = result.confidence_interval
    return [float(low), float(high)] if np.isfinite([low, high]).all() else None


def _concepts(model, texts, y, predicted, F, n_examples):
    signals = list(model.measurer_.signals)
    S = len(signals)
    rows = list(range(model.coef_.shape[0]))
    contributions = [model._contributions(F, r) for r in rows]
    reading = model.measurer_.reading_signal()   # the signal that measures what the sentence says, as str counts it
    measured = [{signal for _, signal, _ in model._signal_checks(k)} for k in range(len(model.concepts_))]
    out = []
    for k, (concept, name) in enumerate(zip(model.concepts_, model.concept_names())):
        block = F[:, k * S:(k + 1) * S]
        main = block[:, reading[k]]
        order = np.lexsort((-block.sum(axis=1), -main))[:n_examples]
        shown = (lambda v: f"{v:.4g}") if model._regression else label_text   # a target: rounded, as printed
        examples = [{"text": texts[i], "score": float(main[i]),
                     "scores": {s: float(block[i, j]) for j, s in enumerate(signals)},
                     "label": shown(y[i]), "predicted": shown(predicted[i])}
                    for i in order if main[i] > 0]
        record = {
            "index": k, "name": name, "text": concept.text, "source": concept.source,
            "phrases": list(concept.phrases), "target": plain(concept.target),
            "typical_training_texts": list(concept.examples),
            "weights": [float(w) for w in (concept_weights(model, r)[k] for r in rows)],
            "signal_weights": {s: [float(model.coef_[r, k * S + j]) for r in rows] for j, s in enumerate(signals)
                               if s in measured[k]},   # not a signal the concept lacks (a prototype's mentions)
            "fires": float((main >= FIRES_AT).mean()), "fires_on": signals[reading[k]],
            "mean_score": float(main.mean()),
            "mean_abs_contribution": [float(np.abs(c[:, k]).mean()) for c in contributions],
            "examples": examples,
        }
        if "mentions" in signals and concept.phrases:   # a concept without phrases mentions nothing
            record["mentions"] = float(block[:, signals.index("mentions")].mean())
        if concept.reads_words:   # what a word prototype's probe weighs most
            record["probe_top_words"] = model.measurer_.top_words(k, 10)
        row = int(np.argmax([abs(w) for w in record["weights"]]))   # an older file: says it is not recorded
        record["evidence"] = model._evidence(k, model.coef_[row, k * S:(k + 1) * S], row)
        out.append(record)
    order = np.argsort([-max(abs(w) for w in c["weights"]) for c in out], kind="stable")
    return [out[i] for i in order]


def _limitations(model, metrics, concepts, extra, rules=None, unanswered: int = 0) -> list[str]:
    items = []
    n = metrics["n"]
    if unanswered:
        items.append(f"The chat model gave no usable answer for {unanswered} of {n} test texts (on_error='missing'): "
                     "their missing scores are the training means, so their predictions, and the metrics above, "
                     "rest on answers that were not given.")
    if metrics["kind"] == "classification":
        low, high = metrics["accuracy_95"]
        items.append(f"Measured on {n} test texts: the accuracy's 95% interval is {low:.3f} to {high:.3f} (Wilson); "
                     "per-class numbers for small classes are less certain still.")
        if metrics.get("absent_classes"):
            absent = metrics["absent_classes"]
            items.append(f"The test texts hold none of {len(absent)} of the model's {len(model.classes_)} classes ("
                         + ", ".join(absent[:10]) + (" …" if len(absent) > 10 else "") + "): balanced accuracy "
                         "averages the recall of the classes they hold, macro F1 counts 0 for each absent class, "
                         "and what the model does on texts of those classes is not measured here.")
        if metrics["unknown_classes"]:
            items.append("The test labels include classes the model never saw in training: "
                         + ", ".join(metrics["unknown_classes"]) + ".")
    else:
        items.append(f"Measured on {n} test texts" + (
            f": R² lies between {metrics['r2_95'][0]:.3f} and {metrics['r2_95'][1]:.3f} (95% bootstrap "
            "interval)" if metrics.get("r2_95") else "") + "; errors on other data can differ.")
    if rules is not None:
        items.append("Rules are associations learned from the training data, not causes. The learner chose each "
                     "rule for its precision on the training texts, so the printed training precision overstates "
                     "it: the test column measures it on texts the model never saw.")
        unseen = [r["rule"] for r in rules if not r["texts"]]
        if unseen:
            items.append(f"{len(unseen)} rule(s) decided none of the test texts, so this test set says nothing "
                         "about them: " + "; ".join(_short(t, 80) for t in unseen[:5]) + (" …" if len(unseen) > 5 else "") + ".")
    else:
        items.append("Weights are associations learned from the training data, not causes. Concepts that "
                     "overlap share weight, so no single weight should be read alone; the explanation of a "
                     "prediction (contributions that add up to the decision value) is exact.")
    m = model.measurer_
    name = type(m).__name__
    if name == "EmbeddingMeasurer":
        items.append("Scores come from sentence embeddings and phrase matches: they approximate a concept's "
                     "meaning. Embeddings place opposites close (MiniLM puts 'awful' near 'beautiful') and "
                     "do not read negation reliably; 'mentions' is literal word matching.")
    if any(c.source == "data" for c in model.concepts_):
        items.append("Phrase concepts were mined from the training texts: they reflect that data's vocabulary, "
                     "language and time, and a concept's name shows only its strongest phrases.")
    if any(c.is_prototype for c in model.concepts_):
        items.append("Prototype concepts ('resembles the training texts labelled X', 'uses the words of the "
                     "training texts labelled X') are probes that recognise a class's training texts, by their "
                     "embedding or their words: they say that a text looks like those texts, not why; the "
                     "texts or words shown are examples, and the probe reads the whole text.")
    if name in ("LLMMeasurer", "DistillMeasurer"):
        items.append("Scores depend on the chat model's answers: another model, model version or server gives "
                     "other answers and so other predictions. Answers are cached: the same text and settings "
                     "always get the same answer here.")
    if name == "DistillMeasurer" and _embedding_scores(model):
        items.append("Probes learned the chat model's answers from a sample of training texts; on texts unlike "
                     "them the probes can disagree with what the chat model would answer.")
    silent = [c["name"] for c in concepts if c["fires"] == 0]
    if silent:
        items.append(f"{len(silent)} concept(s) never reached a score of {FIRES_AT} on the test texts, so this "
                     "test set says little about them: " + "; ".join(_short(s, 80) for s in silent[:5])
                     + (" …" if len(silent) > 5 else "") + ".")
    items += _length_limits(model)
    if getattr(model, "surrogate_of_", None):
        items.append(f"This model is a surrogate of a black box: {model._surrogate_line()}. Its concepts say what the "
                     "black box appears to look at, as far as that agreement goes; the metrics above compare the "
                     "surrogate with the labels given to this card, not with the black box.")
    if not model.measurer_.fidelity_:   # a model file written before fidelity was recorded
        items.append("This model file was written before nlmodels recorded how each measurement was checked on "
                     "held-out texts: no concept here is shown to measure what its sentence says. Fit the model "
                     "again to have every measurement checked and gated.")
    if getattr(model, "edits_", None):
        items.append("The model was edited by hand after fitting (see the edit history); the metrics above are "
                     "those of the edited model.")
    items += [str(e) for e in (extra or [])]
    return items


def _embedding_scores(model) -> bool:
    """Does a text's embedding set a score the model uses (an embedding measurement, or a distilled
    probe)? Not where a chat model answers every concept kept (``measure="llm"``, or ``gated="llm"``
    with every probe failed)."""
    m = model.measurer_
    name = type(m).__name__
    if name == "LLMMeasurer":
        return False
    if name == "DistillMeasurer":
        return not bool(np.all(m.answered_by_llm_))
    return True


def _length_limits(model) -> list[str]:
    """What of a long text is read: the cut every text gets, and what the measurer and embedder read."""
    from ..concepts.measurers.llm import MAX_CHARS

    items = [f"Texts longer than {MAX_TEXT_CHARS:,} characters are cut there, with a warning, before anything "
             "reads them."]
    m = model.measurer_
    name = type(m).__name__
    if name == "LLMMeasurer":
        items.append(f"The chat model reads the first {m.max_chars:,} characters of each text: a concept that "
                     "holds only later in a longer text is not seen.")
    if name == "DistillMeasurer":
        items.append(f"The chat model answered from the first {MAX_CHARS:,} characters of each text it was asked "
                     "about" + ("; the probes read the text's embedding." if _embedding_scores(model) else "."))
    embedder = getattr(model, "embedder_", None)
    # a chat model's answer reads no embedding: only where an embedding scores a weighted concept
    long_texts = getattr(embedder, "long_texts", None) if _embedding_scores(model) else None
    if long_texts in ("chunks", "truncate"):
        window = getattr(embedder, "window", None)
        pieces = f"{window} word pieces" if window else "its window"
        items.append(f"The embedder reads {pieces} at a time: a longer text is embedded window by window and "
                     "the windows averaged, so a concept that holds in one part of a long text weighs less "
                     "there than in a short text about it." if long_texts == "chunks" else
                     f"The embedder reads only the first {pieces} of a text (long_texts='truncate'): the rest "
                     "of a longer text is not measured by embedding.")
    return items


def _is_rules(model) -> bool:
    from ..models._rule_base import RuleConceptModel

    return isinstance(model, RuleConceptModel)


def check_card_support(model) -> None:
    """Cards show a weighted list of concepts, or a rule list's rules (a tree's leaves); other
    estimators are refused with a TypeError that names them."""
    from ..models import ConceptClassifier, ConceptRegressor

    if not isinstance(model, (ConceptClassifier, ConceptRegressor)) and not _is_rules(model):
        raise TypeError(
            f"a model card cannot be written for {type(model).__name__} yet: cards cover ConceptClassifier, "
            "ConceptRegressor (weighted concepts), RuleListClassifier and ConceptTreeClassifier; show this model "
            "with str(model), model.explain(texts) and its JSON export (model.to_json)"
        )


def card_data(model, X, y, *, n_examples: int = 3, prices: dict | None = None, limitations=None,
              title: str | None = None, explain_text: str | None = None) -> dict:
    """Everything a model card shows, as a dict (the renderers only lay it out).

    Parameters
    ----------
    model : fitted ConceptClassifier, ConceptRegressor, RuleListClassifier or ConceptTreeClassifier
    X, y : test texts and their labels (or targets)
    n_examples : int, default=3
        Test texts shown per concept: those where it fires most strongly.
    prices : dict, default=None
        ``{"prompt": USD per million prompt tokens, "completion": USD per million completion tokens}``
        to turn chat-model token counts into a cost.
    limitations : list of str, default=None
        Limitations to add to the ones the card finds itself.
    title : str, default=None
    explain_text : str, default=None
        The text whose explanation is drawn; default: the first misclassified test text (or the first;
        a regressor: the test text with the largest error). The card says which.
    """
    from sklearn.utils.validation import check_is_fitted

    check_card_support(model)
    rules = _is_rules(model)
    check_is_fitted(model, model._FITTED if rules else "coef_")
    texts, y = check_texts_labels(X, y, regression=model._regression, min_classes=1)
    llm = getattr(model, "llm", None)
    before = _usage(llm)
    with model._measured_once():   # the test texts are measured (and a chat model asked) once
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if model._regression:
                predicted, metrics = _regression_metrics(model, texts, y)
            else:
                predicted, metrics = _classification_metrics(model, texts, y)
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        unanswered = sorted({r for w in caught if isinstance(w.message, MissingAnswerWarning) for r in w.message.rows})
        return _card_data(model, texts, y, predicted, metrics, unanswered, llm, before, n_examples=n_examples,
                          prices=prices, limitations=limitations, title=title, explain_text=explain_text)


def _card_data(model, texts, y, predicted, metrics, unanswered, llm, before, *, n_examples, prices, limitations,
               title, explain_text) -> dict:
    rules = _is_rules(model)
    if rules:
        decided = model.evaluate_rules(texts, y)
        body = {"rules": [{**r, "prediction": label_text(r["prediction"])} for r in decided.to_dict("records")],
                "n_concepts": len({c.concept for c in model._conditions()}), "units": model._UNITS,
                "gated_lines": model._gated_line(),   # the printed model's own line, if any
                # and each of those signals named, with its check (none in a file from before they were kept)
                "gated": [{"concept": g["concept"], "signal": g["signal"], "fidelity": describe_fidelity(g)}
                          for g in getattr(model, "gated_signals_", None) or []],
                # what a chat model claimed, as measured on the training texts (none offline)
                "proposed_rules": [{"condition": r["condition"], "label": label_text(r["label"]),
                                    "n_covered": int(r["n_covered"]), "precision": float(r["precision"]),
                                    "in_model": bool(r.get("in_model", False))}
                                   for r in model.proposed_rules_.to_dict("records")]}
        concepts = []
    else:
        concepts = _concepts(model, texts, y, predicted, model._measure(texts), n_examples)
        body = {"concepts": concepts, "n_concepts": len(concepts),
                "intercept": [float(v) for v in model.intercept_], "row_titles": _row_titles(model),
                "gated": [{"concept": g["concept"], "fidelity": describe_fidelity(g)}
                          for g in getattr(model, "gated_concepts_", [])]}
    given = explain_text is not None
    chosen = "the text given to the card"
    if not given:
        wrong = np.flatnonzero(predicted != y) if not model._regression else np.argsort(-np.abs(predicted - y))
        explain_text = texts[int(wrong[0])] if len(wrong) else texts[0]
        chosen = ("the test text with the largest error" if model._regression else
                  "the first test text it got wrong" if len(wrong) else "the first test text (it got none wrong)")
    if rules:
        with warnings.catch_warnings():
            if given:   # a text of the user's own: a missing answer for it was not said with the test texts'
                warnings.simplefilter("always", MissingAnswerWarning)
            row = model.explain([explain_text]).iloc[0]
        body["explained"] = {"decided_by": str(row.get("rule_text", row.get("path"))),
                             "prediction": label_text(row["prediction"])}
    after = _usage(llm)   # the card's own calls, the explained text's included
    usage = None
    if llm is not None:
        usage = {"chat_model": chat_model_record(llm),
                 # a copy: the cost added below is this card's, never the model's record
                 "fit": copy.deepcopy((getattr(model, "training_", None) or {}).get("chat_usage")),
                 "card": (after - before).as_dict()}
        if prices:
            for part in ("fit", "card"):
                u = usage[part]
                if u:
                    u["cost_usd"] = (u["prompt_tokens"] * prices.get("prompt", 0)
                                     + u["completion_tokens"] * prices.get("completion", 0)) / 1e6
    training = getattr(model, "training_", None)
    refits = [e["refit"]["training"] for e in getattr(model, "edits_", []) if (e.get("refit") or {}).get("training")]
    if training and refits:   # the head (weights, support) now comes from the last refit's texts
        training = {**training, "head_refitted_on": refits[-1]}
    test = {"n_texts": len(texts), "texts_without_answer": len(unanswered)}
    if not model._regression:
        values, counts = np.unique(y, return_counts=True)
        test["classes"] = [{"label": label_text(v), "count": int(c), "share": float(c / len(y))}
                           for v, c in zip(values, counts)]
    return {
        "title": title or f"Model card: {type(model).__name__}",
        "estimator": type(model).__name__,
        "library_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "printed": str(model),
        "classes": [label_text(c) for c in model.classes_] if hasattr(model, "classes_") else None,
        **body,
        "signals": list(model.measurer_.signals),
        "measurement": model.measurer_.describe(),
        "embedder": plain(model.embedder_.identity),
        "metrics": metrics,
        "fidelity": _fidelity_rows(model),
        "usage": usage,
        "training": training,
        "test": test,
        "edits": list(getattr(model, "edits_", [])),
        "limitations": _limitations(model, metrics, concepts, limitations, body.get("rules"), len(unanswered)),
        "explain_text": explain_text,
        "explain_chosen": chosen,
        "params": {k: plain(v) for k, v in model.get_params(deep=False).items()
                   if k not in ("llm", "embedder", "concepts")},
    }


def _row_titles(model) -> list[str]:
    if not hasattr(model, "classes_"):
        return ["weight"]
    if len(model.classes_) == 2:
        return [f"weight toward {label_text(model.classes_[1])}"]
    return [f"weight for {label_text(c)}" for c in model.classes_]


#: The gate column of a chat model's answer: it defines the concept, so nothing was checked against it
_DEFINED = "none: the answer defines it (not checked)"


def _fidelity_rows(model) -> list[dict]:
    """Each used concept's measurement, as checked on held-out texts (``model.fidelity_``); for a
    rule model, the concepts its conditions test (not a placeholder kept for the measurer)."""
    if not model.measurer_.fidelity_:   # a model file written before fidelity was recorded
        return []
    records = model.fidelity_.to_dict("records")
    if not _is_rules(model):
        gate = {True: "passed", False: "failed: no weight", None: "unverified"}
        return [{"concept": r["concept"], "signal": r["signal"], "fidelity": describe_fidelity(r),
                 "gate": _DEFINED if r["metric"] == "defined" else gate[r["passed"]]}
                for r in records if r["metric"] != "absent"]
    names = model.concept_names()
    conditions = model._conditions()
    tested = {(names[c.concept], c.signal) for c in conditions}
    shown = {names[c.concept] for c in conditions}
    # a failed measurement is never tested, except in a model file written before the gate
    gate = {True: lambda r: _DEFINED if r["metric"] == "defined" else "passed", None: lambda r: "unverified",
            False: lambda r: "failed, yet tested (a model fitted before the gate)"
            if (r["concept"], r["signal"]) in tested else "failed: never tested"}
    return [{"concept": r["concept"], "signal": r["signal"], "fidelity": describe_fidelity(r),
             "gate": gate[r["passed"]](r)} for r in records if r["metric"] != "absent" and r["concept"] in shown]


def write_card(model, X, y, path: str | os.PathLike, *, plots: bool = True, **options) -> str:
    """Write a model card for ``model`` evaluated on ``X``, ``y``; the format follows the extension.

    ``.html``/``.htm``: one self-contained page. ``.md``: Markdown; with ``plots=True`` the two
    plots are written beside it as ``<name>_weights.png`` and ``<name>_explanation.png``. Other
    options go to :func:`card_data`. Returns the path.
    """
    check_card_support(model)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".markdown"):
        raise ValueError(f"a model card is written as .html or .md, got {path.name!r}")
    data = card_data(model, X, y, **options)
    pngs = {}
    if plots and "concepts" in data:   # the two plots draw weights and contributions: none in a rule model
        pngs["weights"] = figure_png(plot_weights(model))
        with warnings.catch_warnings():
            if data["test"]["texts_without_answer"] and options.get("explain_text") is None:
                warnings.simplefilter("ignore", MissingAnswerWarning)   # a test text: card_data said so
            pngs["explanation"] = figure_png(plot_explanation(model, data["explain_text"]))
    if suffix in (".html", ".htm"):
        path.write_text(render_html(data, pngs), encoding="utf-8")
    else:
        names = {}
        for key, png in pngs.items():
            image = path.with_name(f"{path.stem}_{key}.png")
            image.write_bytes(png)
            names[key] = image.name
        path.write_text(render_markdown(data, names), encoding="utf-8")
    return str(path)
