"""The cost of a chat-model fit before it runs, then the same fit through the Batch API.

    python examples/cost_and_batch.py

Runs against a fake OpenAI-compatible server with a Batch API that this script starts on
127.0.0.1 (the one the tests use, ``tests/batch_server.py``): no network, no API key. Its answers
are scripted keyword rules, so the printed model says nothing about a real model's quality; the
counts and the flow are the real ones. With a real provider, drop the fake and pass the model name
(and ``base_url`` for Azure or another server); see docs/scaling.md.
"""

import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from batch_server import BatchServer  # noqa: E402

from nlmodels import ChatModel, ConceptClassifier  # noqa: E402
from nlmodels.data import load_sms_spam_sample  # noqa: E402

QUESTIONS = ["Does the message offer a prize, cash or something free?",
             "Does the message ask the reader to call or text a number?",
             "Is the message a personal chat between people who know each other?"]
KEYWORDS = [("prize", "cash", "free", "won", "win"), ("call", "txt", "text", "reply"), (" i ", "you", " me ")]


def scripted(messages, body):
    prompt = next(m["content"] for m in messages if m["role"] == "user")
    if "yes/no questions" in prompt:
        return json.dumps({"questions": QUESTIONS})
    text = f" {prompt.split('</text>')[0].lower()} "
    asked = len(re.findall(r"^\d+\. ", prompt, re.M))
    return json.dumps({"answers": ["yes" if any(w in text for w in ws) else "no" for ws in KEYWORDS][:asked]
                       + ["no"] * max(0, asked - len(KEYWORDS))})


def main():
    data = load_sms_spam_sample().head(300)
    server = BatchServer(scripted, polls_in_progress=2)
    cache = tempfile.mkdtemp(prefix="nlmodels-example-cache-")
    try:
        llm = ChatModel("gpt-4o-mini", base_url=server.base_url, api_key="not-needed-here", cache_dir=cache,
                        batch=True, batch_poll_interval=0.2)
        model = ConceptClassifier(llm=llm, measure="llm", max_concepts=10)

        estimate = model.estimate_cost(data.text, data.label)
        print("before the fit:\n" + str(estimate))
        # gpt-4o-mini list prices (USD per million tokens, as published in 2024; check the provider's
        # page): $0.15 input, $0.60 output; the Batch API is half of that.
        print(f"synchronous at most ${estimate.price(0.15, 0.60):.4f}; "
              f"Batch API at most ${estimate.price(0.075, 0.30):.4f}\n")

        model.fit(data.text, data.label)
        print(model)
        print(f"\nserver saw: {server.uploads} upload, {server.creates} batch, "
              f"{server.count()} synchronous chat requests (the proposal rounds)")
        print("usage:", llm.usage.as_dict())
        print("\nthe same fit again:", model.estimate_cost(data.text, data.label).requests, "requests (all cached)")
    finally:
        server.close()


if __name__ == "__main__":
    main()
