"""One team's stack on Google Cloud: the components of this package, composed, plus the team manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.gcp.buckets import USAGE_LOG_WRITER, SecureBucket, SecureBucketArgs
from components.gcp.budget import TeamBudget, TeamBudgetArgs
from components.gcp.cluster import Cluster, ClusterArgs
from components.gcp.iam import TeamIdentities, TeamIdentitiesArgs
from components.gcp.kms import TeamKey, TeamKeyArgs
from components.gcp.network import Network, NetworkArgs
from components.gcp.pipeline import ImagePipeline, ImagePipelineArgs
from components.gcp.registry import Registry, RegistryArgs
from components.k8s.gke import gke_kubernetes_layer
from components.outputs import shared_outputs
from teamstack import imagefile, naming, registries
from teamstack.config import GcpTeamConfig
from teamstack.envhash import SPEC_PREFIX
from teamstack.manifest import TeamManifest, node_group_entry, shared_sections
from teamstack.pools import NodePool, worker_pools

# The build's logs: Cloud Logging, log name `cloudbuild` of the project (options.logging CLOUD_LOGGING_ONLY).
BUILD_LOG = "projects/{project}/logs/cloudbuild"


@dataclass(frozen=True)
class GcpEnvironment:
    """What the program looked up before creating anything."""

    project: str
    project_number: str
    zones: tuple[str, ...]


class GcpTeamStack(pulumi.ComponentResource):
    """Network, GKE, node pools, service accounts, registry, image pipeline, catalog, budget and the manifest."""

    def __init__(
        self,
        name: str,
        team: GcpTeamConfig,
        env: GcpEnvironment,
        recipe_dir: Path,
        recipe_hash: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("teamstack:gcp:TeamStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = team.labels_for_resources
        project, region = env.project, team.region
        cluster_name = naming.cluster_name(team.team)
        namespace = team.team_namespace
        location = region if team.cluster_location == "regional" else env.zones[0]

        people = TeamIdentities(
            f"{name}-identities",
            TeamIdentitiesArgs(
                team=team.team,
                project=project,
                namespace=namespace,
                admins=team.admins,
                data_scientist_members=team.data_scientist_members,
                extra_namespaces=tuple(team.kubernetes.extra_namespaces),
            ),
            child,
        )
        key = TeamKey(
            f"{name}-kms",
            TeamKeyArgs(project=project, region=region, project_number=env.project_number, labels=labels),
            child,
        )
        # CMEK users (GCS, Artifact Registry, GKE, disks) must be able to use the key before they are created.
        key_ready = key.after_grants()
        scientists = list(team.data_scientist_members)

        # Usage logs of every team bucket (who read/wrote what), kept like the data they describe.
        access_logs_name = naming.gcp_bucket_name(team.team, naming.ACCESS_LOGS_BUCKET, project)
        access_logs = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                bucket_name=access_logs_name,
                project=project,
                region=region,
                kms_key_id=key.id,
                labels=labels,
                noncurrent_version_days=30,
                depends_on=key_ready,
            ),
            child,
        )
        log_writer = access_logs.grant(f"{name}-access-logs-writer", "roles/storage.objectCreator", [USAGE_LOG_WRITER])
        logged = [*key_ready, *log_writer]

        catalog = [
            SecureBucket(
                f"{name}-catalog-{bucket.name}",
                SecureBucketArgs(
                    bucket_name=naming.gcp_bucket_name(team.team, bucket.name, project),
                    project=project,
                    region=region,
                    kms_key_id=key.id,
                    labels={**labels, "teamstack-catalog": bucket.name},
                    noncurrent_version_days=bucket.noncurrent_version_days,
                    access_log_bucket=access_logs.name,
                    depends_on=logged,
                ),
                child,
            )
            for bucket in team.catalog_buckets
        ]
        for cfg, bucket in zip(team.catalog_buckets, catalog, strict=True):
            prefix = f"{name}-catalog-{cfg.name}"
            bucket.grant(f"{prefix}-scheduler-reads", "roles/storage.objectViewer", [people.dask_scheduler.member])
            bucket.grant(f"{prefix}-worker-writes", "roles/storage.objectUser", [people.dask_worker.member])
            bucket.grant(f"{prefix}-scientists-write", "roles/storage.objectUser", scientists)

        build_bucket_name = naming.gcp_bucket_name(team.team, naming.BUILD_BUCKET, project)
        build_bucket = SecureBucket(
            f"{name}-envs",
            SecureBucketArgs(
                bucket_name=build_bucket_name,
                project=project,
                region=region,
                kms_key_id=key.id,
                labels=labels,
                noncurrent_version_days=30,
                # Specs are reproducible from clients, so the bucket is not retained; `force_destroy` stays off, so
                # `pulumi destroy` still refuses to delete it while it holds objects.
                keep_on_destroy=False,
                access_log_bucket=access_logs.name,
                depends_on=logged,
            ),
            child,
        )
        # Data scientists read the manifest and specs, and may add specs (create only, under specs/).
        build_bucket.grant(f"{name}-envs-scientists-read", "roles/storage.objectViewer", scientists)
        build_bucket.grant(
            f"{name}-envs-scientists-submit-specs",
            "roles/storage.objectCreator",
            scientists,
            gcp.storage.BucketIAMMemberConditionArgs(
                title="specs-only",
                description="Only environment specs, under specs/",
                expression=f'resource.name.startsWith("projects/_/buckets/{build_bucket_name}/objects/{SPEC_PREFIX}")',
            ),
        )
        build_bucket.grant(f"{name}-envs-builder-reads", "roles/storage.objectViewer", [people.image_builder.member])

        registry = Registry(
            f"{name}-registry",
            RegistryArgs(
                repository_id=naming.gcp_repository_id(team.team),
                project=project,
                region=region,
                kms_key_id=key.id,
                keep_last_images=team.registry.keep_last_images,
                untagged_expiry_days=team.registry.untagged_expiry_days,
                labels=labels,
                depends_on=key_ready,
            ),
            child,
        )
        registry.grant(
            f"{name}-registry-builder-writes", "roles/artifactregistry.writer", [people.image_builder.member]
        )
        registry.grant_base_pulls(f"{name}-registry-builder-bases", [people.image_builder.member])
        registry.grant_mirror_pulls(f"{name}-registry-nodes-ghcr", [people.node.member])
        registry.grant(
            f"{name}-registry-readers",
            "roles/artifactregistry.reader",
            [people.node.member, people.dask_scheduler.member, people.dask_worker.member, *scientists],
        )

        network = Network(
            f"{name}-net",
            NetworkArgs(
                project=project,
                region=region,
                node_cidr=team.vpc_cidr,
                pod_cidr=str(team.pod_cidr),
                service_cidr=team.service_cidr,
                nat_mode=team.nat_mode,
                node_service_account=people.node.email,
            ),
            child,
        )
        pools_model = team.pools
        cluster = Cluster(
            f"{name}-cluster",
            ClusterArgs(
                team=team.team,
                cluster_name=cluster_name,
                project=project,
                region=region,
                location=location,
                zones=env.zones,
                network=network.network.id,
                subnetwork=network.subnetwork.id,
                kubernetes_version=team.kubernetes_version,
                release_channel=team.release_channel,
                api_access_cidrs=team.api_access_cidrs,
                security_group=team.gke_security_group,
                kms_key_id=key.id,
                node_service_account=people.node.email,
                labels=labels,
                pools=pools_model,
                depends_on=key_ready,
            ),
            child,
        )
        pipeline = ImagePipeline(
            f"{name}-images",
            ImagePipelineArgs(
                team=team.team,
                project=project,
                region=region,
                project_number=env.project_number,
                bucket_name=build_bucket.name,
                recipe_dir=recipe_dir,
                recipe_hash=recipe_hash,
                repository_url=registry.url,
                cache_repository_url=registry.cache_url,
                base_registry=registry.base_registry,
                builder_service_account=people.image_builder.id,
                labels=labels,
            ),
            child,
        )
        layer = gke_kubernetes_layer(
            name,
            team,
            endpoint=cluster.endpoint,
            certificate_authority=cluster.certificate_authority,
            pools=worker_pools(pools_model),
            scheduler_gsa=people.dask_scheduler.email,
            worker_gsa=people.dask_worker.email,
            repository_url=registry.url,
            ghcr_mirror=registry.ghcr_mirror,
            build_bucket=build_bucket.name,
            recipe_hash=recipe_hash,
            image_python=imagefile.interpreter(recipe_dir),
            # The provider needs the cluster with its pools; the default environment needs the pipeline.
            depends_on=[cluster, pipeline],
            parent=self,
        )
        assert team.budget.billing_account is not None  # check_team requires it on GCP
        TeamBudget(
            f"{name}-budget",
            TeamBudgetArgs(
                team=team.team,
                project=project,
                project_number=env.project_number,
                billing_account=team.budget.billing_account,
                monthly_limit_usd=team.budget.monthly_limit_usd,
                alert_emails=team.budget.alert_emails,
                actual_alert_percent=team.budget.actual_alert_percent,
                labels=labels,
            ),
            child,
        )

        pools = [(pool, cluster.pools[pool.name]) for pool in pools_model]
        manifest = pulumi.Output.all(
            network=network.network.name,
            subnetwork=network.subnetwork.name,
            cluster_name=cluster.name,
            endpoint=cluster.endpoint,
            ca=cluster.certificate_authority,
            pool_names=pulumi.Output.all(*[pool.name for _, pool in pools]),
            repository=registry.url,
            ghcr_mirror=registry.ghcr_mirror,
            trigger=pipeline.trigger_name,
            buckets=pulumi.Output.all(*[b.name for b in catalog]),
            build_bucket=build_bucket.name,
            node=people.node.email,
            scheduler=people.dask_scheduler.email,
            worker=people.dask_worker.email,
            builder=people.image_builder.email,
            dask=layer.dask_defaults,
        ).apply(lambda v: self._manifest(team, env, pools, recipe_hash, v).to_json())
        manifest_object = gcp.storage.BucketObject(
            f"{name}-manifest",
            bucket=build_bucket.name,
            name=naming.GCP_MANIFEST_OBJECT,
            # Not `content`, which the provider marks secret: clients and reviewers must be able to read it.
            source=manifest.apply(pulumi.StringAsset),
            content_type="application/json",
            # Clients re-read it after every `pulumi up`; no stale copies in caches.
            cache_control="no-cache",
            opts=child,
        )

        self.outputs: dict[str, Any] = {
            **shared_outputs(
                team,
                cluster_name=cluster.name,
                cluster_endpoint=cluster.endpoint,
                registry_uri=registry.url,
                build_bucket=build_bucket.name,
                catalog_buckets=[b.name for b in catalog],
                manifest=manifest,
            ),
            "projectId": project,
            "projectNumber": env.project_number,
            "zones": list(env.zones),
            "network": network.network.name,
            "subnetwork": network.subnetwork.name,
            "clusterLocation": location,
            "releaseChannel": team.release_channel.upper(),
            "nodePools": {model.name: pool.name for model, pool in pools},
            "serviceAccounts": {
                "node": people.node.email,
                "daskScheduler": people.dask_scheduler.email,
                "daskWorker": people.dask_worker.email,
                "imageBuilder": people.image_builder.email,
            },
            "accessLogBucket": access_logs.name,
            "buildTrigger": pipeline.trigger_name,
            "buildTopic": pipeline.topic.id,
            "kmsKeyId": key.id,
            "manifestUrl": pulumi.Output.concat("gs://", manifest_object.bucket, "/", manifest_object.name),
        }
        self.register_outputs(self.outputs)

    @staticmethod
    def _manifest(
        team: GcpTeamConfig,
        env: GcpEnvironment,
        pools: list[tuple[NodePool, gcp.container.NodePool]],
        recipe_hash: str,
        v: dict[str, Any],
    ) -> TeamManifest:
        return TeamManifest.model_validate(
            {
                **shared_sections(
                    team,
                    cloud="gcp",
                    account=env.project,
                    cluster_name=v["cluster_name"],
                    endpoint=f"https://{v['endpoint']}",
                    certificate_authority=v["ca"],
                    bucket_names=v["buckets"],
                    tags=team.labels_for_resources,
                    dask=v["dask"],
                ),
                "network": {"network": v["network"], "subnetwork": v["subnetwork"], "zones": list(env.zones)},
                "nodeGroups": [
                    node_group_entry(pool, pool_name)
                    for (pool, _), pool_name in zip(pools, v["pool_names"], strict=True)
                ],
                "registry": {"repositoryUri": v["repository"], "mirrors": {registries.GHCR: v["ghcr_mirror"]}},
                "build": {
                    "bucket": v["build_bucket"],
                    "specPrefix": SPEC_PREFIX,
                    "project": v["trigger"],
                    "recipeHash": recipe_hash,
                    "logGroup": BUILD_LOG.format(project=env.project),
                },
                "identity": {
                    "daskSchedulerServiceAccount": naming.DASK_SCHEDULER_SERVICE_ACCOUNT,
                    "daskWorkerServiceAccount": naming.DASK_WORKER_SERVICE_ACCOUNT,
                    "daskSchedulerGsa": v["scheduler"],
                    "daskWorkerGsa": v["worker"],
                    "imageBuilderGsa": v["builder"],
                    "nodeGsa": v["node"],
                    "dataScientistMembers": list(team.data_scientist_members),
                },
            }
        )


__all__ = ["GcpEnvironment", "GcpTeamStack"]
