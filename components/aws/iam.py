"""The team's IAM roles, each with only what its job needs on this team's resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import iam_documents as docs
from teamstack import naming

CLUSTER_MANAGED_POLICIES = ("AmazonEKSClusterPolicy",)
# Node role: join the cluster, pull images, run the VPC CNI (which assigns pod IPs from the node's ENIs).
NODE_MANAGED_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly", "AmazonEKS_CNI_Policy")
ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
            "ecr:DescribeImages")  # fmt: skip
ECR_PUSH = ("ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage")


# Read-only calls cluster-autoscaler makes to discover groups and build node templates; AWS offers no
# resource-level permission for them, so "*" is their only valid resource.
AUTOSCALER_DESCRIBE = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
)
AUTOSCALER_SCALE = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")

# What dask-cloudprovider's EC2Cluster calls when given vpc, subnet, security groups and AMI (aws/ec2.py):
# RunInstances, CreateTags (Name and "Dask Cluster" right after launch), DescribeInstances (waiting for the
# private IP), TerminateInstances. DescribeInstances has no resource-level permission: "*" is its only resource.
EC2_CLUSTER_DESCRIBE = ("ec2:DescribeInstances",)
# The tags EC2Cluster adds to its instances after RunInstances; nothing else may be retagged.
EC2_CLUSTER_LATE_TAGS = ("Name", "Dask Cluster")
# Resources RunInstances creates for a Dask VM; each must be tagged team=<team> in the request.
EC2_LAUNCHED = ("instance", "volume", "network-interface", "spot-instances-request")
# The client's default AMI: Canonical's public SSM parameter (public parameters' ARNs have no account).
UBUNTU_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"


def dask_vm_launch_statements(a: TeamRolesArgs, dask_vm_role_arn: pulumi.Input[str]) -> list[dict[str, Any]]:
    """Start and stop Dask VMs (dask-cloudprovider EC2Cluster) only as the team's: into its private subnets,
    with its Dask security group and the dask-vm role, tagged team=<team>, IMDSv2 only, encrypted volumes;
    terminate and retag only instances tagged team=<team>."""
    partition, region, account = a.partition, a.region, a.account_id
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    team_request_tag = {"StringEquals": {"aws:RequestTag/team": a.team}}
    return [
        docs.statement("WatchDaskVms", list(EC2_CLUSTER_DESCRIBE), ["*"]),
        docs.statement(
            "LaunchIntoTeamNetwork",
            ["ec2:RunInstances"],
            [
                *a.private_subnet_arns,
                a.dask_security_group_arn,
                f"arn:{partition}:ec2:{region}::image/*",
            ],
        ),
        docs.statement(
            "LaunchTeamInstances",
            ["ec2:RunInstances"],
            [f"{ec2}:instance/*"],
            conditions={"StringEquals": {"aws:RequestTag/team": a.team, "ec2:MetadataHttpTokens": "required"}},
        ),
        docs.statement(
            "LaunchEncryptedTeamVolumes",
            ["ec2:RunInstances"],
            [f"{ec2}:volume/*"],
            conditions={**team_request_tag, "Bool": {"ec2:Encrypted": "true"}},
        ),
        docs.statement(
            "LaunchTeamInterfacesAndSpotRequests",
            ["ec2:RunInstances"],
            [f"{ec2}:network-interface/*", f"{ec2}:spot-instances-request/*"],
            conditions=team_request_tag,
        ),
        docs.statement(
            "TagAtLaunch",
            ["ec2:CreateTags"],
            [f"{ec2}:{kind}/*" for kind in EC2_LAUNCHED],
            conditions={"StringEquals": {"ec2:CreateAction": "RunInstances"}},
        ),
        docs.statement(
            "NameTeamInstances",
            ["ec2:CreateTags"],
            [f"{ec2}:instance/*"],
            conditions={
                "StringEquals": {"aws:ResourceTag/team": a.team},
                "ForAllValues:StringEquals": {"aws:TagKeys": list(EC2_CLUSTER_LATE_TAGS)},
            },
        ),
        docs.statement(
            "TerminateTeamInstances",
            ["ec2:TerminateInstances"],
            [f"{ec2}:instance/*"],
            conditions={"StringEquals": {"aws:ResourceTag/team": a.team}},
        ),
        docs.statement(
            "PassDaskVmRole",
            ["iam:PassRole"],
            [dask_vm_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
        docs.statement(
            "FindUbuntuAmi", ["ssm:GetParameter"], [f"arn:{partition}:ssm:{region}::parameter{UBUNTU_AMI_PARAMETER}"]
        ),
    ]


def autoscaler_statements(a: TeamRolesArgs) -> list[dict[str, Any]]:
    """cluster-autoscaler: describe anything, but resize and terminate only this cluster's own groups (EKS names
    them eks-<node group>-<id>, and our node groups start with the team name; the tag must say `owned` too)."""
    partition, region, account = a.partition, a.region, a.account_id
    return [
        docs.statement("DiscoverNodeGroups", list(AUTOSCALER_DESCRIBE), ["*"]),
        docs.statement(
            "DescribeTeamNodeGroups",
            ["eks:DescribeNodegroup"],
            [f"arn:{partition}:eks:{region}:{account}:nodegroup/{a.cluster_name}/*/*"],
        ),
        docs.statement(
            "ScaleTeamNodeGroups",
            list(AUTOSCALER_SCALE),
            [f"arn:{partition}:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/eks-{a.team}-*"],
            conditions={"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{a.cluster_name}": "owned"}},
        ),
    ]


def node_cache_statements(a: TeamRolesArgs) -> list[dict[str, Any]]:
    """The nodes' first pull of an add-on image through a cache rule creates its repository and imports the image
    (ECR user guide, "IAM permissions required to sync an upstream registry"): on those prefixes only. Pulls
    themselves are AmazonEC2ContainerRegistryPullOnly's."""
    if not a.node_cache_prefixes:
        return []
    return [
        docs.statement(
            "PullAddOnImagesThroughTheCache",
            ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
            [
                f"arn:{a.partition}:ecr:{a.region}:{a.account_id}:repository/{prefix}/*"
                for prefix in a.node_cache_prefixes
            ],
        )
    ]


