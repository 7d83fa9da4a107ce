"""The Dask cluster reaper: deletes the DaskClusters of its namespace that are older than the team's maximum
lifetime (`kubernetes.maxClusterLifetimeHours`), so a forgotten cluster, busy or not, releases its nodes.

It runs as a CronJob in each team namespace (components/k8s/layer.py mounts this file from a ConfigMap) with the
`dask-reaper` service account, whose Role may only list and delete DaskClusters there. Python standard library
only: it runs in the team's default image without adding anything to it. The idle timeout (the operator's
`idleTimeout`) ends idle clusters; this ends the ones that never go idle.

Each deletion carries the cluster's uid as a precondition, so a new cluster that took a reaped one's name in the
meantime is never deleted. One line per deleted cluster; one line and exit 1 when the API refuses.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

GROUP, VERSION, PLURAL = "kubernetes.dask.org", "v1", "daskclusters"
ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
LIFETIME_ENV = "MAX_LIFETIME_SECONDS"
# Not datetime.UTC: the script must run on whatever Python 3 the team's image has.
UTC = timezone.utc  # noqa: UP017


@dataclass(frozen=True)
class Expired:
    name: str
    uid: str
    age_seconds: int


def _created(item: Mapping[str, Any]) -> datetime | None:
    text = item.get("metadata", {}).get("creationTimestamp")
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def expired(items: Iterable[Mapping[str, Any]], now: datetime, max_age_seconds: int) -> list[Expired]:
    """The clusters older than `max_age_seconds` at `now` and not already being deleted, oldest first."""
    found = []
    for item in items:
        metadata = item.get("metadata", {})
        created = _created(item)
        if created is None or metadata.get("deletionTimestamp") or not metadata.get("name"):
            continue
        age = int((now - created).total_seconds())
        if age > max_age_seconds:
            found.append(Expired(str(metadata["name"]), str(metadata.get("uid", "")), age))
    return sorted(found, key=lambda e: -e.age_seconds)


def collection_path(namespace: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def delete_body(cluster: Expired) -> dict[str, Any]:
    """Background propagation (the operator's owned pods go with it), only if it is still the same cluster."""
    return {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Background",
        "preconditions": {"uid": cluster.uid},
    }


class Api:
    """The in-cluster API server, with this pod's service-account token."""

    def __init__(self, base: str, token: str, context: ssl.SSLContext) -> None:
        self.base, self.token, self.context = base.rstrip("/"), token, context

    @classmethod
    def in_cluster(cls) -> Api:
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        with open(f"{ACCOUNT_DIR}/token", encoding="utf-8") as token:
            return cls(
                f"https://{host}:{port}",
                token.read().strip(),
                ssl.create_default_context(cafile=f"{ACCOUNT_DIR}/ca.crt"),
            )

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
            return json.load(response)


def reap(api: Api, namespace: str, max_age_seconds: int, now: datetime) -> list[Expired]:
    """Delete the expired clusters of `namespace`; a cluster gone or replaced meanwhile (404/409) is skipped."""
    listing = api.call("GET", collection_path(namespace))
    deleted = []
    for cluster in expired(listing.get("items", []), now, max_age_seconds):
        try:
            api.call("DELETE", f"{collection_path(namespace)}/{cluster.name}", delete_body(cluster))
        except urllib.error.HTTPError as error:
            if error.code in (404, 409):
                continue
            raise
        deleted.append(cluster)
    return deleted


def main() -> int:
    try:
        max_age = int(os.environ[LIFETIME_ENV])
        with open(f"{ACCOUNT_DIR}/namespace", encoding="utf-8") as file:
            namespace = file.read().strip()
        for cluster in reap(Api.in_cluster(), namespace, max_age, datetime.now(UTC)):
            hours = cluster.age_seconds / 3600
            print(f"deleted DaskCluster {namespace}/{cluster.name}: {hours:.1f} h old, limit {max_age / 3600:g} h")
    except (KeyError, ValueError) as error:
        print(f"dask-reaper: {LIFETIME_ENV} must be a number of seconds ({error})", file=sys.stderr)
        return 1
    except urllib.error.HTTPError as error:
        print(
            f"dask-reaper: the API refused {error.url}: HTTP {error.code}; check the dask-reaper Role", file=sys.stderr
        )
        return 1
    except (OSError, urllib.error.URLError) as error:
        print(f"dask-reaper: cannot reach the Kubernetes API: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
