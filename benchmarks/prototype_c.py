"""How should a prototype probe's C be chosen? A development protocol that never touches test.csv.

    python benchmarks/prototype_c.py [--datasets sst2,...,ag_news@200] [--seeds 1,2,3] [--data ../shared/datasets]

A prototype concept ("resembles the training texts labelled X") is measured by a logistic probe that
learns the class's training texts; its inverse L2 strength C decides how closely. For each dataset
(``name@200``: 200 texts drawn from train, stratified, scored on up to 1,500 other train texts;
``name``: fit on 75% of train, scored on the other 25%) and seed, the prototypes' own accuracy on the
scored texts (each text's highest-scoring prototype is of its class; two classes: the one prototype's
score is above 0.5 exactly when the text is of its class) is printed for three rules:

- ``C=1``: the fixed C of the phrase probes;
- ``best``: the C of ``PROTOTYPE_C_GRID`` whose 5-fold cross-validated accuracy on the fitted texts
  is highest;
- ``1 SE``: ``best`` only if it beats C=1 by more than one standard error of the paired per-text
  difference, else C=1 (what ``choose_probe_C`` does);

and ``oracle``, the best C on the scored texts themselves (not a rule: the ceiling). Embeddings come
from the shared cache.
"""

import argparse
from pathlib import Path

import numpy as np
from scipy.special import expit
from sklearn.model_selection import train_test_split

from nlmodels.concepts.measurers import PROTOTYPE_C_GRID, choose_probe_C, fit_probes, held_out_probe_scores
from nlmodels.concepts.measurers._probes import prototype_accuracy
from nlmodels.embed import SentenceTransformerEmbedder

from run import load

ROOT = Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser()
parser.add_argument("--datasets", default="sst2,rotten_tomatoes,financial_phrasebank,emotion,sms_spam,ag_news,"
                                          "bbc_news,sst2@200,financial_phrasebank@200,emotion@200,ag_news@200")
parser.add_argument("--seeds", default="1,2,3")
parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
args = parser.parse_args()


def prototype_targets(y, classes):
    """One 0/1 column per prototype: every class's, or with two classes the second's only."""
    onehot = (np.asarray(y, dtype=object)[:, None] == classes[None, :]).astype(float)
    return onehot[:, 1:] if len(classes) == 2 else onehot


embedder = SentenceTransformerEmbedder(progress=False)
print("| dataset | seed | fit / scored texts | C=1 | best | C best chose | 1 SE | C 1 SE chose | oracle |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
totals = []
for spec in args.datasets.split(","):
    name, _, size = spec.partition("@")
    train, _ = load(args.data, name, False)
    X = embedder.encode(train.text.tolist())
    y = np.asarray(train.label.to_numpy(), dtype=object)
    classes = np.unique(y)
    for seed in map(int, args.seeds.split(",")):
        if size:
            fit, scored = train_test_split(np.arange(len(y)), train_size=int(size), stratify=y, random_state=seed)
            scored = scored[:1500]
        else:
            fit, scored = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=seed)
        T_fit, T_scored = prototype_targets(y[fit], classes), prototype_targets(y[scored], classes)
        cv = {C: prototype_accuracy(held_out_probe_scores(X[fit], T_fit, C=C, n_folds=5), T_fit)
              for C in PROTOTYPE_C_GRID}
        best = max(PROTOTYPE_C_GRID, key=lambda C: (cv[C], -C))
        one_se = choose_probe_C(X[fit], T_fit)[0]
        scored_accuracy = {}
        for C in PROTOTYPE_C_GRID:
            W, b = fit_probes(X[fit], T_fit, C=C)
            scored_accuracy[C] = prototype_accuracy(expit(X[scored] @ W + b), T_scored)
        row = (scored_accuracy[1.0], scored_accuracy[best], scored_accuracy[one_se], max(scored_accuracy.values()))
        totals.append(row)
        print(f"| {spec} | {seed} | {len(fit)} / {len(scored)} | {row[0]:.3f} | {row[1]:.3f} | {best:g} | "
              f"{row[2]:.3f} | {one_se:g} | {row[3]:.3f} |", flush=True)
mean = np.mean(totals, axis=0)
print(f"| mean of {len(totals)} | | | {mean[0]:.4f} | {mean[1]:.4f} | | {mean[2]:.4f} | | {mean[3]:.4f} |")
