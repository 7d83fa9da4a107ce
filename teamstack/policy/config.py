"""The policy pack's settings: caps, allow-lists, required tags and the cost cap, per team.

Defaults live here, in the pack; a team's own values live in Git as `policies/teams/<stack>.yaml`, where a
reviewer reads exactly what the team may use (see policies/README.md). A key left out keeps its default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from teamstack import gcp_machines
from teamstack.config import ConfigError
from teamstack.validation import catalogue, names, principals, shorten, yamlfile

TEAMS_DIR = "teams"

# EC2 types a team may run without asking: the burstable system-node types, current x86_64/Graviton general
# purpose and memory families up to 8xlarge and the NVIDIA T4/A10G/L4 types. Every one is priced in
# teamstack/data/prices.yaml.
DEFAULT_INSTANCE_TYPES: tuple[str, ...] = (
    *(f"{family}.{s}" for family in ("t3a", "t3") for s in ("small", "medium", "large")),
    *(f"m7i.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")),
    *(f"m6i.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")),
    *(f"m6a.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")),
    *(f"m7g.{s}" for s in ("large", "xlarge", "2xlarge")),
    *(f"m6g.{s}" for s in ("large", "xlarge", "2xlarge")),
    *(f"c7i.{s}" for s in ("xlarge", "2xlarge", "4xlarge")),
    *(f"r7i.{s}" for s in ("xlarge", "2xlarge", "4xlarge")),
    *(f"r6i.{s}" for s in ("xlarge", "2xlarge", "4xlarge")),
    *(f"r7a.{s}" for s in ("xlarge", "2xlarge", "4xlarge")),
    *(f"g4dn.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "12xlarge")),
    *(f"g5.{s}" for s in ("xlarge", "2xlarge", "4xlarge", "12xlarge")),
    *(f"g6.{s}" for s in ("xlarge", "2xlarge", "12xlarge")),
)
# GCE machine types: E2/N2 general purpose and high-memory, N1 (for attached T4s), G2 (L4) and one A100.
DEFAULT_MACHINE_TYPES: tuple[str, ...] = (
    "e2-medium",
    *(f"e2-standard-{n}" for n in (2, 4, 8, 16)),
    *(f"n2-standard-{n}" for n in (2, 4, 8, 16, 32)),
    *(f"n2-highmem-{n}" for n in (4, 8, 16)),
    *(f"n1-standard-{n}" for n in (4, 8, 16)),
    *(f"g2-standard-{n}" for n in (4, 8, 12, 24)),
    "a2-highgpu-1g",
)
DEFAULT_ACCELERATORS: tuple[str, ...] = ("nvidia-tesla-t4", "nvidia-l4", "nvidia-tesla-a100")


def _instance_type(name: str) -> str:
    if catalogue.aws_instance(name) is None:
        raise ValueError(
            f"'{shorten(name)}' is not an EC2 instance type (catalogue of {catalogue.aws_date()}); "
            f"{catalogue.aws_type_hint(name)}"
        )
    return name


def _machine_type(name: str) -> str:
    if catalogue.gcp_machine(name) is None:
        raise ValueError(
            f"'{shorten(name)}' is not a Compute Engine machine type (catalogue of {catalogue.gcp_date()}); "
            f"{catalogue.gcp_type_hint(name)}"
        )
    return name


def _accelerator(name: str) -> str:
    if name not in gcp_machines.ACCELERATORS:
        raise ValueError(
            f"'{shorten(name)}' is not a GKE NVIDIA accelerator; known: {', '.join(gcp_machines.ACCELERATORS)}"
        )
    return name


def _dns_label(name: str) -> str:
    if names.dns_subdomain_problem(name) is not None or "." in name:
        raise ValueError(f"'{shorten(name)}' is not a DNS label (1-63 lowercase letters, digits and '-')")
    return name


def _principal(arn: str) -> str:
    problem = principals.arn_problem(arn, None)  # the stack's region decides the partition, not this file
    if problem is not None:
        raise ValueError(problem)
    return arn


# Each entry checked against the real rule: an entry that can never match (a misspelt type) would silently
# allow nothing, or, in a deny-list sense, let a reviewer believe something is covered that is not.
InstanceTypes = tuple[Annotated[str, AfterValidator(_instance_type)], ...]
MachineTypes = tuple[Annotated[str, AfterValidator(_machine_type)], ...]
Accelerators = tuple[Annotated[str, AfterValidator(_accelerator)], ...]
Labels = tuple[Annotated[str, AfterValidator(_dns_label)], ...]
Principals = tuple[Annotated[str, AfterValidator(_principal)], ...]


class PolicyConfig(BaseModel):
    """One team's policy values (camelCase keys, as in the YAML file)."""

    # Strict: a reviewer reads exactly the value that applies (`maxGpus: yes` is not 1, "40" is not 40).
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True, populate_by_name=True, strict=True)

    team: str | None = Field(default=None, description="The team (default: the stack name).")
    max_nodes: Annotated[int, Field(ge=0, description="Cap on nodes of all groups at their maximum.")] = 50
    max_gpus: Annotated[int, Field(ge=0, description="Cap on GPUs of all groups at their maximum.")] = 8
    allowed_instance_types: InstanceTypes = DEFAULT_INSTANCE_TYPES
    allowed_machine_types: MachineTypes = DEFAULT_MACHINE_TYPES
    allowed_accelerators: Accelerators = DEFAULT_ACCELERATORS
    required_tags: tuple[str, ...] = ("team", "cost-center")
    monthly_cost_cap_usd: Annotated[float, Field(gt=0, description="Cap on the full-scale monthly estimate.")] = 20000.0
    catalog_buckets: Labels = Field(
        default=(), description="Catalog bucket purposes that must exist (e.g. raw, features)."
    )
    namespaces: Labels = Field(
        default=(), description="Team namespaces that need a ResourceQuota and a LimitRange (default: the team)."
    )
    trusted_principals: Principals = Field(
        default=(), description="IAM principal ARNs a role's trust policy may name besides AWS services."
    )

    def team_name(self, stack: str) -> str:
        return self.team or stack


