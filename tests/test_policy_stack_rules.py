"""Every stack rule on hand-written resource sets: one passing set, one failing change per condition, and an
unknown (preview) value that is not judged. The real plans are checked in test_policy_plan.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from teamstack.policy.config import PolicyConfig
from teamstack.policy.engine import violations_of
from teamstack.policy.model import Resource
from teamstack.policy.rules import RULES_BY_NAME, STACK_RULES
from tests.test_policy_rules import UNKNOWN_ARRAY, UNKNOWN_OBJECT, UNKNOWN_STRING

CONFIG = PolicyConfig(team="t", catalog_buckets=("raw",), max_nodes=10, max_gpus=4, monthly_cost_cap_usd=5000)
KEY = "arn:aws:kms:us-west-2:123456789012:key/1"


def res(type_token: str, name: str, props: dict[str, Any], **options: Any) -> Resource:
    urn = f"urn:pulumi:t::teamstack::{type_token}::{name}"
    return Resource.of(
        urn, type_token, name, props, options.get("protect", False), options.get("retain"), None, options.get("id")
    )


def s3_bucket(purpose: str, resource_name: str, **options: Any) -> list[Resource]:
    name = f"t-{purpose}-123456789012"
    return [
        res("aws:s3/bucket:Bucket", resource_name, {"bucket": name, "forceDestroy": False}, **options),
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{resource_name}-pab",
            {"bucket": name, "blockPublicAcls": True, "blockPublicPolicy": True}
            | {"ignorePublicAcls": True, "restrictPublicBuckets": True},
        ),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{resource_name}-sse",
            {
                "bucket": name,
                "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}}],
            },
        ),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            f"{resource_name}-v",
            {"bucket": name, "versioningConfiguration": {"status": "Enabled"}},
        ),
        res(
            "aws:s3/bucketLogging:BucketLogging",
            f"{resource_name}-log",
            {"bucket": name, "targetBucket": "t-logs-123456789012"},
        ),
    ]


def log_bucket() -> list[Resource]:
    name = "t-logs-123456789012"
    return [
        res("aws:s3/bucket:Bucket", "t-access-logs-bucket", {"bucket": name}, protect=True, retain=True),
        res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "logs-pab", {"bucket": name}),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "logs-sse",
            {"bucket": name, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
        ),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            "logs-v",
            {"bucket": name, "versioningConfiguration": {"status": "Enabled"}},
        ),
    ]


def gcs_bucket(**changes: Any) -> Resource:
    props = {
        "name": "t-raw-p",
        "encryption": {"defaultKmsKeyName": "projects/p/locations/l/keyRings/r/cryptoKeys/k"},
        "versioning": {"enabled": True},
        "logging": {"logBucket": "t-logs-p"},
    } | changes
    return res("gcp:storage/bucket:Bucket", "t-catalog-raw-bucket", props, protect=True, retain=True)


def good_stack() -> list[Resource]:
    return [
        *s3_bucket("raw", "t-catalog-raw-bucket", protect=True, retain=True),
        *log_bucket(),
        res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"}, id="vpc-1"),
        res("aws:ec2/flowLog:FlowLog", "flow", {"vpcId": "vpc-1", "trafficType": "ALL"}),
        res("aws:eks/cluster:Cluster", "eks", {"name": "t"}),
        res("aws:eks/addon:Addon", "agent", {"addonName": "eks-pod-identity-agent"}),
        res("aws:eks/podIdentityAssociation:PodIdentityAssociation", "pia", {"serviceAccount": "dask-worker"}),
        res("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "t"}}),
        res(
            "kubernetes:core/v1:ResourceQuota",
            "quota",
            {"metadata": {"namespace": "t"}, "spec": {"hard": {"pods": "10"}}},
        ),
        res("kubernetes:core/v1:LimitRange", "limits", {"metadata": {"namespace": "t"}}),
        res(
            "aws:budgets/budget:Budget",
            "budget",
            {"limitAmount": "1000.00", "timeUnit": "MONTHLY", "notifications": [{"threshold": 80}]},
        ),
        res(
            "aws:eks/nodeGroup:NodeGroup",
            "gpu",
            {
                "instanceTypes": ["g4dn.xlarge"],
                "capacityType": "ON_DEMAND",
                "diskSize": 100,
                "scalingConfig": {"minSize": 0, "maxSize": 4},
                "subnetIds": ["s"],
            },
        ),
        res("aws:ec2/subnet:Subnet", "subnet", {"availabilityZone": "us-west-2a"}),
    ]


Change = Callable[[list[Resource]], list[Resource]]


def drop(type_token: str, name_part: str = "") -> Change:
    return lambda rs: [r for r in rs if not (r.type == type_token and name_part in r.name)]


def edit(type_token: str, name_part: str, **props: Any) -> Change:
    def change(rs: list[Resource]) -> list[Resource]:
        return [
            Resource.of(r.urn, r.type, r.name, r.props | props, r.protect, r.retain_on_delete, r.parent, r.id)
            if r.type == type_token and name_part in r.name
            else r
            for r in rs
        ]

    return change


def options(name_part: str, protect: bool, retain: bool | None) -> Change:
    def change(rs: list[Resource]) -> list[Resource]:
        return [
            Resource(r.urn, r.type, r.name, r.props, protect, retain, r.parent, r.id) if name_part == r.name else r
            for r in rs
        ]

    return change


def add(*extra: Resource) -> Change:
    return lambda rs: [*rs, *extra]


S3 = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
GROUP = "aws:eks/nodeGroup:NodeGroup"

CASES: dict[str, tuple[dict[str, Change], Change]] = {
    "bucket-public-access-blocked": (
        {"no block": drop("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "raw")},
        edit(S3, "raw", bucket=UNKNOWN_STRING),
    ),
    "bucket-kms-encryption": (
        {
            "no encryption": drop(SSE, "raw"),
            "SSE-S3 on a data bucket": edit(
                SSE, "raw", rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
            ),
            "GCS without CMEK": add(gcs_bucket(encryption=None)),
        },
        edit(SSE, "raw", rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": UNKNOWN_STRING}}]),
    ),
    "bucket-versioning": (
        {
            "no versioning": drop("aws:s3/bucketVersioning:BucketVersioning", "raw"),
            "suspended": edit(
                "aws:s3/bucketVersioning:BucketVersioning", "raw", versioningConfiguration={"status": "Suspended"}
            ),
            "GCS unversioned": add(gcs_bucket(versioning={"enabled": False})),
        },
        add(gcs_bucket(versioning=UNKNOWN_OBJECT)),
    ),
    "bucket-access-logging": (
        {
            "no logging": drop("aws:s3/bucketLogging:BucketLogging", "raw"),
            "GCS without logging": add(gcs_bucket(logging=None)),
        },
        add(gcs_bucket(logging={"logBucket": UNKNOWN_STRING})),
    ),
    "aws-vpc-flow-logs": (
        {
            "no flow log": drop("aws:ec2/flowLog:FlowLog"),
            "rejects only": edit("aws:ec2/flowLog:FlowLog", "flow", trafficType="REJECT"),
        },
        edit("aws:ec2/flowLog:FlowLog", "flow", vpcId=UNKNOWN_STRING),
    ),
    "eks-workload-identity": (
        {
            "no pod identity": drop("aws:eks/podIdentityAssociation:PodIdentityAssociation"),
            "no agent add-on": drop("aws:eks/addon:Addon"),
        },
        edit("aws:eks/podIdentityAssociation:PodIdentityAssociation", "pia", serviceAccount=UNKNOWN_STRING),
    ),
    "k8s-namespace-resource-quota": (
        {
            "no quota": drop("kubernetes:core/v1:ResourceQuota"),
            "quota elsewhere": edit("kubernetes:core/v1:ResourceQuota", "quota", metadata={"namespace": "x"}),
        },
        edit("kubernetes:core/v1:ResourceQuota", "quota", metadata={"namespace": UNKNOWN_STRING}),
    ),
    "k8s-namespace-limit-range": (
        {"no limit range": drop("kubernetes:core/v1:LimitRange")},
        edit("kubernetes:core/v1:LimitRange", "limits", metadata={"namespace": UNKNOWN_STRING}),
    ),
    "catalog-buckets-exist": (
        {"missing": drop(S3, "raw")},
        edit(S3, "raw", bucket=UNKNOWN_STRING),
    ),
    "catalog-buckets-protected": (
        {
            "not protected": options("t-catalog-raw-bucket", False, True),
            "not retained": options("t-catalog-raw-bucket", True, False),
        },
        options("t-catalog-raw-bucket", True, None),  # CrossGuard cannot see retainOnDelete
    ),
    "budget-exists": (
        {
            "none": drop("aws:budgets/budget:Budget"),
            "zero": edit("aws:budgets/budget:Budget", "budget", limitAmount="0"),
            "no alerts": edit("aws:budgets/budget:Budget", "budget", notifications=[]),
            "yearly": edit("aws:budgets/budget:Budget", "budget", timeUnit="ANNUALLY"),
        },
        edit("aws:budgets/budget:Budget", "budget", limitAmount=UNKNOWN_STRING, notifications=UNKNOWN_ARRAY),
    ),
    "team-node-cap": (
        {"over": edit(GROUP, "gpu", scalingConfig={"minSize": 0, "maxSize": 11})},
        edit(GROUP, "gpu", scalingConfig={"minSize": 0, "maxSize": "3eeb2bf0-c639-47a8-9e75-3b44932eb421"}),
    ),
    "team-gpu-cap": (
        {
            "over": edit(GROUP, "gpu", instanceTypes=["g4dn.12xlarge"]),
            "too many": edit(GROUP, "gpu", scalingConfig={"minSize": 0, "maxSize": 5}),
        },
        edit(GROUP, "gpu", scalingConfig={"minSize": 0, "maxSize": "3eeb2bf0-c639-47a8-9e75-3b44932eb421"}),
    ),
    "team-cost-cap": (
        {
            "over": edit(GROUP, "gpu", instanceTypes=["g5.12xlarge"]),
            "unpriced type": edit(GROUP, "gpu", instanceTypes=["p5.48xlarge"]),
            "unpriced region": edit("aws:ec2/subnet:Subnet", "subnet", availabilityZone="me-central-1a"),
        },
        edit(GROUP, "gpu", instanceTypes=UNKNOWN_ARRAY),
    ),
}


def found(rule: str, resources: list[Resource]) -> list[str]:
    return [v.message for v in violations_of(RULES_BY_NAME[rule], resources, CONFIG)]


def test_every_stack_rule_has_cases() -> None:
    assert set(CASES) == {rule.name for rule in STACK_RULES}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_good_stack_passes(rule: str) -> None:
    assert found(rule, good_stack()) == []


FAILING = [(rule, label, change) for rule, (failing, _) in sorted(CASES.items()) for label, change in failing.items()]


@pytest.mark.parametrize(("rule", "label", "change"), FAILING, ids=[f"{r}:{label}" for r, label, _ in FAILING])
def test_each_failing_change_is_reported(rule: str, label: str, change: Change) -> None:
    assert found(rule, change(good_stack())), f"{rule} missed: {label}"


@pytest.mark.parametrize("rule", sorted(CASES))
def test_unknown_value_is_not_judged(rule: str) -> None:
    unknown = CASES[rule][1]
    messages = found(rule, unknown(good_stack()))
    if rule == "team-cost-cap":
        # A size unknown at preview cannot be priced: the rule says so instead of guessing a number.
        assert messages and all("cannot be priced" in m for m in messages)
    else:
        assert messages == []


def test_the_access_log_bucket_may_use_sse_s3_and_need_not_log_itself() -> None:
    logged = log_bucket() + s3_bucket("raw", "t-catalog-raw-bucket")
    assert found("bucket-kms-encryption", logged) == []
    assert found("bucket-access-logging", logged) == []
    # A bucket that receives no access logs gets no SSE-S3 exemption.
    assert found("bucket-kms-encryption", log_bucket())


def test_gcs_data_access_audit_logs_count_as_access_logging() -> None:
    audit = res(
        "gcp:projects/iAMAuditConfig:IAMAuditConfig",
        "audit",
        {"service": "storage.googleapis.com", "auditLogConfigs": [{"logType": "DATA_READ"}, {"logType": "DATA_WRITE"}]},
    )
    unlogged = gcs_bucket(logging=None)
    assert found("bucket-access-logging", [unlogged])
    assert found("bucket-access-logging", [unlogged, audit]) == []


def test_other_namespaces_need_no_quota_unless_listed() -> None:
    operator = res("kubernetes:core/v1:Namespace", "op", {"metadata": {"name": "dask-operator"}})
    assert found("k8s-namespace-resource-quota", [*good_stack(), operator]) == []
    listing = CONFIG.model_copy(update={"namespaces": ("t", "dask-operator")})
    rule = RULES_BY_NAME["k8s-namespace-resource-quota"]
    assert violations_of(rule, [*good_stack(), operator], listing)
