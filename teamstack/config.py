"""The team config model: everything a team may set in `stacks/Pulumi.<team>.yaml`, parsed in one place.

Both entry points feed it the same thing, the flat `{"namespace:key": "string"}` map that the Pulumi engine
hands a program (objects and lists as JSON text): `pulumi up` through `pulumi.Config`, the offline plan through
the stack file. So a value is accepted or refused identically in both. Parsing (types, formats, ranges) is the
pydantic model; rules across fields live in `check_team`, a pure function. Either raises `ConfigError`, whose
one line names the stack file, the key and what is allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from teamstack import gcp_machines, instances, naming, quantity
from teamstack.layout import MAX_VPC_PREFIX, MAX_ZONES, MIN_VPC_PREFIX
from teamstack.pools import NodePool, gpu_capacity, node_pools
from teamstack.validation import RuleError, shorten
from teamstack.validation import team as cloud_rules

PROJECT = "teamstack"

# EKS Kubernetes versions in standard or extended support on 2026-11-01; a version outside this list either
# cannot be created or is about to be force-upgraded by AWS.
SUPPORTED_KUBERNETES_VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35")

# Commercial AWS regions with EKS, on 2026-11-01.
AWS_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "mx-central-1",
        "sa-east-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1",
        "eu-south-1", "eu-south-2", "il-central-1", "me-south-1", "me-central-1", "af-south-1",
        "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2",
        "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
        "ap-southeast-5", "ap-southeast-7",
    }
)  # fmt: skip

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)  # fmt: skip

# GCP: project ids (6-30 characters, no "google"), billing accounts, IAM members of people and groups.
_GCP_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]\Z")
_GCP_BILLING_ACCOUNT = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}\Z")
_GCP_MEMBER = re.compile(r"^(user|group|serviceAccount):[^@\s:]+@[^@\s]+\.[a-z]{2,}\Z", re.IGNORECASE)
# GCP labels: lowercase keys starting with a letter, lowercase values, both [a-z0-9_-] and at most 63 characters.
_GCP_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}\Z")
_GCP_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}\Z")
# GKE's own default machine type: the smallest E2 whose allocatable memory (about 2.8 GiB) holds GKE's
# DaemonSets (Dataplane V2, logging, metrics), kube-dns and the Dask operator; e2-small leaves about 1.4 GiB.
DEFAULT_GCP_SYSTEM_MACHINE_TYPE = "e2-medium"

# The system group: one small burstable x86_64 node unless the team asks for high availability (two, in two zones).
DEFAULT_AWS_SYSTEM_INSTANCE_TYPES = ("t3a.small", "t3.small")
HA_SYSTEM_NODES = 2

# Tags the platform sets itself on every resource; a team cannot override them through `tags`.
RESERVED_TAG_KEYS = ("team", "cost-center", "managed-by", "owner")

# Label prefixes Kubernetes and EKS own; a node label under them is rejected by the kubelet or by EKS.
_RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io", "eks.amazonaws.com")

# `\Z`, not `$`: `$` also matches before a trailing newline, which would let 'name\n' through.
_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?\Z")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}\Z", re.IGNORECASE)
_IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}\Z")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)\Z")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)\Z")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
_SERVICE_CIDR_RANGES = _PRIVATE_RANGES[:3]
# Source addresses the public API endpoint never sees: private, shared, loopback, link-local, "this network".
_NOT_INTERNET_RANGES = (
    *_PRIVATE_RANGES,
    *(ipaddress.IPv4Network(c) for c in ("127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8")),
)


class ConfigError(Exception):
    """A stack config value the platform refuses. `str()` is the one line a user sees."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        # One line even when a quoted value or key holds a line break; a huge value is shown by its ends.
        line = f"{file}: {shorten(key, 200)}: {shorten(reason, 600)}".replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(line)
        self.file, self.key, self.reason = file, key, reason


class _Issue(Exception):
    """Raised inside the checks with a key path; `load_team` adds the file."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key, self.reason = key, reason


def _dns_label(value: str, max_length: int) -> str:
    if not (3 <= len(value) <= max_length and _DNS_LABEL.match(value)):
        raise ValueError(
            f"must be DNS-safe: 3-{max_length} characters of lowercase letters, digits and '-', "
            f"starting with a letter and not ending with '-' (got '{value}')"
        )
    return value


def _cidr(value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(
            f"'{value}' is not an IPv4 CIDR with its host bits zero, e.g. 10.20.0.0/16 ({error})"
        ) from None


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"'{value}' is not an email address")
    return value


def _principal(value: str) -> str:
    if not _IAM_PRINCIPAL_ARN.match(value):
        raise ValueError(f"'{value}' is not an IAM role or user ARN (arn:aws:iam::<12-digit account>:role/<name>)")
    return value


# List items validated one by one, so an error names the entry (`admins[1]`), not just the list.
Email = Annotated[str, AfterValidator(_email)]
PrincipalArn = Annotated[str, AfterValidator(_principal)]


class _Model(BaseModel):
    # camelCase keys as in the stack files; strict types, since the engine's strings were already decoded.
    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", strict=True, frozen=True, populate_by_name=False
    )


Capacity = Literal["on-demand", "spot"]


class NodeGroupConfig(_Model):
    """One node group of Dask workers: what both clouds share (each cloud's model adds its machine types)."""

    name: str
    kind: Literal["cpu", "gpu"]
    min_size: Annotated[int, Field(ge=0, le=1000)]
    desired_size: Annotated[int | None, Field(ge=0, le=1000)] = None
    max_size: Annotated[int, Field(ge=1, le=1000)]
    capacity: Capacity = "on-demand"
    disk_size_gib: Annotated[int, Field(ge=20, le=16384, alias="diskSizeGiB")] = 100
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 20)

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size


