"""Offline stand-ins for the Google Cloud provider, so a GCP team stack runs under `pulumi.runtime.set_mocks`.

`GcpMocks` answers every resource registration with the state the real provider (pulumi-gcp 9/10) returns: the
inputs (camelCase, as the engine hands them over) plus the computed outputs, shaped like the real ones: ids in
the provider's import formats (`projects/<project>/global/networks/<name>`, `b/<bucket>/<role>/<member>`, ...),
Compute self links `https://www.googleapis.com/compute/v1/projects/<project>/...`, service account emails
`<id>@<project>.iam.gserviceaccount.com`, Pulumi's autonaming (`<logical name>-<7 hex>`), a GKE endpoint and
cluster CA, Artifact Registry and Cloud Build ids. Nothing is random: every value derives from the sha256 of
the resource's type token and logical name (as in `mocks.py`), so the same program gives the same plan.

Per-type behaviour lives in `RULES`; a gcp type missing from it gets a generic `projects/<project>/<name>` id.
Invokes are mocked in `INVOKES`; any other invoke raises `UnmockedInvoke`.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from teamstack import gcp_machines
from teamstack.plan.mocks import MOCK_TIMESTAMP, UnmockedInvoke, _digest, _digits, _hex, _plain, _uuid

COMPUTE = "https://www.googleapis.com/compute/v1"
AUTONAME_RANDOM_CHARS = 7
# The GKE version the mocked control plane reports when the program asks for none.
MOCK_GKE_PATCH = "gke.1000000"

State = dict[str, Any]


def project_number(project: str) -> str:
    """A 12-digit project number, stable per project id (real numbers are assigned by Google)."""
    return "1" + _digits(("gcp-project-number", project), 11)


@dataclass
class _Ctx:
    mocks: GcpMocks
    typ: str
    name: str
    state: State
    project: str
    region: str
    id: str = ""

    def hex(self, length: int = 16, salt: str = "id") -> str:
        return _hex((self.typ, self.name, salt), length)

    def digits(self, length: int, salt: str = "digits") -> str:
        return _digits((self.typ, self.name, salt), length)

    def uuid(self, salt: str = "uuid") -> str:
        return _uuid((self.typ, self.name, salt))

    def s(self, key: str, default: str = "") -> str:
        value = _plain(self.state.get(key))
        return value if isinstance(value, str) and value else default

    def get(self, key: str, default: Any = None) -> Any:
        value = _plain(self.state.get(key))
        return default if value is None else value

    def location(self) -> str:
        return self.s("location", self.region)

    def lookup(self, typ: str, resource_id: str) -> State:
        return self.mocks.created.get(typ, {}).get(resource_id, {})


IdFn = Callable[[_Ctx], str]
ExtraFn = Callable[[_Ctx], State]


@dataclass(frozen=True)
class ResourceRule:
    """How the real provider answers for one resource type: its id, the property Pulumi autonames (with the
    longest name the service accepts), defaults it fills in, and the other computed outputs."""

    id: IdFn
    autoname: str | None = "name"
    autoname_maxlen: int = 63
    defaults: Mapping[str, Any] = field(default_factory=dict)
    outputs: ExtraFn | None = None
    # Where the provider reports the effective labels (`labels`, `resourceLabels`, `userLabels`), if any.
    labels_key: str | None = None


def _self_link(c: _Ctx) -> State:
    return {"selfLink": f"{COMPUTE}/{c.id}"}


def _global(kind: str) -> IdFn:
    return lambda c: f"projects/{c.project}/global/{kind}/{c.s('name')}"


def _regional(kind: str) -> IdFn:
    return lambda c: f"projects/{c.project}/regions/{c.s('region', c.region)}/{kind}/{c.s('name')}"


def _member_id(parent_key: str, prefix: str = "") -> IdFn:
    """IAM member resources: `<parent>/<role>/<member>`, as the provider's import format."""
    return lambda c: f"{prefix}{c.s(parent_key)}/{c.s('role')}/{c.s('member')}"


def _iam_outputs(c: _Ctx) -> State:
    return {"etag": "BwY" + c.hex(9, "etag")}


