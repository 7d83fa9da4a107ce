"""`teamstack.connect`: the manifest read where the stack wrote it (moto SSM, the GCS emulator), and one clear
line for everything that can be wrong with it; `import teamstack` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from standins import *  # noqa: F403  (the stand-in fixtures)
from standins import GCP_PROJECT, ROOT, AwsTeam, gcp_manifest

import teamstack
from teamstack import naming
from teamstack.client import ManifestError, Team, login


def test_connect_reads_the_manifest_the_stack_wrote(aws_team: AwsTeam) -> None:
    team = teamstack.connect("ml-vision")
    assert isinstance(team, Team) and team.manifest == aws_team.manifest
    assert team.manifest.dask is not None  # the plan's Kubernetes layer
    same = teamstack.connect(manifest=f"ssm:{naming.manifest_parameter('ml-vision')}")
    assert same.manifest == aws_team.manifest


def test_connect_from_a_file_and_from_a_plan_json(tmp_path: Path, aws_team: AwsTeam) -> None:
    (tmp_path / "m.json").write_text(aws_team.manifest.to_json())
    assert teamstack.connect(manifest=str(tmp_path / "m.json")).manifest == aws_team.manifest
    (tmp_path / "plan.json").write_text(json.dumps({"manifest": json.loads(aws_team.manifest.to_json())}))
    assert teamstack.connect("ml-vision", manifest=str(tmp_path / "plan.json")).name == "ml-vision"


def test_missing_parameter_says_the_stack_is_not_there(aws_team: AwsTeam) -> None:
    with pytest.raises(
        ManifestError, match=r"no team manifest at SSM parameter /teamstack/nobody/manifest \(us-west-2\)"
    ):
        teamstack.connect("nobody", region="us-west-2")
    with pytest.raises(ManifestError, match=r"no team manifest /teamstack/nobody/manifest in any AWS region"):
        teamstack.connect("nobody")  # the profile's region, then every region
    assert not login.config_path().exists()  # nothing remembered for a team that was not found


def test_the_first_connect_finds_the_region_and_remembers_it(
    aws_team: AwsTeam, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the profile's region is not the team's
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    team = teamstack.connect("ml-vision")
    assert team.manifest == aws_team.manifest
    saved = yaml.safe_load(login.config_path().read_text())
    assert saved == {
        "teamstack": {
            "teams": {
                "ml-vision": {"cloud": "aws", "region": "us-west-2", "manifest": "ssm:/teamstack/ml-vision/manifest"}
            }
        }
    }
    # Afterwards nothing else is needed: no region at all in the environment.
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert teamstack.connect("ml-vision").manifest == aws_team.manifest
    import dask.config

    dask.config.refresh(paths=[str(login.config_path().parent)])  # Dask reads the same file as its own config
    assert dask.config.get("teamstack.teams.ml-vision.region") == "us-west-2"


def test_a_stale_remembered_location_says_to_log_in_again(aws_team: AwsTeam) -> None:
    login.remember("ml-vision", login.SavedTeam(cloud="aws", region="us-west-2", manifest="ssm:/teamstack/old/x"))
    with pytest.raises(ManifestError, match=r"no team manifest at SSM parameter /teamstack/old/x .*teamstack login"):
        teamstack.connect("ml-vision")
    assert teamstack.connect("ml-vision", region="us-west-2").name == "ml-vision"  # explicit: found and saved again
    assert login.saved("ml-vision") == login.SavedTeam(
        cloud="aws", region="us-west-2", manifest="ssm:/teamstack/ml-vision/manifest"
    )


def test_a_saved_plan_json_is_a_manifest_source(tmp_path: Path, aws_team: AwsTeam) -> None:
    plan = {"stack": "ml-vision", "resources": [], "outputs": {"manifest": json.loads(aws_team.manifest.to_json())}}
    (tmp_path / "ml-vision.json").write_text(json.dumps(plan))
    assert teamstack.connect(manifest=str(tmp_path / "ml-vision.json")).manifest == aws_team.manifest
    assert not login.config_path().exists()  # an explicit file is not remembered


def test_no_credentials_is_one_line(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ManifestError, match="no AWS credentials") as caught:
        teamstack.connect("ml-vision")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: {**m, "schemaVersion": 3}, "schemaVersion 3; this client reads 1 and 2: upgrade the teamstack"),
        (lambda m: {**m, "schemaVersion": 0}, "schemaVersion 0; this client reads 1 and 2: ask IT to update"),
        (lambda m: {k: v for k, v in m.items() if k != "schemaVersion"}, "not a teamstack manifest"),
        (lambda m: {k: v for k, v in m.items() if k != "registry"}, "unreadable at registry: Field required"),
        (lambda m: {**m, "team": "other"}, "belongs to team 'other', not 'ml-vision'"),
    ],
)
def test_unusable_manifests_are_named(aws_team: AwsTeam, change: object, message: str) -> None:
    broken = change(json.loads(aws_team.manifest.to_json()))  # type: ignore[operator]
    name = "/teamstack/broken/manifest"
    aws_team.client("ssm").put_parameter(
        Name=name, Value=json.dumps(broken), Type="String", Overwrite=True, Tier="Advanced"
    )
    with pytest.raises(ManifestError, match=message):
        teamstack.connect("ml-vision", manifest=f"ssm:{name}")


def test_not_json(aws_team: AwsTeam) -> None:
    aws_team.client("ssm").put_parameter(Name="/teamstack/junk/manifest", Value="{oops", Type="String", Overwrite=True)
    with pytest.raises(ManifestError, match="is not valid JSON"):
        teamstack.connect("junk")


def test_gcp_manifest_from_the_build_bucket(gcs_env: str) -> None:
    from google.cloud import storage

    manifest = gcp_manifest()
    url = naming.gcp_manifest_url("geo", GCP_PROJECT)
    bucket, _, key = url.removeprefix("gs://").partition("/")
    storage.Client().create_bucket(bucket).blob(key).upload_from_string(manifest.to_json())
    assert teamstack.connect("geo", cloud="gcp").manifest == manifest  # project from GOOGLE_CLOUD_PROJECT
    assert teamstack.connect("geo", project=GCP_PROJECT).manifest == manifest
    with pytest.raises(ManifestError, match="no team manifest at gs://nobody-envs-vision-geo-dev"):
        teamstack.connect("nobody", cloud="gcp")


def test_import_teamstack_stays_light() -> None:
    code = (
        "import sys, teamstack, teamstack.client, teamstack.cli\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'boto3', 'botocore', 'dask', 'distributed', 'pulumi', 'google', 's3fs', 'gcsfs', 'dask_kubernetes', "
        "'dask_cloudprovider', 'pandas'})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