class AwsNodeGroupConfig(NodeGroupConfig):
    """An EKS managed node group: one or more instance types of the same shape."""

    instance_types: Annotated[list[str], Field(min_length=1, max_length=20)]


class GcpNodeGroupConfig(NodeGroupConfig):
    """A GKE node pool: one machine type; GPU pools name their accelerator (defaults: the machine type's own)."""

    machine_type: str
    gpu_type: str | None = None
    gpu_count: Annotated[int | None, Field(ge=1, le=16)] = None


class SystemNodeGroupConfig(_Model):
    """The small always-on CPU group for cluster add-ons (CoreDNS, the Dask operator, the autoscaler).

    One small burstable x86_64 node by default: the add-ons idle almost all the time, and this group is most of
    what an idle team pays for nodes. `highAvailability: true` makes it two nodes in two zones (minSize 2), so
    CoreDNS and the add-ons survive the loss of a node or zone. x86_64 because the Dask operator's image is
    published for linux/amd64 only.
    """

    high_availability: bool = False
    min_size: Annotated[int, Field(ge=1, le=10)] = 1
    desired_size: Annotated[int | None, Field(ge=1, le=10)] = None
    max_size: Annotated[int, Field(ge=1, le=10)] = 3
    # The EKS default (and the AL2023 AMI's size); system images need a few GiB.
    disk_size_gib: Annotated[int, Field(ge=20, le=16384, alias="diskSizeGiB")] = 20

    @model_validator(mode="before")
    @classmethod
    def _high_availability_defaults_to_two_nodes(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("highAvailability") is True and "minSize" not in data:
            return {**data, "minSize": HA_SYSTEM_NODES}
        return data

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size


class AwsSystemNodeGroupConfig(SystemNodeGroupConfig):
    # AMD first, Intel as the fallback when a zone runs out of t3a; both 2 vCPUs (burstable), 2 GiB.
    instance_types: Annotated[list[str], Field(min_length=1, max_length=20)] = Field(
        default_factory=lambda: list(DEFAULT_AWS_SYSTEM_INSTANCE_TYPES)
    )


class GcpSystemNodeGroupConfig(SystemNodeGroupConfig):
    machine_type: str | None = None  # default DEFAULT_GCP_SYSTEM_MACHINE_TYPE


class RegistryConfig(_Model):
    keep_last_images: Annotated[int, Field(ge=1, le=10000)] = 200
    untagged_expiry_days: Annotated[int, Field(ge=1, le=3650)] = 7


class CatalogBucketConfig(_Model):
    name: str
    description: Annotated[str, Field(max_length=256)] = ""
    noncurrent_version_days: Annotated[int, Field(ge=1, le=3650)] = 90

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value, 20)


class BudgetConfig(_Model):
    monthly_limit_usd: Annotated[float, Field(gt=0, le=10_000_000)]
    alert_emails: Annotated[list[Email], Field(min_length=1, max_length=10)]
    # Percent of the limit at which actual spend alerts; forecast spend alerts at 100%.
    actual_alert_percent: Annotated[int, Field(ge=1, le=1000)] = 80


class GcpBudgetConfig(BudgetConfig):
    # The Cloud Billing account the budget belongs to (XXXXXX-XXXXXX-XXXXXX).
    billing_account: str

    @field_validator("billing_account")
    @classmethod
    def _billing_account(cls, value: str) -> str:
        if not _GCP_BILLING_ACCOUNT.match(value):
            raise ValueError(f"'{value}' is not a billing account id (XXXXXX-XXXXXX-XXXXXX, hex)")
        return value


def _quantity(value: str) -> str:
    quantity.parse(value)  # raises ValueError with the accepted forms
    return value


def _number_as_text(value: Any) -> Any:
    # `cpu: 64` in YAML arrives as a number; Kubernetes takes the same value as text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Quantity = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_quantity)]
Namespace = Annotated[str, AfterValidator(lambda value: _dns_label(value, 40))]
# pydantic patterns are Rust regexes, where `$` is the very end (no trailing newline slips through).
_CHART_VERSION = r"^\d+\.\d+\.\d+$"


class QuotaConfig(_Model):
    """What the team namespace may hold at once (a ResourceQuota); one of these per namespace."""

    # Sum of the requests of all pods; limits default to the same totals.
    cpu: Quantity = "64"
    memory: Quantity = "256Gi"
    limits_cpu: Quantity | None = None
    limits_memory: Quantity | None = None
    # The team's GPU share: absent = every GPU the GPU node groups can hold at their maxSize.
    gpus: Annotated[int | None, Field(ge=0, le=10_000)] = None
    pods: Annotated[int, Field(ge=1, le=100_000)] = 500
    dask_clusters: Annotated[int, Field(ge=1, le=1000)] = 20


class ContainerDefaultsConfig(_Model):
    """What a container without its own requests/limits gets (a LimitRange), so it still counts fairly."""

    cpu_request: Quantity = "500m"
    memory_request: Quantity = "2Gi"
    cpu_limit: Quantity = "2"
    memory_limit: Quantity = "2Gi"


class WorkerConfig(_Model):
    """A Dask worker pod's size; requests equal limits, so Dask sizes threads and memory from what it has."""

    cpu: Quantity
    memory: Quantity
    gpus: Annotated[int, Field(ge=0, le=16)] = 0


