"""Does every printed model mean what it says? The faithfulness table of docs/faithfulness.md.

    python benchmarks/faithfulness.py                    # offline on six datasets + the chat path
    python benchmarks/faithfulness.py --datasets sst2    # a subset of the offline rows
    python benchmarks/faithfulness.py --no-offline       # only the chat path (recorded answers)
    python benchmarks/faithfulness.py --write            # also replace the table in docs/faithfulness.md
    python benchmarks/faithfulness.py --no-chat --train-size 200 --datasets sst2,emotion   # few labels
    python benchmarks/faithfulness.py --rules            # rule lists and trees, with the gate and without

For each fitted model it counts, independently of the model's own bookkeeping:

- **contradicting weights**: weighted columns whose sign differs from their concept's association
  with the class in the training data (for a mined phrase concept, whether one of its phrases
  occurs; for a prototype, whether the text is labelled with its class; for a question, the
  recorded chat-model answers);
- **weighted below the gate**: weighted columns whose measurement failed its fidelity gate;
- accuracy on the test split, chat calls per predicted text, concepts gated.

``--rules`` prints a second table instead: ``RuleListClassifier()`` and ``ConceptTreeClassifier()``
on the same six datasets, each fitted as shipped and once more with the gate patched off (every
score column a candidate, as before 2026-12-07), with the number of printed conditions and of those
that test a measurement whose fidelity failed its gate (from the measurer's records, not from the
model's count), and the test accuracy. Each rule (a tree: each leaf) is also measured on the test
split (``evaluate_rules``): ``precision_gap`` is the printed training precision minus the test
precision, averaged over the test texts the rules decide, and ``overstated`` counts the rules whose
test precision's 95% interval lies wholly below the printed one.

Offline rows: ``ConceptClassifier()`` (30 concepts) fitted on ``train.csv`` of six shared datasets,
scored on ``test.csv``; "before" is docs/benchmarks.md at commit 36ce386 (the same splits).
Chat rows: the real ``ChatModel`` path against ``tests/answer_server.py``, a scripted server that
replays a capable model's recorded answers (``shared/llm_answers``, 200 train + 200 test texts per
dataset; a text or question it does not hold is an HTTP 404). They rest on those tables, not on a
live model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT / "tests"))

OFFLINE = ["sst2", "rotten_tomatoes", "financial_phrasebank", "emotion", "sms_spam", "ag_news"]
BEFORE = {"sst2": 0.773, "rotten_tomatoes": 0.738, "financial_phrasebank": 0.881, "emotion": 0.712,
          "sms_spam": 0.982, "ag_news": 0.871}      # docs/benchmarks.md at 36ce386, ConceptClassifier()
CHAT = ["sst2", "financial_phrasebank"]
START, END = "<!-- faithfulness table: start -->", "<!-- faithfulness table: end -->"


def audit(model, y, reading_scores) -> tuple[int, int]:
    """(contradicting weights, weighted columns below the gate), recomputed from the training data."""
    S = model.n_signals_
    if len(model.classes_) == 2:
        targets = [(np.asarray(y) == model.classes_[1]).astype(float)]
    else:
        targets = [(np.asarray(y) == c).astype(float) for c in model.classes_]
    passed = {(r["concept"], r["signal"]): r["passed"] for r in model.measurer_.fidelity_}
    contradicting = below = 0
    for r, target in enumerate(targets):
        for k in range(len(model.concepts_)):
            cov = np.cov(reading_scores[:, k], target)[0, 1]
            direction = np.sign(cov) if abs(cov) > 1e-12 else 0.0
            for j, signal in enumerate(model.measurer_.signals):
                w = model.coef_[r, k * S + j]
                if w != 0:
                    contradicting += int(np.sign(w) != direction)
                    below += int(passed[(k, signal)] is False)
    return contradicting, below


def offline_row(name: str, train_size: int | None = None) -> dict:
    from run import load   # benchmarks/run.py: the same stratified sample as its --train-size rows

    from nlmodels import ConceptClassifier
    from nlmodels.concepts import phrase_matches

    train, test = load(DATA, name, quick=False, train_size=train_size)
    texts, y = train.text.tolist(), train.label.to_numpy()
    start = time.perf_counter()
    model = ConceptClassifier().fit(texts, y)
    fit_s = time.perf_counter() - start
    accuracy = float(np.mean(model.predict(test.text.tolist()) == test.label.to_numpy()))
    reading = phrase_matches(texts, model.concepts_)   # what "mentions something like ..." says
    for k, concept in enumerate(model.concepts_):        # "resembles the training texts labelled X"
        if concept.is_prototype:
            reading[:, k] = (y == concept.target).astype(float)
    contradicting, below = audit(model, y, reading)
    similar = model.fidelity_[model.fidelity_.signal == "similar"]
    before = None if train_size else BEFORE[name]
    label = "offline ConceptClassifier()" + (f", {train_size} texts" if train_size else "")
    return {"model": label, "dataset": name, "accuracy": round(accuracy, 3),
            "before": before, "change": None if before is None else round(accuracy - before, 3),
            "concepts": len(model.concepts_), "contradicting": contradicting, "below_gate": below,
            "gated": f"{int((similar.passed == False).sum())} similar signals",  # noqa: E712
            "calls_per_text": model.chat_calls_per_text_, "fit_s": round(fit_s, 1)}


def rule_rows(name: str) -> list[dict]:
    """A rule list and a tree, each with the fidelity gate and with it patched off."""
    from run import load

    from nlmodels import ConceptTreeClassifier, RuleListClassifier
    from nlmodels.models._rule_base import RuleConceptModel

    train, test = load(DATA, name, quick=False)
    texts, y = train.text.tolist(), train.label.to_numpy()
    shipped, rows = RuleConceptModel._usable_columns, []

    def every_column(model):   # before 2026-12-07: no column left out
        model.n_gated_signals_ = 0
        return np.ones(len(model.concepts_) * model.n_signals_, bool)

    for make in (RuleListClassifier, ConceptTreeClassifier):
        for gate in (True, False):
            RuleConceptModel._usable_columns = shipped if gate else every_column
            try:
                model = make().fit(texts, y)
            finally:
                RuleConceptModel._usable_columns = shipped
            conditions = model._conditions()
            passed = {(r["concept"], r["signal"]): r["passed"] for r in model.measurer_.fidelity_}
            measured = model.evaluate_rules(test.text.tolist(), test.label.to_numpy())
            decided = measured[(measured.texts > 0) & (measured.training_texts > 0)]   # both precisions defined
            rows.append({"model": make.__name__, "gate": "yes" if gate else "no (before)", "dataset": name,
                         "accuracy": round(float(np.mean(model.predict(test.text.tolist()) == test.label.to_numpy())), 3),
                         "conditions": len(conditions),
                         "below_gate": sum(passed[(c.concept, c.signal)] is False for c in conditions),
                         "rules": len(measured),
                         # how far the printed (training) precision is above the test precision, per test text
                         "precision_gap": round(float(np.average(decided.training_precision - decided.precision,
                                                                 weights=decided.texts)), 3),
                         # rules whose test precision's 95% interval lies wholly below the printed precision
                         "overstated": int(sum(hi < p for (_, hi), p in zip(decided.interval, decided.training_precision)))})
    return rows


def chat_row(name: str, measure: str, **options) -> dict:
    from answer_server import AnswerServer, load_answers, split

    from nlmodels import ChatModel, ConceptClassifier

    server = AnswerServer([name])
    try:
        llm = ChatModel("recorded-capable-model", base_url=server.base_url, api_key="sk-none", progress=False)
        texts, y = split(name, "train")
        test_texts, test_y = split(name, "test")
        start = time.perf_counter()
        model = ConceptClassifier(llm, measure=measure, n_distill=len(texts), **options).fit(texts, y)
        fit_s = time.perf_counter() - start
        fit_calls = server.count()
        accuracy = float(np.mean(model.predict(test_texts) == np.asarray(test_y)))
        predict_calls = server.count() - fit_calls
        table, questions = load_answers(name)
        columns = [f"q{questions.index(c.text) + 1:02d}" for c in model.concepts_]
        recorded = table.set_index("text").loc[texts, columns].to_numpy(float)
        contradicting, below = audit(model, np.asarray(y), recorded)
        assert server.missing == [], server.missing[:3]
    finally:
        server.close()
    label = f'measure="{measure}"' + "".join(f", {k}={v!r}" for k, v in options.items())
    return {"model": label, "dataset": name, "accuracy": round(accuracy, 3), "before": None, "change": None,
            "concepts": len(model.concepts_), "contradicting": contradicting, "below_gate": below,
            "gated": f"{len(model.gated_concepts_)} of 20 questions" if measure == "distill" else "0",
            "calls_per_text": round(predict_calls / len(test_texts), 3), "fit_s": round(fit_s, 1),
            "fit_calls": fit_calls}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(OFFLINE))
    parser.add_argument("--no-offline", action="store_true")
    parser.add_argument("--no-chat", action="store_true")
    parser.add_argument("--write", action="store_true", help="replace the table in docs/faithfulness.md")
    parser.add_argument("--train-size", type=int, help="offline rows: fit on a stratified sample of this many "
                        "training texts (seed 0, as benchmarks/run.py --train-size)")
    parser.add_argument("--rules", action="store_true", help="only the rule-list and tree table, with and "
                        "without the gate")
    args = parser.parse_args(argv)
    os.environ.setdefault("NLMODELS_CACHE_DIR", tempfile.mkdtemp(prefix="nlmodels-faithfulness-"))
    if args.rules:
        rows = [row for name in args.datasets.split(",") for row in rule_rows(name)]
        frame = pd.DataFrame(rows)
        print(frame.to_markdown(index=False))
        print("\n" + frame.groupby(["model", "gate"])[["conditions", "below_gate", "rules", "overstated"]].sum().to_markdown())
        return 0
    rows = []
    if not args.no_offline:
        for name in args.datasets.split(","):
            rows.append(offline_row(name, args.train_size))
            print(rows[-1], flush=True)
    if not args.no_chat:
        for name in CHAT:
            for measure, options in (("llm", {}), ("distill", {}), ("distill", {"gated": "llm"})):
                rows.append(chat_row(name, measure, **options))
                print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    table = frame.astype(object).where(frame.notna(), "").to_markdown(index=False)
    print(table)
    offline = frame[frame.before.notna()]
    if len(offline):
        print(f"\noffline mean accuracy {offline.accuracy.mean():.3f} vs {offline.before.mean():.3f} before "
              f"(change {offline.accuracy.mean() - offline.before.mean():+.3f})")
    if args.write:
        doc = ROOT / "docs" / "faithfulness.md"
        text = doc.read_text()
        before, rest = text.split(START)
        _, after = rest.split(END)
        doc.write_text(f"{before}{START}\n{table}\n{END}{after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
