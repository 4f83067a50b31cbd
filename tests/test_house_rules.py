"""Project-wide rules from the house style that a machine can check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("updatable", "runtime")
SOURCES = sorted(p for d in (*PACKAGES, "scripts") for p in (ROOT / d).rglob("*.py"))
LIBRARY = [
    p
    for p in SOURCES
    if p.relative_to(ROOT).parts[0] in PACKAGES and "cli" not in p.relative_to(ROOT).parts
]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_small(path):
    n_lines = len(path.read_text().splitlines())
    budget = 150 if path.parent.name == "layers" and not path.name.startswith("_") else 400
    assert n_lines <= budget, f"{path.relative_to(ROOT)} has {n_lines} lines (budget {budget})"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_prints(path):
    tree = ast.parse(path.read_text())
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    ]
    assert not calls, f"{path.relative_to(ROOT)} calls print() on lines {calls}"


def test_spec_side_never_imports_runtime():
    for path in (ROOT / "updatable").rglob("*.py"):
        if "cli" in path.relative_to(ROOT).parts:
            continue  # the training verbs import runtime lazily, inside run()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "runtime" or n.startswith("runtime.") for n in names), (
                f"{path.relative_to(ROOT)} imports runtime"
            )


# A function's length is its lines from ``def`` to its end, its docstring not counted: public
# entry points carry long docstrings (the formula, the source, every argument), and a budget
# that counted them would only make them shorter.
FUNCTION_LINES = 60
POSITIONAL_PARAMETERS = 6  # most positional parameters of a public function
# numba kernels take flat scalars (a kernel cannot take a dataclass), so they are exempt
FLAT_SIGNATURES = ROOT / "runtime" / "kernels"


def _functions(path):
    tree = ast.parse(path.read_text())
    kinds = ast.FunctionDef | ast.AsyncFunctionDef
    return [node for node in ast.walk(tree) if isinstance(node, kinds)]


def function_lines(node) -> int:
    """Lines of a function from ``def`` to its end, less its docstring's."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0] if node.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        lines -= first.end_lineno - first.lineno + 1
    return lines


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_stay_short(path):
    long = [
        f"{node.name} (line {node.lineno}, {function_lines(node)} lines)"
        for node in _functions(path)
        if function_lines(node) > FUNCTION_LINES
    ]
    assert not long, f"{path.relative_to(ROOT)}: over {FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_public_functions_take_few_positional_parameters(path):
    if FLAT_SIGNATURES in path.parents:
        return
    crowded = []
    for node in _functions(path):
        names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
        if names and names[0] in ("self", "cls"):
            names = names[1:]
        if not node.name.startswith("_") and len(names) > POSITIONAL_PARAMETERS:
            crowded.append(f"{node.name} (line {node.lineno}, {len(names)} positional)")
    assert not crowded, (
        f"{path.relative_to(ROOT)}: more than {POSITIONAL_PARAMETERS} positional parameters: "
        f"{crowded}; group them in a small dataclass or make them keyword-only"
    )
