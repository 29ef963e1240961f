"""The printed model means what it says: every weight points the way its concept reads, every
weighted measurement passed its fidelity gate on held-out texts, and gated concepts carry nothing.

The association of a concept with the target is recomputed here from the training texts, not read
from the model: for a mined phrase concept, from whether one of its phrases occurs (the sentence
"mentions something like ..."); for a chat-model question, from the recorded answers.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from answer_server import AnswerServer, answers_available, load_answers, split
from faults import HashEmbedder
from textsets import reviews, topics

from nlmodels import ChatModel, ConceptClassifier, ConceptRegressor, ConceptTreeClassifier, RuleListClassifier, load
from nlmodels.cli import main
from nlmodels.cli._commands import _rule_explanation
from nlmodels.concepts import fidelity, phrase_matches
from nlmodels.concepts.fidelity import AGREEMENT_GATE, AUC_GATE, MARGIN_GATE
from nlmodels.data import load_sms_spam_sample
from nlmodels.report import card_data

needs_answers = pytest.mark.skipif(not answers_available(), reason="shared/llm_answers is not beside the checkout")


def _association(score, target):
    return np.sign(np.cov(score, target)[0, 1])


def reading(model, texts, y) -> np.ndarray:
    """Per concept, what its sentence says, recomputed from the texts: whether one of its phrases
    occurs ("mentions something like ..."), or for a prototype ("resembles the training texts
    labelled X") whether the training text is labelled X."""
    scores = phrase_matches(texts, model.concepts_)
    for k, concept in enumerate(model.concepts_):
        if concept.is_prototype:
            scores[:, k] = (np.asarray(y) == concept.target).astype(float)
    return scores


def contradictions(model, texts, y, reading_scores) -> list[str]:
    """Weighted columns whose sign differs from their concept's association (recomputed here)."""
    S = model.n_signals_
    bad = []
    if getattr(model, "_regression", False):
        targets = [np.asarray(y, float)]
    elif len(model.classes_) == 2:
        targets = [(np.asarray(y) == model.classes_[1]).astype(float)]
    else:
        targets = [(np.asarray(y) == c).astype(float) for c in model.classes_]
    for r, target in enumerate(targets):
        for k, name in enumerate(model.concept_names()):
            direction = _association(reading_scores[:, k], target)
            for w in model.coef_[r, k * S:(k + 1) * S]:
                if w != 0 and np.sign(w) != direction:
                    bad.append(f"row {r}: {name} weight {w:+.3f} against association {direction:+.0f}")
    return bad


@pytest.mark.parametrize("metric, value, baseline, passed, shown", [
    ("auc", 0.748, 0.5, False, "AUC 0.748 held-out"),        # "0.75" would read as passing the 0.75 gate
    ("auc", 0.7499999, 0.5, False, "AUC 0.7499 held-out"),
    ("auc", 0.7512, 0.5, True, "AUC 0.75 held-out"),
    ("auc", 0.912, 0.5, True, "AUC 0.91 held-out"),
    ("agreement", 17 / 20, 16 / 20, True, "agrees 0.85 with the chat model held-out (majority 0.80)"),
    ("agreement", 0.846, 0.80, False, "agrees 0.846 with the chat model held-out (majority 0.80)"),
    ("agreement", 0.796, 0.62, False, "agrees 0.796 with the chat model held-out (majority 0.62)"),
])
def test_a_printed_fidelity_never_reads_as_the_other_side_of_its_gate(metric, value, baseline, passed, shown):
    """The gate as written in decimals (17/20 clears 16/20 + 0.05, which floating point puts at
    0.8500000000000001), and the printed number on the same side of every gate as the value."""
    from nlmodels.concepts import fidelity

    rec = fidelity.record(0, "similar", metric, value, baseline, 20)
    assert rec["passed"] is passed
    # (an agreement on 20 texts also prints its 95% interval: tests/test_fidelity_intervals.py)
    assert fidelity.describe(rec).split(", 95% interval")[0] == shown


def test_offline_binary_weights_point_the_way_their_phrases_read():
    data = load_sms_spam_sample()
    texts, y = data.text.tolist()[:400], data.label.to_numpy()[:400]
    model = ConceptClassifier(max_concepts=15).fit(texts, y)
    mentions = reading(model, texts, y)
    assert (model.coef_ != 0).sum() >= 10
    assert contradictions(model, texts, y, mentions) == []


def test_offline_multiclass_weights_point_the_way_each_class_reads():
    texts, y = topics(n_per_class=30)
    model = ConceptClassifier(max_concepts=12).fit(texts, y)
    mentions = reading(model, texts, y)
    assert model.coef_.shape[0] == 3 and (model.coef_ != 0).sum() >= 3
    assert contradictions(model, texts, y, mentions) == []


def test_regressor_weights_follow_the_correlation_with_the_target():
    texts, labels = reviews(120)
    y = np.where(labels == "pos", 4.0, 1.0) + np.random.RandomState(0).normal(0, 0.3, len(labels))
    model = ConceptRegressor(max_concepts=8).fit(texts, y)
    mentions = reading(model, texts, y)
    assert (model.coef_ != 0).any()
    assert contradictions(model, texts, y, mentions) == []


def test_every_weighted_similar_signal_passed_its_auc_gate_and_failures_carry_no_weight():
    data = load_sms_spam_sample()
    model = ConceptClassifier(max_concepts=20).fit(data.text[:400], data.label[:400])
    table = model.fidelity_
    assert set(table.columns) >= {"concept", "signal", "metric", "fidelity", "baseline", "n_texts", "passed"}
    similar = table[table.signal == "similar"]
    assert (similar.metric == "auc").all() and similar.fidelity.between(0, 1).all()
    prototypes = table.concept.map({n: c.is_prototype for n, c in zip(model.concept_names(), model.concepts_)})
    assert (table[(table.signal == "mentions") & ~prototypes].metric == "exact").all()
    assert (table[(table.signal == "mentions") & prototypes].metric == "absent").all()
    S = model.n_signals_
    names = model.concept_names()
    for record in table.to_dict("records"):
        k = names.index(record["concept"])
        weight = model.coef_[0, k * S + model.measurer_.signals.index(record["signal"])]
        if record["metric"] == "auc" and record["fidelity"] < AUC_GATE:
            assert weight == 0, record
        if weight != 0:
            assert record["passed"] is True, record


def test_str_shows_direction_support_and_fidelity_on_every_line():
    data = load_sms_spam_sample()
    model = ConceptClassifier(max_concepts=5).fit(data.text[:300], data.label[:300])
    printed = str(model)
    for name in model.concept_names():
        assert name in printed
    assert printed.count("toward 'spam': ") + printed.count("toward 'ham': ") == len(model.concepts_)
    assert printed.count("of 300 training texts") == len(model.concepts_)
    assert "held-out" in printed and "(exact)" in printed
    # the support figures are the training data's
    k = next(k for k, c in enumerate(model.concepts_) if c.phrases)
    mentions = phrase_matches(data.text[:300].tolist(), model.concepts_)
    assert model.support_[k]["fires"] == int(mentions[:, k].sum())


def test_fidelity_survives_the_json_round_trip(tmp_path):
    texts, y = reviews(80)
    model = ConceptClassifier(max_concepts=4).fit(texts, y)
    path = tmp_path / "m.json"
    model.to_json(path)
    again = load(path)
    assert again.fidelity_.equals(model.fidelity_)
    assert str(again) == str(model)
    assert json.loads(path.read_text())["measurer"]["fidelity"][0]["metric"] in ("auc", "exact", "unverified")


def test_rule_labels_are_the_majority_of_the_training_texts_they_cover():
    data = load_sms_spam_sample()
    texts, y = data.text.tolist()[:400], data.label.to_numpy()[:400]
    model = RuleListClassifier(max_rules=6).fit(texts, y)
    F = model._measure(texts)
    left = np.ones(len(texts), bool)
    for rule in model.rules_:
        fires = rule.holds(F) & left
        if fires.any():
            labels, counts = np.unique(y[fires], return_counts=True)
            assert rule.label == labels[np.argmax(counts)], rule.describe(model.concept_names())
        left &= ~fires
    if left.any():
        labels, counts = np.unique(y[left], return_counts=True)
        assert model.default_ == labels[np.argmax(counts)]


@pytest.mark.parametrize("make", [lambda: RuleListClassifier(max_rules=4), lambda: ConceptTreeClassifier(max_depth=2)])
def test_rules_test_only_measurements_that_passed_their_gate_and_print_each_check(make, tmp_path):
    """As a linear head gives a gated signal no weight, a rule or a tree never tests one, and every
    printed condition says how its measurement was checked."""
    data = load_sms_spam_sample()
    model = make().fit(data.text, data.label)
    records = {(r["concept"], r["signal"]): r for r in model.measurer_.fidelity_}
    conditions = model._conditions()
    assert conditions
    for c in conditions:
        assert records[(c.concept, c.signal)]["passed"] is not False, c
    printed, names = str(model), model.concept_names()
    for c in conditions:
        assert c.describe(names, model._checks()) in printed
        assert f"; {fidelity.describe(records[(c.concept, c.signal)])})" in c.describe(names, model._checks())
    assert model.n_gated_signals_ > 0 and f"never tested: {model.n_gated_signals_} candidate signals" in printed
    assert set(model.fidelity_.concept) == set(names)
    # explain() shows the condition that decided a text as str() prints it, check included
    shown = model.explain(data.text[:40])
    column = "rule_text" if "rule_text" in shown else "path"
    decided = [text for text in shown[column] if text not in ("ELSE", "(root)")]
    assert decided
    checks = {f"; {fidelity.describe(records[(c.concept, c.signal)])})" for c in conditions}
    for text in decided:
        parts = text.split(" AND ")
        assert all(any(part.endswith(check) for check in checks) for part in parts), text
        if column == "rule_text":
            assert text in printed
    # each signal left out is named with its failed check (a signal with nothing to measure is no check)
    gated = model.gated_signals_
    assert len(gated) == model.n_gated_signals_ and all(g["passed"] is False and g["metric"] != "absent" for g in gated)
    card = Path(model.report(data.text[:60], data.label[:60], tmp_path / "card.md", plots=False)).read_text()
    for g in gated:
        assert f"- {g['concept']} [{g['signal']}] ({fidelity.describe(g)})" in card
    model.to_json(tmp_path / "m.json")
    again = load(tmp_path / "m.json")
    assert str(again) == printed and again.n_gated_signals_ == model.n_gated_signals_
    assert [g["concept"] for g in again.gated_signals_] == [g["concept"] for g in gated]


# ---------------------------------------------------------------- the chat path on recorded answers
@pytest.fixture
def answers(fresh_cache):
    server = AnswerServer(["sst2"])
    yield server
    server.close()


def _chat(server):
    return ChatModel("recorded", base_url=server.base_url, api_key="sk-test", progress=False)


def _recorded_association(dataset, model, texts, y):
    """Scores from the recorded answers (not from the model), for the concepts the model kept."""
    table, questions = load_answers(dataset)
    by_text = table.set_index("text")
    columns = [f"q{questions.index(c.text) + 1:02d}" for c in model.concepts_]
    return by_text.loc[texts, columns].to_numpy(float)


@needs_answers
def test_llm_measure_is_the_default_with_a_chat_model_and_its_weights_follow_the_answers(answers):
    texts, y = split("sst2", "train")
    model = ConceptClassifier(_chat(answers), max_concepts=10).fit(texts, y)
    assert model.measure_ == "llm" and answers.missing == []
    assert len(model.concepts_) >= 3
    assert contradictions(model, texts, y, _recorded_association("sst2", model, texts, y)) == []
    test_texts, test_y = split("sst2", "test")
    accuracy = np.mean(model.predict(test_texts) == np.asarray(test_y))
    assert accuracy >= 0.88, accuracy          # recorded answers of a capable model (shared/llm_answers)
    assert model.chat_calls_per_text_ == 1
    assert (model.fidelity_.metric == "defined").all()


@needs_answers
def test_distill_weights_only_probes_that_agree_with_the_chat_model_on_held_out_answers(answers):
    texts, y = split("sst2", "train")
    model = ConceptClassifier(_chat(answers), measure="distill", n_distill=200, max_concepts=10).fit(texts, y)
    assert answers.missing == []
    assert len(model.gated_concepts_) >= 5            # most sst2 probes do not beat the majority answer
    for record in model.fidelity_.to_dict("records"):
        assert record["metric"] == "agreement"
        assert record["fidelity"] >= AGREEMENT_GATE and record["fidelity"] >= record["baseline"] + MARGIN_GATE - 1e-9
    gated = {g["concept"] for g in model.gated_concepts_}
    assert not gated & set(model.concept_names())
    assert "not measured faithfully" in str(model)
    assert model.chat_calls_per_text_ == 0
    before = answers.count()
    model.predict(split("sst2", "test")[0][:20])
    assert answers.count() == before                  # distilled probes: no chat call at predict


@needs_answers
def test_distilled_rules_and_trees_test_only_probes_that_agree_with_the_chat_model(fresh_cache):
    """On a capable model's recorded answers (shared/llm_answers, financial_phrasebank): most distilled
    probes fail the agreement gate (18 of 20), and no rule or split tests one; each condition prints
    its agreement. On sst2 all 20 fail: the list is its ELSE alone (as ConceptClassifier is its
    intercept alone), and its header counts no concept."""
    server = AnswerServer(["financial_phrasebank"])
    texts, y = split("financial_phrasebank", "train")
    for make in (RuleListClassifier, ConceptTreeClassifier):
        model = make(llm=_chat(server), measure="distill", n_distill=200, n_proposed_rules=0).fit(texts, y)
        assert server.missing == []
        assert model.n_gated_signals_ >= 5
        records = {(r["concept"], r["signal"]): r for r in model.measurer_.fidelity_}
        conditions = model._conditions()
        assert conditions and all(records[(c.concept, c.signal)]["passed"] is True for c in conditions)
        checks = model._checks()
        assert all(checks[c.column].startswith("agrees ") and checks[c.column] in str(model) for c in conditions)
    server.close()

    server = AnswerServer(["sst2"])   # every distilled probe fails: nothing is tested, and the header counts none
    texts, y = split("sst2", "train")
    for make, shape in ((RuleListClassifier, "0 rules over 0 concepts"), (ConceptTreeClassifier, "1 leaf over 0 concepts")):
        model = make(llm=_chat(server), measure="distill", n_distill=200, n_proposed_rules=0).fit(texts, y)
        printed = str(model)
        assert shape in printed.splitlines()[0]
        assert "overstates" not in printed        # nothing was chosen: the precision is the class share
        decided = model.evaluate_rules(texts[:50], y[:50])
        assert len(decided) == 1 and decided.texts[0] == 50 and decided.rule[0] in ("ALWAYS", "(root)")
        explained = _rule_explanation(model, texts[0], None)                              # nlmodels explain
        assert explained["rule_text"] == decided.rule[0] and "precision_note" not in explained   # nothing chosen
        assert printed.splitlines()[-1] == ("not measured faithfully, so never tested: 20 candidate signals whose "
                                            "held-out check fell below its gate")
    server.close()


@needs_answers
def test_distill_with_gated_llm_asks_only_the_gated_questions_at_predict(answers):
    texts, y = split("sst2", "train")
    model = ConceptClassifier(_chat(answers), measure="distill", gated="llm", max_concepts=10).fit(texts, y)
    assert model.gated_concepts_ == []
    by_llm = model.measurer_.answered_by_llm_
    assert by_llm.any() and model.chat_calls_per_text_ == 1
    test_texts = split("sst2", "test")[0][:15]
    before = answers.count()
    estimate = model.estimate_cost(test_texts)   # a dry run: it reaches no server, the fallback's calls included
    assert answers.count() == before and estimate.requests == len(test_texts)
    other = model.set_params(llm=_chat(answers)).estimate_cost(test_texts)   # a chat model set after the fit too
    assert answers.count() == before and other.requests == len(test_texts)
    model.predict(test_texts)
    assert answers.count() - before == len(test_texts) == estimate.requests
    asked = answers.requests[-1][1]["messages"][-1]["content"]
    for concept, chat in zip(model.concepts_, by_llm):
        assert (concept.text in asked) == bool(chat)
    assert contradictions(model, texts, y, _recorded_association("sst2", model, texts, y)) == []
    # the card says each asked concept's probe failed, and that the answer itself was not checked
    rows = card_data(model, test_texts, split("sst2", "test")[1][:15])["fidelity"]
    asked_rows = [r for r in rows if "its distilled probe agreed" in r["fidelity"]]
    assert len(asked_rows) == int(by_llm.sum()) and all(r["gate"].startswith("none: the answer defines it")
                                                        for r in asked_rows)
    assert all(r["gate"] == "passed" for r in rows if r not in asked_rows)   # the probes that carry weight


@needs_answers
def test_recheck_asks_a_sample_again_in_another_order_and_reports_consistency(answers):
    texts, y = split("sst2", "train")
    model = ConceptClassifier(_chat(answers), recheck=12, max_concepts=5).fit(texts, y)
    # 2 proposal rounds + 200 measurement calls + 12 rechecks
    assert answers.count() == 2 + len(texts) + 12
    table = model.fidelity_
    assert (table.metric == "consistency").all() and (table.n_texts == 12).all()
    assert (table.fidelity == 1.0).all()              # a table answers the same whatever the order
    assert "asked again on 12 training texts: agrees 1.00" in str(model)   # training texts, not held-out ones


def test_unknown_texts_get_a_404_never_an_invented_answer(answers):
    model = ConceptClassifier(_chat(answers), max_concepts=3)
    with pytest.raises(Exception, match="not in the recorded answers|failed"):
        model.fit(["a text no one recorded", "another one", "and a third"] * 4, [0, 1, 1] * 4)
    assert any("text" in m for m in answers.missing)


@pytest.mark.server
def test_distill_fidelity_through_the_real_local_server(smollm, fresh_cache):
    """SmolLM2 answers at chance: this checks the path (fidelity table, gate, call counts), not quality."""
    llm = ChatModel("smollm2", base_url=smollm.base_url, api_key="sk-local", progress=False, max_tokens=200)
    texts, y = reviews(24)
    model = ConceptClassifier(llm, measure="distill", n_distill=12, n_rounds=1, questions_per_round=3,
                              max_concepts=3, concepts=["Does the text praise the film?"]).fit(texts, y)
    assert smollm.count() <= 1 + 12 + 3               # proposal, answers, repairs at most for a few
    table = model.fidelity_
    assert len(table) == len(model.concepts_)
    for record in table.to_dict("records"):
        assert record["passed"] is True and record["n_texts"] <= 12
    # 12 answers or fewer cannot show that an agreement of 0.8 or more is not below 0.8: Wilson's
    # interval reaches below it (12 of 12: 0.76), and the printed line says so, kept or gated
    records = [r for r in list(model.measurer_.fidelity_) + list(model.gated_concepts_) if r["metric"] == "agreement"]
    assert records
    printed = str(model)
    for record in records:
        low, high = record["interval"]
        assert low <= record["fidelity"] <= high and low < AGREEMENT_GATE
        assert (AGREEMENT_GATE in fidelity.spans_gate(record)) == (high >= AGREEMENT_GATE)
        assert fidelity.describe(record) in printed


def test_a_model_file_without_fidelity_says_so_instead_of_failing(tmp_path, capsys):
    """A file written before support and fidelity were recorded: str says they are missing."""
    texts, y = reviews(80)
    doc = json.loads(ConceptClassifier(max_concepts=3).fit(texts, y).to_json())
    for name in ("support_", "class_shares_", "gated_concepts_"):
        doc["attributes"].pop(name, None)
    doc["measurer"].pop("fidelity", None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    old = load(path)
    assert "training support and fidelity not recorded" in str(old) and old.fidelity_.empty
    # nlmodels explain says the same beside every concept it shows, instead of showing none
    assert main(["explain", str(path), "--json", "--top", "3", texts[0]]) == 0
    shown = json.loads(capsys.readouterr().out)["contributions"]
    assert shown and all(c["check"] == "fidelity not recorded" for c in shown)
    # and so does its card: a limitation, and beside each weighted concept
    card = Path(old.report(texts, y, tmp_path / "old.md", plots=False)).read_text()
    limitations = card[card.index("## Limitations"):card.index("## Edit history")]
    assert "no concept here is shown to measure what its sentence says" in limitations
    concepts = card[card.index("## Concepts"):card.index("## Limitations")]
    assert concepts.count("training support and fidelity not recorded") == len(old.concepts_)

    rules = json.loads(RuleListClassifier(max_rules=3).fit(texts, y).to_json())   # a rule list of then
    rules["measurer"].pop("fidelity", None)
    rules["attributes"].pop("n_gated_signals_", None)
    path.write_text(json.dumps(rules))
    printed = str(load(path))
    assert "; fidelity not recorded)" in printed and "never tested" not in printed


def test_refit_head_on_the_training_texts_scores_prototypes_held_out_as_fit_does():
    """A prototype's probe learnt the training labels: refitting the head on those texts (the audit's
    edit-then-refit) must score them by probes fitted without each, as fit does, not in-sample (where
    they fire for their class alone and the printed support becomes a training figure)."""
    import copy

    sample = load_sms_spam_sample().iloc[:200]
    texts, y = list(sample.text), np.array(sample.label)
    model = ConceptClassifier(embedder=HashEmbedder(progress=False)).fit(texts, y)
    assert any(c.is_prototype for c in model.concepts_)
    again = copy.deepcopy(model).refit_head(texts, y)
    np.testing.assert_allclose(again.coef_, model.coef_)          # the same scores, so the same head
    assert again.support_ == model.support_ and str(again) == str(model)
    in_sample = model.measurer_.transform(texts, model.embedder_.encode(texts))
    labelled = model.measurer_.labelled_transform(texts, model.embedder_.encode(texts), y)
    column = model.n_signals_ * next(k for k, c in enumerate(model.concepts_) if c.is_prototype)
    assert not np.allclose(in_sample[:, column], labelled[:, column])   # what the fix is about


def test_refit_head_on_new_texts_prints_their_class_shares():
    texts, y = reviews(80)
    model = ConceptClassifier(max_concepts=3).fit(texts, y)
    more, labels = reviews(90, seed=1)
    labels = np.where(np.arange(90) < 60, "neg", labels)     # a different balance: 60+ of 90 'neg'
    model.refit_head(more, labels)
    assert model.class_shares_["'neg'"] == pytest.approx(np.mean(labels == "neg"))
    assert f"({100 * np.mean(labels == 'neg'):.0f}% of all" in str(model) or \
        f"({100 * np.mean(labels == 'pos'):.0f}% of all" in str(model)


def test_an_edit_and_refit_keeps_saying_which_concepts_were_not_measured_faithfully():
    texts, y = reviews(40)
    model = ConceptClassifier(embedder=HashEmbedder(progress=False), max_concepts=6).fit(texts, y)
    gated = [g["concept"] for g in model.gated_concepts_]
    assert gated and all(name in str(model) for name in gated)
    edited = model.edit(remove=[0], author="A. Auditor").refit_head(texts, y)
    assert [g["concept"] for g in edited.gated_concepts_][-len(gated):] == gated
    assert all(name in str(edited) for name in gated)


def test_a_line_whose_firing_texts_cannot_show_its_direction_says_so():
    """The split printed on a concept's line is its evidence for the direction: where the class share
    among the texts it fires on has a 95% interval that spans the share among all texts, the line says
    those texts are too few to show the direction (a weight resting on 2 texts no longer reads as settled)."""
    from scipy.stats import binomtest

    texts, y = reviews(40)
    model = ConceptClassifier(embedder=HashEmbedder(progress=False), max_concepts=6).fit(texts, y)
    lines = str(model).splitlines()
    said = []
    for k, name in enumerate(model.concept_names()):
        evidence = lines[next(i for i, line in enumerate(lines) if line.endswith(name)) + 1]
        weight = model.coef_[0, k * model.n_signals_:(k + 1) * model.n_signals_].sum()
        toward = repr(str(model.classes_[int(weight >= 0)]))
        support = model.support_[k]
        share = support["class_shares"][toward]
        ci = binomtest(round(share * support["fires"]), support["fires"]).proportion_ci(method="wilson")
        spans = ci.low <= model.class_shares_[toward] <= ci.high
        assert ("too few to show its direction" in evidence) == spans, evidence
        said.append(spans)
    assert any(said) and not all(said)   # both kinds of line are in this model


def test_a_line_whose_firing_texts_lean_against_its_weight_says_so():
    """The weight's sign follows the concept's scores over all training texts; the printed split counts
    the texts scoring 0.5 or more. Where that split clearly leans the other way, the line says so."""
    texts, y = reviews(40)
    model = ConceptClassifier(embedder=HashEmbedder(progress=False), max_concepts=6).fit(texts, y)
    k = 0
    weight = model.coef_[0, :model.n_signals_].sum()
    toward = repr(str(model.classes_[int(weight >= 0)]))
    other = next(name for name in model.class_shares_ if name != toward)
    model.support_[k] = {"fires": 30, "n_texts": 40, "class_shares": {toward: 0.1, other: 0.9}}   # as if it did
    lines = str(model).splitlines()
    line = lines[next(i for i, text in enumerate(lines) if text.endswith(model.concept_names()[k])) + 1]
    assert f"10% of them {toward} (50% of all; the 95% interval" in line and "lies on the other side" in line


def test_a_regressor_line_says_when_its_firing_texts_cannot_show_its_direction():
    """As a classifier's line does: where Welch's 95% interval of the difference between the mean target
    where a concept fires and elsewhere spans 0, the line says so."""
    from scipy.stats import ttest_ind

    texts, labels = reviews(60)
    y = np.where(labels == "pos", 4.0, 1.0) + np.random.RandomState(0).normal(0, 1.5, 60)
    model = ConceptRegressor(embedder=HashEmbedder(progress=False), max_concepts=6).fit(texts, y)
    lines, said = str(model).splitlines(), []
    F = model._measure(texts)   # a regressor has no prototypes: its training scores are these
    for k, name in enumerate(model.concept_names()):
        evidence = lines[next(i for i, line in enumerate(lines) if line.endswith(name)) + 1]
        fires = F[:, model._reading_columns()[k]] >= 0.5
        ci = ttest_ind(y[fires], y[~fires], equal_var=False).confidence_interval()
        assert ("too few to show its direction" in evidence) == bool(ci.low <= 0 <= ci.high), evidence
        said.append(ci.low <= 0 <= ci.high)
    assert any(said) and not all(said)
    assert json.loads(model.to_json())["attributes"]["support_"][0]["difference_interval"]   # kept in the file


def test_a_regressor_line_on_texts_with_equal_targets_fits_without_warnings():
    """Targets that repeat (ratings): a group whose targets are all equal takes the pooled interval, and
    scipy's precision warning never reaches the user."""
    import warnings

    texts, labels = reviews(40)
    y = np.where(labels == "pos", 4.0, 1.0)   # every group a concept splits off may be constant
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = ConceptRegressor(embedder=HashEmbedder(progress=False), max_concepts=6).fit(texts, y)
    for support in model.support_:
        if "difference_interval" in support:
            low, high = support["difference_interval"]
            assert np.isfinite([low, high]).all() and low < high


def test_a_held_out_check_never_scores_a_copy_of_a_text_its_probe_was_fitted_on():
    """SMS spam repeats its templates (17 repeats in the bundled 1,000). A probe fitted on one copy of a
    text scores its other copies as seen, not held out. Here the embedding is noise, one fixed vector
    per distinct text, so nothing in it shows the phrase: a probe can only memorise. Folds over the
    rows let it score the copies (AUC 1.0, a pass); folds that keep the copies together do not (near 0.5,
    a fail), and that is what the measurer reports."""
    import hashlib

    from nlmodels._splits import distinct_texts
    from nlmodels.concepts import Concept, EmbeddingMeasurer
    from nlmodels.concepts.measurers import held_out_probe_scores
    from nlmodels.concepts.measurers._probes import auc
    from nlmodels.embed.base import Embedder

    class Noise(Embedder):
        identity = {"type": "noise"}

        def _encode_batch(self, texts):
            seeds = [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=4).digest(), "little") for t in texts]
            return np.stack([np.random.RandomState(s).randn(64) for s in seeds]).astype(np.float32)

    rng = np.random.RandomState(0)
    distinct = [f"message number {i} about the {'zebra' if rng.rand() < 0.5 else 'otter'}" for i in range(60)]
    texts = distinct * 3
    embedder = Noise(progress=False)
    E = embedder.encode(texts)
    target = np.array([[float("zebra" in t)] for t in texts])
    leaky = auc(target[:, 0], held_out_probe_scores(E, target, n_folds=3)[:, 0])
    held_out = held_out_probe_scores(E, target, n_folds=3, groups=distinct_texts(texts))
    assert leaky > 0.95 and auc(target[:, 0], held_out[:, 0]) < 0.7
    assert (distinct_texts(texts) == np.tile(np.arange(60), 3)).all()
    assert (distinct_texts(distinct) == np.arange(60)).all()   # no repeat: each row its own, the rows' own folds
    np.testing.assert_array_equal(held_out_probe_scores(E[:60], target[:60], n_folds=3),
                                  held_out_probe_scores(E[:60], target[:60], n_folds=3, groups=distinct_texts(distinct)))
    zebra = Concept("mentions something like: 'zebra'", ("zebra",), "expert")
    record = EmbeddingMeasurer(embedder, n_jobs=1).fit(texts, E, [zebra]).fidelity_[0]
    assert record["signal"] == "similar" and record["fidelity"] < 0.7 and record["passed"] is False
