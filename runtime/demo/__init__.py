"""Runtime, demo layer: the on-device personalisation demo behind ``updatable demo`` (and ``make
demo``).

:func:`run_demo` tells the whole story on real MNIST digits (see :mod:`runtime.demo.story`):
a base classifier for 0..6, model surgery for the user's digits 7, 8 and 9, an update of the
network head and of a feature-extractor + kNN pipeline through ``UpdateTask``, and accuracy
per class before and after. Modules, one job each: :mod:`~runtime.demo.user` (the simulated
user and the data split), :mod:`~runtime.demo.base` (the base model),
:mod:`~runtime.demo.surgery` (the personalisable models), :mod:`~runtime.demo.flows` (the
update tasks), :mod:`~runtime.demo.report` (plot and report), :mod:`~runtime.demo.events`
(what is reported while it runs).
"""

from __future__ import annotations

from runtime.demo.records import DemoOptions, DemoResult
from runtime.demo.story import run_demo

__all__ = ["DemoOptions", "DemoResult", "run_demo"]
