"""Word prototypes ("uses the words of the training texts labelled X, such as: ..."): one per class
beside the embedding prototype, shown with the class's most over-represented words, measured by a
probe on the text's words (TF-IDF) with a cross-fitted held-out AUC as fidelity, weighted toward
their own class only, printed with the words their probe weighs most, and exported exactly."""

import json

import numpy as np
import pytest
from scipy import sparse

from faults import HashEmbedder
from nlmodels._splits import distinct_texts
from nlmodels import ConceptClassifier, ConceptRegressor, load
from nlmodels.concepts import EmbeddingMeasurer, PrototypeProposer, WordPrototypeProposer
from nlmodels.concepts.measurers._probes import fit_probes, fit_words, held_out_probe_scores, word_features
from textsets import TOPICS, reviews, topics


@pytest.fixture(scope="module")
def data():
    return topics(n_per_class=30)


@pytest.fixture(scope="module")
def fitted(data):
    texts, y = data
    return ConceptClassifier(embedder=HashEmbedder(progress=False), max_concepts=30).fit(texts, y)


def test_one_word_prototype_per_class_shown_with_its_most_over_represented_words(data):
    texts, y = data
    concepts = WordPrototypeProposer(n_words=3).propose(texts, y)
    assert [c.target for c in concepts] == sorted(TOPICS)
    for c in concepts:
        assert c.source == "word_prototype" and c.is_prototype and c.reads_words
        assert c.phrases == () and c.examples == ()
        assert c.text.startswith(f"uses the words of the training texts labelled '{c.target}', such as: '")
        shown = c.text.split("such as: ")[1].split(", ")
        assert len(shown) == 3
        for word in (w.strip("'") for w in shown):   # each shown word is more frequent in its class
            inside = np.mean([word in t for t, label in zip(texts, y) if label == c.target])
            outside = np.mean([word in t for t, label in zip(texts, y) if label != c.target])
            assert inside > outside


def test_two_classes_get_one_word_prototype_for_the_class_the_score_points_toward():
    texts, y = reviews(60)
    concepts = WordPrototypeProposer().propose(texts, y)
    assert [c.target for c in concepts] == ["pos"]


def test_probes_on_sparse_words_are_the_probes_on_the_same_dense_matrix(data):
    texts, y = data
    words = word_features(texts, fit_words(texts))
    assert sparse.issparse(words) and words.shape[1] > 0
    np.testing.assert_allclose(sparse.linalg.norm(words, axis=1), 1.0)   # unit rows, like the embeddings
    T = (y[:, None] == np.array(sorted(TOPICS))[None, :]).astype(float)
    W_sparse, b_sparse = fit_probes(words, T)
    W_dense, b_dense = fit_probes(words.toarray(), T)
    np.testing.assert_allclose(W_sparse, W_dense, atol=1e-6)
    np.testing.assert_allclose(b_sparse, b_dense, atol=1e-6)


def test_word_prototype_fidelity_is_the_cross_fitted_auc_of_a_probe_on_words(data):
    texts, y = data
    E = HashEmbedder(progress=False).encode(texts)
    concepts = PrototypeProposer().propose(texts, y, E) + WordPrototypeProposer().propose(texts, y)
    measurer = EmbeddingMeasurer(HashEmbedder(progress=False), signals=("similar", "mentions"))
    F = measurer.fit_transform(texts, E, concepts, y)
    targets = (y[:, None] == np.array(sorted(TOPICS))[None, :]).astype(float)
    groups = distinct_texts(texts)   # copies of a text in one fold
    on_words = held_out_probe_scores(word_features(texts, measurer.words_), targets, n_folds=5, stratify=y, groups=groups)
    on_embedding = held_out_probe_scores(E, targets, C=measurer.prototype_C_, n_folds=5, stratify=y, groups=groups)   # its C
    records = {(r["concept"], r["signal"]): r for r in measurer.fidelity_}
    for k in range(3):
        np.testing.assert_allclose(F[:, 2 * k], on_embedding[:, k])        # embedding prototypes
        np.testing.assert_allclose(F[:, 2 * (3 + k)], on_words[:, k])      # word prototypes: their words
        similar, mentions = records[(3 + k, "similar")], records[(3 + k, "mentions")]
        assert similar["metric"] == "auc" and similar["n_texts"] == len(texts) and similar["passed"] is True
        assert mentions["metric"] == "absent" and mentions["passed"] is False
    # a new text is scored from its words: a money text scores high on 'money' and low elsewhere
    scores = measurer.transform(["the bank raised interest rates"], HashEmbedder(progress=False).encode(
        ["the bank raised interest rates"]))
    money = 3 + sorted(TOPICS).index("money")
    assert scores[0, 2 * money] > 0.5 > max(scores[0, 2 * k] for k in (3, 4, 5) if k != money)


