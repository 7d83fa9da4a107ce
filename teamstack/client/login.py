"""Where each team's manifest is, remembered after the first `teamstack login <team>` or `connect("<team>")`.

Saved in the user's Dask config directory (`$DASK_CONFIG`, default `~/.config/dask`), file `teamstack.yaml`, the
PyData convention for a Dask extension's settings (Dask itself loads it as the `teamstack` key):

    teamstack:
      teams:
        ml-vision: {cloud: aws, region: us-west-2, manifest: "ssm:/teamstack/ml-vision/manifest"}
        geo: {cloud: gcp, project: vision-geo-dev, manifest: "gs://geo-envs-.../teamstack/manifest.json"}

Only where the manifest lives is kept, never the manifest itself: a client always reads the stack's current one.
Finding it the first time (AWS): the SSM parameter in the region given, else the profile's region, else every
region the SDK knows (one GetParameter each, in parallel), so `connect("analytics")` works without knowing
the team's region.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from teamstack import naming
from teamstack.client.errors import ManifestError

CONFIG_FILE = "teamstack.yaml"


class SavedTeam(BaseModel):
    """Where one team's manifest was found."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cloud: str
    manifest: str
    region: str | None = None
    project: str | None = None


def config_path() -> Path:
    """`teamstack.yaml` in the user's Dask config directory (Dask's own rule: $DASK_CONFIG or ~/.config/dask)."""
    return Path(os.environ.get("DASK_CONFIG") or "~/.config/dask").expanduser() / CONFIG_FILE


def _read() -> dict[str, Any]:
    import yaml

    path = config_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    except (OSError, yaml.YAMLError) as error:
        raise ManifestError(f"cannot read {path}: {str(error).splitlines()[0]} (fix or delete the file)") from None
    return data if isinstance(data, dict) else {}


def saved(team: str) -> SavedTeam | None:
    """The remembered location of `team`'s manifest, if any (a malformed entry is one line naming the key)."""
    from pydantic import ValidationError

    entry = ((_read().get("teamstack") or {}).get("teams") or {}).get(team)
    if entry is None:
        return None
    try:
        return SavedTeam.model_validate(entry)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(["teamstack", "teams", team, *(str(p) for p in first["loc"])])
        raise ManifestError(f"{config_path()}: {key}: {first['msg']} (run `teamstack login {team}` again)") from None


def remember(team: str, where: SavedTeam) -> Path:
    """Save (or replace) `team`'s entry; other teams and other keys of the file are kept."""
    import yaml

    path = config_path()
    data = _read()
    section = data.setdefault("teamstack", {}) or {}
    data["teamstack"] = section
    teams = section.setdefault("teams", {}) or {}
    section["teams"] = teams
    teams[team] = where.model_dump(exclude_none=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".yaml.tmp")
        temporary.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        raise ManifestError(f"cannot save {path}: {error.strerror or error}") from None
    return path


def forget(team: str) -> bool:
    import yaml

    data = _read()
    teams = (data.get("teamstack") or {}).get("teams") or {}
    if team not in teams:
        return False
    del teams[team]
    config_path().write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    return True


# --- finding an AWS team's manifest ------------------------------------------------------------------------

SCAN_WORKERS = 16


def _get_parameter(name: str, region: str | None) -> tuple[str, str]:
    """(value, region) of an SSM parameter; botocore errors propagate."""
    import boto3

    client = boto3.session.Session(region_name=region).client("ssm")
    value = client.get_parameter(Name=name)["Parameter"]["Value"]
    return str(value), str(client.meta.region_name)


def _scan_regions(name: str) -> tuple[str, str] | None:
    """The parameter in whichever region has it (regions that refuse or are not enabled are skipped)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session()
    regions = session.get_available_regions("ssm")
    quick = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1})

    def probe(region: str) -> tuple[str, str] | None:
        try:
            client = session.client("ssm", region_name=region, config=quick)
            return str(client.get_parameter(Name=name)["Parameter"]["Value"]), region
        except (BotoCoreError, ClientError):
            return None

    with ThreadPoolExecutor(max_workers=SCAN_WORKERS) as pool:
        for found in pool.map(probe, regions):
            if found is not None:
                return found
    return None


def find_aws_manifest(team: str, region: str | None) -> tuple[str, str]:
    """(manifest JSON, region) of `team`: in `region` if given, else the profile's region, else any region."""
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

    from teamstack.client.manifest_source import aws_failure

    name = naming.manifest_parameter(team)
    if region:
        try:
            return _get_parameter(name, region)
        except (BotoCoreError, ClientError) as error:
            raise aws_failure(error, f"SSM parameter {name} ({region})") from None
    try:
        return _get_parameter(name, None)
    except NoRegionError:
        pass  # no profile region: look everywhere
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise aws_failure(error, f"SSM parameter {name}") from None
    except BotoCoreError as error:
        raise aws_failure(error, f"SSM parameter {name}") from None
    found = _scan_regions(name)
    if found is None:
        raise ManifestError(
            f"no team manifest {name} in any AWS region your credentials can read: check the team name and that "
            "you use the team's account (AWS_PROFILE), or pass --region / region=..."
        )
    return found
