"""The AWS half of "pip/conda change -> image": a spec lands in the build bucket, CodeBuild builds and pushes it.

Flow: the client uploads `specs/<variant>/<tag>/requirements.txt` -> S3 emits an EventBridge event -> a rule
starts the CodeBuild project with SPEC_KEY set -> the buildspec from `images/` checks the tag, skips existing
images, and runs images/build.sh, which builds with buildah (no Docker daemon: the project is not privileged)
on a base pulled by digest through the team's pull-through cache, reuses the layer cache in the registry, and
pushes `<repository>:<tag>`. The tag is a content hash (teamstack.envhash), so unchanged
environments are never rebuilt and tags are never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws import iam_documents as docs
from teamstack import naming
from teamstack.envhash import SPEC_FILENAMES

SPEC_PREFIX = "specs/"
RECIPE_PREFIX = "recipes/"
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
BUILD_COMPUTE = "BUILD_GENERAL1_LARGE"  # CUDA wheels want memory and disk
BUILD_TIMEOUT_MINUTES = 60
CONCURRENT_BUILDS = 4


def spec_event_pattern(bucket_name: str) -> dict[str, Any]:
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        # Only the spec files a build accepts: anything else under specs/ would start a build that must fail.
        "detail": {
            "bucket": {"name": [bucket_name]},
            "object": {"key": [{"wildcard": f"{SPEC_PREFIX}*/{name}"} for name in SPEC_FILENAMES]},
        },
    }


# EventBridge hands CodeBuild's StartBuild these parameters: the spec's key becomes SPEC_KEY.
SPEC_KEY_INPUT_TEMPLATE = (
    '{"environmentVariablesOverride": [{"name": "SPEC_KEY", "value": <key>, "type": "PLAINTEXT"}]}'
)


@dataclass(frozen=True)
class ImagePipelineArgs:
    team: str
    account_id: str
    bucket_name: str
    bucket_id: pulumi.Input[str]
    project_name: str
    log_group_name: str
    recipe_dir: Path
    recipe_hash: str
    repository_url: pulumi.Input[str]
    cache_repository_url: pulumi.Input[str]
    base_registry: pulumi.Input[str]  # <registry host>/<pull-through cache prefix>
    builder_role_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    tags: Mapping[str, str]


class BuildLogs(pulumi.ComponentResource):
    """The build log group exists before the roles that write and read it, so it is its own component."""

    def __init__(
        self,
        name: str,
        log_group_name: str,
        kms_key_arn: pulumi.Input[str],
        retention_days: int,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("teamstack:aws:BuildLogs", name, None, opts)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-log-group",
            name=log_group_name,
            retention_in_days=retention_days,
            kms_key_id=kms_key_arn,
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.log_group.arn
        self.register_outputs({"arn": self.log_group.arn})


class ImagePipeline(pulumi.ComponentResource):
    def __init__(self, name: str, args: ImagePipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:ImagePipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        aws.s3.BucketNotification(f"{name}-spec-events", bucket=args.bucket_id, eventbridge=True, opts=child)
        recipe_key = f"{RECIPE_PREFIX}images-{args.recipe_hash}.zip"
        recipe = aws.s3.BucketObjectv2(
            f"{name}-recipe",
            bucket=args.bucket_id,
            key=recipe_key,
            source=pulumi.FileArchive(str(args.recipe_dir)),
            server_side_encryption="aws:kms",
            kms_key_id=args.kms_key_arn,
            tags=dict(args.tags),
            opts=child,
        )
        env = {
            "BUILD_BUCKET": args.bucket_name,
            "REPOSITORY_URI": args.repository_url,
            "RECIPE_HASH": args.recipe_hash,
            "BASE_REGISTRY": args.base_registry,
            "CACHE_REPOSITORY": args.cache_repository_url,
        }
        self.project = aws.codebuild.Project(
            f"{name}-project",
            name=args.project_name,
            description=f"Builds Dask images of team {args.team} from environment specs",
            service_role=args.builder_role_arn,
            encryption_key=args.kms_key_arn,
            build_timeout=BUILD_TIMEOUT_MINUTES,
            queued_timeout=120,
            concurrent_build_limit=CONCURRENT_BUILDS,
            source=aws.codebuild.ProjectSourceArgs(
                type="S3", location=pulumi.Output.concat(args.bucket_name, "/", recipe.key), buildspec="buildspec.yml"
            ),
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER",
                compute_type=BUILD_COMPUTE,
                image=BUILD_IMAGE,
                image_pull_credentials_type="CODEBUILD",
                # buildah needs no Docker daemon, so no privileged mode (build.sh, chroot isolation).
                privileged_mode=False,
                environment_variables=[
                    aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=k, value=v, type="PLAINTEXT")
                    for k, v in env.items()
                ],
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    group_name=args.log_group_name, status="ENABLED"
                ),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            tags=dict(args.tags),
            opts=child,
        )
        events_role = aws.iam.Role(
            f"{name}-events",
            name=naming.role_name(args.team, "image-build-trigger"),
            assume_role_policy=pulumi.Output.json_dumps(docs.service_trust("events.amazonaws.com", args.account_id)),
            tags=dict(args.tags),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-events",
            role=events_role.id,
            policy=pulumi.Output.json_dumps(
                docs.document(docs.statement("StartImageBuilds", ["codebuild:StartBuild"], [self.project.arn]))
            ),
            opts=child,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-spec-uploaded",
            description=f"Build an image when team {args.team} uploads an environment spec",
            event_pattern=json.dumps(spec_event_pattern(args.bucket_name)),
            tags=dict(args.tags),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-start-build",
            rule=rule.name,
            arn=self.project.arn,
            role_arn=events_role.arn,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths={"key": "$.detail.object.key"}, input_template=SPEC_KEY_INPUT_TEMPLATE
            ),
            opts=child,
        )
        self.project_name = self.project.name
        self.register_outputs({"project": self.project.name, "recipeKey": recipe.key})
