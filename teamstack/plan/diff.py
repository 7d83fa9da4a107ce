"""What a change does to a stack: two JSON plans (base and head) compared, for a pull request's reviewers.

Pure: plan JSON in, a `PlanDiff` out (and its Markdown and JSON). Resources are matched by URN: added, removed,
and changed field by field (a JSON document inside a string, e.g. an IAM policy or the team manifest, is
compared inside). Secrets are never shown. A change to a property the provider cannot update in place
(`teamstack.plan.forcenew`) is a replacement. Deleting, replacing or unprotecting a stateful or protected
resource blocks the change (exit 3) unless a reviewed allowance names it (`teamstack.plan.allowances`); so does
a new mandatory policy violation. The cost delta is the estimate of both plans (`teamstack.cost`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from teamstack import cost
from teamstack.plan import forcenew
from teamstack.plan.allowances import Allowance
from teamstack.policy.engine import resources_from_json
from teamstack.policy.model import Resource, Violation
from teamstack.policy.values import SECRET_PLACEHOLDER

EXIT_BLOCKED = 3  # the same code as a mandatory policy violation: the change needs a reviewer's decision
DIFF_FORMAT_VERSION = 1
MARKER = "<!-- teamstack-plan-diff -->"  # the workflow finds (and updates) its one comment by this


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Final = _Absent()
HIDDEN: Final = "[secret]"

# Keys whose values are credentials wherever they appear (lowercased, exact or as a suffix). Not "token" as a
# suffix: `httpTokens` (IMDSv2) and `automountServiceAccountToken` are settings a reviewer must see.
_SECRET_SUFFIXES: Final = ("password", "passphrase", "privatekey", "apikey", "secretaccesskey", "clientsecret")
_SECRET_KEYS: Final = frozenset(
    {"secret", "secretstring", "secretbinary", "token", "accesstoken", "authtoken", "bearertoken", "kubeconfig"}
)
# Types whose payload is secret as a whole.
_SECRET_FIELDS: Final = {"kubernetes:core/v1:Secret": frozenset({"data", "stringData"})}

Action = Literal["create", "delete", "update", "replace"]


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any
    secret: bool = False
    forces: forcenew.ForceNew | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        for key, value in (("old", self.old), ("new", self.new)):
            if value is not ABSENT:
                out[key] = HIDDEN if self.secret else value
        if self.forces is not None:
            out["forcesReplacement"] = {"property": self.forces.path, "source": forcenew.SOURCES[self.forces.source]}
        return out


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    name: str
    action: Action
    changes: tuple[FieldChange, ...] = ()
    stateful: str | None = None  # what deleting/replacing it loses
    protected: bool = False  # protect or retainOnDelete in the base
    replacement_known: bool = True  # False: an update of a type the force-new table does not cover

    @property
    def unprotects(self) -> bool:
        return any(c.path in ("options.protect", "options.retainOnDelete") and c.new is not True for c in self.changes)

    def blocking_action(self) -> Literal["delete", "replace", "unprotect"] | None:
        if not (self.stateful or self.protected):
            return None
        if self.action in ("delete", "replace"):
            return self.action
        return "unprotect" if self.unprotects else None

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "action": self.action,
            "stateful": self.stateful,
            "protected": self.protected,
            "replacementKnown": self.replacement_known,
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True)
class Blocker:
    change: ResourceChange
    action: Literal["delete", "replace", "unprotect"]
    allowance: Allowance | None

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.change.urn,
            "type": self.change.type,
            "action": self.action,
            "loses": self.change.stateful or "a protected resource",
            "allowed": self.allowance is not None,
            "allowance": self.allowance.model_dump(mode="json") if self.allowance else None,
        }


@dataclass(frozen=True)
class CostDelta:
    before: cost.Estimate
    after: cost.Estimate

    def items(self) -> list[tuple[str, str, float, float, float, float]]:
        """(urn, what, idle before, idle after, full before, full after) of every item whose cost changes."""
        old = {i.urn: i for i in self.before.items}
        new = {i.urn: i for i in self.after.items}
        rows = []
        for urn in sorted(set(old) | set(new)):
            a, b = old.get(urn), new.get(urn)
            either = b or a
            row = (
                urn,
                either.what if either is not None else "",
                a.idle if a else 0.0,
                b.idle if b else 0.0,
                a.full if a else 0.0,
                b.full if b else 0.0,
            )
            if round(row[2], 2) != round(row[3], 2) or round(row[4], 2) != round(row[5], 2):
                rows.append(row)
        return rows

    @property
    def idle(self) -> float:
        return round(self.after.idle - self.before.idle, 2)

    @property
    def full(self) -> float:
        return round(self.after.full - self.before.full, 2)

    def to_json(self) -> dict[str, Any]:
        return {
            "monthlyUsd": {
                "idle": {"before": self.before.idle, "after": self.after.idle, "delta": self.idle},
                "full": {"before": self.before.full, "after": self.after.full, "delta": self.full},
            },
            "items": [
                {
                    "urn": u,
                    "what": w,
                    "idle": {"before": round(a, 2), "after": round(b, 2)},
                    "full": {"before": round(c, 2), "after": round(d, 2)},
                }
                for u, w, a, b, c, d in self.items()
            ],
            "unpriced": [{"urn": u, "reason": r} for u, r in self.after.unpriced],
            "source": self.after.source,
        }


@dataclass(frozen=True)
class PolicyDelta:
    new: tuple[Violation, ...]
    fixed: tuple[Violation, ...]
    remaining: int

    @property
    def new_mandatory(self) -> int:
        return sum(v.mandatory for v in self.new)

    def to_json(self) -> dict[str, Any]:
        return {
            "new": [v.to_json() for v in self.new],
            "fixed": [v.to_json() for v in self.fixed],
            "remaining": self.remaining,
        }


def policy_delta(before: list[Violation], after: list[Violation]) -> PolicyDelta:
    """New and fixed violations, matched by (rule, resource): a message whose numbers change is still the same one."""
    new = _unmatched(after, before)
    fixed = _unmatched(before, after)
    return PolicyDelta(new, fixed, len(after) - len(new))


def _unmatched(violations: list[Violation], others: list[Violation]) -> tuple[Violation, ...]:
    """The violations with no counterpart (same rule and resource) left in `others`, counted one to one."""
    left = Counter((v.rule, v.urn or "") for v in others)
    unmatched = []
    for v in violations:
        key = (v.rule, v.urn or "")
        if left[key] > 0:
            left[key] -= 1
        else:
            unmatched.append(v)
    return tuple(unmatched)


@dataclass
class PlanDiff:
    stack: str
    base: str
    head: str
    resources: list[ResourceChange] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)
    cost: CostDelta | None = None
    policy: PolicyDelta | None = None
    notes: list[str] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(r.action == action for r in self.resources)

    @property
    def unallowed(self) -> list[Blocker]:
        return [b for b in self.blockers if b.allowance is None]

    @property
    def exit_code(self) -> int:
        new_mandatory = self.policy.new_mandatory if self.policy else 0
        return EXIT_BLOCKED if self.unallowed or new_mandatory else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "formatVersion": DIFF_FORMAT_VERSION,
            "stack": self.stack,
            "base": self.base,
            "head": self.head,
            "summary": {a: self.count(a) for a in ("create", "delete", "update", "replace")},
            "blocked": bool(self.exit_code),
            "blockers": [b.to_json() for b in self.blockers],
            "resources": [r.to_json() for r in self.resources],
            "cost": self.cost.to_json() if self.cost else None,
            "policy": self.policy.to_json() if self.policy else None,
            "notes": list(self.notes),
        }


# --- comparing values -------------------------------------------------------------------------------------


def _json_document(value: Any) -> Any:
    """A string holding a JSON object or list (IAM policies, the manifest), parsed; otherwise ABSENT."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return ABSENT
    return ABSENT


