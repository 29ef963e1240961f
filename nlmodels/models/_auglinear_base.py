"""``AugLinearClassifier`` and ``AugLinearRegressor``: an additive n-gram model built from embeddings.

The Aug-Linear idea (Singh et al., "Augmenting interpretable models with large language models
during training", Nature Communications 2023): embed every n-gram of a text, sum the embeddings and
fit a linear model on the sum. Because the model is linear, it is exactly a table of one number per
n-gram (the n-gram's embedding times the weights) plus an intercept; a text's decision value is the
intercept plus the table entries of the n-grams it contains, counted with multiplicity. The table
covers any n-gram, seen in training or not, because any n-gram can be embedded.

Two additions to the original method, both keeping the model a table of one number per n-gram:

* each n-gram order (unigrams, bigrams, ...) has its own weight vector, so ``n-gram score =
  embedding(n-gram) @ weights[order]``;
* optionally (``lexical_scales``), each n-gram seen in training gets its own small correction on
  top of its embedding score, learned with a separate penalty, as in a bag-of-words model. Cross-
  validation decides how much of it to use; ``0`` is the plain embedding model. N-grams never seen in
  training are scored by their embedding alone.
"""

from __future__ import annotations

from numbers import Real

import html
import re
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._validation import check_numbers_param, check_texts
from ..embed import SentenceTransformerEmbedder
from .._codec import counted, decode_array, decode_labels, encode_array, encode_labels, plain
from ..embed.record import embedder_record, rebuild_embedder
from ._contract import TextEstimatorMixin, positive_int
from ._head import standardise
from ._document import to_json

__all__ = ["PARAMETERS_DOC_AUGLINEAR", "AugLinearBase"]

_INTERCEPT = "intercept"
_TOL = 1e-4  # solver tolerance of the logistic regressions
_CV_MAX_ITER = 100
#: ``max_ngrams="auto"``: a training table of more distinct n-grams than this (long texts; bbc_news's
#: 999 articles have 208,075 1-2-grams, the largest short-text set here, ag_news, 52,166) keeps the
#: ``AUTO_CAP`` found in the most texts; a smaller one is kept whole.
AUTO_TABLE_LIMIT, AUTO_CAP = 100_000, 10_000



def _design(Z, O, lexical_scale):
    """The matrix the head sees: standardised embedding sums, then scaled n-gram counts."""
    if not lexical_scale:
        return Z
    return sp.hstack([sp.csr_matrix(Z), O * lexical_scale], format="csr")


def _cv_accuracy(X, y, train, test, Cs, max_iter, tol):
    """Accuracy on one held-out fold for each C (ascending), warm-starting along the path.

    Each step gets at most ``_CV_MAX_ITER`` iterations: warm-started, the path converges within
    that almost always, and a step that does not (a weak penalty on many n-grams, six classes) is
    ranked well enough unfinished; the final model is fitted to ``max_iter``.
    """
    model = LogisticRegression(max_iter=min(max_iter, _CV_MAX_ITER), tol=tol, warm_start=True)
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for C in Cs:
            model.set_params(C=C).fit(X[train], y[train])
            scores.append(np.mean(model.predict(X[test]) == y[test]))
    return scores


