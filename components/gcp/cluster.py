"""The team's GKE cluster and node pools.

Cluster: regional or zonal per config; private nodes; the public endpoint only for the configured ranges
(master authorized networks, never 0.0.0.0/0; none configured -> private endpoint only); Workload Identity;
release channel; Shielded nodes; Kubernetes secrets encrypted with the team key; system and workload logs,
managed Prometheus; Dataplane V2 (network policy); the default node pool removed.

Node pools: a tainted system pool plus the configured CPU/GPU pools, each autoscaling between the configured
totals (GPU pools from 0), spot per pool, Shielded VMs, GKE metadata server, boot disks encrypted with the team
key. GPU pools carry their accelerators with GKE-managed driver installation, the `nvidia.com/gpu` taint and
labels, so only GPU pods land there and the autoscaler knows their GPUs before a node exists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from components.gcp.network import PODS_RANGE, SERVICES_RANGE
from teamstack.pools import NodePool

OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]  # access is decided by IAM, not scopes
DISK_TYPE = "pd-balanced"
# GKE-managed NVIDIA drivers: the newest the node's GKE version supports.
GPU_DRIVER_VERSION = "LATEST"
CLUSTER_LOG_COMPONENTS = ["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]
CLUSTER_METRIC_COMPONENTS = ["SYSTEM_COMPONENTS", "APISERVER", "CONTROLLER_MANAGER", "SCHEDULER"]


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    team: str
    cluster_name: str
    project: str
    region: str
    location: str  # the region (regional) or a zone (zonal)
    zones: Sequence[str]
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    kubernetes_version: str
    release_channel: str
    api_access_cidrs: Sequence[str]
    security_group: str | None  # gke-security-groups@<domain>: Kubernetes RBAC may name Google groups
    kms_key_id: pulumi.Input[str]
    node_service_account: pulumi.Input[str]
    labels: Mapping[str, str]
    pools: Sequence[NodePool]
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


def _shielded() -> gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs:
    return gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
        enable_secure_boot=True, enable_integrity_monitoring=True
    )


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:gcp:Cluster", name, None, opts)
        public = bool(args.api_access_cidrs)
        self.cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=args.cluster_name,
            project=args.project,
            location=args.location,
            node_locations=list(args.zones),
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE, services_secondary_range_name=SERVICES_RANGE
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, enable_private_endpoint=not public
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name=f"apiAccessCidrs[{i}]"
                    )
                    for i, cidr in enumerate(args.api_access_cidrs)
                ],
                # Google Cloud's own public ranges (any customer's VMs) must not reach the API either.
                gcp_public_cidrs_access_enabled=False,
            ),
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            authenticator_groups_config=(
                gcp.container.ClusterAuthenticatorGroupsConfigArgs(security_group=args.security_group)
                if args.security_group
                else None
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=args.release_channel.upper()),
            min_master_version=args.kubernetes_version,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"
            ),
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(
                state="ENCRYPTED", key_name=args.kms_key_id
            ),
            logging_config=gcp.container.ClusterLoggingConfigArgs(enable_components=CLUSTER_LOG_COMPONENTS),
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=CLUSTER_METRIC_COMPONENTS,
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            datapath_provider="ADVANCED_DATAPATH",
            cost_management_config=gcp.container.ClusterCostManagementConfigArgs(enabled=True),
            # The default pool is created (GKE requires one) and removed at once; until then it runs as the
            # team's node account, never the project's default compute account.
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=args.node_service_account,
                oauth_scopes=OAUTH_SCOPES,
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            ),
            resource_labels=dict(args.labels),
            # The cluster holds no data (catalog buckets do) and `pulumi destroy` must be able to remove it,
            # as on AWS.
            deletion_protection=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.depends_on),
                # GKE rewrites node_config of the removed default pool; the pools below are managed on their own.
                ignore_changes=["nodeConfig", "initialNodeCount"],
            ),
        )
        self.pools: dict[str, gcp.container.NodePool] = {
            spec.name: self._pool(f"{name}-{spec.name}", spec, args) for spec in args.pools
        }
        self.name: pulumi.Output[str] = self.cluster.name
        self.endpoint: pulumi.Output[str] = self.cluster.endpoint
        self.certificate_authority: pulumi.Output[str] = self.cluster.master_auth.cluster_ca_certificate.apply(
            lambda ca: ca or ""
        )
        self.register_outputs({"name": self.cluster.name, "endpoint": self.cluster.endpoint})

    def _pool(self, name: str, spec: NodePool, args: ClusterArgs) -> gcp.container.NodePool:
        zones = spec.zones or tuple(args.zones)
        gpu = spec.gpu
        accelerators = (
            [
                gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                    type=gpu.accelerator,
                    count=gpu.count,
                    gpu_driver_installation_config=(
                        gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                            gpu_driver_version=GPU_DRIVER_VERSION
                        )
                    ),
                )
            ]
            if gpu is not None and gpu.accelerator is not None  # GKE pools always name it (teamstack.pools)
            else None
        )
        return gcp.container.NodePool(
            name,
            name=spec.name,
            project=args.project,
            location=args.location,
            cluster=self.cluster.name,
            node_locations=list(zones),
            # The first nodes per zone; afterwards the autoscaler owns the count.
            initial_node_count=math.ceil(spec.desired_size / len(zones)),
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=spec.min_size,
                total_max_node_count=spec.max_size,
                location_policy="ANY" if spec.spot else "BALANCED",
            ),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=spec.type_names[0],
                disk_size_gb=spec.disk_size_gib,
                disk_type=DISK_TYPE,
                boot_disk_kms_key=args.kms_key_id,
                image_type="COS_CONTAINERD",
                spot=spec.spot,
                service_account=args.node_service_account,
                oauth_scopes=OAUTH_SCOPES,
                labels=dict(spec.labels),
                resource_labels={**args.labels, "node-pool": spec.name},
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=t.provider_effect)
                    for t in spec.taints
                ],
                guest_accelerators=accelerators,
                shielded_instance_config=_shielded(),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                metadata={"disable-legacy-endpoints": "true"},
            ),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"]),
        )