def test_word_prototypes_weigh_toward_their_own_class_and_print_the_words_their_probe_weighs_most(fitted):
    words = [k for k, c in enumerate(fitted.concepts_) if c.reads_words]
    assert words, "the default offline classifier proposes word prototypes"
    S = fitted.n_signals_
    text = str(fitted)
    for k in words:
        row = list(fitted.classes_).index(fitted.concepts_[k].target)
        weights = fitted.coef_[:, k * S:(k + 1) * S]
        assert weights[row].sum() > 0 and (weights[np.arange(len(fitted.classes_)) != row] == 0).all()
        top = fitted.measurer_.top_words(k, 3)
        column = fitted.measurer_.word_W_[:, int(np.cumsum(fitted.measurer_.reads_words_)[k]) - 1]
        vocabulary = fitted.measurer_.words_["vocabulary"]
        assert [column[vocabulary.index(w)] for w in top] == sorted(column, reverse=True)[:3]
    assert "a probe on the text's words (TF-IDF of 1-2-grams) that recognises this class's training texts" in text
    assert "it says the text uses their words, not why" in text


def test_word_prototypes_travel_through_json_and_older_files_still_load(fitted, data, tmp_path):
    texts, _ = data
    path = tmp_path / "model.json"
    fitted.to_json(path)
    again = load(path, embedder=HashEmbedder(progress=False))
    assert [c.source for c in again.concepts_] == [c.source for c in fitted.concepts_]
    assert again.measurer_.words_["vocabulary"] == fitted.measurer_.words_["vocabulary"]
    np.testing.assert_array_equal(again.predict_proba(texts), fitted.predict_proba(texts))
    assert str(again) == str(fitted)
    # a file from before word prototypes (no word entries, no word prototype) loads with none
    state = json.loads(path.read_text())
    assert state["measurer"]["reads_words"]["data"] == list(fitted.measurer_.reads_words_)
    older = fitted.edit(remove=[k for k, c in enumerate(fitted.concepts_) if c.reads_words]).refit_head(*data)
    older.to_json(tmp_path / "older.json")
    older_state = json.loads((tmp_path / "older.json").read_text())
    for key in ("reads_words", "words", "word_probe_weights"):
        assert key not in older_state["measurer"]
    reloaded = load(tmp_path / "older.json", embedder=HashEmbedder(progress=False))
    assert not reloaded.measurer_.reads_words_.any()
    np.testing.assert_array_equal(reloaded.predict_proba(texts), older.predict_proba(texts))


@pytest.fixture
def proposed(monkeypatch):
    """The sources of the concepts each fit hands its measurer, one list per fit."""
    seen = []
    original = EmbeddingMeasurer.fit_transform

    def spy(self, texts, embeddings, concepts, y=None):
        seen.append([c.source for c in concepts])
        return original(self, texts, embeddings, concepts, y)

    monkeypatch.setattr(EmbeddingMeasurer, "fit_transform", spy)
    return seen


def test_none_without_prototypes_and_none_with_prototypes_from_the_embedding_only(data, proposed):
    texts, y = data
    off = ConceptClassifier(embedder=HashEmbedder(progress=False), prototypes=False, max_concepts=30).fit(texts, y)
    assert not any(c.reads_words for c in off.concepts_) and not off.measurer_.reads_words_.any()
    ConceptClassifier(embedder=HashEmbedder(progress=False), prototypes="embedding", max_concepts=30).fit(texts, y)
    assert proposed[-1].count("prototype") == 3 and "word_prototype" not in proposed[-1]
    ConceptClassifier(embedder=HashEmbedder(progress=False), max_concepts=30).fit(texts, y)
    assert proposed[-1].count("prototype") == 3 and proposed[-1].count("word_prototype") == 3
    with pytest.raises(ValueError, match="prototypes='embedding' needs a classifier measured by embeddings"):
        ConceptRegressor(embedder=HashEmbedder(progress=False), prototypes="embedding").fit(texts, np.arange(90.0))


def test_none_beyond_fifteen_classes(proposed):
    texts = [f"intent{i // 6} request number {i % 5} {'please' if i % 2 else 'now'}" for i in range(17 * 6)]
    y = np.array([f"c{i // 6:02d}" for i in range(17 * 6)])
    ConceptClassifier(embedder=HashEmbedder(progress=False)).fit(texts, y)
    assert proposed[-1].count("prototype") == 17 and "word_prototype" not in proposed[-1]


def test_the_model_card_names_the_words_each_word_prototype_weighs_most(fitted, data, tmp_path):
    texts, y = data
    fitted.report(texts, y, tmp_path / "card.md")
    card = (tmp_path / "card.md").read_text()
    for k, concept in enumerate(fitted.concepts_):
        if concept.reads_words:
            top = fitted.measurer_.top_words(k, 10)
            assert f"a word prototype; the words its probe weighs most: {', '.join(top)}" in card
    assert "they say that a text looks like those texts, not why" in card
