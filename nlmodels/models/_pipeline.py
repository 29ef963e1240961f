"""The concept pipeline every concept estimator shares: propose concepts, measure them.

``texts, labels -> propose (mined phrases, a chat model's questions, a person's concepts) -> measure
(texts x concepts -> scores in [0, 1])``; the estimators add a head on top (a sparse linear model,
a rule list, a tree) or none (the transformer).
"""

from __future__ import annotations

import contextlib
import copy
import re
import warnings
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from scipy.special import expit, softmax
from sklearn.utils.validation import check_is_fitted

from .._codec import plain_label
from .._validation import check_texts, outside_stacklevel
from ..concepts.fidelity import describe as describe_fidelity
from ..concepts import (Concept, DistillMeasurer, EmbeddingMeasurer, LLMMeasurer, LLMProposer,
                        PhraseProposer, PrototypeProposer, WordPrototypeProposer, check_phrases, class_bins,
                        unshown_phrases)
from ..embed import SentenceTransformerEmbedder
from ..llm import MissingAnswerWarning
from ._contract import TextEstimatorMixin
from ._document import to_json
from ._head import MANY_CLASSES, fit_sparse_classifier, fit_sparse_regressor
from ._state import export_state, from_state

__all__ = ["DEFAULT_CONCEPTS", "PARAMETERS_DOC", "SIGNALS", "ConceptPipeline", "drop_param_doc", "resolve_measure", "store_params",
           "training_summary"]

SIGNALS = ("similar", "mentions")

#: The concept budget ``max_concepts="auto"`` starts from.
DEFAULT_CONCEPTS = 30


def resolve_measure(measure: str, llm) -> str:
    """What ``measure="auto"`` means: the chat model's answers when there is one, else embeddings."""
    return ("llm" if llm is not None else "embedding") if measure == "auto" else measure


def drop_param_doc(doc: str, *names: str) -> str:
    """``doc`` (numpydoc parameters) without the entries of ``names``."""
    for name in names:
        doc = re.sub(rf"\n    {name} : .*?(?=\n    \w+ : |\Z)", "", doc, flags=re.S)
    return doc


def store_params(estimator, given: dict) -> None:
    """``__init__``'s whole body: store every parameter as given (scikit-learn's contract)."""
    for name, value in given.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def training_summary(texts, y, regression: bool, llm=None, usage_before=None) -> dict:
    """What a model's record says about its training data: size, mean length, class balance (or
    target range), date, and the chat client's usage totals when fit ended."""
    summary = {"n_texts": len(texts), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "mean_chars": float(np.mean([len(t) for t in texts]))}
    if regression:
        summary["target"] = {k: float(f(y)) for k, f in
                             (("min", np.min), ("mean", np.mean), ("max", np.max), ("std", np.std))}
    else:
        values, counts = np.unique(y, return_counts=True)
        summary["classes"] = [{"label": plain_label(v), "count": int(c),
                               "share": float(c / len(y))} for v, c in zip(values, counts)]
    if llm is not None and hasattr(llm, "usage"):   # this fit's calls: the client may have served others before
        summary["chat_usage"] = (llm.usage - usage_before if usage_before is not None else llm.usage).as_dict()
    return summary


#: How a check reads in a model file written before fidelity was recorded.
NOT_RECORDED = "fidelity not recorded"


