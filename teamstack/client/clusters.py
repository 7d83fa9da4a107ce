"""Dask clusters in a team stack: Kubernetes (the default) or, on request, EC2/GCE VMs via dask-cloudprovider.

Kubernetes: a DaskCluster resource built with dask_kubernetes' `make_cluster_spec`, then fitted to the team
(namespace, service accounts, node selectors and GPU tolerations, priority class, idle timeout, a non-root
restricted security context) from the manifest's `dask` section, which the stack's Kubernetes layer writes.

VMs: dask-cloudprovider's EC2Cluster/GCPCluster with the team's private subnet, security group, identity,
tags/labels and image. Its known traps are handled here (see /work/shared/DOMAIN.md): private ECR/Artifact
Registry images need a registry login in the bootstrap; public IPs are its default (use_private_ip=True on EC2,
`cloudprovider.gcp.public_ingress` set in dask config on GCP, where the keyword is ignored); the GPU driver
bootstrap is decided from `instance_type` only, so each VM's own type decides here; EC2 root volumes are
created unencrypted, so RunInstances is amended to encrypt them (and to tag every resource it creates, which
the team's data-scientist role requires). EC2 VMs get the stack's dask-vm instance profile unless told otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from getpass import getuser
from typing import Any

from teamstack import gcp_machines, instances, registries
from teamstack.client.errors import ClusterError
from teamstack.client.status import owner_label
from teamstack.manifest import DaskDefaults, GcpIdentity, GcpNetwork, Identity, Network, NodeGroup, TeamManifest
from teamstack.pools import GKE_GPU_TYPE_LABEL, NODE_GROUP_LABEL, aws_node_type, gcp_node_type

SCHEDULER_PORT_NAME = "tcp-comm"
# Node labels the cloud puts on spot nodes.
EKS_CAPACITY_LABEL = "eks.amazonaws.com/capacityType"
GKE_SPOT_LABEL = "cloud.google.com/gke-spot"
# Ubuntu 22.04 (dask-cloudprovider's default is 20.04, past its standard support): Canonical's public SSM
# parameter for the current amd64 AMI.
UBUNTU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"
# The AWS CLI as a container: Ubuntu AMIs have none, and the ECR login needs one (dask-cloudprovider #473).
AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.17.0"
_ECR_HOST_RE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_AR_HOST_RE = re.compile(r"^[a-z0-9-]+-docker\.pkg\.dev$")
_RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}
_RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


# What a data scientist asks for: False (CPU workers), True (any GPU group) or a GPU model ("t4", "a10g", "l4").
GpuRequest = bool | str


def is_gpu_instance_type(instance_type: str) -> bool:
    """An EC2 type with NVIDIA GPUs, from the platform's instance table (`teamstack.pools`)."""
    try:
        return aws_node_type(instance_type).gpu is not None
    except instances.InstanceTypeError:
        return False


def gpu_type_of(manifest: TeamManifest, group: NodeGroup) -> str | None:
    """A node group's GPU model ("t4"): the manifest's `gpuType` (schema 2), or for a schema-1 manifest the
    model its machine type carries, from the same tables the stack uses."""
    if group.kind != "gpu":
        return None
    if group.gpu_type is not None:
        return group.gpu_type
    try:
        if manifest.cloud == "aws":
            node = aws_node_type(group.instance_types[0])
        else:
            accelerator = group.labels.get(GKE_GPU_TYPE_LABEL)
            node = gcp_node_type(group.instance_types[0], accelerator, group.gpus_per_node if accelerator else None)
    except ValueError:
        return None
    return node.gpu.type if node.gpu else None


def _gke_accelerator(manifest: TeamManifest, group: NodeGroup) -> str | None:
    """GKE's accelerator name of a GCP group (gpuAccelerator; schema 1: the pool label or the GPU model)."""
    if group.gpu_accelerator or group.labels.get(GKE_GPU_TYPE_LABEL):
        return group.gpu_accelerator or group.labels[GKE_GPU_TYPE_LABEL]
    built_in = gcp_machines.BUILT_IN_GPUS.get(group.instance_types[0])
    if built_in:
        return built_in[0]
    model = gpu_type_of(manifest, group)
    matches = [a.type for a in gcp_machines.ACCELERATORS.values() if a.model.lower() == model]
    return matches[0] if len(matches) == 1 else None


def _dask_defaults(manifest: TeamManifest) -> DaskDefaults:
    if manifest.dask is None:
        raise ClusterError(
            f"the stack of team {manifest.team} has no Kubernetes layer yet (its manifest has no `dask` section): "
            "ask IT to deploy it, or start VMs with team.cluster(backend='ec2' or 'gcp')"
        )
    return manifest.dask


def _gke_name(manifest: TeamManifest, group: NodeGroup) -> str | None:
    return _gke_accelerator(manifest, group) if manifest.cloud == "gcp" else None


