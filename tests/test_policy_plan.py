"""The pack on whole plans: every shipped stack passes every mandatory rule, a deliberately insecure copy of
a real plan fails with exactly the expected rules, and `teamstack policy check` reads saved JSON plans."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from teamstack.plan.runner import Plan
from teamstack.policy.config import PolicyConfig, load_policy_config
from teamstack.policy.engine import evaluate, resources_from_json
from teamstack.policy.report import EXIT_POLICY_VIOLATION

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"


def _violations(plan_json: dict[str, Any], config: PolicyConfig | None = None) -> list[Any]:
    stack, resources = resources_from_json(plan_json, "plan")
    return evaluate(resources, config or load_policy_config(POLICIES, stack), stack)


def test_every_shipped_stack_passes_every_mandatory_rule(plan: Plan) -> None:
    mandatory = [v for v in _violations(plan.to_json()) if v.mandatory]
    assert mandatory == [], "\n".join(f"{v.rule} {v.urn}: {v.message}" for v in mandatory)


def test_every_shipped_stack_has_reviewed_policy_values(stack: str) -> None:
    # Without its own file a team silently gets the defaults; a reviewer should see its caps in Git.
    assert (POLICIES / "teams" / f"{stack}.yaml").is_file()
    assert load_policy_config(POLICIES, stack).team == stack


def _first(resources: list[dict[str, Any]], type_token: str, name_part: str = "") -> dict[str, Any]:
    return next(r for r in resources if r["type"] == type_token and name_part in r["name"])


def insecure(plan_json: dict[str, Any]) -> dict[str, Any]:
    """A real plan with the mistakes a careless change could make, one per rule."""
    data = copy.deepcopy(plan_json)
    resources = data["resources"]
    _first(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "dask")["inputs"]["cidrIpv4"] = (
        "0.0.0.0/0"
    )
    _first(resources, "aws:eks/cluster:Cluster")["inputs"]["vpcConfig"]["publicAccessCidrs"] = ["0.0.0.0/0"]
    _first(resources, "aws:ec2/launchTemplate:LaunchTemplate")["inputs"]["metadataOptions"]["httpTokens"] = "optional"
    _first(resources, "aws:ecr/repository:Repository")["inputs"]["imageTagMutability"] = "MUTABLE"
    _first(resources, "aws:s3/bucket:Bucket", "catalog-raw")["options"] = {"protect": False, "retainOnDelete": False}
    _first(resources, "aws:s3/bucket:Bucket", "envs")["inputs"]["forceDestroy"] = True
    _first(resources, "aws:eks/nodeGroup:NodeGroup", "gpu-t4")["inputs"]["scalingConfig"]["minSize"] = 2
    attachment = _first(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    attachment["inputs"]["policyArn"] = "arn:aws:iam::aws:policy/AdministratorAccess"
    data["resources"] = [
        r
        for r in resources
        if r["type"] != "aws:budgets/budget:Budget"
        and not (r["type"].endswith("BucketPublicAccessBlock") and "catalog-models" in r["name"])
    ]
    return data


def _mandatory(plan_json: dict[str, Any], config: PolicyConfig | None = None) -> set[tuple[str, str | None]]:
    return {(v.rule, v.urn) for v in _violations(plan_json, config) if v.mandatory}


def _new_rules(plan_json: dict[str, Any], changed: dict[str, Any], config: PolicyConfig | None = None) -> set[str]:
    """Rules the change breaks: compared with the unchanged plan, so a shipped stack's own (reported) violation
    cannot hide or fake one."""
    return {rule for rule, _ in _mandatory(changed, config) - _mandatory(plan_json, config)}


@pytest.mark.parametrize("stack", ["ml-vision"])
def test_insecure_plan_fails_with_the_expected_rules(plan: Plan) -> None:
    violated = _new_rules(plan.to_json(), insecure(plan.to_json()))
    assert violated == {
        "network-no-public-ingress",
        "network-dask-ports-private",
        "cluster-endpoint-not-public",
        "node-metadata-protection",
        "registry-immutable-tags",
        "catalog-buckets-protected",
        "bucket-no-force-destroy",
        "node-gpu-scale-to-zero",
        "iam-no-admin-roles",
        "budget-exists",
        "bucket-public-access-blocked",
    }


@pytest.mark.parametrize("stack", ["ml-vision"])
def test_caps_and_cost_cap_come_from_the_team_values(plan: Plan) -> None:
    tight = PolicyConfig(
        team="ml-vision",
        max_nodes=10,
        max_gpus=4,
        monthly_cost_cap_usd=1000,
        catalog_buckets=("raw", "features", "models", "labels"),
        trusted_principals=("arn:aws:iam::111122223333:role/sso/MLVisionDataScientists",),
    )
    found = {v.rule: v.message for v in _violations(plan.to_json(), tight)}
    shipped = plan.to_json()
    assert _new_rules(shipped, shipped, tight) == set()
    assert {rule for rule, _ in _mandatory(shipped, tight)} - {rule for rule, _ in _mandatory(shipped)} == {
        "team-node-cap",
        "team-gpu-cap",
        "team-cost-cap",
        "catalog-buckets-exist",
    }
    assert "33 nodes" in found["team-node-cap"] and "16 GPUs" in found["team-gpu-cap"]
    assert "labels" in found["catalog-buckets-exist"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "teamstack.cli", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("stack", ["ml-vision"])
def test_policy_check_on_saved_plans(plan: Plan, tmp_path: Path) -> None:
    clean, bad = tmp_path / "clean.json", tmp_path / "insecure.json"
    clean.write_text(json.dumps(plan.to_json()), encoding="utf-8")
    bad.write_text(json.dumps(insecure(plan.to_json())), encoding="utf-8")

    ok = _cli("policy", "check", str(clean), "--cost")
    shipped_mandatory = _mandatory(plan.to_json())
    assert ok.returncode == (EXIT_POLICY_VIOLATION if shipped_mandatory else 0), ok.stderr
    assert f"ml-vision: policy: {len(shipped_mandatory)} mandatory" in ok.stdout or (
        not shipped_mandatory and "ml-vision: policy: no violations" in ok.stdout
    )
    assert "  total " in ok.stdout

    failed = _cli("policy", "check", str(bad), "--json", str(tmp_path / "violations.json"))
    assert failed.returncode == EXIT_POLICY_VIOLATION == 3
    urn = _first(plan.to_json()["resources"], "aws:eks/cluster:Cluster")["urn"]
    assert f"[mandatory/critical] cluster-endpoint-not-public  {urn}" in failed.stdout
    assert "remediation: EKS: endpointPrivateAccess=True" in failed.stdout
    saved = json.loads((tmp_path / "violations.json").read_text(encoding="utf-8"))
    assert {"rule", "severity", "enforcement", "urn", "message", "remediation"} == set(saved["violations"][0])


def test_policy_check_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"stack": "ml-vision", "resources": [{"type": 3}]}', encoding="utf-8")
    result = _cli("policy", "check", str(broken))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {broken}: resources[0].urn: must be a string"]
    missing = _cli("policy", "check", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_bad_team_policy_file_names_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "t.yaml").write_text("maxNodes: -1\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"teams/t\.yaml: maxNodes: "):
        load_policy_config(tmp_path, "t")
    (tmp_path / "teams" / "t.yaml").write_text("maxNode: 3\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"maxNode: is not a policy key; allowed: .*maxNodes"):
        load_policy_config(tmp_path, "t")


def test_plan_with_policy_and_cost_exit_code_matches_the_offline_check(tmp_path: Path) -> None:
    # One real `teamstack plan` process: the same verdict as evaluating its JSON plan, and the cost table.
    saved = tmp_path / "analytics.json"
    result = _cli("plan", "analytics", "--policy", "--cost", "--quiet", "--json", str(saved))
    plan_json = json.loads(saved.read_text(encoding="utf-8"))
    assert result.returncode == (EXIT_POLICY_VIOLATION if _mandatory(plan_json) else 0), result.stderr
    assert "analytics: policy: " in result.stdout
    assert "analytics: monthly cost estimate (aws eu-central-1" in result.stdout
    assert "  total " in result.stdout


def test_a_stack_named_apart_from_its_team_has_its_catalog_buckets_recognised(tmp_path: Path) -> None:
    """A second stack of a team (analytics-prod, team analytics) with no policy file of its own: the plan's team,
    not the stack's name, finds its catalog buckets, so catalog-buckets-exist passes and -protected checks them."""
    from teamstack.plan.runner import plan_stack
    from teamstack.policy.config import load_team_policy
    from teamstack.policy.rules.stack import _catalog_buckets

    _, resources = resources_from_json(plan_stack(ROOT, "analytics").to_json(), "plan")
    config = load_team_policy(tmp_path, "analytics-prod", "analytics")  # no policies/teams/analytics-prod.yaml
    assert config.team == "analytics"
    found = evaluate(resources, config, "analytics-prod")
    assert not [v for v in found if v.rule.startswith("catalog-buckets")], found
    assert len(_catalog_buckets(resources, config.model_copy(update={"team": "analytics"}))) == 2
    # Without the plan's team, the stack's name stands in (the pack under `pulumi preview`, which only knows it).
    assert load_team_policy(tmp_path, "analytics-prod", None).team_name("analytics-prod") == "analytics-prod"
