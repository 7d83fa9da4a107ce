"""Stack rules: they see the whole plan, because what they check spans resources (an S3 bucket and its
encryption resource, a namespace and its quota) or adds up over the stack (nodes, GPUs, cost)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from teamstack import cost
from teamstack.policy.config import PolicyConfig
from teamstack.policy.model import Finding, Resource, Rule
from teamstack.policy.rules import resources as r
from teamstack.policy.values import UNKNOWN, as_list, get, truthy

Findings = Iterator[Finding]

S3_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
EKS_ADDON = "aws:eks/addon:Addon"
AWS_BUDGET = "aws:budgets/budget:Budget"
GCP_BUDGET = "gcp:billing/budget:Budget"


def _of(resources: list[Resource], *types: str) -> list[Resource]:
    return [res for res in resources if res.type in types]


def _s3_name(bucket: Resource) -> Any:
    name = get(bucket.props, "bucket")
    return name if name is not None else bucket.id


def _by_bucket(resources: list[Resource], type_token: str) -> dict[str, list[Resource]]:
    found: dict[str, list[Resource]] = {}
    for res in _of(resources, type_token):
        name = get(res.props, "bucket")
        if isinstance(name, str):
            found.setdefault(name, []).append(res)
    return found


def _log_targets(resources: list[Resource]) -> set[str]:
    targets = {get(res.props, "targetBucket") for res in _of(resources, S3_LOGGING)}
    targets |= {get(res.props, "logging.logBucket") for res in _of(resources, r.GCS_BUCKET)}
    return {t for t in targets if isinstance(t, str)}


def _s3_buckets(resources: list[Resource]) -> Iterator[tuple[Resource, str]]:
    """S3 buckets whose name is known (a name only known after creation cannot be matched yet)."""
    for bucket in _of(resources, r.S3_BUCKET):
        name = _s3_name(bucket)
        if isinstance(name, str):
            yield bucket, name


def bucket_public_access_blocked(resources: list[Resource], config: PolicyConfig) -> Findings:
    blocks = _by_bucket(resources, r.S3_PUBLIC_ACCESS_BLOCK)
    for bucket, name in _s3_buckets(resources):
        if name not in blocks:
            yield Finding(f"S3 bucket {name} has no public access block", bucket.urn)


def bucket_kms_encryption(resources: list[Resource], config: PolicyConfig) -> Findings:
    encryption = _by_bucket(resources, S3_ENCRYPTION)
    log_targets = _log_targets(resources)
    for bucket, name in _s3_buckets(resources):
        rules = [rule for res in encryption.get(name, []) for rule in as_list(get(res.props, "rules"))]
        if not rules:
            yield Finding(f"S3 bucket {name} has no default encryption configuration", bucket.urn)
            continue
        for rule in rules:
            algorithm = get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
            key = get(rule, "applyServerSideEncryptionByDefault.kmsMasterKeyId")
            if algorithm is UNKNOWN or key is UNKNOWN:
                continue
            if algorithm == "AES256" and name in log_targets:
                continue  # S3 server access logs can only be delivered to an SSE-S3 bucket
            if algorithm not in ("aws:kms", "aws:kms:dsse") or not key:
                yield Finding(f"S3 bucket {name} is not encrypted with the team's KMS key ({algorithm})", bucket.urn)
    for bucket in _of(resources, r.GCS_BUCKET):
        key = get(bucket.props, "encryption.defaultKmsKeyName")
        if key is not UNKNOWN and not key:
            yield Finding(f"GCS bucket {get(bucket.props, 'name')!s} has no encryption.defaultKmsKeyName", bucket.urn)


def bucket_versioning(resources: list[Resource], config: PolicyConfig) -> Findings:
    versioning = _by_bucket(resources, S3_VERSIONING)
    for bucket, name in _s3_buckets(resources):
        statuses = [get(res.props, "versioningConfiguration.status") for res in versioning.get(name, [])]
        if UNKNOWN in statuses:
            continue
        if "Enabled" not in statuses:
            yield Finding(f"S3 bucket {name} is not versioned", bucket.urn)
    for bucket in _of(resources, r.GCS_BUCKET):
        enabled = get(bucket.props, "versioning.enabled", False)
        if enabled is not UNKNOWN and not truthy(enabled):
            yield Finding(f"GCS bucket {get(bucket.props, 'name')!s} is not versioned", bucket.urn)


def bucket_access_logging(resources: list[Resource], config: PolicyConfig) -> Findings:
    logged = _by_bucket(resources, S3_LOGGING)
    log_targets = _log_targets(resources)
    for bucket, name in _s3_buckets(resources):
        if name not in logged and name not in log_targets:
            yield Finding(f"S3 bucket {name} has no server access logging", bucket.urn)
    if _gcs_data_access_audited(resources):
        return
    for bucket in _of(resources, r.GCS_BUCKET):
        name, target = get(bucket.props, "name"), get(bucket.props, "logging.logBucket")
        if name is UNKNOWN or target is UNKNOWN or name in log_targets:
            continue
        if not target:
            yield Finding(f"GCS bucket {name!s} has no usage logging (logging.logBucket)", bucket.urn)


def _gcs_data_access_audited(resources: list[Resource]) -> bool:
    """Cloud Audit Logs of data reads and writes on Cloud Storage: GCS's access log, per request and caller."""
    for audit in _of(resources, "gcp:projects/iAMAuditConfig:IAMAuditConfig"):
        if get(audit.props, "service") not in ("storage.googleapis.com", "allServices"):
            continue
        kinds = {get(c, "logType") for c in as_list(get(audit.props, "auditLogConfigs")) if isinstance(c, dict)}
        if {"DATA_READ", "DATA_WRITE"} <= kinds:
            return True
    return False


