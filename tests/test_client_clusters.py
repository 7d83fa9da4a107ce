"""Clusters: the KubeCluster resource from the real ml-vision plan (validated against the Kubernetes schemas),
the EC2Cluster launch checked at the API boundary against moto (RunInstances captured with botocore event
hooks), and the GCPCluster arguments. No cluster is contacted and nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml
from standins import *  # noqa: F403  (the stand-in fixtures)
from standins import AwsTeam, gcp_manifest, planned_manifest

from teamstack.client import ClusterError
from teamstack.client.clusters import (
    ec2_cluster_options,
    gcp_cluster_options,
    kube_cluster_spec,
    private_gcp_config,
    registry_login_commands,
    team_ec2_cluster_class,
)
from teamstack.manifest import Identity, TeamManifest


@pytest.fixture
def manifest() -> TeamManifest:
    planned = planned_manifest()
    assert planned.dask is not None, "the ml-vision plan has a Kubernetes layer (dask defaults)"
    return planned


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


def _pods(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"scheduler": spec["spec"]["scheduler"]["spec"], "worker": spec["spec"]["worker"]["spec"]}


def _validate_pod(pod_spec: dict[str, Any], version: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dask", "namespace": "ml-vision"}, "spec": pod_spec}
    kubernetes_validate.validate(pod, version, strict=True)


def test_kube_spec_takes_the_team_defaults(manifest: TeamManifest) -> None:
    assert manifest.dask is not None
    spec = kube_cluster_spec(manifest, name="analysis", n_workers=3)
    assert spec["kind"] == "DaskCluster" and spec["metadata"]["namespace"] == manifest.dask.namespace
    assert spec["spec"]["idleTimeout"] == manifest.dask.idle_timeout_seconds
    assert spec["spec"]["worker"]["replicas"] == 3
    pods = _pods(spec)
    assert pods["scheduler"]["serviceAccountName"] == manifest.dask.scheduler_service_account
    assert pods["worker"]["serviceAccountName"] == manifest.dask.worker_service_account
    assert pods["worker"]["nodeSelector"] == manifest.dask.cpu_node_selector
    assert "tolerations" not in pods["worker"]
    assert pods["worker"]["priorityClassName"] == manifest.dask.interactive_priority_class
    for pod in pods.values():
        (container,) = pod["containers"]
        assert container["image"] == manifest.dask.image
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        _validate_pod(pod, manifest.cluster.kubernetes_version)
    (worker,) = pods["worker"]["containers"]
    assert worker["resources"] == manifest.dask.worker_resources.model_dump()
    assert worker["args"][:2] == ["dask", "worker"]
    assert pods["scheduler"]["containers"][0]["args"][:2] == ["dask", "scheduler"]


def test_kube_gpu_workers_get_gpus_tolerations_and_the_gpu_pool(manifest: TeamManifest) -> None:
    assert manifest.dask is not None
    spec = kube_cluster_spec(manifest, gpu=True, image="registry.example/img:1", idle_timeout=600, batch=True)
    worker_pod = _pods(spec)["worker"]
    (worker,) = worker_pod["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker_pod["nodeSelector"] == manifest.dask.gpu_node_selector
    assert worker_pod["tolerations"] == [t.model_dump(exclude_none=True) for t in manifest.dask.gpu_tolerations]
    assert worker_pod["priorityClassName"] == manifest.dask.batch_priority_class
    assert "--resources" in worker["args"] and worker["args"][worker["args"].index("--resources") + 1] == "GPU=1"
    assert worker["image"] == "registry.example/img:1" and spec["spec"]["idleTimeout"] == 600
    # The scheduler stays on CPU nodes without GPUs.
    scheduler_pod = _pods(spec)["scheduler"]
    assert "nvidia.com/gpu" not in scheduler_pod["containers"][0]["resources"]["limits"]
    assert "tolerations" not in scheduler_pod
    _validate_pod(worker_pod, manifest.cluster.kubernetes_version)


def test_kube_spot_is_checked_against_the_node_groups(manifest: TeamManifest) -> None:
    spec = kube_cluster_spec(manifest, spot=True)
    assert _pods(spec)["worker"]["nodeSelector"]["eks.amazonaws.com/capacityType"] == "SPOT"
    # ml-vision's CPU group is spot only: asking for on-demand CPU workers cannot be scheduled.
    with pytest.raises(ClusterError, match="no on-demand CPU node group"):
        kube_cluster_spec(manifest, spot=False)
    on_demand = kube_cluster_spec(manifest, gpu=True, spot=False)  # gpu-a10g is on-demand
    assert _pods(on_demand)["worker"]["nodeSelector"]["eks.amazonaws.com/capacityType"] == "ON_DEMAND"


def test_kube_without_the_kubernetes_layer_says_so(manifest: TeamManifest) -> None:
    bare = manifest.model_copy(update={"dask": None})
    with pytest.raises(ClusterError, match="has no Kubernetes layer yet"):
        kube_cluster_spec(bare)


def test_registry_login_is_valid_cloud_init(manifest: TeamManifest) -> None:
    """The bootstrap login lands in dask-cloudprovider's cloud-init as one runcmd entry, intact."""
    from dask_cloudprovider.generic.vmcluster import VMCluster

    assert manifest.dask is not None
    commands = registry_login_commands(manifest.dask.image)
    ar = registry_login_commands("europe-west4-docker.pkg.dev/p/geo/dask:1")
    assert registry_login_commands("docker.io/daskdev/dask:latest") == []
    rendered = VMCluster.render_cloud_init(
        type("Debugless", (), {"debug": False})(),
        image=manifest.dask.image,
        command="dask scheduler",
        docker_args="",
        extra_bootstrap=commands + ar,
        gpu_instance=False,
        bootstrap=True,
        auto_shutdown=True,
        env_vars={},
    )
    runcmd = yaml.safe_load(rendered)["runcmd"]
    ecr_login = next(c for c in runcmd if "ecr get-login-password" in c)
    assert ecr_login.endswith("--password-stdin 123456789012.dkr.ecr.us-west-2.amazonaws.com")
    assert "--region us-west-2" in ecr_login
    gcp_login = next(c for c in runcmd if "oauth2accesstoken" in c)
    assert "'Metadata-Flavor: Google'" in gcp_login and gcp_login.endswith("https://europe-west4-docker.pkg.dev")
    assert runcmd.index(ecr_login) < next(i for i, c in enumerate(runcmd) if str(c).startswith("docker run --net=host"))