def _node_groups(manifest: TeamManifest, gpu: GpuRequest) -> list[NodeGroup]:
    """The groups a request may run on: the CPU groups, every GPU group (gpu=True), or those of one GPU model."""
    if not isinstance(gpu, bool | str):
        raise ClusterError(f"gpu must be True, False or a GPU type such as 't4', got {gpu!r}")
    kind = "cpu" if gpu is False else "gpu"
    groups = [group for group in manifest.node_groups if group.kind == kind]
    if not groups:
        raise ClusterError(f"team {manifest.team} has no {kind} node group: ask IT to add one to the stack")
    if isinstance(gpu, bool):
        return groups
    wanted = gpu.strip().lower()
    chosen = [g for g in groups if wanted in (gpu_type_of(manifest, g), g.gpu_accelerator, _gke_name(manifest, g))]
    if not chosen:
        offered = ", ".join(f"{g.name} ({gpu_type_of(manifest, g) or 'unknown'})" for g in groups)
        raise ClusterError(f"team {manifest.team} has no {gpu!r} GPU group; its GPU groups: {offered}")
    return chosen


def _capacity_selector(manifest: TeamManifest, gpu: GpuRequest, spot: bool | None) -> tuple[dict[str, str], Any]:
    """Node selector and affinity asking for spot / on-demand nodes, checked against the team's node groups."""
    if spot is None:
        return {}, None
    wanted = "spot" if spot else "on-demand"
    if not any(group.capacity == wanted for group in _node_groups(manifest, gpu)):
        kind = "CPU" if gpu is False else "GPU" if gpu is True else f"{gpu} GPU"
        raise ClusterError(f"team {manifest.team} has no {wanted} {kind} node group; ask without spot= or ask IT")
    if manifest.cloud == "aws":
        return {EKS_CAPACITY_LABEL: "SPOT" if spot else "ON_DEMAND"}, None
    if spot:
        return {GKE_SPOT_LABEL: "true"}, None
    expression = {"key": GKE_SPOT_LABEL, "operator": "DoesNotExist"}
    return {}, {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [expression]}]}}}  # fmt: skip


def check_image_reachable(manifest: TeamManifest, image: str) -> None:
    """Refuse an image the team's nodes cannot pull: with no internet egress (natMode: none), only their own
    cloud's registries are reachable, so a Docker Hub or ghcr.io image would wait in ImagePullBackOff forever."""
    if manifest.internet_egress is not False:
        return
    host, _ = registries.split_image(image)
    if registries.reachable_without_internet(host, manifest.cloud, manifest.region):
        return
    mirror = registries.mirrored(image, manifest.registry.mirrors or {})
    fix = (
        f"use its mirror {mirror}"
        if mirror
        else "build it from your environment spec (`teamstack env build`) into the team's registry"
    )
    raise ClusterError(
        f"image {image} is on {host}, which team {manifest.team}'s nodes cannot reach (no internet egress, "
        f"natMode: none): {fix}, or ask IT for natMode: single"
    )


def _require_internet_egress(manifest: TeamManifest, backend: str) -> None:
    """The VM backends' boot installs Docker from download.docker.com (dask-cloudprovider's cloud-init)."""
    if manifest.internet_egress is False:
        raise ClusterError(
            f"backend '{backend}' VMs install Docker from the internet at boot, and team {manifest.team}'s network "
            "has no internet egress (natMode: none): use the Kubernetes backend, or ask IT for natMode: single"
        )


