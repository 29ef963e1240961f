"""JSON export and reload, pickle persistence, and that no API key is ever written anywhere."""

import json
import logging
import pickle
import re
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

import nlmodels
from nlmodels import ChatModel, ConceptClassifier, ConceptRegressor, OpenAIEmbedder, QuestionEmbedder
from textsets import BAD, GOOD, reviews, topics

SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "model-json-schema.json").read_text())
KEY_ENV = "sk-SENTINEL-env-7f3a9c0e1b2d4f6a8c0e"
KEY_ARG = "sk-SENTINEL-arg-2b4d6f8a0c1e3a5b7d9f"


def _matches(value, schema) -> bool:
    try:
        check_schema(value, schema)
    except AssertionError:
        return False
    return True


def check_schema(value, schema, path="$"):
    """The subset of JSON Schema the model schema uses: type, enum, required, properties, items, $ref,
    and allOf of if/then (what each estimator's document must hold besides the common fields)."""
    for branch in schema.get("allOf", []):
        if _matches(value, branch["if"]):
            check_schema(value, branch["then"], path)
    if "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].split("/")[-1]]
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        python = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float),
                  "boolean": bool, "null": type(None)}
        assert any(isinstance(value, python[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                   for t in types), f"{path}: {type(value).__name__} is not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing {key!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check_schema(value[key], sub, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(item, schema["items"], f"{path}[{i}]")


@pytest.fixture(scope="module")
def binary():
    texts, labels = reviews(80)
    return ConceptClassifier(max_concepts=6).fit(texts, labels)


@pytest.fixture(scope="module")
def held_out():
    texts, _ = reviews(40, seed=7)
    return texts + ["a film", "the cast was there", "nothing to say about it"]


def test_json_round_trip_predicts_exactly_the_same(binary, held_out, tmp_path):
    path = binary.to_json(tmp_path / "model.json")
    loaded = nlmodels.load(path)
    assert type(loaded) is ConceptClassifier
    assert np.abs(loaded.predict_proba(held_out) - binary.predict_proba(held_out)).max() == 0
    assert np.array_equal(loaded.decision_function(held_out), binary.decision_function(held_out))
    predicted = loaded.predict(held_out)
    assert predicted.dtype == binary.predict(held_out).dtype and list(predicted) == list(binary.predict(held_out))
    assert str(loaded) == str(binary)
    assert loaded.get_params()["max_concepts"] == 6
    frame = loaded.explain(held_out[:3])
    np.testing.assert_array_equal(frame.to_numpy(), binary.explain(held_out[:3]).to_numpy())


def test_round_trip_multiclass_with_integer_labels_and_regressor(tmp_path):
    texts, labels = topics(12)
    codes = {"money": 3, "science": 7, "sport": 11}
    y = np.array([codes[v] for v in labels])
    clf = ConceptClassifier(max_concepts=5).fit(texts, y)
    new = ["the striker scored again", "profit fell", "a new planet", "the lab team won"]
    loaded = nlmodels.load(clf.to_json(tmp_path / "clf.json"))
    assert np.abs(loaded.predict_proba(new) - clf.predict_proba(new)).max() == 0
    assert loaded.classes_.dtype == clf.classes_.dtype and list(loaded.predict(new)) == list(clf.predict(new))

    rev, rev_labels = reviews(60)
    target = np.where(rev_labels == "pos", 4.0, 1.0) + np.arange(60) % 3 * 0.1
    reg = ConceptRegressor(max_concepts=4).fit(rev, target)
    loaded = nlmodels.load(reg.to_json(tmp_path / "reg.json"))
    assert type(loaded) is ConceptRegressor
    assert np.abs(loaded.predict(new) - reg.predict(new)).max() == 0
    doc = json.loads((tmp_path / "reg.json").read_text())
    assert doc["task"] == "regression" and doc["head"]["link"] == "identity"
    assert set(doc["training_data"]["target"]) == {"min", "mean", "max", "std"}

    qe = QuestionEmbedder(concepts=["Does the text praise something?"]).fit(rev, rev_labels)
    loaded = nlmodels.report.from_dict(json.loads(json.dumps(nlmodels.report.to_dict(qe))))
    assert np.array_equal(loaded.transform(new), qe.transform(new))


def test_json_is_plain_documented_and_complete(binary, tmp_path):
    path = binary.to_json(tmp_path / "model.json")
    doc = json.loads(Path(path).read_text())
    check_schema(doc, SCHEMA)
    assert doc["library"] == {"name": "nlmodels", "version": nlmodels.__version__}
    assert doc["estimator"] == "ConceptClassifier" and doc["task"] == "classification"
    identity = doc["embedder"]["identity"]
    assert identity["name"] == "all-MiniLM-L6-v2" and re.fullmatch(r"[0-9a-f]{64}", identity["weights_sha256"])
    assert doc["chat_model"] is None
    assert doc["classes"]["values"] == ["neg", "pos"]
    assert doc["head"]["threshold"] == 0.0 and doc["head"]["link"] == "logistic"
    # every concept: its sentence, its phrases, its weights = the head's numbers = the printed ones
    coef = np.array(doc["head"]["coef"]["data"])
    S = len(doc["measurer"]["signals"])
    assert [c["text"] for c in doc["concepts"]] == [c.text for c in binary.concepts_]
    for k, concept in enumerate(doc["concepts"]):
        assert (concept["phrases"] and concept["source"] == "data") or \
            (concept["source"] == "prototype" and concept["examples"] and not concept["phrases"])
        assert [concept["weights"][s][0] for s in doc["measurer"]["signals"]] == list(coef[0, k * S:(k + 1) * S])
        direction = "toward 'pos'" if concept["total_weight"][0] > 0 else "toward 'neg'"
        assert f"{concept['total_weight'][0]:+8.3f}  {direction}: {concept['name']}" in doc["printed"]
    assert doc["measurer"]["probe_weights"]["shape"] == [384, len(doc["concepts"])]
    # training data: size, class balance, date
    training = doc["training_data"]
    assert training["n_texts"] == 80
    assert {c["label"]: c["count"] for c in training["classes"]} == {"neg": 40, "pos": 40}
    assert re.match(r"\d{4}-\d\d-\d\dT", training["date"])
    assert doc["edits"] == []


def test_pickle_and_joblib_round_trip(binary, held_out, tmp_path):
    joblib.dump(binary, tmp_path / "model.joblib")
    again = joblib.load(tmp_path / "model.joblib")
    assert np.abs(again.predict_proba(held_out) - binary.predict_proba(held_out)).max() == 0
    assert str(pickle.loads(pickle.dumps(binary))) == str(binary)


def test_load_checks_the_file_and_the_embedder(binary, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        nlmodels.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        nlmodels.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not an nlmodels model file"):
        nlmodels.load(tmp_path / "other.json")
    doc = json.loads(binary.to_json())
    doc["format_version"] = 99
    (tmp_path / "future.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="format version 99"):
        nlmodels.load(tmp_path / "future.json")
    doc = json.loads(binary.to_json())
    doc["embedder"]["identity"]["weights_sha256"] = "0" * 64
    (tmp_path / "other_weights.json").write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match="embedder differs"):
        nlmodels.load(tmp_path / "other_weights.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlmodels.load(binary.to_json(tmp_path / "same.json"))  # the same embedder: no warning


def test_unfitted_or_unknown_estimators_are_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ConceptClassifier().to_json()
    with pytest.raises(TypeError, match="cannot be exported"):
        nlmodels.report.to_dict(object())


# ---------------------------------------------------------------------- chat models and keys
def scripted(messages, body):
    prompt = messages[-1]["content"]
    if "yes/no questions" in prompt:
        return json.dumps({"questions": ["Does the text praise something?", "Does the text complain about something?"]})
    found = re.search(r"<text>(.*?)</text>", prompt, re.S)
    if found is None:
        return messages[-2]["content"]
    text = found.group(1)
    asked = re.findall(r"^\d+\. (.*)$", prompt, re.M)
    answers = ["yes" if any(w in text for w in (GOOD if "praise" in q else BAD)) else "no" for q in asked]
    return json.dumps({"answers": answers})


@pytest.mark.parametrize("measure", ["llm", "distill"])
def test_chat_model_round_trip_carries_identity_and_no_key(measure, fresh_cache, fake_llm, monkeypatch, tmp_path,
                                                          caplog, capsys):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", KEY_ENV)
    server = fake_llm(scripted)
    texts, labels = reviews(40)
    llm = ChatModel("fake-model", base_url=server.base_url, api_key=KEY_ARG)
    model = ConceptClassifier(llm=llm, measure=measure, n_rounds=1, n_distill=30).fit(texts, labels)
    new = ["a wonderful cast", "dull and dreadful", "the ending"]
    expected = model.predict_proba(new)

    path = model.to_json(tmp_path / "model.json")
    doc = json.loads(Path(path).read_text())
    check_schema(doc, SCHEMA)
    assert doc["chat_model"]["model"] == "fake-model" and doc["chat_model"]["server"] == server.base_url
    assert doc["measurer"]["type"] == measure
    assert doc["training_data"]["chat_usage"]["calls"] >= 1

    calls = server.count()
    loaded = nlmodels.load(path)  # a ChatModel for the recorded server; key from the environment
    assert loaded.llm.identity == llm.identity
    assert np.abs(loaded.predict_proba(new) - expected).max() == 0
    assert server.count() == calls  # answers for these texts are cached: no new call

    pickled = pickle.dumps(model)
    joblib.dump(model, tmp_path / "model.joblib")
    card = model.report(new + texts[:5], ["pos", "neg", "pos"] + list(labels[:5]), tmp_path / "card.html")
    md = model.report(new, ["pos", "neg", "pos"], tmp_path / "card.md")
    again = pickle.loads(pickled)
    assert np.abs(again.predict_proba(new) - expected).max() == 0
    captured = capsys.readouterr()
    written = {
        "pickle": pickled, "joblib": (tmp_path / "model.joblib").read_bytes(), "json": Path(path).read_bytes(),
        "html card": Path(card).read_bytes(), "markdown card": Path(md).read_bytes(),
        "logs": caplog.text.encode(), "stdout": captured.out.encode(), "stderr": captured.err.encode(),
        "repr": (repr(model) + repr(llm) + str(model)).encode(),
    }
    for where, data in written.items():
        for key in (KEY_ENV, KEY_ARG):
            assert key.encode() not in data, f"an API key reached the {where}"
            assert key[-12:].encode() not in data, f"part of an API key reached the {where}"


def test_openai_embedder_identity_round_trip_without_key(fresh_cache, fake_llm, monkeypatch, tmp_path):
    server = fake_llm(scripted, embed_dim=16)
    texts, labels = reviews(60)
    embedder = OpenAIEmbedder("fake-embed", base_url=server.base_url, api_key=KEY_ARG, progress=False)
    model = ConceptClassifier(embedder=embedder, max_concepts=4).fit(texts, labels)
    text = model.to_json(tmp_path / "model.json")
    doc = json.loads(Path(text).read_text())
    assert doc["embedder"]["class"] == "OpenAIEmbedder"
    assert doc["embedder"]["identity"]["model"] == "fake-embed"
    assert doc["embedder"]["identity"]["server"] == server.base_url
    assert KEY_ARG not in Path(text).read_text()
    assert KEY_ARG.encode() not in pickle.dumps(model)
    monkeypatch.setenv("OPENAI_API_KEY", KEY_ENV)
    loaded = nlmodels.load(text)
    assert isinstance(loaded.embedder_, OpenAIEmbedder) and loaded.embedder_.identity == embedder.identity
    new = texts[:5] + ["brand new words here"]
    assert np.abs(loaded.predict_proba(new) - model.predict_proba(new)).max() == 0