def test_ec2_launch_at_the_api_boundary(aws_team: AwsTeam) -> None:
    manifest = aws_team.manifest
    assert manifest.dask is not None
    # No instance_profile: the VMs get the stack's dask-vm profile, named in the manifest.
    options = ec2_cluster_options(manifest, ami=aws_team.ami, gpu=True, spot=True, n_workers=1)
    captured: list[dict[str, Any]] = []

    async def launch() -> list[Any]:
        cluster = team_ec2_cluster_class()(asynchronous=True, **options)
        # Registered after the cluster's own hooks: sees the parameters exactly as they are sent.
        cluster.boto_session.register(
            "before-parameter-build.ec2.RunInstances", lambda params, **_: captured.append(copy.deepcopy(params))
        )
        scheduler = cluster.scheduler_class(**cluster.scheduler_options)
        worker = cluster.worker_class("tls://10.40.0.10:8786", **cluster.worker_options)
        addresses = [await scheduler.create_vm(), await worker.create_vm()]
        for vm in (scheduler, worker):
            await vm.destroy_vm()
        return addresses

    # A private loop: asyncio.run would leave the main thread without a current loop for later tests.
    loop = asyncio.new_event_loop()
    try:
        addresses = loop.run_until_complete(launch())
    finally:
        loop.close()
    assert len(captured) == 2
    for params in captured:  # botocore has base64-encoded the user data by this point, as EC2 receives it
        params["UserData"] = base64.b64decode(params["UserData"]).decode()
    network = manifest.network
    for params, (private_ip, public_ip) in zip(captured, addresses, strict=True):
        (interface,) = params["NetworkInterfaces"]
        assert interface["SubnetId"] in network.private_subnet_ids  # type: ignore[union-attr]
        assert interface["Groups"] == [network.dask_security_group_id]  # type: ignore[union-attr]
        assert interface["AssociatePublicIpAddress"] is False
        assert params["IamInstanceProfile"] == {"Arn": aws_team.instance_profile_arn}
        assert aws_team.instance_profile_arn == manifest.identity.dask_vm_instance_profile_arn  # type: ignore[union-attr]
        assert params["ImageId"] == aws_team.ami
        assert all(m["Ebs"]["Encrypted"] is True for m in params["BlockDeviceMappings"])
        assert params["MetadataOptions"]["HttpTokens"] == "required"
        tags = {s["ResourceType"]: {t["Key"]: t["Value"] for t in s["Tags"]} for s in params["TagSpecifications"]}
        # The data-scientist role launches only resources tagged team=<team>, the spot request included.
        launched = ["instance", "volume", "network-interface"] + (
            ["spot-instances-request"] if "InstanceMarketOptions" in params else []
        )
        assert sorted(tags) == sorted(launched)
        for kind in launched:
            assert tags[kind]["team"] == "ml-vision" and tags[kind]["cost-center"] == manifest.cost_center
        assert f"--password-stdin {manifest.dask.image.split('/')[0]}" in params["UserData"]
        assert manifest.dask.image in params["UserData"]
        assert private_ip.startswith("10.40.") and public_ip is None
    scheduler_params, worker_params = captured
    assert scheduler_params["InstanceType"] == "m7i.4xlarge" and "InstanceMarketOptions" not in scheduler_params
    assert worker_params["InstanceType"] == "g4dn.xlarge"
    assert worker_params["InstanceMarketOptions"]["MarketType"] == "spot"
    # GPU bootstrap follows each VM's own type (dask-cloudprovider decides it from `instance_type` only).
    assert "ubuntu-drivers install" in worker_params["UserData"] and "--gpus=all" in worker_params["UserData"]
    assert "ubuntu-drivers install" not in scheduler_params["UserData"]
    assert f"--idle-timeout {manifest.dask.idle_timeout_seconds}s" in scheduler_params["UserData"]


