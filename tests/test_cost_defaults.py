"""A new team that keeps the platform's defaults, planned and priced like any stack (bench/defaults/): what it
pays idle is the control plane, one small system node and its key, a NAT on AWS, and nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from teamstack import cost
from teamstack.config import DEFAULT_AWS_SYSTEM_INSTANCE_TYPES, DEFAULT_GCP_SYSTEM_MACHINE_TYPE, load_team

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_cost import DEFAULT_STACKS, DEFAULTS_DIR, IDLE_TARGETS, defaults_values, estimate, nebari_monthly

TABLE = cost.price_table()
HOURS = TABLE.hours_per_month


@pytest.fixture(scope="module", params=DEFAULT_STACKS)
def defaults(request: pytest.FixtureRequest) -> tuple[str, cost.Estimate]:
    stack = str(request.param)
    return stack, estimate(stack, defaults_values(stack))


REQUIRED = {
    "aws:region", "teamstack:team", "teamstack:costCenter", "teamstack:owner", "teamstack:vpcCidr",
    "teamstack:admins", "teamstack:dataScientistPrincipals", "teamstack:nodeGroups", "teamstack:catalogBuckets",
    "teamstack:budget",
}  # fmt: skip
REQUIRED_GCP = (REQUIRED - {"aws:region", "teamstack:dataScientistPrincipals"}) | {
    "teamstack:cloud", "gcp:project", "gcp:region", "teamstack:podCidr", "teamstack:dataScientistMembers",
}  # fmt: skip


def test_the_defaults_stacks_set_only_required_keys(defaults: tuple[str, cost.Estimate]) -> None:
    stack, result = defaults
    document = yaml.safe_load((DEFAULTS_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    assert set(document["config"]) == (REQUIRED if result.cloud == "aws" else REQUIRED_GCP)
    team = load_team(defaults_values(stack), stack)
    assert all(group.min_size == 0 for group in team.node_groups), "workers scale from zero"


def test_idle_is_the_platform_floor_and_one_small_system_node(defaults: tuple[str, cost.Estimate]) -> None:
    _, result = defaults
    assert result.unpriced == []
    idle = {item.what: item.idle for item in result.items if item.idle}
    nodes = [item for item in result.items if item.type == "node group" and item.idle]
    (system,) = nodes  # only the system group costs anything idle
    assert system.what.startswith("1..")
    if result.cloud == "aws":
        assert result.region == "us-east-1"
        worst = max(TABLE.aws_instance(t, spot=False) for t in DEFAULT_AWS_SYSTEM_INSTANCE_TYPES)
        assert system.idle == pytest.approx(worst * HOURS + 20 * 0.08)
        # No interface endpoint beside the NAT; one NAT and its address.
        assert not [i for i in result.items if i.type == "aws:ec2/vpcEndpoint:VpcEndpoint"]
        assert len([i for i in result.items if i.type == "aws:ec2/natGateway:NatGateway"]) == 1
    else:
        assert result.region == "us-central1"
        assert system.idle == pytest.approx(TABLE.gcp_machine(DEFAULT_GCP_SYSTEM_MACHINE_TYPE, spot=False) * HOURS + 2)
        # No Cloud NAT: Private Google Access and the ghcr.io mirror carry everything the nodes pull.
        assert not [i for i in result.items if i.type == "gcp:compute/routerNat:RouterNat"]
    assert len(idle) == len([i for i in result.items if i.idle])


def test_the_defaults_cost_a_fraction_of_nebaris_always_on_default(defaults: tuple[str, cost.Estimate]) -> None:
    _, result = defaults
    assert result.cloud is not None
    assert result.idle <= IDLE_TARGETS[result.cloud]
    assert result.idle < nebari_monthly() / 2


def test_the_nebari_figure_is_derived_from_the_price_table() -> None:
    assert nebari_monthly() == pytest.approx((0.384 + 0.10 + 0.045) * HOURS)