class ChartVersionsConfig(_Model):
    """Pinned Helm chart versions; a bump is a reviewed change in Git, never a floating 'latest'."""

    dask_operator: Annotated[str, Field(pattern=_CHART_VERSION)] = "2026.3.0"
    cluster_autoscaler: Annotated[str, Field(pattern=_CHART_VERSION)] = "9.46.6"
    nvidia_device_plugin: Annotated[str, Field(pattern=_CHART_VERSION)] = "0.17.1"


class KubernetesConfig(_Model):
    """The Kubernetes layer of a team cluster: quota, defaults, priorities, charts, Dask defaults."""

    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    container_defaults: ContainerDefaultsConfig = Field(default_factory=ContainerDefaultsConfig)
    # Batch-priority pods may use at most this share of the quota, so interactive work always finds room.
    batch_share_percent: Annotated[int, Field(ge=1, le=100)] = 75
    # Pod Security Admission level enforced on team namespaces; `restricted` is always audited and warned.
    pod_security: Literal["baseline", "restricted"] = "baseline"
    worker: WorkerConfig = Field(default_factory=lambda: WorkerConfig(cpu="2", memory="8Gi"))
    gpu_worker: WorkerConfig = Field(default_factory=lambda: WorkerConfig(cpu="3", memory="12Gi", gpus=1))
    # A Dask cluster with no work for this long shuts itself down (0: never; not recommended).
    idle_timeout_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 30
    # A DaskCluster older than this is deleted (busy or not), so a forgotten cluster releases its nodes; the team
    # namespace's reaper CronJob enforces it every 15 minutes. 0: no limit.
    max_cluster_lifetime_hours: Annotated[int, Field(ge=0, le=30 * 24)] = 24
    charts: ChartVersionsConfig = Field(default_factory=ChartVersionsConfig)
    # More namespaces of the same shape (own quota of the same size, same service accounts and RBAC).
    extra_namespaces: Annotated[list[Namespace], Field(max_length=10)] = Field(default_factory=list)


class TeamConfig(_Model):
    """What every team's stack is built from, on either cloud. A stack is an `AwsTeamConfig` or a
    `GcpTeamConfig` (the union `Team`, `cloud` the discriminator): each cloud's model declares its own required
    keys, and refuses the other cloud's as unknown (`load_team` says whose setting it is)."""

    cloud: Literal["aws", "gcp"] = "aws"
    region: str  # aws:region or gcp:region
    team: str
    cost_center: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.:/=+@-]+$")]
    owner: str
    az_count: Annotated[int, Field(ge=2, le=MAX_ZONES)] = 3
    vpc_cidr: str
    nat_mode: Literal["none", "single", "per-az"] = "single"
    kubernetes_version: str = "1.33"
    service_cidr: str = "172.20.0.0/16"
    api_access_cidrs: list[str] = Field(default_factory=list)
    # AWS: IAM role/user ARNs; GCP: IAM members (group:/user:/serviceAccount:); each cloud's model narrows it.
    admins: Annotated[list[str], Field(min_length=1)]
    namespace: str | None = None
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    catalog_buckets: Annotated[list[CatalogBucketConfig], Field(min_length=1, max_length=20)]
    log_retention_days: int = 365
    tags: dict[str, str] = Field(default_factory=dict)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    if TYPE_CHECKING:
        # Declared by each cloud's model with its own node-group, system-group and budget models.
        system_node_group: SystemNodeGroupConfig
        node_groups: Sequence[NodeGroupConfig]
        budget: BudgetConfig

    # The managed Kubernetes service, in messages.
    SERVICE: ClassVar[str] = "EKS"

    @field_validator("team", "namespace")
    @classmethod
    def _dns(cls, value: str | None) -> str | None:
        return None if value is None else _dns_label(value, 20)

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return _email(value)

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr(cls, value: str) -> str:
        network = _cidr(value)
        if not MIN_VPC_PREFIX <= network.prefixlen <= MAX_VPC_PREFIX:
            raise ValueError(f"prefix must be /{MIN_VPC_PREFIX} to /{MAX_VPC_PREFIX}, got '{value}'")
        if not any(network.subnet_of(r) for r in _PRIVATE_RANGES):
            raise ValueError(f"'{value}' must lie in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10")
        return value

    @field_validator("service_cidr")
    @classmethod
    def _service_cidr(cls, value: str) -> str:
        network = _cidr(value)
        if not (12 <= network.prefixlen <= 24 and any(network.subnet_of(r) for r in _SERVICE_CIDR_RANGES)):
            raise ValueError(f"'{value}' must be a /12 to /24 inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(
                f"'{value}' is not a supported {cls.SERVICE} version; "
                f"allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}"
            )
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch retention; allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        return value

    @property
    def team_namespace(self) -> str:
        return self.namespace or self.team

    @functools.cached_property
    def pools(self) -> tuple[NodePool, ...]:
        """The node pools (system first), built once from this validated config: the one model every resource,
        the quota and the manifest read (`teamstack.pools`)."""
        # Every instance is one cloud's model (the base is never built on its own).
        return node_pools(typing.cast("Team", self))

    @property
    def labels_for_resources(self) -> dict[str, str]:
        """GCP: `tags_for_resources` as labels. The owner's email cannot be a label value (no '@' or '.'), so it
        stays out; the cost center is lowered and its other characters become '_'."""
        return {key: label_value(value) for key, value in self.tags_for_resources.items() if key != "owner"}

    @property
    def tags_for_resources(self) -> dict[str, str]:
        """The tags every taggable resource carries: the team's own plus the platform's, which win."""
        return {
            **self.tags,
            "team": self.team,
            "cost-center": self.cost_center,
            "owner": self.owner,
            "managed-by": PROJECT,
        }


