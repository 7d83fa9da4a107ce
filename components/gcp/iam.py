"""The team's Google service accounts and the few project-level roles GKE and Cloud Build need.

* nodes: the GKE node service account, with only `roles/container.defaultNodeServiceAccount` (logs, metrics,
  autoscaling metrics); image pulls are granted on the team repository itself.
* dask-scheduler / dask-worker: bound through Workload Identity to the Kubernetes service accounts of the
  same names in the team namespace; their data access is granted on the catalog buckets themselves.
* image-builder: what Cloud Build runs as; writes build logs; its repository and bucket access is granted
  on those resources.
* people: IT admins administer the cluster, data scientists may fetch its credentials (Kubernetes RBAC in
  the namespace does the rest) and follow image builds.

Project-level bindings are limited to the GKE and Cloud Build roles that exist only at project level; every
data or image permission is a binding on the team's own bucket or repository. No primitive role (owner,
editor, viewer) is granted anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from teamstack import naming

PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})

NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)
BUILDER_ROLES = ("roles/logging.logWriter",)
ADMIN_ROLES = ("roles/container.admin",)
# clusterViewer: `gcloud container clusters get-credentials`, nothing inside the cluster.
DATA_SCIENTIST_ROLES = ("roles/container.clusterViewer", "roles/cloudbuild.builds.viewer")


def workload_identity_member(project: str, namespace: str, service_account: str) -> str:
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{service_account}]"


@dataclass(frozen=True, kw_only=True)
class TeamIdentitiesArgs:
    team: str
    project: str
    namespace: str
    admins: Sequence[str]
    data_scientist_members: Sequence[str]
    # The Kubernetes layer's extra team namespaces get the same Dask service accounts, so the same bindings.
    extra_namespaces: Sequence[str] = ()


class TeamIdentities(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamIdentitiesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:gcp:TeamIdentities", name, None, opts)
        self._name, self._project = name, args.project
        self.node = self._account("nodes", f"GKE nodes of team {args.team}", args.team)
        self.dask_scheduler = self._account(naming.DASK_SCHEDULER_SERVICE_ACCOUNT, "Dask schedulers", args.team)
        self.dask_worker = self._account(naming.DASK_WORKER_SERVICE_ACCOUNT, "Dask workers", args.team)
        self.image_builder = self._account("image-builder", "Cloud Build image builds", args.team)

        for ksa, gsa in (
            (naming.DASK_SCHEDULER_SERVICE_ACCOUNT, self.dask_scheduler),
            (naming.DASK_WORKER_SERVICE_ACCOUNT, self.dask_worker),
        ):
            for namespace in (args.namespace, *args.extra_namespaces):
                suffix = "" if namespace == args.namespace else f"-{namespace}"
                gcp.serviceaccount.IAMMember(
                    f"{name}-{ksa}-workload-identity{suffix}",
                    service_account_id=gsa.name,
                    role="roles/iam.workloadIdentityUser",
                    member=workload_identity_member(args.project, namespace, ksa),
                    opts=pulumi.ResourceOptions(parent=self),
                )
        self._project_roles("nodes", NODE_ROLES, [self.node.member])
        self._project_roles("image-builder", BUILDER_ROLES, [self.image_builder.member])
        self._project_roles("admins", ADMIN_ROLES, list(args.admins))
        self._project_roles("data-scientists", DATA_SCIENTIST_ROLES, list(args.data_scientist_members))
        self.register_outputs(
            {
                "node": self.node.email,
                "daskScheduler": self.dask_scheduler.email,
                "daskWorker": self.dask_worker.email,
                "imageBuilder": self.image_builder.email,
            }
        )

    def _account(self, purpose: str, what: str, team: str) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(
            f"{self._name}-{purpose}",
            project=self._project,
            account_id=naming.gcp_service_account_id(team, purpose),
            display_name=f"{team} {purpose}",
            description=f"teamstack: {what} of team {team}",
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _project_roles(self, who: str, roles: Sequence[str], members: Sequence[pulumi.Input[str]]) -> None:
        """One additive binding per role and member, named by the member (`naming.keyed_names`): removing a member
        deletes its bindings only, never renames (so replaces) the others'."""
        for role in roles:
            base = f"{self._name}-{who}-{role.removeprefix('roles/').replace('.', '-')}"
            for (binding, alias), member in zip(naming.keyed_names(base, members), members, strict=True):
                gcp.projects.IAMMember(
                    binding,
                    project=self._project,
                    role=role,
                    member=member,
                    opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=alias)] if alias else None),
                )
