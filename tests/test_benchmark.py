"""The benchmark's --quick mode runs end to end and prints a complete table of finite numbers."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from nlmodels.data import load_sms_spam_sample

ROOT = Path(__file__).resolve().parents[1]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "imodelsx", None)  # as on a machine without the bench extra
    data = load_sms_spam_sample()
    train, test = train_test_split(data, train_size=300, test_size=150, stratify=data.label, random_state=0)
    folder = tmp_path / "data" / "sms_sample"
    folder.mkdir(parents=True)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)

    bench = load_benchmark()
    out = tmp_path / "out"
    results = bench.main(["--quick", "--data", str(tmp_path / "data"), "--datasets", "sms_sample",
                          "--methods", "concept,auglinear,rulelist,tree,tfidf,minilm_lr,imodelsx", "--out", str(out), "--max-concepts", "10",
                          "--cache-dir", str(tmp_path / "cache")])
    captured = capsys.readouterr()
    printed = captured.out
    assert list(results.method) == ["concept", "auglinear", "rulelist", "tree", "tfidf", "minilm_lr"]
    assert "skipped imodelsx" in captured.err  # an optional peer is skipped with a note, not a crash
    for column in ["accuracy", "macro_f1", "fit_s", "predict_per_s"]:
        assert results[column].map(math.isfinite).all(), column
        assert f"| {column}" in printed.splitlines()[0] or column in printed.splitlines()[0]
    assert results.accuracy.between(0.9, 1.0).all()  # ham is 87%: every method must beat that
    readable = results.set_index("method").readable_features
    assert readable["concept"] <= 10 and 1 <= readable["rulelist"] <= 10 and 1 <= readable["tree"] <= 8
    assert readable["auglinear"] > 1000  # one number per training n-gram
    assert results.set_index("method").readable_features["minilm_lr"] == math.inf
    assert "ConceptClassifier minus each method" in printed   # the paired comparison follows the table
    assert "| minilm_lr" in printed.split("ConceptClassifier minus each method")[1]
    saved = pd.read_csv(out / "results.csv")
    assert "correct" not in saved.columns   # per-text results stay out of the CSV
    assert len(saved) == 6 and (out / "accuracy_vs_features.png").stat().st_size > 5000


def _rows(**correct):
    return [{"dataset": "d", "seed": 0, "method": m, "accuracy": float(np.mean(c)), "correct": np.asarray(c, bool)}
            for m, c in correct.items()]


def test_paired_differences_tell_a_real_difference_from_noise():
    bench = load_benchmark()
    rng = np.random.default_rng(0)
    base = rng.random(1000) < 0.8
    better = base | (rng.random(1000) < 0.5)          # right wherever base is, and on about half the rest
    flip = base.copy()
    flip[:6] = ~flip[:6]                                # six texts apart: within the test split's noise
    table = bench.paired_differences(pd.DataFrame(_rows(concept=better, ref=base, same=better)))
    rows = table.set_index("versus")
    assert rows.loc["ref", "verdict"] == "higher" and rows.loc["ref", "difference"] > 0.05
    near = bench.paired_differences(pd.DataFrame(_rows(concept=base, near=flip)))
    assert near.verdict.tolist() == ["not distinguishable"] and abs(near.difference[0]) <= 0.006
    assert rows.loc["same", "difference"] == 0 and rows.loc["same", "ci95"] == "[+0.000, +0.000]"
    low, high = (float(v) for v in rows.loc["ref", "ci95"].strip("[]").split(","))
    assert low < rows.loc["ref", "difference"] < high
    lower = bench.paired_differences(pd.DataFrame(_rows(concept=base, ref=better)))
    assert lower.verdict.tolist() == ["lower"]


def test_over_seeds_averages_each_method_over_its_samples():
    bench = load_benchmark()
    rows = [{"dataset": "d", "method": m, "seed": s, "accuracy": a}
            for m, accs in (("concept", (0.7, 0.8, 0.9)), ("ref", (0.75, 0.75, 0.75))) for s, a in enumerate(accs)]
    summary = bench.over_seeds(pd.DataFrame(rows)).set_index("method")
    assert summary.loc["concept", "mean"] == pytest.approx(0.8) and summary.loc["concept", "std"] == pytest.approx(0.1)
    assert summary.loc["ref", "std"] == 0 and summary.loc["concept", "seeds"] == 3


def test_seeds_need_a_training_sample_size(tmp_path):
    with pytest.raises(SystemExit):
        load_benchmark().main(["--seeds", "0,1", "--datasets", "sst2", "--out", str(tmp_path)])


def test_development_split_never_touches_the_test_split(tmp_path):
    bench = load_benchmark()
    data = load_sms_spam_sample()
    train, test = train_test_split(data, train_size=400, test_size=100, stratify=data.label, random_state=0)
    (tmp_path / "sms").mkdir()
    train.to_csv(tmp_path / "sms" / "train.csv", index=False)
    test.to_csv(tmp_path / "sms" / "test.csv", index=False)
    fit, scored = bench.development_split(tmp_path, "sms", seed=1)
    assert (len(fit), len(scored)) == (300, 100)
    small, rest = bench.development_split(tmp_path, "sms", seed=1, train_size=50)
    assert (len(small), len(rest)) == (50, 350)
    for part in (fit, scored, small, rest):   # training texts only
        assert set(part.text) <= set(train.text) and not set(part.text) & (set(test.text) - set(train.text))
    assert not set(fit.index) & set(scored.index) and not set(small.index) & set(rest.index)
    assert small.label.value_counts(normalize=True).round(1).equals(train.label.value_counts(normalize=True).round(1))


def test_development_scripts_share_one_command_line(tmp_path):
    bench = load_benchmark()
    defaults = bench.development_arguments().parse_args([])
    assert defaults.datasets.split(",") == bench.ALL_DATASETS and defaults.seeds == "1"
    assert defaults.train_size is None and defaults.data == bench.DEFAULT_DATA
    parser = bench.development_arguments(["emotion"], "11,12", 200)
    parser.add_argument("--accuracy", action="store_true")   # a script adds its own
    args = parser.parse_args(["--data", str(tmp_path), "--seeds", "3", "--accuracy"])
    assert (args.datasets, args.seeds, args.train_size, args.data, args.accuracy) == ("emotion", "3", 200, tmp_path, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["--train-size", "many"])
