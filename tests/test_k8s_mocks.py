"""The Kubernetes provider mocks answer like the API server and the Helm provider would."""

from __future__ import annotations

from typing import Any

import pulumi

from teamstack.plan.k8s_mocks import KubernetesMocks, autoname


def _new(mocks: KubernetesMocks, typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    resource_id, state = mocks.new_resource(
        pulumi.runtime.MockResourceArgs(typ=typ, name=name, inputs=inputs, provider=None, resource_id=None, custom=True)
    )
    assert resource_id is not None
    return resource_id, state


def test_namespaced_objects_get_a_name_the_default_namespace_and_server_fields() -> None:
    mocks = KubernetesMocks()
    resource_id, state = _new(mocks, "kubernetes:core/v1:ConfigMap", "settings", {"data": {"a": "b"}})
    name = state["metadata"]["name"]
    assert name == autoname("kubernetes:core/v1:ConfigMap", "settings")
    assert name.startswith("settings-") and len(name) == len("settings-") + 8
    assert state["metadata"]["namespace"] == "default" and resource_id == f"default/{name}"
    assert state["data"] == {"a": "b"}
    assert state["metadata"]["uid"] and state["metadata"]["resourceVersion"].isdigit()
    # Deterministic: the same program plans the same way twice.
    assert _new(KubernetesMocks(), "kubernetes:core/v1:ConfigMap", "settings", {"data": {"a": "b"}})[1] == state


def test_given_names_and_namespaces_are_kept_and_cluster_scoped_kinds_have_none() -> None:
    mocks = KubernetesMocks()
    resource_id, state = _new(
        mocks, "kubernetes:core/v1:ServiceAccount", "sa", {"metadata": {"name": "dask-worker", "namespace": "team"}}
    )
    assert resource_id == "team/dask-worker" and state["metadata"]["name"] == "dask-worker"
    resource_id, state = _new(mocks, "kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "team"}})
    assert resource_id == "team" and "namespace" not in state["metadata"]
    assert state["status"] == {"phase": "Active"}
    resource_id, state = _new(mocks, "kubernetes:scheduling.k8s.io/v1:PriorityClass", "pc", {"value": 10})
    assert resource_id == state["metadata"]["name"] and "namespace" not in state["metadata"]


def test_helm_releases_report_a_deployed_release() -> None:
    resource_id, state = _new(
        KubernetesMocks(),
        "kubernetes:helm.sh/v3:Release",
        "op",
        {"chart": "dask-kubernetes-operator", "version": "2026.3.0", "namespace": "dask-operator"},
    )
    assert state["name"] == autoname("kubernetes:helm.sh/v3:Release", "op")
    assert resource_id == f"dask-operator/{state['name']}"
    assert state["status"]["status"] == "deployed" and state["status"]["revision"] == 1
    assert state["status"]["version"] == "2026.3.0" and state["status"]["chart"] == "dask-kubernetes-operator"


def test_the_explicit_provider_echoes_its_inputs() -> None:
    resource_id, state = _new(KubernetesMocks(), "pulumi:providers:kubernetes", "k8s", {"kubeconfig": "{}"})
    assert state == {"kubeconfig": "{}"} and resource_id
