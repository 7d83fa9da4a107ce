"""What a team costs a month when it runs nothing (idle) and at full scale, beside Nebari's always-on default.

Plans every shipped stack (stacks/) and a new GPU team that keeps every platform default (bench/defaults/: AWS
us-east-1, GCP us-central1) offline, prices each with the project's own estimate (teamstack.cost, list prices
from teamstack/data/prices.yaml) and prints idle and full scale, idle as a ratio of the Nebari-equivalent
always-on cluster (one m5.2xlarge general node, the EKS control plane and a NAT gateway, priced from the same
table), and the defaults-only stacks against the idle targets (AWS <= $130, GCP <= $100 a month).

A MISS is reported, never fatal: the exit code is 0 whenever the plans themselves succeed.

    .venv/bin/python bench/bench_cost.py [--json cost.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
# The idle targets for a new team with the platform's defaults, by cloud (USD a month, list prices).
IDLE_TARGETS = {"aws": 130.0, "gcp": 100.0}
DEFAULT_STACKS = ("new-team-aws", "new-team-gcp")


def nebari_monthly() -> float:
    """Nebari's default on AWS, always on: a general node group of one m5.2xlarge, EKS and one NAT gateway."""
    from teamstack.cost import price_table

    table = price_table()
    aws = table.cloud("aws")
    hourly = table.aws_instance("m5.2xlarge", spot=False) + float(aws["eksControlPlane"]) + float(aws["natGateway"])
    return hourly * table.hours_per_month


def defaults_values(stack: str) -> dict[str, str]:
    """The engine config of a defaults-only stack in bench/defaults/ (with Pulumi.yaml's project defaults)."""
    from teamstack.stackfiles import load_project, stack_config

    project = dataclasses.replace(load_project(ROOT), stack_dir=DEFAULTS_DIR)
    return stack_config(project, stack)


def estimate(stack: str, values: dict[str, str]) -> Any:
    from teamstack import cost
    from teamstack.plan.runner import plan_config
    from teamstack.policy.engine import resources_from_json

    plan = plan_config(ROOT, stack, values)
    _, resources = resources_from_json(plan.to_json(), f"plan of {stack}")
    region = plan.outputs.get("region")
    return cost.estimate(resources, region if isinstance(region, str) else None)


def measure() -> list[dict[str, Any]]:
    from teamstack.stackfiles import load_project, stack_config

    project = load_project(ROOT)
    rows = []
    for stack in [*project.stacks(), *DEFAULT_STACKS]:
        defaults = stack in DEFAULT_STACKS
        values = defaults_values(stack) if defaults else stack_config(project, stack)
        result = estimate(stack, values)
        if result.unpriced:
            raise SystemExit(f"error: {stack}: not fully priced: {result.unpriced}")
        target = IDLE_TARGETS.get(str(result.cloud)) if defaults else None
        rows.append(
            {
                "stack": stack,
                "defaultsOnly": defaults,
                "cloud": result.cloud,
                "region": result.region,
                "idle": result.idle,
                "full": result.full,
                "idleTarget": target,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    nebari = nebari_monthly()
    rows = measure()
    print(f"Nebari-equivalent always-on default (1 x m5.2xlarge + EKS + NAT, us-east-1): ${nebari:,.0f}/month")
    print(f"{'stack':<14} {'cloud':<5} {'region':<14} {'idle':>8} {'full scale':>11} {'idle/Nebari':>12}  target")
    for row in rows:
        target = row["idleTarget"]
        verdict = ""
        if target is not None:
            verdict = f"<= ${target:,.0f}: {'ok' if row['idle'] <= target else 'MISS'} ({row['idle'] / target:.2f})"
        idle, full = f"${row['idle']:,.0f}", f"${row['full']:,.0f}"
        print(
            f"{row['stack']:<14} {row['cloud']:<5} {row['region']:<14} {idle:>8} {full:>11}"
            f" {row['idle'] / nebari:>12.2f}  {verdict}"
        )
    if args.json:
        args.json.write_text(json.dumps({"nebariMonthly": round(nebari, 2), "stacks": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
