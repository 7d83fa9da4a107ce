"""The team's Artifact Registry Docker repository: immutable tags (tags are content hashes), the team key,
and cleanup policies (untagged images expire, the newest N versions are always kept).

Beside it, two remote repositories (Artifact Registry pulls from the upstream on first use and keeps the copy):
- upstream ECR Public (https://public.ecr.aws): the image builds pull their base images by digest through it
  (images/bases.txt), never from Docker Hub;
- upstream ghcr.io: the nodes pull the Dask operator's image through it, so a cluster without Cloud NAT (the
  default) needs no route to the internet.
The builds' layer cache is the image `<repository>/dask-cache`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from teamstack import naming, registries

TAGGED_MIN_AGE_DAYS = 30
UPSTREAM_REGISTRY = "https://public.ecr.aws"
GHCR_UPSTREAM = f"https://{registries.GHCR}"
CACHE_IMAGE_SUFFIX = "-cache"


@dataclass(frozen=True, kw_only=True)
class RegistryArgs:
    repository_id: str
    project: str
    region: str
    kms_key_id: pulumi.Input[str]
    keep_last_images: int
    untagged_expiry_days: int
    labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Registry(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:gcp:Registry", name, None, opts)
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            project=args.project,
            location=args.region,
            repository_id=args.repository_id,
            format="DOCKER",
            description="teamstack: the team's Dask images, tagged by environment content hash",
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            kms_key_name=args.kms_key_id,
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-untagged",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="UNTAGGED", older_than=f"{args.untagged_expiry_days * 86400}s"
                    ),
                ),
                # Tagged images a month old go too, except the newest keepLastImages, which the KEEP policy
                # below protects (KEEP wins over DELETE), as the ECR lifecycle keeps the last N.
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-old-tagged",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="TAGGED", older_than=f"{TAGGED_MIN_AGE_DAYS * 86400}s"
                    ),
                ),
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-newest",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=args.keep_last_images
                    ),
                ),
            ],
            labels=dict(args.labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        # <region>-docker.pkg.dev/<project>/<repository>/<image>: what images are pushed to and pulled from.
        self.url: pulumi.Output[str] = pulumi.Output.concat(
            self._docker_path(args, self.repository), "/", naming.GCP_IMAGE_NAME
        )
        # Where builds find bases.txt's paths: <region>-docker.pkg.dev/<project>/<remote repository>
        self.upstream, self.base_registry = self._remote_repository(
            name,
            args,
            "ecr-public",
            UPSTREAM_REGISTRY,
            "teamstack: base images of the image builds, pulled by digest from ECR Public",
            "ECR Public (no credentials)",
        )
        # `ghcr.io/<path>` is pulled as `<ghcr_mirror>/<path>`.
        self.ghcr, self.ghcr_mirror = self._remote_repository(
            name,
            args,
            "ghcr",
            GHCR_UPSTREAM,
            "teamstack: images the nodes pull from ghcr.io (the Dask operator), without internet egress",
            "GitHub Container Registry (public images, no credentials)",
        )
        self.cache_url: pulumi.Output[str] = pulumi.Output.concat(self.url, CACHE_IMAGE_SUFFIX)
        self.register_outputs(
            {
                "url": self.url,
                "baseRegistry": self.base_registry,
                "ghcrMirror": self.ghcr_mirror,
                "cacheUrl": self.cache_url,
            }
        )

    @staticmethod
    def _docker_path(args: RegistryArgs, repository: gcp.artifactregistry.Repository) -> pulumi.Output[str]:
        """<region>-docker.pkg.dev/<project>/<repository id>: the Docker path of a repository."""
        return pulumi.Output.concat(args.region, "-docker.pkg.dev/", args.project, "/", repository.repository_id)

    def _remote_repository(
        self, name: str, args: RegistryArgs, suffix: str, upstream: str, description: str, upstream_description: str
    ) -> tuple[gcp.artifactregistry.Repository, pulumi.Output[str]]:
        """A Docker remote repository `<repository>-<suffix>` of a public upstream (no credentials), encrypted with
        the team key, and its Docker path: `<upstream>/<path>` is pulled as `<path of it>/<path>`."""
        repository = gcp.artifactregistry.Repository(
            f"{name}-{suffix}",
            project=args.project,
            location=args.region,
            repository_id=f"{args.repository_id}-{suffix}",
            format="DOCKER",
            mode="REMOTE_REPOSITORY",
            description=description,
            remote_repository_config=gcp.artifactregistry.RepositoryRemoteRepositoryConfigArgs(
                description=upstream_description,
                docker_repository=gcp.artifactregistry.RepositoryRemoteRepositoryConfigDockerRepositoryArgs(
                    custom_repository=gcp.artifactregistry.RepositoryRemoteRepositoryConfigDockerRepositoryCustomRepositoryArgs(
                        uri=upstream
                    )
                ),
            ),
            kms_key_name=args.kms_key_id,
            labels=dict(args.labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        return repository, self._docker_path(args, repository)

    def grant_base_pulls(self, name: str, members: Sequence[pulumi.Input[str]]) -> None:
        """Who may pull base images through the ECR Public mirror (the image builder)."""
        self._grant_pulls(self.upstream, name, members)

    def grant_mirror_pulls(self, name: str, members: Sequence[pulumi.Input[str]]) -> None:
        """Who may pull ghcr.io images through its mirror (the nodes' service account)."""
        self._grant_pulls(self.ghcr, name, members)

    def _grant_pulls(
        self, repository: gcp.artifactregistry.Repository, name: str, members: Sequence[pulumi.Input[str]]
    ) -> None:
        for i, member in enumerate(members):
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-{i}",
                project=repository.project,
                location=repository.location,
                repository=repository.name,
                role="roles/artifactregistry.reader",
                member=member,
                opts=pulumi.ResourceOptions(parent=self),
            )

    def grant(self, name: str, role: str, members: Sequence[pulumi.Input[str]]) -> None:
        """Repository-level role bindings (never project-level), named by the member (`naming.keyed_names`)."""
        for (binding, alias), member in zip(naming.keyed_names(name, members), members, strict=True):
            gcp.artifactregistry.RepositoryIamMember(
                binding,
                project=self.repository.project,
                location=self.repository.location,
                repository=self.repository.name,
                role=role,
                member=member,
                opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=alias)] if alias else None),
            )
