"""What the Kubernetes layer puts on a team cluster, as plain data (pure functions, unit-tested).

`layer.py` turns these into pulumi-kubernetes resources; the team manifest's `dask` section and the Helm
values come from here too, so a test can check them without running a plan. Both clouds share everything in
this module except the kubeconfig builders and the EKS-only charts (cluster-autoscaler, NVIDIA device plugin).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from teamstack import envhash, naming, quantity, registries
from teamstack.config import KubernetesConfig
from teamstack.pools import GPU_TAINT_KEY, SYSTEM_TAINT_KEY, NodePool, gpu_share
from teamstack.pools import NODE_KIND_LABEL as NODE_KIND_LABEL  # the layer's node selectors

# --- labels, taints and names shared with the node groups of both clouds ------------------------------------

# NODE_KIND_LABEL (system / cpu / gpu, on every pool) and the taints are the node-pool model's (teamstack.pools).
GPU_RESOURCE = "nvidia.com/gpu"
MANAGED_BY_LABELS = {"app.kubernetes.io/managed-by": naming.MANAGED_BY}
PLATFORM_LABEL_PREFIX = "teamstack.io/"

OPERATOR_NAMESPACE = naming.OPERATOR_NAMESPACE
SYSTEM_NAMESPACE = naming.SYSTEM_NAMESPACE
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
DATA_SCIENTIST_ROLE = "dask-user"

INTERACTIVE_PRIORITY_CLASS = "dask-interactive"
BATCH_PRIORITY_CLASS = "dask-batch"
# Above every pod without a class (0) and far below the system classes (2e9): interactive preempts batch.
INTERACTIVE_PRIORITY = 100_000
BATCH_PRIORITY = 10_000

# --- Helm charts: official repositories only ------------------------------------------------------------------

DASK_OPERATOR_CHART = "dask-kubernetes-operator"
DASK_OPERATOR_REPOSITORY = "https://helm.dask.org"
# The chart's default image (values.yaml `image.name`); its tag follows the chart version.
DASK_OPERATOR_IMAGE = "ghcr.io/dask/dask-kubernetes-operator"
AUTOSCALER_CHART = "cluster-autoscaler"
AUTOSCALER_REPOSITORY = "https://kubernetes.github.io/autoscaler"
AUTOSCALER_IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler"
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_REPOSITORY = "https://nvidia.github.io/k8s-device-plugin"
# The chart's default image (values.yaml `image.repository`), published on nvcr.io only (the project's CI pushes
# commit-tagged builds to ghcr.io, not releases), which ECR cannot cache: AWS refuses GPU groups with natMode none.
DEVICE_PLUGIN_IMAGE = f"{registries.NVCR}/nvidia/k8s-device-plugin"

# cluster-autoscaler must run the minor version of the cluster it scales (its own compatibility rule); the
# chart's default image follows the chart, not the cluster, so the tag is set per cluster version.
AUTOSCALER_IMAGE_TAGS = {
    "1.30": "v1.30.0",
    "1.31": "v1.31.0",
    "1.32": "v1.32.0",
    "1.33": "v1.33.0",
    "1.34": "v1.34.0",
    "1.35": "v1.35.0",
}

# --- Dask ports -------------------------------------------------------------------------------------------------

SCHEDULER_PORT = 8786
SCHEDULER_DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788
# Workers and nannies listen on ports the kernel picks (the operator's worker spec sets none), which Linux takes
# from net.ipv4.ip_local_port_range: 32768-60999 unless a node changes it.
EPHEMERAL_PORTS = (32768, 60999)


@dataclass(frozen=True)
class Toleration:
    key: str
    operator: Literal["Equal", "Exists"] = "Exists"
    effect: str = "NoSchedule"
    value: str | None = None

    def to_kubernetes(self) -> dict[str, str]:
        out = {"key": self.key, "operator": self.operator, "effect": self.effect}
        if self.value is not None:
            out["value"] = self.value
        return out


GPU_TOLERATION = Toleration(GPU_TAINT_KEY)
SYSTEM_TOLERATION = Toleration(SYSTEM_TAINT_KEY)


@dataclass(frozen=True)
class RbacSubject:
    """Who the data scientists are to Kubernetes: a group (EKS access entry group, Google group) or a user."""

    kind: Literal["Group", "User"]
    name: str


def gke_rbac_subjects(members: Sequence[str]) -> list[RbacSubject]:
    """IAM members (`group:x@example.com`, `user:y@example.com`) as GKE RBAC subjects. Groups need GKE's Google
    Groups for RBAC (the cluster's `authenticatorGroupsConfig`); service accounts are not people and are left out."""
    subjects = []
    for member in members:
        kind, _, email = member.partition(":")
        if kind == "group":
            subjects.append(RbacSubject("Group", email))
        elif kind == "user":
            subjects.append(RbacSubject("User", email))
    return subjects


# --- labels -----------------------------------------------------------------------------------------------------

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")


def label_value(value: str) -> str:
    """A tag value as a Kubernetes label value: characters outside [A-Za-z0-9_.-] become '_', at most 63, and
    starting and ending with a letter or digit."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", value)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def object_labels(tags: Mapping[str, str]) -> dict[str, str]:
    """The team's tags as labels under `teamstack.io/` (team, cost-center, managed-by and the team's own), plus
    the standard managed-by label. `owner` is an email, which no label value can hold: it is an annotation."""
    labels = {
        f"{PLATFORM_LABEL_PREFIX}{key}": label_value(value)
        for key, value in tags.items()
        if key != "owner" and _LABEL_NAME.match(key)
    }
    return {**labels, **MANAGED_BY_LABELS}


def object_annotations(tags: Mapping[str, str]) -> dict[str, str]:
    return {f"{PLATFORM_LABEL_PREFIX}owner": tags["owner"]} if "owner" in tags else {}


# --- quota, defaults, priorities --------------------------------------------------------------------------------


def team_gpus(settings: KubernetesConfig, pools: Sequence[NodePool]) -> int:
    """The team's GPU share: every GPU its pools can hold at their maxSize, or `quota.gpus` when set lower."""
    return gpu_share(pools, settings.quota.gpus)


