"""The team's container registry: immutable content-hash tags, scanned, encrypted, pruned.

Beside the images: a layer-cache repository the builds share (`buildah --cache-from/--cache-to`, so a small
change rebuilds only its layers) and an ECR pull-through cache rule for ECR Public, through which builds pull
their base images by digest (images/bases.txt): no build pulls from Docker Hub, and ECR Public needs no
credentials. The repositories the rule creates on first pull follow a creation template (immutable tags).

With `natMode: none` the nodes have no route to the internet, so the add-ons' images come through more rules of
the same kind (`teamstack.registries.AWS_NODE_CACHES`): ghcr.io (the Dask operator; ECR needs the team's GitHub
token for it, `ghcrCredentialArn`) and registry.k8s.io (cluster-autoscaler). `mirrors` says where each upstream's
images are pulled from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import iam_documents as docs
from teamstack import naming, registries


def lifecycle_policy(keep_last_images: int, untagged_expiry_days: int) -> dict[str, Any]:
    """Expire untagged layers quickly; keep the newest tagged images (content hashes never repeat)."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {untagged_expiry_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_expiry_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the {keep_last_images} most recent tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_last_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }


UPSTREAM_REGISTRY = "public.ecr.aws"
CACHE_EXPIRY_DAYS = 30


def cache_repository_name(repository_name: str) -> str:
    return f"{repository_name}-cache"


def upstream_prefix(team: str) -> str:
    """The pull-through cache rule's repository prefix (ECR: 2-30 characters, one rule per prefix per region)."""
    prefix = naming.ecr_pull_through_prefix(team)
    if len(prefix) > naming.ECR_PULL_THROUGH_PREFIX_MAX:  # refused earlier by validation; never half-created
        raise ValueError(f"team name {team!r} is too long for an ECR pull-through cache prefix ({prefix!r} > 30)")
    return prefix


