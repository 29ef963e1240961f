"""Benchmark of explain_difference and explain_model against the targets of issue 16.

    python benchmarks/explain.py                 # everything (about ten minutes on two busy cores)
    python benchmarks/explain.py --write-docs    # also replace the results block of docs/explain.md
    python benchmarks/explain.py --parts planted,null --null-splits 5

Parts:

- ``planted``: a dataset's train.csv is cut at random into halves A and B; one sentence on a theme
  absent from the data is added to 30% of A's texts, in five wordings that share no content word.
  Target: a hypothesis about the theme among the top 3, with q < 0.01, for 3 themes x 2 datasets.
- ``null``: random half-splits of sst2's train.csv, nothing planted. Target: no hypothesis with
  q < 0.05 in at least 19 of 20 splits.
- ``sst2``: sst2 positive vs negative; the top 5 hypotheses are printed (target: about sentiment).
- ``model``: explain_model of a black box (all-MiniLM-L6-v2 + logistic regression, and TF-IDF +
  LinearSVC) trained on half of train.csv, explained on the other half plus test.csv, with at most
  10 concepts. Target: held-out agreement >= 0.85 on sst2, >= 0.95 on sms_spam.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "datasets"
DOCS = ROOT / "docs" / "explain.md"
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"

# Themes absent from sst2 and sms_spam (each word occurs in at most two of their training texts);
# the five wordings of a theme share no content word.
THEMES = {
    "dental care": ["My dentist found two cavities.", "The orthodontist tightened her braces.",
                    "Flossing keeps gums healthy.", "A molar was extracted.", "Fluoride toothpaste prevents decay."],
    "knitting": ["Grandma knitted a wool scarf.", "She bought yarn and crochet hooks.",
                 "The sweater pattern needs circular needles.", "Stitching a quilt took three winters.",
                 "Purl rows alternate with cable twists."],
    "gardening": ["Tomatoes ripened in the greenhouse.", "We planted tulip bulbs.", "Compost enriches the soil.",
                  "Pruning roses encourages blooms.", "The lawn mower needs sharpening."],
}


def load(name: str, split: str = "train") -> pd.DataFrame:
    return pd.read_csv(DATA / name / f"{split}.csv")


def tokens(text: str) -> list[str]:
    return re.findall(r"(?u)\b\w\w+\b", text.lower())


def about_theme(phrases, theme_words) -> bool:
    """A hypothesis is about the theme when at least half of its phrases use only the theme's words."""
    inside = [all(t in theme_words for t in tokens(p)) for p in phrases]
    return bool(phrases) and sum(inside) >= len(inside) / 2


