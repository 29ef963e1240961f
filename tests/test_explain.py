"""explain_difference and explain_model: statistics, held-out testing, reports, bad input, CLI."""

import html
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nlmodels
from nlmodels import ChatModel, ConceptClassifier, ConceptRegressor, explain_difference, explain_model
from nlmodels.cli import main
from nlmodels.concepts import phrase_matches
from nlmodels.data import load_sms_spam_sample
from nlmodels.explain._stats import benjamini_hochberg, compare_proportions
from textsets import BAD, GOOD, reviews, topics

# A theme absent from the SMS data, in five wordings that share no content word.
DENTAL = ["My dentist found two cavities.", "The orthodontist tightened her braces.",
          "Flossing keeps gums healthy.", "A molar was extracted.", "Fluoride toothpaste prevents decay."]


class Exploding:
    """An embedder that fails if anything is embedded: proves a check came before any work."""

    identity = {"name": "exploding"}

    def encode(self, texts):
        raise AssertionError("embedding started before the input was checked")


@pytest.fixture(scope="module")
def planted():
    """Ham messages cut at random into A and B; a dental sentence added to 30% of A."""
    ham = load_sms_spam_sample().query("label == 'ham'").text.tolist()
    rng = np.random.RandomState(1)
    order = rng.permutation(len(ham))
    a = [ham[i] for i in order[: len(ham) // 2]]
    b = [ham[i] for i in order[len(ham) // 2:]]
    chosen = rng.rand(len(a)) < 0.3
    a = [f"{t} {DENTAL[rng.randint(len(DENTAL))]}" if c else t for t, c in zip(a, chosen)]
    test_a = rng.rand(len(a)) < 0.5
    test_b = rng.rand(len(b)) < 0.5
    report = explain_difference(a, b, split=(test_a, test_b), names=("planted", "plain"))
    return report, a, b, test_a, test_b, chosen


# ---------------------------------------------------------------------- statistics
def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II, example (a): 56/70 vs 48/80, method 10.
    r = compare_proportions(56, 70, 48, 80)
    assert r["difference"] == pytest.approx(0.2)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert r["p_value"] == pytest.approx(stats.fisher_exact([[56, 14], [48, 32]]).pvalue)


def test_interval_stays_inside_minus_one_one_at_the_edges():
    r = compare_proportions(30, 30, 0, 30)
    assert r["difference"] == 1.0 and -1 <= r["ci_low"] < 1 and r["ci_high"] == 1.0
    assert r["p_value"] < 1e-15


def test_benjamini_hochberg_q_values():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    expected = np.minimum.accumulate((np.sort(p) * 4 / np.arange(1, 5))[::-1])[::-1]
    np.testing.assert_allclose(np.sort(benjamini_hochberg(p)), expected)


# ---------------------------------------------------------------------- explain_difference offline
def test_planted_theme_is_found_first_and_tested_on_held_out_texts(planted):
    report, a, b, test_a, test_b, chosen = planted
    table = report.table
    assert list(table.columns[:10]) == ["hypothesis", "more_often_in", "share_a", "share_b", "difference",
                                        "ci_low", "ci_high", "p_value", "q_value", "measured_by"]
    top = table.iloc[0]
    dental_words = {w.strip(".").lower() for s in DENTAL for w in s.split()}
    assert sum(p.split()[0] in dental_words for p in top.phrases) >= len(top.phrases) / 2
    assert top.more_often_in == "planted" and top.q_value < 1e-6 and top.measured_by == "mentions"
    # The shares are those of the held-out texts, recomputed here from the phrases.
    concept = nlmodels.Concept(top.hypothesis, tuple(top.phrases))
    held_a = [t for t, m in zip(a, test_a) if m]
    held_b = [t for t, m in zip(b, test_b) if m]
    assert top.n_a == len(held_a) and top.n_b == len(held_b)
    assert top.share_a == pytest.approx(phrase_matches(held_a, [concept])[:, 0].mean())
    assert top.share_b == pytest.approx(phrase_matches(held_b, [concept])[:, 0].mean())
    assert top.ci_low < top.difference < top.ci_high
    assert set(top.examples_a) <= set(held_a) and len(top.examples_a) == 3
    # the shown 'similar' shares come with that probe's fidelity, measured on these held-out texts it never saw
    assert table.similar_auc.between(0, 1).all() and top.similar_auc >= 0.75
    # Best first; q-values are BH over every row; all rows are tested on the same held-out texts.
    assert table.q_value.is_monotonic_increasing
    np.testing.assert_allclose(table.q_value, stats.false_discovery_control(table.p_value, method="bh"))
    assert (table.n_a == len(held_a)).all()


def test_a_phrase_seen_only_in_the_proposal_texts_is_never_confirmed():
    ham = load_sms_spam_sample().query("label == 'ham'").text.tolist()[:400]
    a, b = ham[:200], ham[200:]
    test_a = np.arange(200) % 2 == 0
    test_b = np.arange(200) % 2 == 0
    # "zeppelin" is in 60 proposal texts of A and in no test text at all.
    a = [f"{t} zeppelin" if (not test_a[i] and i % 3 != 0) else t for i, t in enumerate(a)]
    report = explain_difference(a, b, split=(test_a, test_b))
    rows = report.table[report.table.phrases.apply(lambda ps: "zeppelin" in ps)]
    assert len(rows) == 1  # proposed (from the proposal half, where it separates A from B) ...
    row = rows.iloc[0]
    concept = nlmodels.Concept(row.hypothesis, tuple(row.phrases))
    proposal_a = phrase_matches([t for t, m in zip(a, test_a) if not m], [concept]).mean()
    proposal_b = phrase_matches([t for t, m in zip(b, test_b) if not m], [concept]).mean()
    assert row.proposed_from == "A" and proposal_a - proposal_b > 0.4
    assert row.q_value > 0.05 and abs(row.difference) < 0.1  # ... and not confirmed by the held-out texts


def test_the_random_split_puts_every_copy_of_a_text_in_one_part():
    """A hypothesis proposed from a text and confirmed on its copy is not tested on held-out texts:
    every later copy goes to the part of its first copy (a group with no repeats is split as before)."""
    from nlmodels.explain.difference import _check_split

    ham = load_sms_spam_sample().query("label == 'ham'").text.tolist()
    a, b = ham[:60] * 3, ham[100:160]
    test_a, test_b = _check_split(None, a, b, 0.5, 0)
    held, proposed = {t for t, m in zip(a, test_a) if m}, {t for t, m in zip(a, test_a) if not m}
    assert len(set(a)) == 60 and not held & proposed and len(held) + len(proposed) == 60
    assert (test_a == np.tile(test_a[:60], 3)).all()   # each copy where its first copy is
    rng = np.random.RandomState(0)
    rng.permutation(180)   # group A's draw comes first
    expected = np.zeros(60, bool)
    expected[rng.permutation(60)[:30]] = True
    assert len(set(b)) == 60 and (test_b == expected).all()


def test_a_persons_hypotheses_are_always_tested():
    ham = load_sms_spam_sample().query("label == 'ham'").text.tolist()[:300]
    a = [f"{t} see you at the gym" if i % 2 else t for i, t in enumerate(ham[:150])]
    report = explain_difference(a, ham[150:], hypotheses=[["gym", "workout"], ["pizza"]], max_hypotheses=1)
    assert len(report.table) == 3
    gym = report.table[report.table.phrases.apply(lambda ps: ps == ["gym", "workout"])].iloc[0]
    assert gym.q_value < 1e-6 and gym.share_a == pytest.approx(0.5, abs=0.15) and gym.share_b == 0
    with pytest.raises(TypeError, match=r"hypotheses\[0\] must be a list of phrases"):
        explain_difference(a, ham[150:], hypotheses=["Does it mention the gym?"], embedder=Exploding())


def test_a_difference_of_zero_is_not_stated_as_equality():
    from nlmodels.explain.difference_report import _sentence

    said = _sentence("mentions something like: 'ur'", "spam", "ham", 0.0)
    assert said == "no difference seen between texts of spam and of ham in how often they mention something like: 'ur'"
    assert "equally" not in said   # 0 of 25 against 0 of 25 cannot show that they are equal
    unsure = _sentence("mentions something like: 'know'", "spam", "ham", 0.079, settled=False)
    assert unsure == ("texts of spam, more often than texts of ham in these texts but not shown (the interval spans 0), "
                      "mention something like: 'know'")


def test_the_interval_is_labelled_with_the_confidence_it_was_computed_at(planted):
    import copy

    report = copy.copy(planted[0])
    assert "(95% CI " in str(report) and "95% Newcombe" in report.to_markdown()
    report.settings = {**report.settings, "confidence": 0.5}
    assert "(50% CI " in str(report) and "(95% CI" not in str(report)
    assert "| 50% CI |" in report.to_markdown() and "50% Newcombe" in report.to_markdown()
    for sentence, row in zip(report.sentences(), report.table.itertuples()):   # a direction only where shown
        assert ("not shown (the interval spans 0)" in sentence) == (row.ci_low <= 0 <= row.ci_high)


def test_report_renders_as_text_html_markdown_and_json(planted, tmp_path):
    report = planted[0]
    text = str(report)
    assert "texts of planted, more often than texts of plain, mention something like:" in text
    assert "q = " in text and "held-out" in text
    assert "<table>" in report._repr_html_()
    md = report.to_markdown()
    assert "| # | hypothesis |" in md and "Fisher's exact test" in md
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    data = json.loads(report.to_json())
    assert data["names"] == ["planted", "plain"] and len(data["hypotheses"]) == len(report.table)
    assert data["hypotheses"][0]["sentence"] == report.sentences()[0]
    assert data["hypotheses"][0]["similar_auc"] == pytest.approx(report.table.similar_auc.iloc[0])
    for suffix in (".html", ".md", ".json"):
        assert (tmp_path / f"r{suffix}").name in report.save(tmp_path / f"r{suffix}")
    with pytest.raises(ValueError, match=r"\.html, \.md or \.json"):
        report.save(tmp_path / "r.txt")


def test_every_phrase_a_hypothesis_matches_is_in_each_rendering(planted):
    import html
    import re

    from nlmodels.concepts import describe_phrases

    report = planted[0]
    text = re.sub(r"\n      ", " ", str(report))   # a wrapped list of phrases read back as one line
    md, page = report.to_markdown(), report.to_html()
    long = [r for r in report.table.itertuples() if len(r.phrases) > 5]
    assert long, "no hypothesis with more than five phrases: this test needs one"
    for i, r in enumerate(report.table.itertuples()):
        assert r.hypothesis == describe_phrases(r.phrases)   # the sentence shows five and counts the rest
        hidden = ", ".join(f"'{p}'" for p in r.phrases[5:])
        listed = f"the other {len(r.phrases) - 5} phrase{'s' if len(r.phrases) > 6 else ''} it matches: {hidden}"
        if len(r.phrases) <= 5:
            continue
        assert html.escape(listed, quote=False) in md and html.escape(listed) in page
        if i < 10:   # the printed report shows the first ten
            assert f"    {listed}" in text.splitlines()
    assert max(len(line) for line in str(report).splitlines() if "it matches: " in line) <= 120


def test_texts_from_the_data_are_escaped_in_html():
    a = [f"<script>alert({i})</script> free dental cleaning today" for i in range(30)]
    b = [f"plain message number {i} about lunch" for i in range(30)]
    page = explain_difference(a, b).to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_null_split_confirms_nothing():
    ham = load_sms_spam_sample().query("label == 'ham'").text.tolist()
    rng = np.random.RandomState(3)
    order = rng.permutation(len(ham))
    half = len(ham) // 2
    report = explain_difference([ham[i] for i in order[:half]], [ham[i] for i in order[half:]], random_state=3)
    assert (report.table.q_value >= 0.05).all()


@pytest.mark.parametrize("call, error, message", [
    (lambda e: explain_difference(["a text", "b text", "c", "d"], embedder=e), TypeError, "texts_b is missing"),
    (lambda e: explain_difference([], ["x"] * 8, embedder=e), ValueError, "texts_a is empty"),
    (lambda e: explain_difference(["x y"] * 8, ["a", "b", 3, "d"], embedder=e), TypeError, "texts_b .*row 2"),
    (lambda e: explain_difference(["x y"] * 8, ["a", "b", None, "d"], embedder=e), ValueError, "texts_b .*row 2"),
    (lambda e: explain_difference(["x y", "z w"] * 4, ["a b", "c d", "e f"], embedder=e), ValueError,
     "proposal part of texts_b has 1 text"),
    (lambda e: explain_difference(["x y"] * 8, ["a b", "c d", "e f", "g h"], embedder=e), ValueError,
     r"part of texts_a has 0 text\(s\) \(its 8 texts are 1 distinct text"),
    (lambda e: explain_difference(["x y"] * 8, ["a b"] * 8, split=(np.ones(7, bool), np.ones(8, bool)), embedder=e),
     ValueError, r"split\[0\] has 7 values but texts_a has 8"),
    (lambda e: explain_difference(["x y"] * 8, ["a b"] * 8, test_size=1.5, embedder=e), ValueError, "test_size"),
    (lambda e: explain_difference(["x y"] * 8, ["a b"] * 8, names=("A", "A"), embedder=e), ValueError, "names"),
    (lambda e: explain_difference("one string", ["a b"] * 8, embedder=e), TypeError, "single string"),
])
def test_bad_input_is_refused_before_any_work(call, error, message):
    with pytest.raises(error, match=message):
        call(Exploding())


# ---------------------------------------------------------------------- explain_difference with a chat model
@pytest.mark.server
def test_chat_path_against_the_real_server(fresh_cache, smollm):
    """SmolLM2 answers at chance: only the path, the shapes and the call counts are checked."""
    texts, labels = reviews(40)
    a = [t for t, y in zip(texts, labels) if y == "neg"]
    b = [t for t, y in zip(texts, labels) if y == "pos"]
    llm = ChatModel("smollm2", base_url=smollm.base_url, max_concurrency=2, max_tokens=200)
    question = ["Does the text praise the film?"]  # SmolLM2 may write no usable question of its own
    report = explain_difference(a, b, llm=llm, n_rounds=1, questions_per_round=3, max_texts_per_group=4,
                                on_error="missing", hypotheses=question)
    assert report.calls["bound"] == 1 + 4 + 4
    # Every answered request is counted; llama.cpp also saw one rejected response-format probe (ChatModel
    # tries json_schema once per server and process, then remembers json_object; a rejection is no call).
    assert report.calls["made"] <= smollm.count() <= report.calls["made"] + 1
    assert report.calls["made"] <= 2 * report.calls["bound"]  # at most one repair request per call
    assert 1 <= len(report.table) <= 4 and (report.table.n_a <= 4).all() and (report.table.n_b <= 4).all()
    assert question[0] in set(report.table.hypothesis)
    assert report.table.measured_by.str.contains("smollm2").all()
    served = smollm.count()
    again = explain_difference(a, b, llm=llm, n_rounds=1, questions_per_round=3, max_texts_per_group=4,
                               on_error="missing", hypotheses=question)
    assert again.calls["made"] == 0 and smollm.count() == served  # all from the cache


# ---------------------------------------------------------------------- explain_model
def keyword_model(texts):
    """A black box: 'pos' when a good word occurs."""
    return np.array(["pos" if any(w in t for w in GOOD) else "neg" for t in texts])


def keyword_proba(texts):
    p = np.array([0.9 if any(w in t for w in GOOD) else 0.15 if any(w in t for w in BAD) else 0.5 for t in texts])
    return np.stack([1 - p, p], axis=1)


@pytest.fixture(scope="module")
def explained():
    texts, _ = reviews(240)
    return explain_model(keyword_model, texts, max_concepts=6), texts


def test_surrogate_of_labels_agrees_and_explains_exactly(explained):
    result, texts = explained
    assert isinstance(result.surrogate, ConceptClassifier) and result.kind == "labels"
    assert len(result.surrogate.concepts_) <= 6
    f = result.fidelity
    assert f["n_test"] + f["n_train"] == 240 and 50 <= f["n_test"] <= 70 and f["agreement"] >= 0.9
    test_texts = [texts[i] for i in result.split["test_rows"]]
    train_texts = {texts[i] for i in result.split["train_rows"]}
    assert len(set(texts)) == 186 and not train_texts & set(test_texts)   # 54 repeats, none on both sides
    differ = result.surrogate.predict(test_texts) != keyword_model(test_texts)
    assert f["agreement"] == pytest.approx(1 - differ.mean())
    assert sorted(result.disagreements.text) == sorted(np.array(test_texts)[differ])
    frame = result.explain(texts[:7])
    np.testing.assert_allclose(frame.sum(axis=1), result.surrogate.decision_function(texts[:7]), rtol=0, atol=1e-12)
    assert "agreement" in str(result) and "<table>" in result._repr_html_()
    assert json.loads(json.dumps(result.to_dict()))["fidelity"]["agreement"] == f["agreement"]
    # read against a constant answer: the black box's most common training output, on the same held-out texts
    train_outputs = keyword_model([texts[i] for i in result.split["train_rows"]])
    labels, counts = np.unique(train_outputs, return_counts=True)
    assert f["constant_agreement"] == pytest.approx(np.mean(keyword_model(test_texts) == labels[np.argmax(counts)]))
    said = f"held-out texts; a constant answer (its most common training output) agrees on {f['constant_agreement']:.3f}"
    assert said in str(result.surrogate).splitlines()[1]
    assert f"(surrogate fitted on {f['n_train']}){said[len('held-out texts'):]}" in result._fidelity_text()


def test_a_held_out_text_never_has_a_copy_among_the_fitted_ones():
    """A copy of a held-out text among the texts a surrogate was fitted on makes "held-out" untrue:
    each later copy goes to the side of its first copy. Without repeats, the split is the rows' own."""
    from sklearn.model_selection import train_test_split

    texts, _ = reviews(40, seed=3)
    distinct = list(dict.fromkeys(texts))
    doubled = distinct + distinct[::-1]   # every text twice
    result = explain_model(keyword_model, doubled, max_concepts=4)
    train = {doubled[i] for i in result.split["train_rows"]}
    test = {doubled[i] for i in result.split["test_rows"]}
    assert not train & test and len(train | test) == len(distinct)
    assert result.fidelity["n_test"] == 2 * len(test) and result.fidelity["n_train"] == 2 * len(train)
    expected = train_test_split(np.arange(len(doubled)), test_size=0.25, random_state=0, stratify=keyword_model(doubled))[1]
    assert {doubled[i] for i in expected if i < len(distinct)} <= test   # the first copies drawn for the test side
    single = explain_model(keyword_model, distinct, max_concepts=4)
    expected = train_test_split(np.arange(len(distinct)), test_size=0.25, random_state=0, stratify=keyword_model(distinct))[1]
    assert single.split["test_rows"] == expected.tolist()   # nothing repeats: the rows' own split, in its order
    with pytest.raises(ValueError, match="texts has 4 distinct texts; at least 8"):
        explain_model(keyword_model, ["good film", "bad film", "a film", "the film"] * 5, embedder=Exploding())


def test_a_probability_surrogate_names_its_class_its_baseline_and_a_refitted_head():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = reviews(120, seed=2)
    box = make_pipeline(CountVectorizer(), LogisticRegression()).fit(texts, labels)
    result = explain_model(box.predict_proba, texts, max_concepts=4)
    line = str(result.surrogate).splitlines()[1]
    assert "its output: the probability of class 'pos', column 1 of its predict_proba" in line
    assert "a constant answer (always the side of 0.5 most of its training outputs are on) agrees on" in line
    assert "its output: column 1 of its (n, 2) output" in str(explain_model(keyword_proba, texts, max_concepts=4).surrogate)
    assert "before refit_head" not in repr(result)
    result.surrogate.refit_head(texts[:60], box.predict_proba(texts[:60])[:, 1])
    for shown in (repr(result), str(result).splitlines()[0], html.unescape(result._repr_html_())):
        assert "these figures are of the surrogate's head before refit_head, not of its head now" in shown


def test_a_surrogate_no_better_than_a_constant_answer_says_so():
    from nlmodels.models._linear import constant_note

    assert constant_note({"agreement": 0.921, "constant_agreement": 0.947}) == (
        "; a constant answer (its most common training output) agrees on 0.947, so the surrogate does no better "
        "than that")
    assert constant_note({"agreement": 0.95, "constant_agreement": 0.5}).endswith("agrees on 0.500")
    assert constant_note({"agreement": 0.95}) == ""   # a file from before it was recorded


def test_surrogate_of_probabilities_is_a_regressor_with_r2():
    texts, _ = reviews(120, seed=2)
    result = explain_model(keyword_proba, texts, max_concepts=5)
    line = str(result.surrogate).splitlines()[1]
    assert "the training targets below are its outputs" in line and "R² " in line
    # a figure that could not be computed reads n/a, also after a JSON round trip (where NaN is a string)
    result.surrogate.surrogate_of_["fidelity"]["correlation"] = float("nan")
    loaded = nlmodels.report.from_dict(json.loads(result.surrogate.to_json()))
    assert "correlation n/a" in str(loaded) and "correlation n/a" in str(result.surrogate)
    assert isinstance(result.surrogate, ConceptRegressor) and result.kind == "probability"
    assert {"r2", "correlation", "agreement"} <= set(result.fidelity)
    assert result.fidelity["r2"] > 0.5 and result.fidelity["agreement"] >= 0.85
    frame = result.explain(texts[:5])
    np.testing.assert_allclose(frame.sum(axis=1), result.surrogate.predict(texts[:5]), rtol=0, atol=1e-12)


def test_surrogate_of_a_multiclass_black_box_explains_each_class():
    texts, labels = topics(30)
    truth = dict(zip(texts, labels))
    result = explain_model(lambda t: np.array([truth[x] for x in t]), texts, max_concepts=6)
    assert list(result.surrogate.classes_) == ["money", "science", "sport"] and result.fidelity["agreement"] >= 0.9
    column = list(result.surrogate.classes_).index("sport")
    frame = result.explain(texts[:4], target="sport")
    np.testing.assert_allclose(frame.sum(axis=1), result.surrogate.decision_function(texts[:4])[:, column],
                               rtol=0, atol=1e-12)


def _raises(texts):
    raise RuntimeError("model not loaded")


@pytest.mark.parametrize("predict, error, message", [
    (_raises, ValueError, r"predict \(_raises\) raised RuntimeError .*model not loaded"),
    (lambda t: keyword_model(t)[:-1], ValueError, "returned 19 outputs for 20 texts"),
    (lambda t: np.zeros((len(t), 3)), ValueError, r"shape \(20, 3\)"),
    (lambda t: None, TypeError, "returned None"),
    (lambda t: np.array(["neg"] * len(t)), ValueError, "one label .* for all 20"),
    (lambda t: np.full(len(t), np.nan), ValueError, "non-finite"),
    ("not a function", TypeError, "predict must be a function"),
])
def test_bad_black_box_is_refused_before_the_surrogate_is_fitted(predict, error, message):
    texts, _ = reviews(20)
    with pytest.raises(error, match=message):
        explain_model(predict, texts, embedder=Exploding())


def test_bad_texts_for_explain_model_name_the_row():
    with pytest.raises(TypeError, match="texts has a int at row 1"):
        explain_model(keyword_model, ["a", 1, "c"], embedder=Exploding())


# ---------------------------------------------------------------------- command line
def test_cli_diff_writes_a_report(planted, tmp_path, capsys):
    _, a, b, _, _, _ = planted
    pd.DataFrame({"message": a}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"message": b}).to_csv(tmp_path / "b.csv", index=False)
    code = main(["diff", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--text-column", "message",
                 "--out", str(tmp_path / "report.html"), "-q"])
    assert code == 0
    assert "texts of a, more often than texts of b, mention" in capsys.readouterr().out
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert main(["diff", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(tmp_path / "r.html")]) == 2
    assert "column 'text'" in capsys.readouterr().err


def test_cli_explain_model_on_a_joblib_pipeline(tmp_path, capsys):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts, labels = reviews(120, seed=4)
    joblib.dump(make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels), tmp_path / "bb.joblib")
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "texts.csv", index=False)
    code = main(["explain-model", str(tmp_path / "bb.joblib"), str(tmp_path / "texts.csv"), "--max-concepts", "5",
                 "--out", str(tmp_path / "surrogate.json"), "--disagreements", str(tmp_path / "d.csv"), "-q"])
    assert code == 0
    assert "agreement" in capsys.readouterr().out
    surrogate = nlmodels.load(tmp_path / "surrogate.json")
    assert isinstance(surrogate, ConceptClassifier) and len(surrogate.concepts_) <= 5
    # the file says what it is: a surrogate of that black box, fitted to its outputs, with its held-out agreement
    record = surrogate.surrogate_of_
    n_test = record["fidelity"]["n_test"]   # a quarter of the texts, with every copy beside its first copy
    assert record["black_box"].endswith("predict") and record["kind"] == "labels" and 25 <= n_test <= 35
    assert n_test + record["fidelity"]["n_train"] == 120
    line = str(surrogate).splitlines()[1]
    assert line.startswith("a surrogate of the black box ") and "not to true labels" in line
    assert f"agreement {record['fidelity']['agreement']:.3f} with it on {n_test} held-out texts" in line
    card = Path(surrogate.report(texts[:40], labels[:40], tmp_path / "card.md", plots=False)).read_text()
    assert line in card and "This model is a surrogate of a black box" in card[card.index("## Limitations"):]
    refit = surrogate.refit_head(texts, labels)   # refitted on true labels: that agreement is not this head's
    assert str(refit).splitlines()[1].startswith("fitted as a surrogate of the black box ")
    assert "its head has since been refitted (refit_head)" in str(refit) and "not to true labels" not in str(refit)
    assert not hasattr(refit.fit(texts, labels), "surrogate_of_")   # a new fit is no surrogate
    assert list(pd.read_csv(tmp_path / "d.csv").columns) == ["text", "black_box", "surrogate"]
    # A model JSON is a black box too (here: the surrogate just written).
    assert main(["explain-model", str(tmp_path / "surrogate.json"), str(tmp_path / "texts.csv"), "--max-concepts", "3",
                 "-q"]) == 0
    assert "Concept surrogate of a black box (labels)" in capsys.readouterr().out
    (tmp_path / "junk.joblib").write_text("not a pickle")
    assert main(["explain-model", str(tmp_path / "junk.joblib"), str(tmp_path / "texts.csv")]) == 2
    assert "cannot load" in capsys.readouterr().err


# ---------------------------------------------------------------------- recorded answers of a capable model
@pytest.fixture
def answer_server():
    from answer_server import AnswerServer, answers_available

    if not answers_available("sst2"):
        pytest.skip("shared/llm_answers/sst2 is not beside this checkout")
    server = AnswerServer(datasets=("sst2",))
    yield server
    server.close()


def test_chat_calls_equal_the_bound_stated_before_the_run(fresh_cache, answer_server, caplog):
    from answer_server import load_answers

    table, questions = load_answers("sst2")
    a, b = table.text[table.label == 0].tolist(), table.text[table.label == 1].tolist()
    llm = ChatModel("recorded", base_url=answer_server.base_url)
    with caplog.at_level("INFO", logger="nlmodels.explain"):
        report = explain_difference(a, b, llm=llm, names=("negative", "positive"), max_texts_per_group=30)
    assert "at most 62 chat calls" in caplog.text  # stated before the first call
    assert report.calls["bound"] == 2 + 30 + 30
    assert report.calls["made"] == report.calls["bound"] == answer_server.count()
    assert answer_server.missing == []
    assert len(report.table) >= 15 and (report.table.n_a == 30).all() and (report.table.n_b == 30).all()
    positive = report.table.set_index("hypothesis").loc[questions[0]]  # "... a positive opinion about the film?"
    assert positive.more_often_in == "positive" and positive.q_value < 0.01
    assert "at most 62 (2 proposal round(s) + 30 test texts of negative + 30 of positive), made 62" in str(report)
    # the header and every line say how many texts each hypothesis was tested on: 30 + 30 of those held out
    held_out = f"{report.sizes['a']['test']} + {report.sizes['b']['test']}"
    assert held_out != "30 + 30" and f"tested on 30 + 30 held-out texts (of {held_out} held out)" in str(report)
    assert f"negative {positive.share_a:.1%} of 30 vs positive {positive.share_b:.1%} of 30" in str(report)
    assert "| texts measured |" in report.to_markdown() and "| 30 + 30 |" in report.to_markdown()
    again = explain_difference(a, b, llm=llm, names=("negative", "positive"), max_texts_per_group=30)
    assert again.calls["made"] == 0 and again.calls["cached"] == 62 and answer_server.count() == 62
    pd.testing.assert_frame_equal(again.table, report.table)


def test_max_calls_shrinks_the_samples_and_caps_the_run(fresh_cache, answer_server):
    from answer_server import load_answers

    table, _ = load_answers("sst2")
    a, b = table.text[table.label == 0].tolist(), table.text[table.label == 1].tolist()
    llm = ChatModel("recorded", base_url=answer_server.base_url)
    report = explain_difference(a, b, llm=llm, max_calls=21)
    assert report.calls["bound"] == 21 and report.calls["made"] == 21 == answer_server.count()
    assert report.table.n_a.iloc[0] + report.table.n_b.iloc[0] == 19 and llm.max_calls is None
    with pytest.raises(ValueError, match="max_calls must be an integer >= 4"):
        explain_difference(a, b, llm=llm, max_calls=3)
