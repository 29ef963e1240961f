"""The ``nlmodels`` command line: fit, predict, explain, report, plot and edit models from CSV files.

Every command reads and writes plain files; models are the JSON files of ``model.to_json``.
Errors about the input (a missing file or column, an empty text) print one line naming the
problem and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

__all__ = ["main"]

# --model name -> (module, class). Other estimators join here once they can be exported to JSON.
MODELS = {
    "concept": ("nlmodels.models", "ConceptClassifier"),
    "concept-regressor": ("nlmodels.models", "ConceptRegressor"),
    "rulelist": ("nlmodels.models", "RuleListClassifier"),
    "tree": ("nlmodels.models", "ConceptTreeClassifier"),
    "auglinear": ("nlmodels.models", "AugLinearClassifier"),
    "auglinear-regressor": ("nlmodels.models", "AugLinearRegressor"),
}
MODEL_HELP = ("concept: ConceptClassifier, weighted concepts (labels are classes); concept-regressor: ConceptRegressor "
              "(labels are numbers); rulelist: RuleListClassifier, if-then rules over concepts; tree: "
              "ConceptTreeClassifier, a shallow tree over concepts; auglinear: AugLinearClassifier, one number per "
              "n-gram from its embedding; auglinear-regressor: AugLinearRegressor. Default: concept")

EPILOG = """examples:
  nlmodels fit train.csv --text-column text --label-column label --model concept --out model.json
  nlmodels fit train.csv --model rulelist --max-rules 8 --out rules.json
  nlmodels predict model.json new.csv --out predictions.csv
  nlmodels explain model.json "WINNER!! claim your free prize now"
  nlmodels report model.json test.csv --out card.html
  nlmodels plot weights model.json --out weights.png
  nlmodels plot explain model.json "some text" --out explanation.png
  nlmodels edit model.json train.csv --remove 3 --add "Does the text ask for money?" --author "A. Auditor" --out edited.json
  nlmodels diff a.csv b.csv --text-column text --out report.html
  nlmodels explain-model pipeline.joblib texts.csv --max-concepts 10 --out surrogate.json

Chat models: --chat-model/--base-url at fit time; the key is read from OPENAI_API_KEY and is never
written to any file. The fit prints its chat calls and tokens first, and asks above --confirm-above
requests (--yes: do not ask; with no terminal it stops unless --yes). Set NLMODELS_CACHE_DIR to choose where answers and embeddings are cached.
"""


class UsageError(Exception):
    """A problem with the command's input: reported in one line, exit status 2."""


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- reading inputs
def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} not found: {path}")
    if not p.is_file():
        raise UsageError(f"{what} is not a file: {path}")
    return p


def _read_table(path: str, sep: str | None, columns: list[tuple[str, str]]):
    """Read a CSV/TSV and check that the named columns exist; ``columns`` = [(option, name)]."""
    import pandas as pd

    p = _existing(path, "data file")
    if sep is None:
        sep = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
    try:
        frame = pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path} as a table (separator {sep!r}): {error}") from None
    for option, name in columns:
        if name not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:20])) + (" …" if len(frame.columns) > 20 else "")
            raise UsageError(f"column {name!r} (given by {option}) not found in {path}; its columns are: {shown}")
    return frame


def _texts(frame, column: str, path: str) -> list[str]:
    values = frame[column]
    bad = values.isna() | (values.str.strip() == "")
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise UsageError(f"{path}: column {column!r} is empty at data row {row} (line {row + 2} of the file)")
    return values.tolist()


def _labels(frame, column: str, path: str, regression: bool):
    """Labels as read; whole numbers become ints (so 0/1 labels stay numbers), the rest stay text."""
    import numpy as np

    values = frame[column]
    if values.isna().any():
        row = int(values.isna().to_numpy().nonzero()[0][0])
        raise UsageError(f"{path}: column {column!r} has no label at data row {row} (line {row + 2} of the file)")
    if regression:
        try:
            return values.astype(float).to_numpy()
        except ValueError as error:
            raise UsageError(f"{path}: column {column!r} must be numeric for a regressor: {error}") from None
    if values.str.fullmatch(r"\s*-?\d{1,18}\s*").all():
        return values.astype(np.int64).to_numpy()
    return np.asarray(values.tolist(), dtype=str)


