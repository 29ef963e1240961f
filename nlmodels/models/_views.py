"""Views of a fitted model that a higher layer renders (model card, plots).

The estimators offer ``model.report(...)``, ``model.plot_weights()`` and ``model.plot_explanation()``
as methods, but drawing is :mod:`nlmodels.report`'s job, and a module of the models layer never
imports it: ``nlmodels.report`` registers its renderers here when it is imported (``import nlmodels``
does that), and the methods look them up.
"""

from __future__ import annotations

__all__ = ["Reportable", "register_view", "render"]

_VIEWS: dict = {}


def register_view(name: str, function) -> None:
    _VIEWS[name] = function


def render(name: str, model, *args, **options):
    if name not in _VIEWS:
        raise RuntimeError(f"no renderer for {name!r}: import nlmodels.report (import nlmodels does)")
    return _VIEWS[name](model, *args, **options)


class Reportable:
    """``model.report(X, y, path)``: the model card, for the estimators that have one."""

    def report(self, X, y, path, **options):
        """Write a model card evaluated on ``X, y``: Markdown (.md) or self-contained HTML (.html).
        Options: see :func:`nlmodels.report.card_data`."""
        return render("card", self, X, y, path, **options)
