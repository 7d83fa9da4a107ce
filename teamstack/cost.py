"""Monthly cost estimate of a planned stack, idle and at full scale, from the price table in the repo.

Pure: it reads resources (as the policy rules see them) and `teamstack/data/prices.yaml`, nothing else.
Idle is every node group at its minimum, full scale every group at its maximum; GPU groups that scale from
zero therefore cost nothing idle. A group that may run several instance types is priced at the most
expensive of them, spot groups at the table's spot estimate. Fixed items (control plane, AWS NAT gateways,
interface endpoints, public IPv4 addresses, KMS keys) cost the same idle and at full scale; a GCP Cloud NAT
gateway bills by the VMs using it, so it follows the node count. Usage-priced
items (data transfer, storage, requests, logs) are not estimated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources as package_files
from typing import TYPE_CHECKING, Any, Literal

import yaml

from teamstack import gcp_machines, instances, pools, quantity
from teamstack.policy.model import Resource
from teamstack.policy.values import UNKNOWN, get, truthy

if TYPE_CHECKING:
    from teamstack.manifest import TeamManifest

Cloud = Literal["aws", "gcp"]

EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
NODE_GROUP_TYPES = frozenset({EKS_NODE_GROUP, GKE_NODE_POOL})

# Defaults the providers apply when an input is left out.
_EKS_DEFAULT_INSTANCE_TYPE = "t3.medium"
_EKS_DEFAULT_DISK_GIB = 20
_GKE_DEFAULT_MACHINE_TYPE = "e2-medium"
_GKE_DEFAULT_DISK_GB = 100
# A regional GKE cluster without explicit node locations spreads each pool over three zones.
_GKE_REGIONAL_ZONES = 3
_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]\Z")
_AWS_ZONE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d)[a-z]\Z")
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-gov)?-[a-z]+-\d):")


class PriceError(ValueError):
    """A resource the table cannot price; the message says what is missing."""


@dataclass(frozen=True)
class PriceTable:
    data: dict[str, Any]

    @property
    def hours_per_month(self) -> float:
        return float(self.data["hoursPerMonth"])

    @property
    def source(self) -> str:
        return f"{self.data['source']}, {self.data['pricesAsOf']}, compiled {self.data['date']}"

    def region_factor(self, cloud: Cloud, region: str) -> float:
        regions = self.data[cloud]["regions"]
        if region not in regions:
            raise PriceError(f"no {cloud} prices for region '{region}' (priced: {', '.join(sorted(regions))})")
        return float(regions[region])

    def cloud(self, cloud: Cloud) -> dict[str, Any]:
        return dict(self.data[cloud])

    def aws_instance(self, name: str, spot: bool) -> float:
        prices = self.data["aws"]["instances"].get(name)
        if prices is None:
            raise PriceError(f"no price for EC2 instance type '{name}' in teamstack/data/prices.yaml")
        return float(prices["spot" if spot else "onDemand"])

    def gcp_machine(self, name: str, spot: bool) -> float:
        prices = self.data["gcp"]["machines"].get(name)
        if prices is None:
            raise PriceError(f"no price for GCE machine type '{name}' in teamstack/data/prices.yaml")
        return float(prices["spot" if spot else "onDemand"])

    def gcp_accelerator(self, name: str, spot: bool) -> float:
        prices = self.data["gcp"]["accelerators"].get(name)
        if prices is None:
            raise PriceError(f"no price for GPU accelerator '{name}' in teamstack/data/prices.yaml")
        return float(prices["spot" if spot else "onDemand"])


@cache
def price_table() -> PriceTable:
    text = package_files.files("teamstack").joinpath("data/prices.yaml").read_text(encoding="utf-8")
    return PriceTable(yaml.safe_load(text))


@dataclass(frozen=True)
class NodeGroupCapacity:
    """A node group or pool reduced to what caps and cost need."""

    urn: str
    cloud: Cloud
    machine_types: tuple[str, ...]
    min_nodes: int
    max_nodes: int
    spot: bool
    gpus_per_node: int
    disk_gib: int
    disk_kind: str
    accelerators: tuple[tuple[str, int], ...] = ()


def _int(value: Any, what: str) -> int:
    if value is UNKNOWN or value is None or isinstance(value, bool):
        raise PriceError(f"{what} is not known")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PriceError(f"{what} is not a number: {value!r}") from None


def _aws_gpus(name: str) -> int:
    try:
        return pools.aws_node_type(name).gpus
    except instances.InstanceTypeError:
        return 0


def _built_in_gpus(machine: str) -> int:
    """GPUs an accelerator-optimized GCE type comes with (the machine-type table, `teamstack.gcp_machines`)."""
    return gcp_machines.BUILT_IN_GPUS.get(machine, ("", 0))[1]


def _eks_group(group: Resource, by_id: dict[str, Resource], by_parent: dict[str, list[Resource]]) -> NodeGroupCapacity:
    props = group.props
    template = None
    template_id = get(props, "launchTemplate.id")
    if isinstance(template_id, str) and template_id in by_id:
        template = by_id[template_id]
    elif get(props, "launchTemplate") is not None and group.parent:
        siblings = [r for r in by_parent.get(group.parent, []) if r.type == EKS_LAUNCH_TEMPLATE]
        template = siblings[0] if len(siblings) == 1 else None
    types = get(props, "instanceTypes")
    if types is None and template is not None:
        types = [get(template.props, "instanceType")] if get(template.props, "instanceType") else None
    if types is None:
        types = [_EKS_DEFAULT_INSTANCE_TYPE]
    if types is UNKNOWN or any(not isinstance(t, str) for t in types):
        raise PriceError("its instance types are not known")
    disk = _EKS_DEFAULT_DISK_GIB
    if template is not None:
        disk = sum(
            _int(get(m, "ebs.volumeSize", 0), "a launch template volume size")
            for m in get(template.props, "blockDeviceMappings", []) or []
            if isinstance(m, dict)
        )
    elif get(props, "diskSize") is not None:
        disk = _int(get(props, "diskSize"), "diskSize")
    return NodeGroupCapacity(
        urn=group.urn,
        cloud="aws",
        machine_types=tuple(types),
        min_nodes=_int(get(props, "scalingConfig.minSize"), "scalingConfig.minSize"),
        max_nodes=_int(get(props, "scalingConfig.maxSize"), "scalingConfig.maxSize"),
        spot=get(props, "capacityType") == "SPOT",
        gpus_per_node=max(_aws_gpus(t) for t in types),
        disk_gib=disk,
        disk_kind="gp3",
    )


def _gke_zones(pool: Resource, clusters: dict[str, Resource]) -> int:
    locations = get(pool.props, "nodeLocations")
    cluster = clusters.get(str(get(pool.props, "cluster")))
    if locations is None and cluster is not None:
        locations = get(cluster.props, "nodeLocations")
    if isinstance(locations, list) and locations:
        if any(loc is UNKNOWN for loc in locations):
            raise PriceError("its node locations are not known")
        return len(locations)
    location = get(pool.props, "location")
    if location is None and cluster is not None:
        location = get(cluster.props, "location")
    if location is UNKNOWN:
        raise PriceError("its location is not known")
    return 1 if isinstance(location, str) and _ZONE.match(location) else _GKE_REGIONAL_ZONES


def _gke_pool(pool: Resource, clusters: dict[str, Resource]) -> NodeGroupCapacity:
    props = pool.props
    machine = get(props, "nodeConfig.machineType", _GKE_DEFAULT_MACHINE_TYPE)
    if not isinstance(machine, str):
        raise PriceError("its machine type is not known")
    autoscaling = get(props, "autoscaling")
    if autoscaling is UNKNOWN:
        raise PriceError("its autoscaling is not known")
    if isinstance(autoscaling, dict) and (
        get(autoscaling, "totalMinNodeCount") is not None or get(autoscaling, "totalMaxNodeCount") is not None
    ):
        low = _int(get(autoscaling, "totalMinNodeCount", 0), "autoscaling.totalMinNodeCount")
        high = _int(get(autoscaling, "totalMaxNodeCount", 0), "autoscaling.totalMaxNodeCount")
    else:
        zones = _gke_zones(pool, clusters)
        if isinstance(autoscaling, dict):
            low = zones * _int(get(autoscaling, "minNodeCount", 0), "autoscaling.minNodeCount")
            high = zones * _int(get(autoscaling, "maxNodeCount", 0), "autoscaling.maxNodeCount")
        else:
            fixed = get(props, "nodeCount", get(props, "initialNodeCount", 1))
            low = high = zones * _int(fixed, "nodeCount")
    accelerators: list[tuple[str, int]] = []
    for accelerator in get(props, "nodeConfig.guestAccelerators", []) or []:
        kind, count = get(accelerator, "type"), get(accelerator, "count")
        if not isinstance(kind, str):
            raise PriceError("a guest accelerator's type is not known")
        accelerators.append((kind, _int(count, "guestAccelerators.count")))
    spot = truthy(get(props, "nodeConfig.spot", False)) or truthy(get(props, "nodeConfig.preemptible", False))
    return NodeGroupCapacity(
        urn=pool.urn,
        cloud="gcp",
        machine_types=(machine,),
        min_nodes=low,
        max_nodes=high,
        spot=bool(spot),
        # Accelerator-optimized types (G2, A2) carry their GPUs built in and still name them as accelerators.
        gpus_per_node=sum(count for _, count in accelerators) or _built_in_gpus(machine),
        disk_gib=_int(get(props, "nodeConfig.diskSizeGb", _GKE_DEFAULT_DISK_GB), "nodeConfig.diskSizeGb"),
        disk_kind=str(get(props, "nodeConfig.diskType", "pd-balanced")),
        accelerators=tuple(accelerators),
    )


def node_groups(resources: list[Resource]) -> tuple[list[NodeGroupCapacity], list[tuple[str, str]]]:
    """Every EKS node group and GKE node pool, and (urn, reason) for those whose size is not known."""
    by_id = {r.id: r for r in resources if r.id}
    by_parent: dict[str, list[Resource]] = {}
    for r in resources:
        if r.parent:
            by_parent.setdefault(r.parent, []).append(r)
    clusters = {str(get(r.props, "name")): r for r in resources if r.type == GKE_CLUSTER}
    groups, unknown = [], []
    for r in resources:
        try:
            if r.type == EKS_NODE_GROUP:
                groups.append(_eks_group(r, by_id, by_parent))
            elif r.type == GKE_NODE_POOL:
                groups.append(_gke_pool(r, clusters))
        except PriceError as error:
            unknown.append((r.urn, str(error)))
    return groups, unknown


@dataclass(frozen=True)
class CostItem:
    urn: str
    type: str
    what: str
    idle: float
    full: float


@dataclass
class Estimate:
    cloud: Cloud | None
    region: str | None
    source: str
    items: list[CostItem] = field(default_factory=list)
    unpriced: list[tuple[str, str]] = field(default_factory=list)

    @property
    def idle(self) -> float:
        return round(sum(item.idle for item in self.items), 2)

    @property
    def full(self) -> float:
        return round(sum(item.full for item in self.items), 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud,
            "region": self.region,
            "source": self.source,
            "monthlyUsd": {"idle": self.idle, "full": self.full},
            "items": [
                {"urn": i.urn, "type": i.type, "what": i.what, "idle": round(i.idle, 2), "full": round(i.full, 2)}
                for i in self.items
            ],
            "unpriced": [{"urn": urn, "reason": reason} for urn, reason in self.unpriced],
        }


def infer_cloud_region(resources: list[Resource]) -> tuple[Cloud | None, str | None]:
    """The stack's cloud and region, read from the resources (zones, ARNs, GKE locations)."""
    for r in resources:
        if r.type.startswith("aws:"):
            zone = get(r.props, "availabilityZone")
            if isinstance(zone, str) and (match := _AWS_ZONE.match(zone)):
                return "aws", match.group(1)
    for r in resources:
        for value in r.props.values():
            if isinstance(value, str) and (match := _ARN_REGION.match(value)):
                return "aws", match.group(1)
    for r in resources:
        if r.type.startswith("gcp:"):
            for key in ("region", "location"):
                value = get(r.props, key)
                if isinstance(value, str) and re.match(r"^[a-z]+-[a-z]+\d+", value):
                    region = re.sub(r"-[a-z]\Z", "", value) if _ZONE.match(value) else value
                    return "gcp", region
    return None, None