def _load_model(path: str, args=None):
    from .models import load

    _existing(path, "model file")
    llm = None
    if args is not None and getattr(args, "base_url", None):
        from .llm import ChatModel
        import json as _json

        record = _json.loads(Path(path).read_text(encoding="utf-8")).get("chat_model") or {}
        llm = ChatModel(args.chat_model or record.get("model"), base_url=args.base_url)
    try:
        return load(path, llm=llm)
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"cannot load the model {path}: {error}") from None


def _check_out(path: str, suffixes: tuple[str, ...], option: str = "--out") -> Path:
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{option} must end in {' or '.join(suffixes)}, got {path!r}")
    if p.parent and not p.parent.exists():
        raise UsageError(f"folder of {option} does not exist: {p.parent}")
    return p


def _in_chunks(fn, texts, desc, quiet, size=256):
    """Apply ``fn`` to texts in chunks with a progress bar (shown from 2 chunks on)."""
    import numpy as np
    from tqdm.auto import tqdm

    chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
    with tqdm(total=len(texts), desc=desc, disable=quiet or len(chunks) < 2, file=sys.stderr, leave=False) as bar:
        out = []
        for chunk in chunks:
            out.append(fn(chunk))
            bar.update(len(chunk))
    return np.concatenate(out)


# ---------------------------------------------------------------------- commands
def _fit_params(cls, args) -> tuple[dict, str]:
    """Constructor parameters from the options, and a few words on them. An option the estimator
    has no parameter for is refused, not silently dropped."""
    accepted = cls().get_params(deep=False)
    params = {}
    given = [("--max-concepts", "max_concepts", args.max_concepts), ("--max-rules", "max_rules", args.max_rules),
             ("--max-depth", "max_depth", args.max_depth), ("--measure", "measure", args.measure),
             ("--concept", "concepts", list(args.concept) if args.concept else None),
             ("--random-state", "random_state", args.random_state)]
    if args.chat_model or args.base_url:
        from .llm import ChatModel

        given.append(("--chat-model/--base-url", "llm",
                      ChatModel(args.chat_model, base_url=args.base_url, batch=args.batch)))
    elif args.batch:
        raise UsageError("--batch needs a chat model: give --chat-model and/or --base-url")
    for option, name, value in given:
        if value is None:
            continue
        if name not in accepted:
            raise UsageError(f"{option} does not apply to --model {args.model} ({cls.__name__} has no {name})")
        params[name] = value
    if "llm" not in params and params.get("measure", "embedding") != "embedding":
        raise UsageError(f"--measure {args.measure} needs a chat model: give --chat-model and/or --base-url")
    if "random_state" in accepted:
        params.setdefault("random_state", 0)
    value = {**accepted, **params}
    details = []
    if "max_concepts" in accepted:
        details.append(f"max {value['max_concepts']} concepts")
    if "max_rules" in accepted:
        details.append(f"max {value['max_rules']} rules")
    if "max_depth" in accepted:
        details.append(f"depth at most {value['max_depth']}")
    if "measure" in accepted:
        measure = value["measure"]
        if measure == "auto":  # as fit resolves it
            measure = "llm" if value.get("llm") is not None else "embedding"
        details.append(f"measured by {measure}")
    if "ngram_range" in accepted:
        details.append(f"{value['ngram_range'][0]}-{value['ngram_range'][1]}-grams")
    return params, ", ".join(details)


def _fitted_summary(model) -> str:
    if hasattr(model, "rules_"):
        return f"{len(model.rules_)} rules over {len(model.concepts_)} concepts"
    if hasattr(model, "node_counts_"):
        return f"a tree with {len(model.paths())} leaves over {len(model.concepts_)} concepts"
    if hasattr(model, "vocabulary_"):
        return f"{len(model.vocabulary_):,} n-grams seen in training"
    return f"{len(model.concepts_)} concepts"


