"""Do the 95% intervals nlmodels prints beside a held-out AUC hold the AUC of unseen texts? A
development protocol that never touches test.csv.

    python benchmarks/fidelity_intervals.py [--datasets ...] [--train-size 200] [--seeds 11,12,13,14,15]

For each dataset and seed (``benchmarks/run.py``'s ``development_split``: ``--train-size`` texts
from train.csv, scored on up to 1,500 other training texts; without it 75% / 25%), two checks.

- **prototypes:** one prototype probe per class at each C of ``PROTOTYPE_CS``, its fidelity as
  nlmodels measures it (five-fold cross-fitted AUC for the class's training texts) and the interval
  ``nlmodels.concepts.fidelity.auc_interval`` gives it, against the truth: the AUC of the probe
  fitted on all the fitting texts, on the scored texts. Each interval (the span nlmodels uses, and
  the Wald and score intervals it is made of) either holds the truth or not.
- **the fitted model:** the default ``ConceptClassifier()``, and every AUC record of its kept
  concepts (phrase probes cross-fitted on three folds, prototypes, cosines) against the same
  measurement's AUC on the scored texts (for the concept's phrases, or its class).

Prints per dataset how often the interval held the truth (the truth is measured on the scored
texts, a sample too: the last "held" column adds its own spread, which matters where the scored
texts are no more than the fitting ones), its mean width, how many intervals
spanned the 0.75 gate, and how many of those that did not span it were on the wrong side (the
gate's decision wrong though the interval said it was sure; "of those, passed": the ones the gate
passed though the unseen-text AUC is below it, a printed line with no mark that misleads).
"""

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from nlmodels import ConceptClassifier, SentenceTransformerEmbedder
from nlmodels.concepts import fidelity, phrase_matches
from nlmodels.concepts.measurers import embedding
from nlmodels.concepts.measurers._probes import auc, fit_probes, held_out_probe_scores

from run import development_arguments, development_split

parser = development_arguments(["sst2", "financial_phrasebank", "emotion", "ag_news", "rotten_tomatoes", "sms_spam"],
                               "11,12,13,14,15", 200)
args = parser.parse_args()
Z = float(norm.ppf(0.975))


def entry(check, name, estimate, m, n, truth, target):
    """One AUC: its estimate on m positive and n negative fitting texts, the truth on the scored
    texts (``target``: which of them are positive)."""
    row = {"check": check, "dataset": name, "estimate": estimate, "truth": truth}
    # the truth is measured on a sample too: an interval that holds the AUC of all unseen texts
    # holds the scored texts' AUC less often (a calibrated 95% interval, as often as 83% where
    # both samples are as large), so also count it with the truth's own spread added
    ms = int(target.sum())
    spread = Z * np.sqrt(fidelity.auc_variance(truth, ms, len(target) - ms)) if 0 < ms < len(target) else 0.0
    low, high = fidelity.auc_interval(estimate, m, n)
    reach = np.hypot(estimate - low if truth < estimate else high - estimate, spread)
    row["span holds, both noisy"] = abs(truth - estimate) <= reach
    for label in ("span", "wald", "score"):
        interval = fidelity.auc_interval(estimate, m, n, kind=label)
        row[f"{label} holds"] = interval[0] <= truth <= interval[1]
        row[f"{label} width"] = interval[1] - interval[0]
        if label == "span":
            row["spans gate"] = bool(fidelity.spans_gate({"metric": "auc", "interval": list(interval)}))
    row["wrong side, sure"] = (not row["spans gate"]) and ((estimate >= fidelity.AUC_GATE) != (truth >= fidelity.AUC_GATE))
    return row


embedder = SentenceTransformerEmbedder(progress=False)
rows = []
for name in args.datasets.split(","):
    for seed in (int(s) for s in args.seeds.split(",")):
        fit, scored = development_split(args.data, name, seed, args.train_size)
        texts, y = fit.text.tolist(), fit.label.to_numpy()
        scored_texts, ys = scored.text.tolist(), scored.label.to_numpy()
        X, Xs = embedder.encode(texts), embedder.encode(scored_texts)
        classes = np.unique(y)
        T, Ts = (y[:, None] == classes).astype(float), (ys[:, None] == classes).astype(float)
        for C in embedding.PROTOTYPE_CS:
            held_out = held_out_probe_scores(X, T, C=C, n_folds=5, stratify=y)
            W, b = fit_probes(X, T, C=C)
            unseen = expit(Xs @ W + b)
            for j in range(len(classes)):
                m = int(T[:, j].sum())
                rows.append(entry("prototypes", name, auc(T[:, j], held_out[:, j]), m, len(y) - m,
                                  auc(Ts[:, j], unseen[:, j]), Ts[:, j]))
        model = ConceptClassifier(embedder=embedder).fit(texts, y)
        F, S = model._measure(scored_texts), model.n_signals_
        matches = phrase_matches(scored_texts, model.concepts_)
        signals = list(model.measurer_.signals)
        for rec in model.measurer_.fidelity_:
            if rec["metric"] != "auc" or rec["fidelity"] is None or "interval" not in rec:
                continue
            k, concept = rec["concept"], model.concepts_[rec["concept"]]
            target = (ys == concept.target).astype(float) if concept.is_prototype else matches[:, k]
            truth = auc(target, F[:, k * S + signals.index(rec["signal"])])
            if np.isfinite(truth):
                rows.append(entry("fitted model", name, rec["fidelity"], rec["positives"],
                                  rec["n_texts"] - rec["positives"], truth, target))
        print(f"{name} seed {seed}: {len(rows)} AUCs so far", flush=True)

frame = pd.DataFrame(rows)
table = []
for (check, name), part in list(frame.groupby(["check", "dataset"], sort=False)) + [
        ((check, "all"), part) for check, part in frame.groupby("check", sort=False)]:
    table.append({"check": check, "dataset": name, "AUCs": len(part),
                  "held (span)": round(part["span holds"].mean(), 3), "held (Wald)": round(part["wald holds"].mean(), 3),
                  "held (score)": round(part["score holds"].mean(), 3),
                  "held (span), truth's spread added": round(part["span holds, both noisy"].mean(), 3),
                  "mean width": round(part["span width"].mean(), 3),
                  "span the gate": int(part["spans gate"].sum()), "wrong side though sure": int(part["wrong side, sure"].sum()),
                  "of those, passed": int((part["wrong side, sure"] & (part.estimate >= fidelity.AUC_GATE)).sum()),
                  "wrong side, all": int(((part.estimate >= fidelity.AUC_GATE) != (part.truth >= fidelity.AUC_GATE)).sum())})
print(pd.DataFrame(table).to_markdown(index=False))
