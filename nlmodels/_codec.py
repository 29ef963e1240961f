"""Plain-JSON codecs for what a fitted model holds: arrays (dtype, shape and memory order kept;
floats written so they read back bit for bit), class labels, and plain values.

The bottom layer: it imports nothing from nlmodels, so every layer can serialise its own state.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["counted", "decode_array", "decode_labels", "encode_array", "encode_labels", "label_text", "plain", "plain_label"]


def _short_floats(a: np.ndarray) -> np.ndarray:
    """float32 values as the shortest decimals that read back to the same float32 (else exact)."""
    flat = a.ravel()
    short = np.array([float(str(v)) for v in flat], dtype=np.float64)
    exact = short.astype(a.dtype) == flat
    return np.where(exact, short, flat.astype(np.float64)).reshape(a.shape)


def encode_array(a) -> dict:
    """``{"dtype", "shape", "order", "data"}`` with ``data`` as nested lists of plain numbers.

    Non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"`` (JSON has no such numbers).
    """
    a = np.asarray(a)
    order = "F" if a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous else "C"
    if a.dtype.kind == "f":
        values = _short_floats(a) if a.dtype == np.float32 else a.astype(np.float64)
        if np.isfinite(values).all():
            data = values.tolist()
        else:
            data = np.vectorize(lambda v: v if np.isfinite(v) else str(v), otypes=[object])(values).tolist()
    elif a.dtype.kind in "biu":
        data = a.tolist()
    else:
        raise TypeError(f"cannot export an array of dtype {a.dtype}")
    return {"dtype": a.dtype.str if a.dtype.kind != "b" else "bool", "shape": list(a.shape), "order": order,
            "data": data}


def decode_array(d: dict) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    data = d["data"]
    if dtype.kind == "f":
        a = np.array(data, dtype=object)
        a = np.array([float(v) for v in a.ravel()], dtype=np.float64).reshape(a.shape).astype(dtype)
    else:
        a = np.array(data, dtype=dtype)
    a = a.reshape(d["shape"])
    return np.asfortranarray(a) if d.get("order") == "F" else np.ascontiguousarray(a)


def plain(value: Any) -> Any:
    """A value as plain JSON (numpy scalars and arrays to numbers and lists, tuples to lists)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    return str(value)


def encode_labels(values) -> dict:
    """Class labels with their numpy dtype, so ``predict`` returns the same type after loading."""
    a = np.asarray(values)
    if a.dtype.kind == "O":
        kinds = {type(v).__name__ for v in a}
        if not all(isinstance(v, (str, int, float, bool, np.generic)) for v in a):
            warnings.warn(f"class labels of type {kinds} are written as strings", stacklevel=3)
        return {"dtype": "object", "values": [plain(v) for v in a]}
    return {"dtype": a.dtype.str, "values": plain(a.tolist())}


def decode_labels(d: dict) -> np.ndarray:
    if d["dtype"] == "object":
        out = np.empty(len(d["values"]), dtype=object)
        out[:] = d["values"]
        return out
    return np.array(d["values"], dtype=np.dtype(d["dtype"]))


def plain_label(value):
    """A class label as plain Python (numpy scalars as plain numbers or strings)."""
    return value.item() if isinstance(value, np.generic) else value


def label_text(value, *, quoted: bool = False) -> str:
    """A class label as a person reads it: ``spam`` (or ``'spam'`` with ``quoted``; numbers bare)."""
    value = plain_label(value)
    return repr(value) if quoted else str(value)


def counted(n: int, word: str, plural: str | None = None) -> str:
    """``n`` and the word in its number: "1 rule", "3 rules", "1 leaf", "2 leaves"."""
    return f"{n} {word if n == 1 else plural or word + 's'}"
