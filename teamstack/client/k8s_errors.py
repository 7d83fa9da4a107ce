"""Why a Dask cluster did not start on Kubernetes, in one line: pure functions over the API server's answers.

Inputs are what the API server documents: a `Status` object (`reason`, `message`, `code`) for a refused
request, and the namespace's events (`reason`, `message`, `involvedObject`) for what the Dask operator's pods
ran into afterwards: the ResourceQuota admission refusal (`FailedCreate`), the scheduler's `FailedScheduling`
and cluster-autoscaler's `NotTriggerScaleUp`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from teamstack.manifest import TeamManifest

_RBAC_RE = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<namespace>[^"]+)")?'
)
_QUOTA_RE = re.compile(
    r"exceeded quota: (?P<quota>[^,]+), requested: (?P<requested>.+?), used: (?P<used>.+?), limited: (?P<limited>.+)$"
)
_SCHEDULING_EVENTS = ("FailedCreate", "NotTriggerScaleUp", "FailedScheduling")


def _pairs(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.strip().split(",") if "=" in part)


def describe_rbac(message: str, manifest: TeamManifest) -> str | None:
    match = _RBAC_RE.search(message)
    if not match:
        return None
    group = match.group("group")
    what = f"{match.group('resource')}.{group}" if group else match.group("resource")
    where = f" in namespace {match.group('namespace')}" if match.group("namespace") else " cluster-wide"
    return (
        f"forbidden by RBAC on cluster {manifest.cluster.name}: {match.group('user')} may not "
        f"{match.group('verb')} {what}{where}: use the team's data-scientist identity, or ask IT to grant it "
        f"(team {manifest.team}'s dataScientistPrincipals)"
    )


def describe_quota(message: str, manifest: TeamManifest) -> str | None:
    match = _QUOTA_RE.search(message)
    if not match:
        return None
    requested, used, limited = (_pairs(match.group(k)) for k in ("requested", "used", "limited"))
    parts = [
        f"{name} used {used.get(name, '?')} of {limit}, this asks {requested.get(name, '?')}"
        for name, limit in limited.items()
    ]
    return (
        f"ResourceQuota {match.group('quota').strip()} of namespace {manifest.cluster.namespace} is exceeded: "
        f"{'; '.join(parts)}: close or scale down a running cluster (`teamstack status {manifest.team}`), ask "
        "for fewer or smaller workers, or ask IT to raise the team's kubernetes.quota"
    )


def describe_unschedulable(message: str, manifest: TeamManifest, gpu: bool) -> str:
    kind = "gpu" if gpu else "cpu"
    pools = [g for g in manifest.node_groups if g.kind == kind]
    shown = ", ".join(f"{g.name} ({'/'.join(g.instance_types)}, max {g.max_size})" for g in pools) or "none"
    insufficient = sorted(set(re.findall(r"Insufficient (\S+?)[,.]?(?:\s|$)", message)))
    full = "max node group size reached" in message
    if insufficient:
        cause = f"no node can fit a worker: not enough {', '.join(insufficient)} on any node"
        advice = "ask for smaller workers (worker_resources=...) or ask IT for a larger instance type"
    elif full:
        cause = "no node can fit a worker: the pool is at its maximum size"
        advice = f"close a running cluster (`teamstack status {manifest.team}`) or ask IT to raise maxSize"
    else:
        cause = f"no node can take a worker ({message.strip().splitlines()[0][:200]})"
        advice = "check the node selector and tolerations (`teamstack cluster spec`)"
    return f"{cause}; team {manifest.team}'s {kind.upper()} pools: {shown}: {advice}"


def describe_events(events: Iterable[Mapping[str, Any]], manifest: TeamManifest, cluster: str, gpu: bool) -> str | None:
    """The most telling recent event about `cluster`'s objects (quota refusals first), in one line."""
    relevant = [
        e
        for e in events
        if e.get("reason") in _SCHEDULING_EVENTS
        and str((e.get("involvedObject") or {}).get("name", "")).startswith(cluster)
    ]
    relevant.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""), reverse=True)
    for reason in _SCHEDULING_EVENTS:
        for event in relevant:
            if event.get("reason") != reason:
                continue
            message = str(event.get("message", ""))
            if reason == "FailedCreate":
                described = describe_quota(message, manifest) or describe_rbac(message, manifest)
                if described:
                    return described
                continue
            return describe_unschedulable(message, manifest, gpu)
    return None


