"""The Kubernetes layer on a GKE team cluster: the few GKE-specific parts, so the GCP stack wires it in one call.

GKE differs from EKS in three places only: the kubeconfig (gke-gcloud-auth-plugin), the identity binding
(Workload Identity: KSAs annotated with their Google service account; the GSAs' workloadIdentityUser grants are
the GCP stack's), and what the layer does not deploy (GKE autoscales node pools and installs the NVIDIA device
plugin itself). NetworkPolicies are enforced by GKE Dataplane V2, which the GCP cluster enables.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.k8s import spec
from components.k8s.layer import KubernetesLayer, KubernetesLayerArgs, WorkloadIdentityBinding
from teamstack import registries
from teamstack.config import GcpTeamConfig
from teamstack.pools import NodePool


def gke_kubernetes_layer(
    name: str,
    team: GcpTeamConfig,
    endpoint: pulumi.Input[str],
    certificate_authority: pulumi.Input[str],
    pools: Sequence[NodePool],
    scheduler_gsa: pulumi.Input[str],
    worker_gsa: pulumi.Input[str],
    repository_url: pulumi.Input[str],
    ghcr_mirror: pulumi.Input[str],
    build_bucket: pulumi.Input[str],
    recipe_hash: str,
    image_python: str,
    depends_on: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> KubernetesLayer:
    """The provider for the team's GKE cluster, the layer on it, and the default environment submitted to the
    team's image pipeline (after `depends_on`: the cluster with its pools, and the pipeline)."""
    cluster_name = team.team
    kubeconfig = pulumi.Output.all(endpoint, certificate_authority).apply(
        lambda v: spec.gke_kubeconfig(cluster_name, v[0], v[1])
    )
    provider = k8s.Provider(
        f"{name}-kubernetes", kubeconfig=kubeconfig, opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on)
    )
    default_spec, default_tag, default_key = spec.default_environment(spec.DEFAULT_ENVIRONMENT_DIR, recipe_hash)
    gcp.storage.BucketObject(
        f"{name}-default-environment",
        bucket=build_bucket,
        name=default_key,
        source=pulumi.StringAsset(default_spec.decode()),
        content_type="text/plain",
        # The pipeline's notification must exist when the spec lands, or nothing builds it.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
    )
    return KubernetesLayer(
        f"{name}-k8s",
        KubernetesLayerArgs(
            team=team.team,
            cloud="gcp",
            kubernetes_version=team.kubernetes_version,
            settings=team.kubernetes,
            provider=provider,
            namespace=team.team_namespace,
            pools=pools,
            identity=WorkloadIdentityBinding(scheduler_gsa, worker_gsa),
            data_scientists=spec.gke_rbac_subjects(team.data_scientist_members),
            image=pulumi.Output.from_input(repository_url).apply(lambda url: f"{url}:{default_tag}"),
            image_python=image_python,
            tags=team.tags_for_resources,
            autoscaling=None,  # GKE's node-pool autoscaling; a cluster-autoscaler here would fight it
            mirrors=pulumi.Output.from_input(ghcr_mirror).apply(lambda mirror: {registries.GHCR: mirror}),
        ),
        pulumi.ResourceOptions(parent=parent),
    )
