"""The conda environment and the pip pins agree; the Makefile documents every target."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(text: str, sep: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = re.match(rf"^\s*-?\s*([A-Za-z0-9_.\-]+)\s*{sep}\s*([0-9][^\s;#]*)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def requirements(name: str) -> str:
    """A requirements file with the files it includes (``-r other.txt``) expanded."""
    lines = (ROOT / name).read_text().splitlines()
    return "\n".join(requirements(ln.split()[1]) if ln.startswith("-r ") else ln for ln in lines)


def test_conda_and_pip_pins_agree():
    pip = pins(requirements("requirements.txt") + "\n" + requirements("requirements-dev.txt"), "==")
    env = (ROOT / "environment.yml").read_text()
    conda = pins(env, "=(?!=)") | pins(env, "==")
    for name, version in conda.items():
        if name != "python":
            assert pip.get(name) == version, f"{name}: environment.yml {version} vs requirements {pip.get(name)}"
    missing = set(pip) - set(conda) - {"tensorflow"}
    assert not missing, f"in requirements but not environment.yml: {missing}"


def test_make_help_lists_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M)) - {"help"}
    documented = set(re.findall(r"^([a-z][a-z-]*):.*## ", makefile, re.M))
    assert targets <= documented | {"help"}, f"targets without a ## description: {targets - documented}"
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    for t in ("setup", "run-all", "test", "bench", "report", "lab"):
        assert t in out


def test_every_backend_shares_the_core_pins():
    """Each backend's requirements are the shared pins plus that backend; only TensorFlow's carry TensorFlow."""
    core = pins(requirements("requirements-core.txt"), "==")
    for name in ("requirements.txt", "requirements-jax.txt", "requirements-torch.txt"):
        text = requirements(name)
        assert core.items() <= pins(text, "==").items(), name
        assert ("tensorflow" in text) == (name == "requirements.txt"), name
