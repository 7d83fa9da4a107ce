"""The GCP half of "pip/conda change -> image": a spec lands in the build bucket, Cloud Build builds and pushes it.

Flow: the client uploads `specs/<variant>/<tag>/<file>` -> the bucket notifies a Pub/Sub topic -> a Cloud
Build trigger on that topic runs the steps of `images/cloudbuild.yaml` (copied into the trigger, source: the
zip of `images/` in the build bucket) with _SPEC_KEY set to the object's name -> the build checks the tag,
skips existing images, and runs images/build.sh (buildah: base by digest through the team's remote repository,
layer cache in the registry) which pushes `<repository>:<tag>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp
import yaml

from teamstack import naming
from teamstack.envhash import SPEC_FILENAMES, SPEC_PREFIX, TAG_LENGTH, VARIANTS

RECIPE_PREFIX = "recipes/"
CLOUDBUILD_FILE = "cloudbuild.yaml"

# Only spec files a build accepts start one: the trigger's filter, in CEL over the substitutions.
_SPEC_FILES = "|".join(re.escape(name) for name in SPEC_FILENAMES)
SPEC_KEY_PATTERN = f"^{SPEC_PREFIX}({'|'.join(VARIANTS)})/[0-9a-f]{{{TAG_LENGTH}}}/({_SPEC_FILES})$"
# In a CEL string literal a backslash is written twice.
_CEL_PATTERN = SPEC_KEY_PATTERN.replace("\\", "\\\\")
TRIGGER_FILTER = f'_EVENT_TYPE == "OBJECT_FINALIZE" && _SPEC_KEY.matches("{_CEL_PATTERN}")'
# Pub/Sub message attributes of a GCS notification -> the build's substitutions.
TRIGGER_SUBSTITUTIONS = {
    "_SPEC_KEY": "$(body.message.attributes.objectId)",
    "_EVENT_TYPE": "$(body.message.attributes.eventType)",
}


def load_cloudbuild(recipe_dir: Path) -> dict[str, Any]:
    document = yaml.safe_load((recipe_dir / CLOUDBUILD_FILE).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not document.get("steps"):
        raise ValueError(f"{recipe_dir / CLOUDBUILD_FILE} has no build steps")
    return document


def build_steps(document: Mapping[str, Any]) -> list[gcp.cloudbuild.TriggerBuildStepArgs]:
    return [
        gcp.cloudbuild.TriggerBuildStepArgs(
            id=step["id"], name=step["name"], envs=list(step.get("env", [])), script=step["script"]
        )
        for step in document["steps"]
    ]


@dataclass(frozen=True)
class ImagePipelineArgs:
    team: str
    project: str
    region: str
    project_number: str
    bucket_name: pulumi.Input[str]
    recipe_dir: Path
    recipe_hash: str
    repository_url: pulumi.Input[str]
    cache_repository_url: pulumi.Input[str]
    base_registry: pulumi.Input[str]  # <region>-docker.pkg.dev/<project>/<remote repository>
    builder_service_account: pulumi.Input[str]  # full resource name projects/<p>/serviceAccounts/<email>
    labels: Mapping[str, str]


class ImagePipeline(pulumi.ComponentResource):
    def __init__(self, name: str, args: ImagePipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:gcp:ImagePipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        recipe_key = f"{RECIPE_PREFIX}images-{args.recipe_hash}.zip"
        self.recipe = gcp.storage.BucketObject(
            f"{name}-recipe",
            bucket=args.bucket_name,
            name=recipe_key,
            source=pulumi.FileArchive(str(args.recipe_dir)),
            content_type="application/zip",
            opts=child,
        )
        self.topic = gcp.pubsub.Topic(
            f"{name}-specs", project=args.project, labels=dict(args.labels),
            message_retention_duration=f"{24 * 3600}s", opts=child,
        )  # fmt: skip
        gcs_agent = f"serviceAccount:service-{args.project_number}@gs-project-accounts.iam.gserviceaccount.com"
        publisher = gcp.pubsub.TopicIAMMember(
            f"{name}-gcs-publishes",
            project=args.project,
            topic=self.topic.name,
            role="roles/pubsub.publisher",
            member=gcs_agent,
            opts=child,
        )
        self.notification = gcp.storage.Notification(
            f"{name}-notification",
            bucket=args.bucket_name,
            topic=self.topic.id,
            payload_format="JSON_API_V1",
            event_types=["OBJECT_FINALIZE"],
            object_name_prefix=SPEC_PREFIX,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[publisher]),
        )
        document = load_cloudbuild(args.recipe_dir)
        options = document.get("options", {})
        self.trigger = gcp.cloudbuild.Trigger(
            f"{name}-build",
            project=args.project,
            location="global",
            name=naming.build_project(args.team),
            description=f"teamstack: build the Dask image of each environment spec of team {args.team}",
            pubsub_config=gcp.cloudbuild.TriggerPubsubConfigArgs(topic=self.topic.id),
            substitutions={
                **TRIGGER_SUBSTITUTIONS,
                "_BUILD_BUCKET": args.bucket_name,
                "_REPOSITORY_URI": args.repository_url,
                "_RECIPE_HASH": args.recipe_hash,
                "_BASE_REGISTRY": args.base_registry,
                "_CACHE_REPOSITORY": args.cache_repository_url,
            },
            filter=TRIGGER_FILTER,
            service_account=args.builder_service_account,
            build=gcp.cloudbuild.TriggerBuildArgs(
                steps=build_steps(document),
                source=gcp.cloudbuild.TriggerBuildSourceArgs(
                    storage_source=gcp.cloudbuild.TriggerBuildSourceStorageSourceArgs(
                        bucket=args.bucket_name, object=self.recipe.output_name
                    )
                ),
                timeout=document["timeout"],
                options=gcp.cloudbuild.TriggerBuildOptionsArgs(
                    logging=options["logging"],
                    machine_type=options["machineType"],
                    disk_size_gb=options["diskSizeGb"],
                    substitution_option=options["substitutionOption"],
                ),
                tags=["teamstack", args.team],
            ),
            opts=child,
        )
        self.trigger_name: pulumi.Output[str] = self.trigger.name
        self.register_outputs({"trigger": self.trigger.trigger_id, "topic": self.topic.id})
