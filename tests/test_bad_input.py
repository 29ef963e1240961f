"""Bad input: each case gets an error that names the problem and the row, or documented handling;
never a traceback from deep inside a dependency."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from faults import HashEmbedder, fault_server, measured_text  # noqa: F401
from nlmodels import ChatModel, ConceptClassifier
from nlmodels._validation import MAX_TEXT_CHARS
from textsets import reviews


def offline_model(**options):
    return ConceptClassifier(embedder=HashEmbedder(), max_concepts=5, groups_per_class=4, **options)


@pytest.fixture(scope="module")
def fitted():
    texts, labels = reviews(40)
    return offline_model().fit(texts, labels), texts, labels


# (value put at row 2, error type, what the message must say)
BAD_TEXTS = {
    "None": (None, ValueError, "missing text (None/NaN) at row 2"),
    "float NaN": (float("nan"), ValueError, "missing text (None/NaN) at row 2"),
    "numpy NaN": (np.float64("nan"), ValueError, "missing text (None/NaN) at row 2"),
    "pandas NA": (pd.NA, ValueError, "missing text (None/NaN) at row 2"),
    "empty": ("", ValueError, "empty or whitespace-only text at row 2"),
    "whitespace": (" \t\n\u00a0 ", ValueError, "empty or whitespace-only text at row 2"),
    "int": (42, TypeError, "int at row 2"),
    "float": (3.5, TypeError, "float at row 2"),
    "dict": ({"text": "great"}, TypeError, "dict at row 2"),
    "list": (["great", "film"], TypeError, "list at row 2"),
    "bytes": (b"a great film", TypeError, "bytes at row 2; decode it"),
    "bytearray": (bytearray(b"a great film"), TypeError, "bytes at row 2; decode it"),
    "numpy bytes": (np.bytes_(b"a great film"), TypeError, "bytes at row 2; decode it"),
    "lone surrogate": ("a great \ud83d film", ValueError, "not valid Unicode at row 2"),
}


@pytest.mark.parametrize("case", list(BAD_TEXTS))
def test_bad_text_is_named_with_its_row_at_fit_and_predict(case, fitted):
    value, error, message = BAD_TEXTS[case]
    model, texts, labels = fitted
    bad = list(texts)
    bad[2] = value
    with pytest.raises(error, match=re.escape(message)):
        offline_model().fit(bad, labels)
    with pytest.raises(error, match=re.escape(message)):
        model.predict(bad[:5])
    with pytest.raises(error, match=re.escape(message)):
        model.explain(bad[:5])


@pytest.mark.parametrize("container", [np.array, pd.Series])
@pytest.mark.parametrize("case", ["None", "float NaN", "int", "bytes"])
def test_bad_text_in_numpy_and_pandas_containers(case, container, fitted):
    value, error, message = BAD_TEXTS[case]
    model, texts, _ = fitted
    X = container(np.array(texts[:2] + [value] + texts[3:5], dtype=object))
    with pytest.raises(error, match=re.escape(message)):
        model.predict_proba(X)


@pytest.mark.parametrize("X, error, message", [
    ("one single string", TypeError, "got a single string; wrap it in a list"),
    ([], ValueError, "X is empty"),
    (np.array([["a", "b"], ["c", "d"]]), ValueError, "1-d sequence of texts, got an array of shape (2, 2)"),
    (pd.DataFrame({"a": ["x"], "b": ["y"]}), ValueError, "one column of texts, got a DataFrame with 2 columns"),
    ({"text": "x"}, TypeError, "got dict"),
    ((t for t in ["a", "b"]), TypeError, "got generator"),
])
def test_bad_container_says_what_it_got(X, error, message, fitted):
    with pytest.raises(error, match=re.escape(message)):
        fitted[0].predict(X)


def test_one_column_frames_and_arrays_are_accepted(fitted):
    model, texts, _ = fitted
    expected = model.predict(texts[:4])
    assert list(model.predict(pd.DataFrame({"review": texts[:4]}))) == list(expected)
    assert list(model.predict(np.array(texts[:4])[:, None])) == list(expected)
    assert list(model.predict(pd.Series(texts[:4], index=[10, 11, 12, 13]))) == list(expected)


@pytest.mark.parametrize("make_y, error, message", [
    (lambda y: np.array(["pos"] * len(y)), ValueError, "y has only 1 class ('pos'); a classifier needs at least 2"),
    (lambda y: y[:-1], ValueError, "X has 40 texts but y has 39 labels"),
    (lambda y: np.where(np.arange(len(y)) == 5, np.nan, (y == "pos") * 1.0), ValueError, "missing label (None/NaN) at row 5"),
    (lambda y: [None if i == 7 else v for i, v in enumerate(y)], ValueError, "missing label (None/NaN) at row 7"),
    (lambda y: [float("nan") if i == 6 else str(v) for i, v in enumerate(y)], ValueError, "missing label (None/NaN) at row 6"),
    (lambda y: pd.Series(y).where(np.arange(len(y)) != 3), ValueError, "missing label (None/NaN) at row 3"),
    (lambda y: [1 if i == 0 else str(v) for i, v in enumerate(y)], TypeError, "mixes text and non-text labels"),
    (lambda y: np.stack([y, y], axis=1), ValueError, "y must be 1-d, got shape (40, 2)"),
])
def test_bad_labels_are_named(make_y, error, message):
    texts, labels = reviews(40)
    with pytest.raises(error, match=re.escape(message)):
        offline_model().fit(texts, make_y(labels))


def test_unseen_labels_at_score_time(fitted):
    """Documented handling (docs/reliability.md): ``score`` is accuracy, and a row whose label the
    model never saw counts as wrong; labels of another type (numbers for a model of strings) are an
    error that says so."""
    model, texts, labels = fitted
    y = labels.astype(object)
    y[:10] = "neutral"
    predicted = model.predict(texts)
    assert model.score(texts, y) == pytest.approx(np.mean(predicted == y))
    assert model.score(texts, y) <= 0.75
    with pytest.raises(ValueError, match="Mix of label input types"):
        model.score(texts, (labels == "pos").astype(int))


def test_very_long_text_is_truncated_with_a_warning(fault_server, fresh_cache):
    texts, labels = reviews(24)
    texts[4] = "a tedious film " + "and so on " * 1500  # 15,015 characters
    with pytest.warns(UserWarning, match=rf"longer than {MAX_TEXT_CHARS} characters were truncated \(first at row 4\)"):
        offline_model().fit(texts, labels)

    server = fault_server()
    llm = ChatModel("fake", base_url=server.base_url, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm", n_rounds=1).fit(texts, labels)
    assert any("truncated" in str(w.message) for w in caught)
    prompt_texts = [t for t in (measured_text(e["body"]) for e in server.log) if t]
    assert max(len(t) for t in prompt_texts) == model.measurer_.max_chars == 2000  # the prompt's own budget
    with pytest.warns(UserWarning, match=r"truncated \(first at row 0\)"):
        assert model.predict([texts[4]])[0] == "neg"


def test_emoji_and_right_to_left_scripts_work(fault_server, fresh_cache):
    texts, labels = reviews(24)
    extras = ["שחקנים wonderful 🎬 סרט נהדר", "الفيلم awful 😡 ممل جدا", "👨‍👩‍👧 great family film ❤️",
              "boring \u202eטקסט הפוך\u202c 🙄", "مرحبا brilliant cast ✨", "dull 💤💤 ending"]
    texts += extras
    labels = np.concatenate([labels, ["pos", "neg", "pos", "neg", "pos", "neg"]])

    server = fault_server()
    llm = ChatModel("fake", base_url=server.base_url, progress=False)
    model = ConceptClassifier(llm=llm, embedder=HashEmbedder(), measure="llm", n_rounds=1).fit(texts, labels)
    received = {measured_text(e["body"]) for e in server.log}
    assert set(extras) <= received  # every character arrived as it was written
    assert list(model.predict(extras)) == ["pos", "neg", "pos", "neg", "pos", "neg"]
    assert model.explain(extras).shape[0] == len(extras)

    offline = offline_model().fit(texts, labels)  # the offline path tokenises them too
    assert offline.predict_proba(extras).shape == (6, 2)


def test_texts_with_no_words_give_a_clear_error():
    """Documented handling: the offline proposer mines word phrases; emoji-only texts have none.
    Without prototypes nothing can be proposed; with them, only the prototypes are."""
    texts = ["😀 🎉", "🙂🙂", "😡", "😤 😤"] * 5
    labels = ["a", "a", "b", "b"] * 5
    with pytest.raises(ValueError, match="no concept could be proposed"):
        offline_model(prototypes=False).fit(texts, labels)
    model = offline_model().fit(texts, labels)
    assert all(c.is_prototype for c in model.concepts_)


class _NeverEmbeds(HashEmbedder):
    def encode(self, texts):
        raise AssertionError("embedded before the parameters were checked")


@pytest.mark.parametrize("concepts, index", [([None], 0), (["Does it praise the film?", ""], 1),
                                             (["Does it praise the film?", "  "], 1), ([42], 0)])
@pytest.mark.parametrize("estimator", ["ConceptClassifier", "RuleListClassifier", "ConceptRegressor"])
def test_a_bad_written_concept_is_named_before_any_embedding(estimator, concepts, index):
    import nlmodels

    texts, labels = reviews(40)
    y = (labels == "pos").astype(float) if estimator == "ConceptRegressor" else labels
    model = getattr(nlmodels, estimator)(embedder=_NeverEmbeds(), concepts=concepts)
    with pytest.raises(ValueError, match=re.escape(f"concepts[{index}] must be a non-empty string or a Concept, "
                                                   f"got {concepts[index]!r}")):
        model.fit(texts, y)


@pytest.mark.parametrize("phrase, read", [("u", "cannot see it at all"), ("don't", "reads it as 'don'"),
                                          ("£1000", "reads it as '1000'"), ("i love", "reads it as 'love'")])
def test_a_given_phrase_that_matching_cannot_read_as_written_is_refused_by_name(phrase, read):
    """Phrase matching reads scikit-learn's default tokens: "u" never matched and "don't" never matched
    (its vocabulary entry was never a token), so a concept or hypothesis of it printed a 0 never measured."""
    from nlmodels import Concept, ConceptClassifier, explain_difference
    from nlmodels.concepts import phrase_matches

    assert phrase_matches(["u said i love it, don't you, for £1000"], [Concept("x", (phrase,))])[0, 0] == 0
    texts, labels = reviews(40)
    said = re.escape(f"the phrase {phrase!r} cannot be matched as written") + ".*" + re.escape(read)
    model = ConceptClassifier(embedder=_NeverEmbeds(), concepts=["Does it praise the film?",
                                                                  Concept("given", ("great", phrase), "expert")])
    with pytest.raises(ValueError, match=r"concepts\[1\]: " + said):
        model.fit(texts, labels)
    with pytest.raises(ValueError, match=r"hypotheses\[1\]: " + said):
        explain_difference(texts[:20], texts[20:], hypotheses=[["great"], ["fine", phrase]], embedder=_NeverEmbeds())
    fitted = ConceptClassifier(max_concepts=2).fit(texts, labels)
    with pytest.raises(ValueError, match=r"add\[0\]: " + said):
        fitted.edit(add=[[phrase]])


class _NoChat:
    def structured(self, *args, **kwargs):
        raise AssertionError("a chat call before the parameters were checked")


def test_phrases_are_checked_only_where_phrases_are_matched():
    from nlmodels import Concept, ConceptClassifier
    from nlmodels.concepts import check_phrases

    with pytest.raises(ValueError, match="the phrase '' cannot be matched as written"):
        check_phrases(["refund", ""], "add[0]")   # an empty phrase is seen by nothing
    given = Concept("Does the reviewer say they won't watch it again?", ("won't watch",), "expert")
    ConceptClassifier(llm=_NoChat(), measure="llm", concepts=[given])._check_params()   # the chat model answers it
    with pytest.raises(ValueError, match="concepts\\[0\\]: the phrase \"won't watch\""):
        ConceptClassifier(embedder=_NeverEmbeds(), concepts=[given])._check_params()


@pytest.mark.parametrize("value, others", [("abc", 1.0), (None, 1.0), ([1.0], 1.0), ("abc", "1.5")])
def test_a_non_numeric_regression_target_is_named_with_its_row(value, others):
    """Numbers read as text (a CSV column) are converted; the one that is not a number is named."""
    from nlmodels import ConceptRegressor

    texts, _ = reviews(20)
    y = np.array([others] * 20, dtype=object)
    y[7] = value
    with pytest.raises((TypeError, ValueError), match=r"\brow 7\b"):
        ConceptRegressor(embedder=_NeverEmbeds()).fit(texts, y)


@pytest.mark.parametrize("measure", ["embedding", "distill"])
def test_recheck_without_the_chat_model_answering_every_text_is_refused(measure, fault_server):
    """recheck asks the chat model again; with embeddings or distilled probes it would check nothing."""
    texts, labels = reviews(40)
    llm = ChatModel("fake", base_url=fault_server().base_url, progress=False) if measure == "distill" else None
    model = ConceptClassifier(llm=llm, embedder=_NeverEmbeds(), measure=measure, recheck=5)
    with pytest.raises(ValueError, match=re.escape(f"recheck=5 asks the chat model's answers again, which needs "
                                                   f"measure='llm' (the chat model answering every text); got "
                                                   f"measure='{measure}'")):
        model.fit(texts, labels)
