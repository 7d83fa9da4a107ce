"""The Kubernetes layer of a team cluster, shared by EKS and GKE: fair, isolated Dask in the team namespace(s).

Per team namespace: Pod Security Admission labels, a ResourceQuota (plus a smaller one for batch priority), a
LimitRange, the Dask scheduler/worker service accounts bound to the cloud roles, RBAC for the data scientists,
and NetworkPolicies (default-deny ingress, Dask traffic within the namespace). Cluster-wide: the interactive and
batch PriorityClasses and the Dask operator (its own namespace, official chart, serving the team namespaces).

EKS only: cluster-autoscaler (role through EKS Pod Identity, made by the AWS stack) and the NVIDIA device plugin.
GKE runs neither: node-pool autoscaling is part of the GKE control plane, and GKE installs the NVIDIA device
plugin (and, as configured on the pool, the driver) on every GPU node itself; a second copy of either would
fight GKE's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.k8s import reaper, spec
from teamstack import naming
from teamstack.config import KubernetesConfig
from teamstack.pools import NodePool


@dataclass(frozen=True)
class PodIdentityBinding:
    """EKS: the Dask roles reach the service accounts through EKS Pod Identity associations (namespace + name),
    made beside the cluster; the service accounts themselves carry no annotation."""


@dataclass(frozen=True)
class WorkloadIdentityBinding:
    """GKE: each service account names the Google service account it acts as (Workload Identity); the GSA's
    roles/iam.workloadIdentityUser binding for `<project>.svc.id.goog[<namespace>/<ksa>]` is the GCP stack's."""

    scheduler_gsa: pulumi.Input[str]
    worker_gsa: pulumi.Input[str]


WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"


@dataclass(frozen=True)
class AwsAutoscaling:
    """EKS: where cluster-autoscaler finds the groups it scales."""

    cluster_name: str
    region: str


@dataclass(frozen=True, kw_only=True)
class KubernetesLayerArgs:
    team: str
    cloud: Literal["aws", "gcp"]
    kubernetes_version: str  # "1.33": pins the Pod Security Admission version and the autoscaler image
    settings: KubernetesConfig
    provider: k8s.Provider  # built from the stack's own cluster
    namespace: str
    pools: Sequence[NodePool]
    identity: PodIdentityBinding | WorkloadIdentityBinding
    data_scientists: Sequence[spec.RbacSubject]
    image: pulumi.Input[str]  # the team's default Dask image in its own registry
    image_python: str  # that image's interpreter: teamstack.imagefile.interpreter(recipe_dir)
    tags: Mapping[str, str]  # TeamConfig.tags_for_resources: labels (and the owner annotation) of every object
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {spec.NODE_KIND_LABEL: "system"})
    system_tolerations: Sequence[spec.Toleration] = (spec.SYSTEM_TOLERATION,)
    cpu_node_selector: Mapping[str, str] = field(default_factory=lambda: {spec.NODE_KIND_LABEL: "cpu"})
    gpu_node_selector: Mapping[str, str] = field(default_factory=lambda: {spec.NODE_KIND_LABEL: "gpu"})
    autoscaling: AwsAutoscaling | None = None  # EKS only
    # Registry paths mirroring upstream registries, by upstream host (GKE: the team's Artifact Registry remote
    # repository of ghcr.io; EKS with natMode none: ECR pull-through caches of ghcr.io and registry.k8s.io): the
    # add-ons' images are pulled through them, so the nodes need no route to the internet.
    mirrors: pulumi.Input[Mapping[str, str]] | None = None

    def __post_init__(self) -> None:
        if self.cloud == "gcp" and self.autoscaling is not None:
            raise ValueError("GKE scales node pools itself; cluster-autoscaler is for EKS only")
        if self.cloud == "aws" and self.autoscaling is None:
            raise ValueError("EKS needs cluster-autoscaler: pass autoscaling")
        if (self.cloud == "aws") != isinstance(self.identity, PodIdentityBinding):
            raise ValueError("EKS binds roles by Pod Identity, GKE by Workload Identity")

    @property
    def namespaces(self) -> list[str]:
        return [self.namespace, *self.settings.extra_namespaces]


