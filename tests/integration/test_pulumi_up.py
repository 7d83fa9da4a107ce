"""Opt-in: a real `pulumi up` and `destroy` of a throwaway team stack, through the Pulumi Automation API.

It deploys to a real AWS account, costs money (an EKS control plane, VPC endpoints, a budget) and takes a
long while (EKS: ~15-25 minutes up, ~10-15 down). It runs only when ALL of these hold, and is skipped otherwise:

  TEAMSTACK_INTEGRATION=1            the explicit opt-in
  `pulumi` on PATH                   the Pulumi CLI the Automation API drives
  AWS credentials                    AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE or ~/.aws/credentials
  TEAMSTACK_ITEST_ADMIN_ARN          an IAM role/user ARN made cluster admin and data scientist of the stack
  TEAMSTACK_ITEST_GHCR_CREDENTIAL_ARN  a Secrets Manager secret ecr-pullthroughcache/<name> in the account and region,
                                     holding a GitHub token ({"username": ..., "accessToken": ...}): the stack has
                                     no NAT, so its nodes pull the Dask operator (ghcr.io) through an ECR cache

Optional: AWS_REGION (default us-west-2), PULUMI_CONFIG_PASSPHRASE (default a fixed test passphrase).

The stack is `itest-<8 hex>`, written as stacks/Pulumi.itest-<hex>.yaml (the analytics stack made small: 2 zones,
no NAT, so its add-ons come through ECR pull-through caches, a small budget), with its state in a local file
backend under pytest's tmp dir. Teardown always runs: unprotect, destroy, remove the stack, delete the stack
file. The catalog buckets, the access-log bucket and the KMS key are retained on delete by design; the test
prints them for the operator to delete by hand.

    TEAMSTACK_INTEGRATION=1 TEAMSTACK_ITEST_ADMIN_ARN=arn:aws:iam::<account>:role/<admin> \\
        TEAMSTACK_ITEST_GHCR_CREDENTIAL_ARN=arn:aws:secretsmanager:<region>:<account>:secret:ecr-pullthroughcache/<n> \\
        .venv/bin/python -m pytest tests/integration -m integration -s
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack import naming
from teamstack.config import load_team
from teamstack.stackfiles import load_project, stack_config
from tests.integration.prerequisites import (
    REPO,
    credentials_missing,
    engine_missing,
    local_backend,
    teardown,
    variables_missing,
)

DEFAULT_REGION = "us-west-2"
ADMIN_ENV = "TEAMSTACK_ITEST_ADMIN_ARN"
GHCR_ENV = "TEAMSTACK_ITEST_GHCR_CREDENTIAL_ARN"
RETAINED_ADVICE = "empty the buckets first; schedule the KMS key's deletion"


def _missing_prerequisites() -> list[str]:
    return [
        *engine_missing(),
        *credentials_missing("aws"),
        *variables_missing(
            {
                ADMIN_ENV: "IAM role ARN to make cluster admin",
                GHCR_ENV: "Secrets Manager secret ecr-pullthroughcache/<name> with a GitHub token (natMode none)",
            }
        ),
    ]


_MISSING = _missing_prerequisites()

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(_MISSING), reason="real AWS deployment (opt-in): " + "; ".join(_MISSING)),
]


def itest_stack_document(stack: str, region: str, admin_arn: str, ghcr_credential_arn: str) -> dict[str, Any]:
    """The analytics stack file, made a small throwaway stack named after `stack`."""
    document = yaml.safe_load((REPO / "stacks" / "Pulumi.analytics.yaml").read_text(encoding="utf-8"))
    config = document["config"]
    config["aws:region"] = region
    config["teamstack:team"] = stack
    # Its own range: the program refuses a VPC that overlaps another stack file's (analytics' among them).
    config["teamstack:vpcCidr"] = "10.250.0.0/18"
    config["teamstack:azCount"] = 2
    config["teamstack:natMode"] = "none"
    config["teamstack:ghcrCredentialArn"] = ghcr_credential_arn
    config["teamstack:admins"] = [admin_arn]
    config["teamstack:dataScientistPrincipals"] = [admin_arn]
    config["teamstack:budget"] = {**config["teamstack:budget"], "monthlyLimitUsd": 50}
    config["teamstack:tags"] = {"purpose": "teamstack-integration-test"}
    return {"config": config}


def check_manifest_parameter(name: str, region: str, team: str) -> None:
    try:
        import boto3
    except ImportError:
        print(f"boto3 is not installed: the SSM parameter {name} was not read back")
        return
    value = boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]
    check_manifest(json.loads(value), team)


def check_manifest(manifest: dict[str, Any], team: str) -> None:
    """The deployed manifest is the current schema and says the nodes pull through the stack's ECR caches."""
    assert manifest["schemaVersion"] == naming.MANIFEST_SCHEMA_VERSION
    assert manifest["team"] == team
    assert manifest["internetEgress"] is False
    assert set(manifest["registry"]["mirrors"]) == {"ghcr.io", "registry.k8s.io"}


def test_pulumi_up_then_destroy_a_throwaway_team_stack(tmp_path: Path) -> None:
    from pulumi import automation as auto

    stack_name = f"itest-{secrets.token_hex(4)}"
    region = os.environ.get("AWS_REGION") or DEFAULT_REGION
    stack_file = REPO / "stacks" / f"Pulumi.{stack_name}.yaml"
    stack_file.write_text(
        yaml.safe_dump(
            itest_stack_document(stack_name, region, os.environ[ADMIN_ENV], os.environ[GHCR_ENV]), sort_keys=False
        ),
        encoding="utf-8",
    )
    backend, env = local_backend(tmp_path)
    env["AWS_REGION"] = region
    stack = None
    passed = False
    try:
        # The same check `pulumi up` makes first: a broken stack file fails here, before any cloud cost.
        load_team(stack_config(load_project(REPO), stack_name), stack_name)
        stack = auto.create_or_select_stack(
            stack_name=stack_name,
            work_dir=str(REPO),
            opts=auto.LocalWorkspaceOptions(env_vars=env, secrets_provider="passphrase"),
        )
        result = stack.up(on_output=print)
        outputs = {name: output.value for name, output in result.outputs.items()}
        assert outputs["clusterName"] == stack_name
        assert outputs["manifestParameter"] == f"/teamstack/{stack_name}/manifest"
        assert f".dkr.ecr.{region}.amazonaws.com/{stack_name}/" in outputs["registryUri"]
        check_manifest_parameter(outputs["manifestParameter"], region, stack_name)
        passed = True
    finally:
        problems = teardown(stack, stack_name, env, backend, RETAINED_ADVICE) if stack is not None else []
        stack_file.unlink(missing_ok=True)
        for problem in problems:
            print(f"TEARDOWN PROBLEM: {problem}")
        if problems and passed:
            pytest.fail("teardown: " + "; ".join(problems))
