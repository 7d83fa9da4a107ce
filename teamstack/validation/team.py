"""A parsed team config through the clouds' rules (names, CIDRs, principals, types, limits).

`check(team)` runs after the model and its cross-field rules, so every value here already has the right type
and shape; what is left is whether the target service (or the platform) accepts it. Raises RuleError with
the key path of the first problem. `check_keys(values)` runs before the model: keys that nothing would read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from teamstack import naming, quantity, registries
from teamstack.validation import RuleError, catalogue, cidrs, limits, names, principals, shorten

if TYPE_CHECKING:
    from teamstack.config import Team, TeamConfig

# Namespaces a stack's config keys may use besides the project's own, per cloud; `pulumi:` holds the engine's
# own settings.
_PROVIDER_NAMESPACES = {"aws": ("aws", "pulumi"), "gcp": ("gcp", "pulumi")}
# Shared keys that only one cloud reads (README: they "do not apply" on GCP), refused there unless they keep
# their default (Pulumi.yaml hands the program its defaults like set values).
_AWS_ONLY_FIELDS = ("log_retention_days",)
# Namespaces Kubernetes, the clouds and the platform use themselves.
PLATFORM_NAMESPACES = naming.PLATFORM_NAMESPACES


def check_keys(values: Mapping[str, str]) -> None:
    """Keys no part of the stack reads: a misspelt namespace, the other cloud's provider keys."""
    from teamstack.config import PROJECT, TeamConfig  # the model module imports this one

    cloud = values.get(f"{PROJECT}:cloud", "aws")
    spaces = {c: (PROJECT, *provider) for c, provider in _PROVIDER_NAMESPACES.items()}
    allowed = spaces.get(cloud, spaces["aws"])
    for key in values:
        namespace = key.split(":", 1)[0]
        if namespace in allowed:
            continue
        other = next((c for c, names_ in spaces.items() if namespace in names_ and c != cloud), None)
        if other is not None:
            raise RuleError(
                key, f"is a setting of {other} stacks; this stack's teamstack:cloud is {cloud}, which ignores it"
            )
        raise RuleError(
            key,
            f"unknown namespace '{shorten(namespace, 40)}': nothing reads this key; "
            f"allowed namespaces here: {', '.join(allowed)}",
        )
    if cloud == "gcp":
        for name in _AWS_ONLY_FIELDS:
            field = TeamConfig.model_fields[name]
            key = f"{PROJECT}:{field.alias or name}"
            if key in values and values[key] != str(field.get_default(call_default_factory=True)):
                raise RuleError(key, "is an AWS setting (CloudWatch); a GCP stack ignores it, remove it")


def _parse_cidr(key: str, text: str) -> ipaddress.IPv4Network:
    try:
        return cidrs.parse(text)
    except ValueError as error:
        raise RuleError(key, str(error)) from None


def _check_cidrs(team: Team) -> None:
    _parse_cidr("teamstack:vpcCidr", team.vpc_cidr)
    _parse_cidr("teamstack:serviceCidr", team.service_cidr)
    if team.cloud == "gcp":
        _parse_cidr("teamstack:podCidr", team.pod_cidr)
    for i, text in enumerate(team.api_access_cidrs):
        problem = cidrs.never_routed(_parse_cidr(f"teamstack:apiAccessCidrs[{i}]", text))
        if problem is not None:
            raise RuleError(f"teamstack:apiAccessCidrs[{i}]", f"{problem}; list your office/VPN egress ranges")
    name, service = (
        ("gkeAuthorizedNetworks", "GKE authorized networks")
        if team.cloud == "gcp"
        else ("eksPublicAccessCidrs", "EKS public access CIDRs")
    )
    most = catalogue.limit(name)
    if len(team.api_access_cidrs) > most:
        raise RuleError(
            "teamstack:apiAccessCidrs", f"lists {len(team.api_access_cidrs)} ranges; {service} take at most {most}"
        )


def _bucket_problem(team: Team, purpose: str) -> str | None:
    if team.cloud == "gcp":
        full = naming.gcp_bucket_name(team.team, purpose, team.project)
        problem = names.gcs_bucket_problem(full)
    else:
        full = naming.bucket_name(team.team, purpose, "000000000000")
        problem = names.s3_bucket_problem(full)
    return None if problem is None else f"the bucket would be named '{full}': {problem}"


