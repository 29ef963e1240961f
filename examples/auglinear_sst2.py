"""AugLinear on SST-2: an additive n-gram model whose numbers come from embeddings.

    python examples/auglinear_sst2.py [datasets folder, default: ../shared/datasets beside the repo]

Offline, no API key (the bundled all-MiniLM-L6-v2 embedder). Fits on sst2/train.csv, reports the
accuracy on sst2/test.csv, prints the model, explains two texts n-gram by n-gram and scores a few
phrases that never occur in the training texts. Without the datasets folder it fits on a small
built-in sample instead.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nlmodels import AugLinearClassifier

data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
if (data / "sst2" / "train.csv").exists():
    train = pd.read_csv(data / "sst2" / "train.csv")
    test = pd.read_csv(data / "sst2" / "test.csv")
else:
    print(f"no sst2 under {data}: using a small built-in sample")
    good = ["a great film", "wonderful acting and a moving story", "terrific fun", "a charming , clever comedy",
            "beautifully made and well acted", "superb performances", "a joy to watch", "smart and touching"]
    bad = ["a dull film", "boring and far too long", "a waste of time", "awful acting", "clumsy and tedious",
           "a lazy , stupid comedy", "flat and lifeless", "poorly written and badly acted"]
    train = pd.DataFrame({"text": good + bad, "label": [1] * len(good) + [0] * len(bad)})
    test = train

start = time.perf_counter()
model = AugLinearClassifier().fit(train.text, train.label)
print(f"fitted on {len(train)} texts in {time.perf_counter() - start:.1f} s "
      f"({len(model.vocabulary_):,} n-grams; lexical scale {model.lexical_scale_:g}, C {model.C_:g})")
print(f"test accuracy: {np.mean(model.predict(test.text) == test.label.to_numpy()):.3f} on {len(test)} texts\n")

# The whole model: an intercept and one number per n-gram; these are its strongest entries.
print(model)

# Every prediction, n-gram by n-gram: the contributions and the intercept add up to the decision value.
texts = ["not a bad film at all", "the plot is n't interesting and the jokes fall flat"]
explanation = model.explain(texts)
for row, text in enumerate(texts):
    parts = explanation.loc[row]
    parts = parts[parts != 0].sort_values(key=np.abs, ascending=False)
    print(f"\n{text!r}: decision value {model.decision_function([text])[0]:+.3f} "
          f"= sum of {len(parts)} terms {parts.sum():+.3f}")
    print(parts.round(3).to_string())

# Any phrase gets a number, seen in training or not (unseen ones through their embedding).
print()
print(model.ngram_contributions(["terrific", "waste of time", "sublime", "a soporific slog"]).round(3))
