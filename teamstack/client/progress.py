"""The build progress line: phase and elapsed time first, so an 80-column terminal still shows them.

Rich crops a progress line at the terminal's width; the image URI (100+ characters on ECR/Artifact Registry)
used to come first and push the phase and the clock out of sight. Here the clock and the phase come first,
the bar is short, and the URI is last, shortened with an ellipsis (it is printed whole once, above the bar).
"""

from __future__ import annotations

from typing import Any

PHASE_WIDTH = 34
BAR_WIDTH = 12


def build_progress(console: Any, *, disable: bool = False) -> Any:
    """A Rich Progress for image builds; tasks take `description` (the image) and `phase` fields."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Column

    return Progress(
        SpinnerColumn(),
        TimeElapsedColumn(),
        TextColumn(
            "{task.fields[phase]}",
            table_column=Column(min_width=12, max_width=PHASE_WIDTH, no_wrap=True, overflow="ellipsis"),
        ),
        BarColumn(bar_width=BAR_WIDTH),
        TextColumn(
            "[bold]{task.description}",
            table_column=Column(ratio=1, min_width=8, no_wrap=True, overflow="ellipsis"),
        ),
        console=console,
        disable=disable,
        transient=True,
        expand=True,
    )