# --- Compute ----------------------------------------------------------------------------------------------


def _network_outputs(c: _Ctx) -> State:
    return {**_self_link(c), "numericId": c.digits(19), "gatewayIpv4": ""}


def _subnetwork_outputs(c: _Ctx) -> State:
    cidr = ipaddress.IPv4Network(c.s("ipCidrRange", "10.0.0.0/20"))
    return {
        **_self_link(c),
        "region": c.s("region", c.region),
        "gatewayAddress": str(cidr.network_address + 1),
        "creationTimestamp": MOCK_TIMESTAMP,
        "fingerprint": c.hex(16, "fingerprint"),
        "subnetworkId": int(c.digits(15)),
    }


def _router_outputs(c: _Ctx) -> State:
    return {**_self_link(c), "region": c.s("region", c.region), "creationTimestamp": MOCK_TIMESTAMP}


def _firewall_outputs(c: _Ctx) -> State:
    return {**_self_link(c), "creationTimestamp": MOCK_TIMESTAMP, "direction": c.s("direction", "INGRESS")}


# --- KMS, IAM, service accounts ---------------------------------------------------------------------------


def _crypto_key_id(c: _Ctx) -> str:
    return f"{c.s('keyRing')}/cryptoKeys/{c.s('name')}"


def _service_account_outputs(c: _Ctx) -> State:
    email = f"{c.s('accountId')}@{c.project}.iam.gserviceaccount.com"
    return {"email": email, "name": c.id, "member": f"serviceAccount:{email}", "uniqueId": "1" + c.digits(20)}


# --- Storage, Pub/Sub --------------------------------------------------------------------------------------


def _bucket_outputs(c: _Ctx) -> State:
    name = c.s("name")
    return {
        "url": f"gs://{name}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
        "location": c.s("location", c.region).upper(),
        "storageClass": c.s("storageClass", "STANDARD"),
        "projectNumber": int(project_number(c.project)),
    }


def _bucket_object_outputs(c: _Ctx) -> State:
    bucket, name = c.s("bucket"), c.s("name")
    return {
        "outputName": name,
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}",
        "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}",
        "md5hash": c.hex(24, "md5"),
        "crc32c": c.hex(8, "crc32c"),
        "generation": int(c.digits(16)),
        "storageClass": "STANDARD",
    }


def _notification_id(c: _Ctx) -> str:
    return f"{c.s('bucket')}/notificationConfigs/{c.digits(2, 'notification')}"


def _notification_outputs(c: _Ctx) -> State:
    number = c.id.rsplit("/", 1)[-1]
    return {
        "notificationId": number,
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{c.s('bucket')}/notificationConfigs/{number}",
    }


# --- Artifact Registry, GKE, Cloud Build, billing, monitoring -----------------------------------------------


def _repository_id(c: _Ctx) -> str:
    return f"projects/{c.project}/locations/{c.location()}/repositories/{c.s('repositoryId')}"


def _repository_outputs(c: _Ctx) -> State:
    return {"name": c.s("repositoryId"), "createTime": MOCK_TIMESTAMP, "updateTime": MOCK_TIMESTAMP}


def _repository_member_id(c: _Ctx) -> str:
    repository = c.s("repository")
    if not repository.startswith("projects/"):
        repository = f"projects/{c.project}/locations/{c.location()}/repositories/{repository}"
    return f"{repository}/{c.s('role')}/{c.s('member')}"


def _cluster_id(c: _Ctx) -> str:
    return f"projects/{c.project}/locations/{c.location()}/clusters/{c.s('name')}"


def _endpoint(c: _Ctx) -> str:
    """A public endpoint address in 203.0.113.0/24 (TEST-NET-3), as the AWS mocks' public IPs."""
    return f"203.0.113.{1 + int(c.hex(2, 'endpoint'), 16) % 254}"


