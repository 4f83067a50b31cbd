"""What pip reads: the version, the extras and their environment markers, and the torch pin
of the Makefile, checked without building anything (``tests/test_wheel.py`` builds)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

import runtime
import updatable

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = {
    name: [Requirement(line) for line in lines]
    for name, lines in PROJECT["optional-dependencies"].items()
}
# (platform_system, platform_machine, python_version) -> is there an onnxruntime-training wheel
MACHINES = {
    ("Linux", "x86_64", "3.11"): True,
    ("Linux", "x86_64", "3.12"): False,
    ("Linux", "x86_64", "3.13"): False,
    ("Linux", "aarch64", "3.11"): False,
    ("Darwin", "arm64", "3.11"): False,
    ("Darwin", "x86_64", "3.13"): False,
}


def selected(requirements: list[Requirement], machine: tuple[str, str, str]) -> set[str]:
    """The names of ``requirements`` pip installs on ``machine``."""
    system, arch, python = machine
    environment = default_environment() | {
        "platform_system": system,
        "platform_machine": arch,
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": system.lower(),
    }
    return {r.name for r in requirements if r.marker is None or r.marker.evaluate(environment)}


def test_one_version_for_both_packages_and_the_metadata():
    assert runtime.__version__ is updatable.__version__
    assert importlib.metadata.version("coreml-updatable") == updatable.__version__
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT


@pytest.mark.parametrize("machine", MACHINES, ids="-".join)
@pytest.mark.parametrize("extra", ["ort", "test"])
def test_onnxruntime_training_only_where_it_has_wheels_plain_onnxruntime_elsewhere(extra, machine):
    names = selected(EXTRAS[extra], machine)
    expected = "onnxruntime-training" if MACHINES[machine] else "onnxruntime"
    assert names & {"onnxruntime", "onnxruntime-training"} == {expected}
    assert "onnx" in names


def test_no_exact_pins_and_torch_only_in_the_parity_extra():
    for name, requirements in [("dependencies", PROJECT["dependencies"]), *EXTRAS.items()]:
        for requirement in map(Requirement, map(str, requirements)):
            assert all(s.operator != "==" for s in requirement.specifier), (name, requirement)
    holding_torch = {name for name, reqs in EXTRAS.items() if any(r.name == "torch" for r in reqs)}
    assert holding_torch == {"test-parity"}


def test_the_makefile_torch_pin_meets_the_parity_range():
    """The Makefile installs its torch first; were it outside the range, pip would replace it
    with the newest torch (on Linux, gigabytes of CUDA libraries)."""
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^TORCH \?= torch==(\S+)$", makefile, re.MULTILINE)
    assert pinned is not None, "Makefile: no `TORCH ?= torch==X` line"
    (torch,) = (r for r in EXTRAS["test-parity"] if r.name == "torch")
    assert Version(pinned.group(1)) in torch.specifier


def test_classifiers_name_every_python_that_requires_python_allows():
    classifiers = set(PROJECT["classifiers"])
    assert PROJECT["requires-python"] == ">=3.11"
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert {"Operating System :: MacOS", "Operating System :: POSIX :: Linux"} <= classifiers
    assert PROJECT["license"] == "BSD-3-Clause" and PROJECT["license-files"] == ["LICENSE"]
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()


def test_a_plain_install_trains_and_runs_the_demo_without_importing_an_extra():
    """``pip install coreml-updatable`` has none of the extras: the modules training and the demo
    import must not pull them in at import time (the ORT backend is loaded when asked for)."""
    code = (
        "import sys\n"
        "import runtime, updatable, runtime.demo, runtime.training.task, updatable.cli\n"
        "import runtime.jobs, runtime.sweeps\n"
        "extras = ('onnx', 'onnxruntime', 'torch', 'coremltools', 'matplotlib', 'sklearn')\n"
        "loaded = sorted(name for name in extras if name in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
