"""Every held-out AUC carries the texts it rests on and a 95% interval; where the interval spans the
0.75 gate the printed model says so, and the gate itself is unchanged."""

import json

import numpy as np
import pytest
from faults import HashEmbedder
from scipy.special import expit
from scipy.stats import norm
from sklearn.metrics import roc_auc_score
from textsets import reviews, topics

from nlmodels._splits import distinct_texts
from nlmodels import ConceptClassifier, load
from nlmodels.concepts import Concept, EmbeddingMeasurer, fidelity, phrase_matches
from nlmodels.concepts.measurers._probes import auc as probe_auc, fit_probes, held_out_probe_scores


@pytest.mark.parametrize("shift, positives, negatives", [(1.19, 20, 180), (0.5, 15, 185), (3.0, 5, 35), (1.19, 180, 20)])
def test_the_interval_holds_the_true_auc_about_95_percent_of_the_time(shift, positives, negatives):
    """Scores of positive texts from N(shift, 1), of negative ones from N(0, 1): the true AUC is
    Phi(shift / sqrt 2). The measured AUC's 95% interval holds it in nine samples of ten or more,
    also where a sample's AUC is often 1 (five positives far from the rest), and away from 1 it is not
    wider than the measured AUCs' own 95% range by more than half."""
    rng = np.random.default_rng(0)
    truth = norm.cdf(shift / np.sqrt(2))
    target = np.r_[np.ones(positives), np.zeros(negatives)]
    measured, held, width = [], [], []
    for _ in range(400):
        scores = np.r_[rng.normal(shift, 1, positives), rng.normal(0, 1, negatives)]
        measured.append(roc_auc_score(target, scores))
        low, high = fidelity.auc_interval(measured[-1], positives, negatives)
        held.append(low <= truth <= high)
        width.append(high - low)
    assert np.mean(held) >= 0.9
    # and not by being wide: about as wide as the spread of the measured AUCs themselves, away from
    # an AUC of 1 (there a sample of five positives often ranks them all first, and the interval
    # stays wide on purpose: test_the_interval_narrows_with_more_texts_and_never_collapses_at_the_ends)
    spread = np.subtract(*np.percentile(measured, [97.5, 2.5]))
    if truth < 0.95:
        assert np.mean(width) <= 1.5 * spread


def test_the_interval_narrows_with_more_texts_and_never_collapses_at_the_ends():
    width = [np.subtract(*fidelity.auc_interval(0.8, m, 10 * m)[::-1]) for m in (10, 40, 160)]
    assert width[0] > width[1] > width[2] > 0
    assert width[0] / width[2] > 3   # about sqrt(16) = 4
    low, high = fidelity.auc_interval(1.0, 4, 36)
    assert high == 1.0 and low < 0.75   # 4 of 40 texts perfectly ranked is not proof of 0.75
    assert fidelity.auc_interval(1.0, 400, 3600)[0] > 0.98
    # the interval reported spans the Wald and the score interval it is made of
    for auc, m, n in ((0.8, 20, 180), (1.0, 4, 36), (0.55, 60, 140), (0.97, 9, 241)):
        wald, score = (fidelity.auc_interval(auc, m, n, kind=kind) for kind in ("wald", "score"))
        span = fidelity.auc_interval(auc, m, n)
        assert wald[0] <= auc <= wald[1] and score[0] <= auc <= score[1]
        assert span[0] <= min(wald[0], score[0]) and span[1] >= max(wald[1], score[1])
        assert isinstance(span[0], float) and isinstance(span[1], float)
    with pytest.raises(ValueError, match="kind"):
        fidelity.auc_interval(0.8, 20, 180, kind="exact")
    with pytest.raises(ValueError, match="0 positive"):
        fidelity.auc_interval(0.8, 0, 180)
    # ranking every negative first is the mirror image: the same interval with the kinds swapped
    low, high = fidelity.auc_interval(0.0, 4, 36)
    mirror = fidelity.auc_interval(1.0, 36, 4)
    assert low == 0.0 and high > 0.1 and np.allclose([low, high], [1 - mirror[1], 1 - mirror[0]])


