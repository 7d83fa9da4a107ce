"""The stack outputs every team stack exports under the same names, on either cloud, made once.

Each cloud's stack adds its own (AWS: account, subnets, roles; GCP: project, zones, service accounts); the
manifest's shared sections are `teamstack.manifest.shared_sections`, the default environment's spec is
`components.k8s.spec.default_environment`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from teamstack.config import TeamConfig


def shared_outputs(
    team: TeamConfig,
    *,
    cluster_name: pulumi.Input[str],
    cluster_endpoint: pulumi.Input[str],
    registry_uri: pulumi.Input[str],
    build_bucket: pulumi.Input[str],
    catalog_buckets: Sequence[pulumi.Input[str]],
    manifest: pulumi.Output[str],
) -> dict[str, Any]:
    """The outputs both clouds' stacks export; `catalog_buckets` in the order of `team.catalog_buckets`."""
    return {
        "cloud": team.cloud,
        "team": team.team,
        "region": team.region,
        "clusterName": cluster_name,
        "clusterEndpoint": cluster_endpoint,
        "kubernetesVersion": team.kubernetes_version,
        "namespace": team.team_namespace,
        "registryUri": registry_uri,
        "buildBucket": build_bucket,
        "catalogBuckets": {cfg.name: b for cfg, b in zip(team.catalog_buckets, catalog_buckets, strict=True)},
        "manifest": pulumi.Output.json_loads(manifest),
    }
