"""The team's EKS cluster: private API by default, encrypted secrets, audited, identity by access entries."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.k8s import spec as k8s_spec
from teamstack import naming

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# Add-ons EKS manages for us; versions follow the cluster's Kubernetes version (EKS's default for it).
MANAGED_ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent")
# The VPC CNI enforces NetworkPolicies only when asked to; without this the team namespaces' policies are inert.
ADDON_CONFIGURATION = {"vpc-cni": json.dumps({"enableNetworkPolicy": "true"})}


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    team: str
    cluster_name: str
    kubernetes_version: str
    role_arn: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    api_access_cidrs: Sequence[str]
    service_cidr: str
    kms_key_arn: pulumi.Input[str]
    log_retention_days: int
    tags: Mapping[str, str]


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=naming.eks_control_plane_log_group(args.cluster_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=dict(args.tags),
            opts=child,
        )
        public = bool(args.api_access_cidrs)
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=args.role_arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.private_subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=public,
                # Only the configured ranges; never EKS's own default of 0.0.0.0/0.
                public_access_cidrs=list(args.api_access_cidrs) if public else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.kms_key_arn),
            ),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # Who administers the cluster is explicit (access entries below), not whoever ran `pulumi up`.
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(
                service_ipv4_cidr=args.service_cidr, ip_family="ipv4"
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        self.name = self.cluster.name
        self.arn = self.cluster.arn
        self.endpoint = self.cluster.endpoint
        self.certificate_authority = self.cluster.certificate_authority.apply(lambda ca: ca.data)
        self.security_group_id = self.cluster.vpc_config.apply(lambda vpc: vpc.cluster_security_group_id)
        self.register_outputs({"name": self.cluster.name, "endpoint": self.cluster.endpoint})


@dataclass(frozen=True, kw_only=True)
class ClusterAccessArgs:
    cluster_name: pulumi.Input[str]
    admin_arns: Sequence[str]
    data_scientist_role_arn: pulumi.Input[str]
    data_scientist_group: str
    namespace: str
    pod_roles: Mapping[str, pulumi.Input[str]]  # service account -> role ARN, in every team namespace
    tags: Mapping[str, str]
    extra_namespaces: Sequence[str] = ()
    # cluster-autoscaler's role, bound to its service account in kube-system.
    autoscaler_role_arn: pulumi.Input[str] | None = None


class ClusterAccess(pulumi.ComponentResource):
    """Who may use the cluster: IT admins cluster-wide, data scientists in the team namespace, Dask pods via
    EKS Pod Identity."""

    def __init__(self, name: str, args: ClusterAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:ClusterAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Named by the admin's ARN (`naming.keyed_names`): removing one admin never replaces another's entry.
        for (entry_name, alias), admin in zip(
            naming.keyed_names(f"{name}-admin", args.admin_arns), args.admin_arns, strict=True
        ):
            renamed = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=alias)] if alias else None)
            entry = aws.eks.AccessEntry(
                entry_name,
                cluster_name=args.cluster_name,
                principal_arn=admin,
                type="STANDARD",
                tags=dict(args.tags),
                opts=renamed,
            )
            aws.eks.AccessPolicyAssociation(
                entry_name,
                cluster_name=args.cluster_name,
                principal_arn=entry.principal_arn,
                policy_arn=CLUSTER_ADMIN_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=renamed,
            )
        aws.eks.AccessEntry(
            f"{name}-data-scientists",
            cluster_name=args.cluster_name,
            principal_arn=args.data_scientist_role_arn,
            type="STANDARD",
            # The Kubernetes layer's RBAC (components/k8s) is this group's only grant: DaskClusters, reading pods
            # and logs, in the team namespaces. No EKS access policy: AmazonEKSEditPolicy would also let it
            # delete the namespace's NetworkPolicies and read its secrets.
            kubernetes_groups=[args.data_scientist_group],
            tags=dict(args.tags),
            opts=child,
        )
        for namespace in (args.namespace, *args.extra_namespaces):
            suffix = "" if namespace == args.namespace else f"-{namespace}"
            for service_account, role_arn in args.pod_roles.items():
                aws.eks.PodIdentityAssociation(
                    f"{name}-{service_account}{suffix}",
                    cluster_name=args.cluster_name,
                    namespace=namespace,
                    service_account=service_account,
                    role_arn=role_arn,
                    tags=dict(args.tags),
                    opts=child,
                )
        if args.autoscaler_role_arn is not None:
            aws.eks.PodIdentityAssociation(
                f"{name}-{k8s_spec.AUTOSCALER_SERVICE_ACCOUNT}",
                cluster_name=args.cluster_name,
                namespace=k8s_spec.SYSTEM_NAMESPACE,
                service_account=k8s_spec.AUTOSCALER_SERVICE_ACCOUNT,
                role_arn=args.autoscaler_role_arn,
                tags=dict(args.tags),
                opts=child,
            )
        self.register_outputs({})


@dataclass(frozen=True, kw_only=True)
class ClusterAddonsArgs:
    cluster_name: pulumi.Input[str]
    tags: Mapping[str, str]


class ClusterAddons(pulumi.ComponentResource):
    """EKS-managed add-ons; created after the system nodes exist, since CoreDNS needs somewhere to run."""

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:ClusterAddons", name, None, opts)
        for addon in MANAGED_ADDONS:
            aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=args.cluster_name,
                addon_name=addon,
                configuration_values=ADDON_CONFIGURATION.get(addon),
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