def quota_hard(settings: KubernetesConfig, gpus: int) -> dict[str, str]:
    """The team namespace's ResourceQuota `hard`: compute, pods, Dask clusters, and no externally exposed service."""
    quota = settings.quota
    return {
        "requests.cpu": quota.cpu,
        "requests.memory": quota.memory,
        "limits.cpu": quota.limits_cpu or quota.cpu,
        "limits.memory": quota.limits_memory or quota.memory,
        # Extended resources cannot be overcommitted, so Kubernetes quotas them by requests only.
        f"requests.{GPU_RESOURCE}": str(gpus),
        "pods": str(quota.pods),
        "count/daskclusters.kubernetes.dask.org": str(quota.dask_clusters),
        # A scheduler behind a load balancer or node port would be reachable from outside the cluster.
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }


def batch_quota_hard(settings: KubernetesConfig, gpus: int) -> dict[str, str]:
    """What batch-priority pods may hold at most: `batchSharePercent` of the team quota, floored."""
    share = Decimal(settings.batch_share_percent) / 100
    quota = settings.quota
    return {
        "requests.cpu": quantity.cpu(quantity.parse(quota.cpu) * share),
        "requests.memory": quantity.memory(quantity.parse(quota.memory) * share),
        f"requests.{GPU_RESOURCE}": str(int(gpus * share)),
        "pods": str(max(1, int(quota.pods * share))),
    }


def container_defaults(settings: KubernetesConfig) -> dict[str, dict[str, str]]:
    """The LimitRange item for containers: defaults only, so Dask pods that ask for nothing still count fairly."""
    d = settings.container_defaults
    return {
        "defaultRequest": {"cpu": d.cpu_request, "memory": d.memory_request},
        "default": {"cpu": d.cpu_limit, "memory": d.memory_limit},
    }


@dataclass(frozen=True)
class PriorityClassSpec:
    name: str
    value: int
    preemption_policy: Literal["PreemptLowerPriority", "Never"]
    description: str


PRIORITY_CLASSES = (
    PriorityClassSpec(
        INTERACTIVE_PRIORITY_CLASS,
        INTERACTIVE_PRIORITY,
        "PreemptLowerPriority",
        "Interactive Dask clusters (notebooks): scheduled first, and may preempt batch pods when the quota is full.",
    ),
    PriorityClassSpec(
        BATCH_PRIORITY_CLASS,
        BATCH_PRIORITY,
        # Batch work waits for room instead of evicting anyone.
        "Never",
        "Batch Dask work (scheduled jobs): limited to the team's batch share, never preempts.",
    ),
)


