"""The build progress line at 80 columns: the phase and the elapsed time stay visible however long the image."""

from __future__ import annotations

import io

from rich.console import Console

from teamstack.client.progress import build_progress

URI = "111122223333.dkr.ecr.us-west-2.amazonaws.com/ml-vision/dask:cpu-3f9a1c2e7b4d5a6f-r8c1d2e3f4a5b6c7d8e9f0"


def _rendered(width: int, phase: str) -> str:
    sink = io.StringIO()
    console = Console(file=sink, width=width, force_terminal=True, color_system=None, legacy_windows=False)
    progress = build_progress(console)
    progress.add_task(URI.rsplit("/", 1)[-1], total=9, completed=4, phase=phase)
    console.print(progress.get_renderable())
    return sink.getvalue()


def test_phase_and_elapsed_time_fit_in_80_columns() -> None:
    line = _rendered(80, "BUILD (ml-vision-images:1b2c3d4e)")
    (text,) = [row for row in line.splitlines() if row.strip()]
    assert len(text) <= 80
    assert "0:00:00" in text  # the clock
    assert "BUILD" in text  # the phase
    assert "dask:cpu-3f9a" in text  # the start of the tag, shortened with an ellipsis
    assert "…" in text


def test_a_wide_terminal_shows_everything() -> None:
    text = _rendered(200, "POST_BUILD")
    assert "POST_BUILD" in text and URI.rsplit("/", 1)[-1] in text
