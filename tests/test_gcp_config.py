"""The team config model for GCP stacks: the shipped GCP stack loads, every single GCP mistake comes back as one
line naming the stack file and the exact key (the GCP half of the bad-config corpus), and AWS and GCP settings
never mix."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import GCP_STACKS

from teamstack import naming
from teamstack.config import AwsTeamConfig, ConfigError, GcpTeamConfig, label_value, load_team
from teamstack.stackfiles import load_project, stack_config

REPO = Path(__file__).resolve().parents[1]
BASE = "ml-geo"  # the shipped GCP stack: GPU pools on N1+T4 and G2 (L4), regional, authorized networks
AWS_BASE = "ml-vision"

Edit = Callable[[dict[str, Any]], None]


def set_(path: tuple[str | int, ...], value: Any) -> Edit:
    def edit(config: dict[str, Any]) -> None:
        node: Any = config
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


def drop(path: tuple[str | int, ...]) -> Edit:
    def edit(config: dict[str, Any]) -> None:
        node: Any = config
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return edit


@dataclass(frozen=True)
class Case:
    id: str
    key: str  # the exact key the error must name
    reason: str  # a fragment the reason must contain
    edit: Edit
    base: str = BASE


NG0 = ("teamstack:nodeGroups", 0)  # the cpu pool (n2-standard-16)
NG1 = ("teamstack:nodeGroups", 1)  # the T4 pool (n1-standard-8 + nvidia-tesla-t4)
NG2 = ("teamstack:nodeGroups", 2)  # the L4 pool (g2-standard-24)

CORPUS = [
    # project, region, zones
    Case("project-missing", "gcp:project", "required key is missing", drop(("gcp:project",))),
    Case("project-upper-case", "gcp:project", "is not a GCP project id", set_(("gcp:project",), "ML-Geo-Prod")),
    Case("project-too-short", "gcp:project", "6-30 lowercase", set_(("gcp:project",), "geo")),
    Case("project-google", "gcp:project", "without 'google'", set_(("gcp:project",), "my-google-proj")),
    Case("project-trailing-dash", "gcp:project", "not ending with '-'", set_(("gcp:project",), "ml-geo-prod-")),
    Case("region-missing", "gcp:region", "required key is missing", drop(("gcp:region",))),
    Case("region-aws", "gcp:region", "'eu-west-1' is not a GCP region", set_(("gcp:region",), "eu-west-1")),
    Case("region-zone", "gcp:region", "not a GCP region", set_(("gcp:region",), "europe-west4-a")),
    Case(
        "zone-of-other-region",
        "teamstack:zones[1]",
        "'us-central1-b' is not a zone of europe-west4",
        set_(("teamstack:zones",), ["europe-west4-a", "us-central1-b"]),
    ),
    Case(
        "zone-unknown-letter",
        "teamstack:zones[2]",
        "zones: europe-west4-a, europe-west4-b, europe-west4-c",
        set_(("teamstack:zones",), ["europe-west4-a", "europe-west4-b", "europe-west4-f"]),
    ),
    Case(
        "zone-twice",
        "teamstack:zones[1]",
        "listed twice",
        set_(("teamstack:zones",), ["europe-west4-a", "europe-west4-a"]),
    ),
    Case("zones-empty", "teamstack:zones", "list 1 to 3 zones", set_(("teamstack:zones",), [])),
    Case("zones-scalar", "teamstack:zones", "valid list", set_(("teamstack:zones",), "europe-west4-a")),
    Case(
        "cluster-location-other",
        "teamstack:clusterLocation",
        "'regional' or 'zonal'",
        set_(("teamstack:clusterLocation",), "multi"),
    ),
    Case(
        "release-channel-upper",
        "teamstack:releaseChannel",
        "'rapid', 'regular', 'stable' or 'extended'",
        set_(("teamstack:releaseChannel",), "REGULAR"),
    ),
    Case("nat-per-az", "teamstack:natMode", "Cloud NAT is regional", set_(("teamstack:natMode",), "per-az")),
    Case(
        "version-unsupported",
        "teamstack:kubernetesVersion",
        "not a supported GKE version",
        set_(("teamstack:kubernetesVersion",), "1.27"),
    ),
    # ranges
    Case("pod-cidr-missing", "teamstack:podCidr", "required key is missing", drop(("teamstack:podCidr",))),
    Case(
        "pod-cidr-overlaps-vpc",
        "teamstack:podCidr",
        "overlaps teamstack:vpcCidr",
        set_(("teamstack:podCidr",), "10.60.0.0/16"),
    ),
    Case(
        "pod-cidr-overlaps-services",
        "teamstack:podCidr",
        "overlaps teamstack:serviceCidr",
        set_(("teamstack:podCidr",), "172.20.0.0/14"),
    ),
    Case("pod-cidr-too-small", "teamstack:podCidr", "/12 to /21", set_(("teamstack:podCidr",), "10.64.0.0/24")),
    Case("pod-cidr-public", "teamstack:podCidr", "/12 to /21 inside", set_(("teamstack:podCidr",), "8.0.0.0/14")),
    Case("pod-cidr-host-bits", "teamstack:podCidr", "host bits set", set_(("teamstack:podCidr",), "10.64.0.1/14")),
    Case(
        "api-cidr-open",
        "teamstack:apiAccessCidrs[0]",
        "would open the API to the internet",
        set_(("teamstack:apiAccessCidrs",), ["0.0.0.0/0"]),
    ),
    # people
    Case(
        "admin-arn",
        "teamstack:admins[0]",
        "is not a GCP IAM member",
        set_(("teamstack:admins",), ["arn:aws:iam::111122223333:role/PlatformAdmins"]),
    ),
    Case(
        "admin-all-users", "teamstack:admins[0]", "is not a GCP IAM member", set_(("teamstack:admins",), ["allUsers"])
    ),
    Case(
        "scientists-missing",
        "teamstack:dataScientistMembers",
        "required key is missing",
        drop(("teamstack:dataScientistMembers",)),
    ),
    Case(
        "scientists-empty",
        "teamstack:dataScientistMembers",
        "at least one",
        set_(("teamstack:dataScientistMembers",), []),
    ),
    Case(
        "scientist-domain",
        "teamstack:dataScientistMembers[1]",
        "'domain:example.com' is not a GCP IAM member",
        set_(("teamstack:dataScientistMembers",), ["group:a@example.com", "domain:example.com"]),
    ),
    Case(
        "aws-principals-on-gcp",
        "teamstack:dataScientistPrincipals",
        "is an AWS setting",
        set_(("teamstack:dataScientistPrincipals",), ["arn:aws:iam::111122223333:role/x"]),
    ),
    Case(
        "security-group-missing",
        "teamstack:gkeSecurityGroup",
        "required when dataScientistMembers lists groups",
        drop(("teamstack:gkeSecurityGroup",)),
    ),
    Case(
        "security-group-other-name",
        "teamstack:gkeSecurityGroup",
        "gke-security-groups@<your domain>",
        set_(("teamstack:gkeSecurityGroup",), "ml-geo@example.com"),
    ),
    # billing
    Case(
        "billing-missing",
        "teamstack:budget.billingAccount",
        "required key is missing",
        drop(("teamstack:budget", "billingAccount")),
    ),
    Case(
        "billing-malformed",
        "teamstack:budget.billingAccount",
        "XXXXXX-XXXXXX-XXXXXX",
        set_(("teamstack:budget", "billingAccount"), "0123456789AB"),
    ),
    Case(
        "billing-lower-case",
        "teamstack:budget.billingAccount",
        "is not a billing account id",
        set_(("teamstack:budget", "billingAccount"), "012345-6789ab-cdef01"),
    ),
    # machine types and accelerators
    Case(
        "machine-type-missing",
        "teamstack:nodeGroups[0].machineType",
        "required key is missing",
        drop((*NG0, "machineType")),
    ),
    Case(
        "machine-type-malformed",
        "teamstack:nodeGroups[0].machineType",
        "is not a GKE machine type",
        set_((*NG0, "machineType"), "n2.standard.16"),
    ),
    Case(
        "aws-type-in-gcp-pool",
        "teamstack:nodeGroups[0].instanceTypes",
        "is an AWS setting",
        set_((*NG0, "instanceTypes"), ["m7i.4xlarge"]),
    ),
    Case(
        "gpu-machine-in-cpu-pool",
        "teamstack:nodeGroups[0].machineType",
        "is an accelerator-optimized type",
        set_((*NG0, "machineType"), "g2-standard-8"),
    ),
    Case(
        "gpu-on-cpu-pool",
        "teamstack:nodeGroups[0].gpuType",
        "a cpu pool has no GPUs",
        set_((*NG0, "gpuType"), "nvidia-tesla-t4"),
    ),
    Case(
        "arm-worker-pool",
        "teamstack:nodeGroups[0].machineType",
        "x86_64 only",
        set_((*NG0, "machineType"), "t2a-standard-16"),
    ),
    Case(
        "l4-on-n1",
        "teamstack:nodeGroups[1].gpuType",
        "cannot be attached to n1-standard-8",
        set_((*NG1, "gpuType"), "nvidia-l4"),
    ),
    Case(
        "t4-on-n2",
        "teamstack:nodeGroups[1].machineType",
        "attach only to N1 machine types",
        set_((*NG1, "machineType"), "n2-standard-8"),
    ),
    Case(
        "t4-count-3",
        "teamstack:nodeGroups[1].gpuCount",
        "attaches 1, 2, 4 GPUs per node, not 3",
        set_((*NG1, "gpuCount"), 3),
    ),
    Case(
        "t4-too-many-vcpus",
        "teamstack:nodeGroups[1].machineType",
        "at most 48 vCPUs",
        set_((*NG1, "machineType"), "n1-standard-64"),
    ),
    Case("n1-gpu-pool-without-gpu", "teamstack:nodeGroups[1].gpuType", "must name its GPUs", drop((*NG1, "gpuType"))),
    Case(
        "gpu-unknown",
        "teamstack:nodeGroups[1].gpuType",
        "'nvidia-rtx-9090' is not a supported NVIDIA GPU",
        set_((*NG1, "gpuType"), "nvidia-rtx-9090"),
    ),
    Case(
        "g2-with-t4",
        "teamstack:nodeGroups[2].gpuType",
        "comes with nvidia-l4 GPUs, not nvidia-tesla-t4",
        set_((*NG2, "gpuType"), "nvidia-tesla-t4"),
    ),
    Case(
        "g2-24-with-one-gpu",
        "teamstack:nodeGroups[2].gpuCount",
        "comes with 2 GPU(s), not 1",
        set_((*NG2, "gpuCount"), 1),
    ),
    Case(
        "gpu-count-zero", "teamstack:nodeGroups[1].gpuCount", "greater than or equal to 1", set_((*NG1, "gpuCount"), 0)
    ),
    Case(
        "cpu-machine-in-gpu-pool",
        "teamstack:nodeGroups[2].gpuType",
        "must name its GPUs",
        set_((*NG2, "machineType"), "e2-standard-8"),
    ),
    Case("gpu-pool-min-1", "teamstack:nodeGroups[1].minSize", "scales from zero", set_((*NG1, "minSize"), 1)),
    Case(
        "system-gpu-machine",
        "teamstack:systemNodeGroup.machineType",
        "accelerator-optimized",
        set_(("teamstack:systemNodeGroup", "machineType"), "a2-highgpu-1g"),
    ),
    Case(
        "system-arm-machine",
        "teamstack:systemNodeGroup.machineType",
        "x86_64 (linux/amd64) only",
        set_(("teamstack:systemNodeGroup", "machineType"), "t2a-standard-2"),
    ),
    Case(
        "interface-endpoints-on-gcp",
        "teamstack:interfaceEndpoints",
        "is an AWS setting",
        set_(("teamstack:interfaceEndpoints",), True),
    ),
    Case(
        "ghcr-credential-on-gcp",
        "teamstack:ghcrCredentialArn",
        "is an AWS setting (ECR caches ghcr.io only with a GitHub token); GKE pulls ghcr.io through the team's "
        "Artifact Registry mirror",
        set_(
            ("teamstack:ghcrCredentialArn",),
            "arn:aws:secretsmanager:us-east-1:111122223333:secret:ecr-pullthroughcache/x",
        ),
    ),
    Case(
        "system-aws-types",
        "teamstack:systemNodeGroup.instanceTypes",
        "is an AWS setting",
        set_(("teamstack:systemNodeGroup",), {"instanceTypes": ["m7i.large"]}),
    ),
    # labels
    Case(
        "tag-upper-case-value",
        "teamstack:tags.project",
        "on GCP tags become labels",
        set_(("teamstack:tags",), {"project": "Geo-Platform"}),
    ),
    Case(
        "tag-key-with-slash",
        "teamstack:tags.example.com/project",
        "on GCP tags become labels",
        set_(("teamstack:tags",), {"example.com/project": "geo"}),
    ),
    # GCP keys in an AWS stack
    Case(
        "aws-stack-with-zones",
        "teamstack:zones",
        "is a GCP setting; this stack's teamstack:cloud is aws",
        set_(("teamstack:zones",), ["us-west-2a"]),
        base=AWS_BASE,
    ),
    Case(
        "aws-stack-with-machine-type",
        "teamstack:nodeGroups[0].machineType",
        "is a GCP setting",
        set_((*NG0, "machineType"), "n2-standard-8"),
        base=AWS_BASE,
    ),
    Case(
        "aws-stack-with-billing-account",
        "teamstack:budget.billingAccount",
        "is a GCP setting",
        set_(("teamstack:budget", "billingAccount"), "012345-6789AB-CDEF01"),
        base=AWS_BASE,
    ),
    Case(
        "aws-stack-without-instance-types",
        "teamstack:nodeGroups[0].instanceTypes",
        "required key is missing",
        drop((*NG0, "instanceTypes")),
        base=AWS_BASE,
    ),
    Case(
        "aws-stack-without-principals",
        "teamstack:dataScientistPrincipals",
        "required key is missing",
        drop(("teamstack:dataScientistPrincipals",)),
        base=AWS_BASE,
    ),
    Case(
        "project-as-teamstack-key",
        "teamstack:project",
        "unknown key",
        set_(("teamstack:project",), "ml-vision-prod"),
        base=AWS_BASE,
    ),
]


def _project_with(tmp_path: Path, case: Case) -> Any:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    text = (REPO / "stacks" / f"Pulumi.{case.base}.yaml").read_text(encoding="utf-8")
    document = copy.deepcopy(yaml.safe_load(text))
    case.edit(document["config"])
    (tmp_path / "stacks" / f"Pulumi.{case.base}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return load_project(tmp_path)


def test_the_base_stacks_are_shipped_and_good(tmp_path: Path) -> None:
    assert BASE in GCP_STACKS
    project = _project_with(tmp_path, Case("none", "-", "-", lambda config: None))
    assert load_team(stack_config(project, BASE), BASE).cloud == "gcp"


def test_corpus_ids_are_unique() -> None:
    assert len({case.id for case in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_bad_gcp_config_is_reported_in_one_line(tmp_path: Path, case: Case) -> None:
    project = _project_with(tmp_path, case)
    with pytest.raises(ConfigError) as raised:
        load_team(stack_config(project, case.base), case.base)
    message = str(raised.value)
    assert raised.value.key == case.key, message
    assert message.startswith(f"stacks/Pulumi.{case.base}.yaml: {case.key}: "), message
    assert case.reason in message, message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_shipped_gcp_stack_is_complete(stack: str) -> None:
    team = load_team(stack_config(load_project(REPO), stack), stack)
    assert isinstance(team, GcpTeamConfig) and team.team == stack and team.project
    assert team.budget.billing_account
    assert team.data_scientist_members and not hasattr(team, "data_scientist_principals")
    assert len(naming.gcp_bucket_name(team.team, "envs", team.project)) <= 63


def _geo() -> GcpTeamConfig:
    team = load_team(stack_config(load_project(REPO), BASE), BASE)
    assert isinstance(team, GcpTeamConfig)
    return team


def test_zones_default_to_the_regions_first_az_count() -> None:
    team = _geo().model_copy(update={"zones": None, "az_count": 2})
    assert team.gcp_zones == ("europe-west4-a", "europe-west4-b")


def test_labels_are_the_tags_in_label_form_without_the_owner() -> None:
    team = _geo()
    assert team.labels_for_resources == {
        "project": "geo-platform",
        "team": "ml-geo",
        "cost-center": "cc-5120-geo",
        "managed-by": "teamstack",
    }
    assert label_value("CC:44/10.ml") == "cc_44_10_ml"
    assert len(label_value("x" * 100)) == 63


def test_aws_stacks_keep_their_tags_and_defaults() -> None:
    team = load_team(stack_config(load_project(REPO), AWS_BASE), AWS_BASE)
    assert isinstance(team, AwsTeamConfig) and not hasattr(team, "project") and not hasattr(team, "zones")
    assert team.tags_for_resources["owner"] == "ml-vision-leads@example.com"


def _keys(model: type[AwsTeamConfig | GcpTeamConfig]) -> tuple[set[str], set[str]]:
    schema = model.model_json_schema(by_alias=True)
    return set(schema["properties"]), set(schema.get("required", ()))


def test_each_clouds_required_and_forbidden_keys_are_its_schemas() -> None:
    """One model per cloud (issue 10): what a cloud requires and refuses is its schema, not a hand-written check."""
    aws_keys, aws_required = _keys(AwsTeamConfig)
    gcp_keys, gcp_required = _keys(GcpTeamConfig)
    assert {"dataScientistPrincipals", "interfaceEndpoints"} <= aws_keys - gcp_keys
    assert {"project", "podCidr", "dataScientistMembers", "zones", "gkeSecurityGroup"} <= gcp_keys - aws_keys
    assert "dataScientistPrincipals" in aws_required - gcp_required
    assert {"project", "podCidr", "dataScientistMembers"} <= gcp_required - aws_required
    # The nested models too: node groups and the system group take only their own cloud's machine keys.
    for model, other in ((AwsTeamConfig, "machineType"), (GcpTeamConfig, "instanceTypes")):
        assert other not in str(model.model_json_schema(by_alias=True)["$defs"]), model