def pod_security_labels(enforce: str, kubernetes_version: str) -> dict[str, str]:
    """Pod Security Admission labels: `enforce` at the configured level, `restricted` always audited and warned,
    each pinned to the cluster's version so a control-plane upgrade does not silently change the rules."""
    version = f"v{kubernetes_version}"
    labels: dict[str, str] = {}
    for mode, level in (("enforce", enforce), ("audit", "restricted"), ("warn", "restricted")):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


# --- RBAC -------------------------------------------------------------------------------------------------------

DASK_RESOURCES = ("daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers")


def data_scientist_rules() -> list[dict[str, list[str]]]:
    """What data scientists may do in a team namespace: run Dask, read what it runs, reach it by port-forward."""
    return [
        {
            "apiGroups": ["kubernetes.dask.org"],
            "resources": list(DASK_RESOURCES),
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        # resourcequotas: the client checks a scale against what the team's quota has left before asking.
        {
            "apiGroups": [""],
            "resources": ["pods", "pods/log", "services", "events", "resourcequotas"],
            "verbs": ["get", "list", "watch"],
        },
        # KubeCluster outside the cluster reaches the scheduler through a port-forward to its pod.
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
    ]


# --- the Dask cluster reaper (maximum lifetime) ------------------------------------------------------------------

REAPER_NAME = "dask-reaper"
REAPER_SCRIPT = Path(__file__).with_name("reaper.py")
REAPER_MOUNT = "/opt/teamstack-reaper"
# Every 15 minutes: a cluster lives at most its limit plus 15 minutes (plus the operator's teardown).
REAPER_SCHEDULE = "*/15 * * * *"
# Any non-root uid: the script reads only its mounted file and the service-account token.
REAPER_UID = 65532


def reaper_command(image_python: str) -> list[str]:
    """The CronJob's command: the script from its ConfigMap mount, run by the default image's own Python
    (`teamstack.imagefile.interpreter` of the recipe); the script needs nothing but the standard library."""
    return [image_python, f"{REAPER_MOUNT}/{REAPER_SCRIPT.name}"]


def reaper_rules() -> list[dict[str, list[str]]]:
    """The reaper's whole grant in its namespace: list DaskClusters and delete them."""
    return [{"apiGroups": ["kubernetes.dask.org"], "resources": ["daskclusters"], "verbs": ["list", "delete"]}]


def reaper_lifetime_seconds(settings: KubernetesConfig) -> int | None:
    """The maximum DaskCluster lifetime the reaper enforces, or None when the team set none (0)."""
    hours = settings.max_cluster_lifetime_hours
    return hours * 3600 if hours else None


def reaper_pod_security() -> tuple[dict[str, Any], dict[str, Any]]:
    """Pod and container security contexts: Pod Security `restricted`, read-only root, a fixed non-root uid."""
    pod = {**_RESTRICTED_POD, "runAsUser": REAPER_UID, "runAsGroup": REAPER_UID}
    return pod, dict(_RESTRICTED_CONTAINER)


# --- NetworkPolicy ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyPort:
    port: int
    end_port: int | None = None
    protocol: str = "TCP"


DASK_POD_SELECTOR = {"matchExpressions": [{"key": "dask.org/cluster-name", "operator": "Exists"}]}
SCHEDULER_SELECTOR = {"matchLabels": {"dask.org/component": "scheduler"}}
DASK_PORTS = (
    PolicyPort(SCHEDULER_PORT),
    PolicyPort(SCHEDULER_DASHBOARD_PORT),
    PolicyPort(WORKER_DASHBOARD_PORT),
    PolicyPort(EPHEMERAL_PORTS[0], EPHEMERAL_PORTS[1]),
)
# The operator asks each scheduler (HTTP API, then its comm port) which workers to retire and whether it is idle.
OPERATOR_PORTS = (PolicyPort(SCHEDULER_PORT), PolicyPort(SCHEDULER_DASHBOARD_PORT))


# --- Helm values ------------------------------------------------------------------------------------------------

_RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
_RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def _placement(node_selector: Mapping[str, str], tolerations: Sequence[Toleration]) -> dict[str, Any]:
    return {"nodeSelector": dict(node_selector), "tolerations": [t.to_kubernetes() for t in tolerations]}


def operator_values(
    namespaces: Sequence[str],
    node_selector: Mapping[str, str],
    tolerations: Sequence[Toleration],
    mirrors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """dask-kubernetes-operator: watches the team namespaces only, runs on system nodes, restricted pod; its image
    through the stack's mirror of ghcr.io when it keeps one (`mirrors`: upstream host -> registry path)."""
    image = registries.mirrored(DASK_OPERATOR_IMAGE, mirrors or {})
    return {
        # Only the name: the chart's tag (its own release) stays.
        **({"image": {"name": image}} if image else {}),
        # Kopf handles DaskClusters in these namespaces only; the chart's default is --all-namespaces.
        "kopfArgs": [f"--namespace={namespace}" for namespace in namespaces],
        **_placement(node_selector, tolerations),
        "podSecurityContext": dict(_RESTRICTED_POD),
        "securityContext": {
            # Not read-only: the operator's Python may write caches; restricted does not require it.
            **{k: v for k, v in _RESTRICTED_CONTAINER.items() if k != "readOnlyRootFilesystem"},
            # The chart's own default user, kept explicit.
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    }


def autoscaler_values(
    cluster_name: str,
    region: str,
    kubernetes_version: str,
    node_selector: Mapping[str, str],
    tolerations: Sequence[Toleration],
    mirrors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """cluster-autoscaler for EKS: discovers the team's groups by their tags, scales GPU groups from zero (the
    node-template tags say what a node would have) and back down when nodes sit unneeded. Its image through the
    stack's mirror of registry.k8s.io when it keeps one (natMode none)."""
    repository = registries.mirrored(AUTOSCALER_IMAGE, mirrors or {}) or AUTOSCALER_IMAGE
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        # Groups tagged k8s.io/cluster-autoscaler/enabled and k8s.io/cluster-autoscaler/<cluster> (the chart's tags).
        "autoDiscovery": {"clusterName": cluster_name},
        # Credentials come from EKS Pod Identity on this service account; no keys in values.
        "rbac": {"create": True, "serviceAccount": {"create": True, "name": AUTOSCALER_SERVICE_ACCOUNT}},
        "image": {"repository": repository, "tag": AUTOSCALER_IMAGE_TAGS[kubernetes_version]},
        "extraArgs": {
            "balance-similar-node-groups": True,
            "expander": "least-waste",
            # Dask workers' scratch space is disposable: it must not pin a node (and its bill) forever.
            "skip-nodes-with-local-storage": False,
            "scale-down-unneeded-time": "10m",
            "scale-down-delay-after-add": "10m",
        },
        **_placement(node_selector, tolerations),
        # fsGroup: the Pod Identity token the agent projects into the pod must be readable by this non-root user.
        "securityContext": {**_RESTRICTED_POD, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
        "containerSecurityContext": dict(_RESTRICTED_CONTAINER),
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
    }


def device_plugin_values(gpu_node_selector: Mapping[str, str]) -> dict[str, Any]:
    """NVIDIA device plugin on GPU nodes only: advertises nvidia.com/gpu so GPU pods can be scheduled."""
    return {
        # The chart's default affinity wants node-feature-discovery labels, which EKS nodes do not carry.
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": key, "operator": "In", "values": [value]}
                                for key, value in gpu_node_selector.items()
                            ]
                        }
                    ]
                }
            }
        },
        "tolerations": [GPU_TOLERATION.to_kubernetes(), SYSTEM_TOLERATION.to_kubernetes()],
        # It needs the kubelet's device-plugin socket (a hostPath), not privileges.
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]}},
        "gfd": {"enabled": False},
        "nfd": {"enabled": False},
    }


