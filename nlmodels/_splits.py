"""Held-out splits that keep copies of a text together.

A figure said to be measured on held-out texts (a probe's AUC, a distilled probe's agreement with the
chat model, a surrogate's agreement with its black box, a difference confirmed on a test part) is not
held out when a copy of a held-out text was among the texts fitted: SMS spam repeats its templates
(63 repeated rows in the 2,000 training messages of the benchmark, 17 in the bundled 1,000), news feeds
their articles (25 in bbc_news' 999). The split scikit-learn gives over the rows is kept, and every
later copy of a text is moved to the side of its first copy; where no text repeats, nothing moves.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["copies_follow_first", "distinct_texts", "fold_copies_together"]


def distinct_texts(texts: Sequence[str]) -> np.ndarray:
    """Per row, the number of its distinct text: 0, 1, ... in order of first appearance (a list with no
    repeated text gets ``0 .. n-1``)."""
    codes, _ = pd.factorize(pd.Series(list(texts), dtype=object), sort=False)
    return codes.astype(np.intp)


def _first_copy(groups: np.ndarray) -> np.ndarray:
    """Per row, the row of its text's first copy."""
    return np.unique(groups, return_index=True)[1][groups]


def copies_follow_first(mask: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``mask`` (True: a held-out row) with every row given the value of its text's first copy."""
    return np.asarray(mask, bool)[_first_copy(groups)]


def fold_copies_together(folds: Iterable[tuple[np.ndarray, np.ndarray]], groups: np.ndarray | None):
    """K-fold (train, test) splits over the rows, with every later copy of a text moved into the fold of
    its first copy: no fold tests a text whose copy it was fitted on. ``groups``: ``distinct_texts`` of
    the rows' texts (None, or no repeat: the folds as they are)."""
    folds = list(folds)
    if groups is None or len(np.unique(groups)) == len(groups):
        yield from folds
        return
    fold_of = np.full(len(groups), -1)
    for k, (_, test) in enumerate(folds):
        fold_of[test] = k
    fold_of = fold_of[_first_copy(groups)]
    for k in range(len(folds)):
        yield np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
