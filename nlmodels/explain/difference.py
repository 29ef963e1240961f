"""``explain_difference``: what texts of group A show more often than texts of group B, tested on held-out texts.

Each group is split in two. Hypotheses are proposed on the *proposal* part only (mined phrase groups
offline, or yes/no questions a chat model writes from contrasting examples) and ranked there; then
each is measured on the *test* part, which no hypothesis has seen, and tested there: shares in A and
B, their difference with a score interval, Fisher's exact p-value and a Benjamini-Hochberg q-value
across all the hypotheses tested.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .._validation import check_int_param, check_texts
from .._version import __version__
from ..concepts import (Concept, EmbeddingMeasurer, LLMMeasurer, LLMProposer, PhraseProposer, describe_phrases,
                        phrase_matches)
from ..embed import SentenceTransformerEmbedder
from ..report.markup import CSS, h as _h, kv as _kv, md as _md, md_table as _md_table, short as _short
from .._codec import plain
from ..llm.record import chat_model_record
from ._stats import benjamini_hochberg, compare_proportions

__all__ = ["DifferenceReport", "explain_difference"]

logger = logging.getLogger("nlmodels.explain")

MIN_TEXTS_PER_PART = 2
SIMILAR_AT = 0.5
_MISSING = object()

COLUMNS = ["hypothesis", "more_often_in", "share_a", "share_b", "difference", "ci_low", "ci_high", "p_value",
           "q_value", "measured_by", "n_a", "n_b", "similar_share_a", "similar_share_b", "similar_difference",
           "proposed_from", "phrases", "examples_a", "examples_b"]


def _sentence(text: str, more: str, less: str, difference: float) -> str:
    """'texts of A, more often than texts of B, mention something like: ...'."""
    if text.startswith("mentions "):
        verb = "mention " + text[len("mentions "):]
    elif text.rstrip().endswith("?"):
        verb = f"get the answer yes to: {text}"
    else:
        verb = f"show: {text}"
    if difference == 0:
        return f"texts of {more} and of {less}, equally often, {verb}"
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
        p or q), ``proposed_from`` (the group whose proposal texts suggested it), ``phrases``,
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
    def sentences(self) -> list[str]:
        """Each hypothesis as a sentence, in table order."""
        a, b = self.names
        return [_sentence(r.hypothesis, r.more_often_in, b if r.more_often_in == a else a, r.difference)
                for r in self.table.itertuples()]

    def confirmed(self, q: float = 0.05) -> pd.DataFrame:
        """The rows with a q-value below ``q``."""
        return self.table[self.table["q_value"] < q]

    def _header(self) -> list[str]:
        a, b = self.names
        s = self.sizes
        lines = [f"Difference between {a!r} ({s['a']['all']} texts) and {b!r} ({s['b']['all']} texts)",
                 f"hypotheses proposed on {s['a']['proposal']} + {s['b']['proposal']} texts, tested on "
                 f"{s['a']['test']} + {s['b']['test']} held-out texts; measured by {self.measured_by}"]
        if self.calls:
            c = self.calls
            lines.append(f"chat calls: at most {c['bound']} ({c['planned']}), made {c['made']}, "
                         f"{c['cached']} from the cache")
        n_conf = int((self.table["q_value"] < 0.05).sum())
        lines.append(f"{len(self.table)} hypotheses tested; {n_conf} with q < 0.05")
        return lines

    def _numbers(self, r) -> str:
        a, b = self.names
        return (f"{a} {r.share_a:.1%} vs {b} {r.share_b:.1%}: {100 * r.difference:+.1f} points "
                f"(95% CI {100 * r.ci_low:+.1f} to {100 * r.ci_high:+.1f}), p = {r.p_value:.2g}, q = {r.q_value:.2g}")

    def __str__(self) -> str:
        out = self._header()
        for i, (r, sentence) in enumerate(zip(self.table.itertuples(), self.sentences())):
            if i == 10:
                out.append(f"... {len(self.table) - 10} more in .table")
                break
            out.append(f"{i + 1:2d}. {sentence}")
            out.append(f"    {self._numbers(r)}  [{r.measured_by}]")
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"<DifferenceReport: {len(self.table)} hypotheses, {int((self.table['q_value'] < 0.05).sum())} with q < 0.05>"

    def _rows(self):
        return [(i + 1, sentence, f"{r.share_a:.1%}", f"{r.share_b:.1%}", f"{100 * r.difference:+.1f}",
                 f"[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]", f"{r.p_value:.2g}", f"{r.q_value:.2g}",
                 r.measured_by)
                for i, (r, sentence) in enumerate(zip(self.table.itertuples(), self.sentences()))]

    def _table_header(self):
        a, b = self.names
        return ["#", "hypothesis", f"share {a}", f"share {b}", "difference (points)", "95% CI", "p", "q",
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
            "difference: the first share minus the second, in percentage points, with a 95% Newcombe score interval.",
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
        numeric = {2, 3, 4, 5, 6, 7}
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
            parts.append(f"<div class='concept'><b>{i + 1}. {_h(sentence)}</b><div class='small'>"
                         f"{_h(self._numbers(r))}</div><ul>{items or '<li>no held-out text</li>'}</ul></div>")
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
def _check_split(split, n_a: int, n_b: int, test_size, random_state) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the test texts of each group (True = held out for testing)."""
    if split is None:
        if not (isinstance(test_size, (float, int)) and 0 < test_size < 1):
            raise ValueError(f"test_size must be a number strictly between 0 and 1, got {test_size!r}")
        rng = np.random.RandomState(random_state)
        masks = []
        for n in (n_a, n_b):
            mask = np.zeros(n, bool)
            mask[rng.permutation(n)[: int(round(test_size * n))]] = True
            masks.append(mask)
    else:
        if not (isinstance(split, (tuple, list)) and len(split) == 2):
            raise TypeError("split must be a pair (test_a, test_b) of boolean masks, True for the held-out test texts")
        masks = []
        for name, mask, n in (("split[0]", split[0], n_a), ("split[1]", split[1], n_b)):
            mask = np.asarray(mask)
            if mask.dtype != bool or mask.ndim != 1:
                raise TypeError(f"{name} must be a 1-d boolean mask (True: a held-out test text), got dtype {mask.dtype}")
            if len(mask) != n:
                group = "texts_a" if name == "split[0]" else "texts_b"
                raise ValueError(f"{name} has {len(mask)} values but {group} has {n} texts; they must match")
            masks.append(mask)
    for group, mask in zip(("texts_a", "texts_b"), masks):
        for part, count in (("test", int(mask.sum())), ("proposal", int((~mask).sum()))):
            if count < MIN_TEXTS_PER_PART:
                raise ValueError(f"the {part} part of {group} has {count} text(s); each part of each group needs at "
                                 f"least {MIN_TEXTS_PER_PART} (hypotheses are proposed on one part, tested on the other)")
    return masks[0], masks[1]


