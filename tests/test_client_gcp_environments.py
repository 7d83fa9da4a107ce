"""`team.environments.build` on a GCP team stack, against a real Docker registry (Debian's docker-registry, the
v2 API Artifact Registry serves) and the GCS emulator: found at once when the registry has the tag, else the
spec is uploaded where the Cloud Build trigger's filter expects it and waited for until a stand-in pipeline
pushes a real image. Cloud Build has no local stand-in: its Build resources are parsed by pure functions,
tested here on resources shaped as the Cloud Build v1 API returns them."""

from __future__ import annotations

import re
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from registry_standin import *  # noqa: F403  (the registry fixtures)
from registry_standin import push_image
from standins import *  # noqa: F403  (the stand-in fixtures)
from standins import gcp_manifest

from teamstack import envhash
from teamstack.client import BuildError, Team
from teamstack.client.environments import VersionMismatchWarning
from teamstack.client.gcp_build import (
    REGISTRY_URL_ENV,
    bearer_challenge,
    cloud_build_answer,
    cloud_build_for_key,
    cloud_build_state,
    log_lines,
    registry_answer,
    registry_endpoint,
)
from teamstack.client.specs import load_spec
from teamstack.manifest import TeamManifest


@pytest.fixture
def gcp_team(gcs_env: str, registry_server: str, monkeypatch: pytest.MonkeyPatch) -> Team:
    """The geo team on GCP: its build bucket in the GCS emulator, its registry served by docker-registry."""
    from google.cloud import storage

    manifest = gcp_manifest()
    client = storage.Client()
    if client.lookup_bucket(manifest.build.bucket) is None:
        client.create_bucket(manifest.build.bucket)
    monkeypatch.setenv(REGISTRY_URL_ENV, registry_server)
    return Team(manifest)


def _repository(manifest: TeamManifest) -> str:
    """The repository's path under /v2/ (the registry URI without its host)."""
    return manifest.registry.repository_uri.split("/", 1)[1]


def _spec_keys(manifest: TeamManifest, prefix: str) -> list[str]:
    from google.cloud import storage

    return [blob.name for blob in storage.Client().list_blobs(manifest.build.bucket, prefix=prefix)]


def _requirements(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return path


def test_an_image_the_registry_has_is_returned_at_once(gcp_team: Team, registry_server: str, tmp_path: Path) -> None:
    path = _requirements(tmp_path, "xarray==2026.1.0\n")
    manifest = gcp_team.manifest
    tag = envhash.image_tag(manifest.build.recipe_hash, "cpu", load_spec(path).content)
    push_image(registry_server, _repository(manifest), tag)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VersionMismatchWarning)  # the image gets this client's versions
        image = gcp_team.environments.build(path, progress=False)
    assert image.uri == f"{manifest.registry.repository_uri}:{tag}" and not image.built
    assert _spec_keys(manifest, f"specs/cpu/{tag}/") == []  # nothing uploaded, nothing rebuilt


def test_a_new_spec_lands_where_the_trigger_listens_and_is_waited_for(
    gcp_team: Team, registry_server: str, tmp_path: Path
) -> None:
    from google.cloud import storage

    from components.gcp.pipeline import SPEC_KEY_PATTERN

    manifest = gcp_team.manifest
    path = _requirements(tmp_path, "zarr==3.0.0\n")
    seen: list[str] = []

    def pipeline() -> None:
        """Stand-in for the notification + Cloud Build: verify the spec as cloudbuild.yaml does, then push."""
        bucket = storage.Client().bucket(manifest.build.bucket)
        for _ in range(2400):
            found = [b for b in bucket.list_blobs(prefix="specs/gpu/") if "zarr" in b.download_as_text()]
            if found:
                seen.append(found[0].name)
                variant, tag, _filename = envhash.parse_spec_key(found[0].name)
                if envhash.image_tag(manifest.build.recipe_hash, variant, found[0].download_as_bytes()) == tag:
                    push_image(registry_server, _repository(manifest), tag)
                return
            time.sleep(0.05)

    builder = threading.Thread(target=pipeline)
    builder.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", VersionMismatchWarning)
            image = gcp_team.environments.build(path, variant="gpu", poll=0.05, timeout=300, progress=True)
    finally:
        builder.join()
    assert image.built and image.variant == "gpu"
    key = envhash.spec_key("gpu", image.tag, "requirements.txt")
    assert seen == [key] and re.fullmatch(SPEC_KEY_PATTERN, key)  # what the trigger's filter admits
    blob = storage.Client().bucket(manifest.build.bucket).get_blob(key)
    assert blob is not None and blob.download_as_bytes() == image.spec.content
    assert b"\nzarr==3.0.0\n" in image.spec.content and image.spec.content.startswith(b"# teamstack: python=")


