"""How many workers a running Dask cluster on Kubernetes may ask for, checked before the request is sent.

Pure functions over what the client already has: the team manifest (node groups, their types and maxSize) and
the API server's answers about the cluster (its DaskWorkerGroup: replicas, the worker's resources, node
selector and affinity) and the namespace's ResourceQuotas (`hard` and `used`). A request the team's node
groups can never hold, or that the quota refuses now, is one line naming the limit and where it comes from;
the cluster is left as it was.

Workers per node use the kubelet's allocatable (teamstack/validation/limits.py), the worker's requests and the
node group's GPUs per node; groups whose type is not in the catalogues are not counted against a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from teamstack import quantity
from teamstack.manifest import NodeGroup, TeamManifest
from teamstack.pools import NODE_GROUP_LABEL

GPU = "nvidia.com/gpu"
EKS_CAPACITY_LABEL = "eks.amazonaws.com/capacityType"
GKE_SPOT_LABEL = "cloud.google.com/gke-spot"
# What one worker pod adds to each quota'd resource (ResourceQuota names; bare cpu/memory mean requests).
_QUOTA_KEYS = {
    "requests.cpu": ("requests", "cpu"),
    "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
    f"requests.{GPU}": ("requests", GPU),
}


@dataclass(frozen=True)
class Worker:
    """One worker of a running cluster, as its DaskWorkerGroup describes it."""

    replicas: int
    requests: Mapping[str, Decimal]  # Kubernetes defaults requests to limits where only limits are set
    limits: Mapping[str, Decimal]
    node_selector: Mapping[str, str]
    affinity: Mapping[str, Any]
    priority_class: str | None

    @property
    def gpus(self) -> int:
        return int(self.requests.get(GPU, Decimal(0)))

    def describe(self) -> str:
        cpu = self.requests.get("cpu")
        memory = self.requests.get("memory")
        parts = [
            f"{quantity.cpu(cpu)} CPU" if cpu else None,
            quantity.memory(memory) if memory else None,
            f"{self.gpus} GPU" if self.gpus else None,
        ]
        return "/".join(p for p in parts if p) or "no requests"


def _quantities(values: Mapping[str, Any] | None) -> dict[str, Decimal]:
    parsed = {}
    for name, text in (values or {}).items():
        try:
            parsed[str(name)] = quantity.parse(str(text))
        except ValueError:
            continue
    return parsed


def worker_of(worker_group: Mapping[str, Any]) -> Worker:
    """The worker a DaskWorkerGroup runs (its first container's resources; the pod's selector and affinity)."""
    spec = worker_group.get("spec") or {}
    worker = spec.get("worker") or {}
    pod = worker.get("spec") or {}
    containers = pod.get("containers") or [{}]
    resources = containers[0].get("resources") or {}
    limits = _quantities(resources.get("limits"))
    requests = {**limits, **_quantities(resources.get("requests"))}
    return Worker(
        replicas=int(worker.get("replicas") or 0),
        requests=requests,
        limits=limits,
        node_selector=dict(pod.get("nodeSelector") or {}),
        affinity=dict(pod.get("affinity") or {}),
        priority_class=pod.get("priorityClassName"),
    )


def _required_expressions(affinity: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    required = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    return [e for term in terms[:1] for e in term.get("matchExpressions") or []]


def eligible_groups(manifest: TeamManifest, worker: Worker) -> list[NodeGroup]:
    """The team's node groups the worker's pods may land on: GPU groups for GPU workers, else CPU groups,
    narrowed by the node-group affinity and the spot/on-demand selector the client put on the pods."""
    kind = "gpu" if worker.gpus else "cpu"
    groups = [g for g in manifest.node_groups if g.kind == kind]
    for expression in _required_expressions(worker.affinity):
        key, operator = expression.get("key"), expression.get("operator")
        if key == NODE_GROUP_LABEL and operator == "In":
            groups = [g for g in groups if g.name in (expression.get("values") or [])]
        if key == GKE_SPOT_LABEL and operator == "DoesNotExist":
            groups = [g for g in groups if g.capacity == "on-demand"]
    capacity = worker.node_selector.get(EKS_CAPACITY_LABEL)
    if capacity is not None:
        groups = [g for g in groups if g.capacity == ("spot" if capacity == "SPOT" else "on-demand")]
    if worker.node_selector.get(GKE_SPOT_LABEL) == "true":
        groups = [g for g in groups if g.capacity == "spot"]
    return groups


def workers_per_node(manifest: TeamManifest, group: NodeGroup, worker: Worker) -> int | None:
    """How many such workers one node of the group holds (the largest of its types), None if no type is known."""
    from teamstack.validation import catalogue, limits

    best: int | None = None
    for name in group.instance_types:
        machine = catalogue.aws_instance(name) if manifest.cloud == "aws" else catalogue.gcp_machine(name)
        if machine is None:
            continue
        cpu, memory = worker.requests.get("cpu"), worker.requests.get("memory")
        per_node = limits.workers_per_node(
            manifest.cloud,
            machine.vcpus,
            machine.memory_mib,
            worker_cpu=float(cpu) if cpu else None,
            worker_memory_mib=float(memory) / 2**20 if memory else None,
            gpus=group.gpus_per_node,
            worker_gpus=worker.gpus,
        )
        best = per_node if best is None else max(best, per_node)
    return best


def pool_refusal(manifest: TeamManifest, cluster: str, worker: Worker, wanted: int, action: str) -> str | None:
    """Why the team's node groups at their maxSize can never hold `wanted` such workers (else None)."""
    groups = eligible_groups(manifest, worker)
    sizes = [(g, workers_per_node(manifest, g, worker)) for g in groups]
    if not groups or any(per_node is None for _, per_node in sizes):
        return None  # a type the catalogues do not know: the API server and autoscaler decide
    most = sum(g.max_size * (per_node or 0) for g, per_node in sizes)
    if wanted <= most:
        return None
    kind = "GPU" if worker.gpus else "CPU"
    shown = ", ".join(
        f"{g.name}: {g.max_size} x {'/'.join(g.instance_types)} with {per_node} per node" for g, per_node in sizes
    )
    return (
        f"cannot {action}: team {manifest.team}'s {kind} node groups hold at most {most} workers of "
        f"{worker.describe()} at their maxSize ({shown}); maxSize is set in the team's stack file "
        f"(teamstack:nodeGroups): ask for at most {most}, smaller workers, or ask IT to raise maxSize"
    )


