"""Offline stand-ins for the AWS provider, so the team stack program runs under `pulumi.runtime.set_mocks`.

`AwsMocks` answers every resource registration with the state the real provider (pulumi-aws 7) would return:
the inputs (camelCase, as the engine hands them over) plus the computed outputs, shaped like the real ones:
`vpc-0123…` ids, ARNs in each service's own format, Pulumi's autonaming (`<logical name>-<7 hex>`), EKS
endpoints, ECR repository URLs and so on. Nothing is random: every value derives from the sha256 of the
resource's type token and logical name, so the same program gives the same plan on every run.

The per-type behaviour lives in one table, `RULES`, keyed by type token. A type missing from it still gets a
generic id (`<name>-<7 hex>`) and, for AWS types, a generic ARN. Invokes are mocked in `INVOKES`; any other
invoke raises `UnmockedInvoke`, so the plan never silently works on an empty answer.

The mocks remember what they created, so outputs that the real provider derives from other resources follow
the graph: a NAT gateway's public IP is its Elastic IP's, an EKS cluster's `vpcConfig.vpcId` is the VPC of its
first subnet, a node group's `version` is its cluster's, a default security group's id is its VPC's.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import json
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc

MOCK_ACCOUNT_ID = "123456789012"
# Creation times of resources that report one (IAM roles, EKS clusters, ...): fixed, so plans are stable.
MOCK_TIMESTAMP = "2025-01-01T00:00:00Z"
# The identity the offline plan pretends to deploy as.
MOCK_CALLER_ROLE = "teamstack-deployer"
MOCK_CALLER_SESSION = "teamstack-plan"

PARTITION = "aws"
DNS_SUFFIX = "amazonaws.com"
AUTONAME_RANDOM_CHARS = 7

State = dict[str, Any]


class UnmockedInvoke(Exception):
    """The program called a provider function that the offline plan has no answer for."""

    def __init__(self, token: str) -> None:
        super().__init__(f"the offline plan has no mock for invoke {token}; add one in teamstack/plan/mocks.py")
        self.token = token


class AutonameTooLong(ValueError):
    """A logical name too long for the property Pulumi would autoname from it (as `pulumi up` would fail)."""


# --- Region facts -------------------------------------------------------------------------------------------

# Availability zone letters open to new accounts; regions not listed get a, b, c, d.
_ZONE_LETTERS: Mapping[str, str] = {
    "us-east-1": "abcdef",
    "us-east-2": "abc",
    "us-west-1": "bc",
    "us-west-2": "abcd",
    "ca-central-1": "abd",
    "eu-west-1": "abc",
    "eu-west-2": "abc",
    "eu-west-3": "abc",
    "eu-central-1": "abc",
    "eu-north-1": "abc",
    "ap-northeast-1": "acd",
    "ap-northeast-2": "abcd",
    "ap-south-1": "abc",
    "ap-southeast-1": "abc",
    "ap-southeast-2": "abc",
    "sa-east-1": "abc",
}
_DEFAULT_ZONE_LETTERS = "abcd"

_REGION_DESCRIPTIONS: Mapping[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-north-1": "Europe (Stockholm)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "sa-east-1": "South America (Sao Paulo)",
}

# Route 53 hosted zone of each region's S3 endpoints (the `hostedZoneId` of a bucket).
_S3_HOSTED_ZONES: Mapping[str, str] = {
    "us-east-1": "Z3AQBSTGFYJSTF",
    "us-east-2": "Z2O1EMRO9K5GLX",
    "us-west-1": "Z2F56UZL2M1ACD",
    "us-west-2": "Z3BJ6K6RIION7M",
    "ca-central-1": "Z1QDHH18159H29",
    "eu-west-1": "Z1BKCTXD74EZPE",
    "eu-west-2": "Z3GKZC51ZF0DB4",
    "eu-west-3": "Z3R1K369G5AVDG",
    "eu-central-1": "Z21DNDUVLTQW6Q",
    "eu-north-1": "Z3BAZG2TWCNX0D",
    "ap-northeast-1": "Z2M4EHUR26P7ZW",
    "ap-northeast-2": "Z3W03O7B5YMIYP",
    "ap-south-1": "Z11RGJOFQNVJUP",
    "ap-southeast-1": "Z3O0J2DXBE1FTB",
    "ap-southeast-2": "Z1WCIGYICN2BYD",
    "sa-east-1": "Z7KQH4QJS55SO",
}

_DIRECTION_CODES: Mapping[str, str] = {
    "north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}  # fmt: skip


def zone_names(region: str) -> list[str]:
    """The availability zones of a region, e.g. us-west-2a … us-west-2d."""
    return [region + letter for letter in _ZONE_LETTERS.get(region, _DEFAULT_ZONE_LETTERS)]


def _region_code(region: str) -> str:
    """AWS's short region code used in zone ids: us-west-2 -> usw2, ap-southeast-1 -> apse1."""
    parts = region.split("-")
    if len(parts) != 3:
        return region.replace("-", "")
    area, direction, number = parts
    return area + _DIRECTION_CODES.get(direction, direction[:2]) + number


def zone_id(region: str, zone: str) -> str:
    """The zone id of a zone name (usw2-az1 for us-west-2a): index-based, like a fresh account's mapping."""
    names = zone_names(region)
    index = names.index(zone) + 1 if zone in names else ord(zone[-1:] or "a") - ord("a") + 1
    return f"{_region_code(region)}-az{index}"


# --- Deterministic values -----------------------------------------------------------------------------------


def _digest(*parts: str) -> bytes:
    """64+ bytes of deterministic noise from the parts (sha256 chained as far as needed)."""
    seed = "\x1f".join(parts).encode()
    return hashlib.sha256(seed).digest() + hashlib.sha256(seed + b"\x00").digest()


