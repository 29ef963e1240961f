"""The sparse linear concept model that ConceptClassifier and ConceptRegressor share: the head step
(fidelity gate, sign-bounded sparse weights, support on the training texts), explanations that add
up exactly, and the printed model."""

from __future__ import annotations

import copy
import html
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import ttest_ind
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._codec import label_text
from .._validation import check_texts, check_texts_labels
from ..concepts import unshown_lines
from ..concepts.fidelity import describe as describe_fidelity
from ..concepts.fidelity import spans_gate, wilson_interval
from ..embed import SentenceTransformerEmbedder
from ._contract import CONCEPT_LINEAR
from ._edit import edit, refit_head
from ._head import MANY_CLASSES, association_signs, fit_sparse_classifier, fit_sparse_regressor, own_class_rows
from ._pipeline import DEFAULT_CONCEPTS, ConceptPipeline, store_params
from ._views import Reportable, render

__all__ = ["ATTRIBUTES_DOC", "CV_BUDGET_MAX_TEXTS", "LinearConceptModel", "constant_note"]

#: Up to this many training texts an offline classifier with ``max_concepts="auto"`` chooses its
#: concept budget by cross-validation that mines and measures inside each fold. A fixed 30 overfits
#: with few labels (sst2 at 200 texts: 0.726 with 30, 0.749 chosen) and on some sets with 2,000
#: (sst2: 0.773 with 30, 0.796 chosen). Above it the folds' five extra fits cost too much (at 2,000
#: texts, on two cores, a fit took up to 1.9 times as long); not measured there.
CV_BUDGET_MAX_TEXTS = 5000

#: The fitted attributes of the linear concept models (formatted by each estimator).
ATTRIBUTES_DOC = """    concepts_ : list of Concept
        The concepts that carry weight, in column order.
    coef_ : ndarray of shape ({rows}, n_concepts * n_signals)
        Weights on the raw scores{toward}; every weight of a concept has the sign of the concept's
        association with the target in the training data.
    intercept_ : ndarray of shape ({rows},)
    fidelity_ : DataFrame
        One row per weighted concept and signal: how its measurement was checked on held-out texts
        (``metric``, ``fidelity``, ``baseline``, ``n_texts``, ``passed``).
    gated_concepts_ : list of dict
        Concepts not measured faithfully (their fidelity record), which never carry weight.
    support_ : list of dict
        Per weighted concept, on the training texts: how often its reading signal fires and how the
        {support} there.
    class_shares_ : dict
        Classifiers: each class's share of the texts the head was fitted on (the "of all" figures).
    chat_calls_per_text_ : int
        Chat-model calls ``predict`` makes per text (0: none).
    measure_ : str
        The measurement ``measure="auto"`` resolved to.
    max_concepts_ : int
        The concept budget ``max_concepts`` resolved to.
    concept_budget_cv_ : dict or None
        Offline classifiers of at most 15 classes, at most 5,000 training texts and
        ``max_concepts="auto"``: the budgets tried (``candidates``), their mean held-out accuracy
        (``accuracy``), the number of ``folds`` and the budget ``chosen``; concepts are mined and
        measured inside each fold. Also the prototypes alone (``prototypes_alone_accuracy``, the
        largest budget without mined phrases; None without prototypes) and whether the mined phrases were kept
        (``mined_phrases``: False when the prototypes alone scored strictly higher; then no mined
        phrase concept carries weight).
        ``None`` otherwise.
    measurer_ : the fitted measurer; ``measurer_.signals`` names the columns of each concept.
    embedder_ : the embedder used.
    fill_values_ : ndarray
        Each column's training mean, which replaces a missing score (a chat call that failed with
        ``on_error="missing"``).
    groups_per_class_, phrases_per_class_ : int
        Phrase groups and phrases mined per class (offline proposer).
    prototypes_ : bool
        Whether prototype concepts were proposed (``prototypes="auto"`` resolved).
    training_ : dict
        What the training data was: size, mean length, {balance}, date, chat usage.
    edits_ : list of dict
        The edit history (:meth:`edit`, :meth:`refit_head`).
    n_features_in_ : int
        1: one column of texts.

"""


