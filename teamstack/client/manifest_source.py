"""Where a team manifest comes from, and the checks before anything in it is trusted.

AWS stacks write the manifest to the SSM parameter `naming.manifest_parameter(team)`; GCP stacks to the object
`naming.gcp_manifest_url(team, project)`. An explicit location may also be given: `ssm:<parameter name>`,
`s3://bucket/key`, `gs://bucket/object` or a local JSON file (the manifest, or a saved `teamstack plan --json`
plan, whose `outputs.manifest` it is). Found by team name, its location is remembered (`client/login.py`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from teamstack import naming
from teamstack.client.errors import ManifestError
from teamstack.manifest import READABLE_SCHEMA_VERSIONS, TeamManifest

SUPPORTED_SCHEMA_VERSION = naming.MANIFEST_SCHEMA_VERSION
READABLE = READABLE_SCHEMA_VERSIONS  # every version this client reads (older stacks keep working)


def parse_manifest(text: str | bytes, source: str, team: str | None = None) -> TeamManifest:
    """Parse and check a manifest's JSON; every failure is one `ManifestError` line naming `source`."""
    try:
        data: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ManifestError(f"team manifest {source} is not valid JSON: {error}") from None
    if isinstance(data, dict) and "schemaVersion" not in data:
        if isinstance(data.get("outputs"), dict) and "manifest" in data["outputs"]:
            data = data["outputs"]["manifest"]  # a saved `teamstack plan --json` plan
        elif "manifest" in data:
            data = data["manifest"]  # its outputs section alone
    if not isinstance(data, dict) or "schemaVersion" not in data:
        raise ManifestError(f"{source} is not a teamstack manifest: it has no schemaVersion")
    version = data["schemaVersion"]
    if version not in READABLE or isinstance(version, bool):
        advice = (
            "upgrade the teamstack package"
            if isinstance(version, int) and version > SUPPORTED_SCHEMA_VERSION
            else "ask IT to update the team stack"
        )
        raise ManifestError(
            f"team manifest {source} has schemaVersion {version!r}; this client reads "
            f"{' and '.join(map(str, READABLE))}: {advice}"
        )
    try:
        manifest = TeamManifest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ManifestError(
            f"team manifest {source} is unreadable at {where}: {first['msg']} ({error.error_count()} problem(s))"
        ) from None
    if team is not None and manifest.team != team:
        raise ManifestError(f"team manifest {source} belongs to team {manifest.team!r}, not {team!r}")
    return manifest


def gcp_project(project: str | None = None) -> str:
    """The GCP project: the argument, else GOOGLE_CLOUD_PROJECT, else google.auth's default project."""
    if project:
        return project
    if os.environ.get("GOOGLE_CLOUD_PROJECT"):
        return os.environ["GOOGLE_CLOUD_PROJECT"]
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        _, default_project = google.auth.default()
    except DefaultCredentialsError:
        default_project = None
    if not default_project:
        raise ManifestError(
            "no GCP project: pass project=..., set GOOGLE_CLOUD_PROJECT or run `gcloud config set project`"
        )
    return str(default_project)


def load_manifest(
    team: str | None = None,
    *,
    location: str | None = None,
    cloud: str | None = None,
    project: str | None = None,
    region: str | None = None,
    remember: bool = True,
) -> TeamManifest:
    """The manifest of `team` (where it was found before, else where its stack wrote it) or from `location`.

    Found by team name, its location is remembered in the user's Dask config (`remember=False` does not)."""
    from teamstack.client import login

    if location is None and team is None:
        raise ManifestError("name a team or a manifest location")
    if location is not None:
        return parse_manifest(read_location(location, region, project), location, team)
    assert team is not None
    if not (cloud or project or region):
        entry = login.saved(team)
        if entry is not None:
            try:
                text = read_location(entry.manifest, entry.region, entry.project)
            except ManifestError as error:
                raise ManifestError(
                    f"{error} (remembered in {login.config_path()}; `teamstack login {team}` finds it again)"
                ) from None
            return parse_manifest(text, entry.manifest, team)
    cloud = cloud or ("gcp" if project else os.environ.get("TEAMSTACK_CLOUD", "aws"))
    if cloud == "aws":
        text, found_region = login.find_aws_manifest(team, region)
        location = f"ssm:{naming.manifest_parameter(team)}"
        where = login.SavedTeam(cloud="aws", region=found_region, manifest=location)
        manifest = parse_manifest(text, f"SSM parameter {location[4:]} ({found_region})", team)
    elif cloud == "gcp":
        project = gcp_project(project)
        location = naming.gcp_manifest_url(team, project)
        where = login.SavedTeam(cloud="gcp", project=project, manifest=location)
        manifest = parse_manifest(_read_gcs(location, project), location, team)
    else:
        raise ManifestError(f"unknown cloud {cloud!r}: expected aws or gcp")
    if remember:
        login.remember(team, where)
    return manifest


