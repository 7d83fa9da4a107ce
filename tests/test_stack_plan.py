"""Properties of every shipped AWS stack's offline plan: the real program, run under the provider mocks.

Each test reads the resources as the engine would receive them (type token, camelCase inputs, options), so
what is asserted here is what `pulumi up` would ask AWS for. GCP stacks: tests/test_gcp_stack_plan.py.
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import json
from typing import Any

import pytest
from conftest import AWS_STACKS

from components.aws.iam import AUTOSCALER_DESCRIBE, EC2_CLUSTER_DESCRIBE, EC2_LAUNCHED, UBUNTU_AMI_PARAMETER
from components.aws.network import interface_endpoints
from teamstack import naming
from teamstack.config import TeamConfig
from teamstack.layout import subnet_layout
from teamstack.manifest import TeamManifest
from teamstack.plan.runner import Plan, PlannedResource

OPEN_WORLD = {"0.0.0.0/0", "::/0"}
REQUIRED_TAGS = ("team", "cost-center", "managed-by", "owner")


@pytest.fixture(params=AWS_STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    """Every AWS stack file in stacks/ (overrides the conftest fixture for the `plan` and `team` fixtures)."""
    return str(request.param)


def only(plan: Plan, type_token: str, name_part: str = "") -> PlannedResource:
    matches = [r for r in plan.of_type(type_token) if name_part in r.name]
    assert len(matches) == 1, f"expected one {type_token} named *{name_part}*, got {[r.name for r in matches]}"
    return matches[0]


def by_id(plan: Plan) -> dict[str, PlannedResource]:
    return {r.id: r for r in plan.resources if r.id}


def policy(resource: PlannedResource, key: str = "policy") -> dict[str, Any]:
    document = json.loads(resource.inputs[key])
    assert document["Version"] == "2012-10-17"
    return document


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- network --------------------------------------------------------------------------------------------


def test_subnets_follow_the_layout_one_private_and_one_public_per_zone(plan: Plan, team: TeamConfig) -> None:
    layout = subnet_layout(team.vpc_cidr, team.az_count)
    subnets = plan.of_type("aws:ec2/subnet:Subnet")
    private = sorted((s for s in subnets if "-private-" in s.name), key=lambda s: s.inputs["availabilityZone"])
    public = sorted((s for s in subnets if "-public-" in s.name), key=lambda s: s.inputs["availabilityZone"])
    assert [s.inputs["cidrBlock"] for s in private] == [str(z.private) for z in layout]
    assert [s.inputs["cidrBlock"] for s in public] == [str(z.public) for z in layout]
    assert len({s.inputs["availabilityZone"] for s in private}) == team.az_count >= 2
    vpc = only(plan, "aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == team.vpc_cidr
    for subnet in subnets:
        assert subnet.inputs["vpcId"] == vpc.id
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
        assert ipaddress.ip_network(subnet.inputs["cidrBlock"]).subnet_of(ipaddress.ip_network(team.vpc_cidr))


def test_only_public_subnets_route_to_the_internet_gateway_and_nat_follows_the_mode(
    plan: Plan, team: TeamConfig
) -> None:
    resources = by_id(plan)
    igw = only(plan, "aws:ec2/internetGateway:InternetGateway")
    nats = plan.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == {"none": 0, "single": 1, "per-az": team.az_count}[team.nat_mode]
    for nat in nats:
        assert "-public-" in resources[nat.inputs["subnetId"]].name
    tables_to_igw = {
        r.inputs["routeTableId"] for r in plan.of_type("aws:ec2/route:Route") if r.inputs.get("gatewayId") == igw.id
    }
    for association in plan.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation"):
        subnet = resources[association.inputs["subnetId"]]
        assert (association.inputs["routeTableId"] in tables_to_igw) == ("-public-" in subnet.name), subnet.name
    default_routes = [r for r in plan.of_type("aws:ec2/route:Route") if r.inputs.get("natGatewayId")]
    assert len(default_routes) == (0 if team.nat_mode == "none" else team.az_count)


def test_s3_through_a_gateway_and_interface_endpoints_only_where_no_nat_carries_the_traffic(
    plan: Plan, team: TeamConfig
) -> None:
    endpoints = plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    services = {
        e.inputs["serviceName"].rsplit(".", 1)[-1]
        if "ecr" not in e.inputs["serviceName"]
        else ".".join(e.inputs["serviceName"].split(".")[-2:]): e
        for e in endpoints
    }
    assert services["s3"].inputs["vpcEndpointType"] == "Gateway"
    private_tables = {r.id for r in plan.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name}
    assert set(services["s3"].inputs["routeTableIds"]) == private_tables
    wanted = interface_endpoints(team.nat_mode, team.interface_endpoints)
    # Each interface endpoint costs about $7 a month per AZ: only those the stack needs or asked for exist.
    assert set(services) - {"s3"} == set(wanted)
    for name in wanted:
        endpoint = services[name]
        assert endpoint.inputs["vpcEndpointType"] == "Interface" and endpoint.inputs["privateDnsEnabled"] is True
        assert len(endpoint.inputs["subnetIds"]) == team.az_count


@pytest.mark.parametrize(
    ("nat_mode", "requested", "expected"),
    [
        ("single", False, set()),
        ("per-az", False, set()),
        ("single", True, {"ecr.api", "ecr.dkr", "sts"}),
        # Without a NAT nothing else reaches ECR, STS, EKS, EC2, logs or autoscaling: always made, asked or not.
        ("none", False, {"ecr.api", "ecr.dkr", "sts", "ec2", "logs", "eks", "eks-auth", "autoscaling"}),
    ],
)
def test_interface_endpoints_beside_a_nat_only_on_request(nat_mode: str, requested: bool, expected: set[str]) -> None:
    assert expected <= set(interface_endpoints(nat_mode, requested))
    if nat_mode != "none":
        assert set(interface_endpoints(nat_mode, requested)) == expected


def test_flow_logs_capture_all_traffic_into_an_encrypted_retained_log_group(plan: Plan, team: TeamConfig) -> None:
    flow = only(plan, "aws:ec2/flowLog:FlowLog")
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["vpcId"] == only(plan, "aws:ec2/vpc:Vpc").id
    group = next(
        g
        for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.id == naming.log_group(team.team, "vpc-flow-logs")
    )
    assert flow.inputs["logDestination"].endswith(group.id)
    for log_group in plan.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert log_group.inputs["retentionInDays"] == team.log_retention_days
        assert log_group.inputs["kmsKeyId"].startswith("arn:aws:kms:")


def test_no_ingress_from_the_internet_anywhere(plan: Plan) -> None:
    for rule in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert rule.inputs.get("cidrIpv4") not in OPEN_WORLD and rule.inputs.get("cidrIpv6") not in OPEN_WORLD, (
            rule.name
        )
    for group in plan.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert not group.inputs.get("ingress"), f"{group.name}: inline ingress rules bypass review"
    default = only(plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not default.inputs.get("ingress") and not default.inputs.get("egress")


def test_dask_ports_are_open_only_inside_the_vpc(plan: Plan, team: TeamConfig) -> None:
    dask = only(plan, "aws:ec2/securityGroup:SecurityGroup", "-dask")
    rules = [
        r
        for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == dask.id
    ]
    assert rules
    for rule in rules:
        assert rule.inputs.get("cidrIpv4") == team.vpc_cidr or rule.inputs.get("referencedSecurityGroupId") == dask.id


# --- cluster ---------------------------------------------------------------------------------------------


def test_cluster_api_is_private_unless_configured_and_never_open(plan: Plan, team: TeamConfig) -> None:
    cluster = only(plan, "aws:eks/cluster:Cluster")
    vpc_config = cluster.inputs["vpcConfig"]
    assert vpc_config["endpointPrivateAccess"] is True
    assert vpc_config["endpointPublicAccess"] is bool(team.api_access_cidrs)
    assert vpc_config.get("publicAccessCidrs", []) == team.api_access_cidrs
    assert not OPEN_WORLD & set(vpc_config.get("publicAccessCidrs", []))
    private_subnets = {s.id for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    assert set(vpc_config["subnetIds"]) == private_subnets


def test_cluster_encrypts_secrets_logs_the_control_plane_and_uses_access_entries(plan: Plan, team: TeamConfig) -> None:
    cluster = only(plan, "aws:eks/cluster:Cluster")
    key = only(plan, "aws:kms/key:Key")
    assert cluster.inputs["version"] == team.kubernetes_version
    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster.inputs["encryptionConfig"]["provider"]["keyArn"].endswith(key.id)
    assert set(cluster.inputs["enabledClusterLogTypes"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }
    assert cluster.inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    assert key.protect and key.retain_on_delete and key.inputs["enableKeyRotation"] is True


def test_admins_get_cluster_admin_and_data_scientists_only_their_namespace(plan: Plan, team: TeamConfig) -> None:
    associations = plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    admin = {
        a.inputs["principalArn"]: a
        for a in associations
        if a.inputs["policyArn"].endswith("AmazonEKSClusterAdminPolicy")
    }
    assert set(admin) == set(team.admins)
    assert all(a.inputs["accessScope"] == {"type": "cluster"} for a in admin.values())
    # Data scientists get no EKS access policy: their only grant is the Kubernetes layer's namespace RBAC
    # (tests/test_k8s_plan.py), through the Kubernetes group of their access entry.
    assert [a for a in associations if a.inputs["principalArn"] not in admin] == []
    (entry,) = [
        e
        for e in plan.of_type("aws:eks/accessEntry:AccessEntry")
        if e.inputs["principalArn"].endswith(f":role/{naming.role_name(team.team, 'data-scientist')}")
    ]
    assert entry.inputs["kubernetesGroups"] == [f"{team.team}:data-scientists"]


def test_dask_service_accounts_get_their_roles_through_pod_identity(plan: Plan, team: TeamConfig) -> None:
    associations = {
        a.inputs["serviceAccount"]: a
        for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if a.inputs["namespace"] != "kube-system"  # cluster-autoscaler's own (tests/test_k8s_plan.py)
    }
    assert set(associations) == {naming.DASK_SCHEDULER_SERVICE_ACCOUNT, naming.DASK_WORKER_SERVICE_ACCOUNT}
    for account, association in associations.items():
        assert association.inputs["namespace"] == team.team_namespace
        assert association.inputs["roleArn"].endswith(f":role/{team.team}-{account}")


# --- node groups -----------------------------------------------------------------------------------------


def test_node_groups_match_the_config_with_a_system_group(plan: Plan, team: TeamConfig) -> None:
    groups = {
        g.name.removeprefix(f"{team.team}-").removesuffix("-ng"): g for g in plan.of_type("aws:eks/nodeGroup:NodeGroup")
    }
    assert set(groups) == {"system", *(g.name for g in team.node_groups)}
    system = groups["system"].inputs
    assert system["scalingConfig"]["minSize"] >= 1 and system["capacityType"] == "ON_DEMAND"
    assert {"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"} in system["taints"]
    for config in team.node_groups:
        inputs = groups[config.name].inputs
        assert inputs["instanceTypes"] == config.instance_types
        assert inputs["scalingConfig"] == {
            "minSize": config.min_size,
            "desiredSize": config.desired,
            "maxSize": config.max_size,
        }
        assert inputs["capacityType"] == ("SPOT" if config.capacity == "spot" else "ON_DEMAND")
        assert config.labels.items() <= inputs["labels"].items()
        private_subnets = {s.id for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
        assert set(inputs["subnetIds"]) == private_subnets


def test_gpu_groups_scale_from_zero_with_taint_nvidia_ami_and_autoscaler_tags(plan: Plan, team: TeamConfig) -> None:
    gpu_configs = [g for g in team.node_groups if g.kind == "gpu"]
    asg_tags = plan.of_type("aws:autoscaling/tag:Tag")
    for config in gpu_configs:
        group = only(plan, "aws:eks/nodeGroup:NodeGroup", f"-{config.name}-ng")
        inputs = group.inputs
        assert inputs["scalingConfig"]["minSize"] == 0 and inputs["scalingConfig"]["desiredSize"] == 0
        assert inputs["amiType"].endswith("_NVIDIA")
        assert inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
        tags = inputs["tags"]
        prefix = "k8s.io/cluster-autoscaler"
        assert tags[f"{prefix}/enabled"] == "true" and tags[f"{prefix}/{team.team}"] == "owned"
        assert int(tags[f"{prefix}/node-template/resources/nvidia.com/gpu"]) >= 1
        assert tags[f"{prefix}/node-template/taint/nvidia.com/gpu"] == "present:NoSchedule"
        for key, value in inputs["labels"].items():
            assert tags[f"{prefix}/node-template/label/{key}"] == value
        # The same tags land on the Auto Scaling group, where cluster-autoscaler reads them.
        on_asg = {
            t.inputs["tag"]["key"]: t.inputs["tag"]["value"]
            for t in asg_tags
            if t.name.startswith(group.name.removesuffix("-ng") + "-asg-")
        }
        assert on_asg == {k: v for k, v in tags.items() if k.startswith(prefix)}
    cpu_groups = [g for g in plan.of_type("aws:eks/nodeGroup:NodeGroup") if not g.inputs["amiType"].endswith("_NVIDIA")]
    for group in cpu_groups:
        assert all(t["key"] != "nvidia.com/gpu" for t in group.inputs.get("taints", []))


def test_launch_templates_require_imdsv2_and_encrypt_volumes_with_the_team_key(plan: Plan) -> None:
    key = only(plan, "aws:kms/key:Key")
    templates = {t.id: t for t in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        template = templates[group.inputs["launchTemplate"]["id"]]
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required" and metadata["httpPutResponseHopLimit"] == 1
        (device,) = template.inputs["blockDeviceMappings"]
        assert device["ebs"]["encrypted"] == "true" and device["ebs"]["kmsKeyId"].endswith(key.id)
        assert "diskSize" not in group.inputs  # with a launch template, the volume size lives there


# --- buckets, registry, pipeline ---------------------------------------------------------------------------


def test_every_bucket_is_private_encrypted_versioned_tls_only_and_expires_old_versions(plan: Plan) -> None:
    def for_bucket(type_token: str, bucket: str) -> PlannedResource:
        (found,) = [r for r in plan.of_type(type_token) if r.inputs["bucket"] == bucket]
        return found

    for bucket in plan.of_type("aws:s3/bucket:Bucket"):
        name = bucket.inputs["bucket"]
        block = for_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name).inputs
        assert all(
            block[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        (rule,) = for_bucket(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", name
        ).inputs["rules"]
        algorithm = rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"]
        assert algorithm == ("AES256" if "access-logs" in name else "aws:kms")
        versioning = for_bucket("aws:s3/bucketVersioning:BucketVersioning", name).inputs
        assert versioning["versioningConfiguration"]["status"] == "Enabled"
        lifecycle = for_bucket("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", name).inputs
        assert lifecycle["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] >= 1
        statements = policy(for_bucket("aws:s3/bucketPolicy:BucketPolicy", name))["Statement"]
        deny = next(s for s in statements if s["Sid"] == "DenyInsecureTransport")
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert bucket.inputs["forceDestroy"] is False


def test_catalog_buckets_are_protected_kept_and_logged(plan: Plan, team: TeamConfig) -> None:
    access_logs = naming.bucket_name(team.team, "access-logs", plan.outputs["accountId"])
    outputs = plan.outputs["catalogBuckets"]
    assert set(outputs) == {b.name for b in team.catalog_buckets}
    for name in outputs.values():
        bucket = next(b for b in plan.of_type("aws:s3/bucket:Bucket") if b.inputs["bucket"] == name)
        assert bucket.protect and bucket.retain_on_delete, name
        protections = [
            r
            for r in plan.resources
            if r.type.startswith("aws:s3/bucket")
            and r.type != "aws:s3/bucket:Bucket"
            and r.inputs.get("bucket") == name
            and "Logging" not in r.type
            and "Lifecycle" not in r.type
        ]
        assert len(protections) == 5 and all(p.retain_on_delete for p in protections), [p.type for p in protections]
        logging = next(r for r in plan.of_type("aws:s3/bucketLogging:BucketLogging") if r.inputs["bucket"] == name)
        assert logging.inputs["targetBucket"] == access_logs


def test_registry_is_immutable_scanned_and_encrypted(plan: Plan, team: TeamConfig) -> None:
    repositories = {r.inputs["name"]: r for r in plan.of_type("aws:ecr/repository:Repository")}
    assert set(repositories) == {naming.repository_name(team.team), f"{naming.repository_name(team.team)}-cache"}
    for repository in repositories.values():  # the images and the builds' layer cache alike
        assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository.inputs["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    lifecycles = plan.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    policies = {r.name: json.loads(r.inputs["policy"])["rules"] for r in lifecycles}
    (rules,) = [rules for name, rules in policies.items() if not name.endswith("-cache-lifecycle")]
    assert {r["selection"]["tagStatus"] for r in rules} == {"untagged", "tagged"}
    assert any(r["selection"]["countNumber"] == team.registry.keep_last_images for r in rules)


def test_builds_pull_their_bases_through_the_teams_registry_from_ecr_public(plan: Plan, team: TeamConfig) -> None:
    rule = only(plan, "aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    assert rule.inputs == {"ecrRepositoryPrefix": f"{team.team}-ecr-public", "upstreamRegistryUrl": "public.ecr.aws"}
    template = only(plan, "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    assert template.inputs["prefix"] == rule.inputs["ecrRepositoryPrefix"]
    assert template.inputs["appliedFors"] == ["PULL_THROUGH_CACHE"]
    assert template.inputs["imageTagMutability"] == "IMMUTABLE"
    project = only(plan, "aws:codebuild/project:Project")
    variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
    registry_host = plan.outputs["registryUri"].split("/")[0]
    assert variables["BASE_REGISTRY"] == f"{registry_host}/{team.team}-ecr-public"
    assert variables["CACHE_REPOSITORY"] == f"{plan.outputs['registryUri']}-cache"
    builder = next(
        policy(p) for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if "image-builder" in p.name
    )
    statements = {s["Sid"]: s for s in builder["Statement"]}
    pulls = statements["PullBaseImagesThroughTheCache"]
    assert as_list(pulls["Resource"]) == [
        f"arn:aws:ecr:{plan.outputs['region']}:{plan.outputs['accountId']}:repository/{team.team}-ecr-public/*"
    ]
    assert "ecr:BatchImportUpstreamImage" in pulls["Action"] and "ecr:PutImage" not in pulls["Action"]


def test_the_build_project_is_not_privileged(plan: Plan) -> None:
    # buildah (images/build.sh) needs no Docker daemon, so CodeBuild need not run the build privileged.
    project = only(plan, "aws:codebuild/project:Project")
    assert project.inputs["environment"].get("privilegedMode", False) is False


def test_a_spec_landing_in_the_build_bucket_starts_the_image_build(plan: Plan, team: TeamConfig) -> None:
    build_bucket = plan.outputs["buildBucket"]
    notification = only(plan, "aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs == {"bucket": build_bucket, "eventbridge": True}
    rule = only(plan, "aws:cloudwatch/eventRule:EventRule")
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail"]["bucket"]["name"] == [build_bucket]
    # Only normalised specs start builds; local wheels under specs/wheels/ never do.
    assert pattern["detail"]["object"]["key"] == [{"wildcard": "specs/*/requirements.txt"}]
    target = only(plan, "aws:cloudwatch/eventTarget:EventTarget")
    project = only(plan, "aws:codebuild/project:Project")
    assert target.inputs["rule"] == rule.id and target.inputs["arn"].endswith(f":project/{project.inputs['name']}")
    assert "SPEC_KEY" in target.inputs["inputTransformer"]["inputTemplate"]
    environment = project.inputs["environment"]
    variables = {v["name"]: v["value"] for v in environment["environmentVariables"]}
    assert variables["BUILD_BUCKET"] == build_bucket
    assert variables["REPOSITORY_URI"] == plan.outputs["registryUri"]
    assert project.inputs["source"]["location"].startswith(f"{build_bucket}/recipes/images-")
    assert project.inputs["logsConfig"]["cloudwatchLogs"]["groupName"] == naming.log_group(team.team, "image-builds")
    recipe = only(plan, "aws:s3/bucketObjectv2:BucketObjectv2", "-recipe")
    assert recipe.inputs["source"] == {"archive": "images"}


# --- IAM -------------------------------------------------------------------------------------------------


def test_no_policy_grants_a_wildcard_action_on_a_wildcard_resource(plan: Plan) -> None:
    documents = [policy(p) for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")]
    documents += [policy(p) for p in plan.of_type("aws:s3/bucketPolicy:BucketPolicy")]
    documents += [policy(k) for k in plan.of_type("aws:kms/key:Key")]
    for document in documents:
        for statement in document["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = as_list(statement["Action"])
            assert not any(a == "*" or a.endswith(":*") for a in actions), statement


def test_role_policies_touch_only_this_teams_resources(plan: Plan, team: TeamConfig) -> None:
    account = plan.outputs["accountId"]
    # Actions AWS offers no resource-level permission for: "*" is their only valid resource.
    unscoped_allowed = {"ecr:GetAuthorizationToken", *AUTOSCALER_DESCRIBE, *EC2_CLUSTER_DESCRIBE}
    planned_ids = set(by_id(plan))
    # Owned by no account: the AMIs a Dask VM boots (launched into team subnets only) and Canonical's parameter.
    public = {f"arn:aws:ec2:{team.region}::image/*", f"arn:aws:ssm:{team.region}::parameter{UBUNTU_AMI_PARAMETER}"}
    for role_policy in plan.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in policy(role_policy)["Statement"]:
            for resource in as_list(statement["Resource"]):
                if resource == "*":
                    assert set(as_list(statement["Action"])) <= unscoped_allowed, (role_policy.name, statement)
                elif resource in public:
                    assert set(as_list(statement["Action"])) <= {"ec2:RunInstances", "ssm:GetParameter"}, statement
                elif resource.startswith("arn:aws:s3:::"):
                    assert resource.removeprefix("arn:aws:s3:::").startswith(f"{team.team}-"), resource
                elif resource.split(":")[2] == "ec2":
                    # EC2 ARNs hold ids: this stack's own resources, or instances and the like it tags team=<team>.
                    assert f":{account}:" in resource, resource
                    identifier = resource.rsplit("/", 1)[1]
                    if identifier == "*":
                        conditions = statement["Condition"]["StringEquals"]
                        assert team.team in (
                            conditions.get("aws:RequestTag/team"),
                            conditions.get("aws:ResourceTag/team"),
                        ) or (conditions == {"ec2:CreateAction": "RunInstances"}), statement
                    else:
                        assert identifier in planned_ids, resource
                else:
                    assert f":{account}:" in resource, resource
                    assert team.team in resource or resource.split(":")[2] == "kms", resource


def test_trust_policies_name_only_the_expected_principals(plan: Plan, team: TeamConfig) -> None:
    services = {
        "eks.amazonaws.com",
        "ec2.amazonaws.com",
        "pods.eks.amazonaws.com",
        "codebuild.amazonaws.com",
        "events.amazonaws.com",
        "vpc-flow-logs.amazonaws.com",
    }
    for role in plan.of_type("aws:iam/role:Role"):
        for statement in policy(role, "assumeRolePolicy")["Statement"]:
            principal = statement["Principal"]
            if "Service" in principal:
                assert principal["Service"] in services, role.name
                if principal["Service"] != "ec2.amazonaws.com":
                    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == plan.outputs["accountId"]
            else:
                assert role.inputs["name"] == naming.role_name(team.team, "data-scientist")
                assert as_list(principal["AWS"]) == team.data_scientist_principals
    pod_role_names = {naming.role_name(team.team, purpose) for purpose in ("dask-scheduler", "dask-worker")}
    pod_roles = [r for r in plan.of_type("aws:iam/role:Role") if r.inputs["name"] in pod_role_names]
    assert len(pod_roles) == 2
    for role in pod_roles:
        (statement,) = policy(role, "assumeRolePolicy")["Statement"]
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"].endswith(f":cluster/{team.team}")


def test_dask_workers_write_only_the_catalog_and_the_scheduler_only_reads(plan: Plan, team: TeamConfig) -> None:
    catalog = {f"arn:aws:s3:::{b}" for b in plan.outputs["catalogBuckets"].values()}

    def s3_grants(role_name: str) -> tuple[set[str], set[str]]:
        policy_resource = next(
            p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role_name
        )
        actions, resources = set(), set()
        for statement in policy(policy_resource)["Statement"]:
            if any(a.startswith("s3:") for a in as_list(statement["Action"])):
                actions |= set(as_list(statement["Action"]))
                resources |= {r.removesuffix("/*") for r in as_list(statement["Resource"])}
        return actions, resources

    worker_actions, worker_buckets = s3_grants(naming.role_name(team.team, "dask-worker"))
    scheduler_actions, scheduler_buckets = s3_grants(naming.role_name(team.team, "dask-scheduler"))
    assert worker_buckets == scheduler_buckets == catalog
    assert "s3:PutObject" in worker_actions
    assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in scheduler_actions)


def _role_policy(plan: Plan, role_name: str) -> dict[str, Any]:
    (found,) = [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role_name]
    return policy(found)


def test_dask_vms_get_the_workers_data_access_and_the_team_registry_through_their_instance_profile(
    plan: Plan, team: TeamConfig
) -> None:
    name = naming.role_name(team.team, "dask-vm")
    (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r.inputs["name"] == name]
    # Only EC2 may assume it (EC2 sends no aws:SourceAccount to condition on), for one-hour sessions.
    (trust,) = policy(role, "assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"} and as_list(trust["Action"]) == ["sts:AssumeRole"]
    assert role.inputs["maxSessionDuration"] == 3600
    profile = only(plan, "aws:iam/instanceProfile:InstanceProfile")
    assert profile.inputs["name"] == name and profile.inputs["role"] == name
    assert (
        plan.outputs["daskVmInstanceProfileArn"] == f"arn:aws:iam::{plan.outputs['accountId']}:instance-profile/{name}"
    )
    assert plan.outputs["manifest"]["identity"]["daskVmInstanceProfileArn"] == plan.outputs["daskVmInstanceProfileArn"]
    assert plan.outputs["roleArns"]["daskVm"].endswith(f":role/{name}")

    worker = _role_policy(plan, naming.role_name(team.team, "dask-worker"))["Statement"]
    statements = _role_policy(plan, name)["Statement"]
    catalog = {f"arn:aws:s3:::{b}" for b in plan.outputs["catalogBuckets"].values()}
    s3 = [st for st in statements if any(a.startswith("s3:") for a in as_list(st["Action"]))]
    assert {r.removesuffix("/*") for st in s3 for r in as_list(st["Resource"])} == catalog
    # The worker pod's data access, statement for statement (S3 and the team key through S3).
    assert [st for st in statements if not st["Sid"].endswith(("Registry", "Images"))] == worker
    ecr = {a: as_list(st["Resource"]) for st in statements for a in as_list(st["Action"]) if a.startswith("ecr:")}
    repository = f"arn:aws:ecr:{team.region}:{plan.outputs['accountId']}:repository/{naming.repository_name(team.team)}"
    assert ecr.pop("ecr:GetAuthorizationToken") == ["*"]  # the bootstrap's `aws ecr get-login-password`
    assert ecr and all(a.startswith(("ecr:BatchGet", "ecr:GetDownload", "ecr:BatchCheck", "ecr:Describe")) for a in ecr)
    assert all(resources == [repository] for resources in ecr.values())


def test_data_scientists_start_dask_vms_only_in_team_subnets_with_the_dask_group_and_team_tags(
    plan: Plan, team: TeamConfig
) -> None:
    account, region = plan.outputs["accountId"], team.region
    ec2 = f"arn:aws:ec2:{region}:{account}"
    statements = _role_policy(plan, naming.role_name(team.team, "data-scientist"))["Statement"]

    def granting(action: str) -> list[dict[str, Any]]:
        return [st for st in statements if action in as_list(st["Action"])]

    run = granting("ec2:RunInstances")
    assert all(as_list(st["Action"]) == ["ec2:RunInstances"] for st in run)
    # Network resources: exactly the team's private subnets and its Dask security group, no other subnet or group.
    network = [r for st in run for r in as_list(st["Resource"]) if ":subnet/" in r or ":security-group/" in r]
    assert sorted(network) == sorted(
        [f"{ec2}:subnet/{s}" for s in plan.outputs["privateSubnetIds"]]
        + [f"{ec2}:security-group/{plan.outputs['securityGroupIds']['dask']}"]
    )
    assert not any("*" in r for r in network)
    # What RunInstances creates must carry team=<team> in the request; instances IMDSv2, volumes encrypted.
    created = {r: st for st in run for r in as_list(st["Resource"]) if r.split(":")[-1].split("/")[0] in EC2_LAUNCHED}
    assert set(created) == {f"{ec2}:{kind}/*" for kind in EC2_LAUNCHED}
    for statement in created.values():
        assert statement["Condition"]["StringEquals"]["aws:RequestTag/team"] == team.team
    assert created[f"{ec2}:instance/*"]["Condition"]["StringEquals"]["ec2:MetadataHttpTokens"] == "required"
    assert created[f"{ec2}:volume/*"]["Condition"]["Bool"] == {"ec2:Encrypted": "true"}
    # Tags only at launch, or EC2Cluster's Name / "Dask Cluster" on team instances (never the team tag itself).
    for statement in granting("ec2:CreateTags"):
        condition = statement["Condition"]
        if "ec2:CreateAction" in condition.get("StringEquals", {}):
            assert condition == {"StringEquals": {"ec2:CreateAction": "RunInstances"}}
        else:
            assert condition["StringEquals"] == {"aws:ResourceTag/team": team.team}
            assert "team" not in condition["ForAllValues:StringEquals"]["aws:TagKeys"]
            assert as_list(statement["Resource"]) == [f"{ec2}:instance/*"]
    (terminate,) = granting("ec2:TerminateInstances")
    assert terminate["Resource"] == [f"{ec2}:instance/*"]
    assert terminate["Condition"] == {"StringEquals": {"aws:ResourceTag/team": team.team}}
    assert not granting("ec2:StopInstances")  # EC2Cluster never stops, it terminates
    (pass_role,) = [st for st in statements if any(a.startswith("iam:") for a in as_list(st["Action"]))]
    assert as_list(pass_role["Action"]) == ["iam:PassRole"]
    assert pass_role["Resource"] == [plan.outputs["roleArns"]["daskVm"]]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    # An inline role policy holds at most 10,240 characters (IAM counts them without whitespace).
    document = only(plan, "aws:iam/rolePolicy:RolePolicy", "-data-scientist").inputs["policy"]
    assert len("".join(document.split())) <= 10240


def test_the_client_default_ami_parameter_is_the_one_data_scientists_may_read() -> None:
    from teamstack.client import clusters

    assert clusters.UBUNTU_AMI_PARAMETER == UBUNTU_AMI_PARAMETER


# --- tags, budget, outputs ---------------------------------------------------------------------------------


def _accepts_tags(type_token: str) -> bool:
    _, module_and_type = type_token.split(":", 1)
    module, class_name = module_and_type.split(":")
    module_name = module.split("/")[0]
    python_module = importlib.import_module("pulumi_aws" if module_name == "index" else f"pulumi_aws.{module_name}")
    resource_class = getattr(python_module, class_name)
    return "tags" in inspect.signature(resource_class._internal_init).parameters


def test_every_taggable_resource_carries_team_cost_center_owner_and_managed_by(plan: Plan, team: TeamConfig) -> None:
    checked = 0
    for resource in plan.resources:
        # Kubernetes objects carry labels instead (tests/test_k8s_plan.py).
        if not resource.custom or not resource.type.startswith("aws:") or not _accepts_tags(resource.type):
            continue
        tags = resource.inputs.get("tags") or {}
        for key in REQUIRED_TAGS:
            assert tags.get(key) == team.tags_for_resources[key], f"{resource.type} {resource.name}: tag {key}"
        checked += 1
    assert checked > 50


def test_budget_alerts_the_configured_addresses_on_team_costs(plan: Plan, team: TeamConfig) -> None:
    budget = only(plan, "aws:budgets/budget:Budget").inputs
    assert float(budget["limitAmount"]) == team.budget.monthly_limit_usd and budget["timeUnit"] == "MONTHLY"
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:team${team.team}"]}]
    for notification in budget["notifications"]:
        assert notification["subscriberEmailAddresses"] == team.budget.alert_emails


EXPECTED_OUTPUTS = {
    "cloud",
    "team",
    "region",
    "accountId",
    "vpcId",
    "privateSubnetIds",
    "publicSubnetIds",
    "securityGroupIds",
    "clusterName",
    "clusterEndpoint",
    "kubernetesVersion",
    "namespace",
    "nodeGroups",
    "roleArns",
    "registryUri",
    "buildBucket",
    "buildProject",
    "catalogBuckets",
    "kmsKeyArn",
    "daskVmInstanceProfileArn",
    "manifestParameter",
    "manifest",
}


def test_outputs_give_a_dask_client_everything_and_reference_planned_resources(plan: Plan, team: TeamConfig) -> None:
    outputs = plan.outputs
    assert set(outputs) == EXPECTED_OUTPUTS
    assert all(outputs[k] not in (None, "", [], {}) for k in EXPECTED_OUTPUTS)
    ids = {r.id for r in plan.resources if r.id}
    assert outputs["vpcId"] in ids and set(outputs["privateSubnetIds"]) <= ids
    # The cluster security group is made by EKS itself; the others are the stack's.
    assert {outputs["securityGroupIds"]["dask"], outputs["securityGroupIds"]["endpoints"]} <= ids
    assert outputs["region"] == team.region and outputs["clusterName"] == team.team
    assert set(outputs["nodeGroups"]) == {"system", *(g.name for g in team.node_groups)}
    assert set(outputs["roleArns"]) == {
        "cluster",
        "node",
        "daskScheduler",
        "daskWorker",
        "imageBuilder",
        "dataScientist",
        "daskVm",
    }


def test_the_stack_writes_a_complete_versioned_manifest_where_boto3_can_read_it(plan: Plan, team: TeamConfig) -> None:
    parameter = only(plan, "aws:ssm/parameter:Parameter")
    assert parameter.inputs["name"] == naming.manifest_parameter(team.team) == plan.outputs["manifestParameter"]
    assert parameter.inputs["type"] == "String"
    written = json.loads(parameter.inputs["insecureValue"])
    assert written == plan.outputs["manifest"]
    manifest = TeamManifest.model_validate(written)  # every field present, with the right types
    assert manifest.schema_version == naming.MANIFEST_SCHEMA_VERSION
    assert manifest.team == team.team and manifest.region == team.region
    assert manifest.network.private_subnet_ids == plan.outputs["privateSubnetIds"]
    assert manifest.registry.repository_uri == plan.outputs["registryUri"]
    assert [b.name for b in manifest.catalog] == [b.name for b in team.catalog_buckets]
    gpu = [g for g in manifest.node_groups if g.kind == "gpu"]
    assert all(g.gpus_per_node >= 1 and g.min_size == 0 for g in gpu)
    size = len(parameter.inputs["insecureValue"].encode())
    assert parameter.inputs["tier"] == ("Standard" if size <= 4096 else "Advanced")
