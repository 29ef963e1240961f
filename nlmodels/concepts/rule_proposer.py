"""``RuleProposer``: a chat model writes rules "IF <question> THEN <label>".

Each rule's question becomes a concept; its label is only what the model claims. The estimators
measure every claim on the training texts (``proposed_rules_``) and never take it on its word.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pydantic

from .._codec import label_text
from ..llm import ChatModel
from .concept import Concept
from .proposers import DATA_NOTICE, quote_text

__all__ = ["RuleProposer"]


def _rules_schema(labels: tuple[str, ...]) -> type[pydantic.BaseModel]:
    rule = pydantic.create_model("ProposedRule", condition=(str, ...), label=(Literal[labels], ...))
    return pydantic.create_model("ProposedRules", rules=(list[rule], pydantic.Field(max_length=30)))


class RuleProposer:
    """One chat call: ``n_rules`` rules from ``examples_per_class`` example texts of each label.

    Parameters
    ----------
    llm : ChatModel
    n_rules : int, default=10
    examples_per_class : int, default=6
    max_chars : int, default=300
        Example texts are cut to this many characters.
    random_state : int, default=0
        Picks the example texts.
    """

    def __init__(self, llm: ChatModel, n_rules: int = 10, examples_per_class: int = 6, max_chars: int = 300,
                 random_state: int = 0):
        self.llm = llm
        self.n_rules = n_rules
        self.examples_per_class = examples_per_class
        self.max_chars = max_chars
        self.random_state = random_state

    def prompt(self, texts, y) -> str:
        rng = np.random.RandomState(self.random_state)
        labels = [label_text(c) for c in np.unique(y)]
        parts = [
            "You help build an interpretable text classifier that is a short list of rules. Below are "
            "example texts grouped by label.",
            f"Write {self.n_rules} rules of the form IF <condition> THEN <label> that tell the labels apart. "
            "Each condition is one short, concrete yes/no question about a text, answerable from the text alone "
            "(for example \"Does the text offer a prize?\"); each label is one of: "
            + ", ".join(labels) + ". Prefer rules that hold for many texts of their label and few others.",
        ]
        for cls in np.unique(y):
            members = np.flatnonzero(y == cls)
            chosen = rng.choice(members, min(self.examples_per_class, len(members)), replace=False)
            shown = "\n".join(f"<text>{quote_text(texts[i][: self.max_chars])}</text>" for i in chosen)
            parts.append(f"Label {label_text(cls)}:\n{shown}")
        parts.append('Reply as JSON: {"rules": [{"condition": "...?", "label": "..."}, ...]}')
        return "\n\n".join(parts)

    def propose(self, texts, y, existing=(), *, on_error: str = "raise") -> tuple[list[Concept], list[tuple]]:
        """``(new concepts, claims)``: the questions not in ``existing`` as concepts (``target`` = the
        claimed label) and every claim as ``(question, label)``, in the model's order."""
        if self.n_rules == 0:
            return [], []
        labels = tuple(dict.fromkeys(label_text(c) for c in np.unique(y)))
        [answer] = self.llm.structured(
            [self.prompt(texts, y)], _rules_schema(labels), system=DATA_NOTICE, max_tokens=60 * self.n_rules + 50,
            on_error="raise" if on_error == "raise" else "none", desc="proposing rules",
        )
        known = {c.text for c in existing}
        new: dict[str, Concept] = {}
        claims = []
        by_label = {label_text(c): c for c in np.unique(y)}
        for rule in (answer.rules if answer is not None else [])[: self.n_rules]:
            question = " ".join(str(rule.condition).split())[:200]
            if len(question) < 8:
                continue
            question = question if question.endswith("?") else question + "?"
            if question not in known and question not in new:
                new[question] = Concept(question, (), "llm", target=by_label[rule.label])
            claims.append((question, by_label[rule.label]))
        return list(new.values()), claims
