"""Kubernetes access without a kubeconfig, and every refused start in one line.

The EKS token is checked by decoding it (host, action, signed `x-k8s-aws-id`, expiry). Cluster starts run the
real dask-kubernetes KubeCluster and kr8s against a local HTTPS stand-in of the API server
(tests/k8s_standin.py) that answers with the documented `Status` objects and lists; the manifest carries the
stand-in's address and CA, as a real one carries the cluster's.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from k8s_standin import KubeStandin, quota_exceeded, rbac_forbidden, status
from kube_fixtures import *  # noqa: F403  (the Kubernetes stand-in fixtures)

from teamstack.client import ClusterError, k8s_auth
from teamstack.client.clusters import kube_cluster
from teamstack.manifest import TeamManifest

CLUSTER = "ml-vision"


def _decode(token: str) -> tuple[str, dict[str, list[str]]]:
    assert token.startswith("k8s-aws-v1.")
    encoded = token.removeprefix("k8s-aws-v1.")
    assert "=" not in encoded  # unpadded base64url, as aws-iam-authenticator expects
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    return url, parse_qs(urlsplit(url).query)


def test_the_eks_token_is_a_presigned_get_caller_identity(aws_identity: None) -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    token = k8s_auth.eks_token(CLUSTER, "us-west-2", now=now)
    url, query = _decode(token.value)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "sts.us-west-2.amazonaws.com", "/")
    assert query["Action"] == ["GetCallerIdentity"] and query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-SignedHeaders"][0].split(";") == ["host", "x-k8s-aws-id"]
    assert query["X-Amz-Credential"][0].split("/")[2:] == ["us-west-2", "sts", "aws4_request"]
    assert query["X-Amz-Credential"][0].startswith("testing/")
    assert len(query["X-Amz-Signature"][0]) == 64
    assert token.expires == now + timedelta(minutes=14)
    # The cluster name is signed: another cluster's token differs in its signature.
    other = _decode(k8s_auth.eks_token("other", "us-west-2", now=now).value)[1]
    assert other["X-Amz-Signature"] != query["X-Amz-Signature"]


def test_no_aws_credentials_is_one_line(aws_identity: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ClusterError, match=r"^no AWS credentials to sign in to cluster ml-vision: run `aws sso login`"):
        k8s_auth.eks_token(CLUSTER, "us-west-2")


def test_tokens_are_minted_again_before_they_expire() -> None:
    start = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    minted: list[int] = []

    def mint() -> k8s_auth.Token:
        minted.append(1)
        return k8s_auth.Token(f"t{len(minted)}", start + timedelta(minutes=14))

    source = k8s_auth.TokenSource(mint)
    assert source.token(now=start) == "t1"
    assert source.token(now=start + timedelta(minutes=11)) == "t1"  # still 3 minutes left
    assert source.token(now=start + timedelta(minutes=12, seconds=1)) == "t2"  # under the 2-minute margin


def test_a_kubeconfig_for_the_team_cluster_wins(manifest: TeamManifest, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    def kubeconfig(server: str) -> Path:
        path = tmp_path / f"config-{len(server)}"
        config = {
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
            "users": [{"name": "u", "user": {"token": "t"}}],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig("https://elsewhere.example:443")))
    assert k8s_auth.user_kubeconfig_serves(manifest) is None  # another cluster: the manifest's is used
    mine = kubeconfig(manifest.cluster.endpoint + "/")
    monkeypatch.setenv("KUBECONFIG", str(mine))
    assert k8s_auth.user_kubeconfig_serves(manifest) == mine


def _start(manifest: TeamManifest, **options: object) -> object:
    return kube_cluster(manifest, resource_timeout=2, **options)  # type: ignore[arg-type]


def test_rbac_forbidden_names_the_verb_and_resource(manifest: TeamManifest, kube: KubeStandin) -> None:
    user = "arn:aws:sts::111122223333:assumed-role/ml-vision-data-scientist/ana"
    kube.state.scripted[("POST", r"/apis/kubernetes\.dask\.org/v1/namespaces/[^/]+/daskclusters")] = (
        403,
        rbac_forbidden(user, "create", "daskclusters", "kubernetes.dask.org", manifest.cluster.namespace),
    )
    with pytest.raises(ClusterError) as caught:
        _start(manifest)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"forbidden by RBAC on cluster {manifest.cluster.name}: {user} may not create "
        f"daskclusters.kubernetes.dask.org in namespace {manifest.cluster.namespace}"
    )
    # Every request carried a minted EKS token for this cluster, signed for the manifest's region.
    tokens = {auth.removeprefix("Bearer ") for _, _, auth in kube.state.requests}
    assert tokens and all(_decode(t)[1]["X-Amz-Credential"][0].split("/")[2] == "us-west-2" for t in tokens)
    assert kube.state.daskclusters == {}


def test_an_exceeded_quota_names_used_and_limit_and_leaves_nothing(manifest: TeamManifest, kube: KubeStandin) -> None:
    quota = f"{manifest.cluster.namespace}-quota"
    kube.state.events = [
        {
            "kind": "Event",
            "reason": "FailedCreate",
            "type": "Warning",
            "lastTimestamp": "2026-11-29T12:00:05Z",
            "involvedObject": {"kind": "ReplicaSet", "name": "dask-default-worker-7c9f"},
            "message": "Error creating: "
            + quota_exceeded("dask-default-worker-7c9f-x", quota, "requests.nvidia.com/gpu", "1", "4", "4"),
        }
    ]
    with pytest.raises(ClusterError) as caught:
        _start(manifest, gpu=True, n_workers=1)
    assert str(caught.value).startswith(
        f"ResourceQuota {quota} of namespace {manifest.cluster.namespace} is exceeded: "
        "requests.nvidia.com/gpu used 4 of 4, this asks 1: close or scale down a running cluster"
    )
    assert kube.state.daskclusters == {}  # created, then deleted when the start failed
    methods = [(m, p.split("?")[0].rsplit("/", 1)[-1]) for m, p, _ in kube.state.requests]
    assert ("POST", "daskclusters") in methods and ("DELETE", "dask") in methods


def test_a_worker_no_node_can_fit_names_the_pools(manifest: TeamManifest, kube: KubeStandin) -> None:
    kube.state.events = [
        {
            "reason": "NotTriggerScaleUp",
            "lastTimestamp": "2026-11-29T12:00:05Z",
            "involvedObject": {"kind": "Pod", "name": "dask-default-worker-7c9f-x"},
            "message": "pod didn't trigger scale-up: 2 Insufficient nvidia.com/gpu, 1 Insufficient memory",
        }
    ]
    with pytest.raises(ClusterError) as caught:
        _start(manifest, gpu=True)
    gpu_pools = [g for g in manifest.node_groups if g.kind == "gpu"]
    message = str(caught.value)
    assert message.startswith("no node can fit a worker: not enough memory, nvidia.com/gpu on any node")
    assert all(f"{g.name} ({'/'.join(g.instance_types)}, max {g.max_size})" in message for g in gpu_pools)
    assert kube.state.daskclusters == {}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (status(404, "NotFound", "the server could not find the requested resource"), "has no Dask operator"),
        (
            status(409, "AlreadyExists", 'daskclusters.kubernetes.dask.org "dask" already exists'),
            "a Dask cluster named dask already exists",
        ),
        (status(401, "Unauthorized", "Unauthorized"), "did not accept your credentials (401 Unauthorized)"),
    ],
)
def test_refusals_are_one_line(manifest: TeamManifest, kube: KubeStandin, answer: dict, expected: str) -> None:
    kube.state.scripted[("POST", r"/apis/kubernetes\.dask\.org/v1/namespaces/[^/]+/daskclusters")] = (
        answer["code"],
        answer,
    )
    with pytest.raises(ClusterError, match=expected.replace("(", r"\(").replace(")", r"\)")) as caught:
        _start(manifest)
    assert "\n" not in str(caught.value)


def test_an_unreachable_private_endpoint(manifest: TeamManifest) -> None:
    from standins import free_port

    closed = manifest.cluster.model_copy(update={"endpoint": f"https://127.0.0.1:{free_port()}"})
    with pytest.raises(ClusterError, match=r"cannot reach the API server of cluster .* its endpoint is private"):
        _start(manifest.model_copy(update={"cluster": closed}))


def test_cluster_start_from_a_shell_without_kubeconfig_is_one_line(
    manifest: TeamManifest, kube: KubeStandin, tmp_path: Path
) -> None:
    """The whole stderr of a refused `teamstack cluster start` in a fresh process: one line, and no atexit
    traceback from dask-kubernetes' reaper."""
    import os
    import subprocess
    import sys

    from standins import ROOT

    user = "arn:aws:sts::111122223333:assumed-role/ml-vision-data-scientist/bo"
    kube.state.scripted[("POST", r"/apis/kubernetes\.dask\.org/v1/namespaces/[^/]+/daskclusters")] = (
        403,
        rbac_forbidden(user, "create", "daskclusters", "kubernetes.dask.org", manifest.cluster.namespace),
    )
    (tmp_path / "manifest.json").write_text(manifest.to_json())
    command = [sys.executable, "-m", "teamstack.cli", "cluster", "start", "ml-vision"]
    result = subprocess.run(
        [*command, "--manifest", str(tmp_path / "manifest.json")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: forbidden by RBAC on cluster {manifest.cluster.name}: {user} may not create")


def test_no_google_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default credentials either
    with pytest.raises(ClusterError, match=r"^no Google credentials to sign in to cluster geo: run `gcloud auth"):
        k8s_auth.gke_token("geo")