@dataclass(frozen=True, kw_only=True)
class TeamRolesArgs:
    team: str
    account_id: str
    region: str
    partition: str
    cluster_name: str
    kms_key_arn: pulumi.Input[str]
    catalog_bucket_arns: Sequence[pulumi.Input[str]]
    build_bucket_arn: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    build_cache_repository_arn: pulumi.Input[str]
    upstream_prefix: str  # the ECR pull-through cache prefix the builds pull their base images through
    # The ECR pull-through cache prefixes the nodes pull the add-ons' images through (natMode none; else none).
    node_cache_prefixes: Sequence[str] = ()
    build_log_group_arn: pulumi.Input[str]
    build_project_name: str
    # Where data scientists may start Dask VMs: the team's private subnets and its Dask security group.
    private_subnet_arns: Sequence[pulumi.Input[str]]
    dask_security_group_arn: pulumi.Input[str]
    data_scientist_principals: Sequence[str]
    tags: Mapping[str, str]


class TeamRoles(pulumi.ComponentResource):
    """Cluster, node, Dask scheduler/worker (EKS Pod Identity), Dask VM (instance profile), image builder and
    data-scientist roles."""

    def __init__(self, name: str, args: TeamRolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:TeamRoles", name, None, opts)
        self._name, self._args = name, args
        a = args
        cluster_arn = f"arn:{a.partition}:eks:{a.region}:{a.account_id}:cluster/{a.cluster_name}"
        project_arn = f"arn:{a.partition}:codebuild:{a.region}:{a.account_id}:project/{a.build_project_name}"
        manifest_arn = f"arn:{a.partition}:ssm:{a.region}:{a.account_id}:parameter{naming.manifest_parameter(a.team)}"

        self.cluster = self._role(
            "cluster",
            docs.service_trust("eks.amazonaws.com", a.account_id, actions=["sts:AssumeRole", "sts:TagSession"]),
            managed=CLUSTER_MANAGED_POLICIES,
            # EKS envelope-encrypts Kubernetes secrets with the team key through the cluster role.
            inline=[
                docs.statement(
                    "EncryptClusterSecrets",
                    ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                    [a.kms_key_arn],
                )
            ],
        )
        self.node = self._role(
            "node", docs.ec2_trust(), managed=NODE_MANAGED_POLICIES, inline=node_cache_statements(a)
        )

        # Dask pods get credentials from EKS Pod Identity, for this cluster only: no keys in pods or notebooks.
        pod_trust = docs.service_trust(
            "pods.eks.amazonaws.com", a.account_id, actions=["sts:AssumeRole", "sts:TagSession"], source_arn=cluster_arn
        )
        # The scheduler only coordinates; reading lets it inspect catalog metadata, never change data.
        self.dask_scheduler = self._role(
            "dask-scheduler",
            pod_trust,
            inline=docs.bucket_access(
                "Catalog", a.catalog_bucket_arns, write=False, key_arn=a.kms_key_arn, region=a.region
            ),
        )
        self.dask_worker = self._role(
            "dask-worker",
            pod_trust,
            inline=docs.bucket_access(
                "Catalog", a.catalog_bucket_arns, write=True, key_arn=a.kms_key_arn, region=a.region
            ),
        )
        # Dask VMs (dask-cloudprovider EC2Cluster): the worker's data access, plus the registry login and pull the
        # VM bootstrap does before `docker run`.
        self.dask_vm = self._role(
            "dask-vm",
            docs.ec2_trust(),
            inline=[
                *docs.bucket_access(
                    "Catalog", a.catalog_bucket_arns, write=True, key_arn=a.kms_key_arn, region=a.region
                ),
                docs.statement("LogInToRegistry", ["ecr:GetAuthorizationToken"], ["*"]),
                docs.statement("PullTeamImages", ECR_PULL, [a.repository_arn]),
            ],
        )
        self.dask_vm_profile = aws.iam.InstanceProfile(
            f"{name}-dask-vm",
            name=naming.role_name(a.team, "dask-vm"),
            role=self.dask_vm.name,
            tags=dict(a.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_builder = self._role(
            "image-builder",
            docs.service_trust("codebuild.amazonaws.com", a.account_id, source_arn=project_arn),
            inline=[
                docs.statement(
                    "ReadSpecsAndRecipe",
                    ["s3:GetObject", "s3:GetObjectVersion"],
                    [docs.arn_join(a.build_bucket_arn, "/specs/*"), docs.arn_join(a.build_bucket_arn, "/recipes/*")],
                ),
                docs.statement("LocateBuildBucket", ["s3:GetBucketLocation", "s3:GetBucketAcl"], [a.build_bucket_arn]),
                # GetAuthorizationToken has no resource-level permissions: "*" is its only valid resource.
                docs.statement("LogInToRegistry", ["ecr:GetAuthorizationToken"], ["*"]),
                docs.statement("PushTeamImages", [*ECR_PULL, *ECR_PUSH], [a.repository_arn]),
                docs.statement("UseBuildCache", [*ECR_PULL, *ECR_PUSH], [a.build_cache_repository_arn]),
                # The first pull of a base through the pull-through cache creates its repository and imports it.
                docs.statement(
                    "PullBaseImagesThroughTheCache",
                    [*ECR_PULL, "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
                    [f"arn:{a.partition}:ecr:{a.region}:{a.account_id}:repository/{a.upstream_prefix}/*"],
                ),
                docs.statement(
                    "WriteBuildLogs",
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [a.build_log_group_arn, docs.arn_join(a.build_log_group_arn, ":*")],
                ),
                docs.statement(
                    "UseTeamKey",
                    ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
                    [a.kms_key_arn],
                ),
            ],
        )
        self.data_scientist = self._role(
            "data-scientist",
            docs.principals_trust(a.data_scientist_principals),
            max_session_hours=12,
            inline=[
                docs.statement(
                    "DescribeTeamCluster",
                    ["eks:DescribeCluster", "eks:ListNodegroups", "eks:DescribeNodegroup"],
                    [cluster_arn, f"arn:{a.partition}:eks:{a.region}:{a.account_id}:nodegroup/{a.cluster_name}/*/*"],
                ),
                docs.statement("ReadTeamManifest", ["ssm:GetParameter"], [manifest_arn]),
                *docs.bucket_access(
                    "Catalog", a.catalog_bucket_arns, write=True, key_arn=a.kms_key_arn, region=a.region
                ),
                docs.statement(
                    "SubmitEnvironmentSpecs",
                    ["s3:PutObject", "s3:GetObject"],
                    [docs.arn_join(a.build_bucket_arn, "/specs/*")],
                ),
                docs.statement(
                    "ListEnvironmentSpecs",
                    ["s3:ListBucket"],
                    [a.build_bucket_arn],
                    conditions={"StringLike": {"s3:prefix": ["specs/*"]}},
                ),
                docs.statement("LogInToRegistry", ["ecr:GetAuthorizationToken"], ["*"]),
                docs.statement("PullTeamImages", ECR_PULL, [a.repository_arn]),
                docs.statement(
                    "FollowImageBuilds", ["codebuild:BatchGetBuilds", "codebuild:ListBuildsForProject"], [project_arn]
                ),
                docs.statement(
                    "ReadBuildLogs",
                    ["logs:GetLogEvents", "logs:FilterLogEvents"],
                    [a.build_log_group_arn, docs.arn_join(a.build_log_group_arn, ":*")],
                ),
                *dask_vm_launch_statements(a, self.dask_vm.arn),
            ],
        )
        self.cluster_autoscaler = self._role("cluster-autoscaler", pod_trust, inline=autoscaler_statements(a))
        self.register_outputs(
            {
                role: getattr(self, role.replace("-", "_")).arn
                for role in (
                    "cluster",
                    "node",
                    "dask-scheduler",
                    "dask-worker",
                    "dask-vm",
                    "image-builder",
                    "data-scientist",
                    "cluster-autoscaler",
                )
            }
            | {"dask-vm-instance-profile": self.dask_vm_profile.arn}
        )

    def _role(
        self,
        purpose: str,
        trust: dict[str, Any],
        *,
        managed: Sequence[str] = (),
        inline: Sequence[dict[str, Any]] = (),
        max_session_hours: int = 1,
    ) -> aws.iam.Role:
        a, child = self._args, pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-{purpose}",
            name=naming.role_name(a.team, purpose),
            assume_role_policy=pulumi.Output.json_dumps(trust),
            max_session_duration=max_session_hours * 3600,
            tags=dict(a.tags),
            opts=child,
        )
        for policy in managed:
            aws.iam.RolePolicyAttachment(
                f"{self._name}-{purpose}-{policy}",
                role=role.name,
                policy_arn=f"arn:{a.partition}:iam::aws:policy/{policy}",
                opts=child,
            )
        if inline:
            aws.iam.RolePolicy(
                f"{self._name}-{purpose}",
                role=role.id,
                policy=pulumi.Output.json_dumps(docs.document(*inline)),
                opts=child,
            )
        return role
