"""The package's dependencies point one way: data at the bottom, notebooks and command lines at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "helpers"

#: Lowest layer first; a module may import only modules of its own or a lower layer.
LAYERS: list[set[str]] = [
    {"config", "backend"},  # backend: the Keras backend in use and what differs between backends
    {"artifacts", "profiles", "shipped"},  # shipped: the packaged model file, checked against its SHA-256
    {"datasets", "quality"},
    {"synthetic"},
    {"loaders", "ferplus"},  # FER-2013 CSV, folders, zip and the cache; FER+'s two forms and label rules
    {"audit", "faces", "pipeline", "models", "loop", "plots", "display"},  # plots draw given arrays
    {"photos", "training"},
    {"evaluation"},
    {"inference"},
    {"experiments", "predict", "bench", "runner", "check"},
    # study: several seeds of several recipes; release: the shipped model; transfer: fine-tuned against from scratch
    {"report", "study", "release", "finetune", "transfer"},
]
DATA_LAYER = {"datasets", "quality", "synthetic", "loaders", "ferplus"}


def project_imports(path: Path) -> set[str]:
    """Names of ``helpers`` modules that ``path`` imports (anywhere in the file, lazily or not)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helpers":
            out |= {a.name for a in node.names} if node.module == "helpers" else {node.module.split(".")[1]}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("helpers.")}
    return out


GRAPH = {p.stem: project_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
LAYER_OF = {m: i for i, layer in enumerate(LAYERS) for m in layer}


def test_every_module_has_a_layer():
    assert set(GRAPH) == set(LAYER_OF), set(GRAPH) ^ set(LAYER_OF)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    up = {m for m in GRAPH[module] if LAYER_OF[m] > LAYER_OF[module]}
    assert not up, f"{module} imports higher-layer module(s) {up}"


def test_no_import_cycles():
    def visit(m: str, stack: tuple[str, ...]) -> None:
        for n in GRAPH[m]:
            assert n not in stack, "import cycle: " + " -> ".join((*stack, n))
            visit(n, (*stack, n))

    for m in GRAPH:
        visit(m, (m,))


def test_data_layer_never_imports_inference_evaluation_training_or_faces():
    for m in DATA_LAYER:
        bad = GRAPH[m] & {"inference", "evaluation", "training", "faces", "photos", "models", "pipeline"}
        assert not bad, (m, bad)
