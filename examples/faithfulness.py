"""Print the fidelity table of a model fitted offline on the bundled SMS sample.

    python examples/faithfulness.py

Every weighted concept's measurement was checked on texts it was not fitted on: ``similar`` (a
probe on the embedding) by its held-out ROC AUC for recognising texts that use the concept's
phrases, ``mentions`` (a phrase occurs) exactly. A signal below the gate (AUC 0.75) carries no
weight, and every weight points the way its concept reads in the training data.

Each AUC comes with the texts it rests on (``positives`` of ``n_texts``) and a 95% interval. Fitted
on 150 messages instead of 1,500, some intervals span the gate: the printed model marks those
signals and says how many weighted ones there are, since that few texts cannot tell which side of
the gate they are on (docs/faithfulness.md, "How sure is a held-out AUC?").
"""

import pandas as pd
from sklearn.model_selection import train_test_split

from nlmodels import ConceptClassifier
from nlmodels.data import load_sms_spam_sample

data = load_sms_spam_sample()
train, test = train_test_split(data, test_size=0.25, stratify=data.label, random_state=0)
model = ConceptClassifier(max_concepts=10).fit(train.text, train.label)

print(model)
print(f"\ntest accuracy: {(model.predict(test.text) == test.label).mean():.3f} on {len(test)} messages\n")
with pd.option_context("display.max_colwidth", 50, "display.width", 200, "display.max_columns", None):
    print(model.fidelity_[["concept", "signal", "metric", "fidelity", "n_texts", "positives", "interval", "passed"]])
failed = model.fidelity_[model.fidelity_.passed == False]  # noqa: E712
print(f"\n{len(failed)} signal(s) failed the gate and carry no weight; "
      f"chat calls per predicted text: {model.chat_calls_per_text_}")

few, _ = train_test_split(train, train_size=150, stratify=train.label, random_state=0)
small = ConceptClassifier(max_concepts=10).fit(few.text, few.label)
print("\nFitted on 150 messages: the AUCs whose 95% interval spans the gate")
lines = str(small).splitlines()
for above, line in zip([""] + lines, lines):
    if "): spans the" in line:
        print(above.strip()[:100] + "\n    " + line.strip())
    elif line.startswith("measured on few texts"):
        print(line)
print(f"test accuracy: {(small.predict(test.text) == test.label).mean():.3f}")
