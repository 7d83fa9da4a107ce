"""The Kubernetes layer in every shipped stack's offline plan (EKS and GKE alike).

Every Kubernetes object the program registers is turned back into the manifest the provider would send
(apiVersion, kind, metadata, spec... from the camelCase inputs) and validated with kubernetes-validate in strict
mode against the OpenAPI schema of the stack's own Kubernetes version. Then the properties the layer exists
for: quotas, priorities, tolerations, RBAC scope, service-account bindings, network isolation, pod security,
pinned charts from their official repositories, and the Dask defaults in the team manifest.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from typing import Any

import kubernetes_validate
import pytest

from components.k8s import reaper, spec
from components.program import RECIPE_DIR
from teamstack import envhash, imagefile, naming, quantity
from teamstack.config import TeamConfig
from teamstack.manifest import GcpIdentity, Identity, TeamManifest
from teamstack.plan.runner import Plan, PlannedResource

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
OFFICIAL_REPOSITORIES = {
    spec.DASK_OPERATOR_CHART: "https://helm.dask.org",
    spec.AUTOSCALER_CHART: "https://kubernetes.github.io/autoscaler",
    spec.DEVICE_PLUGIN_CHART: "https://nvidia.github.io/k8s-device-plugin",
}


# --- helpers ----------------------------------------------------------------------------------------------------


def kubernetes_objects(plan: Plan) -> list[PlannedResource]:
    """Every Kubernetes object of the plan (the explicit provider and Helm releases are not objects)."""
    return [r for r in plan.resources if r.type.startswith("kubernetes:") and r.type != HELM_RELEASE]


def api_version_and_kind(type_token: str) -> tuple[str, str]:
    """`kubernetes:rbac.authorization.k8s.io/v1:Role` -> ("rbac.authorization.k8s.io/v1", "Role");
    the core group has no name: `kubernetes:core/v1:Namespace` -> ("v1", "Namespace")."""
    _, group_version, kind = type_token.split(":")
    group, version = group_version.split("/")
    return (version if group == "core" else f"{group}/{version}"), kind


def manifest_of(resource: PlannedResource) -> dict[str, Any]:
    """The object as the provider sends it to the API server: the inputs are already the object's fields."""
    api_version, kind = api_version_and_kind(resource.type)
    document = copy.deepcopy(resource.inputs)
    assert document.get("apiVersion") == api_version and document.get("kind") == kind, resource.name
    return document


def schema_version(kubernetes_version: str) -> str:
    """The kubernetes-validate schema release for a cluster version (1.33 -> 1.33.0); fails when none ships."""
    wanted = f"v{kubernetes_version}.0-local-strict"
    schemas = resources.files(kubernetes_validate).joinpath("kubernetes-json-schema")
    shipped = sorted(p.name for p in schemas.iterdir() if p.name.endswith("-local-strict"))
    if wanted not in shipped:
        pytest.fail(
            f"kubernetes-validate ships no strict schema for Kubernetes {kubernetes_version} ({wanted}); "
            f"it has {', '.join(shipped)}: upgrade kubernetes-validate before allowing this version"
        )
    return f"{kubernetes_version}.0"


def objects_of_kind(plan: Plan, kind: str) -> list[dict[str, Any]]:
    return [manifest_of(r) for r in kubernetes_objects(plan) if api_version_and_kind(r.type)[1] == kind]


def in_namespace(plan: Plan, kind: str, namespace: str) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o for o in objects_of_kind(plan, kind) if o["metadata"].get("namespace") == namespace
    }


def releases(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.inputs["chart"]: r.inputs for r in plan.of_type(HELM_RELEASE)}


def team_namespaces(team: TeamConfig) -> list[str]:
    return [team.team_namespace, *team.kubernetes.extra_namespaces]


