"""Reviewed allowances: the only way a plan diff may delete or replace a protected or stateful resource.

One file per stack, `policies/allowances/<stack>.yaml`, in the same pull request as the change, so the reviewers
of `policies/` (security; see README "Reviews in Git") approve it with the change itself:

    allow:
      - urn: urn:pulumi:ml-vision::teamstack::...::ml-vision-catalog-raw-data
        action: delete            # delete | replace | unprotect
        reason: raw images moved to the shared lake (CHG-1234)
        expires: 2026-12-31       # required: an allowance covers one change, not every later one

An allowance names one resource by its exact URN (no wildcards) and one action; an expired one allows nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from teamstack.config import ConfigError
from teamstack.validation import yamlfile

ALLOWANCES_DIR = "allowances"
Action = Literal["delete", "replace", "unprotect"]


class Allowance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    urn: Annotated[str, Field(pattern=r"^urn:pulumi:[^:]+::[^:]+::[^*]+::[^*]+$")]
    action: Action
    reason: Annotated[str, Field(min_length=10)]
    expires: dt.date

    def active(self, today: dt.date) -> bool:
        return today <= self.expires


class AllowanceFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[Allowance] = []


def allowances_path(policies_dir: Path, stack: str) -> Path:
    return policies_dir / ALLOWANCES_DIR / f"{stack}.yaml"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_allowances(policies_dir: Path, stack: str) -> list[Allowance]:
    """The stack's allowances; none when it has no file. Bad content: ConfigError naming the file and key."""
    path = allowances_path(policies_dir, stack)
    if not path.is_file():
        return []
    shown = _shown(path)
    try:
        document = yamlfile.load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(shown, "(file)", "is not UTF-8 text") from None
    except yamlfile.YamlRefused as error:  # duplicate keys, alias bombs, oversized files: refused with the line
        raise ConfigError(shown, error.where, error.reason) from None
    try:
        return list(AllowanceFile.model_validate(document or {}).allow)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in first["loc"]).replace(".[", "[")
        allowed = {
            "urn": "the exact URN of one resource, as the plan diff prints it (no wildcards)",
            "action": "delete, replace or unprotect",
            "reason": "why, in at least 10 characters (a ticket or change number)",
            "expires": "a date, YYYY-MM-DD",
        }.get(str(first["loc"][-1]), "")
        given = f", got {first['input']!r}" if "input" in first and not isinstance(first["input"], dict) else ""
        reason = f"{first['msg']}" + (f" ({allowed})" if allowed else "") + given
        raise ConfigError(shown, key or "(file)", reason) from None
