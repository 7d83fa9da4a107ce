"""The team's container registry: immutable content-hash tags, scanned, encrypted, pruned.

Beside the images: a layer-cache repository the builds share (`buildah --cache-from/--cache-to`, so a small
change rebuilds only its layers) and an ECR pull-through cache rule for ECR Public, through which builds pull
their base images by digest (images/bases.txt): no build pulls from Docker Hub, and ECR Public needs no
credentials. The repositories the rule creates on first pull follow a creation template (immutable tags).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from teamstack import naming


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


def cache_lifecycle_policy(expiry_days: int) -> dict[str, Any]:
    """Layer-cache entries nobody reused for `expiry_days` are rebuilt on demand: expire them."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire build-cache layers after {expiry_days} days",
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


class Registry(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:Registry", name, None, opts)
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
        prefix = upstream_prefix(args.team or args.repository_name.split("/")[0])
        self.upstream_prefix = prefix
        aws.ecr.PullThroughCacheRule(
            f"{name}-ecr-public",
            ecr_repository_prefix=prefix,
            upstream_registry_url=UPSTREAM_REGISTRY,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ecr.RepositoryCreationTemplate(
            f"{name}-ecr-public-template",
            prefix=prefix,
            applied_fors=["PULL_THROUGH_CACHE"],
            description=f"Base images mirrored from {UPSTREAM_REGISTRY} for the image builds",
            image_tag_mutability="IMMUTABLE",
            encryption_configurations=[
                aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(encryption_type="AES256")
            ],
            lifecycle_policy=json.dumps(cache_lifecycle_policy(365)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.repository.arn
        self.url = self.repository.repository_url
        self.cache_arn = self.cache.arn
        self.cache_url = self.cache.repository_url
        # Where builds find bases.txt's paths: <account>.dkr.ecr.<region>.amazonaws.com/<prefix>
        self.base_registry: pulumi.Output[str] = self.repository.repository_url.apply(
            lambda url: f"{url.split('/')[0]}/{prefix}"
        )
        self.register_outputs(
            {
                "repositoryUrl": self.repository.repository_url,
                "arn": self.repository.arn,
                "cacheRepositoryUrl": self.cache.repository_url,
                "baseRegistry": self.base_registry,
            }
        )

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