def manifest(plan: Plan) -> TeamManifest:
    return TeamManifest.model_validate(plan.outputs["manifest"])


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) pair in a nested structure."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", item
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def expected_gpus(team: TeamConfig, plan: Plan) -> int:
    if team.kubernetes.quota.gpus is not None:
        return team.kubernetes.quota.gpus
    return sum(g.max_size * g.gpus_per_node for g in manifest(plan).node_groups if g.kind == "gpu")


# --- every object validates strictly -----------------------------------------------------------------------------


def test_the_plan_has_the_kubernetes_layer(plan: Plan, team: TeamConfig) -> None:
    kinds = {api_version_and_kind(r.type)[1] for r in kubernetes_objects(plan)}
    assert {"Namespace", "ResourceQuota", "LimitRange", "PriorityClass", "ServiceAccount", "Role"} <= kinds
    assert {"RoleBinding", "NetworkPolicy"} <= kinds
    assert plan.of_type("pulumi:providers:kubernetes"), "the layer must use a provider built from the stack's cluster"
    assert spec.DASK_OPERATOR_CHART in releases(plan)


def test_every_kubernetes_object_validates_strictly_against_the_clusters_schema(plan: Plan, team: TeamConfig) -> None:
    version = schema_version(team.kubernetes_version)
    objects = kubernetes_objects(plan)
    assert objects
    for resource in objects:
        validated = kubernetes_validate.validate(manifest_of(resource), version, strict=True)
        assert validated == team.kubernetes_version, (resource.name, validated)  # no fallback to another schema


def test_strict_validation_refuses_a_field_the_schema_does_not_have(plan: Plan, team: TeamConfig) -> None:
    # The control for the test above: the same validation must reject a misspelt field.
    policy = objects_of_kind(plan, "NetworkPolicy")[0]
    kubernetes_validate.validate(policy, schema_version(team.kubernetes_version), strict=True)
    policy["spec"]["podSelectr"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(policy, schema_version(team.kubernetes_version), strict=True)


def test_an_unshipped_kubernetes_version_fails_clearly() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"no strict schema for Kubernetes 1\.99"):
        schema_version("1.99")


