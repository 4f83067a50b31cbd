"""Command line: terminal output of the training verbs and the demo: headings, tables, progress
bars.

On a terminal, with ``rich`` installed (the ``cli`` extra), output is drawn with rich: a
progress bar while a model trains, with the epoch table streaming above it. Otherwise (output
piped or redirected, ``NO_COLOR``-style plain use, or rich missing) the same content is plain
text, one line per event, so logs and tests read it easily. Only CLI code prints.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Literal


def rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class Output:
    """Where a verb writes: rich on a terminal, plain text otherwise (``plain`` forces it)."""

    def __init__(self, plain: bool | None = None, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        if plain is None:
            plain = not (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.rich = not plain and rich_available()
        # a terminal that would have had progress bars, were rich installed
        self.plain_for_want_of_rich = not plain and not self.rich
        self.console: Any = None  # a rich Console when self.rich
        if self.rich:
            from rich.console import Console

            self.console = Console(file=self.stream, highlight=False)

    # -- text ---------------------------------------------------------------------------------
    def heading(self, title: str, detail: str = "") -> None:
        """A section title (a rule on a terminal)."""
        if self.rich:
            self.console.print()
            self.console.rule(f"[bold]{title}[/bold]", align="left")
            if detail:
                self.console.print(f"[dim]{detail}[/dim]")
        else:
            self.write("")
            self.write(f"== {title}")
            if detail:
                self.write(f"   {detail}")

    def line(self, text: str = "", style: str | None = None) -> None:
        """One line; ``style`` is a rich style (``"green"``, ``"bold red"``) on a terminal."""
        if self.rich:
            from rich.markup import escape

            self.console.print(f"[{style}]{escape(text)}[/{style}]" if style else escape(text))
        else:
            self.write(text)

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        bold_rows: Sequence[int] = (),
        droppable: Sequence[int] = (),
    ) -> None:
        """A table with a header; numeric-looking columns are right-aligned.

        On a terminal (rich) the table fits the terminal's width: cells wrap between words,
        and when even then the table is too wide, the ``droppable`` columns (indices, least
        useful first) are left out one by one, with a line naming them. Plain text (output
        piped or redirected) is never cut.
        """
        if self.rich:
            shown, widths = _fitting_columns(columns, rows, droppable, self.console.width)
            self.console.print(self._rich_table(title, columns, rows, bold_rows, shown, widths))
            left_out = [columns[i] for i in range(len(columns)) if i not in shown]
            if left_out:
                self.line(f"(too narrow for every column: {', '.join(left_out)} left out)", "dim")
            return
        widths = [max(len(str(c)) for c in column) for column in zip(columns, *rows, strict=True)]
        if title:
            self.write(title)

        def cells(values: Sequence[str]) -> str:
            first, *rest = (str(v) for v in values)
            parts = [first.ljust(widths[0])]
            parts += [v.rjust(w) for v, w in zip(rest, widths[1:], strict=True)]
            return "  ".join(parts).rstrip()

        self.write(cells(columns))
        self.write("  ".join("-" * w for w in widths))
        for row in rows:
            self.write(cells(row))

    def _rich_table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        bold_rows: Sequence[int],
        shown: Sequence[int],
        widths: Sequence[int],
    ) -> Any:
        from rich.table import Table

        table = Table(title=title, title_justify="left", header_style="bold")
        for index, width in zip(shown, widths, strict=True):
            # fold: should a word still be longer than its column, it wraps, never vanishes
            justify: Literal["left", "right"] = "left" if index == 0 else "right"
            table.add_column(columns[index], justify=justify, overflow="fold", width=width)
        for index, row in enumerate(rows):
            cells = [str(row[i]) for i in shown]
            table.add_row(*cells, style="bold" if index in bold_rows else None)
        return table

    def training(
        self, title: str, total: int, unit: str, columns: Sequence[str]
    ) -> TrainingDisplay:
        """A :class:`TrainingDisplay` for a run of ``total`` steps (``unit``: what a step is)
        whose epoch rows have ``columns``."""
        return TrainingDisplay(self, title, total, unit, columns)


class TrainingDisplay:
    """A progress bar with an epoch table above it (use as a context manager).

    ``advance(n)`` moves the bar; ``row(values)`` adds a line to the epoch table. In plain
    mode there is no bar: the header is printed once and each row as it comes.
    """

    def __init__(self, output: Output, title: str, total: int, unit: str, columns: Any) -> None:
        self.output, self.title, self.total, self.unit = output, title, total, unit
        self.columns = list(columns)
        self.widths = [max(len(c), 9) for c in self.columns]
        self.progress: Any = None  # a rich Progress on a terminal
        self.task: Any = None

    def __enter__(self) -> TrainingDisplay:
        if self.output.rich:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(self.unit),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.output.console,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.title, total=self.total)
            self._print(self._format(self.columns), style="bold")
        else:
            self.output.write(self._format(self.columns))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _format(self, values: Any) -> str:
        return "  ".join(str(v).rjust(w) for v, w in zip(values, self.widths, strict=True))

    def _print(self, text: str, style: str | None = None) -> None:
        if self.progress is not None:
            self.progress.console.print(text, style=style, highlight=False)
        else:
            self.output.write(text)

    def advance(self, steps: int = 1) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, steps)

    def complete(self) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=self.total)

    def row(self, values: Sequence[Any]) -> None:
        self._print(self._format(values))

    def note(self, text: str) -> None:
        self._print(text)


def _fitting_columns(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    droppable: Sequence[int],
    terminal_width: int,
) -> tuple[list[int], list[int]]:
    """The columns to draw and the width of each, within ``terminal_width``.

    A column needs at least its longest word and wants its longest cell. Columns of
    ``droppable`` are left out, in order, until the needs fit; the room left is then shared
    in proportion to what each column still wants. (rich's own sizing squeezes the widest
    columns first, cutting words in two even where dropping a column would avoid it.)
    """
    texts = [[str(columns[i]), *(str(row[i]) for row in rows)] for i in range(len(columns))]
    need = [max((len(w) for t in cells for w in t.split()), default=1) for cells in texts]
    want = [max(len(t) for t in cells) for cells in texts]
    shown = list(range(len(columns)))
    pending = list(droppable)

    def room() -> int:  # a rich table's borders and padding: 3 per column, plus one
        return terminal_width - 3 * len(shown) - 1

    while sum(need[i] for i in shown) > room() and pending:
        shown.remove(pending.pop(0))
    widths = [need[i] for i in shown]
    spare = room() - sum(widths)
    extra = [want[i] - need[i] for i in shown]
    if spare > 0 and sum(extra) > 0:
        share = min(1.0, spare / sum(extra))
        widths = [w + int(e * share) for w, e in zip(widths, extra, strict=True)]
    return shown, [max(1, w) for w in widths]


def fmt_loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def fmt_percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"