def kube_cluster_spec(
    manifest: TeamManifest,
    *,
    name: str = "dask",
    image: str | None = None,
    n_workers: int = 0,
    gpu: GpuRequest = False,
    spot: bool | None = None,
    idle_timeout: int | None = None,
    worker_resources: Mapping[str, Mapping[str, str]] | None = None,
    batch: bool = False,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The DaskCluster resource for the team's namespace (nothing is contacted). `gpu`: False, True (any GPU
    group) or a GPU model ("t4", "a10g", "l4"), which pins the workers to the groups of that model."""
    from dask_kubernetes.operator import make_cluster_spec

    defaults = _dask_defaults(manifest)
    if n_workers < 0:
        raise ClusterError(f"n_workers must be >= 0, got {n_workers}")
    groups = _node_groups(manifest, gpu)
    image = str(image) if image else defaults.image
    check_image_reachable(manifest, image)
    worker = worker_resources or (defaults.gpu_worker_resources if gpu else defaults.worker_resources).model_dump()
    if gpu is not False:
        asked = int(str(worker.get("limits", {}).get("nvidia.com/gpu", "1")))
        fits = [g for g in groups if g.gpus_per_node >= asked]
        if not fits:
            raise ClusterError(
                f"a worker asking for {asked} GPUs fits no node of {', '.join(g.name for g in groups)} "
                f"(at most {max(g.gpus_per_node for g in groups)} per node)"
            )
        groups = fits
    scheduler = defaults.worker_resources.model_dump()
    timeout = defaults.idle_timeout_seconds if idle_timeout is None else idle_timeout
    spec: dict[str, Any] = make_cluster_spec(
        name=name,
        image=image,
        n_workers=n_workers,
        resources=None,
        env=dict(env or {}),
        worker_command="dask worker",  # the `dask-worker` script is gone from current distributed
        idle_timeout=timeout,
    )
    spec["metadata"]["namespace"] = defaults.namespace
    # Who started it: `teamstack status` shows it (the label only informs; RBAC decides who may delete it).
    spec["metadata"]["labels"] = {"teamstack.io/team": manifest.team, "teamstack.io/owner": owner_label(getuser())}
    priority = defaults.batch_priority_class if batch else defaults.interactive_priority_class

    scheduler_pod = spec["spec"]["scheduler"]["spec"]
    scheduler_pod.update(
        serviceAccountName=defaults.scheduler_service_account,
        nodeSelector=dict(defaults.cpu_node_selector),
        priorityClassName=priority,
        securityContext=dict(_RESTRICTED_POD),
    )
    (scheduler_container,) = scheduler_pod["containers"]
    # make_cluster_spec writes the `dask-scheduler` script, which current distributed no longer installs.
    scheduler_container["args"] = ["dask", "scheduler", "--host", "0.0.0.0"]
    scheduler_container["resources"] = scheduler
    scheduler_container["securityContext"] = dict(_RESTRICTED_CONTAINER)

    selector, affinity = _capacity_selector(manifest, gpu, spot)
    if isinstance(gpu, str) or len(groups) < len(_node_groups(manifest, gpu)):
        affinity = _with_groups(affinity, [g.name for g in groups])
    worker_pod = spec["spec"]["worker"]["spec"]
    worker_pod.update(
        serviceAccountName=defaults.worker_service_account,
        nodeSelector={**(defaults.gpu_node_selector if gpu else defaults.cpu_node_selector), **selector},
        priorityClassName=priority,
        securityContext=dict(_RESTRICTED_POD),
    )
    if affinity:
        worker_pod["affinity"] = affinity
    if gpu:
        worker_pod["tolerations"] = [t.model_dump(exclude_none=True) for t in defaults.gpu_tolerations]
    (worker_container,) = worker_pod["containers"]
    worker_container["resources"] = worker
    worker_container["securityContext"] = dict(_RESTRICTED_CONTAINER)
    if gpu:
        gpus = worker.get("limits", {}).get("nvidia.com/gpu", "1")
        # Tasks that need a GPU can ask for it with dask.annotate(resources={"GPU": 1}).
        insert = worker_container["args"].index("--name")
        worker_container["args"][insert:insert] = ["--resources", f"GPU={gpus}"]
    return spec


def _with_groups(affinity: Any, names: list[str]) -> dict[str, Any]:
    """Required node affinity to the named node groups (their `teamstack.io/node-group` label), added to the
    capacity affinity if there is one."""
    expression = {"key": NODE_GROUP_LABEL, "operator": "In", "values": names}
    if affinity is None:
        return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [expression]}]}}}  # fmt: skip
    for term in affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]:
        term["matchExpressions"].append(expression)
    return dict(affinity)


def kube_cluster(
    manifest: TeamManifest,
    *,
    adapt: tuple[int, int] | None = None,
    resource_timeout: int | None = None,
    **options: Any,
) -> Any:
    """Start a KubeCluster in the team namespace.

    Kubernetes access comes from the manifest and your cloud identity (`client/k8s_auth.py`); your kubeconfig
    is used instead when its current context is the team's cluster. Any failure is one `ClusterError` line,
    and a cluster that did not start is deleted again."""
    from teamstack.client import k8s_auth

    spec = kube_cluster_spec(manifest, **options)
    source = None if k8s_auth.user_kubeconfig_serves(manifest) else k8s_auth.token_source(manifest)
    if source is not None:
        source.token()  # no credentials: one line now, before a loop thread or a request exists
    cluster_class = team_kube_cluster_class()
    name = spec["metadata"]["name"]
    try:
        cluster = cluster_class(
            _teamstack=_KubeStart(manifest, source, bool(options.get("gpu", False))),
            custom_cluster_spec=spec,
            namespace=spec["metadata"]["namespace"],
            shutdown_on_close=True,
            resource_timeout=resource_timeout,
        )
    except ClusterError:
        raise
    except Exception as error:
        from teamstack.client.k8s_errors import describe_failure

        raise ClusterError(describe_failure(error, manifest, name, gpu=bool(options.get("gpu")))) from None
    if adapt is not None:
        _adapt_or_close(cluster, adapt)
    return cluster


def _adapt_or_close(cluster: Any, adapt: tuple[int, int]) -> None:
    """Adaptive scaling right after a start; refused, the cluster just started is closed again (one line)."""
    try:
        cluster.adapt(minimum=adapt[0], maximum=adapt[1])
    except ClusterError:
        with contextlib.suppress(Exception):
            cluster.close()
        raise


@dataclass(frozen=True)
class _KubeStart:
    manifest: TeamManifest
    source: Any  # k8s_auth.TokenSource, or None when the user's kubeconfig serves the team's cluster
    gpu: bool


@functools.cache
def team_kube_cluster_class() -> type:
    """KubeCluster with in-process Kubernetes auth and a start that, when it fails, says why in one line and
    deletes what it created (built lazily: imports dask-kubernetes)."""
    import kr8s
    from dask_kubernetes.operator import KubeCluster
    from dask_kubernetes.operator._objects import DaskCluster, DaskWorkerGroup
    from distributed.core import Status

    from teamstack.client import k8s_auth, scaling
    from teamstack.client.k8s_errors import describe_change_failure, describe_failure

    class TeamKubeCluster(KubeCluster):
        def __init__(self, *, _teamstack: _KubeStart, **kwargs: Any) -> None:
            self._teamstack = _teamstack
            self._teamstack_api: Any = None
            try:
                super().__init__(**kwargs)
            except BaseException:
                # The start failed: stop the loop thread the parent started, and keep atexit from reaping us.
                KubeCluster._instances.discard(self)
                runner = getattr(self, "_loop_runner", None)
                if runner is not None:
                    with contextlib.suppress(Exception):
                        runner.stop()
                raise

        async def _api(self) -> Any:
            if self._teamstack_api is None:
                if self._teamstack.source is None:
                    self._teamstack_api = await kr8s.asyncio.api()
                else:
                    self._teamstack_api = await k8s_auth.team_api(self._teamstack.manifest, self._teamstack.source)
            return self._teamstack_api

        async def _start(self) -> None:
            try:
                await self._api()  # registered first in this loop: dask-kubernetes' kr8s calls get it
                await super()._start()
            except BaseException as error:
                events = await self._events()
                left = await self._delete_leftovers()
                self.status = Status.closed
                message = describe_failure(error, self._teamstack.manifest, self.name, events, self._teamstack.gpu)
                raise ClusterError(message + left) from None

        # --- changes to the running cluster: checked against the team's limits, refusals in one line ---

        async def _scale(self, n: int, worker_group: str = "default") -> None:
            action = f"scale Dask cluster {self.name} to {n} workers"
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ClusterError(f"cannot {action}: the number of workers must be a whole number >= 0")
            await self._change(action, super()._scale(n, worker_group), worker_group, n, None)

        async def _adapt(self, minimum: int | None = None, maximum: int | None = None) -> None:
            action = f"make Dask cluster {self.name} adaptive between {minimum} and {maximum} workers"
            given = [v for v in (minimum, maximum) if v is not None]
            if any(isinstance(v, bool) or not isinstance(v, int) for v in given) or sorted(given) != given:
                raise ClusterError(f"cannot {action}: it needs whole numbers with 0 <= minimum <= maximum")
            if given and given[0] < 0:
                raise ClusterError(f"cannot {action}: it needs whole numbers with 0 <= minimum <= maximum")
            await self._change(action, super()._adapt(minimum, maximum), "default", minimum or 0, maximum)

        async def _change(self, action: str, request: Any, worker_group: str, low: int, high: int | None) -> None:
            """Check `low` (workers now) and `high` (an adaptive maximum) against the team's node groups and
            quota, then send `request`; any refusal is one ClusterError line with the API's error as cause."""
            manifest = self._teamstack.manifest
            try:
                await self._api()
                try:
                    group = await DaskWorkerGroup.get(f"{self.name}-{worker_group}", namespace=self.namespace)
                    worker = scaling.worker_of(group.raw)
                    quotas = await self._quotas()
                    refusal = (
                        scaling.pool_refusal(manifest, self.name, worker, max(low, high or 0), action)
                        or scaling.quota_refusal(manifest, worker, quotas, low, action)
                        or (scaling.quota_refusal(manifest, worker, quotas, high, action, free=False) if high else None)
                    )
                    if refusal:
                        raise ClusterError(refusal)
                    await request
                    request = None
                finally:
                    if request is not None:
                        request.close()  # not sent: no "coroutine was never awaited" warning
            except ClusterError:
                raise
            except Exception as error:
                raise ClusterError(describe_change_failure(error, manifest, self.name, action)) from error

        async def _quotas(self) -> list[dict[str, Any]]:
            """The namespace's ResourceQuotas; none when your identity may not read them (checked by the API)."""
            api = await self._api()
            try:
                async with api.call_api("GET", version="v1", url="resourcequotas", namespace=self.namespace) as answer:
                    return list(answer.json().get("items", []))
            except kr8s.ServerError as error:
                if error.response is not None and error.response.status_code in (403, 404):
                    return []
                raise

        async def _events(self) -> list[dict[str, Any]]:
            try:
                api = await self._api()
                async with api.call_api("GET", version="v1", url="events", namespace=self.namespace) as response:
                    return list(response.json().get("items", []))
            except Exception:
                return []  # events only refine the message; without them the error itself is reported

        async def _delete_leftovers(self) -> str:
            try:
                await self._api()
                cluster = await DaskCluster.get(self.name, namespace=self.namespace)
                await cluster.delete()
            except kr8s.NotFoundError:
                return ""
            except Exception as error:
                return (
                    f" (and DaskCluster {self.name} in namespace {self.namespace} could not be deleted: "
                    f"{type(error).__name__}; delete it with `kubectl delete daskcluster {self.name}`)"
                )
            return ""

    return TeamKubeCluster


