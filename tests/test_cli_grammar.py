"""One grammar for every verb: MODEL first, -o/--out for what it writes, an input overwritten
only with --in-place, the previous release's spellings as deprecated aliases (one line on
stderr), exit codes in every --help, and tables that fit the terminal."""

from __future__ import annotations

import io
import re

import pytest

import updatable
from tests import builders
from updatable.cli import VERBS, build_parser, main

# verb -> what its -o/--out names (every verb that writes something)
WRITERS = ("make-updatable", "export-ort", "import-ort", "train", "sweep", "demo")
DEPRECATED = "deprecated: the positional OUT is now -o/--out; the old spelling will be removed"


def sub_parsers() -> dict:
    return build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]


def help_text(verb: str) -> str:
    return sub_parsers()[verb].format_help()


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "Classifier.mlmodel"
    updatable.save(builders.classifier_nn(labels=("cat", "dog")), path)
    return path


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_help_documents_each_exit_code(verb):
    text = help_text(verb)
    codes = re.findall(r"^  (\d+) +\S", text.split("exit codes:\n")[1], re.M)
    assert codes == ["0", "1", "2", "3", "130"], (verb, codes)
    assert text.split("usage: updatable ")[1].split()[0] == verb
    # MODEL is the first positional argument of every verb but the demo (it builds its own)
    positionals = [a.metavar for a in sub_parsers()[verb]._actions if not a.option_strings]
    assert verb == "demo" or positionals[0] == "MODEL", (verb, positionals)


@pytest.mark.parametrize("verb", WRITERS)
def test_every_verb_that_writes_names_its_output_with_o_out(verb):
    options = {o for a in sub_parsers()[verb]._actions for o in a.option_strings}
    assert {"-o", "--out"} <= options, verb
    assert "--output" not in help_text(verb)  # the deprecated spelling is not advertised


def test_make_updatable_positional_out_still_works_with_a_note(model, tmp_path, capsys):
    out = tmp_path / "Old.mlmodel"
    assert main(["make-updatable", str(model), str(out)]) == 0
    err = capsys.readouterr().err
    assert f"updatable make-updatable: {DEPRECATED}" in err and len(err.splitlines()) == 1
    assert out.exists()
    both = ["make-updatable", str(model), str(out), "-o", str(tmp_path / "New.mlmodel")]
    assert main(both) == 2
    assert "give only -o/--out" in capsys.readouterr().err


def test_make_updatable_never_writes_over_its_model_unless_in_place(model, capsys):
    before = model.read_bytes()
    assert main(["make-updatable", str(model), "-o", str(model)]) == 2
    assert "never writes over an input: choose another -o/--out, or pass --in-place" in (
        capsys.readouterr().err
    )
    assert model.read_bytes() == before
    assert main(["make-updatable", str(model)]) == 2
    assert "-o/--out OUT is required" in capsys.readouterr().err
    assert main(["make-updatable", str(model), "--in-place"]) == 0
    assert updatable.load(model).isUpdatable


def test_train_never_writes_over_its_inputs_unless_in_place(tmp_path, capsys):
    import numpy as np

    model = tmp_path / "U.mlmodel"
    updatable.save(builders.updatable_classifier(), model)
    points = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    data = tmp_path / "d.npz"
    np.savez(data, image=points, label=np.where(points[:, 0] > 0, "cat", "dog"))
    before = model.read_bytes()
    base = ["train", str(model), "--data", str(data), "--epochs", "5"]
    assert main([*base, "-o", str(model)]) == 2
    assert "-o/--out" in capsys.readouterr().err and model.read_bytes() == before
    assert main([*base, "-o", str(data)]) == 2
    assert "is the input --data" in capsys.readouterr().err
    assert main([*base, "--in-place"]) == 0
    assert model.read_bytes() != before


