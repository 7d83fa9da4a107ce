"""The node-pool model (teamstack/pools.py): machine facts from the tables, pools built once from each shipped
stack, and every consumer (node groups, GKE pools, quota, manifest) reading the same pools."""

from __future__ import annotations

import pytest
from conftest import ROOT, STACKS

from components.aws.nodegroups import AUTOSCALER_PREFIX
from teamstack import instances, naming
from teamstack.config import TeamConfig, load_team
from teamstack.manifest import NodeGroup, TeamManifest, node_group_entry
from teamstack.plan.runner import Plan, plan_stack
from teamstack.pools import aws_node_type, gcp_node_type, gpu_capacity, gpu_share, node_pools
from teamstack.stackfiles import load_project, stack_config

# --- machine facts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "vcpus", "memory", "gpu"),
    [
        ("m7i.4xlarge", 16, 64.0, None),
        ("c7i.2xlarge", 8, 16.0, None),
        ("r7i.xlarge", 4, 32.0, None),
        ("m7i.large", 2, 8.0, None),
        ("g4dn.xlarge", 4, 16.0, ("t4", 1, 16)),
        ("g4dn.12xlarge", 48, 192.0, ("t4", 4, 16)),
        ("g5.12xlarge", 48, 192.0, ("a10g", 4, 24)),
        ("g6e.xlarge", 4, 32.0, ("l40s", 1, 48)),
        ("g4dn.metal", 96, 384.0, ("t4", 8, 16)),  # bare metal: in the EC2 catalogue like any type
        ("t3.medium", 2, 4.0, None),  # a medium is 2 vCPUs on t3 (not 1, as a size rule would guess)
    ],
)
def test_ec2_facts_come_from_the_tables(
    name: str, vcpus: int | None, memory: float | None, gpu: tuple[str, int, int] | None
) -> None:
    node = aws_node_type(name)
    assert (node.vcpus, node.memory_gib) == (vcpus, memory)
    assert (None if node.gpu is None else (node.gpu.type, node.gpu.count, node.gpu.memory_gib)) == gpu
    assert node.gpu is None or node.gpu.accelerator is None  # EC2 names no accelerator


def test_a_malformed_ec2_type_is_refused_not_guessed() -> None:
    with pytest.raises(instances.InstanceTypeError):
        aws_node_type("g5-12xlarge")


@pytest.mark.parametrize(
    ("machine", "accelerator", "count", "expected"),
    [
        ("g2-standard-24", None, None, (24, 96.0, "l4", 2, "nvidia-l4")),
        ("g2-standard-8", None, None, (8, 32.0, "l4", 1, "nvidia-l4")),
        ("n1-standard-8", "nvidia-tesla-t4", 1, (8, 30.0, "t4", 1, "nvidia-tesla-t4")),
        ("n1-standard-16", "nvidia-tesla-t4", 4, (16, 60.0, "t4", 4, "nvidia-tesla-t4")),
        ("a2-highgpu-2g", None, None, (24, 170.0, "a100", 2, "nvidia-tesla-a100")),
    ],
)
def test_gce_facts_come_from_the_tables(
    machine: str, accelerator: str | None, count: int | None, expected: tuple[object, ...]
) -> None:
    node = gcp_node_type(machine, accelerator, count)
    assert node.gpu is not None
    assert (node.vcpus, node.memory_gib, node.gpu.type, node.gpu.count, node.gpu.accelerator) == expected


def test_cpu_machines_carry_no_gpu() -> None:
    node = gcp_node_type("n2-standard-16")
    assert (node.vcpus, node.memory_gib, node.gpu, node.arch) == (16, 64.0, None, "x86_64")
    assert gcp_node_type("c4a-standard-8").arch == "arm64"


# --- pools of every shipped stack -----------------------------------------------------------------------------------


def _team(stack: str) -> TeamConfig:
    return load_team(stack_config(load_project(ROOT), stack), stack)


