"""What every team stack exports under the same names on either cloud (`components/outputs.py`), and that the
outputs and the manifest a client reads agree (issue 10: what AWS and GCP stacks share, written once)."""

from __future__ import annotations

from teamstack.config import TeamConfig
from teamstack.plan.runner import Plan

SHARED = {"cloud", "team", "region", "clusterName", "clusterEndpoint", "kubernetesVersion", "namespace",
          "registryUri", "buildBucket", "catalogBuckets", "manifest"}  # fmt: skip


def test_every_stack_exports_the_shared_outputs(plan: Plan, team: TeamConfig) -> None:
    outputs = plan.outputs
    assert set(outputs) >= SHARED, SHARED - set(outputs)
    assert (outputs["cloud"], outputs["team"], outputs["region"]) == (team.cloud, team.team, team.region)
    assert (outputs["namespace"], outputs["kubernetesVersion"]) == (team.team_namespace, team.kubernetes_version)
    assert sorted(outputs["catalogBuckets"]) == sorted(b.name for b in team.catalog_buckets)  # plans sort keys


def test_the_outputs_and_the_manifest_agree(plan: Plan) -> None:
    outputs, manifest = plan.outputs, plan.outputs["manifest"]
    assert (manifest["team"], manifest["cloud"], manifest["region"]) == (
        outputs["team"], outputs["cloud"], outputs["region"],
    )  # fmt: skip
    cluster = manifest["cluster"]
    assert (cluster["name"], cluster["namespace"]) == (outputs["clusterName"], outputs["namespace"])
    assert {c["name"]: c["bucket"] for c in manifest["catalog"]} == outputs["catalogBuckets"]
    assert manifest["registry"]["repositoryUri"] == outputs["registryUri"]
    assert manifest["build"]["bucket"] == outputs["buildBucket"]
