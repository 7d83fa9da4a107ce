"""Shared readers for the rules: IAM documents, CIDRs and ports, node types. Pure functions."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any

from teamstack import gcp_machines, instances, pools
from teamstack.policy.values import UNKNOWN, as_list, get

DASK_PORTS = (8786, 8787)
OPEN_WORLD = frozenset({"0.0.0.0/0", "::/0"})
_PRIVATE_V4 = tuple(ipaddress.ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
_PRIVATE_V6 = (ipaddress.ip_network("fc00::/7"),)


def is_private_cidr(cidr: str) -> bool:
    """True for a range inside RFC 1918 / shared / unique-local space; False for anything reachable publicly."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    ranges = _PRIVATE_V4 if network.version == 4 else _PRIVATE_V6
    return any(network.subnet_of(r) for r in ranges)  # type: ignore[arg-type]


def ports_cover_dask(low: Any, high: Any) -> bool | None:
    """Whether the port range [low, high] includes a Dask port; None if not known."""
    if low is UNKNOWN or high is UNKNOWN:
        return None
    try:
        low_port, high_port = int(low), int(high)
    except (TypeError, ValueError):
        return None
    if low_port in (-1, 0) and high_port in (-1, 0, 65535):
        return True
    return any(low_port <= port <= high_port for port in DASK_PORTS)


def gcp_ports_cover_dask(allows: Any) -> bool | None:
    """Whether a GCP firewall's `allows` include a Dask port (no ports listed means every port)."""
    if allows is UNKNOWN:
        return None
    for allow in as_list(allows):
        if allow is UNKNOWN:
            return None
        protocol = get(allow, "protocol")
        if protocol not in ("tcp", "all", "6"):
            continue
        ports = get(allow, "ports")
        if not ports:
            return True
        for spec in as_list(ports):
            if spec is UNKNOWN:
                return None
            low, _, high = str(spec).partition("-")
            if ports_cover_dask(low, high or low):
                return True
    return False


# --- IAM policy documents -----------------------------------------------------------------------------------


def policy_document(value: Any) -> dict[str, Any] | None:
    """A policy document from a JSON string or a dict; None when unknown or unreadable."""
    if value is UNKNOWN or value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return value if isinstance(value, dict) else None


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for statement in as_list(document.get("Statement")):
        if isinstance(statement, dict):
            yield statement


def _strings(value: Any) -> list[str]:
    return [v for v in as_list(value) if isinstance(v, str)]


def is_wildcard_action(action: str) -> bool:
    """`*`, `*:*` or a whole service (`s3:*`): not a scoped permission."""
    service, _, verb = action.partition(":")
    return action == "*" or (verb == "*" and bool(service))


def wildcard_grants(document: dict[str, Any]) -> list[str]:
    """Allow statements that grant a wildcard action on a wildcard resource, as readable findings."""
    found = []
    for index, statement in enumerate(statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        resources = _strings(statement.get("Resource"))
        if "*" not in resources:
            continue
        sid = statement.get("Sid") or f"#{index}"
        actions = [a for a in _strings(statement.get("Action")) if is_wildcard_action(a)]
        if actions:
            found.append(f"statement {sid} allows {', '.join(actions)} on Resource '*'")
        if "NotAction" in statement:
            found.append(f"statement {sid} allows everything but NotAction on Resource '*'")
    return found


def principals(statement: dict[str, Any]) -> list[tuple[str, Any]]:
    """(kind, value) pairs of a statement's Principal: ("*", "*") for the anonymous wildcard."""
    principal = statement.get("Principal")
    if principal == "*":
        return [("*", "*")]
    if not isinstance(principal, dict):
        return [("?", principal)] if principal is not None else []
    return [(kind, value) for kind, values in principal.items() for value in as_list(values)]


# --- node types ---------------------------------------------------------------------------------------------


def aws_type_has_gpu(name: str) -> bool:
    """An EC2 type with NVIDIA GPUs, from the instance table (`teamstack.pools` / `teamstack.instances`)."""
    try:
        return pools.aws_node_type(name).gpu is not None
    except instances.InstanceTypeError:
        return False


def gcp_machine_has_gpu(name: str) -> bool:
    """A GCE type of an accelerator-optimized series (G2, A2, A3, ...), from the machine-type table."""
    try:
        return gcp_machines.parse_machine_type(name).is_accelerated
    except gcp_machines.MachineTypeError:
        return False
