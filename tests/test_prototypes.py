"""Prototype concepts ("resembles the training texts labelled X"): proposed per class with the most
typical texts, measured by a probe for the class's training texts with a cross-fitted held-out AUC
as fidelity, the head fitted on cross-fitted scores, weights that point the way they read."""

import json
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.model_selection import StratifiedKFold

from faults import HashEmbedder
from nlmodels._splits import distinct_texts
from nlmodels import ConceptClassifier, ConceptRegressor, load
from nlmodels.concepts import Concept, EmbeddingMeasurer, PrototypeProposer
from nlmodels.concepts.measurers import embedding
from nlmodels.concepts.measurers._probes import auc, fit_probes, held_out_probe_scores
from nlmodels.concepts.measurers.embedding import PROTOTYPE_CS
from textsets import TOPICS, topics


@pytest.fixture(scope="module")
def data():
    texts, y = topics(n_per_class=30)
    return texts, y


@pytest.fixture(scope="module")
def fitted(data):
    texts, y = data
    # the prototypes read from the embedding (word prototypes: tests/test_word_prototypes.py)
    return ConceptClassifier(embedder=HashEmbedder(progress=False), prototypes="embedding").fit(texts, y)


def test_one_prototype_per_class_shown_with_its_most_typical_texts(data):
    texts, y = data
    E = HashEmbedder(progress=False).encode(texts)
    concepts = PrototypeProposer(n_examples=2).propose(texts, y, E)
    assert [c.target for c in concepts] == sorted(TOPICS)
    for c in concepts:
        assert c.is_prototype and c.phrases == () and len(c.examples) == 2
        assert all(y[texts.index(t)] == c.target for t in c.examples)   # texts of its own class
        assert c.text.startswith(f"resembles the training texts labelled '{c.target}', such as: «")
    # the shown texts are those nearest the class's mean embedding
    sport = [i for i in range(len(texts)) if y[i] == "sport"]
    normed = E[sport] / np.linalg.norm(E[sport], axis=1, keepdims=True)
    best = sport[int(np.argmax(normed @ normed.mean(axis=0)))]
    assert concepts[sorted(TOPICS).index("sport")].examples[0] == texts[best]


def test_prototype_fidelity_is_a_cross_fitted_auc_and_its_mentions_are_never_weighted(data):
    texts, y = data
    E = HashEmbedder(progress=False).encode(texts)
    concepts = PrototypeProposer().propose(texts, y, E)
    measurer = EmbeddingMeasurer(HashEmbedder(progress=False), signals=("similar", "mentions"))
    F = measurer.fit_transform(texts, E, concepts, y)
    records = {(r["concept"], r["signal"]): r for r in measurer.fidelity_}
    targets = (y[:, None] == np.array(sorted(TOPICS))[None, :]).astype(float)
    expected = held_out_probe_scores(E, targets, C=measurer.prototype_C_, n_folds=5, stratify=y,
                                     groups=distinct_texts(texts))   # copies of a text in one fold
    for k in range(3):
        similar, mentions = records[(k, "similar")], records[(k, "mentions")]
        assert similar["metric"] == "auc" and similar["n_texts"] == len(texts) and similar["passed"] is True
        assert mentions["metric"] == "absent" and mentions["passed"] is False
        # the training scores the head sees are the cross-fitted ones, not the probe's own fit
        np.testing.assert_allclose(F[:, 2 * k], expected[:, k])
    in_sample = measurer.transform(texts, E)
    assert not np.allclose(in_sample[:, 0], F[:, 0])


