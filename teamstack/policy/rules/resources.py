"""Resource rules: each a pure function over (type token, camelCase props, config) yielding one message per
violated condition. A value that is `UNKNOWN` (preview, or a redacted secret) is never judged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from teamstack import registries
from teamstack.policy.config import PolicyConfig
from teamstack.policy.model import Rule
from teamstack.policy.rules import checks
from teamstack.policy.values import UNKNOWN, as_list, get, truthy
from teamstack.validation.principals import ECR_CREDENTIAL_PREFIX

# --- type tokens --------------------------------------------------------------------------------------------
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE = "aws:iam/role:Role"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
IAM_ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
IAM_USER_POLICY_ATTACHMENT = "aws:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_GROUP_POLICY_ATTACHMENT = "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"
IAM_POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
GCP_PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
GCP_PROJECT_IAM_BINDING = "gcp:projects/iAMBinding:IAMBinding"
GCP_SA_IAM_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
GCP_SA_IAM_BINDING = "gcp:serviceaccount/iAMBinding:IAMBinding"
GCS_IAM_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
GCS_IAM_BINDING = "gcp:storage/bucketIAMBinding:BucketIAMBinding"
AR_IAM_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
GCP_IAM_TYPES = frozenset(
    {GCP_PROJECT_IAM_MEMBER, GCP_PROJECT_IAM_BINDING, GCP_SA_IAM_MEMBER, GCP_SA_IAM_BINDING}
    | {GCS_IAM_MEMBER, GCS_IAM_BINDING, AR_IAM_MEMBER}
)
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
GCP_FIREWALL = "gcp:compute/firewall:Firewall"
SUBNET = "aws:ec2/subnet:Subnet"
EC2_INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GCE_INSTANCE = "gcp:compute/instance:Instance"
GCE_INSTANCE_TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
GCP_SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
ECR_CACHE_RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
AR_REPOSITORY = "gcp:artifactregistry/repository:Repository"
K8S_NAMESPACE = "kubernetes:core/v1:Namespace"
K8S_RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
K8S_LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
K8S_POD = "kubernetes:core/v1:Pod"
K8S_POD_TEMPLATE_OWNERS = frozenset(
    {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:StatefulSet",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:apps/v1:ReplicaSet",
        "kubernetes:batch/v1:Job",
    }
)
K8S_CRONJOB = "kubernetes:batch/v1:CronJob"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART_V4 = "kubernetes:helm.sh/v4:Chart"

AWS_TAGGABLE = frozenset(
    {
        "aws:budgets/budget:Budget",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:codebuild/project:Project",
        DEFAULT_SECURITY_GROUP,
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/internetGateway:InternetGateway",
        LAUNCH_TEMPLATE,
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        SECURITY_GROUP,
        SUBNET,
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        EC2_INSTANCE,
        ECR_REPOSITORY,
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/addon:Addon",
        EKS_CLUSTER,
        EKS_NODE_GROUP,
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        IAM_ROLE,
        IAM_POLICY,
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:kms/key:Key",
        S3_BUCKET,
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:ssm/parameter:Parameter",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
        "aws:lambda/function:Function",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        SG_INGRESS_RULE,
    }
)
# Where each labelable GCP type keeps its labels.
GCP_LABEL_FIELDS: dict[str, str] = {
    GCS_BUCKET: "labels",
    GKE_CLUSTER: "resourceLabels",
    GKE_NODE_POOL: "nodeConfig.resourceLabels",
    AR_REPOSITORY: "labels",
    "gcp:kms/cryptoKey:CryptoKey": "labels",
    GCE_INSTANCE: "labels",
    GCE_INSTANCE_TEMPLATE: "labels",
    "gcp:compute/address:Address": "labels",
    "gcp:secretmanager/secret:Secret": "labels",
    "gcp:pubsub/topic:Topic": "labels",
}
K8S_LABELABLE = frozenset(
    {
        K8S_NAMESPACE,
        K8S_RESOURCE_QUOTA,
        K8S_LIMIT_RANGE,
        K8S_POD,
        K8S_CRONJOB,
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:core/v1:Service",
        "kubernetes:core/v1:ConfigMap",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:rbac.authorization.k8s.io/v1:Role",
        "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
        *K8S_POD_TEMPLATE_OWNERS,
    }
)
K8S_LABEL_PREFIX = "teamstack.io/"
K8S_SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})

Messages = Iterator[str]


# --- buckets ------------------------------------------------------------------------------------------------


def bucket_no_force_destroy(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if truthy(get(props, "forceDestroy", False)):
        yield "forceDestroy is true: `pulumi destroy` would delete every object in the bucket"


def s3_public_access_block_settings(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    for key in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        value = get(props, key, False)
        if value is not UNKNOWN and not truthy(value):
            yield f"{key} is not true"


def s3_bucket_policy_not_public(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    document = checks.policy_document(get(props, "policy"))
    for statement in checks.statements(document or {}):
        if statement.get("Effect") == "Allow" and any(value == "*" for _, value in checks.principals(statement)):
            yield f"statement {statement.get('Sid', '')!s} allows Principal '*'"


def gcs_public_access_prevented(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    prevention = get(props, "publicAccessPrevention")
    if prevention is not UNKNOWN and prevention != "enforced":
        yield f"publicAccessPrevention is {prevention!r}, not 'enforced'"
    uniform = get(props, "uniformBucketLevelAccess", False)
    if uniform is not UNKNOWN and not truthy(uniform):
        yield "uniformBucketLevelAccess is not true: object ACLs could make objects public"


# --- IAM ----------------------------------------------------------------------------------------------------

_IAM_DOCUMENT_FIELDS = {IAM_POLICY: "policy", IAM_ROLE_POLICY: "policy", IAM_USER_POLICY: "policy"} | {
    IAM_GROUP_POLICY: "policy"
}


def iam_no_wildcard_admin(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    documents = []
    if type_token == IAM_ROLE:
        documents = [get(p, "policy") for p in as_list(get(props, "inlinePolicies")) if isinstance(p, dict)]
    else:
        documents = [get(props, _IAM_DOCUMENT_FIELDS[type_token])]
    for value in documents:
        document = checks.policy_document(value)
        if document is not None:
            yield from checks.wildcard_grants(document)


AWS_ADMIN_POLICIES = frozenset(
    f"arn:aws:iam::aws:policy/{name}" for name in ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
)
GCP_ADMIN_ROLES = frozenset(
    {"roles/owner", "roles/editor", "roles/iam.securityAdmin", "roles/resourcemanager.projectIamAdmin"}
)


def _aws_policy_arns(type_token: str, props: dict[str, Any]) -> list[Any]:
    if type_token == IAM_ROLE:
        return as_list(get(props, "managedPolicyArns"))
    return [get(props, "policyArn")]


def iam_no_admin_roles(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token.startswith("gcp:"):
        role = get(props, "role")
        if isinstance(role, str) and role in GCP_ADMIN_ROLES:
            yield f"grants {role}, an admin/primitive role"
        return
    for arn in _aws_policy_arns(type_token, props):
        if isinstance(arn, str) and arn.split(":")[-1] in {a.split(":")[-1] for a in AWS_ADMIN_POLICIES}:
            yield f"attaches {arn}"


def _members(props: dict[str, Any]) -> list[Any]:
    return as_list(get(props, "members")) if get(props, "members") is not None else as_list(get(props, "member"))


def iam_no_user_policies(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token in (IAM_USER_POLICY, IAM_USER_POLICY_ATTACHMENT):
        yield "attaches a policy to an IAM user: grant roles that people assume instead"
    elif type_token == IAM_POLICY_ATTACHMENT:
        users = get(props, "users")
        if isinstance(users, list) and users:
            yield f"attaches a policy to IAM users {users}"
    else:
        for member in _members(props):
            if isinstance(member, str) and member.startswith("user:"):
                yield f"grants {get(props, 'role')!s} to the individual {member}"


def iam_no_public_members(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == S3_BUCKET_POLICY:
        yield from s3_bucket_policy_not_public(type_token, props, config)
        return
    for member in _members(props):
        if member in ("allUsers", "allAuthenticatedUsers"):
            yield f"grants {get(props, 'role')!s} to {member}"


_WORKLOAD_MEMBER = re.compile(r"^serviceAccount:[a-z0-9-]+\.svc\.id\.goog\[[a-z0-9-]+/[a-z0-9-]+\]\Z")
_AWS_SERVICE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?\Z")
_EKS_OIDC = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/\w+\Z")


def iam_trusted_principals(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token != IAM_ROLE:
        if get(props, "role") != "roles/iam.workloadIdentityUser":
            return
        for member in _members(props):
            if isinstance(member, str) and not _WORKLOAD_MEMBER.match(member):
                yield f"lets {member} impersonate the service account; only Kubernetes service accounts may"
        return
    document = checks.policy_document(get(props, "assumeRolePolicy"))
    for statement in checks.statements(document or {}):
        if statement.get("Effect") != "Allow":
            continue
        for kind, value in checks.principals(statement):
            if value is UNKNOWN:
                continue
            if kind == "*" or value == "*":
                yield "trusts Principal '*': anyone could assume the role"
            elif kind == "Service":
                if not (isinstance(value, str) and _AWS_SERVICE.match(value)):
                    yield f"trusts the service {value!r}, which is not an AWS service principal"
            elif kind == "Federated":
                if not (isinstance(value, str) and _EKS_OIDC.match(value)):
                    yield f"trusts the federated principal {value!r}, not an EKS cluster's OIDC provider"
            elif kind == "AWS":
                if value not in config.trusted_principals:
                    yield f"trusts {value!r}, which is not in the team's trustedPrincipals"
            else:
                yield f"trusts an unexpected principal {kind}: {value!r}"


# --- network ------------------------------------------------------------------------------------------------


def _ingress_entries(type_token: str, props: dict[str, Any]) -> Iterator[tuple[list[Any], Any, Any, Any]]:
    """(sources, fromPort, toPort, protocol) of every ingress permission an AWS resource grants."""
    if type_token == SG_INGRESS_RULE:
        sources = [v for v in (get(props, "cidrIpv4"), get(props, "cidrIpv6")) if v is not None]
        yield sources, get(props, "fromPort", -1), get(props, "toPort", -1), get(props, "ipProtocol")
    elif type_token == SG_RULE:
        if get(props, "type") != "ingress":
            return
        sources = as_list(get(props, "cidrBlocks")) + as_list(get(props, "ipv6CidrBlocks"))
        yield sources, get(props, "fromPort"), get(props, "toPort"), get(props, "protocol")
    else:
        for rule in as_list(get(props, "ingress")):
            if rule is UNKNOWN:
                yield [UNKNOWN], UNKNOWN, UNKNOWN, UNKNOWN
                continue
            sources = as_list(get(rule, "cidrBlocks")) + as_list(get(rule, "ipv6CidrBlocks"))
            yield sources, get(rule, "fromPort"), get(rule, "toPort"), get(rule, "protocol")


def _all_ports(protocol: Any) -> bool:
    return protocol in ("-1", -1, "all")


def _gcp_ingress_sources(props: dict[str, Any]) -> list[Any] | None:
    """Sources a GCP firewall admits; None for egress, disabled and deny rules (which admit nothing)."""
    if get(props, "direction", "INGRESS") != "INGRESS" or truthy(get(props, "disabled", False)):
        return None
    allows = get(props, "allows")
    if allows is UNKNOWN or not allows:
        return None
    return as_list(get(props, "sourceRanges"))


def network_no_public_ingress(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == GCP_FIREWALL:
        sources = _gcp_ingress_sources(props) or []
        for source in sources:
            if source in checks.OPEN_WORLD:
                yield f"allows ingress from {source}"
        return
    for sources, _, _, _ in _ingress_entries(type_token, props):
        for source in sources:
            if source in checks.OPEN_WORLD:
                yield f"allows ingress from {source}"


def network_dask_ports_private(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == GCP_FIREWALL:
        sources = _gcp_ingress_sources(props)
        if sources and checks.gcp_ports_cover_dask(get(props, "allows")):
            public = [s for s in sources if isinstance(s, str) and not checks.is_private_cidr(s)]
            if public:
                yield f"opens the Dask ports 8786/8787 to {', '.join(public)}"
        return
    for sources, low, high, protocol in _ingress_entries(type_token, props):
        covers = True if _all_ports(protocol) else checks.ports_cover_dask(low, high)
        if not covers:
            continue
        public = [s for s in sources if isinstance(s, str) and not checks.is_private_cidr(s)]
        if public:
            yield f"opens the Dask ports 8786/8787 to {', '.join(public)}"


def network_nodes_no_public_ip(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == SUBNET:
        if truthy(get(props, "mapPublicIpOnLaunch", False)):
            yield "mapPublicIpOnLaunch is true: instances started here get a public IP"
    elif type_token == EC2_INSTANCE:
        if truthy(get(props, "associatePublicIpAddress", False)):
            yield "associatePublicIpAddress is true"
    elif type_token == LAUNCH_TEMPLATE:
        for index, interface in enumerate(as_list(get(props, "networkInterfaces"))):
            if isinstance(interface, dict) and truthy(get(interface, "associatePublicIpAddress", False)):
                yield f"networkInterfaces[{index}].associatePublicIpAddress is true"
    elif type_token in (GCE_INSTANCE, GCE_INSTANCE_TEMPLATE):
        for index, interface in enumerate(as_list(get(props, "networkInterfaces"))):
            configs = get(interface, "accessConfigs") if isinstance(interface, dict) else None
            if isinstance(configs, list) and configs:
                yield f"networkInterfaces[{index}] has an external accessConfig"
    elif type_token == GKE_NODE_POOL:
        if get(props, "networkConfig.enablePrivateNodes") is False:
            yield "networkConfig.enablePrivateNodes is false: the pool's nodes get public IPs"
    elif type_token == GKE_CLUSTER:
        private = get(props, "privateClusterConfig.enablePrivateNodes", False)
        if private is not UNKNOWN and not truthy(private):
            yield "privateClusterConfig.enablePrivateNodes is not true: nodes get public IPs"


def gcp_subnet_flow_logs(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if get(props, "purpose") not in (None, "PRIVATE", "PRIVATE_RFC_1918"):
        return  # proxy-only and PSC subnets carry no VM traffic to log
    if get(props, "logConfig") is None:
        yield "logConfig is not set: VPC flow logs are off"


# --- clusters -----------------------------------------------------------------------------------------------


def cluster_endpoint_not_public(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == EKS_CLUSTER:
        private = get(props, "vpcConfig.endpointPrivateAccess", False)
        if private is not UNKNOWN and not truthy(private):
            yield "vpcConfig.endpointPrivateAccess is not true: nodes reach the API over the internet"
        public = get(props, "vpcConfig.endpointPublicAccess", True)  # EKS's default is a public endpoint
        if public is UNKNOWN or not truthy(public):
            return
        cidrs = get(props, "vpcConfig.publicAccessCidrs")
        if cidrs is None or cidrs == []:
            yield "the public endpoint has no publicAccessCidrs, so EKS opens it to 0.0.0.0/0"
        for cidr in as_list(cidrs):
            if cidr in checks.OPEN_WORLD:
                yield f"the public endpoint accepts {cidr}"
        return
    if truthy(get(props, "privateClusterConfig.enablePrivateEndpoint", False)):
        return
    networks = get(props, "masterAuthorizedNetworksConfig")
    if networks is UNKNOWN:
        return
    if networks is None:
        yield "no masterAuthorizedNetworksConfig and no private endpoint: the API answers the internet"
        return
    if truthy(get(networks, "gcpPublicCidrsAccessEnabled", False)):
        yield "gcpPublicCidrsAccessEnabled is true: every Google Cloud IP may reach the API"
    for block in as_list(get(networks, "cidrBlocks")):
        cidr = get(block, "cidrBlock") if isinstance(block, dict) else None
        if cidr in checks.OPEN_WORLD:
            yield f"masterAuthorizedNetworksConfig allows {cidr}"


def cluster_secrets_encryption(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == EKS_CLUSTER:
        encryption = get(props, "encryptionConfig")
        if encryption is UNKNOWN:
            return
        resources = get(encryption, "resources") if isinstance(encryption, dict) else None
        if resources is UNKNOWN:
            return
        if not isinstance(resources, list) or "secrets" not in resources:
            yield "encryptionConfig does not encrypt 'secrets' with a KMS key"
        elif get(encryption, "provider.keyArn") in (None, ""):
            yield "encryptionConfig has no provider.keyArn"
        return
    state = get(props, "databaseEncryption.state")
    if state is UNKNOWN:
        return
    if state != "ENCRYPTED":
        yield f"databaseEncryption.state is {state!r}, not 'ENCRYPTED'"
    elif get(props, "databaseEncryption.keyName") in (None, ""):
        yield "databaseEncryption has no keyName"


EKS_REQUIRED_LOGS = ("api", "audit", "authenticator")


def cluster_control_plane_logging(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == EKS_CLUSTER:
        enabled = get(props, "enabledClusterLogTypes")
        if enabled is UNKNOWN:
            return
        missing = [kind for kind in EKS_REQUIRED_LOGS if kind not in as_list(enabled)]
        if missing:
            yield f"enabledClusterLogTypes lacks {', '.join(missing)}"
        return
    if get(props, "loggingService") == "none":
        yield "loggingService is 'none'"
    components = get(props, "loggingConfig.enableComponents")
    if components is UNKNOWN:
        return
    if "APISERVER" not in as_list(components):
        yield "loggingConfig.enableComponents lacks APISERVER: the API server's logs are not kept"


def gke_workload_identity(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    pool = get(props, "workloadIdentityConfig.workloadPool")
    if pool is UNKNOWN:
        return
    if not (isinstance(pool, str) and pool.endswith(".svc.id.goog")):
        yield "workloadIdentityConfig.workloadPool is not set: pods would use the node's service account"


# --- node groups and pools ----------------------------------------------------------------------------------


def node_metadata_protection(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == EKS_NODE_GROUP:
        if get(props, "launchTemplate") is None:
            yield "no launch template: EKS's default lets pods reach the instance metadata (hop limit 2)"
        return
    if type_token == GKE_NODE_POOL:
        mode = get(props, "nodeConfig.workloadMetadataConfig.mode")
        if mode is not UNKNOWN and mode != "GKE_METADATA":
            yield f"nodeConfig.workloadMetadataConfig.mode is {mode!r}, not 'GKE_METADATA'"
        return
    options = get(props, "metadataOptions")
    if options is UNKNOWN:
        return
    if get(options, "httpEndpoint") == "disabled":
        return
    tokens = get(options, "httpTokens")
    if tokens is not UNKNOWN and tokens != "required":
        yield f"metadataOptions.httpTokens is {tokens!r}, not 'required' (IMDSv2)"
    hops = get(options, "httpPutResponseHopLimit")
    if hops is not UNKNOWN and not (isinstance(hops, int | str) and str(hops).isdigit() and int(hops) <= 1):
        yield f"metadataOptions.httpPutResponseHopLimit is {hops!r}: set 1 so pods cannot reach the metadata"


def node_disks_encrypted(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == EKS_NODE_GROUP:
        if get(props, "launchTemplate") is None:
            yield "no launch template: node volumes are encrypted only if the account default says so"
    elif type_token == GKE_NODE_POOL:
        key = get(props, "nodeConfig.bootDiskKmsKey")
        if key is not UNKNOWN and not key:
            yield "nodeConfig.bootDiskKmsKey is not set: boot disks use Google-managed keys, not the team key"
    elif type_token == EC2_INSTANCE:
        encrypted = get(props, "rootBlockDevice.encrypted", False)
        if encrypted is not UNKNOWN and not truthy(encrypted):
            yield "rootBlockDevice.encrypted is not true"
    else:
        mappings = get(props, "blockDeviceMappings")
        if mappings is UNKNOWN:
            return
        if not mappings:
            yield "no blockDeviceMappings: the root volume's encryption is left to the account default"
        for index, mapping in enumerate(as_list(mappings)):
            ebs = get(mapping, "ebs") if isinstance(mapping, dict) else UNKNOWN
            if ebs is UNKNOWN or ebs is None:
                continue
            encrypted = get(ebs, "encrypted", False)
            if encrypted is not UNKNOWN and not truthy(encrypted):
                yield f"blockDeviceMappings[{index}].ebs.encrypted is not true"
            elif get(ebs, "kmsKeyId") in (None, ""):
                yield f"blockDeviceMappings[{index}].ebs has no kmsKeyId (the team's KMS key)"


def _gke_pool_is_gpu(props: dict[str, Any]) -> bool | None:
    machine = get(props, "nodeConfig.machineType")
    accelerators = get(props, "nodeConfig.guestAccelerators")
    if machine is UNKNOWN or accelerators is UNKNOWN:
        return None
    return bool(accelerators) or (isinstance(machine, str) and checks.gcp_machine_has_gpu(machine))


def node_gpu_scale_to_zero(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == EKS_NODE_GROUP:
        types = get(props, "instanceTypes")
        ami = get(props, "amiType")
        gpu = (isinstance(types, list) and any(isinstance(t, str) and checks.aws_type_has_gpu(t) for t in types)) or (
            isinstance(ami, str) and ("NVIDIA" in ami or "GPU" in ami)
        )
        minimum = get(props, "scalingConfig.minSize")
        if gpu and minimum is not UNKNOWN and minimum != 0:
            yield f"a GPU group with scalingConfig.minSize {minimum}: idle GPUs are paid for"
        return
    if not _gke_pool_is_gpu(props):
        return
    autoscaling = get(props, "autoscaling")
    if autoscaling is UNKNOWN:
        return
    if autoscaling is None:
        yield "a GPU pool without autoscaling: its nodes run (and bill) all the time"
        return
    for key in ("minNodeCount", "totalMinNodeCount"):
        minimum = get(autoscaling, key)
        if minimum not in (None, 0, UNKNOWN):
            yield f"a GPU pool with autoscaling.{key} {minimum}: idle GPUs are paid for"


def node_allowed_instance_types(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == EKS_NODE_GROUP:
        chosen, allowed, what = as_list(get(props, "instanceTypes")), config.allowed_instance_types, "instance type"
    elif type_token in (LAUNCH_TEMPLATE, EC2_INSTANCE):
        chosen, allowed, what = as_list(get(props, "instanceType")), config.allowed_instance_types, "instance type"
    else:
        chosen = [get(props, "nodeConfig.machineType", "e2-medium")]
        allowed, what = config.allowed_machine_types, "machine type"
        for accelerator in as_list(get(props, "nodeConfig.guestAccelerators")):
            kind = get(accelerator, "type") if isinstance(accelerator, dict) else UNKNOWN
            if isinstance(kind, str) and kind not in config.allowed_accelerators:
                yield f"accelerator {kind} is not in allowedAccelerators"
    for name in chosen:
        if isinstance(name, str) and name not in allowed:
            yield f"{what} {name} is not in the team's allowed list"


# --- registries ---------------------------------------------------------------------------------------------


def _docker_repository(props: dict[str, Any]) -> bool:
    return get(props, "format", "DOCKER") in ("DOCKER", UNKNOWN) and get(props, "mode") in (
        None,
        "STANDARD_REPOSITORY",
    )


def registry_immutable_tags(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == ECR_REPOSITORY:
        mutability = get(props, "imageTagMutability", "MUTABLE")
        if mutability is not UNKNOWN and mutability != "IMMUTABLE":
            yield f"imageTagMutability is {mutability!r}: a pushed tag could be replaced"
    elif _docker_repository(props):
        immutable = get(props, "dockerConfig.immutableTags", False)
        if immutable is not UNKNOWN and not truthy(immutable):
            yield "dockerConfig.immutableTags is not true: a pushed tag could be replaced"


def registry_scan_on_push(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == ECR_REPOSITORY:
        scan = get(props, "imageScanningConfiguration.scanOnPush", False)
        if scan is not UNKNOWN and not truthy(scan):
            yield "imageScanningConfiguration.scanOnPush is not true"
    elif _docker_repository(props) and get(props, "vulnerabilityScanningConfig.enablementConfig") == "DISABLED":
        yield "vulnerabilityScanningConfig.enablementConfig is DISABLED"


def registry_kms_encryption(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if type_token == ECR_REPOSITORY:
        configuration = get(props, "encryptionConfigurations.0")
        if configuration is UNKNOWN:
            return
        kind = get(configuration, "encryptionType", "AES256") if isinstance(configuration, dict) else "AES256"
        if kind not in ("KMS", "KMS_DSSE", UNKNOWN):
            yield f"encryptionType is {kind!r}, not KMS with the team key"
        elif get(configuration, "kmsKey") in (None, ""):
            yield "encryptionConfigurations has no kmsKey: the AWS-managed key is used, not the team key"
    else:
        key = get(props, "kmsKeyName")
        if key is not UNKNOWN and not key:
            yield "kmsKeyName is not set: images are encrypted with Google-managed keys, not the team key"


def registry_cache_credential(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    upstream = get(props, "upstreamRegistryUrl")
    if not isinstance(upstream, str) or not registries.ecr_upstream_needs_credential(upstream):
        return
    credential = get(props, "credentialArn")
    if credential is UNKNOWN:
        return
    if not credential:
        yield f"upstream {upstream} has no credentialArn: ECR refuses the rule, mid-`pulumi up`"
    elif not (isinstance(credential, str) and f":secret:{ECR_CREDENTIAL_PREFIX}" in credential):
        yield f"credentialArn is not a Secrets Manager secret named {ECR_CREDENTIAL_PREFIX}<name>: ECR cannot read it"


# --- Kubernetes ---------------------------------------------------------------------------------------------


def _pod_spec(type_token: str, props: dict[str, Any]) -> Any:
    if type_token == K8S_POD:
        return get(props, "spec")
    if type_token == K8S_CRONJOB:
        return get(props, "spec.jobTemplate.spec.template.spec")
    return get(props, "spec.template.spec")


def k8s_no_privileged_containers(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    if get(props, "metadata.namespace") in K8S_SYSTEM_NAMESPACES:
        return
    spec = _pod_spec(type_token, props)
    if not isinstance(spec, dict):
        return
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in as_list(get(spec, field)):
            if not isinstance(container, dict):
                continue
            name = get(container, "name", "?")
            if truthy(get(container, "securityContext.privileged", False)):
                yield f"container {name} is privileged"
            if truthy(get(container, "securityContext.allowPrivilegeEscalation", False)):
                yield f"container {name} allows privilege escalation"
    for host in ("hostPID", "hostIPC", "hostNetwork"):
        if truthy(get(spec, host, False)):
            yield f"the pod shares the node's namespaces ({host})"


_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?\Z")


def k8s_helm_release_pinned(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    chart = get(props, "chart")
    if isinstance(chart, str) and ("@sha256:" in chart or chart.startswith(("./", "/", "../"))):
        return  # pinned by digest, or a chart in this repository
    version = get(props, "version")
    if version is UNKNOWN:
        return
    if not version:
        yield f"chart {chart!s} has no version: the newest chart is installed on every `pulumi up`"
    elif not (isinstance(version, str) and _EXACT_VERSION.match(version)):
        yield f"chart {chart!s} version {version!r} is a range, not one exact version"


# --- tags and labels ----------------------------------------------------------------------------------------


def _labels(type_token: str, props: dict[str, Any]) -> Any:
    if type_token.startswith("aws:"):
        tags = get(props, "tags")
        return get(props, "tagsAll") if tags is None else tags
    if type_token.startswith("gcp:"):
        return get(props, GCP_LABEL_FIELDS[type_token])
    return get(props, "metadata.labels")


def required_tags(type_token: str, props: dict[str, Any], config: PolicyConfig) -> Messages:
    labels = _labels(type_token, props)
    if labels is UNKNOWN:
        return
    present = dict(labels) if isinstance(labels, dict) else {}
    if type_token.startswith("kubernetes:"):
        # Kubernetes labels may carry the platform's prefix (teamstack.io/team): the same tag, namespaced.
        present.update({key.removeprefix(K8S_LABEL_PREFIX): value for key, value in present.items()})
    missing = [key for key in config.required_tags if key not in present]
    if missing:
        kind = "tags" if type_token.startswith("aws:") else "labels"
        yield f"{kind} lack {', '.join(missing)}"
    for key in config.required_tags:
        if present.get(key) == "":
            yield f"{key} is empty"


# --- the list -----------------------------------------------------------------------------------------------

IAM_DOCUMENT_TYPES = frozenset({IAM_POLICY, IAM_ROLE, IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY})
IAM_ATTACHMENT_TYPES = frozenset(
    {IAM_ROLE, IAM_ROLE_POLICY_ATTACHMENT, IAM_USER_POLICY_ATTACHMENT, IAM_GROUP_POLICY_ATTACHMENT}
    | {IAM_POLICY_ATTACHMENT}
)
AWS_INGRESS_TYPES = frozenset({SG_INGRESS_RULE, SG_RULE, SECURITY_GROUP, DEFAULT_SECURITY_GROUP})

RESOURCE_RULES: tuple[Rule, ...] = (
    Rule(
        "bucket-no-force-destroy",
        "S3 and GCS buckets are never force-destroyed: `pulumi destroy` must not delete data.",
        "high",
        "mandatory",
        "Set forceDestroy=False; empty a bucket deliberately before removing it.",
        frozenset({S3_BUCKET, GCS_BUCKET}),
        bucket_no_force_destroy,
    ),
    Rule(
        "s3-public-access-block-settings",
        "An S3 public access block sets all four of its flags.",
        "critical",
        "mandatory",
        "Set blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets to true.",
        frozenset({S3_PUBLIC_ACCESS_BLOCK}),
        s3_public_access_block_settings,
    ),
    Rule(
        "gcs-public-access-prevented",
        "GCS buckets enforce public access prevention and uniform bucket-level access.",
        "critical",
        "mandatory",
        "Set publicAccessPrevention='enforced' and uniformBucketLevelAccess=True.",
        frozenset({GCS_BUCKET}),
        gcs_public_access_prevented,
    ),
    Rule(
        "iam-no-public-members",
        "No IAM grant or bucket policy allows everyone (allUsers, allAuthenticatedUsers, Principal '*').",
        "critical",
        "mandatory",
        "Grant named principals (a role, a group, a service account) instead of the public.",
        GCP_IAM_TYPES | {S3_BUCKET_POLICY},
        iam_no_public_members,
    ),
    Rule(
        "iam-no-wildcard-admin",
        "No IAM policy allows a wildcard action ('*' or 'service:*') on a wildcard resource.",
        "critical",
        "mandatory",
        "List the actions the role needs and scope Resource to the team's ARNs.",
        IAM_DOCUMENT_TYPES,
        iam_no_wildcard_admin,
    ),
    Rule(
        "iam-no-admin-roles",
        "No admin or primitive role: AWS AdministratorAccess/PowerUserAccess/IAMFullAccess, GCP owner/editor.",
        "critical",
        "mandatory",
        "Attach a scoped policy or a predefined role limited to what the workload does.",
        IAM_ATTACHMENT_TYPES | {GCP_PROJECT_IAM_MEMBER, GCP_PROJECT_IAM_BINDING, GCS_IAM_MEMBER, GCS_IAM_BINDING},
        iam_no_admin_roles,
    ),
    Rule(
        "iam-no-user-policies",
        "Permissions go to roles, groups and service accounts, never to individual users.",
        "medium",
        "mandatory",
        "Attach the policy to a role that the people assume (AWS) or grant it to a group (GCP).",
        frozenset({IAM_USER_POLICY, IAM_USER_POLICY_ATTACHMENT, IAM_POLICY_ATTACHMENT})
        | {GCP_PROJECT_IAM_MEMBER, GCP_PROJECT_IAM_BINDING, GCS_IAM_MEMBER, GCS_IAM_BINDING, AR_IAM_MEMBER},
        iam_no_user_policies,
    ),
    Rule(
        "iam-trusted-principals",
        "Roles trust only AWS services, this cluster's OIDC provider and the team's listed principals; GCP "
        "service accounts are impersonated only by Kubernetes service accounts (Workload Identity).",
        "critical",
        "mandatory",
        "Trust a service principal or the cluster's OIDC provider; add people's roles to the team's "
        "trustedPrincipals in policies/teams/<team>.yaml after review.",
        frozenset({IAM_ROLE, GCP_SA_IAM_MEMBER, GCP_SA_IAM_BINDING}),
        iam_trusted_principals,
    ),
    Rule(
        "network-no-public-ingress",
        "No security group or firewall admits traffic from 0.0.0.0/0 or ::/0.",
        "critical",
        "mandatory",
        "Admit the VPC, a security group or the named office/VPN ranges only.",
        AWS_INGRESS_TYPES | {GCP_FIREWALL},
        network_no_public_ingress,
    ),
    Rule(
        "network-dask-ports-private",
        "The Dask scheduler and dashboard ports (8786, 8787) are open to private ranges only, never to any "
        "public address.",
        "critical",
        "mandatory",
        "Reach Dask through the VPC (or a port-forward); remove public sources from rules covering 8786/8787.",
        AWS_INGRESS_TYPES | {GCP_FIREWALL},
        network_dask_ports_private,
    ),
    Rule(
        "network-nodes-no-public-ip",
        "Nodes and instances get no public IP address.",
        "high",
        "mandatory",
        "Place nodes in private subnets; set mapPublicIpOnLaunch/associatePublicIpAddress false, GKE private "
        "nodes, no GCE accessConfigs.",
        frozenset({SUBNET, EC2_INSTANCE, LAUNCH_TEMPLATE, GCE_INSTANCE, GCE_INSTANCE_TEMPLATE, GKE_NODE_POOL})
        | {GKE_CLUSTER},
        network_nodes_no_public_ip,
    ),
    Rule(
        "gcp-subnet-flow-logs",
        "GCP subnetworks record VPC flow logs.",
        "medium",
        "mandatory",
        "Set logConfig (e.g. aggregationInterval INTERVAL_5_SEC, flowSampling 0.5, metadata INCLUDE_ALL_METADATA).",
        frozenset({GCP_SUBNETWORK}),
        gcp_subnet_flow_logs,
    ),
    Rule(
        "cluster-endpoint-not-public",
        "The Kubernetes API endpoint is private, or public only to named ranges (never 0.0.0.0/0).",
        "critical",
        "mandatory",
        "EKS: endpointPrivateAccess=True and publicAccessCidrs the VPN ranges (or no public endpoint); GKE: a "
        "private endpoint or masterAuthorizedNetworksConfig with named ranges.",
        frozenset({EKS_CLUSTER, GKE_CLUSTER}),
        cluster_endpoint_not_public,
    ),
    Rule(
        "cluster-secrets-encryption",
        "Kubernetes secrets are encrypted at rest with the team's KMS key.",
        "high",
        "mandatory",
        "EKS: encryptionConfig resources=['secrets'] with provider.keyArn; GKE: databaseEncryption "
        "state='ENCRYPTED' with keyName.",
        frozenset({EKS_CLUSTER, GKE_CLUSTER}),
        cluster_secrets_encryption,
    ),
    Rule(
        "cluster-control-plane-logging",
        "Control-plane logs (API server, audit, authenticator) are kept.",
        "high",
        "mandatory",
        "EKS: enabledClusterLogTypes with api, audit, authenticator; GKE: loggingConfig.enableComponents with "
        "SYSTEM_COMPONENTS and APISERVER.",
        frozenset({EKS_CLUSTER, GKE_CLUSTER}),
        cluster_control_plane_logging,
    ),
    Rule(
        "gke-workload-identity",
        "GKE clusters enable Workload Identity, so pods use their own identity, not the node's.",
        "high",
        "mandatory",
        "Set workloadIdentityConfig.workloadPool='<project>.svc.id.goog'.",
        frozenset({GKE_CLUSTER}),
        gke_workload_identity,
    ),
    Rule(
        "node-metadata-protection",
        "Pods cannot read node credentials from the instance metadata: IMDSv2 with hop limit 1 on AWS, the "
        "GKE metadata server on GCP.",
        "high",
        "mandatory",
        "AWS: a launch template with metadataOptions httpTokens='required', httpPutResponseHopLimit=1; GKE: "
        "nodeConfig.workloadMetadataConfig.mode='GKE_METADATA'.",
        frozenset({EKS_NODE_GROUP, LAUNCH_TEMPLATE, EC2_INSTANCE, GKE_NODE_POOL}),
        node_metadata_protection,
    ),
    Rule(
        "node-disks-encrypted",
        "Node disks are encrypted with the team's KMS key.",
        "high",
        "mandatory",
        "AWS: launch template EBS volumes encrypted=true with kmsKeyId; GKE: nodeConfig.bootDiskKmsKey.",
        frozenset({EKS_NODE_GROUP, LAUNCH_TEMPLATE, EC2_INSTANCE, GKE_NODE_POOL}),
        node_disks_encrypted,
    ),
    Rule(
        "node-gpu-scale-to-zero",
        "GPU node groups and pools scale down to zero nodes.",
        "high",
        "mandatory",
        "Set the GPU group's minimum (scalingConfig.minSize, autoscaling min/totalMin node count) to 0.",
        frozenset({EKS_NODE_GROUP, GKE_NODE_POOL}),
        node_gpu_scale_to_zero,
    ),
    Rule(
        "node-allowed-instance-types",
        "Nodes use instance/machine types and accelerators from the team's allowed lists.",
        "medium",
        "mandatory",
        "Pick a type from allowedInstanceTypes/allowedMachineTypes/allowedAccelerators, or extend the list in "
        "policies/teams/<team>.yaml (and the price table) in a reviewed change.",
        frozenset({EKS_NODE_GROUP, LAUNCH_TEMPLATE, EC2_INSTANCE, GKE_NODE_POOL}),
        node_allowed_instance_types,
    ),
    Rule(
        "registry-immutable-tags",
        "Image tags in ECR and Artifact Registry are immutable.",
        "high",
        "mandatory",
        "ECR: imageTagMutability='IMMUTABLE'; Artifact Registry: dockerConfig.immutableTags=True.",
        frozenset({ECR_REPOSITORY, AR_REPOSITORY}),
        registry_immutable_tags,
    ),
    Rule(
        "registry-scan-on-push",
        "Images are scanned for vulnerabilities when pushed.",
        "medium",
        "mandatory",
        "ECR: imageScanningConfiguration.scanOnPush=True; Artifact Registry: do not disable "
        "vulnerabilityScanningConfig (and enable containerscanning.googleapis.com).",
        frozenset({ECR_REPOSITORY, AR_REPOSITORY}),
        registry_scan_on_push,
    ),
    Rule(
        "registry-kms-encryption",
        "Registries encrypt images with the team's KMS key.",
        "medium",
        "mandatory",
        "ECR: encryptionConfigurations encryptionType='KMS' with kmsKey; Artifact Registry: kmsKeyName.",
        frozenset({ECR_REPOSITORY, AR_REPOSITORY}),
        registry_kms_encryption,
    ),
    Rule(
        "registry-cache-credential",
        "ECR pull-through cache rules of upstreams that require authentication name a credential ECR can read.",
        "high",
        "mandatory",
        f"Set credentialArn to a Secrets Manager secret named {ECR_CREDENTIAL_PREFIX}<name> in the rule's account "
        "and Region, holding the upstream's username and accessToken (teamstack: ghcrCredentialArn).",
        frozenset({ECR_CACHE_RULE}),
        registry_cache_credential,
    ),
    Rule(
        "k8s-no-privileged-containers",
        "No privileged container, privilege escalation or host namespaces outside kube-system.",
        "critical",
        "mandatory",
        "Drop securityContext.privileged/allowPrivilegeEscalation and hostPID/hostIPC/hostNetwork; node "
        "agents that need them belong in kube-system.",
        frozenset({K8S_POD, K8S_CRONJOB, *K8S_POD_TEMPLATE_OWNERS}),
        k8s_no_privileged_containers,
    ),
    Rule(
        "k8s-helm-release-pinned",
        "Helm releases and charts install one exact chart version.",
        "medium",
        "mandatory",
        "Set version to an exact chart version (e.g. '2025.7.0'), or pin an OCI chart by digest.",
        frozenset({HELM_RELEASE, HELM_CHART_V4}),
        k8s_helm_release_pinned,
    ),
    Rule(
        "required-tags",
        "Every taggable/labelable resource carries the required tags/labels (team, cost-center); Kubernetes "
        "labels may carry the teamstack.io/ prefix.",
        "medium",
        "mandatory",
        "Pass the team's tags (TeamConfig.tags_for_resources) to the resource, as tags, labels or metadata.labels.",
        AWS_TAGGABLE | frozenset(GCP_LABEL_FIELDS) | K8S_LABELABLE,
        required_tags,
    ),
)
