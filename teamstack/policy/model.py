"""What a rule is, what it reports, and the resource view both the offline plan and CrossGuard hand it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from teamstack.policy.values import normalize

if TYPE_CHECKING:
    from teamstack.policy.config import PolicyConfig

Severity = Literal["low", "medium", "high", "critical"]
Enforcement = Literal["mandatory", "advisory"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
ENFORCEMENTS: tuple[Enforcement, ...] = ("mandatory", "advisory")


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it: camelCase props with unknowns/secrets as `UNKNOWN`.

    `retain_on_delete` is None where it is not known (CrossGuard does not report it to a policy)."""

    urn: str
    type: str
    name: str
    props: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool | None = None
    parent: str | None = None
    id: str | None = None

    @classmethod
    def of(
        cls,
        urn: str,
        type_token: str,
        name: str,
        props: Mapping[str, Any],
        protect: bool = False,
        retain_on_delete: bool | None = None,
        parent: str | None = None,
        id: str | None = None,
    ) -> Resource:
        return cls(urn, type_token, name, normalize(props), protect, retain_on_delete, parent, id)


@dataclass(frozen=True)
class Finding:
    """What a stack check reports: a message, and the resource it is about (None: the stack as a whole)."""

    message: str
    urn: str | None = None


ResourceCheck = Callable[[str, dict[str, Any], "PolicyConfig"], Iterable[str]]
StackCheck = Callable[[list[Resource], "PolicyConfig"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A policy: metadata for the reviewer and the pack, plus its pure check.

    A resource rule's `check(type_token, props, config)` runs on each resource of `types` and yields one
    message per violated condition; a stack rule's `stack_check(resources, config)` sees the whole plan."""

    name: str
    description: str
    severity: Severity
    enforcement: Enforcement
    remediation: str
    types: frozenset[str] = frozenset()
    check: ResourceCheck | None = None
    stack_check: StackCheck | None = None

    def __post_init__(self) -> None:
        if (self.check is None) == (self.stack_check is None):
            raise ValueError(f"rule {self.name}: give exactly one of check and stack_check")
        if self.check is not None and not self.types:
            raise ValueError(f"rule {self.name}: a resource rule names the types it applies to")
        if self.severity not in SEVERITIES or self.enforcement not in ENFORCEMENTS:
            raise ValueError(f"rule {self.name}: bad severity or enforcement level")

    @property
    def is_stack_rule(self) -> bool:
        return self.stack_check is not None

    def applies_to(self, type_token: str) -> bool:
        return type_token in self.types


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: Severity
    enforcement: Enforcement
    urn: str | None
    message: str
    remediation: str

    @property
    def mandatory(self) -> bool:
        return self.enforcement == "mandatory"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "enforcement": self.enforcement,
            "urn": self.urn,
            "message": self.message,
            "remediation": self.remediation,
        }