# --- VMs ----------------------------------------------------------------------------------------------------


def _yaml_quoted(command: str) -> str:
    # dask-cloudprovider pastes each bootstrap command after "- " in its cloud-init YAML: quote it as a YAML
    # single-quoted scalar so ':' or '#' in the command cannot change the document.
    return "'" + command.replace("'", "''") + "'"


def registry_login_commands(image: str) -> list[str]:
    """Bootstrap commands that let Docker pull `image` from the team's private registry (none if public)."""
    host = image.split("/", 1)[0]
    ecr = _ECR_HOST_RE.match(host)
    if ecr:
        region = ecr.group(2)
        # --net=host: the container reaches the instance metadata service (and its role) like the host does.
        login = (
            f"docker run --rm --net=host {AWS_CLI_IMAGE} ecr get-login-password --region {region}"
            f" | docker login --username AWS --password-stdin {host}"
        )
        return [_yaml_quoted(login)]
    if _AR_HOST_RE.match(host):
        token = (
            "curl -sf -H 'Metadata-Flavor: Google' "
            "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
            " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"
            f" | docker login --username oauth2accesstoken --password-stdin https://{host}"
        )
        return [_yaml_quoted(token)]
    return []


def _vm_image(manifest: TeamManifest, image: str | None) -> str:
    if image:
        return str(image)
    if manifest.dask is not None:
        return manifest.dask.image
    raise ClusterError("pass image=... (for example team.environments.build(...)): the team manifest names none")