def aws_vpc_flow_logs(resources: list[Resource], config: PolicyConfig) -> Findings:
    logged = {get(res.props, "vpcId") for res in _of(resources, FLOW_LOG) if get(res.props, "trafficType") == "ALL"}
    for vpc in _of(resources, VPC):
        if (vpc.id is not None and vpc.id not in logged and UNKNOWN not in logged) or (vpc.id is None and not logged):
            yield Finding("the VPC has no flow log of ALL traffic", vpc.urn)


def eks_workload_identity(resources: list[Resource], config: PolicyConfig) -> Findings:
    for cluster in _of(resources, r.EKS_CLUSTER):
        addons = {get(a.props, "addonName") for a in _of(resources, EKS_ADDON)}
        if _of(resources, OIDC_PROVIDER):
            continue
        if not _of(resources, POD_IDENTITY):
            yield Finding(
                "no EKS Pod Identity association and no IRSA OIDC provider: pods share the node role", cluster.urn
            )
        elif "eks-pod-identity-agent" not in addons:
            yield Finding("Pod Identity associations without the eks-pod-identity-agent add-on", cluster.urn)


def _namespace_names(resources: list[Resource], config: PolicyConfig) -> Iterator[tuple[Resource, str]]:
    team_namespaces = config.namespaces or (config.team,)
    for namespace in _of(resources, r.K8S_NAMESPACE):
        name = get(namespace.props, "metadata.name")
        if isinstance(name, str) and name in team_namespaces:
            yield namespace, name


def _namespaced(resources: list[Resource], type_token: str) -> set[Any]:
    return {get(res.props, "metadata.namespace") for res in _of(resources, type_token)}


def k8s_namespace_resource_quota(resources: list[Resource], config: PolicyConfig) -> Findings:
    covered = _namespaced(resources, r.K8S_RESOURCE_QUOTA)
    for namespace, name in _namespace_names(resources, config):
        if name not in covered and UNKNOWN not in covered:
            yield Finding(f"team namespace {name} has no ResourceQuota", namespace.urn)


def k8s_namespace_limit_range(resources: list[Resource], config: PolicyConfig) -> Findings:
    covered = _namespaced(resources, r.K8S_LIMIT_RANGE)
    for namespace, name in _namespace_names(resources, config):
        if name not in covered and UNKNOWN not in covered:
            yield Finding(f"team namespace {name} has no LimitRange", namespace.urn)


def _bucket_name(bucket: Resource) -> Any:
    return _s3_name(bucket) if bucket.type == r.S3_BUCKET else get(bucket.props, "name")