def _check_hypotheses(hypotheses, *, chat: bool) -> list[Concept]:
    """A person's hypotheses as concepts: questions with a chat model, phrase lists offline."""
    if hypotheses is None:
        return []
    if isinstance(hypotheses, str) or not isinstance(hypotheses, (list, tuple)):
        raise TypeError("hypotheses must be a list (of questions with a chat model, of phrase lists offline)")
    out = []
    for i, h in enumerate(hypotheses):
        if chat:
            if not (isinstance(h, str) and h.strip()):
                raise TypeError(f"hypotheses[{i}] must be a question (a non-empty str) with a chat model, got {h!r}")
            out.append(Concept(" ".join(h.split()), (), "expert"))
        else:
            if isinstance(h, str) or not (isinstance(h, (list, tuple)) and h and all(isinstance(p, str) and p.strip() for p in h)):
                raise TypeError(f"hypotheses[{i}] must be a list of phrases offline (a text shows it when it "
                                f"mentions one), got {h!r}")
            phrases = tuple(" ".join(p.lower().split()) for p in h)
            out.append(Concept(describe_phrases(phrases), phrases, "expert"))
    return out


def _check_names(names) -> tuple[str, str]:
    if not (isinstance(names, (tuple, list)) and len(names) == 2 and all(isinstance(n, str) and n.strip() for n in names)):
        raise ValueError(f"names must be two non-empty strings, got {names!r}")
    if names[0] == names[1]:
        raise ValueError(f"names must differ, got {names[0]!r} twice")
    return str(names[0]), str(names[1])


