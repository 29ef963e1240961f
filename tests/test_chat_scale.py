"""The chat path at scale: repairs of answers that do not validate, the cost known before the run
(counted at the server, cold and half-warm cache), and the Batch API against a local fake."""

import json
import re

import numpy as np
import pydantic
import pytest

from batch_server import BatchServer
from faults import HashEmbedder
from nlmodels import (BudgetExceededError, ChatModel, ConceptClassifier, ConceptRegressor, ConceptTreeClassifier,
                      CostEstimate, LLMBatchError, LLMError, RuleListClassifier)
from textsets import answer_review_questions, reviews, scripted_rules

QUESTIONS = ["Does the text praise something?", "Does the text complain about something?",
             "Does the text mention the cast?"]
CLAIMED = [{"condition": "Does the text complain about something?", "label": "neg"},
           {"condition": "Does the text mention the cast?", "label": "pos"}]


class Verdict(pydantic.BaseModel):
    label: str
    score: int


scripted = scripted_rules(QUESTIONS, CLAIMED)


def measurement_requests(server) -> int:
    return sum(b["messages"][-1]["content"].startswith("<text>") for p, b in server.requests
               if p.endswith("/chat/completions"))


# ----------------------------------------------------------------------------- repairs
def test_answers_that_do_not_validate_are_repaired_up_to_max_repairs(fresh_cache, fake_llm):
    replies = {}

    def answer(messages, body):  # broken, then wrong shape, then right, per prompt
        n = replies[messages[1]["content"]] = replies.get(messages[1]["content"], 0) + 1
        return ['{"label": "ok", "sco', '{"label": "ok"}', '{"label": "ok", "score": 2}'][min(n, 3) - 1]

    server = fake_llm(answer)
    llm = ChatModel("fake", base_url=server.base_url, progress=False)
    assert [v.score for v in llm.structured(["a", "b"], Verdict)] == [2, 2]
    assert server.count() == 6 and llm.usage.repairs == 4 and llm.usage.unparsed == 0
    last = server.requests[-1][1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "not valid for the schema" in last[3]["content"] and "score" in last[5]["content"]  # the error shown
    again = ChatModel("fake", base_url=server.base_url, progress=False)
    assert [v.score for v in again.structured(["a", "b"], Verdict)] == [2, 2]
    assert server.count() == 6 and again.usage.cached == 6  # repaired answers are cached: 0 requests

    replies.clear()
    one = ChatModel("fake", base_url=server.base_url, max_repairs=1, progress=False)
    with pytest.raises(LLMBatchError, match="after 1 repairs"):
        one.structured(["c"], Verdict)
    assert server.count() == 8 and one.usage.repairs == 1 and one.usage.unparsed == 1


@pytest.mark.parametrize("bad", [-1, 1.5, "2", None])
def test_bad_max_repairs_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="max_repairs"):
        ChatModel("fake", base_url="http://127.0.0.1:9/v1", max_repairs=bad)


# ----------------------------------------------------------------------------- cost of a raw batch
def test_estimate_cost_equals_the_requests_made(fresh_cache, fake_llm):
    server = fake_llm(lambda m, b: '{"label": "x", "score": 1}')
    llm = ChatModel("fake", base_url=server.base_url, progress=False, max_tokens=50)
    prompts = [f"rate review {i}" for i in range(10)] + ["rate review 0"]  # a repeat is asked once
    cold = llm.estimate_cost(prompts, Verdict)
    assert (cold.calls, cold.cached, cold.requests) == (11, 1, 10)
    assert cold.completion_tokens == 10 * 50 and cold.tokenizer == "estimate: chars/4"  # no tiktoken file offline
    assert cold.prompt_tokens > 10 * 30  # the schema instruction is in every prompt
    assert cold.price(0.15, 0.60) == pytest.approx(cold.prompt_tokens * 0.15e-6 + 500 * 0.60e-6)
    assert server.count() == 0  # estimating sends nothing

    llm.structured(prompts[:4], Verdict)
    warm = llm.estimate_cost(prompts, Verdict)
    assert (warm.calls, warm.cached, warm.requests) == (11, 5, 6)
    before = server.count()
    llm.structured(prompts, Verdict)
    assert server.count() - before == warm.requests == 6
    assert llm.estimate_cost(prompts, Verdict).requests == 0
    chat = llm.estimate_cost(["hi", "hello"], max_tokens=7)  # chat(): no schema
    assert (chat.requests, chat.completion_tokens) == (2, 14)
    assert isinstance(cold + chat, CostEstimate) and (cold + chat).calls == 13


