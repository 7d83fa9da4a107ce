"""What one Dask cluster costs an hour (teamstack.cost.kube_cluster_rate), from a shipped stack's manifest."""

from __future__ import annotations

import pytest

from teamstack import cost
from teamstack.manifest import TeamManifest
from teamstack.plan.runner import Plan

TABLE = cost.price_table()


def _manifest(plan: Plan) -> TeamManifest:
    return TeamManifest.model_validate(plan.outputs["manifest"])


def test_workers_are_packed_by_cpu_memory_and_gpus() -> None:
    # 16 vCPU / 64 GiB on EKS: 15.89 allocatable vCPUs hold 3 workers of 4 CPUs (62.5 GiB would hold 4 of 15 GiB).
    assert cost.workers_per_node("aws", 16, 64 * 1024, 4, 15) == 3
    assert cost.workers_per_node("aws", 48, 192 * 1024, 3, 12, gpus=4, worker_gpus=1) == 4  # the GPUs bind first
    assert cost.workers_per_node("aws", 4, 16 * 1024, 8, 32) == 1  # never zero
    # GKE reserves more memory of a 16 GiB node than EKS does: 13.4 GiB allocatable against 14.5 GiB, so one
    # worker of 6.8 GiB on GKE and two on EKS.
    assert cost.workers_per_node("gcp", 4, 16 * 1024, 1, 6.8) == 1
    assert cost.workers_per_node("aws", 4, 16 * 1024, 1, 6.8) == 2


@pytest.mark.parametrize("stack", ["ml-vision"])
def test_the_estimate_and_the_scale_check_pack_workers_alike(plan: Plan) -> None:
    """One packing rule: the $/hour estimate and the scale check agree on workers per node for every group."""
    from decimal import Decimal

    from teamstack import quantity
    from teamstack.client import scaling

    manifest = _manifest(plan)
    assert manifest.dask is not None
    for gpu in (False, True):
        requests = (manifest.dask.gpu_worker_resources if gpu else manifest.dask.worker_resources).requests
        parsed = {k: Decimal(quantity.parse(v)) for k, v in requests.items()}
        worker = scaling.Worker(
            replicas=1, requests=parsed, limits=parsed, node_selector={}, affinity={}, priority_class=None
        )
        for group in (g for g in manifest.node_groups if g.kind == ("gpu" if gpu else "cpu")):
            for node_type in group.instance_types:
                vcpus, memory_mib = cost.node_shape("aws", node_type)
                estimate = cost.workers_per_node(
                    "aws", vcpus, memory_mib, float(quantity.parse(requests["cpu"])),
                    float(quantity.parse(requests["memory"])) / 2**30, group.gpus_per_node,
                    int(requests.get("nvidia.com/gpu", "0")),
                )  # fmt: skip
                single = group.model_copy(update={"instance_types": [node_type]})
                assert scaling.workers_per_node(manifest, single, worker) == estimate, (group.name, node_type)


@pytest.mark.parametrize("stack", ["ml-vision"])
def test_a_gpu_cluster_is_priced_on_its_dearest_gpu_group(plan: Plan) -> None:
    manifest = _manifest(plan)
    rate = cost.kube_cluster_rate(manifest, gpu=True, n_workers=8)
    # g5.12xlarge (4 A10G, on demand) costs most a worker: 8 one-GPU workers take two of them (us-west-2 = base).
    assert (rate.node_type, rate.workers_per_node, rate.spot) == ("g5.12xlarge", 4, False)
    assert rate.usd_per_hour == round(2 * TABLE.aws_instance("g5.12xlarge", spot=False), 2)
    spot = cost.kube_cluster_rate(manifest, gpu=True, spot=True, n_workers=8)
    assert spot.spot and spot.node_type.startswith("g4dn") and spot.usd_per_hour < rate.usd_per_hour


@pytest.mark.parametrize("stack", ["ml-vision", "ml-geo"])
def test_adaptive_clusters_report_now_and_at_their_maximum(plan: Plan) -> None:
    manifest = _manifest(plan)
    rate = cost.kube_cluster_rate(manifest, adapt=(1, 20))
    assert rate.workers == 1 and rate.max_workers == 20
    assert 0 < rate.usd_per_hour < rate.max_usd_per_hour
    assert cost.kube_cluster_rate(manifest).usd_per_hour == 0  # no workers, no worker nodes
    assert "/hour" in rate.describe() and rate.node_type in rate.describe()


@pytest.mark.parametrize("stack", ["ml-geo"])
def test_gcp_gpus_attached_to_n1_are_added_and_built_in_ones_are_not(plan: Plan) -> None:
    manifest = _manifest(plan)
    (t4,) = [g for g in manifest.node_groups if g.name == "gpu-t4"]
    rate = cost.kube_cluster_rate(manifest, gpu=True, spot=True, n_workers=1)
    assert rate.node_type == t4.instance_types[0] == "n1-standard-8"
    factor = TABLE.region_factor("gcp", manifest.region)
    t4_hourly = TABLE.gcp_machine("n1-standard-8", True) + TABLE.gcp_accelerator("nvidia-tesla-t4", True)
    assert rate.usd_per_hour == pytest.approx(round(t4_hourly * factor, 2))


@pytest.mark.parametrize("stack", ["ml-geo"])
def test_a_cluster_on_an_unpriced_machine_type_says_which_type(plan: Plan) -> None:
    # A team's CPU pool on a type the catalogue knows but the price table does not (C4D): one clear line.
    manifest = _manifest(plan)
    groups = [
        group.model_copy(update={"instance_types": ["c4d-standard-16"]}) if group.kind == "cpu" else group
        for group in manifest.node_groups
    ]
    with pytest.raises(cost.PriceError, match=r"^no price for GCE machine type 'c4d-standard-16' in teamstack/data"):
        cost.kube_cluster_rate(manifest.model_copy(update={"node_groups": groups}), n_workers=4)
