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


@dataclass(frozen=True)
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
    build_log_group_arn: pulumi.Input[str]
    build_project_name: str
    data_scientist_principals: Sequence[str]
    tags: Mapping[str, str]


class TeamRoles(pulumi.ComponentResource):
    """Cluster, node, Dask scheduler/worker (EKS Pod Identity), image builder and data-scientist roles."""

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
        self.node = self._role("node", docs.ec2_trust(), managed=NODE_MANAGED_POLICIES)

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
                    "image-builder",
                    "data-scientist",
                    "cluster-autoscaler",
                )
            }
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
