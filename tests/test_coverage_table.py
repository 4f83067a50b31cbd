"""The coverage table (docs/supported-layers.md) is what the proto and the registries say now,
and each of its columns reads the table that decides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.optional import needs

pytestmark = needs("onnx")  # the ONNX export column reads runtime.ort's converters

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "supported-layers.md"


@pytest.fixture(scope="module")
def coverage():
    from runtime.tools import coverage

    return coverage


@pytest.fixture(scope="module")
def layer_rows(coverage):
    return {kind: coverage.layer_row(kind) for kind in coverage.layer_kinds()}


@pytest.fixture(scope="module")
def model_rows(coverage):
    return {kind: coverage.model_row(kind) for kind in coverage.model_types()}


def test_the_document_is_what_the_registries_say_now(coverage):
    expected = coverage.markdown()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == expected, (
        f"docs/supported-layers.md is stale: refresh it with `{coverage.COMMAND}` (then commit it)"
    )


def test_every_case_of_both_oneofs_has_one_row(coverage, layer_rows, model_rows):
    assert len(layer_rows) == 158
    assert len(model_rows) == len(set(coverage.model_types())) == 37
    text = coverage.markdown()
    for kind in [*layer_rows, *model_rows]:
        assert text.count(f"| `{kind}` |") == 1, kind


def test_forward_column_is_the_layer_registry(layer_rows):
    from runtime.nn.layers import REGISTRY

    runs = {k for k, r in layer_rows.items() if r.forward.startswith("runs")}
    assert runs == set(REGISTRY) - {"custom"}
    assert "register_custom_layer" in layer_rows["custom"].forward
    seeded = {k for k, r in layer_rows.items() if "seeded" in r.forward}
    assert "categoricalDistribution" in seeded and "randomUniformStatic" in seeded
    assert all(k.startswith("random") or k == "categoricalDistribution" for k in seeded)


def test_backward_column_is_the_units_backward(layer_rows):
    from runtime.nn.layers import get_kind

    for kind, row in layer_rows.items():
        assert (row.backward == "yes") == (get_kind(kind).backward is not None), kind


def test_update_column_runs_core_mls_rules(layer_rows):
    from updatable.validation.backprop import BACKPROP_ACTIVATIONS, BACKPROP_LAYERS

    updatable = {k for k, r in layer_rows.items() if r.update == "updatable"}
    # NeuralNetwork.proto / Core ML's validator: the kinds that may hold updatable weights
    assert updatable == {"convolution", "innerProduct", "uniDirectionalLSTM"}
    passing = {k for k, r in layer_rows.items() if r.update.startswith("gradients pass")}
    assert passing == (BACKPROP_LAYERS - updatable) | {"activation"}
    listed = layer_rows["activation"].update.split("(")[1].rstrip(")").split(", ")
    assert set(listed) == BACKPROP_ACTIVATIONS


def test_onnx_and_validator_columns_are_their_tables(layer_rows, model_rows):
    from runtime.ort.export import CONVERTERS
    from updatable.spec import NEURAL_NETWORK_TYPES
    from updatable.validation.layer_rules.registry import LAYER_RULES

    assert {k for k, r in layer_rows.items() if r.onnx == "converts"} == set(CONVERTERS)
    assert {k for k, r in model_rows.items() if r.onnx == "converts"} == set(NEURAL_NETWORK_TYPES)
    for kind, row in layer_rows.items():
        assert row.validator == f"{len(LAYER_RULES[kind])} rule(s)", kind


def test_model_types_say_why_they_do_not_run(model_rows):
    from runtime.model.engines import ENGINES
    from updatable.validation.generic import UPDATABLE_TYPES

    assert {k for k, r in model_rows.items() if r.forward == "runs"} == set(ENGINES)
    for kind, row in model_rows.items():
        if kind not in ENGINES:
            assert row.forward.startswith("refused: "), kind
            assert "\n" not in row.forward and "|" not in row.forward
    assert "no off-device implementation" in model_rows["visionFeaturePrint"].forward
    assert {k for k, r in model_rows.items() if r.update == "updatable"} == UPDATABLE_TYPES
    assert model_rows["kNearestNeighborsClassifier"].backward == "trains"
    assert model_rows["glmClassifier"].backward == "-"


def test_the_check_mode_of_the_script_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    from scripts import coverage_table

    stale = tmp_path / "supported-layers.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(coverage_table, "DOC", stale)
    monkeypatch.setattr(coverage_table, "ROOT", tmp_path)
    assert coverage_table.main(["--check"]) == 1
    assert "python scripts/coverage_table.py" in capsys.readouterr().out
    assert stale.read_text(encoding="utf-8") == "old\n"  # --check writes nothing
    assert coverage_table.main([]) == 0
    assert stale.read_text(encoding="utf-8") == coverage_table.markdown()
    assert coverage_table.main(["--check"]) == 0
