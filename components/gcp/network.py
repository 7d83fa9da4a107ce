"""The team's VPC network: custom mode, one regional subnetwork whose secondary ranges hold the pods and the
services, Private Google Access, Cloud NAT per the NAT mode, flow logs, and firewall rules that admit nothing
from the internet (admin SSH only through Identity-Aware Proxy; GKE adds its own control-plane rules)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

PODS_RANGE = "pods"
SERVICES_RANGE = "services"
# Google's Identity-Aware Proxy TCP forwarding range: the only source of admin SSH (IAP checks IAM first).
IAP_TCP_FORWARDING_RANGE = "35.235.240.0/20"
DASK_PORTS = ("8786", "8787")  # scheduler, dashboard; workers listen on random ports inside the cluster
LOWEST_PRIORITY = 65534


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    project: str
    region: str
    node_cidr: str
    pod_cidr: str
    service_cidr: str
    nat_mode: str
    node_service_account: pulumi.Input[str]


def _log_all() -> gcp.compute.FirewallLogConfigArgs:
    return gcp.compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA")


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:gcp:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.network = gcp.compute.Network(
            f"{name}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description="teamstack team network",
            opts=child,
        )
        self.subnetwork = gcp.compute.Subnetwork(
            f"{name}-nodes",
            project=args.project,
            region=args.region,
            network=self.network.id,
            ip_cidr_range=args.node_cidr,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=args.pod_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE, ip_cidr_range=args.service_cidr),
            ],
            # Nodes have no external IPs: Google APIs (GCS, Artifact Registry, KMS) are reached privately.
            private_ip_google_access=True,
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
            ),
            opts=child,
        )
        self.router: gcp.compute.Router | None = None
        self.nat: gcp.compute.RouterNat | None = None
        if args.nat_mode != "none":
            self.router = gcp.compute.Router(
                f"{name}-router", project=args.project, region=args.region, network=self.network.id, opts=child
            )
            self.nat = gcp.compute.RouterNat(
                f"{name}-nat",
                project=args.project,
                region=args.region,
                router=self.router.name,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
                opts=child,
            )
        internal = [args.node_cidr, args.pod_cidr]
        self.firewalls: Sequence[gcp.compute.Firewall] = [
            gcp.compute.Firewall(
                f"{name}-allow-dask-internal",
                project=args.project,
                network=self.network.id,
                direction="INGRESS",
                priority=1000,
                description="Dask scheduler and dashboard, from the team's nodes and pods only",
                source_ranges=internal,
                allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=list(DASK_PORTS))],
                log_config=_log_all(),
                opts=child,
            ),
            gcp.compute.Firewall(
                f"{name}-allow-iap-ssh",
                project=args.project,
                network=self.network.id,
                direction="INGRESS",
                priority=1000,
                description="Admin SSH to nodes only through Identity-Aware Proxy (IAM-checked)",
                source_ranges=[IAP_TCP_FORWARDING_RANGE],
                target_service_accounts=[args.node_service_account],
                allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["22"])],
                log_config=_log_all(),
                opts=child,
            ),
            gcp.compute.Firewall(
                f"{name}-deny-ingress",
                project=args.project,
                network=self.network.id,
                direction="INGRESS",
                priority=LOWEST_PRIORITY,
                description="Everything not allowed above is dropped, and logged",
                source_ranges=["0.0.0.0/0"],
                denies=[gcp.compute.FirewallDenyArgs(protocol="all")],
                log_config=_log_all(),
                opts=child,
            ),
        ]
        self.register_outputs({"network": self.network.id, "subnetwork": self.subnetwork.id})
