"""The layers of docs/architecture.md: every import inside nlmodels points down (or within a layer),
including imports hidden inside functions; no module is over 500 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nlmodels"

# bottom to top; a module may import from its own layer and the layers before it
LAYERS = [
    {"nlmodels._codec", "nlmodels._validation", "nlmodels._splits", "nlmodels._version", "nlmodels.data"},
    {"nlmodels.llm"},
    {"nlmodels.embed"},
    {"nlmodels.concepts"},
    {"nlmodels.models"},
    {"nlmodels.report"},
    {"nlmodels.explain"},
    {"nlmodels.cli", "nlmodels"},
]


def _layer(module: str) -> int:
    best = None
    for rank, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (rank, name)
    assert best is not None, f"{module} is in no layer of docs/architecture.md"
    return best[0]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield path, name, parts[-1] == "__init__"


def _imports(path, name, is_package):
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if is_package else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nlmodels"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("nlmodels"):
                if node.module is None or target in ("nlmodels",):  # "from . import x": the submodule
                    for alias in node.names:
                        yield node.lineno, f"{target}.{alias.name}"
                else:
                    yield node.lineno, target


def test_every_import_points_down_the_layers():
    upward = []
    for path, name, is_package in _modules():
        if name == "nlmodels":
            continue  # the package itself sits on top and gathers the public names
        for line, target in _imports(path, name, is_package):
            if _layer(target) > _layer(name):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert upward == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_500_lines(path):
    assert len(path.read_text().splitlines()) <= 500
