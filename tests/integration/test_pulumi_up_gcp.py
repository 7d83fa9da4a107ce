"""Opt-in: a real `pulumi up` and `destroy` of a throwaway GCP team stack, through the Pulumi Automation API.

The GCP twin of test_pulumi_up.py. It deploys to a real Google Cloud project, costs money (a GKE cluster, Cloud
NAT, a KMS key, a default-environment Cloud Build) and takes a long while (GKE: ~10-20 minutes up, ~5-10 down).
It runs only when ALL of these hold, and is skipped otherwise:

  TEAMSTACK_INTEGRATION=1                 the explicit opt-in
  `pulumi` on PATH                        the Pulumi CLI the Automation API drives
  Google credentials                      GOOGLE_APPLICATION_CREDENTIALS (a key file), the gcloud ADC file
                                          (~/.config/gcloud/application_default_credentials.json, written by
                                          `gcloud auth application-default login`) or GOOGLE_OAUTH_ACCESS_TOKEN
  TEAMSTACK_ITEST_GCP_PROJECT             the project to deploy into (its compute, container, artifactregistry,
                                          cloudbuild, cloudkms, pubsub and billingbudgets APIs enabled)
  TEAMSTACK_ITEST_GCP_BILLING_ACCOUNT     the project's Cloud Billing account id (XXXXXX-XXXXXX-XXXXXX): the budget
  TEAMSTACK_ITEST_GCP_ADMIN               an IAM member (user:<email>) made admin and data scientist of the stack
  TEAMSTACK_ITEST_GCP_API_CIDR            the CIDR this machine reaches the internet from (e.g. <your IP>/32): the
                                          cluster API answers only it, and `up` deploys the Kubernetes layer from here

Optional: TEAMSTACK_ITEST_GCP_REGION (default ml-geo's europe-west4), TEAMSTACK_ITEST_GKE_SECURITY_GROUP (needed
only if the admin is a group:, see teamstack:gkeSecurityGroup), PULUMI_CONFIG_PASSPHRASE (default a fixed test
passphrase).

The stack is `itest-<8 hex>`, written as stacks/Pulumi.itest-<hex>.yaml (the ml-geo stack made small: a zonal
cluster, only the CPU pool with 2 nodes at most, a small budget), with its state in a local file backend under
pytest's tmp dir. Teardown always runs: unprotect, destroy, remove the stack, delete the stack file. The catalog
buckets, the access-log bucket and the KMS key ring and key are retained on delete by design; the test prints them
for the operator to delete by hand. The build bucket is not retained but versioned and never force-destroyed, so
the objects the stack wrote (manifest, recipe, default spec) stay in it as old versions and its deletion is
refused: if destroy fails, the test deletes the object versions of that one throwaway bucket and destroys again.

    TEAMSTACK_INTEGRATION=1 TEAMSTACK_ITEST_GCP_PROJECT=<project> TEAMSTACK_ITEST_GCP_BILLING_ACCOUNT=<id> \\
    TEAMSTACK_ITEST_GCP_ADMIN=user:<you@your-domain> TEAMSTACK_ITEST_GCP_API_CIDR=<your IP>/32 \\
        .venv/bin/python -m pytest tests/integration/test_pulumi_up_gcp.py -m integration -s
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack import naming
from teamstack.config import load_team
from teamstack.manifest import TeamManifest
from teamstack.stackfiles import load_project, stack_config
from tests.integration.prerequisites import (
    REPO,
    credentials_missing,
    engine_missing,
    local_backend,
    teardown,
    variables_missing,
)

DEFAULT_REGION = "europe-west4"  # ml-geo's
PROJECT_ENV = "TEAMSTACK_ITEST_GCP_PROJECT"
BILLING_ENV = "TEAMSTACK_ITEST_GCP_BILLING_ACCOUNT"
ADMIN_ENV = "TEAMSTACK_ITEST_GCP_ADMIN"
API_CIDR_ENV = "TEAMSTACK_ITEST_GCP_API_CIDR"
CATALOG = ("imagery", "features", "models")  # ml-geo's catalog buckets
RETAINED_ADVICE = (
    "empty the buckets first, old object versions included; then destroy the KMS key's versions "
    "(GCP never deletes key rings or keys)"
)


def _missing_prerequisites() -> list[str]:
    return [
        *engine_missing(),
        *credentials_missing("gcp"),
        *variables_missing(
            {
                PROJECT_ENV: "GCP project to deploy into",
                BILLING_ENV: "its Cloud Billing account id, for the budget",
                ADMIN_ENV: "IAM member, e.g. user:<email>, to make admin",
                API_CIDR_ENV: "this machine's egress CIDR, allowed to reach the cluster API",
            }
        ),
    ]


_MISSING = _missing_prerequisites()

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(_MISSING), reason="real GCP deployment (opt-in): " + "; ".join(_MISSING)),
]


def itest_stack_document(
    stack: str,
    project: str,
    region: str,
    billing_account: str,
    admin: str,
    api_cidr: str,
    security_group: str | None,
) -> dict[str, Any]:
    """The ml-geo stack file, made a small throwaway stack named after `stack` in the operator's project."""
    document = yaml.safe_load((REPO / "stacks" / "Pulumi.ml-geo.yaml").read_text(encoding="utf-8"))
    config = document["config"]
    config["gcp:project"] = project
    config["gcp:region"] = region
    config["teamstack:team"] = stack
    # Its own ranges: the program refuses ranges that overlap another stack file's (ml-geo's among them).
    config["teamstack:vpcCidr"], config["teamstack:podCidr"] = "10.251.0.0/20", "10.252.0.0/14"
    # The region's first two zones; one zonal control plane instead of ml-geo's regional one.
    config.pop("teamstack:zones", None)
    config["teamstack:azCount"] = 2
    config["teamstack:clusterLocation"] = "zonal"
    config["teamstack:apiAccessCidrs"] = [api_cidr]
    config["teamstack:admins"] = [admin]
    config["teamstack:dataScientistMembers"] = [admin]
    if security_group:
        config["teamstack:gkeSecurityGroup"] = security_group
    else:
        config.pop("teamstack:gkeSecurityGroup", None)
    # One system node in a throwaway stack: ml-geo's highAvailability (two nodes, two zones) goes with it.
    config["teamstack:systemNodeGroup"] = {
        **config["teamstack:systemNodeGroup"], "highAvailability": False, "minSize": 1, "maxSize": 2
    }
    # Only the CPU pool: a test project rarely has GPU quota, and the pools' shape is covered by the plan tests.
    cpu = next(group for group in config["teamstack:nodeGroups"] if group["kind"] == "cpu")
    config["teamstack:nodeGroups"] = [{**cpu, "maxSize": 2}]
    config["teamstack:budget"] = {
        **config["teamstack:budget"],
        "monthlyLimitUsd": 50,
        "billingAccount": billing_account,
    }
    config["teamstack:tags"] = {"purpose": "teamstack-integration-test"}
    return {"config": config}