def _certificate_data(c: _Ctx) -> str:
    """The cluster CA as GKE reports it: a base64-encoded PEM certificate."""
    body = base64.b64encode(_digest(c.typ, c.name, "ca") * 8).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def _cluster_outputs(c: _Ctx) -> State:
    version = c.s("minMasterVersion", "1.33")
    private = dict(c.get("privateClusterConfig", {}))
    private.setdefault("enablePrivateEndpoint", False)
    private["privateEndpoint"] = "10.255.0.2"
    private["publicEndpoint"] = _endpoint(c)
    location = c.location()
    return {
        "endpoint": private["privateEndpoint"] if private["enablePrivateEndpoint"] else private["publicEndpoint"],
        "masterAuth": {
            "clusterCaCertificate": _certificate_data(c),
            "clientCertificateConfig": {"issueClientCertificate": False},
        },
        "masterVersion": f"{version}.5-{MOCK_GKE_PATCH}",
        "selfLink": f"https://container.googleapis.com/v1/projects/{c.project}/locations/{location}/clusters/{c.s('name')}",
        "privateClusterConfig": private,
        "servicesIpv4Cidr": _plain((c.get("ipAllocationPolicy") or {}).get("servicesIpv4CidrBlock")) or "",
        "labelFingerprint": c.hex(16, "label-fingerprint"),
        "operation": None,
        "tpuIpv4CidrBlock": "",
    }


def _node_pool_id(c: _Ctx) -> str:
    return f"{c.project}/{c.location()}/{c.s('cluster')}/{c.s('name')}"


def _node_pool_outputs(c: _Ctx) -> State:
    zones = [z for z in (_plain(z) for z in c.get("nodeLocations", [])) if isinstance(z, str)]
    zones = zones or list(gcp_machines.region_zones(c.location())[:3]) or [c.location()]
    groups = [
        f"{COMPUTE}/projects/{c.project}/zones/{zone}/instanceGroupManagers/gke-{c.s('cluster')}-{c.s('name')}-"
        f"{c.hex(8, zone)}-grp"
        for zone in zones
    ]
    cluster = c.lookup(
        "gcp:container/cluster:Cluster", f"projects/{c.project}/locations/{c.location()}/clusters/{c.s('cluster')}"
    )
    version = _plain(cluster.get("masterVersion")) or f"1.33.5-{MOCK_GKE_PATCH}"
    return {"instanceGroupUrls": groups, "managedInstanceGroupUrls": groups, "version": version}


def _trigger_outputs(c: _Ctx) -> State:
    return {"triggerId": c.uuid("trigger"), "createTime": MOCK_TIMESTAMP}


def _budget_id(c: _Ctx) -> str:
    return f"billingAccounts/{c.s('billingAccount')}/budgets/{c.uuid('budget')}"


def _channel_id(c: _Ctx) -> str:
    return f"projects/{c.project}/notificationChannels/{c.digits(19)}"


# Service agents' domains, by API (gcp.projects.ServiceIdentity).
_AGENT_DOMAINS = {
    "artifactregistry.googleapis.com": "gcp-sa-artifactregistry",
    "container.googleapis.com": "container-engine-robot",
    "pubsub.googleapis.com": "gcp-sa-pubsub",
    "cloudbuild.googleapis.com": "gcp-sa-cloudbuild",
    "storage.googleapis.com": "gs-project-accounts",
}


def _service_identity_outputs(c: _Ctx) -> State:
    service = c.s("service")
    domain = _AGENT_DOMAINS.get(service, "gcp-sa-" + service.split(".", 1)[0])
    email = f"service-{project_number(c.project)}@{domain}.iam.gserviceaccount.com"
    return {"email": email, "member": f"serviceAccount:{email}"}