def _is_secret(value: Any) -> bool:
    return value == SECRET_PLACEHOLDER


def _contains_secret(value: Any) -> bool:
    if _is_secret(value):
        return True
    if isinstance(value, Mapping):
        return any(_secret_key(str(k)) or _contains_secret(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return False


_NAME_KEY: Final = "name"


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of objects that all have a distinct `name`, by name; None otherwise."""
    if not items or not all(isinstance(v, Mapping) and isinstance(v.get(_NAME_KEY), str) for v in items):
        return None
    keyed = {str(v[_NAME_KEY]): v for v in items}
    return keyed if len(keyed) == len(items) else None


def compare(old: Any, new: Any, path: str = "", secret: bool = False) -> Iterable[FieldChange]:
    """Every leaf that differs, with its dotted path (`a.b[2].c`, `policy{json}.Statement[0].Action`)."""
    if old == new:
        return
    if secret or _is_secret(old) or _is_secret(new):
        yield FieldChange(path, old, new, secret=True)
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            yield from compare(old.get(key, ABSENT), new.get(key, ABSENT), sub, _secret_key(str(key)))
        return
    if isinstance(old, list) and isinstance(new, list) and any(isinstance(v, Mapping | list) for v in old + new):
        keyed_old, keyed_new = _keyed(old), _keyed(new)
        if keyed_old is not None and keyed_new is not None:  # named entries: a removal does not shift the rest
            for name in sorted(set(keyed_old) | set(keyed_new)):
                sub = f"{path}[{_NAME_KEY}={name}]"
                yield from compare(keyed_old.get(name, ABSENT), keyed_new.get(name, ABSENT), sub)
            return
        for index in range(max(len(old), len(new))):
            yield from compare(
                old[index] if index < len(old) else ABSENT,
                new[index] if index < len(new) else ABSENT,
                f"{path}[{index}]",
            )
        return
    old_doc, new_doc = _json_document(old), _json_document(new)
    if old_doc is not ABSENT and new_doc is not ABSENT:
        yield from compare(old_doc, new_doc, f"{path}{{json}}")
        return
    yield FieldChange(path, old, new, secret=_contains_secret(old) or _contains_secret(new))


# --- the diff ---------------------------------------------------------------------------------------------


def _parents(*plans: Mapping[str, Any]) -> dict[str, str]:
    parents: dict[str, str] = {}
    for plan in plans:
        for e in plan.get("resources", []):
            if isinstance(e, Mapping) and isinstance(e.get("parent"), str):
                parents[str(e["urn"])] = str(e["parent"])
    return parents


def _lineage(urn: str, parents: Mapping[str, str]) -> list[str]:
    """The URN and those of its parent components, nearest first."""
    chain = [urn]
    while chain[-1] in parents and len(chain) < 50:
        chain.append(parents[chain[-1]])
    return chain


def _entries(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(e["urn"]): e for e in plan.get("resources", []) if isinstance(e, Mapping) and e.get("custom", True)}


def _options(entry: Mapping[str, Any]) -> dict[str, Any]:
    options = entry.get("options")
    return dict(options) if isinstance(options, Mapping) else {}


def _resource_change(urn: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> ResourceChange | None:
    entry = new or old
    assert entry is not None
    type_token = str(entry["type"])
    name = str(entry.get("name") or urn.rsplit("::", 1)[-1])
    stateful = forcenew.STATEFUL.get(type_token)
    base_options = _options(old) if old is not None else {}
    protected = bool(base_options.get("protect")) or bool(base_options.get("retainOnDelete"))
    if old is None:
        return ResourceChange(urn, type_token, name, "create", stateful=stateful)
    if new is None:
        return ResourceChange(urn, type_token, name, "delete", stateful=stateful, protected=protected)
    hidden = _SECRET_FIELDS.get(type_token, frozenset())
    old_inputs, new_inputs = dict(old.get("inputs") or {}), dict(new.get("inputs") or {})
    changes: list[FieldChange] = []
    for key in sorted(set(old_inputs) | set(new_inputs)):
        a, b = old_inputs.get(key, ABSENT), new_inputs.get(key, ABSENT)
        for change in compare(a, b, key, secret=key in hidden or _secret_key(key)):
            entry_hit = forcenew.replacing(
                type_token, change.path, change.old, change.new, removed=change.new is ABSENT
            )
            changes.append(FieldChange(change.path, change.old, change.new, change.secret, entry_hit))
    new_options = _options(new)
    for option in ("protect", "retainOnDelete"):
        before, after = bool(base_options.get(option)), bool(new_options.get(option))
        if before != after:
            changes.append(FieldChange(f"options.{option}", before, after))
    if not changes:
        return None
    replace = any(c.forces is not None for c in changes)
    known = forcenew.known(type_token)
    return ResourceChange(
        urn,
        type_token,
        name,
        "replace" if replace else "update",
        tuple(changes),
        stateful=stateful,
        protected=protected,
        replacement_known=known or all(c.path.startswith("options.") for c in changes),
    )


def _region(plan: Mapping[str, Any]) -> str | None:
    outputs = plan.get("outputs")
    region = outputs.get("region") if isinstance(outputs, Mapping) else None
    return region if isinstance(region, str) else None


def diff_plans(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    base: str = "base",
    head: str = "head",
    allowances: Iterable[Allowance] = (),
    old_violations: list[Violation] | None = None,
    new_violations: list[Violation] | None = None,
    today: dt.date | None = None,
    with_cost: bool = True,
) -> PlanDiff:
    """The change from plan `old` (the base) to plan `new` (the head). Plans are the `teamstack plan --json`
    format, already validated (`load_plan`). Violations, when given, are the policy pack's on each plan."""
    stack = str(new.get("stack") or old.get("stack"))
    result = PlanDiff(stack=stack, base=base, head=head)
    if old.get("stack") and new.get("stack") and old.get("stack") != new.get("stack"):
        result.notes.append(f"the plans are of different stacks: {old.get('stack')} and {new.get('stack')}")
    before, after = _entries(old), _entries(new)
    # A renamed resource names its old URN among its aliases (`options.aliases`): the engine moves it, so it is
    # compared with its old self (an update showing the new URN), not deleted and created.
    renamed: dict[str, str] = {}  # new urn -> old urn
    for urn, entry in after.items():
        aliases = _options(entry).get("aliases") or []
        old_urn = next((a for a in aliases if isinstance(a, str) and a in before and a not in after), None)
        if urn not in before and old_urn is not None and old_urn not in renamed.values():
            renamed[urn] = old_urn
    for urn in sorted((set(before) - set(renamed.values())) | set(after)):
        change = _resource_change(urn, before.get(renamed.get(urn, urn)), after.get(urn))
        if urn in renamed:
            rename = FieldChange("urn", renamed[urn], urn)
            change = change or ResourceChange(urn, str(after[urn]["type"]), str(after[urn].get("name")), "update")
            change = dataclasses.replace(change, changes=(rename, *change.changes))
        if change is not None:
            result.resources.append(change)

    today = today or dt.datetime.now(dt.UTC).date()
    granted: dict[tuple[str, str], Allowance] = {}
    for allowance in allowances:
        if allowance.active(today):
            granted[(allowance.urn, allowance.action)] = allowance
        else:
            result.notes.append(f"allowance for {allowance.action} of {allowance.urn} expired on {allowance.expires}")
    used = set()
    parents = _parents(old, new)
    for change in result.resources:
        action = change.blocking_action()
        if action is not None:
            # An allowance names the resource or a component above it (a catalog bucket and its protections).
            found: Allowance | None = None
            for urn in _lineage(change.urn, parents):
                found = granted.get((urn, action))
                if found is not None:
                    used.add((urn, action))
                    break
            result.blockers.append(Blocker(change, action, found))
    for key, allowance in sorted(granted.items()):
        if key not in used:
            result.notes.append(f"allowance for {allowance.action} of {allowance.urn} is not used by this change")
    unknown = sorted({c.type for c in result.resources if not c.replacement_known})
    if unknown:
        result.notes.append(
            "whether these updates replace is not known (types not in teamstack/plan/forcenew.py): "
            + ", ".join(unknown)
        )

    if with_cost:
        _, old_resources = resources_from_json(old, "base plan")
        _, new_resources = resources_from_json(new, "head plan")
        result.cost = CostDelta(cost.estimate(old_resources, _region(old)), cost.estimate(new_resources, _region(new)))
    if old_violations is not None and new_violations is not None:
        result.policy = policy_delta(old_violations, new_violations)
    return result


def resources_of(plan: Mapping[str, Any], label: str) -> list[Resource]:
    return resources_from_json(plan, label)[1]


# --- Markdown ---------------------------------------------------------------------------------------------

_ICON: Final = {"create": "+", "delete": "-", "update": "~", "replace": "+-"}
_MAX_VALUE: Final = 160


def _value(value: Any, secret: bool = False) -> str:
    if value is ABSENT:
        return "<i>(absent)</i>"
    if secret:
        return f"<code>{HIDDEN}</code>"
    text = json.dumps(value, sort_keys=True, separators=(",", ":")) if not isinstance(value, str) else value
    if len(text) > _MAX_VALUE:
        text = text[: _MAX_VALUE - 1] + "…"
    return "<code>" + html.escape(text).replace("|", "&#124;").replace("\n", " ") + "</code>"


def _usd(value: float, signed: bool = False) -> str:
    if signed:
        return ("+" if value >= 0 else "-") + f"${abs(value):,.0f}"
    return f"${value:,.0f}"


def _short(urn: str | None) -> str:
    return urn.rsplit("::", 1)[-1] if urn else "(stack)"


def _md(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|])", r"\\\1", text)


def to_markdown(diff: PlanDiff) -> str:
    """The pull-request comment section of one stack."""
    lines = [
        f"### Stack `{diff.stack}`: {diff.count('create')} to create, {diff.count('update')} to update, "
        f"{diff.count('replace')} to replace, {diff.count('delete')} to delete",
        f"<sub>offline plans of {_md(diff.base)} → {_md(diff.head)}; ids and ARNs are the planner's stand-ins</sub>",
        "",
    ]
    if diff.blockers:
        lines.append("**Reviewers must not miss**")
        lines.append("")
        for b in diff.blockers:
            allowed_by = f"`policies/allowances/{diff.stack}.yaml`"
            status = (
                f"allowed by {allowed_by} until {b.allowance.expires}: {_md(b.allowance.reason)}"
                if b.allowance
                else "**blocked**: no reviewed allowance (exit 3)"
            )
            verb = {"delete": "deletes", "replace": "replaces", "unprotect": "removes the protection of"}[b.action]
            loses = _md(b.change.stateful or "a protected resource")
            lines.append(f"- ⛔ {verb} `{b.change.name}` ({b.change.type}): loses {loses}; {status}")
            lines.append(f"  <sub>`{b.change.urn}`</sub>")
        lines.append("")
    if diff.cost is not None:
        c = diff.cost
        lines.append(
            f"**Cost** (monthly estimate): idle {_usd(c.before.idle)} → {_usd(c.after.idle)} "
            f"(**{_usd(c.idle, True)}**), full scale {_usd(c.before.full)} → {_usd(c.after.full)} "
            f"(**{_usd(c.full, True)}**)"
        )
        rows = c.items()
        if rows:
            lines += ["", "| resource | idle | full scale | what |", "|---|---:|---:|---|"]
            for urn, what, idle0, idle1, full0, full1 in rows:
                lines.append(
                    f"| `{_short(urn)}` | {_usd(idle0)} → {_usd(idle1)} | {_usd(full0)} → {_usd(full1)} | {_md(what)} |"
                )
        for urn, reason in c.after.unpriced:
            lines.append(f"- not priced: `{_short(urn)}`: {_md(reason)}")
        lines.append("")
    if diff.policy is not None:
        p = diff.policy
        lines.append(
            f"**Policy**: {len(p.new)} new violation(s) ({p.new_mandatory} mandatory), {len(p.fixed)} fixed, "
            f"{p.remaining} unchanged"
        )
        for v in p.new:
            lines.append(
                f"- 🔴 new [{v.enforcement}/{v.severity}] `{v.rule}` on `{_short(v.urn)}`: {_md(v.message)} "
                f"— {_md(v.remediation)}"
            )
        for v in p.fixed:
            lines.append(f"- 🟢 fixed `{v.rule}` on `{_short(v.urn)}`")
        lines.append("")
    if diff.resources:
        lines.append("**Changes**")
        lines.append("")
        collapse = len(diff.resources) > 15
        if collapse:
            lines += [f"<details><summary>{len(diff.resources)} resources</summary>", ""]
        for r in diff.resources:
            flag = " ⚠️ replacement not known for this type" if not r.replacement_known else ""
            lines.append(f"- `{_ICON[r.action]}` **{r.action}** `{r.name}` ({r.type}){flag}")
            if r.changes:
                lines += ["", "  | field | before | after | |", "  |---|---|---|---|"]
                for ch in r.changes:
                    forces = "forces replacement" if ch.forces else ""
                    before, after = _value(ch.old, ch.secret), _value(ch.new, ch.secret)
                    if isinstance(ch.old, list) and isinstance(ch.new, list) and not ch.secret:
                        gone = [v for v in ch.old if v not in ch.new]
                        added = [v for v in ch.new if v not in ch.old]
                        if gone or added:
                            before = "removed " + _value(gone) if gone else "(order or duplicates)"
                            after = "added " + _value(added) if added else "—"
                    lines.append(f"  | `{ch.path}` | {before} | {after} | {forces} |")
                lines.append("")
        if collapse:
            lines += ["</details>", ""]
    else:
        lines += ["No resource changes.", ""]
    for note in diff.notes:
        lines.append(f"> note: {_md(note)}")
    verdict = (
        "❌ **blocked** (exit 3): "
        + "; ".join(
            part
            for part in (
                f"{len(diff.unallowed)} deletion/replacement without an allowance" if diff.unallowed else "",
                f"{diff.policy.new_mandatory} new mandatory violation(s)"
                if diff.policy and diff.policy.new_mandatory
                else "",
            )
            if part
        )
        if diff.exit_code
        else "✅ nothing blocks this change"
    )
    lines.append(verdict)
    return "\n".join(lines).rstrip() + "\n"


def comment(sections: Iterable[str]) -> str:
    """The whole pull-request comment: the marker the workflow updates by, then each stack's section."""
    body = "\n---\n\n".join(sections)
    return f"{MARKER}\n## teamstack plan diff\n\n{body or 'No stack changes.'}\n"
