"""Plots of a fitted concept model (matplotlib, no pyplot state: each call returns a new Figure).

- :func:`plot_weights`: each concept's weight as a horizontal bar.
- :func:`plot_explanation`: one text's prediction as a waterfall, from the intercept through each
  concept's contribution to the decision value (the bars add up exactly to ``decision_function``).

Under each concept's name, both say how the signals its bar is made of were checked on held-out
texts, in the words of the printed model (a bar must not show a reason without its check).
"""

from __future__ import annotations

import io
import textwrap

import numpy as np
from matplotlib.figure import Figure

from .._codec import counted, label_text

__all__ = ["figure_png", "plot_explanation", "plot_weights"]

POSITIVE = "#c0392b"
NEGATIVE = "#2e6da4"
NEUTRAL = "#7f8c8d"


def _short(text: str, width: int = 60) -> str:
    return textwrap.shorten(" ".join(str(text).split()), width=width, placeholder="…")



def _rows(model, target):
    """(row of coef_, title) pairs to draw: binary/regression one row; multiclass the target or all."""
    if not hasattr(model, "classes_"):
        return [(0, "weight on the prediction")]
    classes = list(model.classes_)
    if target is None and len(classes) > 2:
        return [(k, f"class {label_text(c)}") for k, c in enumerate(classes)]
    k = model._row(target)   # refuses what explain refuses: an unknown class, or classes_[0] of two
    if len(classes) == 2:
        return [(0, f"weight toward {label_text(classes[1])} (negative: toward {label_text(classes[0])})")]
    return [(k, f"class {label_text(classes[k])}")]


def _label(model, name: str, k, row: int, width: int) -> str:
    """A bar's label: the concept's name and, under it, how the signals weighted in ``row`` of the
    head were checked on held-out texts, as ``nlmodels explain`` says it (what the bar is made of;
    an n-gram, or a bar that sums several concepts, has no check)."""
    if k is None or not hasattr(model, "_concept_check"):
        return _short(name, width)
    S = model.n_signals_
    check = model._concept_check(k, model.coef_[row, k * S:(k + 1) * S])
    return _name_lines(name, width) + ("\n" + textwrap.fill(check, width) if check else "")


def _name_lines(name: str, width: int, lines: int = 3) -> str:
    """A concept's name over up to ``lines`` lines: two concepts that differ late in their sentence
    ("... profit increased" and "... profit decreased") stay told apart."""
    return textwrap.fill(_short(name, width * lines), width)


def _height(labels) -> float:
    """Inches for bars with these (multi-line) labels."""
    return sum(0.2 + 0.14 * label.count("\n") for label in labels)


def concept_weights(model, row: int) -> np.ndarray:
    """Each concept's weight (its signals' weights summed) in one row of the head."""
    S = len(model.measurer_.signals)
    return model.coef_[row].reshape(-1, S).sum(axis=1)


def plot_weights(model, *, target=None, top: int | None = 30, width: float = 9.0) -> Figure:
    """Concept weights as horizontal bars, largest magnitude on top.

    Parameters
    ----------
    target : class label, default=None
        Multiclass: the class to draw (``None``: one panel per class).
    top : int, default=30
        At most this many concepts per panel (by magnitude); ``None`` for all.
    """
    if not (hasattr(model, "coef_") and hasattr(model, "measurer_")):
        raise TypeError(f"plot_weights draws the weights of concepts; {type(model).__name__} has none "
                        "(ConceptClassifier and ConceptRegressor have)")
    rows = _rows(model, target)
    names = model.concept_names()
    n = len(names) if top is None else min(top, len(names))
    panels = []
    for row, title in rows:
        w = concept_weights(model, row)
        order = np.argsort(-np.abs(w), kind="stable")[:n][::-1]
        panels.append((row, title, w, order, [_label(model, names[k], k, row, 60) for k in order]))
    columns = min(2, len(panels))   # several classes: two panels a row, so labels and bars keep room
    grid = [panels[i:i + columns] for i in range(0, len(panels), columns)]
    heights = [max(_height(p[4]) for p in line) + 0.14 * n + 0.9 for line in grid]
    fig = Figure(figsize=(width * columns, sum(heights) + 0.8), layout="constrained")
    axes = fig.subplots(len(grid), columns, squeeze=False, gridspec_kw={"height_ratios": heights}).ravel()
    for ax in axes[len(panels):]:
        ax.remove()
    for ax, (row, title, w, order, labels) in zip(axes, panels):
        ax.barh(np.arange(len(order)), w[order], color=[POSITIVE if v > 0 else NEGATIVE for v in w[order]])
        ax.set_yticks(np.arange(len(order)), labels, fontsize=7)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("weight (contribution when the concept's scores are 1)", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{type(model).__name__}: {counted(len(names), 'concept')}, intercept "
                 + ", ".join(f"{model.intercept_[r]:+.3f}" for r, _ in rows)
                 + "\nunder each concept: how its weighted signals were checked on held-out texts", fontsize=10)
    return fig


