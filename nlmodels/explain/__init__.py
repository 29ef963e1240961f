"""Explaining data and models with the concept pipeline (a layer above ``models/`` and ``report/``).

- :func:`explain_difference` (``difference.py``): what texts of one group show more often than
  texts of another; hypotheses proposed on one part of the data, tested on the held-out part.
- :func:`explain_model` (``surrogate.py``): a concept surrogate of a black-box model, with its
  fidelity to the black box on held-out texts.
"""

from .difference import DifferenceReport, explain_difference
from .surrogate import ModelExplanation, explain_model

__all__ = ["DifferenceReport", "ModelExplanation", "explain_difference", "explain_model"]
