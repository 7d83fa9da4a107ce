"""The defects one node-pool model fixes (issue 10), each through public behaviour only: the offline plan of a
variant of a shipped stack, the config loader, the data scientists' client. Every test here failed on the tree
before the model (run against it: each assertion names what it got)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

from teamstack.client import ClusterError
from teamstack.client.clusters import gcp_cluster_options, kube_cluster_spec
from teamstack.config import ConfigError, load_team
from teamstack.manifest import TeamManifest
from teamstack.plan.runner import Plan, plan_stack
from teamstack.stackfiles import load_project, stack_config

QUOTA = "kubernetes:core/v1:ResourceQuota"
IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"


def _variant(root: Path, stack: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the project whose stack file `stack` has `change` applied to its config."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        (root / name).write_bytes((ROOT / name).read_bytes())
    for name in ("components", "teamstack", "images", "environments"):
        if (ROOT / name).exists():
            (root / name).symlink_to(ROOT / name)
    (root / "stacks").mkdir()
    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    change(document["config"])
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return root


def _group(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in config["teamstack:nodeGroups"] if g["name"] == name)


def _team_quota(plan: Plan, namespace: str) -> dict[str, str]:
    quota = next(
        r
        for r in plan.of_type(QUOTA)
        if r.inputs["metadata"] == {**r.inputs["metadata"], "name": "team-quota", "namespace": namespace}
    )
    return dict(quota.inputs["spec"]["hard"])


# --- 1. the quota follows the pools ------------------------------------------------------------------------------


def test_raising_a_gpu_group_raises_the_namespace_gpu_quota(tmp_path: Path) -> None:
    """gpu-a10g maxSize 2 -> 3 (4 A10G each): the namespace may use 8 x 1 + 3 x 4 = 20 GPUs, not a stale 16."""
    root = _variant(tmp_path, "ml-vision", lambda config: _group(config, "gpu-a10g").update(maxSize=3))
    hard = _team_quota(plan_stack(root, "ml-vision"), "ml-vision")
    assert hard["requests.nvidia.com/gpu"] == "20"


def test_a_gpu_quota_above_what_the_pools_hold_is_refused() -> None:
    values = stack_config(load_project(ROOT), "ml-vision")
    kubernetes = json.loads(values["teamstack:kubernetes"])
    kubernetes["quota"]["gpus"] = 17  # the pools hold 16
    with pytest.raises(ConfigError) as error:
        load_team({**values, "teamstack:kubernetes": json.dumps(kubernetes)}, "ml-vision")
    assert error.value.key == "teamstack:kubernetes.quota.gpus"
    assert "16 GPUs" in error.value.reason
    kubernetes["quota"]["gpus"] = 6  # lower: the team's choice, kept
    team = load_team({**values, "teamstack:kubernetes": json.dumps(kubernetes)}, "ml-vision")
    assert team.kubernetes.quota.gpus == 6


# --- 2. and 3. the client's GPU workers come from the pools -------------------------------------------------------


@pytest.fixture(scope="module")
def geo_manifest() -> TeamManifest:
    """ml-geo's planned manifest, its subnetwork named like its network (GCPCluster's own limit, #396)."""
    manifest = TeamManifest.model_validate(plan_stack(ROOT, "ml-geo").outputs["manifest"])
    network = manifest.network.model_copy(update={"subnetwork": getattr(manifest.network, "network", "")})
    return manifest.model_copy(update={"network": network})


@pytest.fixture(scope="module")
def vision_manifest() -> TeamManifest:
    return TeamManifest.model_validate(plan_stack(ROOT, "ml-vision").outputs["manifest"])


def test_a_g2_standard_24_worker_asks_for_both_of_its_l4_gpus(geo_manifest: TeamManifest) -> None:
    options = gcp_cluster_options(geo_manifest, image="img:1", gpu="l4")
    assert options["worker_machine_type"] == "g2-standard-24"
    assert (options["worker_ngpus"], options["worker_gpu_type"]) == (2, "nvidia-l4")
    t4 = gcp_cluster_options(geo_manifest, image="img:1", gpu="t4")
    assert (t4["worker_machine_type"], t4["worker_ngpus"], t4["worker_gpu_type"]) == (
        "n1-standard-8",
        1,
        "nvidia-tesla-t4",
    )


def _worker_groups(spec: dict[str, Any]) -> list[str]:
    terms = spec["spec"]["worker"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (term,) = terms["nodeSelectorTerms"]
    (expression,) = [e for e in term["matchExpressions"] if e["key"] == "teamstack.io/node-group"]
    return list(expression["values"])


@pytest.mark.parametrize(("gpu", "group"), [("t4", "gpu-t4"), ("a10g", "gpu-a10g"), ("A10G", "gpu-a10g")])
def test_gpu_workers_choose_between_the_t4_and_a10g_groups(vision_manifest: TeamManifest, gpu: str, group: str) -> None:
    spec = kube_cluster_spec(vision_manifest, gpu=gpu)
    assert _worker_groups(spec) == [group]
    assert spec["spec"]["worker"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_a_gpu_type_the_team_does_not_have_names_the_ones_it_has(vision_manifest: TeamManifest) -> None:
    with pytest.raises(ClusterError, match=r"no 'h100' GPU group; its GPU groups: gpu-t4 \(t4\), gpu-a10g \(a10g\)"):
        kube_cluster_spec(vision_manifest, gpu="h100")


# --- 4. IAM bindings keep their names when another member leaves ------------------------------------------------


def _admin_bindings(plan: Plan) -> dict[str, str]:
    """member -> URN of its roles/container.admin binding."""
    return {r.inputs["member"]: r.urn for r in plan.of_type(IAM_MEMBER) if r.inputs["role"] == "roles/container.admin"}


def test_removing_an_admin_keeps_every_other_admin_binding(tmp_path: Path) -> None:
    first, second = "group:platform-admins@example.com", "user:oncall@example.com"
    both = _variant(tmp_path / "both", "ml-geo", lambda c: c.update({"teamstack:admins": [first, second]}))
    only = _variant(tmp_path / "one", "ml-geo", lambda c: c.update({"teamstack:admins": [second]}))
    before, after = _admin_bindings(plan_stack(both, "ml-geo")), _admin_bindings(plan_stack(only, "ml-geo"))
    assert set(before) == {first, second} and set(after) == {second}
    assert after[second] == before[second]  # same URN: `pulumi up` leaves it alone (no window without access)
