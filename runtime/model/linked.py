"""Runtime, model layer: Linked models: find the ``.mlmodel`` a ``LinkedModel`` points at, and read
load-time keys.

A ``LinkedModel`` (``LinkedModel.proto``) names a compiled model by ``linkedModelFileName``
and ``linkedModelSearchPath``, both ``StringParameter`` defaults that can be overridden at load
time with the ``linkedModelFileName`` / ``linkedModelSearchPath`` parameter keys, optionally
scoped to the pipeline sub-model's name (docs/update-task-semantics.md §10).

Resolution, in order:

* The search path is split on ``:``; each entry is a directory, absolute or relative to the
  directory of the model that holds the link (``base_dir``; the current directory when the
  model did not come from a file). An empty search path, or an empty entry, means ``"."``.
* ``$BUNDLE_MAIN`` (alone or followed by ``/subdir``) is the app's main bundle. Off-device it
  maps to ``bundle_main``, else to the directory in the environment variable
  ``UPDATABLE_BUNDLE_MAIN``, else to ``base_dir`` (an app usually ships the pipeline and its
  linked model side by side in the main bundle).
  ``$BUNDLE_IDENTIFIER(id)`` maps through ``bundles={id: directory}``; an unmapped identifier is
  skipped and named in the error.
* A ``.mlmodelc`` name (what Core ML links to) stands for the ``.mlmodel`` of the same stem in
  that directory, since a compiled model cannot be read here; other names are taken as they are.
* The first entry where the file exists wins. None: :class:`LinkedModelNotFoundError` listing
  every path tried.

Confinement. A model file may come from anyone, so loading one must not touch files outside
the directories the user allowed: the model's own directory, and the directories the user
gave explicitly (a ``linkedModelSearchPath`` override, ``bundle_main`` or
``UPDATABLE_BUNDLE_MAIN``, ``bundles``). So:

* a file name with a path separator (or ``..``) is refused: a link names a file, and its
  search path says where;
* an entry of the *model's* search path must lead into one of those directories (``..`` and
  absolute paths elsewhere are refused, listed in the error as refused, never looked at);
  entries of an override are the user's own and are followed as given;
* the file found must really be inside the directory it was found in: a symbolic link
  leading out of it is refused;
* a file that is not a model is reported without its size or content.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runtime.model.configuration import lookup_parameter
from updatable import proto
from updatable.errors import LinkedModelNotFoundError, ModelFileError
from updatable.spec import load

FILE_NAME_KEY = "linkedModelFileName"
SEARCH_PATH_KEY = "linkedModelSearchPath"
BUNDLE_MAIN_ENV = "UPDATABLE_BUNDLE_MAIN"
_BUNDLE_IDENTIFIER = re.compile(r"^\$BUNDLE_IDENTIFIER\((.*)\)$")


def resolve_linked(
    linked_model: proto.Model | Any,
    *,
    base_dir: str | os.PathLike | None,
    parameters: Mapping[Any, Any] | None = None,
    scope: str | None = None,
    bundle_main: str | os.PathLike | None = None,
    bundles: Mapping[str, str | os.PathLike] | None = None,
) -> Path:
    """The path of the ``.mlmodel`` file a ``LinkedModel`` resolves to (see the module doc).

    Args:
        linked_model: a ``LinkedModel`` message, or a ``Model`` whose type is ``linkedModel``.
        base_dir: directory of the model holding the link.
        parameters: load-time overrides (``ModelConfiguration.parameters``).
        scope: the sub-model's name, for scoped override keys.
        bundle_main / bundles: what ``$BUNDLE_MAIN`` / ``$BUNDLE_IDENTIFIER(id)`` stand for.

    Raises:
        ModelFileError: the link is not a file link or its file name is empty.
        LinkedModelNotFoundError: no candidate exists; ``tried`` lists the paths.
    """
    link = _link_file(linked_model)
    name = lookup_parameter(parameters, FILE_NAME_KEY, scope=scope)
    name = link.linkedModelFileName.defaultValue if name is None else str(name)
    if not name:
        raise ModelFileError(
            "LinkedModel.linkedModelFile.linkedModeFileName.defaultValue cannot be empty."
        )
    _check_name(name)
    search_override = lookup_parameter(parameters, SEARCH_PATH_KEY, scope=scope)
    search = (
        link.linkedModelSearchPath.defaultValue if search_override is None else str(search_override)
    )
    base = Path(base_dir) if base_dir is not None else Path(".")
    main = bundle_main if bundle_main is not None else os.environ.get(BUNDLE_MAIN_ENV) or base
    bundles = bundles or {}
    roots = [base, Path(main), *(Path(d) for d in bundles.values())]
    stem_name = name[: -len(".mlmodelc")] + ".mlmodel" if name.endswith(".mlmodelc") else name
    tried: list[str] = []
    for entry in search.split(":"):
        directory = _directory(entry, base, Path(main), bundles)
        if directory is None:
            tried.append(f"{entry} (not mapped: pass bundles={{id: directory}})")
            continue
        if search_override is None and not any(_inside(directory, root) for root in roots):
            tried.append(f"{entry} (refused: outside the model's directory {base})")
            continue
        candidate = directory / stem_name
        if candidate.is_symlink() and not _inside(candidate, directory):
            tried.append(f"{candidate} (refused: a link leading out of {directory})")
            continue
        tried.append(str(candidate))
        if candidate.is_file():
            return candidate
    origin = "the model" if search_override is None else "an override"
    raise LinkedModelNotFoundError(
        f"linked model '{name}' not found on search path '{search}' (from {origin}); tried: "
        f"{', '.join(tried)}. Put the .mlmodel there, or override the "
        f"'{FILE_NAME_KEY}' / '{SEARCH_PATH_KEY}' parameters",
        tried,
    )


def load_linked(
    linked_model: proto.Model | Any,
    *,
    base_dir: str | os.PathLike | None,
    parameters: Mapping[Any, Any] | None = None,
    scope: str | None = None,
    bundle_main: str | os.PathLike | None = None,
    bundles: Mapping[str, str | os.PathLike] | None = None,
) -> proto.Model:
    """Load the model a ``LinkedModel`` points at (:func:`resolve_linked`, then ``load``).

    The returned model's own links, if any, resolve relative to
    ``resolve_linked(...).parent``.
    """
    path = resolve_linked(
        linked_model,
        base_dir=base_dir,
        parameters=parameters,
        scope=scope,
        bundle_main=bundle_main,
        bundles=bundles,
    )
    return load_linked_file(path)


def load_linked_file(path: Path) -> proto.Model:
    """Read a resolved linked model; a file that is not one is named without its size."""
    try:
        return load(path)
    except ModelFileError:
        raise ModelFileError(
            f"linked model {path} is not a readable Core ML model; link to a .mlmodel file"
        ) from None


def _check_name(name: str) -> None:
    separators = {"/", "\\", os.sep, os.altsep or "/"}
    if any(sep in name for sep in separators) or name in (".", ".."):
        raise ModelFileError(
            f"linked model file name '{name}' is a path; a link names a file alone "
            f"(e.g. '{Path(name.replace(chr(92), '/')).name or 'Model.mlmodelc'}') and its "
            f"search path ('{SEARCH_PATH_KEY}') says where to look"
        )


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` resolves (symbolic links and ``..`` followed) into ``root``."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def _link_file(linked_model):
    if isinstance(linked_model, proto.Model):
        if linked_model.WhichOneof("Type") != "linkedModel":
            raise ModelFileError(
                f"expected a linked model, got a model of type '{linked_model.WhichOneof('Type')}'"
            )
        linked_model = linked_model.linkedModel
    if linked_model.WhichOneof("LinkType") != "linkedModelFile":
        raise ModelFileError("the LinkedModel has no linkedModelFile; it links to nothing")
    return linked_model.linkedModelFile


def _directory(entry: str, base: Path, main: Path, bundles: Mapping) -> Path | None:
    if entry in ("", "."):
        return base
    if entry == "$BUNDLE_MAIN":
        return main
    if entry.startswith("$BUNDLE_MAIN/"):
        return main / entry[len("$BUNDLE_MAIN/") :]
    match = _BUNDLE_IDENTIFIER.match(entry)
    if match:
        mapped = bundles.get(match.group(1))
        return Path(mapped) if mapped is not None else None
    path = Path(entry)
    return path if path.is_absolute() else base / path
