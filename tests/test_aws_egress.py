"""An AWS team with `natMode: none` has no NAT gateway: its nodes reach ECR, STS, EC2, EKS, ... through interface
endpoints and nothing else. So every image they pull must be in ECR: the add-ons' images from ghcr.io (the Dask
operator) and registry.k8s.io (cluster-autoscaler) come through ECR pull-through cache rules, the Helm releases
name those paths, the node role may import through those caches only, and the manifest names them to clients.
Without this, `pulumi up` created the cluster and node groups and then failed on the first (atomic) Helm release.
With a NAT, nothing of this is made (the shipped stacks' plans are byte-identical to before)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from test_gcp_egress import _images

from components.k8s import spec
from teamstack import naming, registries
from teamstack.manifest import TeamManifest
from teamstack.plan.runner import Plan, PlanError, plan_config
from teamstack.stackfiles import load_project, stack_config

ROOT = Path(__file__).resolve().parent.parent
STACK, REGION = "analytics", "eu-central-1"  # CPU groups only: GPU groups need nvcr.io (refused without a NAT)
ACCOUNT = "123456789012"  # the plan's stand-in account (teamstack/plan/mocks.py)
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/ghcr-Ab12Cd"
RELEASE = "kubernetes:helm.sh/v3:Release"
CACHE_RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"


def _values(**extra: str) -> dict[str, str]:
    return {**stack_config(load_project(ROOT), STACK), **extra}


@pytest.fixture(scope="module")
def no_nat() -> Plan:
    return plan_config(ROOT, STACK, _values(**{"teamstack:natMode": "none", "teamstack:ghcrCredentialArn": SECRET}))


@pytest.fixture(scope="module")
def manifest(no_nat: Plan) -> TeamManifest:
    return TeamManifest.model_validate(no_nat.outputs["manifest"])


def _ecr_model() -> dict[str, Any]:
    return botocore.session.get_session().get_service_model("ecr")._shape_resolver._shape_map  # type: ignore[no-any-return]


def _mirror(prefix: str) -> str:
    return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{prefix}"


def test_no_nat_and_the_registry_is_reached_through_endpoints(no_nat: Plan) -> None:
    assert not no_nat.of_type("aws:ec2/natGateway:NatGateway")
    services = {r.inputs["serviceName"] for r in no_nat.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert {
        f"com.amazonaws.{REGION}.ecr.api",
        f"com.amazonaws.{REGION}.ecr.dkr",
        f"com.amazonaws.{REGION}.s3",
    } <= services
    assert TeamManifest.model_validate(no_nat.outputs["manifest"]).internet_egress is False


def test_the_add_ons_upstreams_have_cache_rules(no_nat: Plan) -> None:
    rules = {r.inputs["upstreamRegistryUrl"]: r.inputs for r in no_nat.of_type(CACHE_RULE)}
    ghcr, k8s = naming.ecr_cache_prefix(STACK, "ghcr"), naming.ecr_cache_prefix(STACK, "k8s")
    # ghcr.io only with the team's GitHub token; registry.k8s.io and ECR Public without a credential.
    assert rules[registries.GHCR] == {
        "ecrRepositoryPrefix": ghcr,
        "upstreamRegistryUrl": "ghcr.io",
        "credentialArn": SECRET,
    }
    assert rules[registries.K8S_REGISTRY] == {"ecrRepositoryPrefix": k8s, "upstreamRegistryUrl": "registry.k8s.io"}
    assert set(rules) == {"public.ecr.aws", registries.GHCR, registries.K8S_REGISTRY}
    templates = {r.inputs["prefix"]: r.inputs for r in no_nat.of_type(TEMPLATE)}
    for rule in rules.values():  # each rule's repositories are made by a template: immutable and encrypted
        template = templates[rule["ecrRepositoryPrefix"]]
        assert template["appliedFors"] == ["PULL_THROUGH_CACHE"]
        assert template["imageTagMutability"] == "IMMUTABLE"
    # The nodes' caches like the team's repositories: the team key and the team's tags, through a creation role.
    key_arn = no_nat.outputs["kmsKeyArn"]
    (team_repository,) = [
        r for r in no_nat.of_type("aws:ecr/repository:Repository") if r.inputs["name"] == f"{STACK}/dask"
    ]
    role_name = naming.role_name(STACK, "ecr-cache-creation")
    (role,) = [r for r in no_nat.of_type("aws:iam/role:Role") if r.inputs["name"] == role_name]
    for prefix in (ghcr, k8s):
        template = templates[prefix]
        assert template["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn}]
        assert template["encryptionConfigurations"] == team_repository.inputs["encryptionConfigurations"]
        assert template["resourceTags"] == team_repository.inputs["tags"]
        assert template["customRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert [(s["Principal"], s["Action"]) for s in trust] == [({"Service": "ecr.amazonaws.com"}, ["sts:AssumeRole"])]
    (grants,) = [
        r for r in no_nat.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == f"{STACK}-registry-cache-creation"
    ]
    statements = {s["Sid"]: s for s in json.loads(grants.inputs["policy"])["Statement"]}
    assert statements.keys() == {"CreateCacheRepositories", "EncryptThemWithTheTeamKey"}
    assert statements["CreateCacheRepositories"]["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{prefix}/*" for prefix in (ghcr, k8s)
    ]
    assert statements["EncryptThemWithTheTeamKey"]["Resource"] in (key_arn, [key_arn])


def test_cache_rules_meet_ecrs_own_shapes(no_nat: Plan) -> None:
    """The botocore ECR model in the venv: prefix length and pattern, credential ARN pattern, upstreams ECR
    caches (nvcr.io, the NVIDIA device plugin's registry, is not one: hence GPU groups need a NAT)."""
    shapes = _ecr_model()
    prefix_shape, credential_shape = shapes["PullThroughCacheRuleRepositoryPrefix"], shapes["CredentialArn"]
    for rule in no_nat.of_type(CACHE_RULE):
        prefix = rule.inputs["ecrRepositoryPrefix"]
        assert prefix_shape["min"] <= len(prefix) <= prefix_shape["max"] and re.match(prefix_shape["pattern"], prefix)
        if "credentialArn" in rule.inputs:
            arn = rule.inputs["credentialArn"]
            assert credential_shape["min"] <= len(arn) <= credential_shape["max"]
            assert re.match(credential_shape["pattern"], arn)
    # The longest team name validation allows still fits every cache prefix.
    longest = "t" * (naming.ECR_PULL_THROUGH_PREFIX_MAX - len(naming.ecr_pull_through_prefix("")))
    for cache in registries.AWS_NODE_CACHES:
        assert len(naming.ecr_cache_prefix(longest, cache.suffix)) <= prefix_shape["max"]
    upstreams = set(shapes["UpstreamRegistry"]["enum"])
    assert {"github-container-registry", "k8s"} <= upstreams
    # The refusal names every upstream ECR caches: a new one in botocore (nvcr.io one day?) fails here, to revisit.
    assert len(registries.ECR_CACHEABLE_UPSTREAMS) == len(upstreams)
    assert not any("nvidia" in u or "nvcr" in u or "ngc" in u for u in upstreams)
    assert registries.split_image(spec.DEVICE_PLUGIN_IMAGE)[0] == registries.NVCR


def test_the_releases_name_their_images_through_the_caches(no_nat: Plan, manifest: TeamManifest) -> None:
    releases = {r.inputs["chart"]: r.inputs["values"] for r in no_nat.of_type(RELEASE)}
    mirrors = {
        registries.GHCR: _mirror(naming.ecr_cache_prefix(STACK, "ghcr")),
        registries.K8S_REGISTRY: _mirror(naming.ecr_cache_prefix(STACK, "k8s")),
    }
    # Only the operator's name is replaced: the chart keeps its own tag, the release's version.
    assert releases[spec.DASK_OPERATOR_CHART]["image"] == {
        "name": registries.mirrored(spec.DASK_OPERATOR_IMAGE, mirrors)
    }
    autoscaler = releases[spec.AUTOSCALER_CHART]["image"]
    assert autoscaler["repository"] == f"{mirrors[registries.K8S_REGISTRY]}/autoscaling/cluster-autoscaler"
    assert autoscaler["tag"] == spec.AUTOSCALER_IMAGE_TAGS["1.33"]
    assert spec.DEVICE_PLUGIN_CHART not in releases  # no GPU groups
    assert manifest.registry.mirrors == mirrors


def test_every_image_the_nodes_pull_is_reachable_without_internet(no_nat: Plan, manifest: TeamManifest) -> None:
    """What the kubelet pulls: the Kubernetes objects' images, the Helm releases' image values and the default
    Dask image the clients start (EKS's own add-ons come from EKS's ECR registries in the region)."""
    pulled: list[str] = []
    for resource in no_nat.resources:
        if resource.type.startswith("kubernetes:"):
            pulled += _images(resource.inputs)
    # A chart's own default image is not in the plan: every release must name its image, so none is missed.
    for release in no_nat.of_type(RELEASE):
        assert _images(release.inputs["values"]), f"{release.inputs['chart']} keeps its chart's default image"
    assert manifest.dask is not None
    pulled.append(manifest.dask.image)
    assert len(pulled) >= 4  # operator, autoscaler, reaper, default image
    for image in pulled:
        host, _ = registries.split_image(image)
        assert registries.reachable_without_internet(host, "aws", REGION), image


def _node_policy(plan: Plan) -> dict[str, Any] | None:
    policies = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r.inputs["role"] == f"{STACK}-node"]
    return json.loads(policies[0].inputs["policy"]) if policies else None


