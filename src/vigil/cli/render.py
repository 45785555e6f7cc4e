"""Output for people (Rich tables, progress bars) and for machines (one JSON document)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vigil.jsonsafe import json_safe

if TYPE_CHECKING:
    from rich.console import Console

    # The consoles for people, on stdout and stderr: made on first use (``__getattr__``),
    # so a command that prints only JSON never imports Rich.
    out: Console
    err: Console

_consoles: dict[str, Console] = {}


def console(name: str) -> Console:
    """Returns the console ``out`` (stdout) or ``err`` (stderr), made on first use."""
    if name not in _consoles:
        from rich.console import Console

        _consoles[name] = Console(stderr=name == "err", highlight=False, soft_wrap=True)
    return _consoles[name]


def __getattr__(name: str) -> Console:
    """Returns ``render.out`` and ``render.err`` (module attributes made on first use)."""
    if name in ("out", "err"):
        return console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def emit_json(document: Any) -> None:
    """Prints ``document`` as the only thing on stdout."""
    sys.stdout.write(json.dumps(json_safe(document), indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Prints a table for people."""
    from rich.table import Table

    view = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        view.add_column(column)
    for row in rows:
        view.add_row(*(fmt(v) for v in row))
    console("out").print(view)


def fmt(value: Any) -> str:
    """Returns a short human rendering of a cell value."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(json_safe(value), default=str)
    return str(value)


def scalar_metrics(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """Returns the metrics that are single numbers, in their stored order."""
    return [(k, v) for k, v in metrics.items() if isinstance(v, int | float) or v is None]


@contextmanager
def progress_bar(enabled: bool, description: str) -> Iterator[Any]:
    """Yields a ``(fraction, message)`` callback driving a bar on a terminal, else a no-op."""
    if not enabled or not console("err").is_terminal:
        yield lambda fraction, message: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=console("err"),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=1.0, step="")

        def update(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, step=message)

        yield update