PARAMETERS_DOC_AUGLINEAR = """
    embedder : Embedder, default=None
        Embeds the n-grams; ``None`` uses :class:`~nlmodels.SentenceTransformerEmbedder` (the
        bundled all-MiniLM-L6-v2, offline). Every n-gram goes through the embedder's cache, so each
        unique n-gram is embedded once across fit, predict and explain (and across runs).
    ngram_range : tuple (min_n, max_n), default=(1, 2)
        The n-gram orders, as for :class:`~sklearn.feature_extraction.text.CountVectorizer`.
    stop_words : {"english"}, list or None, default=None
        Words removed before n-grams are formed (as for ``CountVectorizer``).
    lowercase : bool, default=True
    token_pattern : str, default=r"(?u)\\b\\w\\w+\\b|n't"
        What a token is (a regular expression for ``CountVectorizer``): words of two or more
        characters, and the split-off negation ``n't`` of tokenised text (``is n't``).
    lexical_scales : sequence of float, default=(3.0, 10.0)
        Candidate sizes of the per-n-gram correction for n-grams seen in training (larger: a
        weaker penalty on it, closer to a bag-of-words model); cross-validation picks one.
        ``(0.0,)`` gives the plain Aug-Linear model, where every n-gram is scored by its
        embedding alone (on the six benchmark sets cross-validation never preferred it).
    min_df : int, default=1
        Keep only the training n-grams found in at least this many training texts.
    max_ngrams : int, "auto" or None, default="auto"
        Keep at most this many training n-grams, those found in the most training texts (ties: in
        alphabetical order), so the table, and the embedding work of a fit, stay bounded on long
        texts (bbc_news: 208,075 1-2-grams in 999 articles). ``"auto"``: no cap while the training
        texts hold at most 100,000 distinct n-grams (every short-text benchmark set), else the
        10,000 found in the most texts; ``None``: never capped. The resolved cap is recorded in
        ``max_ngrams_`` and printed. With ``min_df > 1`` or a cap, the table is the whole model: an
        n-gram outside it adds nothing, at fit and at predict (``ngram_contributions`` of a phrase
        outside it is 0). Uncapped, every n-gram counts and one never seen in training is scored
        through its embedding."""