RULES: Mapping[str, ResourceRule] = {
    "gcp:compute/network:Network": ResourceRule(id=_global("networks"), outputs=_network_outputs),
    "gcp:compute/subnetwork:Subnetwork": ResourceRule(id=_regional("subnetworks"), outputs=_subnetwork_outputs),
    "gcp:compute/router:Router": ResourceRule(id=_regional("routers"), outputs=_router_outputs),
    "gcp:compute/routerNat:RouterNat": ResourceRule(
        id=lambda c: f"{c.project}/{c.s('region', c.region)}/{c.s('router')}/{c.s('name')}",
        outputs=lambda c: {"region": c.s("region", c.region)},
    ),
    "gcp:compute/firewall:Firewall": ResourceRule(id=_global("firewalls"), outputs=_firewall_outputs),
    "gcp:kms/keyRing:KeyRing": ResourceRule(
        id=lambda c: f"projects/{c.project}/locations/{c.location()}/keyRings/{c.s('name')}"
    ),
    "gcp:kms/cryptoKey:CryptoKey": ResourceRule(
        id=_crypto_key_id,
        defaults={"purpose": "ENCRYPT_DECRYPT", "destroyScheduledDuration": "2592000s"},
        outputs=lambda c: {"primary": [{"name": f"{c.id}/cryptoKeyVersions/1", "state": "ENABLED"}]},
        labels_key="labels",
    ),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ResourceRule(
        id=_member_id("cryptoKeyId"), autoname=None, outputs=_iam_outputs
    ),
    "gcp:serviceaccount/account:Account": ResourceRule(
        id=lambda c: f"projects/{c.project}/serviceAccounts/{c.s('accountId')}@{c.project}.iam.gserviceaccount.com",
        autoname=None,
        outputs=_service_account_outputs,
    ),
    "gcp:serviceaccount/iAMMember:IAMMember": ResourceRule(
        id=_member_id("serviceAccountId"), autoname=None, outputs=_iam_outputs
    ),
    "gcp:projects/iAMMember:IAMMember": ResourceRule(id=_member_id("project"), autoname=None, outputs=_iam_outputs),
    "gcp:storage/bucket:Bucket": ResourceRule(
        id=lambda c: c.s("name"), outputs=_bucket_outputs, labels_key="labels"
    ),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ResourceRule(
        id=_member_id("bucket", "b/"), autoname=None, outputs=_iam_outputs
    ),
    "gcp:storage/bucketObject:BucketObject": ResourceRule(
        id=lambda c: f"{c.s('bucket')}-{c.s('name')}", autoname=None, outputs=_bucket_object_outputs
    ),
    "gcp:storage/notification:Notification": ResourceRule(
        id=_notification_id, autoname=None, outputs=_notification_outputs
    ),
    "gcp:pubsub/topic:Topic": ResourceRule(
        id=lambda c: f"projects/{c.project}/topics/{c.s('name')}", autoname_maxlen=255, labels_key="labels"
    ),
    "gcp:pubsub/topicIAMMember:TopicIAMMember": ResourceRule(
        id=_member_id("topic"), autoname=None, outputs=_iam_outputs
    ),
    "gcp:artifactregistry/repository:Repository": ResourceRule(
        id=_repository_id, autoname="repositoryId", outputs=_repository_outputs, labels_key="labels"
    ),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": ResourceRule(
        id=_repository_member_id, autoname=None, outputs=_iam_outputs
    ),
    "gcp:container/cluster:Cluster": ResourceRule(
        id=_cluster_id, autoname_maxlen=40, outputs=_cluster_outputs, labels_key="resourceLabels"
    ),
    "gcp:container/nodePool:NodePool": ResourceRule(id=_node_pool_id, autoname_maxlen=40, outputs=_node_pool_outputs),
    "gcp:cloudbuild/trigger:Trigger": ResourceRule(
        id=lambda c: f"projects/{c.project}/locations/{c.s('location', 'global')}/triggers/{c.uuid('trigger')}",
        autoname_maxlen=64,
        outputs=_trigger_outputs,
    ),
    "gcp:projects/serviceIdentity:ServiceIdentity": ResourceRule(
        id=lambda c: f"projects/{c.project}/services/{c.s('service')}",
        autoname=None,
        outputs=_service_identity_outputs,
    ),
    "gcp:billing/budget:Budget": ResourceRule(
        id=_budget_id, autoname=None, outputs=lambda c: {"name": c.id}
    ),
    "gcp:monitoring/notificationChannel:NotificationChannel": ResourceRule(
        id=_channel_id, autoname=None, outputs=lambda c: {"name": c.id, "verificationStatus": "VERIFIED"},
        labels_key="userLabels",
    ),
}  # fmt: skip