def test_a_build_that_never_comes_times_out_with_where_to_look(gcp_team: Team, tmp_path: Path) -> None:
    path = _requirements(tmp_path, "scikit-image==0.25.0\n")
    with pytest.raises(BuildError) as caught:
        gcp_team.environments.build(path, timeout=0, poll=0.01, progress=False)
    message = str(caught.value)
    assert "\n" not in message and "was not ready after 0s" in message
    # No Google credentials in the tests: the build's progress is not visible, and the message says why.
    assert "not visible" in message and "gcloud auth application-default login" in message
    assert f"gs://{gcp_team.manifest.build.bucket}/specs/cpu/" in message
    assert "console.cloud.google.com/cloud-build/builds" in message


def test_a_registry_that_refuses_names_the_repository_and_the_permission(
    gcs_env: str, silly_registry_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(REGISTRY_URL_ENV, silly_registry_server)
    team = Team(gcp_manifest())
    with pytest.raises(BuildError) as caught:
        team.environments.build(_requirements(tmp_path, "polars==1.0.0\n"), progress=False)
    message = str(caught.value)
    assert "HTTP 401" in message and team.manifest.registry.repository_uri in message
    assert "artifactregistry.repositories.downloadArtifacts" in message and "\n" not in message


def test_registry_endpoint_derives_from_the_repository_and_guards_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REGISTRY_URL_ENV, raising=False)
    # The GCP stack writes <region>-docker.pkg.dev/<project>/<repository>; an image name may follow.
    for uri, name in [
        ("europe-west4-docker.pkg.dev/geo-dev/geo", "geo-dev/geo"),
        ("europe-west4-docker.pkg.dev/geo-dev/geo/dask", "geo-dev/geo/dask"),
    ]:
        endpoint = registry_endpoint(uri)
        assert endpoint.base_url == "https://europe-west4-docker.pkg.dev" and endpoint.send_google_token
        assert endpoint.manifest_url("ab12") == f"https://europe-west4-docker.pkg.dev/v2/{name}/manifests/ab12"
    local = registry_endpoint("europe-west4-docker.pkg.dev/p/r", "http://127.0.0.1:5000/")
    assert local.base_url == "http://127.0.0.1:5000" and not local.send_google_token
    monkeypatch.setenv(REGISTRY_URL_ENV, "https://mirror.example.com")
    mirrored = registry_endpoint("europe-west4-docker.pkg.dev/p/r")
    assert mirrored.base_url == "https://mirror.example.com" and mirrored.send_google_token
    with pytest.raises(BuildError, match=r"plain http, allowed only for 127\.0\.0\.1/localhost"):
        registry_endpoint("europe-west4-docker.pkg.dev/p/r", "http://registry.example.com")
    with pytest.raises(BuildError, match="no path"):
        registry_endpoint("europe-west4-docker.pkg.dev/p/r", "https://registry.example.com/v2")
    with pytest.raises(BuildError, match="is not <host>/<repository path>"):
        registry_endpoint("europe-west4-docker.pkg.dev")


def test_registry_answers() -> None:
    uri = "europe-west4-docker.pkg.dev/geo-dev/geo"
    assert registry_answer(200, uri, "t") is True and registry_answer(404, uri, "t") is False
    with pytest.raises(BuildError, match=r"permission denied \(HTTP 403\).*geo-dev/geo needs artifactregistry"):
        registry_answer(403, uri, "t")
    with pytest.raises(BuildError, match="answered HTTP 500"):
        registry_answer(500, uri, "t")


def test_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://europe-west4-docker.pkg.dev/v2/token",'
        'service="artifactregistry",scope="repository:p/r:pull,push"'
    )
    assert bearer_challenge(header) == {
        "realm": "https://europe-west4-docker.pkg.dev/v2/token",
        "service": "artifactregistry",
        "scope": "repository:p/r:pull,push",
    }
    assert bearer_challenge('Basic realm="x"') is None and bearer_challenge("") is None


# --- Cloud Build resources (v1 Build, as projects.locations.builds.list returns them) -----------------------

KEY = "specs/cpu/" + "a" * envhash.TAG_LENGTH + "/requirements.txt"
STEPS = ["verify", "build", "push"]


def _build(build_id: str, status: str, step_statuses: list[str], key: str = KEY, **extra: Any) -> dict[str, Any]:
    return {
        "id": build_id,
        "projectId": "geo-dev",
        "status": status,
        "createTime": extra.pop("createTime", "2026-11-24T12:00:00.000000Z"),
        "buildTriggerId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "substitutions": {"_SPEC_KEY": key, "_EVENT_TYPE": "OBJECT_FINALIZE", "_RECIPE_HASH": "0123456789abcdef"},
        "steps": [
            {"id": step, "name": "gcr.io/cloud-builders/docker", "status": s}
            for step, s in zip(STEPS, step_statuses, strict=True)
        ],
        "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region=global/{build_id}?project=123",
        "tags": ["teamstack", "geo"],
        **extra,
    }


