"""A team's node pools: ONE cloud-neutral model, built once from the validated config.

Every consumer reads this model and nothing else: the EKS node groups (`components/aws/nodegroups.py`) and the
GKE node pools (`components/gcp/cluster.py`), the Kubernetes quota (the team's GPU share, `gpu_capacity`), the
team manifest (one entry per pool, with its GPU type and count), and, through `aws_node_type` /
`gcp_node_type`, the cost estimate and the policy caps, which see only provider inputs. The facts about a
machine come from the shipped catalogues (vCPUs, memory: `teamstack.validation.catalogue`, what EC2 and
Compute Engine report) and the GPU tables in `teamstack.instances` (EC2) and `teamstack.gcp_machines` (GCE);
nothing here guesses them from a name with a regex of its own.

Pure: no Pulumi, no cloud calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from teamstack import gcp_machines, instances
from teamstack.validation import catalogue

if TYPE_CHECKING:
    from teamstack.config import GcpNodeGroupConfig, NodeGroupConfig, SystemNodeGroupConfig, Team

Kind = Literal["system", "cpu", "gpu"]
Capacity = Literal["on-demand", "spot"]
Arch = Literal["x86_64", "arm64"]
Effect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

NODE_GROUP_LABEL = "teamstack.io/node-group"
NODE_KIND_LABEL = "teamstack.io/node-kind"
GKE_GPU_TYPE_LABEL = "teamstack.io/gpu-type"  # GKE pools only: the accelerator name (schema of deployed stacks)
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
SYSTEM_TAINT_KEY = "CriticalAddonsOnly"
SYSTEM_TAINT_VALUE = "true"

_PROVIDER_EFFECTS: Mapping[str, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}


@dataclass(frozen=True)
class Gpu:
    """The NVIDIA GPUs of one node: `type` is the short lowercase model a data scientist asks for ("t4", "a10g",
    "l4"); `accelerator` is GKE's accelerator name (None on EC2, where the instance type says it all)."""

    type: str
    count: int
    memory_gib: int
    accelerator: str | None = None


@dataclass(frozen=True)
class NodeType:
    """One machine type a pool may run: what a node of it has. `vcpus`/`memory_gib` are None where the tables
    do not know them (bare metal, shared-core or exotic families); nothing is guessed."""

    name: str
    arch: Arch
    vcpus: int | None
    memory_gib: float | None
    gpu: Gpu | None = None

    @property
    def gpus(self) -> int:
        return self.gpu.count if self.gpu else 0


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: Effect = "NoSchedule"

    @property
    def provider_effect(self) -> str:
        """The effect as the EKS and GKE APIs spell it (NO_SCHEDULE, ...)."""
        return _PROVIDER_EFFECTS[self.effect]

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value, "effect": self.effect}


GPU_TAINT = Taint(GPU_TAINT_KEY, GPU_TAINT_VALUE)
SYSTEM_TAINT = Taint(SYSTEM_TAINT_KEY, SYSTEM_TAINT_VALUE)


@dataclass(frozen=True)
class NodePool:
    """One node group (EKS) or node pool (GKE) of a team, as the platform builds it."""

    name: str
    kind: Kind
    types: tuple[NodeType, ...]  # EKS: the group's instance types; GKE: exactly one machine type
    capacity: Capacity
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    # GKE: the zones the pool may use; None: every zone of the cluster.
    zones: tuple[str, ...] | None = None

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    @property
    def spot(self) -> bool:
        return self.capacity == "spot"

    @property
    def arch(self) -> Arch:
        return self.types[0].arch

    @property
    def gpu(self) -> Gpu | None:
        """The GPUs of every node (a group's types all carry the same count, which the config enforces)."""
        return self.types[0].gpu if self.kind == "gpu" else None

    @property
    def gpu_type(self) -> str | None:
        return self.gpu.type if self.gpu else None

    @property
    def gpus_per_node(self) -> int:
        return self.gpu.count if self.gpu else 0

    @property
    def gpu_capacity(self) -> int:
        """GPUs the pool holds at its maximum size."""
        return self.max_size * self.gpus_per_node

    @property
    def vcpus_per_node(self) -> int | None:
        """The smallest node's vCPUs (what a pod can count on whichever type the cloud picks)."""
        known = [t.vcpus for t in self.types if t.vcpus is not None]
        return min(known) if len(known) == len(self.types) else None

    @property
    def memory_gib_per_node(self) -> float | None:
        known = [t.memory_gib for t in self.types if t.memory_gib is not None]
        return min(known) if len(known) == len(self.types) else None


def worker_pools(pools: Sequence[NodePool]) -> list[NodePool]:
    """The pools Dask workers run on (every pool but the system pool)."""
    return [p for p in pools if p.kind != "system"]


def gpu_capacity(pools: Sequence[NodePool]) -> int:
    """Every GPU the team's pools can hold at their maximum sizes."""
    return sum(p.gpu_capacity for p in pools)


