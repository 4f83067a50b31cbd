"""Loading an untrusted model touches no file outside the directories the user allowed.

A linked model's file name with ``../`` or an absolute search path used to be followed, and
the error for a non-model file there said that the file exists and how large it is.
"""

from __future__ import annotations

import pytest

import runtime
import updatable
from runtime.model.configuration import ParameterKey
from runtime.model.linked import load_linked, resolve_linked
from tests import builders
from updatable.errors import LinkedModelNotFoundError, ModelFileError

SEARCH = ParameterKey.LINKED_MODEL_SEARCH_PATH
NAME = ParameterKey.LINKED_MODEL_FILE_NAME


@pytest.fixture
def tree(tmp_path):
    """app/ (the pipeline's directory, with models/ inside) and, outside it, secret/ holding
    a model and a file that is not one."""
    app, secret = tmp_path / "app", tmp_path / "secret"
    (app / "models").mkdir(parents=True)
    secret.mkdir()
    updatable.save(builders.base_nn(seed=1), app / "models" / "Embedding.mlmodel")
    updatable.save(builders.base_nn(seed=2), secret / "Embedding.mlmodel")
    (secret / "passwords.mlmodel").write_bytes(b"hunter2 " * 1000)
    return {"app": app, "secret": secret, "root": tmp_path}


def _link(name, search):
    return builders.linked_model(name, search)


@pytest.mark.parametrize(
    "name",
    ["../secret/Embedding.mlmodel", "models/Embedding.mlmodel", "..", "sub\\Embedding.mlmodel"],
)
def test_a_file_name_with_a_path_separator_is_refused(tree, name):
    with pytest.raises(ModelFileError, match=r"is a path; a link names a file alone"):
        resolve_linked(_link(name, "."), base_dir=tree["app"])
    # an override is refused alike: a name is never a path
    with pytest.raises(ModelFileError, match=r"is a path"):
        resolve_linked(
            _link("Embedding.mlmodel", "."), base_dir=tree["app"], parameters={NAME: name}
        )


@pytest.mark.parametrize("entry", ["..", "../secret", "models/../../secret", "{secret}"])
def test_a_model_search_path_leading_out_of_its_directory_is_refused_unseen(tree, entry):
    entry = entry.format(secret=tree["secret"])
    with pytest.raises(LinkedModelNotFoundError) as info:
        resolve_linked(_link("Embedding.mlmodelc", entry), base_dir=tree["app"])
    message = str(info.value)
    assert f"{entry} (refused: outside the model's directory {tree['app']})" in message
    assert str(tree["secret"] / "Embedding.mlmodel") not in message  # never looked at


def test_directories_the_user_gives_are_followed(tree):
    secret = tree["secret"]
    found = resolve_linked(
        _link("Embedding.mlmodelc", "models"),
        base_dir=tree["app"],
        parameters={SEARCH: str(secret)},
    )
    assert found == secret / "Embedding.mlmodel"
    via_bundle = resolve_linked(
        _link("Embedding.mlmodelc", "$BUNDLE_MAIN"), base_dir=tree["app"], bundle_main=secret
    )
    assert via_bundle == secret / "Embedding.mlmodel"
    # an absolute entry of the model is fine when it lies inside an allowed directory
    inside = resolve_linked(
        _link("Embedding.mlmodelc", str(tree["app"] / "models")), base_dir=tree["app"]
    )
    assert inside == tree["app"] / "models" / "Embedding.mlmodel"


def test_a_symbolic_link_leading_out_of_the_directory_is_refused(tree):
    link = tree["app"] / "Leak.mlmodel"
    link.symlink_to(tree["secret"] / "Embedding.mlmodel")
    with pytest.raises(
        LinkedModelNotFoundError,
        match=r"Leak.mlmodel \(refused: a link leading "
        r"out of",
    ):
        resolve_linked(_link("Leak.mlmodelc", "."), base_dir=tree["app"])
    inner = tree["app"] / "Inner.mlmodel"
    inner.symlink_to(tree["app"] / "models" / "Embedding.mlmodel")  # stays inside: followed
    assert resolve_linked(_link("Inner.mlmodelc", "."), base_dir=tree["app"]) == inner


def test_a_non_model_file_is_reported_without_its_size(tree):
    (tree["app"] / "notes.mlmodel").write_bytes(b"x" * 1234)
    with pytest.raises(ModelFileError) as info:
        load_linked(_link("notes.mlmodel", "."), base_dir=tree["app"])
    message = str(info.value)
    assert message == (
        f"linked model {tree['app'] / 'notes.mlmodel'} is not a readable Core ML "
        "model; link to a .mlmodel file"
    )
    assert "1234" not in message and "bytes" not in message


def test_an_untrusted_pipeline_cannot_probe_files_outside_its_directory(tree):
    pipeline = builders.tiny_drawing_pipeline(linked=True)
    link = pipeline.pipelineClassifier.pipeline.models[0].linkedModel.linkedModelFile
    link.linkedModelFileName.defaultValue = "passwords.mlmodelc"
    link.linkedModelSearchPath.defaultValue = f"../secret:{tree['secret']}"
    path = tree["app"] / "Drawings.mlmodel"
    updatable.save(pipeline, path)
    with pytest.raises(LinkedModelNotFoundError) as info:
        runtime.Model.load(path)
    message = str(info.value)
    assert "passwords.mlmodel" not in message.replace("'passwords.mlmodelc'", "")
    assert "8000" not in message and "bytes" not in message and "hunter2" not in message
