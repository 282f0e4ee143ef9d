"""Docstrings tell the truth about names: every cross-reference in ``rtdata`` resolves."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rtdata"

ROLE = re.compile(r":(?:func|class|meth|data|mod|attr|exc|obj):`~?([^`<>]+)`")
DOTTED = re.compile(r"\brtdata(?:\.[A-Za-z_]\w*)+")
NOT_NAMES = frozenset({"rtdata.toml"})  # the config file, not a module


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


DASHBOARD = PACKAGE / "dashboard"
SCRIPTS = frozenset(_module_name(p) for p in [DASHBOARD / "app.py", *DASHBOARD.glob("pages/*.py")])
"""The dashboard's Streamlit scripts: importing one runs it (the router starts the embedded
stack), so no name is ever looked up inside them."""


def _docstrings(tree: ast.Module) -> list[tuple[int, str, str | None]]:
    """Return ``(line, text, enclosing class)`` of every docstring, attribute ones included."""
    found: list[tuple[int, str, str | None]] = []

    def visit(body: list[ast.stmt], cls: str | None) -> None:
        for stmt in body:
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                found.append((stmt.lineno, stmt.value.value, cls))
            elif isinstance(stmt, ast.ClassDef):
                visit(stmt.body, stmt.name)
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(stmt.body, cls)

    visit(tree.body, None)
    return found


def _instance_attributes(module: Any, cls: str) -> set[str]:
    """Names a class declares without a class attribute: annotations and ``self.x =``."""
    klass = getattr(module, cls, None)
    names: set[str] = set()
    for base in getattr(klass, "__mro__", ()):
        names.update(getattr(base, "__annotations__", {}))
    source = Path(module.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in ast.walk(node):
                if (
                    isinstance(item, ast.Attribute)
                    and isinstance(item.value, ast.Name)
                    and item.value.id == "self"
                ):
                    names.add(item.attr)
    return names


def _lookup(dotted: str) -> bool:
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        if any(".".join(parts[:end]) in SCRIPTS for end in range(1, split + 1)):
            continue  # importing the module (or its parent) would run a script
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for i, attr in enumerate(parts[split:], start=split):
            if not hasattr(obj, attr):
                owner = ".".join(parts[:i])
                module_name, _, cls = owner.rpartition(".")
                if i == len(parts) - 1 and module_name:
                    if module_name in SCRIPTS:
                        return False
                    try:
                        module = importlib.import_module(module_name)
                    except ImportError:
                        return False
                    return attr in _instance_attributes(module, cls)
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _resolves(name: str, module: str, cls: str | None) -> bool:
    """Resolve as Sphinx does: in the enclosing class, then the module, then absolutely."""
    candidates = [f"{module}.{cls}.{name}"] if cls else []
    return any(_lookup(c) for c in [*candidates, f"{module}.{name}", name])


def _unresolved() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for line, text, cls in _docstrings(ast.parse(path.read_text(encoding="utf-8"))):
            names = [(m.group(0), m.group(1).strip()) for m in ROLE.finditer(text)]
            names += [(m.group(0), m.group(0)) for m in DOTTED.finditer(text)]
            for shown, name in names:
                if name in NOT_NAMES or _resolves(name, module, cls):
                    continue
                problems.append(f"{path.relative_to(ROOT)}:{line}: {shown}")
    return problems


def test_cross_references_and_dotted_names_in_docstrings_resolve() -> None:
    assert _unresolved() == []


@pytest.mark.parametrize(
    ("name", "module", "cls", "expected"),
    [
        ("Metrics", "rtdata.metrics", None, True),
        ("Metrics", "rtdata.metrics._common", None, False),  # not in that module: says where
        ("check_alerts", "rtdata.metrics", "Metrics", True),
        ("history", "rtdata.collector", "Collector", True),  # set in __init__
        ("rtdata.events.EventKind.ALERT", "rtdata", None, True),
        ("rtdata.nowhere", "rtdata", None, False),
        ("rtdata.layout", "rtdata.dashboard.app", None, True),  # never runs the router
        ("BUILTIN_SCRIPTS", "rtdata.dashboard.app", None, False),
    ],
)
def test_the_resolver(name: str, module: str, cls: str | None, expected: bool) -> None:
    assert _resolves(name, module, cls) is expected
