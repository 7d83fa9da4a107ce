"""`teamstack plan diff OLD.json NEW.json` and `teamstack plan <stack> --diff-base REV`: what a change does.

Exit codes: 0 nothing blocks; 3 the change deletes/replaces/unprotects a stateful or protected resource without a
reviewed allowance, or adds a mandatory policy violation; 2 bad input (one line); 1 unexpected failure.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from teamstack.config import ConfigError
from teamstack.plan import diff as plandiff
from teamstack.plan.allowances import Allowance, load_allowances
from teamstack.plan.base import BaseRevisionError, checkout, plan_at
from teamstack.policy.config import load_policy_config
from teamstack.policy.engine import PlanFileError, evaluate, resources_from_json
from teamstack.policy.model import Violation
from teamstack.stackfiles import find_project

EXIT_BAD_INPUT = 2

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)
err = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanFileError(f"{path}: not a JSON plan ({error})") from None
    resources_from_json(data, str(path))  # the plan format, checked before anything is compared
    return dict(data)


def _violations(plan: dict[str, Any], policies_dir: Path | None, label: str) -> list[Violation] | None:
    if policies_dir is None or not policies_dir.is_dir():
        return None
    stack, resources = resources_from_json(plan, label)
    return evaluate(resources, load_policy_config(policies_dir, stack), stack)


def _write(diff: plandiff.PlanDiff, markdown_path: Path | None, json_path: Path | None) -> None:
    for path, text in (
        (markdown_path, plandiff.to_markdown(diff)),
        (json_path, json.dumps(diff.to_json(), indent=2, sort_keys=True) + "\n"),
    ):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            err.print(f"wrote {path}", markup=False)


def build_diff(
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    base: str,
    head: str,
    old_policies: Path | None,
    new_policies: Path | None,
    today: dt.date | None = None,
) -> plandiff.PlanDiff:
    """The diff with its policy delta (each plan against its own revision's policy values) and allowances (the
    head's: they are reviewed in the same pull request as the change)."""
    stack = str(new.get("stack") or old.get("stack"))
    allowances: list[Allowance] = load_allowances(new_policies, stack) if new_policies is not None else []
    old_v = _violations(old, old_policies, base) if old.get("resources") else []
    new_v = _violations(new, new_policies, head)
    result = plandiff.diff_plans(
        old,
        new,
        base=base,
        head=head,
        allowances=allowances,
        old_violations=old_v if new_v is not None else None,
        new_violations=new_v,
        today=today,
    )
    if new_v is None:
        result.notes.append("no policy pack folder: the policy delta is not shown (pass --policies)")
    return result


@app.command(name="diff")
def diff_command(
    old_plan: Annotated[Path, typer.Argument(help="The base plan (teamstack plan <stack> --json).")],
    new_plan: Annotated[Path, typer.Argument(help="The changed plan of the same stack.")],
    policies_dir: Annotated[
        Path | None,
        typer.Option(
            "--policies", help="Policy pack folder for the new plan and allowances (default: <project>/policies)."
        ),
    ] = None,
    base_policies: Annotated[
        Path | None, typer.Option("--base-policies", help="Policy pack folder for the old plan (default: --policies).")
    ] = None,
    markdown_path: Annotated[
        Path | None, typer.Option("--markdown", help="Write the Markdown (a PR comment) here.")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the diff as JSON here.")] = None,
    project_dir: Annotated[
        Path | None, typer.Option("--project-dir", "-C", help="The Pulumi project (default: nearest Pulumi.yaml).")
    ] = None,
) -> None:
    """Compare two JSON plans: resources added, removed and changed field by field, cost and policy delta."""
    try:
        old, new = _load(old_plan), _load(new_plan)
        folder = policies_dir
        if folder is None:
            try:
                folder = find_project((project_dir or Path.cwd()).resolve()) / "policies"
            except ConfigError:
                folder = None
        result = build_diff(
            old, new, base=str(old_plan), head=str(new_plan), old_policies=base_policies or folder, new_policies=folder
        )
        out.print(plandiff.to_markdown(result), markup=False)
        _write(result, markdown_path, json_path)
    except (PlanFileError, ConfigError) as error:
        err.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def review_against_base(
    root: Path,
    stack: str,
    head_plan: dict[str, Any],
    rev: str,
    markdown_path: Path | None,
    json_path: Path | None,
) -> int:
    """`teamstack plan <stack> --diff-base REV`: plan REV's tree, diff, print and write; the diff's exit code.
    Raises BaseRevisionError / ConfigError (one line each) on bad input."""
    with checkout(root, rev) as (base_root, commit):
        label = f"{rev} ({commit[:12]})"
        base_plan = plan_at(base_root, stack, label)
        if base_plan is None:
            base_plan = {"stack": stack, "resources": [], "outputs": {}}
        result = build_diff(
            base_plan,
            head_plan,
            base=label,
            head="the working tree",
            old_policies=base_root / "policies",
            new_policies=root / "policies",
        )
        if not base_plan["resources"]:
            result.notes.append(f"the stack file is new: {rev} has no stacks/Pulumi.{stack}.yaml")
    out.print(plandiff.to_markdown(result), markup=False)
    _write(result, markdown_path, json_path)
    return result.exit_code


class PlanCommand(TyperCommand):
    """`teamstack plan` that also answers `teamstack plan diff ...` (a stack cannot be called `diff`)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        if args and args[0] == "diff":
            command = typer.main.get_command(app)
            return command.make_context(f"{info_name or 'plan'} diff", list(args[1:]), parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


__all__ = ["BaseRevisionError", "PlanCommand", "review_against_base"]
