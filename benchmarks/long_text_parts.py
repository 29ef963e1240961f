"""Would `similar` read long texts more faithfully as "the best part" than on the mean vector?

    python benchmarks/long_text_parts.py [--dataset bbc_news] [--data ../shared/datasets]

An experiment, not a feature: nlmodels measures `similar` with a probe on the text's vector, which
for a text longer than the embedder's window is the word-piece-weighted mean of its windows
(docs/embedding.md). This fits `ConceptClassifier(prototypes=False)` on the dataset's training
split, takes its phrase concepts, and compares on the held-out third of the training texts that
nlmodels's own fidelity check of `similar` holds out (`held_out_probe_scores(..., holdout=True)`):

- mean vector (what nlmodels does): that check's scores, a probe fitted on the other two thirds'
  text vectors, target "the text contains one of the concept's phrases";
- best part: a probe fitted on those same texts' windows (target: the window contains a phrase), a
  text scored by its highest window.

It prints each way's mean ROC AUC against the text-level target (all held-out texts, and those of
more than one window) and how many concepts pass the 0.75 fidelity gate. The concepts were chosen
by the model that reads mean vectors, which favours that way.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from nlmodels import ConceptClassifier
from nlmodels.concepts.fidelity import AUC_GATE
from nlmodels.concepts.measurers import fit_probes, held_out_probe_scores, phrase_matches

from run import load

ROOT = Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="bbc_news")
parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
args = parser.parse_args()

train, _ = load(args.data, args.dataset, False)
texts, y = train.text.tolist(), train.label.to_numpy()
start = time.time()
model = ConceptClassifier(prototypes=False).fit(texts, y)
print(f"fit {time.time() - start:.1f} s")
embedder = model.embedder_
concepts = [c for c in model.measurer_.concepts_ if c.phrases]

parts = [[piece for piece, _ in embedder.windows(t)] for t in texts]
flat = [piece for p in parts for piece in p]
owner = np.repeat(np.arange(len(texts)), [len(p) for p in parts])
E, P = embedder.encode(texts), embedder.encode(flat)
T, T_parts = phrase_matches(texts, concepts), phrase_matches(flat, concepts)

mean_score = held_out_probe_scores(E, T, holdout=True)   # NaN on the two thirds its probes were fitted on
held_out = np.flatnonzero(~np.isnan(mean_score[:, 0]))
mean_score = mean_score[held_out]
in_fit = ~np.isin(owner, held_out)
W_parts, b_parts = fit_probes(P[in_fit], T_parts[in_fit])
best = np.full((len(texts), len(concepts)), -np.inf)
np.maximum.at(best, owner, expit(P @ W_parts + b_parts))
best = best[held_out]
long = np.array([len(parts[i]) > 1 for i in held_out])
target = T[held_out]
scored = [k for k in range(len(concepts)) if 0 < target[long, k].sum() < long.sum()]   # both values, long texts too
a = np.array([[roc_auc_score(target[:, k], mean_score[:, k]), roc_auc_score(target[:, k], best[:, k]),
               roc_auc_score(target[long, k], mean_score[long, k]), roc_auc_score(target[long, k], best[long, k])]
              for k in scored])
print(f"{args.dataset}: {len(texts)} training texts, {len(flat)} windows, {sum(len(p) > 1 for p in parts)} "
      f"texts of more than one window; {len(scored)} phrase concepts scored on {len(held_out)} held-out texts")
print(f"| reading | mean AUC, all held-out | mean AUC, multi-window texts | concepts >= {AUC_GATE} |")
print("|---|---|---|---|")
print(f"| mean vector (nlmodels) | {a[:, 0].mean():.3f} | {a[:, 2].mean():.3f} | {(a[:, 0] >= AUC_GATE).sum()} |")
print(f"| best part | {a[:, 1].mean():.3f} | {a[:, 3].mean():.3f} | {(a[:, 1] >= AUC_GATE).sum()} |")
print(f"best part higher on {(a[:, 1] > a[:, 0]).sum()} of {len(a)} concepts")
