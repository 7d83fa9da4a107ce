"""Image references and which registries nodes without internet egress can reach (`teamstack.registries`)."""

from __future__ import annotations

import pytest

from teamstack import registries


@pytest.mark.parametrize(
    ("reference", "host", "path"),
    [
        ("daskdev/dask:2025.1.0", "docker.io", "daskdev/dask:2025.1.0"),
        ("python:3.12", "docker.io", "python:3.12"),
        ("ghcr.io/dask/dask-kubernetes-operator:2026.3.0", "ghcr.io", "dask/dask-kubernetes-operator:2026.3.0"),
        ("localhost/base:1", "localhost", "base:1"),
        ("127.0.0.1:5000/x/y@sha256:" + "a" * 64, "127.0.0.1:5000", "x/y@sha256:" + "a" * 64),
        ("GHCR.IO/dask/dask", "ghcr.io", "dask/dask"),
    ],
)
def test_split_image_follows_the_docker_reference_rules(reference: str, host: str, path: str) -> None:
    assert registries.split_image(reference) == (host, path)


def test_mirrored_rewrites_only_mirrored_hosts() -> None:
    mirrors = {"ghcr.io": "us-central1-docker.pkg.dev/p/t-dask-ghcr/"}
    assert registries.mirrored("ghcr.io/dask/dask:2025.1.0", mirrors) == (
        "us-central1-docker.pkg.dev/p/t-dask-ghcr/dask/dask:2025.1.0"
    )
    assert registries.mirrored("daskdev/dask:2025.1.0", mirrors) is None


@pytest.mark.parametrize(
    ("host", "cloud", "region", "reachable"),
    [
        ("us-central1-docker.pkg.dev", "gcp", "us-central1", True),
        ("europe-docker.pkg.dev", "gcp", "us-central1", True),  # Private Google Access covers every location
        ("gcr.io", "gcp", "us-central1", True),
        ("eu.gcr.io", "gcp", "us-central1", True),
        ("ghcr.io", "gcp", "us-central1", False),
        ("docker.io", "gcp", "us-central1", False),
        ("evilpkg.dev", "gcp", "us-central1", False),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "aws", "us-east-1", True),
        ("123456789012.dkr.ecr.us-west-2.amazonaws.com", "aws", "us-east-1", False),  # endpoints are regional
        ("public.ecr.aws", "aws", "us-east-1", False),
        ("us-central1-docker.pkg.dev", "aws", "us-east-1", False),
    ],
)
def test_reachable_without_internet(host: str, cloud: str, region: str, reachable: bool) -> None:
    assert registries.reachable_without_internet(host, cloud, region) is reachable
