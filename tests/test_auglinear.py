"""AugLinear: an additive n-gram model whose table comes from embeddings; explain adds up exactly."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from nlmodels import AugLinearClassifier, AugLinearRegressor, OpenAIEmbedder, SentenceTransformerEmbedder

GOOD = ["a great film", "wonderful acting and a moving story", "I loved every minute", "terrific fun",
        "a delight from start to end", "brilliant , warm and funny", "the best movie this year",
        "beautifully made and well acted", "a charming , clever comedy", "an excellent , gripping thriller",
        "superb performances all round", "smart and touching", "a joy to watch", "genuinely funny and sweet"]
BAD = ["a dull film", "boring and far too long", "I hated every minute", "a waste of time",
       "the plot is n't good", "awful acting", "the worst movie this year", "clumsy and tedious",
       "a lazy , stupid comedy", "an ugly , pointless mess", "painful to sit through", "flat and lifeless",
       "a tiresome bore", "poorly written and badly acted"]
TEXTS = GOOD + BAD
LABELS = ["pos"] * len(GOOD) + ["neg"] * len(BAD)
NEW = ["not a bad film at all", "a gorgeous , heartfelt triumph", "an utterly insipid slog", "film"]


@pytest.fixture(scope="module")
def clf():
    return AugLinearClassifier().fit(TEXTS, LABELS)


def test_explain_rows_add_up_to_decision_function_exactly(clf):
    for texts in (NEW, TEXTS):
        frame = clf.explain(texts)
        assert list(frame.columns)[-1] == "intercept" and len(frame) == len(texts)
        assert np.allclose(frame.sum(axis=1).to_numpy(), clf.decision_function(texts), rtol=0, atol=1e-12)


def test_explain_counts_an_ngram_each_time_it_occurs(clf):
    once, twice = clf.explain(["terrific"]), clf.explain(["terrific terrific"])
    assert np.isclose(twice.loc[0, "terrific"], 2 * once.loc[0, "terrific"], rtol=0, atol=1e-12)
    assert list(once.columns) == ["terrific", "intercept"]


def test_predict_and_predict_proba_follow_the_decision_function(clf):
    assert (clf.predict(TEXTS) == np.array(LABELS)).mean() >= 0.9
    assert set(clf.predict(NEW)) <= set(clf.classes_)
    proba = clf.predict_proba(NEW)
    assert proba.shape == (len(NEW), 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(clf.predict(NEW), clf.classes_[proba.argmax(axis=1)])


def test_unseen_ngrams_are_embedded_on_the_fly_once_and_silently(fresh_cache):
    embedder = SentenceTransformerEmbedder()
    calls = []
    original = embedder._encode_batch
    embedder._encode_batch = lambda texts: calls.append(list(texts)) or original(texts)
    model = AugLinearClassifier(embedder).fit(TEXTS, LABELS)
    fitted = {g for batch in calls for g in batch}
    assert fitted == set(model.vocabulary_)  # every training n-gram embedded once, nothing else
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = model.decision_function(NEW)
    new_ngrams = [g for batch in calls for g in batch]
    assert "gorgeous" in new_ngrams and "insipid slog" in new_ngrams
    assert not set(new_ngrams) & set(model.vocabulary_)
    assert len(new_ngrams) == len(set(new_ngrams))
    calls.clear()
    model.explain(NEW), model.predict(NEW), model.ngram_contributions(["gorgeous"])
    assert calls == []  # seen once, then from the embedder's cache
    assert np.array_equal(model.decision_function(NEW), first)
    assert "gorgeous" not in model.vocabulary_  # the fitted table is not changed by predict


def test_ngram_contributions_are_table_entries_for_any_phrase(clf):
    frame = clf.ngram_contributions(["terrific", "waste of time", "an insipid slog"])
    assert list(frame.index) == ["terrific", "waste of time", "an insipid slog"]
    assert frame["seen"].tolist() == [True, False, False]
    assert frame.loc["terrific", "contribution"] == pytest.approx(clf.ngram_scores_[clf.vocabulary_["terrific"], 0])
    # a longer phrase adds what its n-grams add: its decision value as a text, less the intercept
    for phrase in ("waste of time", "an insipid slog"):
        expected = clf.decision_function([phrase])[0] - clf.intercept_[0]
        assert frame.loc[phrase, "contribution"] == pytest.approx(expected, abs=1e-12)
    assert frame.loc["terrific", "contribution"] > 0 > frame.loc["waste of time", "contribution"]


def test_plain_auglinear_scores_seen_and_unseen_ngrams_the_same_way(fresh_cache):
    model = AugLinearClassifier(lexical_scales=(0.0,)).fit(TEXTS, LABELS)
    assert model.lexical_scale_ == 0.0
    E = model.embedder_.encode(["terrific", "great film"]).astype(np.float64)
    dim = E.shape[1]
    assert np.allclose(model.ngram_scores_[model.vocabulary_["terrific"], 0], E[0] @ model.coef_[0, :dim])
    assert np.allclose(model.ngram_scores_[model.vocabulary_["great film"], 0], E[1] @ model.coef_[0, dim:])


def test_table_reproduces_a_logistic_regression_on_summed_embeddings(fresh_cache, monkeypatch):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setattr("nlmodels.models._auglinear_base._TOL", 1e-10)  # both solvers run to the same optimum
    model = AugLinearClassifier(lexical_scales=(0.0,), Cs=(1.0,), max_iter=10_000).fit(TEXTS, LABELS)
    unigrams = CountVectorizer(token_pattern=model.token_pattern).fit(TEXTS)
    bigrams = CountVectorizer(token_pattern=model.token_pattern, ngram_range=(2, 2)).fit(TEXTS)
    embed = model.embedder_.encode
    sums = np.hstack([v.transform(TEXTS) @ embed(list(v.get_feature_names_out())).astype(np.float64)
                      for v in (unigrams, bigrams)])
    std = sums.std(axis=0)
    Z = (sums - sums.mean(axis=0)) / np.where(std < 1e-12, 1.0, std)  # MiniLM has near-dead dimensions
    reference = LogisticRegression(C=1.0, max_iter=10_000, tol=1e-10).fit(Z, LABELS)
    expected = reference.decision_function(Z)
    assert np.allclose(model.decision_function(TEXTS), expected, atol=1e-6)


def test_str_shows_the_strongest_phrases_for_and_against(clf):
    text = str(clf)
    assert "toward 'pos'" in text and "toward 'neg'" in text and "intercept" in text
    top = clf.top_ngrams(5)
    assert list(top.columns) == ["class", "direction", "ngram", "contribution", "documents"]
    assert len(top) == 10 and set(top.direction) == {"for"}
    assert (top.loc[top["class"] == "pos", "contribution"] > 0).all()
    assert (top.loc[top["class"] == "neg", "contribution"] < 0).all()
    assert set(top.ngram) <= set(clf.vocabulary_)
    strongest = top.loc[top["class"] == "pos"].iloc[0]
    assert f"{strongest.contribution:+8.3f}  {strongest.ngram}" in text
    assert "<table>" in clf._repr_html_() and "&lt;" not in clf._repr_html_()[:5]
    assert "AugLinearClassifier(" in AugLinearClassifier()._repr_html_()


def test_get_params_clone_and_pickle(clf):
    params = clf.get_params()
    assert params["ngram_range"] == (1, 2) and params["embedder"] is None
    copy = clone(clf)
    assert not hasattr(copy, "ngram_scores_") and copy.get_params() == params
    copy.set_params(ngram_range=(1, 1), Cs=[1.0], lexical_scales=[3.0])
    copy.fit(TEXTS, LABELS)
    assert max(g.count(" ") for g in copy.vocabulary_) == 0 and copy.C_ == 1.0
    restored = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(restored.decision_function(NEW), clf.decision_function(NEW))


def test_multiclass_explain_picks_the_class_column(fresh_cache):
    labels = ["good"] * 7 + ["great"] * 7 + ["bad"] * 14
    model = AugLinearClassifier(ngram_range=(1, 1), stop_words="english").fit(TEXTS, labels)
    assert list(model.classes_) == ["bad", "good", "great"]
    scores = model.decision_function(NEW)
    assert scores.shape == (len(NEW), 3)
    for k, cls in enumerate(model.classes_):
        frame = model.explain(NEW, target=cls)
        assert np.allclose(frame.sum(axis=1).to_numpy(), scores[:, k], rtol=0, atol=1e-12)
        assert "the" not in frame.columns  # stop words pruned
    contributions = model.ngram_contributions(["terrific"])
    assert list(contributions.columns) == ["bad", "good", "great", "seen"]
    assert model.ngram_contributions(["terrific"], target="bad").columns.tolist() == ["contribution", "seen"]
    top = model.top_ngrams(3)
    assert set(zip(top["class"], top.direction)) == {(c, d) for c in model.classes_ for d in ("for", "against")}
    assert "for 'great'" in str(model) and "against 'bad'" in str(model)
    assert np.allclose(model.predict_proba(NEW).sum(axis=1), 1)
    with pytest.raises(ValueError, match="not a class"):
        model.explain(NEW, target="meh")


def test_regressor_predictions_are_intercept_plus_contributions(fresh_cache):
    y = np.r_[np.linspace(4, 5, len(GOOD)), np.linspace(1, 2, len(BAD))]
    model = AugLinearRegressor().fit(TEXTS, y)
    predictions = model.predict(NEW)
    assert predictions.shape == (len(NEW),)
    assert np.allclose(model.explain(NEW).sum(axis=1).to_numpy(), predictions, rtol=0, atol=1e-12)
    assert np.corrcoef(model.predict(TEXTS), y)[0, 1] > 0.9
    assert model.alpha_ > 0 and set(model.cv_results_.columns) == {"lexical_scale", "mse", "alpha"}
    assert "toward higher predictions" in str(model)
    assert list(model.top_ngrams(2).columns) == ["direction", "ngram", "contribution", "documents"]
    assert model.ngram_contributions(["terrific"]).loc["terrific", "contribution"] > 0


def test_openai_embedder_through_the_cache(fresh_cache, fake_llm):
    server = fake_llm(lambda messages, body: "", embed_dim=16)
    embedder = OpenAIEmbedder("emb", base_url=server.base_url, api_key="sk-test", batch_size=64)
    model = AugLinearClassifier(embedder).fit(TEXTS, LABELS)
    assert model.coef_.shape == (1, 2 * 16)
    requests = server.count("/embeddings")
    assert requests == -(-len(model.vocabulary_) // 64)
    frame = model.explain(NEW)
    assert np.allclose(frame.sum(axis=1).to_numpy(), model.decision_function(NEW), rtol=0, atol=1e-12)
    assert server.count("/embeddings") == requests + 1  # the unseen n-grams of NEW, in one batch
    again = AugLinearClassifier(OpenAIEmbedder("emb", base_url=server.base_url, api_key="sk-test")).fit(TEXTS, LABELS)
    assert server.count("/embeddings") == requests + 1  # a new process would read the disk cache too
    assert np.allclose(again.decision_function(NEW), model.decision_function(NEW))
    assert b"sk-test" not in pickle.dumps(model)


def test_texts_without_ngrams_get_the_intercept(clf):
    frame = clf.explain(["a", "!!"])
    assert list(frame.columns) == ["intercept"]
    assert np.allclose(clf.decision_function(["a", "!!"]), clf.intercept_[0])


@pytest.mark.parametrize("X, y, error, match", [
    ([], [], ValueError, "empty"),
    (TEXTS, LABELS[:-1], ValueError, "must match"),
    (TEXTS, ["pos"] * len(TEXTS), ValueError, "only 1 class"),
    ("one text", ["pos"], TypeError, "single string"),
    (TEXTS[:-1] + [None], LABELS, ValueError, "row 27"),
    (["a", "!", "I"], ["x", "y", "x"], ValueError, "no n-grams"),
])
def test_bad_input_is_refused_with_a_clear_message(X, y, error, match):
    with pytest.raises(error, match=match):
        AugLinearClassifier().fit(X, y)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="ngram_range"):
        AugLinearClassifier(ngram_range=(2, 1)).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="lexical_scales"):
        AugLinearClassifier(lexical_scales=(-1,)).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="Cs"):
        AugLinearClassifier(Cs=(0,)).fit(TEXTS, LABELS)
    with pytest.raises(TypeError, match="numeric"):
        AugLinearRegressor().fit(TEXTS, LABELS)


class NoEmbedding:
    """An embedder that fails the test if any parameter check comes after the expensive work."""

    def encode(self, texts):
        raise AssertionError("embedding began before the parameters were checked")


@pytest.mark.parametrize("params, message", [
    ({"ngram_range": (1, 2, 3)}, r"ngram_range must be \(min_n, max_n\).*got \(1, 2, 3\)"),
    ({"Cs": ["a"]}, r"Cs must be positive numbers, got \['a'\]"),
    ({"token_pattern": "("}, r"token_pattern is not a regular expression .*'\('"),
    ({"token_pattern": r"(\w)(\w)"}, r"token_pattern may have at most one capturing group, got 2"),
    ({"n_jobs": 0}, r"'n_jobs' parameter of AugLinearClassifier must be .*Got 0"),
])
def test_a_bad_parameter_is_named_before_any_ngram_is_embedded(params, message):
    with pytest.raises(ValueError, match=message):
        AugLinearClassifier(NoEmbedding(), **params).fit(TEXTS, LABELS)


def test_two_class_contributions_are_toward_the_second_class_and_the_first_is_refused(clf):
    assert clf.explain(NEW, target="pos").equals(clf.explain(NEW))
    assert clf.ngram_contributions(["superb"], target="pos").equals(clf.ngram_contributions(["superb"]))
    for call in (lambda: clf.explain(NEW, target="neg"), lambda: clf.ngram_contributions(["superb"], target="neg")):
        with pytest.raises(ValueError, match=r"contributions point toward 'pos' \(classes_\[1\]\); toward 'neg' "
                                             r"they are the same numbers negated"):
            call()


def test_predict_before_fit_raises(clf):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        AugLinearClassifier().predict(["a film"])
    assert isinstance(clf.explain(pd.Series(NEW)), pd.DataFrame)


def test_parallel_cross_validation_chooses_and_fits_exactly_what_the_serial_one_does(clf):
    # The default (n_jobs=-1) runs the head's cross-validation fits in joblib processes; the folds,
    # candidates and final fit are the same, so the fitted table must be identical to the serial one.
    assert clf.n_jobs == -1
    serial = AugLinearClassifier(n_jobs=1).fit(TEXTS, LABELS)
    pd.testing.assert_frame_equal(serial.cv_results_, clf.cv_results_)
    assert (serial.C_, serial.lexical_scale_) == (clf.C_, clf.lexical_scale_)
    assert np.array_equal(serial.ngram_scores_, clf.ngram_scores_)
    assert np.array_equal(serial.intercept_, clf.intercept_)
