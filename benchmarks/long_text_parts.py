"""Would `similar` read long texts more faithfully as "the best part" than on the mean vector?

    python benchmarks/long_text_parts.py [--dataset bbc_news] [--data ../shared/datasets]

An experiment, not a feature: nlmodels measures `similar` with a probe on the text's vector, which
for a text longer than the embedder's window is the word-piece-weighted mean of its windows
(docs/embedding.md). This fits `ConceptClassifier(prototypes=False)` on the dataset's training
split, takes its phrase concepts, and compares on a held-out third of the training texts:

- mean vector (what nlmodels does): a probe fitted on the other two thirds' text vectors, target
  "the text contains one of the concept's phrases";
- best part: a probe fitted on those texts' windows (target: the window contains a phrase), a text
  scored by its highest window.

It prints each way's mean ROC AUC against the text-level target (all held-out texts, and those of
more than one window) and how many concepts pass the 0.75 fidelity gate. The concepts were chosen
by the model that reads mean vectors, which favours that way.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.special import expit
from sklearn.model_selection import train_test_split

from nlmodels import ConceptClassifier
from nlmodels.concepts.measurers._probes import auc, fit_probes, phrase_matches

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

fit_rows, held_out = train_test_split(np.arange(len(texts)), test_size=1 / 3, random_state=0)
W, b = fit_probes(E[fit_rows], T[fit_rows])
mean_score = expit(E[held_out] @ W + b)
in_fit = np.isin(owner, fit_rows)
W_parts, b_parts = fit_probes(P[in_fit], T_parts[in_fit])
best = np.full((len(texts), len(concepts)), -np.inf)
np.maximum.at(best, owner, expit(P @ W_parts + b_parts))
best = best[held_out]
long = np.array([len(parts[i]) > 1 for i in held_out])

aucs = np.array([[auc(T[held_out, k], mean_score[:, k]), auc(T[held_out, k], best[:, k]),
                  auc(T[held_out][long, k], mean_score[long, k]), auc(T[held_out][long, k], best[long, k])]
                 for k in range(len(concepts))])
kept = ~np.isnan(aucs).any(axis=1)
a = aucs[kept]
print(f"{args.dataset}: {len(texts)} training texts, {len(flat)} windows, {sum(len(p) > 1 for p in parts)} "
      f"texts of more than one window; {kept.sum()} phrase concepts scored on {len(held_out)} held-out texts")
print("| reading | mean AUC, all held-out | mean AUC, multi-window texts | concepts >= 0.75 |")
print("|---|---|---|---|")
print(f"| mean vector (nlmodels) | {a[:, 0].mean():.3f} | {a[:, 2].mean():.3f} | {(a[:, 0] >= 0.75).sum()} |")
print(f"| best part | {a[:, 1].mean():.3f} | {a[:, 3].mean():.3f} | {(a[:, 1] >= 0.75).sum()} |")
print(f"best part higher on {(a[:, 1] > a[:, 0]).sum()} of {len(a)} concepts")
