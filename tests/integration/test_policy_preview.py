"""Opt-in: `pulumi preview --policy-pack policies` on every shipped stack, through the Pulumi Automation API.

What only the engine shows: the pack loads in the Pulumi CLI's analyzer (PulumiPolicy.yaml, its virtualenv,
`PolicyPack(...)`), and its policies pass on the inputs the real providers checked, with preview's unknowns,
not only on the offline plan's mocks (tests/test_policy_plan.py). Nothing is created: it is a preview.
There is no offline engine check of a local pack: `pulumi policy validate-config` and `publish` need a
Pulumi Cloud organisation, and `--policy-pack` needs a stack preview, which runs the providers' lookups.

A stack's preview runs only when ALL of these hold, and is skipped otherwise (each skip names what is missing):

  TEAMSTACK_INTEGRATION=1            the explicit opt-in
  `pulumi` on PATH                   the Pulumi CLI the Automation API drives
  credentials of the stack's cloud   AWS: AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE or
                                     ~/.aws/credentials (any account: the lookups are the caller identity, the
                                     partition and the region's zones). GCP: GOOGLE_APPLICATION_CREDENTIALS,
                                     the gcloud ADC file or GOOGLE_OAUTH_ACCESS_TOKEN
  TEAMSTACK_ITEST_GCP_PROJECT        GCP stacks: a real project the lookups run in (the shipped stacks name
                                     example projects); it replaces gcp:project in a temporary copy

Each preview runs in a temporary project directory: a copy of Pulumi.yaml whose `main` is this repository and a
copy of the stack file, so the shipped stack files are never written (stack init stores its encryption salt in
the stack file). The state is a local file backend in pytest's tmp dir (PULUMI_BACKEND_URL=file://...).

    TEAMSTACK_INTEGRATION=1 .venv/bin/python -m pytest tests/integration/test_policy_preview.py -m integration -s
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack.policy.crossguard import PACK_NAME
from tests.integration.prerequisites import (
    REPO,
    credentials_missing,
    engine_missing,
    local_backend,
    variables_missing,
)

PROJECT_ENV = "TEAMSTACK_ITEST_GCP_PROJECT"
POLICY_PACK = REPO / "policies"


def shipped_stacks() -> list[tuple[str, str]]:
    """(stack, cloud) of each stacks/Pulumi.<stack>.yaml, leaving out the integration tests' throwaway stacks."""
    stacks = []
    for path in sorted((REPO / "stacks").glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if stack.startswith("itest-"):
            continue
        config = yaml.safe_load(path.read_text(encoding="utf-8"))["config"]
        stacks.append((stack, str(config.get("teamstack:cloud", "aws"))))
    return stacks


def missing_prerequisites(cloud: str) -> list[str]:
    missing = [*engine_missing(), *credentials_missing(cloud)]
    if cloud == "gcp":
        missing += variables_missing({PROJECT_ENV: "a GCP project for the preview's lookups"})
    return missing


def _params() -> list[Any]:
    params = []
    for stack, cloud in shipped_stacks():
        missing = missing_prerequisites(cloud)
        reason = f"real-engine policy preview of {stack} ({cloud}, opt-in): " + "; ".join(missing)
        params.append(pytest.param(stack, cloud, id=stack, marks=pytest.mark.skipif(bool(missing), reason=reason)))
    return params


pytestmark = pytest.mark.integration


def preview_project(root: Path, stack: str, cloud: str) -> Path:
    """A project directory running this repository's program, with a copy of the stack's file."""
    project_dir = root / "project"
    (project_dir / "stacks").mkdir(parents=True)
    settings = yaml.safe_load((REPO / "Pulumi.yaml").read_text(encoding="utf-8"))
    # Relative: Pulumi joins `main` to the project directory.
    settings["main"] = os.path.relpath(REPO, project_dir)
    settings["runtime"]["options"]["virtualenv"] = str(REPO / ".venv")
    settings["stackConfigDir"] = "stacks"
    (project_dir / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    document = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    if cloud == "gcp":
        document["config"]["gcp:project"] = os.environ[PROJECT_ENV]
    (project_dir / "stacks" / f"Pulumi.{stack}.yaml").write_text(
        yaml.safe_dump(document, sort_keys=False), encoding="utf-8"
    )
    return project_dir


@pytest.mark.parametrize(("stack_name", "cloud"), _params())
def test_shipped_stack_previews_clean_under_the_policy_pack(stack_name: str, cloud: str, tmp_path: Path) -> None:
    from pulumi import automation as auto

    _, env = local_backend(tmp_path)
    # The shipped stack name: the pack reads the team's values from policies/teams/<stack in the URNs>.yaml.
    stack = auto.create_stack(
        stack_name=stack_name,
        work_dir=str(preview_project(tmp_path, stack_name, cloud)),
        opts=auto.LocalWorkspaceOptions(env_vars=env, secrets_provider="passphrase"),
    )
    events: list[Any] = []
    try:
        result = stack.preview(policy_packs=[str(POLICY_PACK)], on_output=print, on_event=events.append)
    except auto.CommandError as error:
        violations = [
            f"{event.policy_name} ({event.enforcement_level}) {event.resource_urn}: {event.message.strip()}"
            for event in (e.policy_event for e in events)
            if event is not None
        ]
        pytest.fail(f"preview of {stack_name} failed; policy violations: {violations or 'none'}\n{error}")

    advisories = [e.policy_event for e in events if e.policy_event is not None]
    assert all(event.enforcement_level != "mandatory" for event in advisories)
    for event in advisories:
        print(f"advisory: {event.policy_name} {event.resource_urn}: {event.message.strip()}")
    # The program ran against the real providers: the team's resources are planned for creation.
    assert result.change_summary.get(auto.OpType.CREATE, 0) > 0
    # The engine ran the pack: the preview's Policies section names it (teamstack@v<version>).
    assert f"{PACK_NAME}@v" in result.stdout