def _group_item(group: NodeGroupCapacity, table: PriceTable, factor: float) -> CostItem:
    hours = table.hours_per_month
    if group.cloud == "aws":
        hourly = max(table.aws_instance(t, group.spot) for t in group.machine_types)
        disk = group.disk_gib * float(table.cloud("aws")["ebsGp3PerGiBMonth"])
    else:
        machine = group.machine_types[0]
        hourly = table.gcp_machine(machine, group.spot)
        if not _built_in_gpus(machine):  # built-in GPUs are in the machine's price already
            hourly += sum(table.gcp_accelerator(kind, group.spot) * count for kind, count in group.accelerators)
        rates = table.cloud("gcp")
        disk_rate = {"pd-standard": "pdStandardPerGiBMonth", "pd-ssd": "pdSsdPerGiBMonth"}.get(
            group.disk_kind, "pdBalancedPerGiBMonth"
        )
        disk = group.disk_gib * float(rates[disk_rate])
    per_node = (hourly * hours + disk) * factor
    kind = "spot" if group.spot else "on-demand"
    what = f"{group.min_nodes}..{group.max_nodes} x {'|'.join(group.machine_types)} ({kind})"
    return CostItem(group.urn, "node group", what, per_node * group.min_nodes, per_node * group.max_nodes)