def test_ec2_options_refuse_what_the_stack_cannot_serve(aws_team: AwsTeam) -> None:
    manifest = aws_team.manifest
    assert isinstance(manifest.identity, Identity)
    # A stack deployed before the dask-vm profile: its manifest names none, and nothing was passed.
    older = manifest.model_copy(
        update={"identity": manifest.identity.model_copy(update={"dask_vm_instance_profile_arn": None})}
    )
    with pytest.raises(ClusterError, match=r"needs instance_profile=.*predates the dask-vm instance profile"):
        ec2_cluster_options(older, ami=aws_team.ami)
    # A profile the data scientist names still wins (by name or ARN), over the manifest's too.
    assert ec2_cluster_options(older, instance_profile="mine", ami=aws_team.ami)["iam_instance_profile"] == {
        "Name": "mine"
    }
    named = ec2_cluster_options(manifest, instance_profile="arn:aws:iam::123456789012:instance-profile/x", ami="ami-1")
    assert named["iam_instance_profile"] == {"Arn": "arn:aws:iam::123456789012:instance-profile/x"}
    with pytest.raises(ClusterError, match="not one of team ml-vision's private subnets"):
        ec2_cluster_options(manifest, instance_profile="p", ami=aws_team.ami, subnet_id="subnet-public")
    with pytest.raises(ClusterError, match="not a GPU instance type"):
        ec2_cluster_options(
            manifest, instance_profile="p", ami=aws_team.ami, gpu=True, worker_instance_type="m7g.large"
        )
    with pytest.raises(ClusterError, match="needs an AWS team stack"):
        ec2_cluster_options(gcp_manifest(), instance_profile="p", ami="ami-1")


def test_gcp_options_stay_private_and_labelled() -> None:
    manifest = gcp_manifest()
    options = gcp_cluster_options(manifest, image="europe-west4-docker.pkg.dev/p/geo/dask:1", spot=True)
    assert options["projectid"] == manifest.account and options["zone"] == "europe-west4-a"
    assert options["network"] == "geo-vpc" and options["preemptible"] is True
    assert options["service_account"] == "geo-dask-worker@vision-geo-dev.iam.gserviceaccount.com"
    assert options["instance_labels"] == {"team": "geo", "managed-by": "teamstack"}
    assert "public_ingress" not in options  # ignored as a keyword: it must come from dask config
    assert private_gcp_config() == {"cloudprovider.gcp.public_ingress": False}
    assert any("oauth2accesstoken" in command for command in options["extra_bootstrap"])
    gpu = gcp_cluster_options(manifest, image="img:1", gpu=True, gpu_type="nvidia-tesla-t4")
    assert gpu["worker_ngpus"] == 1 and gpu["worker_gpu_type"] == "nvidia-tesla-t4"
    split = manifest.model_copy(update={"network": manifest.network.model_copy(update={"subnetwork": "other"})})
    with pytest.raises(ClusterError, match="subnetwork named like its network"):
        gcp_cluster_options(split, image="img:1")


def test_gcp_public_ingress_from_config_removes_the_external_ip() -> None:
    """The GCE instance body dask-cloudprovider builds has no accessConfigs (no external IP) under our config."""
    import dask.config
    from dask_cloudprovider.gcp.instances import GCPInstance

    manifest = gcp_manifest()
    options = gcp_cluster_options(manifest, image="img:1")

    class FakeCluster:  # the two attributes GCPInstance.create_vm reads before calling the API
        uuid = "abc"

    with dask.config.set(private_gcp_config()):
        instance = GCPInstance(
            FakeCluster(),
            config=dask.config.get("cloudprovider.gcp"),
            projectid=options["projectid"],
            zone=options["zone"],
            network=options["network"],
            machine_type=options["worker_machine_type"],
            filesystem_size=options["filesystem_size"],
            docker_image=options["docker_image"],
            instance_labels=options["instance_labels"],
            service_account=options["service_account"],
        )
        instance.cloud_init = "#cloud-config"  # rendered by create_vm, which would call the API next
        body = instance.create_gcp_config()
    assert "accessConfigs" not in body["networkInterfaces"][0]
    assert body["serviceAccounts"][0]["email"] == options["service_account"]


def test_team_cluster_refuses_bad_requests_before_starting_anything(aws_team: AwsTeam) -> None:
    import teamstack

    team = teamstack.connect("ml-vision")
    with pytest.raises(ClusterError, match="0 <= minimum <= maximum"):
        team.cluster(adapt=(5, 2))
    with pytest.raises(ClusterError, match="unknown backend 'fargate'"):
        team.cluster(backend="fargate")
    with pytest.raises(ClusterError, match="needs a GCP team stack"):
        team.cluster(backend="gcp", image="img:1")
    with pytest.raises(ClusterError, match="cannot look up the Ubuntu AMI"):
        team.cluster(backend="ec2")  # moto has no Canonical parameter
