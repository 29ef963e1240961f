"""One benchmark for every estimator, side by side with the references.

    python benchmarks/run.py                 # full: eight datasets, every method
    python benchmarks/run.py --quick         # two datasets, small samples (a few minutes)
    python benchmarks/run.py --datasets sst2,emotion --methods concept,tfidf
    python benchmarks/run.py --train-size 200 --datasets sst2,ag_news   # few labels: 200 training texts
    python benchmarks/run.py --embed-backend onnx   # every embedding through onnxruntime
    python benchmarks/run.py --train-size 200 --seeds 0,1,2,3,4 --methods concept,minilm_lr   # five samples

Reads ``<data>/<name>/train.csv`` and ``test.csv`` (columns ``text,label``) from ``--data``
(default: ``../shared/datasets`` beside the repository). Prints one Markdown table, writes
``results.csv``, ``results.md`` and ``accuracy_vs_features.png`` into ``--out``.

Beside the accuracy table it prints how ConceptClassifier's accuracy differs from each reference
method's on the same test texts, with a 95% paired bootstrap interval (``paired_differences``): a
difference whose interval spans 0 is not one the test split can tell apart. With ``--train-size`` and
``--seeds``, every seed draws its own stratified training sample; a last table gives each method's
mean and standard deviation over the seeds (``over_seeds``).

Each method's fit starts from an empty cache of its own unless ``--cache-dir`` is given, so fit
times include computing embeddings. With ``--llm-model`` (and ``--llm-base-url``) the chat-model
variants run too and report their calls, tokens and cache hits.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
ALL_DATASETS = ["sst2", "rotten_tomatoes", "financial_phrasebank", "emotion", "sms_spam", "ag_news", "clinc150",
                "bbc_news"]
QUICK_DATASETS = ["sms_spam", "financial_phrasebank"]

# Reference accuracies from shared/datasets/README.md (same splits).
REFERENCES = {
    "sst2": (0.733, 0.791), "rotten_tomatoes": (0.716, 0.735), "financial_phrasebank": (0.876, 0.903),
    "emotion": (0.672, 0.640), "sms_spam": (0.977, 0.985), "ag_news": (0.834, 0.864),
    "clinc150": (0.793, 0.921), "bbc_news": (0.992, 0.976),
}


# ---------------------------------------------------------------------------------------- methods
def _embedder(args):
    from nlmodels import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(backend=args.embed_backend, long_texts=args.long_texts, progress=False)


def reference_classifier():
    """The references' classifier on TF-IDF or MiniLM features, as the shared README's: L2 logistic
    regression, C from 8 values by 5-fold cross-validated accuracy."""
    from sklearn.linear_model import LogisticRegressionCV

    return LogisticRegressionCV(Cs=8, cv=5, max_iter=3000, l1_ratios=(0.0,), scoring="accuracy",
                                use_legacy_attributes=False)


def _tfidf(args, llm):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), reference_classifier())
    return model, lambda m: len(m[0].vocabulary_)


def _minilm_lr(args, llm):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    embedder = _embedder(args)
    model = make_pipeline(FunctionTransformer(lambda X: embedder.encode(list(X))), reference_classifier())
    return model, lambda m: math.inf  # 384 unreadable dimensions: nothing a person can read


def _concept(args, llm):
    from nlmodels import ConceptClassifier

    prototypes = {"auto": "auto", "on": True, "off": False, "embedding": "embedding"}[args.prototypes]
    return ConceptClassifier(embedder=_embedder(args), max_concepts=args.max_concepts,
                             prototypes=prototypes), lambda m: len(m.concepts_)


def _concept_llm(measure):
    def make(args, llm):
        from nlmodels import ConceptClassifier

        return ConceptClassifier(llm=llm, embedder=_embedder(args), measure=measure, max_concepts=args.max_concepts,
                                 n_distill=args.n_distill), lambda m: len(m.concepts_)
    return make


def _auglinear(args, llm):
    from nlmodels import AugLinearClassifier

    return AugLinearClassifier(_embedder(args), max_ngrams=args.max_ngrams), lambda m: len(getattr(m, "vocabulary_", [])) or math.nan


def _rulelist(args, llm):
    from nlmodels import RuleListClassifier

    return RuleListClassifier(embedder=_embedder(args), max_rules=10), lambda m: len(m.rules_)


def _tree(args, llm):
    from nlmodels import ConceptTreeClassifier

    return ConceptTreeClassifier(embedder=_embedder(args), max_depth=3), lambda m: len(m.paths())  # leaves: one path each


class _ImodelsXAugLinear:
    """imodelsX's AugLinearClassifier given the same bundled all-MiniLM-L6-v2 folder as checkpoint
    (``ngrams=2, all_ngrams=True``). Its labels must be integers, so they are mapped and back; its
    predict calls ``cache_linear_coefs`` on the test texts first (without it, it ignores n-grams
    unseen in training), and that time counts as predict time. Its printing is silenced."""

    def __init__(self):
        from imodelsx import AugLinearClassifier  # ImportError: skipped with a printed note

        from nlmodels.embed import bundled_minilm_path

        os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"  # a local folder, no hub
        self.model = AugLinearClassifier(checkpoint=str(bundled_minilm_path()), ngrams=2, all_ngrams=True)

    def fit(self, X, y):
        self.classes_, index = np.unique(y, return_inverse=True)
        with _quiet():
            self.model.fit(list(X), index)
        self.n_ngrams_ = len(getattr(self.model, "coefs_dict_", {})) or math.nan  # training n-grams
        return self

    def predict(self, X):
        with _quiet():
            self.model.cache_linear_coefs(list(X))
            return self.classes_[np.asarray(self.model.predict(list(X), warn=False)).astype(int)]


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _imodelsx(args, llm):
    return _ImodelsXAugLinear(), lambda m: m.n_ngrams_


METHODS = {
    "concept": (_concept, "nlmodels ConceptClassifier (offline)"),
    "auglinear": (_auglinear, "nlmodels AugLinearClassifier"),
    "rulelist": (_rulelist, "nlmodels RuleListClassifier"),
    "tree": (_tree, "nlmodels ConceptTreeClassifier (depth 3)"),
    "tfidf": (_tfidf, "TF-IDF 1-2-grams + logistic regression"),
    "minilm_lr": (_minilm_lr, "all-MiniLM-L6-v2 + logistic regression (black box)"),
    "imodelsx": (_imodelsx, "imodelsX AugLinearClassifier"),
    "concept_llm": (_concept_llm("llm"), "ConceptClassifier, chat model measures"),
    "concept_distill": (_concept_llm("distill"), "ConceptClassifier, distilled chat answers"),
}
DEFAULT_METHODS = ["concept", "auglinear", "rulelist", "tree", "tfidf", "minilm_lr", "imodelsx"]


# ---------------------------------------------------------------------------------------- running
def load(data: Path, name: str, quick: bool, seed: int = 0, train_size: int | None = None):
    """The dataset's splits; ``train_size``: a stratified sample of that many training texts
    (``seed``; every class keeps at least one text), the test split whole."""
    from sklearn.model_selection import train_test_split

    train = pd.read_csv(data / name / "train.csv")
    test = pd.read_csv(data / name / "test.csv")
    size = train_size or (600 if quick else None)
    if size is not None and len(train) > size:
        counts = train.label.value_counts()
        if size >= 2 * len(counts) and counts.min() >= 2:
            train, _ = train_test_split(train, train_size=size, stratify=train.label, random_state=seed)
        else:  # too few places per class to stratify (e.g. 200 texts, 150 classes): one per class, then at random
            first = train.groupby("label", sort=False).sample(1, random_state=seed)
            rest = train.drop(first.index).sample(max(size - len(first), 0), random_state=seed)
            train = pd.concat([first, rest])
    if quick:
        test = test.sample(min(len(test), 300), random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def development_split(data: Path, name: str, seed: int = 1, train_size: int | None = None):
    """The development protocol, which never touches test.csv: ``(fit, scored)`` from ``train.csv``
    alone, 75% / 25% (stratified, ``seed``), or with ``train_size`` a stratified sample of that
    many texts and up to 1,500 of the other training texts to score."""
    from sklearn.model_selection import train_test_split

    train, _ = load(data, name, False)
    if not train_size:
        return train_test_split(train, test_size=0.25, stratify=train.label, random_state=seed)
    fit, rest = train_test_split(train, train_size=train_size, stratify=train.label, random_state=seed)
    return fit, rest.sample(min(1500, len(rest)), random_state=seed)


def development_arguments(datasets=ALL_DATASETS, seeds: str = "1", train_size: int | None = None):
    """The command line of a script on the development protocol (:func:`development_split`):
    ``--datasets``, ``--train-size``, ``--seeds`` and ``--data``; add to it, then ``parse_args``."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=",".join(datasets))
    parser.add_argument("--train-size", type=int, default=train_size)
    parser.add_argument("--seeds", default=seeds, help="comma-separated split seeds")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    return parser


