"""Input checks shared by every estimator: clear errors that name the problem and the row."""

from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target

__all__ = ["MAX_TEXT_CHARS", "check_int_param", "check_labels", "check_texts", "check_texts_labels",
           "outside_stacklevel"]

#: Texts longer than this are cut (with a warning) before they reach an embedder or a prompt: about
#: 2,500 English words, or 13 windows of all-MiniLM-L6-v2 (each text is embedded over all of its
#: windows, docs/embedding.md); a chat model's prompt has its own, shorter budget (``max_chars``).
#: It was 4,000, which cut 69 of the 999 bbc_news training articles; 15,000 cuts 3 (none of its test).
MAX_TEXT_CHARS = 15_000


def check_texts(X: Any, *, name: str = "X", max_chars: int = MAX_TEXT_CHARS) -> list[str]:
    """Return ``X`` as a list of non-empty strings, or raise naming the first bad row.

    Accepts a list, tuple, numpy array (1-d, or 2-d with one column) or pandas Series/one-column
    DataFrame of strings. Texts longer than ``max_chars`` are truncated with a warning.
    """
    if isinstance(X, str):
        raise TypeError(f"{name} must be a list of texts, got a single string; wrap it in a list")
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"{name} must be one column of texts, got a DataFrame with {X.shape[1]} columns")
        X = X.iloc[:, 0]
    if isinstance(X, pd.Series):
        values = X.tolist()
    elif isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim != 1:
            raise ValueError(f"{name} must be a 1-d sequence of texts, got an array of shape {X.shape}")
        values = X.tolist()
    elif isinstance(X, (list, tuple)):
        values = list(X)
    else:
        raise TypeError(
            f"{name} must be a list, numpy array or pandas Series of texts, got {type(X).__name__}"
        )
    if len(values) == 0:
        raise ValueError(f"{name} is empty: at least one text is needed")
    texts: list[str] = []
    truncated = []
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
            raise ValueError(f"{name} has a missing text (None/NaN) at row {i}")
        if isinstance(value, (bytes, bytearray)):
            raise TypeError(f"{name} has bytes at row {i}; decode it to str first (e.g. value.decode('utf-8'))")
        if not isinstance(value, str):
            raise TypeError(f"{name} has a {type(value).__name__} at row {i}; every text must be a str")
        if not value.strip():
            raise ValueError(f"{name} has an empty or whitespace-only text at row {i}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:  # would fail later, deep inside a cache key or an HTTP body
            raise ValueError(
                f"{name} has a text that is not valid Unicode at row {i} (an unpaired surrogate at "
                f"character {error.start}); decode the source with errors='replace' first"
            ) from None
        if len(value) > max_chars:
            truncated.append(i)
            value = value[:max_chars]
        texts.append(value)
    if truncated:
        warnings.warn(
            f"{len(truncated)} text(s) of {name} longer than {max_chars} characters were truncated "
            f"(first at row {truncated[0]})",
            stacklevel=3,
        )
    return texts


def check_labels(y: Any, n: int, *, name: str = "y", min_classes: int | None = 2) -> np.ndarray:
    """Return labels as a 1-d numpy array of length ``n``; no missing values.

    ``min_classes=None`` skips the class count (regression targets).
    """
    if isinstance(y, (pd.Series, pd.DataFrame)):
        y = y.to_numpy()
    if isinstance(y, (list, tuple)) or (isinstance(y, np.ndarray) and y.dtype == object and y.ndim == 1):
        _check_one_label_type(y, name)  # np.asarray would silently turn [1, "a"] into ["1", "a"]
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"X has {n} texts but {name} has {len(y)} labels; they must match row for row")
    missing = pd.isna(y)
    if missing.any():
        raise ValueError(f"{name} has a missing label (None/NaN) at row {int(np.flatnonzero(missing)[0])}")
    if min_classes is not None:
        classes = np.unique(y)
        if len(classes) < min_classes:
            only = classes[0].item() if isinstance(classes[0], np.generic) else classes[0]
            raise ValueError(
                f"{name} has only {len(classes)} class ({only!r}); a classifier needs at least {min_classes}"
            )
    return y


def _check_one_label_type(values, name: str) -> None:
    is_text = [isinstance(v, str) for v in values]
    if any(is_text) and not all(is_text):
        for i, value in enumerate(values):  # np.asarray would also turn ["a", nan] into ["a", "nan"]
            if not is_text[i] and pd.api.types.is_scalar(value) and pd.isna(value):
                raise ValueError(f"{name} has a missing label (None/NaN) at row {i}")
        first_text, first_other = is_text.index(True), is_text.index(False)
        raise TypeError(
            f"{name} mixes text and non-text labels: row {first_text} is {values[first_text]!r}, row "
            f"{first_other} is {values[first_other]!r}; use one type for all labels"
        )


def check_texts_labels(X: Any, y: Any, *, regression: bool = False, min_classes: int = 2) -> tuple[list[str], np.ndarray]:
    """Texts and their labels (or numeric targets), checked row for row. ``min_classes=1`` for
    labels a fitted model is evaluated on: a test set of one class is a test set."""
    texts = check_texts(X)
    labels = check_labels(y, len(texts), min_classes=None if regression else min_classes)
    if regression:
        try:
            labels = labels.astype(float)
        except (TypeError, ValueError) as error:
            row = next((i for i, v in enumerate(labels) if not _is_number(v)), None)
            where = "" if row is None else f"y has {labels[row]!r} at row {row} "
            raise TypeError(f"a regression target must be numeric: {where}({error})") from None
        bad = ~np.isfinite(labels)
        if bad.any():
            raise ValueError(f"y has a non-finite value at row {int(np.flatnonzero(bad)[0])}")
    elif labels.dtype.kind == "f" and type_of_target(labels) == "continuous":
        raise ValueError("y looks like a continuous target (floats that are not whole numbers), not class "
                         "labels; use a regressor (ConceptRegressor, AugLinearRegressor) for a numeric target")
    return texts, labels


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def outside_stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn`` in the caller of this function that points at the
    first line outside nlmodels and the libraries that call into it (scikit-learn's wrappers and
    Pipeline, joblib): the user's ``model.predict(...)``, however deep the warning is raised."""
    import joblib
    import sklearn

    inside = tuple(os.path.dirname(os.path.abspath(path)) + os.sep for path in (__file__, sklearn.__file__,
                                                                               joblib.__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def check_numbers_param(name: str, value: Any, *, allow_zero: bool = False) -> np.ndarray:
    """A parameter that is one or more positive (or, with ``allow_zero``, non-negative) finite
    numbers, as a 1-d float array; anything else is refused naming the parameter and the value."""
    try:
        values = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        values = np.array([np.nan])
    low_ok = (values >= 0) if allow_zero else (values > 0)
    if values.size == 0 or not np.isfinite(values).all() or not low_ok.all():
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'} numbers, got {value!r}")
    return values


def check_int_param(name: str, value: Any, low: int, *, allowed: tuple[str, ...] = ()) -> None:
    """Refuse an estimator parameter that is not an integer >= ``low`` (or one of the ``allowed``
    strings), naming the parameter and the value given."""
    if isinstance(value, str) and value in allowed:
        return
    if not (isinstance(value, (int, np.integer)) and value >= low):
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        options = "".join(f"{option!r} or " for option in allowed)
        raise ValueError(f"{name} must be {options}{what}, got {value!r}")
