"""Sweeps end to end (in this process): rows, divergence, kNN and pipelines, the report,
the recommendation and ``--apply``, resumption, and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

import runtime
import updatable
from runtime.sweeps import run_sweep
from runtime.sweeps.runner import MEASURED_FIELDS
from runtime.sweeps.store import RESULTS
from tests import builders
from tests.optional import installed, needs
from updatable.cli import main
from updatable.errors import SweepError
from updatable.params import DoubleParam

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # diverging on purpose


def blobs(labels=("a", "b", "c"), per_class=30, dims=4, spread=0.3, seed=0):
    """Well separated Gaussian classes: every sane learning rate reaches full accuracy."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((len(labels), dims)) * 4
    index = np.repeat(np.arange(len(labels)), per_class)
    x = centers[index] + rng.standard_normal((len(index), dims)) * spread
    return x.astype(np.float32), np.asarray(labels)[index]


def deterministic(rows):
    return [{k: v for k, v in row.items() if k not in MEASURED_FIELDS} for row in rows]


USERS = "4x2classes:4shots:5test:seed=0"
LEARNING_RATES = {"learningRate": [0.05, 0.5, 50.0, 1e30]}


@pytest.fixture(scope="module")
def diverging(tmp_path_factory):
    """A sweep of learning rates from sane to absurd, with three batch sizes."""
    out = tmp_path_factory.mktemp("sweep")
    spec = builders.sweep_classifier(lr_range=(0.0, 1e30))
    table = run_sweep(
        spec,
        USERS,
        blobs(),
        values=LEARNING_RATES,
        params=["miniBatchSize"],
        executor="serial",
        out=out,
    )
    return table, out


def test_every_combination_runs_for_every_user(diverging):
    table, _ = diverging
    assert len(table) == 4 * 3 * 4 and table.ran == len(table) and table.reused == 0
    keys = [row["key"] for row in table]
    assert keys[0] == "learningRate=0.05,miniBatchSize=1|user=0"
    assert len(set(keys)) == len(keys)
    row = table[0]
    assert row["combination"] == {"learningRate": 0.05, "miniBatchSize": 1}
    assert row["n_train"] == 8 and row["n_test"] == 10 and len(row["classes"]) == 2
    assert row["status"] == "ok" and len(row["epoch_losses"]) == 5  # epochs held at 5
    assert row["task_loss"] == row["epoch_losses"][-1]  # Core ML: completion = last loss
    assert row["train_loss"] < row["train_loss_before"] and row["test_accuracy"] == 1.0
    assert row["seconds"] > 0 and row["peak_memory_mb"] > 0


@needs("pandas")
def test_the_table_as_a_data_frame(diverging):
    table, _ = diverging
    frame = table.to_pandas()
    assert list(frame["learningRate"][:2]) == [0.05, 0.05] and len(frame) == len(table)


def test_a_deliberately_bad_learning_rate_is_detected_as_divergence(diverging):
    table, _ = diverging
    by_rate = {}
    for row in table:
        by_rate.setdefault(row["combination"]["learningRate"], []).append(row)
    assert not any(r["diverged"] for rate in (0.05, 0.5) for r in by_rate[rate])
    # an absurd rate makes the loss (or first the weights) non-finite: the task fails
    assert all(
        r["diverged"]
        and r["nonfinite"]
        and r["status"] == "failed"
        and r["error_kind"] == "nonfinite"
        and ("the loss became" in r["error"] or "the weights of layer" in r["error"])
        for r in by_rate[1e30]
    )
    # a large one keeps the loss finite but ends above where it started for some users
    rising = [r for r in by_rate[50.0] if r["diverged"]]
    assert rising and all(
        r["status"] == "ok" and r["train_loss"] > r["train_loss_before"] for r in rising
    )
    flags = {s.combination["learningRate"]: s.flags for s in table.summaries}
    assert "diverged" in flags[1e30] and "diverged" in flags[50.0]
    assert "diverged" not in flags[0.05]


def test_the_recommendation_drops_the_diverging_rates_and_apply_writes_it(diverging, tmp_path):
    table, _ = diverging
    recommendation = table.recommendation
    assert recommendation.summary == "learningRate range [0.05, 0.5]"
    assert recommendation.unresolved == []
    assert recommendation.lines[0].startswith(
        "learningRate: range [0, 1e+30] -> range [0.05, 0.5], default 0.05 (dropped 50.0: "
        "diverged in "
    )
    assert recommendation.lines[1] == (
        "miniBatchSize: keep set {1, 4, 16} (every swept value trained well)"
    )
    out = tmp_path / "Tighter.mlmodel"
    table.write_recommended(out)
    written = updatable.load(out)
    updatable.check(written)
    sgd = written.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer
    assert DoubleParam.from_proto(sgd.learningRate) == DoubleParam(0.05, range=(0.05, 0.5))
    assert list(sgd.miniBatchSize.set.values) == [1, 4, 16]
    # everything but the constraint is the model as it was
    original = builders.sweep_classifier(lr_range=(0.0, 1e30))
    sgd_before = original.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer
    sgd_before.learningRate.range.minValue, sgd_before.learningRate.range.maxValue = 0.05, 0.5
    assert written == original


