"""What the rule list and the tree share: the concept pipeline with coarser candidates and chat-model
rule proposals, the rule records (:class:`Condition`, :class:`Rule`), thresholds, and the model file.

Conditions are concepts whose score is cut at a learned threshold ("similar >= 0.42"), or a
conjunction of two such conditions. Thresholds are rounded to three decimals before they are used,
so the printed model is exactly the model that predicts.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._codec import counted, encode_array, label_text, plain, plain_label
from .._validation import check_texts_labels
from ..concepts import RuleProposer, unshown_lines
from ..concepts.fidelity import wilson_interval
from ._contract import CONCEPT_PIPELINE, non_negative_int
from ._document import to_json
from ._views import Reportable
from ._pipeline import PARAMETERS_DOC, ConceptPipeline, drop_param_doc
from ._state import pipeline_state, rebuild_pipeline

__all__ = ["RULE_PARAMETERS", "PARAMETERS_DOC_RULES", "Condition", "Rule", "RuleConceptModel", "candidate_cuts"]

#: Parameters the rule list and the tree share beyond the concept pipeline's.
RULE_PARAMETERS = {**CONCEPT_PIPELINE, "coarse_groups_per_class": [non_negative_int, StrOptions({"auto"})],
                   "n_proposed_rules": [non_negative_int]}


# ------------------------------------------------------------------------------------ the record
@dataclass(frozen=True)
class Condition:
    """``concept``'s ``signal`` score at or above (``above=True``) or below ``threshold``."""

    concept: int  # index into the model's ``concepts_``
    signal: str
    column: int  # column of the measured score matrix
    threshold: float
    above: bool
    binary: bool = False  # a 0/1 signal (phrase mentioned, chat-model answer): printed as yes/no

    def holds(self, F: np.ndarray) -> np.ndarray:
        x = F[:, self.column]
        return x >= self.threshold if self.above else x < self.threshold

    def describe(self, names, checks=None) -> str:
        """The condition as printed; with ``checks`` (per column, how its measurement was checked)
        that check follows the cut: ``(similar >= 0.42; AUC 0.91 held-out)``."""
        note = "" if checks is None else f"; {checks[self.column]}"
        if self.binary:
            return f"{names[self.concept]} ({self.signal}: {'yes' if self.above else 'no'}{note})"
        return f"{names[self.concept]} ({self.signal} {'>=' if self.above else '<'} {_num(self.threshold)}{note})"


@dataclass(frozen=True)
class Rule:
    """IF all ``conditions`` hold THEN ``label``; counts are of the training texts it fired for."""

    conditions: tuple[Condition, ...]
    label: object
    class_counts: np.ndarray  # training texts it fired for, per class (in ``classes_`` order)

    @property
    def n_covered(self) -> int:
        return int(self.class_counts.sum())

    @property
    def precision(self) -> float:
        return float(self.class_counts.max() / self.class_counts.sum()) if self.n_covered else float("nan")

    def holds(self, F: np.ndarray) -> np.ndarray:
        fires = np.ones(len(F), bool)
        for c in self.conditions:
            fires &= c.holds(F)
        return fires

    def describe(self, names, checks=None) -> str:
        return " AND ".join(c.describe(names, checks) for c in self.conditions)


_PROPOSED_COLUMNS = ["condition", "label", "signal", "threshold", "n_covered", "precision", "in_model"]


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.1f}"


