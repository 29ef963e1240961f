"""Faults between the library and a chat model, counted at a fault-injecting server: transient
errors are retried and reported in ``usage``, permanent ones are reported by row or scored missing,
and a fit killed half-way resumes without repeating a finished call."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pydantic
import pytest

from faults import HashEmbedder, fault_server, measured_text  # noqa: F401  (fault_server: a fixture)
from nlmodels import ChatModel, ConceptClassifier, LLMBatchError, MissingAnswerWarning
from nlmodels.report import card_data
from textsets import reviews

TESTS = Path(__file__).parent

# 30% of requests fail, spread over every transient kind the SDK retries.
TRANSIENT_30 = {"429": 0.10, "500": 0.05, "503": 0.05, "drop": 0.05, "timeout": 0.05}


def llm_model(on_error="raise"):
    return ConceptClassifier(embedder=HashEmbedder(), measure="llm", n_rounds=1, on_error=on_error)


def test_fit_completes_with_30_percent_transient_faults(fresh_cache, fault_server):
    server = fault_server(rates=TRANSIENT_30, seed=1, max_faults_per_item=3, timeout_delay=2.5)
    texts, labels = reviews(24)
    llm = ChatModel("fake", base_url=server.base_url, max_retries=4, timeout=2.0, progress=False)
    model = llm_model().set_params(llm=llm).fit(texts, labels)

    faults = server.fault_counts()
    n_faults, n_requests = sum(faults.values()), len(server.log)
    print(f"\n{n_faults} of {n_requests} requests failed ({n_faults / n_requests:.0%}): {faults}; "
          f"usage {llm.usage.as_dict()}")
    assert n_faults / n_requests >= 0.2 and len(faults) >= 3  # the faults really happened, of several kinds
    assert {measured_text(body) for body in server.answered()} - {None} == set(texts)  # every text answered
    assert llm.usage.retries == n_faults  # each injected fault cost exactly one retry, and usage says so
    assert llm.usage.failures == 0 and llm.usage.unparsed == 0
    assert llm.usage.calls == len(server.answered()) == len(texts) + 1  # + the proposal

    before = len(server.log)
    answers = model.measurer_.answer(texts)  # all from the cache: complete, and no new request
    assert len(server.log) == before and not np.isnan(answers).any()
    assert (model.predict(texts) == labels).all()


def test_first_structured_calls_to_a_new_server_are_retried(fresh_cache, fault_server):
    """The first structured requests find out which response_format a server takes and go without the
    SDK's retries; a transient fault there used to fail the item for good."""
    for kind in ("429", "503", "drop"):
        faulted = []

        def first_two_fail(body, kind=kind):
            faulted.append(kind)
            return kind if len(faulted) <= 2 else None

        server = fault_server(lambda m, b: '{"answers": ["yes"]}', permanent=first_two_fail)
        llm = ChatModel("fake", base_url=server.base_url, max_retries=2, max_concurrency=1, progress=False)
        schema = pydantic.create_model("Answers", answers=(list[str], ...))
        assert [a.answers for a in llm.structured(["a", "b"], schema)] == [["yes"], ["yes"]], kind
        assert llm.usage.retries == 2 and llm.usage.failures == 0 and len(server.log) == 4, kind


def test_repairs_share_their_item_fault_budget(fresh_cache, fault_server):
    """The fault server's promise, which the 30% fault tests rest on: an item gets at most
    ``max_faults_per_item`` faults, its repair requests (new bodies, same opening) included. Every
    request is cut short here, so each item is repaired 3 times and the fourth answer gets through."""
    server = fault_server(lambda m, b: '{"answers": ["yes"]}', rates={"malformed": 1.0}, max_faults_per_item=3)
    llm = ChatModel("fake", base_url=server.base_url, max_repairs=3, progress=False)
    schema = pydantic.create_model("Answers", answers=(list[str], ...))
    assert [a.answers for a in llm.structured(["a", "b"], schema)] == [["yes"], ["yes"]]
    assert server.fault_counts() == {"malformed": 6} and llm.usage.repairs == 6 and len(server.log) == 8


# Rows whose measurement fails every time, and what the error message then says.
PERMANENT = {
    3: ("500", "InternalServerError"),
    5: ("schema", "does not match"),
    8: ("refusal", "does not match"),
    11: ("truncated", "not a chat completion"),
    14: ("malformed", "does not match"),
    17: ("not_completion", "not a chat completion"),
    20: ("drop", "APIConnectionError"),
}
TRANSPORT = {3, 11, 17, 20}  # no answer arrived: asked again on the next fit; the others were answers


