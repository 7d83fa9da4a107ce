"""The adapter between the pure rules and Pulumi CrossGuard: one CrossGuard policy per rule.

Resource rules become `ResourceValidationPolicy`s and stack rules `StackValidationPolicy`s; both call the
same pure functions the offline check calls. The team's policy values are read from
`policies/teams/<stack>.yaml`, the stack being the one in the resource URNs. `PolicyPack(...)` itself is
constructed only in policies/__main__.py, because constructing it starts the analyzer server.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from teamstack.policy.config import PolicyConfig, load_policy_config
from teamstack.policy.model import Resource, Rule
from teamstack.policy.rules import ALL_RULES
from teamstack.policy.values import normalize

PACK_NAME = "teamstack"
PACK_DESCRIPTION = (
    "teamstack: secure defaults, team caps and cost caps for per-team Dask stacks on AWS, GCP, Kubernetes"
)


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> the stack."""
    parts = urn.split("::", 1)[0].split(":")
    return parts[2] if len(parts) >= 3 and parts[0] == "urn" else ""


class _Configs:
    def __init__(self, policies_dir: Path) -> None:
        self.policies_dir = policies_dir

    @cache  # noqa: B019 - one instance per pack, kept for the analyzer's lifetime
    def for_stack(self, stack: str) -> PolicyConfig:
        config = load_policy_config(self.policies_dir, stack)
        return config.model_copy(update={"team": config.team_name(stack)})


def _resource_policy(rule: Rule, configs: _Configs) -> ResourceValidationPolicy:
    check = rule.check
    assert check is not None

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        config = configs.for_stack(stack_of(args.urn))
        for message in check(args.resource_type, normalize(args.props), config):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel(rule.enforcement),
        severity=Severity(rule.severity),
        remediation_steps=rule.remediation,
    )


def _resource_of(resource: Any) -> Resource:
    parent = getattr(resource, "parent", None)
    props: Mapping[str, Any] = resource.props
    return Resource.of(
        urn=resource.urn,
        type_token=resource.resource_type,
        name=resource.name,
        props=props,
        protect=bool(resource.opts.protect),
        retain_on_delete=None,  # CrossGuard does not tell a policy about retainOnDelete
        parent=parent.urn if parent is not None else None,
    )


def _stack_policy(rule: Rule, configs: _Configs) -> StackValidationPolicy:
    stack_check = rule.stack_check
    assert stack_check is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [_resource_of(resource) for resource in args.resources]
        stack = next((stack_of(r.urn) for r in resources if stack_of(r.urn)), "")
        for finding in stack_check(resources, configs.for_stack(stack)):
            report_violation(finding.message, finding.urn)

    return StackValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel(rule.enforcement),
        severity=Severity(rule.severity),
        remediation_steps=rule.remediation,
    )


def build_policies(policies_dir: Path, rules: tuple[Rule, ...] = ALL_RULES) -> list[Policy]:
    """The pack's policies, one per rule, reading team values from `policies_dir/teams/`."""
    configs = _Configs(policies_dir)
    return [_stack_policy(rule, configs) if rule.is_stack_rule else _resource_policy(rule, configs) for rule in rules]
