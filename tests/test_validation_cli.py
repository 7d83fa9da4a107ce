"""`teamstack validate` and `plan` as one validation pass: every bad stack reported (one line each, exit 2),
checks across the project's stack files, policy values files read strictly, nothing written on refusal.

Real processes, as a user runs them; none of these plans anything (each is refused first), so they are quick.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack.config import ConfigError, load_team
from teamstack.stackfiles import load_project, stack_config
from tests.test_cli import teamstack

REPO = Path(__file__).resolve().parents[1]
Change = Callable[[dict[str, Any]], None]


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return teamstack(*args, cwd=cwd)


def stack_doc(base: str, *changes: Change) -> dict[str, Any]:
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{base}.yaml").read_text(encoding="utf-8"))
    for change in changes:
        change(document["config"])
    return dict(document)


def setting(key: str, value: Any) -> Change:
    def change(config: dict[str, Any]) -> None:
        config[key] = value

    return change


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """A project with the given stack files (documents or raw text) and policy values files."""

    def make(stacks: dict[str, dict[str, Any] | str], policies: dict[str, str] | None = None) -> Path:
        root = tmp_path / "project"
        root.mkdir()
        shutil.copy2(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
        (root / "stacks").mkdir()
        for name, document in stacks.items():
            text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
            (root / "stacks" / f"Pulumi.{name}.yaml").write_text(text, encoding="utf-8")
        if policies is not None:
            (root / "policies" / "teams").mkdir(parents=True)
            for name, text in policies.items():
                (root / "policies" / "teams" / f"{name}.yaml").write_text(text, encoding="utf-8")
        return root

    return make


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines), result.stderr
    return lines


SHIPPED = {name: stack_doc(name) for name in ("analytics", "ml-geo", "ml-vision")}


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_all_reports_every_bad_stack_then_exits_2(project: Callable[..., Path], command: str) -> None:
    root = project(
        {
            **SHIPPED,
            "bad-nat": stack_doc("analytics", setting("teamstack:team", "bad-nat"), setting("teamstack:natMode", "x")),
            "bad-zone": stack_doc(
                "analytics",
                setting("teamstack:team", "bad-zone"),
                setting("teamstack:vpcCidr", "10.99.0.0/255.255.0.0"),
            ),
        }
    )
    lines = error_lines(run(command, "--all", "-C", root, cwd=root))
    assert [line.split(":")[1].strip() for line in lines] == [
        "stacks/Pulumi.bad-nat.yaml",
        "stacks/Pulumi.bad-zone.yaml",
    ]
    assert "teamstack:natMode" in lines[0] and "teamstack:vpcCidr: '10.99.0.0/255.255.0.0'" in lines[1]


def test_validate_all_prints_the_good_stacks_too(project: Callable[..., Path]) -> None:
    root = project({**SHIPPED, "bad": stack_doc("analytics", setting("teamstack:team", "bad"), setting("x:y", 1))})
    result = run("validate", "--all", "-C", root, cwd=root)
    assert error_lines(result) == [
        "error: stacks/Pulumi.bad.yaml: x:y: unknown namespace 'x': nothing reads this key; allowed namespaces "
        "here: teamstack, aws, pulumi"
    ]
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["analytics", "ml-geo", "ml-vision"]


def test_a_second_stack_file_of_one_team_is_refused_in_both(project: Callable[..., Path]) -> None:
    again = stack_doc("analytics", setting("teamstack:vpcCidr", "10.42.0.0/18"))
    root = project({**SHIPPED, "analytics-2": again})
    lines = error_lines(run("validate", "--all", "-C", root, cwd=root))
    assert lines == [
        "error: stacks/Pulumi.analytics.yaml: teamstack:team: 'analytics' is also the team of "
        "stacks/Pulumi.analytics-2.yaml: one team, one stack file (both would create the same cluster, roles and "
        "buckets)",
        "error: stacks/Pulumi.analytics-2.yaml: teamstack:team: 'analytics' is also the team of "
        "stacks/Pulumi.analytics.yaml: one team, one stack file (both would create the same cluster, roles and "
        "buckets)",
    ]
    # Naming one stack still compares it with the others.
    one = error_lines(run("validate", "analytics-2", "-C", root, cwd=root))
    assert len(one) == 1 and "teamstack:team: 'analytics' is also the team of" in one[0]


def test_bucket_names_claimed_twice_through_the_team_and_purpose_split(project: Callable[..., Path]) -> None:
    # Team `ana` + bucket `lyt-raw` and team `ana-lyt` + bucket `raw`: one global name, ana-lyt-raw-<account>.
    ana = stack_doc(
        "analytics",
        setting("teamstack:team", "ana"),
        setting("teamstack:vpcCidr", "10.43.0.0/18"),
        setting("teamstack:catalogBuckets", [{"name": "lyt-raw"}]),
    )
    ana_lyt = stack_doc(
        "analytics",
        setting("teamstack:team", "ana-lyt"),
        setting("teamstack:vpcCidr", "10.44.0.0/18"),
        setting("teamstack:catalogBuckets", [{"name": "raw"}]),
    )
    root = project({**SHIPPED, "ana": ana, "ana-lyt": ana_lyt})
    assert error_lines(run("validate", "ana-lyt", "-C", root, cwd=root)) == [
        "error: stacks/Pulumi.ana-lyt.yaml: teamstack:catalogBuckets[0].name: makes the bucket name 'ana-lyt-raw', "
        "which stacks/Pulumi.ana.yaml makes too (teamstack:catalogBuckets[0].name); bucket names are global, so "
        "both cannot exist in one account: rename one"
    ]


def test_overlapping_vpcs_across_stacks(project: Callable[..., Path]) -> None:
    new = stack_doc("analytics", setting("teamstack:team", "bi-team"), setting("teamstack:vpcCidr", "10.40.64.0/18"))
    root = project({**SHIPPED, "bi-team": new})
    assert error_lines(run("validate", "bi-team", "-C", root, cwd=root)) == [
        "error: stacks/Pulumi.bi-team.yaml: teamstack:vpcCidr: 10.40.64.0/18 overlaps teamstack:vpcCidr 10.40.0.0/16 "
        "of stacks/Pulumi.ml-vision.yaml; team ranges stay apart so networks can be connected: pick a free range"
    ]


def test_gcp_namespace_claimed_twice_in_one_project(project: Callable[..., Path]) -> None:
    geo2 = stack_doc(
        "ml-geo",
        setting("teamstack:team", "geo-two"),
        setting("teamstack:namespace", "ml-geo"),
        setting("teamstack:vpcCidr", "10.70.0.0/20"),
        setting("teamstack:podCidr", "10.72.0.0/14"),
    )
    root = project({**SHIPPED, "geo-two": geo2})
    lines = error_lines(run("validate", "geo-two", "-C", root, cwd=root))
    assert lines == [
        "error: stacks/Pulumi.geo-two.yaml: teamstack:namespace: namespace 'ml-geo' is also claimed by "
        "stacks/Pulumi.ml-geo.yaml (teamstack:team) in project ml-geo-prod-example; Workload Identity is per "
        "project and namespace, so the two teams would share identities"
    ]


def test_the_program_runs_the_cross_stack_checks_under_pulumi_up(project: Callable[..., Path]) -> None:
    from components.program import check_project

    root = project({**SHIPPED, "analytics-2": stack_doc("analytics")})
    team = load_team(stack_config(load_project(root), "analytics-2"), "analytics-2")
    cwd = Path.cwd()
    os.chdir(root)  # the engine runs the program from the project folder
    try:
        with pytest.raises(ConfigError) as raised:
            check_project("analytics-2", team)
    finally:
        os.chdir(cwd)
    assert raised.value.key == "teamstack:team"


# --- policy values files ------------------------------------------------------------------------------------

GOOD_POLICY = (REPO / "policies" / "teams" / "analytics.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        (GOOD_POLICY + "maxGpus: 64\n", "line 13", "key 'maxGpus' appears twice in one mapping (first at line 6)"),
        (GOOD_POLICY.replace("maxGpus: 0", "maxGpus: yes"), "maxGpus", "valid integer (got true)"),
        (GOOD_POLICY.replace("maxNodes: 40", 'maxNodes: "40"'), "maxNodes", 'valid integer (got "40")'),
        (GOOD_POLICY.replace("team: analytics", "team: ml-vision"), "team", "'ml-vision', but stack analytics"),
        (
            GOOD_POLICY.replace("catalogBuckets: [warehouse, exports]", "catalogBuckets: warehouse"),
            "catalogBuckets",
            "valid list",
        ),
    ],
    ids=["duplicate-key", "yes-is-not-1", "text-is-not-a-number", "another-team", "scalar-for-a-list"],
)
@pytest.mark.parametrize("command", [("validate",), ("plan", "--policy", "--json", "out.json")])
def test_policy_values_are_read_strictly_before_anything_is_written(
    project: Callable[..., Path], command: tuple[str, ...], text: str, key: str, reason: str
) -> None:
    root = project({"analytics": SHIPPED["analytics"]}, {"analytics": text})
    lines = error_lines(run(command[0], "analytics", *command[1:], "-C", root, cwd=root))
    assert len(lines) == 1 and lines[0].startswith(f"error: {root}/policies/teams/analytics.yaml: {key}: "), lines
    assert reason in lines[0]
    assert not (root / "out.json").exists()


def test_the_shipped_policy_line_numbers_hold() -> None:
    # The duplicate-key case above names line 6 for maxGpus of the shipped analytics file.
    assert GOOD_POLICY.splitlines()[5].startswith("maxGpus:") and len(GOOD_POLICY.splitlines()) == 12


def test_plan_all_writes_no_json_when_one_stack_is_bad(project: Callable[..., Path]) -> None:
    root = project(
        {**SHIPPED, "bad": stack_doc("analytics", setting("teamstack:team", "bad"), setting("teamstak:x", 1))}
    )
    lines = error_lines(run("plan", "--all", "--json", "plans", "-C", root, cwd=root))
    assert len(lines) == 1 and lines[0].startswith("error: stacks/Pulumi.bad.yaml: teamstak:x: ")
    assert not (root / "plans").exists()


def test_policy_check_of_a_saved_plan_refuses_a_file_of_another_team(tmp_path: Path) -> None:
    plan = tmp_path / "analytics.json"
    plan.write_text(json.dumps({"stack": "analytics", "resources": [], "outputs": {"team": "analytics"}}))
    (tmp_path / "policies" / "teams").mkdir(parents=True)
    (tmp_path / "policies" / "teams" / "analytics.yaml").write_text("team: ml-vision\nmaxNodes: 40\n")
    result = run("policy", "check", plan, "--policies", tmp_path / "policies", cwd=tmp_path)
    assert error_lines(result) == [
        f"error: {tmp_path}/policies/teams/analytics.yaml: team: 'ml-vision', but stack analytics is team "
        "'analytics': this file holds the policy values of stack analytics; set team: analytics (or leave it out)"
    ]
