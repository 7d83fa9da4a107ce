"""What a stack's cost-relevant settings cost, priced by planning the stack again without (or with) each one.

`teamstack plan --cost` shows, for every cost-relevant key the stack file sets to something other than the
platform default, how much more (or less) the stack costs a month than with that key left out; and for the
options a team at the default could turn on, what turning each on would add. Each figure is the difference of
two full estimates (`teamstack.cost.estimate`) of two real plans, so it is priced exactly like the total.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teamstack import cost
from teamstack.config import PROJECT, ConfigError, TeamConfig, load_team
from teamstack.plan.runner import Plan, PlanError, plan_config
from teamstack.policy.engine import resources_from_json

# Keys whose value changes what the stack pays for fixed items or idle nodes, in the order they are shown.
COST_KEYS = ("systemNodeGroup", "natMode", "interfaceEndpoints", "azCount", "zones", "clusterLocation")

# Keys read only together with a cost key's non-default value, left out with it (the model refuses them alone):
# natMode none's ghcr.io credential (teamstack.validation.team).
DEPENDENT_KEYS: dict[str, tuple[str, ...]] = {"natMode": ("ghcrCredentialArn",)}

# Options a team at the platform's default may turn on, per cloud: (key, value, why a team would).
OPTIONS: dict[str, tuple[tuple[str, Any, str], ...]] = {
    "aws": (
        ("systemNodeGroup", {"highAvailability": True}, "add-ons survive a node or zone loss"),
        ("natMode", "per-az", "egress survives a zone loss"),
        ("interfaceEndpoints", True, "ECR/STS traffic stays off the NAT"),
    ),
    "gcp": (
        ("systemNodeGroup", {"highAvailability": True}, "add-ons survive a node or zone loss"),
        ("natMode", "single", "nodes reach the internet: data outside Google Cloud, pip at run time, VM clusters"),
    ),
}


def engine_value(value: Any) -> str:
    """A setting as the engine's flat config map holds it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class SettingCost:
    """The monthly difference a setting makes: positive when the stack pays more with it."""

    key: str
    value: str  # as JSON, the way the stack file spells it
    idle: float
    full: float
    set_in_file: bool  # True: the stack's own override (priced against the default); False: an option
    note: str = ""


def _estimate(plan: Plan, region: str | None) -> cost.Estimate:
    _, resources = resources_from_json(plan.to_json(), f"plan of {plan.stack}")
    return cost.estimate(resources, region)


def _team_or_none(values: dict[str, str], stack: str) -> TeamConfig | None:
    try:
        return load_team(values, stack)
    except ConfigError:
        return None


def setting_costs(
    root: Path, stack: str, values: dict[str, str], baseline: cost.Estimate, region: str | None = None
) -> list[SettingCost]:
    """Each cost-relevant override in `values` priced against the default, then each option it leaves at the
    default priced as turned on. Variants the config model refuses (a key another setting requires) are
    skipped. Raises PlanError only if a variant the model accepts cannot be planned."""
    team = load_team(values, stack)
    costs: list[SettingCost] = []
    for name in COST_KEYS:
        key = f"{PROJECT}:{name}"
        if key not in values:
            continue
        dropped = {key, *(f"{PROJECT}:{dependent}" for dependent in DEPENDENT_KEYS.get(name, ()))}
        without = {k: v for k, v in values.items() if k not in dropped}
        default_team = _team_or_none(without, stack)
        if default_team is None or default_team == team:
            continue  # required here, or set to what the default already is
        other = _estimate(plan_config(root, stack, without), region)
        costs.append(
            SettingCost(name, values[key], baseline.idle - other.idle, baseline.full - other.full, set_in_file=True)
        )
    for name, value, why in OPTIONS.get(team.cloud, ()):
        key = f"{PROJECT}:{name}"
        if key in values:
            continue
        text = engine_value(value)
        variant = {**values, key: text}
        if _team_or_none(variant, stack) is None:
            continue
        other = _estimate(plan_config(root, stack, variant), region)
        costs.append(
            SettingCost(name, text, other.idle - baseline.idle, other.full - baseline.full, set_in_file=False, note=why)
        )
    return costs


__all__ = ["COST_KEYS", "DEPENDENT_KEYS", "OPTIONS", "PlanError", "SettingCost", "engine_value", "setting_costs"]
