"""The model card rendered: Markdown, or one self-contained HTML page, from :func:`card_data`'s dict."""

from __future__ import annotations

import base64

from .._codec import counted
from .markup import CSS, fmt as _fmt, h as _h, kv as _kv, md as _md, md_table as _md_table, short as _short, \
    table as _table

__all__ = ["render_html", "render_markdown"]

#: A concept "fires" on a text when the signal that measures what its sentence says (``mentions`` for a
#: phrase concept, else the first) scores at least this, as the printed model's support counts it.
FIRES_AT = 0.5


def _metric_lines(m) -> list[tuple[str, str]]:
    if m["kind"] == "classification":
        return [("test texts", str(m["n"])), ("accuracy", f"{m['accuracy']:.3f} (95% interval {m['accuracy_95'][0]:.3f} to {m['accuracy_95'][1]:.3f})"),
                ("balanced accuracy", _fmt(m["balanced_accuracy"])), ("macro F1", _fmt(m["macro_f1"]))]
    def shown(name):   # the figure and, where the test set allows one, its 95% bootstrap interval
        interval = m.get(f"{name}_95")
        return _fmt(m[name]) + (f" (95% interval {interval[0]:.3f} to {interval[1]:.3f})" if interval else "")

    return [("test texts", str(m["n"])), ("R²", shown("r2")), ("MAE", shown("mae")),
            ("RMSE", shown("rmse")), ("target mean ± sd", f"{m['target_mean']:.3f} ± {m['target_std']:.3f}")]


def _balance_lines(summary, prefix: str = "") -> list[tuple[str, str]]:
    """A training summary's class balance (or target range), its rows' names after ``prefix``."""
    lines = []
    if summary.get("classes"):
        lines.append((f"{prefix}class balance", ", ".join(f"{c['label']}: {c['count']} ({c['share']:.1%})"
                                                          for c in summary["classes"])))
    if summary.get("target"):
        t = summary["target"]
        lines.append((f"{prefix}target", f"min {t['min']:.3g}, mean {t['mean']:.3g}, max {t['max']:.3g}"))
    return lines


def _training_lines(training) -> list[tuple[str, str]]:
    if not training:
        return [("training data", "not recorded (a model fitted before nlmodels recorded it)")]
    lines = [("training texts", str(training.get("n_texts"))), ("fitted at", str(training.get("date")))]
    lines += _balance_lines(training)
    if training.get("mean_chars") is not None:
        lines.append(("mean text length", f"{training['mean_chars']:.0f} characters"))
    refit = training.get("head_refitted_on")
    if refit:   # refit_head on other texts: the weights and the concepts' evidence come from these
        lines.append(("head refitted on", f"{refit['n_texts']} texts ({refit['date']}); the weights and each "
                                          "concept's 'fires for' counts come from them, the concepts from the texts above"))
        lines += _balance_lines(refit, "their ")
    return lines


def _chosen_md(data) -> str:
    """Why the card explains this text (older card data: not said)."""
    return f" ({_md(data['explain_chosen'])})" if data.get("explain_chosen") else ""


def _chosen_html(data) -> str:
    return f" <small>({_h(data['explain_chosen'])})</small>" if data.get("explain_chosen") else ""


def _truth(data) -> str:
    """What a test text's true value is called: its label, or a regressor's target."""
    return "target" if data["metrics"]["kind"] == "regression" else "label"


def _test_lines(test) -> list[tuple[str, str]]:
    lines = [("test texts", str(test["n_texts"]))]
    if test.get("texts_without_answer"):
        lines.append(("test texts without a usable chat answer", f"{test['texts_without_answer']} (scored with the "
                                                                  "training means; see Limitations)"))
    if test.get("classes"):
        lines.append(("test class balance", ", ".join(f"{c['label']}: {c['count']} ({c['share']:.1%})"
                                                      for c in test["classes"])))
    return lines