def test_estimate_cost_follows_cached_repairs(fresh_cache, fake_llm):
    """An answer cached broken, its repair not cached yet: one request (the repair), as the real call."""
    answers = iter(['{"label": "x"', '{"label": "x", "score": 3}'])
    server = fake_llm(lambda m, b: next(answers))
    llm = ChatModel("fake", base_url=server.base_url, max_repairs=0, progress=False)
    assert llm.structured(["p"], Verdict, on_error="none") == [None]
    llm = ChatModel("fake", base_url=server.base_url, max_repairs=1, progress=False)
    estimate = llm.estimate_cost(["p"], Verdict)
    assert estimate.requests == 1
    assert llm.structured(["p"], Verdict)[0].score == 3 and server.count() == 2


# ----------------------------------------------------------------------------- cost of a fit / predict
def distinct_reviews(n, seed=0):
    texts, labels = reviews(n, seed)
    return [f"{t} (review {i})" for i, t in enumerate(texts)], labels


MODELS = {
    "llm": lambda llm: ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm", n_rounds=2),
    "distill": lambda llm: ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="distill", n_distill=15,
                                             n_rounds=2),
    "rulelist": lambda llm: RuleListClassifier(llm=llm, embedder=HashEmbedder(), measure="llm", n_rounds=1,
                                               n_proposed_rules=2),
    "regressor": lambda llm: ConceptRegressor(llm=llm, embedder=HashEmbedder(), measure="llm", n_rounds=1),
    "tree": lambda llm: ConceptTreeClassifier(llm=llm, embedder=HashEmbedder(), measure="distill", n_distill=12,
                                              n_rounds=2, n_proposed_rules=2),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_estimator_estimate_cost_equals_requests_cold_and_half_warm(fresh_cache, fake_llm, kind):
    server = fake_llm(scripted)
    texts, labels = reviews(30)  # with repeated texts: each is asked once
    if kind == "regressor":
        labels = (labels == "pos") * 2.0 + np.arange(30) % 3
    make = lambda **o: ChatModel("fake", base_url=server.base_url, progress=False, max_concurrency=1, **o)  # noqa: E731

    cold = MODELS[kind](make()).estimate_cost(texts, labels)
    assert server.count() == 0
    model = MODELS[kind](make()).fit(texts, labels)
    assert server.count() == cold.requests == cold.calls and cold.cached == 0
    assert cold.notes and "exact" in cold.notes[0]  # the measurement prompts were not known: said so

    # half-warm: a fit stopped by its budget half-way, then estimated and resumed in a new cache state
    server.requests.clear()
    texts2, labels2 = reviews(30, seed=1)
    if kind == "regressor":
        labels2 = (labels2 == "pos") * 2.0 + np.arange(30) % 3
    with pytest.raises(BudgetExceededError):
        MODELS[kind](make(max_calls=9)).fit(texts2, labels2)
    assert server.count() == 9
    half = MODELS[kind](make()).estimate_cost(texts2, labels2)
    assert half.cached > 0 and not half.notes  # every proposal cached: the prompts are known exactly
    before = server.count()
    MODELS[kind](make()).fit(texts2, labels2)
    assert server.count() - before == half.requests
    assert MODELS[kind](make()).estimate_cost(texts2, labels2).requests == 0  # now all cached

    # predict: cold, then half-warm
    new = [f"{t} again" for t in texts[:12]]
    per_text = kind in ("llm", "rulelist", "regressor")  # distilled probes predict without the chat model
    expected = len(set(new)) if per_text else 0
    first = model.estimate_cost(new[:6])
    before = server.count()
    model.predict(new[:6])
    assert server.count() - before == first.requests == (len(set(new[:6])) if per_text else 0)
    whole = model.estimate_cost(new)
    before = server.count()
    model.predict(new)
    assert server.count() - before == whole.requests == expected - first.requests


