"""Runtime, sweeps layer: A sweep's reports: ``summary.json``, ``report.md``, ``report.html`` and
``heatmap.png``.

All are written atomically into the output directory next to ``results.jsonl``. The JSON
holds everything the other two show (space, per-combination statistics and flags, the
recommendation); the Markdown and HTML are the same tables for people; the heat map (needs
matplotlib, the ``[cli]`` extra) shows the median and the worst user's held-out accuracy
(or loss) per combination, with the flags written in the cells.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

from runtime.sweeps.heatmap import write_heatmap
from runtime.sweeps.store import write_json
from runtime.sweeps.summary import Thresholds, flag_meanings
from updatable.spec import write_atomic


def write_reports(table, out: Path) -> dict[str, Path | None]:
    """Write every report of ``table`` (a :class:`runtime.sweeps.api.SweepTable`) into
    ``out``; returns the paths (``heatmap`` is ``None`` without matplotlib)."""
    paths: dict[str, Path | None] = {
        "json": out / "summary.json",
        "markdown": out / "report.md",
        "html": out / "report.html",
    }
    write_json(summary_document(table), out / "summary.json")
    header, rows = summary_rows(table)
    write_atomic(markdown(table, header, rows).encode(), out / "report.md")
    write_atomic(html_page(table, header, rows).encode(), out / "report.html")
    paths["heatmap"] = write_heatmap(table, out / "heatmap.png")
    return paths


def summary_document(table) -> dict:
    """The JSON summary: sweep details, space, per-combination statistics, recommendation."""
    recommendation = table.recommendation
    return {
        **table.details,
        "tasks": len(table),
        "ran": table.ran,
        "reused": table.reused,
        "elapsed_seconds": table.elapsed,
        "space": [
            {
                "name": d.name,
                "default": d.default,
                "allowed": d.allowed_text(),
                "values": list(d.values),
                "origin": d.origin,
            }
            for d in table.space.dimensions
        ],
        "combinations": [dataclasses.asdict(s) for s in table.summaries],
        "flag_meanings": _flag_meanings(table),
        "recommendation": {
            "summary": recommendation.summary,
            "lines": recommendation.lines,
            "constraints": {name: _param_json(p) for name, p in recommendation.constraints.items()},
            "unresolved": recommendation.unresolved,
        },
    }


def summary_rows(table) -> tuple[list[str], list[list[str]]]:
    """The per-combination table as text cells (shared by Markdown and HTML)."""
    names = [d.name for d in table.space.swept]
    accuracy = any(s.test_accuracy is not None for s in table.summaries)
    metric = "held-out accuracy" if accuracy else "held-out loss"
    header = [
        *names,
        "users",
        f"{metric} median [q1, q3]",
        "min" if accuracy else "max",
        "before (median)",
        "train loss",
        "diverged",
        "failed",
        "time (s)",
        "peak MB",
        "flags",
    ]
    rows = []
    for s in table.summaries:
        stats = s.test_accuracy if accuracy else s.test_loss
        before = s.test_accuracy_before if accuracy else None
        rows.append(
            [
                *(_number(s.combination[n]) for n in names),
                str(s.users),
                "-"
                if stats is None
                else f"{_number(stats.median)} [{_number(stats.q1)}, {_number(stats.q3)}]",
                "-" if stats is None else _number(stats.min if accuracy else stats.max),
                "-" if before is None else _number(before.median),
                "-" if s.train_loss is None else _number(s.train_loss.median),
                f"{s.diverged}/{s.users}",
                f"{s.failed}/{s.users}",
                "-" if s.seconds is None else f"{s.seconds.median:.3f}",
                "-" if s.peak_memory_mb is None else f"{s.peak_memory_mb:.3g}",
                ", ".join(s.flags) or "ok",
            ]
        )
    return header, rows


def space_rows(table) -> tuple[list[str], list[list[str]]]:
    header = ["parameter", "default", "allowed by the model", "swept values"]
    rows = [
        [
            d.name,
            _number(d.default),
            d.allowed_text(),
            ", ".join(_number(v) for v in d.values) if d.swept else "(held at default)",
        ]
        for d in table.space.dimensions
    ]
    return header, rows


def markdown(table, header: list[str], rows: list[list[str]]) -> str:
    details = table.details
    lines = [
        f"# Hyperparameter sweep of {details['model']}",
        "",
        f"- data: {details['data']}; users: `{details['users']}`",
        f"- {len(table)} user updates over {len(table.summaries)} combinations "
        f"({table.ran} run now, {table.reused} reused); {table.elapsed:.1f} s",
        "",
        "## Allowed space",
        "",
        *_markdown_table(*space_rows(table)),
        "",
        "## Results per combination",
        "",
        *_markdown_table(header, rows),
        "",
        *(f"- **{flag}**: {meaning}" for flag, meaning in _flag_meanings(table).items()),
        "",
        "## Recommended constraints",
        "",
        f"**{table.recommendation.summary}**",
        "",
        *(f"- {line}" for line in table.recommendation.lines),
        "",
    ]
    return "\n".join(lines)


def html_page(table, header: list[str], rows: list[list[str]]) -> str:
    details = table.details
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Sweep of {esc(details['model'])}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}"
        "tr.bad{background:#fdd}tr.dominated{color:#888}</style></head><body>",
        f"<h1>Hyperparameter sweep of {esc(details['model'])}</h1>",
        f"<p>data: {esc(details['data'])}; users: <code>{esc(details['users'])}</code>; "
        f"{len(table)} user updates, {table.ran} run now, {table.reused} reused; "
        f"{table.elapsed:.1f} s</p>",
        "<h2>Allowed space</h2>",
        _html_table(*space_rows(table)),
        "<h2>Results per combination</h2>",
        _html_table(header, rows, [_row_class(s) for s in table.summaries]),
        "<p><img src='heatmap.png' alt='heat map'></p>",
        "<h2>Recommended constraints</h2>",
        f"<p><b>{esc(table.recommendation.summary)}</b></p><ul>",
        *(f"<li>{esc(line)}</li>" for line in table.recommendation.lines),
        "</ul></body></html>",
    ]
    return "\n".join(parts)


def _flag_meanings(table) -> dict[str, str]:
    """The legend of the flags column, with the thresholds this sweep judged by."""
    return flag_meanings(getattr(table, "thresholds", Thresholds()))


def _row_class(summary) -> str:
    if summary.bad:
        return "bad"
    return "dominated" if "dominated" in summary.flags else ""


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _html_table(header, rows, classes=None) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        f"<tr class='{(classes or [''] * len(rows))[i]}'>"
        + "".join(f"<td>{esc(cell)}</td>" for cell in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _param_json(param) -> dict:
    document = {"default": param.default}
    if param.range is not None:
        document["range"] = list(param.range)
    elif getattr(param, "choices", None) is not None:
        document["set"] = list(param.choices)
    return document