def _usage_lines(usage) -> list[tuple[str, str]]:
    if usage is None:
        return [("chat model", "none: the model was fitted and predicts offline")]
    cm = usage["chat_model"]
    lines = [("chat model", f"{cm['model']} at {cm['server']}")]
    for part, title in (("fit", "while fitting"), ("card", "measuring the test texts for this card")):
        u = usage.get(part)
        if not u:
            lines.append((title, "not recorded"))
            continue
        text = (f"{u['calls']} calls, {u['cached']} answers from the cache, {u['prompt_tokens']:,} prompt + "
                f"{u['completion_tokens']:,} completion tokens, {u['failures']} failed, {u.get('unparsed', 0)} "
                "unreadable (a failed or unreadable answer leaves a missing score, filled with the training mean)")
        if "cost_usd" in u:
            text += f", cost ${u['cost_usd']:.4f}"
        lines.append((title, text))
    if not any("cost_usd" in (usage.get(p) or {}) for p in ("fit", "card")):
        lines.append(("cost", "tokens × your provider's price (pass prices={'prompt': ..., 'completion': ...})"))
    return lines


def _edit_text(e) -> tuple[str, str, str]:
    what = []
    if e.get("removed"):
        what.append("removed: " + "; ".join(e["removed"]))
    if e.get("added"):
        what.append("added: " + "; ".join(e["added"]))
    if e.get("note"):
        what.append(f"note: {e['note']}")
    refit = e.get("refit")
    if refit:
        what.append(f"head refitted on {refit['n_texts']} texts ({refit['date']}), {counted(refit['concepts'], 'concept')} kept"
                    + (f"; no weight left for: {'; '.join(refit['dropped'])}" if refit.get("dropped") else ""))
    else:
        what.append("head not refitted yet")
    return str(e.get("date")), str(e.get("author") or "–"), " — ".join(what)


def _weights_text(c, titles) -> str:
    if len(c["weights"]) == 1:
        return f"{c['weights'][0]:+.3f}"
    return ", ".join(f"{t.removeprefix('weight for ')} {w:+.2f}" for t, w in zip(titles, c["weights"]))


def _signal_text(c, data) -> str:
    if len(data["signals"]) == 1:   # the concept's weight is its one signal's
        return ""
    return ", ".join(f"{s} {w[0]:+.2f}" if len(w) == 1 else f"{s} " + "/".join(f"{v:+.2f}" for v in w)
                     for s, w in c["signal_weights"].items())


def render_markdown(data: dict, images: dict[str, str]) -> str:
    m = data["metrics"]
    out = [f"# {_md(data['title'])}", "",
           f"{data['estimator']} · nlmodels {data['library_version']} · card written {data['created']}", ""]
    out += ["## Summary", ""] + _md_table(["", ""], [
        ("task", m["kind"]), ("classes", ", ".join(data["classes"]) if data["classes"] else "–"),
        ("concepts", str(data["n_concepts"])), ("measured by", data["measurement"]),
        ("embedder", f"{data['embedder'].get('name') or data['embedder'].get('model')} "
                     f"(sha256 {str(data['embedder'].get('weights_sha256') or '–')[:16]}…)"),
    ] + _usage_lines(data["usage"])[:1])
    out += ["## Performance on the test set", ""] + _md_table(["metric", "value"], _metric_lines(m))
    if m["kind"] == "classification":
        out += ["Per class:", ""] + _md_table(["class", "precision", "recall", "F1", "support"], [
            (c["class"], _fmt(c["precision"]), _fmt(c["recall"]), _fmt(c["f1"]), c["support"]) for c in m["per_class"]])
        out += ["Confusion matrix (rows: true class, columns: predicted):", ""] + _md_table(
            ["true \\ predicted"] + m["labels"], [[label] + row for label, row in zip(m["labels"], m["confusion"])])
    if "rules" in data:
        out += _rules_markdown(data)
    else:
        out += _concepts_markdown(data, images)
    out += ["## How the concepts are measured", "", _md(data["measurement"]), ""]
    out += ["## Chat-model usage and cost", ""] + _md_table(["", ""], _usage_lines(data["usage"]))
    out += ["## Data", ""] + _md_table(["", ""], _training_lines(data["training"]) + _test_lines(data["test"]))
    out += ["## Limitations", ""] + [f"- {_md(t)}" for t in data["limitations"]] + [""]
    out += ["## Edit history", ""]
    out += (_md_table(["date", "author", "what"], [_edit_text(e) for e in data["edits"]])
            if data["edits"] else ["No edits: the model is as fitted.", ""])
    out += ["## The model as printed", "", "```", data["printed"], "```", ""]
    return "\n".join(out)


