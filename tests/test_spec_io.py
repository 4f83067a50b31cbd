"""load / save: round trips, atomic writes, and clear errors for bad files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import updatable
from tests import builders
from updatable import spec as spec_io
from updatable.errors import LayerNotFoundError, ModelFileError


def test_round_trip_preserves_every_field(tmp_path):
    spec = builders.classifier_nn()
    path = tmp_path / "m.mlmodel"
    updatable.save(spec, path)
    assert updatable.load(path) == spec


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    spec = builders.base_nn()
    path = tmp_path / "m.mlmodel"
    path.write_bytes(b"old")
    updatable.save(spec, path)
    assert os.listdir(tmp_path) == ["m.mlmodel"]
    assert updatable.load(path) == spec


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "the file is empty"),
        (b"hello, this is not a model at all\n" * 3, "not"),
        (b"\xff\xff\xff\xff\xff", "corrupt or truncated"),
    ],
)
def test_bad_files_raise_a_clear_error_naming_the_file(tmp_path, content, fragment):
    path = tmp_path / "bad.mlmodel"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as info:
        updatable.load(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)
    assert info.value.__cause__ is None  # no protobuf traceback chained in


@pytest.mark.parametrize("keep", [1, 10, 0.5, 0.9, -1])
def test_truncated_model_is_refused(tmp_path, keep):
    data = builders.classifier_nn().SerializeToString()
    cut = keep if isinstance(keep, int) and keep > 0 else int(len(data) * keep) or len(data) - 1
    path = tmp_path / "cut.mlmodel"
    path.write_bytes(data[:cut])
    with pytest.raises(ModelFileError, match=r"cut\.mlmodel"):
        updatable.load(path)


def test_missing_file_and_directories(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        updatable.load(tmp_path / "nope.mlmodel")
    package = tmp_path / "model.mlpackage"
    package.mkdir()
    with pytest.raises(ModelFileError, match="ML Program"):
        updatable.load(package)


def test_save_into_missing_or_read_only_directory_fails_cleanly(tmp_path):
    spec = builders.base_nn()
    with pytest.raises(ModelFileError, match="does not exist"):
        updatable.save(spec, tmp_path / "no" / "m.mlmodel")
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ModelFileError, match="cannot write"):
            updatable.save(spec, locked / "m.mlmodel")
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o700)


def test_find_layer_lists_existing_names():
    spec = builders.base_nn()
    with pytest.raises(LayerNotFoundError) as info:
        spec_io.find_layer(spec, "ip9")
    assert "'ip9'" in str(info.value) and "['ip1', 'relu1', 'ip2', 'softmax']" in str(info.value)


def test_weight_params_walks_every_weight_field():
    spec = builders.base_nn()
    fields = [name for name, _ in spec_io.weight_params(spec.neuralNetwork.layers[0])]
    assert fields == ["weights", "bias"]


def test_import_is_quiet_and_does_not_import_coremltools(tmp_path):
    spec = builders.base_nn()
    path = tmp_path / "m.mlmodel"
    updatable.save(spec, path)
    code = (
        "import sys, updatable, runtime\n"
        f"updatable.load({str(path)!r})\n"
        "assert 'coremltools' not in sys.modules, 'coremltools was imported'\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""


def test_saved_files_get_normal_permissions_or_keep_the_replaced_files(tmp_path):
    spec = builders.base_nn()
    fresh = tmp_path / "fresh.mlmodel"
    umask = os.umask(0o022)
    try:
        updatable.save(spec, fresh)
    finally:
        os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o644
    kept = tmp_path / "kept.mlmodel"
    kept.write_bytes(b"x")
    kept.chmod(0o640)
    updatable.save(spec, kept)
    assert kept.stat().st_mode & 0o777 == 0o640