def _hex(parts: tuple[str, ...], length: int) -> str:
    return _digest(*parts).hex()[:length]


def _base32(parts: tuple[str, ...], length: int) -> str:
    """Upper-case letters and digits, like IAM unique ids."""
    return base64.b32encode(_digest(*parts)).decode()[:length]


def _uuid(parts: tuple[str, ...]) -> str:
    h = _hex(parts, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def _digits(parts: tuple[str, ...], length: int) -> str:
    return "".join(str(b % 10) for b in _digest(*parts)[:length])


def _plain(value: Any) -> Any:
    """The value without Pulumi's secret wrapper; None for an unknown (preview) value."""
    value = rpc.unwrap_rpc_secret(value)
    return None if isinstance(value, pulumi.output.Unknown) else value


@dataclass
class _Ctx:
    """One resource being created: its inputs-so-far, where it lives, and the helpers the rules use."""

    mocks: AwsMocks
    typ: str
    name: str
    state: State
    region: str
    account: str
    id: str = ""
    arn: str = ""

    # Deterministic values, each drawn from its own purpose ("salt") so they don't repeat each other.
    def hex(self, length: int = 17, salt: str = "id") -> str:
        return _hex((self.typ, self.name, salt), length)

    def upper_hex(self, length: int = 32, salt: str = "id") -> str:
        return self.hex(length, salt).upper()

    def uuid(self, salt: str = "uuid") -> str:
        return _uuid((self.typ, self.name, salt))

    def digits(self, length: int, salt: str = "digits") -> str:
        return _digits((self.typ, self.name, salt), length)

    def base32(self, length: int, salt: str = "base32") -> str:
        return _base32((self.typ, self.name, salt), length)

    def ec2_id(self, prefix: str, salt: str = "id") -> str:
        return f"{prefix}-{self.hex(17, salt)}"

    def s(self, key: str, default: str = "") -> str:
        """A string input (secret unwrapped), or `default` when absent or unknown."""
        value = _plain(self.state.get(key))
        return value if isinstance(value, str) and value else default

    def get(self, key: str, default: Any = None) -> Any:
        value = _plain(self.state.get(key))
        return default if value is None else value

    def arn_of(self, service: str, resource: str, *, regional: bool = True, account: bool = True) -> str:
        region = self.region if regional else ""
        acct = self.account if account else ""
        return f"arn:{PARTITION}:{service}:{region}:{acct}:{resource}"

    def lookup(self, typ: str, resource_id: str) -> State:
        """The state of a resource the mocks created earlier, by type token and id ({} if unknown)."""
        return self.mocks.created.get(typ, {}).get(resource_id, {})


IdFn = Callable[[_Ctx], str]
ExtraFn = Callable[[_Ctx], State]


@dataclass(frozen=True)
class ResourceRule:
    """How the real provider answers for one resource type.

    id:        the physical id.
    arn:       the ARN, stored under `arn_key` (None: the type has no ARN).
    autoname:  the property Pulumi autonames from the logical name when it is absent, with any transform
               (lower-casing for buckets, the `alias/` prefix for KMS aliases) and the longest name a deploy
               accepts: Pulumi's own limit for the property or the service's, whichever is smaller.
    defaults:  values the provider fills in when the input is absent.
    outputs:   the remaining computed outputs, from the context (id, arn and state already set).
    regional:  False for global services (IAM, Budgets): no region in the ARN and no `region` output.
    tagged:    the type carries `tags`/`tagsAll`.
    """

    id: IdFn
    arn: IdFn | None = None
    arn_key: str = "arn"
    autoname: str | None = None
    autoname_maxlen: int = 255
    autoname_transform: Callable[[str], str] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    outputs: ExtraFn | None = None
    regional: bool = True
    tagged: bool = True


# --- Id and ARN builders shared by many rules ---------------------------------------------------------------


def _ec2(prefix: str) -> IdFn:
    return lambda c: c.ec2_id(prefix)


def _ec2_arn(kind: str) -> IdFn:
    return lambda c: c.arn_of("ec2", f"{kind}/{c.id}")


def _input(key: str) -> IdFn:
    return lambda c: c.s(key)


def _owner(c: _Ctx) -> State:
    return {"ownerId": c.account}


def _bucket_config_id(c: _Ctx) -> str:
    """Bucket configuration resources use `bucket` or `bucket,expectedBucketOwner` as their id."""
    owner = c.s("expectedBucketOwner")
    return f"{c.s('bucket')},{owner}" if owner else c.s("bucket")


def _iam_path(c: _Ctx) -> str:
    path = c.s("path", "/")
    return path if path.endswith("/") else path + "/"


def _alias_prefix(name: str) -> str:
    return name if name.startswith("alias/") else f"alias/{name}"


# --- EC2 / VPC ----------------------------------------------------------------------------------------------


def _vpc_outputs(c: _Ctx) -> State:
    main_rtb = c.ec2_id("rtb", "main-route-table")
    return {
        "ownerId": c.account,
        "defaultSecurityGroupId": c.ec2_id("sg", "default-security-group"),
        "mainRouteTableId": main_rtb,
        "defaultRouteTableId": main_rtb,
        "defaultNetworkAclId": c.ec2_id("acl", "default-network-acl"),
        "dhcpOptionsId": c.ec2_id("dopt", "dhcp-options"),
    }


def _subnet_outputs(c: _Ctx) -> State:
    zone = c.s("availabilityZone") or zone_names(c.region)[0]
    return {
        "ownerId": c.account,
        "availabilityZone": zone,
        "availabilityZoneId": c.s("availabilityZoneId") or zone_id(c.region, zone),
    }


def _public_ip(c: _Ctx) -> str:
    """An address in 203.0.113.0/24 (TEST-NET-3), not one an Elastic IP of this plan already has."""
    taken = {state.get("publicIp") for state in c.mocks.created.get("aws:ec2/eip:Eip", {}).values()}
    start = _digest(c.typ, c.name, "public-ip")[0]
    for step in range(254):
        ip = f"203.0.113.{1 + (start + step) % 254}"
        if ip not in taken:
            return ip
    return f"203.0.113.{1 + start % 254}"


def _public_dns(c: _Ctx, ip: str) -> str:
    domain = "compute-1.amazonaws.com" if c.region == "us-east-1" else f"{c.region}.compute.amazonaws.com"
    return f"ec2-{ip.replace('.', '-')}.{domain}"


def _eip_outputs(c: _Ctx) -> State:
    ip = _public_ip(c)
    return {
        "allocationId": c.id,
        "publicIp": ip,
        "publicDns": _public_dns(c, ip),
        "domain": c.s("domain", "vpc"),
        "publicIpv4Pool": "amazon",
        "networkBorderGroup": c.region,
    }


def _nat_outputs(c: _Ctx) -> State:
    out: State = {"networkInterfaceId": c.ec2_id("eni", "eni"), "connectivityType": c.s("connectivityType", "public")}
    eip = c.lookup("aws:ec2/eip:Eip", c.s("allocationId"))
    if out["connectivityType"] == "public":
        out["publicIp"] = eip.get("publicIp") or _public_ip(c)
    subnet = c.lookup("aws:ec2/subnet:Subnet", c.s("subnetId"))
    cidr = _plain(subnet.get("cidrBlock"))
    if isinstance(cidr, str):
        network = ipaddress.IPv4Network(cidr, strict=False)
        out["privateIp"] = str(network.network_address + 4 + _digest(c.typ, c.name, "ip")[0] % 8)
    return out


def _route_id(c: _Ctx) -> str:
    """`r-<route table id><crc32 of the destination>`, as the provider builds it."""
    destination = c.s("destinationCidrBlock") or c.s("destinationIpv6CidrBlock") or c.s("destinationPrefixListId")
    return f"r-{c.s('routeTableId')}{zlib.crc32(destination.encode())}"


def _default_sg_id(c: _Ctx) -> str:
    vpc = c.lookup("aws:ec2/vpc:Vpc", c.s("vpcId"))
    return str(vpc.get("defaultSecurityGroupId") or c.ec2_id("sg"))


def _vpc_endpoint_outputs(c: _Ctx) -> State:
    kind = c.s("vpcEndpointType", "Gateway")
    service = c.s("serviceName")
    out: State = {"ownerId": c.account, "vpcEndpointType": kind, "state": "available", "requesterManaged": False}
    if kind == "Gateway":
        out |= {
            "prefixListId": f"pl-{c.hex(8, 'prefix-list')}",
            "cidrBlocks": [f"{3 + _digest(c.typ, c.name, 'cidr')[0] % 50}.5.0.0/16"],
            "dnsEntries": [],
            "networkInterfaceIds": [],
        }
        return out
    # Interface endpoints: a regional DNS name, plus a zonal DNS name and a network interface per subnet.
    short = service.removeprefix(f"com.amazonaws.{c.region}.") or service
    base = f"{c.id}-{c.hex(8, 'dns')}"
    subnets = [s for s in (_plain(x) for x in c.get("subnetIds", [])) if isinstance(s, str)]
    hosted_zone = f"Z{c.base32(12, 'vpce-zone')}"
    entries = [{"dnsName": f"{base}.{short}.{c.region}.vpce.{DNS_SUFFIX}", "hostedZoneId": hosted_zone}]
    for subnet_id in subnets:
        subnet = c.lookup("aws:ec2/subnet:Subnet", subnet_id)
        zone = _plain(subnet.get("availabilityZone")) or zone_names(c.region)[0]
        entries.append({"dnsName": f"{base}-{zone}.{short}.{c.region}.vpce.{DNS_SUFFIX}", "hostedZoneId": hosted_zone})
    out |= {
        "dnsEntries": entries,
        "networkInterfaceIds": [c.ec2_id("eni", f"eni-{s}") for s in subnets],
        "privateDnsEnabled": c.get("privateDnsEnabled", False),
        "ipAddressType": c.s("ipAddressType", "ipv4"),
    }
    return out


def _flow_log_arn(c: _Ctx) -> str:
    return c.arn_of("ec2", f"vpc-flow-log/{c.id}")


def _security_group_rule_outputs(c: _Ctx) -> State:
    return {"securityGroupRuleId": c.id}


# --- IAM ----------------------------------------------------------------------------------------------------


def _role_outputs(c: _Ctx) -> State:
    return {"uniqueId": "AROA" + c.base32(17, "unique-id"), "createDate": MOCK_TIMESTAMP}


def _role_policy_attachment_id(c: _Ctx) -> str:
    # The provider's id.PrefixedUniqueId: `<role>-` plus a 26-digit timestamp-and-counter.
    return f"{c.s('role')}-{c.digits(26)}"


def _oidc_arn(c: _Ctx) -> str:
    return c.arn_of("iam", f"oidc-provider/{c.s('url').removeprefix('https://')}", regional=False)


# --- KMS / CloudWatch / EventBridge / SSM / Budgets --------------------------------------------------------


def _kms_key_outputs(c: _Ctx) -> State:
    out: State = {"keyId": c.id}
    if c.get("enableKeyRotation", False) and "rotationPeriodInDays" not in c.state:
        out["rotationPeriodInDays"] = 365
    return out


def _kms_alias_outputs(c: _Ctx) -> State:
    target = c.s("targetKeyId")
    return {"targetKeyArn": target if target.startswith("arn:") else c.arn_of("kms", f"key/{target}")}


def _event_rule_id(c: _Ctx) -> str:
    bus = c.s("eventBusName", "default")
    return c.s("name") if bus == "default" else f"{bus}/{c.s('name')}"


def _event_target_id(c: _Ctx) -> str:
    bus = c.s("eventBusName", "default")
    rule_target = f"{c.s('rule')}-{c.s('targetId')}"
    return rule_target if bus == "default" else f"{bus}/{c.s('rule')}/{c.s('targetId')}"


# --- EKS ----------------------------------------------------------------------------------------------------


def _certificate_data(c: _Ctx) -> str:
    body = base64.b64encode(_digest(c.typ, c.name, "ca") * 8).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def _service_cidr_default(vpc_cidr: str | None) -> str:
    """EKS picks 172.20.0.0/16 for VPCs in 10.0.0.0/8, else 10.100.0.0/16."""
    if vpc_cidr and ipaddress.IPv4Network(vpc_cidr, strict=False).subnet_of(ipaddress.IPv4Network("10.0.0.0/8")):
        return "172.20.0.0/16"
    return "10.100.0.0/16"


def _eks_cluster_outputs(c: _Ctx) -> State:
    endpoint_id = c.upper_hex(32, "endpoint")
    vpc_config = dict(c.get("vpcConfig", {}))
    subnets = [s for s in (_plain(x) for x in vpc_config.get("subnetIds", [])) if isinstance(s, str)]
    subnet = c.lookup("aws:ec2/subnet:Subnet", subnets[0]) if subnets else {}
    vpc_id = _plain(subnet.get("vpcId")) or c.ec2_id("vpc", "vpc")
    vpc = c.lookup("aws:ec2/vpc:Vpc", vpc_id)
    vpc_config = {
        "endpointPrivateAccess": False,
        "endpointPublicAccess": True,
        "publicAccessCidrs": ["0.0.0.0/0"],
        "securityGroupIds": [],
        **vpc_config,
        "clusterSecurityGroupId": c.ec2_id("sg", "cluster-security-group"),
        "vpcId": vpc_id,
    }
    network = dict(c.get("kubernetesNetworkConfig", {}))
    network.setdefault("ipFamily", "ipv4")
    network.setdefault("serviceIpv4Cidr", _service_cidr_default(_plain(vpc.get("cidrBlock"))))
    access = dict(c.get("accessConfig", {}))
    access.setdefault("authenticationMode", "CONFIG_MAP")
    access.setdefault("bootstrapClusterCreatorAdminPermissions", True)
    return {
        "endpoint": f"https://{endpoint_id}.gr7.{c.region}.eks.{DNS_SUFFIX}",
        "certificateAuthority": {"data": _certificate_data(c)},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{c.region}.{DNS_SUFFIX}/id/{endpoint_id}"}]}],
        "platformVersion": "eks.1",
        "status": "ACTIVE",
        # Only clusters on Outposts have a cluster id; the provider reports an empty one for the rest.
        "clusterId": "",
        "createdAt": MOCK_TIMESTAMP,
        "vpcConfig": vpc_config,
        "kubernetesNetworkConfig": network,
        "accessConfig": access,
    }


def _node_group_arn(c: _Ctx) -> str:
    return c.arn_of("eks", f"nodegroup/{c.s('clusterName')}/{c.s('nodeGroupName')}/{c.uuid('nodegroup')}")


def _node_group_outputs(c: _Ctx) -> State:
    cluster = c.lookup("aws:eks/cluster:Cluster", c.s("clusterName"))
    out: State = {
        "status": "ACTIVE",
        "resources": [
            {
                "autoscalingGroups": [{"name": f"eks-{c.s('nodeGroupName')}-{c.uuid('nodegroup')}"}],
                "remoteAccessSecurityGroupId": "",
            }
        ],
    }
    version = c.s("version") or _plain(cluster.get("version"))
    if isinstance(version, str):
        out["version"] = version
        out.setdefault("releaseVersion", c.s("releaseVersion") or f"{version}.0-20250101")
    if "launchTemplate" not in c.state:
        out["diskSize"] = c.get("diskSize", 20)
        out["instanceTypes"] = c.get("instanceTypes", ["t3.medium"])
    return out


def _eks_uuid_arn(kind: str, key: str) -> IdFn:
    return lambda c: c.arn_of("eks", f"{kind}/{c.s('clusterName')}/{c.s(key)}/{c.uuid(kind)}")


def _access_entry_arn(c: _Ctx) -> str:
    principal = c.s("principalArn")
    # arn:aws:iam::<acct>:role/<path/>name -> <kind>/<acct>/<name>
    acct = principal.split(":")[4] if principal.count(":") >= 5 else c.account
    resource = principal.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    kind = kind or "role"
    name = rest.rsplit("/", 1)[-1] or principal
    return c.arn_of("eks", f"access-entry/{c.s('clusterName')}/{kind}/{acct}/{name}/{c.uuid('access-entry')}")


def _access_entry_outputs(c: _Ctx) -> State:
    principal = c.s("principalArn")
    out: State = {"createdAt": MOCK_TIMESTAMP, "modifiedAt": MOCK_TIMESTAMP}
    if "userName" not in c.state:
        resource = principal.split(":", 5)[-1]
        kind, _, rest = resource.partition("/")
        acct = principal.split(":")[4] if principal.count(":") >= 5 else c.account
        role = rest.rsplit("/", 1)[-1]
        out["userName"] = (
            f"arn:{PARTITION}:sts::{acct}:assumed-role/{role}/{{{{SessionName}}}}" if kind == "role" else principal
        )
    return out


def _pod_identity_id(c: _Ctx) -> str:
    return f"{c.s('clusterName')},a-{_association_id_suffix(c)}"


def _association_id_suffix(c: _Ctx) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in _digest(c.typ, c.name, "association")[:17])