def test_token_counts_use_tiktoken_only_when_its_file_is_on_disk(tmp_path, monkeypatch):
    import sys
    import types

    from nlmodels.llm import cost

    fake = types.ModuleType("tiktoken")
    fake.get_encoding = lambda name: types.SimpleNamespace(encode=lambda text, disallowed_special=(): text.split())
    fake.model = types.ModuleType("tiktoken.model")
    fake.model.encoding_name_for_model = lambda model: {"gpt-4o-mini": "o200k_base"}[model]
    monkeypatch.setitem(sys.modules, "tiktoken", fake)
    monkeypatch.setitem(sys.modules, "tiktoken.model", fake.model)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cost, "_COUNTERS", {})
    assert cost.token_counter("gpt-4o-mini")[0] == "estimate: chars/4"  # tiktoken would download: not here
    assert cost.token_counter("my-local-model")[0] == "estimate: chars/4"  # a name tiktoken does not know
    import hashlib

    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_text("ranks")
    monkeypatch.setattr(cost, "_COUNTERS", {})
    name, count = cost.token_counter("gpt-4o-mini")
    assert name == "tiktoken:o200k_base" and count("three short words") == 3


def test_batch_refit_makes_no_request_at_all(fresh_cache, tmp_path):
    server = BatchServer(verdict_answer)
    try:
        prompts = [f"p {i}" for i in range(8)]
        batch_llm(server, tmp_path).structured(prompts, Verdict)
        seen = len(server.requests), server.retrieves, server.lists
        assert len(batch_llm(server, tmp_path).structured(prompts, Verdict)) == 8
        # no upload, no batch, no status check, no new Batch API check: nothing at all reaches the server
        assert (len(server.requests), server.retrieves, server.lists) == seen
    finally:
        server.close()


def test_estimate_cost_without_chat_model_and_bad_input():
    model = ConceptClassifier(embedder=HashEmbedder())
    assert model.estimate_cost(["a b c", "d e f"], ["x", "y"]).calls == 0
    llm = ChatModel("fake", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="row 1"):
        ConceptClassifier(llm=llm, measure="llm").estimate_cost(["fine", None], ["a", "b"])


# ----------------------------------------------------------------------------- the Batch API
def batch_llm(server, tmp_path, **options):
    return ChatModel("fake", base_url=server.base_url, api_key="sk-SENTINEL-batch-key-123", batch=True,
                     batch_dir=str(tmp_path / "batches"), batch_poll_interval=0, batch_min_size=5,
                     progress=False, **options)


def verdict_answer(messages, body):
    return json.dumps({"label": "short" if len(messages[1]["content"]) < 12 else "long", "score": 1})


def test_batch_uploads_once_and_answers_from_the_output_file(fresh_cache, tmp_path):
    server = BatchServer(verdict_answer, polls_in_progress=2)
    try:
        prompts = [f"prompt {i}" * (1 + i % 3) for i in range(20)]
        llm = batch_llm(server, tmp_path)
        answers = llm.structured(prompts, Verdict)
        assert server.uploads == 1 and server.creates == 1 and server.count() == 0  # no synchronous request
        assert server.retrieves >= 3  # validating -> in_progress (polled) -> completed
        assert [a.label for a in answers] == [json.loads(verdict_answer([None, {"content": p}], {}))["label"]
                                              for p in prompts]
        assert llm.usage.calls == llm.usage.batched == 20 and llm.usage.cached == 0
        lines = server.sent_lines()
        assert len(lines) == 20 and {line["url"] for line in lines} == {"/v1/chat/completions"}
        assert all(set(line) == {"custom_id", "method", "url", "body"} for line in lines)
        on_disk = "".join(p.read_text() for p in (tmp_path / "batches").iterdir())
        assert "SENTINEL" not in on_disk and "SENTINEL" not in json.dumps(lines)  # the key is in no file
        again = ChatModel("fake", base_url=server.base_url, progress=False)
        assert again.structured(prompts, Verdict) == answers and server.count() == 0  # cached
    finally:
        server.close()