class KubernetesLayer(pulumi.ComponentResource):
    """Everything a team cluster needs before a data scientist's `KubeCluster()` can start."""

    def __init__(self, name: str, args: KubernetesLayerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:k8s:KubernetesLayer", name, None, opts)
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self._labels = spec.object_labels(args.tags)
        self._annotations = spec.object_annotations(args.tags)
        self.gpus = spec.team_gpus(args.settings, args.pools)

        self.priority_classes = [self._priority_class(p) for p in spec.PRIORITY_CLASSES]
        self.namespaces = [self._team_namespace(namespace) for namespace in args.namespaces]
        self.operator = self._dask_operator()
        self.releases = [self.operator]
        if args.autoscaling is not None:
            self.releases.append(self._cluster_autoscaler(args.autoscaling))
            # EKS's NVIDIA AMI has the driver and container toolkit; the device plugin is ours to run.
            if any(p.kind == "gpu" for p in args.pools):
                self.releases.append(self._device_plugin())

        self.dask_defaults: pulumi.Output[dict[str, Any]] = pulumi.Output.from_input(args.image).apply(
            lambda image: spec.dask_defaults(
                args.settings, args.namespace, image, args.cpu_node_selector, args.gpu_node_selector
            )
        )
        self.register_outputs(
            {
                "namespaces": [ns.metadata.name for ns in self.namespaces],
                "gpus": self.gpus,
                "daskDefaults": self.dask_defaults,
            }
        )

    # --- helpers ----------------------------------------------------------------------------------------------

    def _meta(
        self, name: str, namespace: pulumi.Input[str] | None = None, extra_labels: Mapping[str, str] | None = None
    ) -> Any:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=namespace,
            labels={**self._labels, **(extra_labels or {})},
            annotations=dict(self._annotations) or None,
        )

    def _priority_class(self, priority: spec.PriorityClassSpec) -> k8s.scheduling.v1.PriorityClass:
        return k8s.scheduling.v1.PriorityClass(
            f"{self._name}-{priority.name}",
            metadata=self._meta(priority.name),
            value=priority.value,
            global_default=False,
            preemption_policy=priority.preemption_policy,
            description=priority.description,
            opts=self._child,
        )

    # --- one team namespace -----------------------------------------------------------------------------------

    def _team_namespace(self, namespace: str) -> k8s.core.v1.Namespace:
        a, child, prefix = self._args, self._child, f"{self._name}-{namespace}"
        ns = k8s.core.v1.Namespace(
            f"{prefix}-namespace",
            metadata=self._meta(
                namespace, None, spec.pod_security_labels(a.settings.pod_security, a.kubernetes_version)
            ),
            opts=child,
        )
        # Namespaced objects take the namespace from the Namespace resource, so they wait for it.
        ns_name = ns.metadata.name
        k8s.core.v1.ResourceQuota(
            f"{prefix}-quota",
            metadata=self._meta("team-quota", ns_name),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=spec.quota_hard(a.settings, self.gpus)),
            opts=child,
        )
        k8s.core.v1.ResourceQuota(
            f"{prefix}-batch-quota",
            metadata=self._meta("batch-share", ns_name),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard=spec.batch_quota_hard(a.settings, self.gpus),
                scope_selector=k8s.core.v1.ScopeSelectorArgs(
                    match_expressions=[
                        k8s.core.v1.ScopedResourceSelectorRequirementArgs(
                            scope_name="PriorityClass", operator="In", values=[spec.BATCH_PRIORITY_CLASS]
                        )
                    ]
                ),
            ),
            opts=child,
        )
        defaults = spec.container_defaults(a.settings)
        k8s.core.v1.LimitRange(
            f"{prefix}-limits",
            metadata=self._meta("container-defaults", ns_name),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container", default=defaults["default"], default_request=defaults["defaultRequest"]
                    )
                ]
            ),
            opts=child,
        )
        for account in (naming.DASK_SCHEDULER_SERVICE_ACCOUNT, naming.DASK_WORKER_SERVICE_ACCOUNT):
            self._service_account(prefix, ns_name, account)
        self._rbac(prefix, ns_name)
        self._network_policies(prefix, ns_name)
        lifetime = spec.reaper_lifetime_seconds(a.settings)
        if lifetime is not None:
            self._reaper(prefix, ns_name, lifetime)
        return ns

    def _service_account(self, prefix: str, namespace: pulumi.Input[str], account: str) -> None:
        identity = self._args.identity
        annotations: dict[str, pulumi.Input[str]] = dict(self._annotations)
        if isinstance(identity, WorkloadIdentityBinding):
            gsa = identity.scheduler_gsa if account == naming.DASK_SCHEDULER_SERVICE_ACCOUNT else identity.worker_gsa
            annotations[WORKLOAD_IDENTITY_ANNOTATION] = gsa
        k8s.core.v1.ServiceAccount(
            f"{prefix}-{account}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=account, namespace=namespace, labels=dict(self._labels), annotations=annotations
            ),
            # Dask never calls the Kubernetes API; cloud credentials come from Pod Identity / Workload Identity,
            # which do not need the service-account token mounted.
            automount_service_account_token=False,
            opts=self._child,
        )

    def _role_with_binding(
        self,
        namespace: pulumi.Input[str],
        role: tuple[str, str],
        binding: tuple[str, str],
        rules: list[dict[str, list[str]]],
        subjects: list[k8s.rbac.v1.SubjectArgs],
    ) -> None:
        """A namespaced Role and the RoleBinding that grants it; `role`/`binding` are (resource name, object name)."""
        made = k8s.rbac.v1.Role(
            role[0],
            metadata=self._meta(role[1], namespace),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=r["apiGroups"], resources=r["resources"], verbs=r["verbs"])
                for r in rules
            ],
            opts=self._child,
        )
        k8s.rbac.v1.RoleBinding(
            binding[0],
            metadata=self._meta(binding[1], namespace),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=made.metadata.name
            ),
            subjects=subjects,
            opts=self._child,
        )

    def _rbac(self, prefix: str, namespace: pulumi.Input[str]) -> None:
        self._role_with_binding(
            namespace,
            role=(f"{prefix}-dask-user", spec.DATA_SCIENTIST_ROLE),
            binding=(f"{prefix}-data-scientists", "data-scientists"),
            rules=spec.data_scientist_rules(),
            subjects=[
                k8s.rbac.v1.SubjectArgs(api_group="rbac.authorization.k8s.io", kind=s.kind, name=s.name)
                for s in self._args.data_scientists
            ],
        )

    def _reaper(self, prefix: str, namespace: pulumi.Input[str], lifetime_seconds: int) -> None:
        """A CronJob on the system nodes that deletes DaskClusters older than the team's maximum lifetime, with a
        service account that may list and delete DaskClusters in this namespace and nothing else."""
        a, name = self._args, spec.REAPER_NAME
        account = k8s.core.v1.ServiceAccount(
            f"{prefix}-{name}",
            metadata=self._meta(name, namespace),
            opts=self._child,
        )
        self._role_with_binding(
            namespace,
            role=(f"{prefix}-{name}-role", name),
            binding=(f"{prefix}-{name}-binding", name),
            rules=spec.reaper_rules(),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account.metadata.name, namespace=namespace)],
        )
        script = k8s.core.v1.ConfigMap(
            f"{prefix}-{name}-script",
            metadata=self._meta(name, namespace),
            data={spec.REAPER_SCRIPT.name: spec.REAPER_SCRIPT.read_text(encoding="utf-8")},
            opts=self._child,
        )
        pod_security, container_security = spec.reaper_pod_security()
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name=account.metadata.name,
            restart_policy="Never",
            # On the always-on system nodes: the reaper must never be what scales a worker group up from zero.
            node_selector=dict(a.system_node_selector),
            tolerations=[
                k8s.core.v1.TolerationArgs(key=t.key, operator=t.operator, value=t.value, effect=t.effect)
                for t in a.system_tolerations
            ],
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=pod_security["runAsNonRoot"],
                run_as_user=pod_security["runAsUser"],
                run_as_group=pod_security["runAsGroup"],
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type=pod_security["seccompProfile"]["type"]),
            ),
            containers=[
                k8s.core.v1.ContainerArgs(
                    name=name,
                    image=a.image,
                    command=spec.reaper_command(a.image_python),
                    env=[k8s.core.v1.EnvVarArgs(name=reaper.LIFETIME_ENV, value=str(lifetime_seconds))],
                    resources=k8s.core.v1.ResourceRequirementsArgs(
                        requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "128Mi"}
                    ),
                    security_context=k8s.core.v1.SecurityContextArgs(
                        allow_privilege_escalation=container_security["allowPrivilegeEscalation"],
                        privileged=container_security["privileged"],
                        read_only_root_filesystem=container_security["readOnlyRootFilesystem"],
                        capabilities=k8s.core.v1.CapabilitiesArgs(drop=container_security["capabilities"]["drop"]),
                    ),
                    volume_mounts=[
                        k8s.core.v1.VolumeMountArgs(name="script", mount_path=spec.REAPER_MOUNT, read_only=True)
                    ],
                )
            ],
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="script", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=script.metadata.name)
                )
            ],
        )
        k8s.batch.v1.CronJob(
            f"{prefix}-{name}",
            metadata=self._meta(name, namespace),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=spec.REAPER_SCHEDULE,
                concurrency_policy="Forbid",
                starting_deadline_seconds=300,
                successful_jobs_history_limit=1,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=1,
                        active_deadline_seconds=240,
                        ttl_seconds_after_finished=3600,
                        template=k8s.core.v1.PodTemplateSpecArgs(
                            metadata=k8s.meta.v1.ObjectMetaArgs(
                                labels={**self._labels, "app.kubernetes.io/name": name}
                            ),
                            spec=pod,
                        ),
                    )
                ),
            ),
            opts=self._child,
        )

    def _network_policies(self, prefix: str, namespace: pulumi.Input[str]) -> None:
        def ports(items: Sequence[spec.PolicyPort]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
            return [
                k8s.networking.v1.NetworkPolicyPortArgs(protocol=p.protocol, port=p.port, end_port=p.end_port)
                for p in items
            ]

        def selector(value: Mapping[str, Any]) -> k8s.meta.v1.LabelSelectorArgs:
            return k8s.meta.v1.LabelSelectorArgs(
                match_labels=value.get("matchLabels"),
                match_expressions=[
                    k8s.meta.v1.LabelSelectorRequirementArgs(key=e["key"], operator=e["operator"])
                    for e in value.get("matchExpressions", [])
                ]
                or None,
            )

        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-default-deny-ingress",
            metadata=self._meta("default-deny-ingress", namespace),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress"]
            ),
            opts=self._child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-allow-dask",
            metadata=self._meta("allow-dask-within-namespace", namespace),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=selector(spec.DASK_POD_SELECTOR),
                policy_types=["Ingress"],
                # Any pod of this namespace (clients, notebooks, DaskJob runners, other Dask pods); nothing else.
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())],
                        ports=ports(spec.DASK_PORTS),
                    )
                ],
            ),
            opts=self._child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-allow-operator",
            metadata=self._meta("allow-dask-operator", namespace),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=selector(spec.SCHEDULER_SELECTOR),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": spec.OPERATOR_NAMESPACE}
                                )
                            )
                        ],
                        ports=ports(spec.OPERATOR_PORTS),
                    )
                ],
            ),
            opts=self._child,
        )

    # --- charts -----------------------------------------------------------------------------------------------

    def _release(
        self,
        purpose: str,
        chart: str,
        repository: str,
        version: str,
        namespace: pulumi.Input[str],
        values: pulumi.Input[Mapping[str, Any]],
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            f"{self._name}-{purpose}",
            name=purpose,
            chart=chart,
            version=version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repository),
            namespace=namespace,
            values=values,
            # A failed install or upgrade rolls back instead of leaving a half-applied chart.
            atomic=True,
            cleanup_on_fail=True,
            max_history=10,
            opts=self._child,
        )

    def _dask_operator(self) -> k8s.helm.v3.Release:
        a = self._args
        ns = k8s.core.v1.Namespace(
            f"{self._name}-operator-namespace",
            # The operator's pod meets `restricted` with the values below, so it is enforced here.
            metadata=self._meta(
                spec.OPERATOR_NAMESPACE, None, spec.pod_security_labels("restricted", a.kubernetes_version)
            ),
            opts=self._child,
        )
        # The chart's crds/ (DaskCluster, DaskWorkerGroup, DaskJob, DaskAutoscaler) are installed with the first
        # release, as Helm does; Helm never upgrades CRDs, so a chart version bump applies the new version's CRDs
        # first (README, "Kubernetes layer").
        return self._release(
            "dask-operator",
            spec.DASK_OPERATOR_CHART,
            spec.DASK_OPERATOR_REPOSITORY,
            a.settings.charts.dask_operator,
            ns.metadata.name,
            pulumi.Output.from_input(a.mirrors).apply(
                lambda mirrors: spec.operator_values(
                    a.namespaces, a.system_node_selector, a.system_tolerations, mirrors=mirrors
                )
            ),
        )

    def _cluster_autoscaler(self, autoscaling: AwsAutoscaling) -> k8s.helm.v3.Release:
        a = self._args
        return self._release(
            "cluster-autoscaler",
            spec.AUTOSCALER_CHART,
            spec.AUTOSCALER_REPOSITORY,
            a.settings.charts.cluster_autoscaler,
            spec.SYSTEM_NAMESPACE,
            pulumi.Output.from_input(a.mirrors).apply(
                lambda mirrors: spec.autoscaler_values(
                    autoscaling.cluster_name,
                    autoscaling.region,
                    a.kubernetes_version,
                    a.system_node_selector,
                    a.system_tolerations,
                    mirrors=mirrors,
                )
            ),
        )

    def _device_plugin(self) -> k8s.helm.v3.Release:
        a = self._args
        # kube-system: the plugin mounts the kubelet's device-plugin directory, which Pod Security baseline forbids
        # in team namespaces.
        return self._release(
            "nvidia-device-plugin",
            spec.DEVICE_PLUGIN_CHART,
            spec.DEVICE_PLUGIN_REPOSITORY,
            a.settings.charts.nvidia_device_plugin,
            spec.SYSTEM_NAMESPACE,
            spec.device_plugin_values(a.gpu_node_selector),
        )
