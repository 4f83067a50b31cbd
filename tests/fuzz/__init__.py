"""A fuzzer for model files: mutate real models, and hold the runtime to one promise.

The promise: every mutant that ``updatable.validate`` accepts (no error) either runs (a
forward pass and, when it is updatable, one training step) or fails with a project exception
type (``updatable.errors``) and a one-line message; never a raw ``IndexError``, ``ValueError``,
``MemoryError``, a numpy warning or a hang.

The harness is split so that each part can grow on its own:

* :mod:`tests.fuzz.bases`: the models mutated (``BASES``, name -> factory);
* :mod:`tests.fuzz.mutators`: generic mutations of any protobuf field, and ones aimed at what
  the validator does not look at (``MUTATORS``, name -> function);
* :mod:`tests.fuzz.layer_cases`: mutations of one layer kind (``LAYER_CASES``, Core ML oneof
  name -> functions), applied to every layer of that kind a base has;
* :mod:`tests.fuzz.inputs`: feature values made from a model's description;
* :mod:`tests.fuzz.oracle`: runs one mutant and names its outcome;
* :mod:`tests.fuzz.driver`: draws mutants from a seed, runs them, tallies the outcomes.

To add a case, write ``def case(spec, rng) -> str | None`` (it edits ``spec`` in place and
returns a description, or ``None`` when it does not apply) and add one line to the table of
its module. The suite runs a few hundred mutants (``tests/test_fuzz_models.py``);
``scripts/fuzz_models.py --count N --seed S`` runs as many as asked.
"""

from tests.fuzz.driver import FuzzReport, run_fuzz

__all__ = ["FuzzReport", "run_fuzz"]
