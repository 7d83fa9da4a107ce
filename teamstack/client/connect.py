"""`teamstack.connect(team)`: the team manifest, and from it clusters, environments and the catalog."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from teamstack.client.errors import ClusterError

if TYPE_CHECKING:
    from teamstack.client.catalog import Catalog
    from teamstack.client.environments import Environments
    from teamstack.client.storage import ObjectStore
    from teamstack.manifest import TeamManifest

# The models and features are imported when used: `import teamstack.client` (and so the CLI's start-up) stays
# light; bench/bench_cli.py measures it.

BACKENDS = ("kubernetes", "ec2", "gcp")


class Team:
    """One team stack, seen from a notebook."""

    def __init__(self, manifest: TeamManifest, *, shared_catalogs: Mapping[str, str] | None = None) -> None:
        self.manifest = manifest
        self._shared_catalogs = dict(shared_catalogs or {})

    def __repr__(self) -> str:
        m = self.manifest
        return f"<Team {m.team} ({m.cloud} {m.region}, account {m.account})>"

    @property
    def name(self) -> str:
        return self.manifest.team

    @functools.cached_property
    def _session(self) -> Any:
        import boto3

        return boto3.session.Session(region_name=self.manifest.region)

    def aws_client(self, service: str) -> Any:
        return self._session.client(service)

    def _store(self, url: str) -> ObjectStore:
        from teamstack.client.storage import GcsStore, S3Store, gcs_client

        bucket = url.split("://", 1)[1].split("/", 1)[0]
        if url.startswith("s3://"):
            return S3Store(bucket, self.aws_client("s3"))
        if url.startswith("gs://"):
            return GcsStore(bucket, gcs_client(self.manifest.account))
        raise ValueError(f"catalog bucket URL {url!r} must start with s3:// or gs://")

    @functools.cached_property
    def catalog(self) -> Catalog:
        """The team's datasets (index in its first catalog bucket) plus read-only ones shared with it."""
        from teamstack.client.catalog import Catalog

        first = self.manifest.catalog[0]
        options: dict[str, Any] = (
            {"s3": {"client_kwargs": {"region_name": self.manifest.region}}}
            if self.manifest.cloud == "aws"
            else {"gs": {"project": self.manifest.account}}
        )
        shared = {team: self._store(url) for team, url in self._shared_catalogs.items()}
        own = {bucket.url: self._store(bucket.url) for bucket in self.manifest.catalog}
        return Catalog(self.name, self._store(first.url), shared=shared, storage_options=options, data_stores=own)

    @functools.cached_property
    def environments(self) -> Environments:
        from teamstack.client.environments import Environments
        from teamstack.client.storage import gcs_client

        return Environments(self.manifest, self.aws_client, gcs=lambda: gcs_client(self.manifest.account))

    def status(self) -> Any:
        """The team's running Dask clusters (owner, age, workers, GPUs, estimated $/hour) and its pools' use
        against their caps: Kubernetes (same in-process auth as clusters) and, on AWS, EC2 VMs by tags."""
        from teamstack.client.status import team_status

        return team_status(self.manifest, self.aws_client("ec2") if self.manifest.cloud == "aws" else None)

    def cluster(self, *, backend: str = "kubernetes", adapt: tuple[int, int] | None = None, **options: Any) -> Any:
        """A Dask cluster in the team stack.

        backend "kubernetes" (default): KubeCluster in the team namespace; options: name, image, n_workers, gpu,
        spot, idle_timeout, worker_resources, batch, env. backend "ec2": EC2Cluster in a private subnet;
        options: instance_profile (default: the stack's dask-vm profile), ami (default: current Ubuntu 22.04),
        image, n_workers, gpu, spot, worker_instance_type, idle_timeout. backend "gcp": GCPCluster; image, gpu,
        gpu_type, spot, ...
        adapt=(minimum, maximum) scales workers between the two.
        """
        from teamstack.client import clusters

        if adapt is not None and not (0 <= adapt[0] <= adapt[1]):
            raise ClusterError(f"adapt=(minimum, maximum) needs 0 <= minimum <= maximum, got {adapt}")
        if backend == "kubernetes":
            cluster = clusters.kube_cluster(self.manifest, adapt=adapt, **options)
            _attach_cost(cluster, self.manifest, adapt, options)
            return cluster
        if backend == "ec2":
            if "ami" not in options:
                options["ami"] = clusters.ubuntu_ami(self.aws_client("ssm"))
            return clusters.ec2_cluster(self.manifest, adapt=adapt, **options)
        if backend == "gcp":
            return clusters.gcp_cluster(self.manifest, adapt=adapt, **options)
        raise ClusterError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")


def _attach_cost(cluster: Any, manifest: Any, adapt: tuple[int, int] | None, options: Mapping[str, Any]) -> None:
    """`cluster.estimated_cost`: its worker nodes' estimated $/hour (teamstack.cost.kube_cluster_rate), None
    when the team's types are not in the price table; `cluster.estimated_usd_per_hour` its current figure."""
    from teamstack import cost

    try:
        rate: cost.ClusterRate | None = cost.kube_cluster_rate(
            manifest,
            gpu=bool(options.get("gpu", False)),
            spot=options.get("spot"),
            n_workers=int(options.get("n_workers", 0)),
            adapt=adapt,
        )
    except cost.PriceError:
        rate = None
    cluster.estimated_cost = rate
    cluster.estimated_usd_per_hour = rate.usd_per_hour if rate else None


def connect(
    team: str | None = None,
    *,
    manifest: str | None = None,
    cloud: str | None = None,
    project: str | None = None,
    region: str | None = None,
    shared_catalogs: Mapping[str, str] | None = None,
) -> Team:
    """Connect to a team stack by team name (AWS: SSM; GCP: `cloud="gcp"` or `project=...`) or manifest location.

    `shared_catalogs` maps other teams to their catalog bucket URL (`{"analytics": "s3://analytics-raw-..."}`):
    their datasets are listed as `<team>/<name>`, read-only.
    """
    from teamstack.client.manifest_source import load_manifest

    return Team(
        load_manifest(team, location=manifest, cloud=cloud, project=project, region=region),
        shared_catalogs=shared_catalogs,
    )