def _instance_type(manifest: TeamManifest, gpu: GpuRequest, chosen: str | None) -> str:
    return chosen or _node_groups(manifest, gpu)[0].instance_types[0]


def ubuntu_ami(ssm_client: Any) -> str:
    from botocore.exceptions import ClientError

    try:
        return str(ssm_client.get_parameter(Name=UBUNTU_AMI_PARAMETER)["Parameter"]["Value"])
    except ClientError as error:
        raise ClusterError(f"cannot look up the Ubuntu AMI ({UBUNTU_AMI_PARAMETER}): pass ami=... ({error})") from None


def ec2_cluster_options(
    manifest: TeamManifest,
    *,
    ami: str,
    instance_profile: str | None = None,
    image: str | None = None,
    n_workers: int = 0,
    gpu: GpuRequest = False,
    spot: bool = False,
    worker_instance_type: str | None = None,
    scheduler_instance_type: str | None = None,
    idle_timeout: int | None = None,
    filesystem_size: int | None = None,
    subnet_id: str | None = None,
) -> dict[str, Any]:
    """EC2Cluster keyword arguments inside the team's network (pure: nothing is contacted)."""
    if (
        manifest.cloud != "aws"
        or not isinstance(manifest.network, Network)
        or not isinstance(manifest.identity, Identity)
    ):
        raise ClusterError(f"backend 'ec2' needs an AWS team stack; team {manifest.team} is on {manifest.cloud}")
    _require_internet_egress(manifest, "ec2")
    # The stack's dask-vm profile unless one is named; manifests of stacks deployed before it have none.
    instance_profile = instance_profile or manifest.identity.dask_vm_instance_profile_arn
    if not instance_profile:
        raise ClusterError(
            f"backend 'ec2' needs instance_profile=...: team {manifest.team}'s stack predates the dask-vm instance "
            "profile (ask IT to update it), or name an instance profile whose role may read the team's buckets "
            "and pull from its registry"
        )
    network = manifest.network
    subnet = subnet_id or network.private_subnet_ids[0]
    if subnet not in network.private_subnet_ids:
        raise ClusterError(f"subnet {subnet} is not one of team {manifest.team}'s private subnets")
    worker_type = _instance_type(manifest, gpu, worker_instance_type)
    if gpu is not False and not is_gpu_instance_type(worker_type):
        raise ClusterError(f"gpu={gpu!r} but {worker_type} is not a GPU instance type")
    if isinstance(gpu, str) and aws_node_type(worker_type).gpu is not None:
        model = aws_node_type(worker_type).gpu
        if model is not None and model.type != gpu.strip().lower():
            raise ClusterError(f"gpu={gpu!r} but {worker_type} carries {model.type.upper()} GPUs")
    timeout = (
        idle_timeout if idle_timeout is not None else (manifest.dask.idle_timeout_seconds if manifest.dask else 1200)
    )
    docker_image = _vm_image(manifest, image)
    tags = {**manifest.tags, "teamstack.io/launched-by": "teamstack-client", "teamstack.io/owner": getuser()}
    profile = {"Arn": instance_profile} if instance_profile.startswith("arn:") else {"Name": instance_profile}
    return {
        "region": manifest.region,
        "vpc": network.vpc_id,
        "subnet_id": subnet,
        "security_groups": [network.dask_security_group_id],
        "iam_instance_profile": profile,
        "ami": ami,
        "bootstrap": True,
        "extra_bootstrap": registry_login_commands(docker_image),
        "docker_image": docker_image,
        "scheduler_instance_type": _instance_type(manifest, False, scheduler_instance_type),
        "worker_instance_type": worker_type,
        "use_private_ip": True,
        "instance_tags": tags,
        "volume_tags": tags,
        "spot": spot,
        "n_workers": n_workers,
        "filesystem_size": filesystem_size or 64,
        "scheduler_options": {"idle_timeout": f"{timeout}s"},
        "security": True,
    }


