"""Real local API stand-ins for the client tests: moto in server mode (AWS) and gcp-storage-emulator (GCS).

Both listen on 127.0.0.1 on a free port, are started once per test session and stopped after it. The
environment that points clients at them (AWS_ENDPOINT_URL, STORAGE_EMULATOR_HOST, dummy credentials, no
instance metadata) is set per test through monkeypatch, so nothing outside these tests sees it and nothing
reaches the internet.

`aws_team` seeds moto with a team stack as the real offline plan of `ml-vision` describes it: the manifest
(TeamManifest, with the network ids replaced by moto's real VPC, private subnets and Dask security group, and
the dask-vm instance profile by moto's),
the catalog and build buckets, the ECR repository, the CodeBuild log group and the manifest parameter.
"""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from teamstack import naming
from teamstack.manifest import CatalogBucket, GcpIdentity, GcpNetwork, TeamManifest

# The fixtures; a test module takes them with `from standins import *` (pytest finds fixtures by name).
__all__ = ["aws_env", "aws_team", "gcs_endpoint", "gcs_env", "moto_endpoint"]

ROOT = Path(__file__).resolve().parent.parent
TEAM = "ml-vision"
REGION = "us-west-2"
INSTANCE_PROFILE = naming.role_name(TEAM, "dask-vm")  # the stack's dask-vm role and instance profile
GCP_PROJECT = "vision-geo-dev"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Shared:
    """One server per process, however many test modules take the fixture.

    Each module that imports these fixtures has its own session-scoped copy, and moto keeps its state per
    process, not per server: so every copy shares one server, and the last to finish stops it.
    """

    def __init__(self, start: Callable[[], tuple[Any, str]]) -> None:
        self._start = start
        self._server: Any = None
        self._endpoint = ""
        self._users = 0

    def acquire(self) -> str:
        if self._users == 0:
            self._server, self._endpoint = self._start()
        self._users += 1
        return self._endpoint

    def release(self) -> None:
        self._users -= 1
        if self._users == 0:
            self._server.stop()
            self._server = None


def _start_moto() -> tuple[Any, str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _start_gcs() -> tuple[Any, str]:
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    return server, f"http://127.0.0.1:{port}"


_moto = _Shared(_start_moto)
_gcs = _Shared(_start_gcs)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    yield _moto.acquire()
    _moto.release()


AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3, s3fs and aiobotocore at the moto server with dummy credentials (this test only)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@functools.cache
def planned_manifest() -> TeamManifest:
    """The manifest the real Pulumi program produces for ml-vision (offline plan under mocks)."""
    from teamstack.plan.runner import plan_stack

    return TeamManifest.model_validate(plan_stack(ROOT, TEAM).outputs["manifest"])


@dataclass
class AwsTeam:
    manifest: TeamManifest
    endpoint: str
    instance_profile_arn: str
    ami: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)


_seeded: dict[str, AwsTeam] = {}