def _rule_rows(data) -> list[tuple]:
    return [(i + 1, r["rule"], r["prediction"], r["training_texts"], _fmt(r["training_precision"]), r["texts"],
             "–" if not r["texts"] else f"{r['precision']:.3f} ({r['interval'][0]:.2f}–{r['interval'][1]:.2f})")
            for i, r in enumerate(data["rules"])]


_RULE_HEADER = ["#", "rule (each cut with how its measurement was checked)", "predicts", "training texts",
                "training precision", "test texts", "test precision (95% interval)"]


def _rules_intro(data) -> str:
    what = ("One row per leaf, as its path from the root, in printed order." if data["units"] == "leaves" else
            "One row per rule, in order: the first rule that holds decides a text, and ELSE decides the texts "
            "no rule holds for.")
    return (f"{what} The training precision is what the learner chose each rule for; the test precision "
            "measures it on the test texts, which the model never saw.")


_PROPOSED_HEADER = ["the chat model's rule: IF", "THEN", "training texts it holds for", "precision there",
                    "its question tested by the model"]
_PROPOSED_INTRO = ("The chat model wrote these rules; each was measured on the training texts (its question cut "
                   "where right minus wrong is largest for the claimed label), never taken on its word. The last "
                   "column says whether the model's rules test the rule's question at all, not that they predict "
                   "the claimed label: the Rules table above shows what they predict.")


def _proposed_rows(data) -> list[tuple]:
    return [(r["condition"], r["label"], r["n_covered"], _fmt(r["precision"]) if r["n_covered"] else "–",
             "yes" if r["in_model"] else "no")
            for r in data["proposed_rules"]]


def _rules_markdown(data) -> list[str]:
    out = ["## Rules", "", _rules_intro(data), ""] + _md_table(_RULE_HEADER, _rule_rows(data))
    if data["proposed_rules"]:
        out += ["### Rules the chat model proposed", "", _PROPOSED_INTRO, ""]
        out += _md_table(_PROPOSED_HEADER, _proposed_rows(data))
    if data["fidelity"]:
        out += ["### Fidelity: how each measurement was checked", "", _FIDELITY_NOTE, ""]
        out += _md_table(["concept", "signal", "fidelity", "gate"],
                         [(r["concept"], r["signal"], r["fidelity"], r["gate"]) for r in data["fidelity"]])
    out += [line for text in data["gated_lines"] for line in (_md(text), "")]
    if data.get("gated"):
        out += [f"- {_md(g['concept'])} [{g['signal']}] ({_md(g['fidelity'])})" for g in data["gated"]] + [""]
    out += ["## One prediction explained", "", f"“{_md(_short(data['explain_text'], 300))}”" + _chosen_md(data), "",
            f"Predicted {_md(data['explained']['prediction'])}, decided by: {_md(data['explained']['decided_by'])}", ""]
    return out


_FIDELITY_NOTE = ("A probe or a similarity is checked on held-out texts (AUC, or agreement with the chat model's "
                  "answers); a phrase match is exact; a chat model's answer defines its concept, so it is not "
                  "checked (recheck=n asks n training texts again); a written question scored offline is unverified.")