def cmd_fit(args) -> int:
    import importlib

    from .models import to_json

    regression = args.model.endswith("regressor")
    frame = _read_table(args.data, args.sep, [("--text-column", args.text_column), ("--label-column", args.label_column)])
    texts = _texts(frame, args.text_column, args.data)
    y = _labels(frame, args.label_column, args.data, regression)
    out = _check_out(args.out, (".json",))
    module, name = MODELS[args.model]
    cls = getattr(importlib.import_module(module), name)
    params, details = _fit_params(cls, args)
    if not regression:
        import numpy as np

        values, counts = np.unique(y, return_counts=True)
        balance = ", ".join(f"{v}: {c}" for v, c in zip(values, counts))
        _say(f"read {len(texts)} texts from {args.data} ({balance})", args.quiet)
    else:
        _say(f"read {len(texts)} texts from {args.data}", args.quiet)
    model = cls(**params)
    if "llm" in params:
        _confirm_cost(model, texts, y, args)
    _say(f"fitting {name}" + (f" ({details})" if details else "") + " …", args.quiet)
    start = time.time()
    model.fit(texts, y)
    to_json(model, out)
    _say(f"fitted in {time.time() - start:.0f} s: {_fitted_summary(model)}; wrote {out}", args.quiet)
    if args.print:
        print(model)
    return 0


