"""``explain_difference``: what texts of group A show more often than texts of group B, tested on held-out texts.

Each group is split in two. Hypotheses are proposed on the *proposal* part only (mined phrase groups
offline, or yes/no questions a chat model writes from contrasting examples) and ranked there; then
each is measured on the *test* part, which no hypothesis has seen, and tested there: shares in A and
B, their difference with a score interval, Fisher's exact p-value and a Benjamini-Hochberg q-value
across all the hypotheses tested.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandas as pd
from scipy import stats

from .._splits import copies_follow_first, distinct_texts
from .._validation import check_int_param, check_texts
from ..concepts import (Concept, EmbeddingMeasurer, LLMMeasurer, LLMProposer, PhraseProposer, check_phrases,
                        describe_phrases, phrase_matches)
from ..concepts.measurers._probes import auc
from ..embed import SentenceTransformerEmbedder
from ..llm.record import chat_model_record
from ._stats import benjamini_hochberg, compare_proportions
from .difference_report import COLUMNS, DifferenceReport

__all__ = ["DifferenceReport", "explain_difference"]

logger = logging.getLogger("nlmodels.explain")

MIN_TEXTS_PER_PART = 2
SIMILAR_AT = 0.5
_MISSING = object()



def _check_split(split, a: list[str], b: list[str], test_size, random_state) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the test texts of each group (True = held out for testing). A random split
    draws ``test_size`` of each group's texts, then moves every later copy of a text to the part of
    its first copy, so no hypothesis is proposed from a text and confirmed on its copy."""
    n_a, n_b = len(a), len(b)
    if split is None:
        if not (isinstance(test_size, (float, int)) and 0 < test_size < 1):
            raise ValueError(f"test_size must be a number strictly between 0 and 1, got {test_size!r}")
        rng = np.random.RandomState(random_state)
        masks = []
        for texts in (a, b):
            mask = np.zeros(len(texts), bool)
            mask[rng.permutation(len(texts))[: int(round(test_size * len(texts)))]] = True
            masks.append(copies_follow_first(mask, distinct_texts(texts)))   # no text is proposed from and tested
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
    for group, mask, texts in zip(("texts_a", "texts_b"), masks, (a, b)):
        for part, count in (("test", int(mask.sum())), ("proposal", int((~mask).sum()))):
            if count < MIN_TEXTS_PER_PART:
                distinct = len(set(texts))
                copies = (f" (its {len(texts)} texts are {distinct} distinct text{'s' if distinct > 1 else ''}, and "
                          "every copy of a text goes to the same part)" if split is None and distinct < len(texts) else "")
                raise ValueError(f"the {part} part of {group} has {count} text(s){copies}; each part of each group "
                                 f"needs at least {MIN_TEXTS_PER_PART} (hypotheses are proposed on one part, tested "
                                 "on the other)")
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
            check_phrases(phrases, f"hypotheses[{i}]")
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
      text shows a hypothesis when it *mentions* one of its phrases (whole words of two or more letters or digits, any case): an
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
        Share of each group held out for testing (a seeded random split; every later copy of a
        repeated text goes to the part of its first copy).
    split : (array of bool, array of bool), default=None
        Explicit test masks for A and B (True: held-out test text); overrides ``test_size`` and is
        used as given.
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
    test_a, test_b = _check_split(split, a, b, test_size, random_state)
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
           "similar_share_a": np.nan, "similar_share_b": np.nan, "similar_difference": np.nan, "similar_auc": np.nan,
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
            similar_auc=auc(holds.astype(float), score),   # the probe was fitted on the proposal texts only
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

    before = copy.copy(llm.usage)
    saved_budget = llm.max_calls
    if max_calls is not None:  # a hard cap for this run, on top of any budget the client has
        cap = before.calls + max_calls
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
    spent = llm.usage - before
    calls = {"bound": bound, "planned": planned, "made": spent.calls, "cached": spent.cached}
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
