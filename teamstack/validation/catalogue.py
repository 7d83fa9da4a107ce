"""The shipped, dated catalogues of the clouds' facts (teamstack/data/), read once and typed.

* aws_catalogue.json: EC2 instance types (vCPUs, memory, architectures, GPUs), regions' zones and the types
  offered there; scripts/regen_aws_catalogue.py.
* gcp_catalogue.json: Compute Engine machine types (vCPUs, memory, architecture, built-in GPUs), regions'
  zones; scripts/regen_gcp_catalogue.py.
* service_limits.yaml: the documented limits the checks use (dated, with their source page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


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


def gcp_region_zones() -> dict[str, tuple[str, ...]]:
    return {region: tuple(entry["zones"]) for region, entry in _gcp()["regions"].items()}


def limit(name: str) -> int:
    return int(_limits()["limits"][name]["value"])