# --- the manifest's Dask defaults -------------------------------------------------------------------------------


def _worker_resources(cpu: str, memory: str, gpus: int) -> dict[str, dict[str, str]]:
    size = {"cpu": cpu, "memory": memory, **({GPU_RESOURCE: str(gpus)} if gpus else {})}
    return {"requests": dict(size), "limits": dict(size)}


def dask_defaults(
    settings: KubernetesConfig,
    namespace: str,
    image: str,
    cpu_selector: Mapping[str, str],
    gpu_selector: Mapping[str, str],
) -> dict[str, Any]:
    """The manifest's `dask` section (camelCase, as `teamstack.manifest.DaskDefaults` reads it)."""
    return {
        "namespace": namespace,
        "image": image,
        "schedulerServiceAccount": naming.DASK_SCHEDULER_SERVICE_ACCOUNT,
        "workerServiceAccount": naming.DASK_WORKER_SERVICE_ACCOUNT,
        "workerResources": _worker_resources(settings.worker.cpu, settings.worker.memory, 0),
        "gpuWorkerResources": _worker_resources(
            settings.gpu_worker.cpu, settings.gpu_worker.memory, settings.gpu_worker.gpus
        ),
        "cpuNodeSelector": dict(cpu_selector),
        "gpuNodeSelector": dict(gpu_selector),
        "gpuTolerations": [GPU_TOLERATION.to_kubernetes()],
        "idleTimeoutSeconds": settings.idle_timeout_minutes * 60,
        "interactivePriorityClass": INTERACTIVE_PRIORITY_CLASS,
        "batchPriorityClass": BATCH_PRIORITY_CLASS,
        "operatorVersion": settings.charts.dask_operator,
    }


