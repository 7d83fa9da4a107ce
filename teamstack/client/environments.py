"""Images of a data scientist's environment: `team.environments.build(spec)`.

The spec is normalised (teamstack.client.specs), its tag is `envhash.image_tag(manifest.build.recipeHash,
variant, bytes)`; if the registry has `<repositoryUri>:<tag>` the image is returned at once, else the spec is
uploaded to `<build.bucket>/<build.specPrefix><variant>/<tag>/<file>` and the client waits for the tag,
showing the build's progress, until a timeout. On AWS the upload starts the CodeBuild project through
EventBridge (ECR and CodeBuild are asked through boto3); on GCP it starts the Cloud Build trigger through the
bucket's Pub/Sub notification (Artifact Registry and Cloud Build are asked through teamstack.client.gcp_build).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teamstack import envhash
from teamstack.client.errors import BuildError, SpecError
from teamstack.client.gcp_build import ArtifactRegistry, BuildState, CloudBuild, cloud_build_for_key, cloud_build_state
from teamstack.manifest import TeamManifest

if TYPE_CHECKING:  # the module imports PyYAML and packaging: loaded only when a spec is read
    from teamstack.client.specs import Spec

DEFAULT_TIMEOUT_SECONDS = 3600
POLL_SECONDS = 10.0
# CodeBuild's phases in order: the progress bar advances through them.
PHASES = (
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
)
FAILED_STATUSES = ("FAILED", "FAULT", "TIMED_OUT", "STOPPED")
LOG_TAIL_LINES = 8


class VersionMismatchWarning(UserWarning):
    """The image's Python or shared Dask packages may differ from this client's (the most common Dask failure)."""


@dataclass(frozen=True)
class Image:
    uri: str
    tag: str
    variant: str
    spec: Spec
    built: bool  # False: the registry already had it

    def __str__(self) -> str:
        return self.uri


def version_warnings(
    spec: Spec, installed: Callable[[str], str | None] | None = None, python: str | None = None
) -> list[str]:
    """What to warn about when the image will not match this client: its Python (major.minor) and every package
    a client and its workers share (teamstack.client.specs.SHARED_PACKAGES)."""
    from teamstack.client.specs import SHARED_PACKAGES, ClientPython

    client = ClientPython.current()
    lookup = installed or client.installed
    mine_python = python or client.version
    messages = []
    if spec.python and spec.python != mine_python:
        messages.append(
            f"the image will have Python {spec.python} ({spec.source}) but this client runs Python {mine_python}: "
            "functions pickled on one minor version may not load on another; use a client of the same Python"
        )
    for name in SHARED_PACKAGES:
        mine = lookup(name)
        if mine is None:
            continue
        pinned = spec.pins.get(name)
        if name not in spec.pins or pinned is None:
            messages.append(
                f"{spec.source} does not pin {name}; the image gets whatever resolves at build time while this "
                f"client has {name} {mine}: pin {name}=={mine}"
            )
        elif pinned != mine:
            messages.append(
                f"the image will have {name} {pinned} ({spec.source}) but this client has {name} {mine}: "
                "client and workers should match"
            )
    return messages


def build_failure(build: dict[str, Any], log_lines: list[str]) -> str:
    """One-line reason of a failed CodeBuild build (BatchGetBuilds shape), then the log's last lines."""
    failed = [p for p in build.get("phases", []) if p.get("phaseStatus") in FAILED_STATUSES]
    reasons = []
    for phase in failed:
        contexts = "; ".join(c.get("message", "") for c in phase.get("contexts", []) if c.get("message"))
        reasons.append(f"{phase.get('phaseType')} {phase.get('phaseStatus')}" + (f": {contexts}" if contexts else ""))
    summary = f"image build {build.get('id')} {build.get('buildStatus')}" + (
        f" in {'; '.join(reasons)}" if reasons else ""
    )
    tail = [line.rstrip() for line in log_lines if line.strip()][-LOG_TAIL_LINES:]
    return summary + ("".join(f"\n  | {line}" for line in tail) if tail else "")


