"""Every rule of the pack: resource rules (one resource at a time) and stack rules (the whole plan)."""

from __future__ import annotations

from teamstack.policy.model import Rule
from teamstack.policy.rules.resources import RESOURCE_RULES
from teamstack.policy.rules.stack import STACK_RULES

ALL_RULES: tuple[Rule, ...] = RESOURCE_RULES + STACK_RULES
RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in ALL_RULES}

__all__ = ["ALL_RULES", "RESOURCE_RULES", "RULES_BY_NAME", "STACK_RULES"]
