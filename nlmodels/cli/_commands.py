"""The commands: fit, predict, explain, report, plot, edit, diff, explain-model."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .._codec import counted
from ..concepts import unshown_lines
from ._common import (MODELS, UsageError, _check_out, _existing, _fit_params, _fitted_summary, _in_chunks,
                      _labels, _load_model, _read_table, _say, _texts)


def cmd_fit(args) -> int:
    import importlib

    from ..models import to_json

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
        shown = str(row["rule_text"])   # the final rule reads ELSE, or ALWAYS in a list without rules
        record.update(explained="the first rule that holds", rule=int(row["rule"]),
                      rule_text="ELSE (no rule holds)" if shown == "ELSE" else shown)
    else:
        record.update(explained="the path through the tree", leaf=int(row["leaf"]), rule_text=str(row["path"]))
    record["unshown_phrases"] = model._unshown_phrases(model._deciding_concepts(record.get("rule", record.get("leaf"))))
    record["precision"] = float(row["precision"])  # of that rule (leaf) on the training texts
    if model._precision_line():   # some condition was chosen on those texts: the count overstates
        record["precision_note"] = (f"counted on the training texts the {model._UNITS} were chosen on, so it "
                                    "overstates; nlmodels report measures each on labelled texts it was not chosen on")
    return record


def _checks_by_concept(model) -> dict:
    """Per concept name, how its measured signals were checked, as the printed model says it
    ("fidelity not recorded" in a file written before it was; an n-gram model, counted, not measured: none)."""
    if not hasattr(model, "_concept_check"):
        return {}
    return {name: model._concept_check(k) for k, name in enumerate(model.concept_names())}


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
    checks = _checks_by_concept(model)
    shown = [{"concept": parts.index[k], "contribution": float(parts.iloc[k]),
              **({"check": checks[parts.index[k]]} if parts.index[k] in checks else {})} for k in order[:top]]
    positions = {name: k for k, name in enumerate(model.concept_names())} if hasattr(model, "concepts_") else {}
    unshown = model._unshown_phrases([positions[c["concept"]] for c in shown if c["contribution"]]) if positions else {}
    record = {"text": text, "intercept": float(row["intercept"]), "contributions": shown, "unshown_phrases": unshown,
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
        predicted = r["prediction"]
        line = f"prediction: {predicted:.4g}" if isinstance(predicted, float) else f"prediction: {predicted}"
        if "probabilities" in r:
            line += "  (" + ", ".join(f"P({c}) = {p:.3f}" for c, p in r["probabilities"].items()) + (
                ": the classes of the training texts it decided" if "rule_text" in r else "") + ")"
        print(line)
        if "rule_text" in r:
            where = f"rule {r['rule']}" if "rule" in r else f"leaf {r['leaf']}"
            condition = r["rule_text"]
            if condition.startswith("ELSE"):
                shown = condition
            elif condition in ("(root)", "ALWAYS"):  # a tree that is one leaf, a list with no rule
                shown = f"ALWAYS {r['prediction']}"
            else:
                shown = f"IF {condition} THEN {r['prediction']}"
            print(f"decided by {r['explained']} ({where}): {shown}")
            print(f"  precision {r['precision']:.3f} on the training texts it covered"
                  + (f" ({r['precision_note']})" if "precision_note" in r else ""))
            _print_unshown(r, "phrases the conditions tested to get there read that the names do not show:")
            print()
            continue
        print(f"{r['explained']}: {r['decision_value']:+.3f} = intercept {r['intercept']:+.3f} plus")
        for c in r["contributions"]:
            print(f"  {c['contribution']:+8.3f}  {c['concept']}" + (f"  ({c['check']})" if "check" in c else ""))
        if r["n_others"]:
            print(f"  {r['others']:+8.3f}  ({r['n_others']} other {parts} together)")
        _print_unshown(r, "phrases these concepts read that their names do not show:")
        print()
    return 0


def _print_unshown(record: dict, intro: str) -> None:
    """Under an explanation, the phrases its concepts read that their names leave out ("and 38
    more"): a concept that decided may have fired on one of them alone."""
    for line in unshown_lines(intro, record.get("unshown_phrases") or {}):
        print(line)


def cmd_report(args) -> int:
    from ..report.card import check_card_support, write_card

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
    from ..report.plots import figure_png, plot_explanation, plot_weights

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
    for removed in edited.edits_[-1]["removed"]:   # by its text: a number is easy to get wrong
        _say(f"removed: {removed}", args.quiet)
    _say(f"refitting the head on {len(texts)} texts from {args.data} …", args.quiet)
    edited.refit_head(texts, y)
    edited.to_json(out)
    dropped = edited.edits_[-1]["refit"]["dropped"]
    _say(f"wrote {out}: {counted(len(edited.concepts_), 'concept')}"
         + (f"; the head gave no weight to: {'; '.join(dropped)}" if dropped else ""), args.quiet)
    if args.print:
        print(edited)
    return 0


def cmd_diff(args) -> int:
    from ..explain import explain_difference

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
        from ..llm import ChatModel

        llm = ChatModel(args.chat_model, base_url=args.base_url, progress=not args.quiet)
        from ..explain.difference import call_bound

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
    from ..explain import explain_model

    model = _load_black_box(args.model)
    method = "predict_proba" if args.proba else "predict"
    if not callable(getattr(model, method, None)):
        raise UsageError(f"{args.model} holds a {type(model).__name__}, which has no {method}")
    frame = _read_table(args.data, args.sep, [("--text-column", args.text_column)])
    texts = _texts(frame, args.text_column, args.data)
    out = _check_out(args.out, (".json",)) if args.out else None
    disagreements = _check_out(args.disagreements, (".csv",), "--disagreements") if args.disagreements else None
    _say(f"calling {type(model).__name__}.{method} on {len(texts)} texts, fitting a surrogate of at most "
         f"{counted(args.max_concepts, 'concept')} on {1 - args.test_size:.0%} of them …", args.quiet)
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