def describe_status(status: Mapping[str, Any], manifest: TeamManifest, cluster: str) -> str:
    """One line for a Kubernetes `Status` failure answering a request about Dask cluster `cluster`."""
    code = int(status.get("code") or 0)
    message = str(status.get("message", "")).strip()
    reason = str(status.get("reason", ""))
    name = manifest.cluster.name
    if code == 401:
        return (
            f"cluster {name} did not accept your credentials (401 Unauthorized): your identity has no access to it; "
            f"ask IT to add it to team {manifest.team}'s dataScientistPrincipals"
        )
    if code == 403:
        return (
            describe_quota(message, manifest)
            or describe_rbac(message, manifest)
            or f"cluster {name} refused the request (403 {reason}): {message}"
        )
    if code == 404 and ("daskcluster" in message.lower() or "could not find" in message):
        return (
            f"cluster {name} has no Dask operator (the daskclusters resource is missing): ask IT to deploy team "
            f"{manifest.team}'s Kubernetes layer"
        )
    if code == 409 or reason == "AlreadyExists":
        return (
            f"a Dask cluster named {cluster} already exists in namespace {manifest.cluster.namespace}: choose "
            f"another name=, or close it (`teamstack status {manifest.team}` lists them)"
        )
    return f"cluster {name} answered {code} {reason}: {message}".rstrip(": ")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def describe_transport(error: BaseException, manifest: TeamManifest) -> str | None:
    """An API server that could not be reached or did not prove who it is, in one line (else None)."""
    kind, text, endpoint = type(error).__name__, _first_line(error), manifest.cluster.endpoint
    if "SSL" in kind or "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            f"the API server at {endpoint} did not present the certificate in team {manifest.team}'s manifest: "
            "are you on the right network (no intercepting proxy)? ask IT if it persists"
        )
    if kind in ("ConnectError", "ConnectTimeout", "APITimeoutError", "ReadTimeout", "OSError", "gaierror"):
        return (
            f"cannot reach the API server of cluster {manifest.cluster.name} at {endpoint} ({text}): its endpoint is "
            "private; connect through the team's VPN or network, or ask IT"
        )
    return None


def _status_of(error: BaseException) -> dict[str, Any] | None:
    """The API server's `Status` answer an error carries (kr8s ServerError, httpx HTTPStatusError), if any."""
    status = getattr(error, "status", None)
    if isinstance(status, Mapping) and status.get("kind") == "Status":
        return dict(status)
    response = getattr(error, "response", None)
    if response is not None and getattr(response, "status_code", None):
        try:
            body = response.json()
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("kind") == "Status":
            return body
        return {"code": response.status_code, "message": _first_line(error)}
    return None


def describe_change_failure(error: BaseException, manifest: TeamManifest, cluster: str, action: str) -> str:
    """One line for a refused change to a running Dask cluster (`action`: "scale Dask cluster dask to 8 workers"):
    kr8s' NotFoundError or a 404 means the cluster is gone (closed, idle timeout, reaper), not a missing operator."""
    namespace = manifest.cluster.namespace
    gone = (
        f"cannot {action}: it no longer exists in namespace {namespace} (closed, shut down after "
        f"{_idle_minutes(manifest)} idle, or deleted by the team's maximum-lifetime reaper): start a new one with "
        f"team.cluster() (`teamstack status {manifest.team}` lists the running ones)"
    )
    if type(error).__name__ == "NotFoundError":
        return gone
    status = _status_of(error)
    if status is None:
        return describe_transport(error, manifest) or f"cannot {action}: {type(error).__name__}: {_first_line(error)}"
    code = int(status.get("code") or 0)
    message = str(status.get("message", "")).strip()
    reason = str(status.get("reason", ""))
    if code == 404:
        return gone
    if code == 401:
        return describe_status(status, manifest, cluster)
    if code == 403:
        refusal = describe_quota(message, manifest) or describe_rbac(message, manifest)
        return f"cannot {action}: {refusal or f'cluster {manifest.cluster.name} refused it (403 {reason}): {message}'}"
    if code == 409:
        return (
            f"cannot {action}: its worker group was changed by another request at the same time (409 {reason}): "
            "try again"
        )
    if code == 422:
        return f"cannot {action}: the API server refused the change as invalid (422 {reason}): {message}"
    return f"cannot {action}: cluster {manifest.cluster.name} answered {code} {reason}: {message}".rstrip(": ")


def _idle_minutes(manifest: TeamManifest) -> str:
    if manifest.dask is None:
        return "its idle timeout"
    return f"{manifest.dask.idle_timeout_seconds // 60} minutes"


def describe_failure(
    error: BaseException,
    manifest: TeamManifest,
    cluster: str,
    events: Iterable[Mapping[str, Any]] = (),
    gpu: bool = False,
) -> str:
    """One line for whatever stopped `KubeCluster` from starting (kr8s, httpx, dask-kubernetes errors)."""
    from_events = describe_events(events, manifest, cluster, gpu)
    status = _status_of(error)
    if status is not None:
        return describe_status(status, manifest, cluster)
    if from_events:
        return from_events
    kind = type(error).__name__
    text = _first_line(error)
    transport = describe_transport(error, manifest)
    if transport:
        return transport
    if isinstance(error, TimeoutError):
        return (
            f"Dask cluster {cluster} did not start in time ({text}): is the Dask operator running? ask IT "
            f"(team {manifest.team})"
        )
    return f"Dask cluster {cluster} did not start: {kind}: {text}"