def _check_names(team: Team) -> None:
    if team.cloud == "aws":
        prefix = naming.ecr_pull_through_prefix(team.team)
        if len(prefix) > naming.ECR_PULL_THROUGH_PREFIX_MAX:
            longest = naming.ECR_PULL_THROUGH_PREFIX_MAX - len(prefix) + len(team.team)
            raise RuleError(
                "teamstack:team",
                f"'{team.team}' is too long on AWS: at most {longest} characters, since the base-image cache "
                f"rule's prefix '{prefix}' may have at most {naming.ECR_PULL_THROUGH_PREFIX_MAX} (ECR)",
            )
    for purpose in naming.PLATFORM_BUCKETS:
        problem = _bucket_problem(team, purpose)
        if problem is not None:
            raise RuleError("teamstack:team", problem)
    for i, bucket in enumerate(team.catalog_buckets):
        key = f"teamstack:catalogBuckets[{i}].name"
        if bucket.name in naming.PLATFORM_BUCKETS:
            raise RuleError(
                key,
                f"'{bucket.name}' is the platform's own bucket ({', '.join(naming.PLATFORM_BUCKETS)}): the data "
                "scientists' catalog grants would cover it; pick another name",
            )
        problem = _bucket_problem(team, bucket.name)
        if problem is not None:
            raise RuleError(key, problem)
    namespace_key = "teamstack:namespace" if team.namespace is not None else "teamstack:team"
    problem = names.namespace_problem(team.team_namespace, PLATFORM_NAMESPACES)
    if problem is not None:
        raise RuleError(namespace_key, f"the team namespace {problem}")
    for i, extra in enumerate(team.kubernetes.extra_namespaces):
        problem = names.namespace_problem(extra, PLATFORM_NAMESPACES)
        if problem is not None:
            raise RuleError(f"teamstack:kubernetes.extraNamespaces[{i}]", problem)
    for i, group in enumerate(team.node_groups):
        for label, value in group.labels.items():
            key = f"teamstack:nodeGroups[{i}].labels.{label}"
            problem = names.k8s_label_key_problem(label) or names.k8s_label_value_problem(value)
            if problem is not None:
                raise RuleError(key, problem)
    _check_tags(team)


def _check_tags(team: TeamConfig) -> None:
    platform = {"team", "cost-center", "owner", "managed-by"}
    for name, value in team.tags.items():
        key = f"teamstack:tags.{name}"
        if name.lower() in platform:
            raise RuleError(
                key,
                f"is the platform's tag {name.lower()} in another letter case; reserved: {', '.join(sorted(platform))}",
            )
        if team.cloud == "aws":
            problem = names.aws_tag_problem(name, value)
            if problem is not None:
                raise RuleError(key, problem)
    if team.cloud == "aws":
        for field, key, value in (("costCenter", "cost-center", team.cost_center), ("owner", "owner", team.owner)):
            problem = names.aws_tag_problem(key, value)
            if problem is not None:
                raise RuleError(f"teamstack:{field}", f"becomes the {key} tag of every resource: {problem}")
    total = len(team.labels_for_resources if team.cloud == "gcp" else team.tags_for_resources)
    most = catalogue.limit("gcpLabelsPerResource" if team.cloud == "gcp" else "awsTagsPerResource")
    if total > most:
        kind = "labels" if team.cloud == "gcp" else "tags"
        raise RuleError(
            "teamstack:tags",
            f"{len(team.tags)} team {kind} + {total - len(team.tags)} of the platform = {total}; "
            f"a resource takes at most {most}",
        )


def _check_principals(team: Team) -> None:
    if team.cloud == "aws":
        lists = {"admins": team.admins, "dataScientistPrincipals": team.data_scientist_principals}
        for field, values in lists.items():
            for i, arn in enumerate(values):
                problem = principals.arn_problem(arn, team.region)
                if problem is not None:
                    raise RuleError(f"teamstack:{field}[{i}]", problem)
    else:
        lists = {"admins": team.admins, "dataScientistMembers": team.data_scientist_members}
    for field, values in lists.items():
        repeat = principals.first_repeat(values, case_insensitive=True)
        if repeat is not None:
            raise RuleError(
                f"teamstack:{field}[{repeat}]",
                f"'{shorten(values[repeat])}' is listed twice (IAM names ignore letter case); list each once",
            )


