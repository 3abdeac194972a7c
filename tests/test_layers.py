"""The package's layers point one way: no module of galaxy_core imports one from a layer above it,
at the top of a file or inside a function, and only the dashboard imports Streamlit.

Run alone with `python3 -m pytest tests/test_layers.py -q`. The README's Layout section draws the same map.
"""
import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "galaxy_core"
# bottom to top; a module may import from its own layer and the layers below it
LAYERS = {
    "foundation": ("classes", "errors", "fileio", "settings", "processes"),
    "data": ("data",),
    "models": ("models",),
    "inference": ("inference",),
    "evaluation": ("evaluation",),
    "training": ("training",),
    "interfaces": ("__main__", "cli", "dashboard", "service", "catalogue"),
}
RANK = {top: rank for rank, tops in enumerate(LAYERS.values()) for top in tops}
STREAMLIT_ALLOWED = ("dashboard",)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank_of(module: str) -> int | None:
    """The layer of a galaxy_core module; None for the package itself (its __init__ imports nothing)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[1] not in RANK:
        raise AssertionError(f"galaxy_core.{parts[1]} belongs to no layer: add it to LAYERS here and to the README's Layout.")
    return RANK[parts[1]]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every galaxy_core or streamlit import in the file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "galaxy_core":  # `from galaxy_core import x`: x is a module
                found += [(node.lineno, f"galaxy_core.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}:{node.lineno}: use absolute imports (galaxy_core....) so layers can be checked")
    return [(line, name) for line, name in found if name.split(".")[0] in ("galaxy_core", "streamlit")]


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_import_points_up_a_layer(path):
    module = module_name(path)
    own = rank_of(module)
    upward = []
    for line, imported in imported_modules(path):
        if imported.startswith("streamlit"):
            if module.split(".")[1] not in STREAMLIT_ALLOWED:
                upward.append(f"line {line}: streamlit (only galaxy_core.dashboard may import it)")
            continue
        target = rank_of(imported)
        if own is not None and target is not None and target > own:
            upward.append(f"line {line}: {imported} (layer {list(LAYERS)[target]}) from layer {list(LAYERS)[own]}")
    assert not upward, f"{module} imports upward:\n" + "\n".join(upward)


def test_every_module_has_a_layer():
    for path in SOURCES:
        rank_of(module_name(path))


MAX_FUNCTION_LINES = 80  # a screen: past it, a function is doing several things (issue 32)


def test_no_function_is_longer_than_a_screen():
    long = []
    for path in [*SOURCES, *sorted((REPO / "app_pages").glob("*.py")), REPO / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, "split these into steps:\n" + "\n".join(long)