# ---------------------------------------------------------------------- the function
def explain_difference(texts_a, texts_b=_MISSING, *, llm=None, names=("A", "B"), test_size=0.5, split=None,
                       hypotheses=None, max_hypotheses=20, n_examples=3, embedder=None, phrases_per_class=200,
                       groups_per_class=8, stop_words="english",
                       n_rounds=2, questions_per_round=10, max_texts_per_group=100, max_calls=None,
                       on_error="raise", confidence=0.95, random_state=0) -> DifferenceReport:
    """Hypotheses "texts of A, more often than texts of B, ..." proposed on part of the data, tested on the rest.

    Each group is split into a proposal part and a test part (``test_size``, or ``split``).
    Hypotheses come from the proposal texts only; each is then measured on the test texts and
    tested there, so no hypothesis is confirmed by the texts that suggested it.

    - Offline (``llm=None``): phrases (1-3-grams) over-represented in one group's proposal texts,
      grouped by meaning within that group (:class:`~nlmodels.concepts.PhraseProposer`). The
      ``max_hypotheses`` groups whose phrases separate the proposal texts best are tested. A test
      text shows a hypothesis when it *mentions* one of its phrases (whole words, any case): an
      exact measurement. The embedding probe *similar* (trained on the proposal texts to
      recognise texts that use the phrases) is reported beside it as a second signal, not tested.
    - With a chat model: it writes yes/no questions from contrasting proposal texts of the two
      groups (``n_rounds`` calls), then answers every question for a random sample of at most
      ``max_texts_per_group`` test texts of each group (one call per text). The bound on calls is
      computed before the first call, logged, and reported with the calls actually made.

    Parameters
    ----------
    texts_a, texts_b : list, numpy array or pandas Series of str
        The two groups (at least 4 texts each).
    llm : ChatModel, default=None
        A chat model for questions and answers; ``None`` runs offline.
    names : (str, str), default=("A", "B")
        How the groups are called in the sentences.
    test_size : float, default=0.5
        Share of each group held out for testing (a seeded random split).
    split : (array of bool, array of bool), default=None
        Explicit test masks for A and B (True: held-out test text); overrides ``test_size``.
    hypotheses : list, default=None
        Hypotheses a person wants tested, besides the proposed ones; always tested, and counted in
        the q-values. Offline: each is a list of phrases (measured by *mentions*). With a chat
        model: each is a yes/no question (asked with the proposed ones, in the same calls).
    max_hypotheses : int, default=20
        Offline: proposed phrase groups tested (the best on the proposal texts). All tested
        hypotheses enter the q-values.
    n_examples : int, default=3
        Test texts per group shown for each hypothesis.
    embedder : Embedder, default=None
        ``None``: the bundled all-MiniLM-L6-v2.
    phrases_per_class, groups_per_class : int, default=200, 8
        Offline: phrases mined per group and groups they are clustered into.
    stop_words : "english", collection of str or None, default="english"
        Offline: mined phrases made only of these words ("of", "into", "this is") are dropped
        from the phrase groups before ranking: frequent function words make small p-values that
        say little to a reader. ``"english"`` is scikit-learn's list; ``None`` keeps every phrase.
    n_rounds, questions_per_round : int, default=2, 10
        With a chat model: proposal calls and questions asked for in each.
    max_texts_per_group : int, default=100
        With a chat model: test texts of each group it answers for (a seeded random sample).
    max_calls : int, default=None
        With a chat model: a hard cap on requests for this run. The samples are shrunk to fit
        (proposal rounds + sampled texts <= ``max_calls``) and the cap is enforced while it runs.
    on_error : {"raise", "missing"}, default="raise"
        With a chat model: a text whose answer call fails for good raises
        :class:`~nlmodels.LLMBatchError` (finished answers are cached), or, with ``"missing"``, is
        left out of that group's counts (``n_a``, ``n_b`` say how many were measured).
    confidence : float, default=0.95
        Of the interval for each difference.
    random_state : int, default=0

    Returns
    -------
    DifferenceReport
        ``.table`` (a DataFrame, one row per hypothesis, best first), ``str``, ``_repr_html_``,
        ``to_markdown``, ``to_html``, ``to_json``, ``save``.

    Raises
    ------
    TypeError, ValueError
        Before any embedding or chat call: a missing or empty group, a non-string text (naming
        the group and row), a split whose length does not match its group, a part with fewer than
        two texts, bad parameters.

    Examples
    --------
    >>> report = explain_difference(complaints_2024, complaints_2023, names=("2024", "2023"))  # doctest: +SKIP
    >>> print(report)                                                                          # doctest: +SKIP
    >>> report.table.head()                                                                    # doctest: +SKIP
    >>> report.save("difference.html")                                                         # doctest: +SKIP
    """
    if texts_b is _MISSING:
        raise TypeError("explain_difference compares two groups of texts: texts_b is missing "
                        "(call explain_difference(texts_a, texts_b))")
    a = check_texts(texts_a, name="texts_a")
    b = check_texts(texts_b, name="texts_b")
    names = _check_names(names)
    check_int_param("max_hypotheses", max_hypotheses, 1)
    check_int_param("n_examples", n_examples, 0)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    test_a, test_b = _check_split(split, len(a), len(b), test_size, random_state)
    expert = _check_hypotheses(hypotheses, chat=llm is not None)
    if llm is not None:
        check_int_param("n_rounds", n_rounds, 1)
        check_int_param("questions_per_round", questions_per_round, 1)
        check_int_param("max_texts_per_group", max_texts_per_group, 1)
        if max_calls is not None:
            check_int_param("max_calls", max_calls, n_rounds + 2)
        if on_error not in ("raise", "missing"):
            raise ValueError(f"on_error must be 'raise' or 'missing', got {on_error!r}")
    else:
        check_int_param("groups_per_class", groups_per_class, 1)
        check_int_param("phrases_per_class", phrases_per_class, 1)
        stops = _stop_words(stop_words)

    parts = {"a": (a, test_a), "b": (b, test_b)}
    proposal = {g: [t for t, m in zip(texts, mask) if not m] for g, (texts, mask) in parts.items()}
    test = {g: [t for t, m in zip(texts, mask) if m] for g, (texts, mask) in parts.items()}
    sizes = {g: {"all": len(parts[g][0]), "proposal": len(proposal[g]), "test": len(test[g])} for g in parts}
    settings = {"test_size": None if split is not None else test_size, "split": "given" if split is not None else "random",
                "random_state": random_state, "confidence": confidence}
    embedder = embedder if embedder is not None else SentenceTransformerEmbedder()
    prop_texts = proposal["a"] + proposal["b"]
    bins = np.array([names[0]] * len(proposal["a"]) + [names[1]] * len(proposal["b"]), dtype=object)

    if llm is None:
        settings.update(max_hypotheses=max_hypotheses, phrases_per_class=phrases_per_class,
                        groups_per_class=groups_per_class,
                        stop_words=stop_words if isinstance(stop_words, (str, type(None))) else sorted(stop_words))
        rows = _offline(prop_texts, bins, test, names, embedder, max_hypotheses, phrases_per_class,
                        groups_per_class, stops, expert, n_examples, confidence, random_state)
        measured_by = ("mentions: a held-out text shows a hypothesis when it contains one of its phrases (whole "
                       f"words, any case); similar (second signal, not tested): an embedding probe's score >= {SIMILAR_AT}")
        calls, chat = None, None
    else:
        settings.update(n_rounds=n_rounds, questions_per_round=questions_per_round,
                        max_texts_per_group=max_texts_per_group, max_calls=max_calls)
        rows, calls = _with_chat(llm, prop_texts, bins, test, names, embedder, n_rounds, questions_per_round,
                                 max_texts_per_group, max_calls, on_error, expert, n_examples, confidence,
                                 random_state)
        measured_by = f"the chat model's yes/no answer ({llm.model}) on a random sample of the held-out texts"
        chat = chat_model_record(llm)
    table = _finish(rows)
    return DifferenceReport(table, names, sizes, measured_by, calls, settings, chat)