def _catalog_buckets(resources: list[Resource], config: PolicyConfig) -> dict[str, Resource]:
    """Catalog buckets by purpose: named in the policy config, or created by a `*-catalog-<purpose>` component."""
    team = config.team or ""
    found: dict[str, Resource] = {}
    for bucket in _of(resources, r.S3_BUCKET, r.GCS_BUCKET):
        name = _bucket_name(bucket)
        for purpose in config.catalog_buckets:
            if isinstance(name, str) and name.startswith(f"{team}-{purpose}-"):
                found[purpose] = bucket
        marker = f"{team}-catalog-"
        if bucket.name.startswith(marker):
            found.setdefault(bucket.name[len(marker) :].rsplit("-", 1)[0], bucket)
    return found


def catalog_buckets_exist(resources: list[Resource], config: PolicyConfig) -> Findings:
    found = _catalog_buckets(resources, config)
    missing = [purpose for purpose in config.catalog_buckets if purpose not in found]
    if missing:
        yield Finding(f"catalog buckets missing: {', '.join(missing)}")
    elif not found:
        yield Finding("the stack has no catalog bucket")


def catalog_buckets_protected(resources: list[Resource], config: PolicyConfig) -> Findings:
    for purpose, bucket in sorted(_catalog_buckets(resources, config).items()):
        if not bucket.protect:
            yield Finding(f"catalog bucket {purpose} is not protected (protect=True)", bucket.urn)
        if bucket.retain_on_delete is False:
            yield Finding(f"catalog bucket {purpose} is not retained on delete (retainOnDelete=True)", bucket.urn)


def budget_exists(resources: list[Resource], config: PolicyConfig) -> Findings:
    budgets = _of(resources, AWS_BUDGET, GCP_BUDGET)
    if not budgets:
        yield Finding("the stack has no budget")
    for budget in budgets:
        if budget.type == AWS_BUDGET:
            amount, alerts = get(budget.props, "limitAmount"), get(budget.props, "notifications")
            if get(budget.props, "timeUnit") not in ("MONTHLY", UNKNOWN):
                yield Finding("the budget is not monthly", budget.urn)
        else:
            amount, alerts = get(budget.props, "amount.specifiedAmount.units"), get(budget.props, "thresholdRules")
        if amount is not UNKNOWN and not _positive(amount):
            yield Finding(f"the budget has no positive limit ({amount!r})", budget.urn)
        if alerts is not UNKNOWN and not alerts:
            yield Finding("the budget alerts nobody", budget.urn)


def _positive(value: Any) -> bool:
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return False


def team_node_cap(resources: list[Resource], config: PolicyConfig) -> Findings:
    groups, _ = cost.node_groups(resources)  # a size unknown at preview is checked again at `pulumi up`
    total = sum(group.max_nodes for group in groups)
    if total > config.max_nodes:
        detail = ", ".join(f"{g.urn.rsplit('::', 1)[-1]}={g.max_nodes}" for g in groups)
        yield Finding(f"node groups may grow to {total} nodes, over the team's cap of {config.max_nodes} ({detail})")


def team_gpu_cap(resources: list[Resource], config: PolicyConfig) -> Findings:
    groups, _ = cost.node_groups(resources)
    gpu_groups = [g for g in groups if g.gpus_per_node]
    total = sum(g.max_nodes * g.gpus_per_node for g in gpu_groups)
    if total > config.max_gpus:
        detail = ", ".join(f"{g.urn.rsplit('::', 1)[-1]}={g.max_nodes}x{g.gpus_per_node}" for g in gpu_groups)
        yield Finding(f"GPU groups may grow to {total} GPUs, over the team's cap of {config.max_gpus} ({detail})")


def team_cost_cap(resources: list[Resource], config: PolicyConfig) -> Findings:
    estimate = cost.estimate(resources)
    for urn, reason in estimate.unpriced:
        yield Finding(f"cannot be priced, so the cost cap cannot be checked: {reason}", urn or None)
    if estimate.full > config.monthly_cost_cap_usd:
        yield Finding(
            f"full-scale estimate ${estimate.full:,.0f}/month is over the team's cap of "
            f"${config.monthly_cost_cap_usd:,.0f} (idle ${estimate.idle:,.0f}/month)"
        )


