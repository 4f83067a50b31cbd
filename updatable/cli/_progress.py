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


def rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class Output:
    """Where a verb writes: rich on a terminal, plain text otherwise (``plain`` forces it)."""

    def __init__(self, plain: bool | None = None, stream=None):
        self.stream = stream or sys.stdout
        if plain is None:
            plain = not (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.rich = not plain and rich_available()
        # a terminal that would have had progress bars, were rich installed
        self.plain_for_want_of_rich = not plain and not self.rich
        self.console = None
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
    ) -> None:
        """A table with a header; numeric-looking columns are right-aligned."""
        if self.rich:
            from rich.table import Table

            table = Table(title=title, title_justify="left", header_style="bold")
            for index, name in enumerate(columns):
                table.add_column(name, justify="left" if index == 0 else "right")
            for index, row in enumerate(rows):
                table.add_row(*row, style="bold" if index in bold_rows else None)
            self.console.print(table)
            return
        widths = [max(len(str(c)) for c in column) for column in zip(columns, *rows, strict=True)]
        if title:
            self.write(title)

        def cells(values) -> str:
            first, *rest = (str(v) for v in values)
            parts = [first.ljust(widths[0])]
            parts += [v.rjust(w) for v, w in zip(rest, widths[1:], strict=True)]
            return "  ".join(parts).rstrip()

        self.write(cells(columns))
        self.write("  ".join("-" * w for w in widths))
        for row in rows:
            self.write(cells(row))

    def training(self, title: str, total: int, unit: str, columns: Sequence[str]):
        """A :class:`TrainingDisplay` for a run of ``total`` steps (``unit``: what a step is)
        whose epoch rows have ``columns``."""
        return TrainingDisplay(self, title, total, unit, columns)


class TrainingDisplay:
    """A progress bar with an epoch table above it (use as a context manager).

    ``advance(n)`` moves the bar; ``row(values)`` adds a line to the epoch table. In plain
    mode there is no bar: the header is printed once and each row as it comes.
    """

    def __init__(self, output: Output, title: str, total: int, unit: str, columns):
        self.output, self.title, self.total, self.unit = output, title, total, unit
        self.columns = list(columns)
        self.widths = [max(len(c), 9) for c in self.columns]
        self.progress = None
        self.task = None

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

    def __exit__(self, *exc_info) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _format(self, values) -> str:
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

    def row(self, values: Sequence) -> None:
        self._print(self._format(values))

    def note(self, text: str) -> None:
        self._print(text)


def fmt_loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def fmt_percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"
