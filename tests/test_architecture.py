"""The shape of src/vigil: no import cycle, and modules small enough to read at once.

The import graph counts every import a module makes: at module level, inside
functions, and under ``if TYPE_CHECKING:`` (a type-only import of an upper
layer still ties the two layers together, and is the first step to a real
cycle).
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
SERVICE_MAX_LINES = 400
MODULE_MAX_LINES = 800


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` imports ``target`` at ``line`` of ``path``."""

    source: str
    target: str
    path: Path
    line: int


def module_files(src: Path, package: str) -> dict[str, Path]:
    """Returns each module of ``package`` under ``src`` by dotted name (a package: its __init__)."""
    modules = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """Returns ``name`` or its longest prefix that is a known module, None outside them."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _imported(module: str, path: Path, node: ast.AST, modules: dict[str, Path]) -> Iterator[str]:
    """Returns the known modules one import statement brings in."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            target = _resolve(alias.name, modules)
            if target is not None:
                yield target
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            package = module.split(".") if _is_package(path) else module.split(".")[:-1]
            base = package[: len(package) - (node.level - 1)]
            origin = ".".join([*base, node.module] if node.module else base)
        else:
            origin = node.module or ""
        for alias in node.names:
            # ``from a import b`` imports module a.b when there is one, else a name from a.
            submodule = f"{origin}.{alias.name}"
            target = submodule if submodule in modules else _resolve(origin, modules)
            if target is not None:
                yield target


def import_graph(src: Path, package: str) -> dict[str, list[Edge]]:
    """Returns, for every module of ``package``, the imports it makes of the package's modules."""
    modules = module_files(src, package)
    graph: dict[str, list[Edge]] = {name: [] for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _imported(name, path, node, modules):
                if target != name:
                    graph[name].append(Edge(name, target, path, node.lineno))
    return graph


def strongly_connected(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """Returns the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            if edge.target not in index:
                visit(edge.target)
                low[node] = min(low[node], low[edge.target])
            elif edge.target in on_stack:
                low[node] = min(low[node], index[edge.target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _shortest_cycle(graph: dict[str, list[Edge]], start: str, within: set[str]) -> list[Edge]:
    """Returns the imports of the shortest cycle from ``start`` back to it inside ``within``."""
    came_by: dict[str, Edge] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for edge in graph[node]:
            if edge.target not in within:
                continue
            if edge.target == start:
                path = [edge]
                while path[0].source != start:
                    path.insert(0, came_by[path[0].source])
                return path
            if edge.target not in came_by:
                came_by[edge.target] = edge
                queue.append(edge.target)
    raise AssertionError(f"{start} is on no cycle inside {sorted(within)}")


def find_cycles(graph: dict[str, list[Edge]]) -> list[list[Edge]]:
    """Returns one shortest cycle through each module that is on one, without repeats."""
    cycles: list[list[Edge]] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    for component in strongly_connected(graph):
        for start in component:
            cycle = _shortest_cycle(graph, start, set(component))
            key = frozenset((edge.source, edge.target) for edge in cycle)
            if key not in seen:
                seen.add(key)
                cycles.append(cycle)
    return cycles


def describe(cycle: list[Edge], src: Path) -> str:
    """Returns a cycle as ``a -> b -> a`` followed by the import line of each step."""
    path = " -> ".join([edge.source for edge in cycle] + [cycle[0].source])
    steps = "".join(
        f"\n    {edge.path.relative_to(src)}:{edge.line} imports {edge.target}" for edge in cycle
    )
    return path + steps


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_cycle_finder_reports_type_checking_function_level_and_relative_cycles(
    tmp_path: Path,
) -> None:
    src = _write_package(
        tmp_path,
        {
            "shop/__init__.py": "",
            "shop/orders.py": "from shop import billing\n",
            "shop/billing.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from .orders import Order\n"
            ),
            "shop/stock/__init__.py": "",
            "shop/stock/counts.py": "def refresh():\n    import shop.stock.moves\n",
            "shop/stock/moves.py": "from ..stock import counts\n",
            "shop/money.py": "import json\nfrom shop.orders import Order\n",
        },
    )
    graph = import_graph(src, "shop")

    described = [describe(cycle, src).splitlines()[0] for cycle in find_cycles(graph)]

    assert described == [
        "shop.billing -> shop.orders -> shop.billing",
        "shop.stock.counts -> shop.stock.moves -> shop.stock.counts",
    ]
    assert describe(find_cycles(graph)[0], src).splitlines()[1:] == [
        "    shop/billing.py:3 imports shop.orders",
        "    shop/orders.py:1 imports shop.billing",
    ]


def test_cycle_finder_passes_a_layered_package_and_resolves_each_import(tmp_path: Path) -> None:
    src = _write_package(
        tmp_path,
        {
            # The package re-exports a name: its __init__ is a node of its own, so
            # ``from shop import billing`` below points at shop.billing, not back at shop.
            "shop/__init__.py": "from shop.orders import Order\n",
            "shop/orders.py": "from shop import billing\nclass Order: ...\n",
            "shop/billing.py": "from . import money\nfrom shop.money import Money\n",
            "shop/money.py": "import decimal\nclass Money: ...\n",
        },
    )
    graph = import_graph(src, "shop")

    assert find_cycles(graph) == []
    assert {name: sorted({e.target for e in edges}) for name, edges in graph.items()} == {
        "shop": ["shop.orders"],
        "shop.orders": ["shop.billing"],
        "shop.billing": ["shop.money"],
        "shop.money": [],
    }


def test_src_vigil_has_no_import_cycle() -> None:
    cycles = find_cycles(import_graph(SRC, "vigil"))

    if cycles:
        pytest.fail(
            "Import cycles in src/vigil:\n" + "\n".join(describe(c, SRC) for c in cycles),
            pytrace=False,
        )


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_service_is_only_the_composition_root() -> None:
    lines = _line_count(SRC / "vigil" / "service.py")

    if lines > SERVICE_MAX_LINES:
        pytest.fail(
            f"src/vigil/service.py has {lines} lines; at most {SERVICE_MAX_LINES}: it builds the "
            "stores and use cases and hands them out, the use cases live in their own modules",
            pytrace=False,
        )


def test_no_module_is_longer_than_800_lines() -> None:
    too_long = {
        name: lines
        for name, path in module_files(SRC, "vigil").items()
        if (lines := _line_count(path)) > MODULE_MAX_LINES
    }

    if too_long:
        pytest.fail(
            f"Modules over {MODULE_MAX_LINES} lines: "
            + ", ".join(f"{name} ({lines} lines)" for name, lines in sorted(too_long.items())),
            pytrace=False,
        )