def _finish(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=COLUMNS)
    if table.empty:
        return table
    table["q_value"] = benjamini_hochberg(table["p_value"].to_numpy())
    order = np.lexsort((-table["difference"].abs().to_numpy(), table["p_value"].to_numpy(), table["q_value"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def _row(concept_text, holds_a, holds_b, names, confidence, measured_by, **extra) -> dict:
    k_a, k_b = int(holds_a.sum()), int(holds_b.sum())
    result = compare_proportions(k_a, len(holds_a), k_b, len(holds_b), confidence=confidence)
    more = names[0] if result["difference"] >= 0 else names[1]
    row = {"hypothesis": concept_text, "more_often_in": more, **result, "q_value": np.nan,
           "measured_by": measured_by, "n_a": len(holds_a), "n_b": len(holds_b),
           "similar_share_a": np.nan, "similar_share_b": np.nan, "similar_difference": np.nan,
           "proposed_from": None, "phrases": [], "examples_a": [], "examples_b": []}
    row.update(extra)
    return row


def _clearest(texts, holds, strength, n) -> list[str]:
    """The texts where the hypothesis holds, most clearly first (by ``strength``)."""
    where = np.flatnonzero(holds)
    order = where[np.argsort(-strength[where], kind="stable")]
    return [texts[i] for i in order[:n]]


def _stop_words(stop_words) -> frozenset:
    if stop_words is None:
        return frozenset()
    if stop_words == "english":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        return frozenset(ENGLISH_STOP_WORDS)
    if isinstance(stop_words, str):
        raise ValueError(f"stop_words must be 'english', a collection of words or None, got {stop_words!r}")
    return frozenset(str(w).lower() for w in stop_words)


def _without_stop_words(concepts, stop_words) -> list:
    """Each concept without its phrases made only of stop words; concepts left with none are dropped."""
    if not stop_words:
        return list(concepts)
    kept = []
    for c in concepts:
        phrases = [p for p in c.phrases if not all(w in stop_words for w in p.lower().split())]
        if phrases:
            kept.append(c if len(phrases) == len(c.phrases) else
                        Concept(describe_phrases(phrases), tuple(phrases), c.source, c.target))
    return kept


def _offline(prop_texts, bins, test, names, embedder, max_hypotheses, phrases_per_class, groups_per_class,
             stop_words, expert, n_examples, confidence, random_state) -> list[dict]:
    proposer = PhraseProposer(phrases_per_class=phrases_per_class, groups_per_class=groups_per_class,
                              random_state=random_state)
    concepts = _without_stop_words(proposer.propose(prop_texts, bins, embedder), stop_words)
    if not concepts:
        raise ValueError("no phrase is frequent enough in the proposal texts to propose a hypothesis "
                         "(too few or too short texts?)")
    # Rank on the proposal texts only: how well each group's mentions separate them, in its own direction.
    M = phrase_matches(prop_texts, concepts)
    in_a = bins == names[0]
    ranked = []
    for k, c in enumerate(concepts):
        mine = in_a if c.target == names[0] else ~in_a
        table = [[M[mine, k].sum(), (1 - M[mine, k]).sum()], [M[~mine, k].sum(), (1 - M[~mine, k]).sum()]]
        ranked.append((stats.fisher_exact(table, alternative="greater").pvalue, k))
    kept = expert + [concepts[k] for _, k in sorted(ranked)[:max_hypotheses]]

    test_texts = test["a"] + test["b"]
    n_a = len(test["a"])
    E_prop = embedder.encode(prop_texts)
    E_test = embedder.encode(test_texts)
    similar = EmbeddingMeasurer(embedder, signals=("similar",)).fit(prop_texts, E_prop, kept).transform(test_texts, E_test)
    mentions = phrase_matches(test_texts, kept)
    rows = []
    for k, c in enumerate(kept):
        holds, score = mentions[:, k] > 0, similar[:, k]
        fires = score >= SIMILAR_AT
        rows.append(_row(
            c.text, holds[:n_a], holds[n_a:], names, confidence, "mentions",
            similar_share_a=float(fires[:n_a].mean()), similar_share_b=float(fires[n_a:].mean()),
            similar_difference=float(fires[:n_a].mean() - fires[n_a:].mean()),
            proposed_from=c.target, phrases=list(c.phrases),
            examples_a=_clearest(test["a"], holds[:n_a], score[:n_a], n_examples),
            examples_b=_clearest(test["b"], holds[n_a:], score[n_a:], n_examples)))
    return rows


def call_bound(n_rounds: int, n_test_a: int, n_test_b: int, max_texts_per_group: int, max_calls=None) -> tuple[int, int]:
    """Texts of each group's test part the chat model answers for: at most ``max_texts_per_group``
    each, shrunk so that ``n_rounds + n_a + n_b <= max_calls``. Returns ``(n_a, n_b)``."""
    n_a, n_b = min(n_test_a, max_texts_per_group), min(n_test_b, max_texts_per_group)
    if max_calls is not None:
        room = max_calls - n_rounds
        while n_a + n_b > room:  # take from the larger sample first
            if n_a >= n_b:
                n_a -= 1
            else:
                n_b -= 1
    return n_a, n_b


def _with_chat(llm, prop_texts, bins, test, names, embedder, n_rounds, questions_per_round, max_texts_per_group,
               max_calls, on_error, expert, n_examples, confidence, random_state):
    n_a, n_b = call_bound(n_rounds, len(test["a"]), len(test["b"]), max_texts_per_group, max_calls)
    bound = n_rounds + n_a + n_b
    planned = f"{n_rounds} proposal round(s) + {n_a} test texts of {names[0]} + {n_b} of {names[1]}"
    logger.info("explain_difference: at most %d chat calls (%s)", bound, planned)
    rng = np.random.RandomState(random_state)
    sample_a = np.sort(rng.choice(len(test["a"]), n_a, replace=False))
    sample_b = np.sort(rng.choice(len(test["b"]), n_b, replace=False))
    texts_a = [test["a"][i] for i in sample_a]
    texts_b = [test["b"][i] for i in sample_b]

    before_calls, before_cached = llm.usage.calls, llm.usage.cached
    saved_budget = llm.max_calls
    if max_calls is not None:  # a hard cap for this run, on top of any budget the client has
        cap = before_calls + max_calls
        llm.max_calls = cap if saved_budget is None else min(cap, saved_budget)
    try:
        proposer = LLMProposer(llm, questions_per_round=questions_per_round, random_state=random_state)
        concepts = list(expert)
        for round_ in range(n_rounds):
            concepts += proposer.propose(prop_texts, bins, embedder, existing=concepts, round_=round_)
        if not concepts:
            raise ValueError("the chat model proposed no usable question (pass questions of your own as hypotheses=)")
        measurer = LLMMeasurer(llm, on_error=on_error).fit(None, None, concepts)
        answers = measurer.answer(texts_a + texts_b)
    finally:
        llm.max_calls = saved_budget
    calls = {"bound": bound, "planned": planned, "made": llm.usage.calls - before_calls,
             "cached": llm.usage.cached - before_cached}
    measured = f"chat answer ({llm.model})"
    answered = ~np.isnan(answers).any(axis=1)
    ok_a, ok_b = answered[:n_a], answered[n_a:]
    if not ok_a.any() or not ok_b.any():
        raise ValueError("the chat model answered for no held-out text of "
                         f"{names[0] if not ok_a.any() else names[1]}: nothing to test")
    shown_a, shown_b = [t for t, ok in zip(texts_a, ok_a) if ok], [t for t, ok in zip(texts_b, ok_b) if ok]
    rows = []
    for k, c in enumerate(concepts):
        holds_a, holds_b = answers[:n_a, k][ok_a] == 1, answers[n_a:, k][ok_b] == 1
        rows.append(_row(c.text, holds_a, holds_b, names, confidence, measured, proposed_from=None,
                         examples_a=_clearest(shown_a, holds_a, np.zeros(len(holds_a)), n_examples),
                         examples_b=_clearest(shown_b, holds_b, np.zeros(len(holds_b)), n_examples)))
    return rows, calls
