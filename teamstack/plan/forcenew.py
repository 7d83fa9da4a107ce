"""Which input changes make the provider replace a resource rather than update it, for the types the stacks use.

Pulumi's AWS and Google Cloud providers are bridged from the Terraform providers, so a property replaces its
resource exactly where the upstream schema says `ForceNew: true` (or a CustomizeDiff forces it). Each entry
below names that property in the camelCase the plan records and cites the upstream schema it was read from.
A type missing here is reported as "replacement not known", never as a plain update.

Also here: the stateful types whose deletion or replacement loses data, keys, images or the cluster itself
(`STATEFUL`), which a reviewer must never miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

_AWS = "https://github.com/hashicorp/terraform-provider-aws/blob"
_GOOGLE = "https://github.com/hashicorp/terraform-provider-google/blob/e03b7622a26cf4e878f90bdccaca6aa3d03a7999"

SOURCES: Final[dict[str, str]] = {
    "aws-s3-bucket": f"{_AWS}/main/internal/service/s3/bucket.go (bucket, bucket_prefix, object_lock_enabled)",
    "aws-kms-key": f"{_AWS}/00a35305dc1b297a6fcdecdfbba33f1e63c3da39/internal/service/kms/key.go",
    "aws-ecr-repository": f"{_AWS}/0072eea2d6046230a1fb7717741c17fd2122175e/internal/service/ecr/repository.go",
    "aws-eks-cluster": f"{_AWS}/00555dc5b38f92abbfa230badea0ed0754cea81e/internal/service/eks/cluster.go",
    "aws-eks-node-group": f"{_AWS}/012e0a32f0686212f447447fd3d81c3d0ce256ad/internal/service/eks/node_group.go",
    "aws-vpc": f"{_AWS}/00081ce41cc691433ac19bf42227cdabffd0454d/internal/service/ec2/vpc_.go",
    "aws-subnet": f"{_AWS}/00cda125a19d31754cb0d073cf551264c57955cb/internal/service/ec2/vpc_subnet.go",
    "google-storage-bucket": f"{_GOOGLE}/google/services/storage/resource_storage_bucket.go",
    "google-kms-key-ring": f"{_GOOGLE}/google/services/kms/resource_kms_key_ring.go",
    "google-kms-crypto-key": f"{_GOOGLE}/google/services/kms/resource_kms_crypto_key.go",
    "google-artifact-registry": f"{_GOOGLE}/google/services/artifactregistry/resource_artifact_registry_repository.go",
    "google-container-cluster": f"{_GOOGLE}/google/services/container/resource_container_cluster.go",
    "google-container-node-pool": f"{_GOOGLE}/google/services/container/resource_container_node_pool.go",
    "google-node-config": f"{_GOOGLE}/google/services/container/node_config.go (node_config of a node pool)",
    "google-compute-network": f"{_GOOGLE}/google/services/compute/resource_compute_network.go",
    "google-compute-subnetwork": f"{_GOOGLE}/google/services/compute/resource_compute_subnetwork.go",
    "google-compute-firewall": f"{_GOOGLE}/google/services/compute/resource_compute_firewall.go",
    "google-compute-router": f"{_GOOGLE}/google/services/compute/resource_compute_router.go",
    "google-compute-router-nat": f"{_GOOGLE}/google/services/compute/resource_compute_router_nat.go",
    "google-pubsub-topic": f"{_GOOGLE}/google/services/pubsub/resource_pubsub_topic.go",
    "google-service-account": f"{_GOOGLE}/google/services/resourcemanager/resource_google_service_account.go",
    "google-storage-bucket-object": f"{_GOOGLE}/google/services/storage/resource_storage_bucket_object.go",
    "google-cloudbuild-trigger": f"{_GOOGLE}/google/services/cloudbuild/resource_cloudbuild_trigger.go",
    "google-billing-budget": f"{_GOOGLE}/google/services/billingbudgets/resource_billing_budget.go",
    "google-notification-channel": f"{_GOOGLE}/google/services/monitoring/resource_monitoring_notification_channel.go",
    "google-iam-member": f"{_GOOGLE}/google/tpgiamresource/resource_iam_member.go (role, member, condition) and the "
    "resource's IAM parent schema (google/services/*/iam_*.go)",
    "aws-ssm-parameter": f"{_AWS}/main/internal/service/ssm/parameter.go (name, data_type)",
    "aws-iam-role": f"{_AWS}/main/internal/service/iam/role.go (name, name_prefix, path)",
    "aws-iam-role-policy": f"{_AWS}/02f97af85f89a04e8ed89f5e8b64a9a67f3cfe07/internal/service/iam/role_policy.go",
    "kubernetes-api-conventions": "https://github.com/kubernetes/community/blob/master/contributors/devel/"
    "sig-architecture/api-conventions.md#metadata (an object's name and namespace are its identity)",
}


@dataclass(frozen=True)
class ForceNew:
    """A property (dotted camelCase path) whose change replaces the resource.

    `when="removed"`: only removing it replaces (a CustomizeDiff upstream, e.g. EKS envelope encryption)."""

    path: str
    source: str
    when: Literal["changed", "removed"] = "changed"


def _props(source: str, *paths: str) -> tuple[ForceNew, ...]:
    assert source in SOURCES, source
    return tuple(ForceNew(path, source) for path in paths)


FORCE_NEW: Final[dict[str, tuple[ForceNew, ...]]] = {
    "aws:s3/bucket:Bucket": _props("aws-s3-bucket", "bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:kms/key:Key": _props(
        "aws-kms-key", "customKeyStoreId", "customerMasterKeySpec", "keyUsage", "multiRegion", "xksKeyId"
    ),
    "aws:ecr/repository:Repository": _props("aws-ecr-repository", "name", "encryptionConfigurations"),
    "aws:eks/cluster:Cluster": (
        *_props(
            "aws-eks-cluster",
            "name",
            "roleArn",
            "bootstrapSelfManagedAddons",
            "accessConfig.bootstrapClusterCreatorAdminPermissions",
            "kubernetesNetworkConfig.ipFamily",
            "kubernetesNetworkConfig.serviceIpv4Cidr",
            "outpostConfig.controlPlaneInstanceType",
            "remoteNetworkConfig",
        ),
        # "You cannot disable envelope encryption after enabling it": removing it replaces the cluster.
        ForceNew("encryptionConfig", "aws-eks-cluster", when="removed"),
    ),
    "aws:eks/nodeGroup:NodeGroup": _props(
        "aws-eks-node-group",
        "amiType",
        "capacityType",
        "clusterName",
        "diskSize",
        "instanceTypes",
        "launchTemplate.id",
        "launchTemplate.name",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "remoteAccess",
        "subnetIds",
    ),
    "aws:ec2/vpc:Vpc": _props("aws-vpc", "cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"),
    "aws:ec2/subnet:Subnet": _props(
        "aws-subnet",
        "availabilityZone",
        "availabilityZoneId",
        "cidrBlock",
        "ipv4IpamPoolId",
        "ipv4NetmaskLength",
        "ipv6IpamPoolId",
        "ipv6Native",
        "ipv6NetmaskLength",
        "outpostArn",
        "vpcId",
    ),
    "gcp:storage/bucket:Bucket": _props(
        "google-storage-bucket",
        "name",
        "location",
        "project",
        "enableObjectRetention",
        "customPlacementConfig.dataLocations",
        "hierarchicalNamespace",
    ),
    "gcp:kms/keyRing:KeyRing": _props("google-kms-key-ring", "name", "location", "project"),
    "gcp:kms/cryptoKey:CryptoKey": _props(
        "google-kms-crypto-key",
        "keyRing",
        "name",
        "cryptoKeyBackend",
        "destroyScheduledDuration",
        "importOnly",
        "purpose",
        "versionTemplate.protectionLevel",
    ),
    "gcp:artifactregistry/repository:Repository": _props(
        "google-artifact-registry",
        "format",
        "repositoryId",
        "kmsKeyName",
        "location",
        "mode",
        "project",
        "mavenConfig",
        "remoteRepositoryConfig",
    ),
    "gcp:container/cluster:Cluster": _props(
        "google-container-cluster",
        "name",
        "location",
        "project",
        "clusterIpv4Cidr",
        "description",
        "enableKubernetesAlpha",
        "enableTpu",
        "enableAutopilot",
        "initialNodeCount",
        "confidentialNodes",
        "network",
        "subnetwork",
        "ipAllocationPolicy",
        "networkingMode",
        "privateClusterConfig.masterIpv4CidrBlock",
        "privateClusterConfig.privateEndpointSubnetwork",
        "defaultMaxPodsPerNode",
        "datapathProvider",
        "userManagedKeysConfig",
    ),
    "gcp:container/nodePool:NodePool": (
        *_props(
            "google-container-node-pool",
            "project",
            "cluster",
            "location",
            "placementPolicy",
            "queuedProvisioning",
            "maxPodsPerNode",
            "initialNodeCount",
            "name",
            "namePrefix",
            "networkConfig.createPodRange",
            "networkConfig.podRange",
            "networkConfig.podIpv4CidrBlock",
            "networkConfig.additionalNodeNetworkConfigs",
            "networkConfig.additionalPodNetworkConfigs",
            "networkConfig.podCidrOverprovisionConfig",
            "networkConfig.subnetwork",
        ),
        *_props(
            "google-node-config",
            "nodeConfig.guestAccelerators",
            "nodeConfig.localSsdCount",
            "nodeConfig.ephemeralStorageLocalSsdConfig",
            "nodeConfig.localNvmeSsdBlockConfig",
            "nodeConfig.secondaryBootDisks",
            "nodeConfig.metadata",
            "nodeConfig.minCpuPlatform",
            "nodeConfig.oauthScopes",
            "nodeConfig.preemptible",
            "nodeConfig.reservationAffinity",
            "nodeConfig.spot",
            "nodeConfig.serviceAccount",
            "nodeConfig.shieldedInstanceConfig",
            "nodeConfig.sandboxConfig",
            "nodeConfig.bootDiskKmsKey",
            "nodeConfig.nodeGroup",
            "nodeConfig.advancedMachineFeatures",
            "nodeConfig.soleTenantConfig",
            "nodeConfig.hostMaintenancePolicy",
            "nodeConfig.enableConfidentialStorage",
            "nodeConfig.localSsdEncryptionMode",
            "nodeConfig.maxRunDuration",
            "nodeConfig.flexStart",
        ),
    ),
    "gcp:compute/network:Network": _props(
        "google-compute-network",
        "name",
        "autoCreateSubnetworks",
        "description",
        "internalIpv6Range",
        "networkProfile",
        "project",
    ),
    "gcp:compute/subnetwork:Subnetwork": _props(
        "google-compute-subnetwork",
        "name",
        "network",
        "description",
        "externalIpv6Prefix",
        "internalIpv6Prefix",
        "region",
        "reservedInternalRange",
        "project",
    ),
}

FORCE_NEW.update(
    {
        "aws:ssm/parameter:Parameter": _props("aws-ssm-parameter", "name", "dataType"),
        "aws:iam/role:Role": _props("aws-iam-role", "name", "namePrefix", "path"),
        "aws:iam/rolePolicy:RolePolicy": _props("aws-iam-role-policy", "name", "namePrefix", "role"),
        "gcp:compute/firewall:Firewall": _props("google-compute-firewall", "name", "direction", "params", "project"),
        "gcp:compute/router:Router": _props(
            "google-compute-router",
            "name",
            "encryptedInterconnectRouter",
            "nccGateway",
            "network",
            "params",
            "region",
            "project",
        ),
        "gcp:compute/routerNat:RouterNat": _props(
            "google-compute-router-nat", "name", "router", "endpointTypes", "initialNatIps", "region", "type", "project"
        ),
        "gcp:pubsub/topic:Topic": _props("google-pubsub-topic", "name", "tags", "project"),
        "gcp:serviceaccount/account:Account": _props("google-service-account", "accountId", "project"),
        "gcp:storage/bucketObject:BucketObject": _props(
            "google-storage-bucket-object",
            "bucket",
            "name",
            "cacheControl",
            "contentDisposition",
            "contentEncoding",
            "contentLanguage",
            "contentType",
            "forceEmptyContentType",
            "source",
            "storageClass",
            "kmsKeyName",
            "customerEncryption",
            "metadata",
        ),
        "gcp:cloudbuild/trigger:Trigger": _props("google-cloudbuild-trigger", "location", "project"),
        "gcp:billing/budget:Budget": _props("google-billing-budget", "billingAccount"),
        "gcp:monitoring/notificationChannel:NotificationChannel": _props("google-notification-channel", "project"),
        # IAM members: the binding is (parent, role, member, condition); any of them changing is a new binding.
        **{
            token: _props("google-iam-member", *parent, "role", "member", "condition")
            for token, parent in {
                "gcp:projects/iAMMember:IAMMember": ("project",),
                "gcp:serviceaccount/iAMMember:IAMMember": ("serviceAccountId",),
                "gcp:storage/bucketIAMMember:BucketIAMMember": ("bucket",),
                "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ("cryptoKeyId",),
                "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": ("project", "location", "repository"),
                "gcp:pubsub/topicIAMMember:TopicIAMMember": ("project", "topic"),
            }.items()
        },
    }
)
# Every Kubernetes object (not Helm releases: a chart's own objects decide there).
_KUBERNETES: Final = _props("kubernetes-api-conventions", "metadata.name", "metadata.namespace")


def entries(type_token: str) -> tuple[ForceNew, ...] | None:
    """The force-new entries of a type; None when the table does not cover it."""
    if type_token in FORCE_NEW:
        return FORCE_NEW[type_token]
    if type_token.startswith("kubernetes:") and not type_token.startswith("kubernetes:helm.sh/"):
        return _KUBERNETES
    return None


# What deleting or replacing one of these loses: a reviewer must see it, and it needs a reviewed allowance.
STATEFUL: Final[dict[str, str]] = {
    "aws:s3/bucket:Bucket": "a bucket and its data",
    "gcp:storage/bucket:Bucket": "a bucket and its data",
    "aws:kms/key:Key": "the KMS key (data encrypted with it becomes unreadable)",
    "gcp:kms/cryptoKey:CryptoKey": "the KMS key (data encrypted with it becomes unreadable)",
    "gcp:kms/keyRing:KeyRing": "the KMS key ring",
    "aws:ecr/repository:Repository": "the image registry and its images",
    "gcp:artifactregistry/repository:Repository": "the image registry and its images",
    "aws:eks/cluster:Cluster": "the cluster and everything running on it",
    "gcp:container/cluster:Cluster": "the cluster and everything running on it",
    "aws:ec2/vpc:Vpc": "the VPC (every subnet, node and endpoint in it)",
    "gcp:compute/network:Network": "the VPC network (every subnetwork and node in it)",
}


def known(type_token: str) -> bool:
    return entries(type_token) is not None


def _strip_indexes(path: str) -> str:
    """`scalingConfig.maxSize`, `instanceTypes[1]` -> `instanceTypes`; a JSON-in-string suffix is dropped."""
    head = path.split("{json}", 1)[0]
    parts = []
    for part in head.split("."):
        parts.append(part.split("[", 1)[0])
    return ".".join(p for p in parts if p)


def _has(value: Any, subpath: str) -> bool:
    for part in subpath.split("."):
        if isinstance(value, list):  # a MaxItems=1 block recorded as a list
            value = value[0] if value else None
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def replacing(type_token: str, path: str, old: Any, new: Any, removed: bool) -> ForceNew | None:
    """The force-new entry a change at `path` (from `old` to `new`) hits; None: an in-place update or unknown type.

    A change matches an entry at the same path, below it (`remoteAccess.ec2SshKey` under `remoteAccess`), or
    above it when the entry's property is in the block added or removed (`kubernetesNetworkConfig` holding
    `serviceIpv4Cidr`)."""
    plain = _strip_indexes(path)
    for entry in entries(type_token) or ():
        if entry.when == "removed" and not removed:
            continue
        if plain == entry.path or plain.startswith(entry.path + "."):
            return entry
        if entry.path.startswith(plain + "."):
            rest = entry.path[len(plain) + 1 :]
            if _has(old, rest) or _has(new, rest):
                return entry
    return None
