"""A team GCS bucket: uniform bucket-level access, public access prevention enforced, versioned, CMEK, old
versions expired, usage logs to the team's access-log bucket; catalog buckets protected and retained on delete.
Never force-destroyed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from teamstack import naming

# Google's writer of GCS usage and storage logs; it needs objectCreator on the access-log bucket.
USAGE_LOG_WRITER = "group:cloud-storage-analytics@google.com"
# Deleted objects stay restorable for a week (GCS soft delete), on top of versioning.
SOFT_DELETE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, kw_only=True)
class SecureBucketArgs:
    bucket_name: str
    project: str
    region: str
    kms_key_id: pulumi.Input[str]
    labels: Mapping[str, str]
    noncurrent_version_days: int = 90
    keep_on_destroy: bool = True
    access_log_bucket: pulumi.Input[str] | None = None
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class SecureBucket(pulumi.ComponentResource):
    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:gcp:SecureBucket", name, None, opts)
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=args.bucket_name,
            project=args.project,
            location=args.region,
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=args.kms_key_id),
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=SOFT_DELETE_SECONDS),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=args.noncurrent_version_days, with_state="ARCHIVED"
                    ),
                ),
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=7),
                ),
            ],
            logging=(
                gcp.storage.BucketLoggingArgs(log_bucket=args.access_log_bucket, log_object_prefix=args.bucket_name)
                if args.access_log_bucket is not None
                else None
            ),
            force_destroy=False,
            labels=dict(args.labels),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.keep_on_destroy,
                retain_on_delete=args.keep_on_destroy,
                # GCS must be able to use the key before the bucket names it as its default.
                depends_on=list(args.depends_on),
            ),
        )
        self.name: pulumi.Output[str] = self.bucket.name
        self.url: pulumi.Output[str] = self.bucket.url
        self.register_outputs({"name": self.bucket.name, "url": self.bucket.url})

    def grant(
        self,
        name: str,
        role: str,
        members: Sequence[pulumi.Input[str]],
        condition: gcp.storage.BucketIAMMemberConditionArgs | None = None,
    ) -> list[gcp.storage.BucketIAMMember]:
        """Bucket-level (never project-level) role bindings, one member each, additive, named by the member
        (`naming.keyed_names`), so removing one member leaves the others' bindings alone."""
        return [
            gcp.storage.BucketIAMMember(
                binding,
                bucket=self.bucket.name,
                role=role,
                member=member,
                condition=condition,
                opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=alias)] if alias else None),
            )
            for (binding, alias), member in zip(naming.keyed_names(name, members), members, strict=True)
        ]