def test_failed_lines_go_the_synchronous_way_and_expired_batch_raises(fresh_cache, tmp_path):
    prompts = [f"text number {i}" for i in range(12)]
    server = BatchServer(verdict_answer, fail_line=lambda cid, body: "number 3" in body["messages"][1]["content"])
    try:
        answers = batch_llm(server, tmp_path).structured(prompts, Verdict)
        assert all(a is not None for a in answers) and server.count() == 1  # the failed line, synchronously
    finally:
        server.close()
    server = BatchServer(verdict_answer, expire=True, expire_after=7)
    try:
        llm = batch_llm(server, tmp_path / "second", cache_dir=str(tmp_path / "cache2"))
        with pytest.raises(LLMError, match="expired.*7 of 12"):
            llm.structured(prompts, Verdict)
        sync = ChatModel("fake", base_url=server.base_url, cache_dir=str(tmp_path / "cache2"), progress=False)
        assert len(sync.structured(prompts, Verdict)) == 12 and server.count() == 5  # finished lines were kept
    finally:
        server.close()


def test_killed_while_polling_restarts_on_the_same_batch(fresh_cache, tmp_path, monkeypatch):
    import nlmodels.llm.batch as batch_module

    server = BatchServer(verdict_answer, polls_in_progress=1)
    try:
        prompts = [f"item {i}" for i in range(10)]

        def killed(seconds):
            raise KeyboardInterrupt("killed while polling")

        monkeypatch.setattr(batch_module.time, "sleep", killed)
        with pytest.raises(KeyboardInterrupt):
            batch_llm(server, tmp_path).structured(prompts, Verdict)
        assert server.uploads == 1 and server.creates == 1
        [batch_id] = server.batches
        monkeypatch.undo()
        answers = batch_llm(server, tmp_path).structured(prompts, Verdict)  # a new client, as a new process
        assert server.uploads == 1 and server.creates == 1 and list(server.batches) == [batch_id]
        assert len(answers) == 10 and server.count() == 0
    finally:
        server.close()


@pytest.mark.parametrize("killed_at", ["after upload", "after create"])
def test_killed_before_the_id_was_written_finds_its_upload_and_batch(fresh_cache, tmp_path, monkeypatch, killed_at):
    """A kill between the server's answer and the state file: the restart finds the file (by its
    name) and the batch (by its input file) on the server instead of making them again."""
    import nlmodels.llm.batch as batch_module

    server = BatchServer(verdict_answer)
    try:
        prompts = [f"item {i}" for i in range(10)]
        save, saves = batch_module._save, []

        def dies(path, state):
            saves.append(dict(state))
            if ("batch_id" if killed_at == "after create" else "input_file_id") in state:
                raise KeyboardInterrupt("killed before the id reached the disk")
            save(path, state)

        monkeypatch.setattr(batch_module, "_save", dies)
        with pytest.raises(KeyboardInterrupt):
            batch_llm(server, tmp_path).structured(prompts, Verdict)
        monkeypatch.undo()
        assert server.uploads == 1 and server.creates == (1 if killed_at == "after create" else 0)
        answers = batch_llm(server, tmp_path).structured(prompts, Verdict)
        assert server.uploads == 1 and server.creates == 1 and len(answers) == 10 and server.count() == 0
    finally:
        server.close()


def test_batch_against_a_server_without_the_batch_api_fails_before_any_call(fresh_cache, fake_llm, tmp_path):
    server = fake_llm(verdict_answer)
    with pytest.raises(LLMError, match="Batch API"):
        batch_llm(server, tmp_path).structured([f"p{i}" for i in range(10)], Verdict)
    assert server.count() == 0
    with pytest.raises(ValueError, match="use_cache"):
        ChatModel("fake", base_url=server.base_url, batch=True, use_cache=False)


