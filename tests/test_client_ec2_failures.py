"""A refused EC2 VM cluster start is one line naming the cause and the fix, and leaves no VM behind.

EC2's answers are its documented error codes (ClientError shapes as botocore builds them from the API's XML);
the full start and the clean-up run against moto's EC2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from standins import *  # noqa: F403  (the stand-in fixtures)
from standins import AwsTeam

from teamstack.client import ClusterError
from teamstack.client.clusters import ec2_cluster, ec2_cluster_options, team_ec2_cluster_class
from teamstack.client.ec2_errors import describe_ec2_failure


@pytest.fixture(autouse=True)
def _dask_config_restored() -> Iterator[None]:
    """dask-cloudprovider's EC2Cluster sets process-wide TLS settings (require-encryption) when constructed:
    later tests' local Dask clusters must not inherit them."""
    import copy

    import dask.config
    import distributed  # noqa: F401  (its config defaults: the distributed.comm section)

    saved = copy.deepcopy(dask.config.get("distributed.comm"))
    yield
    dask.config.config["distributed"]["comm"] = saved


OPTIONS = {"subnet_id": "subnet-0a1b2c3d", "worker_instance_type": "g5.12xlarge", "spot": True, "region": "us-west-2"}
ENCODED = "AbCdEf0123456789-encoded"


def _refused(code: str, message: str, operation: str = "RunInstances") -> Exception:
    error = ClientError({"Error": {"Code": code, "Message": message}}, operation)
    try:  # as dask-cloudprovider / distributed raise it: wrapped while starting
        raise RuntimeError(f"Cluster failed to start: {error}") from error
    except RuntimeError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("UnauthorizedOperation",
         f"You are not authorized to perform this operation. Encoded authorization failure message: {ENCODED}",
         f"EC2 refused RunInstances (UnauthorizedOperation): your role may not start these VMs; decode the reason "
         f"with `aws sts decode-authorization-message --encoded-message {ENCODED}`"),
        ("InsufficientInstanceCapacity",
         "We currently do not have sufficient g5.12xlarge capacity in the Availability Zone you requested.",
         "AWS has no capacity for g5.12xlarge in the zone of subnet subnet-0a1b2c3d right now "
         "(InsufficientInstanceCapacity): try another worker_instance_type=, another subnet_id= (zone) or "
         "spot=False (on-demand), or later"),
        ("MaxSpotInstanceCountExceeded", "Max spot instance count exceeded",
         "no spot capacity for g5.12xlarge (MaxSpotInstanceCountExceeded: Max spot instance count exceeded): start "
         "with spot=False (on-demand)"),
        ("VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit of 64 allows",
         "an EC2 quota of the account is reached (VcpuLimitExceeded: You have requested more vCPU capacity than your "
         "current vCPU limit of 64 allows): close running clusters (`teamstack status ml-vision`)"),
        ("InvalidSubnetID.NotFound", "The subnet ID 'subnet-0a1b2c3d' does not exist",
         "subnet subnet-0a1b2c3d is not usable (InvalidSubnetID.NotFound: The subnet ID 'subnet-0a1b2c3d' does not "
         "exist): the team manifest may be stale"),
    ],
)  # fmt: skip
def test_each_refusal_is_one_line(code: str, message: str, expected: str) -> None:
    line = describe_ec2_failure(_refused(code, message), OPTIONS, "ml-vision")
    assert line.startswith(expected)
    assert "\n" not in line


def test_a_decoded_refusal_names_the_action_resource_and_tags() -> None:
    decoded = {
        "allowed": False,
        "explicitDeny": False,
        "matchedStatements": {"items": []},
        "context": {
            "principal": {"arn": "arn:aws:sts::123456789012:assumed-role/ml-vision-data-scientist/ana"},
            "action": "ec2:RunInstances",
            "resource": "arn:aws:ec2:us-west-2:123456789012:instance/*",
            "conditions": {"items": [
                {"key": "aws:RequestTag/team", "values": {"items": [{"value": "analytics"}]}},
                {"key": "aws:Region", "values": {"items": [{"value": "us-west-2"}]}},
            ]},
        },
    }  # fmt: skip
    line = describe_ec2_failure(
        _refused("UnauthorizedOperation", f"... Encoded authorization failure message: {ENCODED}"),
        OPTIONS,
        "ml-vision",
        decoded,
    )
    assert (
        "ec2:RunInstances on arn:aws:ec2:us-west-2:123456789012:instance/* is refused by no policy allows it "
        "(request: aws:RequestTag/team=analytics)" in line
    )
    assert ENCODED not in line


