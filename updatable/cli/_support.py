"""Command line: which parts of a model the runtime cannot run, for ``updatable inspect``.

The answer comes from the spec alone (``runtime.model.support``), before anything runs: model
types without an engine, layer kinds without a unit, custom layers whose class has no
registered implementation; pipelines and the networks inside loops and branches included.
"""

from __future__ import annotations

from typing import Any

from updatable import proto

HEADING = "will it run"


def unsupported(spec: proto.Model) -> list[dict[str, Any]]:
    """``[{"where", "layer", "kind", "reason"}, ...]``, empty when everything runs."""
    from runtime.model.support import unsupported_parts  # the runtime, only for this verb

    return [part.as_dict() for part in unsupported_parts(spec)]


def render(parts: list[dict[str, Any]], pad: str = "  ") -> list[str]:
    """The text section: one line when everything runs, else one line per part."""
    if not parts:
        return [f"{HEADING}: yes, every model type has an engine and every layer a unit"]
    lines = [f"{HEADING}: no, {len(parts)} part(s) cannot run:"]
    lines += [f"{pad}{part['where']}: {part['reason']}" for part in parts]
    return lines