def test_the_reports_are_written(diverging):
    table, out = diverging
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recommendation"]["summary"] == "learningRate range [0.05, 0.5]"
    assert summary["recommendation"]["constraints"] == {
        "learningRate": {"default": 0.05, "range": [0.05, 0.5]}
    }
    assert len(summary["combinations"]) == 12
    first = summary["combinations"][0]
    assert first["combination"] == {"learningRate": 0.05, "miniBatchSize": 1}
    assert first["test_accuracy"]["median"] == 1.0 and first["users"] == 4
    markdown = (out / "report.md").read_text()
    assert "| 1e+30 | 16 | 4 | - | - | 1 | - | 4/4 | 0/4 |" in markdown
    assert "**learningRate range [0.05, 0.5]**" in markdown
    assert "<tr class='bad'>" in (out / "report.html").read_text()
    if installed("matplotlib"):  # the heat map is the one report that needs it
        assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert not (out / "heatmap.png").exists()
    lines = (out / RESULTS).read_text().splitlines()
    assert len(lines) == len(table) and json.loads(lines[0])["key"] == table[0]["key"]


def test_an_interrupted_sweep_resumes_and_skips_finished_tasks(tmp_path):
    spec = builders.sweep_classifier(lr_range=(0.0, 1.0))
    options = dict(params=["learningRate"], lr_grid=3, executor="serial", out=tmp_path)

    def stop_after_five(done, total, row):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, USERS, blobs(), progress=stop_after_five, **options)
    assert len((tmp_path / RESULTS).read_text().splitlines()) == 5
    # a crash mid-line leaves a cut row: it is ignored and re-run
    with open(tmp_path / RESULTS, "ab") as handle:
        handle.write(b'{"key": "learningRate=0.1,miniBa')
    seen = []
    table = run_sweep(
        spec, USERS, blobs(), progress=lambda d, t, r: seen.append(r["key"]), **options
    )
    assert table.reused == 5 and table.ran == len(table) - 5 == len(seen)
    assert not set(seen) & {row["key"] for row in table[:5]}
    fresh = run_sweep(spec, USERS, blobs(), params=["learningRate"], lr_grid=3, executor="serial")
    assert deterministic(table) == deterministic(fresh)
    # a finer grid reuses what overlaps
    finer = run_sweep(spec, USERS, blobs(), **{**options, "lr_grid": 4})
    assert finer.reused == len(table) and finer.ran == 4


def test_an_output_directory_of_another_sweep_is_refused(tmp_path):
    spec = builders.sweep_classifier(lr_range=(0.0, 1.0))
    run_sweep(
        spec,
        "2x2classes:2shots:2test",
        blobs(),
        values={"learningRate": [0.1]},
        params=[],
        executor="serial",
        out=tmp_path,
    )
    with pytest.raises(SweepError, match="holds the results of another sweep"):
        run_sweep(
            spec,
            "2x2classes:2shots:2test:seed=1",
            blobs(),
            params=[],
            executor="serial",
            out=tmp_path,
        )


def test_a_knn_sweep_flags_k_too_large_for_a_users_examples():
    knn = builders.knn_classifier(dims=4, default_label="none", k=3, k_range=(1, 20))
    # users without class structure: 6 random examples, so their classes are unbalanced
    table = runtime.sweep(knn, "6users:6shots:10test", blobs(spread=1.5), executor="serial")
    by_k = {s.combination["numberOfNeighbors"]: s for s in table.summaries}
    assert sorted(by_k) == [1, 2, 3, 4, 9, 20]
    assert by_k[1].test_accuracy.median == 0.9
    assert by_k[1].test_accuracy_before.median == 0.0  # the empty kNN answers "none"
    # k >= 6 votes over all of a user's examples: the majority class wins everywhere
    assert by_k[20].test_accuracy.median == 0.45 and "underperforming" in by_k[20].flags
    assert by_k[9].test_accuracy == by_k[20].test_accuracy
    assert all(r["train_loss"] is None and not r["diverged"] for r in table)
    assert table.recommendation.summary == (
        "numberOfNeighbors range [1, 2]; default numberOfNeighbors 2"
    )
    tightened = table.recommendation.apply(knn)
    k = tightened.kNearestNeighborsClassifier.numberOfNeighbors
    assert (k.defaultValue, k.range.minValue, k.range.maxValue) == (2, 1, 2)


