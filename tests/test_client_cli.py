"""`teamstack catalog|env|cluster ...` against the moto stand-in, through typer's runner (in process, so the
session's moto server is reachable): output, exit 0, and exit 2 with one `error:` line on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from standins import *  # noqa: F403  (the stand-in fixtures)
from standins import AwsTeam
from typer.testing import CliRunner

from teamstack.cli import app
from teamstack.client.catalog import INDEX_KEY

runner = CliRunner()


@pytest.fixture
def team(aws_team: AwsTeam) -> Iterator[AwsTeam]:
    yield aws_team
    aws_team.client("s3").delete_object(Bucket=aws_team.manifest.catalog[0].bucket, Key=INDEX_KEY)


def _error_line(result: object) -> str:
    output = result.stderr  # type: ignore[attr-defined]
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def test_catalog_add_ls_show(team: AwsTeam) -> None:
    url = "s3://ml-vision-raw-123456789012/labels/"
    added = runner.invoke(
        app, ["catalog", "add", "ml-vision", "labels", url, "--format", "csv", "--owner", "ana", "--allow-empty"]
    )
    assert added.exit_code == 0, added.output
    assert "registered labels" in added.stdout
    listed = runner.invoke(app, ["catalog", "ls", "ml-vision", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout)["url"] == url
    shown = runner.invoke(app, ["catalog", "show", "ml-vision", "labels"])
    assert json.loads(shown.stdout)["owner"] == "ana"

    again = runner.invoke(app, ["catalog", "add", "ml-vision", "labels", url, "--allow-empty"])
    assert again.exit_code == 2 and "--overwrite" in _error_line(again)
    replaced = runner.invoke(app, ["catalog", "add", "ml-vision", "labels", url, "--overwrite", "--allow-empty"])
    assert replaced.exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["catalog", "add", "ml-vision", "Bad Name", "s3://x-123/y"], "invalid dataset name"),
        (["catalog", "show", "ml-vision", "nope"], "no dataset 'nope'"),
        (["catalog", "ls", "nobody"], "no team manifest /teamstack/nobody/manifest in any AWS region"),
        (["env", "build", "ml-vision"], "name a spec file"),
        (["env", "build", "ml-vision", "missing.txt"], "cannot read environment spec missing.txt"),
        (["cluster", "start", "ml-vision", "--adapt", "lots"], "expected MIN:MAX"),
        (["cluster", "spec", "ml-vision", "--on-demand"], "no on-demand CPU node group"),
    ],
)
def test_bad_input_exits_2_with_one_line(team: AwsTeam, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in _error_line(result)


def test_cluster_spec_prints_the_daskcluster(team: AwsTeam) -> None:
    result = runner.invoke(app, ["cluster", "spec", "ml-vision", "--gpu", "--workers", "2"])
    assert result.exit_code == 0, result.output
    spec = yaml.safe_load(result.stdout)
    assert spec["kind"] == "DaskCluster" and spec["metadata"]["namespace"] == "ml-vision"
    assert spec["spec"]["worker"]["replicas"] == 2
    assert spec["spec"]["worker"]["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_env_build_prints_the_image(team: AwsTeam, tmp_path: Path) -> None:
    import dask
    import distributed

    from teamstack import envhash
    from teamstack.client.specs import load_spec

    spec = tmp_path / "requirements.txt"
    spec.write_text(f"dask=={dask.__version__}\ndistributed=={distributed.__version__}\nscipy\n")
    tag = envhash.image_tag(team.manifest.build.recipe_hash, "cpu", load_spec(spec).content)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": []}
    repository = team.manifest.registry.repository_uri.split("/", 1)[1]
    team.client("ecr").put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
    result = runner.invoke(app, ["env", "build", "ml-vision", str(spec)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{team.manifest.registry.repository_uri}:{tag}"
    assert "already in the registry" in result.stderr


def test_login_remembers_the_team(team: AwsTeam, monkeypatch: pytest.MonkeyPatch) -> None:
    from teamstack.client import login

    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    result = runner.invoke(app, ["login", "ml-vision"])
    assert result.exit_code == 0, result.output
    assert f"team ml-vision: aws us-west-2, account {team.manifest.account}" in result.stdout
    assert str(login.config_path()) in result.stdout.replace("\n", "")
    assert login.saved("ml-vision") == login.SavedTeam(
        cloud="aws", region="us-west-2", manifest="ssm:/teamstack/ml-vision/manifest"
    )
    listed = runner.invoke(app, ["catalog", "ls", "ml-vision", "--json"])  # no region anywhere but the saved one
    assert listed.exit_code == 0, listed.output
    wrong = runner.invoke(app, ["login", "ml-vision", "--region", "eu-north-1"])
    assert wrong.exit_code == 2 and "no team manifest at SSM parameter" in _error_line(wrong)
