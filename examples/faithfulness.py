"""Print the fidelity table of a model fitted offline on the bundled SMS sample.

    python examples/faithfulness.py

Every weighted concept's measurement was checked on texts it was not fitted on: ``similar`` (a
probe on the embedding) by its held-out ROC AUC for recognising texts that use the concept's
phrases, ``mentions`` (a phrase occurs) exactly. A signal below the gate (AUC 0.75) carries no
weight, and every weight points the way its concept reads in the training data.
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
with pd.option_context("display.max_colwidth", 60, "display.width", 160):
    print(model.fidelity_[["concept", "signal", "metric", "fidelity", "baseline", "n_texts", "passed"]])
failed = model.fidelity_[model.fidelity_.passed == False]  # noqa: E712
print(f"\n{len(failed)} signal(s) failed the gate and carry no weight; "
      f"chat calls per predicted text: {model.chat_calls_per_text_}")