def test_batch_file_for_vllm_run_batch_round_trip(fresh_cache, fake_llm, tmp_path):
    """write_batch_file -> (run elsewhere: here by hand, as vllm run-batch would) -> read_batch_output."""
    server = fake_llm(verdict_answer)
    llm = ChatModel("fake", base_url=server.base_url, api_key="sk-SENTINEL-file-key-999", progress=False)
    prompts = [f"review {i}" for i in range(6)]
    path = tmp_path / "requests.jsonl"
    assert llm.write_batch_file(prompts, Verdict, path=path) == 6
    assert "SENTINEL" not in path.read_text()
    out = tmp_path / "output.jsonl"
    with out.open("w") as f:
        for i, line in enumerate(map(json.loads, path.read_text().splitlines())):
            body = {"id": "x", "object": "chat.completion", "created": 0, "model": "fake",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": verdict_answer(line["body"]["messages"], {})}}]}
            response = {"status_code": 200, "request_id": "r", "body": body} if i != 2 else \
                {"status_code": 500, "request_id": "r", "body": {"error": {"message": "boom"}}}
            f.write(json.dumps({"id": f"b{i}", "custom_id": line["custom_id"], "response": response, "error": None}) + "\n")
    read = llm.read_batch_output(out)
    assert read["answers"] == 5 and len(read["failed"]) == 1 and "boom" in next(iter(read["failed"].values()))
    assert len(llm.structured(prompts, Verdict)) == 6 and server.count() == 1  # only the failed line is asked


def test_two_thousand_text_fit_through_one_batch_equals_the_synchronous_fit(fresh_cache, tmp_path):
    server = BatchServer(scripted, polls_in_progress=1)
    try:
        texts, labels = distinct_reviews(2000)
        llm = ChatModel("fake", base_url=server.base_url, batch=True, batch_poll_interval=0,
                        max_concurrency=16, progress=False)
        batched = ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm").fit(texts, labels)
        assert server.uploads == 1 and server.creates == 1
        assert measurement_requests(server) == 0 and server.count() == 2  # the two proposal rounds only
        assert len(server.sent_lines()) == 2000
        sync_llm = ChatModel("fake", base_url=server.base_url, cache_dir=str(tmp_path / "sync"),
                             max_concurrency=16, progress=False)
        synced = ConceptClassifier(llm=sync_llm, embedder=HashEmbedder(), measure="llm").fit(texts, labels)
        assert measurement_requests(server) == 2000
        assert [c.text for c in batched.concepts_] == [c.text for c in synced.concepts_]
        np.testing.assert_array_equal(batched.coef_, synced.coef_)
        np.testing.assert_array_equal(batched.intercept_, synced.intercept_)
    finally:
        server.close()


# ----------------------------------------------------------------------------- the real llama.cpp server
@pytest.mark.server
def test_estimate_cost_and_repairs_against_real_server(fresh_cache, smollm):
    """SmolLM2 answers at chance: the path and the counts are checked, never the answers. Requests
    the server sees = the estimate's requests + the repairs the client counted."""
    texts, labels = reviews(10)
    llm = ChatModel("smollm2", base_url=smollm.base_url, max_concurrency=2, max_tokens=120, max_repairs=1)
    llm.structured(["Reply with a label and a score."], Verdict, on_error="none")  # finds llama.cpp's format
    smollm.requests.clear()
    model = ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm", n_rounds=1, questions_per_round=2,
                              concepts=["Does the text praise the film?"], on_error="missing")
    estimate = model.estimate_cost(texts, labels)
    assert smollm.count() == 0 and estimate.calls == 1 + len(set(texts)) and estimate.cached == 0
    repairs = llm.usage.repairs
    try:
        model.fit(texts, labels)
    except ValueError as error:  # the tiny model wrote no usable question (the expert one stays): a path failure
        pytest.fail(f"fit failed: {error}")
    assert smollm.count() == estimate.requests + (llm.usage.repairs - repairs)
    assert all(body.get("response_format", {}).get("type") == "json_object" for _, body in smollm.requests)

    later = [f"{t}, really" for t in texts[:4]]
    predict_estimate = model.estimate_cost(later)
    before, repairs = smollm.count(), llm.usage.repairs
    assert model.predict_proba(later).shape == (4, 2)
    assert smollm.count() - before == predict_estimate.requests + (llm.usage.repairs - repairs) >= 4
    assert model.estimate_cost(later).requests == 0


