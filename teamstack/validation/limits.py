"""Capacity arithmetic: what a node can give pods, and how many nodes a GKE pod range can address.

Node allocatable (what the scheduler may place on a node) is its capacity minus the kubelet's reservations:
* CPU (GKE and the EKS AMIs alike): 6% of the first core, 1% of the second, 0.5% of the next two, 0.25% above;
* memory on GKE: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112, 2% above;
* memory on EKS (AL2023 AMIs): 255 MiB + 11 MiB per pod the node may run (110 at most, so counted as 110);
* both evict below 100 MiB free.
(cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes; the EKS AMI's bootstrap, kube-reserved.)
DaemonSets take a little more; a worker that does not fit the allocatable can never be scheduled.
"""

from __future__ import annotations

import ipaddress

EVICTION_MIB = 100
EKS_MAX_PODS = 110


def allocatable_cpu_millis(vcpus: int) -> int:
    steps = ((1, 60), (1, 10), (2, 5), (10**6, 2.5))  # (cores, reserved millicores per core)
    reserved, left = 0.0, float(vcpus)
    for cores, per_core in steps:
        taken = min(left, cores)
        reserved += taken * per_core
        left -= taken
    return int(vcpus * 1000 - reserved)


def allocatable_memory_mib(memory_mib: int, cloud: str) -> int:
    if cloud == "aws":
        reserved = 255.0 + 11 * EKS_MAX_PODS
    else:
        reserved, left = 0.0, float(memory_mib)
        for size_gib, share in ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (10**6, 0.02)):
            taken = min(left, size_gib * 1024)
            reserved += taken * share
            left -= taken
    return int(memory_mib - reserved - EVICTION_MIB)


def workers_per_node(
    cloud: str,
    vcpus: int,
    memory_mib: int,
    *,
    worker_cpu: float | None,
    worker_memory_mib: float | None,
    gpus: int = 0,
    worker_gpus: int = 0,
) -> int:
    """How many workers with these requests one node's allocatable holds (0: not even one). The one packing rule
    of the platform: the scale check and the cluster cost estimate read it, and validation's "a worker fits a node"
    uses the same allocatable. A worker that requests neither CPU nor memory is bounded by the pods a node may run."""
    fits = []
    if worker_cpu:
        fits.append(int(allocatable_cpu_millis(vcpus) // (worker_cpu * 1000)))
    if worker_memory_mib:
        fits.append(int(allocatable_memory_mib(memory_mib, cloud) // worker_memory_mib))
    if worker_gpus:
        fits.append(gpus // worker_gpus)
    return max(min(fits), 0) if fits else EKS_MAX_PODS


def pod_range_nodes(pod_range: ipaddress.IPv4Network, per_node_prefix: int) -> int:
    """Nodes a GKE pod range can address when each node takes a /per_node_prefix of it."""
    return 2 ** max(per_node_prefix - pod_range.prefixlen, 0) if pod_range.prefixlen <= per_node_prefix else 0
