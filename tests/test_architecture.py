"""The package's shape stays what docs/development.md says: small modules, no import cycles.

The layer rules themselves (imports only go down) are import-linter's
contracts in pyproject.toml, run by ``make lint``; these are the two checks
it does not make: module size, and cycles between single files.
"""

from __future__ import annotations

import grimp

from tests.conftest import ROOT

MAX_MODULE_LINES = 600


def test_no_module_is_longer_than_the_limit():
    long = {
        path.relative_to(ROOT).as_posix(): lines
        for path in (ROOT / "include").rglob("*.py")
        if (lines := path.read_text().count("\n")) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules (at most {MAX_MODULE_LINES} lines)"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_files():
    graph = grimp.build_graph("aitl", "aitl_airflow")
    edges = {
        module: {
            imported
            for imported in graph.find_modules_directly_imported_by(module)
            # A module importing its own package's __init__ is not a cycle between files.
            if not module.startswith(f"{imported}.")
        }
        for module in graph.modules
    }
    assert _cycles(edges) == []
