"""The import graph of fhirsvc.validation and fhirsvc.definitions: no cycles (imports inside
functions included), and nothing the rules import reaches the walker."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[3] / "fhirsvc"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for sub in ("validation", "definitions"):
        for f in (PKG / sub).rglob("*.py"):
            out[_module_name(f)] = f
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of `known` that `name` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    got = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
                pkg = pkg[:len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                got.add(t)
    return got


def _graph():
    mods = _modules()
    return {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def _reach(graph, start):
    seen, todo = set(), [start]
    while todo:
        for n in graph.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_no_import_cycles():
    graph = _graph()
    assert "fhirsvc.validation.walker" in graph and "fhirsvc.validation.rules" in graph
    cycles = [m for m in graph if m in _reach(graph, m)]
    assert cycles == []


def test_rules_never_reach_the_walker():
    graph = _graph()
    for m in graph:
        if m.startswith("fhirsvc.validation.rules") or m in (
                "fhirsvc.validation.definitions", "fhirsvc.validation.fhirpath",
                "fhirsvc.validation.invariants", "fhirsvc.validation.run",
                "fhirsvc.validation.profiles"):
            assert "fhirsvc.validation.walker" not in _reach(graph, m), m


@pytest.mark.parametrize("module", sorted(_modules()))
def test_each_module_imports_on_its_own(module):
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=PKG.parent)
