"""RuleListClassifier and ConceptTreeClassifier: offline on small made-up texts, the chat-model
path against a scripted server, and once against the real llama.cpp server."""

import itertools
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from nlmodels import ChatModel, ConceptTreeClassifier, RuleListClassifier
from nlmodels.models._rule_base import Condition, Rule
from printed import listed_entries
from textsets import BAD, answer_review_questions, reviews, scripted_rules, topics


@pytest.fixture(scope="module")
def rule_model():
    texts, labels = reviews(80)
    return RuleListClassifier().fit(texts, labels), texts, labels


@pytest.fixture(scope="module")
def topic_models():
    texts, labels = topics(20)
    return RuleListClassifier(max_rules=4).fit(texts, labels), ConceptTreeClassifier().fit(texts, labels), texts, labels


def _fired(model, texts):
    """Which rule fires for each text, recomputed here from the printed conditions."""
    F = model._measure(texts)
    which = np.full(len(texts), len(model.rules_))
    for r in reversed(range(len(model.rules_))):
        holds = np.ones(len(texts), bool)
        for c in model.rules_[r].conditions:
            x = F[:, c.column]
            holds &= (x >= c.threshold) if c.above else (x < c.threshold)
        which[holds] = r
    return which


# ----------------------------------------------------------------------------------- rule list
def test_rule_list_fits_binary_and_predicts_from_its_rules(rule_model):
    model, texts, labels = rule_model
    assert list(model.classes_) == ["neg", "pos"]
    assert (model.predict(texts) == labels).mean() >= 0.9
    assert 1 <= len(model.rules_) <= 10
    assert all(isinstance(r, Rule) and 1 <= len(r.conditions) <= 2 for r in model.rules_)
    proba = model.predict_proba(texts)
    assert proba.shape == (len(texts), 2) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(texts))
    assert not hasattr(model, "decision_function")   # a rule list has no decision value, only its rules' shares


def test_printed_rules_are_the_rules_predict_uses(rule_model):
    model, texts, labels = rule_model
    printed = str(model).splitlines()
    notes = model._notes()   # the phrases the names leave out, what precision is, signals never tested
    assert printed[len(printed) - len(notes):] == notes
    assert any([line] == model._precision_line() and "overstates" in line for line in notes)
    printed = printed[:len(printed) - len(notes)]
    assert printed[0].startswith("RuleListClassifier:")
    assert printed[1].startswith("IF ") and printed[-1].startswith("ELSE ")
    names = model.concept_names()
    for line, rule in zip(printed[1:], model.rules_):
        assert rule.describe(names, model._checks()) in line and f"THEN {rule.label} " in line
        for c in rule.conditions:   # the cut, then how the measurement was checked
            shown = re.search(re.escape(names[c.concept]) + r" \((\w+) (>=|<) ([0-9.]+); [^)]+\)", line)
            if not c.binary:
                assert shown is not None and float(shown.group(3)) == c.threshold  # exact, not rounded for show
    # precision and coverage are counted on the training texts, in list order
    which = _fired(model, texts)
    for r, (line, rule) in enumerate(zip(printed[1:], model.rules_)):
        fired = which == r
        assert rule.n_covered == fired.sum() and f"{fired.sum()} training texts" in line
        assert rule.precision == pytest.approx((labels[fired] == rule.label).mean())
        assert f"precision {rule.precision:.2f}" in line
    assert f"ELSE {model.default_} " in printed[-1] and model.default_counts_.sum() == (which == len(model.rules_)).sum()
    assert "<pre>" in model._repr_html_()


def test_explain_names_the_rule_that_fired(rule_model):
    model, texts, _ = rule_model
    new = ["what a superb ending", "dull and clumsy", "a film", texts[0]]
    frame = model.explain(new)
    assert list(frame.columns) == ["rule", "rule_text", "prediction", "precision"] and len(frame) == 4
    np.testing.assert_array_equal(frame.rule.to_numpy(), _fired(model, new))
    np.testing.assert_array_equal(frame.prediction.to_numpy(), model.predict(new))
    shown = model.rule_texts()
    assert list(frame.rule_text) == [shown[r] for r in frame.rule]
    assert shown[-1] == "ELSE"


