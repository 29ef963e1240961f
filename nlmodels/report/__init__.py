"""Rendering a fitted model: model cards and plots. report/ only renders: the model's numbers and
state belong to the estimators (:mod:`nlmodels.models`), which this layer reads through their public
methods.

- :func:`write_card`, :func:`card_data` (``card.py``): a model card in Markdown or self-contained HTML.
- :func:`plot_weights`, :func:`plot_explanation` (``plots.py``): matplotlib figures.

The estimators expose these as methods (``model.report(X, y, path)``, ``model.plot_weights()``)
through the view registry of :mod:`nlmodels.models._views`, which this package fills when imported.
``to_json`` / ``load`` / ``edit`` / ``refit_head`` live in the models layer and are re-exported here
for the code written against the old place.
"""

from ..models._document import from_dict, load, to_dict, to_json
from ..models._edit import edit, refit_head
from ..models._views import register_view
from .card import card_data, write_card
from .plots import plot_explanation, plot_weights

register_view("card", write_card)
register_view("plot_weights", plot_weights)
register_view("plot_explanation", plot_explanation)

__all__ = [
    "card_data",
    "edit",
    "from_dict",
    "load",
    "plot_explanation",
    "plot_weights",
    "refit_head",
    "to_dict",
    "to_json",
    "write_card",
]
