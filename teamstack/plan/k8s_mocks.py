"""Offline stand-ins for the Kubernetes provider (pulumi-kubernetes 4), for the plan's `PlanMocks`.

A Kubernetes object comes back as the API server would return it: the inputs (camelCase) plus `metadata.name`
(Pulumi's auto-name `<logical name>-<8 hex>` when none is given), `metadata.namespace` (`default` for a
namespaced kind without one), `uid`, `resourceVersion` and `creationTimestamp`; its id is `<namespace>/<name>`,
or `<name>` for a cluster-scoped kind, as the provider writes ids. A Helm release reports the release it made
in `status` (deployed, revision 1). The explicit provider `pulumi:providers:kubernetes` echoes its inputs.
Nothing is random: every value derives from the sha256 of the type token and logical name.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pulumi
from pulumi.runtime import rpc

MOCK_TIMESTAMP = "2025-01-01T00:00:00Z"
AUTONAME_RANDOM_CHARS = 8
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

# Kinds that live outside any namespace (the rest get `default` when no namespace is given).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "PriorityClass", "ClusterRole", "ClusterRoleBinding",
        "CustomResourceDefinition", "StorageClass", "CSIDriver", "CSINode", "IngressClass", "RuntimeClass",
        "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding", "APIService", "PriorityLevelConfiguration", "FlowSchema",
    }
)  # fmt: skip


class UnmockedKubernetesInvoke(Exception):
    def __init__(self, token: str) -> None:
        super().__init__(f"the offline plan has no mock for invoke {token}; add one in teamstack/plan/k8s_mocks.py")
        self.token = token


def _hex(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def _uuid(*parts: str) -> str:
    h = _hex(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def _plain(value: Any) -> Any:
    value = rpc.unwrap_rpc_secret(value)
    return None if isinstance(value, pulumi.output.Unknown) else value


def autoname(typ: str, name: str) -> str:
    """Pulumi's auto-name for a Kubernetes object or release: the logical name plus 8 hex characters."""
    return f"{name}-{_hex(typ, name, 'autoname', length=AUTONAME_RANDOM_CHARS)}"


def kind_of(typ: str) -> str:
    """`kubernetes:core/v1:Namespace` -> Namespace."""
    return typ.rsplit(":", 1)[-1]


class KubernetesMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.created: dict[str, dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = copy.deepcopy(dict(args.inputs))
        if args.typ == "pulumi:providers:kubernetes":
            return _uuid(args.typ, args.name, "provider"), inputs
        if args.typ == HELM_RELEASE:
            return self._release(args, inputs)
        return self._object(args, inputs)

    def _object(self, args: pulumi.runtime.MockResourceArgs, state: dict[str, Any]) -> tuple[str, dict]:
        metadata = dict(_plain(state.get("metadata")) or {})
        name = _plain(metadata.get("name")) or autoname(args.typ, args.name)
        metadata["name"] = name
        namespaced = kind_of(args.typ) not in CLUSTER_SCOPED_KINDS
        if namespaced:
            metadata["namespace"] = _plain(metadata.get("namespace")) or "default"
        metadata |= {
            "uid": _uuid(args.typ, args.name, "uid"),
            "resourceVersion": str(int(_hex(args.typ, args.name, "rv", length=8), 16) % 10_000_000),
            "creationTimestamp": MOCK_TIMESTAMP,
            "generation": 1,
        }
        state["metadata"] = metadata
        resource_id = f"{metadata['namespace']}/{name}" if namespaced else name
        if kind_of(args.typ) == "Namespace":
            state["status"] = {"phase": "Active"}
        self.created.setdefault(args.typ, {})[resource_id] = state
        return resource_id, state

    def _release(self, args: pulumi.runtime.MockResourceArgs, state: dict[str, Any]) -> tuple[str, dict]:
        name = _plain(state.get("name")) or autoname(args.typ, args.name)
        namespace = _plain(state.get("namespace")) or "default"
        version = _plain(state.get("version")) or ""
        state |= {"name": name, "namespace": namespace}
        state["status"] = {
            "name": name,
            "namespace": namespace,
            "chart": _plain(state.get("chart")),
            "version": version,
            # The chart's appVersion is in the chart itself; the plan has no chart to read it from.
            "appVersion": "",
            "revision": 1,
            "status": "deployed",
        }
        resource_id = f"{namespace}/{name}"
        self.created.setdefault(args.typ, {})[resource_id] = state
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        raise UnmockedKubernetesInvoke(args.token)