def storage_client(project: str) -> Any:
    """A Cloud Storage client on the credentials the Pulumi GCP provider uses (an access token comes first)."""
    from google.cloud import storage

    token = os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN")
    if token:
        from google.oauth2.credentials import Credentials

        return storage.Client(project=project, credentials=Credentials(token))
    return storage.Client(project=project)


def read_manifest(url: str, project: str) -> str:
    bucket, _, name = url.removeprefix("gs://").partition("/")
    return str(storage_client(project).bucket(bucket).blob(name).download_as_text())


def purge_build_bucket(stack_name: str, project: str) -> list[str]:
    """Delete every object version of the throwaway stack's build bucket, so destroy may delete the bucket."""
    bucket = naming.gcp_bucket_name(stack_name, "envs", project)
    try:
        client = storage_client(project)
        for blob in client.list_blobs(bucket, versions=True):
            blob.delete()  # each listed version carries its generation: that one version is deleted
    except Exception as error:
        return [f"could not empty the build bucket gs://{bucket}: {error}"]
    return []


def test_pulumi_up_then_destroy_a_throwaway_gcp_team_stack(tmp_path: Path) -> None:
    from pulumi import automation as auto

    stack_name = f"itest-{secrets.token_hex(4)}"
    project = os.environ[PROJECT_ENV]
    region = os.environ.get("TEAMSTACK_ITEST_GCP_REGION") or DEFAULT_REGION
    document = itest_stack_document(
        stack_name,
        project,
        region,
        os.environ[BILLING_ENV],
        os.environ[ADMIN_ENV],
        os.environ[API_CIDR_ENV],
        os.environ.get("TEAMSTACK_ITEST_GKE_SECURITY_GROUP"),
    )
    stack_file = REPO / "stacks" / f"Pulumi.{stack_name}.yaml"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    backend, env = local_backend(tmp_path)
    stack = None
    passed = False
    try:
        # The same check `pulumi up` makes first: a broken stack file fails here, before any cloud cost.
        load_team(stack_config(load_project(REPO), stack_name), stack_name)
        stack = auto.create_or_select_stack(
            stack_name=stack_name,
            work_dir=str(REPO),
            opts=auto.LocalWorkspaceOptions(env_vars=env, secrets_provider="passphrase"),
        )
        result = stack.up(on_output=print)
        outputs = {name: output.value for name, output in result.outputs.items()}
        assert outputs["cloud"] == "gcp"
        assert outputs["clusterName"] == stack_name
        assert (outputs["projectId"], outputs["region"]) == (project, region)
        assert outputs["registryUri"] == (
            f"{region}-docker.pkg.dev/{project}/{naming.gcp_repository_id(stack_name)}/{naming.GCP_IMAGE_NAME}"
        )
        catalog = {name: naming.gcp_bucket_name(stack_name, name, project) for name in CATALOG}
        assert outputs["catalogBuckets"] == catalog
        manifest_url = naming.gcp_manifest_url(stack_name, project)
        assert outputs["manifestUrl"] == manifest_url

        # What a data scientist's client reads: the object itself, with google-cloud-storage.
        text = read_manifest(manifest_url, project)
        raw = json.loads(text)
        assert raw["schemaVersion"] == 1
        manifest = TeamManifest.model_validate_json(text)
        assert (manifest.team, manifest.cloud, manifest.region) == (stack_name, "gcp", region)
        assert manifest.account == project
        assert {entry.name: entry.bucket for entry in manifest.catalog} == catalog
        assert manifest.cluster.name == stack_name
        passed = True
    finally:
        problems = (
            teardown(
                stack,
                stack_name,
                env,
                backend,
                RETAINED_ADVICE,
                before_retry=lambda: purge_build_bucket(stack_name, project),
            )
            if stack is not None
            else []
        )
        stack_file.unlink(missing_ok=True)
        for problem in problems:
            print(f"TEARDOWN PROBLEM: {problem}")
        if problems and passed:
            pytest.fail("teardown: " + "; ".join(problems))
