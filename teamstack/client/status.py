"""`teamstack status <team>` / `team.status()`: who runs which Dask clusters, and what of the team's caps is used.

Kubernetes (with the same in-process auth as clusters): the namespace's DaskCluster objects (owner from the
`teamstack.io/owner` label the client sets, age from `creationTimestamp`), their pods (`dask.org/cluster-name`,
`dask.org/component`; GPUs from the containers' `nvidia.com/gpu` requests/limits) and the nodes (pool from the
EKS `eks.amazonaws.com/nodegroup` / GKE `cloud.google.com/gke-nodepool` label, type from
`node.kubernetes.io/instance-type`), compared with the manifest's node groups (max size, GPUs per node).
EC2 VMs started by the client are found by their tags (`team`, `teamstack.io/launched-by`, dask-cloudprovider's
`Dask Cluster`). A cluster's $/hour is its pods' share of their nodes' list price (the larger of its CPU and
GPU share of the node), or its VMs' prices, from teamstack/data/prices.yaml: an estimate.

Idle time needs the scheduler itself (private, per cluster), which neither the API server nor EC2 tags know:
it is shown as unknown rather than guessed. The pure `summarize_*` functions take the API answers as data.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from teamstack.client.errors import ClusterError
from teamstack.manifest import TeamManifest

OWNER_LABEL = "teamstack.io/owner"
TEAM_LABEL = "teamstack.io/team"
LAUNCHED_BY_TAG = "teamstack.io/launched-by"
CLUSTER_LABEL = "dask.org/cluster-name"
COMPONENT_LABEL = "dask.org/component"
POOL_LABELS = ("eks.amazonaws.com/nodegroup", "cloud.google.com/gke-nodepool")
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
SPOT_LABELS = {"eks.amazonaws.com/capacityType": "SPOT", "cloud.google.com/gke-spot": "true"}
GPU = "nvidia.com/gpu"


def owner_label(user: str) -> str:
    """A Kubernetes label value for a user name (63 characters of [A-Za-z0-9._-], alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", user)[:63].strip("-._")
    return value or "unknown"


@dataclass(frozen=True)
class ClusterStatus:
    name: str
    backend: str  # kubernetes or ec2
    owner: str
    age_seconds: int
    workers: int
    gpus: int
    dollars_per_hour: float | None
    idle_seconds: int | None = None  # not known without contacting the scheduler


@dataclass(frozen=True)
class PoolStatus:
    name: str
    kind: str
    nodes: int
    max_nodes: int
    gpus_in_use: int
    gpu_cap: int


@dataclass
class TeamStatus:
    team: str
    clusters: list[ClusterStatus] = field(default_factory=list)
    pools: list[PoolStatus] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def gpus_in_use(self) -> int:
        return sum(p.gpus_in_use for p in self.pools) + sum(c.gpus for c in self.clusters if c.backend == "ec2")

    @property
    def gpu_cap(self) -> int:
        return sum(p.gpu_cap for p in self.pools)

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "clusters": [asdict(c) for c in self.clusters],
            "pools": [asdict(p) for p in self.pools],
            "gpusInUse": self.gpus_in_use,
            "gpuCap": self.gpu_cap,
            "notes": list(self.notes),
        }


def _quantity(text: Any) -> Decimal:
    from teamstack.quantity import parse

    try:
        return parse(str(text))
    except ValueError:
        return Decimal(0)


