"""Which rule learner over the same concepts? nlmodels' rule list against imodels' learners.

    python benchmarks/rule_learners.py                      # six datasets in ../shared/datasets
    python benchmarks/rule_learners.py --datasets sms_spam --cache-dir /tmp/nlm-cache

Every learner gets the same concept score matrix (the offline concepts RuleListClassifier proposes
and measures on the training texts, only the columns whose measurement passed its fidelity gate, as
RuleListClassifier's own learner gets them) and at most 10 rules:

* ``nlmodels``: RuleListClassifier's own learner (sequential covering over thresholded concepts,
  conjunctions of two, list length chosen by cross-validation);
* ``imodels GreedyRuleList``: ``imodels.GreedyRuleListClassifier(max_depth=10)`` (two classes only);
* ``imodels FIGS``: ``imodels.FIGSClassifier(max_rules=10)`` (two classes only);
* ``sklearn tree``: ``DecisionTreeClassifier(max_leaf_nodes=11)`` (10 splits).

Needs the ``bench`` extra (``pip install 'nlmodels[bench]'``) for imodels. Prints a Markdown table
of test accuracy and the number of rules (or splits) a person reads.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ["sst2", "rotten_tomatoes", "financial_phrasebank", "emotion", "sms_spam", "ag_news"]


def concept_matrices(model, train, test):
    """The concept score matrices (before the rule list keeps the concepts it uses), limited to the
    columns whose measurement passed its fidelity gate, as RuleListClassifier's own learner is."""
    F, y = model._fit_concepts(train.text.tolist(), train.label.to_numpy())
    texts = test.text.tolist()
    F_test = model._fill_missing(model.measurer_.transform(texts, model._embed(texts)))
    usable = model._usable_columns()
    return F[:, usable], y, F_test[:, usable]


def imodels_learners():
    try:
        from imodels import FIGSClassifier, GreedyRuleListClassifier
    except ImportError as error:
        print(f"imodels not installed ({error}); only nlmodels and the sklearn tree run", file=sys.stderr)
        return {}
    return {"imodels GreedyRuleList": lambda: GreedyRuleListClassifier(max_depth=10),
            "imodels FIGS": lambda: FIGSClassifier(max_rules=10, random_state=0)}


def n_rules(name, model) -> int:
    if name == "imodels GreedyRuleList":
        return sum("col" in rule for rule in model.rules_)  # the last entry is the ELSE leaf
    if name == "imodels FIGS":
        return int(model.complexity_)
    return int(model.tree_.node_count - model.tree_.n_leaves)  # splits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--cache-dir", help="embedding cache folder (default: the user cache)")
    args = parser.parse_args(argv)
    if args.cache_dir:
        os.environ["NLMODELS_CACHE_DIR"] = args.cache_dir
    from nlmodels import RuleListClassifier

    others = imodels_learners()
    rows = []
    for name in args.datasets.split(","):
        train = pd.read_csv(args.data / name / "train.csv")
        test = pd.read_csv(args.data / name / "test.csv")
        ours = RuleListClassifier(max_rules=10).fit(train.text.tolist(), train.label.to_numpy())
        rows.append({"dataset": name, "learner": "nlmodels RuleListClassifier", "rules": len(ours.rules_),
                     "accuracy": float(np.mean(ours.predict(test.text.tolist()) == test.label.to_numpy()))})
        F, y, F_test = concept_matrices(RuleListClassifier(max_rules=10), train, test)
        binary = len(np.unique(y)) == 2
        learners = {**(others if binary else {}),
                    "sklearn tree": lambda: DecisionTreeClassifier(max_leaf_nodes=11, random_state=0)}
        for learner, make in learners.items():
            classes, yi = np.unique(y, return_inverse=True)
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = make().fit(F, yi)
                predicted = classes[np.asarray(model.predict(F_test)).round().astype(int)]
            rows.append({"dataset": name, "learner": learner, "rules": n_rules(learner, model),
                         "accuracy": float(np.mean(predicted == test.label.to_numpy()))})
        print(f"{name}: " + ", ".join(f"{r['learner']} {r['accuracy']:.3f}" for r in rows if r["dataset"] == name),
              file=sys.stderr, flush=True)
    results = pd.DataFrame(rows)
    order = list(dict.fromkeys(results.learner))
    table = results.pivot(index="dataset", columns="learner", values="accuracy")
    counts = results.pivot(index="dataset", columns="learner", values="rules")
    table, counts = (t.reindex(index=args.datasets.split(","), columns=order) for t in (table, counts))
    # imodels' greedy list and FIGS refuse more than two classes: their cells stay empty
    shown = table.map(lambda v: "two classes only" if v != v else f"{v:.3f}") + counts.map(
        lambda v: "" if v != v else f" ({int(v)})")
    print(shown.to_markdown())
    return results


if __name__ == "__main__":
    main()