def test_kubeconfig_uses_short_lived_tokens_from_the_cloud_cli(plan: Plan, team: TeamConfig) -> None:
    (provider,) = plan.of_type("pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    (user,) = kubeconfig["users"]
    assert set(user["user"]) == {"exec"}, "no static token, password or client key in the kubeconfig"
    command = user["user"]["exec"]["command"]
    assert command == ("aws" if team.cloud == "aws" else "gke-gcloud-auth-plugin")
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["server"].startswith("https://")
    if team.cloud == "aws":
        assert cluster["cluster"]["server"] == plan.outputs["clusterEndpoint"]
        assert user["user"]["exec"]["args"][2:6] == ["eks", "get-token", "--cluster-name", team.team]


# --- namespaces, pod security -----------------------------------------------------------------------------------


def test_team_namespaces_enforce_pod_security_and_audit_restricted(plan: Plan, team: TeamConfig) -> None:
    namespaces = {o["metadata"]["name"]: o for o in objects_of_kind(plan, "Namespace")}
    assert set(namespaces) == {*team_namespaces(team), spec.OPERATOR_NAMESPACE}
    version = f"v{team.kubernetes_version}"
    for name in team_namespaces(team):
        labels = namespaces[name]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == team.kubernetes.pod_security
        assert labels["pod-security.kubernetes.io/enforce"] in ("baseline", "restricted")
        assert labels["pod-security.kubernetes.io/audit"] == labels["pod-security.kubernetes.io/warn"] == "restricted"
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == version
    operator = namespaces[spec.OPERATOR_NAMESPACE]["metadata"]["labels"]
    assert operator["pod-security.kubernetes.io/enforce"] == "restricted"


def test_no_privileged_or_host_level_containers_in_our_manifests(plan: Plan) -> None:
    documents = [manifest_of(r) for r in kubernetes_objects(plan)] + list(releases(plan).values())
    forbidden_true = ("privileged", "allowPrivilegeEscalation", "hostNetwork", "hostPID", "hostIPC")
    for document in documents:
        for path, value in walk(document):
            key = path.rsplit(".", 1)[-1]
            assert not (key in forbidden_true and value is True), path
            assert not (key == "add" and ".capabilities" in path and value), path
    # Each chart's container runs unprivileged with every capability dropped, set explicitly in our values.
    contexts = {
        spec.DASK_OPERATOR_CHART: "securityContext",
        spec.AUTOSCALER_CHART: "containerSecurityContext",
        spec.DEVICE_PLUGIN_CHART: "securityContext",
    }
    for chart, release in releases(plan).items():
        context = release["values"][contexts[chart]]
        assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False, chart
        assert context["capabilities"] == {"drop": ["ALL"]}, chart


# --- quota, limits, priorities ----------------------------------------------------------------------------------


def test_each_team_namespace_has_the_configured_quota(plan: Plan, team: TeamConfig) -> None:
    quota = team.kubernetes.quota
    gpus = expected_gpus(team, plan)
    for namespace in team_namespaces(team):
        hard = in_namespace(plan, "ResourceQuota", namespace)["team-quota"]["spec"]["hard"]
        assert hard["requests.cpu"] == quota.cpu and hard["requests.memory"] == quota.memory
        assert hard["limits.cpu"] == (quota.limits_cpu or quota.cpu)
        assert hard["limits.memory"] == (quota.limits_memory or quota.memory)
        assert hard["requests.nvidia.com/gpu"] == str(gpus)
        assert hard["pods"] == str(quota.pods)
        assert hard["count/daskclusters.kubernetes.dask.org"] == str(quota.dask_clusters)
        # Nothing in the namespace may be exposed outside the cluster.
        assert hard["services.loadbalancers"] == hard["services.nodeports"] == "0"


def test_the_gpu_share_is_the_number_in_git(plan: Plan, team: TeamConfig) -> None:
    gpu_groups = [g for g in manifest(plan).node_groups if g.kind == "gpu"]
    gpus = expected_gpus(team, plan)
    # Never more GPUs than the GPU groups can ever hold: a quota above capacity would promise what cannot run.
    assert gpus <= sum(g.max_size * g.gpus_per_node for g in gpu_groups)
    if not gpu_groups:
        assert gpus == 0


def test_batch_priority_gets_only_its_share_of_the_quota(plan: Plan, team: TeamConfig) -> None:
    share = Decimal(team.kubernetes.batch_share_percent) / 100
    for namespace in team_namespaces(team):
        quotas = in_namespace(plan, "ResourceQuota", namespace)
        team_hard, batch = quotas["team-quota"]["spec"]["hard"], quotas["batch-share"]["spec"]
        assert batch["scopeSelector"]["matchExpressions"] == [
            {"scopeName": "PriorityClass", "operator": "In", "values": [spec.BATCH_PRIORITY_CLASS]}
        ]
        for resource in ("requests.cpu", "requests.memory", "requests.nvidia.com/gpu", "pods"):
            batch_value, team_value = quantity.parse(batch["hard"][resource]), quantity.parse(team_hard[resource])
            assert batch_value <= team_value * share, resource
            if share < 1 and team_value >= 10:
                assert batch_value < team_value, f"{resource}: batch could take everything"


def test_containers_without_requests_get_the_configured_defaults(plan: Plan, team: TeamConfig) -> None:
    d = team.kubernetes.container_defaults
    for namespace in team_namespaces(team):
        (item,) = in_namespace(plan, "LimitRange", namespace)["container-defaults"]["spec"]["limits"]
        assert item["type"] == "Container"
        assert item["defaultRequest"] == {"cpu": d.cpu_request, "memory": d.memory_request}
        assert item["default"] == {"cpu": d.cpu_limit, "memory": d.memory_limit}


def test_interactive_work_outranks_batch_and_batch_never_preempts(plan: Plan) -> None:
    classes = {o["metadata"]["name"]: o for o in objects_of_kind(plan, "PriorityClass")}
    interactive, batch = classes[spec.INTERACTIVE_PRIORITY_CLASS], classes[spec.BATCH_PRIORITY_CLASS]
    assert interactive["value"] > batch["value"] > 0
    # Below the system classes, so Dask can never preempt CoreDNS, the CNI or the autoscaler.
    assert interactive["value"] < 1_000_000_000
    assert batch["preemptionPolicy"] == "Never"
    assert not interactive["globalDefault"] and not batch["globalDefault"]


# --- identity and RBAC ------------------------------------------------------------------------------------------


def test_dask_service_accounts_are_bound_to_the_cloud_roles(plan: Plan, team: TeamConfig) -> None:
    identity = manifest(plan).identity
    accounts = (naming.DASK_SCHEDULER_SERVICE_ACCOUNT, naming.DASK_WORKER_SERVICE_ACCOUNT)
    for namespace in team_namespaces(team):
        service_accounts = in_namespace(plan, "ServiceAccount", namespace)
        reaper = {spec.REAPER_NAME} if team.kubernetes.max_cluster_lifetime_hours else set()
        assert set(service_accounts) == set(accounts) | reaper
        for account in accounts:
            assert service_accounts[account]["automountServiceAccountToken"] is False
        if isinstance(identity, GcpIdentity):
            annotation = "iam.gke.io/gcp-service-account"
            scheduler, worker = (service_accounts[a]["metadata"]["annotations"][annotation] for a in accounts)
            assert (scheduler, worker) == (identity.dask_scheduler_gsa, identity.dask_worker_gsa)
        else:
            assert isinstance(identity, Identity)
            annotations = [service_accounts[a]["metadata"]["annotations"] for a in accounts]
            assert not any("iam.gke.io/gcp-service-account" in a for a in annotations)
    if team.cloud == "aws":
        associations = {
            (a.inputs["namespace"], a.inputs["serviceAccount"]): a.inputs["roleArn"]
            for a in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        }
        roles = plan.outputs["roleArns"]
        expected = {
            (namespace, account): roles["daskScheduler" if account == accounts[0] else "daskWorker"]
            for namespace in team_namespaces(team)
            for account in accounts
        }
        autoscaler = (spec.SYSTEM_NAMESPACE, spec.AUTOSCALER_SERVICE_ACCOUNT)
        assert {k: v for k, v in associations.items() if k != autoscaler} == expected
        # Every association names a service account that exists where it says (or that the chart creates there).
        values = releases(plan)[spec.AUTOSCALER_CHART]
        assert values["namespace"] == spec.SYSTEM_NAMESPACE
        assert values["values"]["rbac"]["serviceAccount"]["name"] == spec.AUTOSCALER_SERVICE_ACCOUNT
        assert associations[autoscaler].endswith(f":role/{team.team}-cluster-autoscaler")


def _data_scientist_subjects(plan: Plan, team: TeamConfig) -> list[dict[str, str]]:
    if team.cloud == "aws":
        (entry,) = [
            e
            for e in plan.of_type("aws:eks/accessEntry:AccessEntry")
            if e.inputs["principalArn"] == plan.outputs["roleArns"]["dataScientist"]
        ]
        return [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}
            for g in entry.inputs["kubernetesGroups"]
        ]
    subjects = spec.gke_rbac_subjects(team.data_scientist_members)
    return [{"apiGroup": "rbac.authorization.k8s.io", "kind": s.kind, "name": s.name} for s in subjects]