STACK_RULES: tuple[Rule, ...] = (
    Rule(
        "bucket-public-access-blocked",
        "Every S3 bucket has a public access block.",
        "critical",
        "mandatory",
        "Create an aws.s3.BucketPublicAccessBlock for the bucket with all four flags true.",
        stack_check=bucket_public_access_blocked,
    ),
    Rule(
        "bucket-kms-encryption",
        "Every bucket is encrypted with the team's KMS key (an S3 access-log target may use SSE-S3, as S3 requires).",
        "high",
        "mandatory",
        "S3: a BucketServerSideEncryptionConfiguration with sseAlgorithm 'aws:kms' and kmsMasterKeyId; GCS: "
        "encryption.defaultKmsKeyName.",
        stack_check=bucket_kms_encryption,
    ),
    Rule(
        "bucket-versioning",
        "Every bucket keeps old object versions.",
        "medium",
        "mandatory",
        "S3: a BucketVersioning with status 'Enabled'; GCS: versioning.enabled=True.",
        stack_check=bucket_versioning,
    ),
    Rule(
        "bucket-access-logging",
        "Every bucket except the access-log bucket itself records access logs.",
        "medium",
        "mandatory",
        "S3: a BucketLogging to the team's access-log bucket; GCS: logging.logBucket, or a project "
        "IAMAuditConfig logging DATA_READ and DATA_WRITE for storage.googleapis.com.",
        stack_check=bucket_access_logging,
    ),
    Rule(
        "aws-vpc-flow-logs",
        "Every VPC records flow logs of all traffic.",
        "medium",
        "mandatory",
        "Create an aws.ec2.FlowLog for the VPC with trafficType 'ALL'.",
        stack_check=aws_vpc_flow_logs,
    ),
    Rule(
        "eks-workload-identity",
        "EKS pods get their own IAM identity (Pod Identity or IRSA), not the node role.",
        "high",
        "mandatory",
        "Install the eks-pod-identity-agent add-on and create PodIdentityAssociations (or an IRSA OIDC provider).",
        stack_check=eks_workload_identity,
    ),
    Rule(
        "k8s-namespace-resource-quota",
        "Every team namespace has a ResourceQuota, so one user cannot take every node.",
        "high",
        "mandatory",
        "Create a kubernetes.core.v1.ResourceQuota in the namespace (CPU, memory, nvidia.com/gpu, pods).",
        stack_check=k8s_namespace_resource_quota,
    ),
    Rule(
        "k8s-namespace-limit-range",
        "Every team namespace has a LimitRange, so pods without requests get sane defaults.",
        "medium",
        "mandatory",
        "Create a kubernetes.core.v1.LimitRange in the namespace with default requests and limits.",
        stack_check=k8s_namespace_limit_range,
    ),
    Rule(
        "catalog-buckets-exist",
        "The team's catalog buckets (catalogBuckets in its policy file) exist in the stack.",
        "high",
        "mandatory",
        "Add the bucket to the team's stack file (catalogBuckets), or correct policies/teams/<team>.yaml.",
        stack_check=catalog_buckets_exist,
    ),
    Rule(
        "catalog-buckets-protected",
        "Catalog buckets are protected and retained on delete: no `pulumi destroy` loses data.",
        "critical",
        "mandatory",
        "Create catalog buckets with ResourceOptions(protect=True, retain_on_delete=True).",
        stack_check=catalog_buckets_protected,
    ),
    Rule(
        "budget-exists",
        "The stack has a monthly budget with a positive limit and alerts.",
        "high",
        "mandatory",
        "Set teamstack:budget (monthlyLimitUsd, alertEmails) in the team's stack file.",
        stack_check=budget_exists,
    ),
    Rule(
        "team-node-cap",
        "All node groups at their maximum stay within the team's node cap (maxNodes).",
        "high",
        "mandatory",
        "Lower the groups' maxSize, or raise maxNodes in policies/teams/<team>.yaml in a reviewed change.",
        stack_check=team_node_cap,
    ),
    Rule(
        "team-gpu-cap",
        "All GPU groups at their maximum stay within the team's GPU cap (maxGpus).",
        "high",
        "mandatory",
        "Lower the GPU groups' maxSize, or raise maxGpus in policies/teams/<team>.yaml in a reviewed change.",
        stack_check=team_gpu_cap,
    ),
    Rule(
        "team-cost-cap",
        "The stack's full-scale monthly estimate stays within the team's cost cap (monthlyCostCapUsd).",
        "high",
        "mandatory",
        "Lower maxSize or pick cheaper types; or raise monthlyCostCapUsd in policies/teams/<team>.yaml in a "
        "reviewed change. An unpriced type needs an entry in teamstack/data/prices.yaml.",
        stack_check=team_cost_cap,
    ),
)
