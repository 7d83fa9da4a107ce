"""One team's whole AWS stack, composed from the components in this package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws import iam_documents as docs
from components.aws.buckets import SecureBucket, SecureBucketArgs
from components.aws.budget import TeamBudget, TeamBudgetArgs
from components.aws.cluster import (
    Cluster,
    ClusterAccess,
    ClusterAccessArgs,
    ClusterAddons,
    ClusterAddonsArgs,
    ClusterArgs,
)
from components.aws.iam import TeamRoles, TeamRolesArgs
from components.aws.kms import TeamKey, TeamKeyArgs
from components.aws.network import Network, NetworkArgs
from components.aws.nodegroups import NodeGroup, NodeGroupArgs
from components.aws.pipeline import SPEC_PREFIX, BuildLogs, ImagePipeline, ImagePipelineArgs
from components.aws.registry import Registry, RegistryArgs
from components.k8s import spec as k8s_spec
from components.k8s.layer import AwsAutoscaling, KubernetesLayer, KubernetesLayerArgs, PodIdentityBinding
from components.outputs import shared_outputs
from teamstack import imagefile, naming, registries
from teamstack.config import AwsTeamConfig
from teamstack.manifest import TeamManifest, node_group_entry, shared_sections
from teamstack.pools import NodePool, worker_pools


@dataclass(frozen=True)
class AwsEnvironment:
    """Facts about the target account, looked up once before any resource is created."""

    account_id: str
    partition: str
    zones: tuple[str, ...]


class AwsTeamStack(pulumi.ComponentResource):
    """Network, cluster, node groups, roles, registry, image pipeline, catalog, budget and the team manifest."""

    def __init__(
        self,
        name: str,
        team: AwsTeamConfig,
        env: AwsEnvironment,
        recipe_dir: Path,
        recipe_hash: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("teamstack:aws:TeamStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = team.tags_for_resources
        region, account = team.region, env.account_id
        cluster_name = naming.cluster_name(team.team)
        namespace = team.team_namespace
        data_scientist_group = f"{team.team}:data-scientists"  # the EKS access entry's group, bound by RBAC

        key = TeamKey(
            f"{name}-kms",
            TeamKeyArgs(team=team.team, account_id=account, region=region, partition=env.partition, tags=tags),
            child,
        )

        # Server access logs of every team bucket; SSE-S3 because S3 cannot deliver logs to an SSE-KMS bucket.
        access_logs_name = naming.bucket_name(team.team, naming.ACCESS_LOGS_BUCKET, account)
        access_logs = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                bucket_name=access_logs_name,
                tags=tags,
                kms_key_arn=None,
                noncurrent_version_days=30,
                extra_policy_statements=(
                    self._log_delivery_statement(access_logs_name, team.team, account, env.partition),
                ),
            ),
            child,
        )
        catalog = [
            SecureBucket(
                f"{name}-catalog-{bucket.name}",
                SecureBucketArgs(
                    bucket_name=naming.bucket_name(team.team, bucket.name, account),
                    tags={**tags, "teamstack.io/catalog": bucket.name},
                    kms_key_arn=key.arn,
                    noncurrent_version_days=bucket.noncurrent_version_days,
                    access_log_bucket=access_logs.name,
                ),
                child,
            )
            for bucket in team.catalog_buckets
        ]
        build_bucket_name = naming.bucket_name(team.team, naming.BUILD_BUCKET, account)
        build_bucket = SecureBucket(
            f"{name}-envs",
            SecureBucketArgs(
                bucket_name=build_bucket_name,
                tags=tags,
                kms_key_arn=key.arn,
                noncurrent_version_days=30,
                access_log_bucket=access_logs.name,
                # Specs are reproducible from clients, so the bucket is not retained; `force_destroy` stays off, so
                # `pulumi destroy` still refuses to delete it while it holds specs.
                keep_on_destroy=False,
            ),
            child,
        )
        build_log_group = naming.log_group(team.team, "image-builds")
        build_logs = BuildLogs(f"{name}-build-logs", build_log_group, key.arn, team.log_retention_days, tags, child)
        registry = Registry(
            f"{name}-registry",
            RegistryArgs(
                repository_name=naming.repository_name(team.team),
                kms_key_arn=key.arn,
                keep_last_images=team.registry.keep_last_images,
                untagged_expiry_days=team.registry.untagged_expiry_days,
                tags=tags,
                team=team.team,
                # Without a NAT the nodes pull the add-ons' images through ECR pull-through caches.
                node_caches=registries.AWS_NODE_CACHES if team.nat_mode == "none" else (),
                ghcr_credential_arn=team.ghcr_credential_arn,
                account_id=account,
                region=region,
                partition=env.partition,
            ),
            child,
        )
        # Before the roles: data scientists may start Dask VMs only into its private subnets and Dask group.
        network = Network(
            f"{name}-net",
            NetworkArgs(
                team=team.team,
                cluster_name=cluster_name,
                region=region,
                account_id=account,
                vpc_cidr=team.vpc_cidr,
                zones=env.zones[: team.az_count],
                nat_mode=team.nat_mode,
                interface_endpoints=team.interface_endpoints,
                kms_key_arn=key.arn,
                log_retention_days=team.log_retention_days,
                tags=tags,
            ),
            child,
        )
        build_project = naming.build_project(team.team)
        roles = TeamRoles(
            f"{name}-roles",
            TeamRolesArgs(
                team=team.team,
                account_id=account,
                region=region,
                partition=env.partition,
                cluster_name=cluster_name,
                kms_key_arn=key.arn,
                catalog_bucket_arns=[b.arn for b in catalog],
                build_bucket_arn=build_bucket.arn,
                repository_arn=registry.arn,
                build_cache_repository_arn=registry.cache_arn,
                upstream_prefix=registry.upstream_prefix,
                node_cache_prefixes=registry.node_cache_prefixes,
                build_log_group_arn=build_logs.arn,
                build_project_name=build_project,
                private_subnet_arns=[subnet.arn for subnet in network.private_subnets],
                dask_security_group_arn=network.dask_security_group.arn,
                data_scientist_principals=team.data_scientist_principals,
                tags=tags,
            ),
            child,
        )
        pipeline = ImagePipeline(
            f"{name}-images",
            ImagePipelineArgs(
                team=team.team,
                account_id=account,
                bucket_name=build_bucket_name,
                bucket_id=build_bucket.bucket.id,
                project_name=build_project,
                log_group_name=build_log_group,
                recipe_dir=recipe_dir,
                recipe_hash=recipe_hash,
                repository_url=registry.url,
                cache_repository_url=registry.cache_url,
                base_registry=registry.base_registry,
                builder_role_arn=roles.image_builder.arn,
                kms_key_arn=key.arn,
                tags=tags,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[build_logs]),
        )
        cluster = Cluster(
            f"{name}-cluster",
            ClusterArgs(
                team=team.team,
                cluster_name=cluster_name,
                kubernetes_version=team.kubernetes_version,
                role_arn=roles.cluster.arn,
                private_subnet_ids=network.private_subnet_ids,
                api_access_cidrs=team.api_access_cidrs,
                service_cidr=team.service_cidr,
                kms_key_arn=key.arn,
                log_retention_days=team.log_retention_days,
                tags=tags,
            ),
            child,
        )
        node_groups: list[tuple[NodePool, NodeGroup]] = []
        for pool in team.pools:
            group = NodeGroup(
                f"{name}-{pool.name}",  # by the pool's name: a reorder in the stack file renames nothing
                NodeGroupArgs(
                    cluster_name=cluster.name,
                    cluster_name_text=cluster_name,
                    node_role_arn=roles.node.arn,
                    subnet_ids=network.private_subnet_ids,
                    kubernetes_version=team.kubernetes_version,
                    kms_key_arn=key.arn,
                    pool=pool,
                    tags=tags,
                ),
                child,
            )
            node_groups.append((pool, group))
        access = ClusterAccess(
            f"{name}-access",
            ClusterAccessArgs(
                cluster_name=cluster.name,
                admin_arns=team.admins,
                data_scientist_role_arn=roles.data_scientist.arn,
                data_scientist_group=data_scientist_group,
                namespace=namespace,
                pod_roles={
                    naming.DASK_SCHEDULER_SERVICE_ACCOUNT: roles.dask_scheduler.arn,
                    naming.DASK_WORKER_SERVICE_ACCOUNT: roles.dask_worker.arn,
                },
                tags=tags,
                extra_namespaces=tuple(team.kubernetes.extra_namespaces),
                autoscaler_role_arn=roles.cluster_autoscaler.arn,
            ),
            child,
        )
        system_group = node_groups[0][1]
        addons = ClusterAddons(
            f"{name}-addons",
            ClusterAddonsArgs(cluster_name=cluster.name, tags=tags),
            pulumi.ResourceOptions(parent=self, depends_on=[system_group]),
        )
        layer = self._kubernetes_layer(
            name,
            team,
            cluster,
            [access, addons],
            node_groups,
            registry,
            data_scientist_group,
            recipe_hash,
            imagefile.interpreter(recipe_dir),
        )
        # The default Dask environment, submitted like a client's spec: the pipeline builds it into the registry
        # under the tag the manifest names. After the pipeline, whose event rule must exist when it lands.
        default_spec, _, default_key = k8s_spec.default_environment(k8s_spec.DEFAULT_ENVIRONMENT_DIR, recipe_hash)
        aws.s3.BucketObjectv2(
            f"{name}-default-environment",
            bucket=build_bucket.bucket.id,
            key=default_key,
            content=default_spec.decode(),
            content_type="text/plain",
            server_side_encryption="aws:kms",
            kms_key_id=key.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline]),
        )
        TeamBudget(
            f"{name}-budget",
            TeamBudgetArgs(
                team=team.team,
                monthly_limit_usd=team.budget.monthly_limit_usd,
                alert_emails=team.budget.alert_emails,
                actual_alert_percent=team.budget.actual_alert_percent,
                tags=tags,
            ),
            child,
        )

        manifest = pulumi.Output.all(
            vpc_id=network.vpc_id,
            subnets=pulumi.Output.all(*network.private_subnet_ids),
            dask_sg=network.dask_security_group.id,
            cluster_sg=cluster.security_group_id,
            cluster_name=cluster.name,
            endpoint=cluster.endpoint,
            ca=cluster.certificate_authority,
            group_names=pulumi.Output.all(*[group.name for _, group in node_groups]),
            repository=registry.url,
            mirrors=registry.mirrors,
            project=pipeline.project_name,
            buckets=pulumi.Output.all(*[b.name for b in catalog]),
            build_bucket=build_bucket.name,
            scheduler=roles.dask_scheduler.arn,
            worker=roles.dask_worker.arn,
            scientist=roles.data_scientist.arn,
            builder=roles.image_builder.arn,
            dask_vm_profile=roles.dask_vm_profile.arn,
            dask=layer.dask_defaults,
        ).apply(lambda v: self._manifest(team, account, node_groups, recipe_hash, build_log_group, v).to_json())
        parameter = aws.ssm.Parameter(
            f"{name}-manifest",
            name=naming.manifest_parameter(team.team),
            description=f"teamstack manifest of team {team.team} (schema {naming.MANIFEST_SCHEMA_VERSION})",
            type="String",
            # Not a secret, and `value` would make it one: clients and reviewers must be able to read it.
            insecure_value=manifest,
            # Standard parameters hold 4 KB; bigger teams' manifests need the advanced tier.
            tier=manifest.apply(lambda text: "Standard" if len(text.encode()) <= 4096 else "Advanced"),
            tags=tags,
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
            "accountId": account,
            "vpcId": network.vpc_id,
            "privateSubnetIds": network.private_subnet_ids,
            "publicSubnetIds": network.public_subnet_ids,
            "securityGroupIds": {
                "dask": network.dask_security_group.id,
                "cluster": cluster.security_group_id,
                "endpoints": network.endpoint_security_group.id,
            },
            "nodeGroups": {pool.name: group.name for pool, group in node_groups},
            "roleArns": {
                "cluster": roles.cluster.arn,
                "node": roles.node.arn,
                "daskScheduler": roles.dask_scheduler.arn,
                "daskWorker": roles.dask_worker.arn,
                "imageBuilder": roles.image_builder.arn,
                "dataScientist": roles.data_scientist.arn,
                "daskVm": roles.dask_vm.arn,
            },
            "daskVmInstanceProfileArn": roles.dask_vm_profile.arn,
            "buildProject": pipeline.project_name,
            "kmsKeyArn": key.arn,
            "manifestParameter": parameter.name,
        }
        self.register_outputs(self.outputs)

    def _kubernetes_layer(
        self,
        name: str,
        team: AwsTeamConfig,
        cluster: Cluster,
        cluster_ready: list[pulumi.Resource],
        node_groups: list[tuple[NodePool, NodeGroup]],
        registry: Registry,
        data_scientist_group: str,
        recipe_hash: str,
        image_python: str,
    ) -> KubernetesLayer:
        """The Kubernetes layer on this EKS cluster, through a provider that authenticates like `kubectl` does."""
        cluster_name = naming.cluster_name(team.team)
        kubeconfig = pulumi.Output.all(cluster.endpoint, cluster.certificate_authority).apply(
            lambda v: k8s_spec.eks_kubeconfig(cluster_name, v[0], v[1], team.region)
        )
        provider = k8s.Provider(
            f"{name}-kubernetes",
            kubeconfig=kubeconfig,
            # The deployer's admin access entry and the add-ons (CoreDNS, the CNI) come first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=cluster_ready),
        )
        _, default_tag, _ = k8s_spec.default_environment(k8s_spec.DEFAULT_ENVIRONMENT_DIR, recipe_hash)
        return KubernetesLayer(
            f"{name}-k8s",
            KubernetesLayerArgs(
                team=team.team,
                cloud="aws",
                kubernetes_version=team.kubernetes_version,
                settings=team.kubernetes,
                provider=provider,
                namespace=team.team_namespace,
                pools=worker_pools(team.pools),
                identity=PodIdentityBinding(),
                data_scientists=[k8s_spec.RbacSubject("Group", data_scientist_group)],
                image=registry.url.apply(lambda url: f"{url}:{default_tag}"),
                image_python=image_python,
                tags=team.tags_for_resources,
                autoscaling=AwsAutoscaling(cluster_name, team.region),
                mirrors=registry.mirrors,
            ),
            pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _log_delivery_statement(bucket: str, team: str, account: str, partition: str) -> dict[str, Any]:
        """S3 may write server access logs of this team's buckets (and only those) into `bucket`."""
        return docs.statement(
            "S3ServerAccessLogDelivery",
            ["s3:PutObject"],
            [f"arn:{partition}:s3:::{bucket}/*"],
            principals={"Service": "logging.s3.amazonaws.com"},
            conditions={
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:s3:::{team}-*-{account}"},
            },
        )

    @staticmethod
    def _manifest(
        team: AwsTeamConfig,
        account: str,
        node_groups: list[tuple[NodePool, NodeGroup]],
        recipe_hash: str,
        build_log_group: str,
        v: dict[str, Any],
    ) -> TeamManifest:
        return TeamManifest.model_validate(
            {
                **shared_sections(
                    team,
                    cloud="aws",
                    account=account,
                    cluster_name=v["cluster_name"],
                    endpoint=v["endpoint"],
                    certificate_authority=v["ca"],
                    bucket_names=v["buckets"],
                    tags=team.tags_for_resources,
                    dask=v["dask"],
                ),
                "network": {
                    "vpcId": v["vpc_id"],
                    "privateSubnetIds": v["subnets"],
                    "daskSecurityGroupId": v["dask_sg"],
                    "clusterSecurityGroupId": v["cluster_sg"],
                },
                "nodeGroups": [
                    node_group_entry(pool, group_name)
                    for (pool, _), group_name in zip(node_groups, v["group_names"], strict=True)
                ],
                # The mirrors only when the nodes need them (natMode none): with a NAT they pull from the upstreams.
                "registry": {"repositoryUri": v["repository"], **({"mirrors": v["mirrors"]} if v["mirrors"] else {})},
                "build": {
                    "bucket": v["build_bucket"],
                    "specPrefix": SPEC_PREFIX,
                    "project": v["project"],
                    "recipeHash": recipe_hash,
                    "logGroup": build_log_group,
                },
                "identity": {
                    "daskSchedulerRoleArn": v["scheduler"],
                    "daskWorkerRoleArn": v["worker"],
                    "daskSchedulerServiceAccount": naming.DASK_SCHEDULER_SERVICE_ACCOUNT,
                    "daskWorkerServiceAccount": naming.DASK_WORKER_SERVICE_ACCOUNT,
                    "dataScientistRoleArn": v["scientist"],
                    "imageBuilderRoleArn": v["builder"],
                    "daskVmInstanceProfileArn": v["dask_vm_profile"],
                },
            }
        )