# --- kubeconfigs: short-lived tokens from the cloud CLI, never a static credential ----------------------------


@dataclass(frozen=True)
class ClusterEndpoint:
    name: str
    endpoint: str
    certificate_authority: str  # base64 PEM, as EKS and GKE report it
    exec_command: str
    exec_args: Sequence[str] = field(default_factory=tuple)
    exec_env: Mapping[str, str] = field(default_factory=dict)

    def kubeconfig(self) -> str:
        user: dict[str, Any] = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": self.exec_command,
            "args": list(self.exec_args),
            "interactiveMode": "Never",
        }
        if self.exec_env:
            user["env"] = [{"name": k, "value": v} for k, v in self.exec_env.items()]
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": self.name,
                        "cluster": {"server": self.endpoint, "certificate-authority-data": self.certificate_authority},
                    }
                ],
                "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": self.name}}],
                "current-context": self.name,
                "users": [{"name": self.name, "user": {"exec": user}}],
            },
            sort_keys=True,
        )


def eks_kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig whose token comes from `aws eks get-token` as whoever runs `pulumi up` (an admin entry)."""
    return ClusterEndpoint(
        cluster_name,
        endpoint,
        certificate_authority,
        "aws",
        ("--region", region, "eks", "get-token", "--cluster-name", cluster_name, "--output", "json"),
    ).kubeconfig()


def gke_kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str) -> str:
    """A kubeconfig whose token comes from gke-gcloud-auth-plugin (the deployer's gcloud credentials)."""
    server = endpoint if endpoint.startswith("https://") else f"https://{endpoint}"
    return ClusterEndpoint(cluster_name, server, certificate_authority, "gke-gcloud-auth-plugin").kubeconfig()


# --- the team's default image ---------------------------------------------------------------------------------

DEFAULT_ENVIRONMENT_DIR = Path(__file__).resolve().parents[2] / "environments" / "default"
DEFAULT_ENVIRONMENT_VARIANT = "cpu"
DEFAULT_ENVIRONMENT_FILE = "requirements.txt"


def default_environment(environment_dir: Path, recipe_hash: str) -> tuple[bytes, str, str]:
    """The default environment spec, its image tag and its build-bucket key (`teamstack.envhash`), exactly as a
    client submitting the same file gets them (`teamstack env tag`): the file is normalised by the same
    function, for the Python and packages of the interpreter running the program. One image serves CPU and
    GPU workers: a pip spec installs the same wheels either way, and the node provides the NVIDIA driver."""
    from teamstack.client.specs import load_spec

    spec = load_spec(environment_dir / DEFAULT_ENVIRONMENT_FILE)
    tag = envhash.image_tag(recipe_hash, DEFAULT_ENVIRONMENT_VARIANT, spec.content)
    return spec.content, tag, envhash.spec_key(DEFAULT_ENVIRONMENT_VARIANT, tag, spec.filename)
