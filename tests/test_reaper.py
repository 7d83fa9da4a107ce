"""The Dask cluster reaper (components/k8s/reaper.py): which clusters expire, what it asks the API, and the
script run end to end, in cluster mode, against the local HTTPS Kubernetes API stand-in (tests/k8s_standin.py).
"""

from __future__ import annotations

import base64
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from k8s_standin import KubeStandin, rbac_forbidden, status

from components.k8s import reaper, spec

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=reaper.UTC)
DAY = 24 * 3600


def cluster(name: str, age: timedelta, **metadata: Any) -> dict[str, Any]:
    created = (NOW - age).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created, **metadata}}


def test_only_clusters_older_than_the_limit_expire_oldest_first() -> None:
    items = [
        cluster("young", timedelta(hours=23, minutes=59)),
        cluster("old", timedelta(hours=25)),
        cluster("older", timedelta(days=3)),
        cluster("exactly", timedelta(hours=24)),  # not older than the limit yet
    ]
    found = reaper.expired(items, NOW, DAY)
    assert [e.name for e in found] == ["older", "old"]
    assert found[1] == reaper.Expired("old", "uid-old", 25 * 3600)


def test_clusters_already_being_deleted_or_unreadable_are_left_alone() -> None:
    items = [
        cluster("going", timedelta(days=2), deletionTimestamp="2026-11-29T11:00:00Z"),
        {"metadata": {"name": "no-timestamp", "uid": "u"}},
        {"metadata": {"name": "bad-timestamp", "uid": "u", "creationTimestamp": "yesterday"}},
        {"metadata": {"uid": "nameless", "creationTimestamp": "2020-01-01T00:00:00Z"}},
    ]
    assert reaper.expired(items, NOW, DAY) == []


class RecordingApi(reaper.Api):
    def __init__(self, items: list[dict[str, Any]], refuse: dict[str, int] | None = None) -> None:
        self.items, self.refuse, self.calls = items, refuse or {}, []  # type: ignore[var-annotated]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        self.calls.append((method, path, body))
        name = path.rsplit("/", 1)[-1]
        if method == "DELETE" and name in self.refuse:
            raise urllib.error.HTTPError(path, self.refuse[name], "refused", None, None)  # type: ignore[arg-type]
        return {"items": self.items} if method == "GET" else {}


def test_reap_lists_the_namespace_and_deletes_each_expired_cluster_only_if_it_is_still_the_same() -> None:
    api = RecordingApi([cluster("old", timedelta(days=2)), cluster("new", timedelta(hours=1))])
    deleted = reaper.reap(api, "ml-vision", DAY, NOW)
    assert [c.name for c in deleted] == ["old"]
    collection = "/apis/kubernetes.dask.org/v1/namespaces/ml-vision/daskclusters"
    assert api.calls[0] == ("GET", collection, None)
    method, path, body = api.calls[1]
    assert (method, path) == ("DELETE", f"{collection}/old")
    # The uid precondition: a new cluster that took the name meanwhile is not deleted.
    assert body["preconditions"] == {"uid": "uid-old"} and body["propagationPolicy"] == "Background"
    assert len(api.calls) == 2


def test_a_cluster_gone_or_replaced_meanwhile_is_skipped_and_other_refusals_stop_the_run() -> None:
    items = [
        cluster("gone", timedelta(days=3)),
        cluster("replaced", timedelta(days=2)),
        cluster("old", timedelta(days=1, hours=1)),
    ]
    api = RecordingApi(items, refuse={"gone": 404, "replaced": 409})
    assert [c.name for c in reaper.reap(api, "t", DAY, NOW)] == ["old"]
    with pytest.raises(urllib.error.HTTPError):
        reaper.reap(RecordingApi(items, refuse={"gone": 403}), "t", DAY, NOW)


def test_the_role_grants_exactly_what_reap_uses() -> None:
    api = RecordingApi([cluster("old", timedelta(days=2))])
    reaper.reap(api, "t", DAY, NOW)
    verbs = {"GET": "list", "DELETE": "delete"}
    used = {verbs[method] for method, _, _ in api.calls}
    (rule,) = spec.reaper_rules()
    assert set(rule["verbs"]) == used and rule["resources"] == [reaper.PLURAL] and rule["apiGroups"] == [reaper.GROUP]


