"""Concepts: the record, where concepts come from (proposers) and how texts are scored (measurers)."""

from .concept import (Concept, describe_phrases, describe_prototype, describe_word_prototype, quoted_lines, unshown_lines,
                      unshown_phrases)
from .measurers import PHRASE_WORDS, DistillMeasurer, EmbeddingMeasurer, LLMMeasurer, check_phrases, fit_probes, phrase_matches
from .proposers import (LLMProposer, PhraseProposer, PrototypeProposer, WordPrototypeProposer, class_bins,
                        merge_near_duplicates)
from .rule_proposer import RuleProposer

__all__ = [
    "PHRASE_WORDS",
    "Concept",
    "DistillMeasurer",
    "EmbeddingMeasurer",
    "LLMMeasurer",
    "LLMProposer",
    "PhraseProposer",
    "PrototypeProposer",
    "RuleProposer",
    "WordPrototypeProposer",
    "check_phrases",
    "class_bins",
    "describe_phrases",
    "describe_prototype",
    "describe_word_prototype",
    "fit_probes",
    "merge_near_duplicates",
    "phrase_matches",
    "quoted_lines",
    "unshown_lines",
    "unshown_phrases",
]
