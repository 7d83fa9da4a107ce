"""The shipped, dated catalogues of the clouds' facts (teamstack/data/), read once and typed.

* aws_catalogue.json: EC2 instance types (vCPUs, memory, architectures, GPUs), regions' zones and the types
  offered there; scripts/regen_aws_catalogue.py.
* gcp_catalogue.json: Compute Engine machine types (vCPUs, memory, architecture, built-in GPUs), regions'
  zones and the machine types offered there; scripts/regen_gcp_catalogue.py.
* service_limits.yaml: the documented limits the checks use (dated, with their source page).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from teamstack.validation import shorten


@dataclass(frozen=True)
class Machine:
    """One instance or machine type: what a node of it has."""

    name: str
    vcpus: int
    memory_mib: int
    arches: tuple[str, ...]
    gpu_count: int = 0
    gpu_model: str | None = None  # AWS: the GPU's name (T4, A10G); GCP: the accelerator type
    gpu_manufacturer: str | None = None


def _read(name: str) -> str:
    return (resources.files("teamstack") / "data" / name).read_text(encoding="utf-8")


@cache
def _aws() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_read("aws_catalogue.json"))
    return data


@cache
def _gcp() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_read("gcp_catalogue.json"))
    return data


@cache
def _limits() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_read("service_limits.yaml"))
    return data


def aws_date() -> str:
    return str(_aws()["date"])


def gcp_date() -> str:
    return str(_gcp()["date"])


@cache
def aws_instance(name: str) -> Machine | None:
    entry = _aws()["instanceTypes"].get(name)
    if entry is None:
        return None
    gpus = entry.get("gpus") or {}
    return Machine(
        name,
        entry["vcpus"],
        entry["memoryMiB"],
        tuple(entry["arch"]),
        gpus.get("count", 0),
        gpus.get("model"),
        gpus.get("manufacturer"),
    )


def aws_sizes(family: str) -> list[str]:
    """The catalogue's sizes of an EC2 family (m7i -> large, xlarge, ...), for a helpful refusal."""
    return [name.split(".", 1)[1] for name in _aws()["instanceTypes"] if name.split(".", 1)[0] == family]


def aws_retired(family: str) -> tuple[str, str] | None:
    """(what to use instead, the retirement notice) of a family EC2 no longer offers, or None."""
    entry = _aws().get("retired", {}).get(family)
    return None if entry is None else (str(entry["instead"]), str(entry["source"]))


def aws_close_match(name: str) -> str | None:
    """The catalogue's instance type closest to a misspelt one (m7i.2xlage -> m7i.2xlarge), if any; within the
    name's family when the catalogue has that family."""
    names: list[str] = list(_aws()["instanceTypes"])
    family = [n for n in names if n.split(".", 1)[0] == name.split(".", 1)[0]]
    return _close_match(name, family or names)


def gcp_close_match(name: str) -> str | None:
    """The catalogue's machine type closest to a misspelt one (n4d-standrad-8 -> n4d-standard-8), if any; within
    the name's series when the catalogue has that series."""
    names: list[str] = list(_gcp()["machineTypes"])
    series = [n for n in names if n.split("-", 1)[0] == name.split("-", 1)[0]]
    return _close_match(name, series or names)


def _close_match(name: str, names: Iterable[str]) -> str | None:
    """A misspelling of letters, never a different size: the match must carry the same numbers (so
    n2-standard-6 is not taken for n2-standard-96, nor m7i.5xlarge for m7i.xlarge)."""
    if len(name) > 64:  # no machine type name is this long; nothing to compare a pasted blob with
        return None
    digits = re.findall(r"\d+", name)
    same_numbers = [n for n in names if re.findall(r"\d+", n) == digits]
    matches = difflib.get_close_matches(name.lower(), same_numbers, n=1, cutoff=0.8)
    return matches[0] if matches else None


def aws_type_hint(name: str) -> str:
    """What to write instead of an instance type the catalogue lacks: the successor of a retired family, the
    closest catalogued name, or the family's sizes."""
    family = name.split(".", 1)[0]
    retired = aws_retired(family)
    if retired is not None:
        instead, notice = retired
        return f"EC2 retired the {family} family ({notice}); use {instead}"
    sizes = aws_sizes(family)
    close = aws_close_match(name)
    hint = f"sizes of {family}: {', '.join(sizes)}" if sizes else f"no family '{shorten(family, 20)}' exists"
    return f"did you mean {close}? {hint}" if close else hint


def gcp_type_hint(name: str) -> str:
    """What to write instead of a machine type the catalogue lacks: the closest catalogued name, the sizes of
    its series and shape, or examples of its series."""
    close = gcp_close_match(name)
    if close is not None:
        return f"did you mean {close}?"
    series, _, rest = name.partition("-")
    shape = rest.rsplit("-", 1)[0]
    sizes = sorted(
        int(size)
        for m in gcp_machine_names()
        if (parts := m.rsplit("-", 1))[0] == f"{series}-{shape}" and (size := parts[1]).isdigit()
    )
    if sizes:
        return f"{series}-{shape} comes in {', '.join(map(str, sizes))} vCPUs"
    same = [m for m in gcp_machine_names() if m.startswith(f"{series}-")]
    return f"e.g. {', '.join(same[:6])}" if same else "e.g. n2-standard-8"


def aws_region_zones(region: str) -> tuple[str, ...] | None:
    """The region's availability zones (those open without opt-in), or None if the catalogue lacks the region."""
    entry = _aws()["regions"].get(region)
    return None if entry is None else tuple(entry["zones"])


@cache
def _aws_offered(region: str) -> frozenset[str] | None:
    entry = _aws()["regions"].get(region)
    return None if entry is None else frozenset(entry["instanceTypes"])


def aws_offered(region: str, name: str) -> bool | None:
    """Whether the region offers the type (None: the catalogue has no offerings for the region)."""
    offered = _aws_offered(region)
    return None if offered is None else name in offered


@cache
def gcp_machine(name: str) -> Machine | None:
    entry = _gcp()["machineTypes"].get(name)
    if entry is None:
        return None
    gpus = entry.get("gpus") or {}
    return Machine(
        name, entry["vcpus"], entry["memoryMiB"], (entry["arch"],), gpus.get("count", 0), gpus.get("type"), None
    )


def gcp_machine_names() -> list[str]:
    return list(_gcp()["machineTypes"])


@cache
def _gcp_offered(region: str) -> frozenset[str] | None:
    entry = _gcp()["regions"].get(region)
    return None if entry is None or "machineTypes" not in entry else frozenset(entry["machineTypes"])


def gcp_offered(region: str, name: str) -> bool | None:
    """Whether some zone of the region offers the machine type (None: the catalogue has no list for the region)."""
    offered = _gcp_offered(region)
    return None if offered is None else name in offered


def gcp_regions_offering(name: str) -> list[str]:
    """The catalogue's regions with the machine type in at least one zone, in the catalogue's order."""
    return [region for region in _gcp()["regions"] if gcp_offered(region, name)]


def gcp_region_zones() -> dict[str, tuple[str, ...]]:
    return {region: tuple(entry["zones"]) for region, entry in _gcp()["regions"].items()}


def limit(name: str) -> int:
    return int(_limits()["limits"][name]["value"])