def test_permanent_failures_are_reported_by_row_or_scored_missing(fresh_cache, fault_server, tmp_path):
    texts, labels = reviews(24)
    kind_of = {texts[row]: kind for row, (kind, _) in PERMANENT.items()}
    server = fault_server(permanent=lambda body: kind_of.get(measured_text(body)))
    llm = ChatModel("fake", base_url=server.base_url, max_retries=1, progress=False)

    with pytest.raises(LLMBatchError) as info:
        llm_model().set_params(llm=llm).fit(texts, labels)
    assert set(info.value.failures) == set(PERMANENT)  # failures by row (the batch is the rows, in order)
    for row, (kind, said) in PERMANENT.items():
        assert said in info.value.failures[row], (kind, info.value.failures[row])
    assert "item 3" in str(info.value) and "7 of 24" in str(info.value)
    assert llm.usage.failures == len(TRANSPORT) and llm.usage.unparsed == len(PERMANENT) - len(TRANSPORT)

    before = len(server.log)
    model = llm_model("missing").set_params(llm=llm).fit(texts, labels)
    asked_again = {measured_text(entry["body"]) for entry in server.log[before:]}
    assert asked_again == {texts[row] for row in TRANSPORT}  # finished answers, even unusable ones, are not re-bought

    bad = sorted(PERMANENT)
    good = [i for i in range(len(texts)) if i not in PERMANENT]
    scores = model.measurer_.transform(texts, None)
    assert np.isnan(scores[bad]).all() and not np.isnan(scores[good]).any()  # missing, not silently 0
    np.testing.assert_allclose(model.fill_values_, scores[good].mean(axis=0))  # documented: training means
    expected = model.intercept_[0] + model.fill_values_ @ model.coef_[0]
    with pytest.warns(UserWarning, match=r"7 of 7 texts got no usable answer from the chat model \(rows 0, 1, 2"):
        np.testing.assert_allclose(model.decision_function([texts[r] for r in bad]), expected)
    for method in (model.predict, model.predict_proba, model.explain):   # the warning points at the caller's line
        with pytest.warns(UserWarning, match="no usable answer") as caught:
            method([texts[r] for r in bad])
        assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # texts that were answered: no warning
        assert (model.predict([texts[r] for r in good]) == labels[good]).all()
    # what was lost is said: in the record, the printed model (its last line) and the card
    assert model.training_["texts_without_answer"] == len(PERMANENT)
    assert str(model).splitlines()[-1] == (f"the chat model gave no usable answer for {len(PERMANENT)} of 24 "
                                           "training texts (on_error='missing'): their missing scores are each "
                                           "column's training mean")
    with pytest.warns(MissingAnswerWarning) as caught:   # a warning category a user can filter; it names the rows
        model.predict(texts)
    assert [w.message.rows for w in caught] == [bad] and caught[0].message.n_texts == 24
    for plots in (False, True):   # the card measures the test texts several times and says so once
        with pytest.warns(MissingAnswerWarning) as caught:
            card = Path(model.report(texts, labels, tmp_path / "card.md", plots=plots)).read_text()
        assert len(caught) == 1 and caught[0].filename == __file__, [str(w.message) for w in caught]
    assert "unreadable (a failed or unreadable answer leaves a missing score" in card
    assert f"no usable answer for {len(PERMANENT)} of 24 training texts" in card
    assert f"| test texts without a usable chat answer | {len(PERMANENT)} (scored with the training means" in card
    assert (f"The chat model gave no usable answer for {len(PERMANENT)} of 24 test texts (on_error='missing'): "
            "their missing scores are the training means, so their predictions, and the metrics above") in card
    with pytest.warns(MissingAnswerWarning):   # the card asks each test text once: its counts are of these texts
        usage = card_data(model, texts, labels)["usage"]["card"]
    assert usage["failures"] + usage["unparsed"] == len(PERMANENT)   # one failure per text without an answer
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # answered test texts: no such line, no warning
        data = card_data(model, [texts[i] for i in good], labels[good])
    assert data["test"]["texts_without_answer"] == 0 and not any("test texts (on_error" in t
                                                                  for t in data["limitations"])


def test_a_rule_card_warns_for_its_own_explained_text_as_well(fresh_cache, fault_server):
    """The card is quiet about repeats of its test texts' missing answers, not about a text of the
    user's own that it explains (explain_text=) and that got no answer either."""
    from nlmodels import RuleListClassifier

    texts, labels = reviews(40)
    train, y_train, test, y_test = texts[:24], labels[:24], texts[24:36], labels[24:36]
    own = texts[37]
    server = fault_server(permanent=lambda body: "refusal" if measured_text(body) in {test[0], own} else None)
    llm = ChatModel("fake", base_url=server.base_url, max_retries=0, progress=False)
    model = RuleListClassifier(embedder=HashEmbedder(), measure="llm", llm=llm, n_rounds=1,
                               on_error="missing").fit(train, y_train)
    with pytest.warns(MissingAnswerWarning) as caught:
        card_data(model, test, y_test, explain_text=own)
    assert sorted(w.message.n_texts for w in caught) == [1, len(test)]   # the test texts once, the own text once
    with pytest.warns(MissingAnswerWarning) as caught:
        card_data(model, test, y_test)   # the explained text is a test text: said once, with them
    assert [w.message.n_texts for w in caught] == [len(test)]


SCRIPT = """
import sys
from nlmodels import ChatModel, ConceptClassifier
from faults import HashEmbedder
from textsets import reviews

texts, labels = reviews(int(sys.argv[2]))
llm = ChatModel("fake", base_url=sys.argv[1], max_concurrency=4, progress=False)
ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm", n_rounds=1).fit(texts, labels)
print("finished")
"""


