"""The GCP side of `team.environments.build`: Artifact Registry tag checks and Cloud Build build status.

The tag check speaks the Docker Registry HTTP API v2 that Artifact Registry serves at
`https://<region>-docker.pkg.dev/v2/<project>/<repository>/<image>/manifests/<tag>`, with a Google access
token; `TEAMSTACK_REGISTRY_URL` (or `registry_url=`) points it at another registry serving the same API, such
as a local one (plain http only on the loopback interface, and then no Google token is sent).

Cloud Build is asked for the builds of the team's trigger (`build.project` in the manifest is its name); the
parsing of its Build resources is pure (`cloud_build_for_key`, `cloud_build_state`) and the HTTP calls thin.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from teamstack.client.errors import BuildError

REGISTRY_URL_ENV = "TEAMSTACK_REGISTRY_URL"
# A tag may point at a single-platform manifest or an index, in OCI or Docker media types: accept them all,
# otherwise a registry may answer 404 for a tag that exists in a format not asked for.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CLOUD_BUILD_API = "https://cloudbuild.googleapis.com/v1"
LOGGING_API = "https://logging.googleapis.com/v2"
LOGS_READ = "logging.logEntries.list (role roles/logging.viewer)"
# The team's trigger is global (components/gcp/pipeline.py), so its builds are listed under locations/global.
CLOUD_BUILD_LOCATION = "global"
CLOUD_BUILD_FAILED = ("FAILURE", "TIMEOUT", "INTERNAL_ERROR", "CANCELLED", "EXPIRED")
REGISTRY_READ = "artifactregistry.repositories.downloadArtifacts (role roles/artifactregistry.reader)"
BUILDS_READ = "cloudbuild.builds.list (role roles/cloudbuild.builds.viewer)"
HTTP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class RegistryEndpoint:
    base_url: str  # scheme://host[:port], no trailing slash
    name: str  # the repository path under /v2/: <project>/<repository>[/<image>]
    send_google_token: bool

    def manifest_url(self, tag: str) -> str:
        return f"{self.base_url}/v2/{self.name}/manifests/{urllib.parse.quote(tag, safe='')}"


def registry_endpoint(repository_uri: str, override: str | None = None) -> RegistryEndpoint:
    """Where the v2 API of `repository_uri` (`<host>/<path>`) is served; `override` (or the env var) replaces the
    host: https anywhere, plain http only on the loopback interface, where no Google token is sent."""
    host, _, name = repository_uri.partition("/")
    if not host or not name:
        raise BuildError(f"the team's registry.repositoryUri {repository_uri!r} is not <host>/<repository path>")
    url = override or os.environ.get(REGISTRY_URL_ENV) or f"https://{host}"
    source = "registry_url" if override else (REGISTRY_URL_ENV if os.environ.get(REGISTRY_URL_ENV) else "the manifest")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname or parsed.path.strip("/"):
        raise BuildError(f"{source}: registry URL {url!r} must be https://<host>[:port] (no path)")
    loopback = parsed.hostname in LOOPBACK_HOSTS
    if parsed.scheme == "http" and not loopback:
        raise BuildError(
            f"{source}: registry URL {url!r} uses plain http, allowed only for 127.0.0.1/localhost: use https"
        )
    # An access token is never sent over plain http, nor to a local registry that has no use for it.
    return RegistryEndpoint(f"{parsed.scheme}://{parsed.netloc}", name, send_google_token=not loopback)


def bearer_challenge(header: str) -> dict[str, str] | None:
    """The parameters of a `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` challenge."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params: dict[str, str] = {}
    for part in _split_params(rest):
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return params if params.get("realm") else None