def leave_one_out_scores(X: np.ndarray, targets: np.ndarray, C: float) -> np.ndarray:
    """Each text's probe logits (one column per column of ``targets``) from probes fitted on all
    the other texts: leave-one-out, a fit per text (for samples of a few hundred)."""
    from nlmodels.concepts.measurers._probes import fit_probes

    out = np.empty(targets.shape)
    for i in range(len(X)):
        others = np.arange(len(X)) != i
        W, b = fit_probes(X[others], targets[others], C=C)
        out[i] = X[i] @ W + b
    return out


def estimate_errors(frame: pd.DataFrame, estimators: list[str], unit: str = "probes") -> pd.DataFrame:
    """How close each fidelity estimate (a column of ``frame`` per estimator) comes to the ``truth``
    column (the same probe's AUC on texts it never saw), per ``dataset`` and over all: mean error
    (bias), mean absolute error, and how often it puts a probe on the wrong side of the AUC gate
    (passed though its unseen-text AUC is below it; gated though it is not)."""
    from nlmodels.concepts.fidelity import AUC_GATE

    frame = frame.dropna(subset=estimators + ["truth"])
    rows = []
    for name, part in list(frame.groupby("dataset", sort=False)) + [("all", frame)]:
        entry = {"dataset": name, unit: len(part)}
        for how in estimators:
            error = part[how] - part.truth
            passes, truly = part[how] >= AUC_GATE, part.truth >= AUC_GATE
            entry[f"bias, {how}"] = round(error.mean(), 4)
            entry[f"MAE, {how}"] = round(error.abs().mean(), 4)
            entry[f"passed, unfaithful ({how})"] = int((passes & ~truly).sum())
            entry[f"gated, faithful ({how})"] = int((~passes & truly).sum())
        rows.append(entry)
    return pd.DataFrame(rows)