def test_export_ort_positional_out_is_a_deprecated_alias(tmp_path, capsys):
    from tests.optional import installed

    if not installed("onnx"):
        pytest.skip("onnx is not installed (pip install -e '.[test]')")
    model = tmp_path / "m.mlmodel"
    updatable.save(builders.updatable_classifier(), model)
    assert main(["export-ort", str(model), str(tmp_path / "m.onnx"), "--inference"]) == 0
    captured = capsys.readouterr()
    assert f"updatable export-ort: {DEPRECATED}" in captured.err
    assert (tmp_path / "m.onnx").exists()
    assert main(["export-ort", str(model)]) == 2
    assert "-o/--out OUT is required" in capsys.readouterr().err


def test_import_ort_output_is_a_deprecated_alias_and_never_defaults_to_model(tmp_path, capsys):
    """The previous release wrote over MODEL without -o; now that needs --in-place (checked
    before the checkpoint is read, so no ONNX Runtime is needed here)."""
    model = tmp_path / "m.mlmodel"
    updatable.save(builders.updatable_classifier(), model)
    before = model.read_bytes()
    argv = ["import-ort", str(model), str(tmp_path / "missing.ckpt")]
    assert main(argv) == 2
    assert "-o/--out OUT is required (or --in-place to rewrite MODEL" in capsys.readouterr().err
    assert main([*argv, "--output", str(model)]) == 2
    err = capsys.readouterr().err
    assert "deprecated: --output is now -o/--out" in err and "never writes over an input" in err
    assert main([*argv, "--output", str(tmp_path / "x"), "-o", str(tmp_path / "y")]) == 2
    assert main([*argv, "--in-place", "-o", str(tmp_path / "y")]) == 2
    assert model.read_bytes() == before


def wide_rows() -> tuple[list[str], list[list[str]]]:
    header = ["learningRate", "users", "held-out accuracy median [q1, q3]", "min",
              "before (median)", "train loss", "diverged", "failed", "time (s)", "peak MB",
              "flags"]  # fmt: skip
    rows = [["0.05", "20", "0.95 [0.9, 1]", "0.8", "0.33", "0.12", "0/20", "0/20", "0.012",
             "1.5", "underperforming, dominated"]] * 3  # fmt: skip
    return header, rows


@pytest.mark.parametrize("columns", [60, 100, 200])
def test_rich_tables_fit_the_terminal_width(columns, monkeypatch):
    from tests.optional import installed

    if not installed("rich"):
        pytest.skip("rich is not installed (pip install -e '.[demo]')")
    from updatable.cli._progress import Output

    monkeypatch.setenv("COLUMNS", str(columns))
    stream = io.StringIO()
    output = Output(plain=False, stream=stream)
    header, rows = wide_rows()
    output.table("findings", header, rows, droppable=[9, 4, 8, 5, 7, 3, 1, 6])
    lines = stream.getvalue().splitlines()
    assert max(len(line) for line in lines) <= columns, stream.getvalue()
    text = stream.getvalue()
    assert "learningRate" in text and "flags" in text  # the key columns always stay
    if columns == 60:
        assert "left out" in text and "peak MB" in text.split("left out")[0].split("narrow")[1]
    if columns == 200:
        assert "left out" not in text and "peak MB" in text


def test_plain_tables_when_piped_are_never_cut(monkeypatch):
    from updatable.cli._progress import Output

    monkeypatch.setenv("COLUMNS", "40")
    stream = io.StringIO()  # not a terminal: plain text
    header, rows = wide_rows()
    Output(stream=stream).table("", header, rows, droppable=[9])
    text = stream.getvalue()
    assert "peak MB" in text and "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) > 100


def test_sweep_help_explains_its_terms_and_exit_codes():
    text = help_text("sweep")
    for term in ("diverged", "failed", "underperforming", "dominated"):
        assert re.search(rf"^  {term} +\S", text, re.M), term
    assert "--fail-on-flag" in text
    assert "0    the sweep ran (flagged combinations are findings" in text
