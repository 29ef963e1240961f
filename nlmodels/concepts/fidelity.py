"""Fidelity: how well a concept's measurement measures what its sentence says, on held-out texts.

Every measurer reports one record per concept and signal (its ``fidelity_`` list), and the gate
below decides which signals may carry weight. What each measurer measures:

- ``mentions`` (a phrase of the concept occurs): exact by definition; no gate.
- ``similar`` on a mined phrase concept: ROC AUC, on texts the probe was not fitted on
  (three folds: each training text scored by the probe fitted on the other two thirds), of the
  probe's score for recognising texts that use the concept's phrases.
  Baseline 0.5 (chance). Gate: AUC >= 0.75.
- ``similar`` on a prototype concept ("resembles the training texts labelled X"): ROC AUC of the
  probe's score for recognising the texts of class X, each training text scored by probes fitted
  without it (five folds, stratified by class). The probes' L2 strength is the one of three (``PROTOTYPE_CS``) whose
  held-out scores recognise the classes best, and these are the scores reported: a pick of the best
  of three on the same texts, so the AUC can be a little optimistic. Baseline 0.5. Gate: AUC >= 0.75.
  Its ``mentions`` signal is ``absent`` (a prototype has no phrases): never weighted.
- a written question measured by its cosine to the text: there is no ground truth without answers;
  recorded as ``unverified`` (no number), never made up. It may carry weight, labelled so. Its
  ``mentions`` signal is ``absent`` too (no phrases to find): never weighted, never printed.
- ``answer`` of a distilled probe: agreement with the chat model's answers on texts the probe was
  not fitted on (cross-validated over the answered texts), beside the majority-answer rate.
  Gate: agreement >= 0.8 and >= majority rate + 0.05.
- ``answer`` of the chat model itself: the answers define the concept (``defined``). With the opt-in
  consistency check, a sample of texts is asked again with the questions in another order; the
  agreement is reported beside the agreement two independent answers with the same yes-rate would
  reach by chance. Gate (checked concepts only): agreement >= 0.8.

Every AUC also records the number of texts it rests on and, where both kinds are present, a 95%
``interval`` (:func:`auc_interval`, from Hanley & McNeil's standard error for that many positive
and negative texts); every agreement its Wilson 95% interval. The gates read the measured figure;
where its interval spans a gate, the printed phrase says so (:func:`spans_gate`). With a few hundred
training texts a class of 20 gives an AUC that can be off by 0.1 either way, and the reader should
know (docs/faithfulness.md, "How sure is a held-out AUC?").
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.stats import binomtest, norm

__all__ = ["AGREEMENT_GATE", "AUC_GATE", "MARGIN_GATE", "FidelityRecord", "auc_interval", "auc_variance", "describe",
           "passes", "spans_gate", "wilson_interval"]

AUC_GATE = 0.75
AGREEMENT_GATE = 0.8
MARGIN_GATE = 0.05

#: The fields of one fidelity record (a plain dict, so it travels to JSON as it is).
FidelityRecord = dict


def record(concept: int, signal: str, metric: str, fidelity=None, baseline=None, n_texts: int = 0,
           positives: int | None = None) -> FidelityRecord:
    """One fidelity record, with the gate applied (``passed``: True, False, or None = unverified).
    An AUC given the number of its ``n_texts`` that are positive (the texts the score should rank
    first) also records ``positives`` and its 95% ``interval`` (:func:`auc_interval`); an agreement
    (a share of ``n_texts`` answers) its Wilson 95% ``interval``."""
    fidelity = None if fidelity is None or not np.isfinite(fidelity) else float(fidelity)
    baseline = None if baseline is None else float(baseline)
    rec = {"concept": int(concept), "signal": signal, "metric": metric, "fidelity": fidelity,
           "baseline": baseline, "n_texts": int(n_texts)}
    if metric == "auc" and positives is not None:
        rec["positives"] = int(positives)
        if fidelity is not None and 0 < positives < n_texts:
            rec["interval"] = list(auc_interval(fidelity, int(positives), int(n_texts - positives)))
    if metric in ("agreement", "consistency") and fidelity is not None and n_texts > 0:
        # an agreement is a share of n_texts answers: Wilson's 95% interval for it
        rec["interval"] = list(wilson_interval(int(round(fidelity * n_texts)), int(n_texts)))
    rec["passed"] = passes(rec)
    return rec


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's interval for the share ``k / n`` (scipy's ``binomtest``); NaN for ``n == 0``."""
    if not n:
        return float("nan"), float("nan")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def auc_variance(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil's (1982) variance of an ROC AUC measured on ``positives`` and ``negatives`` texts."""
    return auc * (1 - auc) / (positives * negatives) * (
        1 + (positives - 1) * (1 - auc) / (2 - auc) + (negatives - 1) * auc / (1 + auc))


def auc_interval(auc: float, positives: int, negatives: int, level: float = 0.95,
                 kind: str = "span") -> tuple[float, float]:
    """A ``level`` interval for an ROC AUC measured on ``positives`` and ``negatives`` texts.

    Both standard intervals on :func:`auc_variance` fail somewhere, so the one nlmodels reports
    (``kind="span"``) is the span of the two: the Wald interval (``"wald"``: ``auc`` plus or minus
    the normal quantile times the standard error) shrinks to a point at an AUC of 0 or 1, which a
    phrase used by 4 training texts can reach; the score interval (``"score"``: every AUC
    ``t`` whose own standard error puts ``auc`` within reach, as Newcombe 2006 builds it) runs a
    little narrow in the middle. Measured (``benchmarks/fidelity_intervals.py``): on the
    prototypes of 200-text samples the span held the AUC of unseen texts 95% of the time (Wald
    alone 94%, score alone 89%)."""
    if kind not in ("span", "wald", "score"):
        raise ValueError(f"kind must be 'span', 'wald' or 'score'; got {kind!r}")
    if positives < 1 or negatives < 1:
        raise ValueError(f"an AUC needs texts of both kinds; got {positives} positive and {negatives} negative")
    auc = float(auc)
    z = float(norm.ppf(0.5 + level / 2))
    half = z * float(np.sqrt(auc_variance(auc, positives, negatives)))
    wald = max(0.0, auc - half), min(1.0, auc + half)

    def outside(t):   # > 0 where t is too far from auc to be the AUC that was measured
        return (auc - t) ** 2 - z * z * auc_variance(t, positives, negatives)

    eps = 1e-12
    score = (brentq(outside, 0.0, auc - eps) if auc > eps and outside(auc - eps) < 0 else auc,
             brentq(outside, auc + eps, 1.0) if auc < 1 - eps and outside(auc + eps) < 0 else auc)
    if kind != "span":
        return wald if kind == "wald" else score
    return min(wald[0], score[0]), max(wald[1], score[1])


def spans_gate(rec: FidelityRecord) -> list[float]:
    """The gates this record's 95% interval spans (empty: none, or no interval): too few texts to
    say which side of them the measurement is on."""
    interval = rec.get("interval")   # a list; absent, or NaN in a row of ``model.fidelity_``, where none
    if rec["metric"] not in ("auc", "agreement", "consistency") or not isinstance(interval, (list, tuple)):
        return []
    return [g for g in _gates(rec) if not _clears(interval[0], g) and _clears(interval[1], g)]


def _interval_note(rec: FidelityRecord) -> str:
    """", 95% interval 0.66-0.90 on 200 texts (27 positive): spans the 0.75 gate" where it does."""
    gates = spans_gate(rec)
    if not gates:
        return ""
    low, high = (_shown(v, gates) for v in rec["interval"])
    count = rec.get("positives")   # an AUC's; absent, or NaN in a row of ``model.fidelity_``, elsewhere
    positives = f" ({int(count)} positive)" if count is not None and np.isfinite(count) else ""
    named = list(dict.fromkeys(f"{g:.3g}" for g in gates))   # 0.8 and majority 0.75 + 0.05: one gate, said once
    return (f", 95% interval {low}-{high} on {rec['n_texts']} texts{positives}: spans the {' and '.join(named)} "
            f"gate{'s' if len(named) > 1 else ''}")


def passes(rec: FidelityRecord):
    """The gate: True (may carry weight), False (never carries weight) or None (unverified)."""
    metric, value, baseline = rec["metric"], rec["fidelity"], rec["baseline"]
    if metric in ("exact", "defined"):
        return True
    if metric == "unverified":
        return None
    if metric == "absent":
        return False
    if value is None:  # too few texts of one kind to measure it: not shown to be faithful
        return False
    if metric in ("auc", "agreement", "consistency"):
        return all(_clears(value, gate) for gate in _gates(rec))
    raise ValueError(f"unknown fidelity metric {metric!r}")


def _clears(value: float, gate: float) -> bool:
    """``value >= gate`` as written in decimals: 17/20 agreement clears a majority rate of 16/20 plus
    0.05, though 0.8 + 0.05 is 0.8500000000000001 in floating point."""
    return value >= gate - 1e-9


def describe(rec: FidelityRecord) -> str:
    """A short phrase a person reads: "AUC 0.91 held-out", "agrees 0.86 (majority 0.62)" ..."""
    metric, value, baseline = rec["metric"], rec["fidelity"], rec["baseline"]
    if value is not None and not np.isfinite(value):   # NaN in a row of ``model.fidelity_``: not measured
        value = None
    if metric == "exact":
        return "exact"
    if metric == "defined":
        probe = rec.get("probe_fidelity")
        if probe is not None and np.isfinite(probe):   # gated="llm": its distilled probe failed, so it is asked
            return (f"the chat model's answer (its distilled probe agreed {probe:.2f} held-out, majority "
                    f"{rec['probe_baseline']:.2f}: failed, so the chat model is asked)")
        return "the chat model's answer"
    if metric == "unverified":
        return "unverified"
    if metric == "absent":
        return "not measured (no phrases)"
    shown = "n/a" if value is None else _shown(value, _gates(rec))
    if metric == "auc":
        return f"AUC {shown} held-out" + _interval_note(rec)
    if metric == "agreement":
        return f"agrees {shown} with the chat model held-out (majority {baseline:.2f})" + _interval_note(rec)
    return f"asked again on {rec['n_texts']} training texts: agrees {shown} (chance {baseline:.2f})" + _interval_note(rec)


def _gates(rec: FidelityRecord) -> list[float]:
    """The thresholds the record's value is compared with by :func:`passes`."""
    if rec["metric"] == "auc":
        return [AUC_GATE]
    if rec["metric"] == "agreement":
        return [AGREEMENT_GATE] + ([] if rec["baseline"] is None else [rec["baseline"] + MARGIN_GATE])
    return [AGREEMENT_GATE]


def _shown(value: float, gates) -> str:
    """``value`` with two decimals, or more where two would put it on the other side of a gate
    (an AUC of 0.748 fails the 0.75 gate and must not read "0.75"); past four decimals, cut
    toward zero, which keeps the side of any gate written with four decimals or fewer."""
    for digits in (2, 3, 4):
        shown = f"{value:.{digits}f}"
        if all(_clears(float(shown), g) == _clears(value, g) for g in gates):
            return shown
    return f"{np.floor(value * 1e4 + 1e-6) / 1e4:.4f}"


def reindex(records, keep) -> list[FidelityRecord]:
    """The records of the concepts ``keep`` (old indices, in new order), renumbered."""
    new = {int(old): i for i, old in enumerate(keep)}
    return [{**r, "concept": new[r["concept"]]} for r in records if r["concept"] in new]