def _confirm_cost(model, texts, y, args) -> None:
    """Print what the fit's chat calls will be; above --confirm-above requests, ask (a terminal) or
    stop (no terminal: CI) unless --yes."""
    estimate = model.estimate_cost(texts, y)
    lines = [f"chat calls of this fit: {estimate.calls} ({estimate.cached} cached, {estimate.requests} requests); "
             f"prompt tokens about {estimate.prompt_tokens:,} ({estimate.tokenizer}), completion tokens at most "
             f"{estimate.completion_tokens:,}"] + [f"  note: {n}" for n in estimate.notes]
    _say("\n".join(lines), args.quiet and estimate.requests <= args.confirm_above)
    if estimate.requests <= args.confirm_above or args.yes:
        return
    question = f"{estimate.requests} requests is above --confirm-above {args.confirm_above}. Proceed? [y/N] "
    if not sys.stdin or not sys.stdin.isatty():
        raise UsageError(f"{estimate.requests} chat requests is above --confirm-above {args.confirm_above} and "
                         "there is no terminal to ask: pass --yes to proceed")
    print(question, end="", file=sys.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise UsageError("stopped before any chat request (answer y, or pass --yes, to proceed)")


def cmd_predict(args) -> int:
    model = _load_model(args.model, args)
    frame = _read_table(args.data, args.sep, [("--text-column", args.text_column)])
    texts = _texts(frame, args.text_column, args.data)
    if args.out != "-":
        _check_out(args.out, (".csv", ".tsv"))
    result = frame.copy()
    result["prediction"] = _in_chunks(model.predict, texts, "predicting", args.quiet)
    if hasattr(model, "predict_proba"):  # measured again from the cache: no new embedding or chat call
        proba = _in_chunks(model.predict_proba, texts, "probabilities", True)
        for k, c in enumerate(model.classes_):
            result[f"proba_{c}"] = proba[:, k]
    if args.out == "-":
        result.to_csv(sys.stdout, index=False)
    else:
        sep = "\t" if args.out.lower().endswith(".tsv") else ","
        result.to_csv(args.out, index=False, sep=sep)
        _say(f"wrote {len(result)} predictions to {args.out}", args.quiet)
    return 0


def _resolve_target(model, target: str | None):
    """--target as the model's class (classes may be numbers; the option is text)."""
    if target is None or not hasattr(model, "classes_"):
        return None
    names = [str(c) for c in model.classes_]
    if target not in names:
        raise UsageError(f"--target {target!r} is not a class; classes are {', '.join(names)}")
    return model.classes_[names.index(target)]


def _decided_by_rules(model) -> bool:
    """A rule list or a tree: one rule (or one path) decides, nothing adds up."""
    return hasattr(model, "rules_") or hasattr(model, "node_counts_")


def _rule_explanation(model, text: str, target) -> dict:
    if target is not None:
        raise UsageError(f"--target does not apply to {type(model).__name__}: one "
                         f"{'rule' if hasattr(model, 'rules_') else 'path'} decides every class")
    row = model.explain([text]).iloc[0]  # also names the prediction: no second measurement for it
    predicted = row["prediction"]
    record = {"text": text, "prediction": predicted.item() if hasattr(predicted, "item") else predicted,
              "probabilities": {str(c): float(p) for c, p in zip(model.classes_, model.predict_proba([text])[0])}}
    if hasattr(model, "rules_"):
        rule = int(row["rule"])
        record.update(explained="the first rule that holds", rule=rule,
                      rule_text=str(row["rule_text"]) if rule < len(model.rules_) else "ELSE (no rule holds)")
    else:
        record.update(explained="the path through the tree", leaf=int(row["leaf"]), rule_text=str(row["path"]))
    record["precision"] = float(row["precision"])  # of that rule (leaf) on the training texts
    return record


def _explanation(model, text: str, target, top: int) -> dict:
    import numpy as np

    if _decided_by_rules(model):
        return _rule_explanation(model, text, target)
    classes = getattr(model, "classes_", None)
    target = _resolve_target(model, target)
    if classes is not None and len(classes) > 2 and target is None:
        target = model.predict([text])[0]
    frame = model.explain([text], target=target)
    row = frame.iloc[0]
    parts = row.drop("intercept")
    order = np.argsort(-np.abs(parts.to_numpy()), kind="stable")
    shown = [{"concept": parts.index[k], "contribution": float(parts.iloc[k])} for k in order[:top]]
    record = {"text": text, "intercept": float(row["intercept"]), "contributions": shown,
              "others": float(parts.iloc[order[top:]].sum()), "n_others": int(max(0, len(order) - top)),
              "decision_value": float(row.sum())}
    predicted = model.predict([text])[0]
    record["prediction"] = predicted.item() if hasattr(predicted, "item") else predicted
    if classes is not None:
        proba = model.predict_proba([text])[0]
        record["probabilities"] = {str(c): float(p) for c, p in zip(classes, proba)}
        record["explained"] = (f"decision value toward {classes[1]}" if len(classes) == 2
                               else f"decision value for class {target}")
    else:
        record["explained"] = "prediction"
    return record


def cmd_explain(args) -> int:
    model = _load_model(args.model, args)
    records = []
    for text in args.text:
        if not text.strip():
            raise UsageError("the text to explain is empty")
        records.append(_explanation(model, text, args.target, args.top))
    if args.json:
        print(json.dumps(records if len(records) > 1 else records[0], indent=1, ensure_ascii=False))
        return 0
    parts = "n-grams" if hasattr(model, "vocabulary_") else "concepts"
    for r in records:
        print(f"text: {r['text']!r}")
        line = f"prediction: {r['prediction']}"
        if "probabilities" in r:
            line += "  (" + ", ".join(f"P({c}) = {p:.3f}" for c, p in r["probabilities"].items()) + ")"
        print(line)
        if "rule_text" in r:
            where = f"rule {r['rule']}" if "rule" in r else f"leaf {r['leaf']}"
            condition = r["rule_text"]
            if condition.startswith("ELSE"):
                shown = condition
            elif condition == "(root)":  # a tree that is one leaf
                shown = f"ALWAYS {r['prediction']}"
            else:
                shown = f"IF {condition} THEN {r['prediction']}"
            print(f"decided by {r['explained']} ({where}): {shown}")
            print(f"  precision {r['precision']:.3f} on the training texts it covered")
            print()
            continue
        print(f"{r['explained']}: {r['decision_value']:+.3f} = intercept {r['intercept']:+.3f} plus")
        for c in r["contributions"]:
            print(f"  {c['contribution']:+8.3f}  {c['concept']}")
        if r["n_others"]:
            print(f"  {r['others']:+8.3f}  ({r['n_others']} other {parts} together)")
        print()
    return 0


def cmd_report(args) -> int:
    from .report.card import check_card_support, write_card

    model = _load_model(args.model, args)
    check_card_support(model)  # before reading the data: a TypeError naming the estimator
    regression = not hasattr(model, "classes_")
    frame = _read_table(args.data, args.sep, [("--text-column", args.text_column), ("--label-column", args.label_column)])
    texts = _texts(frame, args.text_column, args.data)
    y = _labels(frame, args.label_column, args.data, regression)
    if not regression:  # labels read as text: match them to the model's class type
        classes = {str(c): c for c in model.classes_}
        y = [classes.get(str(v), v) for v in y]
    out = _check_out(args.out, (".html", ".htm", ".md"))
    _say(f"measuring {len(texts)} texts from {args.data} …", args.quiet)
    options = {"n_examples": args.examples}
    if args.title:
        options["title"] = args.title
    if args.limitation:
        options["limitations"] = list(args.limitation)
    write_card(model, texts, y, out, **options)
    _say(f"wrote {out}", args.quiet)
    return 0


def cmd_plot(args) -> int:
    from .report.plots import figure_png, plot_explanation, plot_weights

    model = _load_model(args.model, args)
    out = _check_out(args.out, (".png",))
    target = _resolve_target(model, args.target)
    if args.kind == "weights":
        fig = plot_weights(model, target=target, top=args.top or 30)
    else:
        if not args.text.strip():
            raise UsageError("the text to explain is empty")
        fig = plot_explanation(model, args.text, target=target, top=args.top or 12)
    figure_png(fig, out, dpi=args.dpi)
    _say(f"wrote {out}", args.quiet)
    return 0


def cmd_edit(args) -> int:
    model = _load_model(args.model, args)
    if not hasattr(model, "edit"):
        raise UsageError(f"{type(model).__name__} cannot be edited: edits remove or add concepts of a "
                         "ConceptClassifier or ConceptRegressor and refit its weights")
    regression = not hasattr(model, "classes_")
    frame = _read_table(args.data, args.sep, [("--text-column", args.text_column), ("--label-column", args.label_column)])
    texts = _texts(frame, args.text_column, args.data)
    y = _labels(frame, args.label_column, args.data, regression)
    if not regression:
        classes = {str(c): c for c in model.classes_}
        y = [classes.get(str(v), v) for v in y]
    out = _check_out(args.out, (".json",))
    remove = [int(r) if r.isdigit() else r for r in (args.remove or [])]
    add = list(args.add or []) + [[p.strip() for p in group.split(",") if p.strip()] for group in (args.add_phrases or [])]
    try:
        edited = model.edit(remove=remove, add=add, author=args.author, note=args.note)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    _say(f"refitting the head on {len(texts)} texts from {args.data} …", args.quiet)
    edited.refit_head(texts, y)
    edited.to_json(out)
    dropped = edited.edits_[-1]["refit"]["dropped"]
    _say(f"wrote {out}: {len(edited.concepts_)} concepts"
         + (f"; the head gave no weight to: {'; '.join(dropped)}" if dropped else ""), args.quiet)
    if args.print:
        print(edited)
    return 0


def cmd_diff(args) -> int:
    from .explain import explain_difference

    texts = []
    for path in (args.a, args.b):
        frame = _read_table(path, args.sep, [("--text-column", args.text_column)])
        texts.append(_texts(frame, args.text_column, path))
    out = _check_out(args.out, (".html", ".htm", ".md", ".json")) if args.out else None
    names = tuple(args.names) if args.names else (Path(args.a).stem, Path(args.b).stem)
    if names[0] == names[1]:
        names = ("A", "B")
    llm = None
    if args.chat_model or args.base_url:
        from .llm import ChatModel

        llm = ChatModel(args.chat_model, base_url=args.base_url, progress=not args.quiet)
        from .explain.difference import call_bound

        n = [round(len(t) * args.test_size) for t in texts]
        n_a, n_b = call_bound(2, n[0], n[1], args.max_texts_per_group, args.max_calls)
        _say(f"at most {2 + n_a + n_b} chat calls (2 proposal rounds + {n_a} + {n_b} held-out texts)", args.quiet)
    _say(f"read {len(texts[0])} texts of {names[0]!r} and {len(texts[1])} of {names[1]!r}; proposing on "
         f"{1 - args.test_size:.0%}, testing on {args.test_size:.0%} …", args.quiet)
    report = explain_difference(texts[0], texts[1], llm=llm, names=names, test_size=args.test_size,
                                max_hypotheses=args.max_hypotheses, max_texts_per_group=args.max_texts_per_group,
                                max_calls=args.max_calls, random_state=args.random_state)
    print(report)
    if out is not None:
        report.save(out)
        _say(f"wrote {out}", args.quiet)
    return 0


def _load_black_box(path: str):
    p = _existing(path, "model file")
    if p.suffix.lower() == ".json":
        return _load_model(path)
    import joblib

    try:
        return joblib.load(p)
    except Exception as error:  # a file that is not a joblib pickle, or one needing a missing package
        raise UsageError(f"cannot load {path} with joblib: {type(error).__name__}: {error}") from None


def cmd_explain_model(args) -> int:
    from .explain import explain_model

    model = _load_black_box(args.model)
    method = "predict_proba" if args.proba else "predict"
    if not callable(getattr(model, method, None)):
        raise UsageError(f"{args.model} holds a {type(model).__name__}, which has no {method}")
    frame = _read_table(args.data, args.sep, [("--text-column", args.text_column)])
    texts = _texts(frame, args.text_column, args.data)
    out = _check_out(args.out, (".json",)) if args.out else None
    disagreements = _check_out(args.disagreements, (".csv",), "--disagreements") if args.disagreements else None
    _say(f"calling {type(model).__name__}.{method} on {len(texts)} texts, fitting a surrogate of at most "
         f"{args.max_concepts} concepts on {1 - args.test_size:.0%} of them …", args.quiet)
    explained = explain_model(getattr(model, method), texts, max_concepts=args.max_concepts,
                              test_size=args.test_size, random_state=args.random_state)
    print(explained)
    if out is not None:
        explained.surrogate.to_json(out)
        _say(f"wrote the surrogate to {out} (use it with nlmodels explain / report)", args.quiet)
    if disagreements is not None:
        explained.disagreements.to_csv(disagreements, index=False)
        _say(f"wrote {len(explained.disagreements)} disagreements to {disagreements}", args.quiet)
    return 0


# ---------------------------------------------------------------------- the parser
def _data_options(p, *, label: bool) -> None:
    p.add_argument("--text-column", default="text", metavar="NAME",
                   help="column of the data file that holds the texts (default: text)")
    if label:
        p.add_argument("--label-column", default="label", metavar="NAME",
                       help="column that holds the labels (classes) or, for a regressor, the numeric target "
                            "(default: label)")
    p.add_argument("--sep", default=None, metavar="CHAR",
                   help="field separator of the data file (default: tab for .tsv, comma otherwise)")


def _quiet(p) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="print no progress messages or bars")


