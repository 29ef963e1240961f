"""Few labels and many classes, offline: prototype concepts beside the mined phrases.

    python examples/few_labels_many_classes.py            # 200 labelled sst2 reviews (about 30 s)
    python examples/few_labels_many_classes.py --many     # and clinc150: 150 intents, ~13 texts each (about 2 min)

Reads ``../shared/datasets`` beside the repository (fixed splits). With 200 labelled texts, phrase
mining has little to count; a prototype concept ("resembles the training texts labelled X, such as:
...") is a probe that recognises the class's training texts, checked on texts it was not fitted on.
The model is fitted with and without them; the number of concepts is chosen by cross-validation
that mines inside each fold (``max_concepts="auto"``, at most 5,000 texts), which also tries the
prototypes alone (no mined phrase); that choice, the prototypes' probe strength (C of 1, 4, 16 by
held-out AUC) and the prototype lines of the printed model are shown.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from nlmodels import ConceptClassifier

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
if not (DATA / "sst2" / "train.csv").exists():
    sys.exit(f"this example reads the shared datasets; none under {DATA}")


def split(name, size=None):
    train, test = pd.read_csv(DATA / name / "train.csv"), pd.read_csv(DATA / name / "test.csv")
    if size:
        train, _ = train_test_split(train, train_size=size, stratify=train.label, random_state=0)
    return train, test


def accuracy(model, test):
    return float(np.mean(model.predict(test.text.tolist()) == test.label.to_numpy()))


train, test = split("sst2", 200)
for prototypes in (False, "auto"):
    model = ConceptClassifier(prototypes=prototypes).fit(train.text.tolist(), train.label.to_numpy())
    print(f"sst2, 200 labelled texts, prototypes={prototypes!r}: test accuracy {accuracy(model, test):.3f} "
          f"on {len(test)} reviews, {len(model.concepts_)} concepts")
cv = model.concept_budget_cv_   # max_concepts='auto': the budget is chosen by cross-validation
print(f"\n{cv['folds']}-fold cross-validation (concepts mined inside each fold) chose {cv['chosen']} concepts:")
for budget, mean in zip(cv["candidates"], cv["accuracy"]):
    print(f"  max_concepts={budget:2d}: held-out accuracy {mean:.3f}")
print(f"  the prototypes alone (no mined phrase): held-out accuracy {cv['prototypes_alone_accuracy']:.3f}"
      f" -> {'mined phrases kept' if cv['mined_phrases'] else 'chosen: no mined phrase carries weight'}")
print(f"The prototypes' probes: C = {model.measurer_.prototype_C_:g}, the one of 1, 4, 16 whose held-out scores "
      f"recognise their classes best")
lines = str(model).splitlines()
print("\nThe header and the prototype lines of the printed model:")
print("\n".join(lines[:2]))
for i, line in enumerate(lines):
    if "resembles the training texts" in line:
        print(line + "\n" + lines[i + 1])

if "--many" in sys.argv:
    train, test = split("clinc150")
    model = ConceptClassifier().fit(train.text.tolist(), train.label.to_numpy())
    print(f"\nclinc150 ({train.label.nunique()} intents, {len(train)} texts): test accuracy {accuracy(model, test):.3f}; "
          f"{len(model.concepts_)} concepts (max_concepts='auto': {model.max_concepts_}), "
          f"{sum(c.is_prototype for c in model.concepts_)} of them prototypes, their probes at C = "
          f"{model.measurer_.prototype_C_:g}")
    printed = str(model).splitlines()
    first, second = [i for i, line in enumerate(printed) if line.startswith("class ")][:2]
    print("The printed model's header and its first class:")
    print("\n".join(printed[:first] + printed[first:second]))