class AwsTeamConfig(TeamConfig):
    """A team stack on AWS (EKS)."""

    cloud: Literal["aws"] = "aws"
    # ECR and STS interface endpoints beside the NAT (always made when natMode is none, where nothing else
    # carries that traffic). Off by default: the NAT carries it, and three endpoints in three AZs cost about $66
    # a month.
    interface_endpoints: bool = False
    # With natMode none, the nodes pull the Dask operator's image (ghcr.io) through an ECR pull-through cache, which
    # needs a GitHub token: the ARN of a Secrets Manager secret named ecr-pullthroughcache/<name> in the stack's
    # account and region (teamstack.validation.team checks it is given exactly then).
    ghcr_credential_arn: str | None = None
    admins: Annotated[list[PrincipalArn], Field(min_length=1)]
    data_scientist_principals: Annotated[list[PrincipalArn], Field(min_length=1)]
    system_node_group: AwsSystemNodeGroupConfig = Field(default_factory=AwsSystemNodeGroupConfig)
    node_groups: Annotated[list[AwsNodeGroupConfig], Field(min_length=1, max_length=20)]
    budget: BudgetConfig

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in AWS_REGIONS:
            raise ValueError(f"'{value}' is not an AWS region with EKS, e.g. us-west-2 or eu-central-1")
        return value


class GcpTeamConfig(TeamConfig):
    """A team stack on GCP (GKE)."""

    SERVICE: ClassVar[str] = "GKE"

    cloud: Literal["gcp"] = "gcp"
    project: str  # gcp:project
    # The people/groups of the team (group:/user: members).
    data_scientist_members: list[str]
    zones: list[str] | None = None  # default the region's first azCount zones
    cluster_location: Literal["regional", "zonal"] = "regional"
    # No Cloud NAT by default: Google APIs (GCS, Artifact Registry, KMS) are reached through Private Google Access,
    # and the one image from outside Google (the Dask operator, on ghcr.io) through the team's Artifact Registry
    # mirror, so nodes need no route to the internet. `single` gives them one (about $5 a month idle), for data
    # outside Google Cloud, pip at run time and the VM backend, whose boot installs Docker from the internet.
    nat_mode: Literal["none", "single", "per-az"] = "none"
    release_channel: Literal["rapid", "regular", "stable", "extended"] = "regular"
    pod_cidr: str  # the pods' secondary range
    # The gke-security-groups@<domain> group, so Kubernetes RBAC may name Google groups.
    gke_security_group: str | None = None
    system_node_group: GcpSystemNodeGroupConfig = Field(default_factory=GcpSystemNodeGroupConfig)
    node_groups: Annotated[list[GcpNodeGroupConfig], Field(min_length=1, max_length=20)]
    budget: GcpBudgetConfig

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in gcp_machines.REGION_ZONES:
            raise ValueError(f"'{value}' is not a GCP region with GKE, e.g. us-central1 or europe-west4")
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not _GCP_PROJECT_ID.match(value) or "google" in value:
            raise ValueError(
                f"'{value}' is not a GCP project id: 6-30 lowercase letters, digits and '-', starting with a "
                "letter, not ending with '-', without 'google'"
            )
        return value

    @property
    def system_machine_type(self) -> str:
        """The system pool's machine type."""
        return self.system_node_group.machine_type or DEFAULT_GCP_SYSTEM_MACHINE_TYPE

    @property
    def gcp_zones(self) -> tuple[str, ...]:
        """The zones the nodes run in (configured, or the region's first azCount)."""
        if self.zones is not None:
            return tuple(self.zones)
        return gcp_machines.region_zones(self.region)[: self.az_count]


def _cloud_tag(data: Any) -> str | None:
    """The union's discriminator: `teamstack:cloud`, aws when unset (Pulumi.yaml's default); None if unknown."""
    cloud = data.get("cloud", "aws") if isinstance(data, dict) else getattr(data, "cloud", None)
    return cloud if cloud in CLOUDS else None


CLOUDS = ("aws", "gcp")
# A team stack: one cloud's model, chosen by `cloud`.
Team = AwsTeamConfig | GcpTeamConfig
_TEAM: TypeAdapter[Team] = TypeAdapter(
    Annotated[
        Annotated[AwsTeamConfig, Tag("aws")] | Annotated[GcpTeamConfig, Tag("gcp")],
        Discriminator(_cloud_tag),
    ]
)
_MODELS: dict[str, type[TeamConfig]] = {"aws": AwsTeamConfig, "gcp": GcpTeamConfig}


def label_value(value: str) -> str:
    """A tag value as a GCP label value: lowercase, [a-z0-9_-] (anything else becomes '_'), at most 63."""
    return re.sub(r"[^a-z0-9_-]", "_", value.lower())[:63]


# Every top-level key of either cloud's model, by field name.
_ALL_FIELDS = {**AwsTeamConfig.model_fields, **GcpTeamConfig.model_fields}

# --- cross-field rules ---------------------------------------------------------------------------------


def _check_label(key: str, name: str, value: str) -> None:
    prefix, _, label = name.rpartition("/")
    if not _LABEL_NAME.match(label) or (prefix and not _DNS_SUBDOMAIN.match(prefix)):
        raise _Issue(key, f"'{name}' is not a Kubernetes label key ([prefix/]name, name up to 63 characters)")
    if any(prefix == d or prefix.endswith("." + d) for d in _RESERVED_LABEL_DOMAINS):
        raise _Issue(key, f"'{name}' uses a prefix reserved for Kubernetes/EKS ({', '.join(_RESERVED_LABEL_DOMAINS)})")
    if not _LABEL_VALUE.match(value):
        raise _Issue(key, f"'{value}' is not a Kubernetes label value (up to 63 letters, digits, '-', '_', '.')")