_FIRES_ON = "the score of the signal that measures what its sentence says (named beside the share)"
_CONCEPTS_NOTE = ("fires and mentions are shares of the test texts (the evidence lines below count training texts); "
                  "# is the concept's number, its place in model.concepts_ and in the model file from 0, which "
                  "model.edit(remove=[...]) and nlmodels edit --remove take")


def _fires_text(c, data) -> str:
    """The share of test texts a concept fires on, and on which signal (a model of several signals)."""
    on = c.get("fires_on", data["signals"][0])
    return f"{c['fires']:.1%}" + (f" ({on})" if len(data["signals"]) > 1 else "")


def _concepts_markdown(data, images) -> list[str]:
    out = ["## Concepts", "",
            f"Intercept: {', '.join(f'{v:+.3f}' for v in data['intercept'])}. A concept *fires* on a text when "
            f"{_FIRES_ON} is at least {FIRES_AT}, as the printed model counts it; {_CONCEPTS_NOTE}.", ""]
    header = ["#", "concept", "weight", "signals", "fires", "mentions", "source"]
    out += _md_table(header, [(c["index"], c["name"], _weights_text(c, data["row_titles"]), _signal_text(c, data),
                               _fires_text(c, data), f"{c['mentions']:.1%}" if "mentions" in c else "–", c["source"])
                              for c in data["concepts"]])
    out += [f"- **{_md(c['name'])}**: {_md(c['evidence'])}" for c in data["concepts"] if c.get("evidence")] + [""]
    if data["fidelity"]:
        out += ["### Fidelity: how each measurement was checked", "", _FIDELITY_NOTE, ""]
        out += _md_table(["concept", "signal", "fidelity", "gate"],
                         [(r["concept"], r["signal"], r["fidelity"], r["gate"]) for r in data["fidelity"]])
    if data["gated"]:
        out += ["### Not measured faithfully, so never weighted", ""]
        out += [f"- {_md(g['concept'])} ({_md(g['fidelity'])})" for g in data["gated"]] + [""]
    if "weights" in images:
        out += [f"![concept weights]({images['weights']})", ""]
    out += ["### Where each concept fires most strongly", ""]
    for c in data["concepts"]:
        out.append(f"**{c['index']}. {_md(c['name'])}**" + (f" — phrases: {_md(', '.join(c['phrases']))}" if c["phrases"] else "")
                   + (" — a prototype; its typical training texts: " + " · ".join(
                       f"“{_md(_short(t, 160))}”" for t in c.get("typical_training_texts", []))
                      if c.get("typical_training_texts") else "")
                   + (" — a word prototype; the words its probe weighs most: " + _md(", ".join(c["probe_top_words"]))
                      if c.get("probe_top_words") else ""))
        out.append("")
        for e in c["examples"]:
            out.append(f"- {e['score']:.2f} · {_truth(data)} {_md(e['label'])}, predicted {_md(e['predicted'])}: "
                       f"“{_md(_short(e['text'], 200))}”")
        if not c["examples"]:
            out.append("- (no test text scores above 0)")
        out.append("")
    out += ["## One prediction explained", "", f"“{_md(_short(data['explain_text'], 300))}”" + _chosen_md(data), ""]
    if "explanation" in images:
        out += [f"![explanation]({images['explanation']})", ""]
    return out


