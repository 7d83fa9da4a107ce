"""Evaluate the rules on a plan offline: the same pure rules CrossGuard runs, with no engine."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from teamstack.policy.config import PolicyConfig
from teamstack.policy.model import Resource, Rule, Violation
from teamstack.policy.rules import ALL_RULES


class PlanFileError(Exception):
    """A saved plan that is not the teamstack JSON plan format; `str()` is the one line shown."""


def _resource(entry: Any, index: int, file: str) -> Resource:
    where = f"{file}: resources[{index}]"
    if not isinstance(entry, Mapping):
        raise PlanFileError(f"{where}: must be an object with urn, type, inputs and options")
    for key in ("urn", "type"):
        if not isinstance(entry.get(key), str):
            raise PlanFileError(f"{where}.{key}: must be a string")
    inputs = entry.get("inputs", {})
    options = entry.get("options", {})
    if not isinstance(inputs, Mapping):
        raise PlanFileError(f"{where}.inputs: must be an object of camelCase inputs")
    if not isinstance(options, Mapping):
        raise PlanFileError(f'{where}.options: must be an object like {{"protect": false}}')
    retain = options.get("retainOnDelete")
    return Resource.of(
        urn=entry["urn"],
        type_token=entry["type"],
        name=str(entry.get("name") or entry["urn"].rsplit("::", 1)[-1]),
        props=inputs,
        protect=bool(options.get("protect", False)),
        retain_on_delete=retain if isinstance(retain, bool) else None,
        parent=entry.get("parent") if isinstance(entry.get("parent"), str) else None,
        id=entry.get("id") if isinstance(entry.get("id"), str) else None,
    )


def resources_from_json(data: Any, file: str) -> tuple[str, list[Resource]]:
    """The stack name and resources of a JSON plan (the format `teamstack plan --json` writes)."""
    if not isinstance(data, Mapping):
        raise PlanFileError(f"{file}: must be a JSON object with 'stack' and 'resources' (teamstack plan --json)")
    stack, entries = data.get("stack"), data.get("resources")
    if not isinstance(stack, str) or not stack:
        raise PlanFileError(f"{file}: stack: must be the stack name (teamstack plan --json writes it)")
    if not isinstance(entries, list):
        raise PlanFileError(f"{file}: resources: must be a list of resources")
    return stack, [_resource(entry, index, file) for index, entry in enumerate(entries)]


def load_plan_file(path: Path) -> tuple[str, list[Resource], dict[str, Any]]:
    """(stack, resources, outputs) of a saved JSON plan."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanFileError(f"{path}: not a JSON plan ({error})") from None
    stack, resources = resources_from_json(data, str(path))
    outputs = data.get("outputs")
    return stack, resources, dict(outputs) if isinstance(outputs, Mapping) else {}


def violations_of(rule: Rule, resources: list[Resource], config: PolicyConfig) -> list[Violation]:
    def violation(message: str, urn: str | None) -> Violation:
        return Violation(rule.name, rule.severity, rule.enforcement, urn, message, rule.remediation)

    if rule.stack_check is not None:
        return [violation(f.message, f.urn) for f in rule.stack_check(resources, config)]
    assert rule.check is not None
    return [
        violation(message, resource.urn)
        for resource in resources
        if rule.applies_to(resource.type)
        for message in rule.check(resource.type, resource.props, config)
    ]


def evaluate(
    resources: list[Resource], config: PolicyConfig, stack: str, rules: Iterable[Rule] = ALL_RULES
) -> list[Violation]:
    """Every violation of `rules` in the plan, mandatory first, then by rule and resource."""
    config = config.model_copy(update={"team": config.team_name(stack)})
    found = [v for rule in rules for v in violations_of(rule, resources, config)]
    return sorted(found, key=lambda v: (not v.mandatory, v.rule, v.urn or "", v.message))
