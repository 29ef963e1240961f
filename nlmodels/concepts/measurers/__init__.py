"""Measurers: texts x concepts -> scores in [0, 1].

Every measurer has ``fit(texts, embeddings, concepts, y=None)`` and ``transform(texts, embeddings)``
and names its columns with ``signals``: the matrix has one column per concept and signal,
concept-major (column ``k * len(signals) + s``).

- :class:`EmbeddingMeasurer` (offline): ``similar``, a probe on the text embedding trained to
  recognise texts that mention the concept's phrases (so it also scores paraphrases); ``close``,
  the cosine between text and concept, rescaled on the training texts; ``mentions``, whether the
  text contains one of the phrases.
- :class:`LLMMeasurer`: a chat model answers every concept for one text in one structured call.
- :class:`DistillMeasurer`: the chat model answers for ``n_distill`` training texts; a probe per
  concept on the embeddings learns those answers; transform makes no chat call.
"""

from __future__ import annotations

from ..proposers import quote_text
from ._probes import PHRASE_WORDS, check_phrases, fit_probes, held_out_probe_scores, phrase_matches
from .distill import DistillMeasurer
from .embedding import EmbeddingMeasurer
from .llm import LLMMeasurer

__all__ = ["MEASURERS", "PHRASE_WORDS", "DistillMeasurer", "EmbeddingMeasurer", "LLMMeasurer", "check_phrases", "fit_probes",
           "held_out_probe_scores", "measurer_from_state", "phrase_matches", "quote_text"]


#: Measurers by the ``type`` their state records (the model file dispatches on it).
MEASURERS = {"embedding": EmbeddingMeasurer, "llm": LLMMeasurer, "distill": DistillMeasurer}


def measurer_from_state(state: dict, concepts, *, embedder, llm=None, n_jobs=None):
    """Rebuild a fitted measurer from its ``to_state()``."""
    if state.get("type") not in MEASURERS:
        raise ValueError(f"unknown measurer type {state.get('type')!r} in the model file")
    return MEASURERS[state["type"]].from_state(state, concepts, embedder=embedder, llm=llm, n_jobs=n_jobs)