def test_the_newest_build_of_the_spec_is_followed() -> None:
    older = _build("b-1", "FAILURE", ["FAILURE", "QUEUED", "QUEUED"], createTime="2026-11-24T11:00:00Z")
    newer = _build("b-2", "WORKING", ["SUCCESS", "WORKING", "QUEUED"], createTime="2026-11-24T12:30:00Z")
    other = _build("b-3", "WORKING", ["WORKING", "QUEUED", "QUEUED"], key=KEY.replace("cpu", "gpu"))
    assert cloud_build_for_key([older, other, newer], KEY) is newer
    assert cloud_build_for_key([other], KEY) is None
    assert cloud_build_for_key([{"id": "no-substitutions"}], KEY) is None


def test_build_progress_from_its_steps() -> None:
    queued = cloud_build_state(_build("b-1", "QUEUED", ["QUEUED", "QUEUED", "QUEUED"]))
    assert (queued.stage, queued.done, queued.total, queued.failure) == ("queued", 0, 4, None)
    working = cloud_build_state(_build("b-1", "WORKING", ["SUCCESS", "WORKING", "QUEUED"]))
    assert (working.stage, working.done, working.failure, working.succeeded) == ("build", 2, None, False)
    done = cloud_build_state(_build("b-1", "SUCCESS", ["SUCCESS", "SUCCESS", "SUCCESS"]))
    assert done.succeeded and done.done == done.total and done.failure is None


def test_failure_reason_names_the_step_the_detail_and_the_log() -> None:
    failed = _build(
        "b-9",
        "FAILURE",
        ["FAILURE", "QUEUED", "QUEUED"],
        statusDetail="Build step failure: build step 0 failed",
        failureInfo={"type": "USER_BUILD_STEP", "detail": 'Build step failure: build step 0 "verify" exited 1'},
    )
    state = cloud_build_state(failed)
    assert state.failure == (
        'image build b-9 FAILURE in step verify: Build step failure: build step 0 "verify" exited 1; '
        "log: https://console.cloud.google.com/cloud-build/builds;region=global/b-9?project=123"
    )
    timed_out = cloud_build_state(
        _build("b-10", "TIMEOUT", ["SUCCESS", "TIMEOUT", "CANCELLED"], statusDetail="Build timeout after 3600s")
    )
    assert timed_out.failure is not None
    assert timed_out.failure.startswith("image build b-10 TIMEOUT in step build: Build timeout after 3600s; log: ")
    internal = cloud_build_state({"id": "b-11", "status": "INTERNAL_ERROR"})
    assert internal.failure == "image build b-11 INTERNAL_ERROR"


def test_cloud_build_answers() -> None:
    assert cloud_build_answer(200, {"builds": []}, "geo-dev", "geo-image-build") == {"builds": []}
    # Throttled or briefly down: asked again at the next poll rather than failing a build that may succeed.
    assert cloud_build_answer(429, {}, "geo-dev", "t") is None and cloud_build_answer(503, {}, "geo-dev", "t") is None
    with pytest.raises(BuildError, match=r"HTTP 403\): needs cloudbuild.builds.list \(role roles/cloudbuild"):
        cloud_build_answer(403, {"error": {"code": 403, "message": "denied"}}, "geo-dev", "t")
    with pytest.raises(BuildError, match="trigger geo-image-build does not exist in geo-dev"):
        cloud_build_answer(404, {}, "geo-dev", "geo-image-build")
    with pytest.raises(BuildError, match="refused the builds query in geo-dev \\(HTTP 400\\): Invalid filter"):
        cloud_build_answer(400, {"error": {"code": 400, "message": "Invalid filter"}}, "geo-dev", "t")


def test_aws_users_need_no_google_libraries() -> None:
    import subprocess
    import sys

    code = "import sys, teamstack.client.environments; print(any(m.startswith('google') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_build_log_lines_oldest_first() -> None:
    entries = [  # entries:list answers newest first when asked orderBy "timestamp desc"
        {"logName": "projects/geo-dev/logs/cloudbuild", "textPayload": "cloudbuild: REFUSED gs://b/specs/cpu/x\n"},
        {"logName": "projects/geo-dev/logs/cloudbuild", "jsonPayload": {"message": 'Step #0 - "verify"'}},
        {"logName": "projects/geo-dev/logs/cloudbuild", "textPayload": ""},
        {"logName": "projects/geo-dev/logs/cloudbuild", "textPayload": 'starting build "b-9"'},
    ]
    assert log_lines(entries) == [
        'starting build "b-9"',
        'Step #0 - "verify"',
        "cloudbuild: REFUSED gs://b/specs/cpu/x",
    ]
