"""Reading a fitted model: JSON export and import, model cards, plots, expert edits.

- :func:`to_json` / :func:`load` (``export.py``): the complete fitted model as plain JSON and back.
- :func:`write_card` (``card.py``): a model card in Markdown or self-contained HTML.
- :func:`plot_weights`, :func:`plot_explanation` (``plots.py``): matplotlib figures.
- :func:`edit`, :func:`refit_head` (``edit.py``): concepts removed or added by a person, head refitted.

The estimators expose these as methods (``model.to_json(path)``, ``model.report(X, y, path)`` ...).
"""

from .card import card_data, write_card
from .edit import edit, refit_head
from .export import from_dict, load, to_dict, to_json
from .plots import plot_explanation, plot_weights

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
