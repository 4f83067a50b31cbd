"""Runtime, ONNX layer: ONNX export and ONNX Runtime on-device training for updatable Core ML
networks.

* :func:`export_onnx` -- a Core ML neural network as an ONNX inference graph.
* :func:`write_artifacts` -- ORT on-device training artifacts (training, eval and optimizer
  models, checkpoint with the model's hyperparameters, JSON sidecar).
* :func:`import_checkpoint` / :func:`import_into_file` -- trained weights from an ORT
  checkpoint back into the ``.mlmodel``.
* :class:`OrtTrainingBackend` -- the training backend behind
  ``UpdateTask(..., backend="onnxruntime")``.

Needs the ``ort`` extra (onnx, onnxruntime-training); torch is not required. Names are
imported on first use, and a missing extra raises
:class:`~updatable.errors.MissingDependencyError` with the install command.
"""

from __future__ import annotations

from runtime.ort.deps import require_onnx
from updatable.lazy import lazy_exports

# public name -> module that defines it
_EXPORTS = {
    "export_onnx": "runtime.ort.export",
    "write_artifacts": "runtime.ort.artifacts",
    "TrainingArtifacts": "runtime.ort.artifacts",
    "plan_training": "runtime.ort.plan",
    "read_checkpoint": "runtime.ort.import_",
    "import_checkpoint": "runtime.ort.import_",
    "import_into_file": "runtime.ort.import_",
    "apply_weights": "runtime.ort.import_",
    "OrtTrainingBackend": "runtime.ort.backend",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(
    __name__, _EXPORTS, before=lambda name: require_onnx(f"runtime.ort.{name}")
)
