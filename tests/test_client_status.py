"""`teamstack status` / `team.status()`: "is anyone using the GPUs tonight?" answered from the Kubernetes API
(the local HTTPS stand-in's list answers, reached with the in-process token) and EC2 tags (moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from k8s_standin import KubeStandin, rbac_forbidden
from kube_fixtures import *  # noqa: F403  (the Kubernetes stand-in fixtures)
from standins import *  # noqa: F403  (the stand-in fixtures)
from standins import AwsTeam
from typer.testing import CliRunner

from teamstack.client import Team
from teamstack.client.status import summarize_kubernetes, team_status
from teamstack.cost import price_table
from teamstack.manifest import TeamManifest

NOW = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)


def _group(manifest: TeamManifest, name: str) -> Any:
    return next(g for g in manifest.node_groups if g.name == name)


def _node(name: str, group: Any, instance_type: str, cpu: str, gpus: int, spot: bool) -> dict[str, Any]:
    labels = {
        "eks.amazonaws.com/nodegroup": group.node_group_name,
        "node.kubernetes.io/instance-type": instance_type,
        "eks.amazonaws.com/capacityType": "SPOT" if spot else "ON_DEMAND",
    }
    allocatable = {"cpu": cpu, "memory": "60Gi", **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    return {"metadata": {"name": name, "labels": labels}, "status": {"allocatable": allocatable}}


def _pod(cluster: str, component: str, node: str | None, cpu: str, gpus: int = 0) -> dict[str, Any]:
    resources = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu, **({"nvidia.com/gpu": str(gpus)} if gpus else {})}}
    return {
        "metadata": {"name": f"{cluster}-{component}", "labels": {"dask.org/cluster-name": cluster,
                                                                   "dask.org/component": component}},
        "spec": {"nodeName": node, "containers": [{"name": component, "resources": resources}]},
        "status": {"phase": "Running" if node else "Pending"},
    }  # fmt: skip


def _daskcluster(name: str, owner: str, started: datetime) -> dict[str, Any]:
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": {
            "name": name,
            "namespace": "ml-vision",
            "labels": {"teamstack.io/team": "ml-vision", "teamstack.io/owner": owner},
            "creationTimestamp": started.isoformat().replace("+00:00", "Z"),
        },
    }


def _tonight(manifest: TeamManifest) -> tuple[list[Any], list[Any], list[Any]]:
    """ana's GPU cluster (2 T4 workers on two g4dn.xlarge spot nodes), bo's CPU cluster (one pending worker)."""
    t4, cpu = _group(manifest, "gpu-t4"), _group(manifest, "cpu")
    nodes = [
        _node("gpu-1", t4, "g4dn.xlarge", "3920m", 1, spot=True),
        _node("gpu-2", t4, "g4dn.xlarge", "3920m", 1, spot=True),
        _node("cpu-1", cpu, "m7i.4xlarge", "15890m", 0, spot=True),
    ]
    pods = [
        _pod("ana-gpu", "scheduler", "cpu-1", "3"),
        _pod("ana-gpu", "worker", "gpu-1", "3", gpus=1) | {"metadata": {"name": "w1", "labels": {
            "dask.org/cluster-name": "ana-gpu", "dask.org/component": "worker"}}},
        _pod("ana-gpu", "worker", "gpu-2", "3", gpus=1),
        _pod("bo-etl", "scheduler", "cpu-1", "3"),
        _pod("bo-etl", "worker", None, "3"),
    ]  # fmt: skip
    clusters = [
        _daskcluster("ana-gpu", "ana", NOW - timedelta(hours=3, minutes=5)),
        _daskcluster("bo-etl", "bo", NOW - timedelta(minutes=12)),
    ]
    return clusters, pods, nodes


def test_summary_answers_who_uses_the_gpus(manifest: TeamManifest) -> None:
    clusters, pods, nodes = _tonight(manifest)
    status = summarize_kubernetes(manifest, clusters, pods, nodes, NOW)
    ana, bo = status.clusters
    assert (ana.name, ana.owner, ana.age_seconds, ana.workers, ana.gpus) == ("ana-gpu", "ana", 3 * 3600 + 300, 2, 2)
    assert (bo.name, bo.owner, bo.workers, bo.gpus) == ("bo-etl", "bo", 1, 0)
    table = price_table()
    gpu_node = table.aws_instance("g4dn.xlarge", True) * table.region_factor("aws", manifest.region)
    cpu_node = table.aws_instance("m7i.4xlarge", True) * table.region_factor("aws", manifest.region)
    # Two whole GPU nodes (the GPU share is the larger) plus 3 of the CPU node's 15.89 cores.
    assert ana.dollars_per_hour == pytest.approx(2 * gpu_node + 3 / 15.89 * cpu_node, abs=0.001)
    assert bo.dollars_per_hour == pytest.approx(3 / 15.89 * cpu_node, abs=0.001)  # the pending worker costs nothing
    pools = {p.name: p for p in status.pools}
    t4 = _group(manifest, "gpu-t4")
    assert (pools["gpu-t4"].nodes, pools["gpu-t4"].max_nodes) == (2, t4.max_size)
    assert (pools["gpu-t4"].gpus_in_use, pools["gpu-t4"].gpu_cap) == (2, t4.max_size * t4.gpus_per_node)
    a10g = _group(manifest, "gpu-a10g")
    assert (pools["gpu-a10g"].gpus_in_use, pools["gpu-a10g"].gpu_cap) == (0, a10g.max_size * a10g.gpus_per_node)
    assert status.gpus_in_use == 2 and status.gpu_cap == sum(g.max_size * g.gpus_per_node for g in manifest.node_groups)


def test_status_asks_the_api_server_with_the_minted_token(manifest: TeamManifest, kube: KubeStandin) -> None:
    clusters, pods, nodes = _tonight(manifest)
    kube.state.daskclusters.update({c["metadata"]["name"]: c for c in clusters})
    kube.state.pods, kube.state.nodes = pods, nodes
    status = team_status(manifest, now=NOW)
    assert [c.name for c in status.clusters] == ["ana-gpu", "bo-etl"] and status.gpus_in_use == 2
    paths = [path for _, path, _ in kube.state.requests]
    assert any(p.startswith("/apis/kubernetes.dask.org/v1/namespaces/ml-vision/daskclusters") for p in paths)
    assert any("/api/v1/namespaces/ml-vision/pods?labelSelector=dask.org%2Fcluster-name" in p for p in paths)
    assert all(auth.startswith("Bearer k8s-aws-v1.") for _, _, auth in kube.state.requests)


def test_nodes_hidden_by_rbac_still_list_the_clusters(manifest: TeamManifest, kube: KubeStandin) -> None:
    clusters, pods, _ = _tonight(manifest)
    kube.state.daskclusters.update({c["metadata"]["name"]: c for c in clusters})
    kube.state.pods = pods
    kube.state.scripted[("GET", r"/api/v1/nodes")] = (403, rbac_forbidden("ana", "list", "nodes", "", ""))
    status = team_status(manifest, now=NOW)
    assert [c.workers for c in status.clusters] == [2, 1]
    assert status.clusters[0].dollars_per_hour is None  # no node, no price: unknown, not zero
    assert status.notes == ["nodes are not visible to your identity (RBAC): pools show caps only"]


def test_status_cli_and_ec2_vms_by_tags(aws_team: AwsTeam, kube: KubeStandin, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from teamstack.cli import app

    kube.state.reset()
    cluster = aws_team.manifest.cluster.model_copy(
        update={"endpoint": kube.endpoint, "certificate_authority": kube.ca_data}
    )
    manifest = aws_team.manifest.model_copy(update={"cluster": cluster})
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    ec2 = aws_team.client("ec2")
    tags = {"team": "ml-vision", "teamstack.io/launched-by": "teamstack-client", "teamstack.io/owner": "cy",
            "Dask Cluster": "0a1b2c3d"}  # fmt: skip
    for role in ("scheduler", "worker-1f2e"):
        ec2.run_instances(
            ImageId=aws_team.ami, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
            SubnetId=manifest.network.private_subnet_ids[0],  # type: ignore[union-attr]
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in
                                {**tags, "Name": f"dask-0a1b2c3d-{role}"}.items()]}],
        )  # fmt: skip
    (tmp_path / "m.json").write_text(manifest.to_json())

    status = Team(manifest).status()
    (vms,) = [c for c in status.clusters if c.backend == "ec2"]
    assert (vms.name, vms.owner, vms.workers, vms.gpus) == ("dask-0a1b2c3d", "cy", 1, 2)
    assert vms.dollars_per_hour == pytest.approx(2 * price_table().aws_instance("g4dn.xlarge", False), abs=0.001)

    result = CliRunner().invoke(app, ["status", "ml-vision", "--manifest", str(tmp_path / "m.json"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["gpusInUse"] == 2 and [c["owner"] for c in report["clusters"]] == ["cy"]
    table = CliRunner().invoke(app, ["status", "ml-vision", "--manifest", str(tmp_path / "m.json")])
    assert table.exit_code == 0 and "GPUs in use: 2 of" in table.stdout and "gpu-t4" in table.stdout