def render_html(data: dict, images: dict[str, bytes]) -> str:
    m = data["metrics"]
    parts = [f"<h1>{_h(data['title'])}</h1>",
             f"<p class='meta'>{_h(data['estimator'])} · nlmodels {_h(data['library_version'])} · "
             f"card written {_h(data['created'])}</p>"]
    parts += ["<h2>Summary</h2>", _kv([
        ("task", m["kind"]), ("classes", ", ".join(data["classes"]) if data["classes"] else "–"),
        ("concepts", data["n_concepts"]), ("measured by", data["measurement"]),
        ("embedder", f"{data['embedder'].get('name') or data['embedder'].get('model')} "
                     f"(weights sha256 {data['embedder'].get('weights_sha256') or '–'})"),
    ] + _usage_lines(data["usage"])[:1])]
    parts += ["<h2>Performance on the test set</h2>", _kv(_metric_lines(m))]
    if m["kind"] == "classification":
        parts.append(_table(["class", "precision", "recall", "F1", "support"],
                            [(c["class"], _fmt(c["precision"]), _fmt(c["recall"]), _fmt(c["f1"]), c["support"])
                             for c in m["per_class"]], numeric=(1, 2, 3, 4)))
        head = "".join(f"<th>{_h(label)}</th>" for label in m["labels"])
        body = "".join(f"<tr><th>{_h(label)}</th>" + "".join(
            f"<td class='num{' diag' if i == j else ''}'>{v}</td>" for j, v in enumerate(row)) + "</tr>"
            for i, (label, row) in enumerate(zip(m["labels"], m["confusion"])))
        parts.append(f"<p class='small'>Confusion matrix (rows: true class, columns: predicted)</p>"
                     f"<table><tr><th>true \\ predicted</th>{head}</tr>{body}</table>")
    parts += _rules_html(data) if "rules" in data else _concepts_html(data, images)
    parts += ["<h2>How the concepts are measured</h2>", f"<p>{_h(data['measurement'])}</p>"]
    parts += ["<h2>Chat-model usage and cost</h2>", _kv(_usage_lines(data["usage"]))]
    parts += ["<h2>Data</h2>", _kv(_training_lines(data["training"]) + _test_lines(data["test"]))]
    parts += ["<h2>Limitations</h2>", "<ul>" + "".join(f"<li>{_h(t)}</li>" for t in data["limitations"]) + "</ul>"]
    parts.append("<h2>Edit history</h2>")
    parts.append(_table(["date", "author", "what"], [_edit_text(e) for e in data["edits"]])
                 if data["edits"] else "<p>No edits: the model is as fitted.</p>")
    parts += ["<h2>The model as printed</h2>", f"<pre>{_h(data['printed'])}</pre>"]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_h(data['title'])}</title><link rel='icon' href='data:,'><style>{CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main></body></html>\n")


def _rules_html(data) -> list[str]:
    parts = ["<h2>Rules</h2>", f"<p>{_h(_rules_intro(data))}</p>",
             _table(_RULE_HEADER, _rule_rows(data), numeric=(0, 3, 4, 5, 6))]
    if data["proposed_rules"]:
        parts += ["<h3>Rules the chat model proposed</h3>", f"<p>{_h(_PROPOSED_INTRO)}</p>",
                  _table(_PROPOSED_HEADER, _proposed_rows(data), numeric=(2, 3))]
    if data["fidelity"]:
        parts.append(f"<h3>Fidelity: how each measurement was checked</h3><p class='small'>{_h(_FIDELITY_NOTE)}</p>")
        parts.append(_table(["concept", "signal", "fidelity", "gate"],
                            [(r["concept"], r["signal"], r["fidelity"], r["gate"]) for r in data["fidelity"]]))
    parts += [f"<p>{_h(text)}</p>" for text in data["gated_lines"]]
    if data.get("gated"):
        parts.append("<ul class='small'>" + "".join(f"<li>{_h(g['concept'])} [{_h(g['signal'])}] ({_h(g['fidelity'])})</li>"
                                                   for g in data["gated"]) + "</ul>")
    parts += ["<h2>One prediction explained</h2>", f"<p>“{_h(_short(data['explain_text'], 400))}”{_chosen_html(data)}</p>",
              f"<p>Predicted {_h(data['explained']['prediction'])}, decided by: "
              f"{_h(data['explained']['decided_by'])}</p>"]
    return parts


def _concepts_html(data, images) -> list[str]:
    parts = ["<h2>Concepts</h2>",
              f"<p>Intercept {_h(', '.join(f'{v:+.3f}' for v in data['intercept']))}. A concept <i>fires</i> on a "
              f"text when {_h(_FIRES_ON)} is at least {FIRES_AT}, as the printed model counts it; "
              f"{_h(_CONCEPTS_NOTE)}.</p>"]
    rows = []
    for c in data["concepts"]:
        w = c["weights"][0] if len(c["weights"]) == 1 else None
        cls = "" if w is None else " pos" if w > 0 else " neg"
        bar = f"<span class='bar' style='width:{int(round(60 * c['fires']))}px'></span> "
        rows.append(f"<tr><td class='num'>{c['index']}</td><td>{_h(c['name'])}</td>"
                    f"<td class='num{cls}'>{_h(_weights_text(c, data['row_titles']))}</td>"
                    f"<td class='small'>{_h(_signal_text(c, data))}</td><td class='num'>{bar}{_h(_fires_text(c, data))}</td>"
                    f"<td class='num'>{_h(format(c['mentions'], '.1%') if 'mentions' in c else '–')}</td>"
                    f"<td>{_h(c['source'])}</td></tr>")
    parts.append("<table class='concepts'><tr><th>#</th><th>concept</th><th>weight</th><th>signals</th><th>fires</th>"
                 "<th>mentions</th><th>source</th></tr>" + "".join(rows) + "</table>")
    evidence = "".join(f"<li><b>{_h(c['name'])}</b>: {_h(c['evidence'])}</li>" for c in data["concepts"]
                       if c.get("evidence"))
    if evidence:
        parts.append(f"<p class='small'>On the training texts:</p><ul class='small'>{evidence}</ul>")
    if data["fidelity"]:
        parts.append(f"<h3>Fidelity: how each measurement was checked</h3><p class='small'>{_h(_FIDELITY_NOTE)}</p>")
        parts.append(_table(["concept", "signal", "fidelity", "gate"],
                            [(r["concept"], r["signal"], r["fidelity"], r["gate"]) for r in data["fidelity"]]))
    if data["gated"]:
        parts.append("<h3>Not measured faithfully, so never weighted</h3><ul>" + "".join(
            f"<li>{_h(g['concept'])} ({_h(g['fidelity'])})</li>" for g in data["gated"]) + "</ul>")
    if "weights" in images:
        parts.append(f"<img alt='concept weights' src='data:image/png;base64,"
                     f"{base64.b64encode(images['weights']).decode()}'>")
    parts.append("<h3>Where each concept fires most strongly</h3>")
    for c in data["concepts"]:
        items = "".join(f"<li><span class='score'>{e['score']:.2f}</span> · {_truth(data)} {_h(e['label'])}, predicted "
                        f"{_h(e['predicted'])}: “{_h(_short(e['text'], 240))}”</li>" for e in c["examples"])
        phrases = f"<div class='small'>phrases: {_h(', '.join(c['phrases']))}</div>" if c["phrases"] else ""
        if c.get("typical_training_texts"):
            phrases += ("<div class='small'>a prototype; its typical training texts: "
                        + " · ".join(f"“{_h(_short(t, 160))}”" for t in c["typical_training_texts"]) + "</div>")
        if c.get("probe_top_words"):
            phrases += ("<div class='small'>a word prototype; the words its probe weighs most: "
                        + _h(", ".join(c["probe_top_words"])) + "</div>")
        parts.append(f"<div class='concept'><b>{c['index']}. {_h(c['name'])}</b>{phrases}"
                     f"<ul>{items or '<li>no test text scores above 0</li>'}</ul></div>")
    parts += ["<h2>One prediction explained</h2>", f"<p>“{_h(_short(data['explain_text'], 400))}”{_chosen_html(data)}</p>"]
    if "explanation" in images:
        parts.append(f"<img alt='explanation of one prediction' src='data:image/png;base64,"
                     f"{base64.b64encode(images['explanation']).decode()}'>")
    return parts