def _check_scaling(key: str, min_size: int, desired: int | None, max_size: int) -> None:
    if min_size > max_size:
        raise _Issue(f"{key}.minSize", f"must be at most maxSize ({max_size}), got {min_size}")
    if desired is not None and not min_size <= desired <= max_size:
        raise _Issue(
            f"{key}.desiredSize", f"must be between minSize ({min_size}) and maxSize ({max_size}), got {desired}"
        )


def _check_instance_types(key: str, names: list[str], gpu: bool) -> list[instances.InstanceType]:
    parsed: list[instances.InstanceType] = []
    for i, name in enumerate(names):
        try:
            parsed.append(instances.check_gpu_type(name) if gpu else instances.check_cpu_type(name))
        except instances.InstanceTypeError as error:
            raise _Issue(f"{key}.instanceTypes[{i}]", str(error)) from None
    if len(set(names)) != len(names):
        raise _Issue(f"{key}.instanceTypes", "lists an instance type twice")
    if len({p.arch for p in parsed}) > 1:
        raise _Issue(f"{key}.instanceTypes", "mixes x86_64 and arm64 types; one group runs one AMI architecture")
    if gpu and len({p.gpu.count for p in parsed if p.gpu}) > 1:
        raise _Issue(
            f"{key}.instanceTypes",
            "mixes types with different GPU counts; the autoscaler must know the GPUs of a node before it exists",
        )
    return parsed


# Namespaces the cluster or the platform itself uses; a team namespace must not be one of them.
RESERVED_NAMESPACES = naming.PLATFORM_NAMESPACES


def _check_kubernetes(team: TeamConfig) -> None:
    """The Kubernetes layer's settings against each other: what a pod may ask for fits what the quota allows."""
    k8s, key = team.kubernetes, "teamstack:kubernetes"
    defaults = k8s.container_defaults
    for kind in ("cpu", "memory"):
        request, limit = getattr(defaults, f"{kind}_request"), getattr(defaults, f"{kind}_limit")
        if quantity.parse(request) > quantity.parse(limit):
            raise _Issue(f"{key}.containerDefaults.{kind}Request", f"'{request}' is above {kind}Limit ('{limit}')")
    quota = k8s.quota
    for kind in ("cpu", "memory"):
        total, limits = getattr(quota, kind), getattr(quota, f"limits_{kind}")
        if limits is not None and quantity.parse(limits) < quantity.parse(total):
            raise _Issue(
                f"{key}.quota.limits{kind.capitalize()}",
                f"'{limits}' is below quota.{kind} ('{total}'); a pod's limit is never below its request",
            )
    for name, worker in (("worker", k8s.worker), ("gpuWorker", k8s.gpu_worker)):
        for kind in ("cpu", "memory"):
            size, total = getattr(worker, kind), getattr(quota, kind)
            if quantity.parse(size) > quantity.parse(total):
                raise _Issue(f"{key}.{name}.{kind}", f"'{size}' is above the team quota ({kind}: '{total}')")
    if k8s.worker.gpus != 0:
        raise _Issue(f"{key}.worker.gpus", "CPU workers take no GPUs; size GPU workers in gpuWorker")
    if k8s.gpu_worker.gpus < 1:
        raise _Issue(f"{key}.gpuWorker.gpus", "a GPU worker takes at least 1 GPU")
    if quota.gpus is not None and quota.gpus and k8s.gpu_worker.gpus > quota.gpus:
        raise _Issue(f"{key}.gpuWorker.gpus", f"{k8s.gpu_worker.gpus} is above the team quota (gpus: {quota.gpus})")
    seen = {team.team_namespace}
    for i, namespace in enumerate(k8s.extra_namespaces):
        if namespace in seen or namespace in RESERVED_NAMESPACES:
            raise _Issue(
                f"{key}.extraNamespaces[{i}]",
                f"'{namespace}' is the team namespace, listed twice or reserved ({', '.join(RESERVED_NAMESPACES)})",
            )
        seen.add(namespace)


# The Dask operator's image (ghcr.io/dask/dask-kubernetes-operator) is built for linux/amd64 only: dask-kubernetes
# releases it with chartpress and no --platform, i.e. for the build host's architecture.
_SYSTEM_ARCH_REASON = (
    "the Dask operator runs on system nodes and its image is published for x86_64 (linux/amd64) only; "
    "use an x86_64 type, got {}"
)