def _fixed_items(resources: list[Resource], table: PriceTable, factor: float) -> list[CostItem]:
    hours = table.hours_per_month
    aws, gcp = table.cloud("aws"), table.cloud("gcp")
    items = []

    def fixed(r: Resource, what: str, monthly: float) -> None:
        items.append(CostItem(r.urn, r.type, what, monthly * factor, monthly * factor))

    for r in resources:
        if r.type == "aws:eks/cluster:Cluster":
            fixed(r, "EKS control plane", float(aws["eksControlPlane"]) * hours)
        elif r.type == "aws:ec2/natGateway:NatGateway" and get(r.props, "connectivityType", "public") != "private":
            fixed(r, "NAT gateway (hours; data processing not estimated)", float(aws["natGateway"]) * hours)
        elif r.type == "aws:ec2/eip:Eip":
            fixed(r, "public IPv4 address", float(aws["publicIpv4"]) * hours)
        elif r.type == "aws:ec2/vpcEndpoint:VpcEndpoint" and get(r.props, "vpcEndpointType") == "Interface":
            subnets = get(r.props, "subnetIds", [])
            zones = len(subnets) if isinstance(subnets, list) and subnets else 1
            fixed(r, f"interface endpoint in {zones} AZs", float(aws["interfaceEndpointPerAz"]) * hours * zones)
        elif r.type == "aws:kms/key:Key":
            fixed(r, "KMS key", float(aws["kmsKeyPerMonth"]))
        elif r.type == GKE_CLUSTER:
            fixed(r, "GKE cluster management fee", float(gcp["gkeControlPlane"]) * hours)
        elif r.type == "gcp:kms/cryptoKey:CryptoKey":
            fixed(r, "KMS key version", float(gcp["kmsKeyPerMonth"]))
    return items


