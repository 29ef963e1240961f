"""``DifferenceReport``: what :func:`~nlmodels.explain_difference` found, as a table, text,
Markdown, self-contained HTML and JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .._codec import counted, plain
from ..concepts import quoted_lines, unshown_phrases
from .._version import __version__
from ..report.markup import CSS, h as _h, kv as _kv, md as _md, md_table as _md_table, short as _short

__all__ = ["COLUMNS", "DifferenceReport"]

COLUMNS = ["hypothesis", "more_often_in", "share_a", "share_b", "difference", "ci_low", "ci_high", "p_value",
           "q_value", "measured_by", "n_a", "n_b", "similar_share_a", "similar_share_b", "similar_difference",
           "similar_auc", "proposed_from", "phrases", "examples_a", "examples_b"]


def _sentence(text: str, more: str, less: str, difference: float, settled: bool = True) -> str:
    """'texts of A, more often than texts of B, mention something like: ...'; where the interval of
    the difference spans 0 (``settled`` False) the sentence says so, since the direction is not shown."""
    if text.startswith("mentions "):
        verb = "mention " + text[len("mentions "):]
    elif text.rstrip().endswith("?"):
        verb = f"get the answer yes to: {text}"
    else:
        verb = f"show: {text}"
    if difference == 0:
        return f"no difference seen between texts of {more} and of {less} in how often they {verb}"   # not shown equal
    if not settled:
        return f"texts of {more}, more often than texts of {less} in these texts but not shown (the interval spans 0), {verb}"
    return f"texts of {more}, more often than texts of {less}, {verb}"


@dataclass
class DifferenceReport:
    """What :func:`explain_difference` found: one row of ``table`` per hypothesis, best first.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per hypothesis tested, sorted by q-value (then p-value, then size of the
        difference). Columns: ``hypothesis`` (the concept as a person reads it), ``more_often_in``
        (the group where it held more often on the test texts), ``share_a``, ``share_b`` (shares
        of the test texts of each group where it holds), ``difference`` (``share_a - share_b``),
        ``ci_low``, ``ci_high`` (Newcombe score interval of the difference), ``p_value`` (Fisher's
        exact test, two-sided), ``q_value`` (Benjamini-Hochberg across all rows), ``measured_by``,
        ``n_a``, ``n_b`` (test texts measured), ``similar_share_a``, ``similar_share_b``,
        ``similar_difference`` (the embedding probe's second signal, offline only; never used for
        p or q), ``similar_auc`` (that probe's fidelity: its ROC AUC for the held-out texts that
        mention the phrases, texts it was not fitted on; NaN where all or none do), ``proposed_from`` (the group whose proposal texts suggested it), ``phrases``,
        ``examples_a``, ``examples_b`` (test texts of each group where it holds most clearly).
    names : tuple of str
        The two groups' names, as written in the sentences.
    sizes : dict
        Texts per group and part: ``{"a": {"all", "proposal", "test"}, "b": {...}}``.
    measured_by : str
        How the held-out texts were measured, in words.
    calls : dict or None
        With a chat model: ``bound`` (the most requests the run could make, computed before it
        started), ``planned`` (what the bound is made of), ``made`` (requests that reached the
        server), ``cached`` (answers served from the cache). ``None`` offline.
    settings : dict
        The parameters of the run (split, seeds, limits).
    """

    table: pd.DataFrame
    names: tuple
    sizes: dict
    measured_by: str
    calls: dict | None = None
    settings: dict = field(default_factory=dict)
    chat_model: dict | None = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    # ------------------------------------------------------------------ reading
    @property
    def _ci(self) -> str:
        """The intervals' level as printed ("95%"; ``confidence`` of the run)."""
        return f"{100 * self.settings.get('confidence', 0.95):g}%"

    def sentences(self) -> list[str]:
        """Each hypothesis as a sentence, in table order."""
        a, b = self.names
        return [_sentence(r.hypothesis, r.more_often_in, b if r.more_often_in == a else a, r.difference,
                          settled=not r.ci_low <= 0 <= r.ci_high)
                for r in self.table.itertuples()]

    def confirmed(self, q: float = 0.05) -> pd.DataFrame:
        """The rows with a q-value below ``q``."""
        return self.table[self.table["q_value"] < q]

    def _header(self) -> list[str]:
        a, b = self.names
        s = self.sizes
        lines = [f"Difference between {a!r} ({s['a']['all']} texts) and {b!r} ({s['b']['all']} texts)",
                 f"hypotheses proposed on {s['a']['proposal']} + {s['b']['proposal']} texts, tested on "
                 f"{self._tested_on()}; measured by {self.measured_by}"]
        if self.calls:
            c = self.calls
            lines.append(f"chat calls: at most {c['bound']} ({c['planned']}), made {c['made']}, "
                         f"{c['cached']} from the cache")
        n_conf = int((self.table["q_value"] < 0.05).sum())
        lines.append(f"{len(self.table)} hypotheses tested; {n_conf} with q < 0.05")
        return lines

    def _tested_on(self) -> str:
        """How many held-out texts the hypotheses were tested on: the texts measured (a chat model
        answers at most ``max_texts_per_group`` of each group, and a failed answer leaves a text out),
        of how many were held out where that is fewer."""
        s = self.sizes

        def counts(column, held_out):
            values = self.table[column] if len(self.table) else [held_out]
            low, high = int(min(values)), int(max(values))
            return str(low) if low == high else f"{low}-{high}"

        measured = f"{counts('n_a', s['a']['test'])} + {counts('n_b', s['b']['test'])}"
        held_out = f"{s['a']['test']} + {s['b']['test']}"
        return (f"{measured} held-out texts" if measured == held_out else
                f"{measured} held-out texts (of {held_out} held out{'; per hypothesis' if '-' in measured else ''})")

    def _numbers(self, r) -> str:
        a, b = self.names
        return (f"{a} {r.share_a:.1%} of {r.n_a} vs {b} {r.share_b:.1%} of {r.n_b}: {100 * r.difference:+.1f} points "
                f"({self._ci} CI {100 * r.ci_low:+.1f} to {100 * r.ci_high:+.1f}), p = {r.p_value:.2g}, q = {r.q_value:.2g}")

    @staticmethod
    def _unshown(r) -> tuple[str, list[str]]:
        """The phrases a hypothesis matches that its sentence does not show ("... and 28 more": a held-out
        text shows it when it contains any of them), with the words that introduce them; none for a
        question, which a chat model answers."""
        hidden = unshown_phrases(r.hypothesis, r.phrases)
        return (f"the other {counted(len(hidden), 'phrase')} it matches: ", hidden) if hidden else ("", [])

    def __str__(self) -> str:
        out = self._header()
        for i, (r, sentence) in enumerate(zip(self.table.itertuples(), self.sentences())):
            if i == 10:
                out.append(f"... {len(self.table) - 10} more in .table")
                break
            out.append(f"{i + 1:2d}. {sentence}")
            out.append(f"    {self._numbers(r)}  [{r.measured_by}]")
            intro, hidden = self._unshown(r)
            if hidden:
                out += quoted_lines(f"    {intro}", hidden)
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"<DifferenceReport: {len(self.table)} hypotheses, {int((self.table['q_value'] < 0.05).sum())} with q < 0.05>"

    def _rows(self):
        return [(i + 1, sentence, f"{r.share_a:.1%}", f"{r.share_b:.1%}", f"{r.n_a} + {r.n_b}", f"{100 * r.difference:+.1f}",
                 f"[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]", f"{r.p_value:.2g}", f"{r.q_value:.2g}",
                 r.measured_by)
                for i, (r, sentence) in enumerate(zip(self.table.itertuples(), self.sentences()))]

    def _table_header(self):
        a, b = self.names
        return ["#", "hypothesis", f"share {a}", f"share {b}", "texts measured", "difference (points)", f"{self._ci} CI", "p", "q",
                "measured by"]

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{_h(h)}</th>" for h in self._table_header())
        body = "".join("<tr>" + "".join(f"<td>{_h(v)}</td>" for v in row) + "</tr>" for row in self._rows())
        return (f"<div><p>{'<br>'.join(_h(line) for line in self._header())}</p>"
                f"<table><tr>{head}</tr>{body}</table></div>")

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        """Everything in the report as plain JSON-ready values."""
        rows = []
        for record, sentence in zip(self.table.to_dict(orient="records"), self.sentences()):
            record = {k: plain(v) for k, v in record.items()}
            for k, v in record.items():
                if isinstance(v, float) and math.isnan(v):
                    record[k] = None
            record["sentence"] = sentence
            rows.append(record)
        return {"format": "nlmodels-difference-report", "library_version": __version__, "created": self.created,
                "names": list(self.names), "sizes": self.sizes, "measured_by": self.measured_by,
                "calls": self.calls, "chat_model": self.chat_model, "settings": plain(self.settings),
                "hypotheses": rows}

    def to_json(self, path=None) -> str:
        """The report as JSON, written to ``path`` (returns the path) or returned as a string."""
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False)
        if path is None:
            return text
        Path(path).write_text(text, encoding="utf-8")
        return str(path)

    def _reading(self) -> list[str]:
        a, b = self.names
        return [
            f"share {a} / share {b}: the share of each group's held-out test texts where the hypothesis holds "
            "(measured by the column 'measured by').",
            f"difference: the first share minus the second, in percentage points, with a {self._ci} Newcombe score "
            "interval.",
            "p: Fisher's exact test (two-sided) that the two shares are equal; q: the Benjamini-Hochberg adjusted "
            "p-value across all the hypotheses in this table (q < 0.05 keeps the expected share of false "
            "findings among those kept below 5%).",
            "Every hypothesis was proposed on the proposal texts only and tested on the test texts, so none is "
            "confirmed by the texts that suggested it.",
        ]

    def to_markdown(self, path=None) -> str:
        """The report as Markdown, written to ``path`` (returns the path) or returned as a string."""
        out = [f"# {_md(self._header()[0])}", "", f"nlmodels {__version__} · written {self.created}", ""]
        out += [f"- {_md(line)}" for line in self._header()[1:]] + [""]
        out += ["## Hypotheses", ""] + _md_table(self._table_header(), self._rows())
        out += ["## How to read it", ""] + [f"- {_md(t)}" for t in self._reading()] + [""]
        out += ["## Where each holds most clearly (held-out texts)", ""]
        for i, (r, sentence) in enumerate(zip(self.table.itertuples(), self.sentences())):
            out += [f"**{i + 1}. {_md(sentence)}** — {_md(self._numbers(r))}", ""]
            intro, hidden = self._unshown(r)
            if hidden:
                out += [_md(quoted_lines(intro, hidden, width=None)[0]), ""]
            for name, examples in zip(self.names, (r.examples_a, r.examples_b)):
                out += [f"- {_md(name)}: “{_md(_short(t, 200))}”" for t in examples]
            if not (r.examples_a or r.examples_b):
                out.append("- (no held-out text)")
            out.append("")
        text = "\n".join(out)
        if path is None:
            return text
        Path(path).write_text(text, encoding="utf-8")
        return str(path)

    def to_html(self, path=None) -> str:
        """The report as one self-contained HTML page (inline CSS, no script), written to ``path``
        (returns the path) or returned as a string."""
        title = self._header()[0]
        head = "".join(f"<th>{_h(h)}</th>" for h in self._table_header())
        numeric = {2, 3, 4, 5, 6, 7, 8}
        body = "".join("<tr>" + "".join(f"<td class='num'>{_h(v)}</td>" if j in numeric else f"<td>{_h(v)}</td>"
                                        for j, v in enumerate(row)) + "</tr>" for row in self._rows())
        parts = [f"<h1>{_h(title)}</h1>", f"<p class='meta'>nlmodels {_h(__version__)} · written {_h(self.created)}</p>",
                 _kv([("", line) for line in self._header()[1:]]),
                 "<h2>Hypotheses</h2>", f"<table><tr>{head}</tr>{body}</table>",
                 "<h2>How to read it</h2>", "<ul>" + "".join(f"<li>{_h(t)}</li>" for t in self._reading()) + "</ul>",
                 "<h2>Where each holds most clearly (held-out texts)</h2>"]
        for i, (r, sentence) in enumerate(zip(self.table.itertuples(), self.sentences())):
            items = "".join(f"<li><b>{_h(name)}</b>: “{_h(_short(t, 240))}”</li>"
                            for name, examples in zip(self.names, (r.examples_a, r.examples_b)) for t in examples)
            intro, hidden = self._unshown(r)
            unshown = f"<div class='small'>{_h(quoted_lines(intro, hidden, width=None)[0])}</div>" if hidden else ""
            parts.append(f"<div class='concept'><b>{i + 1}. {_h(sentence)}</b><div class='small'>"
                         f"{_h(self._numbers(r))}</div>{unshown}<ul>{items or '<li>no held-out text</li>'}</ul></div>")
        page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{_h(title)}</title><link rel='icon' href='data:,'><style>{CSS}</style></head>"
                f"<body><main>{''.join(parts)}</main></body></html>\n")
        if path is None:
            return page
        Path(path).write_text(page, encoding="utf-8")
        return str(path)

    def save(self, path) -> str:
        """Write the report; the format follows the extension (.html, .md or .json)."""
        suffix = Path(path).suffix.lower()
        writers = {".html": self.to_html, ".htm": self.to_html, ".md": self.to_markdown, ".json": self.to_json}
        if suffix not in writers:
            raise ValueError(f"a difference report is written as .html, .md or .json, got {Path(path).name!r}")
        return writers[suffix](path)


# ---------------------------------------------------------------------- checks
