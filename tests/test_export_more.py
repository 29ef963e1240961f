"""JSON export and reload of the rule list, the tree and AugLinear; their place on the command line;
the card refusing them by name; no API key in their files."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nlmodels
from nlmodels import (AugLinearClassifier, AugLinearRegressor, ChatModel, ConceptTreeClassifier, OpenAIEmbedder,
                      RuleListClassifier)
from nlmodels.cli import main
from nlmodels.report import card_data, write_card
from test_export import KEY_ARG, KEY_ENV, SCHEMA, check_schema
from textsets import BAD, GOOD, reviews, topics

NEW = ["what a superb ending", "dull and clumsy", "a film", "the striker scored again", "profit fell",
       "a gorgeous , heartfelt triumph", "an utterly insipid slog", "nothing to say"]
AUG_TEXTS = ["a great film", "wonderful acting and a moving story", "terrific fun", "brilliant , warm and funny",
             "the best movie this year", "a charming , clever comedy", "superb performances all round",
             "a joy to watch", "a dull film", "boring and far too long", "a waste of time", "awful acting",
             "the worst movie this year", "clumsy and tedious", "flat and lifeless", "a tiresome bore"]
AUG_LABELS = ["pos"] * 8 + ["neg"] * 8


def reload(model, tmp_path, name="model.json", **options):
    """Write, check against the documented schema, read back; the document as well."""
    path = model.to_json(tmp_path / name)
    doc = json.loads(Path(path).read_text())
    check_schema(doc, SCHEMA)
    assert doc["estimator"] == type(model).__name__
    return nlmodels.load(path, **options), doc


def assert_same_predictions(loaded, model, texts):
    assert type(loaded) is type(model)
    expected = model.predict(texts)
    predicted = loaded.predict(texts)
    assert predicted.dtype == expected.dtype and list(predicted) == list(expected)
    if hasattr(model, "predict_proba"):
        assert np.abs(loaded.predict_proba(texts) - model.predict_proba(texts)).max() == 0
    if hasattr(model, "decision_function"):
        assert np.array_equal(loaded.decision_function(texts), model.decision_function(texts))
    pd.testing.assert_frame_equal(loaded.explain(texts), model.explain(texts))
    assert str(loaded) == str(model)


# ------------------------------------------------------------------------- rule list and tree
@pytest.fixture(scope="module")
def rule_list():
    texts, labels = reviews(80)
    return RuleListClassifier(max_rules=4).fit(texts, labels)


@pytest.fixture(scope="module")
def tree():
    texts, labels = topics(12)
    codes = {"money": 3, "science": 7, "sport": 11}  # integer labels come back as integers
    return ConceptTreeClassifier(max_depth=2).fit(texts, np.array([codes[v] for v in labels]))


def test_rule_list_round_trip_predicts_and_explains_the_same(rule_list, tmp_path):
    loaded, doc = reload(rule_list, tmp_path)
    assert_same_predictions(loaded, rule_list, NEW + reviews(20, seed=3)[0])
    assert [r.describe(loaded.concept_names()) for r in loaded.rules_] == \
        [r.describe(rule_list.concept_names()) for r in rule_list.rules_]
    for a, b in zip(loaded.rules_, rule_list.rules_):
        assert a.conditions == b.conditions and a.label == b.label
        assert np.array_equal(a.class_counts, b.class_counts)
    assert loaded.default_ == rule_list.default_ and np.array_equal(loaded.default_counts_, rule_list.default_counts_)
    assert loaded.alpha_ == rule_list.alpha_ and loaded.get_params() == rule_list.get_params()
    pd.testing.assert_frame_equal(loaded.proposed_rules_, rule_list.proposed_rules_)
    # the document: the concept part as ConceptClassifier writes it, the rules as printed
    assert doc["task"] == "classification" and doc["head"]["type"] == "rule_list" and doc["chat_model"] is None
    assert [c["text"] for c in doc["concepts"]] == [c.text for c in rule_list.concepts_]
    assert "weights" not in doc["concepts"][0] and doc["measurer"]["type"] == "embedding"
    for rule, line in zip(doc["head"]["rules"], str(rule_list).splitlines()[1:]):
        shown = rule["text"]   # the printed line puts each condition's check after its cut
        for c in rule["conditions"]:
            cut = f"({c['signal']}: {'yes' if c['above'] else 'no'}" if c["binary"] else \
                f"({c['signal']} {'>=' if c['above'] else '<'} {c['threshold']:g}"
            shown = shown.replace(f"{c['name']} {cut})", f"{c['name']} {cut}; {c['check']})")
        assert f"{shown} THEN {rule['label']} " in line and f"{rule['n_covered']} training texts" in line
    assert doc["head"]["default"]["label"] == rule_list.default_
    assert doc["training_data"]["n_texts"] == 80 and doc["edits"] == []


def test_tree_round_trip_with_integer_labels(tree, tmp_path):
    loaded, doc = reload(tree, tmp_path)
    assert loaded.classes_.dtype == tree.classes_.dtype
    assert_same_predictions(loaded, tree, NEW)
    assert loaded.paths() == tree.paths()
    for name in ("node_column_", "node_threshold_", "node_left_", "node_right_", "node_counts_", "binary_columns_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(tree, name))
        assert getattr(loaded, name).dtype == getattr(tree, name).dtype
    assert doc["head"]["type"] == "tree" and doc["classes"]["values"] == [3, 7, 11]
    assert {leaf["path"] for leaf in doc["head"]["leaves"]} == set(tree.paths().values())
    assert not hasattr(loaded, "tree_")  # documented: the node arrays are what predicts


def scripted(messages, body):
    """Rule proposals, questions and yes/no answers, decided by the good and bad words."""
    prompt = messages[-1]["content"]
    if "IF <condition> THEN <label>" in prompt:
        return json.dumps({"rules": [{"condition": "Does the text complain about something?", "label": "neg"}]})
    if "yes/no questions" in prompt:
        return json.dumps({"questions": ["Does the text praise something?"]})
    found = re.search(r"<text>(.*?)</text>", prompt, re.S)
    if found is None:
        return messages[-2]["content"]
    asked = re.findall(r"^\d+\. (.*)$", prompt, re.M)
    words = lambda q: GOOD if "praise" in q else BAD  # noqa: E731
    return json.dumps({"answers": ["yes" if any(w in found.group(1) for w in words(q)) else "no" for q in asked]})


def test_chat_model_rule_list_round_trip_carries_no_key(fresh_cache, fake_llm, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", KEY_ENV)
    server = fake_llm(scripted)
    texts, labels = reviews(30)
    llm = ChatModel("fake-model", base_url=server.base_url, api_key=KEY_ARG)
    model = RuleListClassifier(llm=llm, measure="llm", n_rounds=1, max_rules=3).fit(texts, labels)
    new = ["a wonderful cast", "dull and dreadful", "the ending"]
    expected = model.predict_proba(new)
    path = model.to_json(tmp_path / "model.json")
    written = Path(path).read_text()
    for key in (KEY_ENV, KEY_ARG):
        assert key not in written and key[-12:] not in written
    doc = json.loads(written)
    check_schema(doc, SCHEMA)
    assert doc["chat_model"]["model"] == "fake-model" and doc["measurer"]["type"] == "llm"
    assert doc["proposed_rules"][0]["condition"] == "Does the text complain about something?"
    calls = server.count()
    loaded = nlmodels.load(path)  # a ChatModel for the recorded server; key from the environment
    assert loaded.llm.identity == llm.identity
    assert np.abs(loaded.predict_proba(new) - expected).max() == 0
    assert server.count() == calls  # the answers are cached: no new call
    pd.testing.assert_frame_equal(loaded.proposed_rules_, model.proposed_rules_)

    # its card: the chat model's rules as measured, the chat model named, and no key anywhere
    for name in ("card.md", "card.html"):
        card = Path(loaded.report(new, ["pos", "neg", "pos"], tmp_path / name)).read_text()
        assert "Rules the chat model proposed" in card and "fake-model" in card
        for key in (KEY_ENV, KEY_ARG):
            assert key not in card and key[-12:] not in card
    card = (tmp_path / "card.md").read_text()
    for r in model.proposed_rules_.itertuples():
        precision = f"{r.precision:.3f}" if r.n_covered else "–"
        assert f"| {r.n_covered} | {precision} | {'yes' if r.in_model else 'no'} |" in card
    # "yes" says the question is tested, not that the model predicts the claimed label: the header says so
    assert "| its question tested by the model |" in card and "not that they predict the claimed label" in card


# ----------------------------------------------------------------------------------- AugLinear
@pytest.fixture(scope="module")
def aug():
    return AugLinearClassifier(Cs=(0.1, 1.0)).fit(AUG_TEXTS, AUG_LABELS)


def test_auglinear_round_trip_scores_seen_and_unseen_ngrams_the_same(aug, tmp_path):
    loaded, doc = reload(aug, tmp_path)
    assert_same_predictions(loaded, aug, NEW + AUG_TEXTS)
    assert list(loaded.vocabulary_) == list(aug.vocabulary_) and loaded.vocabulary_ == aug.vocabulary_
    assert loaded.get_params() == aug.get_params()  # tuples stay tuples
    for name in ("ngram_scores_", "coef_", "intercept_", "document_frequency_"):
        assert np.array_equal(getattr(loaded, name), getattr(aug, name))
        assert getattr(loaded, name).dtype == getattr(aug, name).dtype
    assert (loaded.lexical_scale_, loaded.C_) == (aug.lexical_scale_, aug.C_)
    pd.testing.assert_frame_equal(loaded.cv_results_, aug.cv_results_)
    phrases = ["terrific", "an insipid slog", "gorgeous"]
    pd.testing.assert_frame_equal(loaded.ngram_contributions(phrases), aug.ngram_contributions(phrases))
    pd.testing.assert_frame_equal(loaded.top_ngrams(4), aug.top_ngrams(4))
    assert doc["head"]["type"] == "ngram_table" and doc["ngrams"]["vocabulary"] == list(aug.vocabulary_)
    assert doc["embedder"]["identity"]["name"] == "all-MiniLM-L6-v2"
    assert doc["training_data"]["n_texts"] == len(AUG_TEXTS)
    # another embedder would score unseen n-grams differently: loading says so
    doc["embedder"]["identity"]["weights_sha256"] = "0" * 64
    with pytest.warns(UserWarning, match="embedder differs"):
        nlmodels.report.from_dict(doc)


def test_auglinear_multiclass_and_regressor_round_trip(tmp_path):
    labels = ["good"] * 4 + ["great"] * 4 + ["bad"] * 8
    clf = AugLinearClassifier(ngram_range=(1, 1), Cs=(1.0,), lexical_scales=(3.0,)).fit(AUG_TEXTS, labels)
    loaded, _ = reload(clf, tmp_path, "clf.json")
    assert_same_predictions(loaded, clf, NEW)
    pd.testing.assert_frame_equal(loaded.cv_results_, clf.cv_results_)  # empty: one C, one scale, no CV
    for target in clf.classes_:
        pd.testing.assert_frame_equal(loaded.explain(NEW, target=target), clf.explain(NEW, target=target))

    y = np.r_[np.linspace(4, 5, 8), np.linspace(1, 2, 8)]
    reg = AugLinearRegressor(lexical_scales=(0.0, 3.0)).fit(AUG_TEXTS, y)
    loaded, doc = reload(reg, tmp_path, "reg.json")
    assert_same_predictions(loaded, reg, NEW)
    assert loaded.alpha_ == reg.alpha_ and doc["task"] == "regression" and doc["head"]["link"] == "identity"
    pd.testing.assert_frame_equal(loaded.cv_results_, reg.cv_results_, check_index_type=False)


def test_auglinear_with_openai_embedder_writes_no_key(fresh_cache, fake_llm, monkeypatch, tmp_path):
    server = fake_llm(lambda messages, body: "", embed_dim=16)
    embedder = OpenAIEmbedder("fake-embed", base_url=server.base_url, api_key=KEY_ARG, progress=False)
    model = AugLinearClassifier(embedder, Cs=(1.0,)).fit(AUG_TEXTS, AUG_LABELS)
    text = model.to_json()
    assert KEY_ARG not in text and KEY_ARG[-12:] not in text
    monkeypatch.setenv("OPENAI_API_KEY", KEY_ENV)
    loaded = nlmodels.report.from_dict(json.loads(text))
    assert isinstance(loaded.embedder_, OpenAIEmbedder) and loaded.embedder_.identity == embedder.identity
    new = ["gorgeous and heartfelt", "an insipid slog"]  # unseen n-grams: embedded by the rebuilt embedder
    assert np.array_equal(loaded.decision_function(new), model.decision_function(new))


# ------------------------------------------------------------------------------ cards and plots
def test_card_and_weights_plot_refuse_other_estimators_by_name(rule_list, aug, tmp_path):
    texts, labels = reviews(10)
    with pytest.raises(TypeError, match="model card cannot be written for AugLinearClassifier"):
        write_card(aug, texts, labels, tmp_path / "card.html")
    with pytest.raises(TypeError, match="AugLinearClassifier"):
        card_data(aug, texts, labels)
    for model in (rule_list, aug):
        name = type(model).__name__
        with pytest.raises(TypeError, match=name):
            nlmodels.report.plot_weights(model)
    with pytest.raises(TypeError, match="RuleListClassifier"):
        nlmodels.report.plot_explanation(rule_list, "a film")
    assert nlmodels.report.plot_explanation(aug, "a great film") is not None  # n-gram contributions add up


# ------------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-more")
    texts, labels = reviews(60)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(folder / "train.csv", index=False)
    pd.DataFrame({"text": NEW}).to_csv(folder / "new.csv", index=False)
    return folder


def test_cli_fits_a_rule_list_and_predicts_explains_with_it(csv_files, capsys):
    folder = csv_files
    model_path = str(folder / "rules.json")
    assert main(["fit", str(folder / "train.csv"), "--model", "rulelist", "--max-rules", "3", "--out", model_path]) == 0
    err = capsys.readouterr().err
    assert "fitting RuleListClassifier (max 3 rules, measured by embedding)" in err
    assert f"RuleListClassifier: {len(nlmodels.load(model_path).rules_)} rule" in err   # the printed first line
    model = nlmodels.load(model_path)
    assert type(model) is RuleListClassifier and model.max_rules == 3 and 1 <= len(model.rules_) <= 3

    assert main(["predict", model_path, str(folder / "new.csv"), "--out", str(folder / "pred.csv"), "-q"]) == 0
    out = pd.read_csv(folder / "pred.csv")
    assert list(out.columns) == ["text", "prediction", "proba_neg", "proba_pos"]
    assert list(out["prediction"]) == list(model.predict(NEW))
    np.testing.assert_allclose(out[["proba_neg", "proba_pos"]].to_numpy(), model.predict_proba(NEW), rtol=1e-12)

    assert main(["explain", model_path, "what a superb ending", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    row = model.explain(["what a superb ending"]).iloc[0]
    assert record["prediction"] == row["prediction"] and record["rule"] == row["rule"]
    assert record["precision"] == pytest.approx(row["precision"])
    assert record["rule_text"] == row["rule_text"]
    assert "overstates" in record["precision_note"]   # the rules were chosen on the texts it is counted on
    if record["rule"] < len(model.rules_):      # the rule as printed, with how each cut was checked
        assert record["rule_text"] in str(model) and "held-out" in record["rule_text"]
    assert main(["explain", model_path, "dull and clumsy"]) == 0
    out = capsys.readouterr().out
    assert "decided by the first rule that holds" in out
    assert ": the classes of the training texts it decided)" in out   # the P(...) are that rule's shares
    fired = model.explain(["dull and clumsy"]).iloc[0]
    assert fired["rule_text"] in out
    assert "on the training texts it covered (counted on the training texts the rules were chosen on, so it overstates" in out

    # the card: each rule measured on the labelled file, beside its training precision
    assert main(["report", model_path, str(folder / "train.csv"), "--out", str(folder / "card.md")]) == 0
    card = (folder / "card.md").read_text()
    assert "## Rules" in card and "test precision (95% interval)" in card
    assert f"| {len(model.rules_) + 1} | ELSE | {model.default_} |" in card

    for argv, message in [
        (["explain", model_path, "a film", "--target", "pos"], "--target does not apply to RuleListClassifier"),
        (["edit", model_path, str(folder / "train.csv"), "--remove", "0", "--out", str(folder / "e.json")],
         "RuleListClassifier cannot be edited"),
        (["fit", str(folder / "train.csv"), "--model", "rulelist", "--max-concepts", "5", "--out", model_path],
         "--max-concepts does not apply to --model rulelist"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)


def test_cli_auglinear_explanation_adds_up(csv_files, capsys):
    folder = csv_files
    model_path = str(folder / "aug.json")
    assert main(["fit", str(folder / "train.csv"), "--model", "auglinear", "--out", model_path, "-q"]) == 0
    model = nlmodels.load(model_path)
    assert type(model) is AugLinearClassifier
    text = "a superb film , not dull"
    assert main(["explain", model_path, text, "--json", "--top", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    total = record["intercept"] + sum(c["contribution"] for c in record["contributions"]) + record["others"]
    assert total == pytest.approx(record["decision_value"])
    assert record["decision_value"] == pytest.approx(model.decision_function([text])[0])
