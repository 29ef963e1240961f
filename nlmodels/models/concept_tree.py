"""``ConceptTreeClassifier``: a shallow decision tree over concepts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

from .._codec import counted, decode_array, encode_array, label_text, plain_label
from .._validation import check_texts
from ._contract import positive_int
from ._document import register
from ._head import MANY_CLASSES
from ._pipeline import store_params
from ._rule_base import PARAMETERS_DOC_RULES, RULE_PARAMETERS, Condition, RuleConceptModel

__all__ = ["ConceptTreeClassifier"]


@register
class ConceptTreeClassifier(RuleConceptModel):
    __doc__ = f"""A shallow decision tree whose questions are natural-language concepts.

    Concepts are proposed and measured as for :class:`ConceptClassifier`; a scikit-learn
    :class:`~sklearn.tree.DecisionTreeClassifier` (depth at most ``max_depth``) is fitted on the
    concept scores. Its thresholds are rounded to three decimals, the class counts of every node are
    recounted with the rounded thresholds, and splits whose two sides predict the same class are
    merged, so the printed tree is exactly the tree that predicts.

    Parameters
    ----------
    max_depth : int, default=3
    min_samples_leaf : int, default=5{PARAMETERS_DOC_RULES}
    Attributes
    ----------
    classes_ : ndarray
    tree_ : DecisionTreeClassifier
        The scikit-learn tree as fitted on all candidate concept columns (not part of the JSON
        export: a model read by ``nlmodels.load`` has the tree below, which is what predicts).
    node_column_, node_threshold_, node_left_, node_right_ : ndarray
        The tree that predicts, over the columns of the kept ``concepts_`` (-1: a leaf); a text
        goes right when its score is ``>= node_threshold_``.
    node_counts_ : ndarray of shape (n_nodes, n_classes)
        Training texts reaching each node, per class.
    concepts_, proposed_rules_, training_, measure_, measurer_, embedder_, fill_values_, groups_per_class_, \
