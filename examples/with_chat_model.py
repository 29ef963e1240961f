"""Concepts written and measured by a chat model.

    python examples/with_chat_model.py --model gpt-4o-mini                      # OPENAI_API_KEY set
    python examples/with_chat_model.py --model qwen2.5 --base-url http://localhost:11434/v1

With measure="distill" the chat model answers for 100 training texts; predict makes no chat call.
Run it twice: the second fit is served entirely from the cache (usage shows 0 calls).
A model too small to write questions (SmolLM2-135M writes an empty list) stops the fit with an error that
names it and says what to do instead.
"""

import argparse

from sklearn.model_selection import train_test_split

from nlmodels import ChatModel, ConceptClassifier
from nlmodels.data import load_sms_spam_sample

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--base-url")
parser.add_argument("--measure", default="distill", choices=["distill", "llm", "embedding"])
args = parser.parse_args()

data = load_sms_spam_sample()
train, test = train_test_split(data, test_size=0.25, stratify=data.label, random_state=0)
llm = ChatModel(args.model, base_url=args.base_url, max_calls=500)   # a budget: stops before call 501
model = ConceptClassifier(llm=llm, measure=args.measure, n_distill=100, max_concepts=10)
model.fit(train.text, train.label)
print(model)
print(f"\ntest accuracy {(model.predict(test.text) == test.label).mean():.3f}")
print("chat usage:", llm.usage.as_dict())