def test_rule_list_multiclass_and_max_rules(topic_models):
    model, _, texts, labels = topic_models
    assert len(model.classes_) == 3 and len(model.rules_) <= 4
    assert (model.predict(texts) == labels).mean() >= 0.9
    assert model.predict_proba(texts[:5]).shape == (5, 3)
    one = RuleListClassifier(max_rules=1).fit(texts, labels)
    assert len(one.rules_) == 1 and str(one).count("THEN") == 1


def test_conditions_may_be_negated_and_yes_no_columns_print_as_words():
    c = Condition(0, "mentions", 1, 0.5, False, binary=True)
    assert c.describe(["mentions 'dull'"]) == "mentions 'dull' (mentions: no)"
    F = np.array([[0.2, 1.0], [0.7, 0.0]])
    np.testing.assert_array_equal(c.holds(F), [False, True])
    below = Condition(0, "similar", 0, 0.42, False)
    assert below.describe(["x"]) == "x (similar < 0.42)"
    np.testing.assert_array_equal(below.holds(F), [True, False])


def test_only_used_concepts_are_kept_and_measured(rule_model):
    model, texts, _ = rule_model
    used = {c.concept for r in model.rules_ for c in r.conditions}
    assert used == set(range(len(model.concepts_)))
    assert model._measure(texts[:3]).shape == (3, len(model.concepts_) * model.n_signals_)


def test_params_clone_and_pandas_input(rule_model):
    model, texts, labels = rule_model
    params = model.get_params()
    assert params["max_rules"] == 10 and params["n_thresholds"] == 16
    copy = clone(model)
    assert not hasattr(copy, "rules_") and copy.get_params() == params
    refit = copy.fit(pd.Series(texts), pd.Series(labels))
    np.testing.assert_array_equal(refit.predict(np.array(texts[:10])), model.predict(texts[:10]))
    assert len(refit.proposed_rules_) == 0  # offline: nothing proposed by a chat model


# ----------------------------------------------------------------------------------------- tree
def test_tree_binary_printed_paths_and_counts():
    texts, labels = reviews(80)
    model = ConceptTreeClassifier(max_depth=2).fit(texts, labels)
    assert (model.predict(texts) == labels).mean() >= 0.9
    assert model.node_counts_[0].sum() == len(texts)
    printed = str(model)
    assert printed.startswith("ConceptTreeClassifier:") and "IF " in printed and "THEN " in printed
    assert "precision is counted on the training texts the leaves were chosen on, so it overstates" in printed
    frame = model.explain(texts)
    assert list(frame.columns) == ["leaf", "path", "prediction", "precision"]
    np.testing.assert_array_equal(frame.prediction.to_numpy(), model.predict(texts))
    for leaf, group in frame.groupby("leaf"):
        assert model.node_counts_[leaf].sum() == len(group)  # leaf counts are these training texts
        assert group.path.iloc[0].count(" AND ") <= 1  # depth 2: at most two conditions
    proba = model.predict_proba(texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(texts))


@pytest.fixture(scope="module")
def sms_rules():
    from nlmodels.data import load_sms_spam_sample

    data = load_sms_spam_sample().iloc[:120]
    return RuleListClassifier(max_rules=4).fit(data.text, data.label), data


