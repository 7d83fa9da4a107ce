"""`teamstack policy ...`: the offline policy check a reviewer runs on a pull request's attached plan."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

# The engine, reports and config model are imported by the command itself: `teamstack --help` stays fast.

EXIT_BAD_INPUT = 2

app = typer.Typer(
    name="policy",
    help="Check saved JSON plans against the policy pack (policies/), offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def default_policies_dir(project_dir: Path | None) -> Path:
    from teamstack.stackfiles import find_project

    return find_project((project_dir or Path.cwd()).resolve()) / "policies"


@app.command()
def check(
    plan_file: Annotated[Path, typer.Argument(help="A JSON plan written by `teamstack plan <stack> --json`.")],
    policies_dir: Annotated[
        Path | None,
        typer.Option(
            "--policies", help="The policy pack folder with teams/<stack>.yaml (default: <project>/policies)."
        ),
    ] = None,
    show_cost: Annotated[bool, typer.Option("--cost", help="Also print the monthly cost estimate.")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the violations as JSON here.")] = None,
    project_dir: Annotated[
        Path | None, typer.Option("--project-dir", "-C", help="The Pulumi project (default: nearest Pulumi.yaml).")
    ] = None,
) -> None:
    """Evaluate every rule of the pack on a saved plan; exit 3 if a mandatory rule is violated."""
    from teamstack.config import ConfigError
    from teamstack.policy.engine import PlanFileError, load_plan_file
    from teamstack.policy.report import EXIT_POLICY_VIOLATION, check_policy, print_cost

    try:
        stack, resources, outputs = load_plan_file(plan_file)
        folder = policies_dir if policies_dir is not None else default_policies_dir(project_dir)
        if not folder.is_dir():
            raise PlanFileError(f"{folder}: no policy pack folder here (pass --policies)")
        team = outputs.get("team")
        violations = check_policy(out, stack, resources, folder, team if isinstance(team, str) else None)
        if show_cost:
            region = outputs.get("region")
            print_cost(out, stack, resources, region if isinstance(region, str) else None)
        if json_path is not None:
            payload = {"stack": stack, "violations": [v.to_json() for v in violations]}
            json_path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except (PlanFileError, ConfigError) as error:
        err.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if any(v.mandatory for v in violations):
        raise typer.Exit(EXIT_POLICY_VIOLATION)
