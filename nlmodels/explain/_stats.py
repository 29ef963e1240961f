"""Statistics for a difference of two proportions: exact test, score interval, false discovery rate."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..concepts.fidelity import wilson_interval

__all__ = ["benjamini_hochberg", "compare_proportions"]


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    return (0.0, 1.0) if n == 0 else wilson_interval(k, n, confidence)   # no texts: anything is possible


def compare_proportions(k_a: int, n_a: int, k_b: int, n_b: int, *, confidence: float = 0.95) -> dict:
    """Compare ``k_a / n_a`` with ``k_b / n_b``.

    Returns the two shares, their difference, a Newcombe hybrid score interval for the difference
    (method 10 of Newcombe 1998, built from the two Wilson intervals; it stays inside [-1, 1] and
    behaves at shares near 0 or 1, unlike the normal-approximation interval) and the two-sided
    p-value of Fisher's exact test on the 2x2 table.

    Parameters
    ----------
    k_a, n_a : int
        Texts of group A where the hypothesis holds, and texts of A measured.
    k_b, n_b : int
        The same for group B.
    confidence : float, default=0.95

    Returns
    -------
    dict with keys ``share_a``, ``share_b``, ``difference``, ``ci_low``, ``ci_high``, ``p_value``.
    """
    p_a = k_a / n_a if n_a else float("nan")
    p_b = k_b / n_b if n_b else float("nan")
    low_a, high_a = _wilson(k_a, n_a, confidence)
    low_b, high_b = _wilson(k_b, n_b, confidence)
    d = p_a - p_b
    ci_low = d - np.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    ci_high = d + np.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    p_value = stats.fisher_exact([[k_a, n_a - k_a], [k_b, n_b - k_b]], alternative="two-sided").pvalue
    return {"share_a": float(p_a), "share_b": float(p_b), "difference": float(d),
            "ci_low": float(max(-1.0, ci_low)), "ci_high": float(min(1.0, ci_high)), "p_value": float(p_value)}


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) across all the hypotheses tested."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    return stats.false_discovery_control(p, method="bh")
