"""The team's Cloud KMS key: one key ring and one crypto key, used by GKE (secrets), GCS, Artifact Registry and
the node boot disks through their service agents, which alone get encrypt/decrypt on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

# Yearly would match AWS's automatic rotation; 90 days is what CIS GCP asks of CMEK keys.
ROTATION_PERIOD = f"{90 * 24 * 3600}s"
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


# Service agents Google creates only on first use; the stack asks for them (gcp.projects.ServiceIdentity) so the
# key grants below never name an account that does not exist yet. GCS's own is fetched by the program
# (gcp.storage.get_project_service_account); GKE's and Compute's exist once their APIs are enabled.
CREATED_AGENTS = {"artifactregistry": "artifactregistry.googleapis.com"}


def service_agents(project_number: str) -> dict[str, str]:
    """The Google-managed service agents that use the team key, by the service they act for."""
    return {
        "gke": f"service-{project_number}@container-engine-robot.iam.gserviceaccount.com",
        "gcs": f"service-{project_number}@gs-project-accounts.iam.gserviceaccount.com",
        "artifactregistry": f"service-{project_number}@gcp-sa-artifactregistry.iam.gserviceaccount.com",
        "compute": f"service-{project_number}@compute-system.iam.gserviceaccount.com",
    }


@dataclass(frozen=True, kw_only=True)
class TeamKeyArgs:
    project: str
    region: str
    project_number: str
    labels: Mapping[str, str]


class TeamKey(pulumi.ComponentResource):
    """Key ring + crypto key, protected and retained: data encrypted with it must stay readable."""

    def __init__(self, name: str, args: TeamKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:gcp:TeamKey", name, None, opts)
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        # Key rings cannot be deleted in GCP; an auto-name lets a re-created stack make a new one.
        self.key_ring = gcp.kms.KeyRing(f"{name}-ring", location=args.region, project=args.project, opts=keep)
        self.key = gcp.kms.CryptoKey(
            f"{name}-key",
            key_ring=self.key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=ROTATION_PERIOD,
            labels=dict(args.labels),
            opts=keep,
        )
        identities = {
            service: gcp.projects.ServiceIdentity(
                f"{name}-{service}-agent", project=args.project, service=api, opts=pulumi.ResourceOptions(parent=self)
            )
            for service, api in CREATED_AGENTS.items()
        }
        self.agent_grants: list[gcp.kms.CryptoKeyIAMMember] = [
            gcp.kms.CryptoKeyIAMMember(
                f"{name}-{service}",
                crypto_key_id=self.key.id,
                role=ENCRYPTER_DECRYPTER,
                member=f"serviceAccount:{email}",
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[identities[service]] if service in identities else []
                ),
            )
            for service, email in service_agents(args.project_number).items()
        ]
        self.id = self.key.id
        self.register_outputs({"keyId": self.key.id, "keyRing": self.key_ring.id})

    def after_grants(self) -> Sequence[pulumi.Resource]:
        """What a resource encrypted with the key must wait for: the service agents' access to it."""
        return list(self.agent_grants)