@pytest.mark.parametrize("stack", STACKS)
def test_each_configured_group_is_one_pool_after_the_system_pool(stack: str) -> None:
    team = _team(stack)
    pools = team.pools
    assert pools is team.pools  # built once per config
    assert pools == node_pools(team)
    assert [p.name for p in pools] == ["system", *(g.name for g in team.node_groups)]
    assert pools[0].kind == "system" and pools[0].taints[0].key == "CriticalAddonsOnly"
    for pool, group in zip(pools[1:], team.node_groups, strict=True):
        assert (pool.kind, pool.min_size, pool.max_size, pool.capacity) == (
            group.kind,
            group.min_size,
            group.max_size,
            group.capacity,
        )
        assert pool.labels["teamstack.io/node-group"] == group.name
        assert (pool.gpus_per_node > 0) == (group.kind == "gpu")
        assert pool.vcpus_per_node and pool.memory_gib_per_node  # every shipped type is in the tables


def test_the_shipped_gpu_pools_from_the_tables() -> None:
    vision = {p.name: p for p in _team("ml-vision").pools}
    assert (vision["gpu-t4"].gpu_type, vision["gpu-t4"].gpus_per_node) == ("t4", 1)
    assert (vision["gpu-a10g"].gpu_type, vision["gpu-a10g"].gpus_per_node) == ("a10g", 4)
    assert gpu_capacity(list(vision.values())) == 8 * 1 + 2 * 4
    geo = {p.name: p for p in _team("ml-geo").pools}
    assert (geo["gpu-l4"].gpu_type, geo["gpu-l4"].gpus_per_node, geo["gpu-l4"].gpu_capacity) == ("l4", 2, 8)
    assert geo["gpu-l4"].labels["teamstack.io/gpu-type"] == "nvidia-l4"


def test_the_gpu_share_is_the_capacity_unless_set_lower() -> None:
    pools = _team("ml-vision").pools
    assert gpu_share(pools, None) == 16
    assert gpu_share(pools, 4) == 4
    assert gpu_share(pools, 99) == 16


# --- every consumer reads the same pools ---------------------------------------------------------------------------


