"""ChatModel through the real llama.cpp server with SmolLM2-135M (started on 127.0.0.1).

The model is tiny and answers at chance: these tests assert on the path, shapes, counts and the
cache, never on its judgement. Requests are counted at a proxy in front of the server.
"""

import pydantic
import pytest

from nlmodels import ChatModel

pytestmark = pytest.mark.server


class Sentiment(pydantic.BaseModel):
    sentiment: str = pydantic.Field(max_length=12)
    confident: bool


def make_llm(proxy, **options):
    return ChatModel("smollm2", base_url=proxy.base_url, **{"max_tokens": 24, **options})


def test_chat_batch_and_cache_against_real_server(fresh_cache, smollm):
    llm = make_llm(smollm, max_concurrency=2)
    prompts = ["Say hello.", "Name a colour.", "Name a fruit.", "Count to three."]
    answers = llm.chat(prompts)
    assert len(answers) == 4 and all(isinstance(a, str) and a for a in answers)
    assert smollm.count() == 4 and llm.usage.calls == 4 and llm.usage.completion_tokens > 0
    again = make_llm(smollm).chat(prompts)
    assert again == answers and smollm.count() == 4  # zero requests the second time


def test_structured_answer_against_real_server(fresh_cache, smollm):
    llm = make_llm(smollm, max_tokens=60)
    answers = llm.structured(["Review: 'I loved this film.' Give its sentiment."], Sentiment, on_error="none")
    formats = [body.get("response_format", {}).get("type") for _, body in smollm.requests]
    assert formats[0] == "json_schema"  # tried first ...
    assert "json_object" in formats  # ... and llama.cpp's accepted form used after its 422
    assert answers[0] is None or isinstance(answers[0], Sentiment)


def test_yes_probability_against_real_server(fresh_cache, smollm):
    llm = make_llm(smollm, max_concurrency=2)
    p = llm.yes_probability(["Is the sky blue?", "Is fire cold?", "Is water wet?"])
    assert len(p) == 3 and all(0.0 <= x <= 1.0 for x in p)
    assert smollm.count() == 3
    assert all(body.get("logprobs") is True for _, body in smollm.requests)
    # llama.cpp returns top log-probabilities: the answer is a real probability, not only 0/1
    assert any(0.0 < x < 1.0 for x in p)


def test_concurrent_requests_reach_the_server(fresh_cache, smollm):
    llm = make_llm(smollm, max_concurrency=4, max_tokens=8)
    llm.chat([f"Say the number {i}." for i in range(8)])
    assert smollm.count() == 8 and smollm.max_in_flight >= 2
