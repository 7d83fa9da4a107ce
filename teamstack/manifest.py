"""The team manifest: what a client needs to use a team stack, versioned, written by the stack itself.

The stack writes it (AWS: the SSM parameter `naming.manifest_parameter`; GCP: the object
`naming.gcp_manifest_url`); the `teamstack` client reads it and checks `schemaVersion` before trusting anything
else in it. Adding optional fields keeps the version; renaming or removing one bumps it.

One schema for both clouds: the shared parts (cluster, node groups, registry, build, catalog, Dask defaults)
have one shape; `network` and `identity` have one shape per cloud, told apart by `cloud`. `account` is the AWS
account id or the GCP project id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from teamstack.naming import MANIFEST_SCHEMA_VERSION

READABLE_SCHEMA_VERSIONS = (1, MANIFEST_SCHEMA_VERSION)

if TYPE_CHECKING:
    from teamstack.config import TeamConfig
    from teamstack.pools import NodePool


class _Part(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Taint(_Part):
    key: str
    value: str
    effect: str


class NodeGroup(_Part):
    name: str
    kind: Literal["system", "cpu", "gpu"]
    node_group_name: str
    instance_types: list[str]
    min_size: int
    max_size: int
    capacity: Literal["on-demand", "spot"]
    gpus_per_node: int
    labels: dict[str, str]
    taints: list[Taint]
    # Schema 2: the GPU model a data scientist asks for (gpu="t4"), and GKE's accelerator name on GCP.
    gpu_type: str | None = None
    gpu_accelerator: str | None = None


class Network(_Part):
    """AWS: the VPC the team's nodes and Dask VMs live in."""

    vpc_id: str
    private_subnet_ids: list[str]
    dask_security_group_id: str
    cluster_security_group_id: str


class Cluster(_Part):
    name: str
    endpoint: str
    certificate_authority: str
    kubernetes_version: str
    namespace: str


class Registry(_Part):
    repository_uri: str
    # Registries the stack mirrors, by upstream host: `ghcr.io/<path>` is pulled as `<mirror>/<path>` (GCP always;
    # AWS with natMode none: ghcr.io and registry.k8s.io through ECR pull-through caches).
    mirrors: dict[str, str] | None = None


class Build(_Part):
    bucket: str
    spec_prefix: str
    project: str
    recipe_hash: str
    log_group: str


class CatalogBucket(_Part):
    name: str
    bucket: str
    url: str
    description: str


class GcpNetwork(_Part):
    """GCP: the VPC network and the subnetwork (with its pod and service ranges) of the team."""

    network: str
    subnetwork: str
    zones: list[str]


class Identity(_Part):
    """AWS: IAM roles; the Dask roles reach pods through EKS Pod Identity on the named service accounts."""

    dask_scheduler_role_arn: str
    dask_worker_role_arn: str
    dask_scheduler_service_account: str
    dask_worker_service_account: str
    data_scientist_role_arn: str
    image_builder_role_arn: str
    # The instance profile of Dask VMs (EC2Cluster); absent from manifests of stacks deployed before it existed.
    dask_vm_instance_profile_arn: str | None = None


class GcpIdentity(_Part):
    """GCP: Google service accounts (emails); the Dask ones are bound to the named Kubernetes service accounts
    through Workload Identity."""

    dask_scheduler_service_account: str
    dask_worker_service_account: str
    dask_scheduler_gsa: str
    dask_worker_gsa: str
    image_builder_gsa: str
    node_gsa: str
    data_scientist_members: list[str]


class Resources(_Part):
    """Kubernetes container resources, quantities as Kubernetes writes them ("2", "8Gi", "1")."""

    requests: dict[str, str]
    limits: dict[str, str]


class Toleration(_Part):
    key: str
    operator: Literal["Equal", "Exists"]
    value: str | None = None
    effect: str