def test_every_phrase_a_condition_reads_is_printed(sms_rules):
    from nlmodels.concepts import describe_phrases

    assert describe_phrases("abcdefg") == "mentions something like: 'a', 'b', 'c', 'd', 'e' and 2 more"
    assert describe_phrases("abc") == "mentions something like: 'a', 'b', 'c'"
    model, _ = sms_rules
    printed = str(model)
    tested = sorted({c.concept for c in model._conditions()})
    long = [k for k in tested if len(model.concepts_[k].phrases) > 5]
    assert long, "no tested concept with more than five phrases: this test needs one"
    for k in tested:   # a condition fires on any phrase of its concept: every one is on the page
        concept = model.concepts_[k]
        assert all(f"'{p}'" in printed for p in concept.phrases), concept.text
    entries = listed_entries(printed, "phrases the conditions read that the concepts' names do not show:")
    for k in long:
        hidden = model.concepts_[k].phrases[5:]
        assert model.concepts_[k].text.endswith(f" and {len(hidden)} more")
        assert f"  {model.concept_names()[k]}: " + ", ".join(f"'{p}'" for p in hidden) in entries
    assert len(entries) == len([k for k in tested if len(model.concepts_[k].phrases) > 5])
    lines = printed.splitlines()
    block = list(itertools.takewhile(lambda line: line.startswith("  "), lines[lines.index(
        "phrases the conditions read that the concepts' names do not show:") + 1:]))
    assert any(line.startswith("      ") for line in block), "no entry long enough to wrap: this test needs one"
    assert all(len(line) <= 120 for line in block)   # wrapped between phrases, none cut


