"""The offline AWS mocks: shapes of ids and ARNs, autonaming, references and determinism.

The program tests run real pulumi-aws resources under `pulumi.runtime.set_mocks`; each `@pulumi.runtime.test`
function returns its Output so a failed assertion inside `apply` fails the test instead of passing silently.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from teamstack.plan.mocks import MOCK_ACCOUNT_ID, AutonameTooLong, AwsMocks, UnmockedInvoke

REGION = "us-west-2"
HEX7 = "[0-9a-f]{7}"
HEX17 = "[0-9a-f]{17}"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(autouse=True)
def mocks() -> Iterator[AwsMocks]:
    # set_mocks keeps the root stack resource of an earlier call in this process; start from a fresh one.
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    instance = AwsMocks(REGION)
    pulumi.runtime.set_mocks(instance, preview=False, project="teamstack", stack="test")
    yield instance


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def matches(pattern: str, value: Any) -> None:
    check(isinstance(value, str) and re.fullmatch(pattern, value) is not None, f"{value!r} !~ {pattern}")


def _network() -> tuple[aws.ec2.Vpc, aws.ec2.Subnet]:
    vpc = aws.ec2.Vpc("team-vpc", cidr_block="10.40.0.0/16", tags={"team": "ml-vision"})
    subnet = aws.ec2.Subnet("team-private-a", vpc_id=vpc.id, cidr_block="10.40.0.0/18", availability_zone=f"{REGION}b")
    return vpc, subnet


def _role(logical_name: str = "cluster-role", **kwargs: Any) -> aws.iam.Role:
    return aws.iam.Role(logical_name, assume_role_policy='{"Version": "2012-10-17", "Statement": []}', **kwargs)


def _cluster(subnet: aws.ec2.Subnet, role: aws.iam.Role) -> aws.eks.Cluster:
    return aws.eks.Cluster("team-cluster", role_arn=role.arn, version="1.33", vpc_config={"subnet_ids": [subnet.id]})


# --- Through a Pulumi program -------------------------------------------------------------------------------


@pulumi.runtime.test
def test_vpc_and_subnet_ids_arns_and_references() -> pulumi.Output[Any]:
    vpc, subnet = _network()

    def verify(v: list[Any]) -> None:
        vpc_id, vpc_arn, main_rtb, default_sg, owner, tags_all, subnet_id, subnet_arn, subnet_vpc, zone_id = v
        matches(f"vpc-{HEX17}", vpc_id)
        check(vpc_arn == f"arn:aws:ec2:{REGION}:{MOCK_ACCOUNT_ID}:vpc/{vpc_id}", vpc_arn)
        matches(f"rtb-{HEX17}", main_rtb)
        matches(f"sg-{HEX17}", default_sg)
        check(owner == MOCK_ACCOUNT_ID, owner)
        check(tags_all == {"team": "ml-vision"}, f"tagsAll {tags_all}")
        matches(f"subnet-{HEX17}", subnet_id)
        check(subnet_arn == f"arn:aws:ec2:{REGION}:{MOCK_ACCOUNT_ID}:subnet/{subnet_id}", subnet_arn)
        check(subnet_vpc == vpc_id, f"subnet's vpcId {subnet_vpc} != {vpc_id}")
        check(zone_id == "usw2-az2", zone_id)

    return pulumi.Output.all(
        vpc.id,
        vpc.arn,
        vpc.main_route_table_id,
        vpc.default_security_group_id,
        vpc.owner_id,
        vpc.tags_all,
        subnet.id,
        subnet.arn,
        subnet.vpc_id,
        subnet.availability_zone_id,
    ).apply(verify)


@pulumi.runtime.test
def test_role_is_autonamed_and_has_a_global_arn() -> pulumi.Output[Any]:
    role = _role(path="/teamstack/")
    named = _role("named-role", name="ml-vision-admin")

    def verify(v: list[Any]) -> None:
        name, role_id, arn, unique_id, named_name, named_arn = v
        matches(f"cluster-role-{HEX7}", name)
        check(role_id == name, f"role id {role_id} is not its name {name}")
        check(arn == f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/teamstack/{name}", arn)
        matches("AROA[A-Z2-7]{17}", unique_id)
        check(named_name == "ml-vision-admin", named_name)
        check(named_arn == f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/ml-vision-admin", named_arn)

    return pulumi.Output.all(role.name, role.id, role.arn, role.unique_id, named.name, named.arn).apply(verify)


@pulumi.runtime.test
def test_bucket_without_a_name_is_autonamed_in_lower_case() -> pulumi.Output[Any]:
    bucket = aws.s3.Bucket("Warehouse")
    versioning = aws.s3.BucketVersioning(
        "warehouse-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}
    )

    def verify(v: list[Any]) -> None:
        name, bucket_id, arn, regional, region, versioning_id = v
        matches(f"warehouse-{HEX7}", name)
        check(bucket_id == name, bucket_id)
        check(arn == f"arn:aws:s3:::{name}", arn)
        check(regional == f"{name}.s3.{REGION}.amazonaws.com", regional)
        check(region == REGION, region)
        check(versioning_id == name, f"versioning id {versioning_id} is not the bucket {name}")

    return pulumi.Output.all(
        bucket.bucket, bucket.id, bucket.arn, bucket.bucket_regional_domain_name, bucket.region, versioning.id
    ).apply(verify)


@pulumi.runtime.test
def test_eks_cluster_and_node_group_follow_the_graph() -> pulumi.Output[Any]:
    vpc, subnet = _network()
    role = _role()
    cluster = _cluster(subnet, role)
    node_group = aws.eks.NodeGroup(
        "gpu-t4",
        cluster_name=cluster.name,
        node_role_arn=role.arn,
        subnet_ids=[subnet.id],
        scaling_config={"desired_size": 0, "min_size": 0, "max_size": 8},
    )

    def verify(v: list[Any]) -> None:
        vpc_id, name, cluster_id, arn, endpoint, issuer, ca, vpc_config, ng_name, ng_id, ng_arn, resources, ver = v
        matches(f"team-cluster-{HEX7}", name)
        check(cluster_id == name, cluster_id)
        check(arn == f"arn:aws:eks:{REGION}:{MOCK_ACCOUNT_ID}:cluster/{name}", arn)
        matches(rf"https://[0-9A-F]{{32}}\.gr7\.{REGION}\.eks\.amazonaws\.com", endpoint)
        matches(rf"https://oidc\.eks\.{REGION}\.amazonaws\.com/id/[0-9A-F]{{32}}", issuer)
        check(base64.b64decode(ca["data"]).startswith(b"-----BEGIN CERTIFICATE-----"), "CA data is not a PEM")
        check(vpc_config["vpc_id"] == vpc_id, f"cluster vpcId {vpc_config['vpc_id']} != {vpc_id}")
        matches(f"sg-{HEX17}", vpc_config["cluster_security_group_id"])
        matches(f"gpu-t4-{HEX7}", ng_name)
        check(ng_id == f"{name}:{ng_name}", ng_id)
        matches(rf"arn:aws:eks:{REGION}:{MOCK_ACCOUNT_ID}:nodegroup/{name}/{ng_name}/{UUID}", ng_arn)
        matches(f"eks-{ng_name}-{UUID}", resources[0]["autoscaling_groups"][0]["name"])
        check(ver == "1.33", f"node group version {ver} is not the cluster's")

    return pulumi.Output.all(
        vpc.id,
        cluster.name,
        cluster.id,
        cluster.arn,
        cluster.endpoint,
        cluster.identities[0].oidcs[0].issuer,
        cluster.certificate_authority,
        cluster.vpc_config,
        node_group.node_group_name,
        node_group.id,
        node_group.arn,
        node_group.resources,
        node_group.version,
    ).apply(verify)


@pulumi.runtime.test
def test_nat_gateway_takes_its_elastic_ip() -> pulumi.Output[Any]:
    _, subnet = _network()
    eip = aws.ec2.Eip("nat-a", domain="vpc")
    nat = aws.ec2.NatGateway("nat-a", allocation_id=eip.allocation_id, subnet_id=subnet.id)

    def verify(v: list[Any]) -> None:
        eip_id, allocation_id, public_ip, nat_id, nat_ip, private_ip = v
        matches(f"eipalloc-{HEX17}", eip_id)
        check(allocation_id == eip_id, allocation_id)
        matches(r"203\.0\.113\.\d{1,3}", public_ip)
        matches(f"nat-{HEX17}", nat_id)
        check(nat_ip == public_ip, f"NAT public IP {nat_ip} is not its EIP's {public_ip}")
        matches(r"10\.40\.\d+\.\d+", private_ip)

    return pulumi.Output.all(eip.id, eip.allocation_id, eip.public_ip, nat.id, nat.public_ip, nat.private_ip).apply(
        verify
    )


class _Team(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("teamstack:test:Team", name)
        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block="10.40.0.0/16", opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"vpcId": self.vpc.id})


@pulumi.runtime.test
def test_resources_inside_a_component() -> pulumi.Output[Any]:
    team = _Team("ml-vision")
    return team.vpc.id.apply(lambda vpc_id: matches(f"vpc-{HEX17}", vpc_id))


@pulumi.runtime.test
def test_elastic_ips_get_distinct_addresses() -> pulumi.Output[Any]:
    eips = [aws.ec2.Eip(f"nat-{i}", domain="vpc") for i in range(12)]
    return pulumi.Output.all(*[eip.public_ip for eip in eips]).apply(
        lambda ips: check(len(set(ips)) == len(ips), f"duplicate public IPs: {ips}")
    )


@pulumi.runtime.test
def test_invokes_answer_for_the_region() -> pulumi.Output[Any]:
    zones = aws.get_availability_zones(state="available")
    check(zones.names == [f"{REGION}{x}" for x in "abcd"], f"zones {zones.names}")
    check(zones.zone_ids == ["usw2-az1", "usw2-az2", "usw2-az3", "usw2-az4"], f"zone ids {zones.zone_ids}")
    region = aws.get_region()
    check(region.region == REGION and region.description == "US West (Oregon)", str(region))
    identity = aws.get_caller_identity()
    check(identity.account_id == MOCK_ACCOUNT_ID, identity.account_id)
    matches(rf"arn:aws:sts::{MOCK_ACCOUNT_ID}:assumed-role/.+/.+", identity.arn)
    check(aws.get_partition().dns_suffix == "amazonaws.com", "dns suffix")
    return aws.get_availability_zones_output().names.apply(
        lambda names: check(all(n.startswith(REGION) for n in names), f"{names}")
    )


def test_unmocked_invoke_raises_through_the_program() -> None:
    @pulumi.runtime.test
    def program() -> None:
        aws.ec2.get_vpc(default=True)

    with pytest.raises(UnmockedInvoke, match=r"aws:ec2/getVpc:getVpc.*teamstack/plan/mocks\.py"):
        program()


# --- Direct calls -------------------------------------------------------------------------------------------


def _args(typ: str, name: str, inputs: dict[str, Any] | None = None) -> pulumi.runtime.MockResourceArgs:
    return pulumi.runtime.MockResourceArgs(typ=typ, name=name, inputs=inputs or {}, custom=True)


def _call(token: str, args: dict[str, Any] | None = None) -> pulumi.runtime.MockCallArgs:
    return pulumi.runtime.MockCallArgs(token=token, args=args or {}, provider="")


def test_values_are_stable_across_instances_and_calls() -> None:
    args = _args("aws:ec2/vpc:Vpc", "team-vpc", {"cidrBlock": "10.40.0.0/16"})
    first = AwsMocks(REGION).new_resource(args)
    second = AwsMocks(REGION).new_resource(args)
    check(first == second, f"{first} != {second}")
    other = AwsMocks(REGION).new_resource(_args("aws:ec2/vpc:Vpc", "other-vpc", {"cidrBlock": "10.41.0.0/16"}))
    check(other[0] != first[0], "different logical names share an id")


def _arn(service: str, resource: str) -> str:
    return rf"arn:aws:{service}:{REGION}:{MOCK_ACCOUNT_ID}:{resource}"


@pytest.mark.parametrize(
    ("typ", "inputs", "id_pattern", "arn_pattern"),
    [
        ("aws:ec2/internetGateway:InternetGateway", {}, f"igw-{HEX17}", _arn("ec2", "internet-gateway/igw-.*")),
        ("aws:ec2/routeTable:RouteTable", {"vpcId": "vpc-1"}, f"rtb-{HEX17}", _arn("ec2", "route-table/rtb-.*")),
        ("aws:ec2/routeTableAssociation:RouteTableAssociation", {"routeTableId": "r"}, f"rtbassoc-{HEX17}", None),
        ("aws:ec2/securityGroup:SecurityGroup", {}, f"sg-{HEX17}", _arn("ec2", "security-group/sg-.*")),
        ("aws:ec2/flowLog:FlowLog", {}, f"fl-{HEX17}", _arn("ec2", "vpc-flow-log/fl-.*")),
        ("aws:ec2/launchTemplate:LaunchTemplate", {}, f"lt-{HEX17}", _arn("ec2", "launch-template/lt-.*")),
        ("aws:ec2/vpcEndpoint:VpcEndpoint", {"vpcId": "vpc-1"}, f"vpce-{HEX17}", _arn("ec2", "vpc-endpoint/vpce-.*")),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"securityGroupId": "sg-1", "ipProtocol": "-1"},
            f"sgr-{HEX17}",
            _arn("ec2", "security-group-rule/sgr-.*"),
        ),
        ("aws:kms/key:Key", {}, UUID, _arn("kms", f"key/{UUID}")),
        ("aws:cloudwatch/logGroup:LogGroup", {"name": "/aws/x"}, "/aws/x", _arn("logs", "log-group:/aws/x")),
        ("aws:ecr/repository:Repository", {"name": "team/dask"}, "team/dask", _arn("ecr", "repository/team/dask")),
        # CodeBuild uses the project ARN as the id.
        ("aws:codebuild/project:Project", {"name": "i"}, _arn("codebuild", "project/i"), ".*:project/i"),
        ("aws:cloudwatch/eventRule:EventRule", {"name": "nightly"}, "nightly", _arn("events", "rule/nightly")),
        ("aws:ssm/parameter:Parameter", {"name": "/t/x", "type": "String"}, "/t/x", _arn("ssm", "parameter/t/x")),
        ("aws:budgets/budget:Budget", {"name": "b"}, f"{MOCK_ACCOUNT_ID}:b", r"arn:aws:budgets::\d{12}:budget/b"),
        ("aws:sqs/queue:Queue", {}, f"thing-{HEX7}", _arn("sqs", "queue/thing-.*")),
    ],
)  # fmt: skip
def test_ids_and_arns_per_type(typ: str, inputs: dict[str, Any], id_pattern: str, arn_pattern: str | None) -> None:
    resource_id, state = AwsMocks(REGION).new_resource(_args(typ, "thing", inputs))
    matches(id_pattern, resource_id)
    if arn_pattern is None:
        check("arn" not in state, f"{typ} has no ARN, got {state.get('arn')}")
    else:
        matches(arn_pattern, state["arn"])


def test_autonaming_keeps_given_names_and_honours_limits() -> None:
    mocks = AwsMocks(REGION)
    _, given = mocks.new_resource(_args("aws:cloudwatch/logGroup:LogGroup", "flow-logs", {"name": "/team/flow"}))
    check(given["name"] == "/team/flow", given["name"])
    _, auto = mocks.new_resource(_args("aws:cloudwatch/logGroup:LogGroup", "flow-logs"))
    matches(f"flow-logs-{HEX7}", auto["name"])
    _, alias = mocks.new_resource(_args("aws:kms/alias:Alias", "team-key", {"targetKeyId": "k"}))
    matches(f"alias/team-key-{HEX7}", alias["name"])
    _, prefixed = mocks.new_resource(_args("aws:iam/role:Role", "r", {"namePrefix": "team-"}))
    matches(r"team-\d{26}", prefixed["name"])
    with pytest.raises(AutonameTooLong, match="maximum length 64"):
        mocks.new_resource(_args("aws:iam/role:Role", "r" * 60))


def test_ecr_and_access_entry_outputs() -> None:
    mocks = AwsMocks("eu-central-1")
    _, repo = mocks.new_resource(_args("aws:ecr/repository:Repository", "images", {"name": "analytics/dask"}))
    url = repo["repositoryUrl"]
    check(url == f"{MOCK_ACCOUNT_ID}.dkr.ecr.eu-central-1.amazonaws.com/analytics/dask", url)
    check(repo["registryId"] == MOCK_ACCOUNT_ID, repo["registryId"])
    principal = "arn:aws:iam::111122223333:role/PlatformAdmins"
    entry_id, entry = mocks.new_resource(
        _args("aws:eks/accessEntry:AccessEntry", "admins", {"clusterName": "c", "principalArn": principal})
    )
    check(entry_id == f"c:{principal}", entry_id)
    matches(
        rf"arn:aws:eks:eu-central-1:{MOCK_ACCOUNT_ID}:access-entry/c/role/111122223333/PlatformAdmins/{UUID}",
        entry["accessEntryArn"],
    )
    pod_id, pod = mocks.new_resource(
        _args(
            "aws:eks/podIdentityAssociation:PodIdentityAssociation",
            "dask",
            {"clusterName": "c", "namespace": "dask", "serviceAccount": "s", "roleArn": "arn:aws:iam::1:role/x"},
        )
    )
    matches("a-[a-z0-9]{17}", pod["associationId"])
    check(pod_id == f"c,{pod['associationId']}", pod_id)
    check(pod["associationArn"].endswith(f":podidentityassociation/c/{pod['associationId']}"), pod["associationArn"])


def test_availability_zones_depend_on_the_region() -> None:
    east = AwsMocks("us-east-1").call(_call("aws:index/getAvailabilityZones:getAvailabilityZones"))
    check(len(east["names"]) == 6 and east["zoneIds"][0] == "use1-az1", f"{east}")
    frankfurt = AwsMocks(REGION).call(
        _call("aws:index/getAvailabilityZones:getAvailabilityZones", {"region": "eu-central-1"})
    )
    check(frankfurt["names"] == ["eu-central-1a", "eu-central-1b", "eu-central-1c"], f"{frankfurt}")
    check(frankfurt["zoneIds"][0] == "euc1-az1" and frankfurt["id"] == "eu-central-1", f"{frankfurt}")


def test_unmocked_invoke_raises() -> None:
    with pytest.raises(UnmockedInvoke, match=r"no mock for invoke aws:ec2/getAmi:getAmi; add one in teamstack"):
        AwsMocks(REGION).call(_call("aws:ec2/getAmi:getAmi"))


def test_explicit_provider_region_and_default_tags() -> None:
    mocks = AwsMocks(REGION)
    provider_id, _ = mocks.new_resource(
        pulumi.runtime.MockResourceArgs(
            typ="pulumi:providers:aws",
            name="frankfurt",
            inputs={"region": "eu-central-1", "defaultTags": '{"tags": {"team": "analytics"}}'},
            custom=True,
        )
    )
    args = pulumi.runtime.MockResourceArgs(
        typ="aws:ec2/vpc:Vpc",
        name="v",
        inputs={"cidrBlock": "10.0.0.0/16", "tags": {"Name": "v"}},
        provider=f"urn:pulumi:test::teamstack::pulumi:providers:aws::frankfurt::{provider_id}",
        custom=True,
    )
    _, state = mocks.new_resource(args)
    check(":eu-central-1:" in state["arn"] and state["region"] == "eu-central-1", state["arn"])
    check(state["tagsAll"] == {"team": "analytics", "Name": "v"}, f"{state['tagsAll']}")
