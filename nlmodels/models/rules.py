"""``RuleListClassifier`` and ``ConceptTreeClassifier``: if-then rules and shallow trees over concepts.

Both share the concept pipeline of :class:`~nlmodels.ConceptClassifier` (propose, then measure);
only the head differs. Conditions are concepts whose score is cut at a learned threshold
("similar >= 0.42"), or a conjunction of two such conditions. Thresholds are rounded to three
decimals before they are used, so the printed model is exactly the model that predicts.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pydantic
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._validation import check_int_param, check_texts, check_texts_labels
from ..concepts import Concept, PhraseProposer, class_bins
from ..concepts.proposers import DATA_NOTICE
from ..embed import SentenceTransformerEmbedder
from .._codec import decode_array, encode_array, plain
from ._contract import CONCEPT_PIPELINE, non_negative_int, positive_int
from ._document import register, to_json
from ._state import pipeline_state, rebuild_pipeline
from .concept import _COMMON_PARAMS, _ConceptFeatures

__all__ = ["ConceptTreeClassifier", "Condition", "Rule", "RuleListClassifier"]

_ALPHAS = (0.5, 1.0, 1.5, 2.0, 3.0)


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

    def describe(self, names) -> str:
        if self.binary:
            return f"{names[self.concept]} ({self.signal}: {'yes' if self.above else 'no'})"
        return f"{names[self.concept]} ({self.signal} {'>=' if self.above else '<'} {_num(self.threshold)})"


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

    def describe(self, names) -> str:
        return " AND ".join(c.describe(names) for c in self.conditions)


_PROPOSED_COLUMNS = ["condition", "label", "signal", "threshold", "n_covered", "precision", "in_model"]


def _plain_label(value):
    """A class label as JSON holds it (numpy scalars as plain numbers or strings)."""
    return value.item() if hasattr(value, "item") else value


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.1f}"


def _fmt_label(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return str(value)


# ------------------------------------------------------------------------- binarising the scores
def _cuts(F: np.ndarray, n_thresholds: int) -> tuple[np.ndarray, np.ndarray]:
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

class _RuleSearch:
    """Ordered rules over the binary matrix ``B`` (texts x M cuts), labels ``yi`` in 0..K-1."""

    def __init__(self, B, yi, K, *, min_support, n_seeds=20):
        self.B, self.yi, self.K = B, yi, K
        self.Y = np.eye(K, dtype=np.float32)[yi]
        self.M = B.shape[1]
        self.min_support = min_support
        self.n_seeds = n_seeds

    def mask(self, m: int) -> np.ndarray:
        column = self.B[:, m % self.M] > 0
        return column if m < self.M else ~column

    def fires(self, conds) -> np.ndarray:
        out = np.ones(len(self.yi), bool)
        for m in conds:
            out &= self.mask(m)
        return out

    def _best(self, G, reach):
        """The rule (conditions, class) with the largest sum of ``G[i, k]`` over the texts of
        ``reach`` it covers; one condition, or two (the best single ones as seeds)."""
        weights = reach[:, None].astype(np.float32)
        covered = lambda W: self.B.T @ W  # noqa: E731
        total, n = G.sum(0), weights.sum()
        P, c = covered(G), covered(weights)
        S1 = np.where(np.vstack([c, n - c]) >= self.min_support, np.vstack([P, total - P]), -np.inf)
        m, k = np.unravel_index(np.argmax(S1), S1.shape)
        best, score = ((int(m),), int(k)), S1[m, k]
        seeds = np.argsort(-S1.max(1))[: self.n_seeds]
        seeds = seeds[np.isfinite(S1[seeds].max(1))]
        if len(seeds):
            masks = np.stack([self.mask(s) for s in seeds], 1).astype(np.float32)
            P2 = covered((G[:, None, :] * masks[:, :, None]).reshape(len(G), -1)).reshape(self.M, len(seeds), -1)
            c2 = covered(weights * masks)
            for i, s in enumerate(seeds):
                Gs, ns = (G * masks[:, i:i + 1]).sum(0), (weights[:, 0] * masks[:, i]).sum()
                S2 = np.where(np.vstack([c2[:, i:i + 1], ns - c2[:, i:i + 1]]) >= self.min_support,
                              np.vstack([P2[:, i], Gs - P2[:, i]]), -np.inf)
                m, k = np.unravel_index(np.argmax(S2), S2.shape)
                if S2[m, k] > score + 1e-9:
                    best, score = (tuple(sorted({int(s), int(m)})), int(k)), S2[m, k]
        return best, score

    def grow(self, max_rules: int, alpha: float):
        """Sequential covering: each rule maximises correct - alpha * wrong among the texts that
        no earlier rule covers."""
        reach = np.ones(len(self.yi), bool)
        rules = []
        for _ in range(max_rules):
            counts = np.bincount(self.yi[reach], minlength=self.K)
            if reach.sum() < self.min_support or counts.max() == counts.sum():
                break
            G = ((1 + alpha) * self.Y - alpha) * reach[:, None]
            (conds, k), score = self._best(G, reach)
            if not np.isfinite(score):
                break
            rules.append((conds, k))
            reach &= ~self.fires(conds)
        return rules

    def outcome(self, rules, default=None) -> np.ndarray:
        """Index of the class each text gets (``default`` where no rule fires; -1 if None)."""
        out = np.full(len(self.yi), -1 if default is None else default)
        done = np.zeros(len(self.yi), bool)
        for conds, k in rules:
            fires = self.fires(conds) & ~done
            out[fires] = k
            done |= fires
        return out

    def default(self, rules) -> int:
        left = self.outcome(rules) < 0
        return int(np.bincount(self.yi[left] if left.any() else self.yi, minlength=self.K).argmax())

    def accuracy(self, rules) -> float:
        return float((self.outcome(rules, self.default(rules)) == self.yi).mean())

    def refine(self, rules, margin=0.5):
        """One sweep of coordinate ascent on training accuracy: each rule in turn is replaced by
        the rule that does best given all the others (and the default) as they are."""
        rules = list(rules)
        for i in range(len(rules)):
            default = self.default(rules)
            reach = self.outcome(rules[:i]) < 0
            rest = (self.outcome(rules[i + 1:], default) == self.yi).astype(np.float32)
            G = (self.Y - rest[:, None]) * reach[:, None]
            candidate, score = self._best(G, reach)
            conds, k = rules[i]
            current = float((G[:, k] * self.fires(conds)).sum())
            if score > current + margin:
                rules[i] = candidate
        return rules

    def prune(self, rules):
        """Drop rules from the end while the list without them is at least as accurate."""
        rules = list(rules)
        while rules and self.accuracy(rules[:-1]) >= self.accuracy(rules):
            rules = rules[:-1]
        return rules


def _learn_rule_list(B, yi, K, *, max_rules, alphas, min_support, random_state, repeats=3, sweeps=1, margin=0.0):
    """Choose ``alpha`` and the list length by 3-fold cross-validation (repeated ``repeats`` times
    with different splits: one split alone makes the choice noisy), then grow, refine, prune."""
    n_rules, alpha = max_rules, alphas[len(alphas) // 2]
    if len(alphas) > 1 and np.bincount(yi, minlength=K).min() >= 3:
        scores = np.zeros((len(alphas), max_rules + 1))
        folds = [split for r in range(repeats)
                 for split in StratifiedKFold(3, shuffle=True, random_state=random_state + r).split(B, yi)]
        for train, valid in folds:
            search = _RuleSearch(B[train], yi[train], K, min_support=min_support)
            held = _RuleSearch(B[valid], yi[valid], K, min_support=min_support)
            for a, value in enumerate(alphas):
                grown = search.grow(max_rules, value)
                for r in range(max_rules + 1):
                    prefix = grown[:r]
                    scores[a, r] += (held.outcome(prefix, search.default(prefix)) == held.yi).mean()
        a, n_rules = np.unravel_index(np.argmax(scores - 1e-6 * np.arange(max_rules + 1)), scores.shape)
        alpha = alphas[a]
    search = _RuleSearch(B, yi, K, min_support=min_support)
    rules = search.grow(max_rules, alpha)[:n_rules]
    for _ in range(sweeps):
        rules = search.refine(rules, max(0.5, margin * len(yi)))
    rules = search.prune(rules)
    return rules, float(alpha)


# --------------------------------------------------------------------------- chat-model rules
def _rules_schema(labels: tuple[str, ...]) -> type[pydantic.BaseModel]:
    rule = pydantic.create_model("ProposedRule", condition=(str, ...), label=(Literal[labels], ...))
    return pydantic.create_model("ProposedRules", rules=(list[rule], pydantic.Field(max_length=30)))


def _rules_prompt(texts, y, n_rules, examples_per_class=6, max_chars=300, random_state=0) -> str:
    rng = np.random.RandomState(random_state)
    labels = [_fmt_label(c) for c in np.unique(y)]
    parts = [
        "You help build an interpretable text classifier that is a short list of rules. Below are "
        "example texts grouped by label.",
        f"Write {n_rules} rules of the form IF <condition> THEN <label> that tell the labels apart. Each "
        "condition is one short, concrete yes/no question about a text, answerable from the text alone "
        "(for example \"Does the text offer a prize?\"); each label is one of: "
        + ", ".join(labels) + ". Prefer rules that hold for many texts of their label and few others.",
    ]
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        chosen = rng.choice(members, min(examples_per_class, len(members)), replace=False)
        shown = "\n".join(f"<text>{texts[i][:max_chars]}</text>" for i in chosen)
        parts.append(f"Label {_fmt_label(cls)}:\n{shown}")
    parts.append('Reply as JSON: {"rules": [{"condition": "...?", "label": "..."}, ...]}')
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- shared estimator code
class _ConceptHead(_ConceptFeatures, ClassifierMixin, BaseEstimator):
    """Concept proposal for rules and trees: the shared pipeline plus coarse phrase groups (offline)
    or rules a chat model proposes (their conditions become question concepts)."""

    @property
    def max_concepts(self) -> int:
        # Read by the shared code: the interim model between chat-model proposal rounds.
        return 30

    def _propose_and_measure(self, texts, y):
        """As the shared pipeline, with more candidates; the measurer is fitted once on them all."""
        self._check_params()
        self.embedder_ = self.embedder if self.embedder is not None else SentenceTransformerEmbedder()
        E = self._embed(texts)
        bins = class_bins(y, False)
        expert = [c if isinstance(c, Concept) else Concept(str(c), (), "expert") for c in (self.concepts or [])]
        self.proposed_rules_ = []
        if self.llm is not None and self.proposer in ("auto", "llm"):
            concepts = self._llm_rounds(texts, y, bins, E, expert)
            concepts += self._propose_rules(texts, y, concepts)
        else:
            self.groups_per_class_ = self._groups_per_class(bins)
            coarse = self.coarse_groups_per_class
            self.coarse_groups_per_class_ = max(4, 16 // len(self.classes_)) if coarse == "auto" else int(coarse)
            concepts = expert
            for groups in dict.fromkeys([self.groups_per_class_, self.coarse_groups_per_class_]):
                if groups > 0:
                    concepts = concepts + PhraseProposer(phrases_per_class=self.phrases_per_class,
                                                         groups_per_class=groups,
                                                         random_state=self.random_state).propose(texts, bins, self.embedder_)
        if not concepts:
            raise ValueError("no concept could be proposed from these texts (too few or too short?)")
        self.measurer_ = self._make_measurer().fit(texts, E, concepts, y)
        self.concepts_ = concepts
        return E, self.measurer_.transform(texts, E)

    def _propose_rules(self, texts, y, existing):
        """One chat call: rules "IF <question> THEN <label>". Each question becomes a concept; the
        label is only what the model claims (``proposed_rules_`` records the claim, and ``fit``
        measures it)."""
        if self.n_proposed_rules == 0:
            return []
        labels = tuple(dict.fromkeys(_fmt_label(c) for c in np.unique(y)))
        [answer] = self.llm.structured(
            [_rules_prompt(texts, y, self.n_proposed_rules, random_state=self.random_state)],
            _rules_schema(labels), system=DATA_NOTICE, max_tokens=60 * self.n_proposed_rules + 50,
            on_error="raise" if self.on_error == "raise" else "none", desc="proposing rules",
        )
        known = {c.text: c for c in existing}
        new: dict[str, Concept] = {}
        by_label = {_fmt_label(c): c for c in np.unique(y)}
        for rule in (answer.rules if answer is not None else [])[: self.n_proposed_rules]:
            question = " ".join(str(rule.condition).split())[:200]
            if len(question) < 8:
                continue
            question = question if question.endswith("?") else question + "?"
            if question not in known and question not in new:
                new[question] = Concept(question, (), "llm", target=by_label[rule.label])
            self.proposed_rules_.append((question, by_label[rule.label]))
        return list(new.values())

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

    def _fit_concepts(self, X, y):
        texts, y = check_texts_labels(X, y)
        self.classes_ = np.unique(y)
        _, F = self._propose_and_measure(texts, y)
        F = self._fill_missing(F)
        self._measure_proposed(F, y)
        self.n_features_in_ = 1
        self._record_training(texts, y)
        return F, y

    def _binary_columns(self, F) -> np.ndarray:
        return np.array([np.isin(np.unique(F[:, j]), (0.0, 1.0)).all() for j in range(F.shape[1])])

    def _mark_in_model(self):
        if len(self.proposed_rules_):
            used = set(self.concept_names())
            self.proposed_rules_["in_model"] = self.proposed_rules_.condition.isin(used)

    def _header(self, what: str) -> str:
        return (f"{type(self).__name__}: {what} over {len(self.concepts_)} concepts, measured by "
                f"{self.measurer_.name}; classes {', '.join(_fmt_label(c) for c in self.classes_)}")

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
    _ATTRIBUTES = ("coarse_groups_per_class_",)  # plain fitted values carried over as they are

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
        by_label = {_plain_label(c): c for c in model.classes_}
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


def _drop_param_doc(doc: str, name: str) -> str:
    return re.sub(rf"\n    {name} : .*?(?=\n    \w+ : |\Z)", "", doc, flags=re.S)


_HEAD_PARAMS = _drop_param_doc(_COMMON_PARAMS, "max_concepts") + """    coarse_groups_per_class : int or "auto", default="auto"
        Offline, besides the ``groups_per_class`` phrase groups, each class's phrases are also
        grouped into this many broad groups: one broad concept often makes a whole rule. 0: none.
        ``"auto"``: ``max(4, 16 // n_classes)`` (8 for two classes, 4 from four classes on).
    n_proposed_rules : int, default=10
        With a chat model: rules "IF <question> THEN <label>" it is asked to write (one call). Each
        question becomes a concept measured like the others; ``proposed_rules_`` records the claimed
        label beside the coverage and precision measured on the training texts. 0: none.
"""


# ------------------------------------------------------------------------------------ rule list
@register
class RuleListClassifier(_ConceptHead):
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
        A rule must fire for at least this many training texts (fewer for tiny data).{_HEAD_PARAMS}
    Attributes
    ----------
    classes_ : ndarray
    rules_ : list of Rule
        The rules in order, without the final ELSE; each has ``conditions`` (list of
        :class:`Condition`: concept index, signal, threshold, direction), ``label``,
        ``class_counts`` (training texts it fired for, per class), ``n_covered`` and ``precision``.
    default_ : label of the final ELSE; ``default_counts_`` its training class counts.
    concepts_ : list of Concept
        The concepts the rules use, in column order.
    proposed_rules_ : DataFrame
        Rules a chat model proposed (empty offline): condition, claimed label, and the threshold,
        coverage and precision measured on the training texts; ``in_model`` whether the fitted
        list uses the condition.
    alpha_ : float
        The error weight chosen by cross-validation.
    training_ : dict
        Size, class balance and date of the training data (written to the JSON export).

    Examples
    --------
    >>> model = RuleListClassifier(max_rules=5).fit(texts, labels)       # doctest: +SKIP
    >>> print(model)                                                      # doctest: +SKIP
    >>> model.explain(["WIN a free prize, txt now"])                     # doctest: +SKIP
    """

    def __init__(self, llm=None, *, max_rules=10, n_thresholds=16, min_support=5, embedder=None,
                 measure="auto", concepts=None, proposer="auto", n_rounds=2, questions_per_round=10,
                 n_distill=200, phrases_per_class=200, groups_per_class="auto", coarse_groups_per_class="auto",
                 n_proposed_rules=10, on_error="raise", n_jobs=None, random_state=0):
        self.llm = llm
        self.max_rules = max_rules
        self.n_thresholds = n_thresholds
        self.min_support = min_support
        self.embedder = embedder
        self.measure = measure
        self.concepts = concepts
        self.proposer = proposer
        self.n_rounds = n_rounds
        self.questions_per_round = questions_per_round
        self.n_distill = n_distill
        self.phrases_per_class = phrases_per_class
        self.groups_per_class = groups_per_class
        self.coarse_groups_per_class = coarse_groups_per_class
        self.n_proposed_rules = n_proposed_rules
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.random_state = random_state

    _parameter_constraints = {**CONCEPT_PIPELINE, "max_rules": [positive_int], "n_thresholds": [positive_int],
                              "min_support": [positive_int], "coarse_groups_per_class": [non_negative_int, StrOptions({"auto"})],
                              "n_proposed_rules": [non_negative_int]}



    def fit(self, X, y):
        F, y = self._fit_concepts(X, y)
        yi = np.searchsorted(self.classes_, y)
        K = len(self.classes_)
        columns, cuts = _cuts(F, self.n_thresholds)
        B = (F[:, columns] >= cuts).astype(np.float32)
        min_support = int(min(self.min_support, max(1, len(y) // 10)))
        found, self.alpha_ = _learn_rule_list(B, yi, K, max_rules=self.max_rules, alphas=_ALPHAS,
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
    _ATTRIBUTES = ("coarse_groups_per_class_", "alpha_")
    _HEAD = "rule_list"

    def _head_state(self) -> dict:
        names = self.concept_names()
        rules = []
        for rule in self.rules_:
            conditions = [{"concept": c.concept, "name": names[c.concept], "signal": c.signal, "column": c.column,
                           "threshold": c.threshold, "above": c.above, "binary": c.binary} for c in rule.conditions]
            rules.append({"text": rule.describe(names), "conditions": conditions, "label": _plain_label(rule.label),
                          "label_index": self._class_index(rule.label),
                          "class_counts": [int(v) for v in rule.class_counts], "n_covered": rule.n_covered,
                          "precision": rule.precision if rule.n_covered else None})
        return {
            "decision_rule": "the first rule whose conditions all hold decides (a condition: scores[column] >= "
                             "threshold when above, else scores[column] < threshold); when none holds, default "
                             "decides; predict classes[label_index]; probabilities = class_counts / their sum",
            "rules": rules,
            "default": {"label": _plain_label(self.default_), "label_index": self._class_index(self.default_),
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

    def rule_texts(self) -> list[str]:
        """Each rule's condition as printed, then "ELSE" for the final rule."""
        names = self.concept_names()
        return [r.describe(names) for r in self.rules_] + ["ELSE"]

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

    def __str__(self):
        check_is_fitted(self, "rules_")
        names = self.concept_names()
        lines = [self._header(f"{len(self.rules_)} rules")]
        for i, rule in enumerate(self.rules_):
            lines.append(f"{'IF' if i == 0 else 'ELSE IF'} {rule.describe(names)} THEN {_fmt_label(rule.label)}"
                         f"   (precision {rule.precision:.2f}, {rule.n_covered} training texts)")
        n, p = int(self.default_counts_.sum()), self.default_counts_.max() / max(self.default_counts_.sum(), 1)
        lines.append(f"{'ELSE' if self.rules_ else 'ALWAYS'} {_fmt_label(self.default_)}"
                     f"   (precision {p:.2f}, {n} training texts)")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------- tree
@register
class ConceptTreeClassifier(_ConceptHead):
    __doc__ = f"""A shallow decision tree whose questions are natural-language concepts.

    Concepts are proposed and measured as for :class:`ConceptClassifier`; a scikit-learn
    :class:`~sklearn.tree.DecisionTreeClassifier` (depth at most ``max_depth``) is fitted on the
    concept scores. Its thresholds are rounded to three decimals, the class counts of every node are
    recounted with the rounded thresholds, and splits whose two sides predict the same class are
    merged, so the printed tree is exactly the tree that predicts.

    Parameters
    ----------
    max_depth : int, default=3
    min_samples_leaf : int, default=5{_HEAD_PARAMS}
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
    concepts_, proposed_rules_, training_ : as for :class:`RuleListClassifier`.
    """

    def __init__(self, llm=None, *, max_depth=3, min_samples_leaf=5, embedder=None, measure="auto",
                 concepts=None, proposer="auto", n_rounds=2, questions_per_round=10, n_distill=200,
                 phrases_per_class=200, groups_per_class="auto", coarse_groups_per_class="auto", n_proposed_rules=10,
                 on_error="raise", n_jobs=None, random_state=0):
        self.llm = llm
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.embedder = embedder
        self.measure = measure
        self.concepts = concepts
        self.proposer = proposer
        self.n_rounds = n_rounds
        self.questions_per_round = questions_per_round
        self.n_distill = n_distill
        self.phrases_per_class = phrases_per_class
        self.groups_per_class = groups_per_class
        self.coarse_groups_per_class = coarse_groups_per_class
        self.n_proposed_rules = n_proposed_rules
        self.on_error = on_error
        self.n_jobs = n_jobs
        self.random_state = random_state

    _parameter_constraints = {**CONCEPT_PIPELINE, "max_depth": [positive_int], "min_samples_leaf": [positive_int],
                              "coarse_groups_per_class": [non_negative_int, StrOptions({"auto"})],
                              "n_proposed_rules": [non_negative_int]}



    def fit(self, X, y):
        F, y = self._fit_concepts(X, y)
        yi = np.searchsorted(self.classes_, y)
        self.tree_ = DecisionTreeClassifier(max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
                                            random_state=self.random_state).fit(F, yi)
        t = self.tree_.tree_
        left, right = t.children_left.copy(), t.children_right.copy()
        column = np.where(left >= 0, t.feature, -1)
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

    _FITTED = "node_counts_"
    _HEAD = "tree"

    def _head_state(self) -> dict:

        leaves = []
        for node, path in sorted(self.paths().items()):
            counts = self.node_counts_[node]
            leaves.append({"node": int(node), "path": path,
                           "prediction": _plain_label(self.classes_[int(np.argmax(counts))]),
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

    def paths(self) -> dict[int, str]:
        """Each leaf's path from the root, as conditions joined by AND."""
        names = self.concept_names()
        out: dict[int, str] = {}

        def walk(node, parts):
            if self.node_column_[node] < 0:
                out[node] = " AND ".join(parts) or "(root)"
                return
            walk(self.node_right_[node], parts + [self._condition(node, True).describe(names)])
            walk(self.node_left_[node], parts + [self._condition(node, False).describe(names)])

        walk(0, [])
        return out

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
        names = self.concept_names()
        lines = [self._header(f"depth at most {self.max_depth}, {len(self.paths())} leaves")]

        def walk(node, indent):
            pad = "    " * indent
            if self.node_column_[node] < 0:
                c = self.node_counts_[node]
                precision = c.max() / c.sum() if c.sum() else float("nan")
                lines.append(f"{pad}THEN {_fmt_label(self.classes_[int(np.argmax(c))])}"
                             f"   (precision {precision:.2f}, {int(c.sum())} training texts)")
                return
            lines.append(f"{pad}IF {self._condition(node, True).describe(names)}")
            walk(self.node_right_[node], indent + 1)
            lines.append(f"{pad}ELSE")
            walk(self.node_left_[node], indent + 1)

        walk(0, 0)
        return "\n".join(lines)
