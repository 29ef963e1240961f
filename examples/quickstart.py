"""Fit a ConceptClassifier offline on the bundled SMS sample and print the whole model.

    python examples/quickstart.py

No API key, no network: concepts are mined from the data and measured with the bundled
all-MiniLM-L6-v2 embedder.
"""

from sklearn.model_selection import train_test_split

from nlmodels import ConceptClassifier
from nlmodels.data import load_sms_spam_sample

data = load_sms_spam_sample()
train, test = train_test_split(data, test_size=0.25, stratify=data.label, random_state=0)

model = ConceptClassifier(max_concepts=10)
model.fit(train.text, train.label)
print(model)
print(f"\ntest accuracy: {(model.predict(test.text) == test.label).mean():.3f} on {len(test)} messages")

print("\nWhy the first two test messages got their scores (contributions add up to the decision value):")
explanation = model.explain(test.text[:2])
for i, text in enumerate(test.text[:2]):
    row = explanation.iloc[i]
    top = row.drop("intercept").abs().sort_values(ascending=False).index[:3]
    parts = ", ".join(f"{name!r} {row[name]:+.2f}" for name in top)
    print(f"- {text[:70]!r}: decision {row.sum():+.2f} = intercept {row['intercept']:+.2f} + ... ({parts})")
