"""`plan --cost` prices a stack's cost-relevant overrides against the default, and the options it leaves off,
by planning again: each figure is the difference of two real estimates."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.aws.network import BASE_INTERFACE_ENDPOINTS
from teamstack import cost
from teamstack.config import DEFAULT_AWS_SYSTEM_INSTANCE_TYPES
from teamstack.plan.overrides import setting_costs
from teamstack.plan.runner import Plan
from teamstack.policy.engine import resources_from_json
from teamstack.stackfiles import load_project, stack_config

REPO = Path(__file__).resolve().parents[1]
TABLE = cost.price_table()
HOURS = TABLE.hours_per_month


@pytest.mark.parametrize("stack", ["ml-vision"])
def test_each_override_and_option_is_priced_by_its_own_resources(plan: Plan, stack: str) -> None:
    _, resources = resources_from_json(plan.to_json(), "plan")
    baseline = cost.estimate(resources, "us-west-2")  # us-west-2 prices as the base region
    values = stack_config(load_project(REPO), stack)
    costs = {c.key: c for c in setting_costs(REPO, stack, values, baseline, "us-west-2")}
    aws = TABLE.cloud("aws")
    # per-az over single: two more NAT gateways and their addresses, idle and at full scale alike.
    per_az = costs["natMode"]
    assert per_az.set_in_file and per_az.value == "per-az"
    nat = 2 * (float(aws["natGateway"]) + float(aws["publicIpv4"])) * HOURS
    assert per_az.idle == pytest.approx(nat, abs=0.01) and per_az.full == pytest.approx(nat, abs=0.01)
    # Options left off: a second system node idle (nothing at full scale, where the group is at 3 anyway) ...
    ha = costs["systemNodeGroup"]
    assert not ha.set_in_file and ha.value == '{"highAvailability": true}'
    node = max(TABLE.aws_instance(t, spot=False) for t in DEFAULT_AWS_SYSTEM_INSTANCE_TYPES) * HOURS + 20 * 0.08
    assert ha.idle == pytest.approx(node, abs=0.01) and ha.full == pytest.approx(0, abs=0.01)
    # ... and the base interface endpoints in each of the three AZs.
    endpoints = costs["interfaceEndpoints"]
    expected = len(BASE_INTERFACE_ENDPOINTS) * 3 * float(aws["interfaceEndpointPerAz"]) * HOURS
    assert endpoints.idle == pytest.approx(expected, abs=0.01)
    assert "azCount" not in costs  # set to the default (3): not an override


@pytest.mark.parametrize("stack", ["new-team-aws", "new-team-gcp"])
def test_every_option_is_priced_for_a_team_at_the_defaults(stack: str) -> None:
    """No option is skipped: each is a value the model accepts, spelt as the engine holds it (a string option
    quoted as JSON was once refused by the model and silently left out)."""
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    from bench_cost import defaults_values, estimate

    from teamstack.plan.overrides import OPTIONS

    values = defaults_values(stack)
    baseline = estimate(stack, values)
    costs = {c.key: c for c in setting_costs(REPO, stack, values, baseline, baseline.region)}
    assert baseline.cloud is not None
    assert set(costs) == {key for key, _, _ in OPTIONS[baseline.cloud]}
    assert all(not c.set_in_file and c.idle > 0 for c in costs.values())
    if baseline.cloud == "gcp":
        # Cloud NAT for the one idle node, and its address.
        nat = costs["natMode"]
        assert nat.value == "single"
        assert nat.idle == pytest.approx(cost.cloud_nat_hourly(1) * HOURS, abs=0.01)
    else:
        per_az = costs["natMode"]
        assert per_az.value == "per-az"
        aws = TABLE.cloud("aws")
        assert per_az.idle == pytest.approx(2 * (float(aws["natGateway"]) + float(aws["publicIpv4"])) * HOURS, abs=0.01)