def _applies(quota: Mapping[str, Any], worker: Worker) -> bool:
    """Whether a ResourceQuota counts the worker's pods: unscoped, or scoped to its priority class."""
    spec = quota.get("spec") or {}
    if spec.get("scopes"):
        return False  # Terminating/BestEffort/...: not what Dask workers are
    for expression in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        if expression.get("scopeName") != "PriorityClass":
            return False
        values = expression.get("values") or []
        operator = expression.get("operator")
        inside = worker.priority_class in values
        if (operator == "In" and not inside) or (operator == "NotIn" and inside):
            return False
        if operator == "Exists" and worker.priority_class is None:
            return False
        if operator == "DoesNotExist" and worker.priority_class is not None:
            return False
    return True


def _per_worker(worker: Worker, resource: str) -> Decimal:
    if resource in ("pods", "count/pods"):
        return Decimal(1)
    where = _QUOTA_KEYS.get(resource)
    if where is None:
        return Decimal(0)
    values = worker.requests if where[0] == "requests" else worker.limits
    return values.get(where[1], Decimal(0))


def _shown(resource: str, value: Decimal) -> str:
    if resource.endswith("memory"):
        return quantity.memory(value)
    if resource.endswith("cpu"):
        return quantity.cpu(value)
    return str(int(value)) if value == value.to_integral_value() else str(value)


def quota_refusal(
    manifest: TeamManifest,
    worker: Worker,
    quotas: Iterable[Mapping[str, Any]],
    wanted: int,
    action: str,
    *,
    free: bool = True,
) -> str | None:
    """Why the namespace's ResourceQuotas refuse `wanted` workers (else None). `free`: against what is left now
    (the quota's `used` includes this cluster's current workers); otherwise against the quota itself (the most
    this cluster could ever have, e.g. an adaptive maximum)."""
    for quota in quotas:
        if not _applies(quota, worker):
            continue
        status = quota.get("status") or {}
        hard = _quantities(status.get("hard") or (quota.get("spec") or {}).get("hard"))
        used = _quantities(status.get("used")) if free else {}
        current = worker.replicas if free else 0
        for resource, limit in sorted(hard.items()):
            each = _per_worker(worker, resource)
            if not each or wanted <= current:
                continue
            in_use = used.get(resource, Decimal(0))
            asked = (wanted - current) * each
            if in_use + asked <= limit:
                continue
            most = current + max(int((limit - in_use) / each), 0)
            name = (quota.get("metadata") or {}).get("name", "?")
            now = f", {_shown(resource, in_use)} in use" if free else ""
            return (
                f"cannot {action}: ResourceQuota {name} of namespace {manifest.cluster.namespace} allows "
                f"{resource} {_shown(resource, limit)}{now}, and {wanted - current} more workers of "
                f"{_shown(resource, each)} each need {_shown(resource, asked)}: at most {most} workers fit"
                f"{' now' if free else ''}; close or scale down another cluster (`teamstack status {manifest.team}`) "
                "or ask IT to raise the team's kubernetes.quota (its stack file)"
            )
    return None
