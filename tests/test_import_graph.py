"""The package's layers import downwards only, and no two modules import each other (directly or around a loop).

Imports are read from the source with ``ast``, at module level and inside functions alike (a lazy import is still
a dependency). Layers, bottom to top: a package may import its own layer and the layers below it.
"""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "platform" / "vlpet"
LAYERS = [
    {"errors", "safe_yaml", "locations", "vocabulary", "checks", "registry"},
    {"models"},
    {"pet"},
    {"data"},
    {"metrics"},
    {"trial_config"},
    {"build", "budget_target"},
    {"train"},
    {"study"},
    {"analysis"},
    {"artifacts"},
    {"testing"},
    {"commands"},
    {"cli"},
]
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}


def module_name(path: pathlib.Path) -> str:
    parts = ["vlpet", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module → the vlpet modules it imports (a ``from package import name`` counts the submodule when it is one)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vlpet") and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("vlpet."))
        found.discard(name)
    return {name: {target for target in targets if target in modules} for name, targets in graph.items()}


def layer(module: str) -> str:
    return module.split(".")[1] if "." in module else "vlpet"


def test_every_package_has_a_layer():
    assert {layer(m) for m in imports()} - {"vlpet"} <= set(RANK)


def test_no_upward_import():
    upward = sorted(f"{source} -> {target}" for source, targets in imports().items() for target in targets
                    if layer(source) in RANK and layer(target) in RANK and RANK[layer(target)] > RANK[layer(source)])
    assert not upward, "imports from a lower layer into a higher one:\n" + "\n".join(upward)


def test_no_import_cycle_between_modules():
    graph, cycles, state = imports(), [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
