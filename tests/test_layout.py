"""The package's shape: no import cycles between its modules, and every public name where it always was."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import resnet_lib
from resnet_lib.models import list_models

PKG = Path(resnet_lib.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports anywhere (functions too), except under ``if __name__ == ...``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            t = node.test
            if isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__":
                return  # `python -m` entry points are not part of the import graph
            self.generic_visit(node)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level == 0:
                if not (node.module or "").startswith("resnet_lib"):
                    return
                base = node.module
            else:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            found.update(base if node.module else f"{base}.{a.name}" for a in node.names)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names if a.name.startswith("resnet_lib"))

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        deps = {d if d in files else d.rsplit(".", 1)[0] for d in _imports(path)}
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def test_the_graph_sees_lazy_imports():  # the test below could not fail if the graph missed them
    graph = _graph()
    assert "resnet_lib.models" in graph["resnet_lib.diagrams"]    # imported inside a function
    assert "resnet_lib.models.cifar" in graph["resnet_lib.models.registry"]


def test_no_import_cycles():
    graph, state, cycles = _graph(), {}, []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if dep == "resnet_lib":  # the package's __init__ imports nothing at import time (lazy names)
                continue
            if state.get(dep) == "open":
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"


def test_every_public_name_resolves_and_old_paths_still_work():
    for name in resnet_lib.__all__:
        assert getattr(resnet_lib, name) is not None, name
    for name in list_models():
        assert getattr(resnet_lib, name) is getattr(importlib.import_module("resnet_lib.models"), name)
    # Chapters published before the models package imported these; the same objects must answer there.
    old = importlib.import_module("resnet_lib.blocks")
    for name in ("BasicBlock", "Bottleneck", "PreActBasicBlock", "PreActBottleneck", "ShortcutA", "conv1x1",
                 "conv3x3", "make_shortcut", "zero_init_last", "SHORTCUTS"):
        assert getattr(old, name) is getattr(resnet_lib.models, name), name