def test_explaining_one_text_lists_the_phrases_the_tested_conditions_read(sms_rules, tmp_path, capsys):
    from nlmodels.cli import main

    model, data = sms_rules
    model.to_json(tmp_path / "rules.json")
    names = model.concept_names()
    for text in data.text.iloc[:40]:   # a decision reached past at least one condition on a long concept
        rule = int(model.explain([text]).rule.iloc[0])
        tested = [c.concept for r in model.rules_[:rule + 1] for c in r.conditions]   # every rule tried on the way
        if any(len(model.concepts_[k].phrases) > 5 for k in tested):
            break
    else:
        pytest.fail("no text reached a rule through a concept with more than five phrases: this test needs one")
    assert main(["explain", str(tmp_path / "rules.json"), text, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    expected = {names[k]: list(model.concepts_[k].phrases[5:]) for k in dict.fromkeys(tested)
                if len(model.concepts_[k].phrases) > 5}
    assert record["rule"] == rule and record["unshown_phrases"] == expected
    assert main(["explain", str(tmp_path / "rules.json"), text]) == 0
    assert "phrases the conditions tested to get there read that the names do not show:" in capsys.readouterr().out

    tree = ConceptTreeClassifier(max_depth=2).fit(data.text, data.label)
    leaf = int(tree.explain([text]).leaf.iloc[0])
    on_path = tree._deciding_concepts(leaf)
    assert on_path and all(tree.concept_names()[k] in tree.paths()[leaf] for k in on_path)
    assert len(on_path) == tree.paths()[leaf].count(" AND ") + 1   # one concept per split, root first


def test_a_one_leaf_tree_and_a_one_rule_list_count_in_words(sms_rules, tmp_path):
    _, data = sms_rules
    stump = ConceptTreeClassifier(min_samples_leaf=70).fit(data.text, data.label)
    first = str(stump).splitlines()[0]
    assert "1 leaf over 0 concepts" in first and stump.fidelity_.empty   # its kept concept is tested by nothing
    model, _ = sms_rules
    assert " rule over " in str(model).splitlines()[0] if len(model.rules_) == 1 else " rules over " in str(model)


def test_a_test_set_of_one_class_is_evaluated(sms_rules, tmp_path):
    model, data = sms_rules
    spam = data[data.label == "spam"]
    table = model.evaluate_rules(spam.text, spam.label)
    assert table.texts.sum() == len(spam)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        card = Path(model.report(spam.text, spam.label, tmp_path / "card.md")).read_text()
    assert f"| test texts | {len(spam)} |" in card
    assert "The test texts hold none of 1 of the model's 2 classes (ham): balanced accuracy" in card


def test_tree_multiclass(topic_models):
    _, tree, texts, labels = topic_models
    assert (tree.predict(texts) == labels).mean() >= 0.9
    assert tree.predict_proba(texts[:4]).shape == (4, 3)
    leaves = tree.explain(texts).leaf.unique()
    assert all(tree.node_column_[leaf] == -1 for leaf in leaves)
    for path in tree.paths().values():
        assert path.count(" AND ") < tree.max_depth
    # no split whose two sides predict the same class survives
    for node in np.flatnonzero(tree.node_column_ >= 0):
        l, r = tree.node_left_[node], tree.node_right_[node]
        if tree.node_column_[l] < 0 and tree.node_column_[r] < 0:
            assert tree.node_counts_[l].argmax() != tree.node_counts_[r].argmax()


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("cls", [RuleListClassifier, ConceptTreeClassifier])
@pytest.mark.parametrize(
    "X, y, error, message",
    [
        ("one string", ["a"], TypeError, "single string"),
        (["good", None, "fine"], ["a", "b", "a"], ValueError, "row 1"),
        (["good", "bad", "fine"], ["a", "b"], ValueError, "3 texts but y has 2"),
        (["good", "bad", "fine"], ["a", "a", "a"], ValueError, "only 1 class"),
    ],
)
def test_bad_input_names_the_problem_and_row(cls, X, y, error, message):
    with pytest.raises(error, match=message):
        cls().fit(X, y)


def test_bad_parameters_are_explained():
    texts, labels = reviews(20)
    with pytest.raises(ValueError, match="max_rules"):
        RuleListClassifier(max_rules=0).fit(texts, labels)
    with pytest.raises(ValueError, match="max_depth"):
        ConceptTreeClassifier(max_depth=0).fit(texts, labels)
    with pytest.raises(ValueError, match="needs a chat model"):
        RuleListClassifier(measure="llm").fit(texts, labels)


# ----------------------------------------------------------------------------- chat-model path
QUESTIONS = ["Does the text praise something?", "Does the text mention the cast?"]
CLAIMED = [  # the second claim is wrong: praise goes with "pos"
    {"condition": "Does the text complain about something?", "label": "neg"},
    {"condition": "Does the text praise something?", "label": "neg"},
]


scripted = scripted_rules(QUESTIONS, CLAIMED)


def _requests(server, marker):
    return sum(marker in b["messages"][-1]["content"] for _, b in server.requests)


def test_chat_model_rules_are_measured_not_trusted(fresh_cache, fake_llm):
    server = fake_llm(scripted)
    texts, labels = reviews(40)
    llm = ChatModel("fake", base_url=server.base_url)
    model = RuleListClassifier(llm=llm, measure="llm", n_rounds=1).fit(texts, labels)
    assert _requests(server, "IF <condition> THEN <label>") == 1
    assert _requests(server, "yes/no questions") == 1
    assert server.count() == 2 + len(texts)  # question round + rule proposal + one answer call per text
    assert all(c.source == "llm" for c in model.concepts_)
    assert (model.predict(texts) == labels).mean() == 1.0

    claims = model.proposed_rules_.set_index("condition")
    assert list(claims.columns) == ["label", "signal", "threshold", "n_covered", "precision", "in_model"]
    complain = claims.loc["Does the text complain about something?"]
    assert complain.label == "neg" and complain.precision == 1.0 and complain.n_covered == (labels == "neg").sum()
    praise = claims.loc["Does the text praise something?"]
    assert praise.label == "neg" and praise.precision == 0.0  # the claim is measured, and it is wrong
    for rule in model.rules_:  # what the list predicts comes from the data, whatever was claimed
        assert rule.precision == 1.0

    before = server.count()
    RuleListClassifier(llm=llm, measure="llm", n_rounds=1).fit(texts, labels)
    assert server.count() == before  # a refit with the same data and settings makes zero calls


def test_chat_model_tree_with_embedding_measure_makes_only_proposal_calls(fresh_cache, fake_llm):
    server = fake_llm(scripted)
    texts, labels = reviews(40)
    tree = ConceptTreeClassifier(llm=ChatModel("fake", base_url=server.base_url), measure="embedding",
                                 n_rounds=1).fit(texts, labels)
    assert server.count() == 2
    tree.predict(texts)
    assert server.count() == 2  # questions are measured by embedding: predict makes no chat call
    assert len(tree.proposed_rules_) == 2
    # a written question measured by its cosine has no ground truth offline: its splits say so
    splits = tree._conditions()
    assert splits and all(f"{c.signal} >= {c.threshold:g}; unverified)" in str(tree) for c in splits)
    assert set(tree.fidelity_.query("signal == 'similar'").metric) == {"unverified"}

    llm_measured = RuleListClassifier(llm=ChatModel("fake", base_url=server.base_url), measure="llm",
                                      n_rounds=1).fit(texts, labels)
    assert "; the chat model's answer)" in str(llm_measured)   # its answers define the concept


def test_a_chat_model_reads_the_question_alone_so_no_phrase_is_listed_as_read(fresh_cache, fake_llm):
    from nlmodels import Concept

    server = fake_llm(scripted)
    texts, labels = reviews(40)
    question = Concept("Does the text complain about something?", tuple(BAD), "expert")   # eight phrases
    model = RuleListClassifier(llm=ChatModel("fake", base_url=server.base_url), measure="llm", n_rounds=1,
                               concepts=[question]).fit(texts, labels)
    tested = {model.concepts_[c.concept] for c in model._conditions()}
    assert question in tested   # a condition answers it, by the chat model's yes or no
    assert "names do not show" not in str(model) and not any(f"'{p}'" in str(model) for p in BAD)


@pytest.mark.server
def test_rule_list_against_real_server(fresh_cache, smollm):
    """SmolLM2 is tiny: only the path, the shapes and the counts are checked, never its rules."""
    texts, labels = reviews(20)
    llm = ChatModel("smollm2", base_url=smollm.base_url, max_concurrency=2, max_tokens=300)
    common = dict(llm=llm, measure="embedding", n_rounds=1, questions_per_round=3, n_proposed_rules=3,
                  on_error="missing", concepts=["Does the text praise the film?"])
    model = RuleListClassifier(max_rules=3, **common).fit(texts, labels)
    assert smollm.count() <= 4  # one question call, one rule call, at most one repair each
    assert len(model.rules_) <= 3 and model.predict_proba(texts[:4]).shape == (4, 2)
    assert set(model.proposed_rules_.columns) >= {"condition", "label", "n_covered", "precision"}
    assert model.proposed_rules_.label.isin(["neg", "pos"]).all()
    calls = smollm.count()
    RuleListClassifier(max_rules=3, **common).fit(texts, labels)
    assert smollm.count() == calls  # refit: zero requests reach the server


def test_rule_list_with_no_varying_concept_is_the_default_rule_alone():
    from nlmodels.models._rule_search import learn_rule_list

    B = np.zeros((12, 0), dtype=np.float32)
    yi = np.array([0, 1] * 6)
    rules, alpha = learn_rule_list(B, yi, 2, max_rules=3, alphas=(0.5, 1.0), min_support=1, random_state=0)
    assert rules == [] and alpha in (0.5, 1.0)


def test_rule_list_says_which_classes_it_cannot_predict_when_max_rules_is_too_small():
    texts, labels = topics(n_per_class=10)
    with pytest.warns(UserWarning, match=r"max_rules=1 cannot give each of the 3 classes a rule.*at least 2 rules"):
        model = RuleListClassifier(max_rules=1).fit(texts, labels)
    predicted = set(model.predict(texts))
    missing = [c for c in model.classes_ if c not in {r.label for r in model.rules_} | {model.default_}]
    assert len(missing) >= 1 and not predicted & set(missing)
    assert f"never predicted: {len(missing)} of 3 classes" in str(model)



class _NoEmbedding:
    """An embedder that fails if called: a refusal must come before any work."""

    def encode(self, texts):
        raise AssertionError("refused after embedding")


@pytest.mark.parametrize("model,message", [
    (lambda: RuleListClassifier(embedder=_NoEmbedding(), max_rules=10),
     r"max_rules=10 cannot give each of the 20 classes a rule.*at least 19 rules.*refused"),
    (lambda: ConceptTreeClassifier(embedder=_NoEmbedding(), max_depth=3),
     r"max_depth=3 gives at most 8 leaves for 20 classes.*max_depth >= 5"),
])
def test_a_head_that_cannot_reach_most_of_many_classes_is_refused_before_any_work(model, message):
    texts = [f"request {i % 20} words" for i in range(60)]
    y = [f"intent{i % 20}" for i in range(60)]
    with pytest.raises(ValueError, match=message):
        model().fit(texts, y)