def check_team(team: TeamConfig) -> None:
    """Rules across fields. Raises `_Issue` with the key path of the first violation."""
    if isinstance(team, GcpTeamConfig):
        _check_gcp(team)
    _check_kubernetes(team)
    vpc = ipaddress.IPv4Network(team.vpc_cidr)
    service = ipaddress.IPv4Network(team.service_cidr)
    if vpc.overlaps(service):
        raise _Issue("teamstack:serviceCidr", f"{service} overlaps the VPC {vpc}; pick a range outside it")

    seen: list[ipaddress.IPv4Network] = []
    for i, value in enumerate(team.api_access_cidrs):
        key = f"teamstack:apiAccessCidrs[{i}]"
        try:
            network = _cidr(value)
        except ValueError as error:
            raise _Issue(key, str(error)) from None
        if network.prefixlen == 0:
            raise _Issue(key, f"'{value}' would open the API to the internet; list your office/VPN ranges")
        if any(network.overlaps(r) for r in _NOT_INTERNET_RANGES):
            raise _Issue(
                key,
                f"'{value}' is not an internet address range; the public endpoint only sees the "
                "public egress ranges of your office/VPN (the VPC reaches the private endpoint)",
            )
        if network.prefixlen < 8:
            raise _Issue(key, f"'{value}' is wider than /8; list your office/VPN ranges")
        if any(network.overlaps(other) for other in seen):
            raise _Issue(key, f"'{value}' overlaps an earlier entry")
        seen.append(network)

    system = team.system_node_group
    if isinstance(system, AwsSystemNodeGroupConfig):
        parsed = _check_instance_types("teamstack:systemNodeGroup", system.instance_types, gpu=False)
        if parsed[0].arch != "x86_64":
            raise _Issue("teamstack:systemNodeGroup.instanceTypes", _SYSTEM_ARCH_REASON.format(parsed[0].name))
    _check_scaling("teamstack:systemNodeGroup", system.min_size, system.desired_size, system.max_size)
    if system.high_availability and system.min_size < HA_SYSTEM_NODES:
        raise _Issue(
            "teamstack:systemNodeGroup.minSize",
            f"highAvailability needs at least {HA_SYSTEM_NODES} nodes (one per zone), got {system.min_size}",
        )

    names: set[str] = set()
    for i, group in enumerate(team.node_groups):
        key = f"teamstack:nodeGroups[{i}]"
        if group.name in names or group.name == "system":
            raise _Issue(f"{key}.name", f"'{group.name}' is used twice or reserved ('system'); names must be unique")
        names.add(group.name)
        if isinstance(group, GcpNodeGroupConfig):
            _check_gcp_pool(key, group)
        elif isinstance(group, AwsNodeGroupConfig):
            parsed = _check_instance_types(key, group.instance_types, gpu=group.kind == "gpu")
            if any(instance.arch != "x86_64" for instance in parsed):
                raise _Issue(
                    f"{key}.instanceTypes",
                    "Dask workers run the team's images, which the image pipeline builds for x86_64 only; "
                    "use x86_64 types (e.g. m7i, r7i, g5) in node groups",
                )
        _check_scaling(key, group.min_size, group.desired_size, group.max_size)
        if group.kind == "gpu" and group.min_size != 0:
            raise _Issue(
                f"{key}.minSize", f"a gpu group scales from zero so idle GPUs cost nothing; set 0, got {group.min_size}"
            )
        for name, value in group.labels.items():
            _check_label(f"{key}.labels.{name}", name, value)

    _check_capacity(team)
    # Budget channels are named by their address (naming.keyed_names): each may appear once. Principals and
    # members, which name bindings and access entries, are checked once by teamstack.validation.
    emails = [naming.member_key(email).lower() for email in team.budget.alert_emails]
    for i, email in enumerate(emails):
        if email in emails[:i]:
            raise _Issue(f"teamstack:budget.alertEmails[{i}]", f"'{team.budget.alert_emails[i]}' is listed twice")

    buckets: set[str] = set()
    for i, bucket in enumerate(team.catalog_buckets):
        if bucket.name in buckets:
            raise _Issue(f"teamstack:catalogBuckets[{i}].name", f"'{bucket.name}' is used twice")
        buckets.add(bucket.name)

    for name, value in team.tags.items():
        key = f"teamstack:tags.{name}"
        if name in RESERVED_TAG_KEYS:
            raise _Issue(key, f"is set by the platform; reserved tags: {', '.join(RESERVED_TAG_KEYS)}")
        if not 1 <= len(name) <= 128 or name.lower().startswith("aws:") or len(value) > 256:
            raise _Issue(key, "tag keys are 1-128 characters not starting with 'aws:', values at most 256")
        if team.cloud == "gcp" and not (_GCP_LABEL_KEY.match(name) and _GCP_LABEL_VALUE.match(value)):
            raise _Issue(
                key,
                "on GCP tags become labels: keys start with a lowercase letter, keys and values are at most 63 "
                "lowercase letters, digits, '_' and '-'",
            )


def _check_capacity(team: TeamConfig) -> None:
    """The GPU quota fits in the pools: a share no node could serve would only hide how many GPUs exist (a GPU
    worker bigger than every node is teamstack.validation's worker-fit rule)."""
    key = "teamstack:kubernetes"
    capacity = gpu_capacity(team.pools)
    gpus = team.kubernetes.quota.gpus
    if gpus is not None and gpus > capacity:
        detail = ", ".join(f"{p.name} {p.max_size} x {p.gpus_per_node}" for p in team.pools if p.gpus_per_node)
        raise _Issue(
            f"{key}.quota.gpus",
            f"{gpus} is above the {capacity} GPUs the node groups hold at maxSize ({detail or 'no GPU groups'}); "
            "leave it out to share every GPU of the pools, or set it lower",
        )


def _check_gcp_member(key: str, value: str) -> None:
    if not _GCP_MEMBER.match(value):
        raise _Issue(
            key,
            f"'{value}' is not a GCP IAM member of a person or group (group:<email>, user:<email> or "
            "serviceAccount:<email>)",
        )