def _encrypt_and_keep_private(params: dict[str, Any], **_: Any) -> None:
    """botocore `provide-client-params.ec2.RunInstances` hook: encrypted root volume, no public address, IMDSv2,
    and the instance's tags on the network interface and spot request too (the data-scientist role may only
    launch them tagged team=<team>; dask-cloudprovider tags instance and volume only)."""
    for mapping in params.get("BlockDeviceMappings", []):
        if "Ebs" in mapping:
            mapping["Ebs"]["Encrypted"] = True
    for interface in params.get("NetworkInterfaces", []):
        interface["AssociatePublicIpAddress"] = False
    params.setdefault("MetadataOptions", {"HttpTokens": "required", "HttpPutResponseHopLimit": 1})
    specifications = params.setdefault("TagSpecifications", [])
    tagged = {spec.get("ResourceType") for spec in specifications}
    instance_tags = next((spec["Tags"] for spec in specifications if spec.get("ResourceType") == "instance"), None)
    if instance_tags is not None:
        kinds = ["network-interface"] + (["spot-instances-request"] if "InstanceMarketOptions" in params else [])
        specifications.extend(
            {"ResourceType": kind, "Tags": list(instance_tags)} for kind in kinds if kind not in tagged
        )


@functools.cache
def team_ec2_cluster_class() -> type:
    """EC2Cluster with per-VM GPU detection and hardened RunInstances (built lazily: imports dask-cloudprovider)."""
    from dask_cloudprovider.aws.ec2 import EC2Cluster, EC2Scheduler, EC2Worker
    from distributed.core import Status

    def harden(vm: Any) -> None:
        session = vm.cluster.boto_session
        if not getattr(session, "_teamstack_hardened", False):
            session.register("provide-client-params.ec2.RunInstances", _encrypt_and_keep_private)
            session._teamstack_hardened = True

    class TeamEC2Scheduler(EC2Scheduler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.gpu_instance = is_gpu_instance_type(self.instance_type)

        async def create_vm(self) -> Any:
            harden(self)
            return await super().create_vm()

        async def destroy_vm(self) -> None:
            if self.instance is not None:  # RunInstances refused: nothing to terminate (upstream fails here)
                await super().destroy_vm()

    class TeamEC2Worker(EC2Worker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.gpu_instance = is_gpu_instance_type(self.instance_type)

        async def create_vm(self) -> Any:
            harden(self)
            return await super().create_vm()

        async def destroy_vm(self) -> None:
            if self.instance is not None:
                await super().destroy_vm()

    class TeamEC2Cluster(EC2Cluster):
        """EC2Cluster assigns its own VM classes in __init__ and starts at once: these properties keep ours.
        A failed start is one ClusterError line, after every VM it launched is terminated."""

        scheduler_class = property(lambda self: TeamEC2Scheduler, lambda self, value: None)
        worker_class = property(lambda self: TeamEC2Worker, lambda self, value: None)

        def __init__(self, *args: Any, team: str = "", **kwargs: Any) -> None:
            import copy

            import dask.config

            self._teamstack_team = team
            self._teamstack_options = dict(kwargs)
            self._teamstack_failure: ClusterError | None = None
            # dask-cloudprovider sets process-wide TLS settings (require-encryption) as it starts: a failed
            # start puts the previous settings back, or every later local Dask comm would be refused.
            self._teamstack_comm_config = copy.deepcopy(dask.config.get("distributed.comm"))
            try:
                super().__init__(*args, **kwargs)
            except BaseException:
                runner = getattr(self, "_loop_runner", None)  # the failed start's loop thread
                if runner is not None:
                    with contextlib.suppress(Exception):
                        runner.stop()
                raise

        async def _start(self) -> None:
            try:
                await super()._start()
            except BaseException as error:
                raise ClusterError(await self.teamstack_failed(error)) from None

        # --- scaling: distributed corrects the cluster towards its worker spec in a background task, where a
        # refused RunInstances is only logged; here scale() waits for the correction and raises its one line.

        async def _correct_state_internal(self) -> None:
            before = set(self.workers)
            try:
                await super()._correct_state_internal()
            except Exception as error:
                if self.status == Status.starting:
                    raise  # the start's own workers: _start reports them and cleans up
                # Recorded for scale() to raise; raised here, tornado would log it with a traceback as well.
                failure = ClusterError(await self._teamstack_scale_failed(error, before))
                failure.__cause__ = error
                self._teamstack_failure = failure

        async def _teamstack_scale_failed(self, error: BaseException, before: set[Any]) -> str:
            """The one line for workers that did not start; their VMs are terminated and they leave the spec,
            so the cluster keeps the workers it has and nothing half-created."""
            failed = {
                name: worker
                for name, worker in self.workers.items()
                if name not in before and getattr(worker, "status", None) != Status.running
            }
            vms = [w.instance["InstanceId"] for w in failed.values() if getattr(w, "instance", None)]
            for name in failed:
                self.workers.pop(name, None)
                self.worker_spec.pop(name, None)
            workers = "a Dask VM worker" if len(failed) == 1 else f"{len(failed)} Dask VM workers"
            message = f"cannot add {workers} to cluster {self.name}: " + await self._teamstack_why(error)
            running = len(self.workers)
            message += f" ({running} worker runs)" if running == 1 else f" ({running} workers run)"
            if vms:
                try:
                    async with self.boto_session.create_client(
                        "ec2", region_name=self._teamstack_options.get("region")
                    ) as client:
                        await client.terminate_instances(InstanceIds=vms)
                except Exception as cleanup:
                    message += (
                        f" (and VMs {', '.join(vms)} could not be terminated: {type(cleanup).__name__}; "
                        "terminate them in the EC2 console)"
                    )
            return message

        def scale(self, n: int = 0, memory: Any = None, cores: Any = None) -> Any:
            """Scale to `n` workers and wait for the new VMs' launch: a refusal is one ClusterError line (the
            workers that did not start are dropped, their VMs terminated). From the event loop (adaptive
            scaling) it returns the awaitable."""
            super().scale(n, memory=memory, cores=cores)
            return self.sync(self._teamstack_scaled)

        async def _teamstack_scaled(self) -> None:
            await self._correct_state()  # a refusal is recorded, whichever correction met it
            failure, self._teamstack_failure = self._teamstack_failure, None
            if failure is not None:
                raise failure

        def _teamstack_vms(self) -> list[str]:
            vms = [getattr(self, "scheduler", None), *getattr(self, "workers", {}).values()]
            return [vm.instance["InstanceId"] for vm in vms if getattr(vm, "instance", None)]

        async def _teamstack_why(self, error: BaseException) -> str:
            """EC2's refusal in a phrase (an UnauthorizedOperation decoded when your identity may)."""
            import asyncio

            import boto3

            from teamstack.client.ec2_errors import decode_authorization, describe_ec2_failure

            sts = boto3.session.Session(region_name=self._teamstack_options.get("region")).client("sts")
            decoded = await asyncio.get_running_loop().run_in_executor(None, decode_authorization, sts, error)
            return describe_ec2_failure(error, self._teamstack_options, self._teamstack_team, decoded)

        async def teamstack_failed(self, error: BaseException) -> str:
            """The one line for `error`, after terminating whatever VMs this cluster launched."""
            import dask.config

            region = self._teamstack_options.get("region")
            message = await self._teamstack_why(error)
            vms = self._teamstack_vms()
            self.status = Status.closed
            dask.config.config["distributed"]["comm"] = self._teamstack_comm_config
            if not vms:
                return message
            try:
                async with self.boto_session.create_client("ec2", region_name=region) as client:
                    await client.terminate_instances(InstanceIds=vms)
            except Exception as cleanup:
                return (
                    f"{message} (and VMs {', '.join(vms)} could not be terminated: {type(cleanup).__name__}; "
                    "terminate them in the EC2 console)"
                )
            return message

    return TeamEC2Cluster


def ec2_cluster(manifest: TeamManifest, *, adapt: tuple[int, int] | None = None, **options: Any) -> Any:
    """Start an EC2Cluster; a refused start is one ClusterError line and leaves no VM running."""
    try:
        cluster = team_ec2_cluster_class()(team=manifest.team, **ec2_cluster_options(manifest, **options))
    except ClusterError:
        raise
    except Exception as error:  # failed before the cluster's own start (its arguments, the loop)
        from teamstack.client.ec2_errors import describe_ec2_failure

        raise ClusterError(describe_ec2_failure(error, options, manifest.team)) from None
    if adapt is not None:
        cluster.adapt(minimum=adapt[0], maximum=adapt[1])
    return cluster


def gcp_cluster_options(
    manifest: TeamManifest,
    *,
    image: str | None = None,
    n_workers: int = 0,
    gpu: GpuRequest = False,
    gpu_type: str | None = None,
    spot: bool = False,
    worker_machine_type: str | None = None,
    scheduler_machine_type: str | None = None,
    source_image: str = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
    filesystem_size: int | None = None,
    idle_timeout: int | None = None,
) -> dict[str, Any]:
    """GCPCluster keyword arguments inside the team's network (pure: nothing is contacted)."""
    if manifest.cloud != "gcp" or not isinstance(manifest.network, GcpNetwork):
        raise ClusterError(f"backend 'gcp' needs a GCP team stack; team {manifest.team} is on {manifest.cloud}")
    _require_internet_egress(manifest, "gcp")
    assert isinstance(manifest.identity, GcpIdentity)
    network = manifest.network
    if network.subnetwork != network.network:
        # GCPCluster builds the subnetwork path from the network name (dask-cloudprovider #396).
        raise ClusterError(
            f"GCPCluster can only use a subnetwork named like its network; team {manifest.team}'s subnetwork "
            f"{network.subnetwork!r} differs from network {network.network!r}: use the Kubernetes backend"
        )
    if gpu is True and gpu_type:
        gpu = gpu_type  # the older spelling: gpu=True, gpu_type="nvidia-tesla-t4"
    workers = _gcp_workers(manifest, gpu, worker_machine_type)
    timeout = (
        idle_timeout if idle_timeout is not None else (manifest.dask.idle_timeout_seconds if manifest.dask else 1200)
    )
    docker_image = _vm_image(manifest, image)
    options: dict[str, Any] = {
        "projectid": manifest.account,
        "zone": network.zones[0],
        "network": network.network,
        "network_projectid": manifest.account,
        "scheduler_machine_type": scheduler_machine_type or "e2-standard-4",
        "worker_machine_type": workers[0],
        "source_image": source_image,
        "docker_image": docker_image,
        "extra_bootstrap": registry_login_commands(docker_image),
        "preemptible": spot,
        "instance_labels": {k.lower().replace("/", "_").replace(".", "_"): v.lower() for k, v in manifest.tags.items()},
        "service_account": manifest.identity.dask_worker_gsa,
        "n_workers": n_workers,
        "filesystem_size": filesystem_size or 64,
        "scheduler_options": {"idle_timeout": f"{timeout}s"},
        "security": True,
    }
    if workers[1] is not None:
        # Every GPU the machine carries: G2/A2/A3 types come with a fixed count (g2-standard-24: 2 L4s), and
        # GCE refuses a VM that asks for fewer.
        options.update(worker_ngpus=workers[1].count, worker_gpu_type=workers[1].accelerator)
    return options


def _gcp_workers(manifest: TeamManifest, gpu: GpuRequest, machine: str | None) -> tuple[str, Any]:
    """The worker machine type and its GPUs (`teamstack.pools.Gpu`, or None) for a GCPCluster request."""
    group = _node_groups(manifest, gpu)[0]
    machine = machine or group.instance_types[0]
    if gpu is False:
        return machine, None
    accelerator = None if machine in gcp_machines.BUILT_IN_GPUS else _gke_accelerator(manifest, group)
    count = group.gpus_per_node if accelerator and machine == group.instance_types[0] else None
    try:
        node = gcp_node_type(machine, accelerator, count)
    except gcp_machines.MachineTypeError as error:
        raise ClusterError(f"gpu={gpu!r} on {machine}: {error}") from None
    if node.gpu is None:
        raise ClusterError(f"gpu={gpu!r} but {machine} carries no GPUs and team group {group.name} names none")
    return machine, node.gpu


def private_gcp_config() -> dict[str, Any]:
    # GCPCluster ignores public_ingress passed as a keyword; only dask config turns the external IP off.
    return {"cloudprovider.gcp.public_ingress": False}


def gcp_cluster(manifest: TeamManifest, *, adapt: tuple[int, int] | None = None, **options: Any) -> Any:
    import dask.config
    from dask_cloudprovider.gcp import GCPCluster

    kwargs = gcp_cluster_options(manifest, **options)
    # Set for the process, not a `with` block: the setting is read again whenever a worker VM is created.
    dask.config.set(private_gcp_config())
    cluster = GCPCluster(**kwargs)
    if adapt is not None:
        cluster.adapt(minimum=adapt[0], maximum=adapt[1])
    return cluster