# Ports one NAT IP address offers, and the ports Cloud NAT gives each VM unless minPortsPerVm says otherwise.
_NAT_PORTS_PER_IP = 64512
_NAT_DEFAULT_PORTS_PER_VM = 64


def cloud_nat_hourly(vms: int, ports_per_vm: int = _NAT_DEFAULT_PORTS_PER_VM, table: PriceTable | None = None) -> float:
    """A Cloud NAT gateway serving `vms` VMs: per VM up to the cap's VM count, then the flat cap, plus the IP
    addresses AUTO_ONLY allocation needs for those VMs' ports (at least one)."""
    rates = (table or price_table()).cloud("gcp")
    gateway = (
        float(rates["cloudNatGatewayCap"])
        if vms > int(rates["cloudNatCapVms"])
        else float(rates["cloudNatPerVm"]) * vms
    )
    addresses = max(1, -(-vms * ports_per_vm // _NAT_PORTS_PER_IP))
    return gateway + addresses * float(rates["cloudNatIp"])


def _cloud_nat_items(
    resources: list[Resource], groups: list[NodeGroupCapacity], table: PriceTable, factor: float
) -> list[CostItem]:
    """Cloud NAT bills by the VMs using it: every node of the team's pools (all in the NATed subnetwork)."""
    idle_vms = sum(g.min_nodes for g in groups if g.cloud == "gcp")
    full_vms = sum(g.max_nodes for g in groups if g.cloud == "gcp")
    hours = table.hours_per_month
    items = []
    for r in resources:
        if r.type != "gcp:compute/routerNat:RouterNat":
            continue
        ports = get(r.props, "minPortsPerVm", _NAT_DEFAULT_PORTS_PER_VM)
        ports = ports if isinstance(ports, int) and not isinstance(ports, bool) else _NAT_DEFAULT_PORTS_PER_VM
        items.append(
            CostItem(
                r.urn,
                r.type,
                f"Cloud NAT for {idle_vms}..{full_vms} VMs + its IP addresses (data processing not estimated)",
                cloud_nat_hourly(idle_vms, ports, table) * hours * factor,
                cloud_nat_hourly(full_vms, ports, table) * hours * factor,
            )
        )
    return items


def estimate(resources: list[Resource], region: str | None = None) -> Estimate:
    """The stack's monthly estimate; what cannot be priced is listed in `unpriced`, never guessed."""
    table = price_table()
    cloud, inferred = infer_cloud_region(resources)
    region = region or inferred
    result = Estimate(cloud=cloud, region=region, source=table.source)
    if cloud is None or region is None:
        if any(r.type in NODE_GROUP_TYPES for r in resources):
            result.unpriced.append(("", "the stack's cloud region cannot be read from its resources"))
        return result
    try:
        factor = table.region_factor(cloud, region)
    except PriceError as error:
        result.unpriced.append(("", str(error)))
        return result
    groups, unknown = node_groups(resources)
    result.unpriced.extend(unknown)
    for group in groups:
        try:
            result.items.append(_group_item(group, table, factor))
        except PriceError as error:
            result.unpriced.append((group.urn, str(error)))
    result.items.extend(_fixed_items(resources, table, factor))
    result.items.extend(_cloud_nat_items(resources, groups, table, factor))
    return result


# --- what one Dask cluster costs while it runs ------------------------------------------------------------------

def node_shape(cloud: Cloud, name: str) -> tuple[int, int]:
    """(vCPUs, memory MiB) of an instance or machine type, from the dated catalogues (teamstack/data/)."""
    from teamstack.validation import catalogue

    machine = catalogue.aws_instance(name) if cloud == "aws" else catalogue.gcp_machine(name)
    if machine is None:
        raise PriceError(f"{name!r} is not in the {cloud} catalogue (teamstack/data/)")
    return machine.vcpus, machine.memory_mib


def workers_per_node(
    cloud: Cloud, vcpus: int, memory_mib: int, worker_cpu: float, worker_memory_gib: float, gpus: int = 0,
    worker_gpus: int = 0,
) -> int:
    """How many workers of that size one node holds, by the kubelet's allocatable (`validation.limits`, the rule
    the scale check uses too); at least one: a worker bigger than a node never starts, which the cluster start
    reports, not this estimate."""
    from teamstack.validation import limits

    return max(
        1,
        limits.workers_per_node(
            cloud,
            vcpus,
            memory_mib,
            worker_cpu=worker_cpu,
            worker_memory_mib=worker_memory_gib * 1024,
            gpus=gpus,
            worker_gpus=worker_gpus,
        ),
    )


@dataclass(frozen=True)
class ClusterRate:
    """Estimated $/hour of a Dask cluster's worker nodes, now and at its adaptive maximum (list prices)."""

    usd_per_hour: float
    max_usd_per_hour: float
    workers: int
    max_workers: int
    workers_per_node: int
    node_type: str
    spot: bool

    def describe(self) -> str:
        kind = "spot" if self.spot else "on-demand"
        text = f"about ${self.usd_per_hour:,.2f}/hour for {self.workers} workers"
        if self.max_workers != self.workers:
            text += f", up to ${self.max_usd_per_hour:,.2f}/hour at {self.max_workers}"
        return f"{text} ({self.workers_per_node} a node on {self.node_type}, {kind}; list prices, not a quote)"


def _node_hourly(table: PriceTable, cloud: Cloud, node_type: str, spot: bool, gpu_type: str | None, gpus: int) -> float:
    if cloud == "aws":
        return table.aws_instance(node_type, spot)
    hourly = table.gcp_machine(node_type, spot)
    if gpu_type and not _built_in_gpus(node_type):
        hourly += table.gcp_accelerator(gpu_type, spot) * gpus
    return hourly


def kube_cluster_rate(
    manifest: TeamManifest,
    *,
    gpu: bool | str = False,
    spot: bool | None = None,
    n_workers: int = 0,
    adapt: tuple[int, int] | None = None,
    table: PriceTable | None = None,
) -> ClusterRate:
    """The $/hour of the worker nodes a `team.cluster()` of this shape keeps busy: the most expensive node group it
    may land on (of its kind, and capacity if `spot` is given), its workers packed by their requests. The
    scheduler's pod and idle node time are not counted. Raises PriceError when the team's types are not priced."""
    table = table or price_table()
    if manifest.dask is None:
        raise PriceError("the manifest has no dask section")
    kind = "gpu" if gpu else "cpu"
    groups = [g for g in manifest.node_groups if g.kind == kind]
    if isinstance(gpu, str):  # a GPU model (gpu="t4"): the groups of that model (schema-2 manifests name it)
        groups = [g for g in groups if gpu.strip().lower() in (g.gpu_type, g.gpu_accelerator)] or groups
    if spot is not None:
        groups = [g for g in groups if (g.capacity == "spot") == spot]
    if not groups:
        raise PriceError(f"team {manifest.team} has no matching {kind} node group")
    requests = (manifest.dask.gpu_worker_resources if gpu else manifest.dask.worker_resources).requests
    worker_cpu = float(quantity.parse(requests.get("cpu", "1")))
    worker_memory = float(quantity.parse(requests.get("memory", "1Gi"))) / 2**30
    worker_gpus = int(requests.get("nvidia.com/gpu", "0"))
    factor = table.region_factor(manifest.cloud, manifest.region)
    best: tuple[float, int, str, bool] | None = None
    for group in groups:
        for node_type in group.instance_types:
            vcpus, memory_mib = node_shape(manifest.cloud, node_type)
            accelerator = group.gpu_accelerator or group.labels.get("teamstack.io/gpu-type")
            gpu_type = accelerator if manifest.cloud == "gcp" else None
            hourly = _node_hourly(
                table, manifest.cloud, node_type, group.capacity == "spot", gpu_type, group.gpus_per_node
            )
            per_node = workers_per_node(
                manifest.cloud, vcpus, memory_mib, worker_cpu, worker_memory, group.gpus_per_node, worker_gpus
            )
            per_worker = hourly / per_node
            if best is None or per_worker > best[0] / best[1]:
                best = (hourly, per_node, node_type, group.capacity == "spot")
    assert best is not None
    hourly, per_node, node_type, is_spot = best
    high = adapt[1] if adapt is not None else n_workers
    low = max(n_workers, adapt[0]) if adapt is not None else n_workers

    def rate(workers: int) -> float:
        return round(-(-workers // per_node) * hourly * factor, 2)

    return ClusterRate(rate(low), rate(max(low, high)), low, max(low, high), per_node, node_type, is_spot)