def _check_gcp(team: GcpTeamConfig) -> None:
    """The GCP settings against each other: zones, ranges, members (the model refuses AWS-only keys)."""
    if team.nat_mode == "per-az":
        raise _Issue(
            "teamstack:natMode", "Cloud NAT is regional and spans every zone; on GCP use single or none, got 'per-az'"
        )
    available = gcp_machines.region_zones(team.region)
    if team.zones is not None:
        if not 1 <= len(team.zones) <= len(available):
            raise _Issue("teamstack:zones", f"list 1 to {len(available)} zones of {team.region}")
        for i, zone in enumerate(team.zones):
            if zone not in available:
                raise _Issue(
                    f"teamstack:zones[{i}]", f"'{zone}' is not a zone of {team.region}; zones: {', '.join(available)}"
                )
            if zone in team.zones[:i]:
                raise _Issue(f"teamstack:zones[{i}]", f"'{zone}' is listed twice")
    elif team.az_count > len(available):
        raise _Issue("teamstack:azCount", f"{team.region} has {len(available)} zones, {team.az_count} requested")
    try:
        pods = _cidr(team.pod_cidr)
    except ValueError as error:
        raise _Issue("teamstack:podCidr", str(error)) from None
    if not (12 <= pods.prefixlen <= 21 and any(pods.subnet_of(r) for r in _PRIVATE_RANGES)):
        raise _Issue(
            "teamstack:podCidr",
            f"'{pods}' must be a /12 to /21 inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10",
        )
    for other_key, other in (("vpcCidr", team.vpc_cidr), ("serviceCidr", team.service_cidr)):
        if pods.overlaps(ipaddress.IPv4Network(other)):
            raise _Issue("teamstack:podCidr", f"{pods} overlaps teamstack:{other_key} {other}; pick a range outside it")
    for i, member in enumerate(team.admins):
        _check_gcp_member(f"teamstack:admins[{i}]", member)
    if not team.data_scientist_members:
        raise _Issue("teamstack:dataScientistMembers", "list at least one group:<email> or user:<email>")
    for i, member in enumerate(team.data_scientist_members):
        _check_gcp_member(f"teamstack:dataScientistMembers[{i}]", member)
    security_group = team.gke_security_group
    if security_group is not None and not (
        _EMAIL.match(security_group) and security_group.lower().startswith("gke-security-groups@")
    ):
        raise _Issue(
            "teamstack:gkeSecurityGroup",
            f"'{security_group}' is not GKE's RBAC group; it is named gke-security-groups@<your domain>",
        )
    groups = [m for m in team.data_scientist_members if m.lower().startswith("group:")]
    if groups and security_group is None:
        raise _Issue(
            "teamstack:gkeSecurityGroup",
            f"required when dataScientistMembers lists groups ({groups[0]}): GKE's Google Groups for RBAC "
            "needs gke-security-groups@<your domain>, with the team's groups as its members",
        )
    try:
        parsed = gcp_machines.check_cpu_machine(team.system_machine_type)
    except gcp_machines.MachineTypeError as error:
        raise _Issue("teamstack:systemNodeGroup.machineType", str(error)) from None
    if parsed.arch != "x86_64":
        raise _Issue("teamstack:systemNodeGroup.machineType", _SYSTEM_ARCH_REASON.format(team.system_machine_type))


def _check_gcp_pool(key: str, group: GcpNodeGroupConfig) -> None:
    try:
        if group.kind == "gpu":
            gcp_machines.check_gpu_pool(group.machine_type, group.gpu_type, group.gpu_count)
            parsed = gcp_machines.parse_machine_type(group.machine_type)
        else:
            parsed = gcp_machines.check_cpu_machine(group.machine_type)
    except gcp_machines.MachineTypeError as error:
        raise _Issue(f"{key}.{error.field}", str(error)) from None
    if group.kind == "cpu" and (group.gpu_type is not None or group.gpu_count is not None):
        field = "gpuType" if group.gpu_type is not None else "gpuCount"
        raise _Issue(f"{key}.{field}", "a cpu pool has no GPUs; put GPUs in a group with kind: gpu")
    if parsed.arch != "x86_64":  # GPU pools too: A4X's GB200 GPUs sit on Grace (Arm) hosts
        raise _Issue(
            f"{key}.machineType",
            "Dask workers run the team's images, which the image pipeline builds for x86_64 only; "
            f"use x86_64 types (e.g. n2, c3, g2) in node groups, not {group.machine_type}",
        )


# --- loading ---------------------------------------------------------------------------------------------

# Provider keys the model reads, by cloud and field name; the first map is the default cloud's.
_PROVIDER_KEYS_BY_CLOUD = {
    "aws": {"region": "aws:region"},
    "gcp": {"region": "gcp:region", "project": "gcp:project"},
}
_PROVIDER_KEYS = _PROVIDER_KEYS_BY_CLOUD["aws"]
# Fields only a provider key sets, on any cloud: never a teamstack: key.
_PROVIDER_FIELDS = frozenset(name for keys in _PROVIDER_KEYS_BY_CLOUD.values() for name in keys)


def _provider_keys(values: Mapping[str, str]) -> dict[str, str]:
    """The provider keys of the stack's cloud (teamstack:cloud; an unknown cloud is reported by the model)."""
    return _PROVIDER_KEYS_BY_CLOUD.get(values.get(f"{PROJECT}:cloud", "aws"), _PROVIDER_KEYS)


def _field_is_text(annotation: Any) -> bool:
    """True when a field takes plain text, which the engine passes through undecoded."""
    if annotation is str:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return all(arg is str or arg is type(None) for arg in typing.get_args(annotation))
    return typing.get_origin(annotation) is Literal


