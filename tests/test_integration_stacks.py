"""The throwaway stacks the opt-in real-engine suites deploy pass the same validation as a shipped stack.

Those suites skip here (no pulumi CLI, no credentials), so without this a change to the model or the shipped
stacks they derive from (a new required key, a new cross-field rule) would break them unseen.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack.config import ConfigError, load_team
from teamstack.stackfiles import load_project, stack_config
from tests.integration import test_pulumi_up as aws_itest
from tests.integration import test_pulumi_up_gcp as gcp_itest

REPO = Path(__file__).resolve().parents[1]


def _load(tmp_path: Path, stack: str, document: dict[str, Any]) -> Any:
    shutil.copy(REPO / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return load_team(stack_config(load_project(tmp_path), stack), stack)


def test_the_aws_throwaway_stack_validates(tmp_path: Path) -> None:
    document = aws_itest.itest_stack_document(
        "itest-aws",
        "us-east-1",
        "arn:aws:iam::111122223333:role/Admin",
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:ecr-pullthroughcache/ghcr-Ab12Cd",
    )
    team = _load(tmp_path, "itest-aws", document)
    assert team.cloud == "aws" and team.team == "itest-aws"
    assert team.nat_mode == "none" and team.ghcr_credential_arn is not None


def test_the_aws_throwaway_stack_needs_its_ghcr_credential(tmp_path: Path) -> None:
    """Without a NAT the stack must name the GitHub token its ghcr.io cache uses: without it, validation refuses
    the stack before `pulumi up` creates anything (it used to fail half-way, on the Dask operator's release)."""
    document = aws_itest.itest_stack_document("itest-aws", "us-east-1", "arn:aws:iam::111122223333:role/Admin", "x")
    del document["config"]["teamstack:ghcrCredentialArn"]
    with pytest.raises(ConfigError, match=r"teamstack:ghcrCredentialArn: required with natMode none"):
        _load(tmp_path, "itest-aws", document)


def test_the_aws_throwaway_stack_plans_and_its_manifest_passes_the_deployed_check(tmp_path: Path) -> None:
    """The manifest check the opt-in test makes after `pulumi up`, on the planned manifest of the same stack (the
    plan's stand-in account, 123456789012, owns the secret, as the deploying account must)."""
    from teamstack.plan.runner import plan_config

    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/ghcr-Ab12Cd"
    document = aws_itest.itest_stack_document("itest-aws", "us-east-1", "arn:aws:iam::123456789012:role/A", secret)
    _load(tmp_path, "itest-aws", document)
    plan = plan_config(REPO, "itest-aws", stack_config(load_project(tmp_path), "itest-aws"))
    aws_itest.check_manifest(plan.outputs["manifest"], "itest-aws")


def test_the_gcp_throwaway_stack_validates(tmp_path: Path) -> None:
    document = gcp_itest.itest_stack_document(
        "itest-gcp", "itest-project-1", "europe-west4", "012345-6789AB-CDEF01", "user:admin@example.com",
        "203.0.113.0/24", None,
    )
    team = _load(tmp_path, "itest-gcp", document)
    assert team.cloud == "gcp" and team.system_node_group.min_size == 1