def test_no_credentials() -> None:
    try:
        raise RuntimeError("Cluster failed to start") from NoCredentialsError()
    except RuntimeError as error:
        assert describe_ec2_failure(error, OPTIONS, "ml-vision").startswith("no AWS credentials to start EC2 VMs")


def _running(aws_team: AwsTeam) -> list[str]:
    reservations = aws_team.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:team", "Values": ["ml-vision"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def test_a_stale_subnet_fails_the_real_start_in_one_line_and_leaves_no_vm(aws_team: AwsTeam) -> None:
    before = _running(aws_team)
    network = aws_team.manifest.network.model_copy(update={"private_subnet_ids": ["subnet-0deadbeef0000001"]})
    stale = aws_team.manifest.model_copy(update={"network": network})
    with pytest.raises(ClusterError) as caught:
        ec2_cluster(stale, ami=aws_team.ami, n_workers=0)
    line = str(caught.value)
    assert (
        line.startswith("subnet subnet-0deadbeef0000001 is not usable (InvalidSubnetID.NotFound") and "\n" not in line
    )
    assert _running(aws_team) == before
    import dask.config

    # dask-cloudprovider's process-wide TLS requirement is undone with the failed start.
    assert not dask.config.get("distributed.comm.require-encryption", False)


def test_a_start_that_fails_after_a_launch_terminates_the_vm(aws_team: AwsTeam) -> None:
    """The scheduler VM is up when a worker is refused for capacity: the VM is terminated, the line names the
    capacity problem."""
    options = ec2_cluster_options(aws_team.manifest, ami=aws_team.ami, gpu=True, spot=True, n_workers=1)

    async def scenario() -> tuple[str, str]:
        cluster: Any = team_ec2_cluster_class()(asynchronous=True, team="ml-vision", **options)
        scheduler = cluster.scheduler_class(**cluster.scheduler_options)
        await scheduler.create_vm()
        cluster.scheduler = scheduler  # as distributed's SpecCluster holds it while starting
        refused = _refused("InsufficientInstanceCapacity", "We currently do not have sufficient g4dn.xlarge capacity")
        return scheduler.instance["InstanceId"], await cluster.teamstack_failed(refused)

    loop = asyncio.new_event_loop()
    try:
        instance, line = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert line.startswith("AWS has no capacity for g4dn.xlarge") and "spot=False (on-demand)" in line
    state = aws_team.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] in ("shutting-down", "terminated")
    assert instance not in _running(aws_team)


# --- scaling a running VM cluster ------------------------------------------------------------------------------


