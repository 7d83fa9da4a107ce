"""EKS managed node groups that cluster-autoscaler can scale, GPU groups from zero."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from teamstack import instances
from teamstack.pools import NodePool

AUTOSCALER_PREFIX = "k8s.io/cluster-autoscaler"
# Pods using the node role through the instance metadata service would bypass Pod Identity: one hop keeps IMDS
# reachable from the node (and host-network add-ons) but not from pod network namespaces.
IMDS_HOP_LIMIT = 1
ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023 root volume
# EKS spells the pool's capacity so.
CAPACITY_TYPES = {"on-demand": "ON_DEMAND", "spot": "SPOT"}


def ami_type(pool: NodePool) -> str:
    """The EKS AMI type (Amazon Linux 2023) for the pool's architecture and GPUs."""
    return instances.eks_ami_type(pool.arch, gpu=pool.kind == "gpu")


def autoscaler_tags(cluster_name: str, pool: NodePool) -> dict[str, str]:
    """Tags cluster-autoscaler reads to discover a group and to build a node template when it has no nodes."""
    tags = {f"{AUTOSCALER_PREFIX}/enabled": "true", f"{AUTOSCALER_PREFIX}/{cluster_name}": "owned"}
    template = f"{AUTOSCALER_PREFIX}/node-template"
    for key, value in pool.labels.items():
        tags[f"{template}/label/{key}"] = value
    for taint in pool.taints:
        tags[f"{template}/taint/{taint.key}"] = f"{taint.value}:{taint.effect}"
    if pool.gpus_per_node:
        tags[f"{template}/resources/nvidia.com/gpu"] = str(pool.gpus_per_node)
    tags[f"{template}/resources/ephemeral-storage"] = f"{pool.disk_size_gib}Gi"
    return tags


def _autoscaling_group_name(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    groups = resources[0].autoscaling_groups if resources else None
    if not groups or not groups[0].name:
        raise ValueError("EKS reported no Auto Scaling group for the node group")
    return groups[0].name


@dataclass(frozen=True, kw_only=True)
class NodeGroupArgs:
    cluster_name: pulumi.Input[str]
    cluster_name_text: str  # known at plan time: autoscaler tag keys contain it
    node_role_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    kubernetes_version: str
    kms_key_arn: pulumi.Input[str]
    pool: NodePool
    tags: Mapping[str, str]


class NodeGroup(pulumi.ComponentResource):
    """A launch template (IMDSv2 only, encrypted root volume) and the managed node group using it."""

    def __init__(self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:NodeGroup", name, None, opts)
        pool = args.pool
        child = pulumi.ResourceOptions(parent=self)
        instance_tags = {**args.tags, "Name": name, "teamstack.io/node-group": pool.name}
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"teamstack {pool.kind} nodes of group {pool.name}",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=IMDS_HOP_LIMIT,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=pool.disk_size_gib,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=args.kms_key_arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=instance_tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            tags=dict(args.tags),
            opts=child,
        )
        group_tags = {**args.tags, **autoscaler_tags(args.cluster_name_text, pool)}
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=list(args.subnet_ids),
            version=args.kubernetes_version,
            ami_type=ami_type(pool),
            capacity_type=CAPACITY_TYPES[pool.capacity],
            instance_types=list(pool.type_names),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.min_size, desired_size=pool.desired_size, max_size=pool.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
            labels=dict(pool.labels),
            taints=[
                aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.provider_effect) for t in pool.taints
            ],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            tags=group_tags,
            # cluster-autoscaler owns the desired size once the group exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        # EKS does not copy node group tags to the Auto Scaling group, where cluster-autoscaler reads the
        # node-template tags that let it scale a group up from zero nodes.
        asg_name = self.node_group.resources.apply(_autoscaling_group_name)
        for key, value in autoscaler_tags(args.cluster_name_text, pool).items():
            aws.autoscaling.Tag(
                f"{name}-asg-{key.removeprefix(AUTOSCALER_PREFIX + '/').replace('/', '-')}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=child,
            )
        self.name = self.node_group.node_group_name
        self.register_outputs({"name": self.node_group.node_group_name, "arn": self.node_group.arn})
