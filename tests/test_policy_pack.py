"""The CrossGuard pack: PulumiPolicy.yaml is valid, __main__.py builds the real PolicyPack from the rules,
and the adapter runs the pure rules on what pulumi_policy hands a policy (proxies, unknowns)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyCustomTimeouts
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from teamstack.policy.crossguard import PACK_NAME, build_policies, stack_of
from teamstack.policy.rules import ALL_RULES

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "policies"


class _ServerWouldStart(Exception):
    """Raised where PolicyPack would start its gRPC server: everything before it was validated."""


def test_pulumi_policy_yaml_is_a_python_pack() -> None:
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert project["runtime"]["name"] == "python"
    assert (PACK / project["runtime"]["options"]["virtualenv"] / "bin" / "python").exists()
    assert isinstance(project["version"], str) and project["description"]
    assert set(project) <= {"runtime", "version", "description", "main", "author", "website", "license"}


def test_main_builds_the_real_policy_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Any] = {}
    original = pulumi_policy.policy._PolicyAnalyzerServicer.__init__

    def record(self: Any, name: str, version: str, policies: list[Any], *rest: Any) -> None:
        built.update(name=name, policies=policies)
        original(self, name, version, policies, *rest)

    def no_server(*args: Any, **kwargs: Any) -> None:
        raise _ServerWouldStart

    monkeypatch.setattr(pulumi_policy.policy._PolicyAnalyzerServicer, "__init__", record)
    monkeypatch.setattr(pulumi_policy.policy.grpc, "server", no_server)
    with pytest.raises(_ServerWouldStart):
        runpy.run_path(str(PACK / "__main__.py"), run_name="__main__")
    assert built["name"] == PACK_NAME
    assert [p.name for p in built["policies"]] == [rule.name for rule in ALL_RULES]


def test_policies_are_well_formed() -> None:
    policies = build_policies(PACK)
    names = [p.name for p in policies]
    assert len(names) == len(set(names)) >= 30
    for policy, rule in zip(policies, ALL_RULES, strict=True):
        assert policy.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
        assert policy.enforcement_level.value == rule.enforcement
        assert policy.severity is not None and policy.severity.value == rule.severity
        assert policy.description and policy.remediation_steps
        kind = StackValidationPolicy if rule.is_stack_rule else ResourceValidationPolicy
        assert isinstance(policy, kind)


def _policy(name: str) -> Any:
    return next(p for p in build_policies(PACK) if p.name == name)


def _options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _validate(policy: Any, type_token: str, props: dict[str, Any], stack: str = "ml-vision") -> list[str]:
    reports: list[str] = []
    urn = f"urn:pulumi:{stack}::teamstack::{type_token}::x"
    args = ResourceValidationArgs(type_token, unknown_checking_proxy(props), urn, "x", _options(), None)
    policy.validate(args, lambda message, urn=None: reports.append(message))
    return reports


def test_resource_policy_reports_through_crossguard() -> None:
    policy = _policy("network-no-public-ingress")
    rule = {"cidrIpv4": "0.0.0.0/0", "fromPort": 22, "toPort": 22, "ipProtocol": "tcp"}
    assert _validate(policy, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", rule)
    assert _validate(policy, "aws:ec2/vpc:Vpc", {"cidrBlock": "0.0.0.0/0"}) == []  # not its type


def test_preview_unknowns_do_not_raise_through_the_proxy() -> None:
    # pulumi_policy's proxy raises UnknownValueError on reading an unknown; the adapter unwraps it first.
    policy = _policy("cluster-endpoint-not-public")
    props = {"vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": UNKNOWN_STRING_VALUE}}
    assert _validate(policy, "aws:eks/cluster:Cluster", props) == []


def test_team_values_come_from_the_stack_in_the_urn() -> None:
    policy = _policy("iam-trusted-principals")
    person = "arn:aws:iam::111122223333:role/sso/MLVisionDataScientists"
    trust = json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": person}}]})
    assert _validate(policy, "aws:iam/role:Role", {"assumeRolePolicy": trust}, stack="ml-vision") == []
    assert _validate(policy, "aws:iam/role:Role", {"assumeRolePolicy": trust}, stack="analytics")


def test_stack_policy_sees_protect_from_crossguard() -> None:
    policy = _policy("catalog-buckets-protected")

    def bucket(protect: bool) -> PolicyResource:
        urn = "urn:pulumi:ml-vision::teamstack::aws:s3/bucket:Bucket::ml-vision-catalog-raw-bucket"
        props = {"bucket": "ml-vision-raw-123456789012"}
        return PolicyResource(
            "aws:s3/bucket:Bucket", props, urn, "ml-vision-catalog-raw-bucket", _options(protect), None, None, [], {}
        )

    for protect, expected in ((True, 0), (False, 1)):
        reports: list[tuple[str, Any]] = []

        def report(message: str, urn: Any = None, found: list[tuple[str, Any]] = reports) -> None:
            found.append((message, urn))

        policy.validate(StackValidationArgs([bucket(protect)]), report)
        assert len(reports) == expected


def test_stack_of_urn() -> None:
    assert stack_of("urn:pulumi:ml-vision::teamstack::aws:s3/bucket:Bucket::b") == "ml-vision"
    assert stack_of("not-a-urn") == ""
