"""Plan a stack as it is at another Git revision (the pull request's base), with that revision's own code.

The revision is exported with `git archive` into a temporary folder (no worktree is registered, nothing in the
repository changes) and planned there by a child `python -m teamstack.cli plan`, whose import path starts at the
export: the base's components, config model and program plan the base, not the head's. The folder is removed
afterwards, whatever happens.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from teamstack.config import ConfigError
from teamstack.stackfiles import load_project


class BaseRevisionError(Exception):
    """The base revision cannot be read or planned; `str()` is the one line shown."""


def _git(root: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False, timeout=120)
    except FileNotFoundError:
        raise BaseRevisionError("git is not installed: --diff-base reads the base revision with git") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise BaseRevisionError(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return done.stdout


@contextmanager
def checkout(root: Path, rev: str) -> Iterator[tuple[Path, str]]:
    """(the project folder as it is at `rev`, the commit id), in a temporary folder removed on exit."""
    if rev.startswith("-"):
        raise BaseRevisionError(f"--diff-base {rev}: not a revision")
    try:
        commit = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except BaseRevisionError:
        raise BaseRevisionError(
            f"--diff-base {rev}: no such commit in {root} (in CI, fetch the base: actions/checkout fetch-depth: 0)"
        ) from None
    toplevel = Path(_git(root, "rev-parse", "--show-toplevel").decode().strip())
    relative = root.resolve().relative_to(toplevel.resolve())
    archive = _git(toplevel, "archive", "--format=tar", commit)
    with tempfile.TemporaryDirectory(prefix="teamstack-base-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder) / relative, commit


def plan_at(base_root: Path, stack: str, label: str) -> dict[str, Any] | None:
    """The JSON plan of `stack` in the exported project; None when the stack file does not exist there (a new
    team). A base that does not plan: BaseRevisionError with the child's one-line error."""
    if not (base_root / "Pulumi.yaml").is_file():
        raise BaseRevisionError(f"{label}: no Pulumi.yaml in the project folder at that revision")
    try:
        project = load_project(base_root)
    except ConfigError as error:
        raise BaseRevisionError(f"{label}: {error}") from None
    if not project.stack_path(stack).is_file():
        return None
    target = base_root / ".teamstack-base-plan.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(base_root), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("TEAMSTACK_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "teamstack.cli", "plan", stack, "--quiet", "--json", str(target), "-C", str(base_root)],
        cwd=base_root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        reason = errors[-1][len("error:") :].strip() if errors else f"the base plan failed (exit {done.returncode})"
        raise BaseRevisionError(f"{label}: {reason}")
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BaseRevisionError(f"{label}: the base plan wrote no readable JSON ({error})") from None
    return data if isinstance(data, dict) else None