def _check_egress(team: Team) -> None:
    """AWS without a NAT: every image the nodes pull must come through ECR (README, natMode), so the stack is
    refused here rather than failing half-way through `pulumi up` when an add-on's image cannot be pulled."""
    if team.cloud != "aws":
        return
    key = "teamstack:ghcrCredentialArn"
    ghcr = next(cache for cache in registries.AWS_NODE_CACHES if cache.upstream == registries.GHCR)
    if team.nat_mode != "none":
        if team.ghcr_credential_arn is not None:
            raise RuleError(
                key,
                f"is read only with natMode none (the nodes then pull {ghcr.serves} through ECR); with natMode "
                f"{team.nat_mode} the NAT reaches ghcr.io: remove it",
            )
        return
    for i, group in enumerate(team.node_groups):
        if group.kind == "gpu":
            raise RuleError(
                "teamstack:natMode",
                f"none cannot serve GPU group '{group.name}' (nodeGroups[{i}]): the NVIDIA device plugin's image is "
                f"only on {registries.NVCR}, which ECR pull-through cache does not mirror (it mirrors "
                f"{', '.join(registries.ECR_CACHEABLE_UPSTREAMS)}); use natMode single",
            )
    if team.ghcr_credential_arn is None:
        raise RuleError(
            key,
            f"required with natMode none: the nodes pull {ghcr.serves}'s image from ghcr.io through an ECR "
            "pull-through cache, which ECR makes only with a GitHub token (username and accessToken) in a Secrets "
            f"Manager secret named {principals.ECR_CREDENTIAL_PREFIX}<name> in this stack's account and "
            f"{team.region}; give its ARN, or use natMode single",
        )
    problem = principals.ecr_credential_arn_problem(team.ghcr_credential_arn, team.region)
    if problem is not None:
        raise RuleError(key, problem)


def _aws_machine(key: str, name: str, region: str) -> catalogue.Machine:
    machine = catalogue.aws_instance(name)
    if machine is None:
        raise RuleError(
            key,
            f"'{shorten(name)}' is not an EC2 instance type (catalogue of {catalogue.aws_date()}); "
            f"{catalogue.aws_type_hint(name)}",
        )
    if catalogue.aws_offered(region, name) is False:
        raise RuleError(
            key, f"{name} is not offered in {region} (catalogue of {catalogue.aws_date()}); pick another type"
        )
    return machine


def _gcp_machine(key: str, name: str, region: str) -> catalogue.Machine:
    machine = catalogue.gcp_machine(name)
    if machine is None:
        raise RuleError(
            key,
            f"'{shorten(name)}' is not a Compute Engine machine type (catalogue of {catalogue.gcp_date()}); "
            f"{catalogue.gcp_type_hint(name)}",
        )
    if catalogue.gcp_offered(region, name) is False:
        # Regions of the same area (europe-*, us-*) first: the ones a team would move to.
        area = region.split("-", 1)[0]
        offering = sorted(catalogue.gcp_regions_offering(name), key=lambda other: other.split("-", 1)[0] != area)
        where = ", ".join(offering[:8]) + (f" and {len(offering) - 8} more" if len(offering) > 8 else "")
        raise RuleError(
            key,
            f"{name} is not offered in any zone of {region} (catalogue of {catalogue.gcp_date()}); "
            + (f"regions that offer it: {where}" if offering else "no region of the catalogue offers it"),
        )
    return machine


def _check_types_and_zones(team: Team) -> None:
    """Every instance or machine type exists and is offered in the stack's region; azCount fits the region."""
    if team.cloud == "aws":
        for j, name in enumerate(team.system_node_group.instance_types):
            _aws_machine(f"teamstack:systemNodeGroup.instanceTypes[{j}]", name, team.region)
        zones = catalogue.aws_region_zones(team.region)
        if zones is not None and team.az_count > len(zones):
            raise RuleError(
                "teamstack:azCount",
                f"{team.region} has {len(zones)} availability zones ({', '.join(zones)}), {team.az_count} requested",
            )
        for i, aws_group in enumerate(team.node_groups):
            for j, name in enumerate(aws_group.instance_types):
                _aws_machine(f"teamstack:nodeGroups[{i}].instanceTypes[{j}]", name, team.region)
    else:
        _gcp_machine("teamstack:systemNodeGroup.machineType", team.system_machine_type, team.region)
        for i, gcp_group in enumerate(team.node_groups):
            _gcp_machine(f"teamstack:nodeGroups[{i}].machineType", gcp_group.machine_type, team.region)


