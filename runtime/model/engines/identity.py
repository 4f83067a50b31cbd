"""Runtime, model layer: the engine of ``identity`` models: "returns given inputs as outputs,
unchanged" (``Identity.proto``). Output ``i`` is input ``i``; the two lists must have the same
length and types. An absent optional input leaves its output absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.model.engines.values import require_valid
from runtime.model.features import type_name
from updatable.errors import UnsupportedModelError
from updatable.validation.generic import same_feature_type

KIND = "identity"


@dataclass(frozen=True)
class IdentityEngine:
    pairs: tuple[tuple[str, str], ...]  # (input name, output name)

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> IdentityEngine:
        """Pair the inputs with the outputs, in order.

        Raises:
            ValidationError: Core ML rejects the model (its generic checks).
            UnsupportedModelError: the inputs and outputs differ in number or in type.
        """
        del parameters, base_dir  # no load-time parameters, no linked file
        require_valid(spec, KIND)
        inputs, outputs = spec.description.input, spec.description.output
        if len(inputs) != len(outputs) or not all(
            same_feature_type(a.type, b.type) for a, b in zip(inputs, outputs, strict=False)
        ):
            raise UnsupportedModelError(
                f"{KIND}: output i is input i, so the two lists must match in number and type; "
                f"inputs {[f'{f.name}: {type_name(f)}' for f in inputs]}, outputs "
                f"{[f'{f.name}: {type_name(f)}' for f in outputs]}"
            )
        return cls(tuple((a.name, b.name) for a, b in zip(inputs, outputs, strict=True)))

    def run(self, batch: dict) -> dict:
        """Feature batch in, the same values under the output names out."""
        return {target: batch[source] for source, target in self.pairs if source in batch}