class AugLinearBase(TextEstimatorMixin, BaseEstimator):
    """What the classifier and the regressor share: n-grams, their embeddings, the score table."""

    _regression = False

    def __init__(self, embedder=None, *, ngram_range=(1, 2), stop_words=None, lowercase=True,
                 token_pattern=r"(?u)\b\w\w+\b|n't", lexical_scales=(3.0, 10.0), min_df=1, max_ngrams="auto"):
        self.embedder = embedder
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.lexical_scales = lexical_scales
        self.min_df = min_df
        self.max_ngrams = max_ngrams

    # ------------------------------------------------------------------ n-grams and features
    _parameter_constraints = {
        "embedder": [HasMethods(["encode"]), None], "ngram_range": [tuple, list],
        "stop_words": [StrOptions({"english"}), list, None], "lowercase": ["boolean"], "token_pattern": [str],
        "lexical_scales": ["array-like", Real], "min_df": [positive_int], "max_ngrams": [positive_int, StrOptions({"auto"}), None],
    }

    def _check_params(self):
        """Everything about the parameters, before any n-gram is embedded."""
        self._check_contract()
        self._check_head_params()
        if not (len(self.ngram_range) == 2 and all(isinstance(n, (int, np.integer)) for n in self.ngram_range)
                and 1 <= self.ngram_range[0] <= self.ngram_range[1]):
            raise ValueError(f"ngram_range must be (min_n, max_n) with 1 <= min_n <= max_n, got {self.ngram_range!r}")
        try:
            groups = re.compile(self.token_pattern).groups
        except re.error as error:
            raise ValueError(f"token_pattern is not a regular expression ({error}): {self.token_pattern!r}") from None
        if groups > 1:   # CountVectorizer takes the one group as the token; more is an error there
            raise ValueError(f"token_pattern may have at most one capturing group, got {groups}: "
                             f"{self.token_pattern!r} (write (?:...) for a group that captures nothing)")
        return check_numbers_param("lexical_scales", self.lexical_scales, allow_zero=True)

    @property
    def _capped(self) -> bool:
        return self.min_df > 1 or self.max_ngrams_ is not None

    def _resolve_cap(self, n_ngrams: int):
        """``max_ngrams`` with ``"auto"`` resolved for a table of ``n_ngrams`` training n-grams."""
        if self.max_ngrams != "auto":
            return self.max_ngrams
        return AUTO_CAP if n_ngrams > AUTO_TABLE_LIMIT else None

    def _vectorizer(self, vocabulary=None) -> CountVectorizer:
        """The n-gram analyzer; with a ``vocabulary`` (a capped table), it counts only those n-grams."""
        return CountVectorizer(ngram_range=tuple(self.ngram_range), stop_words=self.stop_words,
                               lowercase=self.lowercase, token_pattern=self.token_pattern, vocabulary=vocabulary)

    def _count(self, texts):
        """Counts (texts x n-grams, csr) and the n-grams (sorted), for the n-grams these texts
        contain (of the table only, when it is capped)."""
        vectorizer = clone(self.vectorizer_)
        try:
            counts = vectorizer.fit_transform(texts).tocsr()
        except ValueError:  # no text has a single n-gram (e.g. only stop words)
            return sp.csr_matrix((len(texts), 0)), []
        names = vectorizer.get_feature_names_out().tolist()
        if vectorizer.vocabulary is not None:   # a fixed table: only the columns these texts use
            present = np.unique(counts.indices)
            counts, names = counts[:, present], [names[i] for i in present]
        return counts.astype(np.float64), names

    def _cap(self, counts, ngrams):
        """The training n-grams the table keeps (``min_df``, ``max_ngrams``), in their sorted order."""
        df = np.bincount(counts.indices, minlength=len(ngrams))
        order = np.argsort(-df, kind="stable")          # most documents first; ties alphabetical
        order = order[df[order] >= self.min_df][: self.max_ngrams_]
        keep = np.sort(order)
        if len(keep) == 0:
            raise ValueError(f"no n-gram is in min_df={self.min_df} training texts; lower min_df")
        return counts[:, keep], [ngrams[i] for i in keep]

    def _orders(self, ngrams) -> np.ndarray:
        low, high = self.ngram_range
        return np.clip([g.count(" ") + 1 for g in ngrams], low, high).astype(int)

    def _embedding_sums(self, counts, ngrams):
        """Per text, the sum of its n-grams' embeddings, one block of columns per n-gram order."""
        E = self.embedder_.encode(ngrams).astype(np.float64)
        orders = self._orders(ngrams)
        low, high = self.ngram_range
        blocks = []
        for order in range(low, high + 1):
            mask = (orders == order).astype(np.float64)
            blocks.append(counts @ (E * mask[:, None]))
        return np.hstack(blocks), E, orders

    def _embedding_scores(self, E, orders) -> np.ndarray:
        """Each n-gram's score (n_ngrams, n_outputs) from its embedding and its order's weights."""
        dim = E.shape[1]
        scores = np.zeros((len(E), self.coef_.shape[0]))
        for k, order in enumerate(range(self.ngram_range[0], self.ngram_range[1] + 1)):
            rows = orders == order
            scores[rows] = E[rows] @ self.coef_[:, k * dim:(k + 1) * dim].T
        return scores

    def _scores_for(self, ngrams) -> np.ndarray:
        """Score table rows for any n-grams: the fitted table where seen, the embedding elsewhere."""
        index = np.array([self.vocabulary_.get(g, -1) for g in ngrams], dtype=int)
        scores = np.zeros((len(ngrams), self.coef_.shape[0]))
        seen = index >= 0
        scores[seen] = self.ngram_scores_[index[seen]]
        if (~seen).any():
            unseen = [g for g, s in zip(ngrams, seen) if not s]
            E = self.embedder_.encode(unseen).astype(np.float64)
            scores[~seen] = self._embedding_scores(E, self._orders(unseen))
        return scores

    def _contributions(self, X):
        """``(texts, counts, n-grams, scores)``: text t's contribution from n-gram j toward output
        r is ``counts[t, j] * scores[j, r]``; the decision value is the intercept plus their sum."""
        check_is_fitted(self, "ngram_scores_")
        texts = check_texts(X)
        counts, ngrams = self._count(texts)
        return texts, counts, ngrams, self._scores_for(ngrams)

    def _decision(self, X) -> np.ndarray:
        _, counts, _, scores = self._contributions(X)
        return self.intercept_[None, :] + np.column_stack(
            [np.asarray(counts.multiply(scores[:, r][None, :]).sum(axis=1)).ravel()
             for r in range(scores.shape[1])]
        )

    # ------------------------------------------------------------------ fitting
    def _fit_table(self, texts, y):
        """Count, embed, fit the head; set the fitted attributes. Returns ``self``."""
        scales = self._check_params()
        self.embedder_ = self.embedder if self.embedder is not None else SentenceTransformerEmbedder()
        self.vectorizer_ = self._vectorizer()
        counts, ngrams = self._count(texts)
        if not ngrams:
            raise ValueError(
                f"no n-grams in X: every text is empty after tokenising (token_pattern="
                f"{self.token_pattern!r}, stop_words={self.stop_words!r})"
            )
        self.max_ngrams_ = self._resolve_cap(len(ngrams))
        self.n_training_ngrams_ = len(ngrams)
        if self._capped:
            counts, ngrams = self._cap(counts, ngrams)
            self.vectorizer_ = self._vectorizer(ngrams)
        D, E, orders = self._embedding_sums(counts, ngrams)
        Z, mean, scale = standardise(D, eps=1e-12)
        # One BLAS thread for the head: its matrices are small (texts x (dim + n-grams), mostly
        # sparse) and OpenBLAS threading made these fits 3 times slower here (sst2: 24.6 s -> 7.9 s).
        with threadpool_limits(1, user_api="blas"):
            coef, lexical, intercept, self.lexical_scale_ = self._fit_head(Z, counts, y, scales)
        self.coef_ = coef / scale[None, :]
        self.intercept_ = intercept - self.coef_ @ mean
        self.vocabulary_ = {g: i for i, g in enumerate(ngrams)}
        self.ngram_scores_ = self._embedding_scores(E, orders) + lexical * self.lexical_scale_
        self.document_frequency_ = np.bincount(counts.indices, minlength=len(ngrams))
        self.n_features_in_ = 1
        return self

    # ------------------------------------------------------------------ reading the model
    def _explain(self, X, row: int) -> pd.DataFrame:
        texts, counts, ngrams, scores = self._contributions(X)
        parts = counts.multiply(scores[:, row][None, :]).toarray()
        order = self._appearance_order(texts, ngrams)
        columns = [g if g != _INTERCEPT else f"{g} (n-gram)" for g in np.asarray(ngrams)[order]]
        frame = pd.DataFrame(parts[:, order], columns=columns)
        frame[_INTERCEPT] = self.intercept_[row]
        frame.index = pd.Index(range(len(texts)), name="text")
        return frame

    def _appearance_order(self, texts, ngrams) -> np.ndarray:
        """Column order for explain: n-grams as the analyzer meets them, text by text."""
        position = {g: i for i, g in enumerate(ngrams)}
        analyze = self.vectorizer_.build_analyzer()
        order = list(dict.fromkeys(position[g] for text in texts for g in analyze(text) if g in position))
        return np.array(order, dtype=int)

    def _phrase_scores(self, phrases):
        phrases = check_texts(phrases, name="phrases")
        counts, ngrams = self._count(phrases)
        scores = counts @ self._scores_for(ngrams) if ngrams else np.zeros((len(phrases), len(self.intercept_)))
        return phrases, np.asarray(scores)

    def _seen(self, phrases) -> list[bool]:
        """Whether each phrase, tokenised as the model does, is one n-gram of the table (every
        training n-gram; of a capped table, those it kept)."""
        tokens = clone(self.vectorizer_).set_params(ngram_range=(1, 1)).build_analyzer()
        return [" ".join(tokens(p)) in self.vocabulary_ for p in phrases]

    def _table(self, row: int, k: int, sign: int) -> pd.DataFrame:
        values = sign * self.ngram_scores_[:, row]
        top = np.argsort(-values, kind="stable")[:k]
        top = top[values[top] > 0]
        ngrams = np.array(list(self.vocabulary_))
        return pd.DataFrame({"ngram": ngrams[top], "contribution": self.ngram_scores_[top, row],
                             "documents": self.document_frequency_[top]})

    def _sections(self):
        """``[(keys, title, row, sign)]``: the lists a reader sees, for and against each outcome;
        ``keys`` are the leading columns of :meth:`top_ngrams`."""
        raise NotImplementedError

    def top_ngrams(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` strongest n-grams for and against each class (or toward higher and lower
        predictions), among the n-grams seen in training.

        Returns
        -------
        DataFrame
            Classifier: columns ``class``, ``direction`` (``"for"``/``"against"``; with two
            classes, the n-grams for each class), ``ngram``, ``contribution`` (what one occurrence
            adds to the decision value; with two classes, the value toward ``classes_[1]``) and
            ``documents`` (training texts that contain it). Regressor: ``direction``
            (``"higher"``/``"lower"``) in place of ``class`` and ``direction``.
        """
        check_is_fitted(self, "ngram_scores_")
        frames = []
        for keys, _, row, sign in self._sections():
            frame = self._table(row, k, sign)
            for position, (name, value) in enumerate(keys.items()):
                frame.insert(position, name, [value] * len(frame))
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def _others(self) -> str:
        """What an n-gram outside the table adds: nothing when the table is capped, else its embedding's score."""
        if not self._capped:
            return "any other n-gram is scored through its embedding"
        return ("any other n-gram adds nothing (the table is capped: " +
                ", ".join(f"{k}={v}" for k, v in (("min_df", self.min_df), ("max_ngrams", self.max_ngrams_))
                          if v not in (1, None))
                + (", chosen by max_ngrams='auto' for a table over "
                   f"{AUTO_TABLE_LIMIT:,} n-grams" if self.max_ngrams == "auto" and self.max_ngrams_ else "")
                + ")")

    def _header(self) -> str:
        kept = len(self.vocabulary_)
        lexical = (f"embedding score plus a per-n-gram correction (scale {self.lexical_scale_:g})"
                   if self.lexical_scale_ else "embedding score only")
        what = "prediction" if self._regression else "decision value"
        total = getattr(self, "n_training_ngrams_", None)   # not recorded in older files
        if not self._capped:
            table = f"{kept:,} n-grams seen in training"
        elif total is not None:
            table = f"{kept:,} n-grams in the table, of the {total:,} seen in training"
        else:
            table = f"{kept:,} n-grams in the table"
        return (f"{type(self).__name__}: {self.ngram_range[0]}-{self.ngram_range[1]}-grams embedded by "
                f"{self.embedder_!r}; {lexical}\n{table}; {self._others()}"
                f"\n{what} = intercept + the sum of its n-grams' contributions, "
                f"each counted every time it occurs")

    def _format(self, k: int = 8, html_out: bool = False) -> str:
        check_is_fitted(self, "ngram_scores_")
        header = self._header()
        lines = [header]
        parts = ["<div>" + "<br>".join(f"<b>{html.escape(line)}</b>" for line in header.split("\n"))]
        for title, rows in self._blocks(k):
            lines.append(title)
            parts.append(f"<p>{html.escape(title)}</p><table>")
            for value, name, documents in rows:
                where = f"in {counted(documents, 'training text')}" if documents else ""
                lines.append(f"  {value:+8.3f}  {name}" + (f"   ({where})" if where else ""))
                parts.append(f"<tr><td style='text-align:right'>{value:+.3f}</td><td>{html.escape(name)}</td>"
                             f"<td><small>{where}</small></td></tr>")
            parts.append("</table>")
        return "".join(parts) + "</div>" if html_out else "\n".join(lines)

    def _blocks(self, k: int):
        """Titled lists of ``(contribution, n-gram, documents)``, intercepts first."""
        blocks = []
        for _, title, row, sign in self._sections():
            table = self._table(row, k, sign)
            rows = [(self.intercept_[row], _INTERCEPT, 0)] if sign > 0 else []
            rows += list(zip(table["contribution"], table["ngram"], table["documents"]))
            blocks.append((title, rows))
        return blocks

    def __str__(self):
        return self._format()

    def _repr_html_(self):
        if not hasattr(self, "ngram_scores_"):
            return html.escape(repr(self))
        return self._format(html_out=True)

    # ------------------------------------------------------------------ JSON (nlmodels.models._document)
    def to_json(self, path=None):
        """The fitted model as plain JSON (written to ``path``, or returned); ``nlmodels.load`` reads it."""
        return to_json(self, path)

    def _measurement(self) -> str:
        """How a text is scored, in words (the JSON's ``measurement``)."""
        identity = self.embedder_.identity
        name = identity.get("name") or identity.get("model", "the embedder")
        low, high = self.ngram_range
        dim = self.coef_.shape[1] // (high - low + 1)
        others = (f"{self._others()}." if self._capped else
                  f"any other n-gram scores embedding({name}) @ the block of head.coef for its order ({dim} columns "
                  "per order, shortest n-grams first).")
        return (f"The text is split into n-grams of {low} to {high} tokens (params: token_pattern, lowercase, "
                "stop_words); each occurrence adds the n-gram's score. An n-gram in ngrams.vocabulary scores its "
                f"row of ngrams.scores (its embedding score plus its own correction, scale {self.lexical_scale_:g}); "
                + others)

    def _export_state(self) -> dict:

        check_is_fitted(self, "ngram_scores_")
        params = self.get_params(deep=False)
        params["embedder"] = None  # recorded in "embedder"
        if isinstance(params["stop_words"], (set, frozenset)):  # e.g. sklearn's ENGLISH_STOP_WORDS
            params["stop_words"] = sorted(params["stop_words"])
        task = "regression" if self._regression else "classification"
        state = {"task": task, "printed": str(self), "params": plain(params),
                 "embedder": embedder_record(self.embedder_), "chat_model": None,
                 "measurement": self._measurement()}
        head = {"type": "ngram_table"}
        if task == "classification":
            state["classes"] = encode_labels(self.classes_)
            binary = len(self.classes_) == 2
            head["link"] = "logistic" if binary else "softmax"
            head["decision_rule"] = (
                "decision = intercept[0] + the sum over the text's n-gram occurrences of their score; predict "
                "classes[1] when decision > 0, else classes[0]; P(classes[1]) = 1 / (1 + exp(-decision))" if binary else
                "decision[c] = intercept[c] + the sum over the text's n-gram occurrences of their score[c]; predict "
                "the class with the largest decision; probabilities = softmax(decision)")
            head["C"] = self.C_
        else:
            head["link"] = "identity"
            head["decision_rule"] = ("prediction = intercept[0] + the sum over the text's n-gram occurrences of "
                                     "their score")
            head["alpha"] = self.alpha_
        head["coef"] = encode_array(self.coef_)
        head["intercept"] = encode_array(self.intercept_)
        head["lexical_scale"] = self.lexical_scale_
        cv = self.cv_results_
        head["cv_results"] = {"index_name": plain(cv.index.name), "columns_name": plain(cv.columns.name),
                              "index": plain(cv.index.tolist()), "columns": plain(cv.columns.tolist()),
                              "data": plain(cv.to_numpy().tolist())}
        state["head"] = head
        state["ngrams"] = {"vocabulary": sorted(self.vocabulary_, key=self.vocabulary_.get),
                           "scores": encode_array(self.ngram_scores_),
                           "document_frequency": encode_array(self.document_frequency_)}
        state["attributes"] = {"n_features_in_": self.n_features_in_, "max_ngrams_": self.max_ngrams_,
                               "n_training_ngrams_": getattr(self, "n_training_ngrams_", None)}
        return state

    @classmethod
    def _from_state(cls, state: dict, *, llm=None, embedder=None):
        defaults = cls().get_params(deep=False)
        params = {k: v for k, v in state["params"].items() if k in defaults}
        for name, value in params.items():  # JSON has no tuples
            if isinstance(defaults[name], tuple) and isinstance(value, list):
                params[name] = tuple(value)
        params["embedder"] = embedder
        model = cls(**params)
        model.embedder_ = rebuild_embedder(state["embedder"], embedder)
        # files from before max_ngrams="auto" hold an explicit cap or None in max_ngrams
        model.max_ngrams_ = state["attributes"].get("max_ngrams_", params.get("max_ngrams"))
        model.vectorizer_ = model._vectorizer(state["ngrams"]["vocabulary"] if model._capped else None)
        if state["task"] == "classification":
            model.classes_ = decode_labels(state["classes"])
        head = state["head"]
        model.coef_, model.intercept_ = decode_array(head["coef"]), decode_array(head["intercept"])
        model.lexical_scale_ = float(head["lexical_scale"])
        if "C" in head:
            model.C_ = float(head["C"])
        if "alpha" in head:
            model.alpha_ = float(head["alpha"])
        cv = head["cv_results"]
        model.cv_results_ = pd.DataFrame() if not cv["data"] else pd.DataFrame(  # empty: too few texts to CV
            [[float(v) for v in row] for row in cv["data"]], index=pd.Index(cv["index"], name=cv["index_name"]),
            columns=pd.Index(cv["columns"], name=cv["columns_name"]))
        ngrams = state["ngrams"]
        model.vocabulary_ = {g: i for i, g in enumerate(ngrams["vocabulary"])}
        model.ngram_scores_ = decode_array(ngrams["scores"])
        model.document_frequency_ = decode_array(ngrams["document_frequency"])
        for name, value in (state.get("attributes") or {}).items():
            setattr(model, name, value)
        return model