def test_the_prototypes_probe_strength_is_the_one_that_recognises_held_out_texts_best(data):
    texts, y = data
    E = HashEmbedder(progress=False).encode(texts)
    concepts = PrototypeProposer().propose(texts, y, E)
    targets = (y[:, None] == np.array(sorted(TOPICS))[None, :]).astype(float)
    held_out_auc = [np.mean([auc(targets[:, k], S[:, k]) for k in range(3)])
                    for S in (held_out_probe_scores(E, targets, C=C, n_folds=5, stratify=y, groups=distinct_texts(texts))
                              for C in PROTOTYPE_CS)]
    measurer = EmbeddingMeasurer(HashEmbedder(progress=False), signals=("similar",)).fit(texts, E, concepts, y)
    assert measurer.prototype_C_ == PROTOTYPE_CS[int(np.argmax(held_out_auc))]
    # the reported fidelity is that C's held-out AUC, and the final probes are fitted with it
    reported = [r["fidelity"] for r in measurer.fidelity_]
    assert np.mean(reported) == pytest.approx(max(held_out_auc))
    W, b = fit_probes(E, targets, C=measurer.prototype_C_)
    np.testing.assert_allclose(measurer.W_, W, atol=1e-6)
    assert f"C = {measurer.prototype_C_:g}" in measurer.describe()
    # a grid of one value is the fixed strength of before
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedding, "PROTOTYPE_CS", (0.01,))
        weak = EmbeddingMeasurer(HashEmbedder(progress=False), signals=("similar",)).fit(texts, E, concepts, y)
    assert weak.prototype_C_ == 0.01
    np.testing.assert_allclose(weak.W_, fit_probes(E, targets, C=0.01)[0], atol=1e-6)


def test_prototypes_are_cross_fitted_on_folds_that_keep_each_class_share():
    # 5 texts of a rare class among 45: stratified folds hold out exactly one of them each time, so
    # every rare text is scored by a probe that saw the other four (random folds can hold out two)
    texts, y = topics(n_per_class=20)
    y = np.where(np.arange(len(y)) < 40, y, "rare")[:45]
    texts = texts[:45]
    X = HashEmbedder(progress=False).encode(texts)
    targets = (y[:, None] == np.unique(y)[None, :]).astype(float)
    scores = held_out_probe_scores(X, targets, C=4.0, n_folds=5, stratify=y)
    expected = np.full(targets.shape, np.nan)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        assert (y[test] == "rare").sum() == 1
        W, b = fit_probes(X[train], targets[train], C=4.0)
        expected[test] = expit(X[test] @ W + b)
    np.testing.assert_allclose(scores, expected)
    assert not np.allclose(scores, held_out_probe_scores(X, targets, C=4.0, n_folds=5))   # random folds differ
    # a class with fewer texts than folds is spread over as many folds as it has, without a warning
    y2 = y.copy()
    y2[-3:] = "tiny"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spread = held_out_probe_scores(X, (y2[:, None] == np.unique(y2)[None, :]).astype(float), n_folds=5,
                                       stratify=y2)
    assert np.isfinite(spread).all()


def test_too_few_texts_to_hold_any_out_keep_the_first_strength_without_a_warning():
    texts = ["good film", "bad film", "great movie", "awful movie", "nice", "poor", "fine show", "weak show"]
    y = np.array(["pos", "neg"] * 4)
    E = HashEmbedder(progress=False).encode(texts)
    concepts = PrototypeProposer().propose(texts, y, E)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no "mean of empty slice" from AUCs that cannot be measured
        measurer = EmbeddingMeasurer(HashEmbedder(progress=False), signals=("similar",)).fit(texts, E, concepts, y)
    assert measurer.prototype_C_ == PROTOTYPE_CS[0]
    assert [r["fidelity"] for r in measurer.fidelity_] == [None] and not measurer.fidelity_[0]["passed"]


def test_weights_point_the_way_the_prototypes_read(fitted):
    prototypes = [k for k, c in enumerate(fitted.concepts_) if c.is_prototype]
    assert prototypes, "the default offline classifier proposes prototypes"
    assert fitted.prototypes_ is True
    S = fitted.n_signals_
    for k in prototypes:
        row = list(fitted.classes_).index(fitted.concepts_[k].target)
        weights = fitted.coef_[:, k * S:(k + 1) * S]
        assert (weights[row] >= 0).all() and weights[row].sum() > 0
        others = np.arange(len(fitted.classes_)) != row
        assert (weights[others] == 0).all()        # toward its own class only
        assert (weights[:, fitted.measurer_.signals.index("mentions")] == 0).all()


def test_the_printed_model_says_a_prototype_shows_that_not_why(fitted):
    text = str(fitted)
    assert "resembles the training texts labelled" in text
    assert "it says the text looks like them, not why" in text
    assert "no phrases" not in text   # the signal a prototype lacks is not printed