class DaskDefaults(_Part):
    """What `KubeCluster` needs to start in the team namespace with no arguments (the Kubernetes layer)."""

    namespace: str
    image: str
    scheduler_service_account: str
    worker_service_account: str
    worker_resources: Resources
    gpu_worker_resources: Resources
    cpu_node_selector: dict[str, str]
    gpu_node_selector: dict[str, str]
    gpu_tolerations: list[Toleration]
    idle_timeout_seconds: int
    interactive_priority_class: str
    batch_priority_class: str
    operator_version: str


class TeamManifest(_Part):
    schema_version: Literal[1, 2] = MANIFEST_SCHEMA_VERSION
    team: str
    cloud: Literal["aws", "gcp"]
    region: str
    account: str
    cost_center: str
    owner: str
    network: Network | GcpNetwork
    cluster: Cluster
    node_groups: list[NodeGroup]
    registry: Registry
    build: Build
    catalog: list[CatalogBucket]
    identity: Identity | GcpIdentity
    tags: dict[str, str]
    # Absent until the stack has its Kubernetes layer; a client then says so instead of guessing.
    dask: DaskDefaults | None = None
    # Whether the team's nodes and VMs have a route to the internet (a NAT); absent from older manifests (unknown).
    internet_egress: bool | None = None

    @model_validator(mode="after")
    def _one_cloud(self) -> TeamManifest:
        aws = (Network, Identity)
        shapes = (type(self.network), type(self.identity))
        if (self.cloud == "aws") != (shapes == aws) or (self.cloud == "gcp" and shapes != (GcpNetwork, GcpIdentity)):
            raise ValueError(f"network and identity must both be of cloud '{self.cloud}'")
        if self.schema_version >= 2:
            for group in self.node_groups:
                if (group.kind == "gpu") != (group.gpu_type is not None):
                    raise ValueError(f"node group {group.name}: gpuType is set on GPU groups, and only there")
        return self

    def to_json(self) -> str:
        # Unset optional parts are left out rather than written as null (Pulumi outputs drop nulls too).
        return self.model_dump_json(by_alias=True, indent=None, exclude_none=True)


def shared_sections(
    team: TeamConfig,
    *,
    cloud: Literal["aws", "gcp"],
    account: str,
    cluster_name: str,
    endpoint: str,
    certificate_authority: str,
    bucket_names: Sequence[str],
    tags: dict[str, str],
    dask: Any,
) -> dict[str, Any]:
    """The manifest sections both clouds fill the same way (in camelCase, for `TeamManifest.model_validate`);
    each stack adds its own `network`, `nodeGroups`, `registry`, `build` and `identity`."""
    scheme = "s3" if cloud == "aws" else "gs"
    return {
        "team": team.team,
        "cloud": cloud,
        "region": team.region,
        "account": account,
        "costCenter": team.cost_center,
        "owner": team.owner,
        "internetEgress": team.nat_mode != "none",
        "cluster": {
            "name": cluster_name,
            "endpoint": endpoint,
            "certificateAuthority": certificate_authority,
            "kubernetesVersion": team.kubernetes_version,
            "namespace": team.team_namespace,
        },
        "catalog": [
            {"name": cfg.name, "bucket": bucket, "url": f"{scheme}://{bucket}", "description": cfg.description}
            for cfg, bucket in zip(team.catalog_buckets, bucket_names, strict=True)
        ],
        "tags": tags,
        "dask": dask,
    }


def node_group_entry(pool: NodePool, group_name: str) -> dict[str, Any]:
    """A node pool as the manifest lists it (camelCase); `group_name` is the cloud's name of the group/pool."""
    gpu = pool.gpu
    return {
        "name": pool.name,
        "kind": pool.kind,
        "nodeGroupName": group_name,
        "instanceTypes": list(pool.type_names),
        "minSize": pool.min_size,
        "maxSize": pool.max_size,
        "capacity": pool.capacity,
        "gpusPerNode": pool.gpus_per_node,
        "labels": dict(pool.labels),
        "taints": [taint.to_json() for taint in pool.taints],
        "gpuType": gpu.type if gpu else None,
        "gpuAccelerator": gpu.accelerator if gpu else None,
    }
