"""The team VPC: private subnets for nodes and Dask, public ones only for NAT and load balancers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.aws import iam_documents as docs
from teamstack import naming
from teamstack.layout import subnet_layout

# Interface endpoints for pulling images and getting credentials without the internet: made when there is no
# NAT (nothing else carries that traffic) or when the team asks (`interfaceEndpoints`); a NAT carries it otherwise.
BASE_INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts")
# With no NAT at all, nodes also need these to join the cluster, ship logs and be scaled.
NO_NAT_INTERFACE_ENDPOINTS = ("ec2", "logs", "eks", "eks-auth", "autoscaling", "elasticloadbalancing")
DASK_PORTS = (8786, 8787)  # scheduler, dashboard


def interface_endpoints(nat_mode: str, requested: bool = False) -> tuple[str, ...]:
    """The interface endpoints a team VPC gets: every one it needs without a NAT, the base ones on request."""
    if nat_mode == "none":
        return BASE_INTERFACE_ENDPOINTS + NO_NAT_INTERFACE_ENDPOINTS
    return BASE_INTERFACE_ENDPOINTS if requested else ()


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    team: str
    cluster_name: str
    region: str
    account_id: str
    vpc_cidr: str
    zones: Sequence[str]
    nat_mode: Literal["none", "single", "per-az"]
    interface_endpoints: bool
    kms_key_arn: pulumi.Input[str]
    log_retention_days: int
    tags: Mapping[str, str]


class Network(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:Network", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=self._tags(f"{args.team}-vpc"),
            opts=child,
        )
        # The default security group allows all traffic between its members: strip it of every rule.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, tags=self._tags(f"{args.team}-default"), opts=child
        )

        layout = subnet_layout(args.vpc_cidr, len(args.zones))
        self.private_subnets: list[aws.ec2.Subnet] = []
        self.public_subnets: list[aws.ec2.Subnet] = []
        for zone, subnets in zip(args.zones, layout, strict=True):
            self.private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{zone}",
                    vpc_id=self.vpc.id,
                    cidr_block=str(subnets.private),
                    availability_zone=zone,
                    map_public_ip_on_launch=False,
                    tags=self._tags(
                        f"{args.team}-private-{zone}",
                        {"kubernetes.io/role/internal-elb": "1", "teamstack.io/tier": "private"},
                    ),
                    opts=child,
                )
            )
            self.public_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-public-{zone}",
                    vpc_id=self.vpc.id,
                    cidr_block=str(subnets.public),
                    availability_zone=zone,
                    # Nothing in a public subnet gets a public IP unless it asks (NAT EIPs, load balancers).
                    map_public_ip_on_launch=False,
                    tags=self._tags(
                        f"{args.team}-public-{zone}", {"kubernetes.io/role/elb": "1", "teamstack.io/tier": "public"}
                    ),
                    opts=child,
                )
            )

        self._public_routing(name)
        self.private_route_tables = self._private_routing(name)
        self.endpoint_security_group = self._endpoints(name)
        self.dask_security_group = self._dask_security_group(name)
        self.flow_log_group = self._flow_logs(name)

        self.vpc_id = self.vpc.id
        self.private_subnet_ids = [s.id for s in self.private_subnets]
        self.public_subnet_ids = [s.id for s in self.public_subnets]
        self.register_outputs(
            {
                "vpcId": self.vpc.id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
                "daskSecurityGroupId": self.dask_security_group.id,
            }
        )

    def _tags(self, resource_name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self._args.tags, **(extra or {}), "Name": resource_name}

    def _public_routing(self, name: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=self._tags(f"{self._args.team}-igw"), opts=child
        )
        table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags=self._tags(f"{self._args.team}-public"), opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
            opts=child,
        )
        for zone, subnet in zip(self._args.zones, self.public_subnets, strict=True):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )

    def _private_routing(self, name: str) -> list[aws.ec2.RouteTable]:
        child = pulumi.ResourceOptions(parent=self)
        args = self._args
        nat_zones = {"none": [], "single": args.zones[:1], "per-az": list(args.zones)}[args.nat_mode]
        nat_by_zone: dict[str, aws.ec2.NatGateway] = {}
        for zone in nat_zones:
            public = self.public_subnets[list(args.zones).index(zone)]
            eip = aws.ec2.Eip(
                f"{name}-nat-{zone}", domain="vpc", tags=self._tags(f"{args.team}-nat-{zone}"), opts=child
            )
            nat_by_zone[zone] = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=eip.allocation_id,
                subnet_id=public.id,
                connectivity_type="public",
                tags=self._tags(f"{args.team}-nat-{zone}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.internet_gateway]),
            )
        tables = []
        for zone, subnet in zip(args.zones, self.private_subnets, strict=True):
            table = aws.ec2.RouteTable(
                f"{name}-private-{zone}-rt",
                vpc_id=self.vpc.id,
                tags=self._tags(f"{args.team}-private-{zone}"),
                opts=child,
            )
            nat = nat_by_zone.get(zone) or next(iter(nat_by_zone.values()), None)
            if nat is not None:
                aws.ec2.Route(
                    f"{name}-private-{zone}-default",
                    route_table_id=table.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat.id,
                    opts=child,
                )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )
            tables.append(table)
        return tables

    def _endpoints(self, name: str) -> aws.ec2.SecurityGroup:
        child = pulumi.ResourceOptions(parent=self)
        args = self._args
        # S3 through a gateway endpoint: image layers and catalog data never cross a NAT (nor its per-GB fee).
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in self.private_route_tables],
            tags=self._tags(f"{args.team}-s3"),
            opts=child,
        )
        group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            description="HTTPS from inside the team VPC to AWS interface endpoints",
            vpc_id=self.vpc.id,
            tags=self._tags(f"{args.team}-endpoints"),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https",
            security_group_id=group.id,
            description="HTTPS from the team VPC",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=args.vpc_cidr,
            tags=dict(args.tags),
            opts=child,
        )
        for service in interface_endpoints(args.nat_mode, args.interface_endpoints):
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.private_subnets],
                security_group_ids=[group.id],
                tags=self._tags(f"{args.team}-{service}"),
                opts=child,
            )
        return group

    def _dask_security_group(self, name: str) -> aws.ec2.SecurityGroup:
        """For Dask VMs (dask-cloudprovider): members talk to each other; the VPC reaches scheduler and dashboard."""
        child = pulumi.ResourceOptions(parent=self)
        args = self._args
        group = aws.ec2.SecurityGroup(
            f"{name}-dask",
            description="Dask schedulers and workers of the team; no ingress from outside the VPC",
            vpc_id=self.vpc.id,
            tags=self._tags(f"{args.team}-dask"),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-dask-members",
            security_group_id=group.id,
            description="Scheduler, workers and nannies of the same cluster",
            ip_protocol="tcp",
            from_port=0,
            to_port=65535,
            referenced_security_group_id=group.id,
            tags=dict(args.tags),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-dask-clients",
            security_group_id=group.id,
            description="Dask clients and dashboard users inside the team VPC",
            ip_protocol="tcp",
            from_port=min(DASK_PORTS),
            to_port=max(DASK_PORTS),
            cidr_ipv4=args.vpc_cidr,
            tags=dict(args.tags),
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-dask-egress",
            security_group_id=group.id,
            description="Package indexes, registries and AWS APIs",
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            tags=dict(args.tags),
            opts=child,
        )
        return group

    def _flow_logs(self, name: str) -> aws.cloudwatch.LogGroup:
        child = pulumi.ResourceOptions(parent=self)
        args = self._args
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=naming.log_group(args.team, "vpc-flow-logs"),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=dict(args.tags),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            name=naming.role_name(args.team, "vpc-flow-logs"),
            assume_role_policy=pulumi.Output.json_dumps(
                docs.service_trust("vpc-flow-logs.amazonaws.com", args.account_id)
            ),
            tags=dict(args.tags),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                docs.document(
                    docs.statement(
                        "WriteFlowLogs",
                        ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        [log_group.arn, docs.arn_join(log_group.arn, ":*")],
                    )
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=self._tags(f"{args.team}-flow-log"),
            opts=child,
        )
        return log_group