def _fits(team: TeamConfig, kind: str) -> list[tuple[str, int, int, int]]:
    """Per pool of the kind (the one pool model, `team.pools`): its name and what its smallest node offers pods,
    allocatable CPU (m), memory (MiB) and GPUs. Every type is in the catalogue by now (checked above)."""
    fits = []
    for pool in team.pools:
        if pool.kind != kind or pool.vcpus_per_node is None or pool.memory_gib_per_node is None:
            continue
        fits.append(
            (
                pool.name,
                limits.allocatable_cpu_millis(pool.vcpus_per_node),
                limits.allocatable_memory_mib(int(pool.memory_gib_per_node * 1024), team.cloud),
                pool.gpus_per_node,
            )
        )
    return fits


def _check_capacity(team: Team) -> None:
    k8s = team.kubernetes
    if k8s.idle_timeout_minutes == 0:
        raise RuleError(
            "teamstack:kubernetes.idleTimeoutMinutes",
            "0 would let idle Dask clusters run (and bill) forever; set 1 to 10080 minutes",
        )
    for field, worker, kind in (("worker", k8s.worker, "cpu"), ("gpuWorker", k8s.gpu_worker, "gpu")):
        pools = _fits(team, kind)
        if not pools:
            continue
        cpu = int(quantity.parse(worker.cpu) * 1000)
        memory = int(quantity.parse(worker.memory) / Decimal(1024 * 1024))
        if kind == "gpu" and not any(gpus >= worker.gpus for *_, gpus in pools):
            most = max(gpus for *_, gpus in pools)
            raise RuleError(
                f"teamstack:kubernetes.{field}.gpus",
                f"{worker.gpus} GPUs per worker, but the largest node of the gpu groups has {most}",
            )
        able = [(c, m) for _, c, m, g in pools if kind == "cpu" or g >= worker.gpus]
        if not any(c >= cpu for c, _ in able):
            raise RuleError(
                f"teamstack:kubernetes.{field}.cpu",
                f"'{worker.cpu}' CPUs per worker, but no {kind} group has a node with that much allocatable "
                f"(the most: {max(c for c, _ in able)}m); use a smaller worker or a larger type",
            )
        if not any(c >= cpu and m >= memory for c, m in able):
            raise RuleError(
                f"teamstack:kubernetes.{field}.memory",
                f"'{worker.memory}' per worker, but no {kind} group has a node with that much allocatable memory "
                f"beside {worker.cpu} CPUs (the most: {max(m for _, m in able)}Mi); use a smaller worker or a "
                "larger type",
            )
    if team.cloud == "gcp":
        if len(team.budget.alert_emails) > (most := catalogue.limit("gcpBudgetNotificationChannels")):
            raise RuleError(
                "teamstack:budget.alertEmails",
                f"lists {len(team.budget.alert_emails)} addresses; a Cloud Billing budget notifies at most {most} "
                "channels (one per address): use a group address",
            )
        pod_range = ipaddress.IPv4Network(team.pod_cidr)
        nodes = limits.pod_range_nodes(pod_range, catalogue.limit("gkePodRangePrefixPerNode"))
        full = sum(g.max_size for g in team.node_groups) + team.system_node_group.max_size
        if full > nodes:
            raise RuleError(
                "teamstack:podCidr",
                f"{pod_range} gives {nodes} nodes a /{catalogue.limit('gkePodRangePrefixPerNode')} each "
                f"({catalogue.limit('gkeMaxPodsPerNode')} pods), but the pools scale to {full} nodes; "
                "use a larger range",
            )


def check(team: Team) -> None:
    _check_cidrs(team)
    _check_names(team)
    _check_principals(team)
    _check_egress(team)
    _check_types_and_zones(team)
    _check_capacity(team)