def test_the_script_runs_on_the_standard_library_alone_and_fails_in_one_line_outside_a_cluster() -> None:
    # -I: isolated, no site-packages and no project on the path, as in the team image.
    result = subprocess.run(
        [sys.executable, "-I", str(spec.REAPER_SCRIPT)],
        env={"MAX_LIFETIME_SECONDS": "86400"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("dask-reaper: ")


def test_no_lifetime_means_no_reaper() -> None:
    from teamstack.config import KubernetesConfig

    assert spec.reaper_lifetime_seconds(KubernetesConfig.model_validate({"maxClusterLifetimeHours": 0})) is None
    assert spec.reaper_lifetime_seconds(KubernetesConfig.model_validate({})) == 24 * 3600


# --- end to end, over HTTPS, as the CronJob's pod runs it --------------------------------------------------------


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeStandin]:
    server = KubeStandin()
    yield server
    server.stop()


@pytest.fixture
def in_cluster(kube: KubeStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KubeStandin:
    """The pod's view: a service-account directory (token, CA, namespace) and the API's service address."""
    kube.state.reset()
    (tmp_path / "token").write_text("reaper-token\n")
    (tmp_path / "ca.crt").write_bytes(base64.b64decode(kube.ca_data))
    (tmp_path / "namespace").write_text("ml-vision")
    monkeypatch.setattr(reaper, "ACCOUNT_DIR", str(tmp_path))
    host, port = kube.endpoint.removeprefix("https://").split(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv(reaper.LIFETIME_ENV, str(DAY))
    return kube


def _store(kube: KubeStandin, *clusters: dict[str, Any]) -> None:
    for item in clusters:
        item["metadata"]["namespace"] = "ml-vision"
        kube.state.daskclusters[item["metadata"]["name"]] = item


def test_the_script_deletes_only_expired_clusters_with_its_token(
    in_cluster: KubeStandin, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(reaper.UTC)
    _store(
        in_cluster,
        cluster("forgotten", timedelta(0), creationTimestamp=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")),
        cluster("fresh", timedelta(0), creationTimestamp=(now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    assert reaper.main() == 0
    assert set(in_cluster.state.daskclusters) == {"fresh"}
    assert {auth for _, _, auth in in_cluster.state.requests} == {"Bearer reaper-token"}
    out = capsys.readouterr().out
    assert out.startswith("deleted DaskCluster ml-vision/forgotten: 48.0 h old, limit 24 h") and out.count("\n") == 1


def test_a_refusal_is_one_line_naming_the_role(in_cluster: KubeStandin, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(reaper.UTC)
    _store(
        in_cluster,
        cluster("old", timedelta(0), creationTimestamp=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    forbidden = rbac_forbidden(
        "system:serviceaccount:ml-vision:dask-reaper", "delete", "daskclusters", reaper.GROUP, "ml-vision"
    )
    in_cluster.state.scripted[("DELETE", r".*/daskclusters/old")] = (403, forbidden)
    assert reaper.main() == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HTTP 403" in err and "dask-reaper Role" in err


def test_a_cluster_replaced_meanwhile_is_left_alone(in_cluster: KubeStandin) -> None:
    now = datetime.now(reaper.UTC)
    stamp = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _store(
        in_cluster,
        cluster("reused", timedelta(0), creationTimestamp=stamp),
        cluster("old", timedelta(0), creationTimestamp=stamp),
    )
    # The API server's answer when the uid precondition no longer holds.
    conflict = status(
        409, "Conflict", 'Operation cannot be fulfilled on daskclusters "reused": Precondition failed: UID'
    )
    in_cluster.state.scripted[("DELETE", r".*/daskclusters/reused")] = (409, conflict)
    assert reaper.main() == 0
    assert set(in_cluster.state.daskclusters) == {"reused"}
