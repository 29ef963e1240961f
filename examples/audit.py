"""The audit path in Python: fit, export to JSON, reload, edit by hand, write a model card and plots.

    python examples/audit.py [output folder, default: audit-output]

Offline, no API key (bundled SMS sample, bundled embedder). Writes model.json, edited.json,
card.html (one self-contained page), card.md (+ two PNGs) and the two plots.
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

import nlmodels
from nlmodels import ConceptClassifier
from nlmodels.data import load_sms_spam_sample

out = Path(sys.argv[1] if len(sys.argv) > 1 else "audit-output")
out.mkdir(parents=True, exist_ok=True)

data = load_sms_spam_sample()
train, test = train_test_split(data, test_size=0.25, stratify=data.label, random_state=0)
model = ConceptClassifier(max_concepts=10).fit(train.text, train.label)
print(model)

# 1. Export: plain JSON, every number predict uses; reloading gives exactly the same predictions.
model.to_json(out / "model.json")
reloaded = nlmodels.load(out / "model.json")
difference = np.abs(reloaded.predict_proba(test.text) - model.predict_proba(test.text)).max()
print(f"\nwrote {out / 'model.json'}; max |difference| of predict_proba after reloading: {difference}")

# 2. An expert removes the concept with the smallest weight and adds one of their own; only the
#    head is refitted (the other concepts keep their measurement). The edit is recorded.
weights = np.abs(model.coef_[0].reshape(len(model.concepts_), -1).sum(axis=1))
weakest = model.concept_names()[int(np.argmin(weights))]
edited = model.edit(remove=[weakest], add=[["prize", "claim", "winner", "urgent"]],
                    author="A. Auditor", note="weakest concept replaced by a known spam pattern")
edited.refit_head(train.text, train.label)
edited.to_json(out / "edited.json")
print(f"\nedited: removed {weakest!r}; history: {edited.edits_[-1]}")

# 3. Model cards and plots.
edited.report(test.text, test.label, out / "card.html", title="SMS spam filter: model card")
edited.report(test.text, test.label, out / "card.md", title="SMS spam filter: model card")
edited.plot_weights().savefig(out / "weights.png", dpi=110)
edited.plot_explanation(test.text.iloc[0]).savefig(out / "explanation.png", dpi=110)
print(f"\nwrote {out / 'card.html'}, {out / 'card.md'}, {out / 'weights.png'}, {out / 'explanation.png'}")