def accuracy_with(variants: dict, embedder, texts, y, scored_texts, scored_y) -> dict:
    """The default ``ConceptClassifier()`` fitted once per variant of the embedding measurer's
    ``held_out_probe_scores`` (``{label: function}``, patched in for that fit only): each one's
    accuracy on the scored texts and its fit seconds (``label + " s"``)."""
    from nlmodels import ConceptClassifier
    from nlmodels.concepts.measurers import embedding

    shipped, row = embedding.held_out_probe_scores, {}
    for label, scores in variants.items():
        embedding.held_out_probe_scores = scores
        try:
            start = time.time()
            model = ConceptClassifier(embedder=embedder).fit(list(texts), y)
            row[label + " s"] = round(time.time() - start, 1)
        finally:
            embedding.held_out_probe_scores = shipped
        row[label] = float(np.mean(model.predict(list(scored_texts)) == np.asarray(scored_y)))
    return row


def fits_table(fits: list[dict], labels: list[str]) -> str:
    """:func:`accuracy_with`'s rows (with ``dataset`` and ``seed``), then each label's mean per dataset."""
    table = pd.DataFrame(fits)
    return (table.to_markdown(index=False, floatfmt=".3f") + "\n\n"
            + table.groupby("dataset", sort=False)[labels].mean().to_markdown(floatfmt=".4f"))


