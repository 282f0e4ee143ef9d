"""rtdata's modules import each other without a cycle, counting every import (module level,
inside functions and under TYPE_CHECKING), and the collector's layers point one way."""

from __future__ import annotations

import ast
import pathlib

import rtdata

ROOT = pathlib.Path(rtdata.__file__).parent


def _module(path: pathlib.Path) -> str:
    parts = ("rtdata", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the rtdata modules it imports (a package's ``__init__`` is its own node, and
    importing ``rtdata.a.b`` is an edge to ``rtdata.a.b`` only)."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
                # "from rtdata import ui" is an edge to rtdata.ui, not to rtdata itself
                if any(f"{base}.{alias.name}" in modules for alias in node.names):
                    targets.remove(base)
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_in_rtdata() -> None:
    graph = import_graph()
    assert len(graph) > 50
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_collector_supervisor_reads_recorder_point_one_way() -> None:
    graph = import_graph()
    assert "rtdata.supervisor" in graph["rtdata.collector"]
    assert "rtdata.reads" in graph["rtdata.supervisor"]
    assert "rtdata.recorder" in graph["rtdata.reads"]
    assert not graph["rtdata.recorder"] & {"rtdata.collector", "rtdata.supervisor", "rtdata.reads"}
    assert not graph["rtdata.reads"] & {"rtdata.collector", "rtdata.supervisor"}
    assert "rtdata.collector" not in graph["rtdata.supervisor"]


def test_the_recorder_has_no_thread_and_no_event_loop() -> None:
    graph = import_graph()
    assert not graph["rtdata.recorder"] & {"rtdata.supervisor", "rtdata.link", "rtdata.fastpath"}
    imported = {
        alias.name
        for node in ast.walk(ast.parse((ROOT / "recorder.py").read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {
        node.module
        for node in ast.walk(ast.parse((ROOT / "recorder.py").read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    assert "asyncio" not in imported
    assert "threading.Thread" not in (ROOT / "recorder.py").read_text()


def test_the_collector_holds_its_supervisor_by_type_not_any() -> None:
    tree = ast.parse((ROOT / "collector.py").read_text())
    annotations = [
        ast.unparse(n.annotation) for n in ast.walk(tree) if isinstance(n, ast.AnnAssign)
    ]
    assert "Supervisor | None" in annotations
    assert not [a for a in annotations if "Any" in a]
