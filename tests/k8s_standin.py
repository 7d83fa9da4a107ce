"""A small local HTTPS stand-in for a Kubernetes API server: the answers the client must translate.

It serves on 127.0.0.1 with its own CA (generated per session with `cryptography`; the CA goes into the team
manifest exactly as EKS/GKE report theirs, base64 PEM), requires a bearer token, keeps DaskCluster objects
(create, get, delete, list) and answers with the API server's documented shapes: `Status` objects for
failures (`kind: Status`, `status: Failure`, `reason`, `message`, `details`, `code`), `*List` objects for
lists. Tests script the rest: a Status for a (method, path) pair, the namespace's events, pods and nodes.

With `state.operator` set (the address of a real local Dask scheduler), it also does what the Dask operator
does for a new DaskCluster: phase Running, a DaskWorkerGroup `<name>-default` from the cluster's worker spec, a
ready scheduler pod and a `<name>-scheduler` Service (type LoadBalancer, its ingress that scheduler), so a real
KubeCluster starts; DaskWorkerGroups and DaskAutoscalers then answer get, merge-patch, create and delete, and
deleting the DaskCluster deletes what it owns, as the operator's owner references do.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

DASK_GROUP = "kubernetes.dask.org"
READY = ("Ready", "ContainersReady")  # the pod conditions kr8s' Pod.ready() wants True


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `Status` object as the API server returns it on failure."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def rbac_forbidden(user: str, verb: str, resource: str, group: str, namespace: str) -> dict[str, Any]:
    """The authorizer's refusal, worded as the API server words it."""
    group_text = f'in API group "{group}"' if group else 'in API group ""'
    return status(
        403,
        "Forbidden",
        f'{resource}{"." + group if group else ""} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'{group_text} in the namespace "{namespace}"',
        {"group": group, "kind": resource},
    )


def quota_exceeded(pod: str, quota: str, resource: str, requested: str, used: str, limited: str) -> str:
    """The ResourceQuota admission message (as it appears in a 403 Status or a FailedCreate event)."""
    return (
        f'pods "{pod}" is forbidden: exceeded quota: {quota}, requested: {resource}={requested}, '
        f"used: {resource}={used}, limited: {resource}={limited}"
    )