def run_one(method, name, train, test, args, llm):
    from sklearn.metrics import accuracy_score, f1_score

    make, _ = METHODS[method]
    try:
        model, n_readable = make(args, llm)
    except ImportError as error:
        print(f"  skipped {method}: {error}", file=sys.stderr)
        return None
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix=f"nlmodels-bench-{method}-")
    os.environ["NLMODELS_CACHE_DIR"] = str(cache_dir)
    usage_before = llm.usage.as_dict() if llm is not None else None
    start = time.perf_counter()
    try:
        model.fit(train.text.tolist(), train.label.to_numpy())
    except ValueError as error:
        if "refused" not in str(error):
            raise
        print(f"  {method} refused on {name}: {error}", file=sys.stderr)   # e.g. 10 rules for 150 classes
        return None
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    predicted = model.predict(test.text.tolist())
    predict_s = time.perf_counter() - start
    row = {
        "dataset": name, "method": method, "n_train": len(train), "correct": np.asarray(predicted == test.label.to_numpy()),
        "accuracy": accuracy_score(test.label, predicted),
        "macro_f1": f1_score(test.label, predicted, average="macro"),
        "readable_features": n_readable(model),
        "fit_s": fit_s, "predict_per_s": len(test) / predict_s,
        "chat_calls": 0, "tokens": 0, "cache_hits": 0,
    }
    if llm is not None and method.startswith("concept_"):
        used = llm.usage.as_dict()
        row.update(chat_calls=used["calls"] - usage_before["calls"],
                   tokens=used["total_tokens"] - usage_before["total_tokens"],
                   cache_hits=used["cached"] - usage_before["cached"])
    return row