def cache_lifecycle_policy(expiry_days: int, what: str = "build-cache layers") -> dict[str, Any]:
    """Layer-cache entries (or cached upstream images) nobody reused for `expiry_days` are rebuilt (or pulled
    again) on demand: expire them."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire {what} after {expiry_days} days",
                "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days",
                              "countNumber": expiry_days},
                "action": {"type": "expire"},
            }
        ]
    }  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class RegistryArgs:
    repository_name: str
    kms_key_arn: pulumi.Input[str]
    keep_last_images: int
    untagged_expiry_days: int
    tags: Mapping[str, str]
    team: str = ""  # names the pull-through cache prefix; empty: no base-image mirror
    # The nodes' add-on mirrors (natMode none; none with a NAT), and the ghcr.io cache's Secrets Manager secret.
    node_caches: Sequence[registries.EcrCache] = ()
    ghcr_credential_arn: str | None = None
    # Where the caches' repositories live (their creation role's grants), needed with node_caches.
    account_id: str = ""
    region: str = ""
    partition: str = "aws"

    def __post_init__(self) -> None:
        if any(c.needs_credential for c in self.node_caches) and not self.ghcr_credential_arn:
            raise ValueError("the ghcr.io cache needs ghcr_credential_arn")  # refused earlier by validation
        if self.node_caches and not (self.account_id and self.region):
            raise ValueError("node caches need the account and region of their repositories")


class Registry(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:Registry", name, None, opts)
        self._args = args
        self.repository = self._repository(f"{name}-repo", args.repository_name, args)
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(lifecycle_policy(args.keep_last_images, args.untagged_expiry_days)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cache = self._repository(f"{name}-cache", cache_repository_name(args.repository_name), args)
        aws.ecr.LifecyclePolicy(
            f"{name}-cache-lifecycle",
            repository=self.cache.name,
            policy=json.dumps(cache_lifecycle_policy(CACHE_EXPIRY_DAYS)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        team = args.team or args.repository_name.split("/")[0]
        prefix = upstream_prefix(team)
        self.upstream_prefix = prefix
        self._pull_through_cache(
            f"{name}-ecr-public",
            prefix,
            UPSTREAM_REGISTRY,
            None,
            f"Base images mirrored from {UPSTREAM_REGISTRY} for the image builds",
        )
        # Only the nodes' caches: the ECR Public one serves the builds, whose CodeBuild project has a route out.
        self.node_cache_prefixes = [naming.ecr_cache_prefix(team, cache.suffix) for cache in args.node_caches]
        creation_role = self._creation_role(name, team, args) if args.node_caches else None
        for cache, cache_prefix in zip(args.node_caches, self.node_cache_prefixes, strict=True):
            self._pull_through_cache(
                f"{name}-{cache.suffix}",
                cache_prefix,
                cache.upstream,
                args.ghcr_credential_arn if cache.needs_credential else None,
                f"Images the nodes pull from {cache.upstream} ({cache.serves}) without internet egress",
                creation_role=creation_role,
            )
        self.arn = self.repository.arn
        self.url = self.repository.repository_url
        self.cache_arn = self.cache.arn
        self.cache_url = self.cache.repository_url
        host = self.repository.repository_url.apply(lambda url: url.split("/")[0])
        # Where builds find bases.txt's paths: <account>.dkr.ecr.<region>.amazonaws.com/<prefix>
        self.base_registry: pulumi.Output[str] = host.apply(lambda h: f"{h}/{prefix}")
        # Upstream host -> <account>.dkr.ecr.<region>.amazonaws.com/<prefix>: `<host>/<path>` is pulled as
        # `<mirror>/<path>` (teamstack.registries.mirrored). Empty with a NAT.
        self.mirrors: pulumi.Output[dict[str, str]] = host.apply(
            lambda h: {
                cache.upstream: f"{h}/{cache_prefix}"
                for cache, cache_prefix in zip(args.node_caches, self.node_cache_prefixes, strict=True)
            }
        )
        self.register_outputs(
            {
                "repositoryUrl": self.repository.repository_url,
                "arn": self.repository.arn,
                "cacheRepositoryUrl": self.cache.repository_url,
                "baseRegistry": self.base_registry,
                **({"mirrors": self.mirrors} if args.node_caches else {}),
            }
        )

    def _pull_through_cache(
        self,
        resource_name: str,
        prefix: str,
        upstream: str,
        credential_arn: str | None,
        description: str,
        *,
        creation_role: tuple[aws.iam.Role, aws.iam.RolePolicy] | None = None,
    ) -> None:
        """A pull-through cache rule and the creation template of the repositories its first pulls create:
        immutable tags, encrypted, cached images that nobody re-pulled for a year expire (the next pull imports
        them again). With a creation role, like the team's repositories: the team key and the team's tags (ECR
        applies both only through a role of the template's own)."""
        aws.ecr.PullThroughCacheRule(
            resource_name,
            ecr_repository_prefix=prefix,
            upstream_registry_url=upstream,
            credential_arn=credential_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if creation_role is not None:
            role, grants = creation_role
            encryption = aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=self._args.kms_key_arn
            )
            extra: dict[str, Any] = {"custom_role_arn": role.arn, "resource_tags": dict(self._args.tags)}
            opts = pulumi.ResourceOptions(parent=self, depends_on=[grants])
        else:
            encryption = aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(encryption_type="AES256")
            extra, opts = {}, pulumi.ResourceOptions(parent=self)
        aws.ecr.RepositoryCreationTemplate(
            f"{resource_name}-template",
            prefix=prefix,
            applied_fors=["PULL_THROUGH_CACHE"],
            description=description,
            image_tag_mutability="IMMUTABLE",
            encryption_configurations=[encryption],
            lifecycle_policy=json.dumps(
                cache_lifecycle_policy(365, "build-cache layers" if creation_role is None else "cached images")
            ),
            opts=opts,
            **extra,
        )

    def _creation_role(self, name: str, team: str, args: RegistryArgs) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        """The role ECR assumes to create the node caches' repositories with the team key and tags (ECR user guide,
        "Create an IAM role for repository creation templates": its trust and its actions, here on the caches'
        prefixes and the team key only). The trust has no source condition, as documented: ECR takes only a role
        of the registry's own account."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-cache-creation",
            name=naming.role_name(team, "ecr-cache-creation"),
            assume_role_policy=json.dumps(
                docs.document(
                    docs.statement("TrustEcr", ["sts:AssumeRole"], principals={"Service": "ecr.amazonaws.com"})
                )
            ),
            max_session_duration=3600,
            tags=dict(args.tags),
            opts=child,
        )
        repositories = [
            f"arn:{args.partition}:ecr:{args.region}:{args.account_id}:repository/{prefix}/*"
            for prefix in self.node_cache_prefixes
        ]
        grants = aws.iam.RolePolicy(
            f"{name}-cache-creation",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                docs.document(
                    docs.statement(
                        "CreateCacheRepositories", ["ecr:CreateRepository", "ecr:TagResource"], repositories
                    ),
                    docs.statement(
                        "EncryptThemWithTheTeamKey",
                        ["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"],
                        [args.kms_key_arn],
                    ),
                )
            ),
            opts=child,
        )
        return role, grants

    def _repository(self, resource_name: str, repository_name: str, args: RegistryArgs) -> aws.ecr.Repository:
        """A team repository: immutable tags (image tags and cache keys are content hashes), scanned on push,
        KMS-encrypted, and never deleted by `pulumi destroy` while it holds images."""
        return aws.ecr.Repository(
            resource_name,
            name=repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
            ],
            force_delete=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
