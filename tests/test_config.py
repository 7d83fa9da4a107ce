"""The team config model, fed the way `pulumi up` and the offline plan feed it.

Shipped stacks must load; every single mistake a team can make in its stack file must come back as one line
naming the stack file, the exact key and what is allowed (the bad-config corpus); and the engine's flat
string map must parse the same as the file it came from.
"""

from __future__ import annotations

import copy
import ipaddress
import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack.config import AwsTeamConfig, ConfigError, GcpTeamConfig, TeamConfig, load_team
from teamstack.layout import subnet_layout
from teamstack.stackfiles import Project, load_project, stack_config

REPO = Path(__file__).resolve().parents[1]
STACK_FILES = sorted((REPO / "stacks").glob("Pulumi.*.yaml"))
BASE_STACK = "ml-vision"  # the richest shipped stack: GPU groups, API CIDRs, registry, tags


def _stack_name(path: Path) -> str:
    return path.name[len("Pulumi.") : -len(".yaml")]


def _load_shipped(stack: str) -> TeamConfig:
    return load_team(stack_config(load_project(REPO), stack), stack)


# --- shipped stacks ---------------------------------------------------------------------------------------


def test_stacks_are_shipped() -> None:
    # Guards the parametrisation below: an empty glob would silently test nothing.
    assert STACK_FILES, "no stacks/Pulumi.*.yaml found"
    assert load_project(REPO).stacks() == [_stack_name(p) for p in STACK_FILES]


@pytest.mark.parametrize("path", STACK_FILES, ids=_stack_name)
def test_shipped_stack_loads(path: Path) -> None:
    stack = _stack_name(path)
    team = _load_shipped(stack)
    # The team name prefixes the cluster, roles and buckets: a stack reusing another team's name would
    # collide with that team's resources.
    assert team.team == stack
    # The VPC the team asked for can actually be cut into its zones.
    assert len(subnet_layout(team.vpc_cidr, team.az_count)) == team.az_count


def test_shipped_vpcs_do_not_overlap() -> None:
    vpcs = {_stack_name(p): ipaddress.IPv4Network(_load_shipped(_stack_name(p)).vpc_cidr) for p in STACK_FILES}
    clashes = [(a, b) for (a, net_a), (b, net_b) in itertools.combinations(vpcs.items(), 2) if net_a.overlaps(net_b)]
    assert not clashes, f"team VPCs overlap (peering would be impossible): {clashes} in {vpcs}"


def test_pulumi_yaml_declarations_match_the_model() -> None:
    """Every key Pulumi.yaml declares is a model field, and its declared default is the default of every cloud's
    model that has the key: a project default applies to every stack, so it would override a per-cloud one."""
    project = load_project(REPO)
    clouds = {"aws": AwsTeamConfig.model_fields, "gcp": GcpTeamConfig.model_fields}
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    for key, declaration in declared.items():
        fields = {
            cloud: field
            for cloud, model in clouds.items()
            for name, field in model.items()
            if (field.alias or name) == key
        }
        assert fields, f"Pulumi.yaml declares {key}, which the model would refuse as unknown"
        if key == "cloud":  # the discriminator: each cloud's model pins its own; the union defaults to aws
            fields = {"union": TeamConfig.model_fields["cloud"]}
        if "default" in declaration:
            for cloud, field in fields.items():
                assert field.get_default(call_default_factory=True) == declaration["default"], (key, cloud)
            assert project.defaults[f"teamstack:{key}"] == declaration["default"]


def test_nat_mode_default_is_per_cloud() -> None:
    """natMode: a NAT on AWS (interface endpoints for every service would cost more), none on GCP (Private Google
    Access and the ghcr.io mirror carry what the nodes pull), so the project file must not declare one."""
    assert AwsTeamConfig.model_fields["nat_mode"].default == "single"
    assert GcpTeamConfig.model_fields["nat_mode"].default == "none"
    assert "natMode" not in yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]


# --- the bad-config corpus --------------------------------------------------------------------------------

KeyPath = tuple[str | int, ...]


def _walk(config: dict[str, Any], path: KeyPath) -> Any:
    node: Any = config
    for part in path:
        node = node[part]
    return node


