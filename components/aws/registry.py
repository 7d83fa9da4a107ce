"""The team's container registry: immutable content-hash tags, scanned, encrypted, pruned."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


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


@dataclass(frozen=True)
class RegistryArgs:
    repository_name: str
    kms_key_arn: pulumi.Input[str]
    keep_last_images: int
    untagged_expiry_days: int
    tags: Mapping[str, str]


class Registry(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:Registry", name, None, opts)
        self.repository = aws.ecr.Repository(
            f"{name}-repo",
            name=args.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
            ],
            # A repository holding images is never deleted by `pulumi destroy`.
            force_delete=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(lifecycle_policy(args.keep_last_images, args.untagged_expiry_days)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.repository.arn
        self.url = self.repository.repository_url
        self.register_outputs({"repositoryUrl": self.repository.repository_url, "arn": self.repository.arn})