def test_records_carry_the_interval_and_say_when_it_spans_the_gate():
    rec = fidelity.record(3, "similar", "auc", 0.78, 0.5, 200, positives=27)
    assert rec["positives"] == 27 and rec["interval"][0] < 0.75 < 0.78 < rec["interval"][1]
    assert rec["passed"] is True   # the gate reads the measured AUC, as before
    assert fidelity.spans_gate(rec)
    low, high = rec["interval"]
    assert fidelity.describe(rec) == (f"AUC 0.78 held-out, 95% interval {low:.2f}-{high:.2f} on 200 texts "
                                      "(27 positive): spans the 0.75 gate")
    sure = fidelity.record(0, "similar", "auc", 0.95, 0.5, 2000, positives=500)
    assert not fidelity.spans_gate(sure) and fidelity.describe(sure) == "AUC 0.95 held-out"
    below = fidelity.record(0, "similar", "auc", 0.74, 0.5, 200, positives=67)
    assert below["passed"] is False and fidelity.spans_gate(below) and "spans the 0.75 gate" in fidelity.describe(below)
    # no interval without both kinds of text, or without the count; exact signals have none
    assert "interval" not in fidelity.record(0, "similar", "auc", None, 0.5, 60, positives=0)
    assert "interval" not in fidelity.record(0, "similar", "auc", 0.9, 0.5, 60)
    assert "interval" not in fidelity.record(0, "mentions", "exact", 1.0, None, 60, positives=10)
    # an agreement with the chat model is a share of its texts: Wilson's interval, against both its gates
    agreement = fidelity.record(0, "answer", "agreement", 17 / 20, 0.62, 20)
    low, high = agreement["interval"]
    assert 0.6 < low < 0.67 and 0.9 < high < 1 and agreement["passed"] is True
    assert fidelity.spans_gate(agreement) == [0.8, 0.62 + 0.05]
    assert fidelity.describe(agreement) == ("agrees 0.85 with the chat model held-out (majority 0.62), 95% interval "
                                            f"{low:.2f}-{high:.2f} on 20 texts: spans the 0.8 and 0.67 gates")
    many = fidelity.record(0, "answer", "agreement", 0.95, 0.62, 400)
    assert not fidelity.spans_gate(many) and fidelity.describe(many).endswith("(majority 0.62)")
    # as a row of model.fidelity_ reads it (NaN where a field is missing)
    assert fidelity.describe({**agreement, "positives": float("nan")}) == fidelity.describe(agreement)
    unmeasured = {**fidelity.record(0, "similar", "auc", None, 0.5, 60), "fidelity": float("nan"),
                  "interval": float("nan"), "positives": float("nan")}
    assert fidelity.describe(unmeasured) == "AUC n/a held-out" and not fidelity.spans_gate(unmeasured)
    consistency = fidelity.record(0, "answer", "consistency", 0.9, 0.5, 30)
    assert fidelity.spans_gate(consistency) == [0.8] and "on 30 texts: spans the 0.8 gate" in fidelity.describe(consistency)
    # a bound that would round onto the gate keeps the digits that show its side
    edge = {**rec, "interval": [0.7496, 0.81]}
    assert "interval 0.7496-0.81" in fidelity.describe(edge)


def _noisy_reviews():
    """Reviews with a fifth of the labels flipped: the class prototype's held-out AUC is near 0.8,
    measured on 120 texts (106 distinct: copies kept in one fold), so its interval spans the gate."""
    texts, y = reviews(120, seed=2)
    flip = np.random.RandomState(0).rand(len(y)) < 0.2
    return texts, np.where(flip, np.where(y == "pos", "neg", "pos"), y)


def test_the_printed_model_marks_exactly_the_auc_signals_whose_interval_spans_the_gate(tmp_path):
    texts, y = _noisy_reviews()
    model = ConceptClassifier(max_concepts=8).fit(texts, y)
    table = model.fidelity_
    aucs = table[table.metric == "auc"]
    assert len(aucs) and aucs.interval.notna().all() and aucs.positives.notna().all()
    for rec in aucs.to_dict("records"):
        assert rec["interval"][0] <= rec["fidelity"] <= rec["interval"][1]
        assert np.allclose(rec["interval"], fidelity.auc_interval(rec["fidelity"], int(rec["positives"]),
                                                                  rec["n_texts"] - int(rec["positives"])))
    # a prototype's AUC rests on all the training texts, its class's texts positive
    names = model.concept_names()
    for rec in aucs[aucs.signal == "similar"].to_dict("records"):
        concept = model.concepts_[names.index(rec["concept"])]
        if concept.is_prototype:
            assert rec["n_texts"] == len(texts) and rec["positives"] == int(np.sum(y == concept.target))
    assert table[table.metric != "auc"].interval.isna().all()
    # the table's rows read as the records do (NaN where a record has no interval)
    rows = table.to_dict("records")
    assert [fidelity.describe(r) for r in rows] == [fidelity.describe(r) for r in model.measurer_.fidelity_]

    S, signals = model.n_signals_, list(model.measurer_.signals)
    spanning = [r for r in aucs.to_dict("records") if fidelity.spans_gate(r)]
    weighted = [r for r in spanning
                if model.coef_[0, names.index(r["concept"]) * S + signals.index(r["signal"])] != 0]
    assert weighted, "the noisy prototype should be weighted with an interval spanning the gate"
    printed = str(model)
    gated_spanning = [g for g in model.gated_concepts_ if fidelity.spans_gate(g)]
    assert printed.count("): spans the 0.75 gate") == len(spanning) + len(gated_spanning)
    assert (f"measured on few texts: {len(weighted)} weighted signal{'s' if len(weighted) > 1 else ''} "
            f"ha{'ve' if len(weighted) > 1 else 's'} a held-out fidelity whose 95% interval spans "
            f"{'their' if len(weighted) > 1 else 'its'} gate (marked above") in printed
    assert "spans the 0.75 gate" in model._repr_html_() and "measured on few texts" in model._repr_html_()

    path = tmp_path / "m.json"
    model.to_json(path)
    again = load(path)
    assert str(again) == printed
    stored = [r for r in json.loads(path.read_text())["measurer"]["fidelity"] if r["metric"] == "auc"]
    assert all(len(r["interval"]) == 2 for r in stored)


