"""Scaling a running Dask cluster: each refusal is one ClusterError line, with the API's error as its cause.

The cluster is the one `kube_cluster` returns, really started: the Kubernetes API stand-in
(tests/k8s_standin.py) acts as the Dask operator (a DaskWorkerGroup, a ready scheduler pod, a Service whose
ingress is a real local Dask scheduler), so `scale` and `adapt` run dask-kubernetes' and kr8s' own requests
against documented `Status` answers. Requests the team's node groups or quota cannot hold are refused before
anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from k8s_standin import KubeStandin, rbac_forbidden, status
from kube_fixtures import *  # noqa: F403  (the Kubernetes stand-in fixtures)

from teamstack.client import ClusterError
from teamstack.client.clusters import kube_cluster
from teamstack.client.scaling import pool_refusal, quota_refusal, worker_of
from teamstack.manifest import TeamManifest

GROUPS = r"/apis/kubernetes\.dask\.org/v1/namespaces/[^/]+/daskworkergroups/[^/]+"


@pytest.fixture
def scheduler() -> Iterator[tuple[str, int]]:
    """A real Dask scheduler on 127.0.0.1 (its own loop thread): what the operator's scheduler Service leads
    to. One per test: a cluster manager leaves its name in the scheduler's metadata for the next to adopt."""
    import asyncio
    import threading

    from distributed import Scheduler

    started: dict[str, Any] = {}
    ready = threading.Event()

    async def serve() -> None:
        stop = asyncio.Event()
        async with Scheduler(host="127.0.0.1", port=0, protocol="tcp", dashboard=False) as running:
            started.update(address=running.address, stop=stop, loop=asyncio.get_running_loop())
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    host, port = str(started["address"]).removeprefix("tcp://").rsplit(":", 1)
    yield host, int(port)
    started["loop"].call_soon_threadsafe(started["stop"].set)
    thread.join(30)


@pytest.fixture
def running(manifest: TeamManifest, kube: KubeStandin, scheduler: tuple[str, int]) -> Iterator[Any]:
    """A started team cluster (CPU workers), closed after the test."""
    kube.state.operator = scheduler
    cluster = kube_cluster(manifest, resource_timeout=10, n_workers=1)
    kube.state.requests.clear()
    yield cluster
    cluster.close(timeout=5)


def _group(kube: KubeStandin) -> dict[str, Any]:
    return kube.state.owned[("daskworkergroups", "dask-default")]


def test_a_scale_the_team_allows_reaches_the_worker_group(running: Any, kube: KubeStandin) -> None:
    running.scale(3)
    assert _group(kube)["spec"]["worker"]["replicas"] == 3
    running.adapt(minimum=1, maximum=5)
    assert kube.state.owned[("daskautoscalers", "dask")]["spec"] == {"cluster": "dask", "minimum": 1, "maximum": 5}


def test_rbac_refusal_names_the_verb_and_keeps_the_cause(
    running: Any, kube: KubeStandin, manifest: TeamManifest
) -> None:
    user = "arn:aws:sts::111122223333:assumed-role/ml-vision-data-scientist/ana"
    namespace = manifest.cluster.namespace
    kube.state.scripted[("PATCH", GROUPS)] = (
        403,
        rbac_forbidden(user, "patch", "daskworkergroups", "kubernetes.dask.org", namespace),
    )
    with pytest.raises(ClusterError) as caught:
        running.scale(2)
    assert str(caught.value) == (
        f"cannot scale Dask cluster dask to 2 workers: forbidden by RBAC on cluster {manifest.cluster.name}: {user} "
        f"may not patch daskworkergroups.kubernetes.dask.org in namespace {namespace}: use the team's "
        "data-scientist identity, or ask IT to grant it (team ml-vision's dataScientistPrincipals)"
    )
    cause = caught.value.__cause__
    assert cause is not None and type(cause).__name__ == "ServerError"
    assert cause.response.status_code == 403  # type: ignore[attr-defined]
    assert _group(kube)["spec"]["worker"]["replicas"] == 1


