"""``AugLinearClassifier``: every n-gram embedded, a linear classifier on the sums; the model is one number per n-gram and class."""


from __future__ import annotations

from numbers import Integral

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._validation import check_numbers_param, check_texts_labels
from .._codec import label_text
from ._contract import N_JOBS, non_negative_int, positive_int
from ._document import register
from ._head import LinearDecisionMixin
from ._pipeline import training_summary

from . import _auglinear_base as _base
from ._auglinear_base import PARAMETERS_DOC_AUGLINEAR, AugLinearBase, _cv_accuracy, _design

__all__ = ["AugLinearClassifier"]


@register
class AugLinearClassifier(LinearDecisionMixin, ClassifierMixin, AugLinearBase):
    __doc__ = f"""An additive n-gram classifier whose n-gram weights come from embeddings (Aug-Linear).

    Every n-gram of a text is embedded (through the embedder's cache), the embeddings are summed per
    n-gram order, and a logistic regression is fitted on the sums. The fitted model is a table of
    one number per n-gram and class: a text's decision value is the intercept plus the numbers of
    the n-grams it contains, each counted as often as it occurs. N-grams never seen in training get
    their number from their embedding, computed on the fly at predict time. ``print(model)`` shows
    the strongest phrases for and against each class; :meth:`explain` gives every n-gram's
    contribution to every prediction, adding up exactly to :meth:`decision_function`.

    Parameters
    ----------{PARAMETERS_DOC_AUGLINEAR}
    Cs : sequence of float, default=(1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0)
        Inverse L2 penalties to try; cross-validation picks one with ``lexical_scales``.
    cv : int, default=5
        Stratified folds for that choice (fewer when the smallest class has fewer texts).
    max_iter : int, default=1000
        Iterations of the logistic-regression solver (lbfgs).
    n_jobs : int or None, default=-1
        Parallel cross-validation fits (joblib processes); ``-1``: every core. The head runs its
        linear algebra on one BLAS thread (threaded BLAS made these small sparse fits slower), so
        without this the cross-validation uses one core (bbc_news: head 40 s with ``None``, 20 s
        with ``-1`` on 2 cores). ``None`` or ``1``: serial, or whatever ``joblib.parallel_config``
        sets.
    random_state : int, default=0
        Shuffles the folds.

    Attributes
    ----------
    classes_ : ndarray
    vocabulary_ : dict
        Training n-gram -> row of ``ngram_scores_`` (of a capped table, the n-grams it kept).
    ngram_scores_ : ndarray of shape (n_ngrams, 1 or n_classes)
        What one occurrence of each training n-gram adds to the decision value (binary: toward
        ``classes_[1]``).
    coef_ : ndarray of shape (1 or n_classes, n_orders * embedding_dim)
        Weights on the embedding sums, one block per n-gram order; an n-gram's score from its
        embedding is ``embedding @ block.T``.
    intercept_ : ndarray of shape (1 or n_classes,)
    lexical_scale_ : float
        The chosen entry of ``lexical_scales``.
    C_ : float
        The chosen entry of ``Cs``.
    cv_results_ : DataFrame
        Mean cross-validated accuracy per ``(lexical_scale, C)``.
    document_frequency_ : ndarray of shape (n_ngrams,)
        Training texts that contain each n-gram.
    max_ngrams_ : int or None
        The cap ``max_ngrams`` resolved to (None: no cap).
    n_training_ngrams_ : int
        Distinct n-grams in the training texts, before any cap (``vocabulary_`` holds those kept).
    embedder_ : the embedder used.
    vectorizer_ : CountVectorizer
        Its analyzer splits texts into n-grams (an unfitted template; it is fitted per call).
    training_ : dict
        Size, class balance and date of the training data (written to the JSON export).

    Examples
    --------
    >>> clf = AugLinearClassifier().fit(texts, labels)             # doctest: +SKIP
    >>> print(clf)                                                  # doctest: +SKIP
    >>> clf.explain(["not a bad film at all"])                      # doctest: +SKIP
    >>> clf.ngram_contributions(["terrific", "waste of time"])      # doctest: +SKIP
    """

    def __init__(self, embedder=None, *, ngram_range=(1, 2), stop_words=None, lowercase=True,
                 token_pattern=r"(?u)\b\w\w+\b|n't", lexical_scales=(3.0, 10.0),
                 min_df=1, max_ngrams="auto", Cs=(1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0), cv=5, max_iter=1000, n_jobs=-1,
                 random_state=0):
        super().__init__(embedder, ngram_range=ngram_range, stop_words=stop_words, lowercase=lowercase,
                         token_pattern=token_pattern, lexical_scales=lexical_scales, min_df=min_df,
                         max_ngrams=max_ngrams)
        self.Cs = Cs
        self.cv = cv
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the model on texts ``X`` and labels ``y``; returns ``self``."""
        texts, y = check_texts_labels(X, y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self._fit_table(texts, y_index)
        self.training_, self.edits_ = training_summary(texts, y, False), []
        return self

    _parameter_constraints = {**AugLinearBase._parameter_constraints, "Cs": ["array-like"],
                              "cv": [Interval(Integral, 2, None, closed="left")], "max_iter": [positive_int],
                              "n_jobs": N_JOBS, "random_state": [non_negative_int]}

    def _check_head_params(self):
        check_numbers_param("Cs", self.Cs)

    def _fit_head(self, Z, counts, y, scales):
        Cs = np.sort(np.asarray(self.Cs, dtype=float).ravel())
        tol = _base._TOL
        folds = min(int(self.cv), int(np.bincount(y).min()))
        if folds >= 2 and (len(Cs) > 1 or len(scales) > 1):
            splits = list(StratifiedKFold(folds, shuffle=True, random_state=self.random_state).split(Z, y))
            designs = {s: _design(Z, counts, s) for s in scales}
            jobs = [(s, train, test) for s in scales for train, test in splits]
            accuracy = Parallel(n_jobs=self.n_jobs)(
                delayed(_cv_accuracy)(designs[s], y, train, test, Cs, self.max_iter, tol) for s, train, test in jobs
            )
            mean = np.asarray(accuracy).reshape(len(scales), len(splits), len(Cs)).mean(axis=1)
            self.cv_results_ = pd.DataFrame(mean, index=pd.Index(scales, name="lexical_scale"),
                                            columns=pd.Index(Cs, name="C"))
            best_scale, best_C = np.unravel_index(np.argmax(mean), mean.shape)  # first best: simplest
            scale, self.C_ = float(scales[best_scale]), float(Cs[best_C])
        else:  # too few texts per class to cross-validate: the first scale, a middle C
            scale, self.C_ = float(scales[0]), float(Cs[len(Cs) // 2])
            self.cv_results_ = pd.DataFrame()
        model = LogisticRegression(C=self.C_, max_iter=self.max_iter, tol=tol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(_design(Z, counts, scale), y)
        dim = Z.shape[1]
        coef = model.coef_
        lexical = coef[:, dim:].T if scale else np.zeros((counts.shape[1], coef.shape[0]))
        return coef[:, :dim], lexical, model.intercept_.astype(float), scale

    def decision_function(self, X):
        """Intercept plus the sum of the n-grams' contributions: shape (n,) for two classes (toward
        ``classes_[1]``), (n, n_classes) otherwise."""
        scores = self._decision(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def explain(self, X, target=None) -> pd.DataFrame:
        """Each n-gram's contribution to each text's decision value, plus the intercept.

        One row per text, one column per n-gram that occurs in ``X`` (in the order the tokenizer
        meets them) and ``intercept``; an n-gram that occurs twice contributes twice. Row sums equal
        :meth:`decision_function`. Binary: toward ``classes_[1]``. Multiclass: ``target`` picks the
        class (default: the first class), i.e. that column of ``decision_function``.
        """
        return self._explain(X, self._row(target))

    def ngram_contributions(self, phrases: Sequence[str], target=None) -> pd.DataFrame:
        """What each phrase adds to a decision value: the sum of the contributions of the n-grams it
        is made of (for a phrase that is one n-gram, its entry in the table), seen in training or not.

        Returns a DataFrame indexed by phrase: one column ``contribution`` (binary, or multiclass
        with ``target``), or one column per class (multiclass without ``target``); and ``seen``,
        whether the phrase itself is an n-gram of the table (every training n-gram; of a capped
        table, only those it kept: ``n_training_ngrams_`` counts them all).
        """
        check_is_fitted(self, "ngram_scores_")
        phrases, scores = self._phrase_scores(phrases)
        if len(self.classes_) == 2 or target is not None:
            frame = pd.DataFrame({"contribution": scores[:, self._row(target)]}, index=phrases)
        else:
            frame = pd.DataFrame(scores, index=phrases, columns=list(self.classes_))
        frame["seen"] = self._seen(phrases)
        frame.index.name = "phrase"
        return frame

    def _sections(self):
        names = [label_text(c, quoted=True) for c in self.classes_]
        if len(self.classes_) == 2:
            return [({"class": self.classes_[1], "direction": "for"}, f"strongest n-grams toward {names[1]}", 0, 1),
                    ({"class": self.classes_[0], "direction": "for"}, f"strongest n-grams toward {names[0]}", 0, -1)]
        return [({"class": c, "direction": d}, f"{d} {name}", r, sign)
                for r, (c, name) in enumerate(zip(self.classes_, names))
                for d, sign in (("for", 1), ("against", -1))]

    def _header(self) -> str:
        classes = ", ".join(label_text(c, quoted=True) for c in self.classes_)
        note = (f"; decision value toward {label_text(self.classes_[1], quoted=True)} (below 0: {label_text(self.classes_[0], quoted=True)})"
                if len(self.classes_) == 2 else "; one decision value per class, the largest wins")
        return super()._header() + f"\nclasses {classes}{note}"
