"""The package's dependencies point one way: data at the bottom, notebooks and command lines at the top.

Each layer is a folder of ``helpers/`` (the foundation modules sit at its top level). A module may import modules of
its own layer or of a lower one, never of a higher one, and no imports close a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "helpers"

#: Lowest layer first: the foundation modules, then one folder per layer.
LAYERS = ["", "data", "models", "training", "evaluation", "inference", "workbook", "cli"]
FOUNDATION = {"config", "backend", "artifacts"}


def module_name(path: Path) -> str:
    """Dotted name below ``helpers``: ``data.fer2013``, ``training`` for ``training/__init__.py``, ``config``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    return 0 if top in FOUNDATION else LAYERS.index(top)


def project_imports(path: Path) -> set[str]:
    """Dotted names (below ``helpers``) of the package's modules that ``path`` imports, lazily or not (imports for
    type annotations only, under ``if TYPE_CHECKING:``, are not run and do not count)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
        for n in ast.walk(block)
    }
    out = set()
    for node in (n for n in ast.walk(tree) if id(n) not in typing_only):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helpers":
            base = node.module.split(".")[1:]
            for alias in node.names:
                candidate = ".".join([*base, alias.name])
                known = (PACKAGE / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    PACKAGE / Path(*candidate.split("."))
                ).is_dir()
                out.add(candidate if known else ".".join(base))
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("helpers.")}
    return {m for m in out if m}


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py" and p != PACKAGE / "__init__.py")
GRAPH = {module_name(p): project_imports(p) for p in MODULES}


def test_every_module_sits_in_a_layer():
    for module in GRAPH:
        assert module.split(".")[0] in FOUNDATION or module.split(".")[0] in LAYERS, module


def test_layer_folders_are_packages():
    for layer in LAYERS[1:]:
        assert (PACKAGE / layer / "__init__.py").exists(), layer


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    up = {m for m in GRAPH[module] if layer_of(m) > layer_of(module)}
    assert not up, f"{module} imports higher-layer module(s) {up}"


def test_no_import_cycles():
    def visit(m: str, stack: tuple[str, ...]) -> None:
        for n in GRAPH.get(m, ()):
            if n == m or (m == n.split(".")[0] and "." in n):  # a package's __init__ re-exports its own modules
                continue
            assert n not in stack, "import cycle: " + " -> ".join((*stack, n))
            visit(n, (*stack, n))

    for m in GRAPH:
        visit(m, (m,))


def test_the_data_layer_knows_nothing_of_models_training_or_photos():
    for module, imports in GRAPH.items():
        if module.startswith("data."):
            assert all(layer_of(m) <= LAYERS.index("data") for m in imports), (module, imports)


def test_the_layer_imports_are_real():
    """The graph is not empty by accident: the notebook support imports training and evaluation."""
    assert {"training", "evaluation"} <= GRAPH["workbook.experiments"]


def test_every_command_is_a_cli_module_with_main_and_the_dispatcher_lists_it(capsys):
    import importlib

    from helpers.__main__ import COMMANDS, main

    cli_modules = {p.stem for p in (PACKAGE / "cli").glob("*.py") if p.stem != "__init__"}
    assert set(COMMANDS) == cli_modules
    for command in COMMANDS:
        assert callable(importlib.import_module(f"helpers.cli.{command}").main), command
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(c in listed for c in COMMANDS)
    assert main(["no-such-command"]) == 2 and "unknown command" in capsys.readouterr().err
    assert main([]) == 2
