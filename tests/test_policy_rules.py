"""Every resource rule: one passing fixture per resource type, one failing change per condition, and an
unknown (preview) or redacted value that must be neither judged nor crash the rule.

Fixtures use the real type tokens and camelCase inputs of pulumi-aws, pulumi-gcp and pulumi-kubernetes.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from teamstack.policy.config import PolicyConfig
from teamstack.policy.rules import RESOURCE_RULES, RULES_BY_NAME
from teamstack.policy.values import SECRET_PLACEHOLDER, normalize

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi_policy's unknown string sentinel
UNKNOWN_OBJECT = "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"
UNKNOWN_BOOL = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"
UNKNOWN_NUMBER = "3eeb2bf0-c639-47a8-9e75-3b44932eb421"
UNKNOWN_ARRAY = "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2"
DELETE = object()

CONFIG = PolicyConfig(team="ml-vision", trusted_principals=("arn:aws:iam::111122223333:role/sso/DataScientists",))
TAGS = {"team": "ml-vision", "cost-center": "CC-1", "owner": "o@example.com", "managed-by": "teamstack"}
LABELS = {"team": "ml-geo", "cost-center": "cc-1"}
KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/1234"
EKS_OIDC = "oidc.eks.us-west-2.amazonaws.com/id/ABC123"
GCP_KEY = "projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def patched(props: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy with each dotted path (list indices as numbers) set, or removed for DELETE."""
    result = copy.deepcopy(props)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = result
        for part in parents:
            key: Any = int(part) if part.isdigit() and isinstance(node, list) else part
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]
        key = int(last) if last.isdigit() and isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return result


@dataclass
class Case:
    rule: str
    type: str
    good: dict[str, Any]
    failing: dict[str, dict[str, Any]]
    unknown: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.type.rsplit(':', 1)[-1]}"


def run(rule_name: str, type_token: str, props: dict[str, Any]) -> list[str]:
    rule = RULES_BY_NAME[rule_name]
    assert rule.check is not None and rule.applies_to(type_token), f"{rule_name} does not cover {type_token}"
    return list(rule.check(type_token, normalize(props), CONFIG))


EKS_CLUSTER = {
    "name": "ml-vision",
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
    "encryptionConfig": {"provider": {"keyArn": KEY_ARN}, "resources": ["secrets"]},
    "vpcConfig": {
        "endpointPrivateAccess": True,
        "endpointPublicAccess": True,
        "publicAccessCidrs": ["198.51.100.0/24"],
    },
    "tags": TAGS,
}
GKE_CLUSTER = {
    "name": "ml-geo",
    "location": "europe-west4",
    "databaseEncryption": {"keyName": GCP_KEY, "state": "ENCRYPTED"},
    "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "APISERVER"]},
    "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "198.51.100.0/24"}]},
    "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False},
    "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
    "resourceLabels": LABELS,
}
LAUNCH_TEMPLATE = {
    "blockDeviceMappings": [
        {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY_ARN, "volumeSize": 200}}
    ],
    "metadataOptions": {"httpEndpoint": "enabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"},
    "tags": TAGS,
}
EKS_GROUP = {
    "amiType": "AL2023_x86_64_NVIDIA",
    "capacityType": "SPOT",
    "instanceTypes": ["g4dn.xlarge", "g4dn.2xlarge"],
    "launchTemplate": {"id": "lt-1", "version": "1"},
    "scalingConfig": {"desiredSize": 0, "maxSize": 8, "minSize": 0},
    "tags": TAGS,
}
GKE_POOL = {
    "cluster": "ml-geo",
    "location": "europe-west4",
    "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 8},
    "networkConfig": {"enablePrivateNodes": True},
    "nodeConfig": {
        "machineType": "n1-standard-8",
        "guestAccelerators": [{"type": "nvidia-tesla-t4", "count": 1}],
        "bootDiskKmsKey": GCP_KEY,
        "workloadMetadataConfig": {"mode": "GKE_METADATA"},
        "resourceLabels": LABELS,
    },
}
POD_SPEC = {
    "containers": [{"name": "worker", "image": "r/dask:1", "securityContext": {"allowPrivilegeEscalation": False}}],
    "initContainers": [{"name": "init", "image": "r/init:1"}],
}
DEPLOYMENT = {"metadata": {"name": "dask", "namespace": "ml-vision"}, "spec": {"template": {"spec": POD_SPEC}}}

