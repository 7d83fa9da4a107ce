"""The cost estimate: the shipped price table covers what stacks and allow-lists use, idle vs full scale,
GPU groups from zero cost nothing idle, and what cannot be priced is listed rather than guessed."""

from __future__ import annotations

from typing import Any

import pytest

from teamstack import cost
from teamstack.plan.runner import Plan
from teamstack.policy.config import DEFAULTS, load_policy_config
from teamstack.policy.engine import resources_from_json
from teamstack.policy.model import Resource
from tests.test_policy_plan import POLICIES

TABLE = cost.price_table()
HOURS = TABLE.hours_per_month


def _resources(plan: Plan) -> list[Resource]:
    return resources_from_json(plan.to_json(), "plan")[1]


def test_price_table_states_its_source_and_date() -> None:
    assert TABLE.data["source"] and TABLE.data["date"] and TABLE.data["currency"] == "USD"
    for cloud in ("aws", "gcp"):
        assert TABLE.data[cloud]["regions"][TABLE.data[cloud]["baseRegion"]] == 1.0


def test_every_allowed_type_is_priced_and_spot_is_cheaper() -> None:
    for name in DEFAULTS.allowed_instance_types:
        assert 0 < TABLE.aws_instance(name, spot=True) < TABLE.aws_instance(name, spot=False)
    for name in DEFAULTS.allowed_machine_types:
        assert 0 < TABLE.gcp_machine(name, spot=True) < TABLE.gcp_machine(name, spot=False)
    for name in DEFAULTS.allowed_accelerators:
        assert 0 < TABLE.gcp_accelerator(name, spot=True) < TABLE.gcp_accelerator(name, spot=False)


def test_every_shipped_stack_is_fully_priced(plan: Plan, stack: str) -> None:
    estimate = cost.estimate(_resources(plan), plan.outputs.get("region"))
    assert estimate.unpriced == []
    groups, _ = cost.node_groups(_resources(plan))
    assert {item.urn for item in estimate.items} >= {g.urn for g in groups}
    assert 0 < estimate.idle < estimate.full <= load_policy_config(POLICIES, stack).monthly_cost_cap_usd


def test_every_team_allow_list_is_priced(stack: str) -> None:
    config = load_policy_config(POLICIES, stack)
    for name in config.allowed_instance_types:
        TABLE.aws_instance(name, spot=False)
    for name in config.allowed_machine_types:
        TABLE.gcp_machine(name, spot=False)


@pytest.mark.parametrize("stack", ["ml-vision"])
def test_gpu_groups_from_zero_cost_nothing_idle(plan: Plan) -> None:
    estimate = cost.estimate(_resources(plan))
    gpu = [i for i in estimate.items if "gpu" in i.urn.rsplit("::", 1)[-1] and i.type == "node group"]
    assert len(gpu) == 2 and all(i.idle == 0 and i.full > 0 for i in gpu)
    # The A10G group at full scale: 2 x g5.12xlarge on demand plus its 500 GiB gp3 disks, us-west-2 = base.
    a10g = next(i for i in gpu if "a10g" in i.urn)
    expected = 2 * (TABLE.aws_instance("g5.12xlarge", spot=False) * HOURS + 500 * 0.08)
    assert a10g.full == pytest.approx(expected)


@pytest.mark.parametrize("stack", ["ml-vision"])
def test_fixed_items_cost_the_same_idle_and_full(plan: Plan) -> None:
    estimate = cost.estimate(_resources(plan))
    nat = [i for i in estimate.items if i.type == "aws:ec2/natGateway:NatGateway"]
    assert len(nat) == 3 and all(i.idle == i.full == pytest.approx(0.045 * HOURS) for i in nat)
    assert any(i.type == "aws:eks/cluster:Cluster" and i.full == pytest.approx(0.10 * HOURS) for i in estimate.items)


def _pool(**changes: Any) -> Resource:
    props: dict[str, Any] = {
        "cluster": "c",
        "location": "europe-west4",
        "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 4},
        "nodeConfig": {"machineType": "g2-standard-24", "guestAccelerators": [{"type": "nvidia-l4", "count": 2}]},
    }
    props.update(changes)
    return Resource.of(
        "urn:pulumi:s::p::gcp:container/nodePool:NodePool::gpu", "gcp:container/nodePool:NodePool", "gpu", props
    )