def test_pipelines_sweep_their_last_model():
    pipeline = builders.features_head_pipeline()
    table = run_sweep(
        pipeline,
        "3x2classes:4shots:4test",
        blobs(("cat", "dog")),
        params=["learningRate", "miniBatchSize"],
        lr_grid=3,
        executor="serial",
    )
    assert {r["combination"]["miniBatchSize"] for r in table} == {2, 4}
    assert all(r["status"] == "ok" and r["test_accuracy"] is not None for r in table)
    moved = [r for r in table if r["combination"]["learningRate"] > 0]
    assert all(r["train_loss"] != r["train_loss_before"] for r in moved)
    frozen = [r for r in table if r["combination"]["learningRate"] == 0]
    assert all(r["train_loss"] == r["train_loss_before"] for r in frozen)
    knn_pipeline = updatable.make_pipeline(
        builders.embedding_extractor(),
        builders.knn_classifier(dims=6, default_label="none", k=1, k_set={1, 3}),
    )
    x, y = blobs(dims=64, spread=0.5)
    table = run_sweep(
        knn_pipeline, "2x2classes:3shots:3test", (x.reshape(-1, 8, 8), y), executor="serial"
    )
    assert [s.combination for s in table.summaries] == [
        {"numberOfNeighbors": 1},
        {"numberOfNeighbors": 3},
    ]
    assert all(r["test_accuracy"] is not None for r in table)


def test_data_that_does_not_fit_fails_before_the_sweep_starts():
    spec = builders.sweep_classifier()
    with pytest.raises(SweepError, match=r"each example has shape \(5,\)"):
        run_sweep(spec, USERS, blobs(dims=5), executor="serial")


# --- command line ----------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    updatable.save(builders.sweep_classifier(lr_range=(0.0, 100.0)), tmp_path / "m.mlmodel")
    x, y = blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    return tmp_path


def test_the_command_line_sweeps_reports_and_applies(files, capsys):
    args = [
        "sweep", str(files / "m.mlmodel"), "--users", "3x2classes:3shots:3test",
        "--data", str(files / "d.npz"), "--serial", "--params", "learningRate",
        "--values", "learningRate=0.05,100", "-o", str(files / "out"),
        "--apply", str(files / "fixed.mlmodel"),
    ]  # fmt: skip
    assert main(args) == 0  # a combination diverged: a finding, not a failure
    out = capsys.readouterr().out
    assert "1 of 2 combinations flagged" in out
    # the report says what its terms mean, with the thresholds it judged by
    assert "diverged: at least one user's update ended in a NaN" in out and "by more than 1%" in out
    assert "dominated: (informational, not a problem)" in out
    assert "recommended: learningRate range [0.05, 0.05]" in out
    assert f"wrote {files / 'fixed.mlmodel'} with: learningRate range [0.05, 0.05]" in out
    fixed = updatable.load(files / "fixed.mlmodel")
    sgd = fixed.neuralNetworkClassifier.updateParams.optimizer.sgdOptimizer
    assert (sgd.learningRate.range.minValue, sgd.learningRate.range.maxValue) == (0.05, 0.05)
    # the same sweep again: everything reused; --fail-on-flag turns the finding into exit 1
    assert main([*args[:-2], "--json", "--fail-on-flag"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ran"] == 0 and document["reused"] == 6
    assert "underperforming" in document["flag_meanings"]
    assert "diverged" in document["combinations"][1]["flags"]
    assert "dominated" in (files / "out" / "report.md").read_text()
    clean = [*args[:9], "--values", "learningRate=0.05,0.5", "-o", str(files / "out2")]
    assert main([*clean, "--fail-on-flag"]) == 0
    # --apply never writes over MODEL
    assert main([*clean, "--apply", args[1]]) == 2
    assert "never writes over an input" in capsys.readouterr().err


def test_the_command_line_dry_run_and_errors(files, capsys):
    model, data = str(files / "m.mlmodel"), str(files / "d.npz")
    assert (
        main(
            [
                "sweep",
                model,
                "--users",
                "20x2classes",
                "--data",
                data,
                "--dry-run",
                "--lr-grid",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "learningRate: default 0.05, allowed range [0, 100]: 0, 0.05, 10, 100" in out
    assert "72 combinations x 20 users = 1440 user updates" in out
    spec = updatable.load(model)
    spec.neuralNetworkClassifier.updateParams.epochs.ClearField("set")
    updatable.save(spec, files / "open.mlmodel")
    code = main(["sweep", str(files / "open.mlmodel"), "--users", "2x2classes", "--data", data])
    assert code == 2
    assert "cannot sweep 'epochs'" in capsys.readouterr().err
    assert (
        main(["sweep", model, "--users", "2x2classes", "--data", data, "--values", "learningRate"])
        == 2
    )
    assert "--values expects NAME=V1,V2" in capsys.readouterr().err
    assert main(["sweep", model, "--users", "2x9classes", "--data", data, "--serial"]) == 1
    assert "needs 9 classes but the data has only 3" in capsys.readouterr().err