def _timestamp(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def _pod_requests(pod: dict[str, Any]) -> tuple[Decimal, int]:
    """(CPU, GPUs) a pod asks for: requests, else limits (GPUs are requested through limits)."""
    cpu, gpus = Decimal(0), 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        cpu += _quantity(requests.get("cpu", limits.get("cpu", 0)))
        gpus += int(_quantity(requests.get(GPU, limits.get(GPU, 0))))
    return cpu, gpus


def _node_price(manifest: TeamManifest, node: dict[str, Any]) -> float | None:
    from teamstack.cost import PriceError, price_table

    labels = (node.get("metadata") or {}).get("labels") or {}
    instance_type = labels.get(INSTANCE_TYPE_LABEL)
    if not instance_type:
        return None
    spot = any(labels.get(key) == value for key, value in SPOT_LABELS.items())
    table = price_table()
    try:
        base = (
            table.aws_instance(instance_type, spot)
            if manifest.cloud == "aws"
            else table.gcp_machine(instance_type, spot)
        )
        return base * table.region_factor(manifest.cloud, manifest.region)
    except (PriceError, KeyError):
        return None


def summarize_kubernetes(
    manifest: TeamManifest,
    daskclusters: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    nodes: list[dict[str, Any]] | None,
    now: datetime,
) -> TeamStatus:
    """The team's Dask clusters and pools from the API server's list answers (`nodes` None: not visible)."""
    status = TeamStatus(manifest.team)
    by_node = {str((n.get("metadata") or {}).get("name")): n for n in nodes or []}
    live = [p for p in pods if (p.get("status") or {}).get("phase") in ("Pending", "Running")]
    for cluster in sorted(daskclusters, key=lambda c: str(c["metadata"].get("creationTimestamp", ""))):
        meta = cluster["metadata"]
        name = str(meta["name"])
        created = _timestamp(meta.get("creationTimestamp")) or now
        mine = [p for p in live if ((p.get("metadata") or {}).get("labels") or {}).get(CLUSTER_LABEL) == name]
        workers = sum(1 for p in mine if p["metadata"]["labels"].get(COMPONENT_LABEL) == "worker")
        gpus = sum(_pod_requests(p)[1] for p in mine)
        cost: float | None = 0.0 if nodes is not None else None
        for pod in mine:
            node = by_node.get(str((pod.get("spec") or {}).get("nodeName")))
            if node is None or cost is None:
                continue  # pending: not billed to this cluster yet
            price = _node_price(manifest, node)
            if price is None:
                cost = None
                continue
            allocatable = (node.get("status") or {}).get("allocatable") or {}
            cpu, pod_gpus = _pod_requests(pod)
            node_cpu, node_gpus = _quantity(allocatable.get("cpu", 0)), int(_quantity(allocatable.get(GPU, 0)))
            share = max(
                float(cpu / node_cpu) if node_cpu else 0.0,
                pod_gpus / node_gpus if node_gpus else 0.0,
            )
            cost += min(share, 1.0) * price
        status.clusters.append(
            ClusterStatus(
                name=name,
                backend="kubernetes",
                owner=str((meta.get("labels") or {}).get(OWNER_LABEL, "?")),
                age_seconds=int((now - created).total_seconds()),
                workers=workers,
                gpus=gpus,
                dollars_per_hour=round(cost, 3) if cost is not None else None,
            )
        )
    if nodes is None:
        status.notes.append("nodes are not visible to your identity (RBAC): pools show caps only")
    gpus_by_pool: dict[str, int] = {}
    for pod in live:
        node = by_node.get(str((pod.get("spec") or {}).get("nodeName")))
        if node is not None:
            pool = _pool_of(node)
            gpus_by_pool[pool] = gpus_by_pool.get(pool, 0) + _pod_requests(pod)[1]
    for group in manifest.node_groups:
        in_pool = [n for n in nodes or [] if _pool_of(n) == group.node_group_name]
        status.pools.append(
            PoolStatus(
                name=group.name,
                kind=group.kind,
                nodes=len(in_pool),
                max_nodes=group.max_size,
                gpus_in_use=gpus_by_pool.get(group.node_group_name, 0),
                gpu_cap=group.max_size * group.gpus_per_node,
            )
        )
    return status


def _pool_of(node: dict[str, Any]) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return next((str(labels[key]) for key in POOL_LABELS if key in labels), "")


def summarize_ec2(manifest: TeamManifest, reservations: list[dict[str, Any]], now: datetime) -> list[ClusterStatus]:
    """Dask VM clusters from EC2 DescribeInstances reservations (instances tagged by the client)."""
    from teamstack.cost import PriceError, price_table
    from teamstack.instances import parse_instance_type

    clusters: dict[str, list[dict[str, Any]]] = {}
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            uuid = tags.get("Dask Cluster") or tags.get("Name", instance["InstanceId"])
            clusters.setdefault(uuid, []).append({**instance, "_tags": tags})
    result = []
    table = price_table()
    for uuid, instances in sorted(clusters.items()):
        started = min(i["LaunchTime"] for i in instances)
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        cost: float | None = 0.0
        gpus = 0
        for instance in instances:
            spot = instance.get("InstanceLifecycle") == "spot"
            try:
                price = table.aws_instance(instance["InstanceType"], spot) * table.region_factor("aws", manifest.region)
            except (PriceError, KeyError):
                price = None
            cost = None if cost is None or price is None else cost + price
            try:
                shape = parse_instance_type(instance["InstanceType"])
            except ValueError:
                continue
            gpus += shape.gpu.count if shape.gpu else 0
        workers = sum(1 for i in instances if "-worker-" in i["_tags"].get("Name", ""))
        result.append(
            ClusterStatus(
                name=f"dask-{uuid}" if not uuid.startswith("dask-") else uuid,
                backend="ec2",
                owner=instances[0]["_tags"].get(OWNER_LABEL, "?"),
                age_seconds=int((now - started).total_seconds()),
                workers=workers,
                gpus=gpus,
                dollars_per_hour=round(cost, 3) if cost is not None else None,
            )
        )
    return result


# --- asking the cloud --------------------------------------------------------------------------------------


async def _kubernetes_lists(manifest: TeamManifest) -> tuple[list[Any], list[Any], list[Any] | None]:
    from teamstack.client import k8s_auth

    source = k8s_auth.token_source(manifest)
    api = await k8s_auth.team_api(manifest, source)
    namespace = manifest.cluster.namespace

    async def items(version: str, url: str, namespaced: bool = True, **params: str) -> list[Any]:
        async with api.call_api(
            "GET", version=version, url=url, namespace=namespace if namespaced else None, params=params
        ) as response:
            return list(response.json().get("items", []))

    clusters = await items("kubernetes.dask.org/v1", "daskclusters")
    pods = await items("v1", "pods", labelSelector=CLUSTER_LABEL)
    try:
        nodes: list[Any] | None = await items("v1", "nodes", namespaced=False)
    except Exception as error:
        if getattr(error, "response", None) is not None and error.response.status_code == 403:  # type: ignore[attr-defined]
            nodes = None
        else:
            raise
    return clusters, pods, nodes


def team_status(manifest: TeamManifest, ec2_client: Any = None, now: datetime | None = None) -> TeamStatus:
    """Ask the team's Kubernetes API (if the stack has its layer) and EC2 (AWS) and summarize."""
    import asyncio

    from teamstack.client.k8s_errors import describe_failure

    now = now or datetime.now(UTC)
    if manifest.dask is not None:
        try:
            # A private loop: asyncio.run would leave the calling thread without a current event loop.
            loop = asyncio.new_event_loop()
            try:
                clusters, pods, nodes = loop.run_until_complete(_kubernetes_lists(manifest))
            finally:
                loop.close()
        except ClusterError:
            raise
        except Exception as error:
            raise ClusterError(describe_failure(error, manifest, "(status)")) from None
        status = summarize_kubernetes(manifest, clusters, pods, nodes, now)
    else:
        status = summarize_kubernetes(manifest, [], [], [], now)
        status.notes.append("the stack has no Kubernetes layer yet")
    if manifest.cloud == "aws" and ec2_client is not None:
        from botocore.exceptions import BotoCoreError, ClientError

        filters = [
            {"Name": "tag:team", "Values": [manifest.team]},
            {"Name": f"tag:{LAUNCHED_BY_TAG}", "Values": ["teamstack-client"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
        try:
            pages = ec2_client.get_paginator("describe_instances").paginate(Filters=filters)
            reservations = [r for page in pages for r in page.get("Reservations", [])]
        except (BotoCoreError, ClientError) as error:
            from teamstack.client.storage import aws_storage_error

            status.notes.append(f"EC2 VMs not listed: {str(aws_storage_error(error, 'EC2')).split(': ', 1)[-1]}")
        else:
            status.clusters.extend(summarize_ec2(manifest, reservations, now))
    return status


def format_age(seconds: int | None) -> str:
    if seconds is None:
        return "?"
    delta = timedelta(seconds=max(seconds, 0))
    hours, rest = divmod(int(delta.total_seconds()), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m"