def test_a_reaped_cluster_says_so_for_scale_and_adapt(running: Any, kube: KubeStandin) -> None:
    """The reaper (or the idle timeout) deleted the DaskCluster meanwhile: the operator's objects go with it."""
    kube.state.daskclusters.pop("dask")
    kube.state.owned.clear()
    for change in (lambda: running.scale(4), lambda: running.adapt(minimum=0, maximum=4)):
        with pytest.raises(ClusterError) as caught:
            change()
        message = str(caught.value)
        assert " it no longer exists in namespace " in message and "shut down after 30 minutes idle" in message
        assert "start a new one with team.cluster()" in message
        assert type(caught.value.__cause__).__name__ == "NotFoundError"
    assert kube.state.bodies("POST", "daskautoscalers") == []  # no autoscaler for a cluster that is gone
    kube.state.daskclusters["dask"] = {"metadata": {"name": "dask", "namespace": running.namespace}}  # for close()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            status(409, "Conflict", 'Operation cannot be fulfilled on daskworkergroups.kubernetes.dask.org '
                   '"dask-default": the object has been modified; please apply your changes to the latest version'),
            "cannot scale Dask cluster dask to 2 workers: its worker group was changed by another request at the "
            "same time (409 Conflict): try again",
        ),
        (
            status(422, "Invalid", 'DaskWorkerGroup.kubernetes.dask.org "dask-default" is invalid: '
                   "spec.worker.replicas: Invalid value: 2: must be less than or equal to 1"),
            "cannot scale Dask cluster dask to 2 workers: the API server refused the change as invalid "
            '(422 Invalid): DaskWorkerGroup.kubernetes.dask.org "dask-default" is invalid: spec.worker.replicas',
        ),
    ],
)  # fmt: skip
def test_conflict_and_invalid_are_one_line(running: Any, kube: KubeStandin, answer: dict, expected: str) -> None:
    kube.state.scripted[("PATCH", GROUPS)] = (answer["code"], answer)
    with pytest.raises(ClusterError) as caught:
        running.scale(2)
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)
    assert caught.value.__cause__ is not None


def test_more_workers_than_the_node_groups_hold_is_refused_before_any_request(running: Any, kube: KubeStandin) -> None:
    # cpu: 20 x m7i.4xlarge, 3 workers of 4 CPU/15Gi per node (15.89 allocatable CPUs) = 60 workers.
    with pytest.raises(ClusterError) as caught:
        running.scale(61)
    assert str(caught.value).startswith(
        "cannot scale Dask cluster dask to 61 workers: team ml-vision's CPU node groups hold at most 60 workers "
        "of 4 CPU/15Gi at their maxSize (cpu: 20 x m7i.4xlarge/m6i.4xlarge/m6a.4xlarge with 3 per node); maxSize "
        "is set in the team's stack file (teamstack:nodeGroups): ask for at most 60"
    )
    with pytest.raises(ClusterError, match=r"^cannot make Dask cluster dask adaptive between 0 and 100 workers: "):
        running.adapt(minimum=0, maximum=100)
    assert kube.state.bodies("PATCH", "daskworkergroups") == []
    assert kube.state.bodies("POST", "daskautoscalers") == []
    running.scale(60)  # exactly the limit is fine
    assert _group(kube)["spec"]["worker"]["replicas"] == 60


def _quota(used_cpu: str) -> dict[str, Any]:
    hard = {"requests.cpu": "64", "requests.memory": "256Gi", "pods": "50"}
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "team-quota", "namespace": "ml-vision"},
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": {"requests.cpu": used_cpu, "requests.memory": "60Gi", "pods": "4"}},
    }


def test_a_quota_that_cannot_take_the_workers_is_refused_with_used_and_limit(running: Any, kube: KubeStandin) -> None:
    # 24 CPUs requested in the namespace now, this cluster's 1 worker among them: 40 left = 10 more workers.
    kube.state.quotas = [_quota("24")]
    with pytest.raises(ClusterError) as caught:
        running.scale(12)
    assert str(caught.value).startswith(
        "cannot scale Dask cluster dask to 12 workers: ResourceQuota team-quota of namespace ml-vision allows "
        "requests.cpu 64, 24 in use, and 11 more workers of 4 each need 44: at most 11 workers fit now; close or "
        "scale down another cluster (`teamstack status ml-vision`) or ask IT to raise the team's kubernetes.quota"
    )
    assert kube.state.bodies("PATCH", "daskworkergroups") == []
    running.scale(11)
    assert _group(kube)["spec"]["worker"]["replicas"] == 11