def _seed(endpoint: str) -> AwsTeam:
    session = boto3.session.Session(region_name=REGION)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint)

    planned = planned_manifest()
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{16 * i}.0/20", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    dask_sg = ec2.create_security_group(GroupName=f"{TEAM}-dask", Description="Dask", VpcId=vpc)["GroupId"]
    cluster_sg = ec2.create_security_group(GroupName=f"{TEAM}-cluster", Description="EKS", VpcId=vpc)["GroupId"]
    # The stack's dask-vm role and instance profile, as the plan names them.
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=INSTANCE_PROFILE, AssumeRolePolicyDocument=json.dumps(trust))
    profile = iam.create_instance_profile(InstanceProfileName=INSTANCE_PROFILE)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=INSTANCE_PROFILE, RoleName=INSTANCE_PROFILE)
    identity = planned.identity.model_copy(update={"dask_vm_instance_profile_arn": profile})
    network = planned.network.model_copy(
        update={
            "vpc_id": vpc,
            "private_subnet_ids": subnets,
            "dask_security_group_id": dask_sg,
            "cluster_security_group_id": cluster_sg,
        }
    )
    manifest = TeamManifest.model_validate(
        planned.model_copy(update={"network": network, "identity": identity}).model_dump()
    )

    s3 = client("s3")
    for bucket in [manifest.build.bucket, *(c.bucket for c in manifest.catalog)]:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    client("ecr").create_repository(repositoryName=manifest.registry.repository_uri.split("/", 1)[1])
    client("logs").create_log_group(logGroupName=manifest.build.log_group)
    client("codebuild").create_project(
        name=manifest.build.project,
        source={"type": "S3", "location": f"{manifest.build.bucket}/recipes/images-{manifest.build.recipe_hash}.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_LARGE",
        },
        serviceRole=manifest.identity.image_builder_role_arn,  # type: ignore[union-attr]
        logsConfig={"cloudWatchLogs": {"status": "ENABLED", "groupName": manifest.build.log_group}},
    )

    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    client("ssm").put_parameter(
        Name=naming.manifest_parameter(TEAM), Value=manifest.to_json(), Type="String", Tier="Advanced"
    )
    return AwsTeam(manifest, endpoint, profile, ami)


@pytest.fixture
def aws_team(aws_env: str) -> AwsTeam:
    """The ml-vision stack seeded into the session's moto server (once; tests add their own objects)."""
    if aws_env not in _seeded:
        _seeded[aws_env] = _seed(aws_env)
    return _seeded[aws_env]


# --- GCS ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    yield _gcs.acquire()
    _gcs.release()


@pytest.fixture
def gcs_env(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", GCP_PROJECT)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # No real Google credentials may be picked up: the emulator needs none.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/dev/null/none")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    # gcsfs' experimental (default-on) layer asks the gRPC storage-control API for the bucket layout, which
    # the emulator does not serve; it is read when gcsfs is first imported.
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    return gcs_endpoint


def gcp_manifest(team: str = "geo", project: str = GCP_PROJECT) -> TeamManifest:
    """A GCP team manifest built with the model (the GCP stack's own plan may not exist yet)."""
    planned = planned_manifest()
    catalog = naming.gcp_bucket_name(team, "raw", project)
    return TeamManifest(
        team=team,
        cloud="gcp",
        region="europe-west4",
        account=project,
        cost_center="CC-1",
        owner="geo-leads@example.com",
        network=GcpNetwork(network=f"{team}-vpc", subnetwork=f"{team}-vpc", zones=["europe-west4-a"]),
        cluster=planned.cluster.model_copy(update={"name": team, "namespace": team}),
        node_groups=[
            g.model_copy(update={"instance_types": ["n1-standard-8" if g.kind == "gpu" else "n2-standard-8"]})
            for g in planned.node_groups[:3]
        ],
        registry=planned.registry.model_copy(
            update={"repository_uri": f"europe-west4-docker.pkg.dev/{project}/{team}/dask"}
        ),
        build=planned.build.model_copy(update={"bucket": naming.gcp_bucket_name(team, "envs", project)}),
        catalog=[CatalogBucket(name="raw", bucket=catalog, url=f"gs://{catalog}", description="raw data")],
        identity=GcpIdentity(
            dask_scheduler_service_account="dask-scheduler",
            dask_worker_service_account="dask-worker",
            dask_scheduler_gsa=f"{team}-dask-scheduler@{project}.iam.gserviceaccount.com",
            dask_worker_gsa=f"{team}-dask-worker@{project}.iam.gserviceaccount.com",
            image_builder_gsa=f"{team}-builder@{project}.iam.gserviceaccount.com",
            node_gsa=f"{team}-nodes@{project}.iam.gserviceaccount.com",
            data_scientist_members=["group:geo@example.com"],
        ),
        tags={"team": team, "managed-by": "teamstack"},
    )
