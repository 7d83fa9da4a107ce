"""Checks across the stack files of one project, and the validation pass every entry point runs.

Each team stack is isolated, but some things are shared: the team name (the cluster, roles and buckets derive
from it), bucket names (global on S3 and GCS; `<team>-<purpose>` is ambiguous: team `ml` with bucket
`vision-raw` and team `ml-vision` with bucket `raw` make the same name), address ranges (peering, VPN and
interconnects need them apart) and, on GCP, Kubernetes namespaces within one project (Workload Identity
identifies `<project>.svc.id.goog[<namespace>/<account>]`, whatever the cluster: two teams with one namespace
name in one project would share identities).

`validate_stacks` is the pass behind `teamstack validate` and `teamstack plan` (one line per bad stack, all of
them); `check_siblings` is what the Pulumi program runs under `pulumi up` for its own stack.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from teamstack import naming
from teamstack.config import ConfigError, Team, load_team, stack_file

if TYPE_CHECKING:
    from teamstack.stackfiles import Project


@dataclass(frozen=True)
class Checked:
    """The outcome of validating the named stacks: the teams that passed, one error per stack that did not."""

    teams: dict[str, Team]
    errors: dict[str, ConfigError]

    @property
    def ok(self) -> bool:
        return not self.errors


def _load(project: Project, stack: str) -> Team:
    from teamstack.stackfiles import stack_config

    return load_team(stack_config(project, stack), stack)


def _bucket_stems(team: Team) -> dict[str, str]:
    """Bucket name -> the key that claims it (AWS: the `<team>-<purpose>` stem; the account is not known)."""
    purposes = [(p, "teamstack:team") for p in naming.PLATFORM_BUCKETS] + [
        (b.name, f"teamstack:catalogBuckets[{i}].name") for i, b in enumerate(team.catalog_buckets)
    ]
    if team.cloud == "gcp":
        return {naming.gcp_bucket_name(team.team, p, team.project): key for p, key in purposes}
    return {f"{team.team}-{p}": key for p, key in purposes}


def _ranges(team: Team) -> list[tuple[str, ipaddress.IPv4Network]]:
    ranges = [("teamstack:vpcCidr", ipaddress.IPv4Network(team.vpc_cidr))]
    if team.cloud == "gcp":
        ranges.append(("teamstack:podCidr", ipaddress.IPv4Network(team.pod_cidr)))
    return ranges


def _namespaces(team: Team) -> list[tuple[str, str]]:
    key = "teamstack:namespace" if team.namespace is not None else "teamstack:team"
    return [(key, team.team_namespace)] + [
        (f"teamstack:kubernetes.extraNamespaces[{i}]", n) for i, n in enumerate(team.kubernetes.extra_namespaces)
    ]


def conflict(stack: str, team: Team, other_stack: str, other: Team) -> ConfigError | None:
    """The first thing `team` (of `stack`) claims that `other` (of `other_stack`) claims too, or None."""
    file, other_file = stack_file(stack), stack_file(other_stack)
    if team.team == other.team:
        return ConfigError(
            file,
            "teamstack:team",
            f"'{team.team}' is also the team of {other_file}: one team, one stack file (both would create the "
            "same cluster, roles and buckets)",
        )
    theirs = _bucket_stems(other)
    for name, key in _bucket_stems(team).items():
        if name in theirs:
            where = "in one account" if team.cloud == "aws" else "in the project"
            return ConfigError(
                file,
                key,
                f"makes the bucket name '{name}', which {other_file} makes too ({theirs[name]}); bucket names are "
                f"global, so both cannot exist {where}: rename one",
            )
    for key, mine in _ranges(team):
        for other_key, their in _ranges(other):
            if mine.overlaps(their):
                return ConfigError(
                    file,
                    key,
                    f"{mine} overlaps {other_key} {their} of {other_file}; team ranges stay apart so networks "
                    "can be connected: pick a free range",
                )
    if team.cloud == other.cloud == "gcp" and team.project == other.project:
        taken = dict(_namespaces(other))
        reverse = {name: key for key, name in taken.items()}
        for key, name in _namespaces(team):
            if name in reverse:
                return ConfigError(
                    file,
                    key,
                    f"namespace '{name}' is also claimed by {other_file} ({reverse[name]}) in project {team.project}; "
                    "Workload Identity is per project and namespace, so the two teams would share identities",
                )
    return None


def _conflicts(stack: str, team: Team, others: Iterable[tuple[str, Team]]) -> ConfigError | None:
    for other_stack, other in others:
        if other_stack != stack:
            found = conflict(stack, team, other_stack, other)
            if found is not None:
                return found
    return None


def validate_stacks(project: Project, stacks: Sequence[str]) -> Checked:
    """Validate every named stack (all of them, not only up to the first bad one), then across the project."""
    teams: dict[str, Team] = {}
    errors: dict[str, ConfigError] = {}
    for stack in stacks:
        try:
            teams[stack] = _load(project, stack)
        except ConfigError as error:
            errors[stack] = error
    # The other stack files of the project count too: `validate one` must see a clash with a file not named.
    siblings = dict(teams)
    for stack in project.stacks():
        if stack not in siblings and stack not in errors:
            try:
                siblings[stack] = _load(project, stack)
            except ConfigError:
                continue  # its own validation reports it
    for stack, team in list(teams.items()):
        found = _conflicts(stack, team, siblings.items())
        if found is not None:
            errors[stack] = found
            del teams[stack]
    return Checked(teams, {stack: errors[stack] for stack in stacks if stack in errors})


def check_siblings(project: Project, stack: str, team: Team) -> None:
    """Raise ConfigError if another stack file of the project claims what this stack's team claims."""
    others = []
    for other in project.stacks():
        if other == stack:
            continue
        try:
            others.append((other, _load(project, other)))
        except ConfigError:
            continue
    found = _conflicts(stack, team, others)
    if found is not None:
        raise found