def test_an_adaptive_maximum_above_the_whole_quota_is_refused(running: Any, kube: KubeStandin) -> None:
    kube.state.quotas = [_quota("60")]  # almost full now: an adaptive maximum is checked against the quota itself
    running.adapt(minimum=1, maximum=16)  # 16 x 4 CPUs = the whole 64
    with pytest.raises(ClusterError, match=r"allows requests\.cpu 64, and 17 more workers of 4 each need 68: at"):
        running.adapt(minimum=1, maximum=17)


def test_quotas_your_identity_may_not_read_are_left_to_the_api(running: Any, kube: KubeStandin) -> None:
    kube.state.scripted[("GET", r"/api/v1/namespaces/[^/]+/resourcequotas")] = (
        403,
        rbac_forbidden("ana", "list", "resourcequotas", "", "ml-vision"),
    )
    running.scale(5)
    assert _group(kube)["spec"]["worker"]["replicas"] == 5


def test_an_unreachable_api_server_is_one_line(manifest: TeamManifest, scheduler: tuple[str, int]) -> None:
    """A stand-in of its own, stopped after the start: its port on 127.0.0.1 then refuses connections."""
    own = KubeStandin()
    own.state.operator = scheduler
    cluster_info = manifest.cluster.model_copy(update={"endpoint": own.endpoint, "certificate_authority": own.ca_data})
    cluster = kube_cluster(manifest.model_copy(update={"cluster": cluster_info}), resource_timeout=10)
    own.stop()
    try:
        with pytest.raises(ClusterError) as caught:
            cluster.scale(2)
        assert str(caught.value).startswith(
            f"cannot reach the API server of cluster {manifest.cluster.name} at {own.endpoint} ("
        )
        assert caught.value.__cause__ is not None
    finally:
        cluster.shutdown_on_close = False  # nothing left to delete it from
        cluster.close(timeout=5)


def test_adapt_refused_at_start_closes_the_new_cluster(
    manifest: TeamManifest, kube: KubeStandin, scheduler: tuple[str, int]
) -> None:
    kube.state.operator = scheduler
    with pytest.raises(ClusterError, match=r"^cannot make Dask cluster dask adaptive between 0 and 1000 workers: "):
        kube_cluster(manifest, resource_timeout=10, adapt=(0, 1000))
    assert kube.state.daskclusters == {} and kube.state.owned == {}


# --- the pure checks -------------------------------------------------------------------------------------------


def _gpu_group(manifest: TeamManifest, model: str | None) -> dict[str, Any]:
    from teamstack.client.clusters import kube_cluster_spec

    spec = kube_cluster_spec(manifest, gpu=model or True, n_workers=2)
    return {"spec": {"cluster": "dask", "worker": spec["spec"]["worker"]}}


def test_gpu_workers_count_against_the_gpu_groups_they_may_use(manifest: TeamManifest) -> None:
    # gpu-t4: 8 nodes x 1 GPU; gpu-a10g: 2 nodes x 4 GPUs; a worker asks for 1 GPU.
    any_gpu = worker_of(_gpu_group(manifest, None))
    assert pool_refusal(manifest, "dask", any_gpu, 16, "scale") is None
    assert "hold at most 16 workers" in str(pool_refusal(manifest, "dask", any_gpu, 17, "scale"))
    t4 = worker_of(_gpu_group(manifest, "t4"))
    assert "hold at most 8 workers" in str(pool_refusal(manifest, "dask", t4, 9, "scale"))
    assert "gpu-a10g" not in str(pool_refusal(manifest, "dask", t4, 9, "scale"))


def test_a_quota_scoped_to_another_priority_class_does_not_count(manifest: TeamManifest) -> None:
    worker = worker_of(_gpu_group(manifest, None))  # interactive priority
    batch_share = {
        "metadata": {"name": "batch-share"},
        "spec": {"hard": {"requests.nvidia.com/gpu": "2"}, "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["dask-batch"]}]}},
        "status": {"hard": {"requests.nvidia.com/gpu": "2"}, "used": {"requests.nvidia.com/gpu": "2"}},
    }  # fmt: skip
    assert quota_refusal(manifest, worker, [batch_share], 10, "scale") is None
    interactive = dict(batch_share, spec={"hard": {"requests.nvidia.com/gpu": "2"}})
    assert "allows requests.nvidia.com/gpu 2, 2 in use, and 8 more workers of 1 each need 8: at most 2 workers" in str(
        quota_refusal(manifest, worker, [interactive], 10, "scale")
    )
