"""Container image references and where a node can pull them from (pure: nothing is contacted).

A team's nodes may have no route to the internet (`natMode: none`, the GCP default). They then reach only the
registries of their own cloud through private paths: on GCP, Artifact Registry and Container Registry through
Private Google Access; on AWS, ECR in the stack's region through its interface endpoints. Images from anywhere
else come through a mirror the stack keeps (GCP: an Artifact Registry remote repository whose upstream is
ghcr.io), or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

GHCR = "ghcr.io"
DOCKER_HUB = "docker.io"

_AWS_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")


def split_image(reference: str) -> tuple[str, str]:
    """(registry host, repository path with any tag or digest), by the Docker reference rules: the first
    component is a host only if it has a '.' or a ':' or is `localhost`; otherwise the image is on Docker Hub."""
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first.lower(), rest
    return DOCKER_HUB, reference


def mirrored(reference: str, mirrors: Mapping[str, str]) -> str | None:
    """The same image through the stack's mirror of its registry (`<mirror>/<path>`), or None if none mirrors it."""
    host, path = split_image(reference)
    mirror = mirrors.get(host)
    return f"{mirror.rstrip('/')}/{path}" if mirror else None


def reachable_without_internet(host: str, cloud: str, region: str) -> bool:
    """Whether nodes with no internet route can still pull from `host`: their own cloud's registries only."""
    host = host.lower()
    if cloud == "gcp":
        return host.endswith(".pkg.dev") or host == "gcr.io" or host.endswith(".gcr.io")
    match = _AWS_ECR_HOST.match(host)
    return bool(match and match.group("region") == region)


__all__ = ["DOCKER_HUB", "GHCR", "mirrored", "reachable_without_internet", "split_image"]
