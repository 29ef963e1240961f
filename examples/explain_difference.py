"""What spam messages say more often than ordinary ones, and what a spam filter looks at (offline).

    python examples/explain_difference.py

Runs on the bundled 1,000-message SMS sample in under a minute: the bundled all-MiniLM-L6-v2
embedder, no chat model, no network.
"""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from nlmodels import explain_difference, explain_model
from nlmodels.data import load_sms_spam_sample

data = load_sms_spam_sample()
spam, ham = data.text[data.label == "spam"], data.text[data.label == "ham"]

# 1. Hypotheses proposed on half of each group, tested on the other half.
report = explain_difference(spam, ham, names=("spam", "ham"), max_hypotheses=10)
print(report)
print()
print(report.table[["hypothesis", "share_a", "share_b", "ci_low", "ci_high", "q_value"]].head(5).to_string())
report.save("spam_vs_ham.html")
print("\nwrote spam_vs_ham.html")

# 2. A black box (TF-IDF + linear SVM), fitted on 500 messages, explained on the other 500.
black_box = make_pipeline(TfidfVectorizer(), LinearSVC()).fit(data.text[:500], data.label[:500])
explained = explain_model(black_box.predict, data.text[500:].tolist(), max_concepts=5)
print()
print(explained)
print(f"\n{len(explained.disagreements)} held-out messages where surrogate and black box differ, e.g.:")
print(explained.disagreements.head(3).to_string())
one = explained.explain(["WINNER!! Claim your free prize now, call 09061701461"])
print("\none message, concept by concept (adds up to the surrogate's decision value):")
print(one.T.to_string())