class Environments:
    """Build (or find) the image of an environment spec in the team's registry."""

    def __init__(
        self,
        manifest: TeamManifest,
        client: Callable[[str], Any],
        *,
        gcs: Callable[[], Any] | None = None,
        registry_url: str | None = None,
    ) -> None:
        self.manifest = manifest
        self._client = client  # service name -> boto3 client in the team's region
        self._gcs = gcs  # -> google.cloud.storage.Client of the team's project (GCP)
        self._registry_url = registry_url  # GCP: another host serving the registry's v2 API (tests, mirrors)
        self._artifact_registry: ArtifactRegistry | None = None
        self._cloud_build: CloudBuild | None = None
        self._cloud_build_unavailable: str | None = None

    def image_for(self, spec: Spec, variant: str = "cpu") -> tuple[str, str]:
        if self.manifest.build.spec_prefix != envhash.SPEC_PREFIX:
            raise BuildError(
                f"the team's build.specPrefix is {self.manifest.build.spec_prefix!r}; this client uploads to "
                f"{envhash.SPEC_PREFIX!r}: upgrade the teamstack package"
            )
        try:
            tag = envhash.image_tag(self.manifest.build.recipe_hash, variant, spec.content)
        except ValueError as error:
            raise SpecError(str(error)) from None
        return tag, f"{self.manifest.registry.repository_uri}:{tag}"

    def build(
        self,
        spec: str | Path | None = None,
        *,
        variant: str = "cpu",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        poll: float = POLL_SECONDS,
        progress: bool = True,
    ) -> Image:
        """The image of `spec` (a file, a folder, or None for the current environment), built if needed."""
        if variant not in envhash.VARIANTS:
            raise SpecError(f"unknown image variant {variant!r}: expected one of {', '.join(envhash.VARIANTS)}")
        from teamstack.client.specs import load_spec  # PyYAML and packaging: only when building

        loaded = load_spec(spec)
        for message in version_warnings(loaded):
            warnings.warn(message, VersionMismatchWarning, stacklevel=2)
        with tempfile.TemporaryDirectory(prefix="teamstack-wheels-") as folder:
            if loaded.local:  # the current environment's own code: wheels named by hash in the spec
                from teamstack.client.wheels import build_wheels

                loaded = loaded.with_wheels(build_wheels(loaded.local, Path(folder)))
            tag, uri = self.image_for(loaded, variant)
            if self._image_exists(tag):
                return Image(uri, tag, variant, loaded, built=False)
            key = envhash.spec_key(variant, tag, loaded.filename)
            for wheel in loaded.wheels:  # before the spec, whose upload starts the build
                self._put(envhash.wheel_key(wheel.sha256, wheel.filename), wheel.path.read_bytes(), "application/zip")
            uploaded_at = datetime.now(UTC)
            self._upload(key, loaded)
        self._wait(tag, uri, key, uploaded_at, timeout, poll, progress)
        return Image(uri, tag, variant, loaded, built=True)

    # --- per cloud -----------------------------------------------------------------------------------------

    @property
    def _gcp(self) -> bool:
        return self.manifest.cloud == "gcp"

    def _image_exists(self, tag: str) -> bool:
        return self._gcp_image_exists(tag) if self._gcp else self._ecr_image_exists(tag)

    def _upload(self, key: str, spec: Spec) -> None:
        self._put(key, spec.content, "text/plain")

    def _put(self, key: str, content: bytes, content_type: str) -> None:
        if self._gcp:
            self._gcs_upload(key, content, content_type)
        else:
            self._s3_upload(key, content, content_type)

    def _build_state(self, key: str, since: datetime) -> BuildState | None:
        return self._cloud_build_state(key, since) if self._gcp else self._codebuild_state(key, since)

    def _spec_url(self, key: str) -> str:
        return f"{'gs' if self._gcp else 's3'}://{self.manifest.build.bucket}/{key}"

    def _logs_hint(self, state: BuildState | None) -> str:
        if not self._gcp:
            return f"log group {self.manifest.build.log_group}"
        from teamstack.client.gcp_build import console_builds_url

        log = state.log if state and state.log else console_builds_url(self.manifest.account)
        seen = f" (build status not visible: {self._cloud_build_unavailable})" if self._cloud_build_unavailable else ""
        return f"build log {log}{seen}"

    # --- GCP -----------------------------------------------------------------------------------------------

    def _gcp_image_exists(self, tag: str) -> bool:
        if self._artifact_registry is None:
            self._artifact_registry = ArtifactRegistry(
                self.manifest.registry.repository_uri, registry_url=self._registry_url
            )
        return self._artifact_registry.has_tag(tag)

    def _gcs_upload(self, key: str, content: bytes, content_type: str) -> None:
        from google.api_core.exceptions import Forbidden, GoogleAPICallError, NotFound, Unauthorized

        from teamstack.client.storage import gcs_client

        bucket = self.manifest.build.bucket
        client = self._gcs() if self._gcs else gcs_client(self.manifest.account)
        try:
            client.bucket(bucket).blob(key).upload_from_string(content, content_type=content_type)
        except NotFound:
            raise BuildError(f"the team's build bucket gs://{bucket} does not exist: is the stack deployed?") from None
        except (Forbidden, Unauthorized) as error:
            raise BuildError(
                f"cannot upload the spec to gs://{bucket}/{key}: {error.code} {type(error).__name__}; "
                "it needs storage.objects.create on the build bucket (role roles/storage.objectCreator)"
            ) from None
        except GoogleAPICallError as error:
            raise BuildError(f"cannot upload the spec to gs://{bucket}/{key}: {error.code} {error.message}") from None

    def _cloud_build_state(self, key: str, since: datetime) -> BuildState | None:
        """The build of `key`, if visible; a missing credential or role only hides progress, never the image."""
        if self._cloud_build_unavailable:
            return None
        if self._cloud_build is None:
            self._cloud_build = CloudBuild(self.manifest.account, self.manifest.build.project)
        try:
            build = cloud_build_for_key(self._cloud_build.builds(since), key)
        except BuildError as error:
            self._cloud_build_unavailable = str(error)
            return None
        if build is None:
            return None
        state = cloud_build_state(build)
        if state.failure:
            log = self._cloud_build.log_tail(state.id, self.manifest.build.log_group, LOG_TAIL_LINES * 3)
            tail = [line for line in log if line.strip()][-LOG_TAIL_LINES:]
            state = dataclasses.replace(state, failure=state.failure + "".join(f"\n  | {line}" for line in tail))
        return state

    # --- AWS -----------------------------------------------------------------------------------------------

    def _repository(self) -> tuple[str, str]:
        host, _, name = self.manifest.registry.repository_uri.partition("/")
        return host.split(".", 1)[0], name

    def _codebuild_state(self, key: str, since: datetime) -> BuildState | None:
        build = self._find_build(key, since)
        if build is None:
            return None
        phase = str(build.get("currentPhase", ""))
        status = build.get("buildStatus")
        return BuildState(
            id=str(build.get("id")),
            stage=phase.lower(),
            done=PHASES.index(phase) if phase in PHASES else 0,
            total=len(PHASES) - 1,
            failure=build_failure(build, self._log_tail(build)) if status in FAILED_STATUSES else None,
            succeeded=status == "SUCCEEDED",
        )

    def _ecr_image_exists(self, tag: str) -> bool:
        from botocore.exceptions import ClientError

        registry_id, repository = self._repository()
        try:
            self._client("ecr").describe_images(
                registryId=registry_id, repositoryName=repository, imageIds=[{"imageTag": tag}]
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "ImageNotFoundException":
                return False
            if code == "RepositoryNotFoundException":
                raise BuildError(
                    f"the team's registry {self.manifest.registry.repository_uri} does not exist: "
                    "is the stack deployed?"
                ) from None
            raise BuildError(f"cannot look up {repository}:{tag} in ECR: {code}: {error}") from None
        return True

    def _s3_upload(self, key: str, content: bytes, content_type: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client("s3").put_object(
                Bucket=self.manifest.build.bucket, Key=key, Body=content, ContentType=content_type
            )
        except ClientError as error:
            raise BuildError(
                f"cannot upload the spec to s3://{self.manifest.build.bucket}/{key}: "
                f"{error.response.get('Error', {}).get('Code')}"
            ) from None

    def _find_build(self, key: str, since: datetime) -> dict[str, Any] | None:
        """The newest build of the team's project started for `key` (SPEC_KEY) after `since`, if any."""
        from botocore.exceptions import ClientError

        codebuild = self._client("codebuild")
        try:
            ids = codebuild.list_builds_for_project(projectName=self.manifest.build.project, sortOrder="DESCENDING")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise BuildError(
                    f"the team's build project {self.manifest.build.project} does not exist: is the stack deployed?"
                ) from None
            raise
        ids = ids.get("ids", [])[:20]
        if not ids:
            return None
        for build in codebuild.batch_get_builds(ids=ids).get("builds", []):
            variables = build.get("environment", {}).get("environmentVariables", [])
            started = build.get("startTime")
            if any(v.get("name") == "SPEC_KEY" and v.get("value") == key for v in variables) and (
                not isinstance(started, datetime) or started >= since
            ):
                return dict(build)
        return None

    def _log_tail(self, build: dict[str, Any]) -> list[str]:
        from botocore.exceptions import ClientError

        logs = build.get("logs", {})
        group = logs.get("groupName") or self.manifest.build.log_group
        stream = logs.get("streamName")
        if not stream:
            return []
        try:
            events = self._client("logs").get_log_events(
                logGroupName=group, logStreamName=stream, limit=LOG_TAIL_LINES * 3, startFromHead=False
            )
        except ClientError:
            return [f"(build log {group} {stream} not readable)"]
        return [str(event.get("message", "")) for event in events.get("events", [])]

    def _wait(
        self, tag: str, uri: str, key: str, uploaded_at: datetime, timeout: float, poll: float, progress: bool
    ) -> None:
        from rich.console import Console

        from teamstack.client.progress import build_progress

        deadline = time.monotonic() + timeout
        since = uploaded_at - timedelta(minutes=1)  # clock skew between this machine and the build service
        state: BuildState | None = None
        pipeline = "the Cloud Build trigger" if self._gcp else "CodeBuild"
        console = Console(stderr=True)
        if progress:
            console.print(f"building {uri}", markup=False, highlight=False, soft_wrap=True)
        with build_progress(console, disable=not progress) as bar:
            task = bar.add_task(uri.rsplit("/", 1)[-1], total=None, phase="waiting for the build to start")
            while True:
                if self._image_exists(tag):
                    bar.update(task, total=1, completed=1, phase="pushed")
                    return
                state = self._build_state(key, since) or state
                if state is not None:
                    bar.update(task, total=state.total, completed=state.done, phase=f"{state.stage} ({state.id})")
                    if state.failure:
                        raise BuildError(state.failure)
                    if state.succeeded and not self._image_exists(tag):
                        raise BuildError(
                            f"image build {state.id} succeeded but {uri} is not in the registry; "
                            f"see the {self._logs_hint(state)}"
                        )
                elif self._cloud_build_unavailable:
                    bar.update(task, phase="waiting for the image (build status not visible)")
                if time.monotonic() >= deadline:
                    if state:
                        where = f"build {state.id} is {state.stage}"
                    elif self._cloud_build_unavailable:
                        where = "whether its build started is not visible"
                    else:
                        where = f"no build has started for it (is the spec upload event reaching {pipeline}?)"
                    raise BuildError(
                        f"{uri} was not ready after {timeout:g}s: {where}; "
                        f"{self._logs_hint(state)}, spec {self._spec_url(key)}"
                    )
                time.sleep(poll)
