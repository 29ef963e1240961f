"""Fidelity: how well a concept's measurement measures what its sentence says, on held-out texts.

Every measurer reports one record per concept and signal (its ``fidelity_`` list), and the gate
below decides which signals may carry weight. What each measurer measures:

- ``mentions`` (a phrase of the concept occurs): exact by definition; no gate.
- ``similar`` on a mined phrase concept: ROC AUC, on texts the probe was not fitted on
  (cross-validated), of the probe's score for recognising texts that use the concept's phrases.
  Baseline 0.5 (chance). Gate: AUC >= 0.75.
- ``similar`` on a prototype concept ("resembles the training texts labelled X"): ROC AUC of the
  probe's score for recognising the texts of class X, each training text scored by probes fitted
  without it (five folds, stratified by class). The probes' L2 strength is the one of three (``PROTOTYPE_CS``) whose
  held-out scores recognise the classes best, and these are the scores reported: a pick of the best
  of three on the same texts, so the AUC can be a little optimistic. Baseline 0.5. Gate: AUC >= 0.75.
  Its ``mentions`` signal is ``absent`` (a prototype has no phrases): never weighted.
- a written question measured by its cosine to the text: there is no ground truth without answers;
  recorded as ``unverified`` (no number), never made up. It may carry weight, labelled so.
- ``answer`` of a distilled probe: agreement with the chat model's answers on texts the probe was
  not fitted on (cross-validated over the answered texts), beside the majority-answer rate.
  Gate: agreement >= 0.8 and >= majority rate + 0.05.
- ``answer`` of the chat model itself: the answers define the concept (``defined``). With the opt-in
  consistency check, a sample of texts is asked again with the questions in another order; the
  agreement is reported beside the agreement two independent answers with the same yes-rate would
  reach by chance. Gate (checked concepts only): agreement >= 0.8.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AGREEMENT_GATE", "AUC_GATE", "MARGIN_GATE", "FidelityRecord", "describe", "passes"]

AUC_GATE = 0.75
AGREEMENT_GATE = 0.8
MARGIN_GATE = 0.05

#: The fields of one fidelity record (a plain dict, so it travels to JSON as it is).
FidelityRecord = dict


def record(concept: int, signal: str, metric: str, fidelity=None, baseline=None, n_texts: int = 0) -> FidelityRecord:
    """One fidelity record, with the gate applied (``passed``: True, False, or None = unverified)."""
    fidelity = None if fidelity is None or not np.isfinite(fidelity) else float(fidelity)
    baseline = None if baseline is None else float(baseline)
    rec = {"concept": int(concept), "signal": signal, "metric": metric, "fidelity": fidelity,
           "baseline": baseline, "n_texts": int(n_texts)}
    rec["passed"] = passes(rec)
    return rec


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
    if metric == "exact":
        return "exact"
    if metric == "defined":
        return "the chat model's answer"
    if metric == "unverified":
        return "unverified"
    if metric == "absent":
        return "not measured (no phrases)"
    shown = "n/a" if value is None else _shown(value, _gates(rec))
    if metric == "auc":
        return f"AUC {shown} held-out"
    if metric == "agreement":
        return f"agrees {shown} with the chat model held-out (majority {baseline:.2f})"
    return f"asked again: agrees {shown} (chance {baseline:.2f})"


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