def test_data_scientists_run_dask_in_their_namespaces_only(plan: Plan, team: TeamConfig) -> None:
    assert not objects_of_kind(plan, "ClusterRole") and not objects_of_kind(plan, "ClusterRoleBinding")
    subjects = _data_scientist_subjects(plan, team)
    assert subjects
    for namespace in team_namespaces(team):
        role = in_namespace(plan, "Role", namespace)[spec.DATA_SCIENTIST_ROLE]
        binding = in_namespace(plan, "RoleBinding", namespace)["data-scientists"]
        assert set(in_namespace(plan, "Role", namespace)) <= {spec.DATA_SCIENTIST_ROLE, spec.REAPER_NAME}
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == subjects
        grants = {
            (group, resource, verb)
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
        for verb in ("create", "delete", "get", "list", "watch"):
            assert ("kubernetes.dask.org", "daskclusters", verb) in grants
        for resource in ("pods", "pods/log"):
            assert ("", resource, "get") in grants and ("", resource, "list") in grants
        assert not {g for g in grants if "*" in g}, "no wildcard group, resource or verb"
        assert not {g for g in grants if g[1] in ("secrets", "networkpolicies", "limitranges")}
        # The quota is readable (the client checks a scale against it), never changeable.
        assert {g[2] for g in grants if g[1] == "resourcequotas"} == {"get", "list", "watch"}
        assert not {g for g in grants if g[0] == "" and g[2] in ("create", "delete", "update", "patch")} - {
            ("", "pods/portforward", "create")
        }
    # Every Role and RoleBinding of ours lives in a team namespace.
    for kind in ("Role", "RoleBinding"):
        assert {o["metadata"]["namespace"] for o in objects_of_kind(plan, kind)} == set(team_namespaces(team))


# --- network isolation ------------------------------------------------------------------------------------------


def test_ingress_is_denied_by_default_and_open_to_dask_within_the_namespace(plan: Plan, team: TeamConfig) -> None:
    for namespace in team_namespaces(team):
        policies = in_namespace(plan, "NetworkPolicy", namespace)
        deny = policies["default-deny-ingress"]["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
        allow = policies["allow-dask-within-namespace"]["spec"]
        assert allow["podSelector"] == {"matchExpressions": [{"key": "dask.org/cluster-name", "operator": "Exists"}]}
        (rule,) = allow["ingress"]
        assert rule["from"] == [{"podSelector": {}}], "only pods of this same namespace"
        ports = {p["port"] for p in rule["ports"]}
        assert {8786, 8787, 8788} <= ports
        assert all(p["protocol"] == "TCP" for p in rule["ports"])
        operator = policies["allow-dask-operator"]["spec"]
        assert operator["podSelector"] == {"matchLabels": {"dask.org/component": "scheduler"}}
        (rule,) = operator["ingress"]
        assert rule["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": spec.OPERATOR_NAMESPACE}}}
        ]
        for policy in policies.values():
            for path, _ in walk(policy):
                assert not path.endswith(".ipBlock"), "no address-based ingress"
        assert set(policies) == {"default-deny-ingress", "allow-dask-within-namespace", "allow-dask-operator"}


