"""Plan diffs for pull requests: the pure comparison, the force-new table, allowances, and the issue's done-when
cases on the shipped stacks (a pool's maxSize 8 -> 12; a catalog bucket removed from a stack file, planned from
Git with `--diff-base`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack.config import ConfigError
from teamstack.plan import diff as plandiff
from teamstack.plan import forcenew
from teamstack.plan.allowances import Allowance, load_allowances
from teamstack.plan.diff_cli import build_diff

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 11, 29)
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
BUCKET_URN = "urn:pulumi:s::p::aws:s3/bucket:Bucket::b"


def _plan(*resources: dict[str, Any], stack: str = "s") -> dict[str, Any]:
    return {"stack": stack, "resources": list(resources), "outputs": {}}


def _res(urn: str, type_: str, inputs: dict[str, Any], protect: bool = False, parent: str | None = None) -> dict:
    return {
        "urn": urn,
        "type": type_,
        "name": urn.rsplit("::", 1)[-1],
        "id": "x",
        "parent": parent,
        "custom": True,
        "inputs": inputs,
        "options": {"protect": protect, "retainOnDelete": protect},
    }


def _diff(old: dict, new: dict, allowances: list[Allowance] | None = None) -> plandiff.PlanDiff:
    return plandiff.diff_plans(old, new, allowances=allowances or [], today=TODAY, with_cost=False)


# --- the comparison ---------------------------------------------------------------------------------------


def test_secrets_never_appear_in_markdown_or_json() -> None:
    old = _plan(_res("urn:pulumi:s::p::t:m:T::r", "t:m:T", {"password": "hunter2", "token": "[secret]", "a": 1}))
    new = _plan(_res("urn:pulumi:s::p::t:m:T::r", "t:m:T", {"password": "hunter3", "token": "[secret]", "a": 2}))
    result = _diff(old, new)
    text = plandiff.to_markdown(result) + json.dumps(result.to_json())
    assert "hunter" not in text
    paths = {c.path: c for c in result.resources[0].changes}
    assert paths["password"].secret and "a" in paths and not paths["a"].secret
    # Both sides "[secret]": whether it changed cannot be known, and nothing is claimed.
    assert "token" not in paths


def test_imdsv2_setting_is_not_mistaken_for_a_secret() -> None:
    urn = "urn:pulumi:s::p::aws:ec2/launchTemplate:LaunchTemplate::lt"
    old = _plan(_res(urn, "aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "required"}}))
    new = _plan(_res(urn, "aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "optional"}}))
    change = _diff(old, new).resources[0].changes[0]
    assert (change.path, change.old, change.new, change.secret) == (
        "metadataOptions.httpTokens",
        "required",
        "optional",
        False,
    )


def test_json_documents_in_strings_are_compared_inside() -> None:
    doc = {"Statement": [{"Action": "s3:GetObject", "Resource": ["a", "b"]}]}
    changed = {"Statement": [{"Action": "s3:GetObject", "Resource": ["a"]}]}
    urn = "urn:pulumi:s::p::aws:iam/rolePolicy:RolePolicy::rp"
    result = _diff(
        _plan(_res(urn, "aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps(doc)})),
        _plan(_res(urn, "aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps(changed)})),
    )
    [change] = result.resources[0].changes
    assert change.path == "policy{json}.Statement[0].Resource"
    assert "removed <code>[&quot;b&quot;]</code>" in plandiff.to_markdown(result)


def test_named_list_entries_are_matched_by_name_not_position() -> None:
    old = [{"name": "raw", "days": 30}, {"name": "features", "days": 90}, {"name": "models", "days": 180}]
    changes = list(plandiff.compare(old, [old[0], old[2]], "catalog"))
    assert [(c.path, c.new) for c in changes] == [("catalog[name=features]", plandiff.ABSENT)]


# --- the force-new table ----------------------------------------------------------------------------------


def test_every_force_new_entry_cites_a_known_source() -> None:
    for type_token, entries in forcenew.FORCE_NEW.items():
        assert entries, type_token
        for entry in entries:
            assert forcenew.SOURCES[entry.source].startswith("https://github.com/hashicorp/terraform-provider-")
    assert set(forcenew.STATEFUL) <= set(forcenew.FORCE_NEW), "every stateful type must say what replaces it"


@pytest.mark.parametrize(
    ("inputs_old", "inputs_new", "action"),
    [
        ({"scalingConfig": {"maxSize": 8}}, {"scalingConfig": {"maxSize": 12}}, "update"),
        ({"instanceTypes": ["g4dn.xlarge"]}, {"instanceTypes": ["g5.xlarge"]}, "replace"),
        (
            {"launchTemplate": {"id": "lt-1", "version": "1"}},
            {"launchTemplate": {"id": "lt-1", "version": "2"}},
            "update",
        ),
        (
            {"launchTemplate": {"id": "lt-1", "version": "1"}},
            {"launchTemplate": {"id": "lt-2", "version": "1"}},
            "replace",
        ),
        ({}, {"remoteAccess": {"ec2SshKey": "k"}}, "replace"),
    ],
)
def test_node_group_replacement_follows_the_provider_schema(inputs_old: dict, inputs_new: dict, action: str) -> None:
    urn = "urn:pulumi:s::p::aws:eks/nodeGroup:NodeGroup::ng"
    result = _diff(_plan(_res(urn, NODE_GROUP, inputs_old)), _plan(_res(urn, NODE_GROUP, inputs_new)))
    assert result.resources[0].action == action


@pytest.mark.parametrize(
    ("type_", "old", "new", "action"),
    [
        ("kubernetes:core/v1:Namespace", {"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}, "replace"),
        ("kubernetes:core/v1:ResourceQuota", {"spec": {"hard": {"cpu": 4}}}, {"spec": {"hard": {"cpu": 8}}}, "update"),
        ("aws:ssm/parameter:Parameter", {"name": "/a"}, {"name": "/b"}, "replace"),
        ("aws:ssm/parameter:Parameter", {"insecureValue": "{}"}, {"insecureValue": "[]"}, "update"),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", {"member": "group:a@x"}, {"member": "group:b@x"}, "replace"),
    ],
)
def test_replacement_of_other_types(type_: str, old: dict, new: dict, action: str) -> None:
    urn = f"urn:pulumi:s::p::{type_}::r"
    change = _diff(_plan(_res(urn, type_, old)), _plan(_res(urn, type_, new))).resources[0]
    assert change.action == action and change.replacement_known


def test_eks_encryption_replaces_only_when_removed() -> None:
    urn, kind = "urn:pulumi:s::p::aws:eks/cluster:Cluster::c", "aws:eks/cluster:Cluster"
    enc = {"encryptionConfig": {"provider": {"keyArn": "k1"}, "resources": ["secrets"]}}
    other = {"encryptionConfig": {"provider": {"keyArn": "k1"}, "resources": ["secrets", "x"]}}
    assert _diff(_plan(_res(urn, kind, enc)), _plan(_res(urn, kind, other))).resources[0].action == "update"
    removed = _diff(_plan(_res(urn, kind, enc)), _plan(_res(urn, kind, {})))
    assert removed.resources[0].action == "replace" and removed.exit_code == 3  # the cluster is stateful


# --- blockers and allowances ------------------------------------------------------------------------------


def test_renaming_a_bucket_replaces_it_and_blocks() -> None:
    old = _plan(_res(BUCKET_URN, "aws:s3/bucket:Bucket", {"bucket": "a"}, protect=True))
    new = _plan(_res(BUCKET_URN, "aws:s3/bucket:Bucket", {"bucket": "b"}, protect=True))
    result = _diff(old, new)
    assert [(b.action, b.allowance) for b in result.blockers] == [("replace", None)]
    assert result.exit_code == 3
    forces = result.resources[0].changes[0].forces
    assert forces is not None and "s3/bucket.go" in forcenew.SOURCES[forces.source]


def test_unprotecting_a_protected_resource_blocks() -> None:
    old = _plan(_res(BUCKET_URN, "aws:s3/bucket:Bucket", {"bucket": "a"}, protect=True))
    new = _plan(_res(BUCKET_URN, "aws:s3/bucket:Bucket", {"bucket": "a"}, protect=False))
    assert [b.action for b in _diff(old, new).blockers] == ["unprotect"]


def test_adding_and_updating_plain_resources_does_not_block() -> None:
    urn = "urn:pulumi:s::p::aws:cloudwatch/logGroup:LogGroup::lg"
    old = _plan(_res(urn, "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 30}))
    new = _plan(
        _res(urn, "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 90}),
        _res(BUCKET_URN, "aws:s3/bucket:Bucket", {"bucket": "new"}, protect=True),
    )
    result = _diff(old, new)
    assert result.exit_code == 0 and {r.name: r.action for r in result.resources} == {"b": "create", "lg": "update"}
    assert "aws:cloudwatch/logGroup:LogGroup" in " ".join(
        result.notes
    )  # an update of a type the table does not cover is said to be unknown


def _allow(urn: str, action: str = "delete", expires: dt.date = dt.date(2027, 1, 31)) -> Allowance:
    return Allowance(urn=urn, action=action, reason="moved to the shared lake (CHG-1)", expires=expires)  # type: ignore[arg-type]


def test_an_allowance_on_a_component_covers_its_children_and_expires() -> None:
    component = "urn:pulumi:s::p::teamstack:aws:SecureBucket::cat"
    child = "urn:pulumi:s::p::teamstack:aws:SecureBucket$aws:s3/bucket:Bucket::cat-bucket"
    old = _plan(_res(child, "aws:s3/bucket:Bucket", {"bucket": "a"}, protect=True, parent=component))
    assert _diff(old, _plan(), [_allow(component)]).exit_code == 0
    assert _diff(old, _plan(), [_allow(component, action="replace")]).exit_code == 3  # the action must match
    expired = _diff(old, _plan(), [_allow(component, expires=dt.date(2026, 11, 1))])
    assert expired.exit_code == 3 and any("expired" in n for n in expired.notes)


@pytest.mark.parametrize(
    ("content", "key"),
    [
        (
            "allow:\n  - {urn: 'urn:pulumi:s::p::t:m:T::*', action: delete, reason: 'good reasons', expires: 2027-1-1}",
            "allow[0].urn",
        ),
        (
            "allow:\n  - {urn: 'urn:pulumi:s::p::t:m:T::r', action: drop, reason: 'good reasons', expires: 2027-1-1}",
            "allow[0].action",
        ),
        ("allow:\n  - {urn: 'urn:pulumi:s::p::t:m:T::r', action: delete, reason: 'a good reason'}", "allow[0].expires"),
        (
            "allow:\n  - {urn: 'urn:pulumi:s::p::t:m:T::r', action: delete, reason: ok, expires: 2027-01-01}",
            "allow[0].reason",
        ),
        ("allowed: []", "allowed"),
    ],
)
def test_a_bad_allowance_file_names_the_file_and_key(tmp_path: Path, content: str, key: str) -> None:
    (tmp_path / "allowances").mkdir()
    (tmp_path / "allowances" / "s.yaml").write_text(content + "\n")
    with pytest.raises(ConfigError) as caught:
        load_allowances(tmp_path, "s")
    assert caught.value.key == key and caught.value.file.endswith("allowances/s.yaml")


def test_policy_delta_matches_by_rule_and_resource() -> None:
    from teamstack.policy.model import Violation

    def v(rule: str, message: str, urn: str | None = None) -> Violation:
        return Violation(rule, "high", "mandatory", urn, message, "fix it")

    delta = plandiff.policy_delta(
        [v("gpu-cap", "20 GPUs"), v("tags", "x", "u1")], [v("gpu-cap", "24 GPUs"), v("b", "y")]
    )
    assert [x.rule for x in delta.new] == ["b"] and [x.rule for x in delta.fixed] == ["tags"] and delta.remaining == 1


# --- the done-when cases on the shipped stacks ------------------------------------------------------------


def _project_copy(destination: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "plans", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"
    )
    shutil.copytree(ROOT, destination, ignore=ignore)
    return destination


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))


def test_max_size_8_to_12_shows_exactly_that_change_and_its_cost(tmp_path: Path) -> None:
    # Planned in child processes, as `--diff-base` does: an in-process plan of a copy would leave the copy's
    # components imported for later in-process plans of this checkout.
    root = _project_copy(tmp_path / "p")
    assert _run(["plan", "ml-vision", "--quiet", "--json", "base.json"], root).returncode == 0
    _edit(root / "stacks/Pulumi.ml-vision.yaml", "      maxSize: 8\n", "      maxSize: 12\n")
    assert _run(["plan", "ml-vision", "--quiet", "--json", "head.json"], root).returncode == 0
    ml_vision_base = json.loads((root / "base.json").read_text())
    head = json.loads((root / "head.json").read_text())
    result = build_diff(
        ml_vision_base, head, base="main", head="pr", old_policies=ROOT / "policies", new_policies=root / "policies"
    )
    changes = {(r.name, c.path, c.old, c.new) for r in result.resources for c in r.changes}
    # The namespace's GPU share follows the pools (issue 10): 12 x 1 T4 + 2 x 4 A10G = 20, batch 75% of it.
    assert changes == {
        ("ml-vision-gpu-t4-ng", "scalingConfig.maxSize", 8, 12),
        ("ml-vision-manifest", "insecureValue{json}.nodeGroups[name=gpu-t4].maxSize", 8, 12),
        ("ml-vision-k8s-ml-vision-quota", "spec.hard.requests.nvidia.com/gpu", "16", "20"),
        ("ml-vision-k8s-ml-vision-batch-quota", "spec.hard.requests.nvidia.com/gpu", "12", "15"),
    }
    assert {r.action for r in result.resources} == {"update"} and not result.blockers
    assert all(r.replacement_known for r in result.resources)  # every type is in the force-new table
    # Cost: idle unchanged (the GPU group scales from zero); full scale grows by 4 T4 nodes at the group's price.
    assert result.cost is not None
    [(urn, _, idle0, idle1, full0, full1)] = result.cost.items()
    assert urn.endswith("::ml-vision-gpu-t4-ng") and idle0 == idle1 == 0
    assert full1 == pytest.approx(full0 * 12 / 8) and result.cost.full == pytest.approx(full1 - full0, abs=0.01)
    assert result.cost.idle == 0
    # 12 T4 + 8 A10G is over the team's reviewed cap of 16 GPUs: a new mandatory violation, so exit 3.
    assert [v.rule for v in result.policy.new] == ["team-gpu-cap"] if result.policy else False
    assert result.exit_code == 3
    text = plandiff.to_markdown(result)
    assert "`scalingConfig.maxSize` | <code>8</code> | <code>12</code>" in text
    assert f"(**+${result.cost.full:,.0f}**)" in text and plandiff.MARKER not in text
    assert plandiff.MARKER in plandiff.comment([text])


def _run(args: list[str], cwd: Path, tmpdir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TEAMSTACK_DEBUG"}
    env["PYTHONPATH"] = str(cwd)
    if tmpdir is not None:  # a private temp folder: what the run leaves there is its own, not a neighbour's
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run(
        [sys.executable, "-m", "teamstack.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_removing_a_catalog_bucket_is_flagged_and_exits_3_until_allowed(tmp_path: Path) -> None:
    root = _project_copy(tmp_path / "repo")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    _edit(
        root / "stacks/Pulumi.ml-vision.yaml",
        "    - name: features\n      description: Embeddings and training features written by Dask pipelines.\n",
        "",
    )
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    done = _run(
        ["plan", "ml-vision", "--quiet", "--diff-base", "HEAD", "--diff-json", "d.json", "--diff-markdown", "d.md"],
        root,
        private_tmp,
    )
    assert done.returncode == 3, done.stderr
    data = json.loads((root / "d.json").read_text())
    bucket = [b for b in data["blockers"] if b["type"] == "aws:s3/bucket:Bucket"]
    assert [(b["action"], b["allowed"]) for b in bucket] == [("delete", False)]
    assert bucket[0]["urn"].endswith("::ml-vision-catalog-features-bucket")
    assert {r["action"] for r in data["resources"] if "catalog-features" in r["urn"]} == {"delete"}
    assert [v["rule"] for v in data["policy"]["new"]] == ["catalog-buckets-exist"]
    assert "⛔ deletes `ml-vision-catalog-features-bucket`" in (root / "d.md").read_text()
    assert not list(private_tmp.glob("teamstack-base-*")), "the base export is removed"

    # The reviewed way through: the allowance names the bucket's component, the policy values drop the bucket.
    component = bucket[0]["urn"].replace(
        "$aws:s3/bucket:Bucket::ml-vision-catalog-features-bucket", "::ml-vision-catalog-features"
    )
    (root / "policies/allowances").mkdir()
    (root / "policies/allowances/ml-vision.yaml").write_text(
        yaml.safe_dump(
            {
                "allow": [
                    {
                        "urn": component,
                        "action": "delete",
                        "reason": "features moved to the shared lake (CHG-1)",
                        "expires": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
                    }
                ]
            }
        )
    )
    _edit(
        root / "policies/teams/ml-vision.yaml",
        "catalogBuckets: [raw, features, models]",
        "catalogBuckets: [raw, models]",
    )
    again = _run(["plan", "ml-vision", "--quiet", "--diff-base", "HEAD", "--diff-json", "d.json"], root)
    assert again.returncode == 0, again.stdout + again.stderr
    data = json.loads((root / "d.json").read_text())
    assert data["blockers"] and all(b["allowed"] for b in data["blockers"])
    assert data["policy"]["new"] == [] and data["blocked"] is False


def test_diff_base_that_is_not_a_commit_is_one_line_exit_2(tmp_path: Path) -> None:
    done = _run(["plan", "ml-vision", "--quiet", "--diff-base", "no-such-rev", "-C", str(ROOT)], ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: --diff-base no-such-rev: no such commit")
    assert "Traceback" not in done.stderr


def test_plan_diff_of_bad_files_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    done = _run(["plan", "diff", str(tmp_path / "a.json"), str(tmp_path / "missing.json")], ROOT)
    assert done.returncode == 2 and done.stderr.count("error:") == 1 and "a.json" in done.stderr


def test_an_allowance_file_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "allowances").mkdir()
    (tmp_path / "allowances" / "s.yaml").write_text("allow: []\nallow: []\n")
    with pytest.raises(ConfigError) as caught:
        load_allowances(tmp_path, "s")
    assert caught.value.key == "line 2"


def test_removing_a_catalog_bucket_is_blocked_on_every_stack(stack: str, plan: Any, tmp_path: Path) -> None:
    """Every stack file, on either cloud: the first catalog bucket dropped from the file is a blocked deletion."""
    root = _project_copy(tmp_path / "p")
    path = root / f"stacks/Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    removed = document["config"]["teamstack:catalogBuckets"].pop(0)["name"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    done = _run(["plan", stack, "--quiet", "--json", "head.json"], root)
    assert done.returncode == 0, done.stderr
    head = json.loads((root / "head.json").read_text())
    result = build_diff(
        plan.to_json(), head, base="main", head="pr", old_policies=ROOT / "policies", new_policies=root / "policies"
    )
    buckets = [b for b in result.blockers if b.change.type in ("aws:s3/bucket:Bucket", "gcp:storage/bucket:Bucket")]
    assert [(b.action, b.allowance) for b in buckets] == [("delete", None)]
    assert f"-{removed}-" in buckets[0].change.name or f"-{removed}" in buckets[0].change.name
    assert result.exit_code == 3 and result.count("create") == 0
    # The GCP manifest is a bucket object whose content (`source`) the provider can only replace: shown, not blocked.
    assert {r.type for r in result.resources if r.action == "replace"} <= {"gcp:storage/bucketObject:BucketObject"}
