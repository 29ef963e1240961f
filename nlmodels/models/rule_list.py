"""``RuleListClassifier``: an if-then-else list of rules over concepts."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._codec import counted, label_text, plain_label
from .._validation import check_texts
from ._contract import positive_int
from ._document import register
from ._head import MANY_CLASSES
from ._pipeline import store_params
from ._rule_base import PARAMETERS_DOC_RULES, RULE_PARAMETERS, Condition, Rule, RuleConceptModel, candidate_cuts
from ._rule_search import learn_rule_list

__all__ = ["RuleListClassifier"]

_ALPHAS = (0.5, 1.0, 1.5, 2.0, 3.0)


@register
class RuleListClassifier(RuleConceptModel):
    __doc__ = f"""An ordered list of if-then rules whose conditions are natural-language concepts.

    ::

        IF mentions something like: 'txt', 'win', 'prize' (similar >= 0.71) THEN spam   (precision 0.95, 241 training texts)
        ELSE IF ... AND ... THEN ...
        ELSE ham

    Concepts are proposed and measured as for :class:`ConceptClassifier`. Every concept score
    column is cut at candidate thresholds (quantiles of the training scores); a condition is one
    cut ("similar >= 0.42", or its negation "similar < 0.42"), a rule is one condition or a
    conjunction of two. Rules are found by sequential covering: each maximises
    ``correct - alpha * wrong`` among the texts no earlier rule covers; ``alpha`` and the list
    length (at most ``max_rules``) are chosen by 3-fold cross-validation, repeated three times; one
    sweep of coordinate
    ascent then replaces each rule by the one that does best given the others, and trailing rules
    that do not help are dropped. The final ELSE predicts the majority of what is left.

    Parameters
    ----------
    max_rules : int, default=10
        At most this many rules before the final ELSE.
    n_thresholds : int, default=16
        Candidate thresholds per score column (0/1 columns have one).
    min_support : int, default=5
        A rule must fire for at least this many training texts (fewer for tiny data).{PARAMETERS_DOC_RULES}
    Attributes
    ----------
    classes_ : ndarray
    rules_ : list of Rule
        The rules in order, without the final ELSE; each has ``conditions`` (list of
        :class:`Condition`: concept index, signal, threshold, direction), ``label``,
        ``class_counts`` (training texts it fired for, per class), ``n_covered`` and ``precision``.
    default_ : label of the final ELSE; ``default_counts_`` its training class counts.
    concepts_ : list of Concept
        The concepts the rules use, in column order (a list with no rule keeps one, untested, so the
        measurer stays well-formed; it is not in ``fidelity_`` and the printed count leaves it out).
    proposed_rules_ : DataFrame
        Rules a chat model proposed (empty offline): condition, claimed label, and the threshold,
        coverage and precision measured on the training texts; ``in_model`` whether the fitted
        list uses the condition.
    alpha_ : float
        The error weight chosen by cross-validation.
    training_ : dict
        Size, class balance and date of the training data (written to the JSON export).
    measure_ : str
        The measurement ``measure="auto"`` resolved to.
    measurer_, embedder_ : the fitted measurer and the embedder used.
    gated_signals_ : list of dict
        The candidate signals no condition may test because their held-out check fell below its
        gate: the concept's name, the signal and its fidelity record (``n_gated_signals_``: how many).
    fill_values_ : ndarray
        Each column's training mean, which replaces a missing score.
    groups_per_class_, coarse_groups_per_class_ : int
        Phrase groups mined per class (offline proposer), fine and coarse.
    edits_ : list of dict
        The edit history.
    n_features_in_ : int
        1: one column of texts.

    Examples
    --------
    >>> model = RuleListClassifier(max_rules=5).fit(texts, labels)       # doctest: +SKIP
    >>> print(model)                                                      # doctest: +SKIP
    >>> model.explain(["WIN a free prize, txt now"])                     # doctest: +SKIP
    """

    _parameter_constraints = {**RULE_PARAMETERS, "max_rules": [positive_int], "n_thresholds": [positive_int],
                              "min_support": [positive_int]}

    def __init__(self, llm=None, *, max_rules=10, n_thresholds=16, min_support=5, embedder=None,
                 measure="auto", concepts=None, proposer="auto", n_rounds=2, questions_per_round=10,
                 n_distill=200, phrases_per_class="auto", groups_per_class="auto", coarse_groups_per_class="auto",
                 n_proposed_rules=10, on_error="raise", n_jobs=None, random_state=0):
        store_params(self, locals())

    def _check_classes(self, n_classes: int) -> None:
        """A rule list that cannot reach every class: a warning, and with more than 15 classes a
        refusal before any work (it would leave most classes unpredicted: clinc150 with 10 rules
        scored 0.072 after a 673 s fit)."""
        if self.max_rules < n_classes - 1:
            message = (f"max_rules={self.max_rules} cannot give each of the {n_classes} classes a rule: a rule list "
                       f"that predicts every class needs at least {n_classes - 1} rules (one per class, the last "
                       f"class taken by the final ELSE); at most {self.max_rules + 1} classes can be predicted. Pass "
                       f"max_rules >= {n_classes - 1}, or use ConceptClassifier")
            if n_classes > MANY_CLASSES:
                raise ValueError(message + f" (refused with more than {MANY_CLASSES} classes)")
            warnings.warn(message, UserWarning, stacklevel=3)

    def fit(self, X, y):
        F, y = self._fit_concepts(X, y)
        yi = np.searchsorted(self.classes_, y)
        K = len(self.classes_)
        columns, cuts = candidate_cuts(F, self.n_thresholds)
        usable = self._usable_columns()[columns]   # a measurement that failed its gate is never tested
        columns, cuts = columns[usable], cuts[usable]
        B = (F[:, columns] >= cuts).astype(np.float32)
        min_support = int(min(self.min_support, max(1, len(y) // 10)))
        found, self.alpha_ = learn_rule_list(B, yi, K, max_rules=self.max_rules, alphas=_ALPHAS,
                                              min_support=min_support, random_state=self.random_state)
        M = B.shape[1]
        binary = self._binary_columns(F)
        S, signals = self.n_signals_, self.measurer_.signals
        conditions = [[Condition(int(columns[m % M]) // S, signals[int(columns[m % M]) % S], int(columns[m % M]),
                                 float(cuts[m % M]), m < M, bool(binary[columns[m % M]])) for m in conds]
                      for conds, _ in found]
        # Keep only the concepts the rules use (predict measures only those), renumbering columns.
        used = np.zeros(F.shape[1], bool)
        for conds in conditions:
            for c in conds:
                used[c.column] = True
        if not used.any():
            used[0] = True  # no rule: keep one concept so the measurer stays well-formed
        kept = self._keep(used)
        new_column = {int(old): new for new, old in enumerate(kept)}
        conditions = [[Condition(new_column[c.column] // S, c.signal, new_column[c.column], c.threshold, c.above,
                                 c.binary) for c in conds] for conds in conditions]
        self._set_rules(F[:, kept], yi, conditions)
        self._mark_in_model()
        return self

    def _set_rules(self, F, yi, conditions):
        """Class counts of the texts each rule fires for, in order; a rule predicts its majority."""
        K = len(self.classes_)
        left = np.ones(len(yi), bool)
        rules = []
        for conds in conditions:
            rule = Rule(tuple(conds), None, np.zeros(K, int))
            fires = rule.holds(F) & left
            counts = np.bincount(yi[fires], minlength=K)
            rules.append(Rule(tuple(conds), self.classes_[int(np.argmax(counts))], counts))
            left &= ~fires
        self.default_counts_ = np.bincount(yi[left] if left.any() else yi, minlength=K)
        self.default_ = self.classes_[int(np.argmax(self.default_counts_))]
        self.rules_ = rules

    _FITTED = "rules_"
    _ATTRIBUTES = ("coarse_groups_per_class_", "n_gated_signals_", "gated_signals_", "alpha_")
    _HEAD = "rule_list"

    def _head_state(self) -> dict:
        names, checks = self.concept_names(), self._checks()
        rules = []
        for rule in self.rules_:
            conditions = [{"concept": c.concept, "name": names[c.concept], "signal": c.signal, "column": c.column,
                           "threshold": c.threshold, "above": c.above, "binary": c.binary,
                           "check": str(checks[c.column])} for c in rule.conditions]
            rules.append({"text": rule.describe(names), "conditions": conditions, "label": plain_label(rule.label),
                          "label_index": self._class_index(rule.label),
                          "class_counts": [int(v) for v in rule.class_counts], "n_covered": rule.n_covered,
                          "precision": rule.precision if rule.n_covered else None})
        return {
            "decision_rule": "the first rule whose conditions all hold decides (a condition: scores[column] >= "
                             "threshold when above, else scores[column] < threshold); when none holds, default "
                             "decides; predict classes[label_index]; probabilities = class_counts / their sum",
            "rules": rules,
            "default": {"label": plain_label(self.default_), "label_index": self._class_index(self.default_),
                        "class_counts": [int(v) for v in self.default_counts_]},
        }

    def _set_head_state(self, head: dict) -> None:
        self.rules_ = [
            Rule(tuple(Condition(int(c["concept"]), c["signal"], int(c["column"]), float(c["threshold"]),
                                 bool(c["above"]), bool(c["binary"])) for c in rule["conditions"]),
                 self.classes_[rule["label_index"]], np.array(rule["class_counts"], dtype=np.intp))
            for rule in head["rules"]
        ]
        self.default_ = self.classes_[head["default"]["label_index"]]
        self.default_counts_ = np.array(head["default"]["class_counts"], dtype=np.intp)

    def _which_rule(self, F) -> np.ndarray:
        """Index of the first rule that fires for each text; ``len(rules_)`` for the final ELSE."""
        out = np.full(len(F), len(self.rules_))
        for r in reversed(range(len(self.rules_))):
            out[self.rules_[r].holds(F)] = r
        return out

    def _distributions(self) -> np.ndarray:
        counts = np.array([r.class_counts for r in self.rules_] + [self.default_counts_], dtype=float)
        return counts / counts.sum(axis=1, keepdims=True)

    def predict_proba(self, X):
        """The class distribution of the training texts that the firing rule (or the ELSE) covered."""
        check_is_fitted(self, "rules_")
        return self._distributions()[self._which_rule(self._measure(X))]

    def predict(self, X):
        check_is_fitted(self, "rules_")
        labels = np.array([r.label for r in self.rules_] + [self.default_], dtype=self.classes_.dtype)
        return labels[self._which_rule(self._measure(X))]

    def _conditions(self) -> list[Condition]:
        return [c for rule in self.rules_ for c in rule.conditions]

    def _decisions(self):
        shown = self.rule_texts()
        return [(text, r.label, r.class_counts) for text, r in zip(shown, self.rules_)] + [
            (shown[-1], self.default_, self.default_counts_)]

    def _decided(self, F):
        return self._which_rule(F)

    def rule_texts(self) -> list[str]:
        """Each rule's condition as printed (each cut with how its measurement was checked), then
        "ELSE" for the final rule ("ALWAYS" when it is the only one)."""
        names, checks = self.concept_names(), self._checks()
        return [r.describe(names, checks) for r in self.rules_] + ["ELSE" if self.rules_ else "ALWAYS"]

    def explain(self, X) -> pd.DataFrame:
        """Which rule fired for each text: ``rule`` (index into ``rules_``; ``len(rules_)`` is the
        final ELSE), ``rule_text``, ``prediction`` and ``precision`` (of that rule on training data)."""
        check_is_fitted(self, "rules_")
        texts = check_texts(X)
        which = self._which_rule(self._measure(texts))
        labels = [r.label for r in self.rules_] + [self.default_]
        shown = self.rule_texts()
        precision = self._distributions().max(axis=1)
        frame = pd.DataFrame({"rule": which, "rule_text": [shown[w] for w in which],
                              "prediction": [labels[w] for w in which], "precision": precision[which]})
        frame.index = pd.Index(range(len(texts)), name="text")
        return frame

    def _deciding_concepts(self, rule: int) -> list[int]:
        """The concepts tested to reach rule ``rule`` (``len(rules_)``: the final ELSE): its own
        conditions and those of every earlier rule, which did not hold."""
        return [c.concept for r in self.rules_[:rule + 1] for c in r.conditions]

    def __str__(self):
        check_is_fitted(self, "rules_")
        lines = [self._header(counted(len(self.rules_), "rule"))]
        for i, (rule, shown) in enumerate(zip(self.rules_, self.rule_texts())):
            lines.append(f"{'IF' if i == 0 else 'ELSE IF'} {shown} THEN {label_text(rule.label)}"
                         f"   (precision {rule.precision:.2f}, {rule.n_covered} training texts)")
        n, p = int(self.default_counts_.sum()), self.default_counts_.max() / max(self.default_counts_.sum(), 1)
        lines.append(f"{'ELSE' if self.rules_ else 'ALWAYS'} {label_text(self.default_)}"
                     f"   (precision {p:.2f}, {n} training texts)")
        never = [c for c in self.classes_ if c != self.default_ and all(r.label != c for r in self.rules_)]
        if never:
            shown = ", ".join(label_text(c) for c in never[:10]) + (f" and {len(never) - 10} more" if len(never) > 10 else "")
            lines.append(f"never predicted: {len(never)} of {len(self.classes_)} classes ({shown})")
        return "\n".join(lines + self._notes())


# ----------------------------------------------------------------------------------------- tree
