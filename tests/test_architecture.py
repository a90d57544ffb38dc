"""The package's layering, read from its source: no import cycles, pure engines.

The import graph holds every ``import`` of a ``sigmasight_lib`` module, wherever it
stands (module level, inside a function, under ``TYPE_CHECKING``): an import hidden
in a function is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "sigmasight_lib"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

ENGINE_FORBIDDEN = ("marketdata", "db", "batch", "portfolios", "reporting", "runs")
"""Packages no ``sigmasight_lib.engines`` module may import (engines are pure maths)."""


def module_name(path: Path, root: Path = ROOT) -> str:
    """``sigmasight_lib/a/b.py`` → ``sigmasight_lib.a.b``; a package's ``__init__`` → the package."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Dotted names ``node`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        yield target
        yield from (f"{target}.{alias.name}" for alias in node.names)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the ``sigmasight_lib`` modules it imports (every import statement)."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[module] = {
            name
            for node in ast.walk(tree)
            for name in _imported(node, module, is_package)
            if name in files and name != module
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _in(module: str, package: str) -> bool:
    name = f"{PACKAGE}.{package}"
    return module == name or module.startswith(name + ".")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("def f():\n    from sigmasight_lib.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from ..a import f\n")
    g = import_graph(pkg)
    assert g[f"{PACKAGE}.a"] == {f"{PACKAGE}.sub", f"{PACKAGE}.sub.b"}
    assert g[f"{PACKAGE}.sub.b"] == {f"{PACKAGE}.a"}
    assert cycles(g) == [[f"{PACKAGE}.a", f"{PACKAGE}.sub", f"{PACKAGE}.sub.b"]]


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_engines_import_no_io_or_orchestration_layer(graph):
    bad = {
        module: sorted(t for t in targets if any(_in(t, p) for p in ENGINE_FORBIDDEN))
        for module, targets in graph.items()
        if _in(module, "engines")
    }
    assert {m: t for m, t in bad.items() if t} == {}


def test_reporting_does_not_import_batch(graph):
    bad = {
        module: sorted(t for t in targets if _in(t, "batch"))
        for module, targets in graph.items()
        if _in(module, "reporting")
    }
    assert {m: t for m, t in bad.items() if t} == {}
