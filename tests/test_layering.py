"""The packages' layering: imports point one way, down the layers declared here, with no cycle.

``LAYERS`` is the one declaration of the layer order (docs/ARCHITECTURE.md draws it). A module
belongs to the layer of its longest matching entry: ``"pkg/"`` covers the package ``pkg`` and
everything below it, a plain name covers exactly that module. Every module of ``updatable`` and
``runtime`` must belong to a layer (so a new module at ``runtime/``'s root fails until it is
placed), may import its own layer and the layers below, never one above, and no set of modules
may import each other in a cycle.

Arrows are read from the source with ``ast``, all of them: module-level imports, imports
inside functions (often written there to hide an arrow that points up), imports under
``TYPE_CHECKING``, ``importlib.import_module("...")`` calls and the module names written as
strings in explicit registries (``"runtime.nn.layers.convolution"``, ``"pkg.module:Class"``),
which are arrows just the same.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("updatable", "runtime")

# Lowest first. Each layer may import itself and the layers before it. The name opens the
# docstring of every module of the layer ("Runtime, training layer: ...").
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Spec side, base layer",
        (
            "updatable.errors",
            "updatable.proto",
            "updatable.spec",
            "updatable.params",
            "updatable.lazy",
            "updatable.model_types",
        ),
    ),
    ("Spec side, validation layer", ("updatable.validation/",)),
    ("Spec side, editing layer", ("updatable.edit/",)),
    ("Spec side, facade", ("updatable",)),
    ("Runtime, kernels layer", ("runtime.kernels/",)),
    ("Runtime, neural-network layer", ("runtime.nn/",)),
    ("Runtime, model layer", ("runtime.model/",)),
    ("Runtime, ONNX layer", ("runtime.ort/",)),
    ("Runtime, training layer", ("runtime.training/",)),
    ("Runtime, jobs layer", ("runtime.jobs/",)),
    ("Runtime, tools layer", ("runtime.tools/",)),
    ("Runtime, sweeps layer", ("runtime.sweeps/",)),
    ("Runtime, demo layer", ("runtime.demo/",)),
    ("Runtime, facade", ("runtime",)),
    ("Command line", ("updatable.cli/",)),
)

# Layers whose modules are not yet held to the rules (empty when every layer is checked).
UNCHECKED: tuple[str, ...] = ()

_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?$")


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    line: int
    path: str


def module_names(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root``."""
    names = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names[".".join(parts)] = path
    return names


def _resolve(name: str, modules) -> str | None:
    """The deepest project module that ``name`` (``a.b.c`` or ``a.b:Attr``) names, if any."""
    name = name.split(":")[0]
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(node: ast.AST, modules, current: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = current.split(".")
            if not modules[current].name == "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        # `from pkg import mod` imports the submodule; `from mod import name` the module
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if _MODULE_NAME.match(node.value) and node.value.split(".")[0] in PACKAGES:
            return [node.value]  # a registry entry, an import_module argument
    return []


def arrows(root: Path = ROOT, packages=PACKAGES) -> list[Arrow]:
    """Every import arrow between the modules of ``packages`` (see the module docstring)."""
    modules = module_names(root, packages)
    found: dict[tuple[str, str, int], Arrow] = {}
    for source, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            for name in _targets(node, modules, source):
                target = _resolve(name, modules)
                if target is not None and target != source:
                    relative = str(path.relative_to(root))
                    arrow = Arrow(source, target, node.lineno, relative)
                    found.setdefault((source, target, node.lineno), arrow)
    return list(found.values())


def layer_of(module: str, layers=LAYERS) -> str | None:
    """The layer of ``module``: the one with its longest matching entry."""
    best, best_length = None, -1
    for layer, entries in layers:
        for entry in entries:
            package = entry.endswith("/")
            name = entry.rstrip("/")
            matches = module == name or (package and module.startswith(name + "."))
            if matches and len(name) > best_length:
                best, best_length = layer, len(name)
    return best


def upward_arrows(found: list[Arrow], layers=LAYERS, unchecked=()) -> list[str]:
    """One message per arrow from a lower layer to a higher one."""
    rank = {layer: index for index, (layer, _) in enumerate(layers)}
    problems = []
    for arrow in found:
        source, target = layer_of(arrow.source, layers), layer_of(arrow.target, layers)
        if source in unchecked or source is None or target is None:
            continue
        if rank[target] > rank[source]:
            problems.append(
                f"{arrow.path}:{arrow.line}: {arrow.source} (layer '{source}') imports "
                f"{arrow.target} (layer '{target}'), a higher layer; move the shared code down, "
                "or hand the higher module's function in as an argument"
            )
    return problems


def cycles(found: list[Arrow], skip=lambda module: False) -> list[str]:
    """One message per import cycle (strongly connected set of modules), naming its arrows."""
    graph: dict[str, set[str]] = {}
    for arrow in found:
        if not skip(arrow.source) and not skip(arrow.target):
            graph.setdefault(arrow.source, set()).add(arrow.target)
            graph.setdefault(arrow.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    problems = []
    for component in components:
        ties = sorted(
            f"{a.path}:{a.line} {a.source} -> {a.target}"
            for a in found
            if a.source in component and a.target in component
        )
        problems.append(f"import cycle among {sorted(component)}: " + "; ".join(ties))
    return problems


def _unchecked(module: str) -> bool:
    return layer_of(module) in UNCHECKED


def test_every_module_has_a_layer():
    homeless = [name for name in module_names(ROOT) if layer_of(name) is None]
    assert not homeless, f"modules in no layer (add them to LAYERS): {homeless}"


def test_every_module_docstring_names_its_layer():
    unnamed = []
    for name, path in module_names(ROOT).items():
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if not docstring.startswith(f"{layer_of(name)}: "):
            unnamed.append(f"{path.relative_to(ROOT)} (expected '{layer_of(name)}: ...')")
    assert not unnamed, "module docstrings that do not open with their layer: " + ", ".join(unnamed)


def test_imports_point_down_the_layers():
    problems = upward_arrows(arrows(), unchecked=UNCHECKED)
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    problems = cycles(arrows(), skip=_unchecked)
    assert not problems, "\n".join(problems)


def test_the_checker_finds_upward_arrows_hidden_imports_and_cycles(tmp_path):
    files = {
        "runtime/__init__.py": "",
        "runtime/low.py": "def f():\n    from runtime import high\n",
        "runtime/high.py": "from runtime import low\n",
        "runtime/table.py": 'ENTRIES = {"x": "runtime.top:Thing"}\n',
        "runtime/top.py": "import importlib\nimportlib.import_module('runtime.table')\n",
        "runtime/sub/__init__.py": "",
        "runtime/sub/a.py": "from . import b\n",
        "runtime/sub/b.py": "from runtime.sub.a import x\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = arrows(tmp_path, ("runtime",))
    layers = (
        ("low", ("runtime.low", "runtime.table", "runtime.sub/")),
        ("high", ("runtime.high", "runtime.top")),
        ("face", ("runtime",)),
    )
    up = upward_arrows(found, layers)
    assert len(up) == 2
    assert "runtime/low.py:2: runtime.low (layer 'low') imports runtime.high" in up[0]
    assert "runtime/table.py:1: runtime.table (layer 'low') imports runtime.top" in up[1]
    loops = cycles(found)
    assert len(loops) == 3, loops
    assert any("runtime/sub/a.py:1 runtime.sub.a -> runtime.sub.b" in loop for loop in loops)
    assert any("runtime.low" in loop and "runtime.high" in loop for loop in loops)
    assert any("runtime.table" in loop and "runtime.top" in loop for loop in loops)
