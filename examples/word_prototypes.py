"""Prototypes read two ways: from the embedding and from the words (offline, no API key).

    python examples/word_prototypes.py

Fits the default ConceptClassifier on the bundled SMS sample, then shows what each kind of
prototype concept is: the sentence, the held-out AUC that checks its probe, the words the word
prototype's probe weighs most, and one message's score traced back to them. Then the same model
with ``prototypes="embedding"`` (no word prototypes), for comparison on the same held-out messages.
"""

import numpy as np
from sklearn.model_selection import train_test_split

from nlmodels import ConceptClassifier
from nlmodels.data import load_sms_spam_sample

data = load_sms_spam_sample()
train, test = train_test_split(data, test_size=0.25, stratify=data.label, random_state=0)

model = ConceptClassifier(max_concepts=10).fit(train.text, train.label)
fidelity = model.fidelity_.set_index(["concept", "signal"])
names = model.concept_names()
print("The prototypes of the fitted model and how each was checked on texts its probe was not fitted on:")
for k, concept in enumerate(model.concepts_):
    if not concept.is_prototype:
        continue
    auc = fidelity.loc[(names[k], "similar"), "fidelity"]
    kind = "its words" if concept.reads_words else "its embedding"
    print(f"- {concept.text}\n    reads {kind}; held-out AUC {auc:.3f} for recognising the '{concept.target}' texts")
    if concept.reads_words:
        print(f"    the words its probe weighs most: {', '.join(model.measurer_.top_words(k, 8))}")

message = "WINNER! Claim your free prize: txt WIN to 80086 now"
row = model.explain([message]).iloc[0]
print(f"\n{message!r}: decision {row.sum():+.2f}, of which")
for name in row.drop("intercept").abs().sort_values(ascending=False).index[:3]:
    print(f"  {row[name]:+7.2f}  {name[:100]}")
print(f"  {row['intercept']:+7.2f}  intercept")

embedding_only = ConceptClassifier(max_concepts=10, prototypes="embedding").fit(train.text, train.label)
for label, m in (("with word prototypes", model), ("prototypes from the embedding only", embedding_only)):
    print(f"\ntest accuracy {label}: {np.mean(m.predict(test.text) == test.label):.3f} on {len(test)} messages")