def test_the_plan_the_quota_and_the_manifest_follow_the_pools(plan: Plan, team: TeamConfig) -> None:
    manifest = TeamManifest.model_validate(plan.outputs["manifest"])
    assert manifest.schema_version == naming.MANIFEST_SCHEMA_VERSION == 2
    names = {group.name: group.node_group_name for group in manifest.node_groups}
    assert manifest.node_groups == [NodeGroup.model_validate(node_group_entry(p, names[p.name])) for p in team.pools]
    for group, pool in zip(manifest.node_groups, team.pools, strict=True):
        assert (group.gpu_type, group.gpus_per_node) == (pool.gpu_type, pool.gpus_per_node)
    quota = next(
        r for r in plan.of_type("kubernetes:core/v1:ResourceQuota") if r.inputs["metadata"]["name"] == "team-quota"
    )
    assert quota.inputs["spec"]["hard"]["requests.nvidia.com/gpu"] == str(
        gpu_share(team.pools, team.kubernetes.quota.gpus)
    )
    if team.cloud == "aws":
        groups = {r.inputs["labels"]["teamstack.io/node-group"]: r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")}
        for pool in team.pools:
            inputs = groups[pool.name].inputs
            assert inputs["instanceTypes"] == list(pool.type_names)
            assert inputs["capacityType"] == {"on-demand": "ON_DEMAND", "spot": "SPOT"}[pool.capacity]
            gpu_tag = inputs["tags"].get(f"{AUTOSCALER_PREFIX}/node-template/resources/nvidia.com/gpu")
            assert gpu_tag == (str(pool.gpus_per_node) if pool.gpus_per_node else None)
    else:
        pools = {r.inputs["name"]: r.inputs for r in plan.of_type("gcp:container/nodePool:NodePool")}
        for pool in team.pools:
            inputs = pools[pool.name]
            assert inputs["nodeConfig"]["machineType"] == pool.type_names[0]
            accelerators = inputs["nodeConfig"].get("guestAccelerators") or []
            assert [(a["type"], a["count"]) for a in accelerators] == (
                [(pool.gpu.accelerator, pool.gpu.count)] if pool.gpu else []
            )


# --- names from identity, with the old names as aliases ------------------------------------------------------------

# The URNs ml-geo's bindings of people and groups had before they were named by member (main before issue 10).
_IDENTITIES = "urn:pulumi:ml-geo::teamstack::teamstack:gcp:TeamStack$teamstack:gcp:TeamIdentities$"
_BUCKETS = "urn:pulumi:ml-geo::teamstack::teamstack:gcp:TeamStack$teamstack:gcp:SecureBucket$"
OLD_GEO_URNS = {
    f"{_IDENTITIES}gcp:projects/iAMMember:IAMMember::ml-geo-identities-admins-container-admin-0",
    f"{_IDENTITIES}gcp:projects/iAMMember:IAMMember::ml-geo-identities-data-scientists-cloudbuild-builds-viewer-0",
    f"{_IDENTITIES}gcp:projects/iAMMember:IAMMember::ml-geo-identities-data-scientists-container-clusterViewer-0",
    f"{_BUCKETS}gcp:storage/bucketIAMMember:BucketIAMMember::ml-geo-access-logs-writer-0",
    f"{_BUCKETS}gcp:storage/bucketIAMMember:BucketIAMMember::ml-geo-catalog-features-scientists-write-0",
    f"{_BUCKETS}gcp:storage/bucketIAMMember:BucketIAMMember::ml-geo-catalog-imagery-scientists-write-0",
    f"{_BUCKETS}gcp:storage/bucketIAMMember:BucketIAMMember::ml-geo-catalog-models-scientists-write-0",
    f"{_BUCKETS}gcp:storage/bucketIAMMember:BucketIAMMember::ml-geo-envs-scientists-read-0",
    f"{_BUCKETS}gcp:storage/bucketIAMMember:BucketIAMMember::ml-geo-envs-scientists-submit-specs-0",
    "urn:pulumi:ml-geo::teamstack::teamstack:gcp:TeamStack$teamstack:gcp:Registry$"
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember::ml-geo-registry-readers-3",
    "urn:pulumi:ml-geo::teamstack::teamstack:gcp:TeamStack$teamstack:gcp:TeamBudget$"
    "gcp:monitoring/notificationChannel:NotificationChannel::ml-geo-budget-email-0",
    "urn:pulumi:ml-geo::teamstack::teamstack:gcp:TeamStack$teamstack:gcp:TeamBudget$"
    "gcp:monitoring/notificationChannel:NotificationChannel::ml-geo-budget-email-1",
}
OLD_VISION_URNS = {
    "urn:pulumi:ml-vision::teamstack::teamstack:aws:TeamStack$teamstack:aws:ClusterAccess$"
    f"aws:eks/{kind}::ml-vision-access-admin-0"
    for kind in ("accessEntry:AccessEntry", "accessPolicyAssociation:AccessPolicyAssociation")
}


@pytest.mark.parametrize(("stack", "old_urns"), [("ml-geo", OLD_GEO_URNS), ("ml-vision", OLD_VISION_URNS)])
def test_bindings_named_by_member_alias_their_old_positional_urns(stack: str, old_urns: set[str]) -> None:
    plan = plan_stack(ROOT, stack)
    renamed = {r.urn: r.aliases for r in plan.resources if r.aliases}
    # Every old URN is the alias of exactly one new resource, which carries its member in its name.
    assert sorted(alias for aliases in renamed.values() for alias in aliases) == sorted(old_urns)
    by_urn = plan.by_urn()
    for urn, aliases in renamed.items():
        (alias,) = aliases
        member = by_urn[urn].inputs.get("member") or by_urn[urn].inputs.get("principalArn")
        member = member or by_urn[urn].inputs.get("labels", {}).get("email_address")
        assert urn.endswith(naming.member_key(member)) and not alias.endswith(naming.member_key(member))
        assert urn not in old_urns


def test_keyed_names_are_stable_under_removal() -> None:
    before = naming.keyed_names("b", ["group:a@example.com", "user:b@example.com"])
    after = naming.keyed_names("b", ["user:b@example.com"])
    assert before[1][0] == after[0][0] == "b-user-b@example.com"
    assert before == [("b-group-a@example.com", "b-0"), ("b-user-b@example.com", "b-1")]
    created = object()  # a member only known once deployed (an Output): position name, no alias
    mixed = naming.keyed_names("r", [created, "group:g@example.com"])
    assert mixed == [("r-0", None), ("r-group-g@example.com", "r-1")]


def test_a_schema_1_manifest_still_serves_gpu_requests() -> None:
    """Stacks deployed before schema 2 have no gpuType: the client derives it from the same tables."""
    import json

    from teamstack.client.clusters import kube_cluster_spec
    from teamstack.client.manifest_source import parse_manifest

    document = plan_stack(ROOT, "ml-vision").outputs["manifest"]
    old = {
        **document,
        "schemaVersion": 1,
        "nodeGroups": [{k: v for k, v in g.items() if k != "gpuType"} for g in document["nodeGroups"]],
    }
    manifest = parse_manifest(json.dumps(old), "old.json", "ml-vision")
    assert manifest.schema_version == 1 and all(g.gpu_type is None for g in manifest.node_groups)
    spec = kube_cluster_spec(manifest, gpu="a10g")
    affinity = spec["spec"]["worker"]["spec"]["affinity"]["nodeAffinity"]
    (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert {"key": "teamstack.io/node-group", "operator": "In", "values": ["gpu-a10g"]} in term["matchExpressions"]
    # A schema-2 manifest must say the GPU type of every GPU group.
    with pytest.raises(ValueError, match="gpuType is set on GPU groups"):
        TeamManifest.model_validate(
            {**document, "nodeGroups": [{**g, "gpuType": None} for g in document["nodeGroups"]]}
        )


def test_an_alert_email_listed_twice_is_refused_since_it_names_a_channel() -> None:
    import json

    from teamstack.config import ConfigError

    values = stack_config(load_project(ROOT), "ml-geo")
    budget = json.loads(values["teamstack:budget"])
    emails = budget["alertEmails"]
    budget["alertEmails"] = [*emails, emails[0].upper()]
    with pytest.raises(ConfigError) as error:
        load_team({**values, "teamstack:budget": json.dumps(budget)}, "ml-geo")
    assert error.value.key == f"teamstack:budget.alertEmails[{len(emails)}]" and "listed twice" in error.value.reason


def test_the_plan_diff_follows_a_rename_through_its_alias() -> None:
    """`teamstack plan diff` pairs a renamed resource with its old URN (an update), never a delete + create."""
    import copy

    from teamstack.plan.diff import diff_plans

    new = plan_stack(ROOT, "ml-geo").to_json()
    old = copy.deepcopy(new)
    for entry in old["resources"]:
        aliases = entry["options"].pop("aliases", None)
        if aliases:
            entry["urn"], entry["name"] = aliases[0], aliases[0].rsplit("::", 1)[-1]
    diff = diff_plans(old, new, with_cost=False)
    assert {c.action for c in diff.resources} == {"update"}
    renames = {c.urn: c.changes[0] for c in diff.resources}
    assert len(renames) == len(OLD_GEO_URNS)
    assert {change.old for change in renames.values()} == OLD_GEO_URNS
    assert all(change.path == "urn" and change.new == urn for urn, change in renames.items())