def read_location(location: str, region: str | None = None, project: str | None = None) -> str:
    """The text at a manifest location: `ssm:<name>`, `s3://`, `gs://`, or a local file."""
    if location.startswith("ssm:"):
        return _read_ssm(location.removeprefix("ssm:"), region)
    if location.startswith("s3://"):
        return _read_s3(location, region)
    if location.startswith("gs://"):
        return _read_gcs(location, project)
    path = Path(location.removeprefix("file://")).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read team manifest file {path}: {error}") from None


def _split_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.split("://", 1)[1].partition("/")
    if not bucket or not key:
        raise ManifestError(f"manifest location {url} must name a bucket and an object")
    return bucket, key


def aws_failure(error: Exception, what: str) -> ManifestError:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    if isinstance(error, NoCredentialsError):
        return ManifestError(f"cannot read {what}: no AWS credentials (run `aws sso login` or set AWS_PROFILE)")
    if isinstance(error, NoRegionError):
        return ManifestError(f"cannot read {what}: no AWS region (pass region=... or set AWS_REGION)")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("ParameterNotFound", "NoSuchKey", "NoSuchBucket", "404"):
            return ManifestError(
                f"no team manifest at {what}: is the team's stack deployed in this account and region?"
            )
        if code in ("AccessDeniedException", "AccessDenied", "403"):
            return ManifestError(f"not allowed to read {what}: assume the team's data-scientist role")
        return ManifestError(f"cannot read {what}: {code}: {error.response.get('Error', {}).get('Message', '')}")
    return ManifestError(f"cannot read {what}: {type(error).__name__}: {error}")


def _read_ssm(name: str, region: str | None) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"SSM parameter {name}"
    try:
        client = boto3.session.Session(region_name=region).client("ssm")
        where = f"SSM parameter {name} ({client.meta.region_name})"
        return str(client.get_parameter(Name=name)["Parameter"]["Value"])
    except (BotoCoreError, ClientError) as error:
        raise aws_failure(error, where) from None


def _read_s3(url: str, region: str | None) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = _split_url(url)
    try:
        body = boto3.session.Session(region_name=region).client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        return body.decode("utf-8")
    except (BotoCoreError, ClientError) as error:
        raise aws_failure(error, url) from None
    except UnicodeDecodeError:
        raise ManifestError(f"team manifest {url} is not UTF-8 text") from None


def _read_gcs(url: str, project: str | None) -> str:
    from google.api_core import exceptions as gexc
    from google.auth.exceptions import DefaultCredentialsError

    from teamstack.client.storage import gcs_client

    bucket, key = _split_url(url)
    try:
        return gcs_client(project).bucket(bucket).blob(key).download_as_bytes().decode("utf-8")
    except DefaultCredentialsError:
        raise ManifestError(
            f"cannot read {url}: no Google credentials (run `gcloud auth application-default login`)"
        ) from None
    except gexc.NotFound:
        raise ManifestError(f"no team manifest at {url}: is the team's stack deployed in this project?") from None
    except gexc.Forbidden:
        raise ManifestError(f"not allowed to read {url}: ask to be added to the team's data scientists") from None
    except gexc.GoogleAPIError as error:
        raise ManifestError(f"cannot read {url}: {error}") from None
    except UnicodeDecodeError:
        raise ManifestError(f"team manifest {url} is not UTF-8 text") from None
