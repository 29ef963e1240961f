"""Do word prototypes pay? A development protocol that never touches test.csv.

    python benchmarks/word_prototypes.py [--datasets sst2,...] [--seed 1] [--train-size 200] [--data ../shared/datasets]

For each dataset: fit on 75% of ``train.csv`` (stratified, ``--seed``) and score the other 25%
(with ``--train-size N``: fit on a stratified sample of N texts, score up to 1,500 other ``train.csv``
texts), once with ``ConceptClassifier(prototypes="embedding")`` (prototypes read from the embedding
only, the model before word prototypes) and once with the default ``prototypes="auto"`` (up to 15
classes, a word prototype per class beside them). Prints a markdown table: both accuracies, the
concept budgets, how many word prototypes carry weight, and the fit times.
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
parser.add_argument("--train-size", type=int)
parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
args = parser.parse_args()

print("| dataset | fit / scored texts | embedding prototypes | with word prototypes | budgets | word prototypes weighted | fit s |")
print("|---|---|---:|---:|---:|---:|---:|")
for name in args.datasets.split(","):
    fit, scored = development_split(args.data, name, args.seed, args.train_size)
    row = []
    for prototypes in ("embedding", "auto"):
        start = time.time()
        model = ConceptClassifier(prototypes=prototypes).fit(fit.text.tolist(), fit.label.to_numpy())
        seconds = time.time() - start
        accuracy = np.mean(model.predict(scored.text.tolist()) == scored.label.to_numpy())
        row.append((accuracy, model.max_concepts_, sum(c.reads_words for c in model.concepts_), seconds))
    (a0, b0, _, s0), (a1, b1, w1, s1) = row
    print(f"| {name} | {len(fit)} / {len(scored)} | {a0:.3f} | {a1:.3f} | {b0} / {b1} | {w1} | {s0:.1f} / {s1:.1f} |",
          flush=True)