def set_(path: KeyPath, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        _walk(config, path[:-1])[path[-1]] = value

    return edit


def drop(path: KeyPath) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        del _walk(config, path[:-1])[path[-1]]

    return edit


def rename(path: KeyPath, new: str) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        parent = _walk(config, path[:-1])
        parent[new] = parent.pop(path[-1])

    return edit


def append(path: KeyPath, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        _walk(config, path).append(value)

    return edit


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@dataclass(frozen=True)
class Case:
    id: str
    key: str  # the exact key the error must name
    reason: str  # a fragment the reason must contain
    edit: Callable[[dict[str, Any]], None] | None = None  # one mistake, on the parsed `config:` section
    text: Callable[[str], str] | None = None  # or one mistake in the file's text
    stack: str = BASE_STACK  # the stack the CLI is asked for


NG0 = ("teamstack:nodeGroups", 0)  # the cpu group of the base stack
NG1 = ("teamstack:nodeGroups", 1)  # its first gpu group
ARN = "arn:aws:iam::111122223333:role/PlatformAdmins"
AZ_LINE = "teamstack:azCount: 3"
K8S = ("teamstack:kubernetes",)

CORPUS = [
    # unknown keys
    Case(
        "unknown-top-level-key",
        "teamstack:colour",
        "unknown key; allowed teamstack: keys are",
        set_(("teamstack:colour",), "blue"),
    ),
    Case(
        "nested-key-added",
        "teamstack:nodeGroups[0].minsize",
        "allowed here: capacity, desiredSize",
        set_((*NG0, "minsize"), 0),
    ),
    # A typo *replaces* the right key; the error must name the typo, not "minSize is missing".
    Case(
        "nested-key-misspelt",
        "teamstack:nodeGroups[0].minsize",
        "unknown key; allowed here:",
        rename((*NG0, "minSize"), "minsize"),
    ),
    Case(
        "budget-key-misspelt",
        "teamstack:budget.monthlyLimitUSD",
        "monthlyLimitUsd",
        rename(("teamstack:budget", "monthlyLimitUsd"), "monthlyLimitUSD"),
    ),
    Case(
        "system-group-key-misspelt",
        "teamstack:systemNodeGroup.instanceType",
        "instanceTypes",
        set_(("teamstack:systemNodeGroup",), {"instanceType": ["m7i.large"]}),
    ),
    Case(
        "bucket-key-misspelt",
        "teamstack:catalogBuckets[1].nam",
        "description, name, noncurrentVersionDays",
        rename(("teamstack:catalogBuckets", 1, "name"), "nam"),
    ),
    Case("top-level-document-key", "foo", "unknown top-level key", text=lambda t: t + "foo: 1\n"),
    # wrong types
    Case(
        "azCount-word",
        "teamstack:azCount",
        'valid integer (got "three")',
        set_(("teamstack:azCount",), "three"),
    ),
    Case(
        "minSize-string-in-group",
        "teamstack:nodeGroups[0].minSize",
        'valid integer (got "2")',
        set_((*NG0, "minSize"), "2"),
    ),
    Case(
        "minSize-float",
        "teamstack:nodeGroups[0].minSize",
        "valid integer (got 1.5)",
        set_((*NG0, "minSize"), 1.5),
    ),
    Case(
        "labels-list",
        "teamstack:nodeGroups[0].labels",
        "valid dictionary",
        set_((*NG0, "labels"), ["a", "b"]),
    ),
    Case(
        "label-value-int",
        "teamstack:nodeGroups[0].labels.tier",
        "valid string (got 1)",
        set_((*NG0, "labels"), {"tier": 1}),
    ),
    Case("tags-list", "teamstack:tags", "valid dictionary", set_(("teamstack:tags",), ["project"])),
    Case(
        "apiAccessCidrs-scalar",
        "teamstack:apiAccessCidrs",
        "valid list",
        set_(("teamstack:apiAccessCidrs",), "198.51.100.0/24"),
    ),
    Case("nodeGroups-empty", "teamstack:nodeGroups", "at least 1 item", set_(("teamstack:nodeGroups",), [])),
    # CIDRs
    Case(
        "vpc-octet-300",
        "teamstack:vpcCidr",
        "'10.0.0.300/16' is not an IPv4 CIDR",
        set_(("teamstack:vpcCidr",), "10.0.0.300/16"),
    ),
    Case("vpc-host-bits", "teamstack:vpcCidr", "has host bits set", set_(("teamstack:vpcCidr",), "10.0.0.1/16")),
    Case(
        "vpc-too-big",
        "teamstack:vpcCidr",
        "prefix must be /16 to /20",
        set_(("teamstack:vpcCidr",), "10.0.0.0/8"),
    ),
    Case(
        "vpc-too-small",
        "teamstack:vpcCidr",
        "prefix must be /16 to /20",
        set_(("teamstack:vpcCidr",), "10.40.0.0/24"),
    ),
    Case(
        "vpc-public-range",
        "teamstack:vpcCidr",
        "must lie in 10.0.0.0/8",
        set_(("teamstack:vpcCidr",), "8.8.0.0/16"),
    ),
    Case(
        "service-overlaps-vpc",
        "teamstack:serviceCidr",
        "overlaps the VPC 10.40.0.0/16",
        set_(("teamstack:serviceCidr",), "10.40.128.0/20"),
    ),
    Case(
        "service-public",
        "teamstack:serviceCidr",
        "/12 to /24 inside",
        set_(("teamstack:serviceCidr",), "8.8.0.0/16"),
    ),
    Case(
        "api-cidrs-overlap",
        "teamstack:apiAccessCidrs[1]",
        "'198.51.100.128/25' overlaps an earlier entry",
        set_(("teamstack:apiAccessCidrs",), ["198.51.100.0/24", "198.51.100.128/25"]),
    ),
    Case(
        "api-cidr-anywhere",
        "teamstack:apiAccessCidrs[0]",
        "would open the API to the internet",
        set_(("teamstack:apiAccessCidrs",), ["0.0.0.0/0"]),
    ),
    Case(
        "api-cidr-wider-than-8",
        "teamstack:apiAccessCidrs[1]",
        "wider than /8",
        set_(("teamstack:apiAccessCidrs",), ["198.51.100.0/24", "16.0.0.0/4"]),
    ),
    Case(
        "api-cidr-malformed",
        "teamstack:apiAccessCidrs[0]",
        "not an IPv4 CIDR",
        set_(("teamstack:apiAccessCidrs",), ["1.2.3.4/33"]),
    ),
    # scaling
    Case(
        "min-above-max",
        "teamstack:nodeGroups[0].minSize",
        "must be at most maxSize (20), got 21",
        set_((*NG0, "minSize"), 21),
    ),
    Case(
        "desired-above-max",
        "teamstack:nodeGroups[0].desiredSize",
        "between minSize (0) and maxSize (20), got 50",
        set_((*NG0, "desiredSize"), 50),
    ),
    Case(
        "system-desired-below-min",
        "teamstack:systemNodeGroup.desiredSize",
        "between minSize (2) and maxSize (3)",
        set_(("teamstack:systemNodeGroup",), {"minSize": 2, "maxSize": 3, "desiredSize": 1}),
    ),
    Case("gpu-group-min-1", "teamstack:nodeGroups[1].minSize", "scales from zero", set_((*NG1, "minSize"), 1)),
    # instance types
    Case(
        "gpu-type-in-cpu-group",
        "teamstack:nodeGroups[0].instanceTypes[1]",
        "'g5.xlarge' is an accelerated",
        set_((*NG0, "instanceTypes"), ["m7i.4xlarge", "g5.xlarge"]),
    ),
    # instances.InstanceType.is_accelerated strips only trailing digits from the family, so g4dn, p4d,
    # g6e, g5g, p5en, trn1n, dl2q and g4ad are not seen as accelerated and pass in a cpu group.
    Case(
        "g4dn-in-cpu-group",
        "teamstack:nodeGroups[0].instanceTypes[0]",
        "'g4dn.xlarge' is an accelerated",
        set_((*NG0, "instanceTypes"), ["g4dn.xlarge"]),
    ),
    # instances._INSTANCE_TYPE ends in `$`, which also matches before a trailing newline.
    Case(
        "instance-type-trailing-newline",
        "teamstack:nodeGroups[0].instanceTypes[0]",
        "not an EC2 instance type",
        set_((*NG0, "instanceTypes"), ["m7i.4xlarge\n"]),
    ),
    Case(
        "graviton-system-group",
        "teamstack:systemNodeGroup.instanceTypes",
        "its image is published for x86_64 (linux/amd64) only",
        set_(("teamstack:systemNodeGroup",), {"instanceTypes": ["m7g.large", "m6g.large"]}),
    ),
    Case(
        "high-availability-with-one-node",
        "teamstack:systemNodeGroup.minSize",
        "highAvailability needs at least 2 nodes",
        set_(("teamstack:systemNodeGroup",), {"highAvailability": True, "minSize": 1}),
    ),
    Case(
        "high-availability-not-a-bool",
        "teamstack:systemNodeGroup.highAvailability",
        "valid boolean",
        set_(("teamstack:systemNodeGroup",), {"highAvailability": "yes"}),
    ),
    Case(
        "interface-endpoints-not-a-bool",
        "teamstack:interfaceEndpoints",
        "valid boolean",
        set_(("teamstack:interfaceEndpoints",), "sometimes"),
    ),
    Case(
        "cluster-lifetime-above-30-days",
        "teamstack:kubernetes.maxClusterLifetimeHours",
        "less than or equal to 720",
        set_(("teamstack:kubernetes", "maxClusterLifetimeHours"), 721),
    ),
    Case(
        "gpu-type-in-system-group",
        "teamstack:systemNodeGroup.instanceTypes[0]",
        "a cpu group allows CPU-only",
        set_(("teamstack:systemNodeGroup",), {"instanceTypes": ["p3.2xlarge"]}),
    ),
    Case(
        "cpu-type-in-gpu-group",
        "teamstack:nodeGroups[1].instanceTypes[0]",
        "'m7i.xlarge' is not a supported NVIDIA GPU type",
        set_((*NG1, "instanceTypes"), ["m7i.xlarge"]),
    ),
    Case(
        "amd-gpu-in-gpu-group",
        "teamstack:nodeGroups[1].instanceTypes[1]",
        "a gpu group allows g4dn.*",
        set_((*NG1, "instanceTypes"), ["g4dn.xlarge", "g4ad.xlarge"]),
    ),
    Case(
        "unknown-gpu-size",
        "teamstack:nodeGroups[1].instanceTypes[0]",
        "a gpu group allows",
        set_((*NG1, "instanceTypes"), ["g4dn.24xlarge"]),
    ),
    Case(
        "malformed-instance-type",
        "teamstack:nodeGroups[0].instanceTypes[0]",
        "not an EC2 instance type",
        set_((*NG0, "instanceTypes"), ["m7i-4xlarge"]),
    ),
    Case(
        "x86-and-arm-mixed",
        "teamstack:nodeGroups[0].instanceTypes",
        "mixes x86_64 and arm64",
        set_((*NG0, "instanceTypes"), ["m7i.4xlarge", "m7g.4xlarge"]),
    ),
    Case(
        "arm-worker-group",
        "teamstack:nodeGroups[0].instanceTypes",
        "builds for x86_64 only",
        set_((*NG0, "instanceTypes"), ["m7g.4xlarge", "m6g.4xlarge"]),
    ),
    Case(
        "gpu-counts-mixed",
        "teamstack:nodeGroups[1].instanceTypes",
        "different GPU counts",
        set_((*NG1, "instanceTypes"), ["g4dn.xlarge", "g4dn.12xlarge"]),
    ),
    Case(
        "instance-type-twice",
        "teamstack:nodeGroups[0].instanceTypes",
        "lists an instance type twice",
        set_((*NG0, "instanceTypes"), ["m7i.4xlarge", "m7i.4xlarge"]),
    ),
    # names
    Case(
        "node-group-name-twice",
        "teamstack:nodeGroups[1].name",
        "'cpu' is used twice",
        set_((*NG1, "name"), "cpu"),
    ),
    Case(
        "node-group-name-system",
        "teamstack:nodeGroups[0].name",
        "reserved ('system')",
        set_((*NG0, "name"), "system"),
    ),
    Case("team-upper-case", "teamstack:team", "must be DNS-safe", set_(("teamstack:team",), "MlVision")),
    Case("team-underscore", "teamstack:team", "(got 'ml_vision')", set_(("teamstack:team",), "ml_vision")),
    Case(
        "team-too-long",
        "teamstack:team",
        "3-20 characters",
        set_(("teamstack:team",), "ml-vision-" + "x" * 11),
    ),
    Case("team-leading-digit", "teamstack:team", "starting with a letter", set_(("teamstack:team",), "9vision")),
    # `\n` escaped: the message stays one line, and `$` no longer lets a trailing newline through.
    Case(
        "team-trailing-newline",
        "teamstack:team",
        "(got 'ml-vision\\n')",
        set_(("teamstack:team",), "ml-vision\n"),
    ),
    Case("team-inner-newline", "teamstack:team", "(got 'ml\\nvision')", set_(("teamstack:team",), "ml\nvision")),
    Case(
        "namespace-upper-case",
        "teamstack:namespace",
        "must be DNS-safe",
        set_(("teamstack:namespace",), "ML"),
    ),
    # required keys and provider config
    Case("region-missing", "aws:region", "required key is missing", drop(("aws:region",))),
    Case("region-unknown", "aws:region", "'us-west-9' is not an AWS region", set_(("aws:region",), "us-west-9")),
    Case("team-missing", "teamstack:team", "required key is missing", drop(("teamstack:team",))),
    Case("budget-missing", "teamstack:budget", "required key is missing", drop(("teamstack:budget",))),
    Case("cloud-other", "teamstack:cloud", "Input should be 'aws' or 'gcp'", set_(("teamstack:cloud",), "azure")),
    # people and money
    Case(
        "owner-not-email",
        "teamstack:owner",
        "'ml-vision-leads' is not an email address",
        set_(("teamstack:owner",), "ml-vision-leads"),
    ),
    Case(
        "owner-trailing-newline",
        "teamstack:owner",
        "is not an email address",
        set_(("teamstack:owner",), "ml-vision-leads@example.com\n"),
    ),
    Case(
        "budget-email",
        "teamstack:budget.alertEmails[1]",
        "'finops' is not an email address",
        set_(("teamstack:budget", "alertEmails"), ["ml-vision-leads@example.com", "finops"]),
    ),
    Case(
        "budget-limit-zero",
        "teamstack:budget.monthlyLimitUsd",
        "greater than 0",
        set_(("teamstack:budget", "monthlyLimitUsd"), 0),
    ),
    Case(
        "admins-not-arn",
        "teamstack:admins[1]",
        "'PlatformAdmins' is not an IAM role or user ARN",
        set_(("teamstack:admins",), [ARN, "PlatformAdmins"]),
    ),
    Case("admins-empty", "teamstack:admins", "at least 1 item", set_(("teamstack:admins",), [])),
    Case(
        "scientists-account-short",
        "teamstack:dataScientistPrincipals[0]",
        "12-digit account",
        set_(("teamstack:dataScientistPrincipals",), ["arn:aws:iam::1111:role/sso/Scientists"]),
    ),
    Case(
        "cost-center-space",
        "teamstack:costCenter",
        "should match pattern",
        set_(("teamstack:costCenter",), "CC 1"),
    ),
    # platform settings
    Case(
        "kubernetes-unsupported",
        "teamstack:kubernetesVersion",
        "'1.25' is not a supported EKS version",
        set_(("teamstack:kubernetesVersion",), "1.25"),
    ),
    Case(
        "log-retention-invalid",
        "teamstack:logRetentionDays",
        "100 is not a CloudWatch retention",
        set_(("teamstack:logRetentionDays",), 100),
    ),
    Case(
        "nat-mode-both",
        "teamstack:natMode",
        "'none', 'single' or 'per-az' (got \"both\")",
        set_(("teamstack:natMode",), "both"),
    ),
    Case("az-count-7", "teamstack:azCount", "less than or equal to 6", set_(("teamstack:azCount",), 7)),
    Case("az-count-1", "teamstack:azCount", "greater than or equal to 2", set_(("teamstack:azCount",), 1)),
    # tags, labels, buckets
    Case(
        "tag-reserved-team",
        "teamstack:tags.team",
        "is set by the platform",
        set_(("teamstack:tags",), {"team": "x"}),
    ),
    Case(
        "tag-aws-prefix",
        "teamstack:tags.aws:owner",
        "not starting with 'aws:'",
        set_(("teamstack:tags",), {"aws:owner": "x"}),
    ),
    Case(
        "label-kubernetes-prefix",
        "teamstack:nodeGroups[0].labels.node.kubernetes.io/role",
        "reserved for Kubernetes/EKS",
        set_((*NG0, "labels"), {"node.kubernetes.io/role": "worker"}),
    ),
    Case(
        "label-bad-value",
        "teamstack:nodeGroups[0].labels.tier",
        "not a Kubernetes label value",
        set_((*NG0, "labels"), {"tier": "a b"}),
    ),
    Case(
        "bucket-name-twice",
        "teamstack:catalogBuckets[3].name",
        "'raw' is used twice",
        append(("teamstack:catalogBuckets",), {"name": "raw"}),
    ),
    Case(
        "bucket-name-upper",
        "teamstack:catalogBuckets[0].name",
        "must be DNS-safe",
        set_(("teamstack:catalogBuckets", 0, "name"), "Raw"),
    ),
    # the Kubernetes layer
    Case(
        "k8s-unknown-key",
        "teamstack:kubernetes.quotas",
        "unknown key; allowed here: batchSharePercent, charts",
        set_((*K8S, "quotas"), {"cpu": "8"}),
    ),
    Case(
        "k8s-quota-not-a-quantity",
        "teamstack:kubernetes.quota.cpu",
        "'lots' is not a Kubernetes quantity",
        set_((*K8S, "quota", "cpu"), "lots"),
    ),
    Case(
        "k8s-quota-negative-gpus",
        "teamstack:kubernetes.quota.gpus",
        "greater than or equal to 0",
        set_((*K8S, "quota", "gpus"), -1),
    ),
    Case(
        "k8s-limits-below-requests",
        "teamstack:kubernetes.quota.limitsMemory",
        "is below quota.memory ('1440Gi')",
        set_((*K8S, "quota", "limitsMemory"), "100Gi"),
    ),
    Case(
        "k8s-default-request-above-limit",
        "teamstack:kubernetes.containerDefaults.cpuRequest",
        "'4' is above cpuLimit ('2')",
        set_((*K8S, "containerDefaults"), {"cpuRequest": "4"}),
    ),
    Case(
        "k8s-worker-above-quota",
        "teamstack:kubernetes.worker.memory",
        "'2000Gi' is above the team quota (memory: '1440Gi')",
        set_((*K8S, "worker", "memory"), "2000Gi"),
    ),
    Case(
        "k8s-cpu-worker-with-gpus",
        "teamstack:kubernetes.worker.gpus",
        "CPU workers take no GPUs",
        set_((*K8S, "worker", "gpus"), 1),
    ),
    Case(
        "k8s-gpu-worker-without-gpus",
        "teamstack:kubernetes.gpuWorker.gpus",
        "at least 1 GPU",
        set_((*K8S, "gpuWorker", "gpus"), 0),
    ),
    Case(
        "k8s-batch-share-zero",
        "teamstack:kubernetes.batchSharePercent",
        "greater than or equal to 1",
        set_((*K8S, "batchSharePercent"), 0),
    ),
    Case(
        "k8s-pod-security-privileged",
        "teamstack:kubernetes.podSecurity",
        "'baseline' or 'restricted'",
        set_((*K8S, "podSecurity"), "privileged"),
    ),
    Case(
        "k8s-chart-version-floating",
        "teamstack:kubernetes.charts.daskOperator",
        "should match pattern",
        set_((*K8S, "charts"), {"daskOperator": "latest"}),
    ),
    Case(
        "k8s-idle-timeout-negative",
        "teamstack:kubernetes.idleTimeoutMinutes",
        "greater than or equal to 0",
        set_((*K8S, "idleTimeoutMinutes"), -5),
    ),
    Case(
        "k8s-extra-namespace-reserved",
        "teamstack:kubernetes.extraNamespaces[0]",
        "reserved (default, kube-system",
        set_((*K8S, "extraNamespaces"), ["kube-system"]),
    ),
    Case(
        "k8s-extra-namespace-is-the-team-namespace",
        "teamstack:kubernetes.extraNamespaces[1]",
        "'ml-vision' is the team namespace",
        set_((*K8S, "extraNamespaces"), ["vision-research", "ml-vision"]),
    ),
    Case(
        "k8s-extra-namespace-not-dns",
        "teamstack:kubernetes.extraNamespaces[0]",
        "must be DNS-safe",
        set_((*K8S, "extraNamespaces"), ["Research"]),
    ),
    # the file itself
    Case(
        "secure-value",
        "teamstack:owner",
        "encrypted secret",
        set_(("teamstack:owner",), {"secure": "v1:AAAA"}),
    ),
    Case(
        "key-without-namespace",
        "team",
        "config keys are namespaced, e.g. teamstack:team",
        set_(("team",), "x"),
    ),
    Case(
        "yaml-bad-indent",
        "line 9",
        "not valid YAML (mapping values are not allowed here)",
        text=lambda t: t.replace(f"  {AZ_LINE}", f"     {AZ_LINE}"),
    ),
    Case("yaml-tab", "line 9", "not valid YAML", text=lambda t: t.replace(f"  {AZ_LINE}", f"\t{AZ_LINE}")),
    Case("config-not-mapping", "config", "must be a mapping", text=lambda t: "config:\n  - teamstack:team\n"),
    Case("stack-does-not-exist", "-", f"no such stack file; stacks here: {BASE_STACK}", stack="ml-vison"),
]


def _project_with(tmp_path: Path, case: Case) -> Project:
    """A copy of the project whose only stack is the base stack with the case's one mistake."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    text = (REPO / "stacks" / f"Pulumi.{BASE_STACK}.yaml").read_text(encoding="utf-8")
    if case.edit is not None:
        document = copy.deepcopy(yaml.safe_load(text))
        case.edit(document["config"])
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if case.text is not None:
        edited = case.text(text)
        assert edited != text, "the text edit did not apply"
        text = edited
    (tmp_path / "stacks" / f"Pulumi.{BASE_STACK}.yaml").write_text(text, encoding="utf-8")
    return load_project(tmp_path)


def test_corpus_ids_are_unique() -> None:
    ids = [case.id for case in CORPUS]
    assert len(ids) == len(set(ids))


def test_yaml_cases_point_at_the_broken_line() -> None:
    # The two YAML cases expect "line 9": that must be where the azCount line actually is.
    text = (REPO / "stacks" / f"Pulumi.{BASE_STACK}.yaml").read_text(encoding="utf-8")
    assert _line_of(text, AZ_LINE) == 9


def test_base_stack_is_good(tmp_path: Path) -> None:
    # Each corpus case is exactly one mistake away from this: the unmodified copy must load.
    project = _project_with(tmp_path, Case("none", "-", "-"))
    assert load_team(stack_config(project, BASE_STACK), BASE_STACK).team == BASE_STACK


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_bad_config_is_reported_in_one_line(tmp_path: Path, case: Case) -> None:
    project = _project_with(tmp_path, case)
    with pytest.raises(ConfigError) as raised:
        # The CLI's path: Pulumi.yaml defaults + the stack file -> the engine's flat map -> the model.
        load_team(stack_config(project, case.stack), case.stack)
    error = raised.value
    file = f"stacks/Pulumi.{case.stack}.yaml"
    message = str(error)
    assert error.key == case.key, message
    assert message.startswith(f"{file}: {case.key}: "), message
    assert "\n" not in message and "\r" not in message, message
    shown_reason = message[len(f"{file}: {case.key}: ") :]
    assert case.reason in shown_reason, message
    assert "Traceback" not in message and "For further information" not in message  # no raw pydantic dump


def test_config_error_is_one_line_whatever_the_value() -> None:
    error = ConfigError("stacks/Pulumi.x.yaml", "teamstack:tags.a\nb", "bad 'x\r\ny'")
    assert str(error) == "stacks/Pulumi.x.yaml: teamstack:tags.a\\nb: bad 'x\\r\\ny'"
    assert (error.file, error.key, error.reason) == (
        "stacks/Pulumi.x.yaml",
        "teamstack:tags.a\nb",
        "bad 'x\r\ny'",
    )


# --- the engine-string contract ---------------------------------------------------------------------------


def _as_engine(value: Any) -> str:
    """What the Pulumi engine hands a program: text as is, numbers as text, objects as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _engine_map(stack: str) -> dict[str, str]:
    project = load_project(REPO)
    document = yaml.safe_load(project.stack_path(stack).read_text(encoding="utf-8"))
    merged = {**project.defaults, **document["config"]}
    return {key: _as_engine(value) for key, value in merged.items()}


@pytest.mark.parametrize("path", STACK_FILES, ids=_stack_name)
def test_engine_strings_parse_like_the_file(path: Path) -> None:
    stack = _stack_name(path)
    from_engine = load_team(_engine_map(stack), stack)
    from_file = _load_shipped(stack)
    assert from_engine == from_file
    assert from_engine.model_dump() == from_file.model_dump()


def test_engine_strings_keep_text_fields_as_text() -> None:
    values = _engine_map(BASE_STACK)
    assert values["teamstack:azCount"] == "3" and values["teamstack:nodeGroups"].startswith("[{")
    # JSON-looking text must not be decoded: "1.30" as a number would be 1.3; "4410" would be an int.
    values["teamstack:kubernetesVersion"] = "1.30"
    values["teamstack:costCenter"] = "4410"
    team = load_team(values, BASE_STACK)
    assert team.kubernetes_version == "1.30"
    assert team.cost_center == "4410"
    assert team.az_count == 3
    assert [g.min_size for g in team.node_groups] == [0, 0, 0]


def test_engine_strings_are_whitespace_insensitive_json() -> None:
    values = _engine_map(BASE_STACK)
    values["teamstack:budget"] = json.dumps(json.loads(values["teamstack:budget"]), indent=2)
    assert load_team(values, BASE_STACK).budget.monthly_limit_usd == 25000


def test_unset_keys_take_pulumi_yaml_defaults() -> None:
    values = _engine_map(BASE_STACK)
    for key in ("teamstack:serviceCidr", "teamstack:logRetentionDays"):
        assert key in values  # declared defaults reach the program like set values
    team = load_team(values, BASE_STACK)
    assert (team.service_cidr, team.log_retention_days, team.cloud) == ("172.20.0.0/16", 365, "aws")


def test_tags_for_resources() -> None:
    team = _load_shipped(BASE_STACK)
    assert team.tags_for_resources == {
        "project": "vision-platform",
        "team": "ml-vision",
        "cost-center": "CC-4410-ml",
        "owner": "ml-vision-leads@example.com",
        "managed-by": "teamstack",
    }


def test_platform_tags_win_over_team_tags() -> None:
    # check_team refuses reserved keys; even if one slipped through, the platform's value is what is tagged.
    team = _load_shipped(BASE_STACK)
    sneaky = team.model_copy(update={"tags": {"team": "other", "owner": "x@y.org", "managed-by": "me", "env": "p"}})
    tags = sneaky.tags_for_resources
    assert tags["team"] == "ml-vision"
    assert tags["owner"] == "ml-vision-leads@example.com"
    assert tags["managed-by"] == "teamstack"
    assert tags["env"] == "p"


# --- idle-cost defaults --------------------------------------------------------------------------------------


def _base_values(**changes: Any) -> dict[str, str]:
    values = stack_config(load_project(REPO), BASE_STACK)
    values.pop("teamstack:systemNodeGroup", None)
    for key, value in changes.items():
        values[f"teamstack:{key}"] = json.dumps(value)
    return values


def test_the_default_system_group_is_one_small_x86_node_and_high_availability_makes_it_two() -> None:
    team = load_team(_base_values(), BASE_STACK)
    system = team.system_node_group
    assert (system.min_size, system.desired, system.max_size) == (1, 1, 3)
    assert system.instance_types == ["t3a.small", "t3.small"] and not system.high_availability
    assert team.interface_endpoints is False
    assert team.kubernetes.max_cluster_lifetime_hours == 24 and team.kubernetes.idle_timeout_minutes > 0
    ha = load_team(_base_values(systemNodeGroup={"highAvailability": True}), BASE_STACK).system_node_group
    assert (ha.min_size, ha.desired) == (2, 2)
    # An explicit minSize above two stays the team's.
    ha3 = load_team(_base_values(systemNodeGroup={"highAvailability": True, "minSize": 3}), BASE_STACK)
    assert ha3.system_node_group.min_size == 3
