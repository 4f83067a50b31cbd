"""Linked models: search-path order, $BUNDLE_MAIN, load-time overrides, clear errors."""

from __future__ import annotations

import pytest

import updatable
from runtime.model.configuration import ParameterKey, lookup_parameter
from runtime.model.linked import BUNDLE_MAIN_ENV, load_linked, resolve_linked
from tests import builders
from updatable.errors import LinkedModelNotFoundError, ModelFileError

NAME = ParameterKey.LINKED_MODEL_FILE_NAME
SEARCH = ParameterKey.LINKED_MODEL_SEARCH_PATH


@pytest.fixture
def tree(tmp_path):
    """pipeline/ (the base dir), pipeline/models/, other/, bundle/: each with its own model."""
    dirs = {name: tmp_path / name for name in ("pipeline", "pipeline/models", "other", "bundle")}
    for seed, directory in enumerate(dirs.values()):
        directory.mkdir(parents=True, exist_ok=True)
        updatable.save(builders.base_nn(seed=seed), directory / "Embedding.mlmodel")
    return dirs


def resolve(tree, search, name="Embedding.mlmodelc", **kwargs):
    return resolve_linked(builders.linked_model(name, search), base_dir=tree["pipeline"], **kwargs)


def test_search_path_entries_are_tried_in_order(tree):
    other = str(tree["other"])  # outside the model's directory: allowed by an override only
    assert resolve(tree, "", parameters={SEARCH: f"models:{other}"}) == (
        tree["pipeline/models"] / "Embedding.mlmodel"
    )
    assert resolve(tree, "", parameters={SEARCH: f"{other}:models"}) == (
        tree["other"] / "Embedding.mlmodel"
    )
    assert resolve(tree, "nowhere:models:.") == tree["pipeline/models"] / "Embedding.mlmodel"


def test_empty_search_path_or_entry_means_the_model_directory(tree):
    assert resolve(tree, "") == tree["pipeline"] / "Embedding.mlmodel"
    assert resolve(tree, "nowhere::models") == tree["pipeline"] / "Embedding.mlmodel"


def test_load_linked_returns_the_model_on_disk(tree):
    loaded = load_linked(
        builders.linked_model("Embedding.mlmodelc", "models"), base_dir=tree["pipeline"]
    )
    assert loaded == builders.base_nn(seed=1)
    # A plain .mlmodel name is used as it is; a whole linkedModel Model message works too.
    spec = builders.linked_model("Embedding.mlmodel", "$BUNDLE_MAIN")
    loaded = load_linked(spec.linkedModel, base_dir=None, bundle_main=tree["other"])
    assert loaded == builders.base_nn(seed=2)


def test_bundle_main_maps_to_a_setting_the_environment_or_the_model_directory(tree, monkeypatch):
    monkeypatch.delenv(BUNDLE_MAIN_ENV, raising=False)
    assert resolve(tree, "$BUNDLE_MAIN") == tree["pipeline"] / "Embedding.mlmodel"
    assert resolve(tree, "$BUNDLE_MAIN/models") == tree["pipeline/models"] / "Embedding.mlmodel"
    monkeypatch.setenv(BUNDLE_MAIN_ENV, str(tree["other"]))
    assert resolve(tree, "$BUNDLE_MAIN") == tree["other"] / "Embedding.mlmodel"
    explicit = resolve(tree, "$BUNDLE_MAIN", bundle_main=tree["bundle"])
    assert explicit == tree["bundle"] / "Embedding.mlmodel"


def test_bundle_identifiers_map_through_bundles_and_unmapped_ones_are_reported(tree):
    search = "$BUNDLE_IDENTIFIER(com.example.models):other"
    mapped = resolve(tree, search, bundles={"com.example.models": tree["bundle"]})
    assert mapped == tree["bundle"] / "Embedding.mlmodel"
    with pytest.raises(LinkedModelNotFoundError) as info:
        resolve(tree, "$BUNDLE_IDENTIFIER(com.example.models)")
    assert "$BUNDLE_IDENTIFIER(com.example.models) (not mapped" in str(info.value)


def test_overrides_replace_name_and_search_path_and_scoped_keys_win(tree):
    updatable.save(builders.base_nn(seed=9), tree["other"] / "Other.mlmodel")
    assert resolve(tree, "models", parameters={SEARCH: str(tree["other"])}) == (
        tree["other"] / "Embedding.mlmodel"
    )
    both = {"linkedModelFileName": "Other.mlmodelc", "linkedModelSearchPath": str(tree["other"])}
    assert resolve(tree, "models", parameters=both) == tree["other"] / "Other.mlmodel"
    scoped = {SEARCH.scoped("embedder"): str(tree["other"]), SEARCH: "models"}
    assert resolve(tree, "", parameters=scoped, scope="embedder") == (
        tree["other"] / "Embedding.mlmodel"
    )
    assert resolve(tree, "", parameters=scoped, scope="head") == (
        tree["pipeline/models"] / "Embedding.mlmodel"
    )
    assert resolve(tree, "", parameters={NAME.scoped("head"): "Other.mlmodelc"}) == (
        tree["pipeline"] / "Embedding.mlmodel"
    )


def test_lookup_parameter_ignores_keys_it_does_not_know():
    parameters = {"learningRate": 0.1, "somethingElse": 1, NAME: "a", NAME.scoped("m"): "b"}
    assert lookup_parameter(parameters, "linkedModelFileName") == "a"
    assert lookup_parameter(parameters, "linkedModelFileName", scope="m") == "b"
    assert lookup_parameter(parameters, "linkedModelSearchPath") is None


def test_a_missing_file_lists_every_path_tried(tree):
    other = tree["other"]
    with pytest.raises(LinkedModelNotFoundError) as info:
        resolve(tree, f"models:{other}:$BUNDLE_MAIN", name="Missing.mlmodelc")
    tried = [
        str(tree["pipeline/models"] / "Missing.mlmodel"),
        f"{other} (refused: outside the model's directory {tree['pipeline']})",
        str(tree["pipeline"] / "Missing.mlmodel"),
    ]
    error = info.value
    assert error.tried == tried
    assert isinstance(error, FileNotFoundError) and isinstance(error, ModelFileError)
    message = str(error)
    assert message.startswith(
        f"linked model 'Missing.mlmodelc' not found on search path 'models:{other}:$BUNDLE_MAIN'"
        " (from the model); tried: " + ", ".join(tried)
    )
    assert "'linkedModelFileName' / 'linkedModelSearchPath'" in message


def test_empty_file_name_and_non_links_are_refused(tree):
    with pytest.raises(ModelFileError, match=r"linkedModeFileName\.defaultValue cannot be empty"):
        resolve(tree, "models", name="")
    with pytest.raises(ModelFileError, match="expected a linked model, got a model of type"):
        resolve_linked(builders.base_nn(), base_dir=tree["pipeline"])
