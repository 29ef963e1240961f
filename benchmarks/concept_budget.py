"""Does choosing the concept budget by cross-validation beat the fixed 30? A development protocol
that never touches test.csv.

    python benchmarks/concept_budget.py [--datasets sst2,rotten_tomatoes,...] [--seed 1] [--data ../shared/datasets]

For each dataset: fit on 75% of ``train.csv`` (stratified, ``--seed``) and score the other 25%,
once with ``ConceptClassifier(max_concepts=30)`` and once with the default ``max_concepts="auto"``
(which, offline with at most 15 classes and 5,000 texts, chooses the budget by 5-fold
cross-validation that mines inside each fold). Prints a markdown table with both accuracies, the
chosen budget and both fit times (embeddings come from the shared cache after the first fit).
"""

import argparse
import time
from pathlib import Path

import numpy as np

from nlmodels import ConceptClassifier

from run import development_split

ROOT = Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser()
parser.add_argument("--datasets", default="sst2,rotten_tomatoes,financial_phrasebank,emotion,sms_spam,ag_news,bbc_news")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
args = parser.parse_args()

print("| dataset | fit / scored texts | fixed 30 | chosen by CV | budget chosen | fit s, fixed | fit s, CV |")
print("|---|---|---:|---:|---:|---:|---:|")
for name in args.datasets.split(","):
    fit, scored = development_split(args.data, name, args.seed)
    row = []
    for budget in (30, "auto"):
        start = time.time()
        model = ConceptClassifier(max_concepts=budget).fit(fit.text.tolist(), fit.label.to_numpy())
        seconds = time.time() - start
        accuracy = np.mean(model.predict(scored.text.tolist()) == scored.label.to_numpy())
        row.append((accuracy, model.max_concepts_, seconds))
    (a30, _, s30), (acv, chosen, scv) = row
    print(f"| {name} | {len(fit)} / {len(scored)} | {a30:.3f} | {acv:.3f} | {chosen} | {s30:.1f} | {scv:.1f} |", flush=True)