def _pod_identity_outputs(c: _Ctx) -> State:
    association_id = f"a-{_association_id_suffix(c)}"
    return {
        "associationId": association_id,
        "associationArn": c.arn_of("eks", f"podidentityassociation/{c.s('clusterName')}/{association_id}"),
        "externalId": "",
    }


# --- ECR / S3 / CodeBuild -----------------------------------------------------------------------------------


def _ecr_repository_outputs(c: _Ctx) -> State:
    return {
        "registryId": c.account,
        "repositoryUrl": f"{c.account}.dkr.ecr.{c.region}.{DNS_SUFFIX}/{c.s('name')}",
    }


def _registry(c: _Ctx) -> State:
    return {"registryId": c.account}


def _bucket_outputs(c: _Ctx) -> State:
    bucket = c.s("bucket")
    return {
        "bucketDomainName": f"{bucket}.s3.{DNS_SUFFIX}",
        "bucketRegionalDomainName": f"{bucket}.s3.{c.region}.{DNS_SUFFIX}",
        "bucketRegion": c.region,
        "hostedZoneId": _S3_HOSTED_ZONES.get(c.region, "Z" + c.base32(13, "hosted-zone")),
    }


def _object_key(c: _Ctx) -> str:
    # `key` defaults to the logical name, without a random suffix.
    return c.s("key", c.name)