# --- Helm releases ----------------------------------------------------------------------------------------------


def test_charts_are_pinned_and_come_from_their_official_repositories(plan: Plan, team: TeamConfig) -> None:
    charts = releases(plan)
    pinned = {
        spec.DASK_OPERATOR_CHART: team.kubernetes.charts.dask_operator,
        spec.AUTOSCALER_CHART: team.kubernetes.charts.cluster_autoscaler,
        spec.DEVICE_PLUGIN_CHART: team.kubernetes.charts.nvidia_device_plugin,
    }
    has_gpus = any(g.kind == "gpu" for g in team.node_groups)
    expected = {spec.DASK_OPERATOR_CHART}
    if team.cloud == "aws":  # GKE brings its own autoscaler and device plugin
        expected |= {spec.AUTOSCALER_CHART} | ({spec.DEVICE_PLUGIN_CHART} if has_gpus else set())
    assert set(charts) == expected
    for chart, release in charts.items():
        assert release["repositoryOpts"] == {"repo": OFFICIAL_REPOSITORIES[chart]}
        version = release["version"]
        assert version == pinned[chart] and all(part.isdigit() for part in version.split(".")), chart
        assert release["atomic"] is True


def test_the_operator_serves_the_team_namespaces_from_system_nodes(plan: Plan, team: TeamConfig) -> None:
    operator = releases(plan)[spec.DASK_OPERATOR_CHART]
    assert operator["namespace"] == spec.OPERATOR_NAMESPACE
    values = operator["values"]
    assert values["kopfArgs"] == [f"--namespace={n}" for n in team_namespaces(team)]
    assert "--all-namespaces" not in values["kopfArgs"]
    assert {"key": spec.SYSTEM_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_eks_autoscaler_discovers_the_team_groups_and_runs_the_clusters_minor_version(
    plan: Plan, team: TeamConfig
) -> None:
    if team.cloud != "aws":
        assert spec.AUTOSCALER_CHART not in releases(plan)
        return
    values = releases(plan)[spec.AUTOSCALER_CHART]["values"]
    assert values["cloudProvider"] == "aws" and values["awsRegion"] == team.region
    assert values["autoDiscovery"] == {"clusterName": plan.outputs["clusterName"]}
    assert values["image"]["tag"].startswith(f"v{team.kubernetes_version}.")
    assert "awsAccessKeyID" not in values and "awsSecretAccessKey" not in values
    # Scale-down must not be blocked by Dask's disposable scratch space.
    assert values["extraArgs"]["skip-nodes-with-local-storage"] is False
    assert {"key": spec.SYSTEM_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    # The groups it is told to discover carry the discovery tags (and GPU groups their node template).
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert group.inputs["tags"][f"k8s.io/cluster-autoscaler/{team.team}"] == "owned"


def test_device_plugin_runs_on_gpu_nodes_with_the_gpu_toleration(plan: Plan, team: TeamConfig) -> None:
    release = releases(plan).get(spec.DEVICE_PLUGIN_CHART)
    gpu_groups = [g for g in manifest(plan).node_groups if g.kind == "gpu"]
    if team.cloud != "aws" or not gpu_groups:
        assert release is None
        return
    assert release is not None
    values = release["values"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    (term,) = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    for expression in term["matchExpressions"]:
        # Every GPU group's nodes match the plugin's affinity; no CPU group's do.
        for group in manifest(plan).node_groups:
            matches = group.labels.get(expression["key"]) in expression["values"]
            assert matches == (group.kind == "gpu"), group.name


# --- the manifest's Dask defaults -------------------------------------------------------------------------------


def test_manifest_has_dask_defaults_for_a_no_argument_kubecluster(plan: Plan, team: TeamConfig) -> None:
    team_manifest = manifest(plan)
    dask = team_manifest.dask
    assert dask is not None
    assert dask.namespace == team.team_namespace == team_manifest.cluster.namespace
    assert dask.scheduler_service_account == naming.DASK_SCHEDULER_SERVICE_ACCOUNT
    assert dask.worker_service_account == naming.DASK_WORKER_SERVICE_ACCOUNT
    assert dask.idle_timeout_seconds == team.kubernetes.idle_timeout_minutes * 60
    assert dask.operator_version == team.kubernetes.charts.dask_operator
    classes = {o["metadata"]["name"] for o in objects_of_kind(plan, "PriorityClass")}
    assert {dask.interactive_priority_class, dask.batch_priority_class} == classes
    # The image is the default environment, built by the team's own pipeline into the team's own registry.
    repository, _, tag = dask.image.rpartition(":")
    assert repository == team_manifest.registry.repository_uri
    default_spec = spec.default_environment(spec.DEFAULT_ENVIRONMENT_DIR, team_manifest.build.recipe_hash)[0]
    assert tag == envhash.image_tag(team_manifest.build.recipe_hash, "cpu", default_spec)
    quota = team.kubernetes.quota
    for sizes in (dask.worker_resources, dask.gpu_worker_resources):
        assert sizes.requests == sizes.limits
        assert quantity.parse(sizes.requests["cpu"]) <= quantity.parse(quota.cpu)
        assert quantity.parse(sizes.requests["memory"]) <= quantity.parse(quota.memory)
    assert "nvidia.com/gpu" not in dask.worker_resources.requests
    assert int(dask.gpu_worker_resources.requests["nvidia.com/gpu"]) >= 1


def test_dask_defaults_land_gpu_workers_on_gpu_nodes_only(plan: Plan) -> None:
    team_manifest = manifest(plan)
    dask = team_manifest.dask
    assert dask is not None
    for group in team_manifest.node_groups:
        labels = group.labels
        assert all(labels.get(k) == v for k, v in dask.gpu_node_selector.items()) == (group.kind == "gpu")
        assert all(labels.get(k) == v for k, v in dask.cpu_node_selector.items()) == (group.kind == "cpu")
        if group.kind == "gpu":
            for taint in group.taints:  # every taint of a GPU node is tolerated
                assert any(
                    t.key == taint.key
                    and t.effect == taint.effect
                    and (t.operator == "Exists" or t.value == taint.value)
                    for t in dask.gpu_tolerations
                ), (group.name, taint)


def test_the_default_environment_is_submitted_to_the_build(plan: Plan, team: TeamConfig) -> None:
    team_manifest = manifest(plan)
    dask = team_manifest.dask
    assert dask is not None
    tag = dask.image.rpartition(":")[2]
    # The one tag contract: what `teamstack env tag` / `env normalise` print for the same file.
    default_file = spec.DEFAULT_ENVIRONMENT_DIR / spec.DEFAULT_ENVIRONMENT_FILE
    cli = [sys.executable, "-m", "teamstack.cli", "env"]
    env_tag = subprocess.run([*cli, "tag", str(default_file)], capture_output=True, text=True, check=True)
    normalised = subprocess.run([*cli, "normalise", str(default_file)], capture_output=True, text=True, check=True)
    default_spec = normalised.stdout.encode()
    if team.cloud == "aws":
        objects = plan.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        ((key, content, bucket),) = [
            (o.inputs["key"], o.inputs["content"], o.inputs["bucket"])
            for o in objects
            if o.inputs["key"].startswith(envhash.SPEC_PREFIX)
        ]
    else:
        objects = plan.of_type("gcp:storage/bucketObject:BucketObject")
        ((key, content, bucket),) = [
            (o.inputs["name"], o.inputs["source"]["text"], o.inputs["bucket"])
            for o in objects
            if o.inputs["name"].startswith(envhash.SPEC_PREFIX)
        ]
    # Exactly where a client submitting the same file would put it, so the team's pipeline builds it.
    assert key == envhash.spec_key("cpu", tag, "requirements.txt") and tag == env_tag.stdout.strip()
    assert bucket == team_manifest.build.bucket
    assert content.encode() == default_spec


def test_every_kubernetes_object_is_labelled_with_team_and_manager(plan: Plan, team: TeamConfig) -> None:
    for resource in kubernetes_objects(plan):
        metadata = manifest_of(resource)["metadata"]
        labels = metadata["labels"]
        assert labels["app.kubernetes.io/managed-by"] == naming.MANAGED_BY, resource.name
        assert labels["teamstack.io/team"] == team.team, resource.name
        assert labels["teamstack.io/cost-center"] == spec.label_value(team.cost_center), resource.name
        # An email is no label value: the owner is an annotation.
        assert metadata["annotations"]["teamstack.io/owner"] == team.owner, resource.name


# --- EKS specifics: policies are enforced, the autoscaler's role is least privilege ------------------------------


def test_eks_enforces_network_policies(plan: Plan, team: TeamConfig) -> None:
    if team.cloud != "aws":
        return
    (cni,) = [a for a in plan.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni"]
    # Without this the VPC CNI ignores NetworkPolicies, and the policies above would be inert.
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_autoscaler_role_scales_only_this_clusters_groups(plan: Plan, team: TeamConfig) -> None:
    if team.cloud != "aws":
        return
    (role_policy,) = [
        p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-cluster-autoscaler")
    ]
    statements = {s["Sid"]: s for s in json.loads(role_policy.inputs["policy"])["Statement"]}
    scale = statements["ScaleTeamNodeGroups"]
    assert set(scale["Action"]) == {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
    assert scale["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{plan.outputs['clusterName']}": "owned"}
    }
    (resource,) = scale["Resource"]
    assert resource.endswith(f":autoScalingGroupName/eks-{team.team}-*")
    # The unscoped statement only describes.
    for action in statements["DiscoverNodeGroups"]["Action"]:
        assert action.split(":")[1].startswith(("Describe", "Get")), action
    # Its trust: EKS Pod Identity of this cluster only.
    (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r.inputs["name"] == f"{team.team}-cluster-autoscaler"]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Condition"]["ArnEquals"]["aws:SourceArn"].endswith(f":cluster/{team.team}")
    # Every node group's Auto Scaling group name starts where the resource pattern expects (eks-<node group>-).
    for group in manifest(plan).node_groups:
        assert f"eks-{group.node_group_name}-".startswith(f"eks-{team.team}-"), group.node_group_name


# --- the Dask cluster reaper: a maximum lifetime, enforced -----------------------------------------------------


def test_a_reaper_cronjob_enforces_the_maximum_cluster_lifetime_from_the_system_nodes(
    plan: Plan, team: TeamConfig
) -> None:
    hours = team.kubernetes.max_cluster_lifetime_hours
    assert hours, "every shipped stack keeps a maximum lifetime"
    image = manifest(plan).dask
    assert image is not None
    for namespace in team_namespaces(team):
        (cronjob,) = in_namespace(plan, "CronJob", namespace).values()
        assert cronjob["spec"]["schedule"] == spec.REAPER_SCHEDULE
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
        job = cronjob["spec"]["jobTemplate"]["spec"]
        assert job["activeDeadlineSeconds"] < 15 * 60, "one run ends before the next starts"
        pod = job["template"]["spec"]
        assert pod["serviceAccountName"] == spec.REAPER_NAME
        # On the always-on system nodes, so the reaper itself never scales a worker group up from zero.
        assert pod["nodeSelector"] == {spec.NODE_KIND_LABEL: "system"}
        assert {"key": spec.SYSTEM_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        (container,) = pod["containers"]
        assert container["image"] == image.image, "the team's default image, from its own registry"
        assert {"name": reaper.LIFETIME_ENV, "value": str(hours * 3600)} in container["env"]
        (mount,) = container["volumeMounts"]
        # The image's own interpreter, as its Containerfile declares it (run for real in test_image_build.py).
        assert container["command"] == spec.reaper_command(imagefile.interpreter(RECIPE_DIR))
        assert container["command"][1] == f"{mount['mountPath']}/reaper.py" and mount["readOnly"] is True
        # Pod Security restricted, whatever the namespace enforces.
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["limits"]["memory"]
        (volume,) = pod["volumes"]
        script = in_namespace(plan, "ConfigMap", namespace)[volume["configMap"]["name"]]
        assert script["data"]["reaper.py"] == spec.REAPER_SCRIPT.read_text(encoding="utf-8")


def test_the_reaper_may_only_list_and_delete_dask_clusters_in_its_namespace(plan: Plan, team: TeamConfig) -> None:
    for namespace in team_namespaces(team):
        account = in_namespace(plan, "ServiceAccount", namespace)[spec.REAPER_NAME]
        assert account["metadata"]["namespace"] == namespace
        role = in_namespace(plan, "Role", namespace)[spec.REAPER_NAME]
        grants = {
            (group, resource, verb)
            for rule in role["rules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
        assert grants == {
            ("kubernetes.dask.org", "daskclusters", "list"),
            ("kubernetes.dask.org", "daskclusters", "delete"),
        }
        binding = in_namespace(plan, "RoleBinding", namespace)[spec.REAPER_NAME]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": spec.REAPER_NAME}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": spec.REAPER_NAME, "namespace": namespace}]
