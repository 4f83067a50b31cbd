"""The toolkit's own defaults pass its own lint, and the lint's advice is a command that works.

``make-updatable`` (and ``set_optimizer`` with plain numbers) give every hyperparameter an
allowed range that Core ML's validator and the plausibility lint (X5) both accept; an X5
finding names the ``make-updatable`` option that fixes it, and following the advice clears it.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import updatable
from tests import builders

OPTIMIZERS = {"sgd": [], "adam": ["--optimizer", "adam"]}


def cli(*args):
    result = subprocess.run(
        [sys.executable, "-m", "updatable.cli", *map(str, args)], capture_output=True, text=True
    )
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "Classifier.mlmodel"
    updatable.save(builders.classifier_nn(labels=("cat", "dog", "bird")), path)
    return path


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_make_updatable_with_defaults_then_validate_warns_about_nothing(
    optimizer, classifier, tmp_path
):
    out = tmp_path / "Updatable.mlmodel"
    code, stdout, stderr = cli("make-updatable", classifier, "-o", out, *OPTIMIZERS[optimizer])
    assert code == 0 and stderr == "", stderr
    code, stdout, stderr = cli("validate", out)
    assert (code, stderr) == (0, "")
    assert stdout == f"{out}: valid (0 error(s), 0 warning(s))\n"
    assert updatable.validate(out) == []


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_library_defaults_are_lint_clean_too(optimizer):
    spec = builders.mnist_convnet()
    updatable.make_updatable(spec, ["dense_1", "dense_2"])
    updatable.set_loss(spec, "cross_entropy")
    updatable.set_optimizer(spec, optimizer)
    updatable.set_epochs(spec, 5)
    assert updatable.validate(spec) == []


# (options that trip X5, the option the advice must name, options that follow the advice)
ADVICE = [
    (["--lr-range", "0,1"], "--lr-range", ["--lr-range", "0.0001,1"]),
    (["--momentum-range", "0,1"], "--momentum-range", ["--momentum-range", "0,0.9"]),
    (["--optimizer", "adam", "--beta1-range", "0,1"], "--beta1-range",
     ["--optimizer", "adam", "--beta1-range", "0.5,0.99"]),
    (["--optimizer", "adam", "--beta2-range", "0,1"], "--beta2-range",
     ["--optimizer", "adam", "--beta2-range", "0.9,0.9999"]),
    (["--optimizer", "adam", "--eps-range", "0,1"], "--eps-range",
     ["--optimizer", "adam", "--eps-range", "1e-12,0.1"]),
]  # fmt: skip


@pytest.mark.parametrize("tripping, option, fixed", ADVICE, ids=[a[1] for a in ADVICE])
def test_x5_names_the_make_updatable_option_that_fixes_it(
    tripping, option, fixed, classifier, tmp_path
):
    out = tmp_path / "Out.mlmodel"
    code, _, stderr = cli("make-updatable", classifier, "-o", out, *tripping)
    assert code == 0, stderr
    findings = [issue for issue in updatable.validate(out) if issue.code == "X5"]
    assert len(findings) == 1, findings
    advice = re.search(r"fix: updatable make-updatable (--[a-z0-9-]+)", findings[0].message)
    assert advice is not None and advice.group(1) == option, findings[0].message
    _, usage, _ = cli("make-updatable", "--help")
    assert f"{option} MIN,MAX" in usage
    code, _, stderr = cli("make-updatable", classifier, "-o", out, *fixed)
    assert code == 0, stderr
    assert updatable.validate(out) == []


def test_a_default_outside_the_plain_range_says_how_to_widen_it(classifier, tmp_path):
    out = tmp_path / "Out.mlmodel"
    code, _, stderr = cli(
        "make-updatable", classifier, "-o", out, "--optimizer", "adam", "--eps", "0"
    )
    assert code == 2 and not out.exists()
    assert "'eps' = 0 lies outside the default allowed range [1e-10, 1]" in stderr
    code, _, stderr = cli("make-updatable", classifier, "-o", out, "--momentum", "1")
    assert code == 2 and "'momentum' = 1 lies outside the default allowed range" in stderr
