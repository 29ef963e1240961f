"""``ConceptClassifier`` and ``ConceptRegressor``: a sparse linear model over natural-language concepts."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import check_int_param, check_texts, check_texts_labels
from ..concepts import (Concept, DistillMeasurer, EmbeddingMeasurer, LLMMeasurer, LLMProposer,
                        PhraseProposer, class_bins)
from ..embed import SentenceTransformerEmbedder
from ..concepts.fidelity import describe as describe_fidelity
from ._head import LinearDecisionMixin, association_signs, fit_sparse_classifier, fit_sparse_regressor

__all__ = ["ConceptClassifier", "ConceptRegressor", "QuestionEmbedder"]

_MEASURES = ("auto", "embedding", "llm", "distill")
SIGNALS = ("similar", "mentions")


def _label(value) -> str:
    """A class label as a person writes it (numpy scalars as plain numbers, strings quoted)."""
    value = value.item() if hasattr(value, "item") else value
    return repr(value)


def training_summary(texts, y, regression: bool, llm=None) -> dict:
    """What a model's record says about its training data: size, mean length, class balance (or
    target range), date, and the chat client's usage totals when fit ended."""
    from datetime import datetime, timezone

    summary = {"n_texts": len(texts), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "mean_chars": float(np.mean([len(t) for t in texts]))}
    if regression:
        summary["target"] = {k: float(f(y)) for k, f in
                             (("min", np.min), ("mean", np.mean), ("max", np.max), ("std", np.std))}
    else:
        values, counts = np.unique(y, return_counts=True)
        summary["classes"] = [{"label": v.item() if hasattr(v, "item") else v, "count": int(c),
                               "share": float(c / len(y))} for v, c in zip(values, counts)]
    if llm is not None and hasattr(llm, "usage"):
        summary["chat_usage"] = llm.usage.as_dict()
    return summary


