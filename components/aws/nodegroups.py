"""EKS managed node groups that cluster-autoscaler can scale, GPU groups from zero."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from teamstack import instances

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
SYSTEM_TAINT_KEY = "CriticalAddonsOnly"
SYSTEM_TAINT_VALUE = "true"
AUTOSCALER_PREFIX = "k8s.io/cluster-autoscaler"
# Pods using the node role through the instance metadata service would bypass Pod Identity: one hop keeps IMDS
# reachable from the node (and host-network add-ons) but not from pod network namespaces.
IMDS_HOP_LIMIT = 1
ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023 root volume


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"] = "NO_SCHEDULE"

    @property
    def kubernetes_effect(self) -> str:
        return {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}[
            self.effect
        ]


@dataclass(frozen=True)
class NodeGroupSpec:
    """One group as the platform builds it, derived from the team config (pure data, unit-tested)."""

    name: str
    kind: Literal["system", "cpu", "gpu"]
    instance_types: tuple[str, ...]
    min_size: int
    desired_size: int
    max_size: int
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    disk_size_gib: int
    labels: Mapping[str, str]
    taints: tuple[Taint, ...] = ()
    gpus_per_node: int = 0
    arch: instances.Arch = "x86_64"

    @property
    def ami_type(self) -> str:
        return instances.eks_ami_type(self.arch, gpu=self.kind == "gpu")


def autoscaler_tags(cluster_name: str, spec: NodeGroupSpec) -> dict[str, str]:
    """Tags cluster-autoscaler reads to discover a group and to build a node template when it has no nodes."""
    tags = {f"{AUTOSCALER_PREFIX}/enabled": "true", f"{AUTOSCALER_PREFIX}/{cluster_name}": "owned"}
    template = f"{AUTOSCALER_PREFIX}/node-template"
    for key, value in spec.labels.items():
        tags[f"{template}/label/{key}"] = value
    for taint in spec.taints:
        tags[f"{template}/taint/{taint.key}"] = f"{taint.value}:{taint.kubernetes_effect}"
    if spec.gpus_per_node:
        tags[f"{template}/resources/nvidia.com/gpu"] = str(spec.gpus_per_node)
    tags[f"{template}/resources/ephemeral-storage"] = f"{spec.disk_size_gib}Gi"
    return tags


def _autoscaling_group_name(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    groups = resources[0].autoscaling_groups if resources else None
    if not groups or not groups[0].name:
        raise ValueError("EKS reported no Auto Scaling group for the node group")
    return groups[0].name


@dataclass(frozen=True)
class NodeGroupArgs:
    cluster_name: pulumi.Input[str]
    cluster_name_text: str  # known at plan time: autoscaler tag keys contain it
    node_role_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    kubernetes_version: str
    kms_key_arn: pulumi.Input[str]
    spec: NodeGroupSpec
    tags: Mapping[str, str]


class NodeGroup(pulumi.ComponentResource):
    """A launch template (IMDSv2 only, encrypted root volume) and the managed node group using it."""

    def __init__(self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:NodeGroup", name, None, opts)
        spec = args.spec
        child = pulumi.ResourceOptions(parent=self)
        instance_tags = {**args.tags, "Name": name, "teamstack.io/node-group": spec.name}
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"teamstack {spec.kind} nodes of group {spec.name}",
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
                        volume_size=spec.disk_size_gib,
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
        group_tags = {**args.tags, **autoscaler_tags(args.cluster_name_text, spec)}
        self.node_group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=list(args.subnet_ids),
            version=args.kubernetes_version,
            ami_type=spec.ami_type,
            capacity_type=spec.capacity_type,
            instance_types=list(spec.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=spec.min_size, desired_size=spec.desired_size, max_size=spec.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
            labels=dict(spec.labels),
            taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in spec.taints],
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
        for key, value in autoscaler_tags(args.cluster_name_text, spec).items():
            aws.autoscaling.Tag(
                f"{name}-asg-{key.removeprefix(AUTOSCALER_PREFIX + '/').replace('/', '-')}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=child,
            )
        self.name = self.node_group.node_group_name
        self.register_outputs({"name": self.node_group.node_group_name, "arn": self.node_group.arn})
