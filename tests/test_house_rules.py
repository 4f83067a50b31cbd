"""Project-wide rules from the house style that a machine can check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("updatable", "runtime")
SOURCES = sorted(p for d in (*PACKAGES, "scripts") for p in (ROOT / d).rglob("*.py"))
LIBRARY = [p for p in SOURCES if p.relative_to(ROOT).parts[0] in PACKAGES
           and "cli" not in p.relative_to(ROOT).parts]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    n_lines = len(path.read_text().splitlines())
    budget = 150 if path.parent.name == "layers" and not path.name.startswith("_") else 400
    assert n_lines <= budget, f"{path.relative_to(ROOT)} has {n_lines} lines (budget {budget})"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_prints(path):
    tree = ast.parse(path.read_text())
    calls = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == "print"]
    assert not calls, f"{path.relative_to(ROOT)} calls print() on lines {calls}"


def test_spec_side_never_imports_runtime():
    for path in (ROOT / "updatable").rglob("*.py"):
        if "cli" in path.relative_to(ROOT).parts:
            continue  # the training verbs import runtime lazily, inside run()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "runtime" or n.startswith("runtime.") for n in names), \
                f"{path.relative_to(ROOT)} imports runtime"