def _split_params(text: str) -> list[str]:
    """Split on commas outside quotes (a scope may itself hold commas: `repository:x:pull,push`)."""
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def google_credentials(purpose: str) -> Any:
    """Application default credentials with the cloud-platform scope, or one line saying how to get them."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BuildError(
            f"no Google credentials to {purpose} ({first}): run `gcloud auth application-default login` "
            "or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from None
    return credentials


class ArtifactRegistry:
    """Whether a tag exists in the team's Docker repository (HEAD of its manifest)."""

    def __init__(self, repository_uri: str, *, registry_url: str | None = None) -> None:
        self.repository_uri = repository_uri
        self.endpoint = registry_endpoint(repository_uri, registry_url)
        self._credentials: Any = None
        self._registry_token: str | None = None  # from the registry's own token service, after a challenge

    def _access_token(self) -> str:
        from google.auth.exceptions import GoogleAuthError
        from google.auth.transport.requests import Request

        if self._credentials is None:
            self._credentials = google_credentials(f"read {self.repository_uri}")
        if not self._credentials.valid:
            try:
                self._credentials.refresh(Request())
            except GoogleAuthError as error:
                raise BuildError(
                    f"cannot get a Google access token to read {self.repository_uri} ({error}): "
                    "run `gcloud auth application-default login`"
                ) from None
        return str(self._credentials.token)

    def _head(self, url: str, token: str | None) -> Any:
        import requests

        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return requests.head(url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=True)
        except requests.RequestException as error:
            raise BuildError(f"cannot reach the registry of {self.repository_uri} at {url}: {error}") from None

    def _exchange(self, challenge: Mapping[str, str]) -> str | None:
        """Docker token flow: trade the Google access token for a registry token (user `oauth2accesstoken`)."""
        import requests

        query = {key: challenge[key] for key in ("service", "scope") if challenge.get(key)}
        query.setdefault("scope", f"repository:{self.endpoint.name}:pull")
        try:
            answer = requests.get(
                challenge["realm"],
                params=query,
                auth=("oauth2accesstoken", self._access_token()),
                timeout=HTTP_TIMEOUT_SECONDS,
            )
        except requests.RequestException:
            return None
        if answer.status_code != 200:
            return None
        body = answer.json()
        token = body.get("token") or body.get("access_token")
        return str(token) if token else None

    def has_tag(self, tag: str) -> bool:
        url = self.endpoint.manifest_url(tag)
        token = None
        if self.endpoint.send_google_token:
            token = self._registry_token or self._access_token()
        response = self._head(url, token)
        if response.status_code == 401 and self.endpoint.send_google_token:
            challenge = bearer_challenge(response.headers.get("WWW-Authenticate", ""))
            exchanged = self._exchange(challenge) if challenge else None
            if exchanged:
                self._registry_token = exchanged
                response = self._head(url, exchanged)
        return registry_answer(response.status_code, self.repository_uri, tag)


def registry_answer(status: int, repository_uri: str, tag: str) -> bool:
    """True for 200, False for 404, one line naming the repository and what is missing otherwise."""
    if status == 200:
        return True
    if status == 404:
        return False
    if status in (401, 403):
        who = "not authenticated" if status == 401 else "permission denied"
        raise BuildError(
            f"cannot look up {repository_uri}:{tag}: {who} (HTTP {status}); reading the team's registry "
            f"{repository_uri} needs {REGISTRY_READ}"
        )
    raise BuildError(f"cannot look up {repository_uri}:{tag}: the registry answered HTTP {status}")


# --- Cloud Build --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildState:
    """Where a build is, whatever the cloud: what the progress bar shows and whether it failed."""

    id: str
    stage: str
    done: int
    total: int
    failure: str | None = None  # the reason, when the build ended without pushing
    succeeded: bool = False
    log: str = ""  # where its log is


def cloud_build_for_key(builds: Sequence[Mapping[str, Any]], key: str) -> Mapping[str, Any] | None:
    """The newest build (Cloud Build v1 Build resources) started for the spec at `key` (its _SPEC_KEY)."""
    mine = [b for b in builds if (b.get("substitutions") or {}).get("_SPEC_KEY") == key]
    # createTime is RFC 3339 in UTC ("2026-11-24T12:00:00.123456Z"): its text orders as its time.
    return max(mine, key=lambda b: str(b.get("createTime", "")), default=None)


def cloud_build_state(build: Mapping[str, Any]) -> BuildState:
    """Progress and, for a failed build, its one-line reason: status, failed step, failureInfo.detail, log URL."""
    build_id = str(build.get("id", "?"))
    status = str(build.get("status", "STATUS_UNKNOWN"))
    steps = list(build.get("steps") or [])
    total = len(steps) + 1  # queued, then each step
    finished = sum(1 for step in steps if step.get("status") == "SUCCESS")
    running = next((step for step in steps if step.get("status") == "WORKING"), None)
    log = str(build.get("logUrl", ""))
    if status in ("PENDING", "QUEUED", "STATUS_UNKNOWN"):
        return BuildState(build_id, status.lower(), 0, total, log=log)
    if status == "SUCCESS":
        return BuildState(build_id, "success", total, total, succeeded=True, log=log)
    if status in CLOUD_BUILD_FAILED:
        failed = [step for step in steps if step.get("status") in CLOUD_BUILD_FAILED]
        where = f" in step {failed[0].get('id') or failed[0].get('name')}" if failed else ""
        detail = (build.get("failureInfo") or {}).get("detail") or build.get("statusDetail") or ""
        reason = f"image build {build_id} {status}{where}" + (f": {detail}" if detail else "")
        if log:
            reason += f"; log: {log}"
        return BuildState(build_id, status.lower(), 1 + finished, total, failure=reason, log=log)
    stage = str(running.get("id") or running.get("name")) if running else status.lower()
    return BuildState(build_id, stage, 1 + finished, total, log=log)