def test_prototypes_travel_through_json(fitted, data, tmp_path):
    texts, _ = data
    path = tmp_path / "model.json"
    fitted.to_json(path)
    again = load(path, embedder=HashEmbedder(progress=False))
    assert [c.examples for c in again.concepts_] == [c.examples for c in fitted.concepts_]
    np.testing.assert_allclose(again.predict_proba(texts), fitted.predict_proba(texts))
    assert again.measurer_.prototype_C_ == fitted.measurer_.prototype_C_ in embedding.PROTOTYPE_CS
    assert again.measurer_.describe() == fitted.measurer_.describe()
    # a file from before prototypes (no "prototype" entry) still loads, as phrase concepts
    state = json.loads(path.read_text())
    for part in _dicts(state):
        part.pop("prototype", None)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(state))
    assert not load(old, embedder=HashEmbedder(progress=False)).measurer_.prototype_.any()


def _dicts(value):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _dicts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _dicts(v)


def test_off_when_asked_and_refused_where_they_cannot_be_measured(data):
    texts, y = data
    off = ConceptClassifier(embedder=HashEmbedder(progress=False), prototypes=False).fit(texts, y)
    assert not any(c.is_prototype for c in off.concepts_) and off.prototypes_ is False
    with pytest.raises(ValueError, match="prototypes=True needs a classifier"):
        ConceptRegressor(embedder=HashEmbedder(progress=False), prototypes=True).fit(texts, np.arange(len(texts)) * 1.0)
    regressor = ConceptRegressor(embedder=HashEmbedder(progress=False)).fit(texts, np.arange(len(texts)) * 1.0)
    assert regressor.prototypes_ is False
    with pytest.raises(ValueError, match="prototypes"):
        ConceptClassifier(prototypes="yes").fit(texts, y)


def test_an_edit_cannot_add_a_prototype(fitted):
    added = Concept("resembles the training texts labelled 'sport'", (), "prototype", "sport", ("a goal",))
    with pytest.raises(ValueError, match="cannot be added by an edit"):
        fitted.edit(add=[added])


def test_probes_solved_together_match_liblinear_one_by_one():
    from sklearn.linear_model import LogisticRegression

    from nlmodels.concepts.measurers._probes import fit_probes

    rng = np.random.RandomState(0)
    X = rng.randn(300, 16)
    T = np.column_stack([(X[:, 0] + rng.randn(300) > 1).astype(float), (X[:, 1] > 0).astype(float),
                         np.zeros(300), (rng.rand(300) < 0.05).astype(float)])
    W, b = fit_probes(X, T, C=1.0)
    for k in (0, 1, 3):
        ref = LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear", tol=1e-8).fit(X, T[:, k])
        np.testing.assert_allclose(W[:, k], ref.coef_[0], atol=2e-3)
        np.testing.assert_allclose(b[k], ref.intercept_[0], atol=2e-3)
    assert (W[:, 2] == 0).all() and b[2] < -5      # a constant column: a constant (low) score


def test_many_classes_mine_fewer_phrases_per_class():
    texts = [f"request number {i % 40} about topic {i % 40} please" for i in range(200)]
    y = np.array([f"c{i % 40}" for i in range(200)])
    model = ConceptClassifier(embedder=HashEmbedder(progress=False), prototypes=False)
    model.fit(texts, y)
    assert model.phrases_per_class_ == 150 and model.groups_per_class_ == 3   # 6,000 // 40; 128 // 40
    assert model.max_concepts_ == 80
    assert ConceptClassifier(embedder=HashEmbedder(progress=False)).fit(*topics(10)).phrases_per_class_ == 200


def test_two_classes_get_one_prototype_for_the_class_the_score_points_toward():
    from textsets import reviews

    texts, y = reviews(60)
    E = HashEmbedder(progress=False).encode(texts)
    [concept] = PrototypeProposer().propose(texts, y, E)
    assert concept.target == "pos" and concept.text.startswith("resembles the training texts labelled 'pos'")


def test_probes_are_solved_with_one_blas_thread_and_the_limit_is_lifted_after(monkeypatch):
    from threadpoolctl import threadpool_info

    from nlmodels.concepts.measurers import _probes

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    assert before, "numpy has a BLAS"
    during = []
    solve = _probes._fit_block

    def spy(X, T, C):
        during.append(blas_threads())
        return solve(X, T, C)

    monkeypatch.setattr(_probes, "_fit_block", spy)
    rng = np.random.RandomState(0)
    X = rng.randn(200, 8)
    _probes.fit_probes(X, (X[:, :3] > 0).astype(float))
    assert during and all(threads == [1] * len(before) for threads in during)
    assert blas_threads() == before