def plot_explanation(model, text: str, *, target=None, top: int = 12, width: float = 9.0) -> Figure:
    """One text's decision value as a waterfall: intercept, then each concept's contribution
    (largest first; the rest summed in one bar), ending at the decision value.

    Parameters
    ----------
    text : str
    target : class label, default=None
        Multiclass: the class whose decision value is explained (default: the predicted class).
    top : int, default=12
        Concepts shown one by one; the others are summed in one bar.
    """
    if not isinstance(text, str):
        raise TypeError(f"plot_explanation explains one text (a str), got {type(text).__name__}")
    if not hasattr(model, "intercept_"):
        raise TypeError(f"plot_explanation draws contributions that add up to a decision value; "
                        f"{type(model).__name__} decides by a rule or a path, which str(model) and explain() show")
    classes = getattr(model, "classes_", None)
    if classes is not None and len(classes) > 2 and target is None:
        target = model.predict([text])[0]
    frame = model.explain([text], target=target) if classes is not None else model.explain([text])
    parts = frame.iloc[0].drop("intercept")
    intercept = float(frame["intercept"].iloc[0])
    total = float(frame.iloc[0].sum())
    order = np.argsort(-np.abs(parts.to_numpy()), kind="stable")
    shown = [(parts.index[k], float(parts.iloc[k])) for k in order[:top] if parts.iloc[k] != 0]
    others = parts.iloc[order[top:]]
    n_others = int(np.count_nonzero(others.to_numpy()))   # a concept that adds exactly 0 is not one of them
    steps = [("intercept", intercept)] + shown + (
        [(counted(n_others, "other concept"), float(others.sum()))] if n_others else [])
    index = {name: k for k, name in enumerate(model.concept_names())} if hasattr(model, "_concept_check") else {}
    row = model._row(target) if classes is not None else 0   # the row of coef_ that explain() explained
    labels = [_label(model, name, index.get(name), row, 60) for name, _ in steps] + ["decision value"]

    fig = Figure(figsize=(width, _height(labels) + 0.22 * len(labels) + 1.8), layout="constrained")
    ax = fig.subplots()
    start = 0.0
    for i, (name, value) in enumerate(steps):
        color = NEUTRAL if name == "intercept" else POSITIVE if value > 0 else NEGATIVE
        ax.barh(i, value, left=start, color=color, edgecolor="black", linewidth=0.4)
        ax.text(start + value, i, f" {value:+.2f} ", va="center", ha="left" if value >= 0 else "right", fontsize=8)
        if i + 1 < len(steps):
            ax.plot([start + value] * 2, [i + 0.4, i + 0.6], color="black", linewidth=0.6)
        start += value
    ax.barh(len(steps), total, color="#34495e")
    ax.text(total, len(steps), f" {total:+.2f} ", va="center", ha="left" if total >= 0 else "right",
            fontsize=8, fontweight="bold")
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
    ends = np.cumsum([0.0] + [v for _, v in steps])
    lo, hi = min(ends.min(), total, 0.0), max(ends.max(), total, 0.0)
    pad = 0.14 * max(hi - lo, 1e-6)  # room for the value labels at both ends
    ax.set_xlim(lo - pad, hi + pad)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.grid(axis="x", alpha=0.3)
    if classes is None:
        outcome = f"prediction {total:.3f}"
        ax.set_xlabel("prediction")
    elif len(classes) == 2:
        p = 1 / (1 + np.exp(-total))
        outcome = (f"predicted {label_text(classes[int(total > 0)])}; "
                   f"P({label_text(classes[1])}) = {p:.3f}")
        ax.set_xlabel(f"decision value toward {label_text(classes[1])} (above 0) / {label_text(classes[0])} (below 0)")
    else:
        outcome = f"decision value for class {label_text(target)} (predicted {label_text(model.predict([text])[0])})"
        ax.set_xlabel(f"decision value for class {label_text(target)}")
    if index:
        ax.set_xlabel(ax.get_xlabel() + "\nunder each concept: how the signals that make up its bar were checked "
                      "on held-out texts", fontsize=8)
    fig.suptitle(_short(f"“{text}”", 110) + "\n" + outcome, fontsize=10)
    return fig


def figure_png(fig: Figure, path=None, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes; also written to ``path`` when given."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    data = buffer.getvalue()
    if path is not None:
        with open(path, "wb") as handle:
            handle.write(data)
    return data
