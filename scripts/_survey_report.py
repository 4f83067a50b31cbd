"""The survey's reports (``scripts/survey_models.py``): the tables it prints and the Markdown
it writes with ``--markdown``."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from runtime.nn.layers import supported_kinds

if TYPE_CHECKING:
    from scripts.survey_models import Record


def short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def print_tables(records: list[Record]) -> None:
    supported = set(supported_kinds())
    print(
        f"{'model':24} {'target':6} {'type':24} {'v':>2} {'layers':>6}  {'runtime load':40} "
        f"validate"
    )
    for r in records:
        if r.error:
            print(f"{r.model:24} {r.target:6} conversion fails: {short(r.error, 90)}")
            continue
        missing = sorted(set(r.kinds) - supported)
        load = r.loads if r.loads != "ok" else f"ok; {r.predicts}"
        if missing:
            load = f"no: {len(missing)} kinds unsupported"
        print(
            f"{r.model:24} {r.target:6} {r.model_type:24} {r.spec_version:>2} "
            f"{sum(r.kinds.values()):>6}  {short(load, 40):40} {short(r.validates, 50)}"
        )
    print()
    print(f"{'layer kind':24} {'runtime':8} {'models':>6} {'layers':>6}  models")
    for kind, names, total in kind_table(records):
        print(
            f"{kind:24} {'yes' if kind in supported else 'NO':8} {len(names):>6} {total:>6}  "
            f"{short(', '.join(names), 90)}"
        )


def kind_table(records):
    """(kind, models that need it, total layers) by descending model count."""
    names, totals = collections.defaultdict(set), collections.Counter()
    for r in records:
        for kind, count in r.kinds.items():
            names[kind].add(r.model)
            totals[kind] += count
    rows = [(kind, sorted(names[kind]), totals[kind]) for kind in names]
    return sorted(rows, key=lambda row: (-len(row[1]), row[0]))


def markdown(records: list[Record]) -> str:
    """The full results: models, their features, layer kinds x models, parameter variants."""
    lines = _models_section(records) + _kinds_section(records) + _variants_section(records)
    return "\n".join(lines) + "\n"


def _models_section(records: list[Record]) -> list[str]:
    lines = [
        "## Models",
        "",
        "| model | source | target | type | spec | mappings | runtime | validate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r.error:
            lines.append(
                f"| {r.model} | {r.source} | {r.target} | conversion fails: "
                f"`{short(r.error, 160)}` | | | | |"
            )
            continue
        load = f"loads; {r.predicts}" if r.loads == "ok" else short(r.loads, 160)
        lines.append(
            f"| {r.model} | {r.source} | {r.target} | {r.model_type} | "
            f"{r.spec_version} | {r.mappings} | {load} | {short(r.validates, 120)} |"
        )
    lines += ["", "## Features", ""]
    for r in records:
        if not r.error:
            lines.append(
                f"- **{r.model}** ({r.target}): in {'; '.join(r.inputs)} -> out "
                f"{'; '.join(r.outputs)}"
            )
    return lines


def _kinds_section(records: list[Record]) -> list[str]:
    supported = set(supported_kinds())
    latest = {r.model: r for r in records if not r.error}  # a model's last target: iOS 14
    matrix = list(latest.values())
    lines = [
        "",
        "## Layer kinds x models (each model's latest target)",
        "",
        "| kind | runtime | models | " + " | ".join(r.model for r in matrix) + " |",
        "|---|---|---|" + "---|" * len(matrix),
    ]
    for kind, names, _ in kind_table(matrix):
        cells = " | ".join(str(r.kinds.get(kind, "")) for r in matrix)
        lines.append(
            f"| {kind} | {'yes' if kind in supported else 'no'} | {len(names)} | {cells} |"
        )
    return lines


def _variants_section(records: list[Record]) -> list[str]:
    lines = [
        "",
        "## Parameter variants per layer kind",
        "",
        "Each line: the parameters (sizes omitted; defaults shown), the rank of each input "
        "(torch conversions: from coremltools' inferred shapes), then the models. "
        "'Shapes seen' lists input shapes the converted torch models feed the kind.",
        "",
    ]
    variants = collections.defaultdict(lambda: collections.defaultdict(set))
    for r in records:
        for kind, counter in r.variants.items():
            for signature in counter:
                variants[kind][signature].add(f"{r.model}@{r.target}")
    seen = collections.defaultdict(set)
    for r in records:
        for kind, found in r.shapes.items():
            seen[kind] |= found
    for kind in sorted(variants):
        lines.append(f"### {kind}")
        if seen[kind]:
            examples = sorted(seen[kind], key=lambda t: (len(t), t))[:8]
            lines.append(
                f"Shapes seen: {'; '.join(examples)}"
                + (f" (and {len(seen[kind]) - 8} more)" if len(seen[kind]) > 8 else "")
            )
        for signature, where in sorted(variants[kind].items()):
            models = sorted({w.split("@")[0] for w in where})
            lines.append(f"- `{short(signature, 400)}` — {', '.join(models)}")
        lines.append("")
    return lines
