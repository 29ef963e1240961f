"""The concept budget by cross-validation: an offline classifier of at most 15 classes fitted on at
most CV_BUDGET_MAX_TEXTS texts with max_concepts="auto" chooses its concept budget by k-fold
cross-validation that mines and measures inside each fold; the choice is recorded, printed and kept
in the model file. (Written for few labels, where a fixed 30 overfits most.)"""

from collections import Counter

import numpy as np
import pytest

from faults import HashEmbedder
from nlmodels import ConceptClassifier, ConceptRegressor, load
from nlmodels.concepts import PhraseProposer
from nlmodels.models import _linear
from textsets import reviews, topics


@pytest.fixture(scope="module")
def data():
    return topics(n_per_class=20)


@pytest.fixture(scope="module")
def fitted(data):
    return ConceptClassifier(embedder=HashEmbedder(progress=False)).fit(*data)


def test_budget_chosen_by_cross_validation_is_recorded_and_used(fitted, data):
    cv = fitted.concept_budget_cv_
    assert len(np.unique(data[1])) == 3 and cv["folds"] == 5
    assert cv["candidates"] == [3, 6, 12, 24, 30]   # multiples of the class count, doubling, up to 30
    assert len(cv["accuracy"]) == len(cv["candidates"]) and all(0 <= a <= 1 for a in cv["accuracy"])
    best = max(cv["accuracy"])   # the best mean held-out accuracy; ties go to the smallest budget
    # the prototypes alone (no mined phrase, the largest budget) win only when strictly better
    assert 0 <= cv["prototypes_alone_accuracy"] <= 1 and len(cv["fold_accuracy"][0]) == len(cv["candidates"]) + 1
    assert cv["mined_phrases"] == (not cv["prototypes_alone_accuracy"] > best)
    expected = next(b for b, a in zip(cv["candidates"], cv["accuracy"]) if a == best) if cv["mined_phrases"] else 30
    assert cv["chosen"] == expected
    assert fitted.max_concepts_ == cv["chosen"] and len(fitted.concepts_) <= cv["chosen"]
    assert f"concept budget {cv['chosen']} chosen by 5-fold cross-validation that mines inside each fold" in str(fitted)


def test_prototypes_alone_when_cross_validation_chooses_them():
    """With ``mined_phrases`` False the head may weigh no mined phrase concept (prototypes and a
    person's concepts stay), none is listed as gated for it, and the printed model says why."""
    import copy

    texts, y = reviews(seed=1)
    fitted = ConceptClassifier().fit(texts, y)   # MiniLM: with the hash embedder the head weighs no mined phrase
    assert fitted.concept_budget_cv_["mined_phrases"] and "prototypes alone" not in str(fitted)
    assert any(c.source == "data" for c in fitted.concepts_)   # this model weighs mined phrases
    model = copy.deepcopy(fitted)
    model.concept_budget_cv_ = {**fitted.concept_budget_cv_, "mined_phrases": False, "chosen": 30,
                                "prototypes_alone_accuracy": 0.99}
    model.refit_head(texts, y)
    assert model.concepts_ and all(c.is_prototype for c in model.concepts_)
    assert len(model.gated_concepts_) == len(fitted.gated_concepts_)   # not measured badly: left out by choice
    assert "it chose the prototypes alone (held-out accuracy 0.990" in str(model)


def test_no_prototypes_alone_candidate_without_prototypes(data):
    model = ConceptClassifier(embedder=HashEmbedder(progress=False), prototypes=False).fit(*data)
    cv = model.concept_budget_cv_
    assert cv["prototypes_alone_accuracy"] is None and cv["mined_phrases"] is True
    assert len(cv["fold_accuracy"][0]) == len(cv["candidates"])   # no extra head fitted in the folds
    assert not any(c.is_prototype for c in model.concepts_) and model.concepts_


def test_each_fold_mines_from_its_training_part_only(monkeypatch, data):
    texts, y = data
    seen = []
    propose = PhraseProposer.propose

    def spy(self, texts_, bins, embedder):
        seen.append(Counter(texts_))
        return propose(self, texts_, bins, embedder)

    monkeypatch.setattr(PhraseProposer, "propose", spy)
    ConceptClassifier(embedder=HashEmbedder(progress=False)).fit(texts, y)
    folds, final = seen[:-1], seen[-1]
    assert len(folds) == 5 and final == Counter(texts)
    held_out = [Counter(texts) - part for part in folds]
    assert all(h.total() == len(texts) // 5 for h in held_out)
    assert sum(held_out, Counter()) == Counter(texts)   # every text held out once, and not mined from then


def test_budget_in_the_model_file(fitted, data, tmp_path):
    fitted.to_json(tmp_path / "m.json")
    back = load(tmp_path / "m.json", embedder=HashEmbedder(progress=False))
    assert back.concept_budget_cv_ == fitted.concept_budget_cv_
    assert str(back) == str(fitted)
    np.testing.assert_array_equal(back.predict(data[0]), fitted.predict(data[0]))


def test_no_cross_validation_when_the_budget_is_given_too_many_texts_or_a_regressor(data, monkeypatch):
    texts, y = data
    given = ConceptClassifier(embedder=HashEmbedder(progress=False), max_concepts=7).fit(texts, y)
    assert given.concept_budget_cv_ is None and given.max_concepts_ == 7
    assert "cross-validation" not in str(given)
    many_texts, many_y = reviews(120)
    monkeypatch.setattr(_linear, "CV_BUDGET_MAX_TEXTS", len(many_texts) - 1)   # one text over the cap
    many = ConceptClassifier(embedder=HashEmbedder(progress=False)).fit(many_texts, many_y)
    assert many.concept_budget_cv_ is None and many.max_concepts_ == 30
    monkeypatch.setattr(_linear, "CV_BUDGET_MAX_TEXTS", len(many_texts))         # at the cap: chosen
    assert ConceptClassifier(embedder=HashEmbedder(progress=False)).fit(many_texts, many_y).concept_budget_cv_
    scores = np.arange(len(texts), dtype=float) % 7
    regressor = ConceptRegressor(embedder=HashEmbedder(progress=False)).fit(texts, scores)
    assert regressor.concept_budget_cv_ is None and regressor.max_concepts_ == 30


def test_folds_shrink_to_the_smallest_class(data):
    texts, y = data
    keep = np.r_[np.flatnonzero(y == "sport")[:3], np.flatnonzero(y != "sport")]   # 3 sport texts
    model = ConceptClassifier(embedder=HashEmbedder(progress=False)).fit([texts[i] for i in keep], y[keep])
    assert model.concept_budget_cv_["folds"] == 3


def test_folds_on_threads_choose_and_fit_exactly_what_serial_folds_do(fitted, data):
    """The search's folds run on joblib threads by default (n_jobs=None); n_jobs=1 runs them one by one."""
    serial = ConceptClassifier(embedder=HashEmbedder(progress=False), n_jobs=1).fit(*data)
    assert serial.concept_budget_cv_ == fitted.concept_budget_cv_
    assert str(serial) == str(fitted)
    np.testing.assert_array_equal(serial.decision_function(data[0]), fitted.decision_function(data[0]))
