"""The package as a user gets it: sdist and wheel built, the wheel installed into a new venv
outside the repository, and ``updatable`` run from there (``make test-wheel``).

First with no extra (no matplotlib, no rich): the version, the demo's help, and a reduced
demo that trains a base model and two updates on the digits shipped inside the wheel, and
skips only the plot, saying how to get it. Then with the ``demo`` extra: the plot is drawn.
Packages come from the machine's package index and caches; nothing else is downloaded.
"""

from __future__ import annotations

import email
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import updatable

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
DIST = f"coreml_updatable-{updatable.__version__}"
IN_BOTH = (  # what a user needs besides the code, in the sdist and the wheel alike
    "runtime/mnist/mnist_5k.csv.gz",
    "runtime/mnist/README.md",
    "runtime/py.typed",
    "updatable/py.typed",
)


def run(*command, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``command`` in ``cwd`` with an environment that cannot reach the repository."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """The sdist, and the wheel built from it (so the sdist is proven complete)."""
    out = tmp_path_factory.mktemp("dist")
    ok(run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=out))
    (sdist,), (wheel,) = out.glob("*.tar.gz"), out.glob("*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory, built) -> Path:
    """A new venv outside the repository with the wheel installed, no extras."""
    home = tmp_path_factory.mktemp("user")
    assert ROOT not in home.parents
    ok(run(sys.executable, "-m", "venv", home / "venv", cwd=home))
    pip = (home / "venv" / "bin" / "python", "-m", "pip", "--disable-pip-version-check")
    ok(run(*pip, "install", "--quiet", built[1], cwd=home))
    return home


def test_the_sdist_holds_the_licence_the_data_and_the_changelog(built):
    with tarfile.open(built[0]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", *IN_BOTH):
        assert name in names, name


def test_the_wheel_holds_the_licence_the_data_and_its_metadata(built):
    with zipfile.ZipFile(built[1]) as archive:
        names = set(archive.namelist())
        metadata = email.message_from_bytes(archive.read(f"{DIST}.dist-info/METADATA"))
    for name in (f"{DIST}.dist-info/licenses/LICENSE", *IN_BOTH):
        assert name in names, name
    assert not any(name.startswith("tests/") for name in names)
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata["Version"] == updatable.__version__
    classifiers = metadata.get_all("Classifier")
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert {"demo", "test", "test-parity", "ort"} <= set(metadata.get_all("Provides-Extra"))


def test_the_installed_commands_run_from_outside_the_repository(venv):
    python, command = venv / "venv" / "bin" / "python", venv / "venv" / "bin" / "updatable"
    where = ok(run(python, "-c", "import runtime, updatable; print(runtime.__file__)", cwd=venv))
    assert str(venv / "venv") in where  # the installed copy, not the checkout
    versions = ok(
        run(
            python,
            "-c",
            "import importlib.metadata as m, runtime, updatable; "
            "print(runtime.__version__, updatable.__version__, m.version('coreml-updatable'))",
            cwd=venv,
        )
    )
    assert versions.split() == [updatable.__version__] * 3
    assert ok(run(command, "--version", cwd=venv)).strip() == f"updatable {updatable.__version__}"
    help_text = ok(run(command, "demo", "--help", cwd=venv))
    assert "usage: updatable demo" in help_text and "3    an optional package" in help_text


def test_the_demo_trains_without_extras_then_plots_with_the_demo_extra(venv, built):
    command, out = venv / "venv" / "bin" / "updatable", venv / "demo-output"
    first = run(command, "demo", "--quick", "--out", out, cwd=venv)
    text = ok(first)
    assert first.stderr == ""
    assert "No loss-curve.png this run" in text and "coreml-updatable[demo]" in text
    assert "MNIST, 5,000 real digits shipped with coreml-updatable" in text
    assert "Training every layer" in text and "20/20" in text and "Done in" in text
    for name in ("MNISTBase.mlmodel", "UpdatedClassifier.mlmodel", "UpdatedKNN.mlmodel"):
        assert (out / name).is_file(), name
    assert (out / "report.md").is_file() and not (out / "loss-curve.png").exists()

    pip = (venv / "venv" / "bin" / "python", "-m", "pip", "--disable-pip-version-check")
    ok(run(*pip, "install", "--quiet", f"{built[1]}[demo]", cwd=venv))
    text = ok(run(command, "demo", "--quick", "--out", out, cwd=venv))
    assert "No loss-curve.png" not in text and "Reusing the base model" in text
    assert (out / "loss-curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