class CloudBuild:
    """The builds of the team's Cloud Build trigger (thin REST calls; parsing above)."""

    def __init__(self, project: str, trigger: str, *, api: str = CLOUD_BUILD_API) -> None:
        self.project = project
        self.trigger = trigger
        self.api = api
        self._session: Any = None
        self._trigger_id: str | None = None

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Mapping[str, Any] | None:
        """The JSON answer; None when Cloud Build is briefly unavailable (asked again at the next poll)."""
        import requests
        from google.auth.exceptions import GoogleAuthError, TransportError
        from google.auth.transport.requests import AuthorizedSession

        if self._session is None:
            self._session = AuthorizedSession(google_credentials(f"follow Cloud Build in {self.project}"))
        try:
            response = self._session.get(f"{self.api}/{path}", params=params, timeout=HTTP_TIMEOUT_SECONDS)
        except (requests.RequestException, TransportError):
            return None
        except GoogleAuthError as error:  # e.g. expired user credentials: no point asking again
            raise BuildError(
                f"cannot get a Google access token to follow Cloud Build ({error}): "
                "run `gcloud auth application-default login`"
            ) from None
        return cloud_build_answer(response.status_code, _json(response), self.project, self.trigger)

    def log_tail(self, build_id: str, log_name: str, lines: int) -> list[str]:
        """The last lines a build wrote to Cloud Logging (its steps log there only: CLOUD_LOGGING_ONLY)."""
        import requests

        query = {
            "resourceNames": [f"projects/{self.project}"],
            "filter": f'logName="{log_name}" AND resource.type="build" AND resource.labels.build_id="{build_id}"',
            "orderBy": "timestamp desc",
            "pageSize": lines,
        }
        try:
            response = self._session.post(f"{LOGGING_API}/entries:list", json=query, timeout=HTTP_TIMEOUT_SECONDS)
        except requests.RequestException:
            return [f"(build log {log_name} not reachable)"]
        if response.status_code in (401, 403):
            return [f"(build log {log_name} not readable: needs {LOGS_READ})"]
        if response.status_code != 200:
            return [f"(build log {log_name} not readable: HTTP {response.status_code})"]
        return log_lines(_json(response).get("entries", []))

    def builds(self, since: datetime) -> list[Mapping[str, Any]]:
        parent = f"projects/{self.project}/locations/{CLOUD_BUILD_LOCATION}"
        if self._trigger_id is None:
            # triggers.get takes the trigger's name as well as its id; builds are filtered on the id.
            trigger = self._get(f"{parent}/triggers/{self.trigger}")
            if trigger is None:
                return []
            self._trigger_id = str(trigger["id"])
        stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = self._get(
            f"{parent}/builds",
            {"filter": f'trigger_id="{self._trigger_id}" AND create_time>="{stamp}"', "pageSize": "50"},
        )
        return list((answer or {}).get("builds", []))


def log_lines(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Cloud Logging entries (newest first, as asked) -> their text, oldest first."""
    text = []
    for entry in reversed(entries):
        payload = entry.get("textPayload")
        if payload is None and isinstance(entry.get("jsonPayload"), dict):
            payload = entry["jsonPayload"].get("message")
        if payload:
            text.append(str(payload).rstrip())
    return text


def _json(response: Any) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def cloud_build_answer(status: int, body: Mapping[str, Any], project: str, trigger: str) -> Mapping[str, Any] | None:
    """A Cloud Build REST answer: its body on success, None when worth asking again, else one line why not."""
    if 200 <= status < 300:
        return body
    if status == 429 or status >= 500:
        return None
    message = str((body.get("error") or {}).get("message", "")) if isinstance(body.get("error"), dict) else ""
    if status in (401, 403):
        raise BuildError(f"cannot list Cloud Build builds in {project} (HTTP {status}): needs {BUILDS_READ}")
    if status == 404:
        raise BuildError(
            f"the team's Cloud Build trigger {trigger} does not exist in {project}: is the stack deployed?"
        )
    raise BuildError(
        f"Cloud Build refused the builds query in {project} (HTTP {status})" + (f": {message}" if message else "")
    )


def console_builds_url(project: str) -> str:
    return f"https://console.cloud.google.com/cloud-build/builds;region={CLOUD_BUILD_LOCATION}?project={project}"