def test_gke_builtin_gpus_are_counted_and_priced_once() -> None:
    (group,), _ = cost.node_groups([_pool()])
    assert group.gpus_per_node == 2 and group.max_nodes == 4
    estimate = cost.estimate([_pool()], "europe-west4")
    per_node = (TABLE.gcp_machine("g2-standard-24", spot=False) * HOURS + 100 * 0.10) * 1.1
    assert estimate.items[0].full == pytest.approx(4 * per_node)


def test_gke_per_zone_counts_multiply_by_zones() -> None:
    pool = _pool(autoscaling={"minNodeCount": 1, "maxNodeCount": 2}, nodeLocations=["a", "b", "c"])
    (group,), _ = cost.node_groups([pool])
    assert (group.min_nodes, group.max_nodes) == (3, 6)
    regional = _pool(autoscaling={"minNodeCount": 0, "maxNodeCount": 2})
    assert cost.node_groups([regional])[0][0].max_nodes == 6  # a regional pool spans three zones


def test_unknown_sizes_and_types_are_listed_not_guessed() -> None:
    unknown = _pool(autoscaling={"totalMinNodeCount": 0, "totalMaxNodeCount": "3eeb2bf0-c639-47a8-9e75-3b44932eb421"})
    assert cost.estimate([unknown], "europe-west4").unpriced[0][1] == "autoscaling.totalMaxNodeCount is not known"
    exotic = _pool(nodeConfig={"machineType": "m3-ultramem-32"})
    assert "no price for GCE machine type 'm3-ultramem-32'" in cost.estimate([exotic], "europe-west4").unpriced[0][1]
    assert "no gcp prices for region 'mars-north1'" in cost.estimate([_pool()], "mars-north1").unpriced[0][1]


@pytest.mark.parametrize("machine", ["c4d-standard-16", "n4d-highmem-8", "a3-ultragpu-8g"])
def test_a_catalogued_but_unpriced_type_is_listed_with_what_is_missing(machine: str) -> None:
    # The price table prices named types, not families: a type the catalogue gained is named, never guessed.
    assert machine not in TABLE.data["gcp"]["machines"]
    estimate = cost.estimate([_pool(nodeConfig={"machineType": machine})], "europe-west4")
    assert estimate.items == [] and len(estimate.unpriced) == 1
    assert estimate.unpriced[0][1] == f"no price for GCE machine type '{machine}' in teamstack/data/prices.yaml"


def _nat(**props: Any) -> Resource:
    return Resource.of(
        "urn:pulumi:s::p::gcp:compute/routerNat:RouterNat::nat", "gcp:compute/routerNat:RouterNat", "nat", props
    )


def test_cloud_nat_bills_per_vm_up_to_its_cap_plus_its_addresses() -> None:
    # cloud.google.com/nat/pricing: $0.0014 per VM-hour up to 32 VMs, then $0.044; $0.005 per NAT IP-hour.
    assert cost.cloud_nat_hourly(1) == pytest.approx(0.0014 + 0.005)
    assert cost.cloud_nat_hourly(32) == pytest.approx(32 * 0.0014 + 0.005)
    assert cost.cloud_nat_hourly(33) == pytest.approx(0.044 + 0.005)
    # One address offers 64512 ports: at 64 ports a VM that is 1008 VMs; at 4096 a VM, 15.
    assert cost.cloud_nat_hourly(1009) == pytest.approx(0.044 + 2 * 0.005)
    assert cost.cloud_nat_hourly(16, ports_per_vm=4096) == pytest.approx(16 * 0.0014 + 2 * 0.005)


def test_cloud_nat_follows_the_node_count_idle_and_at_full_scale() -> None:
    pool = _pool(autoscaling={"totalMinNodeCount": 2, "totalMaxNodeCount": 40})
    estimate = cost.estimate([pool, _nat()], "us-central1")
    (nat,) = [i for i in estimate.items if i.type == "gcp:compute/routerNat:RouterNat"]
    assert nat.idle == pytest.approx(cost.cloud_nat_hourly(2) * HOURS)
    assert nat.full == pytest.approx(cost.cloud_nat_hourly(40) * HOURS)
    assert nat.idle < nat.full
