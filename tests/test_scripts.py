"""Smoke tests: every script in ``scripts/`` that is not a benchmark runs and does its job.

Each script runs as a user would run it (``python scripts/NAME.py ...`` in a subprocess), with
small settings; the test then checks what it printed and wrote. A new script must get an
entry in ``RUNS`` (a test fails otherwise); modules without a ``main`` are imported and used.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import updatable
from tests.optional import needs

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def _scripts() -> list[str]:
    return sorted(
        p.stem
        for p in SCRIPTS.glob("*.py")
        if not p.stem.startswith(("_", "bench_"))  # _name: a script's helper module
    )


def run_script(name: str, *args, cwd=None):
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=300,
    )
    assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
    return result.stdout


def check_make_nn(tmp: Path) -> None:
    out = run_script("make_nn", "--out", tmp)
    for name in ("PretrainedHead", "Brainwashed"):
        spec = updatable.load(tmp / f"{name}.mlmodel")
        assert spec.isUpdatable and not any(i.severity == "error" for i in updatable.validate(spec))
        assert f"wrote {tmp / name}.mlmodel" in out


def check_make_knn(tmp: Path) -> None:
    run_script("make_knn", "--out", tmp, "--linked", "--k", "5")
    pipeline = updatable.load(tmp / "UpdatableDrawingClassifier.mlmodel")
    assert pipeline.isUpdatable and updatable.validate(pipeline, lint=False) == []
    assert (tmp / "DrawingEmbedding.mlmodel").exists()
    assert (tmp / "UpdatableDrawingClassifierLinked.mlmodel").exists()


def check_train_base_mnist(tmp: Path) -> None:
    out = run_script("train_base_mnist", "--out", tmp / "base.mlmodel", "--quick", "--epochs", "1")
    assert re.search(r"epoch 1/1: loss [\d.]+ \(mean [\d.]+\), validation accuracy", out)
    accuracy = float(re.search(r"validation accuracy ([\d.]+)% after 1 epochs", out).group(1))
    assert accuracy > 80
    spec = updatable.load(tmp / "base.mlmodel")
    assert not spec.isUpdatable and updatable.validate(spec) == []
    assert list(spec.neuralNetworkClassifier.stringClassLabels.vector) == list("0123456")


def check_anneal_learning_rate(tmp: Path) -> None:
    out = run_script("anneal_learning_rate", "--epochs", "3", "--examples", "96", "--factor", "0.5")
    rates = [float(r) for r in re.findall(r"learning rate ([\d.e-]+), loss", out)]
    assert rates == pytest.approx([0.003, 0.0015, 0.00075])  # halved at every epoch end
    assert "learning rate 0.003 -> 0.00075 over 3 epochs" in out


def check_augment(tmp: Path) -> None:
    out = run_script("augment", "--epochs", "8")
    found = dict(re.findall(r"(with(?:out)? augmentation): held-out accuracy ([\d.]+)%", out))
    assert set(found) == {"without augmentation", "with augmentation"}
    assert all(float(v) > 40 for v in found.values())  # both updates learn the new digits


def check_architectures(tmp: Path) -> None:
    """A module of networks for the benchmarks: build one, validate it, run it."""
    import numpy as np

    import runtime

    sys.path.insert(0, str(ROOT))
    from scripts.architectures import SQUEEZENET_INPUT, squeezenet_1_1

    spec = squeezenet_1_1(num_classes=10)
    assert updatable.validate(spec, lint=False) == []
    image = np.random.default_rng(0).random(SQUEEZENET_INPUT, dtype=np.float32)
    probabilities = runtime.Model.load(spec).predict({"data": image})["probs"]
    assert probabilities.shape == (10,) and abs(float(probabilities.sum()) - 1) < 1e-4


def check_survey_models(tmp: Path) -> None:
    """The survey of the test zoo: one converted torch model and one builder network."""
    report = tmp / "survey.md"
    out = run_script(
        "survey_models",
        "--models",
        "tabular_mlp",
        "keras_digit_cnn",
        "--targets",
        "iOS13",
        "--markdown",
        report,
    )
    assert re.search(r"tabular_mlp +iOS13 +neuralNetworkClassifier +4 +6 ", out)
    assert re.search(r"keras_digit_cnn +- +neuralNetworkClassifier +1 +12 +ok; runs +ok", out)
    assert re.search(r"softmaxND +(yes|NO) +1 +1 +tabular_mlp", out)
    text = report.read_text()
    assert "- `axis=1 | input rank 2` — tabular_mlp" in text
    assert re.search(r"\| innerProduct \| yes \| 2 \| 3 \| 2 \|", text)  # models: 3 + 2 layers


def check_fuzz_models(tmp: Path) -> None:
    out = run_script("fuzz_models", "--count", "40", "--seed", "3")
    assert re.search(r"^40 mutants, seed 3, [0-9.]+ s; [0-9]+ passed validation$", out, re.M)
    assert "broke the promise" not in out
    replay = run_script("fuzz_models", "--replay", "3:5")
    assert replay.startswith("mutant 5 of seed 3: base '")


RUNS = {
    "make_nn": check_make_nn,
    "make_knn": check_make_knn,
    "train_base_mnist": check_train_base_mnist,
    "anneal_learning_rate": check_anneal_learning_rate,
    "augment": check_augment,
    "architectures": check_architectures,
    "survey_models": check_survey_models,
    "fuzz_models": check_fuzz_models,
}


def test_every_script_has_a_smoke_test():
    assert sorted(RUNS) == _scripts()


# script -> the optional packages it needs (the survey converts torch models)
NEEDS = {"survey_models": ("torch",)}


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=needs(*NEEDS.get(name, ()))) for name in sorted(RUNS)]
)
def test_script_runs(name, tmp_path):
    RUNS[name](tmp_path)