# ------------------------------------------------------------------------- binarising the scores
def candidate_cuts(F: np.ndarray, n_thresholds: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate thresholds per column: 0.5 for a 0/1 column, else up to ``n_thresholds`` quantiles
    of the training scores, rounded to three decimals. Returns (columns, thresholds)."""
    columns, cuts = [], []
    for j in range(F.shape[1]):
        values = np.unique(F[:, j])
        if len(values) <= 1:
            continue
        if np.isin(values, (0.0, 1.0)).all():
            t = np.array([0.5])
        else:
            t = np.unique(np.round(np.quantile(F[:, j], np.linspace(0, 1, n_thresholds + 1)[1:-1]), 3))
            t = t[(t > values[0]) & (t <= values[-1])]
        columns += [j] * len(t)
        cuts += list(t)
    return np.array(columns, dtype=int), np.array(cuts, dtype=float)


# -------------------------------------------------------------------------- greedy rule search
# A condition is an index m into [0, 2M): m < M is "column >= cut", m >= M its complement.
# Class counts of the complement come free (remaining counts minus the counts of "at or above").

class RuleConceptModel(Reportable, ConceptPipeline, ClassifierMixin, BaseEstimator):
    """Concept proposal for rules and trees: the shared pipeline plus coarse phrase groups (offline)
    or rules a chat model proposes (their conditions become question concepts). Their model card
    shows each rule's precision measured on the card's texts beside the training precision."""

    _UNITS = "rules"   # what a text is decided by, as the printed model and the card name it

    @property
    def max_concepts(self) -> int:
        # Read by the shared code: the interim model between chat-model proposal rounds.
        return 30

    def _candidate_groups(self, bins) -> list[int]:
        """The shared phrase groups, plus coarser ones (broader concepts for short rules)."""
        coarse = self.coarse_groups_per_class
        self.coarse_groups_per_class_ = max(4, 16 // len(self.classes_)) if coarse == "auto" else int(coarse)
        return [g for g in dict.fromkeys([self.groups_per_class_, self.coarse_groups_per_class_]) if g > 0]

    def _extra_concepts(self, texts, y, concepts) -> list:
        """Rules a chat model proposes: their questions become concepts, their claims are recorded
        in ``proposed_rules_`` and measured by ``fit``."""
        proposer = RuleProposer(self.llm, self.n_proposed_rules, random_state=self.random_state)
        new, self.proposed_rules_ = proposer.propose(texts, y, concepts, on_error=self.on_error)
        return new

    def _measure_proposed(self, F, y):
        """Check each proposed rule on the training data: the condition's first signal, cut where
        correct minus wrong is largest for the claimed label; coverage and precision as measured."""
        if not self.proposed_rules_:
            self.proposed_rules_ = pd.DataFrame(columns=_PROPOSED_COLUMNS)
            return
        S = self.n_signals_
        names = self.concept_names()
        rows = []
        for question, label in self.proposed_rules_:
            k = names.index(question)
            x = F[:, k * S]
            cuts = np.array([0.5]) if np.isin(np.unique(x), (0.0, 1.0)).all() else np.unique(
                np.round(np.quantile(x, np.linspace(0, 1, 17)[1:-1]), 3))
            hit = y == label
            gain = [(hit & (x >= t)).sum() - (~hit & (x >= t)).sum() for t in cuts]
            t = float(cuts[int(np.argmax(gain))])
            covered = x >= t
            rows.append(dict(condition=question, label=label, signal=self.measurer_.signals[0], threshold=t,
                             n_covered=int(covered.sum()),
                             precision=float(hit[covered].mean()) if covered.any() else float("nan")))
        self.proposed_rules_ = pd.DataFrame(rows)

    def _check_classes(self, n_classes: int) -> None:
        """Refuse, before any work, a head that cannot reach every class (none here)."""

    def _fit_concepts(self, X, y):
        texts, y = check_texts_labels(X, y)
        self.classes_ = np.unique(y)
        self._check_contract()
        self._check_classes(len(self.classes_))
        self.proposed_rules_ = []
        usage_before = self._usage_now()
        _, measured = self._propose_and_measure(texts, y)
        F = self._fill_missing(measured)
        self._measure_proposed(F, y)
        self.n_features_in_ = 1
        self._record_training(texts, y, measured, usage_before)
        return F, y

    def _usable_columns(self) -> np.ndarray:
        """Per column: may a rule test it? Not when its measurement failed its fidelity gate (as a
        linear head gives such a column no weight), nor when it has nothing to measure (a question's or
        a prototype's ``mentions``). The checks that failed are kept in ``gated_signals_`` (the concept's
        name, the signal and its fidelity record), their count in ``n_gated_signals_``."""
        allowed = self._column_gate()
        names = self.concept_names()
        records = self._per_column(lambda r: r, dtype=object)
        self.gated_signals_ = [{"concept": names[r["concept"]], **{k: v for k, v in r.items() if k != "concept"}}
                               for r, ok in zip(records, allowed) if not ok and r["metric"] != "absent"]
        self.n_gated_signals_ = len(self.gated_signals_)
        return allowed

    def _precision_line(self) -> list[str]:
        """The printed model's note that its precisions are the training texts' (they overstate);
        none where no condition was chosen (the list is its ELSE alone, the tree one leaf)."""
        if not self._conditions():
            return []
        return [f"precision is counted on the training texts the {self._UNITS} were chosen on, so it overstates how "
                f"often they are right on new texts: evaluate_rules(X, y) measures each on texts it was not chosen on"]

    def _notes(self) -> list[str]:
        """The lines under a printed rule list or tree, in order: the phrases its names leave out, what its
        precision counts, the signals never tested, the training texts without a chat answer."""
        phrases = unshown_lines("phrases the conditions read that the concepts' names do not show:",
                                self._unshown_phrases([c.concept for c in self._conditions()]))   # in printed order
        return phrases + self._precision_line() + self._gated_line() + self._unanswered_line()

    @property
    def fidelity_(self) -> pd.DataFrame:
        """As for the other concept models, for the concepts the conditions test: none where no
        condition was chosen (the concept kept then only keeps the measurer well-formed)."""
        frame = super().fidelity_
        return frame if self._conditions() else frame.iloc[:0]

    def _gated_line(self) -> list[str]:
        """The printed model's last line where signals were left out for failing their fidelity gate."""
        n = getattr(self, "n_gated_signals_", 0)   # older files: not recorded
        if not n:
            return []
        return [f"not measured faithfully, so never tested: {counted(n, 'candidate signal')} whose "
                "held-out check fell below its gate"]

    def _binary_columns(self, F) -> np.ndarray:
        return np.array([np.isin(np.unique(F[:, j]), (0.0, 1.0)).all() for j in range(F.shape[1])])

    def _mark_in_model(self):
        if len(self.proposed_rules_):
            names = self.concept_names()   # the concepts a condition tests, not a placeholder kept for the measurer
            used = {names[c.concept] for c in self._conditions()}
            self.proposed_rules_["in_model"] = self.proposed_rules_.condition.isin(used)

    def _conditions(self) -> list[Condition]:
        """Every condition the fitted model tests (the rules' conditions, the tree's splits)."""
        raise NotImplementedError

    def _decisions(self) -> list[tuple[str, object, np.ndarray]]:
        """Each way a text can be decided, in printed order: (its conditions as printed, the label it
        predicts, the training texts it decided per class)."""
        raise NotImplementedError

    def _decided(self, F) -> np.ndarray:
        """Per text, the index into :meth:`_decisions` of the one that decides it."""
        raise NotImplementedError

    def evaluate_rules(self, X, y) -> pd.DataFrame:
        """Each rule (a tree: each leaf's path), measured on labelled texts it was not fitted on.

        The printed precision of a rule is on the training texts, where the learner chose the rule to
        be precise, so it overstates; this measures it on ``X``, ``y``. One row per rule in printed
        order (a list: its rules then the ``ELSE``): ``rule`` (as printed, with each cut's check),
        ``prediction``, ``training_texts`` and ``training_precision`` (as printed), ``texts`` (how
        many of ``X`` it decides) and ``precision`` (the share of those whose label is
        ``prediction``; NaN where it decides none), with its 95% Wilson ``interval``."""
        check_is_fitted(self, self._FITTED)
        texts, y = check_texts_labels(X, y, min_classes=1)
        decided = self._decided(self._measure(texts))
        rows = []
        for i, (shown, label, counts) in enumerate(self._decisions()):
            mine = decided == i
            n, right = int(mine.sum()), int((y[mine] == label).sum())
            rows.append({"rule": shown, "prediction": label, "training_texts": int(counts.sum()),
                         "training_precision": float(counts.max() / counts.sum()) if counts.sum() else float("nan"),
                         "texts": n, "precision": right / n if n else float("nan"),
                         "interval": wilson_interval(right, n)})
        return pd.DataFrame(rows)

    def _header(self, what: str) -> str:
        """The first printed line; it counts the concepts the conditions test (a model without any
        keeps one concept only so that its measurer stays well-formed)."""
        n = len({c.concept for c in self._conditions()})
        return (f"{type(self).__name__}: {what} over {counted(n, 'concept')}, measured by "
                f"{self.measurer_.name}; classes {', '.join(label_text(c) for c in self.classes_)}")

    def _repr_html_(self):
        if not hasattr(self, "classes_"):
            return html.escape(repr(self))
        return "<pre>" + html.escape(str(self)) + "</pre>"

    def estimate_cost(self, X, y=None):
        """Chat calls and tokens of ``fit(X, y)`` (unfitted) or ``predict(X)`` (fitted), before running
        it; see :func:`nlmodels.models._cost.estimate_cost`."""
        from ._cost import estimate_cost
        return estimate_cost(self, X, y)

    # ------------------------------------------------------------------ JSON (nlmodels.models._document)
    _FITTED = "classes_"  # the attribute whose presence marks a fitted head
    _ATTRIBUTES = ("coarse_groups_per_class_", "n_gated_signals_", "gated_signals_")  # plain fitted values, as they are

    def to_json(self, path=None):
        """The fitted model as plain JSON (written to ``path``, or returned); ``nlmodels.load`` reads it."""
        return to_json(self, path)

    def _export_state(self) -> dict:
        """The concept pipeline as ConceptClassifier writes it, ``proposed_rules`` and the head."""
        check_is_fitted(self, self._FITTED)
        state = pipeline_state(self, task="classification", printed=str(self), attributes=self._ATTRIBUTES)
        state["proposed_rules"] = [plain(row) for row in self.proposed_rules_.to_dict("records")]
        state["head"] = {"type": self._HEAD, "fill_values": encode_array(self.fill_values_), **self._head_state()}
        return state

    @classmethod
    def _from_state(cls, state: dict, *, llm, embedder):
        model = rebuild_pipeline(cls, state, llm=llm, embedder=embedder)
        by_label = {plain_label(c): c for c in model.classes_}
        rows = []
        for row in state.get("proposed_rules") or []:
            row = dict(row, label=by_label.get(row["label"], row["label"]))
            for name, kind in (("threshold", float), ("precision", float), ("n_covered", int)):
                row[name] = kind(row[name])
            rows.append(row)
        # as fit leaves it: the empty frame of an offline fit, or one row per proposed rule
        model.proposed_rules_ = pd.DataFrame(rows, columns=_PROPOSED_COLUMNS) if rows else \
            pd.DataFrame(columns=_PROPOSED_COLUMNS)
        model._set_head_state(state["head"])
        return model

    def _class_index(self, label) -> int:
        return int(np.flatnonzero(self.classes_ == label)[0])


PARAMETERS_DOC_RULES = drop_param_doc(PARAMETERS_DOC, "max_concepts", "gated", "recheck", "prototypes") + """    coarse_groups_per_class : int or "auto", default="auto"
        Offline, besides the ``groups_per_class`` phrase groups, each class's phrases are also
        grouped into this many broad groups: one broad concept often makes a whole rule. 0: none.
        ``"auto"``: ``max(4, 16 // n_classes)`` (8 for two classes, 4 from four classes on).
    n_proposed_rules : int, default=10
        With a chat model: rules "IF <question> THEN <label>" it is asked to write (one call). Each
        question becomes a concept measured like the others; ``proposed_rules_`` records the claimed
        label beside the coverage and precision measured on the training texts. 0: none.
"""