def _object_outputs(c: _Ctx) -> State:
    content = c.get("content")
    etag_source = content.encode() if isinstance(content, str) else _digest(c.typ, c.name, "etag")
    return {
        "key": _object_key(c),
        "etag": hashlib.md5(etag_source, usedforsecurity=False).hexdigest(),
        "versionId": c.base32(32, "version").lower(),
        "arn": f"arn:{PARTITION}:s3:::{c.s('bucket')}/{_object_key(c)}",
    }


def _codebuild_arn(c: _Ctx) -> str:
    return c.arn_of("codebuild", f"project/{c.s('name')}")


def _codebuild_outputs(c: _Ctx) -> State:
    return {
        "badgeUrl": "",
        "publicProjectAlias": "",
        "encryptionKey": c.s("encryptionKey") or c.arn_of("kms", "alias/aws/s3"),
    }


# --- The table ----------------------------------------------------------------------------------------------

_BUCKET_SUB_RESOURCE = ResourceRule(id=_input("bucket"), tagged=False)
_BUCKET_CONFIG_RESOURCE = ResourceRule(id=_bucket_config_id, tagged=False)
_SG_RULE = ResourceRule(id=_ec2("sgr"), arn=_ec2_arn("security-group-rule"), outputs=_security_group_rule_outputs)
_FLOW_LOG_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} "
    "${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)

