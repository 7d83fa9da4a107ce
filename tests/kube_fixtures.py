"""Fixtures of the client tests that talk to the Kubernetes API stand-in (`k8s_standin.py`) as ml-vision:
the stand-in itself, an offline AWS identity, and ml-vision's planned manifest pointing at the stand-in.
Import them into a test module: `from kube_fixtures import aws_identity, kube, manifest`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_standin import KubeStandin
from standins import AWS_TEST_ENV, planned_manifest

from teamstack.manifest import TeamManifest


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeStandin]:
    server = KubeStandin()
    yield server
    server.stop()


@pytest.fixture
def aws_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy AWS credentials (signing is offline), no kubeconfig anywhere."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))


@pytest.fixture
def manifest(kube: KubeStandin, aws_identity: None) -> Iterator[TeamManifest]:
    """ml-vision's planned manifest, its cluster endpoint and CA the stand-in's; the stand-in emptied around it."""
    kube.state.reset()
    planned = planned_manifest()
    cluster = planned.cluster.model_copy(update={"endpoint": kube.endpoint, "certificate_authority": kube.ca_data})
    yield planned.model_copy(update={"cluster": cluster})
    kube.state.reset()


__all__ = ["aws_identity", "kube", "manifest"]
