"""AugLinear's n-gram table capped by document frequency (min_df, max_ngrams): bounded, and the whole model."""

import numpy as np
import pytest

import nlmodels
from nlmodels import AugLinearClassifier, AugLinearRegressor
from nlmodels.data import load_sms_spam_sample

DATA = load_sms_spam_sample().iloc[:200]
TEXTS, LABELS = DATA.text.tolist(), DATA.label.to_numpy()


@pytest.fixture(scope="module")
def capped():
    return AugLinearClassifier(max_ngrams=300, min_df=2).fit(TEXTS, LABELS)


def test_table_is_bounded_by_the_cap_and_keeps_the_most_frequent_ngrams(capped):
    free = AugLinearClassifier(lexical_scales=(3.0,), Cs=(1.0,)).fit(TEXTS, LABELS)
    assert len(free.vocabulary_) > 2000
    assert len(capped.vocabulary_) == 300 == len(capped.ngram_scores_)
    assert capped.document_frequency_.min() >= 2
    kept_df = capped.document_frequency_.min()
    dropped = [g for g in free.vocabulary_ if g not in capped.vocabulary_]
    assert max(free.document_frequency_[free.vocabulary_[g]] for g in dropped) <= kept_df
    assert "capped" in str(capped) and "max_ngrams=300" in str(capped)


def test_ngrams_outside_the_capped_table_add_nothing(capped):
    texts = ["FREE entry to win a prize, call now", "see you at the zorblax quintessence"]
    explained = capped.explain(texts)
    assert np.allclose(explained.sum(axis=1), capped.decision_function(texts), atol=1e-9)
    assert set(explained.columns) - {"intercept"} <= set(capped.vocabulary_)
    outside = capped.ngram_contributions(["zorblax quintessence"])
    assert outside.contribution.iloc[0] == 0 and not outside.seen.iloc[0]
    assert capped.decision_function(["zorblax"])[0] == pytest.approx(capped.intercept_[0])


def test_capped_model_round_trips_through_json(capped, tmp_path):
    loaded = nlmodels.load(capped.to_json(tmp_path / "capped.json"))
    texts = TEXTS[:20] + ["zorblax quintessence prize"]
    assert np.array_equal(loaded.predict_proba(texts), capped.predict_proba(texts))
    assert str(loaded) == str(capped)


def test_a_capped_model_says_what_it_kept_and_its_file_gives_the_rule_it_follows(capped, tmp_path):
    import json

    from sklearn.feature_extraction.text import CountVectorizer

    seen = len(CountVectorizer(token_pattern=capped.token_pattern, ngram_range=(1, 2)).fit(TEXTS).vocabulary_)
    assert capped.n_training_ngrams_ == seen > 300
    assert f"300 n-grams in the table, of the {seen:,} seen in training" in str(capped)
    doc = json.loads(capped.to_json())
    assert "any other n-gram adds nothing (the table is capped" in doc["measurement"]
    assert "embedding(" not in doc["measurement"]   # the recipe for uncapped models, which this one does not follow
    # the file's recipe, followed by hand: each occurrence of a table n-gram adds its row; others add nothing
    vocabulary = {g: i for i, g in enumerate(doc["ngrams"]["vocabulary"])}
    scores = np.asarray(doc["ngrams"]["scores"]["data"], dtype=float).reshape(doc["ngrams"]["scores"]["shape"])
    analyze = CountVectorizer(token_pattern=capped.token_pattern, ngram_range=(1, 2)).build_analyzer()
    text = "i feel so happy and thrilled today, call now to win"
    by_hand = doc["head"]["intercept"]["data"][0] + sum(scores[vocabulary[g], 0] for g in analyze(text) if g in vocabulary)
    assert by_hand == pytest.approx(capped.decision_function([text])[0], abs=1e-6)


def test_regressor_takes_the_cap_too():
    y = np.array([len(t) for t in TEXTS], float)
    model = AugLinearRegressor(max_ngrams=100).fit(TEXTS, y)
    assert len(model.vocabulary_) == 100
    assert np.allclose(model.explain(TEXTS[:5]).sum(axis=1), model.predict(TEXTS[:5]))


def test_a_cap_that_keeps_nothing_is_refused():
    with pytest.raises(ValueError, match="min_df"):
        AugLinearClassifier(min_df=10_000).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="max_ngrams"):
        AugLinearClassifier(max_ngrams=0).fit(TEXTS, LABELS)


def test_auto_caps_only_a_table_over_the_limit(monkeypatch, tmp_path):
    """max_ngrams="auto" (the default): the whole table below the limit; above it, the AUTO_CAP
    n-grams found in the most texts, recorded, printed, and kept through JSON."""
    from nlmodels.models import _auglinear_base

    below = AugLinearClassifier(lexical_scales=(3.0,), Cs=(1.0,)).fit(TEXTS, LABELS)
    n_ngrams = len(below.vocabulary_)
    assert below.max_ngrams == "auto" and below.max_ngrams_ is None and "capped" not in str(below)
    monkeypatch.setattr(_auglinear_base, "AUTO_TABLE_LIMIT", n_ngrams - 1)
    monkeypatch.setattr(_auglinear_base, "AUTO_CAP", 250)
    auto = AugLinearClassifier(lexical_scales=(3.0,), Cs=(1.0,)).fit(TEXTS, LABELS)
    assert auto.max_ngrams_ == 250 and len(auto.vocabulary_) == 250
    explicit = AugLinearClassifier(lexical_scales=(3.0,), Cs=(1.0,), max_ngrams=250).fit(TEXTS, LABELS)
    assert auto.vocabulary_ == explicit.vocabulary_
    assert np.allclose(auto.predict_proba(TEXTS[:30]), explicit.predict_proba(TEXTS[:30]))
    printed = str(auto)
    assert "max_ngrams=250" in printed and "chosen by max_ngrams='auto'" in printed
    loaded = nlmodels.load(auto.to_json(tmp_path / "auto.json"))
    assert loaded.max_ngrams_ == 250 and loaded.decision_function(["zorblax"])[0] == pytest.approx(auto.intercept_[0])
    never = AugLinearClassifier(lexical_scales=(3.0,), Cs=(1.0,), max_ngrams=None).fit(TEXTS, LABELS)
    assert never.max_ngrams_ is None and len(never.vocabulary_) == n_ngrams