RULES: Mapping[str, ResourceRule] = {
    # KMS
    "aws:kms/key:Key": ResourceRule(
        id=lambda c: c.uuid("key"),
        arn=lambda c: c.arn_of("kms", f"key/{c.id}"),
        defaults={
            "keyUsage": "ENCRYPT_DECRYPT",
            "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "isEnabled": True,
            "enableKeyRotation": False,
            "multiRegion": False,
            "bypassPolicyLockoutSafetyCheck": False,
            "deletionWindowInDays": 30,
        },
        outputs=_kms_key_outputs,
    ),
    "aws:kms/alias:Alias": ResourceRule(
        id=_input("name"),
        arn=lambda c: c.arn_of("kms", c.s("name")),
        autoname="name",
        autoname_maxlen=238,
        autoname_transform=_alias_prefix,
        outputs=_kms_alias_outputs,
        tagged=False,
    ),
    # EC2 / VPC
    "aws:ec2/vpc:Vpc": ResourceRule(
        id=_ec2("vpc"),
        arn=_ec2_arn("vpc"),
        defaults={
            "enableDnsSupport": True,
            "enableDnsHostnames": False,
            "instanceTenancy": "default",
            "enableNetworkAddressUsageMetrics": False,
            "assignGeneratedIpv6CidrBlock": False,
        },
        outputs=_vpc_outputs,
    ),
    "aws:ec2/subnet:Subnet": ResourceRule(
        id=_ec2("subnet"),
        arn=_ec2_arn("subnet"),
        defaults={"mapPublicIpOnLaunch": False, "assignIpv6AddressOnCreation": False},
        outputs=_subnet_outputs,
    ),
    "aws:ec2/internetGateway:InternetGateway": ResourceRule(
        id=_ec2("igw"), arn=_ec2_arn("internet-gateway"), outputs=_owner
    ),
    "aws:ec2/eip:Eip": ResourceRule(id=_ec2("eipalloc"), arn=_ec2_arn("elastic-ip"), outputs=_eip_outputs),
    "aws:ec2/natGateway:NatGateway": ResourceRule(id=_ec2("nat"), outputs=_nat_outputs),
    "aws:ec2/routeTable:RouteTable": ResourceRule(
        id=_ec2("rtb"),
        arn=_ec2_arn("route-table"),
        defaults={"routes": [], "propagatingVgws": []},
        outputs=_owner,
    ),
    "aws:ec2/route:Route": ResourceRule(
        id=_route_id, defaults={"state": "active", "origin": "CreateRoute"}, tagged=False
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ResourceRule(id=_ec2("rtbassoc"), tagged=False),
    "aws:ec2/securityGroup:SecurityGroup": ResourceRule(
        id=_ec2("sg"),
        arn=_ec2_arn("security-group"),
        autoname="name",
        defaults={"description": "Managed by Pulumi", "revokeRulesOnDelete": False, "ingress": [], "egress": []},
        outputs=_owner,
    ),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ResourceRule(
        id=_default_sg_id,
        arn=_ec2_arn("security-group"),
        defaults={"name": "default", "description": "default VPC security group", "revokeRulesOnDelete": False},
        outputs=_owner,
    ),
    "aws:ec2/securityGroupRule:SecurityGroupRule": ResourceRule(
        id=lambda c: f"sgrule-{c.digits(10)}",
        outputs=lambda c: {"securityGroupRuleId": c.ec2_id("sgr", "rule")},
        tagged=False,
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _SG_RULE,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _SG_RULE,
    "aws:ec2/vpcEndpoint:VpcEndpoint": ResourceRule(
        id=_ec2("vpce"), arn=_ec2_arn("vpc-endpoint"), outputs=_vpc_endpoint_outputs
    ),
    "aws:ec2/flowLog:FlowLog": ResourceRule(
        id=_ec2("fl"),
        arn=_flow_log_arn,
        defaults={
            "logDestinationType": "cloud-watch-logs",
            "maxAggregationInterval": 600,
            "logFormat": _FLOW_LOG_FORMAT,
        },
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": ResourceRule(
        id=_ec2("lt"),
        arn=_ec2_arn("launch-template"),
        autoname="name",
        autoname_maxlen=128,
        defaults={"defaultVersion": 1},
        outputs=lambda c: {"latestVersion": 1},
    ),
    # CloudWatch Logs and EventBridge
    "aws:cloudwatch/logGroup:LogGroup": ResourceRule(
        id=_input("name"),
        arn=lambda c: c.arn_of("logs", f"log-group:{c.s('name')}"),
        autoname="name",
        defaults={"retentionInDays": 0, "logGroupClass": "STANDARD", "skipDestroy": False},
    ),
    "aws:cloudwatch/eventRule:EventRule": ResourceRule(
        id=_event_rule_id,
        arn=lambda c: c.arn_of("events", f"rule/{c.id}"),
        autoname="name",
        autoname_maxlen=64,
        defaults={"eventBusName": "default", "state": "ENABLED"},
    ),
    "aws:cloudwatch/eventTarget:EventTarget": ResourceRule(
        id=_event_target_id, autoname="targetId", autoname_maxlen=64, defaults={"eventBusName": "default"}, tagged=False
    ),
    # IAM (global: no region in the ARN)
    "aws:iam/role:Role": ResourceRule(
        id=_input("name"),
        arn=lambda c: c.arn_of("iam", f"role{_iam_path(c)}{c.s('name')}", regional=False),
        autoname="name",
        autoname_maxlen=64,
        defaults={"path": "/", "maxSessionDuration": 3600, "forceDetachPolicies": False},
        outputs=_role_outputs,
        regional=False,
    ),
    "aws:iam/rolePolicy:RolePolicy": ResourceRule(
        id=lambda c: f"{c.s('role')}:{c.s('name')}",
        autoname="name",
        autoname_maxlen=128,
        regional=False,
        tagged=False,
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ResourceRule(
        id=_role_policy_attachment_id, regional=False, tagged=False
    ),
    "aws:iam/policy:Policy": ResourceRule(
        id=lambda c: c.arn_of("iam", f"policy{_iam_path(c)}{c.s('name')}", regional=False),
        arn=lambda c: c.id,
        autoname="name",
        autoname_maxlen=128,
        defaults={"path": "/"},
        outputs=lambda c: {"policyId": "ANPA" + c.base32(17, "policy-id"), "attachmentCount": 0},
        regional=False,
    ),
    "aws:iam/instanceProfile:InstanceProfile": ResourceRule(
        id=_input("name"),
        arn=lambda c: c.arn_of("iam", f"instance-profile{_iam_path(c)}{c.s('name')}", regional=False),
        autoname="name",
        autoname_maxlen=128,
        defaults={"path": "/"},
        outputs=lambda c: {"uniqueId": "AIPA" + c.base32(17, "unique-id"), "createDate": MOCK_TIMESTAMP},
        regional=False,
    ),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ResourceRule(id=_oidc_arn, arn=_oidc_arn, regional=False),
    # EKS
    "aws:eks/cluster:Cluster": ResourceRule(
        id=_input("name"),
        arn=lambda c: c.arn_of("eks", f"cluster/{c.s('name')}"),
        autoname="name",
        autoname_maxlen=100,
        defaults={"bootstrapSelfManagedAddons": True, "enabledClusterLogTypes": []},
        outputs=_eks_cluster_outputs,
    ),
    "aws:eks/nodeGroup:NodeGroup": ResourceRule(
        id=lambda c: f"{c.s('clusterName')}:{c.s('nodeGroupName')}",
        arn=_node_group_arn,
        autoname="nodeGroupName",
        autoname_maxlen=63,
        defaults={
            "amiType": "AL2023_x86_64_STANDARD",
            "capacityType": "ON_DEMAND",
            "updateConfig": {"maxUnavailable": 1},
            "labels": {},
        },
        outputs=_node_group_outputs,
    ),
    "aws:eks/addon:Addon": ResourceRule(
        id=lambda c: f"{c.s('clusterName')}:{c.s('addonName')}",
        arn=_eks_uuid_arn("addon", "addonName"),
        outputs=lambda c: {"createdAt": MOCK_TIMESTAMP, "modifiedAt": MOCK_TIMESTAMP},
    ),
    "aws:eks/accessEntry:AccessEntry": ResourceRule(
        id=lambda c: f"{c.s('clusterName')}:{c.s('principalArn')}",
        arn=_access_entry_arn,
        arn_key="accessEntryArn",
        defaults={"type": "STANDARD", "kubernetesGroups": []},
        outputs=_access_entry_outputs,
    ),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ResourceRule(
        id=lambda c: f"{c.s('clusterName')}#{c.s('principalArn')}#{c.s('policyArn')}",
        outputs=lambda c: {"associatedAt": MOCK_TIMESTAMP, "modifiedAt": MOCK_TIMESTAMP},
        tagged=False,
    ),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": ResourceRule(
        id=_pod_identity_id, defaults={"disableSessionTags": False}, outputs=_pod_identity_outputs
    ),
    "aws:autoscaling/tag:Tag": ResourceRule(
        id=lambda c: f"{c.s('autoscalingGroupName')},{_plain(c.get('tag', {}).get('key')) or ''}", tagged=False
    ),
    # ECR
    "aws:ecr/repository:Repository": ResourceRule(
        id=_input("name"),
        arn=lambda c: c.arn_of("ecr", f"repository/{c.s('name')}"),
        autoname="name",
        defaults={
            "imageTagMutability": "MUTABLE",
            "forceDelete": False,
            "encryptionConfigurations": [{"encryptionType": "AES256", "kmsKey": ""}],
            "imageScanningConfiguration": {"scanOnPush": False},
        },
        outputs=_ecr_repository_outputs,
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ResourceRule(id=_input("repository"), outputs=_registry, tagged=False),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ResourceRule(id=_input("repository"), outputs=_registry, tagged=False),
    # S3 (global ARNs: no region, no account)
    "aws:s3/bucket:Bucket": ResourceRule(
        id=_input("bucket"),
        arn=lambda c: c.arn_of("s3", c.s("bucket"), regional=False, account=False),
        autoname="bucket",
        autoname_maxlen=63,
        autoname_transform=str.lower,
        defaults={"forceDestroy": False, "objectLockEnabled": False},
        outputs=_bucket_outputs,
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _BUCKET_SUB_RESOURCE,
    "aws:s3/bucketPolicy:BucketPolicy": _BUCKET_SUB_RESOURCE,
    "aws:s3/bucketNotification:BucketNotification": _BUCKET_SUB_RESOURCE,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _BUCKET_SUB_RESOURCE,
    "aws:s3/bucketVersioning:BucketVersioning": _BUCKET_CONFIG_RESOURCE,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _BUCKET_CONFIG_RESOURCE,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ResourceRule(
        id=_bucket_config_id,
        defaults={"transitionDefaultMinimumObjectSize": "all_storage_classes_128K"},
        tagged=False,
    ),
    "aws:s3/bucketLogging:BucketLogging": _BUCKET_CONFIG_RESOURCE,
    "aws:s3/bucketObjectv2:BucketObjectv2": ResourceRule(
        id=_object_key,
        defaults={
            "contentType": "binary/octet-stream",
            "storageClass": "STANDARD",
            "serverSideEncryption": "AES256",
            "forceDestroy": False,
        },
        outputs=_object_outputs,
    ),
    # CodeBuild: the provider uses the project ARN as the id.
    "aws:codebuild/project:Project": ResourceRule(
        id=_codebuild_arn,
        arn=_codebuild_arn,
        autoname="name",
        autoname_maxlen=150,
        defaults={
            "badgeEnabled": False,
            "buildTimeout": 60,
            "queuedTimeout": 480,
            "projectVisibility": "PRIVATE",
        },
        outputs=_codebuild_outputs,
    ),
    # SSM
    "aws:ssm/parameter:Parameter": ResourceRule(
        id=_input("name"),
        arn=lambda c: c.arn_of("ssm", f"parameter/{c.s('name').lstrip('/')}"),
        autoname="name",
        defaults={"tier": "Standard", "dataType": "text"},
        outputs=lambda c: {"version": 1},
    ),
    # Budgets (global)
    "aws:budgets/budget:Budget": ResourceRule(
        id=lambda c: f"{c.s('accountId', c.account)}:{c.s('name')}",
        arn=lambda c: c.arn_of("budgets", f"budget/{c.s('name')}", regional=False),
        autoname="name",
        autoname_maxlen=100,
        outputs=lambda c: {"accountId": c.s("accountId", c.account)},
        regional=False,
    ),
}

PROVIDER_TYPE = "pulumi:providers:aws"


def _generic_rule(typ: str) -> ResourceRule:
    """A type the table doesn't know: `<name>-<7 hex>` id and, for AWS types, an ARN named after the type."""
    if not typ.startswith("aws:"):
        return ResourceRule(id=lambda c: f"{c.name}-{c.hex(AUTONAME_RANDOM_CHARS)}", regional=False, tagged=False)
    module = typ.split(":")[1].split("/")[0]
    kind = typ.rsplit(":", 1)[-1].lower()
    return ResourceRule(
        id=lambda c: f"{c.name}-{c.hex(AUTONAME_RANDOM_CHARS)}",
        arn=lambda c: c.arn_of(module, f"{kind}/{c.id}"),
        tagged=False,
    )


# --- Invokes ------------------------------------------------------------------------------------------------

InvokeFn = Callable[["AwsMocks", dict[str, Any], str], State]


def _get_caller_identity(m: AwsMocks, args: dict[str, Any], region: str) -> State:
    user_id = "AROA" + _base32(("caller", m.account_id), 17)
    return {
        "accountId": m.account_id,
        "arn": f"arn:{PARTITION}:sts::{m.account_id}:assumed-role/{MOCK_CALLER_ROLE}/{MOCK_CALLER_SESSION}",
        "userId": f"{user_id}:{MOCK_CALLER_SESSION}",
        "id": m.account_id,
    }


def _get_partition(m: AwsMocks, args: dict[str, Any], region: str) -> State:
    return {"partition": PARTITION, "dnsSuffix": DNS_SUFFIX, "reverseDnsPrefix": "com.amazonaws", "id": PARTITION}


def _get_region(m: AwsMocks, args: dict[str, Any], region: str) -> State:
    name = _plain(args.get("region")) or _plain(args.get("name")) or region
    return {
        "name": name,
        "region": name,
        "id": name,
        "description": _REGION_DESCRIPTIONS.get(name, name),
        "endpoint": f"ec2.{name}.{DNS_SUFFIX}",
    }


def _get_availability_zones(m: AwsMocks, args: dict[str, Any], region: str) -> State:
    zone_region = _plain(args.get("region")) or region
    exclude_names = set(_plain(args.get("excludeNames")) or [])
    exclude_ids = set(_plain(args.get("excludeZoneIds")) or [])
    state = _plain(args.get("state"))
    zones = [
        (name, zone_id(zone_region, name))
        for name in zone_names(zone_region)
        if name not in exclude_names and zone_id(zone_region, name) not in exclude_ids
    ]
    if state not in (None, "available"):
        zones = []
    return {
        "names": [name for name, _ in zones],
        "zoneIds": [zid for _, zid in zones],
        "groupNames": [zone_region],
        "state": state,
        "id": zone_region,
        "region": zone_region,
    }


INVOKES: Mapping[str, InvokeFn] = {
    "aws:index/getCallerIdentity:getCallerIdentity": _get_caller_identity,
    "aws:index/getPartition:getPartition": _get_partition,
    "aws:index/getRegion:getRegion": _get_region,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _get_availability_zones,
}


# --- The mocks ----------------------------------------------------------------------------------------------


@dataclass
class _ProviderConfig:
    region: str | None
    default_tags: dict[str, Any]


class AwsMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that answer like the AWS provider, deterministically, in one region and account."""

    def __init__(self, region: str, account_id: str = MOCK_ACCOUNT_ID) -> None:
        self.region = region
        self.account_id = account_id
        # type token -> id -> state of every resource created so far, for outputs that follow references.
        self.created: dict[str, dict[str, State]] = {}
        self._providers: dict[str, _ProviderConfig] = {}

    # Resources

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs: State = dict(args.inputs)
        if args.typ == PROVIDER_TYPE:
            return self._new_provider(args, inputs)
        if args.custom is False:
            # A component: the engine keeps no provider state for it.
            return "", inputs

        rule = RULES.get(args.typ) or _generic_rule(args.typ)
        provider = self._provider_of(args.provider)
        region = _plain(inputs.get("region")) or provider.region or self.region
        ctx = _Ctx(self, args.typ, args.name, inputs, region=region, account=self.account_id)

        if rule.autoname and rule.autoname not in inputs:
            inputs[rule.autoname] = self._autoname(ctx, rule)
        for key, value in rule.defaults.items():
            if key not in inputs:
                inputs[key] = copy.deepcopy(value)

        ctx.id = args.resource_id or rule.id(ctx)
        if rule.arn is not None:
            ctx.arn = rule.arn(ctx)
            inputs[rule.arn_key] = ctx.arn
        if rule.outputs is not None:
            inputs.update(rule.outputs(ctx))
        if rule.regional:
            inputs.setdefault("region", region)
        if rule.tagged:
            tags = _plain(inputs.get("tags")) or {}
            inputs["tagsAll"] = {**provider.default_tags, **tags}

        self.created.setdefault(args.typ, {})[ctx.id] = inputs
        return ctx.id, inputs

    def _autoname(self, ctx: _Ctx, rule: ResourceRule) -> str:
        """Pulumi's autonaming: `<logical name>-<7 hex>`, or `<prefix><26 digits>` when `<name>Prefix` is set."""
        assert rule.autoname is not None
        prefix = ctx.s(f"{rule.autoname}Prefix")
        if prefix:
            return prefix + ctx.digits(26, "name-prefix")
        base = ctx.name + "-"
        if len(base) + AUTONAME_RANDOM_CHARS > rule.autoname_maxlen:
            raise AutonameTooLong(
                f"{ctx.typ} '{ctx.name}': name '{base}' plus {AUTONAME_RANDOM_CHARS} random chars is longer "
                f"than maximum length {rule.autoname_maxlen}"
            )
        name = base + ctx.hex(AUTONAME_RANDOM_CHARS, "autoname")
        return rule.autoname_transform(name) if rule.autoname_transform else name

    def _new_provider(self, args: pulumi.runtime.MockResourceArgs, inputs: State) -> tuple[str, dict]:
        provider_id = _uuid((args.typ, args.name, "provider"))
        default_tags = _plain(inputs.get("defaultTags"))
        if isinstance(default_tags, str):  # provider inputs of object type arrive as JSON text
            default_tags = json.loads(default_tags)
        tags = (default_tags or {}).get("tags") or {}
        self._providers[provider_id] = _ProviderConfig(region=_plain(inputs.get("region")), default_tags=tags)
        return provider_id, inputs

    def _provider_of(self, reference: str | None) -> _ProviderConfig:
        """The explicit provider a resource names (`<urn>::<id>`), or the default one."""
        provider_id = (reference or "").rsplit("::", 1)[-1]
        return self._providers.get(provider_id, _ProviderConfig(region=None, default_tags={}))

    # Invokes

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        handler = INVOKES.get(args.token)
        if handler is None:
            raise UnmockedInvoke(args.token)
        region = self._provider_of(args.provider).region or self.region
        return handler(self, dict(args.args), region)
