"""Container image references and where a node can pull them from (pure: nothing is contacted).

A team's nodes may have no route to the internet (`natMode: none`, the GCP default). They then reach only the
registries of their own cloud through private paths: on GCP, Artifact Registry and Container Registry through
Private Google Access; on AWS, ECR in the stack's region through its interface endpoints. Images from anywhere
else come through a mirror the stack keeps (GCP: an Artifact Registry remote repository whose upstream is
ghcr.io; AWS: ECR pull-through cache rules for ghcr.io and registry.k8s.io), or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

GHCR = "ghcr.io"
K8S_REGISTRY = "registry.k8s.io"
NVCR = "nvcr.io"
DOCKER_HUB = "docker.io"

# The upstream registries an ECR pull-through cache rule can mirror (botocore's ECR model, shape UpstreamRegistry,
# and CreatePullThroughCacheRule's upstreamRegistryUrl syntax); `None`: any host of that form. NVIDIA's nvcr.io is
# not one of them.
ECR_CACHEABLE_UPSTREAMS = ("public.ecr.aws", "quay.io", K8S_REGISTRY, "registry-1.docker.io", GHCR,
                           "registry.gitlab.com", "<registry>.azurecr.io", "cgr.dev",
                           "<account>.dkr.ecr.<region>.amazonaws.com")  # fmt: skip


# Upstreams ECR caches only with the registry's credentials in a Secrets Manager secret (ECR user guide, "Sync an
# upstream registry": Docker Hub, Azure Container Registry, GitHub, GitLab, Chainguard; ECR Public, registry.k8s.io
# and Quay need none, an ECR upstream an IAM role instead).
ECR_CREDENTIAL_UPSTREAMS = ("registry-1.docker.io", GHCR, "registry.gitlab.com", "cgr.dev")


def ecr_upstream_needs_credential(upstream_url: str) -> bool:
    """Whether ECR refuses a pull-through cache rule of `upstream_url` without a credentialArn."""
    host = upstream_url.lower().removeprefix("https://").rstrip("/")
    return host in ECR_CREDENTIAL_UPSTREAMS or host.endswith(".azurecr.io")


@dataclass(frozen=True)
class EcrCache:
    """An ECR pull-through cache the nodes of an AWS stack without NAT pull an add-on's image through:
    `<upstream>/<path>` is pulled as `<account>.dkr.ecr.<region>.amazonaws.com/<team>-<suffix>/<path>`."""

    upstream: str  # the upstream host, which is also the rule's upstreamRegistryUrl
    suffix: str  # of the team's cache prefix (naming.ecr_cache_prefix)
    serves: str  # what the nodes pull through it

    @property
    def needs_credential(self) -> bool:
        """ECR caches it only with a Secrets Manager secret (ecr-pullthroughcache/...)."""
        return ecr_upstream_needs_credential(self.upstream)


# What EKS nodes without a NAT pull from outside ECR: the Dask operator (ghcr.io: ECR needs a GitHub token for it)
# and cluster-autoscaler (registry.k8s.io: no credential). EKS's own add-ons (CNI, CoreDNS, ...) are in ECR already.
AWS_NODE_CACHES = (
    EcrCache(GHCR, "ghcr", serves="the Dask operator"),
    EcrCache(K8S_REGISTRY, "k8s", serves="cluster-autoscaler"),
)

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


__all__ = [
    "AWS_NODE_CACHES",
    "DOCKER_HUB",
    "ECR_CACHEABLE_UPSTREAMS",
    "ECR_CREDENTIAL_UPSTREAMS",
    "GHCR",
    "K8S_REGISTRY",
    "NVCR",
    "EcrCache",
    "ecr_upstream_needs_credential",
    "mirrored",
    "reachable_without_internet",
    "split_image",
]