CASES = [
    # --- buckets
    Case(
        "bucket-no-force-destroy",
        "aws:s3/bucket:Bucket",
        {"bucket": "ml-vision-raw-1", "forceDestroy": False},
        {"forceDestroy": {"forceDestroy": True}},
        {"forceDestroy": UNKNOWN_BOOL},
    ),
    Case(
        "bucket-no-force-destroy",
        "gcp:storage/bucket:Bucket",
        {"name": "b", "forceDestroy": False},
        {"forceDestroy": {"forceDestroy": True}},
        {"forceDestroy": UNKNOWN_BOOL},
    ),
    Case(
        "s3-public-access-block-settings",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {"bucket": "b", "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True}
        | {"restrictPublicBuckets": True},
        {
            "blockPublicAcls": {"blockPublicAcls": False},
            "blockPublicPolicy": {"blockPublicPolicy": False},
            "ignorePublicAcls": {"ignorePublicAcls": False},
            "restrictPublicBuckets missing": {"restrictPublicBuckets": DELETE},
        },
        {"blockPublicAcls": UNKNOWN_BOOL},
    ),
    Case(
        "gcs-public-access-prevented",
        "gcp:storage/bucket:Bucket",
        {"name": "b", "publicAccessPrevention": "enforced", "uniformBucketLevelAccess": True},
        {
            "prevention inherited": {"publicAccessPrevention": "inherited"},
            "prevention unset": {"publicAccessPrevention": DELETE},
            "object ACLs": {"uniformBucketLevelAccess": False},
        },
        {"publicAccessPrevention": UNKNOWN_STRING, "uniformBucketLevelAccess": UNKNOWN_BOOL},
    ),
    # --- IAM
    Case(
        "iam-no-public-members",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        {"bucket": "b", "role": "roles/storage.objectViewer", "member": "serviceAccount:w@p.iam.gserviceaccount.com"},
        {"allUsers": {"member": "allUsers"}, "allAuthenticatedUsers": {"member": "allAuthenticatedUsers"}},
        {"member": UNKNOWN_STRING},
    ),
    Case(
        "iam-no-public-members",
        "gcp:projects/iAMBinding:IAMBinding",
        {"project": "p", "role": "roles/container.developer", "members": ["group:ds@example.com"]},
        {"allUsers in members": {"members": ["group:ds@example.com", "allUsers"]}},
        {"members": UNKNOWN_ARRAY},
    ),
    Case(
        "iam-no-public-members",
        "aws:s3/bucketPolicy:BucketPolicy",
        {
            "bucket": "b",
            "policy": doc(
                {"Sid": "TLS", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["s3:*"], "Resource": ["*"]}
            ),
        },
        {
            "Principal *": {"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"})},
            "AWS *": {"policy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject"})},
        },
        {"policy": UNKNOWN_STRING},
    ),
    Case(
        "iam-no-wildcard-admin",
        "aws:iam/rolePolicy:RolePolicy",
        {"role": "r", "policy": doc({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]})},
        {
            "* on *": {"policy": doc({"Effect": "Allow", "Action": "*", "Resource": "*"})},
            "service:* on *": {"policy": doc({"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]})},
            "NotAction on *": {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})},
        },
        {"policy": SECRET_PLACEHOLDER},
    ),
    Case(
        "iam-no-wildcard-admin",
        "aws:iam/role:Role",
        {
            "name": "r",
            "inlinePolicies": [
                {"name": "p", "policy": doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b"})}
            ],
        },
        {"inline * on *": {"inlinePolicies.0.policy": doc({"Effect": "Allow", "Action": "*", "Resource": "*"})}},
        {"inlinePolicies.0.policy": UNKNOWN_STRING},
    ),
    Case(
        "iam-no-admin-roles",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"},
        {
            "AdministratorAccess": {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            "PowerUserAccess": {"policyArn": "arn:aws:iam::aws:policy/PowerUserAccess"},
            "IAMFullAccess": {"policyArn": "arn:aws:iam::aws:policy/IAMFullAccess"},
        },
        {"policyArn": UNKNOWN_STRING},
    ),
    Case(
        "iam-no-admin-roles",
        "gcp:projects/iAMMember:IAMMember",
        {"project": "p", "role": "roles/container.clusterViewer", "member": "group:g@example.com"},
        {"owner": {"role": "roles/owner"}, "editor": {"role": "roles/editor"}},
        {"role": UNKNOWN_STRING},
    ),
    Case(
        "iam-no-user-policies",
        "aws:iam/policyAttachment:PolicyAttachment",
        {"policyArn": "arn:aws:iam::123456789012:policy/p", "roles": ["r"]},
        {"users": {"users": ["alice"]}},
        {"users": UNKNOWN_ARRAY},
    ),
    Case(
        "iam-no-user-policies",
        "gcp:projects/iAMMember:IAMMember",
        {"project": "p", "role": "roles/container.developer", "member": "group:ds@example.com"},
        {"a person": {"member": "user:alice@example.com"}},
        {"member": UNKNOWN_STRING},
    ),
    Case(
        "iam-trusted-principals",
        "aws:iam/role:Role",
        {
            "assumeRolePolicy": doc(
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "pods.eks.amazonaws.com"}},
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"AWS": ["arn:aws:iam::111122223333:role/sso/DataScientists"]},
                },
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{EKS_OIDC}"},
                },
            )
        },
        {
            "Principal *": {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": "*"})},
            "AWS *": {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}})},
            "another account": {
                "assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}})
            },
            "not a service": {
                "assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"Service": "evil.example.com"}})
            },
            "foreign OIDC": {
                "assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"}})
            },
        },
        {"assumeRolePolicy": UNKNOWN_STRING},
    ),
    Case(
        "iam-trusted-principals",
        "gcp:serviceaccount/iAMMember:IAMMember",
        {
            "serviceAccountId": "projects/p/serviceAccounts/w@p.iam.gserviceaccount.com",
            "role": "roles/iam.workloadIdentityUser",
            "member": "serviceAccount:p.svc.id.goog[ml-geo/dask-worker]",
        },
        {
            "a person": {"member": "user:alice@example.com"},
            "another SA": {"member": "serviceAccount:x@q.iam.gserviceaccount.com"},
        },
        {"member": UNKNOWN_STRING},
    ),
    # --- network
    Case(
        "network-no-public-ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"securityGroupId": "sg-1", "cidrIpv4": "10.40.0.0/16", "fromPort": 443, "toPort": 443, "ipProtocol": "tcp"},
        {"0.0.0.0/0": {"cidrIpv4": "0.0.0.0/0"}, "::/0": {"cidrIpv4": DELETE, "cidrIpv6": "::/0"}},
        {"cidrIpv4": UNKNOWN_STRING},
    ),
    Case(
        "network-no-public-ingress",
        "aws:ec2/securityGroup:SecurityGroup",
        {
            "vpcId": "vpc-1",
            "ingress": [{"cidrBlocks": ["10.0.0.0/8"], "fromPort": 22, "toPort": 22, "protocol": "tcp"}],
        },
        {"0.0.0.0/0": {"ingress.0.cidrBlocks": ["0.0.0.0/0"]}, "::/0": {"ingress.0.ipv6CidrBlocks": ["::/0"]}},
        {"ingress": UNKNOWN_ARRAY},
    ),
    Case(
        "network-no-public-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {"type": "ingress", "cidrBlocks": ["10.0.0.0/8"], "fromPort": 443, "toPort": 443, "protocol": "tcp"},
        {"0.0.0.0/0": {"cidrBlocks": ["0.0.0.0/0"]}},
        {"cidrBlocks": UNKNOWN_ARRAY},
    ),
    Case(
        "network-no-public-ingress",
        "gcp:compute/firewall:Firewall",
        {"network": "n", "allows": [{"protocol": "tcp", "ports": ["443"]}], "sourceRanges": ["10.60.0.0/20"]},
        {"0.0.0.0/0": {"sourceRanges": ["0.0.0.0/0"]}, "::/0": {"sourceRanges": ["::/0"]}},
        {"sourceRanges": UNKNOWN_ARRAY},
    ),
    Case(
        "network-dask-ports-private",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"securityGroupId": "sg-1", "cidrIpv4": "10.40.0.0/16", "fromPort": 8786, "toPort": 8787, "ipProtocol": "tcp"},
        {
            "a public range": {"cidrIpv4": "198.51.100.0/24"},
            "all ports from a public range": {"cidrIpv4": "203.0.113.0/24", "ipProtocol": "-1", "fromPort": DELETE},
        },
        {"fromPort": UNKNOWN_NUMBER},
    ),
    Case(
        "network-dask-ports-private",
        "gcp:compute/firewall:Firewall",
        {"network": "n", "allows": [{"protocol": "tcp", "ports": ["8786", "8787"]}], "sourceRanges": ["10.60.0.0/20"]},
        {
            "a public range": {"sourceRanges": ["198.51.100.0/24"]},
            "every port from a public range": {"allows": [{"protocol": "all"}], "sourceRanges": ["198.51.100.0/24"]},
            "a port range": {"allows": [{"protocol": "tcp", "ports": ["8000-9000"]}], "sourceRanges": ["8.8.8.0/24"]},
        },
        {"allows": UNKNOWN_ARRAY},
    ),
    Case(
        "network-nodes-no-public-ip",
        "aws:ec2/subnet:Subnet",
        {"vpcId": "vpc-1", "cidrBlock": "10.40.0.0/18", "mapPublicIpOnLaunch": False},
        {"auto public IP": {"mapPublicIpOnLaunch": True}},
        {"mapPublicIpOnLaunch": UNKNOWN_BOOL},
    ),
    Case(
        "network-nodes-no-public-ip",
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"networkInterfaces": [{"associatePublicIpAddress": "false"}]},
        {"public IP": {"networkInterfaces.0.associatePublicIpAddress": "true"}},
        {"networkInterfaces.0.associatePublicIpAddress": UNKNOWN_STRING},
    ),
    Case(
        "network-nodes-no-public-ip",
        "gcp:compute/instance:Instance",
        {"machineType": "e2-standard-2", "networkInterfaces": [{"subnetwork": "s"}]},
        {"external access config": {"networkInterfaces.0.accessConfigs": [{}]}},
        {"networkInterfaces": UNKNOWN_ARRAY},
    ),
    Case(
        "network-nodes-no-public-ip",
        "gcp:container/nodePool:NodePool",
        GKE_POOL,
        {"public nodes": {"networkConfig.enablePrivateNodes": False}},
        {"networkConfig.enablePrivateNodes": UNKNOWN_BOOL},
    ),
    Case(
        "network-nodes-no-public-ip",
        "gcp:container/cluster:Cluster",
        GKE_CLUSTER,
        {
            "public nodes": {"privateClusterConfig.enablePrivateNodes": False},
            "no private cluster config": {"privateClusterConfig": DELETE},
        },
        {"privateClusterConfig.enablePrivateNodes": UNKNOWN_BOOL},
    ),
    Case(
        "gcp-subnet-flow-logs",
        "gcp:compute/subnetwork:Subnetwork",
        {"ipCidrRange": "10.60.0.0/20", "logConfig": {"aggregationInterval": "INTERVAL_5_SEC", "flowSampling": 0.5}},
        {"no log config": {"logConfig": DELETE}},
        {"logConfig": UNKNOWN_OBJECT},
    ),
    # --- clusters
    Case(
        "cluster-endpoint-not-public",
        "aws:eks/cluster:Cluster",
        EKS_CLUSTER,
        {
            "no private endpoint": {"vpcConfig.endpointPrivateAccess": False},
            "public, no CIDRs": {"vpcConfig.publicAccessCidrs": DELETE},
            "public, empty CIDRs": {"vpcConfig.publicAccessCidrs": []},
            "public to the world": {"vpcConfig.publicAccessCidrs": ["198.51.100.0/24", "0.0.0.0/0"]},
            "public by EKS default": {"vpcConfig.endpointPublicAccess": DELETE, "vpcConfig.publicAccessCidrs": DELETE},
        },
        {"vpcConfig.endpointPublicAccess": UNKNOWN_BOOL},
    ),
    Case(
        "cluster-endpoint-not-public",
        "gcp:container/cluster:Cluster",
        GKE_CLUSTER,
        {
            "no authorized networks": {"masterAuthorizedNetworksConfig": DELETE},
            "authorized world": {"masterAuthorizedNetworksConfig.cidrBlocks.0.cidrBlock": "0.0.0.0/0"},
            "every Google IP": {"masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled": True},
        },
        {"masterAuthorizedNetworksConfig": UNKNOWN_OBJECT},
    ),
    Case(
        "cluster-secrets-encryption",
        "aws:eks/cluster:Cluster",
        EKS_CLUSTER,
        {
            "no encryption": {"encryptionConfig": DELETE},
            "not secrets": {"encryptionConfig.resources": []},
            "no key": {"encryptionConfig.provider.keyArn": DELETE},
        },
        {"encryptionConfig.provider.keyArn": UNKNOWN_STRING},
    ),
    Case(
        "cluster-secrets-encryption",
        "gcp:container/cluster:Cluster",
        GKE_CLUSTER,
        {
            "decrypted": {"databaseEncryption.state": "DECRYPTED"},
            "not set": {"databaseEncryption": DELETE},
            "no key": {"databaseEncryption.keyName": DELETE},
        },
        {"databaseEncryption.state": UNKNOWN_STRING},
    ),
    Case(
        "cluster-control-plane-logging",
        "aws:eks/cluster:Cluster",
        EKS_CLUSTER,
        {"api only": {"enabledClusterLogTypes": ["api"]}, "none": {"enabledClusterLogTypes": DELETE}},
        {"enabledClusterLogTypes": UNKNOWN_ARRAY},
    ),
    Case(
        "cluster-control-plane-logging",
        "gcp:container/cluster:Cluster",
        GKE_CLUSTER,
        {
            "no API server logs": {"loggingConfig.enableComponents": ["SYSTEM_COMPONENTS"]},
            "GKE defaults": {"loggingConfig": DELETE},
            "logging off": {"loggingService": "none"},
        },
        {"loggingConfig.enableComponents": UNKNOWN_ARRAY},
    ),
    Case(
        "gke-workload-identity",
        "gcp:container/cluster:Cluster",
        GKE_CLUSTER,
        {"off": {"workloadIdentityConfig": DELETE}, "bad pool": {"workloadIdentityConfig.workloadPool": "p"}},
        {"workloadIdentityConfig.workloadPool": UNKNOWN_STRING},
    ),
    # --- nodes
    Case(
        "node-metadata-protection",
        "aws:ec2/launchTemplate:LaunchTemplate",
        LAUNCH_TEMPLATE,
        {
            "IMDSv1": {"metadataOptions.httpTokens": "optional"},
            "hop limit 2": {"metadataOptions.httpPutResponseHopLimit": 2},
            "hop limit unset": {"metadataOptions.httpPutResponseHopLimit": DELETE},
            "no metadata options": {"metadataOptions": DELETE},
        },
        {"metadataOptions.httpTokens": UNKNOWN_STRING, "metadataOptions.httpPutResponseHopLimit": UNKNOWN_NUMBER},
    ),
    Case(
        "node-metadata-protection",
        "aws:eks/nodeGroup:NodeGroup",
        EKS_GROUP,
        {"no launch template": {"launchTemplate": DELETE}},
        {"launchTemplate": UNKNOWN_OBJECT},
    ),
    Case(
        "node-metadata-protection",
        "gcp:container/nodePool:NodePool",
        GKE_POOL,
        {
            "node metadata": {"nodeConfig.workloadMetadataConfig.mode": "GCE_METADATA"},
            "unset": {"nodeConfig.workloadMetadataConfig": DELETE},
        },
        {"nodeConfig.workloadMetadataConfig.mode": UNKNOWN_STRING},
    ),
    Case(
        "node-disks-encrypted",
        "aws:ec2/launchTemplate:LaunchTemplate",
        LAUNCH_TEMPLATE,
        {
            "unencrypted": {"blockDeviceMappings.0.ebs.encrypted": "false"},
            "AWS-managed key": {"blockDeviceMappings.0.ebs.kmsKeyId": DELETE},
            "no mappings": {"blockDeviceMappings": DELETE},
        },
        {"blockDeviceMappings.0.ebs.encrypted": UNKNOWN_STRING, "blockDeviceMappings.0.ebs.kmsKeyId": UNKNOWN_STRING},
    ),
    Case(
        "node-disks-encrypted",
        "aws:eks/nodeGroup:NodeGroup",
        EKS_GROUP,
        {"no launch template": {"launchTemplate": DELETE}},
        {"launchTemplate": UNKNOWN_OBJECT},
    ),
    Case(
        "node-disks-encrypted",
        "gcp:container/nodePool:NodePool",
        GKE_POOL,
        {"Google-managed key": {"nodeConfig.bootDiskKmsKey": DELETE}},
        {"nodeConfig.bootDiskKmsKey": UNKNOWN_STRING},
    ),
    Case(
        "node-gpu-scale-to-zero",
        "aws:eks/nodeGroup:NodeGroup",
        EKS_GROUP,
        {
            "GPU types from 1": {"scalingConfig.minSize": 1},
            "NVIDIA AMI from 2": {"instanceTypes": ["m7i.large"], "scalingConfig.minSize": 2},
        },
        {"scalingConfig.minSize": UNKNOWN_NUMBER},
    ),
    Case(
        "node-gpu-scale-to-zero",
        "gcp:container/nodePool:NodePool",
        GKE_POOL,
        {
            "total min 1": {"autoscaling.totalMinNodeCount": 1},
            "per-zone min 1": {"autoscaling": {"minNodeCount": 1, "maxNodeCount": 2}},
            "no autoscaling": {"autoscaling": DELETE},
            "built-in GPUs from 1": {
                "nodeConfig.machineType": "g2-standard-8",
                "nodeConfig.guestAccelerators": [],
                "autoscaling.totalMinNodeCount": 1,
            },
        },
        {"autoscaling": UNKNOWN_OBJECT},
    ),
    Case(
        "node-allowed-instance-types",
        "aws:eks/nodeGroup:NodeGroup",
        EKS_GROUP,
        {"p5": {"instanceTypes": ["g4dn.xlarge", "p5.48xlarge"]}},
        {"instanceTypes": UNKNOWN_ARRAY},
    ),
    Case(
        "node-allowed-instance-types",
        "aws:ec2/launchTemplate:LaunchTemplate",
        LAUNCH_TEMPLATE | {"instanceType": "m7i.large"},
        {"x1e": {"instanceType": "x1e.32xlarge"}},
        {"instanceType": UNKNOWN_STRING},
    ),
    Case(
        "node-allowed-instance-types",
        "gcp:container/nodePool:NodePool",
        GKE_POOL,
        {
            "machine type": {"nodeConfig.machineType": "a3-highgpu-8g"},
            # e2-medium (GKE's default when machineType is left out) is allowed: it is the default system pool.
            "shared-core e2-small": {"nodeConfig.machineType": "e2-small"},
            "accelerator": {"nodeConfig.guestAccelerators.0.type": "nvidia-h100-80gb"},
        },
        {"nodeConfig.machineType": UNKNOWN_STRING, "nodeConfig.guestAccelerators": UNKNOWN_ARRAY},
    ),
    # --- registries
    Case(
        "registry-immutable-tags",
        "aws:ecr/repository:Repository",
        {"name": "t/dask", "imageTagMutability": "IMMUTABLE"},
        {"mutable": {"imageTagMutability": "MUTABLE"}, "default": {"imageTagMutability": DELETE}},
        {"imageTagMutability": UNKNOWN_STRING},
    ),
    Case(
        "registry-immutable-tags",
        "gcp:artifactregistry/repository:Repository",
        {"format": "DOCKER", "repositoryId": "dask", "dockerConfig": {"immutableTags": True}},
        {"mutable": {"dockerConfig.immutableTags": False}, "default": {"dockerConfig": DELETE}},
        {"dockerConfig.immutableTags": UNKNOWN_BOOL},
    ),
    Case(
        "registry-scan-on-push",
        "aws:ecr/repository:Repository",
        {"name": "t/dask", "imageScanningConfiguration": {"scanOnPush": True}},
        {"off": {"imageScanningConfiguration.scanOnPush": False}, "default": {"imageScanningConfiguration": DELETE}},
        {"imageScanningConfiguration.scanOnPush": UNKNOWN_BOOL},
    ),
    Case(
        "registry-scan-on-push",
        "gcp:artifactregistry/repository:Repository",
        {"format": "DOCKER", "repositoryId": "dask", "vulnerabilityScanningConfig": {"enablementConfig": "INHERITED"}},
        {"disabled": {"vulnerabilityScanningConfig.enablementConfig": "DISABLED"}},
        {"vulnerabilityScanningConfig": UNKNOWN_OBJECT},
    ),
    Case(
        "registry-kms-encryption",
        "aws:ecr/repository:Repository",
        {"name": "t/dask", "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}]},
        {
            "AES256": {"encryptionConfigurations.0.encryptionType": "AES256"},
            "AWS-managed key": {"encryptionConfigurations.0.kmsKey": DELETE},
            "default": {"encryptionConfigurations": DELETE},
        },
        {"encryptionConfigurations.0.kmsKey": UNKNOWN_STRING},
    ),
    Case(
        "registry-kms-encryption",
        "gcp:artifactregistry/repository:Repository",
        {"format": "DOCKER", "repositoryId": "dask", "kmsKeyName": GCP_KEY},
        {"Google-managed key": {"kmsKeyName": DELETE}},
        {"kmsKeyName": UNKNOWN_STRING},
    ),
    Case(
        "registry-cache-credential",
        "aws:ecr/pullThroughCacheRule:PullThroughCacheRule",
        {
            "ecrRepositoryPrefix": "t-ghcr",
            "upstreamRegistryUrl": "ghcr.io",
            "credentialArn": "arn:aws:secretsmanager:us-west-2:111122223333:secret:ecr-pullthroughcache/ghcr-Ab12Cd",
        },
        {
            "no credential": {"credentialArn": DELETE},
            "outside the ECR namespace": {
                "credentialArn": "arn:aws:secretsmanager:us-west-2:111122223333:secret:github/ghcr-Ab12Cd"
            },
            "Docker Hub without one": {"upstreamRegistryUrl": "registry-1.docker.io", "credentialArn": DELETE},
            "Azure without one": {"upstreamRegistryUrl": "team.azurecr.io", "credentialArn": DELETE},
        },
        {"credentialArn": UNKNOWN_STRING},
    ),
    # --- Kubernetes
    Case(
        "k8s-no-privileged-containers",
        "kubernetes:apps/v1:Deployment",
        DEPLOYMENT,
        {
            "privileged": {"spec.template.spec.containers.0.securityContext.privileged": True},
            "escalation": {"spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation": True},
            "privileged init": {"spec.template.spec.initContainers.0.securityContext": {"privileged": True}},
            "host network": {"spec.template.spec.hostNetwork": True},
        },
        {"spec.template.spec.containers.0.securityContext.privileged": UNKNOWN_BOOL},
    ),
    Case(
        "k8s-no-privileged-containers",
        "kubernetes:core/v1:Pod",
        {"metadata": {"namespace": "ml-vision"}, "spec": POD_SPEC},
        {"privileged": {"spec.containers.0.securityContext.privileged": True}},
        {"spec": UNKNOWN_OBJECT},
    ),
    Case(
        "k8s-no-privileged-containers",
        "kubernetes:batch/v1:CronJob",
        {"metadata": {"namespace": "ml-vision"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": POD_SPEC}}}}},
        {"privileged": {"spec.jobTemplate.spec.template.spec.containers.0.securityContext.privileged": True}},
        {"spec.jobTemplate": UNKNOWN_OBJECT},
    ),
    Case(
        "k8s-helm-release-pinned",
        "kubernetes:helm.sh/v3:Release",
        {"chart": "dask-kubernetes-operator", "version": "2025.7.0", "namespace": "dask-operator"},
        {
            "no version": {"version": DELETE},
            "caret range": {"version": "^2025.7.0"},
            "comparison": {"version": ">=2025.1.0"},
            "latest": {"version": "latest"},
        },
        {"version": UNKNOWN_STRING},
    ),
    Case(
        "k8s-helm-release-pinned",
        "kubernetes:helm.sh/v4:Chart",
        {"chart": "oci://registry/charts/dask", "version": "v1.2.3"},
        {"no version": {"version": DELETE}, "wildcard": {"version": "1.2.x"}},
        {"version": UNKNOWN_STRING},
    ),
    # --- tags and labels
    Case(
        "required-tags",
        "aws:ec2/vpc:Vpc",
        {"cidrBlock": "10.40.0.0/16", "tags": TAGS},
        {
            "no cost-center": {"tags.cost-center": DELETE},
            "no tags": {"tags": DELETE},
            "empty team": {"tags.team": ""},
        },
        {"tags": UNKNOWN_OBJECT},
    ),
    Case(
        "required-tags",
        "gcp:storage/bucket:Bucket",
        {"name": "b", "labels": LABELS},
        {"no team": {"labels.team": DELETE}, "no labels": {"labels": DELETE}},
        {"labels": UNKNOWN_OBJECT},
    ),
    Case(
        "required-tags",
        "gcp:container/nodePool:NodePool",
        GKE_POOL,
        {"no VM labels": {"nodeConfig.resourceLabels": DELETE}},
        {"nodeConfig.resourceLabels": UNKNOWN_OBJECT},
    ),
    Case(
        "required-tags",
        "kubernetes:core/v1:Namespace",
        {"metadata": {"name": "ml-vision", "labels": LABELS}},
        {"no cost-center": {"metadata.labels.cost-center": DELETE}},
        {"metadata.labels": UNKNOWN_OBJECT},
    ),
]

FAILING = [(case, label, change) for case in CASES for label, change in case.failing.items()]


def test_at_least_thirty_rules_cover_aws_gcp_and_kubernetes() -> None:
    from teamstack.policy.rules import ALL_RULES

    assert len(ALL_RULES) >= 30
    covered = {t.split(":")[0] for rule in RESOURCE_RULES for t in rule.types}
    assert {"aws", "gcp", "kubernetes"} <= covered


def test_every_resource_rule_has_fixtures() -> None:
    assert {rule.name for rule in RESOURCE_RULES} == {case.rule for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_good_fixture_passes(case: Case) -> None:
    assert run(case.rule, case.type, case.good) == []


@pytest.mark.parametrize(("case", "label", "change"), FAILING, ids=[f"{c.id}:{label}" for c, label, _ in FAILING])
def test_each_failing_change_is_reported(case: Case, label: str, change: dict[str, Any]) -> None:
    assert run(case.rule, case.type, patched(case.good, change)), f"{case.rule} missed: {label}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_unknown_value_is_not_judged(case: Case) -> None:
    assert case.unknown, "every case names an unknown (preview) value"
    assert run(case.rule, case.type, patched(case.good, case.unknown)) == []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_unknown_in_a_failing_case_never_crashes(case: Case) -> None:
    # An unknown elsewhere in an otherwise failing resource: the known violation is still reported.
    for change in case.failing.values():
        props = patched(patched(case.good, change), {"someUnrelatedInput": UNKNOWN_STRING})
        assert run(case.rule, case.type, props)


def test_cache_rules_of_public_upstreams_need_no_credential() -> None:
    # ECR Public, registry.k8s.io and Quay are cached without one (the builds' ECR Public rule has none).
    for upstream in ("public.ecr.aws", "registry.k8s.io", "quay.io"):
        props = {"ecrRepositoryPrefix": "t-cache", "upstreamRegistryUrl": upstream}
        assert run("registry-cache-credential", "aws:ecr/pullThroughCacheRule:PullThroughCacheRule", props) == []


def test_user_attached_policies_always_fail() -> None:
    for type_token in ("aws:iam/userPolicy:UserPolicy", "aws:iam/userPolicyAttachment:UserPolicyAttachment"):
        assert run("iam-no-user-policies", type_token, {"user": "alice", "policy": doc()})


def test_deny_firewall_from_anywhere_is_not_ingress() -> None:
    deny_all = {"denies": [{"protocol": "all"}], "direction": "INGRESS", "sourceRanges": ["0.0.0.0/0"]}
    assert run("network-no-public-ingress", "gcp:compute/firewall:Firewall", deny_all) == []
    assert run("network-dask-ports-private", "gcp:compute/firewall:Firewall", deny_all) == []


def test_privileged_node_agents_in_kube_system_are_exempt() -> None:
    agent = patched(DEPLOYMENT, {"metadata.namespace": "kube-system"})
    agent = patched(agent, {"spec.template.spec.containers.0.securityContext.privileged": True})
    assert run("k8s-no-privileged-containers", "kubernetes:apps/v1:Deployment", agent) == []


def test_private_eks_endpoint_needs_no_cidrs() -> None:
    private = patched(EKS_CLUSTER, {"vpcConfig.endpointPublicAccess": False, "vpcConfig.publicAccessCidrs": DELETE})
    assert run("cluster-endpoint-not-public", "aws:eks/cluster:Cluster", private) == []


def test_trusted_principals_come_from_the_team_config() -> None:
    stranger = {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/x"}})}
    assert run("iam-trusted-principals", "aws:iam/role:Role", stranger)
    rule = RULES_BY_NAME["iam-trusted-principals"]
    assert rule.check is not None
    trusting = CONFIG.model_copy(update={"trusted_principals": ("arn:aws:iam::111122223333:role/x",)})
    assert list(rule.check("aws:iam/role:Role", normalize(stranger), trusting)) == []


def test_kubernetes_labels_may_carry_the_platform_prefix() -> None:
    namespace = {"metadata": {"name": "t", "labels": {"teamstack.io/team": "t", "teamstack.io/cost-center": "cc"}}}
    assert run("required-tags", "kubernetes:core/v1:Namespace", namespace) == []
    del namespace["metadata"]["labels"]["teamstack.io/cost-center"]
    assert run("required-tags", "kubernetes:core/v1:Namespace", namespace) == ["labels lack cost-center"]