def constant_note(fidelity: dict) -> str:
    """What a constant answer (the black box's most common training output) agrees on, beside a
    surrogate's held-out agreement: a surrogate is read against that, not against 0 ("" where not
    recorded, in files from before it was)."""
    value, constant = fidelity.get("agreement"), fidelity.get("constant_agreement")
    if constant is None or not isinstance(value, (int, float)):
        return ""
    which = ("always the side of 0.5 most of its training outputs are on" if fidelity.get("kind") == "probability"
             else "its most common training output")
    return (f"; a constant answer ({which}) agrees on {constant:.3f}"
            + (", so the surrogate does no better than that" if value <= constant else ""))


def _direction_note(interval: str, baseline: str, spans: bool, against: bool) -> str:
    """What a concept's line adds when the texts it fires on do not settle its direction: their 95%
    ``interval`` spans the ``baseline`` (too few), or lies on the side ``against`` its weight (the sign
    follows its scores over all training texts, the printed split counts scores of 0.5 or more)."""
    if spans:
        return f"; {interval} spans {baseline}: too few to show its direction"
    if against:
        return (f"; {interval} lies on the other side: these texts lean the other way, the weight follows its "
                "scores over all training texts")
    return ""


class LinearConceptModel(Reportable, ConceptPipeline, BaseEstimator):
    """Propose, measure, then a sparse linear head whose weights point the way their concepts read."""

    _parameter_constraints = CONCEPT_LINEAR
    def __init__(self, llm=None, *, embedder=None, measure="auto", max_concepts="auto", concepts=None,
                 proposer="auto", n_rounds=2, questions_per_round=10, n_distill=200, gated="drop", recheck=0,
                 prototypes="auto", phrases_per_class="auto", groups_per_class="auto", on_error="raise", n_jobs=None, random_state=0):
        store_params(self, locals())

    def estimate_cost(self, X, y=None):
        """Chat calls and tokens of ``fit(X, y)`` (unfitted) or ``predict(X)`` (fitted), before running
        it; see :func:`nlmodels.models._cost.estimate_cost`."""
        from ._cost import estimate_cost
        return estimate_cost(self, X, y)

    def _fit(self, X, y):
        """``fit`` of the classifier and the regressor: check, propose and measure, the head step."""
        texts, y = check_texts_labels(X, y, regression=self._regression)
        usage_before = self._usage_now()
        if not self._regression:
            self.classes_ = np.unique(y)
        self.concept_budget_cv_ = self._budget_by_cv(texts, y)
        _, F = self._propose_and_measure(texts, y)
        self._fit_head_step(self._fill_missing(F), y)
        self.n_features_in_ = 1
        self._record_training(texts, y, F, usage_before)
        return self

    def _budget_by_cv(self, texts, y) -> dict | None:
        """For an offline classifier of at most ``MANY_CLASSES`` classes and ``CV_BUDGET_MAX_TEXTS``
        texts with ``max_concepts="auto"``: the concept budget by k-fold
        cross-validation. Each fold mines and measures its own concepts from its training part (so
        the held-out part never chose a phrase), fits the head at every candidate budget and scores
        the held-out part; the best mean accuracy wins, ties going to the smaller budget. One more
        candidate, where prototypes are proposed, is the prototypes alone (no mined phrase concept
        may carry weight, the largest budget): it is chosen only when it scores strictly higher than
        every budget with the phrases (with a few hundred texts mined phrases can be noise the
        prototypes are not). The folds
        run on joblib threads (every core unless ``n_jobs`` says otherwise), sharing one embedder."""
        self._check_params()   # before the folds' work; offline (no chat model) means measured by embeddings
        if (self._regression or self.max_concepts != "auto" or self.llm is not None
                or len(texts) > CV_BUDGET_MAX_TEXTS or len(self.classes_) > MANY_CLASSES):
            return None
        _, counts = np.unique(y, return_counts=True)
        folds = int(min(5, counts.min()))
        if folds < 2:
            return None
        step = 1 if len(self.classes_) == 2 else len(self.classes_)
        candidates = sorted({min(step * 2 ** j, DEFAULT_CONCEPTS) for j in range(6)})   # ..., 30
        texts = np.asarray(texts, dtype=object)
        embedder = self.embedder if self.embedder is not None else SentenceTransformerEmbedder()
        embedder.encode(list(texts))   # once, before the folds share it
        jobs = -1 if self.n_jobs is None else self.n_jobs   # the folds take the cores; probes inside run serially
        params = {**self.get_params(deep=False), "embedder": embedder, "max_concepts": max(candidates), "n_jobs": 1}
        heads = [(b, True) for b in candidates]   # every budget, then (with prototypes) the prototypes alone
        try_alone = self._use_prototypes()        # (no mined phrase) at the largest budget
        heads += [(max(candidates), False)] if try_alone else []

        def fold(train, test):
            inner = type(self)(**params)
            inner.classes_ = self.classes_
            _, F = inner._propose_and_measure(list(texts[train]), y[train])
            F = inner._fill_missing(F)
            row = []
            for budget, phrases in heads:
                model = copy.copy(inner)   # the head step drops concepts from the measurer: a copy each
                model.measurer_ = copy.deepcopy(inner.measurer_, {id(inner.embedder_): inner.embedder_})
                model.max_concepts, model.concept_budget_cv_ = "auto", {"chosen": budget, "mined_phrases": phrases}
                model._fit_head_step(F, y[train])
                row.append(np.mean(model.predict(list(texts[test])) == y[test]))
            return row

        split = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        with threadpool_limits(1, user_api="blas"):   # as the head's own fits, held for all the threads
            accuracy = np.array(Parallel(n_jobs=jobs, prefer="threads")(
                delayed(fold)(train, test) for train, test in split.split(texts, y)))
        mean = accuracy.mean(axis=0)
        with_phrases = mean[:len(candidates)]
        alone = round(float(mean[-1]), 4) if try_alone else None   # None: no prototypes (prototypes=False)
        phrases = alone is None or not alone > with_phrases.max()   # a tie keeps the mined phrases: they say why
        return {"candidates": candidates, "accuracy": [round(float(a), 4) for a in with_phrases], "folds": folds,
                "prototypes_alone_accuracy": alone, "mined_phrases": bool(phrases),
                "fold_accuracy": accuracy.round(4).tolist(),
                "chosen": candidates[int(np.argmax(with_phrases))] if phrases else max(candidates)}

    def _concept_budget(self, y) -> int:
        """With ``max_concepts="auto"``: the budget cross-validation chose, where it ran."""
        if self.max_concepts == "auto" and getattr(self, "concept_budget_cv_", None):   # None in older files
            return int(self.concept_budget_cv_["chosen"])
        return super()._concept_budget(y)

    # ------------------------------------------------------------------ the head step
    def _chosen_columns(self) -> np.ndarray:
        """Per column: did the budget's cross-validation leave its concept in the running? Not a
        mined phrase concept when it chose the prototypes alone (``mined_phrases``: False)."""
        cv = getattr(self, "concept_budget_cv_", None) or {}
        phrases = cv.get("mined_phrases", True)   # older files: no such choice
        return np.repeat([phrases or c.source != "data" for c in self.concepts_], self.n_signals_)

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
        classes = np.unique(y)
        if not self._regression and len(classes) > 2:
            # A prototype weighs toward its own class only ("resembles the texts labelled 'joy'" is no
            # reason for 'love', though love texts resemble joy texts); beyond MANY_CLASSES, so does
            # every concept mined from a class's texts.
            many = len(classes) > MANY_CLASSES
            own = [c.target if (c.is_prototype or many) else None for c in self.concepts_]
            signs = own_class_rows(signs, own, classes, groups)
        fit = fit_sparse_regressor if self._regression else fit_sparse_classifier
        self.max_concepts_ = self._concept_budget(y)
        coef, intercept, used = fit(F, y, groups, self.max_concepts_, signs=signs,
                                    allowed=allowed & self._chosen_columns(), random_state=self.random_state)
        columns = self._keep(used)
        if self._regression:
            self.coef_, self.intercept_ = coef[None, columns], np.array([intercept])
        else:
            self.coef_, self.intercept_ = coef[:, columns], intercept
        self.gated_concepts_ = [{"concept": name, **{k: v for k, v in rec.items() if k != "concept"}}
                                for name, rec in gated]
        self.support_ = self._support(F[:, columns], y)
        if not self._regression:  # beside support_: the same texts (refit_head may bring new ones)
            self.class_shares_ = {label_text(c, quoted=True): float(np.mean(y == c)) for c in np.unique(y)}

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
                a, b = y[fires], y[~fires]
                if len(a) >= 2 and len(b) >= 2 and (a.var() > 0 or b.var() > 0):
                    # Welch's 95% interval of the difference; the pooled one where a group's targets are all
                    # equal (Welch would take its variance as 0 and the interval as sure on 2 texts rated 5)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        ci = ttest_ind(a, b, equal_var=not (a.var() > 0 and b.var() > 0)).confidence_interval()
                    if np.isfinite([ci.low, ci.high]).all():
                        entry["difference_interval"] = [float(ci.low), float(ci.high)]
            else:
                entry["class_shares"] = {label_text(c, quoted=True): float(np.mean(y[fires] == c)) if fires.any() else None
                                         for c in np.unique(y)}
            out.append(entry)
        return out

    @property
    def chat_calls_per_text_(self) -> int:
        """Chat-model calls ``predict`` makes per text (0: none)."""
        check_is_fitted(self, "measurer_")
        return self.measurer_.chat_calls_per_text

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
            return f"toward {label_text(self.classes_[1 if weight > 0 else 0], quoted=True)}"
        return ("toward " if weight > 0 else "against ") + label_text(self.classes_[row], quoted=True)

    def _evidence(self, k: int, weights, row: int = 0) -> str:
        """What a person can check on a concept's line: how often it fires in training, how the
        classes split there, and each signal's weight with the fidelity of its measurement."""
        if not hasattr(self, "support_"):  # a model file written before support and fidelity were recorded
            return "training support and fidelity not recorded (a model file from an earlier nlmodels)"
        support = self.support_[k]
        what = "yes" if self.n_signals_ == 1 else "fires"
        by_llm = getattr(self.measurer_, "answered_by_llm_", None)
        if getattr(self, "measure_", None) == "distill" and not (by_llm is not None and by_llm[k]):
            what = "its distilled probe says yes"   # the probe's score on every training text, not the chat model's answers
        part = f"{what} for {support['fires']} of {support['n_texts']} training texts"
        if self._regression:
            if support["fires"]:
                part += f", mean target {support['mean_target_when_fires']:.3g} there"
                if support.get("mean_target_otherwise") is not None:
                    part += f" ({support['mean_target_otherwise']:.3g} elsewhere"
                    low, high = support.get("difference_interval") or (None, None)
                    if low is not None:   # Welch's interval of mean target there minus elsewhere, against 0
                        part += _direction_note(f"the 95% interval of the difference, {low:+.3g} to {high:+.3g},",
                                                "0", low <= 0 <= high, high < 0 if weights.sum() > 0 else low > 0)
                    part += ")"
        elif support["fires"]:
            toward = self.classes_[row] if len(self.classes_) > 2 else self.classes_[int(weights.sum() >= 0)]
            name = label_text(toward, quoted=True)
            share, overall = support["class_shares"][name], self.class_shares_[name]
            part += f", {100 * share:.0f}% of them {name} ({100 * overall:.0f}% of all"
            low, high = wilson_interval(round(share * support["fires"]), support["fires"])
            more = len(self.classes_) == 2 or weights.sum() >= 0   # the share its weight says should be higher
            part += _direction_note(f"the 95% interval {100 * low:.0f}-{100 * high:.0f}% on {support['fires']} texts",
                                    "that", low <= overall <= high, (high < overall) if more else (low > overall))
            part += ")"
        checks = self._signal_checks(k)
        if self.n_signals_ == 1:
            return f"{part}; measured by {checks[0][2]}"
        signals = ", ".join(f"{signal} {weights[j]:+.2f} ({check})" for j, signal, check in checks)
        if self.concepts_[k].reads_words:
            top = self.measurer_.top_words(k)
            signals += ("; a probe on the text's words (TF-IDF of 1-2-grams) that recognises this class's training "
                        "texts" + (", weighing most: " + ", ".join(f"'{w}'" for w in top) if top else "")
                        + ": it says the text uses their words, not why")
        elif self.concepts_[k].is_prototype:
            signals += "; a probe that recognises this class's training texts: it says the text looks like them, not why"
        return f"{part}; {signals}"

    def _weights_table(self, row: int) -> list[tuple[float, str, str, str, int]]:
        """(summed weight, direction, concept, evidence, concept index) per concept, strongest first."""
        S = self.n_signals_
        lines = []
        for k, name in enumerate(self.concept_names()):
            w = self.coef_[row, k * S:(k + 1) * S]
            total = float(w.sum())
            lines.append((total, self._direction(row, total) if total else "no weight", name, self._evidence(k, w, row), k))
        return sorted(lines, key=lambda t: -abs(t[0]))

    def _notes(self, tables, width: int | None = 120) -> list[str]:
        """The lines under a printed linear model (``tables``: its rows' ``_weights_table``), in order:
        the phrases the weighted concepts read that their names leave out, the concepts never weighted
        for failing their gate, the weighted signals measured on few texts, the training texts without
        a chat answer."""
        weighted = [k for table in tables for w, *_, k in table if w != 0]   # in printed order
        phrases = unshown_lines("phrases the weighted concepts read that their names do not show:",
                                self._unshown_phrases(weighted), width)
        return phrases + self._gated_lines() + self._uncertain_lines() + self._unanswered_line()

    def _gated_lines(self, limit: int = 10) -> list[str]:
        gated = getattr(self, "gated_concepts_", [])
        if not gated:
            return []
        lines = [f"not measured faithfully, so never weighted ({len(gated)}):"]
        lines += [f"  - {g['concept']}  ({describe_fidelity(g)})" for g in gated[:limit]]
        if len(gated) > limit:
            lines.append(f"  ... and {len(gated) - limit} more (gated_concepts_)")
        return lines

    def _uncertain_lines(self) -> list[str]:
        """A note on the weighted signals whose held-out fidelity has a 95% interval spanning its gate."""
        records = getattr(getattr(self, "measurer_", None), "fidelity_", None)
        if not records or not hasattr(self, "coef_"):
            return []
        weighted = np.abs(self.coef_).sum(axis=0) != 0
        count = int((weighted & self._per_column(lambda r: bool(spans_gate(r)))).sum())
        if not count:
            return []
        many = count > 1
        return [f"measured on few texts: {count} weighted signal{'s' if many else ''} ha{'ve' if many else 's'} a "
                f"held-out fidelity whose 95% interval spans {'their' if many else 'its'} gate (marked above, as are "
                "any such unweighted signals); more texts would tell whether they clear it"]

    def _surrogate_line(self) -> str:
        """A surrogate of a black box (``explain_model``) says so, with its measured agreement."""
        record = getattr(self, "surrogate_of_", None)
        if not record:
            return ""
        f = record["fidelity"]

        def shown(name):   # a figure that could not be computed (a constant surrogate's correlation) reads n/a
            value = f.get(name)
            return f"{value:.3f}" if isinstance(value, (int, float)) and np.isfinite(value) else "n/a"

        measured = ", ".join(part for part in (
            f"agreement {shown('agreement')}" if "agreement" in f else "",
            f"R² {shown('r2')}, correlation {shown('correlation')}" if "r2" in f else "") if part)
        if record.get("head_refitted"):   # the head and its support now come from the texts refit_head was given
            return (f"fitted as a surrogate of the black box {record['black_box']} (to its outputs on {f['n_train']} "
                    f"texts; {measured} with it on {f['n_test']} held-out texts{constant_note(f)}); its head has since been refitted "
                    "(refit_head), so that agreement is not this head's")
        outputs = ("the training targets below are its outputs" if self._regression else
                   "'training texts labelled X' below are texts it labelled X")
        if record.get("output"):   # which of its outputs (a predict_proba: the column of one class)
            outputs = f"its output: {record['output']}; {outputs}"
        return (f"a surrogate of the black box {record['black_box']}: fitted to its outputs on {f['n_train']} texts, "
                f"not to true labels ({outputs}); {measured} with it on {f['n_test']} held-out texts{constant_note(f)}")

    def _format(self, rows, header, row_titles, html_out=False):
        surrogate = self._surrogate_line()
        header = f"{header}\n{surrogate}" if surrogate else header
        tables = [self._weights_table(row) for row in rows]
        if html_out:
            parts = [f"<div><b>{html.escape(header)}</b>"]
            for row, title, table in zip(rows, row_titles, tables):
                parts.append(f"<p>{html.escape(title)} — intercept {self.intercept_[row]:+.3f}</p><table>")
                for w, direction, name, evidence, _ in table:
                    if w != 0:
                        parts.append(f"<tr><td style='text-align:right'>{w:+.3f}</td><td>{html.escape(direction)}</td>"
                                     f"<td>{html.escape(name)}<br><small>{html.escape(evidence)}</small></td></tr>")
                parts.append("</table>")
            notes = self._notes(tables, width=None)   # one line per concept: the page wraps it
            if notes:
                parts.append("<p><small>" + "<br>".join(html.escape(g) for g in notes) + "</small></p>")
            return "".join(parts) + "</div>"
        out = [header]
        for row, title, table in zip(rows, row_titles, tables):
            out.append(f"{title}\n  {self.intercept_[row]:+8.3f}  intercept")
            for w, direction, name, evidence, _ in table:
                if w == 0 and len(rows) > 1:
                    continue  # multiclass: a concept weighted for another class only
                out.append(f"  {w:+8.3f}  {direction}: {name}\n            {evidence}")
        if not self.concepts_:
            out.append("  no concept carries weight: every prediction is the intercept alone")
        out += self._notes(tables)
        return "\n".join(out)

    # ------------------------------------------------------------------ audit: export, card, plots, edits

    def edit(self, remove=(), add=(), *, author=None, note=None):
        """A copy with concepts removed and/or added (a question or a list of phrases); its head is
        cleared: call ``.refit_head(X, y)`` on it. Recorded in ``edits_``."""
        return edit(self, remove=remove, add=add, author=author, note=note)

    def refit_head(self, X, y):
        """Refit only the head (measuring only what an edit added) with the head step of ``fit``;
        returns ``self``."""
        return refit_head(self, X, y)

    def plot_weights(self, **options):
        """Concept weights as a bar chart (a matplotlib Figure)."""
        return render("plot_weights", self, **options)

    def plot_explanation(self, text, **options):
        """One text's prediction as a waterfall from the intercept to the decision value (a Figure)."""
        return render("plot_explanation", self, text, **options)