PROVIDER_TYPE = "pulumi:providers:gcp"


def _generic_rule(typ: str) -> ResourceRule:
    return ResourceRule(id=lambda c: f"projects/{c.project}/{c.s('name') or c.name}")


# --- Invokes ------------------------------------------------------------------------------------------------

InvokeFn = Callable[["GcpMocks", dict[str, Any]], State]


def _get_project(m: GcpMocks, args: dict[str, Any]) -> State:
    project = _plain(args.get("projectId")) or m.project
    return {
        "id": f"projects/{project}",
        "projectId": project,
        "number": project_number(project),
        "name": project,
        "orgId": "",
        "folderId": "",
        "billingAccount": "",
        "labels": {},
        "effectiveLabels": {},
        "pulumiLabels": {},
        "autoCreateNetwork": False,
        "deletionPolicy": "PREVENT",
        "tags": {},
    }


def _get_project_service_account(m: GcpMocks, args: dict[str, Any]) -> State:
    project = _plain(args.get("project")) or m.project
    email = f"service-{project_number(project)}@gs-project-accounts.iam.gserviceaccount.com"
    return {"id": email, "emailAddress": email, "member": f"serviceAccount:{email}", "project": project}


def _get_zones(m: GcpMocks, args: dict[str, Any]) -> State:
    region = _plain(args.get("region")) or m.region
    status = _plain(args.get("status"))
    names = list(gcp_machines.region_zones(region)) if status in (None, "UP") else []
    return {"id": f"projects/{m.project}/regions/{region}", "names": names, "project": m.project, "region": region,
            "status": status}  # fmt: skip


INVOKES: Mapping[str, InvokeFn] = {
    "gcp:organizations/getProject:getProject": _get_project,
    "gcp:compute/getZones:getZones": _get_zones,
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": _get_project_service_account,
}


class UnmockedGcpInvoke(UnmockedInvoke):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.args = (f"the offline plan has no mock for invoke {token}; add one in teamstack/plan/gcp_mocks.py",)


class GcpMocks(pulumi.runtime.Mocks):
    """Pulumi mocks that answer like the Google Cloud provider, deterministically, in one project and region."""

    def __init__(self, project: str, region: str) -> None:
        self.project = project
        self.region = region
        self.created: dict[str, dict[str, State]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs: State = dict(args.inputs)
        if args.typ == PROVIDER_TYPE:
            return _uuid((args.typ, args.name, "provider")), inputs
        if args.custom is False:
            return "", inputs
        rule = RULES.get(args.typ) or _generic_rule(args.typ)
        project = _plain(inputs.get("project")) or self.project
        ctx = _Ctx(self, args.typ, args.name, inputs, project=project, region=self.region)
        if rule.autoname and rule.autoname not in inputs:
            base = args.name + "-"
            if len(base) + AUTONAME_RANDOM_CHARS > rule.autoname_maxlen:
                raise ValueError(
                    f"{args.typ} '{args.name}': name '{base}' plus {AUTONAME_RANDOM_CHARS} random chars is longer "
                    f"than maximum length {rule.autoname_maxlen}"
                )
            inputs[rule.autoname] = base + ctx.hex(AUTONAME_RANDOM_CHARS, "autoname")
        for key, value in rule.defaults.items():
            inputs.setdefault(key, copy.deepcopy(value))
        ctx.id = args.resource_id or rule.id(ctx)
        if rule.outputs is not None:
            inputs.update(rule.outputs(ctx))
        inputs.setdefault("project", project)
        if rule.labels_key is not None:
            # The provider reports the labels it manages plus those set outside Pulumi (none, offline).
            labels = _plain(inputs.get(rule.labels_key)) or {}
            inputs["effectiveLabels"] = dict(labels)
            inputs["pulumiLabels"] = dict(labels)
        self.created.setdefault(args.typ, {})[ctx.id] = inputs
        return ctx.id, inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        handler = INVOKES.get(args.token)
        if handler is None:
            raise UnmockedGcpInvoke(args.token)
        return handler(self, dict(args.args))