class Ec2Gate:
    """An HTTP stand-in in front of moto: forwards every request, but answers RunInstances with EC2's documented
    error response (`<Response><Errors><Error><Code>`, HTTP 400) once `allowed` launches have gone through."""

    def __init__(self, upstream: str) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        self.refusal: tuple[str, str] | None = None
        self.allowed = 0
        gate = self
        target = urlsplit(upstream)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                import http.client
                from xml.sax.saxutils import escape

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if gate.refusal is not None and b"Action=RunInstances" in body:
                    if gate.allowed > 0:
                        gate.allowed -= 1
                    else:
                        code, message = gate.refusal
                        answer = (
                            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error></Errors>"
                            "<RequestID>5d8f1c36-5d0e-4c7e-9f41-2b7c1f0e9a11</RequestID></Response>"
                        ).encode()
                        self.send_response(400)
                        self.send_header("Content-Type", "text/xml;charset=UTF-8")
                        self.send_header("Content-Length", str(len(answer)))
                        self.end_headers()
                        self.wfile.write(answer)
                        return
                connection = http.client.HTTPConnection(str(target.hostname), target.port, timeout=60)
                connection.request(self.command, self.path, body, dict(self.headers.items()))
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_POST = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def gate(aws_team: AwsTeam, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ec2Gate]:
    """EC2 clients (aiobotocore's too) talk to moto through the gate in this test."""
    stand_in = Ec2Gate(aws_team.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", stand_in.endpoint)
    yield stand_in
    stand_in.stop()


def _scale(aws_team: AwsTeam, n: int) -> tuple[Any, ClusterError | None]:
    """`scale(n)` on a team EC2 cluster whose scheduler VM is up (as the start leaves it; the scheduler's own VM
    and comm are not part of scaling, so it is stood in by its address)."""
    from types import SimpleNamespace

    from distributed.core import Status

    options = ec2_cluster_options(aws_team.manifest, ami=aws_team.ami, n_workers=0)

    async def scenario() -> tuple[Any, ClusterError | None]:
        cluster: Any = team_ec2_cluster_class()(asynchronous=True, team="ml-vision", **options)
        cluster.scheduler = SimpleNamespace(address="tcp://10.40.0.10:8786", contact_address=None)
        # What VMCluster._start and SpecCluster._start set up before the first worker.
        cluster.new_spec = {"cls": cluster.worker_class, "options": cluster.worker_options}
        cluster.status, cluster._lock = Status.running, asyncio.Lock()
        try:
            await cluster.scale(n)
        except ClusterError as error:
            return cluster, error
        return cluster, None

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


def _terminate(aws_team: AwsTeam, instances: list[str]) -> None:
    if instances:
        aws_team.client("ec2").terminate_instances(InstanceIds=instances)


def test_a_scale_ec2_allows_launches_tagged_encrypted_workers(aws_team: AwsTeam, gate: Ec2Gate) -> None:
    before = set(_running(aws_team))
    cluster, error = _scale(aws_team, 1)
    started = sorted(set(_running(aws_team)) - before)
    try:
        assert error is None and len(started) == 1 and len(cluster.workers) == 1
        instance = aws_team.client("ec2").describe_instances(InstanceIds=started)["Reservations"][0]["Instances"][0]
        assert "PublicIpAddress" not in instance and instance["MetadataOptions"]["HttpTokens"] == "required"
    finally:
        _terminate(aws_team, started)


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit of 32 allows",
         "an EC2 quota of the account is reached (VcpuLimitExceeded: You have requested more vCPU capacity than "
         "your current vCPU limit of 32 allows): close running clusters (`teamstack status ml-vision`) or ask IT"),
        ("MaxSpotInstanceCountExceeded", "Max spot instance count exceeded",
         "no spot capacity for m7i.4xlarge (MaxSpotInstanceCountExceeded: Max spot instance count exceeded)"),
    ],
)  # fmt: skip
def test_a_refused_scale_is_one_line_and_keeps_the_workers_that_started(
    aws_team: AwsTeam, gate: Ec2Gate, code: str, message: str, expected: str
) -> None:
    """Two workers asked, EC2 launches one and refuses the other: one line, the raw ClientError as cause, the
    launched worker kept, the refused one out of the cluster's spec (nothing half-created)."""
    gate.refusal, gate.allowed = (code, message), 1
    before = set(_running(aws_team))
    cluster, error = _scale(aws_team, 2)
    started = sorted(set(_running(aws_team)) - before)
    try:
        assert error is not None
        line = str(error)
        assert line.startswith(f"cannot add a Dask VM worker to cluster {cluster.name}: {expected}"), line
        assert line.endswith(" (1 worker runs)") and "\n" not in line
        causes = []
        cause: BaseException | None = error
        while cause is not None:
            causes.append(cause)
            cause = cause.__cause__ or cause.__context__
        assert any(isinstance(c, ClientError) and c.response["Error"]["Code"] == code for c in causes)
        assert len(started) == 1 and len(cluster.workers) == 1 and len(cluster.worker_spec) == 1
    finally:
        _terminate(aws_team, started)
