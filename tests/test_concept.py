"""ConceptClassifier, ConceptRegressor and QuestionEmbedder, offline (bundled embedder)."""

import html
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from faults import fault_server  # noqa: F401  (a fixture)
from printed import listed_entries
from textsets import GOOD, reviews, topics
from nlmodels import Concept, ConceptClassifier, ConceptRegressor, QuestionEmbedder


@pytest.fixture(scope="module")
def binary_model():
    texts, labels = reviews(80)
    return ConceptClassifier(max_concepts=6).fit(texts, labels), texts, labels


def test_binary_fit_predict_and_shapes(binary_model):
    model, texts, labels = binary_model
    assert list(model.classes_) == ["neg", "pos"]
    assert (model.predict(texts) == labels).mean() >= 0.9
    proba = model.predict_proba(texts[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1)
    assert model.decision_function(texts[:5]).shape == (5,)
    assert 1 <= len(model.concepts_) <= 6
    assert all(isinstance(c, Concept) and (c.phrases or c.is_prototype and c.examples) for c in model.concepts_)


def test_explain_rows_add_up_to_decision_function(binary_model):
    model, texts, _ = binary_model
    new = ["what a superb ending", "dull and clumsy", "a film"]
    frame = model.explain(new)
    assert list(frame.columns) == model.concept_names() + ["intercept"]
    assert len(frame) == 3
    np.testing.assert_allclose(frame.sum(axis=1).to_numpy(), model.decision_function(new), rtol=0, atol=1e-12)


def test_printed_weights_are_the_weights_predict_uses(binary_model):
    model, _, _ = binary_model
    printed = str(model)
    assert "intercept" in printed and f"{model.intercept_[0]:+8.3f}" in printed
    for k, name in enumerate(model.concept_names()):
        S = model.n_signals_
        weight = model.coef_[0, k * S:(k + 1) * S].sum()
        line = next(line for line in printed.splitlines() if name in line)
        assert float(re.match(r"\s*([+-]\d+\.\d+)", line).group(1)) == pytest.approx(weight, abs=5e-4)
    assert "<table>" in model._repr_html_()


def test_every_phrase_a_weighted_concept_reads_is_printed(fault_server):
    from nlmodels import ChatModel
    from nlmodels.concepts import describe_phrases
    from faults import HashEmbedder

    texts, labels = reviews(80)
    praise = Concept(describe_phrases(GOOD), tuple(GOOD), "expert")   # "... 'superb' and 3 more"
    model = ConceptClassifier(max_concepts=4, concepts=[praise]).fit(texts, labels)
    k = model.concepts_.index(praise)
    S = model.n_signals_
    assert model.coef_[0, k * S:(k + 1) * S].sum() > 0   # weighted, so read by predict
    intro = "phrases the weighted concepts read that their names do not show:"
    entries = listed_entries(str(model), intro)
    assert f"  {model.concept_names()[k]}: " + ", ".join(f"'{p}'" for p in GOOD[5:]) in entries
    weighted = {j for j in range(len(model.concepts_)) if model.coef_[0, j * S:(j + 1) * S].any()}
    assert len(entries) == sum(len(model.concepts_[j].phrases) > 5 for j in weighted)   # the weighted, no others
    assert str(model).startswith(f"ConceptClassifier: {len(model.concepts_)} concept{'s' if len(model.concepts_) > 1 else ''},")
    page = model._repr_html_()   # one line per concept there: the page wraps it
    assert html.escape(intro) in page and "<br>" + html.escape(entries[0]) in page

    # A chat model answers the question alone: its phrases are never read, so none is listed as read
    question = Concept("Does the review praise the film?", tuple(GOOD), "expert")
    llm = ChatModel("fake", base_url=fault_server().base_url, progress=False)
    chat = ConceptClassifier(llm=llm, embedder=HashEmbedder(progress=False), measure="llm", max_concepts=3,
                             concepts=[question]).fit(texts, labels)
    assert chat.measure_ == "llm" and question in chat.concepts_
    q = chat.concepts_.index(question)
    assert chat.coef_[0, q * chat.n_signals_:(q + 1) * chat.n_signals_].sum() > 0
    assert intro not in str(chat) and "'charming'" not in str(chat)


def test_a_chat_model_is_asked_every_phrase_of_a_mined_name_and_the_model_lists_them(fault_server, tmp_path):
    """A mined name shows five phrases and counts the rest ("... 'superb' and 3 more"). A chat model
    asked that question never sees the other three, so it could not answer about them: it is asked
    with every phrase, and the printed model lists the ones its name leaves out."""
    import json
    from nlmodels import ChatModel
    from nlmodels.concepts import LLMMeasurer, describe_phrases
    from faults import HashEmbedder

    def answer(messages, body):   # yes when the text holds a phrase the question quotes
        prompt = messages[-1]["content"]
        found = re.search(r"<text>(.*?)</text>", prompt, re.S)
        if found is None:
            return messages[-2]["content"]
        asked = re.findall(r"^\d+\. (.*)$", prompt, re.M)
        return json.dumps({"answers": ["yes" if any(p in found.group(1) for p in re.findall(r"'([^']+)'", q))
                                       else "no" for q in asked]})

    server = fault_server(answer)
    llm = ChatModel("fake", base_url=server.base_url, progress=False)
    praise = Concept(describe_phrases(GOOD), tuple(GOOD), "data")
    assert praise.text.endswith("'superb' and 3 more")
    measurer = LLMMeasurer(llm).fit(None, None, [praise])
    scores = measurer.transform(["a charming little film", "a dull film"], None)   # 'charming' is past the five
    assert scores.tolist() == [[1.0], [0.0]]
    asked = [p for body in server.answered() for p in re.findall(r"^\d+\. (.*)$", body["messages"][-1]["content"], re.M)]
    assert asked and all(q == describe_phrases(GOOD, len(GOOD)) and "more" not in q for q in asked)

    texts, labels = reviews(80)
    chat = ConceptClassifier(llm=llm, embedder=HashEmbedder(progress=False), measure="llm", proposer="phrases",
                             max_concepts=4, concepts=[praise]).fit(texts, labels)   # mined names, answered
    k, S = chat.concepts_.index(praise), chat.n_signals_
    assert chat.coef_[0, k * S:(k + 1) * S].sum() > 0
    entries = listed_entries(str(chat), "phrases the weighted concepts read that their names do not show:")
    assert f"  {chat.concept_names()[k]}: " + ", ".join(f"'{p}'" for p in GOOD[5:]) in entries
    weighted = [j for j in range(len(chat.concepts_)) if chat.coef_[0, j * S:(j + 1) * S].any()]
    assert len(entries) == sum(len(chat.concepts_[j].phrases) > 5 for j in weighted)
    state = json.loads(chat.to_json())["measurer"]   # the export says what was asked
    asked_for = dict(zip([c["text"] for c in state["asked_concepts"]], state["questions"]))
    assert asked_for[praise.text] == describe_phrases(GOOD, len(GOOD))
    import nlmodels
    again = nlmodels.load(chat.to_json(tmp_path / "chat.json"), llm=llm, embedder=chat.embedder_)
    np.testing.assert_array_equal(again.predict(texts[:10]), chat.predict(texts[:10]))


def test_phrase_lists_wrap_between_phrases_and_a_persons_wording_lists_them_all(fault_server):
    from nlmodels import ChatModel
    from nlmodels.concepts import check_phrases, describe_phrases, quoted_lines, unshown_phrases

    phrases = ["aaaa bbbb", "call now", "x y z", "free entry to win", "a  b", "tab\there"] * 4
    lines = quoted_lines("  name: ", phrases, width=30)
    assert len(lines) > 4 and lines[0].startswith("  name: '") and all(line.startswith("      '") for line in lines[1:])
    assert all(line.endswith("',") for line in lines[:-1]) and lines[-1].endswith("'")
    assert " ".join(line.strip() for line in lines) == "name: " + ", ".join(f"'{p}'" for p in phrases)   # none cut
    assert quoted_lines("p: ", phrases[:2], width=None) == ["p: 'aaaa bbbb', 'call now'"]

    assert unshown_phrases(describe_phrases(GOOD), GOOD) == GOOD[5:]
    assert unshown_phrases("mentions a prize or an award (not 'cash')", ["prize", "cash"]) == ["prize", "cash"]
    for spaced in ("call  now", "call\tnow", " call"):   # phrase matching would never find them
        with pytest.raises(ValueError, match="cannot be matched as written"):
            check_phrases([spaced], "concepts[0]")

    # distilled from a chat model's answers: the question alone is read, as with measure='llm'
    texts, labels = reviews(80)
    question = Concept("Does the review praise the film?", tuple(GOOD), "expert")
    llm = ChatModel("fake", base_url=fault_server().base_url, progress=False)
    distilled = ConceptClassifier(llm=llm, measure="distill", n_distill=80, max_concepts=3,
                                  concepts=[question]).fit(texts, labels)   # the bundled embedder: probes that agree
    assert distilled.measure_ == "distill" and question in distilled.concepts_
    assert distilled._unshown_phrases(range(len(distilled.concepts_))) == {}
    assert "names do not show" not in str(distilled) and "'charming'" not in str(distilled)


def test_multiclass_explain_by_target():
    texts, labels = topics(15)
    model = ConceptClassifier(max_concepts=8).fit(texts, labels)
    assert (model.predict(texts) == labels).mean() >= 0.9
    scores = model.decision_function(texts[:4])
    assert scores.shape == (4, 3)
    for j, cls in enumerate(model.classes_):
        frame = model.explain(texts[:4], target=cls)
        np.testing.assert_allclose(frame.sum(axis=1).to_numpy(), scores[:, j], atol=1e-12)
    with pytest.raises(ValueError, match="not a class"):
        model.explain(texts[:1], target="weather")
    assert "class 'money'" in str(model)


def test_two_class_explanations_are_toward_the_second_class_and_the_first_is_refused():
    texts, labels = reviews(30)
    model = ConceptClassifier(max_concepts=4).fit(texts, labels)
    assert model.explain(texts[:3], target="pos").equals(model.explain(texts[:3]))
    with pytest.raises(ValueError, match=r"toward 'pos' \(classes_\[1\]\); toward 'neg' they are the same numbers "
                                         r"negated: pass target=None or target='pos'"):
        model.explain(texts[:3], target="neg")   # it returned the numbers toward 'pos', labelled 'neg'


def test_max_concepts_is_a_hard_cap():
    texts, labels = topics(15)
    for cap in (1, 3):
        model = ConceptClassifier(max_concepts=cap).fit(texts, labels)
        assert len(model.concepts_) <= cap
        assert model.coef_.shape[1] == len(model.concepts_) * model.n_signals_


def test_params_clone_and_numpy_or_pandas_input(binary_model):
    model, texts, labels = binary_model
    params = model.get_params()
    assert params["max_concepts"] == 6 and params["measure"] == "auto" and model.measure_ == "embedding"
    copy = clone(model)
    assert not hasattr(copy, "coef_") and copy.get_params() == params
    refit = copy.fit(pd.Series(texts), pd.Series(labels))
    np.testing.assert_array_equal(refit.predict(np.array(texts[:10])), model.predict(texts[:10]))


def test_expert_concepts_are_offered_to_the_head():
    texts, labels = reviews(60)
    written = Concept("mentions something bad", ("awful", "terrible", "dreadful", "dull"), "expert")
    model = ConceptClassifier(max_concepts=30, concepts=[written]).fit(texts, labels)
    assert model.concepts_[0] == written or written not in model.concepts_  # kept first when it carries weight
    assert any(c.source == "data" for c in model.concepts_)


def test_regressor_explain_adds_up_and_fits_the_trend():
    texts, labels = reviews(80)
    rng = np.random.RandomState(0)
    y = np.where(labels == "pos", 4.0, 1.0) + rng.normal(0, 0.1, len(labels))
    model = ConceptRegressor(max_concepts=5).fit(texts, y)
    predicted = model.predict(texts)
    assert np.corrcoef(predicted, y)[0, 1] > 0.9
    frame = model.explain(texts[:5])
    np.testing.assert_allclose(frame.sum(axis=1).to_numpy(), predicted[:5], atol=1e-12)
    assert len(model.concepts_) <= 5 and "ConceptRegressor" in str(model)


@pytest.mark.parametrize("top_share", [0.5, 0.75])
def test_a_regression_target_piled_at_its_top_value_still_gets_concepts(top_share):
    from nlmodels.concepts import class_bins

    texts, labels = reviews(80)
    order = np.argsort(labels == "neg", kind="stable")   # the 40 'pos' texts first
    n_top = int(top_share * len(texts))
    texts = [texts[i] for i in order]
    y = np.r_[np.full(n_top, 5.0), np.full(len(texts) - n_top, 1.0)]   # most rated 5 stars, the rest 1
    bins = class_bins(y, regression=True)
    assert set(bins[y == 5.0]) == {"high"} and set(bins[y == 1.0]) == {"low"}   # it put them all in "low"
    model = ConceptRegressor(max_concepts=4).fit(texts, y)   # it raised "no concept could be proposed"
    assert len(model.concepts_) >= 1 and np.corrcoef(model.predict(texts), y)[0, 1] > 0.5


def test_question_embedder_in_a_pipeline():
    texts, labels = reviews(60)
    embedder = QuestionEmbedder(groups_per_class=4)
    pipe = make_pipeline(embedder, LogisticRegression(max_iter=1000)).fit(texts, labels)
    assert (pipe.predict(texts) == labels).mean() >= 0.9
    names = embedder.get_feature_names_out()
    assert embedder.transform(texts[:3]).shape == (3, len(names))
    assert names[0].endswith("[similar]") and names[1].endswith("[mentions]")
    scores = embedder.transform(texts)
    assert scores.min() >= 0 and scores.max() <= 1
    # no head chooses here: every column is output, and fidelity_ says how each was checked
    checks = embedder.fidelity_
    assert [f"{c} [{s}]" for c, s in zip(checks.concept, checks.signal)] == list(names)
    assert checks.passed.isin([True, False]).all() and (checks[checks.signal == "similar"].metric == "auc").all()


@pytest.mark.parametrize(
    "X, y, error, message",
    [
        ([], [], ValueError, "empty"),
        (["good", "bad", "fine"], ["a", "b"], ValueError, "3 texts but y has 2"),
        (["good", None, "fine"], ["a", "b", "a"], ValueError, "row 1"),
        (["good", "   ", "fine"], ["a", "b", "a"], ValueError, "whitespace-only text at row 1"),
        (["good", 7, "fine"], ["a", "b", "a"], TypeError, "row 1"),
        (["good", b"bad", "fine"], ["a", "b", "a"], TypeError, "bytes at row 1"),
        (["good", "bad", "fine"], ["a", "a", "a"], ValueError, "only 1 class"),
        (["good", "bad", "fine"], ["a", None, "b"], ValueError, "missing label .* row 1"),
        ("one string", ["a"], TypeError, "single string"),
    ],
)
def test_bad_input_names_the_problem_and_row(X, y, error, message):
    with pytest.raises(error, match=message):
        ConceptClassifier().fit(X, y)


def test_bad_parameters_are_explained():
    texts, labels = reviews(20)
    with pytest.raises(ValueError, match="needs a chat model"):
        ConceptClassifier(measure="llm").fit(texts, labels)
    with pytest.raises(ValueError, match="'measure' parameter of ConceptClassifier must be a str among"):
        ConceptClassifier(measure="telepathy").fit(texts, labels)
    with pytest.raises(ValueError, match="max_concepts"):
        ConceptClassifier(max_concepts=0).fit(texts, labels)


def test_long_texts_are_truncated_with_a_warning(binary_model):
    model, _, _ = binary_model
    with pytest.warns(UserWarning, match="truncated"):
        model.predict(["wonderful " * 2000])


def test_the_transformer_outputs_only_faithful_columns_unless_told_to_keep_them():
    """No head chooses in a transformer, so it applies the gate itself: a column whose measurement
    failed its fidelity gate is left out (gated="drop"), or output under a name that says so ("keep")."""
    import json

    from sklearn.base import clone

    from faults import HashEmbedder
    from nlmodels import ConceptTransformer, report

    texts, labels = reviews(60)
    question = "Does the text praise something?"
    drop = ConceptTransformer(embedder=HashEmbedder(progress=False), concepts=[question]).fit(texts, labels)
    keep = clone(drop).set_params(gated="keep").fit(texts, labels)
    passed = drop._column_gate()
    assert not passed.all() and passed.any()   # at least the question's 'mentions': it has no phrases to find
    assert drop.output_columns_ == list(np.flatnonzero(passed)) and keep.output_columns_ == list(range(len(passed)))
    assert drop.transform(texts).shape == (60, passed.sum()) and len(drop.get_feature_names_out()) == passed.sum()
    np.testing.assert_array_equal(drop.transform(texts), keep.transform(texts)[:, passed])
    names = keep.get_feature_names_out()
    metrics = keep._per_column(lambda r: r["metric"], dtype=object)
    assert [n.endswith((" (not faithful)", " (not measured: no phrases)")) for n in names] == list(~passed)
    # the question's mentions finds nothing (always 0), its similar is an unchecked cosine: each named so
    assert f"{question} [mentions] (not measured: no phrases)" in names and (keep.transform(texts)[:, list(names).index(
        f"{question} [mentions] (not measured: no phrases)")] == 0).all()
    assert f"{question} [similar] (unverified)" in names and f"{question} [similar] (unverified)" in \
        drop.get_feature_names_out() and not any("not faithful" in n for n in drop.get_feature_names_out())
    assert [n.endswith(" (unverified)") for n in names] == list(metrics == "unverified")
    assert "are named '(unverified)'" in report.to_dict(drop)["measurement"]
    # the model file says what was done with them, and reads back to the same output
    doc = json.loads(json.dumps(report.to_dict(drop)))
    assert f"the {int((~passed).sum())} measured column(s) that failed their fidelity gate or have nothing to measure" \
        in doc["measurement"] and not hasattr(drop, "_usage_before")
    loaded = report.from_dict(doc, embedder=HashEmbedder(progress=False))
    np.testing.assert_array_equal(loaded.transform(texts[:5]), drop.transform(texts[:5]))
    assert "named '(not faithful)'" in report.to_dict(keep)["measurement"]
    del loaded.output_columns_   # a transformer file written before the gate applied here: every column, said so
    assert loaded.transform(texts[:5]).shape[1] == len(passed) and "every measured column is output" in \
        report.to_dict(loaded)["measurement"]


def test_a_distilled_transformer_keeps_failed_columns_when_told_to(fresh_cache, fault_server):
    """gated="keep" is the transformer's own: its distilled probes are measured as with "drop"."""
    from faults import HashEmbedder
    from nlmodels import ChatModel, ConceptTransformer

    texts, labels = reviews(40)
    llm = ChatModel("fake", base_url=fault_server().base_url, progress=False)
    keep = ConceptTransformer(llm=llm, embedder=HashEmbedder(progress=False), measure="distill", n_distill=30,
                              gated="keep").fit(texts, labels)
    assert keep.measurer_.gated == "drop" and keep.output_columns_ == list(range(len(keep.concepts_)))
    assert keep.transform(texts[:3]).shape == (3, len(keep.concepts_))
    # the measurer's sentence does not say a failed probe is left out where this transformer outputs it
    said = keep.measurer_.describe()
    assert "Probes that fail the gate carry no weight in a model (a ConceptTransformer outputs them only with " \
           "gated='keep', named '(not faithful)')" in said
