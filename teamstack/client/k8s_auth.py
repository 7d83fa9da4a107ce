"""Kubernetes access from the team manifest and the user's cloud identity: no kubeconfig file.

The API server's address and CA come from the manifest (`cluster.endpoint`, `cluster.certificateAuthority`);
the bearer token is minted in this process and minted again shortly before it expires:

- EKS: what `aws eks get-token` and aws-iam-authenticator make: `k8s-aws-v1.` + unpadded base64url of a
  presigned STS GetCallerIdentity URL (regional endpoint, `X-Amz-Expires=60`) whose signed headers include
  `x-k8s-aws-id: <cluster name>`. EKS accepts it for 15 minutes; the CLI reports 14, and so do we.
- GKE: a Google OAuth access token of the application default credentials (`cloud-platform` scope), as
  gke-gcloud-auth-plugin hands out.

kr8s (under dask-kubernetes) takes the address, CA and token as an in-memory kubeconfig dict; each request
then carries the current token through an httpx auth hook, so a long-lived cluster object never sends an
expired one. A user's kubeconfig still wins when its current context is the team's cluster (same server).
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from teamstack.client.errors import ClusterError
from teamstack.manifest import TeamManifest

EKS_TOKEN_PREFIX = "k8s-aws-v1."
EKS_CLUSTER_HEADER = "x-k8s-aws-id"
EKS_URL_EXPIRES_SECONDS = 60  # the presigned URL's X-Amz-Expires, as the AWS CLI signs it
EKS_TOKEN_LIFETIME = timedelta(minutes=14)  # the AWS CLI's expirationTimestamp (EKS honours 15 minutes)
REFRESH_MARGIN = timedelta(minutes=2)
GOOGLE_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


@dataclass(frozen=True)
class Token:
    value: str
    expires: datetime


def eks_token(cluster_name: str, region: str, session: Any = None, now: datetime | None = None) -> Token:
    """The EKS bearer token for `cluster_name`, signed with the session's credentials (offline: no call)."""
    import boto3
    from botocore.exceptions import BotoCoreError, NoCredentialsError

    session = session or boto3.session.Session(region_name=region)
    now = now or datetime.now(UTC)
    try:
        # STS's regional endpoint, as `aws eks get-token` uses (the global one is a legacy default).
        sts = session.client("sts", region_name=region, endpoint_url=f"https://sts.{region}.amazonaws.com")

        def add_cluster_header(request: Any, **_: Any) -> None:
            request.headers[EKS_CLUSTER_HEADER] = cluster_name

        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
        url = sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=EKS_URL_EXPIRES_SECONDS, HttpMethod="GET"
        )
    except NoCredentialsError:
        raise ClusterError(
            f"no AWS credentials to sign in to cluster {cluster_name}: run `aws sso login` or set AWS_PROFILE"
        ) from None
    except BotoCoreError as error:
        raise ClusterError(f"cannot sign a token for cluster {cluster_name}: {error}") from None
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return Token(EKS_TOKEN_PREFIX + encoded, now + EKS_TOKEN_LIFETIME)


def gke_token(cluster_name: str) -> Token:
    """An access token of the application default credentials (what gke-gcloud-auth-plugin hands kubectl)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError, RefreshError, TransportError
    from google.auth.transport.requests import Request

    try:
        credentials, _ = google.auth.default(scopes=list(GOOGLE_SCOPES))
        credentials.refresh(Request())
    except DefaultCredentialsError:
        raise ClusterError(
            f"no Google credentials to sign in to cluster {cluster_name}: run `gcloud auth application-default login`"
        ) from None
    except (RefreshError, TransportError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ClusterError(
            f"your Google credentials could not be refreshed for cluster {cluster_name} ({first}): log in again "
            "with `gcloud auth application-default login`"
        ) from None
    expiry = credentials.expiry.replace(tzinfo=UTC) if credentials.expiry else datetime.now(UTC) + timedelta(minutes=5)
    return Token(str(credentials.token), expiry)


class TokenSource:
    """The current token, minted again `margin` before it expires (thread-safe: kr8s runs in its own loop)."""

    def __init__(self, mint: Callable[[], Token], margin: timedelta = REFRESH_MARGIN) -> None:
        self._mint = mint
        self._margin = margin
        self._lock = threading.Lock()
        self._token: Token | None = None

    def token(self, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        with self._lock:
            if self._token is None or self._token.expires - now <= self._margin:
                self._token = self._mint()
            return self._token.value

    @property
    def expires(self) -> datetime | None:
        return self._token.expires if self._token else None


def token_source(manifest: TeamManifest, session: Any = None) -> TokenSource:
    name = manifest.cluster.name
    if manifest.cloud == "aws":
        return TokenSource(lambda: eks_token(name, manifest.region, session))
    return TokenSource(lambda: gke_token(name))


def server_url(manifest: TeamManifest) -> str:
    endpoint = manifest.cluster.endpoint
    return endpoint if "://" in endpoint else f"https://{endpoint}"  # GKE reports a bare IP address


def kubeconfig(manifest: TeamManifest, token: str) -> dict[str, Any]:
    """An in-memory kubeconfig for the team's cluster and namespace (never written to disk)."""
    name = f"teamstack-{manifest.team}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server_url(manifest),
                    "certificate-authority-data": manifest.cluster.certificate_authority,
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": manifest.cluster.namespace}}
        ],
        "current-context": name,
    }


def user_kubeconfig_serves(manifest: TeamManifest) -> Path | None:
    """The user's kubeconfig if its current context points at the team's cluster (then it wins), else None."""
    import yaml

    paths = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    wanted = server_url(manifest).rstrip("/")
    for raw in paths.split(os.pathsep):
        path = Path(raw).expanduser()
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(config, dict):
            continue
        current = config.get("current-context")
        context = next((c.get("context") or {} for c in config.get("contexts") or [] if c.get("name") == current), {})
        cluster = next(
            (c.get("cluster") or {} for c in config.get("clusters") or [] if c.get("name") == context.get("cluster")),
            {},
        )
        if str(cluster.get("server", "")).rstrip("/") == wanted:
            return path
    return None


def _bearer_auth(source: TokenSource) -> Any:
    """httpx auth: the token source's current token on every request (minted again before it expires)."""
    import httpx

    class BearerAuth(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            request.headers["Authorization"] = f"Bearer {source.token()}"
            yield request

    return BearerAuth()


def _api_class() -> type:
    from kr8s._api import Api

    class TeamApi(Api):
        """kr8s' Api with the manifest's server and CA and a token minted in process."""

        def __init__(self, source: TokenSource, **kwargs: Any) -> None:
            self._teamstack_source = source
            super().__init__(**kwargs)

        async def _create_session(self) -> None:
            await super()._create_session()
            assert self._session is not None
            self._session.auth = _bearer_auth(self._teamstack_source)

    return TeamApi


async def team_api(manifest: TeamManifest, source: TokenSource) -> Any:
    """A kr8s async Api for the team's cluster, registered as this thread and loop's default: dask-kubernetes'
    own `kr8s.asyncio.api()` calls in the same loop get it. Keep a reference: kr8s holds it weakly."""
    import asyncio

    token = await asyncio.get_running_loop().run_in_executor(None, source.token)
    api_class = _api_class()
    api = api_class(
        source,
        kubeconfig=kubeconfig(manifest, token),
        namespace=manifest.cluster.namespace,
        bypass_factory=True,
    )
    return await api