def gpu_share(pools: Sequence[NodePool], configured: int | None) -> int:
    """The team namespace's GPU quota: what the pools can hold, or the configured number when it is lower (the
    config refuses a higher one, which no node could ever serve)."""
    capacity = gpu_capacity(pools)
    return capacity if configured is None else min(configured, capacity)


# --- machine facts ------------------------------------------------------------------------------------------


# vCPUs and memory of a type come from the shipped catalogues (teamstack/data/, what EC2 and Compute Engine
# report); a type the catalogue lacks keeps None, and the validation refuses it (teamstack.validation.team).
def _shape(machine: catalogue.Machine | None) -> tuple[int | None, float | None]:
    return (None, None) if machine is None else (machine.vcpus, machine.memory_mib / 1024)


def aws_node_type(name: str) -> NodeType:
    """An EC2 instance type's facts. Raises `instances.InstanceTypeError` for a malformed name."""
    parsed = instances.parse_instance_type(name)
    vcpus, memory = _shape(catalogue.aws_instance(name))
    gpu = Gpu(parsed.gpu.model.lower(), parsed.gpu.count, parsed.gpu.memory_gib) if parsed.gpu else None
    return NodeType(name, parsed.arch, vcpus, memory, gpu)


def gcp_node_type(machine_type: str, gpu_type: str | None = None, gpu_count: int | None = None) -> NodeType:
    """A GCE machine type's facts, with the GPUs it carries (built in, or `gpu_type` x `gpu_count` attached).
    Raises `gcp_machines.MachineTypeError` for a machine or accelerator that cannot be combined."""
    parsed = gcp_machines.parse_machine_type(machine_type)
    attached = None
    if gpu_type is not None or machine_type in gcp_machines.BUILT_IN_GPUS:
        attached = gcp_machines.check_gpu_pool(machine_type, gpu_type, gpu_count)
    vcpus, memory = _shape(catalogue.gcp_machine(machine_type))
    gpu = None
    if attached is not None:
        accelerator = attached.accelerator
        gpu = Gpu(accelerator.model.lower(), attached.count, accelerator.memory_gib, attached.type)
    return NodeType(machine_type, parsed.arch, vcpus if vcpus is not None else parsed.vcpus, memory, gpu)


# --- from the config ------------------------------------------------------------------------------------------


def _system_pool(types: tuple[NodeType, ...], system: SystemNodeGroupConfig, zones: tuple[str, ...] | None) -> NodePool:
    return NodePool(
        name="system",
        kind="system",
        types=types,
        capacity="on-demand",
        min_size=system.min_size,
        desired_size=system.desired,
        max_size=system.max_size,
        disk_size_gib=system.disk_size_gib,
        labels={NODE_GROUP_LABEL: "system", NODE_KIND_LABEL: "system"},
        # Only add-ons that tolerate this (CoreDNS, operators, the autoscaler) run on system nodes.
        taints=(SYSTEM_TAINT,),
        zones=zones,
    )


def _gcp_group_types(group: GcpNodeGroupConfig) -> tuple[NodeType, ...]:
    if group.kind == "gpu":
        return (gcp_node_type(group.machine_type, group.gpu_type, group.gpu_count),)
    return (gcp_node_type(group.machine_type),)


def node_pool(cloud: str, group: NodeGroupConfig, types: tuple[NodeType, ...]) -> NodePool:
    labels = {**group.labels, NODE_GROUP_LABEL: group.name, NODE_KIND_LABEL: group.kind}
    gpu = types[0].gpu if group.kind == "gpu" else None
    if cloud == "gcp" and gpu is not None and gpu.accelerator:
        labels[GKE_GPU_TYPE_LABEL] = gpu.accelerator
    return NodePool(
        name=group.name,
        kind=group.kind,
        types=types,
        capacity=group.capacity,
        min_size=group.min_size,
        desired_size=group.desired,
        max_size=group.max_size,
        disk_size_gib=group.disk_size_gib,
        labels=labels,
        taints=(GPU_TAINT,) if group.kind == "gpu" else (),
    )


def node_pools(team: Team) -> tuple[NodePool, ...]:
    """The system pool first, then the configured pools in their order (config already validated)."""
    if team.cloud == "aws":
        system = _system_pool(
            tuple(aws_node_type(n) for n in team.system_node_group.instance_types), team.system_node_group, None
        )
        return (
            system,
            *(node_pool("aws", g, tuple(aws_node_type(n) for n in g.instance_types)) for g in team.node_groups),
        )
    # GKE: as many zones as the system pool has nodes at its minimum (a regional pool starts with a node in every
    # zone it spans): one zone for the single default node, two or more for highAvailability.
    zones = team.gcp_zones[: max(1, team.system_node_group.min_size)]
    system = _system_pool((gcp_node_type(team.system_machine_type),), team.system_node_group, zones)
    return (system, *(node_pool("gcp", g, _gcp_group_types(g)) for g in team.node_groups))
