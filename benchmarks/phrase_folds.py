"""Is a mined phrase concept's fidelity closer to the truth when every training text is scored by a
probe fitted without it (three folds) than when a held-out third is? A development protocol that
never touches test.csv.

    python benchmarks/phrase_folds.py [--datasets ...] [--train-size 200] [--seeds 11,12,13] [--accuracy]

For each dataset and seed (``benchmarks/run.py``'s ``development_split``: 75% / 25% of train.csv,
or with ``--train-size`` that many texts and up to 1,500 other training texts to score), the
candidate phrase concepts the default ``ConceptClassifier()`` mines from the fitting texts (its
automatic phrase and group counts). Each one's ``similar`` fidelity, the AUC of the embedding probe
for recognising the texts that use its phrases, is estimated three ways: on a held-out third of
the fitting texts, scored by a probe fitted on the other two thirds (nlmodels before 8f40b8f);
every fitting text scored by the probe fitted on the other two thirds (three folds, nlmodels now);
and the same on five folds. Each is compared with the truth it estimates: the AUC of the probe
fitted on all the fitting texts, on the scored texts it never saw (concepts with at least 10 of
them using the phrases). Prints per dataset the bias and mean absolute error of each estimate and
how often it puts a concept on the wrong side of the 0.75 gate, and the seconds each took.

``--accuracy`` also fits the default ``ConceptClassifier()`` with the held-out third patched back in
and as it is, and prints both accuracies on the scored texts and their fit seconds.
"""

import time

import numpy as np
import pandas as pd
from scipy.special import expit

from nlmodels import ConceptClassifier, SentenceTransformerEmbedder
from nlmodels.concepts import phrase_matches
from nlmodels.concepts.measurers import embedding
from nlmodels.concepts.measurers._probes import auc, fit_probes, held_out_probe_scores
from nlmodels.concepts.proposers import PhraseProposer, class_bins

from run import accuracy_with, development_arguments, development_split, estimate_errors, fits_table

parser = development_arguments(["sst2", "financial_phrasebank", "emotion", "ag_news", "rotten_tomatoes", "sms_spam"],
                               "11,12,13")
parser.add_argument("--accuracy", action="store_true", help="also fit the whole model both ways")
args = parser.parse_args()
embedder = SentenceTransformerEmbedder(progress=False)
three_folds = embedding.held_out_probe_scores
ESTIMATES = {"held-out third": dict(holdout=True), "three folds": dict(n_folds=3), "five folds": dict(n_folds=5)}


def held_out_third(*a, n_folds=3, stratify=None, **k):
    """The phrase probes' fidelity of before (the prototypes' stratified five folds unchanged)."""
    if stratify is None and n_folds == 3:
        return three_folds(*a, n_folds=3, holdout=True, **k)
    return three_folds(*a, n_folds=n_folds, stratify=stratify, **k)


records, seconds, fits = [], [], []
for name in args.datasets.split(","):
    for seed in (int(s) for s in args.seeds.split(",")):
        fit, scored = development_split(args.data, name, seed, args.train_size)
        texts, y = fit.text.tolist(), fit.label.astype(str).to_numpy()
        bins, default = class_bins(y, False), ConceptClassifier()
        concepts = PhraseProposer(phrases_per_class=default._phrases_per_class(bins),
                                  groups_per_class=default._groups_per_class(bins)).propose(texts, bins, embedder)
        X, Xs = embedder.encode(texts), embedder.encode(scored.text.tolist())
        T, Ts = phrase_matches(texts, concepts), phrase_matches(scored.text.tolist(), concepts)
        W, b = fit_probes(X, T)
        unseen = expit(Xs @ W + b)
        estimates, took = {}, {"dataset": name, "seed": seed, "concepts": len(concepts)}
        for how, options in ESTIMATES.items():
            start = time.time()
            estimates[how] = held_out_probe_scores(X, T, **options)
            took[how + " s"] = round(time.time() - start, 2)
        seconds.append(took)
        for k in np.flatnonzero(Ts.sum(axis=0) >= 10):
            records.append({"dataset": name, "truth": auc(Ts[:, k], unseen[:, k]),
                            **{how: auc(T[:, k], S[:, k]) for how, S in estimates.items()}})
        if args.accuracy:
            fits.append({"dataset": name, "seed": seed,
                         **accuracy_with({"held-out third": held_out_third, "three folds": three_folds}, embedder,
                                         texts, y, scored.text.tolist(), scored.label.astype(str).to_numpy())})
        print(took, flush=True)

print(estimate_errors(pd.DataFrame(records), list(ESTIMATES), unit="concepts").to_markdown(index=False))
print()
print(pd.DataFrame(seconds).groupby("dataset", sort=False).mean(numeric_only=True).drop(columns="seed")
      .to_markdown(floatfmt=".2f"))
if fits:
    print()
    print(fits_table(fits, ["held-out third", "three folds"]))
