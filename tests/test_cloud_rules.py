"""The clouds' own rules: one mistake per case, each refused with one line naming the stack file and the exact key.

The grown bad-config corpus of issue 11, by class: names the clouds refuse, CIDR text, types that do not exist,
principals, service limits, YAML, silently ignored keys. Each case edits a shipped stack (ml-vision on AWS,
ml-geo on GCP) in one place and goes the CLI's way: Pulumi.yaml defaults + the stack file -> the model.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack.config import ConfigError, load_team
from teamstack.stackfiles import load_project, stack_config
from teamstack.validation import catalogue, shorten

REPO = Path(__file__).resolve().parents[1]
AWS, GCP = "ml-vision", "ml-geo"
CPU_AWS = "analytics"  # CPU groups only, eu-central-1: natMode none is possible there (with a ghcr.io credential)
GHCR_SECRET = "arn:aws:secretsmanager:eu-central-1:111122223333:secret:ecr-pullthroughcache/ghcr-Ab12Cd"
ARN = "arn:aws:iam::111122223333:role/PlatformAdmins"
NG0, NG1, NG2 = ("teamstack:nodeGroups", 0), ("teamstack:nodeGroups", 1), ("teamstack:nodeGroups", 2)
K8S = ("teamstack:kubernetes",)
Edit = Callable[[dict[str, Any]], None]


def set_(path: tuple[str | int, ...], value: Any) -> Edit:
    def edit(config: dict[str, Any]) -> None:
        node: Any = config
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


NO_NAT = set_(("teamstack:natMode",), "none")


def both(*edits: Edit) -> Edit:
    def edit(config: dict[str, Any]) -> None:
        for one in edits:
            one(config)

    return edit


def _text(stack: str) -> str:
    return (REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")


def _line_of(stack: str, fragment: str, occurrence: int = 1) -> str:
    lines = [i for i, line in enumerate(_text(stack).splitlines(), 1) if fragment in line]
    return f"line {lines[occurrence - 1]}"


def _not_offered_in(region: str) -> str:
    """A CPU-only x86_64 type the catalogue knows but the region does not offer (a real regional gap)."""
    data = catalogue._aws()
    offered = set(data["regions"][region]["instanceTypes"])
    for name, entry in data["instanceTypes"].items():
        if name not in offered and entry["arch"] == ["x86_64"] and "gpus" not in entry and "metal" not in name:
            return str(name)
    raise AssertionError(f"every x86_64 CPU type is offered in {region}")


def _gcp_not_offered_in(region: str, prefix: str) -> str:
    """A machine type of the series the catalogue knows but no zone of the region offers (a real regional gap)."""
    for name in catalogue.gcp_machine_names():
        if name.startswith(prefix) and catalogue.gcp_offered(region, name) is False:
            return name
    raise AssertionError(f"every {prefix}* type is offered in {region}")


@dataclass(frozen=True)
class Case:
    id: str
    key: str  # the exact key the error must name
    reason: str  # a fragment the reason must contain
    edit: Edit | None = None
    text: Callable[[str], str] | None = None
    base: str = AWS


def _public_24s(n: int) -> list[str]:
    return [f"203.{i // 256}.{i % 256}.0/24" for i in range(n)]


CORPUS = [
    # --- names the clouds refuse -------------------------------------------------------------------------
    Case("s3-xn-prefix", "teamstack:team", "starting with 'xn--'", set_(("teamstack:team",), "xn--vision")),
    Case("s3-sthree-prefix", "teamstack:team", "starting with 'sthree-'", set_(("teamstack:team",), "sthree-ml")),
    # 20 characters pass the team-name shape but make a 31-character ECR pull-through cache prefix.
    Case(
        "ecr-cache-prefix-too-long",
        "teamstack:team",
        "at most 19 characters",
        set_(("teamstack:team",), "computer-vision-labs"),
    ),
    Case(
        "catalog-is-the-build-bucket",
        "teamstack:catalogBuckets[0].name",
        "'envs' is the platform's own bucket",
        set_(("teamstack:catalogBuckets", 0, "name"), "envs"),
    ),
    Case(
        "catalog-is-the-access-log-bucket",
        "teamstack:catalogBuckets[2].name",
        "'access-logs' is the platform's own bucket",
        set_(("teamstack:catalogBuckets", 2, "name"), "access-logs"),
    ),
    Case(
        "gcs-goog-prefix",
        "teamstack:team",
        "starting with 'goog'",
        set_(("teamstack:team",), "goog-geo"),
        base=GCP,
    ),
    Case(
        "gcs-google-inside",
        "teamstack:catalogBuckets[1].name",
        "containing 'google'",
        set_(("teamstack:catalogBuckets", 1, "name"), "google-tiles"),
        base=GCP,
    ),
    Case(
        "gcs-google-misspelt",
        "teamstack:catalogBuckets[0].name",
        "close misspelling",
        set_(("teamstack:catalogBuckets", 0, "name"), "g00gle"),
        base=GCP,
    ),
    Case(
        "namespace-kube-system",
        "teamstack:namespace",
        "'kube-system' is reserved",
        set_(("teamstack:namespace",), "kube-system"),
    ),
    Case(
        "namespace-operator",
        "teamstack:namespace",
        "'dask-operator' is reserved",
        set_(("teamstack:namespace",), "dask-operator"),
    ),
    Case("namespace-kube-prefix", "teamstack:namespace", "'kube-*' belongs", set_(("teamstack:namespace",), "kube-ml")),
    Case("team-is-default-namespace", "teamstack:team", "'default' is reserved", set_(("teamstack:team",), "default")),
    Case(
        "extra-namespace-kube-prefix",
        "teamstack:kubernetes.extraNamespaces[0]",
        "'kube-*' belongs",
        set_((*K8S, "extraNamespaces"), ["kube-tools"]),
    ),
    Case(
        "gcp-namespace-gmp-system",
        "teamstack:namespace",
        "'gmp-system' is reserved",
        set_(("teamstack:namespace",), "gmp-system"),
        base=GCP,
    ),
    Case(
        "label-prefix-part-over-63",
        "teamstack:nodeGroups[0].labels." + "a" * 64 + ".example.com/tier",
        "not a DNS subdomain",
        set_((*NG0, "labels"), {"a" * 64 + ".example.com/tier": "x"}),
    ),
    Case(
        "label-prefix-over-253",
        "teamstack:nodeGroups[0].labels." + ".".join(["b" * 60] * 5) + "/tier",
        "1-253 characters",
        set_((*NG0, "labels"), {".".join(["b" * 60] * 5) + "/tier": "x"}),
    ),
    Case(
        "label-prefix-gke-owned",
        "teamstack:nodeGroups[0].labels.cloud.google.com/gke-nodepool",
        "reserved for Kubernetes and the clouds",
        set_((*NG0, "labels"), {"cloud.google.com/gke-nodepool": "cpu"}),
        base=GCP,
    ),
    Case(
        "tag-value-character",
        "teamstack:tags.project",
        "_ . : / = + - @ only",
        set_(("teamstack:tags",), {"project": "vision#1"}),
    ),
    Case(
        "tag-key-character",
        "teamstack:tags.cost*centre",
        "_ . : / = + - @ only",
        set_(("teamstack:tags",), {"cost*centre": "x"}),
    ),
    Case(
        "tag-value-aws-prefix",
        "teamstack:tags.project",
        "'aws:' prefix",
        set_(("teamstack:tags",), {"project": "AWS:vision"}),
    ),
    Case(
        "tag-reserved-other-case",
        "teamstack:tags.Team",
        "platform's tag team in another letter case",
        set_(("teamstack:tags",), {"Team": "other"}),
    ),
    Case(
        "tag-reserved-upper-case",
        "teamstack:tags.OWNER",
        "in another letter case",
        set_(("teamstack:tags",), {"OWNER": "x@example.com"}),
    ),
    Case(
        "tags-over-50",
        "teamstack:tags",
        "47 team tags + 4 of the platform = 51; a resource takes at most 50",
        set_(("teamstack:tags",), {f"k{i}": "v" for i in range(47)}),
    ),
    Case(
        "owner-not-a-tag-value",
        "teamstack:owner",
        "becomes the owner tag of every resource: AWS tags (IAM's rule",
        set_(("teamstack:owner",), "o'brien@example.com"),
    ),
    Case(
        "gcp-labels-over-64",
        "teamstack:tags",
        "62 team labels + 3 of the platform = 65; a resource takes at most 64",
        set_(("teamstack:tags",), {f"k{i}": "v" for i in range(62)}),
        base=GCP,
    ),
    # --- CIDR text passed through raw ---------------------------------------------------------------------
    Case(
        "vpc-netmask-notation",
        "teamstack:vpcCidr",
        "write it as 10.40.0.0/16",
        set_(("teamstack:vpcCidr",), "10.40.0.0/255.255.0.0"),
    ),
    Case(
        "service-hostmask-notation",
        "teamstack:serviceCidr",
        "write it as 172.20.0.0/16",
        set_(("teamstack:serviceCidr",), "172.20.0.0/0.0.255.255"),
    ),
    Case(
        "api-bare-ip",
        "teamstack:apiAccessCidrs[0]",
        "is a bare address; write the range as a CIDR, e.g. 198.51.100.7/32",
        set_(("teamstack:apiAccessCidrs",), ["198.51.100.7"]),
    ),
    Case(
        "api-multicast",
        "teamstack:apiAccessCidrs[1]",
        "which is multicast",
        set_(("teamstack:apiAccessCidrs",), ["198.51.100.0/24", "224.10.0.0/16"]),
    ),
    Case(
        "api-reserved-class-e",
        "teamstack:apiAccessCidrs[0]",
        "never routed",
        set_(("teamstack:apiAccessCidrs",), ["250.1.0.0/16"]),
    ),
    Case(
        "api-over-eks-40",
        "teamstack:apiAccessCidrs",
        "lists 41 ranges; EKS public access CIDRs take at most 40",
        set_(("teamstack:apiAccessCidrs",), _public_24s(41)),
    ),
    Case(
        "api-over-gke-50",
        "teamstack:apiAccessCidrs",
        "lists 51 ranges; GKE authorized networks take at most 50",
        set_(("teamstack:apiAccessCidrs",), _public_24s(51)),
        base=GCP,
    ),
    Case(
        "pod-range-netmask",
        "teamstack:podCidr",
        "write it as 10.64.0.0/14",
        set_(("teamstack:podCidr",), "10.64.0.0/255.252.0.0"),
        base=GCP,
    ),
    # --- types that do not exist ----------------------------------------------------------------------------
    Case(
        "instance-type-well-formed-but-unknown",
        "teamstack:nodeGroups[0].instanceTypes[0]",
        "'m7i.5xlarge' is not an EC2 instance type",
        set_((*NG0, "instanceTypes"), ["m7i.5xlarge", "m6i.4xlarge"]),
    ),
    Case(
        "instance-family-unknown",
        "teamstack:nodeGroups[0].instanceTypes[1]",
        "no family 'm9z'",
        set_((*NG0, "instanceTypes"), ["m7i.4xlarge", "m9z.4xlarge"]),
    ),
    Case(
        "system-type-unknown",
        "teamstack:systemNodeGroup.instanceTypes[0]",
        "is not an EC2 instance type",
        set_(("teamstack:systemNodeGroup",), {"instanceTypes": ["m7i.3xlarge"]}),
    ),
    Case(
        "instance-type-not-in-region",
        "teamstack:nodeGroups[0].instanceTypes[0]",
        "is not offered in us-west-2",
        set_((*NG0, "instanceTypes"), [_not_offered_in("us-west-2")]),
    ),
    Case(
        "machine-type-well-formed-but-unknown",
        "teamstack:nodeGroups[0].machineType",
        "'n2-standard-6' is not a Compute Engine machine type",
        set_((*NG0, "machineType"), "n2-standard-6"),
        base=GCP,
    ),
    Case(
        "machine-type-not-in-region",
        "teamstack:nodeGroups[0].machineType",
        "is not offered in any zone of europe-west4 (catalogue of",
        set_((*NG0, "machineType"), _gcp_not_offered_in("europe-west4", "c3d-")),
        base=GCP,
    ),
    Case(
        # The same team in Zurich: no zone of europe-west6 has N4D; the line names the regions that do.
        "n4d-not-in-region",
        "teamstack:nodeGroups[0].machineType",
        "regions that offer it: europe-west1, europe-west2, europe-west3, europe-west4, us-central1",
        both(
            set_(("gcp:region",), "europe-west6"),
            set_(("teamstack:zones",), ["europe-west6-a", "europe-west6-b", "europe-west6-c"]),
            set_((*NG0, "machineType"), "n4d-standard-16"),
        ),
        base=GCP,
    ),
    Case(
        "machine-type-misspelt",
        "teamstack:nodeGroups[0].machineType",
        "'n4d-standrad-8' is not a Compute Engine machine type (catalogue of",
        set_((*NG0, "machineType"), "n4d-standrad-8"),
        base=GCP,
    ),
    Case(
        "machine-type-misspelt-suffix",
        "teamstack:nodeGroups[0].machineType",
        "did you mean c4d-standard-8-lssd?",
        set_((*NG0, "machineType"), "c4d-standard-8-lsd"),
        base=GCP,
    ),
    Case(
        "instance-type-misspelt",
        "teamstack:nodeGroups[2].instanceTypes[0]",
        "'g5.12xlage' is not an EC2 instance type (did you mean g5.12xlarge?)",
        set_((*NG2, "instanceTypes"), ["g5.12xlage"]),
    ),
    Case(
        "instance-family-retired",
        "teamstack:nodeGroups[2].instanceTypes[0]",
        "EC2 retired the p3 family",
        set_((*NG2, "instanceTypes"), ["p3.2xlarge"]),
    ),
    Case(
        "gpu-pool-on-arm-host",
        "teamstack:nodeGroups[2].machineType",
        "builds for x86_64 only",
        set_(
            (*NG2,), {"name": "gpu-gb200", "kind": "gpu", "machineType": "a4x-highgpu-4g", "minSize": 0, "maxSize": 2}
        ),
        base=GCP,
    ),
    Case(
        "system-machine-type-unknown",
        "teamstack:systemNodeGroup.machineType",
        "'e2-standard-3' is not a Compute Engine machine type",
        set_(("teamstack:systemNodeGroup", "machineType"), "e2-standard-3"),
        base=GCP,
    ),
    # --- principals -------------------------------------------------------------------------------------------
    Case("admins-twice", "teamstack:admins[1]", "is listed twice", set_(("teamstack:admins",), [ARN, ARN])),
    Case(
        "admins-twice-other-case",
        "teamstack:admins[1]",
        "is listed twice",
        set_(("teamstack:admins",), [ARN, ARN.replace("PlatformAdmins", "platformadmins")]),
    ),
    Case(
        "principal-aws-cn-in-commercial-region",
        "teamstack:dataScientistPrincipals[0]",
        "is in partition aws-cn; a stack in us-west-2 trusts only aws ARNs",
        set_(("teamstack:dataScientistPrincipals",), ["arn:aws-cn:iam::111122223333:role/sso/Scientists"]),
    ),
    Case(
        "principal-role-without-name",
        "teamstack:dataScientistPrincipals[0]",
        "names no role",
        set_(("teamstack:dataScientistPrincipals",), ["arn:aws:iam::111122223333:role/sso/"]),
    ),
    Case(
        "gcp-members-twice",
        "teamstack:dataScientistMembers[1]",
        "is listed twice",
        set_(
            ("teamstack:dataScientistMembers",),
            ["group:ml-geo-data-scientists@example.com", "group:ML-Geo-Data-Scientists@example.com"],
        ),
        base=GCP,
    ),
    # --- service limits -----------------------------------------------------------------------------------------
    Case(
        "gcp-budget-six-channels",
        "teamstack:budget.alertEmails",
        "lists 6 addresses; a Cloud Billing budget notifies at most 5",
        set_(("teamstack:budget", "alertEmails"), [f"a{i}@example.com" for i in range(6)]),
        base=GCP,
    ),
    Case(
        "gcp-pod-range-too-small-for-full-scale",
        "teamstack:podCidr",
        "10.64.0.0/21 gives 8 nodes a /24 each (110 pods), but the pools scale to 35 nodes",
        set_(("teamstack:podCidr",), "10.64.0.0/21"),
        base=GCP,
    ),
    Case(
        "worker-cpu-above-every-node",
        "teamstack:kubernetes.worker.cpu",
        "no cpu group has a node with that much allocatable",
        set_((*K8S, "worker"), {"cpu": 16, "memory": "15Gi"}),
    ),
    Case(
        "worker-memory-above-every-node",
        "teamstack:kubernetes.worker.memory",
        "no cpu group has a node with that much allocatable memory",
        set_((*K8S, "worker"), {"cpu": 4, "memory": "64Gi"}),
    ),
    Case(
        "gpu-worker-gpus-above-every-node",
        "teamstack:kubernetes.gpuWorker.gpus",
        "8 GPUs per worker, but the largest node of the gpu groups has 4",
        set_((*K8S, "gpuWorker"), {"cpu": 3, "memory": "12Gi", "gpus": 8}),
    ),
    Case(
        "gcp-gpu-worker-cpu-above-every-gpu-node",
        "teamstack:kubernetes.gpuWorker.cpu",
        "no gpu group has a node with that much allocatable",
        set_(("teamstack:kubernetes",), {"gpuWorker": {"cpu": 24, "memory": "12Gi", "gpus": 1}}),
        base=GCP,
    ),
    Case(
        "idle-timeout-zero",
        "teamstack:kubernetes.idleTimeoutMinutes",
        "0 would let idle Dask clusters run (and bill) forever",
        set_((*K8S, "idleTimeoutMinutes"), 0),
    ),
    Case(
        "az-count-above-region-zones",
        "teamstack:azCount",
        "eu-central-1 has 3 availability zones (eu-central-1a, eu-central-1b, eu-central-1c), 4 requested",
        both(set_(("aws:region",), "eu-central-1"), set_(("teamstack:azCount",), 4)),
    ),
    # --- natMode none on AWS: every image the nodes pull must come through ECR ----------------------------------
    Case(
        "no-nat-without-ghcr-credential",
        "teamstack:ghcrCredentialArn",
        "required with natMode none: the nodes pull the Dask operator's image from ghcr.io through an ECR "
        "pull-through cache",
        NO_NAT,
        base=CPU_AWS,
    ),
    Case(
        "no-nat-with-gpu-group",
        "teamstack:natMode",
        "none cannot serve GPU group 'gpu-t4' (nodeGroups[1]): the NVIDIA device plugin's image is only on nvcr.io",
        both(NO_NAT, set_(("teamstack:ghcrCredentialArn",), GHCR_SECRET.replace("eu-central-1", "us-west-2"))),
    ),
    Case(
        "ghcr-credential-with-nat",
        "teamstack:ghcrCredentialArn",
        "is read only with natMode none",
        set_(("teamstack:ghcrCredentialArn",), GHCR_SECRET),
        base=CPU_AWS,
    ),
    Case(
        "ghcr-credential-not-a-secret",
        "teamstack:ghcrCredentialArn",
        "is not a Secrets Manager secret ARN",
        both(NO_NAT, set_(("teamstack:ghcrCredentialArn",), ARN)),
        base=CPU_AWS,
    ),
    Case(
        "ghcr-credential-outside-the-ecr-namespace",
        "teamstack:ghcrCredentialArn",
        "the secret's name must start with 'ecr-pullthroughcache/' for ECR to use it (got 'github/ghcr-Ab12Cd')",
        both(NO_NAT, set_(("teamstack:ghcrCredentialArn",), GHCR_SECRET.replace("ecr-pullthroughcache/", "github/"))),
        base=CPU_AWS,
    ),
    Case(
        "ghcr-credential-in-another-region",
        "teamstack:ghcrCredentialArn",
        "ECR reads it only in the cache rule's own Region, eu-central-1",
        both(NO_NAT, set_(("teamstack:ghcrCredentialArn",), GHCR_SECRET.replace("eu-central-1", "eu-west-1"))),
        base=CPU_AWS,
    ),
    Case(
        "ghcr-credential-too-long",
        "teamstack:ghcrCredentialArn",
        "ECR takes a credential ARN of 50-612 characters, got 643",
        both(NO_NAT, set_(("teamstack:ghcrCredentialArn",), GHCR_SECRET + "x" * 555)),
        base=CPU_AWS,
    ),
    # --- silently ignored keys --------------------------------------------------------------------------------
    Case(
        "namespace-misspelt",
        "teamstak:natMode",
        "unknown namespace 'teamstak': nothing reads this key; allowed namespaces here: teamstack, aws, pulumi",
        set_(("teamstak:natMode",), "none"),
    ),
    Case(
        "gcp-key-on-aws",
        "gcp:project",
        "is a setting of gcp stacks; this stack's teamstack:cloud is aws",
        set_(("gcp:project",), "ml-vision-prod"),
    ),
    Case(
        "aws-key-on-gcp",
        "aws:region",
        "is a setting of aws stacks; this stack's teamstack:cloud is gcp",
        set_(("aws:region",), "eu-west-1"),
        base=GCP,
    ),
    Case(
        "kubernetes-provider-key",
        "kubernetes:context",
        "unknown namespace 'kubernetes'",
        set_(("kubernetes:context",), "prod"),
    ),
    Case(
        "log-retention-on-gcp",
        "teamstack:logRetentionDays",
        "is an AWS setting (CloudWatch); a GCP stack ignores it",
        set_(("teamstack:logRetentionDays",), 30),
        base=GCP,
    ),
    # --- YAML ---------------------------------------------------------------------------------------------------
    Case(
        "yaml-duplicate-top-key",
        f"line {int(_line_of(AWS, 'teamstack:natMode: per-az')[5:]) + 1}",
        f"key 'teamstack:natMode' appears twice in one mapping (first at {_line_of(AWS, 'teamstack:natMode: per-az')})",
        text=lambda t: t.replace(
            "  teamstack:natMode: per-az\n", "  teamstack:natMode: per-az\n  teamstack:natMode: none\n"
        ),
    ),
    Case(
        "yaml-duplicate-nested-key",
        f"line {int(_line_of(AWS, 'monthlyLimitUsd: 25000')[5:]) + 1}",
        "key 'monthlyLimitUsd' appears twice",
        text=lambda t: t.replace(
            "    monthlyLimitUsd: 25000\n", "    monthlyLimitUsd: 25000\n    monthlyLimitUsd: 90000\n"
        ),
    ),
    Case(
        "yaml-nested-aliases",
        f"line {len(_text(AWS).splitlines()) + 3}",
        "nested aliases are refused",
        text=lambda t: t + "  x-a: &a [lol, lol]\n  x-b: &b [*a, *a]\n  x-c: [*b, *b]\n",
    ),
    Case(
        "yaml-alias-expansion-too-large",
        f"line {len(_text(AWS).splitlines()) + 1}",
        "more than 100000 values once aliases are expanded",
        text=lambda t: t + "  x-a: &a [" + ", ".join(["v"] * 2000) + "]\n  x-b: [" + ", ".join(["*a"] * 60) + "]\n",
    ),
    Case(
        "yaml-five-megabyte-value",
        "-",
        "files the platform reads are at most 1048576 bytes",
        set_(("teamstack:owner",), "a" * 5_000_000 + "@example.com"),
    ),
]


# Stacks the clouds accept that an older catalogue refused: each one edit away from its base, each must load.
VALID = [
    Case("c4d-cpu-pool", "-", "-", set_((*NG0, "machineType"), "c4d-standard-16"), base=GCP),
    Case("c4d-lssd-cpu-pool", "-", "-", set_((*NG0, "machineType"), "c4d-highmem-8-lssd"), base=GCP),
    Case("n4d-cpu-pool", "-", "-", set_((*NG0, "machineType"), "n4d-highmem-8"), base=GCP),
    Case("c4-24-vcpus", "-", "-", set_((*NG0, "machineType"), "c4-standard-24"), base=GCP),
    Case(
        # C4N is in four regions (not europe-west4): the team in us-central1.
        "c4n-cpu-pool-in-us-central1",
        "-",
        "-",
        both(
            set_(("gcp:region",), "us-central1"),
            set_(("teamstack:zones",), ["us-central1-a", "us-central1-b", "us-central1-c"]),
            set_((*NG0, "machineType"), "c4n-highmem-16"),
        ),
        base=GCP,
    ),
    Case("n4d-system-pool", "-", "-", set_(("teamstack:systemNodeGroup", "machineType"), "n4d-standard-4"), base=GCP),
    Case(
        "g4-rtx-pro-6000-pool",
        "-",
        "-",
        set_((*NG2,), {"name": "gpu-rtx", "kind": "gpu", "machineType": "g4-standard-48", "minSize": 0, "maxSize": 2}),
        base=GCP,
    ),
    Case(
        "a3-ultra-h200-pool",
        "-",
        "-",
        set_(
            (*NG2,),
            {
                "name": "gpu-h200",
                "kind": "gpu",
                "machineType": "a3-ultragpu-8g",
                "gpuCount": 8,
                "minSize": 0,
                "maxSize": 1,
            },
        ),
        base=GCP,
    ),
    # The p3 family member EC2 still offers (p3.* itself is retired), in a region that has it (us-west-2).
    Case("p3dn-in-us-west-2", "-", "-", set_((*NG2, "instanceTypes"), ["p3dn.24xlarge"])),
    # A CPU-only AWS team without NAT, its GitHub token in the ECR namespace of its account and region.
    Case(
        "no-nat-with-ghcr-credential",
        "-",
        "-",
        both(NO_NAT, set_(("teamstack:ghcrCredentialArn",), GHCR_SECRET)),
        base=CPU_AWS,
    ),
]


@pytest.mark.parametrize("case", VALID, ids=[case.id for case in VALID])
def test_a_stack_the_cloud_accepts_is_accepted(tmp_path: Path, case: Case) -> None:
    project = _project_with(tmp_path, case)
    team = load_team(stack_config(project, case.base), case.base)
    edited = yaml.safe_load((tmp_path / "stacks" / f"Pulumi.{case.base}.yaml").read_text(encoding="utf-8"))
    assert edited != yaml.safe_load(_text(case.base)), "the edit did not apply"
    assert team.team == case.base


def _project_with(tmp_path: Path, case: Case) -> Any:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    text = _text(case.base)
    if case.edit is not None:
        document = copy.deepcopy(yaml.safe_load(text))
        case.edit(document["config"])
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=10**9)
    if case.text is not None:
        edited = case.text(text)
        assert edited != text, "the text edit did not apply"
        text = edited
    (tmp_path / "stacks" / f"Pulumi.{case.base}.yaml").write_text(text, encoding="utf-8")
    return load_project(tmp_path)


def test_corpus_ids_are_unique() -> None:
    ids = [case.id for case in CORPUS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("base", [AWS, CPU_AWS, GCP])
def test_the_bases_are_good(tmp_path: Path, base: str) -> None:
    # Each case is exactly one mistake away from its base: the unmodified copy must load.
    project = _project_with(tmp_path, Case("none", "-", "-", base=base))
    assert load_team(stack_config(project, base), base).team == base


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_cloud_rule_is_refused_in_one_line(tmp_path: Path, case: Case) -> None:
    project = _project_with(tmp_path, case)
    with pytest.raises(ConfigError) as raised:
        load_team(stack_config(project, case.base), case.base)
    error, message = raised.value, str(raised.value)
    file = f"stacks/Pulumi.{case.base}.yaml"
    assert error.key == case.key, message
    shown_key = shorten(case.key, 200)  # a very long key is shown by its ends too
    assert message.startswith(f"{file}: {shown_key}: "), message
    assert "\n" not in message and "\r" not in message, message
    assert case.reason in message[len(f"{file}: {shown_key}: ") :], message
    assert len(message) < 1000, f"{len(message)} characters: long values are shortened"


def test_a_long_value_is_shortened_in_the_error_line() -> None:
    values = stack_config(load_project(REPO), AWS)
    values["teamstack:team"] = "x" * 200_000
    with pytest.raises(ConfigError) as raised:
        load_team(values, AWS)
    message = str(raised.value)
    assert message.startswith("stacks/Pulumi.ml-vision.yaml: teamstack:team: ")
    assert " characters)…" in message and len(message) < 1000, message[:300]