def _decode(values: Mapping[str, str], file: str) -> dict[str, Any]:
    """The engine's flat string map -> the model's input: project keys unprefixed, JSON decoded per field."""
    data: dict[str, Any] = {}
    prefix = f"{PROJECT}:"
    for field_name, key in _provider_keys(values).items():
        if key in values:
            data[field_name] = values[key]
    fields_by_alias = {(f.alias or n): f for n, f in _ALL_FIELDS.items()}
    for key, raw in values.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        field = fields_by_alias.get(name)
        if field is None or name in _PROVIDER_FIELDS:
            allowed = ", ".join(sorted(a for a in fields_by_alias if a not in _PROVIDER_FIELDS))
            raise ConfigError(file, key, f"unknown key; allowed {PROJECT}: keys are {allowed}")
        if _field_is_text(field.annotation):
            data[name] = raw
            continue
        try:
            data[name] = json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            data[name] = raw  # not JSON: the model reports the type it expected
    return data


def _key_path(loc: tuple[int | str, ...], provider_keys: Mapping[str, str] = _PROVIDER_KEYS) -> str:
    head, *rest = loc
    key = provider_keys.get(str(head), f"{PROJECT}:{head}")
    for part in rest:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The nested model class that a location points into in `root`, for listing its allowed keys."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        if part not in fields:
            return None
        annotation = fields[part].annotation
        candidates = [annotation, *typing.get_args(annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model if isinstance(model, type) else None


# Why a key of the other cloud's model is refused, where more can be said than whose setting it is; by key path
# (list positions as "*").
_OTHER_CLOUD_REASONS: dict[tuple[str | int, ...], str] = {
    ("gcp", "dataScientistPrincipals"): (
        "is an AWS setting; a GCP stack lists its people in dataScientistMembers (group:<email>, user:<email>)"
    ),
    ("gcp", "interfaceEndpoints"): (
        "is an AWS setting; GCP nodes reach Google APIs through Private Google Access at no charge"
    ),
    ("gcp", "ghcrCredentialArn"): (
        "is an AWS setting (ECR caches ghcr.io only with a GitHub token); GKE pulls ghcr.io through the team's "
        "Artifact Registry mirror, which needs none"
    ),
    ("gcp", "systemNodeGroup", "instanceTypes"): "is an AWS setting; GCP pools take machineType",
    ("gcp", "nodeGroups", "*", "instanceTypes"): "is an AWS setting; a GCP pool takes one machineType",
}
_MISSING_HINTS: dict[tuple[str | int, ...], str] = {
    ("gcp", "budget", "billingAccount"): " (the Cloud Billing account id)",
}


def _other_cloud_reason(cloud: str, loc: tuple[int | str, ...]) -> str | None:
    """The reason an unknown key is refused when it is the other cloud's setting, else None."""
    other = next(c for c in CLOUDS if c != cloud)
    parent = _model_at(_MODELS[other], loc[:-1])
    if parent is None or loc[-1] not in {(f.alias or n) for n, f in parent.model_fields.items()}:
        return None
    path = (cloud, *("*" if isinstance(part, int) else part for part in loc))
    return _OTHER_CLOUD_REASONS.get(path, f"is a {other.upper()} setting; this stack's teamstack:cloud is {cloud}")


def _reason(error: Mapping[str, Any], cloud: str) -> str:
    kind, message = error["type"], str(error["msg"])
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        other = _other_cloud_reason(cloud, loc)
        if other is not None:
            return other
        parent = _model_at(_MODELS[cloud], loc[:-1])
        allowed = sorted((f.alias or n) for n, f in parent.model_fields.items()) if parent else []
        return "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        path = (cloud, *("*" if isinstance(part, int) else part for part in loc))
        return "required key is missing" + _MISSING_HINTS.get(path, "")
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    shown = error.get("input")
    if isinstance(shown, dict | list):
        return message
    return f"{message} (got {json.dumps(shown)})"


def stack_file(stack: str) -> str:
    return f"stacks/Pulumi.{stack}.yaml"


def _validate(data: dict[str, Any], file: str, provider_keys: Mapping[str, str]) -> Team:
    """The decoded config as its cloud's model. Raises ConfigError naming the first problem's key."""
    try:
        return _TEAM.validate_python(data)
    except ValidationError as errors:
        # An unknown key first: a misspelt key also makes the intended one "missing", which hides the typo.
        first = min(errors.errors(), key=lambda error: error["type"] != "extra_forbidden")
        loc = tuple(first["loc"])
        if not loc:  # no model for this cloud: the discriminator refused the tag
            allowed = " or ".join(f"'{c}'" for c in CLOUDS)
            raise ConfigError(
                file, f"{PROJECT}:cloud", f"Input should be {allowed} (got {json.dumps(data.get('cloud'))})"
            ) from None
        cloud, loc = str(loc[0]), loc[1:]  # the union's tag, then the location in that cloud's model
        reason = _reason({**first, "loc": loc}, cloud)
        raise ConfigError(file, _key_path(loc, provider_keys), reason) from None


def load_team(values: Mapping[str, str], stack: str) -> Team:
    """Parse and check a stack's config (the engine's flat string map) into its cloud's model. Raises
    ConfigError."""
    file = stack_file(stack)
    try:
        cloud_rules.check_keys(values)
    except RuleError as issue:
        raise ConfigError(file, issue.key, issue.reason) from None
    team = _validate(_decode(values, file), file, _provider_keys(values))
    try:
        check_team(team)
        cloud_rules.check(team)  # the clouds' own rules: names, CIDRs, principals, types, limits
    except (_Issue, RuleError) as issue:
        raise ConfigError(file, issue.key, issue.reason) from None
    return team