def _make_certificates(directory: Path) -> tuple[Path, Path, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "teamstack test kubernetes CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path, ca.public_bytes(serialization.Encoding.PEM)


@dataclass
class KubeState:
    """What the stand-in serves; tests change it between requests."""

    accept_token: Any = None  # callable(token) -> bool; None accepts any bearer token
    scripted: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)  # (METHOD, path regex)
    daskclusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    quotas: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Authorization)
    operator: tuple[str, int] | None = None  # (host, port) of the scheduler the operator's Services lead to
    owned: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (plural, name): object

    def bodies(self, method: str, plural: str) -> list[str]:
        """The paths of requests with `method` on objects of `plural` (e.g. PATCH daskworkergroups)."""
        return [p.split("?")[0] for m, p, _ in self.requests if m == method and f"/{plural}" in p]

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        auth = self.headers.get("Authorization", "")
        state.requests.append((method, self.path, auth))
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if token is None or (state.accept_token is not None and not state.accept_token(token)):
            self._send(401, status(401, "Unauthorized", "Unauthorized"))
            return
        for (scripted_method, pattern), (code, answer) in state.scripted.items():
            if scripted_method == method and re.fullmatch(pattern, path):
                self._send(code, answer)
                return
        if path == "/version":
            self._send(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.2", "platform": "linux/amd64"})
            return
        match = re.fullmatch(rf"/apis/{DASK_GROUP}/v1/namespaces/([^/]+)/daskclusters(?:/([^/]+))?", path)
        if match:
            self._daskclusters(method, match.group(1), match.group(2), body)
            return
        match = re.fullmatch(
            rf"/(?:apis/{DASK_GROUP}/v1|api/v1)/namespaces/([^/]+)/(daskworkergroups|daskautoscalers|services|pods)"
            r"/([^/]+)",
            path,
        )
        if match:
            self._owned(method, match.group(2), match.group(3), body)
            return
        match = re.fullmatch(
            rf"/(?:apis/{DASK_GROUP}/v1|api/v1)/namespaces/([^/]+)/(daskworkergroups|daskautoscalers|services)", path
        )
        if match and method == "GET":  # kr8s' get(name) lists with fieldSelector=metadata.name=<name>
            query = parse_qs(self.path.partition("?")[2])
            names = {
                part.split("=", 1)[1]
                for selector in query.get("fieldSelector", [])
                for part in selector.split(",")
                if part.startswith("metadata.name=")
            }
            items = [
                o
                for (plural, name), o in state.owned.items()
                if plural == match.group(2) and (not names or name in names)
            ]
            self._send(200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})
            return
        match = re.fullmatch(rf"/apis/{DASK_GROUP}/v1/namespaces/([^/]+)/daskautoscalers", path)
        if match and method == "POST":
            body["metadata"].update(namespace=match.group(1), uid=f"uid-{body['metadata']['name']}")
            state.owned[("daskautoscalers", body["metadata"]["name"])] = body
            self._send(201, body)
            return
        lists = {
            r"/api/v1/namespaces/[^/]+/events": ("EventList", state.events),
            r"/api/v1/namespaces/[^/]+/pods": ("PodList", state.pods),
            r"/api/v1/nodes": ("NodeList", state.nodes),
            r"/api/v1/namespaces/[^/]+/resourcequotas": ("ResourceQuotaList", state.quotas),
        }
        for pattern, (kind, items) in lists.items():
            if method == "GET" and re.fullmatch(pattern, path):
                self._send(
                    200, {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}
                )
                return
        self._send(404, status(404, "NotFound", f"the server could not find the requested resource ({path})"))

    def _owned(self, method: str, plural: str, name: str, body: Any) -> None:
        owned = self.server.state.owned
        kind = "" if plural in ("services", "pods") else f".{DASK_GROUP}"
        found = owned.get((plural, name))
        if found is None:
            details = {"name": name, "group": kind.lstrip("."), "kind": plural}
            self._send(404, status(404, "NotFound", f'{plural}{kind} "{name}" not found', details))
        elif method == "GET":
            self._send(200, found)
        elif method == "PATCH":
            _merge(found, body)
            self._send(200, found)
        elif method == "DELETE":
            self._send(200, owned.pop((plural, name)))
        else:
            self._send(405, status(405, "MethodNotAllowed", f"{method} is not supported"))

    def _operate(self, namespace: str, cluster: dict[str, Any]) -> None:
        """What the Dask operator makes for a new DaskCluster, pointing at the test's scheduler."""
        state = self.server.state
        assert state.operator is not None
        host, port = state.operator
        name = cluster["metadata"]["name"]
        labels = {"dask.org/cluster-name": name}
        cluster["status"] = {"phase": "Running"}

        def meta(object_name: str, component: str) -> dict[str, Any]:
            return {"name": object_name, "namespace": namespace, "uid": f"uid-{object_name}", "resourceVersion": "1",
                    "labels": {**labels, "dask.org/component": component}}  # fmt: skip

        state.owned[("daskworkergroups", f"{name}-default")] = {
            "apiVersion": f"{DASK_GROUP}/v1", "kind": "DaskWorkerGroup",
            "metadata": meta(f"{name}-default", "workergroup"),
            "spec": {"cluster": name, "worker": json.loads(json.dumps(cluster["spec"]["worker"]))},
        }  # fmt: skip
        pod = {
            "apiVersion": "v1", "kind": "Pod", "metadata": meta(f"{name}-scheduler", "scheduler"),
            "spec": cluster["spec"]["scheduler"]["spec"],
            "status": {"phase": "Running", "conditions": [{"type": t, "status": "True"} for t in READY]},
        }  # fmt: skip
        state.owned[("pods", f"{name}-scheduler")] = pod
        state.pods.append(pod)
        ports = [{"name": "tcp-comm", "port": port, "protocol": "TCP"},
                 {"name": "http-dashboard", "port": 8787, "protocol": "TCP"}]  # fmt: skip
        state.owned[("services", f"{name}-scheduler")] = {
            "apiVersion": "v1", "kind": "Service", "metadata": meta(f"{name}-scheduler", "scheduler"),
            "spec": {"type": "LoadBalancer", "ports": ports, "selector": labels},
            "status": {"loadBalancer": {"ingress": [{"ip": host}]}},
        }  # fmt: skip

    def _unoperate(self, name: str) -> None:
        state = self.server.state
        for key in [k for k, v in state.owned.items() if _owner(v) == name]:
            del state.owned[key]
        state.pods[:] = [p for p in state.pods if _owner(p) != name]

    def _daskclusters(self, method: str, namespace: str, name: str | None, body: Any) -> None:
        clusters = self.server.state.daskclusters
        not_found = status(
            404, "NotFound", f'daskclusters.{DASK_GROUP} "{name}" not found',
            {"name": name, "group": DASK_GROUP, "kind": "daskclusters"},
        )  # fmt: skip
        if method == "POST" and name is None:
            name = body["metadata"]["name"]
            if name in clusters:
                self._send(409, status(409, "AlreadyExists", f'daskclusters.{DASK_GROUP} "{name}" already exists'))
                return
            body["metadata"].update(namespace=namespace, uid=f"uid-{name}", resourceVersion="1",
                                    creationTimestamp="2026-11-29T12:00:00Z")  # fmt: skip
            clusters[name] = body
            if self.server.state.operator is not None:
                self._operate(namespace, body)
            self._send(201, body)
        elif method == "GET" and name is None:
            items = [c for c in clusters.values() if c["metadata"]["namespace"] == namespace]
            self._send(200, {"kind": "DaskClusterList", "apiVersion": f"{DASK_GROUP}/v1",
                             "metadata": {"resourceVersion": "1"}, "items": items})  # fmt: skip
        elif method == "GET":
            self._send(200, clusters[name]) if name in clusters else self._send(404, not_found)
        elif method == "DELETE" and name in clusters:
            self._unoperate(name)
            self._send(200, clusters.pop(name))
        else:
            self._send(404, not_found)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """A JSON merge patch (RFC 7386), as the API server applies `application/merge-patch+json`."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _owner(item: dict[str, Any]) -> str | None:
    labels = (item.get("metadata") or {}).get("labels") or {}
    owner = labels.get("dask.org/cluster-name")
    if owner is None and item.get("kind") == "DaskAutoscaler":
        owner = (item.get("spec") or {}).get("cluster")
    return owner


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: KubeState


class KubeStandin:
    """The running stand-in: `endpoint` (https://127.0.0.1:<port>), `ca_data` (base64 PEM), `state`."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        cert, key, ca_pem = _make_certificates(Path(self._dir.name))
        self.ca_data = base64.b64encode(ca_pem).decode()
        self.state = KubeState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.endpoint = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()
