"""Does choosing the prototypes' probe strength C by their held-out AUC beat the fixed C=1? A
development protocol that never touches test.csv.

    python benchmarks/prototype_c.py [--datasets ...] [--train-size 200 --seeds 11,12,13,14,15] [--data ../shared/datasets]

For each dataset and seed: ``benchmarks/run.py``'s ``development_split`` (75% / 25% of ``train.csv``,
or with ``--train-size`` that many texts and up to 1,500 other training texts to score). The
default ``ConceptClassifier()`` is fitted twice, once with ``PROTOTYPE_CS`` cut to (1.0,) (the
fixed C of before) and once as it is (C from 1, 4, 16 by the prototypes' mean held-out AUC).
Prints a markdown row per fit and, over several seeds, the mean of each.
"""

import time

import numpy as np

from nlmodels import ConceptClassifier
from nlmodels.concepts.measurers import embedding

from run import development_arguments, development_split

args = development_arguments().parse_args()

chosen_grid = embedding.PROTOTYPE_CS
results = {}
print("| dataset | seed | fit / scored texts | C=1 | C chosen | accuracy | budget | fit s, C=1 | fit s, chosen |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for name in args.datasets.split(","):
    for seed in (int(s) for s in args.seeds.split(",")):
        fit, scored = development_split(args.data, name, seed, args.train_size)
        row = []
        for grid in ((1.0,), chosen_grid):
            embedding.PROTOTYPE_CS = grid
            start = time.time()
            model = ConceptClassifier().fit(fit.text.tolist(), fit.label.to_numpy())
            seconds = time.time() - start
            accuracy = float(np.mean(model.predict(scored.text.tolist()) == scored.label.to_numpy()))
            row.append((accuracy, model.measurer_.prototype_C_, model.max_concepts_, seconds))
            results.setdefault((name, grid), []).append(accuracy)
        embedding.PROTOTYPE_CS = chosen_grid
        (a1, _, b1, s1), (ac, c, bc, sc) = row
        print(f"| {name} | {seed} | {len(fit)} / {len(scored)} | {a1:.3f} | {c:g} | {ac:.3f} | {b1} → {bc} | "
              f"{s1:.1f} | {sc:.1f} |", flush=True)
if len(args.seeds.split(",")) > 1:
    print("\n| dataset | mean, C=1 | mean, C chosen |\n|---|---:|---:|")
    for name in args.datasets.split(","):
        print(f"| {name} | {np.mean(results[(name, (1.0,))]):.3f} | {np.mean(results[(name, chosen_grid)]):.3f} |")
