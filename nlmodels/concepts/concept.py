"""The ``Concept`` record: a sentence a person reads, and what measuring it needs."""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

from .._codec import label_text

__all__ = ["Concept", "asked_text", "quoted_lines", "unshown_lines", "unshown_phrases"]


@dataclass(frozen=True)
class Concept:
    """One natural-language feature of a text.

    Parameters
    ----------
    text : str
        What a person reads: a yes/no question ("Does the review complain about the acting?")
        or a short description ("mentions something like: boring, dull, waste of time").
    phrases : tuple of str
        Example phrases that show the concept. Data-driven concepts are defined by them (a text
        "mentions" the concept when it contains one); for questions they may be empty.
    source : str
        Where it came from: ``"data"`` (mined phrases), ``"llm"`` (proposed by a chat model),
        ``"expert"`` (written by a person), ``"prototype"`` (resembles a class's training texts) or
        ``"word_prototype"`` (uses the words of a class's training texts).
    target : object, default=None
        For mined concepts, the class (or the end of the target range) whose texts the phrases
        came from; informative only. For a prototype concept (either kind), the class it recognises.
    examples : tuple of str
        Prototype concepts (``source="prototype"``): the training texts of ``target`` shown to the
        reader (those nearest the class's mean embedding). The concept is measured by a probe that
        recognises the training texts of that class, not by these texts alone.

    How a concept is scored (embedding probe, phrase match, chat-model answer, distilled probe)
    is the measurer's business; the fitted estimator records it in ``measure_``.
    """

    text: str
    phrases: tuple[str, ...] = ()
    source: str = "data"
    target: Any = None
    examples: tuple[str, ...] = ()
    notes: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("a Concept needs a non-empty text")
        object.__setattr__(self, "phrases", tuple(self.phrases))
        object.__setattr__(self, "examples", tuple(self.examples))

    @property
    def is_prototype(self) -> bool:
        """A concept that recognises a class's training texts: by their embedding (``"prototype"``)
        or by their words (``"word_prototype"``)."""
        return self.source in ("prototype", "word_prototype")

    @property
    def reads_words(self) -> bool:
        """A word prototype: measured by a probe on the text's words, not on its embedding."""
        return self.source == "word_prototype"

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["phrases"] = list(self.phrases)
        d["examples"] = list(self.examples)
        if d["target"] is not None and not isinstance(d["target"], (str, int, float, bool)):
            d["target"] = str(d["target"])
        if hasattr(d["target"], "item"):
            d["target"] = d["target"].item()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Concept":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def __str__(self) -> str:
        return self.text


def describe_phrases(phrases, limit: int = 5) -> str:
    """The readable text of a mined concept: "mentions something like: 'a', 'b', 'c'", its first
    ``limit`` phrases; where it has more, the text says how many more ("... 'e' and 8 more"): both
    its signals read every phrase, so a name that stopped at five would hide what they test."""
    phrases = list(phrases)
    more = f" and {len(phrases) - limit} more" if len(phrases) > limit else ""
    return "mentions something like: " + ", ".join(f"'{p}'" for p in phrases[:limit]) + more


def unshown_phrases(text: str, phrases, limit: int = 5, matched: bool = True) -> list[str]:
    """The phrases a concept reads that its text does not show: past the first ``limit`` where the
    text is the mined form (``describe_phrases``: "... and 8 more"); for any other text (a question,
    or a person's wording, which may quote a phrase only to exclude it) all of them where phrases
    are ``matched`` (embedding measurement), none where a chat model reads the question alone
    (``asked_text``). A reader must see these beside the name."""
    phrases = list(phrases)
    if text == describe_phrases(phrases, limit):
        return phrases[limit:]
    return phrases if matched else []


def asked_text(concept: "Concept", limit: int = 5) -> str:
    """What a chat model is asked about ``concept``: its text, except a mined concept's, which shows
    ``limit`` phrases and counts the rest ("... and 3 more"); that one is asked with every phrase,
    since a model cannot answer about phrases it is never shown."""
    if unshown_phrases(concept.text, concept.phrases, limit, matched=False):   # the mined form, cut at limit
        return describe_phrases(concept.phrases, len(concept.phrases))
    return concept.text


# textwrap breaks lines at these characters only; a phrase's own are held as private-use
# characters while its list wraps, so no line ends inside a phrase
_BREAKS = {c: chr(0xE000 + i) for i, c in enumerate("\t\n\x0b\x0c\r ")}
_HELD = str.maketrans(_BREAKS)
_RESTORED = str.maketrans({v: k for k, v in _BREAKS.items()})


def quoted_lines(prefix: str, phrases, width: int | None = 120, indent: str = "      ") -> list[str]:
    """``prefix`` then the phrases quoted and comma-separated, wrapped at ``width`` between phrases,
    never inside one (a line can pass ``width`` where ``prefix`` and one phrase already do); one line
    where ``width`` is None (Markdown and HTML wrap it themselves)."""
    if width is None:
        return [prefix + ", ".join(f"'{p}'" for p in phrases)]
    held = ", ".join(f"'{p.translate(_HELD)}'" for p in phrases)
    return [line.translate(_RESTORED) for line in textwrap.wrap(
        held, width, initial_indent=prefix, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)]


def unshown_lines(intro: str, listed: dict, width: int | None = 120) -> list[str]:
    """``intro``, then per concept name in ``listed`` its phrases (``quoted_lines``); none where
    ``listed`` is empty. The block under a printed model or an explanation."""
    lines = [line for name, hidden in listed.items() for line in quoted_lines(f"  {name}: ", hidden, width)]
    return [intro] + lines if lines else []


def describe_prototype(label, examples, limit: int = 2, max_chars: int = 60) -> str:
    """The readable text of a prototype concept: "resembles the training texts labelled 'X', such
    as: «...»; «...»"."""
    shown = []
    for text in list(examples)[:limit]:
        text = " ".join(str(text).split())
        shown.append("«" + (text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…") + "»")
    return f"resembles the training texts labelled {label_text(label, quoted=True)}, such as: " + "; ".join(shown)


def describe_word_prototype(label, words, limit: int = 5) -> str:
    """The readable text of a word prototype: "uses the words of the training texts labelled 'X',
    such as: 'a', 'b', 'c'" (the words most over-represented in them)."""
    shown = ", ".join(f"'{w}'" for w in list(words)[:limit])
    return f"uses the words of the training texts labelled {label_text(label, quoted=True)}, such as: {shown}"
