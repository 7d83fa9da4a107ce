"""Properties of every shipped GCP stack's offline plan: the real program, run under the GCP provider mocks.

What is asserted is what `pulumi up` would ask Google Cloud for: the resources as the engine receives them
(type token, camelCase inputs, options). AWS stacks: tests/test_stack_plan.py.
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import re

import pulumi_gcp as gcp
import pytest
import yaml
from conftest import GCP_STACKS, ROOT

from components.gcp.buckets import USAGE_LOG_WRITER
from components.gcp.iam import PRIMITIVE_ROLES
from components.gcp.kms import service_agents
from components.gcp.pipeline import SPEC_KEY_PATTERN
from teamstack import gcp_machines, naming
from teamstack.config import TeamConfig, load_team
from teamstack.envhash import image_tag, spec_key
from teamstack.manifest import GcpIdentity, GcpNetwork, TeamManifest
from teamstack.plan.gcp_mocks import project_number
from teamstack.plan.runner import Plan, PlannedResource, plan_stack
from teamstack.stackfiles import load_project, stack_config

OPEN_WORLD = {"0.0.0.0/0", "::/0"}
REQUIRED_LABELS = ("team", "cost-center", "managed-by")
GCP_BASE = "ml-geo"
# Every labelable type the stacks create, and the input that holds its labels.
LABELS_INPUT = {
    "gcp:container/cluster:Cluster": "resourceLabels",
    "gcp:storage/bucket:Bucket": "labels",
    "gcp:kms/cryptoKey:CryptoKey": "labels",
    "gcp:artifactregistry/repository:Repository": "labels",
    "gcp:pubsub/topic:Topic": "labels",
    "gcp:monitoring/notificationChannel:NotificationChannel": "userLabels",
}
MEMBER_TYPES = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
    "gcp:pubsub/topicIAMMember:TopicIAMMember",
)


@pytest.fixture(params=GCP_STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    """Every GCP stack file in stacks/ (overrides the conftest fixture for the `plan` and `team` fixtures)."""
    return str(request.param)


def test_a_gcp_stack_is_shipped() -> None:
    # Guards the parametrisation: without a GCP stack every test below would silently not run.
    assert GCP_STACKS


def only(plan: Plan, type_token: str, name_part: str = "") -> PlannedResource:
    matches = [r for r in plan.of_type(type_token) if name_part in r.name]
    assert len(matches) == 1, f"expected one {type_token} named *{name_part}*, got {[r.name for r in matches]}"
    return matches[0]


def pools(plan: Plan) -> dict[str, PlannedResource]:
    return {p.inputs["name"]: p for p in plan.of_type("gcp:container/nodePool:NodePool")}


def key_id(plan: Plan) -> str:
    key = only(plan, "gcp:kms/cryptoKey:CryptoKey")
    assert key.id is not None
    return key.id


# --- network --------------------------------------------------------------------------------------------


def test_custom_vpc_with_pod_and_service_ranges_private_google_access_and_flow_logs(
    plan: Plan, team: TeamConfig
) -> None:
    network = only(plan, "gcp:compute/network:Network")
    assert network.inputs["autoCreateSubnetworks"] is False
    subnet = only(plan, "gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["network"] == network.id
    assert subnet.inputs["region"] == team.region
    assert subnet.inputs["ipCidrRange"] == team.vpc_cidr
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnet.inputs["secondaryIpRanges"]}
    assert ranges == {"pods": team.pod_cidr, "services": team.service_cidr}
    networks = [ipaddress.ip_network(c) for c in (team.vpc_cidr, *ranges.values())]
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
    assert subnet.inputs["privateIpGoogleAccess"] is True
    assert subnet.inputs["logConfig"]["metadata"] == "INCLUDE_ALL_METADATA"
    assert 0 < subnet.inputs["logConfig"]["flowSampling"] <= 1


def test_cloud_nat_follows_the_mode(plan: Plan, team: TeamConfig) -> None:
    routers = plan.of_type("gcp:compute/router:Router")
    nats = plan.of_type("gcp:compute/routerNat:RouterNat")
    expected = 0 if team.nat_mode == "none" else 1
    assert len(routers) == len(nats) == expected
    for nat in nats:
        assert routers[0].id and nat.inputs["router"] == routers[0].id.rsplit("/", 1)[-1]
        assert nat.inputs["region"] == team.region
        assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
        assert nat.inputs["logConfig"]["enable"] is True


def test_no_firewall_allows_ingress_from_the_internet(plan: Plan) -> None:
    firewalls = plan.of_type("gcp:compute/firewall:Firewall")
    assert firewalls
    network = only(plan, "gcp:compute/network:Network")
    for rule in firewalls:
        assert rule.inputs["network"] == network.id
        assert rule.inputs["logConfig"]["metadata"] == "INCLUDE_ALL_METADATA", rule.name
        if rule.inputs.get("allows"):
            assert rule.inputs["direction"] == "INGRESS"
            assert not OPEN_WORLD & set(rule.inputs["sourceRanges"]), rule.name
            for source in rule.inputs["sourceRanges"]:
                assert ipaddress.ip_network(source).prefixlen >= 8, rule.name
    # What is not allowed is dropped by an explicit, logged deny of everything.
    (deny,) = [r for r in firewalls if r.inputs.get("denies")]
    assert deny.inputs["denies"] == [{"protocol": "all"}] and deny.inputs["sourceRanges"] == ["0.0.0.0/0"]
    assert deny.inputs["priority"] > max(r.inputs["priority"] for r in firewalls if r.inputs.get("allows"))


def test_admin_ssh_only_through_iap_and_dask_ports_only_from_inside(plan: Plan, team: TeamConfig) -> None:
    rules = {r.name.rsplit("-net-", 1)[-1]: r for r in plan.of_type("gcp:compute/firewall:Firewall")}
    ssh = rules["allow-iap-ssh"].inputs
    assert ssh["sourceRanges"] == ["35.235.240.0/20"]
    assert ssh["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    assert ssh["targetServiceAccounts"] == [plan.outputs["serviceAccounts"]["node"]]
    dask = rules["allow-dask-internal"].inputs
    assert set(dask["sourceRanges"]) == {team.vpc_cidr, team.pod_cidr}


# --- cluster ---------------------------------------------------------------------------------------------


def test_cluster_is_private_with_authorized_networks_never_open(plan: Plan, team: TeamConfig) -> None:
    cluster = only(plan, "gcp:container/cluster:Cluster").inputs
    private = cluster["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True
    assert private["enablePrivateEndpoint"] is (not team.api_access_cidrs)
    authorized = cluster["masterAuthorizedNetworksConfig"]
    assert [b["cidrBlock"] for b in authorized.get("cidrBlocks", [])] == team.api_access_cidrs
    assert not OPEN_WORLD & {b["cidrBlock"] for b in authorized.get("cidrBlocks", [])}
    assert authorized["gcpPublicCidrsAccessEnabled"] is False
    assert cluster["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False
    assert cluster["enableLegacyAbac"] is False
    # Kubernetes RBAC of the team namespace names Google groups: GKE resolves them through the security group.
    assert cluster["authenticatorGroupsConfig"] == {"securityGroup": team.gke_security_group}


def test_cluster_location_zones_network_and_release_channel(plan: Plan, team: TeamConfig) -> None:
    cluster = only(plan, "gcp:container/cluster:Cluster").inputs
    expected_location = team.region if team.cluster_location == "regional" else team.gcp_zones[0]
    assert cluster["location"] == expected_location == plan.outputs["clusterLocation"]
    assert cluster["nodeLocations"] == list(team.gcp_zones)
    assert all(zone in gcp_machines.region_zones(team.region) for zone in cluster["nodeLocations"])
    assert cluster["network"] == only(plan, "gcp:compute/network:Network").id
    assert cluster["subnetwork"] == only(plan, "gcp:compute/subnetwork:Subnetwork").id
    assert cluster["networkingMode"] == "VPC_NATIVE"
    assert cluster["ipAllocationPolicy"] == {
        "clusterSecondaryRangeName": "pods",
        "servicesSecondaryRangeName": "services",
    }
    assert cluster["releaseChannel"] == {"channel": team.release_channel.upper()}
    assert cluster["minMasterVersion"] == team.kubernetes_version


def test_cluster_has_workload_identity_shielded_nodes_cmek_secrets_and_logging(plan: Plan, team: TeamConfig) -> None:
    cluster = only(plan, "gcp:container/cluster:Cluster").inputs
    assert cluster["workloadIdentityConfig"] == {"workloadPool": f"{team.project}.svc.id.goog"}
    assert cluster["enableShieldedNodes"] is True
    assert cluster["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key_id(plan)}
    assert {"SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER"} <= set(cluster["loggingConfig"]["enableComponents"])
    assert "SYSTEM_COMPONENTS" in cluster["monitoringConfig"]["enableComponents"]
    assert cluster["monitoringConfig"]["managedPrometheus"]["enabled"] is True
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"  # Kubernetes network policies are enforced


def test_default_node_pool_is_removed_and_never_runs_as_the_default_compute_account(plan: Plan) -> None:
    cluster = only(plan, "gcp:container/cluster:Cluster").inputs
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["nodeConfig"]["serviceAccount"] == plan.outputs["serviceAccounts"]["node"]
    assert "compute@developer" not in json.dumps(plan.to_json())


def test_key_is_protected_rotated_and_usable_by_exactly_the_service_agents(plan: Plan) -> None:
    key = only(plan, "gcp:kms/cryptoKey:CryptoKey")
    ring = only(plan, "gcp:kms/keyRing:KeyRing")
    assert key.protect and key.retain_on_delete and ring.protect and ring.retain_on_delete
    assert key.inputs["keyRing"] == ring.id
    assert int(key.inputs["rotationPeriod"].removesuffix("s")) <= 90 * 86400
    grants = plan.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    number = plan.outputs["projectNumber"]
    assert number == project_number(plan.outputs["projectId"])
    assert {g.inputs["member"] for g in grants} == {f"serviceAccount:{e}" for e in service_agents(number).values()}
    assert {g.inputs["role"] for g in grants} == {"roles/cloudkms.cryptoKeyEncrypterDecrypter"}
    assert {g.inputs["cryptoKeyId"] for g in grants} == {key.id}
    # Agents Google creates lazily are asked for first, so the grants never name a missing account.
    (identity,) = plan.of_type("gcp:projects/serviceIdentity:ServiceIdentity")
    assert identity.inputs["service"] == "artifactregistry.googleapis.com"


# --- node pools ------------------------------------------------------------------------------------------


def test_node_pools_match_the_config_with_a_tainted_system_pool(plan: Plan, team: TeamConfig) -> None:
    by_name = pools(plan)
    assert set(by_name) == {"system", *(g.name for g in team.node_groups)}
    system = by_name["system"].inputs
    assert system["autoscaling"]["totalMinNodeCount"] >= 1 and system["nodeConfig"]["spot"] is False
    assert system["nodeConfig"]["machineType"] == team.system_machine_type
    assert system["nodeConfig"]["taints"] == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    # A regional pool starts with initialNodeCount nodes in every zone it spans: the system pool spans as many
    # zones as it has nodes at its minimum, so one node (or two for highAvailability) is what it starts with.
    system_min = team.system_node_group.min_size
    assert system["nodeLocations"] == list(team.gcp_zones[: max(1, system_min)])
    assert system["initialNodeCount"] * len(system["nodeLocations"]) == system_min
    assert team.system_node_group.high_availability == (len(system["nodeLocations"]) >= 2)
    cluster = only(plan, "gcp:container/cluster:Cluster")
    for config in team.node_groups:
        inputs = by_name[config.name].inputs
        assert inputs["cluster"] == cluster.inputs["name"] and inputs["location"] == cluster.inputs["location"]
        assert inputs["autoscaling"]["totalMinNodeCount"] == config.min_size
        assert inputs["autoscaling"]["totalMaxNodeCount"] == config.max_size
        node = inputs["nodeConfig"]
        assert node["machineType"] == config.machine_type
        assert node["spot"] is (config.capacity == "spot")
        assert node["diskSizeGb"] == config.disk_size_gib
        assert config.labels.items() <= node["labels"].items()
        assert inputs["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_every_node_is_shielded_uses_the_gke_metadata_server_and_a_cmek_boot_disk(plan: Plan) -> None:
    node_sa = plan.outputs["serviceAccounts"]["node"]
    for pool in plan.of_type("gcp:container/nodePool:NodePool"):
        node = pool.inputs["nodeConfig"]
        assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node["serviceAccount"] == node_sa
        assert node["bootDiskKmsKey"] == key_id(plan)
        assert node["metadata"]["disable-legacy-endpoints"] == "true"


def test_gpu_pools_scale_from_zero_with_accelerators_managed_drivers_and_the_gpu_taint(
    plan: Plan, team: TeamConfig
) -> None:
    by_name = pools(plan)
    gpu_configs = [g for g in team.node_groups if g.kind == "gpu"]
    assert gpu_configs, "a GCP stack without GPU pools would leave this untested"
    for config in gpu_configs:
        assert config.machine_type is not None
        expected = gcp_machines.check_gpu_pool(config.machine_type, config.gpu_type, config.gpu_count)
        inputs = by_name[config.name].inputs
        assert inputs["autoscaling"]["totalMinNodeCount"] == 0 and inputs["initialNodeCount"] == 0
        node = inputs["nodeConfig"]
        (accelerator,) = node["guestAccelerators"]
        assert accelerator["type"] == expected.type and accelerator["count"] == expected.count
        assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] in ("LATEST", "DEFAULT")
        assert node["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
        assert node["labels"]["teamstack.io/node-kind"] == "gpu"
        assert node["labels"]["teamstack.io/gpu-type"] == expected.type
    for name, pool in by_name.items():
        if name == "system" or next(g for g in team.node_groups if g.name == name).kind == "cpu":
            assert not pool.inputs["nodeConfig"].get("guestAccelerators")
            assert all(t["key"] != "nvidia.com/gpu" for t in pool.inputs["nodeConfig"].get("taints", []))


# --- IAM -------------------------------------------------------------------------------------------------


def test_no_primitive_role_anywhere(plan: Plan) -> None:
    roles = [r.inputs["role"] for t in MEMBER_TYPES for r in plan.of_type(t)]
    assert roles and not PRIMITIVE_ROLES & set(roles)
    # Nor any authoritative binding/policy that could replace what others granted.
    assert not [
        r.type for r in plan.resources if r.type.endswith(("IAMBinding", "IAMPolicy", "IamBinding", "IamPolicy"))
    ]


def test_project_level_roles_are_only_the_gke_and_cloud_build_ones(plan: Plan, team: TeamConfig) -> None:
    accounts = plan.outputs["serviceAccounts"]
    granted = {(r.inputs["role"], r.inputs["member"]) for r in plan.of_type("gcp:projects/iAMMember:IAMMember")}
    expected = {
        ("roles/container.defaultNodeServiceAccount", f"serviceAccount:{accounts['node']}"),
        ("roles/logging.logWriter", f"serviceAccount:{accounts['imageBuilder']}"),
        *(("roles/container.admin", admin) for admin in team.admins),
        *(("roles/container.clusterViewer", m) for m in team.data_scientist_members),
        *(("roles/cloudbuild.builds.viewer", m) for m in team.data_scientist_members),
    }
    assert granted == expected
    assert {r.inputs["project"] for r in plan.of_type("gcp:projects/iAMMember:IAMMember")} == {team.project}


def test_data_access_is_granted_on_the_teams_own_buckets_and_repository_only(plan: Plan, team: TeamConfig) -> None:
    own_buckets = {b.inputs["name"] for b in plan.of_type("gcp:storage/bucket:Bucket")}
    accounts = {k: f"serviceAccount:{v}" for k, v in plan.outputs["serviceAccounts"].items()}
    by_bucket: dict[str, set[tuple[str, str]]] = {}
    for grant in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember"):
        assert grant.inputs["bucket"] in own_buckets
        by_bucket.setdefault(grant.inputs["bucket"], set()).add((grant.inputs["role"], grant.inputs["member"]))
    for name in plan.outputs["catalogBuckets"].values():
        assert by_bucket[name] == {
            ("roles/storage.objectViewer", accounts["daskScheduler"]),
            ("roles/storage.objectUser", accounts["daskWorker"]),
            *(("roles/storage.objectUser", m) for m in team.data_scientist_members),
        }
    repository = only(plan, "gcp:artifactregistry/repository:Repository", "-repository")
    upstream = only(plan, "gcp:artifactregistry/repository:Repository", "-ecr-public")
    ghcr = only(plan, "gcp:artifactregistry/repository:Repository", "-ghcr")
    all_grants = plan.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    repo_grants = [g for g in all_grants if g.inputs["repository"] == repository.inputs["repositoryId"]]
    base_grants = [g for g in all_grants if g.inputs["repository"] == upstream.inputs["repositoryId"]]
    ghcr_grants = [g for g in all_grants if g.inputs["repository"] == ghcr.inputs["repositoryId"]]
    assert len(repo_grants) + len(base_grants) + len(ghcr_grants) == len(all_grants)
    # Only the image builder pulls base images through the ECR Public mirror, and only reads it.
    assert {(g.inputs["role"], g.inputs["member"]) for g in base_grants} == {
        ("roles/artifactregistry.reader", accounts["imageBuilder"])
    }
    # Only the nodes (kubelet, pulling the operator) read the ghcr.io mirror: a Dask pod gets nothing more.
    assert {(g.inputs["role"], g.inputs["member"]) for g in ghcr_grants} == {
        ("roles/artifactregistry.reader", accounts["node"])
    }
    writers = {g.inputs["member"] for g in repo_grants if g.inputs["role"] == "roles/artifactregistry.writer"}
    assert writers == {accounts["imageBuilder"]}
    readers = {g.inputs["member"] for g in repo_grants if g.inputs["role"] == "roles/artifactregistry.reader"}
    assert {accounts["node"], accounts["daskWorker"], *team.data_scientist_members} <= readers


def test_dask_service_accounts_are_bound_through_workload_identity(plan: Plan, team: TeamConfig) -> None:
    bindings = plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    accounts = {a.inputs["accountId"]: a for a in plan.of_type("gcp:serviceaccount/account:Account")}
    namespaces = [team.team_namespace, *team.kubernetes.extra_namespaces]
    seen = set()
    for binding in bindings:
        assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
        member = binding.inputs["member"]
        assert member.startswith(f"serviceAccount:{team.project}.svc.id.goog[")
        namespace, ksa = member.split("[", 1)[1].rstrip("]").split("/")
        gsa = accounts[naming.gcp_service_account_id(team.team, ksa)]
        assert binding.inputs["serviceAccountId"] == gsa.id
        seen.add((namespace, ksa))
    # Every team namespace's Dask pods get their identity, and no other namespace's do.
    dask = (naming.DASK_SCHEDULER_SERVICE_ACCOUNT, naming.DASK_WORKER_SERVICE_ACCOUNT)
    assert seen == {(namespace, ksa) for namespace in namespaces for ksa in dask}
    for account_id in accounts:
        assert 6 <= len(account_id) <= 30 and account_id.startswith(team.team)


# --- buckets, registry, pipeline ---------------------------------------------------------------------------


def test_every_bucket_is_private_versioned_cmek_logged_and_expires_old_versions(plan: Plan) -> None:
    access_logs = plan.outputs["accessLogBucket"]
    writers = [
        (g.inputs["role"], g.inputs["member"])
        for g in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if g.inputs["bucket"] == access_logs
    ]
    assert writers == [("roles/storage.objectCreator", USAGE_LOG_WRITER)]
    for bucket in plan.of_type("gcp:storage/bucket:Bucket"):
        inputs = bucket.inputs
        if inputs["name"] == access_logs:
            assert "logging" not in inputs and bucket.protect and bucket.retain_on_delete
        else:
            assert inputs["logging"] == {"logBucket": access_logs, "logObjectPrefix": inputs["name"]}
        assert inputs["uniformBucketLevelAccess"] is True
        assert inputs["publicAccessPrevention"] == "enforced"
        assert inputs["versioning"] == {"enabled": True}
        assert inputs["encryption"]["defaultKmsKeyName"] == key_id(plan)
        assert inputs["forceDestroy"] is False
        noncurrent = [r for r in inputs["lifecycleRules"] if "daysSinceNoncurrentTime" in r["condition"]]
        assert noncurrent and noncurrent[0]["action"] == {"type": "Delete"}
        assert len(inputs["name"]) <= 63


def test_catalog_buckets_are_protected_kept_and_named_per_team(plan: Plan, team: TeamConfig) -> None:
    outputs = plan.outputs["catalogBuckets"]
    assert set(outputs) == {b.name for b in team.catalog_buckets}
    for config in team.catalog_buckets:
        name = outputs[config.name]
        assert name == naming.gcp_bucket_name(team.team, config.name, str(team.project))
        bucket = next(b for b in plan.of_type("gcp:storage/bucket:Bucket") if b.inputs["name"] == name)
        assert bucket.protect and bucket.retain_on_delete, name
        (rule,) = [r for r in bucket.inputs["lifecycleRules"] if "daysSinceNoncurrentTime" in r["condition"]]
        assert rule["condition"]["daysSinceNoncurrentTime"] == config.noncurrent_version_days
    build = next(
        b for b in plan.of_type("gcp:storage/bucket:Bucket") if b.inputs["name"] == plan.outputs["buildBucket"]
    )
    assert build.inputs["name"] == naming.gcp_bucket_name(team.team, "envs", str(team.project))


def test_registry_is_immutable_cmek_and_cleaned_up(plan: Plan, team: TeamConfig) -> None:
    repository = only(plan, "gcp:artifactregistry/repository:Repository", "-repository").inputs
    assert repository["format"] == "DOCKER"
    assert repository["repositoryId"] == naming.gcp_repository_id(team.team)
    assert repository["dockerConfig"] == {"immutableTags": True}
    assert repository["kmsKeyName"] == key_id(plan)
    assert repository["cleanupPolicyDryRun"] is False
    policies = {p["id"]: p for p in repository["cleanupPolicies"]}
    assert policies["delete-untagged"]["condition"]["tagState"] == "UNTAGGED"
    assert policies["delete-untagged"]["condition"]["olderThan"] == f"{team.registry.untagged_expiry_days * 86400}s"
    assert policies["keep-newest"]["action"] == "KEEP"
    assert policies["keep-newest"]["mostRecentVersions"]["keepCount"] == team.registry.keep_last_images
    assert plan.outputs["registryUri"] == (
        f"{team.region}-docker.pkg.dev/{team.project}/{naming.gcp_repository_id(team.team)}/{naming.GCP_IMAGE_NAME}"
    )


def test_builds_pull_their_bases_through_a_remote_repository_of_ecr_public(plan: Plan, team: TeamConfig) -> None:
    upstream = only(plan, "gcp:artifactregistry/repository:Repository", "-ecr-public").inputs
    assert upstream["mode"] == "REMOTE_REPOSITORY" and upstream["format"] == "DOCKER"
    assert upstream["remoteRepositoryConfig"]["dockerRepository"] == {"customRepository": {"uri": "https://public.ecr.aws"}}
    assert upstream["kmsKeyName"] == key_id(plan)
    substitutions = only(plan, "gcp:cloudbuild/trigger:Trigger").inputs["substitutions"]
    registry_id = naming.gcp_repository_id(team.team)
    assert substitutions["_BASE_REGISTRY"] == f"{team.region}-docker.pkg.dev/{team.project}/{registry_id}-ecr-public"
    assert substitutions["_CACHE_REPOSITORY"] == f"{plan.outputs['registryUri']}-cache"


def test_a_spec_landing_in_the_build_bucket_triggers_cloud_build(plan: Plan, team: TeamConfig) -> None:
    build_bucket = plan.outputs["buildBucket"]
    topic = only(plan, "gcp:pubsub/topic:Topic")
    notification = only(plan, "gcp:storage/notification:Notification").inputs
    assert notification["bucket"] == build_bucket and notification["topic"] == topic.id
    assert notification["eventTypes"] == ["OBJECT_FINALIZE"] and notification["objectNamePrefix"] == "specs/"
    publisher = only(plan, "gcp:pubsub/topicIAMMember:TopicIAMMember").inputs
    assert publisher["role"] == "roles/pubsub.publisher"
    assert publisher["member"] == f"serviceAccount:{service_agents(plan.outputs['projectNumber'])['gcs']}"

    trigger = only(plan, "gcp:cloudbuild/trigger:Trigger").inputs
    assert trigger["pubsubConfig"]["topic"] == topic.id
    assert trigger["serviceAccount"].endswith(f"/serviceAccounts/{plan.outputs['serviceAccounts']['imageBuilder']}")
    substitutions = trigger["substitutions"]
    assert substitutions["_SPEC_KEY"] == "$(body.message.attributes.objectId)"
    assert substitutions["_BUILD_BUCKET"] == build_bucket
    assert substitutions["_REPOSITORY_URI"] == plan.outputs["registryUri"]
    assert substitutions["_RECIPE_HASH"] == plan.outputs["manifest"]["build"]["recipeHash"]
    # The filter's CEL string literal, unescaped, is exactly the pattern the build's key check accepts.
    cel = re.fullmatch(r'_EVENT_TYPE == "OBJECT_FINALIZE" && _SPEC_KEY\.matches\("(.*)"\)', trigger["filter"])
    assert cel is not None and cel.group(1).replace("\\\\", "\\") == SPEC_KEY_PATTERN
    # The build is exactly images/cloudbuild.yaml, with images/ (zipped in the build bucket) as its source.
    document = yaml.safe_load((ROOT / "images" / "cloudbuild.yaml").read_text(encoding="utf-8"))
    steps = trigger["build"]["steps"]
    assert [(s["id"], s["name"], s["script"], s.get("envs", [])) for s in steps] == [
        (s["id"], s["name"], s["script"], s.get("env", [])) for s in document["steps"]
    ]
    assert trigger["build"]["timeout"] == document["timeout"]
    assert trigger["build"]["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    recipe = only(plan, "gcp:storage/bucketObject:BucketObject", "-recipe")
    assert recipe.inputs["source"] == {"archive": "images"} and recipe.inputs["bucket"] == build_bucket
    assert trigger["build"]["source"]["storageSource"] == {"bucket": build_bucket, "object": recipe.inputs["name"]}
    assert recipe.inputs["name"].endswith(f"{substitutions['_RECIPE_HASH']}.zip")


def test_the_trigger_filter_admits_exactly_the_spec_keys_a_build_accepts() -> None:
    good = spec_key("gpu", image_tag("0123456789abcdef", "gpu", b"torch\n"), "requirements.txt")
    assert re.match(SPEC_KEY_PATTERN, good)
    for bad in ("specs/gpu/x/requirements.txt", f"{good}.bak", "teamstack/manifest.json", "recipes/images-1.zip"):
        assert not re.match(SPEC_KEY_PATTERN, bad), bad


# --- budget, labels, outputs, manifest ---------------------------------------------------------------------


def test_budget_covers_the_team_with_actual_and_forecast_alerts(plan: Plan, team: TeamConfig) -> None:
    budget = only(plan, "gcp:billing/budget:Budget").inputs
    assert budget["billingAccount"] == team.budget.billing_account
    assert budget["budgetFilter"]["projects"] == [f"projects/{plan.outputs['projectNumber']}"]
    assert budget["budgetFilter"]["labels"] == {"team": team.team}
    amount = budget["amount"]["specifiedAmount"]
    assert amount["currencyCode"] == "USD"
    assert int(amount["units"]) + amount.get("nanos", 0) / 1e9 == pytest.approx(team.budget.monthly_limit_usd)
    rules = {(r["spendBasis"], r["thresholdPercent"]) for r in budget["thresholdRules"]}
    assert rules == {("CURRENT_SPEND", team.budget.actual_alert_percent / 100), ("FORECASTED_SPEND", 1)}
    channels = plan.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert sorted(c.inputs["labels"]["email_address"] for c in channels) == sorted(team.budget.alert_emails)
    assert sorted(budget["allUpdatesRule"]["monitoringNotificationChannels"]) == sorted(c.id for c in channels)


def test_every_labelable_resource_carries_the_team_labels(plan: Plan, team: TeamConfig) -> None:
    checked = 0
    for type_token, key in LABELS_INPUT.items():
        for resource in plan.of_type(type_token):
            labels = resource.inputs[key]
            for required in REQUIRED_LABELS:
                assert labels.get(required) == team.labels_for_resources[required], (resource.name, required)
            for label, value in labels.items():
                assert len(label) <= 63 and len(value) <= 63 and label == label.lower() and value == value.lower()
                assert set(label + value) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-"), (resource.name, label)
            checked += 1
    for pool in plan.of_type("gcp:container/nodePool:NodePool"):
        assert team.labels_for_resources.items() <= pool.inputs["nodeConfig"]["resourceLabels"].items()
        checked += 1
    assert checked >= len(plan.of_type("gcp:storage/bucket:Bucket")) + 4
    # A labelable type the table doesn't know would escape this test: ask the SDK which types take labels.
    for type_token in {r.type for r in plan.resources if r.custom and r.type.startswith("gcp:")}:
        module, _, class_name = type_token.split(":", 1)[1].partition("/")
        resource_class = getattr(getattr(gcp, module), class_name.rsplit(":", 1)[-1])
        takes = set(inspect.signature(resource_class._internal_init).parameters)
        # A notification channel's `labels` are its settings (the email address); `user_labels` are labels.
        label_params = {"resource_labels", "user_labels"} if "user_labels" in takes else {"resource_labels", "labels"}
        if takes & label_params:
            assert type_token in LABELS_INPUT, f"{type_token} takes labels; add it to LABELS_INPUT"


def test_outputs_and_manifest_describe_the_stack(plan: Plan, team: TeamConfig) -> None:
    outputs = plan.outputs
    assert outputs["cloud"] == "gcp" and outputs["projectId"] == team.project and outputs["region"] == team.region
    for key in (
        "network",
        "subnetwork",
        "clusterName",
        "clusterEndpoint",
        "registryUri",
        "buildBucket",
        "buildTrigger",
        "kmsKeyId",
        "manifestUrl",
        "nodePools",
        "serviceAccounts",
        "catalogBuckets",
    ):
        assert outputs[key], key
    assert outputs["manifestUrl"] == naming.gcp_manifest_url(team.team, str(team.project))

    manifest = TeamManifest.model_validate(outputs["manifest"])
    assert manifest.cloud == "gcp" and manifest.account == team.project and manifest.team == team.team
    assert isinstance(manifest.network, GcpNetwork) and isinstance(manifest.identity, GcpIdentity)
    assert manifest.network.zones == list(team.gcp_zones)
    assert manifest.cluster.name == outputs["clusterName"]
    assert manifest.cluster.endpoint == f"https://{outputs['clusterEndpoint']}"
    assert manifest.registry.repository_uri == outputs["registryUri"]
    assert manifest.build.bucket == outputs["buildBucket"] and manifest.build.project == outputs["buildTrigger"]
    assert {c.name: c.bucket for c in manifest.catalog} == outputs["catalogBuckets"]
    assert all(c.url == f"gs://{c.bucket}" for c in manifest.catalog)
    assert manifest.identity.dask_worker_gsa == outputs["serviceAccounts"]["daskWorker"]
    assert manifest.identity.data_scientist_members == team.data_scientist_members
    gpu = {g.name: g.gpus_per_node for g in manifest.node_groups if g.kind == "gpu"}
    assert gpu and all(count >= 1 for count in gpu.values())

    # The manifest object is exactly that JSON, in the build bucket, where data scientists may read it.
    obj = only(plan, "gcp:storage/bucketObject:BucketObject", "-manifest")
    assert obj.inputs["bucket"] == outputs["buildBucket"] and obj.inputs["name"] == naming.GCP_MANIFEST_OBJECT
    assert obj.inputs["source"]["asset"] == "text"
    assert json.loads(obj.inputs["source"]["text"]) == outputs["manifest"]
    readers = {
        g.inputs["member"]
        for g in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if g.inputs["bucket"] == outputs["buildBucket"]
        and g.inputs["role"] == "roles/storage.objectViewer"
        and "condition" not in g.inputs
    }
    assert set(team.data_scientist_members) <= readers


def test_spec_submission_is_create_only_and_limited_to_specs(plan: Plan, team: TeamConfig) -> None:
    build_bucket = plan.outputs["buildBucket"]
    creators = [
        g for g in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
        if g.inputs["bucket"] == build_bucket and g.inputs["role"] == "roles/storage.objectCreator"
    ]  # fmt: skip
    assert {g.inputs["member"] for g in creators} == set(team.data_scientist_members)
    for grant in creators:
        expression = grant.inputs["condition"]["expression"]
        assert expression == f'resource.name.startsWith("projects/_/buckets/{build_bucket}/objects/specs/")'


def test_plan_hides_nothing_a_reviewer_needs(plan: Plan) -> None:
    # No secrets in a team stack: anything shown as [secret] would be unreviewable in the JSON plan.
    assert "[secret]" not in json.dumps(plan.to_json())
    assert [r.urn for r in plan.resources] == sorted(r.urn for r in plan.resources)


# --- the other modes, on a variant of the shipped stack ------------------------------------------------------


@pytest.fixture(scope="module")
def zonal_private_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, TeamConfig]:
    """ml-geo as a zonal cluster over two zones, without NAT and with a private endpoint only."""
    root = tmp_path_factory.mktemp("zonal")
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_bytes((ROOT / name).read_bytes())
    for name in ("components", "teamstack", "images"):
        (root / name).symlink_to(ROOT / name)
    (root / "stacks").mkdir()
    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{GCP_BASE}.yaml").read_text(encoding="utf-8"))
    config = document["config"]
    config.update(
        {
            "teamstack:clusterLocation": "zonal",
            "teamstack:zones": ["europe-west4-b", "europe-west4-c"],
            "teamstack:natMode": "none",
            "teamstack:apiAccessCidrs": [],
            "teamstack:releaseChannel": "stable",
            "teamstack:kubernetes": {**config.get("teamstack:kubernetes", {}), "extraNamespaces": ["geo-batch"]},
        }
    )
    (root / "stacks" / f"Pulumi.{GCP_BASE}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    team = load_team(stack_config(load_project(root), GCP_BASE), GCP_BASE)
    return plan_stack(root, GCP_BASE), team


def test_zonal_cluster_without_nat_and_private_endpoint_only(
    zonal_private_plan: tuple[Plan, TeamConfig],
) -> None:
    plan, team = zonal_private_plan
    cluster = only(plan, "gcp:container/cluster:Cluster").inputs
    assert cluster["location"] == "europe-west4-b" and cluster["nodeLocations"] == ["europe-west4-b", "europe-west4-c"]
    assert cluster["releaseChannel"] == {"channel": "STABLE"}
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert cluster["masterAuthorizedNetworksConfig"].get("cidrBlocks", []) == []
    assert not plan.of_type("gcp:compute/router:Router") and not plan.of_type("gcp:compute/routerNat:RouterNat")
    # Without NAT, nodes still reach Google APIs (registry, buckets, KMS) privately.
    assert only(plan, "gcp:compute/subnetwork:Subnetwork").inputs["privateIpGoogleAccess"] is True
    for pool in plan.of_type("gcp:container/nodePool:NodePool"):
        assert pool.inputs["location"] == "europe-west4-b"
        assert pool.inputs["nodeLocations"] == list(team.gcp_zones)
    assert plan.outputs["manifest"]["network"]["zones"] == ["europe-west4-b", "europe-west4-c"]
    # The extra namespace's Dask service accounts are bound to the team's Google service accounts too.
    test_dask_service_accounts_are_bound_through_workload_identity(plan, team)
    assert team.kubernetes.extra_namespaces == ["geo-batch"]
