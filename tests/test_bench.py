"""The benchmark's baseline must load exactly the SDK classes a plan uses, or its ratios compare the wrong things."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from teamstack.plan.runner import Plan

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_plan import module_of, sdk_classes

TOKENS = [
    "aws:ec2/vpc:Vpc",
    "aws:eks/nodeGroup:NodeGroup",
    "pulumi:providers:aws",
    "gcp:compute/network:Network",
    "gcp:container/nodePool:NodePool",
    "kubernetes:core/v1:Namespace",
    "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:helm.sh/v3:Release",
    "pulumi:providers:kubernetes",
]


@pytest.mark.parametrize("qualified", sdk_classes(TOKENS))
def test_every_baseline_class_exists_in_its_sdk(qualified: str) -> None:
    module, _, cls = qualified.partition(":")
    assert isinstance(getattr(importlib.import_module(module), cls), type)


def test_components_are_not_part_of_the_baseline() -> None:
    assert module_of("teamstack:aws:TeamStack") is None
    assert len(sdk_classes([*TOKENS, "teamstack:k8s:TeamKubernetes"])) == len(TOKENS)


def test_baseline_covers_the_shipped_plans(plan: Plan) -> None:
    """Every provider resource in a real plan maps to a class the bare scenario loads."""
    provider_types = [r.type for r in plan.resources if r.custom]
    assert len(sdk_classes(provider_types)) == len(set(provider_types))
