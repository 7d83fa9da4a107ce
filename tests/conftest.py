"""Shared fixtures: the project root, its stack files, and each stack's offline plan (planned once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from teamstack.config import TeamConfig, load_team
from teamstack.plan.runner import Plan, plan_stack
from teamstack.stackfiles import load_project, stack_config

ROOT = Path(__file__).resolve().parent.parent
STACKS = load_project(ROOT).stacks()


def cloud_of(stack: str) -> str:
    """The cloud a stack file says it runs on (`teamstack:cloud`, default aws), read from the file itself."""
    return str(stack_config(load_project(ROOT), stack).get("teamstack:cloud", "aws"))


# Per-cloud tests override the `stack` fixture with one of these (tests/test_stack_plan.py, test_gcp_stack_plan.py).
AWS_STACKS = [s for s in STACKS if cloud_of(s) == "aws"]
GCP_STACKS = [s for s in STACKS if cloud_of(s) == "gcp"]

_plans: dict[str, Plan] = {}


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    """Every stack file in stacks/: a new team file is tested the moment it is added."""
    return str(request.param)


@pytest.fixture
def plan(stack: str) -> Plan:
    if stack not in _plans:
        _plans[stack] = plan_stack(ROOT, stack)
    return _plans[stack]


@pytest.fixture
def team(stack: str) -> TeamConfig:
    return load_team(stack_config(load_project(ROOT), stack), stack)


@pytest.fixture(autouse=True)
def _private_dask_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has its own Dask config directory: the client remembers teams there, never in the real home."""
    monkeypatch.setenv("DASK_CONFIG", str(tmp_path_factory.mktemp("dask-config")))