coarse_groups_per_class_, gated_signals_, edits_, n_features_in_ : as for :class:`RuleListClassifier`.
    """

    _parameter_constraints = {**RULE_PARAMETERS, "max_depth": [positive_int], "min_samples_leaf": [positive_int]}

    def __init__(self, llm=None, *, max_depth=3, min_samples_leaf=5, embedder=None, measure="auto",
                 concepts=None, proposer="auto", n_rounds=2, questions_per_round=10, n_distill=200,
                 phrases_per_class="auto", groups_per_class="auto", coarse_groups_per_class="auto", n_proposed_rules=10,
                 on_error="raise", n_jobs=None, random_state=0):
        store_params(self, locals())

    def _check_classes(self, n_classes: int) -> None:
        """With more than 15 classes, refuse (before any work) a depth whose leaves cannot reach
        every class (clinc150 at depth 3: 8 leaves for 150 intents scored 0.027)."""
        if n_classes > MANY_CLASSES and 2 ** self.max_depth < n_classes:
            need = int(np.ceil(np.log2(n_classes)))
            raise ValueError(f"max_depth={self.max_depth} gives at most {2 ** self.max_depth} leaves for {n_classes} "
                             f"classes: a tree that can predict every class needs max_depth >= {need}; or use "
                             f"ConceptClassifier (refused with more than {MANY_CLASSES} classes)")

    def fit(self, X, y):
        F, y = self._fit_concepts(X, y)
        yi = np.searchsorted(self.classes_, y)
        usable = np.flatnonzero(self._usable_columns())   # a measurement that failed its gate is never tested
        tested = F[:, usable] if len(usable) else np.zeros((len(F), 1))   # none: a tree of one leaf
        self.tree_ = DecisionTreeClassifier(max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
                                            random_state=self.random_state).fit(tested, yi)
        t = self.tree_.tree_
        left, right = t.children_left.copy(), t.children_right.copy()
        column = np.where(left >= 0, usable[np.maximum(t.feature, 0)] if len(usable) else -1, -1)
        # Rounded thresholds, a text going right when its score is >= the threshold (sklearn: > the
        # unrounded one); node counts are recounted with exactly these rules.
        threshold = np.where(left >= 0, np.round(t.threshold, 3), np.nan)
        counts = self._recount(F, yi, column, threshold, left, right)
        self._merge_same_class(column, left, right, counts)
        used = np.zeros(F.shape[1], bool)
        used[column[column >= 0]] = True
        if not used.any():
            used[0] = True
        kept = self._keep(used)
        new_column = np.full(F.shape[1], -1)
        new_column[kept] = np.arange(len(kept))
        self.node_column_ = np.where(column >= 0, new_column[np.maximum(column, 0)], -1)
        self.node_threshold_, self.node_left_, self.node_right_ = threshold, left, right
        self.node_counts_ = counts
        self.binary_columns_ = self._binary_columns(F[:, kept])
        self._mark_in_model()
        return self

    _UNITS = "leaves"
    _FITTED = "node_counts_"
    _HEAD = "tree"

    def _head_state(self) -> dict:

        leaves = []
        for node, path in sorted(self.paths().items()):
            counts = self.node_counts_[node]
            leaves.append({"node": int(node), "path": path,
                           "prediction": plain_label(self.classes_[int(np.argmax(counts))]),
                           "class_counts": [int(v) for v in counts]})
        return {
            "decision_rule": "start at node 0; at a node whose column is >= 0 go to right when scores[column] >= "
                             "threshold, else to left; at a leaf (column -1) predict the class with the largest "
                             "count; probabilities = counts / their sum",
            "node_column": encode_array(self.node_column_), "node_threshold": encode_array(self.node_threshold_),
            "node_left": encode_array(self.node_left_), "node_right": encode_array(self.node_right_),
            "node_counts": encode_array(self.node_counts_), "binary_columns": encode_array(self.binary_columns_),
            "leaves": leaves,
        }

    def _set_head_state(self, head: dict) -> None:

        for name in ("node_column", "node_threshold", "node_left", "node_right", "node_counts", "binary_columns"):
            setattr(self, name + "_", decode_array(head[name]))

    def _leaves(self, F, column, threshold, left, right) -> np.ndarray:
        node = np.zeros(len(F), int)
        while True:
            inner = column[node] >= 0
            if not inner.any():
                return node
            rows = np.flatnonzero(inner)
            goes_right = F[rows, column[node[rows]]] >= threshold[node[rows]]
            node[rows] = np.where(goes_right, right[node[rows]], left[node[rows]])

    def _recount(self, F, yi, column, threshold, left, right):
        K = len(self.classes_)
        counts = np.zeros((len(column), K), int)
        node = np.zeros(len(F), int)
        rows = np.arange(len(F))
        while len(rows):  # every node a text passes through counts it once
            np.add.at(counts, (node[rows], yi[rows]), 1)
            rows = rows[column[node[rows]] >= 0]
            goes_right = F[rows, column[node[rows]]] >= threshold[node[rows]]
            node[rows] = np.where(goes_right, right[node[rows]], left[node[rows]])
        return counts

    def _merge_same_class(self, column, left, right, counts):
        """Turn a split into a leaf when every leaf below it predicts the same class."""
        def classes_below(n):
            if column[n] < 0:
                return {int(np.argmax(counts[n]))} if counts[n].sum() else set()
            below = classes_below(left[n]) | classes_below(right[n])
            if len(below) <= 1:
                column[n], left[n], right[n] = -1, -1, -1
                return {int(np.argmax(counts[n]))}
            return below
        classes_below(0)

    def _reached(self, F) -> np.ndarray:
        return self._leaves(F, self.node_column_, self.node_threshold_, self.node_left_, self.node_right_)

    def predict_proba(self, X):
        """The class distribution of the training texts in the leaf each text reaches."""
        check_is_fitted(self, "node_counts_")
        counts = self.node_counts_[self._reached(self._measure(X))].astype(float)
        return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)

    def predict(self, X):
        check_is_fitted(self, "node_counts_")
        return self.classes_[np.argmax(self.node_counts_[self._reached(self._measure(X))], axis=1)]

    def _condition(self, node: int, right: bool) -> Condition:
        j = int(self.node_column_[node])
        S = self.n_signals_
        return Condition(j // S, self.measurer_.signals[j % S], j, float(self.node_threshold_[node]), right,
                         bool(self.binary_columns_[j]))

    def _conditions(self) -> list[Condition]:
        """Each split, as the condition that sends a text right."""
        return [self._condition(node, True) for node in np.flatnonzero(self.node_column_ >= 0)]

    def _path_conditions(self) -> dict[int, list[Condition]]:
        """Each leaf's conditions from the root down; leaves in printed order (a split's IF side first)."""
        out: dict[int, list[Condition]] = {}

        def walk(node, conditions):
            if self.node_column_[node] < 0:
                out[node] = conditions
                return
            walk(self.node_right_[node], conditions + [self._condition(node, True)])
            walk(self.node_left_[node], conditions + [self._condition(node, False)])

        walk(0, [])
        return out

    def paths(self) -> dict[int, str]:
        """Each leaf's path from the root, as conditions joined by AND, each printed as in ``str``
        (with how its measurement was checked); leaves in printed order (a split's IF side first)."""
        names, checks = self.concept_names(), self._checks()
        return {leaf: " AND ".join(c.describe(names, checks) for c in conditions) or "(root)"
                for leaf, conditions in self._path_conditions().items()}

    def _deciding_concepts(self, leaf: int) -> list[int]:
        """The concepts the splits on the path to ``leaf`` (a node id) test, from the root down."""
        return [c.concept for c in self._path_conditions()[leaf]]

    def _decisions(self):   # the leaves in printed order: each split's IF side before its ELSE side
        return [(path, self.classes_[int(np.argmax(self.node_counts_[n]))], self.node_counts_[n])
                for n, path in self.paths().items()]

    def _decided(self, F):
        leaves = list(self.paths())   # in printed order, as _decisions lists them
        position = np.full(len(self.node_counts_), -1)
        position[leaves] = np.arange(len(leaves))
        return position[self._reached(F)]

    def explain(self, X) -> pd.DataFrame:
        """The path each text takes: ``leaf`` (node id), ``path``, ``prediction``, ``precision``."""
        check_is_fitted(self, "node_counts_")
        texts = check_texts(X)
        leaves = self._reached(self._measure(texts))
        paths = self.paths()
        counts = self.node_counts_[leaves]
        frame = pd.DataFrame({"leaf": leaves, "path": [paths[n] for n in leaves],
                              "prediction": self.classes_[np.argmax(counts, axis=1)],
                              "precision": counts.max(axis=1) / np.maximum(counts.sum(axis=1), 1)})
        frame.index = pd.Index(range(len(texts)), name="text")
        return frame

    def __str__(self):
        check_is_fitted(self, "node_counts_")
        names, checks = self.concept_names(), self._checks()
        lines = [self._header(f"depth at most {self.max_depth}, {counted(len(self.paths()), 'leaf', 'leaves')}")]

        def walk(node, indent):
            pad = "    " * indent
            if self.node_column_[node] < 0:
                c = self.node_counts_[node]
                precision = c.max() / c.sum() if c.sum() else float("nan")
                lines.append(f"{pad}THEN {label_text(self.classes_[int(np.argmax(c))])}"
                             f"   (precision {precision:.2f}, {int(c.sum())} training texts)")
                return
            lines.append(f"{pad}IF {self._condition(node, True).describe(names, checks)}")
            walk(self.node_right_[node], indent + 1)
            lines.append(f"{pad}ELSE")
            walk(self.node_left_[node], indent + 1)

        walk(0, 0)
        return "\n".join(lines + self._notes())
