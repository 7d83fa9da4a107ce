"""`teamstack --help` lists the commands by audience (issue 10): data scientists' commands apart from IT's.

Rich help is off for start-up speed, so the sections come from the top-level group's own `format_commands`;
these tests read the help a user sees (a fresh process) and hold every command to exactly one audience.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from teamstack.cli import AUDIENCES, app

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "teamstack.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _sections(help_text: str) -> dict[str, list[str]]:
    """Section title -> the command names listed under it (the first word of each indented line)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in help_text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = sections.setdefault(line[:-1], [])
        elif current is not None and line.startswith("  ") and line.strip():
            current.append(line.split()[0])
    return sections


def test_help_lists_each_command_once_under_its_audience() -> None:
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    sections = _sections(result.stdout)
    registered = set(typer.main.get_command(app).list_commands(None))  # type: ignore[arg-type]
    for title, names in AUDIENCES.items():
        assert sections.get(title) == list(names), (title, sections)
    listed = [name for title in AUDIENCES for name in sections[title]]
    assert sorted(listed) == sorted(registered), "a command without an audience, or one listed twice"
    assert "Other commands" not in sections and "Commands" not in sections
    assert set(sections["For data scientists"]).isdisjoint({"validate", "plan", "policy"})


@pytest.mark.parametrize(
    "args",
    [("plan", "--help"), ("validate", "--help"), ("policy", "--help"), ("login", "--help"),
     ("cluster", "start", "--help"), ("env", "build", "--help"), ("catalog", "ls", "--help"), ("status", "--help")],
)  # fmt: skip
def test_existing_command_lines_still_work(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage:")