def plot(results: pd.DataFrame, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    shown = results.copy()
    finite_max = shown.readable_features.replace(math.inf, np.nan).max()
    blackbox_x = (finite_max if finite_max == finite_max else 100) * 10
    shown["x"] = shown.readable_features.replace(math.inf, blackbox_x).fillna(blackbox_x)
    markers = dict(zip(sorted(shown.dataset.unique()), "os^vDP*X"))
    for method, group in shown.groupby("method"):
        for _, r in group.iterrows():
            ax.scatter(r.x, r.accuracy, marker=markers[r.dataset], color=f"C{sorted(shown.method.unique()).index(method)}",
                       label=method if _ == group.index[0] else None)
    for name, m in markers.items():
        ax.scatter([], [], marker=m, color="gray", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("features a person must read (log; black boxes drawn at the right edge)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def paired_differences(results: pd.DataFrame, method: str = "concept") -> pd.DataFrame:
    """``method``'s accuracy minus each other method's, per dataset (and seed), on the same test
    texts, with a 95% percentile bootstrap interval over the texts (scipy, 2,000 resamples, paired:
    each resample draws texts, not predictions)."""
    from scipy.stats import bootstrap

    rows = []
    for (name, seed), group in results.groupby(["dataset", "seed"], sort=False):
        mine = group[group.method == method]
        if mine.empty:
            continue
        for _, other in group[group.method != method].iterrows():
            d = mine.iloc[0].correct.astype(float) - other.correct.astype(float)
            if not d.any():
                low = high = 0.0
            else:
                ci = bootstrap((d,), np.mean, n_resamples=2000, method="percentile", random_state=0).confidence_interval
                low, high = ci.low, ci.high
            rows.append({"dataset": name, "seed": seed, "versus": other.method, "difference": d.mean(),
                         "ci95": f"[{low:+.3f}, {high:+.3f}]",
                         "verdict": "higher" if low > 0 else ("lower" if high < 0 else "not distinguishable")})
    return pd.DataFrame(rows)


def over_seeds(results: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and method: mean and standard deviation of the accuracy over the seeds' samples."""
    summary = results.groupby(["dataset", "method"], sort=False).accuracy.agg(["mean", "std", "min", "max", "count"])
    return summary.rename(columns={"count": "seeds"}).reset_index()


def table(results: pd.DataFrame) -> str:
    shown = results.drop(columns=["correct"], errors="ignore")
    shown["readable_features"] = shown.readable_features.map(
        lambda v: "black box" if v == math.inf else ("?" if v != v else f"{int(v):,}"))
    for col, fmt in [("accuracy", "{:.3f}"), ("macro_f1", "{:.3f}"), ("fit_s", "{:.1f}"), ("predict_per_s", "{:,.0f}")]:
        shown[col] = shown[col].map(fmt.format)
    shown["tfidf_ref"] = shown.dataset.map(lambda d: REFERENCES.get(d, (math.nan,))[0])
    shown["minilm_ref"] = shown.dataset.map(lambda d: REFERENCES.get(d, (math.nan, math.nan))[1])
    return shown.to_markdown(index=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of <name>/train.csv,test.csv")
    parser.add_argument("--datasets", help="comma-separated names (default: all eight, or two with --quick)")
    parser.add_argument("--methods", help=f"comma-separated, of {list(METHODS)} (default: {','.join(DEFAULT_METHODS)}; "
                        "with --quick, all but imodelsx, which alone takes minutes per dataset)")
    parser.add_argument("--quick", action="store_true", help="two datasets, 600 training / 300 test texts")
    parser.add_argument("--train-size", type=int, help="fit on a stratified sample of this many training texts "
                        "(seed 0, or each of --seeds), e.g. 200 for the few-labels rows; the test split stays whole")
    parser.add_argument("--seeds", default="0", help="comma-separated sample seeds for --train-size (default 0): "
                        "each draws its own stratified sample; the last table averages over them")
    parser.add_argument("--embed-backend", default="torch", choices=["torch", "onnx"],
                        help="SentenceTransformerEmbedder(backend=...) for every method that embeds")
    parser.add_argument("--long-texts", default="chunks", choices=["chunks", "truncate"],
                        help="SentenceTransformerEmbedder(long_texts=...) for every method that embeds")
    parser.add_argument("--max-ngrams", type=int, help="AugLinearClassifier(max_ngrams=...): the n-gram table's cap")
    parser.add_argument("--max-concepts", type=lambda v: v if v == "auto" else int(v), default="auto",
                        help="ConceptClassifier(max_concepts=...) (default: auto)")
    parser.add_argument("--prototypes", default="auto", choices=["auto", "on", "off", "embedding"],
                        help="ConceptClassifier(prototypes=...): auto, on (True), off (False) or embedding "
                        "(no word prototypes)")
    parser.add_argument("--n-distill", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cache-dir", help="share one cache across methods (faster reruns, fit times exclude embedding)")
    parser.add_argument("--llm-model", help="chat model for the concept_llm / concept_distill methods")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible server for --llm-model")
    args = parser.parse_args(argv)

    names = args.datasets.split(",") if args.datasets else (QUICK_DATASETS if args.quick else ALL_DATASETS)
    if args.methods:
        methods = args.methods.split(",")
    elif args.quick:
        methods = [m for m in DEFAULT_METHODS if m != "imodelsx"]
        print("--quick: imodelsx left out (name it in --methods to include it)", file=sys.stderr)
    else:
        methods = list(DEFAULT_METHODS)
    llm = None
    if args.llm_model:
        from nlmodels import ChatModel

        llm = ChatModel(args.llm_model, base_url=args.llm_base_url)
        methods += [m for m in ("concept_llm", "concept_distill") if m not in methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    if len(seeds) > 1 and not args.train_size:
        parser.error("--seeds draws training samples: give --train-size too")
    rows = []
    for name in names:
        for seed in seeds:
            train, test = load(args.data, name, args.quick, seed=seed, train_size=args.train_size)
            print(f"{name}: {len(train)} train (seed {seed}), {len(test)} test", file=sys.stderr)
            for method in methods:
                if method.startswith("concept_") and llm is None:
                    continue
                row = run_one(method, name, train, test, args, llm)
                if row is not None:
                    rows.append({**row, "seed": seed})
                    print(f"  {method:16s} acc {row['accuracy']:.3f}  fit {row['fit_s']:.1f}s", file=sys.stderr)
    results = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    results.drop(columns=["correct"]).to_csv(args.out / "results.csv", index=False)
    text = table(results)
    differences = paired_differences(results)
    if not differences.empty:
        text += "\n\nConceptClassifier minus each method, same test texts (95% paired bootstrap interval):\n\n"
        text += differences.to_markdown(index=False, floatfmt="+.3f")
    if len(seeds) > 1:
        text += "\n\nAccuracy over the seeds' training samples:\n\n" + over_seeds(results).to_markdown(index=False, floatfmt=".3f")
    (args.out / "results.md").write_text(text + "\n")
    plot(results, args.out / "accuracy_vs_features.png")
    print(text)
    return results


if __name__ == "__main__":
    main()