class _ConceptFeatures:
    """What ConceptClassifier, ConceptRegressor and QuestionEmbedder share: propose concepts, then
    measure them. Parameters are documented on the public classes."""

    _regression = False

    def _check_params(self):
        if self.measure not in _MEASURES:
            raise ValueError(f"measure must be one of {_MEASURES}, got {self.measure!r}")
        if self.measure in ("llm", "distill") and self.llm is None:
            raise ValueError(f"measure={self.measure!r} needs a chat model: pass llm=ChatModel(...)")
        check_int_param("max_concepts", self.max_concepts, 1)
        if getattr(self, "gated", "drop") not in ("drop", "llm"):
            raise ValueError(f"gated must be 'drop' or 'llm', got {self.gated!r}")
        check_int_param("recheck", getattr(self, "recheck", 0), 0)
        self.measure_ = ("llm" if self.llm is not None else "embedding") if self.measure == "auto" else self.measure

    def _embed(self, texts):
        return self.embedder_.encode(texts)

    def _make_measurer(self):
        if self.measure_ == "llm":
            return LLMMeasurer(self.llm, on_error=self.on_error, recheck=getattr(self, "recheck", 0),
                               random_state=self.random_state)
        if self.measure_ == "distill":
            return DistillMeasurer(self.llm, n_distill=self.n_distill, random_state=self.random_state,
                                   on_error=self.on_error, n_jobs=self.n_jobs, gated=getattr(self, "gated", "drop"))
        return EmbeddingMeasurer(self.embedder_, signals=SIGNALS, n_jobs=self.n_jobs)

    def _propose_and_measure(self, texts, y):
        """Fit ``embedder_``, ``concepts_`` and ``measurer_``; return (embeddings, scores)."""
        self._check_params()
        self.embedder_ = self.embedder if self.embedder is not None else SentenceTransformerEmbedder()
        E = self._embed(texts)
        bins = class_bins(y, self._regression)
        expert = [c if isinstance(c, Concept) else Concept(str(c), (), "expert") for c in (self.concepts or [])]
        if self.llm is not None and self.proposer in ("auto", "llm"):
            concepts = self._llm_rounds(texts, y, bins, E, expert)
            if not concepts:
                raise ValueError("no concept could be proposed from these texts (too few or too short?)")
            self.measurer_ = self._make_measurer().fit(texts, E, concepts, y)
            self.concepts_ = concepts
            return E, self.measurer_.transform(texts, E)
        self.groups_per_class_ = self._groups_per_class(bins)
        concepts = expert + PhraseProposer(
            phrases_per_class=self.phrases_per_class, groups_per_class=self.groups_per_class_,
            random_state=self.random_state,
        ).propose(texts, bins, self.embedder_)
        if not concepts:
            raise ValueError("no concept could be proposed from these texts (too few or too short?)")
        self.measurer_ = self._make_measurer().fit(texts, E, concepts, y)
        self.concepts_ = concepts
        return E, self.measurer_.transform(texts, E)

    def _groups_per_class(self, bins) -> int:
        if self.groups_per_class == "auto":  # 32 per class, at most 128 in all, ~25 texts per group
            return max(4, min(32, 128 // len(np.unique(bins)), len(bins) // 25))
        return int(self.groups_per_class)

    def _llm_rounds(self, texts, y, bins, E, concepts):
        """Propose questions in rounds; between rounds, score them offline (question similarity)
        and show the chat model the training texts the interim model gets most wrong."""
        proposer = LLMProposer(self.llm, questions_per_round=self.questions_per_round,
                               random_state=self.random_state)
        concepts = list(concepts)
        focus = None
        for round_ in range(self.n_rounds):
            concepts += proposer.propose(texts, bins, self.embedder_, focus=focus, existing=concepts, round_=round_)
            if round_ + 1 < self.n_rounds and concepts:
                interim = EmbeddingMeasurer(self.embedder_).fit(texts, E, concepts)
                focus = self._worst(interim.transform(texts, E), y, interim.signals)
        return concepts

    def _worst(self, F, y, signals):
        groups = np.repeat(np.arange(F.shape[1] // len(signals)), len(signals))
        if self._regression:
            coef, b, _ = fit_sparse_regressor(F, y, groups, self.max_concepts)
            return np.argsort(-np.abs(F @ coef + b - y))[:50]
        coef, b, _ = fit_sparse_classifier(F, y, groups, self.max_concepts, random_state=self.random_state)
        classes = np.unique(y)
        scores = F @ coef.T + b
        if scores.shape[1] == 1:
            p_true = np.where(y == classes[1], expit(scores[:, 0]), 1 - expit(scores[:, 0]))
        else:
            p_true = softmax(scores, axis=1)[np.arange(len(y)), np.searchsorted(classes, y)]
        return np.argsort(p_true)[:50]

    def _measure(self, X):
        texts = check_texts(X)
        F = self.measurer_.transform(texts, self._embed(texts))
        missing = np.isnan(F)
        if missing.any():
            F = np.where(missing, self.fill_values_, F)
        return F

    def _fill_missing(self, F):
        """Replace missing scores (failed chat calls) by each column's training mean (``fill_values_``)."""
        with np.errstate(all="ignore"):
            self.fill_values_ = np.nan_to_num(np.nanmean(F, axis=0), nan=0.0)
        return np.where(np.isnan(F), self.fill_values_, F)

    @property
    def n_signals_(self) -> int:
        return len(self.measurer_.signals)

    def _groups(self, n_concepts):
        return np.repeat(np.arange(n_concepts), self.n_signals_)

    def _keep(self, used_columns):
        """Drop concepts that carry no weight, in the measurer too (so predict measures only those)."""
        S = self.n_signals_
        keep = np.flatnonzero(used_columns.reshape(-1, S).any(axis=1))
        columns = (keep[:, None] * S + np.arange(S)).ravel()
        self.concepts_ = [self.concepts_[k] for k in keep]
        self.measurer_.select(keep)
        self.fill_values_ = self.fill_values_[columns]
        return columns

    def _column_gate(self) -> np.ndarray:
        """Per column: may it carry weight? Not when its measurement failed its fidelity gate."""
        passed = {(r["concept"], r["signal"]): r["passed"] for r in self.measurer_.fidelity_}
        signals = self.measurer_.signals
        return np.array([passed[(k, s)] is not False for k in range(len(self.concepts_)) for s in signals])

    def _reading_columns(self) -> np.ndarray:
        """Per concept, the column of the signal that measures what its sentence says."""
        return np.arange(len(self.concepts_)) * self.n_signals_ + self.measurer_.reading_signal()

    def _fit_head_step(self, F, y) -> None:
        """The head step of ``fit`` (and of ``refit_head``): weights bounded to the sign of each
        concept's association with the target, gated columns kept at 0, at most ``max_concepts``
        concepts; concepts without weight are dropped; fidelity, support and gated concepts recorded."""
        groups = self._groups(len(self.concepts_))
        allowed = self._column_gate()
        names = self.concept_names()
        gated = [(names[k], self.measurer_.fidelity_[k * self.n_signals_]) for k in range(len(self.concepts_))
                 if not allowed[k * self.n_signals_:(k + 1) * self.n_signals_].any()]
        signs = association_signs(F, y, groups, self._reading_columns(), regression=self._regression)
        fit = fit_sparse_regressor if self._regression else fit_sparse_classifier
        coef, intercept, used = fit(F, y, groups, self.max_concepts, signs=signs, allowed=allowed,
                                    random_state=self.random_state)
        columns = self._keep(used)
        if self._regression:
            self.coef_, self.intercept_ = coef[None, columns], np.array([intercept])
        else:
            self.coef_, self.intercept_ = coef[:, columns], intercept
        self.gated_concepts_ = [{"concept": name, **{k: v for k, v in rec.items() if k != "concept"}}
                                for name, rec in gated]
        self.support_ = self._support(F[:, columns], y)

    def _support(self, F, y) -> list[dict]:
        """Per weighted concept, on the training texts: how often its reading signal fires (score
        >= 0.5) and how the classes split there (regression: the mean target where it fires)."""
        out = []
        for k, column in enumerate(self._reading_columns()):
            fires = F[:, column] >= 0.5
            entry = {"fires": int(fires.sum()), "n_texts": len(F)}
            if self._regression:
                entry["mean_target_when_fires"] = float(np.mean(y[fires])) if fires.any() else None
                entry["mean_target_otherwise"] = float(np.mean(y[~fires])) if (~fires).any() else None
            else:
                entry["class_shares"] = {_label(c): float(np.mean(y[fires] == c)) if fires.any() else None
                                         for c in np.unique(y)}
            out.append(entry)
        return out

    @property
    def fidelity_(self) -> pd.DataFrame:
        """One row per weighted concept and signal: how its measurement was checked on held-out
        texts (``metric``: auc, agreement, consistency, exact, defined, unverified), the figure,
        its baseline, the texts used and whether it passed the gate (see nlmodels.concepts.fidelity)."""
        check_is_fitted(self, "measurer_")
        names = self.concept_names()
        rows = [{"concept": names[r["concept"]], "measured_by": self.measurer_.name, **{
            k: v for k, v in r.items() if k != "concept"}} for r in self.measurer_.fidelity_]
        columns = ["concept", "signal", "measured_by", "metric", "fidelity", "baseline", "n_texts", "passed"]
        frame = pd.DataFrame(rows)
        return frame[columns + [c for c in frame.columns if c not in columns]] if rows else pd.DataFrame(columns=columns)

    @property
    def chat_calls_per_text_(self) -> int:
        """Chat-model calls ``predict`` makes per text (0: none)."""
        check_is_fitted(self, "measurer_")
        return self.measurer_.chat_calls_per_text

    def _record_training(self, texts, y) -> None:
        """Keep what the model's record says about its training data: size, balance, date."""
        self.training_ = training_summary(texts, y, self._regression, self.llm)
        self.edits_ = []

    def concept_names(self) -> list[str]:
        """Concept texts, made unique (a repeated text gets " (2)", " (3)" ...)."""
        seen: dict[str, int] = {}
        names = []
        for c in self.concepts_:
            seen[c.text] = seen.get(c.text, 0) + 1
            names.append(c.text if seen[c.text] == 1 else f"{c.text} ({seen[c.text]})")
        return names


_COMMON_PARAMS = """
    llm : ChatModel, default=None
        A chat model. With one, concepts are yes/no questions it writes (``proposer="auto"``);
        without one (the default) everything runs offline.
    embedder : Embedder, default=None
        ``None`` uses the bundled all-MiniLM-L6-v2 (:class:`~nlmodels.SentenceTransformerEmbedder`).
    measure : {"auto", "embedding", "llm", "distill"}, default="auto"
        How a text's score on a concept is measured. ``"auto"``: ``"llm"`` when ``llm`` is given,
        else ``"embedding"`` (recorded in ``measure_``). ``"embedding"``: a probe on the text
        embedding trained to recognise the concept's phrases, plus whether a phrase occurs (two
        columns per concept); written questions get their cosine to the text (unverified).
        ``"llm"``: the chat model answers all concepts for each text in one call, at fit and at
        predict (one call per text). ``"distill"``: it answers for ``n_distill`` training texts and a
        probe per concept learns those answers; a probe that does not agree with the chat model on
        held-out answered texts is gated (see ``gated``); predict makes no chat call unless
        ``gated="llm"`` keeps a concept the chat model answers.
    max_concepts : int, default=30
        At most this many concepts carry weight in the fitted model.
    concepts : list of str or Concept, default=None
        Concepts written by a person, added to the proposed ones.
    proposer : {"auto", "phrases", "llm"}, default="auto"
        ``"auto"``: questions from ``llm`` when given, mined phrases otherwise.
    n_rounds : int, default=2
        Rounds of question proposal with a chat model (later rounds look at the errors).
    questions_per_round : int, default=10
    n_distill : int, default=200
        Training texts the chat model answers for ``measure="distill"``.
    gated : {"drop", "llm"}, default="drop"
        ``measure="distill"``: what a concept whose probe fails its fidelity gate becomes.
        ``"drop"``: it never carries weight; ``"llm"``: the chat model answers it (only the gated
        questions, one call per text at fit and predict).
    recheck : int, default=0
        ``measure="llm"``: ask this many training texts again with the questions in another order
        and report each concept's agreement as its fidelity (``recheck`` more calls, cached); a
        concept agreeing less than 0.8 with itself never carries weight.
    phrases_per_class : int, default=200
        Mined phrases per class (offline proposer).
    groups_per_class : int or "auto", default="auto"
        Phrase groups, i.e. candidate concepts, per class (offline proposer). ``"auto"``: 32 per
        class, at most 128 candidates in all (six classes: 21) and one per 25 training texts (at
        least 4); recorded in ``groups_per_class_``.
    on_error : {"raise", "missing"}, default="raise"
        A chat call that fails for good: raise naming the rows, or score the text as missing
        (replaced by the training mean of each concept).
    n_jobs : int, default=None
        Parallel jobs (joblib) for fitting probes.
    random_state : int, default=0
"""


class _ConceptModel(_ConceptFeatures, BaseEstimator):
    def __init__(self, llm=None, *, embedder=None, measure="auto", max_concepts=30, concepts=None,
                 proposer="auto", n_rounds=2, questions_per_round=10, n_distill=200, gated="drop", recheck=0,
                 phrases_per_class=200, groups_per_class="auto", on_error="raise", n_jobs=None, random_state=0):
        self.llm = llm
        self.embedder = embedder
        self.measure = measure
        self.max_concepts = max_concepts
        self.concepts = concepts
        self.proposer = proposer
        self.n_rounds = n_rounds
        self.questions_per_round = questions_per_round
        self.n_distill = n_distill
        self.gated = gated
        self.recheck = recheck
        self.phrases_per_class = phrases_per_class
        self.groups_per_class = groups_per_class
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ reading the model
    def _contributions(self, F, row: int) -> np.ndarray:
        """Per text and concept: the concept's signals times their weights, summed."""
        S = self.n_signals_
        return (F * self.coef_[row]).reshape(len(F), -1, S).sum(axis=2)

    def _explain(self, X, row: int) -> pd.DataFrame:
        texts = check_texts(X)
        parts = self._contributions(self._measure(texts), row)
        frame = pd.DataFrame(parts, columns=self.concept_names())
        frame["intercept"] = self.intercept_[row]
        frame.index = pd.Index(range(len(texts)), name="text")
        return frame

    def _direction(self, row: int, weight: float) -> str:
        """The direction of a weight in words."""
        if self._regression:
            return "raises" if weight > 0 else "lowers"
        if len(self.classes_) == 2:
            return f"toward {_label(self.classes_[1 if weight > 0 else 0])}"
        return ("toward " if weight > 0 else "against ") + _label(self.classes_[row])

    def _evidence(self, k: int, weights, row: int = 0) -> str:
        """What a person can check on a concept's line: how often it fires in training, how the
        classes split there, and each signal's weight with the fidelity of its measurement."""
        support = self.support_[k]
        what = "yes" if self.n_signals_ == 1 else "fires"
        part = f"{what} for {support['fires']} of {support['n_texts']} training texts"
        if self._regression:
            if support["fires"]:
                part += f", mean target {support['mean_target_when_fires']:.3g} there"
                if support.get("mean_target_otherwise") is not None:
                    part += f" ({support['mean_target_otherwise']:.3g} elsewhere)"
        elif support["fires"]:
            toward = self.classes_[row] if len(self.classes_) > 2 else self.classes_[int(weights.sum() >= 0)]
            share, overall = support["class_shares"][_label(toward)], self._class_share(toward)
            part += f", {100 * share:.0f}% of them {_label(toward)} ({100 * overall:.0f}% of all)"
        records = [r for r in self.measurer_.fidelity_ if r["concept"] == k]
        if self.n_signals_ == 1:
            return f"{part}; measured by {describe_fidelity(records[0])}"
        signals = ", ".join(
            f"{r['signal']} {w:+.2f} ({describe_fidelity(r)}{'' if r['passed'] is not False else ': not faithful, no weight'})"
            for r, w in zip(records, weights))
        return f"{part}; {signals}"

    def _weights_table(self, row: int) -> list[tuple[float, str, str, str]]:
        """(summed weight, direction, concept, evidence) per concept, strongest first."""
        S = self.n_signals_
        lines = []
        for k, name in enumerate(self.concept_names()):
            w = self.coef_[row, k * S:(k + 1) * S]
            total = float(w.sum())
            lines.append((total, self._direction(row, total) if total else "no weight", name, self._evidence(k, w, row)))
        return sorted(lines, key=lambda t: -abs(t[0]))

    def _class_share(self, label) -> float:
        counts = {_label(c["label"]): c["share"] for c in self.training_["classes"]}
        return counts[_label(label)]

    def _gated_lines(self, limit: int = 10) -> list[str]:
        gated = getattr(self, "gated_concepts_", [])
        if not gated:
            return []
        lines = [f"not measured faithfully, so never weighted ({len(gated)}):"]
        lines += [f"  - {g['concept']}  ({describe_fidelity(g)})" for g in gated[:limit]]
        if len(gated) > limit:
            lines.append(f"  ... and {len(gated) - limit} more (gated_concepts_)")
        return lines

    def _format(self, rows, header, row_titles, html_out=False):
        if html_out:
            parts = [f"<div><b>{html.escape(header)}</b>"]
            for row, title in zip(rows, row_titles):
                parts.append(f"<p>{html.escape(title)} — intercept {self.intercept_[row]:+.3f}</p><table>")
                for w, direction, name, evidence in self._weights_table(row):
                    if w != 0:
                        parts.append(f"<tr><td style='text-align:right'>{w:+.3f}</td><td>{html.escape(direction)}</td>"
                                     f"<td>{html.escape(name)}<br><small>{html.escape(evidence)}</small></td></tr>")
                parts.append("</table>")
            gated = self._gated_lines()
            if gated:
                parts.append("<p><small>" + "<br>".join(html.escape(g) for g in gated) + "</small></p>")
            return "".join(parts) + "</div>"
        out = [header]
        for row, title in zip(rows, row_titles):
            out.append(f"{title}\n  {self.intercept_[row]:+8.3f}  intercept")
            for w, direction, name, evidence in self._weights_table(row):
                if w == 0 and len(rows) > 1:
                    continue  # multiclass: a concept weighted for another class only
                out.append(f"  {w:+8.3f}  {direction}: {name}\n            {evidence}")
        if not self.concepts_:
            out.append("  no concept carries weight: every prediction is the intercept alone")
        out += self._gated_lines()
        return "\n".join(out)

    # ------------------------------------------------------------------ audit (nlmodels.report)
    def to_json(self, path=None):
        """The fitted model as plain JSON (written to ``path``, or returned); ``nlmodels.load`` reads it."""
        from ..report.export import to_json
        return to_json(self, path)

    def report(self, X, y, path, **options):
        """Write a model card evaluated on ``X, y``: Markdown (.md) or self-contained HTML (.html).
        Options: see :func:`nlmodels.report.card_data`."""
        from ..report.card import write_card
        return write_card(self, X, y, path, **options)

    def edit(self, remove=(), add=(), *, author=None, note=None):
        """A copy with concepts removed and/or added (a question or a list of phrases); its head is
        cleared: call ``.refit_head(X, y)`` on it. Recorded in ``edits_``."""
        from ..report.edit import edit
        return edit(self, remove=remove, add=add, author=author, note=note)

    def refit_head(self, X, y):
        """Refit only the head (measuring only what an edit added); returns ``self``."""
        from ..report.edit import refit_head
        return refit_head(self, X, y)

    def plot_weights(self, **options):
        """Concept weights as a bar chart (a matplotlib Figure)."""
        from ..report.plots import plot_weights
        return plot_weights(self, **options)

    def plot_explanation(self, text, **options):
        """One text's prediction as a waterfall from the intercept to the decision value (a Figure)."""
        from ..report.plots import plot_explanation
        return plot_explanation(self, text, **options)


class ConceptClassifier(LinearDecisionMixin, ClassifierMixin, _ConceptModel):
    __doc__ = f"""A text classifier that is a short list of natural-language concepts with weights.

    Concepts are proposed (mined phrase groups offline, or questions from a chat model), every
    text is scored on each in [0, 1], and an L1-selected logistic regression over the scores keeps
    at most ``max_concepts`` of them. ``print(model)`` shows the whole model; :meth:`explain` gives
    each concept's contribution to each prediction, adding up exactly to :meth:`decision_function`.

    Parameters
    ----------{_COMMON_PARAMS}
    Attributes
    ----------
    classes_ : ndarray
    concepts_ : list of Concept
        The concepts that carry weight, in column order.
    coef_ : ndarray of shape (1 or n_classes, n_concepts * n_signals)
        Weights on the raw scores (binary: toward ``classes_[1]``).
    intercept_ : ndarray of shape (1 or n_classes,)
    measurer_ : the fitted measurer; ``measurer_.signals`` names the columns of each concept.
    embedder_ : the embedder used.

    Examples
    --------
    >>> clf = ConceptClassifier(max_concepts=10).fit(texts, labels)     # doctest: +SKIP
    >>> print(clf)                                                       # doctest: +SKIP
    >>> clf.explain(["a dull, lifeless film"])                           # doctest: +SKIP
    """

    def fit(self, X, y):
        texts, y = check_texts_labels(X, y)
        self.classes_ = np.unique(y)
        _, F = self._propose_and_measure(texts, y)
        self._fit_head_step(self._fill_missing(F), y)
        self.n_features_in_ = 1
        self._record_training(texts, y)
        return self

    def decision_function(self, X):
        check_is_fitted(self, "coef_")
        F = self._measure(X)
        scores = np.stack([self.intercept_[r] + self._contributions(F, r).sum(axis=1)
                           for r in range(len(self.intercept_))], axis=1)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def explain(self, X, target=None) -> pd.DataFrame:
        """Each concept's contribution to each text's decision value, plus the intercept.

        Binary: the decision value toward ``classes_[1]`` (``target`` may be omitted). Multiclass:
        ``target`` picks the class (default: the first class). Row sums equal
        ``decision_function`` (that class's column for multiclass).
        """
        check_is_fitted(self, "coef_")
        if len(self.classes_) == 2:
            if target is not None and target not in self.classes_:
                raise ValueError(f"target {target!r} is not a class; classes are {list(self.classes_)}")
            return self._explain(X, 0)
        target = self.classes_[0] if target is None else target
        if target not in self.classes_:
            raise ValueError(f"target {target!r} is not a class; classes are {list(self.classes_)}")
        return self._explain(X, int(np.flatnonzero(self.classes_ == target)[0]))

    def _rows(self):
        if len(self.classes_) == 2:
            return [0], [f"score toward {_label(self.classes_[1])} (below 0: {_label(self.classes_[0])})"]
        return list(range(len(self.classes_))), [f"class {_label(c)}" for c in self.classes_]

    def __str__(self):
        check_is_fitted(self, "coef_")
        header = (f"ConceptClassifier: {len(self.concepts_)} concepts, measured by {self.measurer_.name}; "
                  f"classes {', '.join(_label(c) for c in self.classes_)}")
        rows, titles = self._rows()
        return self._format(rows, header, titles)

    def _repr_html_(self):
        if not hasattr(self, "coef_"):
            return html.escape(repr(self))
        rows, titles = self._rows()
        return self._format(rows, f"ConceptClassifier ({len(self.concepts_)} concepts)", titles, html_out=True)


class ConceptRegressor(RegressorMixin, _ConceptModel):
    __doc__ = f"""A text regressor that is a short list of natural-language concepts with weights.

    Like :class:`ConceptClassifier`, with concepts mined from the low and high thirds of the target
    and a Lasso-selected linear model (at most ``max_concepts`` concepts), refitted with ridge.

    Parameters
    ----------{_COMMON_PARAMS}
    Attributes
    ----------
    concepts_, measurer_, embedder_ : as for ConceptClassifier
    coef_ : ndarray of shape (1, n_concepts * n_signals)
    intercept_ : ndarray of shape (1,)
    """

    _regression = True

    def fit(self, X, y):
        texts, y = check_texts_labels(X, y, regression=True)
        _, F = self._propose_and_measure(texts, y)
        self._fit_head_step(self._fill_missing(F), y)
        self.n_features_in_ = 1
        self._record_training(texts, y)
        return self

    def predict(self, X):
        check_is_fitted(self, "coef_")
        F = self._measure(X)
        return self.intercept_[0] + self._contributions(F, 0).sum(axis=1)

    def explain(self, X, target=None) -> pd.DataFrame:
        """Each concept's contribution to each prediction, plus the intercept; rows sum to ``predict``."""
        check_is_fitted(self, "coef_")
        return self._explain(X, 0)

    def __str__(self):
        check_is_fitted(self, "coef_")
        header = f"ConceptRegressor: {len(self.concepts_)} concepts, measured by {self.measurer_.name}"
        return self._format([0], header, ["prediction"])

    def _repr_html_(self):
        if not hasattr(self, "coef_"):
            return html.escape(repr(self))
        return self._format([0], f"ConceptRegressor ({len(self.concepts_)} concepts)", ["prediction"], html_out=True)


class QuestionEmbedder(_ConceptFeatures, TransformerMixin, BaseEstimator):

    __doc__ = f"""A scikit-learn transformer: ``fit`` proposes concepts, ``transform`` measures them.

    Put it in a Pipeline before any model. Output columns are concepts (times signals for
    ``measure="embedding"``: ``similar`` and ``mentions``); :meth:`get_feature_names_out` names them.
    ``max_concepts`` is not applied here (no head chooses); the proposer decides how many there are.

    Parameters
    ----------{_COMMON_PARAMS}
    regression : bool, default=False
        Treat ``y`` as a numeric target when proposing concepts.
    """

    def __init__(self, llm=None, *, embedder=None, measure="auto", max_concepts=30, concepts=None,
                 proposer="auto", n_rounds=1, questions_per_round=10, n_distill=200, gated="drop", recheck=0,
                 phrases_per_class=200, groups_per_class="auto", on_error="raise", n_jobs=None, random_state=0,
                 regression=False):
        _ConceptModel.__init__(self, llm, embedder=embedder, measure=measure, max_concepts=max_concepts,
                               concepts=concepts, proposer=proposer, n_rounds=n_rounds,
                               questions_per_round=questions_per_round, n_distill=n_distill,
                               gated=gated, recheck=recheck,
                               phrases_per_class=phrases_per_class, groups_per_class=groups_per_class,
                               on_error=on_error, n_jobs=n_jobs, random_state=random_state)
        self.regression = regression

    def fit(self, X, y):
        self._regression = self.regression
        texts, y = check_texts_labels(X, y, regression=self.regression)
        _, F = self._propose_and_measure(texts, y)
        self._fill_missing(F)
        self.n_features_in_ = 1
        return self

    def transform(self, X):
        check_is_fitted(self, "measurer_")
        return self._measure(X)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "measurer_")
        signals = self.measurer_.signals
        names = self.concept_names()
        if len(signals) == 1:
            return np.array(names, dtype=object)
        return np.array([f"{n} [{s}]" for n in names for s in signals], dtype=object)