def test_fit_killed_midway_resumes_without_repeating_finished_calls(fresh_cache, fault_server, tmp_path):
    n_texts, n_finished = 30, 13  # the proposal and 12 measurements finish, then the server hangs
    server = fault_server(latency=0.05, hold_after=n_finished)
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(TESTS), "NLMODELS_CACHE_DIR": str(fresh_cache)}
    child = subprocess.Popen([sys.executable, str(script), server.base_url, str(n_texts)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (len(server.answered()) == n_finished and server.held()):
            assert child.poll() is None, child.stdout.read()
            assert time.monotonic() < deadline, "the child never reached the kill point"
            time.sleep(0.05)
        time.sleep(0.5)  # the last answers reach the child's cache; the held calls stay in flight
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    finished = [json.dumps(body["messages"]) for body in server.answered()]
    in_flight = server.held()
    before = len(server.log)

    server.hold_after = None
    server.release()
    texts, labels = reviews(n_texts)
    llm = ChatModel("fake", base_url=server.base_url, max_concurrency=4, progress=False)
    model = ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm", n_rounds=1).fit(texts, labels)

    rerun = [json.dumps(entry["body"]["messages"]) for entry in server.log[before:]]
    print(f"\nkilled after {n_finished} finished calls with {in_flight} in flight; the rerun made {len(rerun)} calls")
    assert not set(rerun) & set(finished)  # no finished call repeated
    assert len(rerun) == len(set(rerun)) == n_texts + 1 - n_finished  # and every other call made once
    assert llm.usage.cached == n_finished  # the proposal and the measurements done before the kill
    assert (model.predict(texts) == labels).all()


# 30% of requests fail: a third of them with an answer whose JSON is cut short, the rest 429 or 500.
FLAKY_30 = {"malformed": 0.10, "429": 0.10, "500": 0.10}
SMS_QUESTIONS = ["Does the message offer a prize, cash or something free?",
                 "Does the message ask the reader to call or text a number?",
                 "Is the message a personal chat between people who know each other?"]


def sms_answers(messages, body):
    """A scripted chat model for SMS texts; a repair request is answered from the original prompt."""
    prompt = next(m["content"] for m in messages if m["role"] == "user")
    if "yes/no questions" in prompt:
        return json.dumps({"questions": SMS_QUESTIONS})
    text = prompt.split("</text>")[0].lower()
    words = (("prize", "cash", "free", "won", "win", "£"), ("call", "txt", "text", "reply"), ("i ", "you", "me "))
    return json.dumps({"answers": ["yes" if any(w in text for w in ws) else "no" for ws in words]})


SMS_SCRIPT = """
import sys
from nlmodels import ChatModel, ConceptClassifier
from nlmodels.data import load_sms_spam_sample
from faults import HashEmbedder

data = load_sms_spam_sample().head(60)
llm = ChatModel("fake", base_url=sys.argv[1], max_retries=8, max_repairs=3, progress=False)  # as the first fit
ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm").fit(list(data.text), data.label)
print(llm.usage.calls, llm.usage.cached)
"""


def test_fit_survives_30_percent_faults_with_cut_short_json_and_refits_from_cache(fresh_cache, fault_server,
                                                                                   tmp_path):
    from nlmodels.data import load_sms_spam_sample

    data = load_sms_spam_sample().head(60)
    texts = list(data.text)
    server = fault_server(sms_answers, rates=FLAKY_30, seed=1, max_faults_per_item=3)
    llm = ChatModel("fake", base_url=server.base_url, max_retries=8, max_repairs=3, timeout=30.0, progress=False)
    model = ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm").fit(texts, data.label)

    faults = server.fault_counts()
    n_faults, n_requests = sum(faults.values()), len(server.log)
    print(f"\n{n_faults} of {n_requests} requests failed ({n_faults / n_requests:.0%}): {faults}; "
          f"usage {llm.usage.as_dict()}")
    assert 0.2 <= n_faults / n_requests and faults.get("malformed", 0) >= 3 and len(faults) == 3
    assert llm.usage.failures == 0 and llm.usage.unparsed == 0
    assert llm.usage.repairs == faults["malformed"]  # each cut-short answer cost one repair ...
    assert llm.usage.retries == faults["429"] + faults["500"]  # ... each 429/500 one retry by the SDK
    answers = model.measurer_.answer(texts)
    assert not np.isnan(answers).any()  # every text measured
    expected = [json.loads(sms_answers([{"role": "user", "content": model.measurer_.prompt(t)}], {}))["answers"]
                for t in texts]
    np.testing.assert_array_equal(answers, np.array(expected) == "yes")  # ... with the model's real answers

    script = tmp_path / "refit.py"
    script.write_text(SMS_SCRIPT)
    before = len(server.log)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
           "NLMODELS_CACHE_DIR": str(fresh_cache)}
    done = subprocess.run([sys.executable, str(script), server.base_url], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(server.log) == before  # a second fit in a new process: 0 requests
    assert done.stdout.split()[0] == "0"
