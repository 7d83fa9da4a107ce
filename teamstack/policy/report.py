"""Printing policy results and cost estimates for the CLI (`teamstack plan --policy --cost`, `policy check`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from teamstack import cost
from teamstack.policy.config import load_team_policy
from teamstack.policy.engine import evaluate
from teamstack.policy.model import Resource, Violation
from teamstack.policy.rules import ALL_RULES

if TYPE_CHECKING:
    from teamstack.plan.overrides import SettingCost

# Distinct from 1 (unexpected failure) and 2 (bad input): the plan is readable but breaks a mandatory rule.
EXIT_POLICY_VIOLATION = 3


def print_violations(console: Console, stack: str, violations: list[Violation], resource_count: int) -> None:
    for v in violations:
        console.print(f"[{v.enforcement}/{v.severity}] {v.rule}  {v.urn or '(stack)'}", markup=False)
        console.print(f"    {v.message}", markup=False)
        console.print(f"    remediation: {v.remediation}", markup=False)
    mandatory = sum(v.mandatory for v in violations)
    advisory = len(violations) - mandatory
    checked = f"{len(ALL_RULES)} rules on {resource_count} resources"
    if violations:
        console.print(
            f"{stack}: policy: {mandatory} mandatory, {advisory} advisory violations ({checked})", markup=False
        )
    else:
        console.print(f"{stack}: policy: no violations ({checked})", markup=False)


def check_policy(
    console: Console, stack: str, resources: list[Resource], policies_dir: Path, team: str | None = None
) -> list[Violation]:
    """Evaluate the pack with the team's values from `policies_dir` and print the result. `team`: the plan's
    team, which the policy file must not contradict (ConfigError)."""
    violations = evaluate(resources, load_team_policy(policies_dir, stack, team), stack)
    print_violations(console, stack, violations, len(resources))
    return violations


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def print_cost(console: Console, stack: str, resources: list[Resource], region: str | None = None) -> cost.Estimate:
    estimate = cost.estimate(resources, region)
    console.print(
        f"{stack}: monthly cost estimate ({estimate.cloud or '?'} {estimate.region or '?'}; prices: {estimate.source})",
        markup=False,
    )
    width = max((len(item.urn.rsplit("::", 1)[-1]) for item in estimate.items), default=10)
    console.print(f"  {'resource':<{width}}  {'idle':>9}  {'full scale':>10}  what", markup=False)
    for item in sorted(estimate.items, key=lambda i: (-i.full, i.urn)):
        name = item.urn.rsplit("::", 1)[-1]
        console.print(f"  {name:<{width}}  {_usd(item.idle):>9}  {_usd(item.full):>10}  {item.what}", markup=False)
    console.print(f"  {'total':<{width}}  {_usd(estimate.idle):>9}  {_usd(estimate.full):>10}", markup=False)
    for urn, reason in estimate.unpriced:
        console.print(f"  not priced: {urn or '(stack)'}: {reason}", markup=False)
    console.print(
        "  idle = every group at its minimum, full scale = every group at its maximum; usage-priced items "
        "(data transfer, storage, requests, logs) are not included",
        markup=False,
    )
    return estimate


def _signed(value: float) -> str:
    return f"{'+' if value >= 0 else '-'}${abs(value):,.0f}"


def print_setting_costs(console: Console, costs: list[SettingCost]) -> None:
    """What the stack's overrides of the platform defaults cost, and what each option left off would add."""
    overrides = [c for c in costs if c.set_in_file]
    options = [c for c in costs if not c.set_in_file]
    width = max((len(f"{c.key}: {c.value}") for c in costs), default=10)
    if overrides:
        console.print("  the stack file's overrides of the platform defaults, each against its default:", markup=False)
        for c in overrides:
            label = f"{c.key}: {c.value}"
            console.print(
                f"    {label:<{width}}  idle {_signed(c.idle):>7}  full scale {_signed(c.full):>7}", markup=False
            )
    else:
        console.print("  the stack file keeps the platform's cost defaults", markup=False)
    if options:
        console.print("  options left at the default, each if turned on:", markup=False)
        for c in options:
            label = f"{c.key}: {c.value}"
            console.print(
                f"    {label:<{width}}  idle {_signed(c.idle):>7}  full scale {_signed(c.full):>7}  ({c.note})",
                markup=False,
            )