@pytest.mark.server
def test_batch_paths_against_real_server(fresh_cache, smollm, tmp_path):
    """llama.cpp has no Batch API: batch=True says so before any call. The batch file format is the
    one its chat endpoint takes: each line's body is sent as is (what vllm run-batch does) and the
    answers read back make the real call free."""
    with pytest.raises(LLMError, match="Batch API"):
        ChatModel("smollm2", base_url=smollm.base_url, batch=True).chat(["Say hi."])
    assert smollm.count() == 0

    import openai

    llm = ChatModel("smollm2", base_url=smollm.base_url, max_tokens=16, progress=False)
    prompts = ["Say hello.", "Name a colour.", "Name a fruit."]
    path, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    assert llm.write_batch_file(prompts, path=path) == 3
    client = openai.OpenAI(base_url=smollm.base_url, api_key="unused")
    with out.open("w") as f:
        for line in map(json.loads, path.read_text().splitlines()):
            assert line["url"] == "/v1/chat/completions" and line["method"] == "POST"
            body = client.chat.completions.create(**line["body"]).model_dump()
            f.write(json.dumps({"custom_id": line["custom_id"], "error": None,
                                "response": {"status_code": 200, "body": body}}) + "\n")
    assert llm.read_batch_output(out)["answers"] == 3
    before = smollm.count()
    answers = llm.chat(prompts)
    assert smollm.count() == before and all(isinstance(a, str) for a in answers)
    assert llm.usage.batched == llm.usage.calls == 3 and llm.usage.cached == 0  # counted once, as batch answers


@pytest.mark.server
def test_cut_short_answers_are_repaired_against_real_server(fresh_cache, smollm):
    """max_tokens=6 cuts every JSON answer short: the original request and max_repairs repairs reach
    the server, each repair quoting the validation error, then the item fails; all of it is cached."""
    llm = ChatModel("smollm2", base_url=smollm.base_url, max_tokens=6, max_repairs=2, progress=False)
    assert llm.structured(["Give a label and a score for: 'a fine film'."], Verdict, on_error="none") == [None]
    bodies = [body for path, body in smollm.requests if path.endswith("/chat/completions")
              and body.get("response_format", {}).get("type") == "json_object"]
    assert len(bodies) == 3 and llm.usage.repairs == 2 and llm.usage.unparsed == 1
    assert "not valid for the schema" in bodies[-1]["messages"][-1]["content"]
    assert len(bodies[-1]["messages"]) == len(bodies[0]["messages"]) + 4  # the conversation so far, twice
    before = smollm.count()
    again = ChatModel("smollm2", base_url=smollm.base_url, max_tokens=6, max_repairs=2, progress=False)
    assert again.structured(["Give a label and a score for: 'a fine film'."], Verdict, on_error="none") == [None]
    assert smollm.count() == before and again.usage.cached == 3  # the failure is not bought twice


def test_batch_errors_never_carry_the_api_key(fresh_cache, tmp_path):
    server = BatchServer(verdict_answer, echo_key_on_upload=True)  # a 401 quoting the Authorization header
    try:
        with pytest.raises(LLMError) as info:
            batch_llm(server, tmp_path).structured([f"p{i}" for i in range(6)], Verdict)
        assert "AuthenticationError" in str(info.value) and "[api key]" in str(info.value)
        import traceback

        assert "SENTINEL" not in "".join(traceback.format_exception(info.value))  # nor in the traceback
    finally:
        server.close()


def test_estimate_cost_plans_predict_against_the_chat_model_it_will_use(fresh_cache, fake_llm):
    """A chat model set after the fit is not the one predict asks (the measurer keeps its own): the
    estimate plans each call against the cache of the chat model that will make it."""
    server = fake_llm(scripted)
    texts, labels = reviews(30)
    make = lambda name: ChatModel(name, base_url=server.base_url, progress=False, max_concurrency=1)  # noqa: E731
    model = MODELS["llm"](make("fake")).fit(texts, labels)
    new = [f"{t} again" for t in texts[:6]]
    MODELS["llm"](make("other")).fit(texts + new, list(labels) + list(labels[:6]))   # "other" has them cached
    model.set_params(llm=make("other"))
    estimate = model.estimate_cost(new)
    before = server.count()
    model.predict(new)
    assert server.count() - before == estimate.requests == len(set(new))
    assert model.estimate_cost(new).requests == 0   # now cached for the measurer's own chat model
