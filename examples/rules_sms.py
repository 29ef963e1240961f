"""A rule list and a shallow tree over concepts, on the bundled SMS sample.

    python examples/rules_sms.py                                   # offline: mined phrase concepts
    python examples/rules_sms.py --model gpt-4o-mini               # a chat model also proposes rules
    python examples/rules_sms.py --model qwen2.5 --base-url http://localhost:11434/v1

Offline there is no API key and no network. With --model, the chat model writes questions and
rules "IF <question> THEN <label>" (two calls); every question is measured by embedding similarity,
and each proposed rule's coverage and precision are measured on the training texts, whatever the
model claimed (see ``proposed_rules_``). Last, each leaf of the tree is measured on the test texts
(``evaluate_rules``) and its model card is written to rules_card.html.
"""

import argparse

from sklearn.model_selection import train_test_split

from nlmodels import ChatModel, ConceptTreeClassifier, RuleListClassifier
from nlmodels.data import load_sms_spam_sample

parser = argparse.ArgumentParser()
parser.add_argument("--model", help="chat model name (omit to run offline)")
parser.add_argument("--base-url")
args = parser.parse_args()
llm = ChatModel(args.model, base_url=args.base_url, max_calls=20) if args.model else None

data = load_sms_spam_sample()
train, test = train_test_split(data, test_size=0.25, stratify=data.label, random_state=0)

rules = RuleListClassifier(llm=llm, max_rules=5).fit(train.text, train.label)
print(rules)
print(f"\ntest accuracy {(rules.predict(test.text) == test.label).mean():.3f} on {len(test)} messages")

print("\nWhich rule fired for the first three test messages:")
for text, (_, row) in zip(test.text[:3], rules.explain(test.text[:3]).iterrows()):
    print(f"- {text[:60]!r}\n    rule {row.rule}: {row.rule_text} -> {row.prediction}")  # with each cut's check

if llm is not None:
    print("\nRules the chat model proposed, as measured on the training texts:")
    print(rules.proposed_rules_.to_string(index=False))
    print("chat usage:", llm.usage.as_dict())

tree = ConceptTreeClassifier(llm=llm, max_depth=2).fit(train.text, train.label)
print()
print(tree)
print(f"\ntest accuracy {(tree.predict(test.text) == test.label).mean():.3f}")

# The printed precision is on the training texts the learner chose each leaf on; measure it on the test
# texts, then write the model card (that table, the fidelity of each measurement, limitations).
print("\nEach leaf measured on the test texts:")
measured = tree.evaluate_rules(test.text, test.label)
for i, row in enumerate(measured.itertuples(), 1):   # in printed order, top to bottom
    print(f"  leaf {i} -> {row.prediction}: training precision {row.training_precision:.3f} on {row.training_texts}, "
          f"test precision {row.precision:.3f} ({row.interval[0]:.2f}-{row.interval[1]:.2f}) on {row.texts}")
print("model card:", tree.report(test.text, test.label, "rules_card.html"))
