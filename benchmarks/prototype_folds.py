"""Are the prototypes' fidelity figures closer to the truth when their cross-fitting folds are
stratified by class? A development protocol that never touches test.csv.

    python benchmarks/prototype_folds.py [--datasets ...] [--train-size 200 --seeds 11,12,13,14,15] [--accuracy]

For each dataset and seed (``benchmarks/run.py``'s ``development_split``: 75% / 25% of train.csv,
or with ``--train-size`` that many texts and up to 1,500 other training texts to score), one
prototype probe per class at each C of ``PROTOTYPE_CS``. Its fidelity as nlmodels reports it (the
AUC of five-fold cross-fitted scores for recognising the class's training texts) is computed with
random folds (as before) and with folds stratified by the labels (as now), and compared with the
truth it estimates: the AUC of the probe fitted on all the training texts, on the scored texts it
never saw. Prints per dataset the mean error (bias) and mean absolute error of each, and how often
each puts a probe on the wrong side of the 0.75 gate (passed though its
unseen-text AUC is below it; gated though it is not).

``--leave-one-out`` adds a third estimate: each text scored by a probe fitted on all the others (a
fit per text; for samples of a few hundred).

``--accuracy`` also fits the default ``ConceptClassifier()`` both ways (random folds patched back in)
and prints its accuracy on the scored texts.
"""

import numpy as np
import pandas as pd
from scipy.special import expit

from nlmodels import SentenceTransformerEmbedder
from nlmodels.concepts.measurers import embedding
from nlmodels.concepts.measurers._probes import auc, fit_probes, held_out_probe_scores

from run import accuracy_with, development_arguments, development_split, estimate_errors, fits_table, leave_one_out_scores

parser = development_arguments()
parser.add_argument("--accuracy", action="store_true", help="also fit the whole model both ways")
parser.add_argument("--leave-one-out", action="store_true", help="also estimate by leave-one-out (a fit per text)")
args = parser.parse_args()

embedder = SentenceTransformerEmbedder(progress=False)
stratified = embedding.held_out_probe_scores


def random_folds(*a, stratify=None, **k):
    """The cross-fitting of before: folds drawn without regard to the labels."""
    return stratified(*a, **k)


records, fits = [], []
for name in args.datasets.split(","):
    for seed in (int(s) for s in args.seeds.split(",")):
        fit, scored = development_split(args.data, name, seed, args.train_size)
        X, y = embedder.encode(fit.text.tolist()), fit.label.to_numpy()
        Xs, ys = embedder.encode(scored.text.tolist()), scored.label.to_numpy()
        classes = np.unique(y)
        T, Ts = (y[:, None] == classes).astype(float), (ys[:, None] == classes).astype(float)
        for C in embedding.PROTOTYPE_CS:
            before = held_out_probe_scores(X, T, C=C, n_folds=5)
            now = held_out_probe_scores(X, T, C=C, n_folds=5, stratify=y)
            W, b = fit_probes(X, T, C=C)
            unseen = expit(Xs @ W + b)
            one = leave_one_out_scores(X, T, C) if args.leave_one_out else np.full(T.shape, np.nan)
            for j in range(len(classes)):
                records.append({"dataset": name, "random folds": auc(T[:, j], before[:, j]),
                                "stratified": auc(T[:, j], now[:, j]), "leave-one-out": auc(T[:, j], one[:, j]),
                                "truth": auc(Ts[:, j], unseen[:, j])})
        if args.accuracy:
            fits.append({"dataset": name, "seed": seed,
                         **accuracy_with({"random folds": random_folds, "stratified": stratified}, embedder,
                                         fit.text.tolist(), y, scored.text.tolist(), ys)})
            print(fits[-1], flush=True)

estimators = ["random folds", "stratified"] + (["leave-one-out"] if args.leave_one_out else [])
print(estimate_errors(pd.DataFrame(records), estimators).to_markdown(index=False))
if fits:
    print()
    print(fits_table(fits, ["random folds", "stratified"]))
