"""The team manifest: what a client needs to use a team stack, versioned, written by the stack itself.

The stack writes it (AWS: an SSM parameter named by `naming.manifest_parameter`); the `teamstack` client
reads it and checks `schemaVersion` before trusting anything else in it. Adding optional fields keeps the
version; renaming or removing one bumps it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from teamstack.naming import MANIFEST_SCHEMA_VERSION


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


class Network(_Part):
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


class Identity(_Part):
    dask_scheduler_role_arn: str
    dask_worker_role_arn: str
    dask_scheduler_service_account: str
    dask_worker_service_account: str
    data_scientist_role_arn: str
    image_builder_role_arn: str


class TeamManifest(_Part):
    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    team: str
    cloud: Literal["aws"]
    region: str
    account: str
    cost_center: str
    owner: str
    network: Network
    cluster: Cluster
    node_groups: list[NodeGroup]
    registry: Registry
    build: Build
    catalog: list[CatalogBucket]
    identity: Identity
    tags: dict[str, str]

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=None)