def test_the_node_role_imports_through_the_add_on_caches_only(no_nat: Plan) -> None:
    policy = _node_policy(no_nat)
    assert policy is not None
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    assert sorted(statement["Resource"]) == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{naming.ecr_cache_prefix(STACK, c.suffix)}/*"
        for c in sorted(registries.AWS_NODE_CACHES, key=lambda c: naming.ecr_cache_prefix(STACK, c.suffix))
    ]
    # Not the builds' base-image cache, not the team's own repositories, never a wildcard prefix.
    assert not any("ecr-public" in r or f"/{STACK}/" in r or r.endswith(":repository/*") for r in statement["Resource"])


def test_with_a_nat_nothing_of_this_is_made() -> None:
    plan = plan_config(ROOT, STACK, _values())
    assert {r.inputs["upstreamRegistryUrl"] for r in plan.of_type(CACHE_RULE)} == {"public.ecr.aws"}
    assert _node_policy(plan) is None
    releases = {r.inputs["chart"]: r.inputs["values"] for r in plan.of_type(RELEASE)}
    assert releases[spec.AUTOSCALER_CHART]["image"]["repository"] == spec.AUTOSCALER_IMAGE
    assert "image" not in releases[spec.DASK_OPERATOR_CHART]
    manifest = TeamManifest.model_validate(plan.outputs["manifest"])
    assert manifest.internet_egress is True and manifest.registry.mirrors is None


def test_a_credential_of_another_account_is_refused_before_anything_is_made() -> None:
    other = SECRET.replace(ACCOUNT, "111122223333")
    with pytest.raises(PlanError) as raised:
        plan_config(ROOT, STACK, _values(**{"teamstack:natMode": "none", "teamstack:ghcrCredentialArn": other}))
    message = str(raised.value)
    assert message.startswith("stacks/Pulumi.analytics.yaml: teamstack:ghcrCredentialArn: the secret is in account")
    assert f"rule's own account, {ACCOUNT}" in message and "\n" not in message


# --- what a data scientist is told -------------------------------------------------------------------------------


def test_a_ghcr_image_is_refused_with_its_ecr_mirror(manifest: TeamManifest) -> None:
    from teamstack.client import ClusterError
    from teamstack.client.clusters import kube_cluster_spec

    with pytest.raises(ClusterError) as raised:
        kube_cluster_spec(manifest, image="ghcr.io/dask/dask:2025.1.0")
    message = str(raised.value)
    assert f"use its mirror {_mirror(naming.ecr_cache_prefix(STACK, 'ghcr'))}/dask/dask:2025.1.0" in message
    assert "natMode: single" in message and "\n" not in message
    # The mirror itself is in the region's ECR: accepted.
    kube_cluster_spec(manifest, image=f"{_mirror(naming.ecr_cache_prefix(STACK, 'ghcr'))}/dask/dask:2025.1.0")
    with pytest.raises(ClusterError, match=r"daskdev/dask:latest is on docker.io, .*teamstack env build"):
        kube_cluster_spec(manifest, image="daskdev/dask:latest")


# --- plan --cost -------------------------------------------------------------------------------------------------


def test_the_caches_cost_nothing_fixed_and_natmode_none_is_priced_against_a_nat(no_nat: Plan) -> None:
    """Cache rules and creation templates have no fixed price (cached images are ECR storage, usage-priced): the
    estimate neither lists them nor calls them unpriced. `--cost` prices natMode none against the default NAT,
    its GitHub credential left out with it (the model refuses that key beside a NAT)."""
    from components.aws.network import interface_endpoints
    from teamstack import cost
    from teamstack.plan.overrides import setting_costs
    from teamstack.policy.engine import resources_from_json

    _, resources = resources_from_json(no_nat.to_json(), "plan")
    baseline = cost.estimate(resources, REGION)
    assert baseline.unpriced == []
    assert not any("ecr" in item.type for item in baseline.items)
    values = _values(**{"teamstack:natMode": "none", "teamstack:ghcrCredentialArn": SECRET})
    costs = {c.key: c for c in setting_costs(ROOT, STACK, values, baseline, REGION)}
    none = costs["natMode"]
    assert none.set_in_file and none.value == "none"
    table = cost.price_table()
    aws, hours, factor = table.cloud("aws"), table.hours_per_month, table.region_factor("aws", REGION)
    azs = 2  # analytics' azCount
    endpoints = len(interface_endpoints("none")) * azs * float(aws["interfaceEndpointPerAz"]) * hours * factor
    nat = (float(aws["natGateway"]) + float(aws["publicIpv4"])) * hours * factor
    assert none.idle == pytest.approx(endpoints - nat, abs=0.05)


# --- the policy pack ------------------------------------------------------------------------------------------


def test_the_no_nat_stack_passes_the_pack_and_a_cache_rule_without_its_credential_does_not(no_nat: Plan) -> None:
    from teamstack.policy.config import load_policy_config
    from teamstack.policy.engine import evaluate, resources_from_json

    config = load_policy_config(ROOT / "policies", STACK)
    plan_json = no_nat.to_json()
    stack, resources = resources_from_json(plan_json, "plan")
    mandatory = [v for v in evaluate(resources, config, stack) if v.mandatory]
    assert mandatory == [], "\n".join(f"{v.rule} {v.urn}: {v.message}" for v in mandatory)
    for resource in plan_json["resources"]:
        if resource["type"] == CACHE_RULE and resource["inputs"]["upstreamRegistryUrl"] == registries.GHCR:
            del resource["inputs"]["credentialArn"]
    stack, resources = resources_from_json(plan_json, "plan")
    (violation,) = [v for v in evaluate(resources, config, stack) if v.mandatory]
    assert violation.rule == "registry-cache-credential" and "ghcr.io has no credentialArn" in violation.message
