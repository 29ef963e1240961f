"""``EmbeddingMeasurer``: offline measurement from embeddings and phrases."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.special import expit

from ..._codec import decode_array, encode_array, plain
from .. import fidelity
from ..._splits import distinct_texts
from ._probes import auc as _auc, fit_probes, fit_words, held_out_probe_scores, phrase_matches, word_features

__all__ = ["EmbeddingMeasurer", "PROTOTYPE_CS"]

#: The inverse L2 strengths a prototype's embedding probe may take: the one whose probes recognise
#: their classes best on held-out training texts is used (``EmbeddingMeasurer.prototype_C_``).
PROTOTYPE_CS = (1.0, 4.0, 16.0)


def _mean_auc(targets, scores) -> float:
    """Mean held-out AUC over the columns that have one (-inf where none has: too few texts)."""
    aucs = np.array([_auc(targets[:, j], scores[:, j]) for j in range(targets.shape[1])])
    return float(aucs[np.isfinite(aucs)].mean()) if np.isfinite(aucs).any() else -np.inf


class EmbeddingMeasurer:
    """Offline measurement from embeddings and phrases (see the module docstring).

    Parameters
    ----------
    embedder : Embedder
        Embeds the concepts' phrases and written questions.
    signals : tuple of {"similar", "close", "mentions"}, default=("similar", "close", "mentions")
        The columns measured per concept. ``similar``: a logistic probe on the text embedding trained
        to recognise texts that contain one of the concept's phrases (for a written question: same as
        ``close``). ``close``: cosine between the text and the concept (mean of its phrase embeddings,
        or the question), rescaled so the 5th-95th percentile of training texts spans [0, 1], clipped.
        ``mentions``: 1 if the text contains one of the phrases. A word prototype's ``similar`` is a
        probe on the text's words (TF-IDF), not on its embedding.
    C : float, default=1.0
        Inverse L2 strength of the phrase probes and word prototypes' probes. The prototypes' embedding
        probes take the value of :data:`PROTOTYPE_CS` under which their five-fold held-out scores
        recognise their classes best (mean ROC AUC over the prototypes; ``prototype_C_``).
    n_jobs : int, default=None
        Probes are fitted in parallel through joblib.
    """

    name = "embedding"

    def __init__(self, embedder, signals=("similar", "close", "mentions"), C: float = 1.0, n_jobs=None):
        self.embedder = embedder
        self.signals = tuple(signals)
        self.C = C
        self.n_jobs = n_jobs

    def _centroids(self, concepts) -> np.ndarray:
        vectors = []
        for c in concepts:
            v = self.embedder.encode(list(c.phrases) or list(c.examples) or [c.text]).mean(axis=0)
            vectors.append(v / max(np.linalg.norm(v), 1e-12))
        return np.stack(vectors, axis=1)

    def fit(self, texts, embeddings, concepts, y=None):
        self._fit(texts, embeddings, concepts, y)
        return self

    def fit_transform(self, texts, embeddings, concepts, y=None) -> np.ndarray:
        """``fit``, then the training texts' scores, with each prototype's ``similar`` score
        cross-fitted (from probes not fitted on that text), so a head fitted on them sees what a new
        text would get (a probe that learns the labels scores its own training texts too well)."""
        cross_fitted = self._fit(texts, embeddings, concepts, y)
        return self._with_prototype_scores(self.transform(texts, embeddings), cross_fitted)

    def labelled_transform(self, texts, embeddings, y) -> np.ndarray:
        """The scores a head is refitted on (``refit_head``): ``transform``, with each prototype's
        ``similar`` score cross-fitted on these texts and labels ``y`` as ``fit_transform`` does
        (five folds stratified by ``y``, the C the fit chose), since the prototype's probe may have
        been fitted on some of these texts and would score them too well. Where too few texts
        allow no folds: NaN, as in ``fit_transform`` (the model fills it as a missing score)."""
        F = self.transform(texts, embeddings)
        if not self.prototype_.any() or "similar" not in self.signals:
            return F
        targets = self._with_class_targets(np.zeros((len(texts), len(self.concepts_))), y)
        words = self._words(texts) if self.reads_words_.any() else None
        C = self.prototype_C_ if self.prototype_C_ is not None else self.C
        scores, _ = self._held_out_prototype_scores(embeddings, words, targets, np.asarray(y), (C,),
                                                    distinct_texts(texts))
        return self._with_prototype_scores(F, scores)

    def _with_class_targets(self, targets, y):
        """``targets`` with each prototype's column set to whether the text is labelled its class
        (what its probe learns to recognise)."""
        labels = np.asarray(y)
        for k in np.flatnonzero(self.prototype_):
            targets[:, k] = (labels == self.concepts_[k].target).astype(float)
        return targets

    def _with_prototype_scores(self, F, scores):
        """``F`` with each prototype's ``similar`` column replaced by ``scores`` (one column per
        prototype, in order; NaN where no fold could score a text)."""
        if scores is not None and "similar" in self.signals:
            columns = np.flatnonzero(self.prototype_) * len(self.signals) + self.signals.index("similar")
            F[:, columns] = scores
        return F

    def _fit(self, texts, embeddings, concepts, y):
        """Fit everything; return the cross-fitted prototype scores (None without prototypes)."""
        unknown = set(self.signals) - {"similar", "close", "mentions"}
        if unknown or not self.signals:
            raise ValueError(f"signals must be a non-empty subset of similar, close, mentions; got {self.signals}")
        self.concepts_ = list(concepts)
        self.prototype_ = np.array([c.is_prototype for c in self.concepts_], dtype=bool)
        self.reads_words_ = np.array([c.reads_words for c in self.concepts_], dtype=bool)
        if self.prototype_.any() and y is None:
            raise ValueError("prototype concepts are measured from the training labels: fit needs y")
        self.centroids_ = self._centroids(self.concepts_)
        cosine = embeddings @ self.centroids_
        self.low_, self.high_ = np.percentile(cosine, 5, axis=0), np.percentile(cosine, 95, axis=0)
        self.has_phrases_ = np.array([bool(c.phrases) for c in self.concepts_])
        targets = self._with_class_targets(phrase_matches(texts, self.concepts_), y)
        on_embedding, on_words = np.flatnonzero(~self.reads_words_), np.flatnonzero(self.reads_words_)
        self.W_, self.b_ = np.zeros((embeddings.shape[1], len(self.concepts_))), np.zeros(len(self.concepts_))
        self.W_[:, on_embedding], self.b_[on_embedding] = fit_probes(embeddings, targets[:, on_embedding], C=self.C,
                                                                     n_jobs=self.n_jobs)
        self.words_, words, self.prototype_C_ = None, None, None
        if len(on_words):   # word prototypes: probes on the texts' words instead
            self.words_ = fit_words(texts)
            words = self._words(texts)
            self.word_W_, self.b_[on_words] = fit_probes(words, targets[:, on_words], C=self.C, n_jobs=self.n_jobs)
        groups = distinct_texts(texts)   # held-out folds keep a text's copies together
        cross_fitted = self._cross_fit_prototypes(embeddings, words, targets, y, groups) if self.prototype_.any() else None
        self.fidelity_ = self._fidelity(embeddings, targets, cosine, cross_fitted, groups)
        return cross_fitted

    def _cross_fit_prototypes(self, embeddings, words, targets, y, groups) -> np.ndarray:
        """Each prototype's probe score on every training text from probes fitted without it (five
        folds stratified by the labels ``y``), on what the prototype reads. The embedding prototypes' C is the one of
        :data:`PROTOTYPE_CS` whose probes score the held-out texts best (mean AUC over the
        prototypes, ties to the smaller C; recorded as ``prototype_C_``), and their final probes are
        refitted with it; word prototypes keep ``C``."""
        out, self.prototype_C_ = self._held_out_prototype_scores(embeddings, words, targets, np.asarray(y), PROTOTYPE_CS,
                                                                 groups)
        columns = np.flatnonzero(self.prototype_ & ~self.reads_words_)
        if len(columns) and self.prototype_C_ != self.C:
            self.W_[:, columns], self.b_[columns] = fit_probes(embeddings, targets[:, columns],
                                                               C=self.prototype_C_, n_jobs=self.n_jobs)
        return out

    def _held_out_prototype_scores(self, embeddings, words, targets, labels, grid,
                                   groups) -> tuple[np.ndarray, float | None]:
        """Each prototype's probe score on every text from probes fitted without it (five folds
        stratified by ``labels``): word prototypes with ``C``, embedding prototypes with the C of
        ``grid`` that scores best (mean AUC; ties to the smaller). Returns the scores and that C
        (None without embedding prototypes)."""
        chosen = None
        out = np.full((len(embeddings), int(self.prototype_.sum())), np.nan)
        for reads_words, X in ((False, embeddings), (True, words)):
            mine = self.reads_words_[self.prototype_] == reads_words
            if not mine.any():
                continue
            T = targets[:, self.prototype_][:, mine]
            Cs = (self.C,) if reads_words else grid
            scores = [held_out_probe_scores(X, T, C=C, n_folds=5, n_jobs=self.n_jobs, stratify=labels, groups=groups)
                      for C in Cs]
            best = int(np.argmax([_mean_auc(T, S) for S in scores]))
            out[:, mine] = scores[best]
            if not reads_words:
                chosen = float(Cs[best])
        return out, chosen

    def _words(self, texts):
        """The texts' word features (TF-IDF over the training vocabulary; no column without one)."""
        if self.words_ is None:
            return sparse.csr_matrix((len(texts), 0))
        return word_features(texts, self.words_)

    def top_words(self, k: int, n: int = 5) -> list[str]:
        """A word prototype's ``n`` vocabulary entries with the largest weights toward its class."""
        if not self.reads_words_[k] or self.words_ is None:
            return []
        weights = self.word_W_[:, int(np.cumsum(self.reads_words_)[k]) - 1]
        order = np.argsort(-weights, kind="stable")[:n]
        return [self.words_["vocabulary"][i] for i in order if weights[i] > 0]

    @property
    def probed_(self) -> np.ndarray:
        """Per concept: is ``similar`` a fitted probe (phrases or a prototype), not the cosine?"""
        return self.has_phrases_ | self.prototype_

    def _fidelity(self, embeddings, targets, cosine, cross_fitted, groups) -> list[dict]:
        """``similar``: AUC of the probe for texts that use the phrases, each training text scored by a
        probe fitted on the other two thirds (three folds, each later copy of a text in the fold of
        its first copy, so no probe scores a copy of a text it was fitted on; a prototype: for the texts of its class,
        each training text scored by probes fitted without it, five folds); ``close``: AUC of the
        cosine for the same (nothing fitted on them but the rescaling); ``mentions``: exact (a
        concept without phrases, a prototype or a written question: ``absent``, never weighted). Written questions (no phrases) have
        no ground truth here: unverified."""
        phrased = self.has_phrases_ & ~self.prototype_
        held_out = np.full(targets.shape, np.nan)
        if "similar" in self.signals and phrased.any():
            held_out[:, phrased] = held_out_probe_scores(embeddings, targets[:, phrased], C=self.C,
                                                         n_folds=3, n_jobs=self.n_jobs, groups=groups)
        if cross_fitted is not None:
            held_out[:, self.prototype_] = cross_fitted
        records = []
        n = len(embeddings)
        for k in range(len(self.concepts_)):
            scored = ~np.isnan(held_out[:, k])
            for signal in self.signals:
                if signal == "mentions":
                    records.append(fidelity.record(k, signal, "exact", 1.0, None, n) if self.has_phrases_[k]
                                   else fidelity.record(k, signal, "absent", n_texts=n))
                elif not self.probed_[k]:
                    records.append(fidelity.record(k, signal, "unverified", n_texts=n))
                elif signal == "similar":
                    records.append(fidelity.record(k, signal, "auc", _auc(targets[:, k], held_out[:, k]), 0.5,
                                                   int(scored.sum()), int(targets[scored, k].sum())))
                else:
                    records.append(fidelity.record(k, signal, "auc", _auc(targets[:, k], cosine[:, k]), 0.5, n,
                                                   int(targets[:, k].sum())))
        return records

    def select(self, keep: np.ndarray) -> None:
        """Keep only these concepts (each one's measurement is independent of the others)."""
        self.concepts_ = [self.concepts_[k] for k in keep]
        self.centroids_, self.low_, self.high_ = self.centroids_[:, keep], self.low_[keep], self.high_[keep]
        if self.reads_words_.any():   # the word probes' columns follow the word prototypes they belong to
            self.word_W_ = self.word_W_[:, np.cumsum(self.reads_words_)[keep][self.reads_words_[keep]] - 1]
        self.has_phrases_, self.prototype_ = self.has_phrases_[keep], self.prototype_[keep]
        self.reads_words_ = self.reads_words_[keep]
        self.W_, self.b_ = self.W_[:, keep], self.b_[keep]
        self.fidelity_ = fidelity.reindex(self.fidelity_, keep)

    def extend(self, texts, embeddings, added) -> None:
        """Measure ``added`` concepts too (fitted on these texts), after the ones it has."""
        if any(c.is_prototype for c in added):
            raise ValueError("prototype concepts are measured from the training labels; they cannot be added by "
                             "an edit (refit the model instead)")
        extra = EmbeddingMeasurer(self.embedder, signals=self.signals, C=self.C, n_jobs=self.n_jobs)
        extra.fit(texts, embeddings, added)
        n = len(self.concepts_)
        self.concepts_ = list(self.concepts_) + list(added)
        self.centroids_ = np.concatenate([self.centroids_, extra.centroids_], axis=1)
        self.low_, self.high_ = np.concatenate([self.low_, extra.low_]), np.concatenate([self.high_, extra.high_])
        self.has_phrases_ = np.concatenate([self.has_phrases_, extra.has_phrases_])
        self.prototype_ = np.concatenate([self.prototype_, extra.prototype_])
        self.reads_words_ = np.concatenate([self.reads_words_, extra.reads_words_])
        self.W_, self.b_ = np.concatenate([self.W_, extra.W_], axis=1), np.concatenate([self.b_, extra.b_])
        self.fidelity_ = self.fidelity_ + [{**r, "concept": r["concept"] + n} for r in extra.fidelity_]

    def to_state(self) -> dict:
        """Everything ``transform`` needs, as plain JSON (arrays through the codec)."""
        return {"type": "embedding", "signals": list(self.signals), "C": self.C,
                "prototype_C": getattr(self, "prototype_C_", None),
                "centroids": encode_array(self.centroids_), "low": encode_array(self.low_),
                "high": encode_array(self.high_), "has_phrases": encode_array(self.has_phrases_),
                "prototype": encode_array(self.prototype_),
                "probe_weights": encode_array(self.W_), "probe_bias": encode_array(self.b_),
                "fidelity": plain(self.fidelity_), **self._words_state()}

    def _words_state(self) -> dict:
        """The word prototypes' part of the state (none without them)."""
        if not self.reads_words_.any():
            return {}
        return {"reads_words": encode_array(self.reads_words_),
                "words": {"vocabulary": list(self.words_["vocabulary"]), "idf": encode_array(self.words_["idf"])},
                "word_probe_weights": encode_array(self.word_W_)}

    @classmethod
    def from_state(cls, state: dict, concepts, *, embedder, llm=None, n_jobs=None) -> "EmbeddingMeasurer":
        m = cls(embedder, signals=tuple(state["signals"]), C=state["C"], n_jobs=n_jobs)
        m.concepts_ = list(concepts)
        m.centroids_, m.low_, m.high_ = (decode_array(state[k]) for k in ("centroids", "low", "high"))
        m.has_phrases_ = decode_array(state["has_phrases"])
        m.prototype_ = (decode_array(state["prototype"]).astype(bool) if "prototype" in state
                        else np.zeros(len(m.has_phrases_), bool))   # files from before prototypes
        m.W_, m.b_ = decode_array(state["probe_weights"]), decode_array(state["probe_bias"])
        m.fidelity_ = list(state.get("fidelity") or [])
        m.prototype_C_ = state.get("prototype_C")   # None: no prototypes, or a file from before the choice
        m.reads_words_ = (decode_array(state["reads_words"]).astype(bool) if "reads_words" in state
                          else np.zeros(len(m.has_phrases_), bool))   # no word prototypes (or an older file)
        m.words_ = None
        if "words" in state:
            m.words_ = {"vocabulary": list(state["words"]["vocabulary"]), "idf": decode_array(state["words"]["idf"])}
            m.word_W_ = decode_array(state["word_probe_weights"])
        return m

    def describe(self) -> str:
        """One sentence on how the scores are measured (the card and the JSON show it)."""
        identity = getattr(self.embedder, "identity", {}) or {}
        name = identity.get("name") or identity.get("model", "the embedder")
        parts = []
        if "similar" in self.signals:
            parts.append("'similar': a logistic probe on the text's embedding that recognises texts containing "
                         "one of the concept's phrases (a prototype concept: the training texts of its class; "
                         "a word prototype: a probe on the text's words, TF-IDF of 1-2-grams, that recognises the "
                         "training texts of its class; a written question: its rescaled cosine to the text)"
                         + self._prototype_C_note())
        if "close" in self.signals:
            parts.append("'close': cosine between the text and the concept, rescaled so the 5th-95th percentile "
                         "of training texts spans 0-1")
        if "mentions" in self.signals:
            parts.append("'mentions': 1 if the text contains one of the phrases (whole words of two or more letters or digits, any case), else 0")
        return f"Embedding ({name}), offline. Signals per concept: " + "; ".join(parts) + "."

    def _prototype_C_note(self) -> str:
        """How the prototypes' probes were regularised, where it was chosen (files before: nothing)."""
        C = getattr(self, "prototype_C_", None)
        if C is None:
            return ""
        grid = ", ".join(f"{c:g}" for c in PROTOTYPE_CS)
        return (f"; the prototypes' probes have inverse L2 strength C = {C:g}, the one of {grid} under which "
                f"their five-fold held-out scores recognise their classes best")

    def reading_signal(self) -> np.ndarray:
        """Per concept, the column (signal index) that measures what its sentence says: ``mentions``
        for a phrase concept ("mentions something like ..."), ``similar`` (or the first) otherwise."""
        first = 0 if "similar" not in self.signals else self.signals.index("similar")
        if "mentions" not in self.signals:
            return np.full(len(self.concepts_), first)
        return np.where(self.has_phrases_, self.signals.index("mentions"), first)

    chat_calls_per_text = 0

    def transform(self, texts, embeddings) -> np.ndarray:
        close = np.clip((embeddings @ self.centroids_ - self.low_) / np.maximum(self.high_ - self.low_, 1e-6), 0, 1)
        columns = {"close": close}
        if "similar" in self.signals:
            probes = embeddings @ self.W_ + self.b_
            if self.reads_words_.any():
                probes[:, self.reads_words_] = np.asarray(self._words(texts) @ self.word_W_) + self.b_[self.reads_words_]
            columns["similar"] = np.where(self.probed_, expit(probes), close)
        if "mentions" in self.signals:
            columns["mentions"] = phrase_matches(texts, self.concepts_)
        return np.stack([columns[s] for s in self.signals], axis=2).reshape(len(texts), -1)