# ---------------------------------------------------------------------- parts
def planted(datasets, out):
    from nlmodels import Concept, explain_difference
    from nlmodels.concepts import phrase_matches

    rows = []
    for d, name in enumerate(datasets):
        texts = load(name).text.tolist()
        for t, (theme, wordings) in enumerate(THEMES.items()):
            seed = 10 * d + t
            rng = np.random.RandomState(seed)
            order = rng.permutation(len(texts))
            a = [texts[i] for i in order[: len(texts) // 2]]
            b = [texts[i] for i in order[len(texts) // 2:]]
            chosen = rng.rand(len(a)) < 0.3
            a = [f"{t} {wordings[rng.randint(len(wordings))]}" if c else t for t, c in zip(a, chosen)]
            test_a, test_b = rng.rand(len(a)) < 0.5, rng.rand(len(b)) < 0.5
            start = time.time()
            report = explain_difference(a, b, split=(test_a, test_b), random_state=seed)
            seconds = time.time() - start
            words = {t for w in wordings for t in tokens(w)}
            table = report.table
            hits = [i for i, r in table.iterrows() if about_theme(r.phrases, words) and r.more_often_in == "A"]
            best = hits[0] if hits else None
            row = {"dataset": name, "theme": theme, "seconds": round(seconds, 1)}
            if best is None:
                row.update(rank=None, q=None, share_a=None, share_b=None, covered=None, hypothesis="(none)")
            else:
                r = table.iloc[best]
                planted_test = [t for t, c, m in zip(a, chosen, test_a) if c and m]
                covered = phrase_matches(planted_test, [Concept(r.hypothesis, tuple(r.phrases))])[:, 0].mean()
                row.update(rank=best + 1, q=r.q_value, share_a=r.share_a, share_b=r.share_b, covered=covered,
                           hypothesis=r.hypothesis, theme_rows=len(hits))
            row["pass"] = best is not None and best < 3 and row["q"] < 0.01
            rows.append(row)
            print(f"planted {name} / {theme}: rank {row['rank']}, q {row['q']}, covered {row['covered']}, "
                  f"{row['hypothesis']} ({seconds:.0f} s)", flush=True)
    lines = ["| dataset | theme | rank | q | share A | share B | planted texts it covers | hypothesis | target met |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["rank"] is None:
            lines.append(f"| {r['dataset']} | {r['theme']} | – | – | – | – | – | (none found) | no |")
            continue
        lines.append(f"| {r['dataset']} | {r['theme']} | {r['rank']} | {r['q']:.1e} | {r['share_a']:.1%} | "
                     f"{r['share_b']:.1%} | {r['covered']:.0%} | {r['hypothesis'].replace('|', '/')} | "
                     f"{'yes' if r['pass'] else 'no'} |")
    passed = sum(r["pass"] for r in rows)
    out["planted"] = "\n".join(lines) + f"\n\nTarget (theme in the top 3 with q < 0.01 in all {len(rows)} runs): " \
        f"**{'met' if passed == len(rows) else 'missed'}** ({passed} of {len(rows)})."


def null(n_splits, out, name="sst2"):
    from nlmodels import explain_difference

    texts = load(name).text.tolist()
    found, min_q = [], []
    start = time.time()
    for seed in range(n_splits):
        rng = np.random.RandomState(100 + seed)
        order = rng.permutation(len(texts))
        half = len(texts) // 2
        report = explain_difference([texts[i] for i in order[:half]], [texts[i] for i in order[half:]],
                                    random_state=seed)
        found.append(int((report.table.q_value < 0.05).sum()))
        min_q.append(float(report.table.q_value.min()))
        print(f"null split {seed}: {found[-1]} with q < 0.05, min q {min_q[-1]:.3f}", flush=True)
    clean = sum(f == 0 for f in found)
    need = int(np.ceil(0.95 * n_splits))
    out["null"] = (f"| dataset | random half-splits | splits with no hypothesis at q < 0.05 | hypotheses at q < 0.05 "
                   f"(all splits) | smallest q seen | seconds per split |\n|---|---|---|---|---|---|\n"
                   f"| {name} | {n_splits} | {clean} | {sum(found)} | {min(min_q):.3f} | "
                   f"{(time.time() - start) / n_splits:.0f} |\n\nTarget (at least {need} of {n_splits} clean): "
                   f"**{'met' if clean >= need else 'missed'}**.")


def sst2_sentiment(out):
    from nlmodels import explain_difference

    data = load("sst2")
    report = explain_difference(data.text[data.label == 1], data.text[data.label == 0], names=("positive", "negative"))
    print(report, flush=True)
    lines = ["| # | hypothesis | share positive | share negative | q |", "|---|---|---|---|---|"]
    for i, (r, sentence) in enumerate(zip(report.table.head(5).itertuples(), report.sentences())):
        lines.append(f"| {i + 1} | {sentence} | {r.share_a:.1%} | {r.share_b:.1%} | {r.q_value:.1e} |")
    out["sst2"] = "\n".join(lines) + (f"\n\n{len(report.table)} hypotheses tested on {report.sizes['a']['test']} + "
                                      f"{report.sizes['b']['test']} held-out texts; "
                                      f"{int((report.table.q_value < 0.05).sum())} with q < 0.05.")


def black_boxes():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm import LinearSVC

    from nlmodels import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    return {
        "MiniLM + LR": lambda: make_pipeline(FunctionTransformer(lambda X: embedder.encode(list(X))),
                                             LogisticRegression(C=1.0, max_iter=2000)),
        "TF-IDF + LinearSVC": lambda: make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC()),
    }


def model_fidelity(datasets, out, max_concepts=10):
    from nlmodels import explain_model

    targets = {"sst2": 0.85, "sms_spam": 0.95}
    lines = ["| dataset | black box | its test accuracy | texts explained | concepts | held-out agreement | "
             "a constant answer's agreement | surrogate train agreement | target | met | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in datasets:
        train, test = load(name), load(name, "test")
        half = len(train) // 2
        fit_part = train.iloc[:half]
        texts = train.text.iloc[half:].tolist() + test.text.tolist()
        for box_name, make in black_boxes().items():
            box = make().fit(fit_part.text.tolist(), fit_part.label.to_numpy())
            accuracy = float((box.predict(test.text.tolist()) == test.label.to_numpy()).mean())
            start = time.time()
            explained = explain_model(box.predict, texts, max_concepts=max_concepts)
            seconds = time.time() - start
            f = explained.fidelity
            target = targets.get(name)
            met = target is not None and f["agreement"] >= target
            print(f"explain_model {name} / {box_name}: agreement {f['agreement']:.3f} "
                  f"({len(explained.surrogate.concepts_)} concepts, {seconds:.0f} s)", flush=True)
            print(explained.surrogate, flush=True)
            lines.append(f"| {name} | {box_name} | {accuracy:.3f} | {len(texts)} | {len(explained.surrogate.concepts_)} | "
                         f"{f['agreement']:.3f} | {f['constant_agreement']:.3f} | {f['agreement_train']:.3f} | "
                         f"{target if target else '–'} | "
                         f"{'yes' if met else 'no'} | {seconds:.0f} |")
    out["model"] = "\n".join(lines)


# ---------------------------------------------------------------------- main
def write_docs(text: str) -> None:
    doc = DOCS.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        raise SystemExit(f"{DOCS} has no {START} ... {END} block to replace")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
    print(f"wrote the results into {DOCS}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="planted,null,sst2,model")
    parser.add_argument("--datasets", default="sst2,sms_spam")
    parser.add_argument("--null-splits", type=int, default=20)
    parser.add_argument("--write-docs", action="store_true", help="replace the results block of docs/explain.md")
    args = parser.parse_args(argv)
    parts, datasets = args.parts.split(","), args.datasets.split(",")
    out = {}
    start = time.time()
    if "planted" in parts:
        planted(datasets, out)
    if "null" in parts:
        null(args.null_splits, out)
    if "sst2" in parts:
        sst2_sentiment(out)
    if "model" in parts:
        model_fidelity(datasets, out)
    titles = {"planted": "Planted difference", "null": "Random half-splits (nothing to find)",
              "sst2": "sst2: positive vs negative, top 5", "model": "explain_model: agreement with a black box"}
    text = "\n\n".join(f"#### {titles[k]}\n\n{v}" for k, v in out.items())
    text += (f"\n\nMeasured by `python benchmarks/explain.py{' --parts ' + args.parts if args.parts != 'planted,null,sst2,model' else ''}`"
             f" in {time.time() - start:.0f} s on two shared CPU cores, offline (bundled all-MiniLM-L6-v2; embeddings come from the on-disk cache when a run repeats, so times are mostly fitting).")
    print("\n" + text)
    if args.write_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
