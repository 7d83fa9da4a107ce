"""Names of a team's cloud resources: pure functions, shared by the stack and the data-scientist client.

Names that people type or that other resources must know before creation (cluster, roles, buckets, the
manifest parameter, log groups) are deterministic; everything else keeps Pulumi's auto-naming so a
replacement can be created before the old resource is deleted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Final

MANAGED_BY = "teamstack"
MANIFEST_SCHEMA_VERSION: Final = 2  # teamstack.manifest says what each version holds


def cluster_name(team: str) -> str:
    return team


def role_name(team: str, purpose: str) -> str:
    # IAM role names are at most 64 characters: team (<= 20) + purpose stay well inside.
    return f"{team}-{purpose}"


def bucket_name(team: str, purpose: str, account_id: str) -> str:
    """Globally unique S3 bucket name: <team>-<purpose>-<account> (at most 20+1+20+1+12 = 54 characters)."""
    return f"{team}-{purpose}-{account_id}"


def manifest_parameter(team: str) -> str:
    """The SSM parameter holding the team manifest; a client finds it from the team name alone."""
    return f"/{MANAGED_BY}/{team}/manifest"


def log_group(team: str, purpose: str) -> str:
    return f"/{MANAGED_BY}/{team}/{purpose}"


def eks_control_plane_log_group(cluster: str) -> str:
    # EKS writes here; creating it first lets the stack set retention and encryption.
    return f"/aws/eks/{cluster}/cluster"


def build_project(team: str) -> str:
    """The image pipeline's build project (AWS CodeBuild) or trigger (GCP Cloud Build) of a team."""
    return f"{team}-image-build"


def repository_name(team: str) -> str:
    return f"{team}/dask"


# ECR's CreatePullThroughCacheRule takes a repository prefix of 2-30 characters (botocore's ECR service model,
# shape PullThroughCacheRuleRepositoryPrefix): a team name longer than 30 - len("-ecr-public") is refused there.
ECR_PULL_THROUGH_PREFIX_MAX = 30


def ecr_pull_through_prefix(team: str) -> str:
    """The prefix of the team's ECR pull-through cache rule for the build bases (ECR Public upstream)."""
    return f"{team}-ecr-public"


def ecr_cache_prefix(team: str, suffix: str) -> str:
    """The prefix of one of the team's ECR pull-through cache rules for its nodes' add-on images (natMode none;
    teamstack.registries.AWS_NODE_CACHES): shorter than the base-image prefix, so within the same limit."""
    return f"{team}-{suffix}"


# The platform's own buckets of a team (<team>-<purpose>-<account|project>); no catalog bucket may take these.
BUILD_BUCKET = "envs"
ACCESS_LOGS_BUCKET = "access-logs"
PLATFORM_BUCKETS = (BUILD_BUCKET, ACCESS_LOGS_BUCKET)

# Namespaces of the cluster and the platform; a team namespace never is one of them (nor any kube-*).
OPERATOR_NAMESPACE = "dask-operator"
SYSTEM_NAMESPACE = "kube-system"
PLATFORM_NAMESPACES = ("default", SYSTEM_NAMESPACE, "kube-public", "kube-node-lease", OPERATOR_NAMESPACE,
                       "gmp-system", "gmp-public")  # fmt: skip

DASK_SCHEDULER_SERVICE_ACCOUNT = "dask-scheduler"
DASK_WORKER_SERVICE_ACCOUNT = "dask-worker"


# --- GCP ----------------------------------------------------------------------------------------------------

# Where a GCP team stack writes its manifest: this object in the team's build bucket, whose name a client
# derives from the team and the project alone (`gcp_manifest_url`).
GCP_MANIFEST_OBJECT = "teamstack/manifest.json"
_GCS_BUCKET_MAX = 63


def gcp_bucket_name(team: str, purpose: str, project: str) -> str:
    """Globally unique GCS bucket name: <team>-<purpose>-<project>, or <team>-<purpose>-<10 hex of the
    project's sha256> when that would pass GCS's 63 characters (team and purpose are at most 20 each)."""
    name = f"{team}-{purpose}-{project}"
    if len(name) <= _GCS_BUCKET_MAX:
        return name
    return f"{team}-{purpose}-{hashlib.sha256(project.encode()).hexdigest()[:10]}"


def gcp_manifest_url(team: str, project: str) -> str:
    """The gs:// URL of a GCP team's manifest; a client finds it from the team name and the project."""
    return f"gs://{gcp_bucket_name(team, BUILD_BUCKET, project)}/{GCP_MANIFEST_OBJECT}"


_GCP_SERVICE_ACCOUNT_ID_MAX = 30


def gcp_service_account_id(team: str, purpose: str) -> str:
    """A Google service account id (6-30 characters): <team>-<purpose>, or <team>-<6 hex of the purpose's
    sha256> when that would pass 30 characters (teams are at most 20), so accounts stay distinct and stable."""
    name = f"{team}-{purpose}"
    if len(name) <= _GCP_SERVICE_ACCOUNT_ID_MAX:
        return name
    return f"{team}-{hashlib.sha256(purpose.encode()).hexdigest()[:6]}"


def gcp_repository_id(team: str) -> str:
    """The team's Artifact Registry repository (ids allow no '/', unlike ECR's `<team>/dask`)."""
    return f"{team}-dask"


# The image inside the team's Artifact Registry repository: Artifact Registry refuses a push to
# `<region>-docker.pkg.dev/<project>/<repository>` itself ("missing image name").
GCP_IMAGE_NAME = "dask"


# --- names from identity ------------------------------------------------------------------------------------

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._@=+-]")


def member_key(member: str) -> str:
    """A resource-name suffix from an identity (IAM member, role ARN, email): its own text, characters outside
    [A-Za-z0-9._@=+-] replaced by '-'. A binding named so keeps its name whatever else is added or removed."""
    return _NAME_UNSAFE.sub("-", member)


def keyed_names(base: str, members: Sequence[object]) -> list[tuple[str, str | None]]:
    """(name, alias) of one resource per member of a list. A member written in the stack file (text) names its
    resource, `<base>-<member_key>`; the alias is the list-position name `<base>-<i>` that stacks deployed before
    carried, so `pulumi up` renames those in place instead of replacing them. A member only known once deployed
    (a service account the stack creates) is the only one of its list and keeps `<base>-<i>`, no alias."""
    names: list[tuple[str, str | None]] = []
    for i, member in enumerate(members):
        if isinstance(member, str):
            names.append((f"{base}-{member_key(member)}", f"{base}-{i}"))
        else:
            names.append((f"{base}-{i}", None))
    return names