def _chat_options(p, fit: bool) -> None:
    p.add_argument("--chat-model", default=None, metavar="NAME",
                   help="chat model name, e.g. gpt-4o-mini" + (": concepts become yes/no questions it writes"
                        if fit else " (with --base-url: use this instead of the recorded one)"))
    p.add_argument("--base-url", default=None, metavar="URL",
                   help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (default: OPENAI_BASE_URL, "
                        "else OpenAI)" + ("" if fit else "; overrides the server recorded in the model"))


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="nlmodels", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Readable text classifiers and regressors: fit a model from a CSV file, predict, explain a "
                    "prediction, write a model card, plot, or edit its concepts by hand; explain the difference "
                    "between two sets of texts (diff) or a black-box model (explain-model).",
    )
    parser.add_argument("--version", action="version", version=f"nlmodels {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("fit", help="fit a model on a CSV file and write it as JSON",
                       description="Fit a model on the texts and labels of a CSV file; write it as JSON.")
    p.add_argument("data", help="CSV (or TSV) file with a text column and a label column")
    _data_options(p, label=True)
    p.add_argument("--model", choices=sorted(MODELS), default="concept", help=MODEL_HELP)
    p.add_argument("--out", required=True, metavar="MODEL.json", help="where to write the fitted model (JSON)")
    p.add_argument("--max-concepts", type=int, default=None, metavar="N",
                   help="concept, concept-regressor: at most N concepts carry weight in the model (default: 30)")
    p.add_argument("--max-rules", type=int, default=None, metavar="N",
                   help="rulelist: at most N rules before the final ELSE (default: 10)")
    p.add_argument("--max-depth", type=int, default=None, metavar="N",
                   help="tree: depth of the tree at most N (default: 3)")
    p.add_argument("--measure", choices=("embedding", "llm", "distill"), default=None,
                   help="how texts are scored on each concept: embedding (offline, default), llm (the chat "
                        "model answers every concept for every text), distill (it answers for a sample; "
                        "probes learn the answers)")
    p.add_argument("--concept", action="append", metavar="TEXT",
                   help="a concept written by a person, added to the proposed ones (repeat for several)")
    _chat_options(p, fit=True)
    p.add_argument("--batch", action="store_true",
                   help="send the measurement calls through the provider's Batch API (OpenAI, Azure: half the "
                        "price, answers within 24 h); a killed run started again picks up the same batch")
    p.add_argument("--confirm-above", type=int, default=1000, metavar="N",
                   help="with a chat model the fit first prints its calls and tokens; above N requests it asks "
                        "before going on (default: 1000). Without a terminal (CI) it stops unless --yes")
    p.add_argument("--yes", action="store_true", help="do not ask: proceed whatever the estimated requests")
    p.add_argument("--random-state", type=int, default=None, metavar="N", help="seed (default: 0)")
    p.add_argument("--print", action="store_true", help="print the fitted model")
    _quiet(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="predict the texts of a CSV file",
                       description="Predict every text of a CSV file. The output is the input table plus a "
                                   "'prediction' column and, for a classifier, one 'proba_<class>' column per class.")
    p.add_argument("model", help="model JSON file written by 'nlmodels fit' or model.to_json")
    p.add_argument("data", help="CSV (or TSV) file with a text column")
    _data_options(p, label=False)
    p.add_argument("--out", default="-", metavar="FILE.csv", help="where to write the predictions (default: - for stdout)")
    _chat_options(p, fit=False)
    _quiet(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="explain the prediction for one or more texts",
                       description="Show each concept's contribution to a text's decision value; the "
                                   "contributions and the intercept add up exactly to it.")
    p.add_argument("model", help="model JSON file")
    p.add_argument("text", nargs="+", help="the text(s) to explain (quote each one)")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="multiclass: the class whose decision value is explained (default: the predicted class)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="show the N largest contributions; the rest are summed in one line (default: 10)")
    p.add_argument("--json", action="store_true", help="print the explanation as JSON")
    _chat_options(p, fit=False)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("report", help="write a model card (HTML or Markdown) evaluated on a labelled CSV file",
                       description="Write a model card: test metrics, every concept with its weight, how often it "
                                   "fires and where, how it is measured, chat-model usage, data, limitations, edit "
                                   "history. .html gives one self-contained page; .md gives Markdown with two PNG "
                                   "files beside it.")
    p.add_argument("model", help="model JSON file")
    p.add_argument("data", help="labelled CSV (or TSV) file of test texts")
    _data_options(p, label=True)
    p.add_argument("--out", required=True, metavar="CARD.html|CARD.md", help="where to write the card")
    p.add_argument("--title", default=None, help="title of the card (default: 'Model card: <estimator>')")
    p.add_argument("--examples", type=int, default=3, metavar="N",
                   help="test texts shown per concept, where it fires most strongly (default: 3)")
    p.add_argument("--limitation", action="append", metavar="TEXT",
                   help="a limitation to state on the card, besides those found automatically (repeatable)")
    _chat_options(p, fit=False)
    _quiet(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", help="plot concept weights or one text's explanation as PNG",
                       description="weights: a bar chart of concept weights. explain: a waterfall from the "
                                   "intercept through each concept's contribution to one text's decision value.")
    p.add_argument("kind", choices=("weights", "explain"), help="which plot")
    p.add_argument("model", help="model JSON file")
    p.add_argument("text", nargs="?", default=None, help="for 'explain': the text to explain")
    p.add_argument("--out", required=True, metavar="FILE.png", help="where to write the PNG")
    p.add_argument("--target", default=None, metavar="CLASS",
                   help="multiclass: the class to plot (weights default: one panel per class; explain default: "
                        "the predicted class)")
    p.add_argument("--top", type=int, default=None, metavar="N",
                   help="concepts shown (weights default: 30; explain default: 12, the rest summed)")
    p.add_argument("--dpi", type=int, default=110, metavar="N", help="resolution of the PNG (default: 110)")
    _chat_options(p, fit=False)
    _quiet(p)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("edit", help="remove or add concepts by hand and refit only the head",
                       description="Remove concepts and/or add concepts written by a person, refit only the "
                                   "model's head on a labelled CSV file, and write the edited model. The edit "
                                   "(who, what, when) is kept in the model's edit history and shown on its card.")
    p.add_argument("model", help="model JSON file")
    p.add_argument("data", help="labelled CSV (or TSV) file to refit the head on (usually the training data)")
    _data_options(p, label=True)
    p.add_argument("--remove", action="append", metavar="CONCEPT",
                   help="a concept to remove: its number in the printed model counting from 0, or its text "
                        "(repeatable)")
    p.add_argument("--add", action="append", metavar="QUESTION",
                   help="a concept to add, written as a question or a description (repeatable)")
    p.add_argument("--add-phrases", action="append", metavar="P1,P2,...",
                   help="a concept to add, given as comma-separated phrases: a text shows it when it contains one "
                        "(repeatable)")
    p.add_argument("--author", default=None, help="who made the edit (recorded in the edit history)")
    p.add_argument("--note", default=None, help="why (recorded in the edit history)")
    p.add_argument("--out", required=True, metavar="MODEL.json", help="where to write the edited model")
    p.add_argument("--print", action="store_true", help="print the edited model")
    _chat_options(p, fit=False)
    _quiet(p)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("diff", help="what texts of one CSV file show more often than those of another",
                       description="Propose hypotheses on part of each file's texts ('texts of A, more often than "
                                   "texts of B, mention ...') and test each on the held-out rest: shares, difference "
                                   "with a 95% interval, Fisher's exact p-value, Benjamini-Hochberg q-value. Prints "
                                   "the report; --out writes it as .html, .md or .json.")
    p.add_argument("a", help="CSV (or TSV) file of the texts of group A")
    p.add_argument("b", help="CSV (or TSV) file of the texts of group B")
    _data_options(p, label=False)
    p.add_argument("--out", default=None, metavar="REPORT.html|.md|.json", help="where to write the report")
    p.add_argument("--names", nargs=2, default=None, metavar=("A", "B"),
                   help="names of the two groups in the sentences (default: the file names)")
    p.add_argument("--test-size", type=float, default=0.5, metavar="F",
                   help="share of each group held out to test the hypotheses (default: 0.5)")
    p.add_argument("--max-hypotheses", type=int, default=20, metavar="N",
                   help="offline: phrase groups tested (default: 20)")
    p.add_argument("--max-texts-per-group", type=int, default=100, metavar="N",
                   help="with a chat model: held-out texts of each group it answers for (default: 100)")
    p.add_argument("--max-calls", type=int, default=None, metavar="N",
                   help="with a chat model: a hard cap on chat requests (samples shrink to fit)")
    _chat_options(p, fit=True)
    p.add_argument("--random-state", type=int, default=0, metavar="N", help="seed of the split (default: 0)")
    _quiet(p)
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("explain-model", help="explain a black-box model with a concept surrogate",
                       description="Call a saved model (a scikit-learn pipeline saved with joblib, or a model JSON) "
                                   "once on the texts of a CSV file, fit a concept model to its outputs on part of "
                                   "them and report its agreement with the black box on the rest. Load only joblib "
                                   "files you trust: loading one runs code.")
    p.add_argument("model", help="a .joblib/.pkl file whose object has predict (and predict_proba), or a model JSON")
    p.add_argument("data", help="CSV (or TSV) file with a text column (no labels needed)")
    _data_options(p, label=False)
    p.add_argument("--proba", action="store_true",
                   help="explain predict_proba's positive column (a score) instead of predict (labels)")
    p.add_argument("--max-concepts", type=int, default=10, metavar="N", help="concepts in the surrogate (default: 10)")
    p.add_argument("--test-size", type=float, default=0.25, metavar="F",
                   help="share of the texts held out to measure fidelity (default: 0.25)")
    p.add_argument("--out", default=None, metavar="SURROGATE.json", help="where to write the surrogate model")
    p.add_argument("--disagreements", default=None, metavar="FILE.csv",
                   help="where to write the held-out texts on which surrogate and black box differ")
    p.add_argument("--random-state", type=int, default=0, metavar="N", help="seed (default: 0)")
    _quiet(p)
    p.set_defaults(func=cmd_explain_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "kind", None) == "explain" and not args.text:
        parser.error("plot explain needs the text to explain")
    if getattr(args, "top", None) is not None and args.top < 1:
        parser.error("--top must be at least 1")
    try:
        return args.func(args)
    except UsageError as error:
        print(f"nlmodels {args.command}: error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"nlmodels {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as error:  # bad input found by the estimators (they name the row)
        print(f"nlmodels {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a failure, not a usage problem: say what it was, without a traceback
        from .llm import LLMError

        if isinstance(error, LLMError) or type(error).__module__.startswith("openai"):
            print(f"nlmodels {args.command}: chat model error: {error}", file=sys.stderr)
            return 1
        if os.environ.get("NLMODELS_DEBUG"):
            raise
        print(f"nlmodels {args.command}: {type(error).__name__}: {error} (set NLMODELS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
