"""The benchmark's --quick mode runs end to end and prints a complete table of finite numbers."""

import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd
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
    saved = pd.read_csv(out / "results.csv")
    assert len(saved) == 6 and (out / "accuracy_vs_features.png").stat().st_size > 5000
