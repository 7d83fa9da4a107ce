"""A GCP team at the platform's defaults has no Cloud NAT: its nodes pull everything from Google's registries
through Private Google Access, and the one image from outside Google (the Dask operator, ghcr.io) through the
team's Artifact Registry mirror of ghcr.io. The manifest tells clients so, and `natMode: single` brings a NAT."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from components.k8s import spec
from teamstack import registries
from teamstack.manifest import TeamManifest
from teamstack.plan.runner import Plan, plan_config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_cost import defaults_values  # noqa: E402  (bench/ is not a package)

STACK = "new-team-gcp"
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(scope="module")
def default_plan() -> Plan:
    return plan_config(ROOT, STACK, defaults_values(STACK))


@pytest.fixture(scope="module")
def default_manifest(default_plan: Plan) -> TeamManifest:
    return TeamManifest.model_validate(default_plan.outputs["manifest"])


def _images(value: Any) -> list[str]:
    """Every container image named anywhere in a planned Kubernetes object: containers' `image`, and Helm values'
    `image: {name | repository: ...}`."""
    if isinstance(value, dict):
        image = value.get("image")
        if isinstance(image, dict):
            image = image.get("name") or image.get("repository")
        found = [image] if isinstance(image, str) else []
        return found + [found_image for item in value.values() for found_image in _images(item)]
    if isinstance(value, list):
        return [image for item in value for image in _images(item)]
    return []


def test_no_nat_by_default_and_google_apis_stay_private(default_plan: Plan) -> None:
    assert not default_plan.of_type("gcp:compute/router:Router")
    assert not default_plan.of_type("gcp:compute/routerNat:RouterNat")
    (subnetwork,) = default_plan.of_type("gcp:compute/subnetwork:Subnetwork")
    assert subnetwork.inputs["privateIpGoogleAccess"] is True
    (cluster,) = default_plan.of_type("gcp:container/cluster:Cluster")
    assert cluster.inputs["privateClusterConfig"]["enablePrivateNodes"] is True


def test_the_operator_is_pulled_through_the_teams_ghcr_mirror(
    default_plan: Plan, default_manifest: TeamManifest
) -> None:
    (mirror,) = [
        r
        for r in default_plan.of_type("gcp:artifactregistry/repository:Repository")
        if r.inputs.get("remoteRepositoryConfig", {}).get("dockerRepository", {}).get("customRepository", {}).get("uri")
        == "https://ghcr.io"
    ]
    assert mirror.inputs["mode"] == "REMOTE_REPOSITORY" and mirror.inputs["format"] == "DOCKER"
    assert mirror.inputs["kmsKeyName"], "the mirror's copies are encrypted with the team key like the registry"
    prefix = f"us-central1-docker.pkg.dev/new-team-example/{mirror.inputs['repositoryId']}"
    (operator,) = [r for r in default_plan.of_type(RELEASE) if r.inputs["chart"] == spec.DASK_OPERATOR_CHART]
    image = operator.inputs["values"]["image"]
    # Only the name is replaced: the chart keeps its own tag, the release's version.
    assert image == {"name": f"{prefix}/dask/dask-kubernetes-operator"}
    assert registries.mirrored(spec.DASK_OPERATOR_IMAGE, {registries.GHCR: prefix}) == image["name"]
    assert default_manifest.internet_egress is False
    assert default_manifest.registry.mirrors == {registries.GHCR: prefix}


def test_every_image_the_nodes_pull_is_reachable_without_internet(
    default_plan: Plan, default_manifest: TeamManifest
) -> None:
    """What the kubelet pulls: the Kubernetes objects' images, the Helm releases' image values (the device plugin
    and the autoscaler are GKE's own here), and the default Dask image the clients start."""
    pulled: list[str] = []
    for resource in default_plan.resources:
        if resource.type.startswith("kubernetes:"):
            pulled += _images(resource.inputs)
    # A chart's own default image is not in the plan: every release must name its image, so none is missed.
    for release in default_plan.of_type(RELEASE):
        assert _images(release.inputs["values"]), f"{release.inputs['chart']} keeps its chart's default image"
    assert default_manifest.dask is not None
    pulled.append(default_manifest.dask.image)
    assert len(pulled) >= 3  # operator, reaper, default image
    for image in pulled:
        host, _ = registries.split_image(image)
        assert registries.reachable_without_internet(host, "gcp", "us-central1"), image


def test_nat_mode_single_gives_the_nodes_a_nat_and_says_so() -> None:
    plan = plan_config(ROOT, STACK, {**defaults_values(STACK), "teamstack:natMode": "single"})
    assert len(plan.of_type("gcp:compute/routerNat:RouterNat")) == 1
    assert TeamManifest.model_validate(plan.outputs["manifest"]).internet_egress is True


# --- what a data scientist is told -------------------------------------------------------------------------------


def test_the_default_image_starts_and_registry_images_pass(default_manifest: TeamManifest) -> None:
    from teamstack.client.clusters import kube_cluster_spec

    assert default_manifest.dask is not None
    spec_ = kube_cluster_spec(default_manifest)
    assert spec_["spec"]["worker"]["spec"]["containers"][0]["image"] == default_manifest.dask.image
    kube_cluster_spec(default_manifest, image="europe-docker.pkg.dev/other-project/shared/dask:1")


def test_a_ghcr_image_is_refused_with_its_mirror(default_manifest: TeamManifest) -> None:
    from teamstack.client import ClusterError
    from teamstack.client.clusters import kube_cluster_spec

    with pytest.raises(ClusterError) as raised:
        kube_cluster_spec(default_manifest, image="ghcr.io/dask/dask:2025.1.0")
    message = str(raised.value)
    mirror = (default_manifest.registry.mirrors or {})[registries.GHCR]
    assert f"use its mirror {mirror}/dask/dask:2025.1.0" in message
    assert "natMode: single" in message and "\n" not in message


def test_a_docker_hub_image_is_refused_with_the_way_to_build_it(default_manifest: TeamManifest) -> None:
    from teamstack.client import ClusterError
    from teamstack.client.clusters import kube_cluster_spec

    with pytest.raises(ClusterError, match=r"image daskdev/dask:latest is on docker.io, .*teamstack env build"):
        kube_cluster_spec(default_manifest, image="daskdev/dask:latest")


def test_the_vm_backend_is_refused_without_egress(default_manifest: TeamManifest) -> None:
    from teamstack.client import ClusterError
    from teamstack.client.clusters import gcp_cluster_options

    with pytest.raises(ClusterError, match=r"backend 'gcp' VMs install Docker from the internet"):
        gcp_cluster_options(default_manifest)


def test_aws_without_nat_reaches_its_regions_ecr_only() -> None:
    from standins import planned_manifest

    from teamstack.client import ClusterError
    from teamstack.client.clusters import ec2_cluster_options, kube_cluster_spec

    manifest = planned_manifest().model_copy(update={"internet_egress": False})
    ecr = f"{manifest.account}.dkr.ecr.{manifest.region}.amazonaws.com/other/dask:1"
    kube_cluster_spec(manifest, image=ecr)
    with pytest.raises(ClusterError, match=r"public.ecr.aws, which team ml-vision's nodes cannot reach"):
        kube_cluster_spec(manifest, image="public.ecr.aws/dask/dask:1")
    with pytest.raises(ClusterError, match=r"backend 'ec2' VMs install Docker"):
        ec2_cluster_options(manifest, ami="ami-1", instance_profile="p")
    # Manifests from before the field (unknown egress) are not second-guessed.
    kube_cluster_spec(manifest.model_copy(update={"internet_egress": None}), image="daskdev/dask:latest")