DEFAULTS = PolicyConfig()


def team_config_path(policies_dir: Path, stack: str) -> Path:
    return policies_dir / TEAMS_DIR / f"{stack}.yaml"


def parse_policy_config(data: Any, file: str) -> PolicyConfig:
    if data is None:
        return DEFAULTS
    if not isinstance(data, dict):
        raise ConfigError(file, "(top level)", "must be a mapping of policy keys, e.g. maxNodes: 40")
    # Lists in YAML, tuples in the (frozen) model: the only conversion allowed.
    data = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
    try:
        return PolicyConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(str(f.alias) for f in PolicyConfig.model_fields.values()))
            raise ConfigError(file, key, f"is not a policy key; allowed: {allowed}") from None
        given = first.get("input")
        shown = (
            f" (got {shorten(json.dumps(given, default=str))})"
            if first["type"] != "value_error" and not isinstance(given, dict)
            else ""
        )
        message = str(first["msg"]).replace("valid tuple", "valid list").removeprefix("Value error, ")
        raise ConfigError(file, key, f"{message}{shown}") from None


def load_policy_config(policies_dir: Path, stack: str) -> PolicyConfig:
    """The team's values from `policies/teams/<stack>.yaml`, or the pack's defaults if it has no file."""
    path = team_config_path(policies_dir, stack)
    if not path.is_file():
        return DEFAULTS
    try:
        data = yamlfile.load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "(file)", "is not UTF-8 text") from None
    except yamlfile.YamlRefused as error:
        raise ConfigError(str(path), error.where, error.reason) from None
    return parse_policy_config(data, str(path))


def load_team_policy(policies_dir: Path, stack: str, team: str | None) -> PolicyConfig:
    """The stack's policy values, refused when the file names a team other than the stack's own; `team` (the
    plan's team) fills in the team the file leaves out."""
    config = load_policy_config(policies_dir, stack)
    if team is not None and config.team is not None and config.team != team:
        raise ConfigError(
            str(team_config_path(policies_dir, stack)),
            "team",
            f"'{shorten(config.team, 40)}', but stack {stack} is team '{team}': this file holds the policy values "
            f"of stack {stack}; set team: {team} (or leave it out)",
        )
    # The plan knows the stack's team: without it the rules would take the stack's name for the team, and a
    # stack named apart from its team (ml-vision-prod) would have no catalog bucket the rules recognise.
    return config if config.team is not None or team is None else config.model_copy(update={"team": team})