class ConceptPipeline(TextEstimatorMixin):
    """What every concept estimator shares (ConceptClassifier, ConceptRegressor, ConceptTransformer,
    RuleListClassifier, ConceptTreeClassifier): propose concepts, then measure them, written once.
    Parameters are documented on the public classes (:data:`PARAMETERS_DOC`); subclasses add a head.

    Hooks a subclass may override: ``_candidate_groups`` (the phrase-group counts mined offline) and
    ``_extra_concepts`` (concepts added after the chat model's questions, e.g. proposed rules)."""

    _regression = False

    def _check_params(self):
        self._check_contract()
        if self.measure in ("llm", "distill") and self.llm is None:
            raise ValueError(f"measure={self.measure!r} needs a chat model: pass llm=ChatModel(...)")
        if self.proposer == "llm" and self.llm is None:
            raise ValueError("proposer='llm' needs a chat model: pass llm=ChatModel(...)")
        self.measure_ = resolve_measure(self.measure, self.llm)
        if getattr(self, "recheck", 0) and self.measure_ != "llm":
            raise ValueError(f"recheck={self.recheck} asks the chat model's answers again, which needs measure='llm' "
                             f"(the chat model answering every text); got measure={self.measure_!r}, where it would "
                             "check nothing")
        self._given_concepts()   # before any embedding: a bad entry is named, not found after the folds

    def _given_concepts(self) -> list[Concept]:
        """``concepts`` as Concept objects (a string is a person's question or statement); an entry
        that is neither, or is empty, raises a ValueError naming ``concepts[i]``."""
        out = []
        for i, c in enumerate(self.concepts or []):
            if isinstance(c, Concept):
                if self.measure_ == "embedding":   # the one measurement that matches phrases
                    check_phrases(c.phrases, f"concepts[{i}]")
                out.append(c)
            elif isinstance(c, str) and c.strip():
                out.append(Concept(c, (), "expert"))
            else:
                raise ValueError(f"concepts[{i}] must be a non-empty string or a Concept, got {c!r}")
        return out

    def _embed(self, texts):
        return self.embedder_.encode(texts)

    def _make_measurer(self):
        if self.measure_ == "llm":
            return LLMMeasurer(self.llm, on_error=self.on_error, recheck=getattr(self, "recheck", 0),
                               random_state=self.random_state)
        if self.measure_ == "distill":
            return DistillMeasurer(self.llm, n_distill=self.n_distill, random_state=self.random_state,
                                   on_error=self.on_error, n_jobs=self.n_jobs,
                                   # a transformer's "keep" is its own (it outputs failed columns, named so)
                                   gated="llm" if getattr(self, "gated", "drop") == "llm" else "drop")
        return EmbeddingMeasurer(self.embedder_, signals=SIGNALS, n_jobs=self.n_jobs)

    def _propose_and_measure(self, texts, y):
        """Fit ``embedder_``, ``concepts_`` and ``measurer_``; return (embeddings, scores)."""
        self._check_params()
        self.__dict__.pop("surrogate_of_", None)   # a new fit is no longer the surrogate explain_model recorded
        self.embedder_ = self.embedder if self.embedder is not None else SentenceTransformerEmbedder()
        E = self._embed(texts)
        bins = class_bins(y, self._regression)
        concepts = self._given_concepts()
        if self.llm is not None and self.proposer in ("auto", "llm"):
            concepts = self._llm_rounds(texts, y, bins, E, concepts)
            concepts += self._extra_concepts(texts, y, concepts)
        else:
            self.groups_per_class_ = self._groups_per_class(bins)
            self.phrases_per_class_ = self._phrases_per_class(bins)
            for groups in self._candidate_groups(bins):
                concepts += PhraseProposer(phrases_per_class=self.phrases_per_class_, groups_per_class=groups,
                                           random_state=self.random_state).propose(texts, bins, self.embedder_)
        self.prototypes_ = self._use_prototypes()
        if self.prototypes_:
            concepts += PrototypeProposer().propose(texts, bins, E)
            if self.prototypes != "embedding" and len(np.unique(bins)) <= MANY_CLASSES:   # and from the words
                concepts += WordPrototypeProposer().propose(texts, bins)
        if not concepts:
            raise ValueError(self._nothing_proposed())
        measurer = self._make_measurer()
        if hasattr(measurer, "fit_transform"):   # training scores cross-fitted where a probe learns the labels
            F = measurer.fit_transform(texts, E, concepts, y)
        else:
            F = measurer.fit(texts, E, concepts, y).transform(texts, E)
        self.measurer_, self.concepts_ = measurer, concepts
        return E, F

    def _nothing_proposed(self) -> str:
        """Why no concept came to be measured: the chat model wrote none, or the texts gave none."""
        if self.llm is not None and self.proposer in ("auto", "llm"):
            return (f"the chat model {getattr(self.llm, 'model', self.llm)!r} wrote no usable yes/no question in "
                    f"{self.n_rounds} proposal round(s) (an empty list, or none of 8 characters or more), so there is "
                    "nothing to measure: give questions of your own (concepts=[...]), mine phrases from the texts "
                    "instead (proposer='phrases'), or use a more capable chat model")
        return "no concept could be proposed from these texts (too few or too short?)"

    def _use_prototypes(self) -> bool:
        """``prototypes``: ``"auto"`` adds them to a classifier measured offline by embeddings."""
        wanted = getattr(self, "prototypes", False)
        asked = wanted is True or wanted == "embedding"
        if asked and (self._regression or self.measure_ != "embedding"):
            raise ValueError(f"prototypes={wanted!r} needs a classifier measured by embeddings (measure='embedding' or "
                             f"'auto' without llm); got measure={self.measure_!r}"
                             + (" on a regressor" if self._regression else ""))
        return bool(asked or (wanted == "auto" and not self._regression and self.measure_ == "embedding"))

    def _candidate_groups(self, bins) -> list[int]:
        """Phrase-group counts per class to mine offline, each a set of candidate concepts."""
        return [self.groups_per_class_]

    def _extra_concepts(self, texts, y, concepts) -> list:
        """Concepts added after the chat model's questions (none here)."""
        return []

    def _groups_per_class(self, bins) -> int:
        if self.groups_per_class == "auto":  # 32 per class, at most 128 in all, ~25 texts per group
            n_classes = len(np.unique(bins))
            return max(4 if n_classes <= MANY_CLASSES else 2, min(32, 128 // n_classes, len(bins) // 25))
        return int(self.groups_per_class)

    def _phrases_per_class(self, bins) -> int:
        if self.phrases_per_class == "auto":  # 200 per class, at most 6,000 in all (150 classes: 40)
            return max(20, min(200, 6000 // len(np.unique(bins))))
        return int(self.phrases_per_class)

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

    def _concept_budget(self, y) -> int:
        """``max_concepts``, or with ``"auto"`` 30 and at least two concepts per class (so 150
        classes get 300); recorded in ``max_concepts_``. (``LinearConceptModel`` chooses it by
        cross-validation where it can.)"""
        if self.max_concepts != "auto":
            return int(self.max_concepts)
        n_classes = len(np.unique(y))
        return DEFAULT_CONCEPTS if self._regression or n_classes <= MANY_CLASSES else max(DEFAULT_CONCEPTS, 2 * n_classes)

    def _worst(self, F, y, signals):
        groups = np.repeat(np.arange(F.shape[1] // len(signals)), len(signals))
        if self._regression:
            coef, b, _ = fit_sparse_regressor(F, y, groups, self._concept_budget(y))
            return np.argsort(-np.abs(F @ coef + b - y))[:50]
        coef, b, _ = fit_sparse_classifier(F, y, groups, self._concept_budget(y), random_state=self.random_state)
        classes = np.unique(y)
        scores = F @ coef.T + b
        if scores.shape[1] == 1:
            p_true = np.where(y == classes[1], expit(scores[:, 0]), 1 - expit(scores[:, 0]))
        else:
            p_true = softmax(scores, axis=1)[np.arange(len(y)), np.searchsorted(classes, y)]
        return np.argsort(p_true)[:50]

    @contextlib.contextmanager
    def _measured_once(self):
        """Within it, texts already measured are not measured again: ``_measure`` of the same texts
        returns the first scores (a model card measures its test texts for the metrics, then for its
        sections: a chat model is asked once, and its failures are said and counted once)."""
        memo, measure = {}, self._measure   # text -> its row of scores

        def once(X):
            texts = check_texts(X)
            new = texts if not memo else [t for t in dict.fromkeys(texts) if t not in memo]
            if new:
                memo.update(zip(new, measure(new)))
            return np.array([memo[t] for t in texts])

        self._measure = once
        try:
            yield self
        finally:
            del self._measure

    def _measure(self, X):
        texts = check_texts(X)
        F = self.measurer_.transform(texts, self._embed(texts))
        missing = np.isnan(F)
        if missing.any():
            rows = np.flatnonzero(missing.any(axis=1))
            shown = ", ".join(str(r) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
            warnings.warn(MissingAnswerWarning(
                f"{len(rows)} of {len(texts)} texts got no usable answer from the chat model (rows {shown}; "
                "on_error='missing'): their missing scores are the training means, so their predictions and "
                "explanations rest on answers that were not given", rows, len(texts)), stacklevel=outside_stacklevel())
            F = np.where(missing, self.fill_values_, F)
        return F

    def _unanswered_line(self) -> list[str]:
        """The printed model's line where training texts got no usable chat answer (on_error='missing')."""
        training = getattr(self, "training_", None) or {}
        n = training.get("texts_without_answer")
        if not n:
            return []
        return [f"the chat model gave no usable answer for {n} of {training['n_texts']} training texts "
                "(on_error='missing'): their missing scores are each column's training mean"]

    def _unshown_phrases(self, ks) -> dict[str, list[str]]:
        """Per concept ``ks`` names (in that order, by its printed name), the phrases it reads that its
        name does not show. Where phrases are matched (``measure_ == "embedding"``: a ``mentions``
        signal fires on any of them and the ``similar`` probe learned from all of them), every one
        the name leaves out; where a chat model answers (or a probe distilled from its answers), the
        question alone is read, which lists every phrase of a mined name ("... and 3 more")."""
        matched = getattr(self, "measure_", None) == "embedding"
        names = self.concept_names()
        listed = {}
        for k in dict.fromkeys(ks):
            hidden = unshown_phrases(self.concepts_[k].text, self.concepts_[k].phrases, matched=matched)
            if hidden:
                listed[names[k]] = hidden
        return listed

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

    def _per_column(self, value, dtype=bool) -> np.ndarray:
        """``value(record)`` of each column's fidelity record, in column order (concept by concept,
        its signals in the measurer's order)."""
        records = {(r["concept"], r["signal"]): r for r in self.measurer_.fidelity_}
        signals = self.measurer_.signals
        return np.array([value(records[(k, s)]) for k in range(len(self.concepts_)) for s in signals], dtype=dtype)

    def _checks(self) -> np.ndarray:
        """Per column, how its measurement was checked, as the printed model says it."""
        if not self.measurer_.fidelity_:   # a model file written before fidelity was recorded
            return np.full(len(self.concepts_) * self.n_signals_, NOT_RECORDED, dtype=object)
        return self._per_column(describe_fidelity, dtype=object)

    def _signal_checks(self, k: int) -> list[tuple[int, str, str]]:
        """Concept ``k``'s measured signals as the printed model states them: (signal index, signal,
        how it was checked, with ": not faithful, no weight" after one that failed its gate). A signal
        the concept does not have (a prototype's phrases) is left out."""
        if not self.measurer_.fidelity_:   # a model file written before fidelity was recorded
            return [(j, signal, NOT_RECORDED) for j, signal in enumerate(self.measurer_.signals)]
        records = {(r["concept"], r["signal"]): r for r in self.measurer_.fidelity_}
        out = []
        for j, signal in enumerate(self.measurer_.signals):
            r = records[(k, signal)]
            if r["metric"] != "absent":
                out.append((j, signal, describe_fidelity(r) + ("" if r["passed"] is not False else
                                                                ": not faithful, no weight")))
        return out

    def _concept_check(self, k: int, weights=None) -> str:
        """Concept ``k``'s checks in one line, as ``nlmodels explain`` and the plots show them
        ("similar: AUC 0.97 held-out; mentions: exact"; a model with one signal: the check alone).
        With ``weights`` (concept ``k``'s weights in one row of the head): only the signals weighted
        there, the ones its bar or contribution in that row is made of. A model file written before
        fidelity was recorded: "fidelity not recorded", once."""
        if not self.measurer_.fidelity_:
            return NOT_RECORDED
        return "; ".join(check if self.n_signals_ == 1 else f"{signal}: {check}"
                         for j, signal, check in self._signal_checks(k) if weights is None or weights[j] != 0)

    def _column_gate(self) -> np.ndarray:
        """Per column: may it carry weight? Not when its measurement failed its fidelity gate."""
        return self._per_column(lambda r: r["passed"] is not False)

    @property
    def fidelity_(self) -> pd.DataFrame:
        """One row per concept the model uses and signal: how its measurement was checked on held-out
        texts (``metric``: auc, agreement, consistency, exact, defined, unverified), the figure,
        its baseline, the texts used and whether it passed the gate (see nlmodels.concepts.fidelity);
        for an AUC, how many of those texts were positive and its 95% ``interval`` (NaN elsewhere)."""
        check_is_fitted(self, "measurer_")
        names = self.concept_names()
        rows = [{"concept": names[r["concept"]], "measured_by": self.measurer_.name, **{
            k: v for k, v in r.items() if k != "concept"}} for r in self.measurer_.fidelity_]
        columns = ["concept", "signal", "measured_by", "metric", "fidelity", "baseline", "n_texts", "passed",
                   "positives", "interval"]
        frame = pd.DataFrame(rows)
        return frame.reindex(columns=columns + [c for c in frame.columns if c not in columns])

    def _keep(self, used_columns):
        """Drop concepts that carry no weight, in the measurer too (so predict measures only those)."""
        S = self.n_signals_
        keep = np.flatnonzero(used_columns.reshape(-1, S).any(axis=1))
        columns = (keep[:, None] * S + np.arange(S)).ravel()
        self.concepts_ = [self.concepts_[k] for k in keep]
        self.measurer_.select(keep)
        self.fill_values_ = self.fill_values_[columns]
        return columns

    def _usage_now(self):
        """The chat model's counts now (None without one): taken before a fit's first call, so the
        record keeps that fit's calls alone (``_record_training``)."""
        return copy.copy(self.llm.usage) if hasattr(self.llm, "usage") else None

    def _record_training(self, texts, y, F=None, usage_before=None) -> None:
        """Keep what the model's record says about its training data: size, balance, date, this fit's
        chat calls (since ``usage_before``), and how many texts the chat model gave no usable answer
        for (rows of the scores ``F`` with a NaN)."""
        self.training_ = training_summary(texts, y, self._regression, self.llm, usage_before)
        if F is not None and self.measurer_.name != "embedding":
            self.training_["texts_without_answer"] = int(np.isnan(F).any(axis=1).sum())
        self.edits_ = []

    def to_json(self, path=None):
        """The fitted model as plain JSON (written to ``path``, or returned); ``nlmodels.load`` reads it."""
        return to_json(self, path)

    def _export_state(self) -> dict:
        return export_state(self)

    @classmethod
    def _from_state(cls, state: dict, *, llm=None, embedder=None):
        return from_state(cls, state, llm=llm, embedder=embedder)

    def concept_names(self) -> list[str]:
        """Concept texts, made unique (a repeated text gets " (2)", " (3)" ...)."""
        seen: dict[str, int] = {}
        names = []
        for c in self.concepts_:
            seen[c.text] = seen.get(c.text, 0) + 1
            names.append(c.text if seen[c.text] == 1 else f"{c.text} ({seen[c.text]})")
        return names



PARAMETERS_DOC = """
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
    max_concepts : int or "auto", default="auto"
        At most this many concepts carry weight in the fitted model. ``"auto"``: 30, and two per
        class when there are more than 15 classes (150 classes: 300); an offline classifier (at most
        15 classes, at most 5,000 texts) chooses it from 1 to 30 by k-fold cross-validation that
        mines and measures inside each fold (``concept_budget_cv_``), and there also tries the
        prototypes alone (no mined phrase carries weight), taken only when strictly better.
        Recorded in ``max_concepts_``.
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
        concept agreeing less than 0.8 with itself never carries weight. Refused with another
        measure (where it would check nothing).
    prototypes : {"auto", True, False, "embedding"}, default="auto"
        Add one prototype concept per class, "resembles the training texts labelled X, such as:
        ...", shown with the class's most typical texts and measured by a probe that recognises the
        training texts of that class (held-out AUC as its fidelity; the head is fitted on
        cross-fitted scores). They carry a model with few labels or many classes, where mined
        phrases are too few; a prototype says that a text looks like a class, not why. Up to 15
        classes each class also gets a *word prototype*, "uses the words of the training texts
        labelled X, such as: ...", measured the same way by a probe on the text's words (TF-IDF of
        1-2-grams) instead of its embedding; ``"embedding"`` proposes the prototypes without them.
        ``"auto"``: for classifiers measured offline by embeddings; recorded in ``prototypes_``.
    phrases_per_class : int or "auto", default="auto"
        Mined phrases per class (offline proposer). ``"auto"``: 200, and at most 6,000 in all (150
        classes: 40 each; at least 20); recorded in ``phrases_per_class_``.
    groups_per_class : int or "auto", default="auto"
        Phrase groups, i.e. candidate concepts, per class (offline proposer). ``"auto"``: 32 per
        class, at most 128 candidates in all (six classes: 21) and one per 25 training texts (at
        least 4; at least 2 beyond 15 classes); recorded in ``groups_per_class_``.
    on_error : {"raise", "missing"}, default="raise"
        A chat call that fails for good: raise naming the rows, or score the text as missing
        (replaced by the training mean of each concept).
    n_jobs : int, default=None
        Parallel jobs (joblib) for fitting probes. A linear classifier's concept-budget search (``max_concepts``)
        runs its folds on this many threads (``None``: every core; ``1``: one after another), the
        probes inside each fold then serially.
    random_state : int, default=0
"""