def test_with_many_texts_of_each_kind_nothing_is_marked():
    texts, y = reviews(400)
    model = ConceptClassifier(max_concepts=4).fit(texts, y)
    assert "spans the" not in str(model) and "measured on few texts" not in str(model)
    aucs = model.fidelity_[model.fidelity_.metric == "auc"]
    assert len(aucs) and aucs.interval.notna().all()
    assert not any(fidelity.spans_gate(r) for r in model.measurer_.fidelity_)


def test_the_last_line_counts_the_weighted_signals_of_every_class_whose_interval_spans_the_gate():
    texts, y = topics(n_per_class=20)
    noisy = np.random.RandomState(0).rand(len(y)) < 0.4
    y = np.where(noisy, np.roll(y, 7), y)   # three classes, two fifths of the labels moved
    model = ConceptClassifier(max_concepts=9).fit(texts, y)
    S, signals = model.n_signals_, list(model.measurer_.signals)
    weighted = np.abs(model.coef_).sum(axis=0) != 0
    expected = sum(bool(weighted[r["concept"] * S + signals.index(r["signal"])] and fidelity.spans_gate(r))
                   for r in model.measurer_.fidelity_)
    assert model.coef_.shape[0] == 3 and expected >= 1
    assert f"measured on few texts: {expected} weighted signal" in str(model)


def test_a_phrase_probe_auc_rests_on_every_training_text_each_scored_by_a_probe_fitted_without_it():
    """Three folds: each training text is scored by the probe fitted on the other two thirds, so the
    AUC (and its interval) rests on all the texts, not on a held-out third, and no text scores
    itself (a probe's score on the texts it was fitted on is higher: a memorised phrase)."""
    texts, y = reviews(90, seed=3)
    concepts = [Concept("mentions praise", ("great", "wonderful")), Concept("mentions the cast", ("cast",))]
    E = HashEmbedder(progress=False).encode(texts)
    measurer = EmbeddingMeasurer(HashEmbedder(progress=False), signals=("similar", "mentions")).fit(texts, E, concepts)
    T = phrase_matches(texts, concepts)
    cross_fitted = held_out_probe_scores(E, T, n_folds=3, groups=distinct_texts(texts))   # copies in one fold
    W, b = fit_probes(E, T)
    for k in range(len(concepts)):
        rec = next(r for r in measurer.fidelity_ if r["concept"] == k and r["signal"] == "similar")
        assert 0 < T[:, k].sum() < len(texts)
        assert rec["n_texts"] == len(texts) and rec["positives"] == int(T[:, k].sum())
        assert rec["fidelity"] == pytest.approx(probe_auc(T[:, k], cross_fitted[:, k]))
        assert np.allclose(rec["interval"], fidelity.auc_interval(rec["fidelity"], rec["positives"],
                                                                  len(texts) - rec["positives"]))
        assert rec["fidelity"] < probe_auc(T[:, k], expit(E @ W[:, k] + b[k]))   # not the probe's own texts


def test_a_written_question_measured_offline_has_no_mentions_to_check():
    """A concept without phrases (a written question) has nothing for ``mentions`` to find: its
    mentions signal is ``absent`` (never weighted, never printed), not an 'exact' column of zeros."""
    texts, _ = reviews(40)
    embedder = HashEmbedder(progress=False)
    concepts = [Concept("Does the review praise the film?", source="expert"),
                Concept("mentions praise", ("brilliant", "charming"), "expert")]
    measurer = EmbeddingMeasurer(embedder).fit(texts, embedder.encode(texts), concepts)
    metric = {(r["concept"], r["signal"]): r["metric"] for r in measurer.fidelity_}
    assert metric[(0, "mentions")] == "absent" and metric[(0, "similar")] == metric[(0, "close")] == "unverified"
    assert metric[(1, "mentions")] == "exact" and metric[(1, "similar")] == "auc"
    assert fidelity.passes({"metric": "absent", "fidelity": None, "baseline": None}) is False


def test_two_gates_at_the_same_value_are_named_once():
    """An agreement's gates are 0.8 and the majority rate + 0.05: with a majority of 0.75 both are 0.8."""
    record = fidelity.record(0, "answer", "agreement", 0.82, 0.75, 40)
    record["interval"] = list(fidelity.wilson_interval(33, 40))
    assert len(fidelity.spans_gate(record)) == 2
    described = fidelity.describe(record)
    assert described.endswith("spans the 0.8 gate") and "0.8 and 0.8" not in described
