"""The offline GCP mocks: ids in the provider's formats, self links, service-account emails, the GKE endpoint
and CA, autonaming, invokes, determinism. Real pulumi-gcp resources run under `pulumi.runtime.set_mocks`; each
`@pulumi.runtime.test` function returns its Output so a failed check inside `apply` fails the test."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pytest

from teamstack.plan.gcp_mocks import COMPUTE, GcpMocks, project_number
from teamstack.plan.mocks import UnmockedInvoke

PROJECT = "ml-geo-prod-example"
REGION = "europe-west4"
HEX7 = "[0-9a-f]{7}"


@pytest.fixture(autouse=True)
def mocks() -> Iterator[GcpMocks]:
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    instance = GcpMocks(PROJECT, REGION)
    pulumi.runtime.set_mocks(instance, preview=False, project="teamstack", stack="test")
    yield instance


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def matches(pattern: str, value: Any) -> None:
    check(isinstance(value, str) and re.fullmatch(pattern, value) is not None, f"{value!r} !~ {pattern}")


@pulumi.runtime.test
def test_network_and_subnetwork_ids_and_self_links() -> pulumi.Output[Any]:
    network = gcp.compute.Network("team-vpc", auto_create_subnetworks=False)
    subnet = gcp.compute.Subnetwork("team-nodes", network=network.id, ip_cidr_range="10.60.0.0/20", region=REGION)

    def verify(values: list[Any]) -> None:
        network_id, network_link, subnet_id, subnet_link, gateway = values
        matches(rf"projects/{PROJECT}/global/networks/team-vpc-{HEX7}", network_id)
        check(network_link == f"{COMPUTE}/{network_id}", network_link)
        matches(rf"projects/{PROJECT}/regions/{REGION}/subnetworks/team-nodes-{HEX7}", subnet_id)
        check(subnet_link == f"{COMPUTE}/{subnet_id}", subnet_link)
        check(gateway == "10.60.0.1", gateway)

    return pulumi.Output.all(network.id, network.self_link, subnet.id, subnet.self_link, subnet.gateway_address).apply(
        verify
    )


@pulumi.runtime.test
def test_service_account_email_member_and_name() -> pulumi.Output[Any]:
    account = gcp.serviceaccount.Account("nodes", account_id="ml-geo-nodes")
    email = f"ml-geo-nodes@{PROJECT}.iam.gserviceaccount.com"

    def verify(values: list[Any]) -> None:
        check(values == [email, f"serviceAccount:{email}", f"projects/{PROJECT}/serviceAccounts/{email}"], str(values))

    return pulumi.Output.all(account.email, account.member, account.name).apply(verify)


@pulumi.runtime.test
def test_gke_cluster_endpoint_ca_and_node_pool() -> pulumi.Output[Any]:
    cluster = gcp.container.Cluster(
        "gke", name="ml-geo", location=REGION, initial_node_count=1, min_master_version="1.33"
    )
    pool = gcp.container.NodePool(
        "pool", name="cpu", cluster=cluster.name, location=REGION, node_locations=[f"{REGION}-a"]
    )

    def verify(values: list[Any]) -> None:
        cluster_id, endpoint, ca, pool_id, groups, version = values
        check(cluster_id == f"projects/{PROJECT}/locations/{REGION}/clusters/ml-geo", cluster_id)
        matches(r"203\.0\.113\.\d{1,3}", endpoint)
        pem = base64.b64decode(ca).decode()
        check(pem.startswith("-----BEGIN CERTIFICATE-----\n") and pem.endswith("-----END CERTIFICATE-----\n"), pem)
        check(pool_id == f"{PROJECT}/{REGION}/ml-geo/cpu", pool_id)
        check(len(groups) == 1 and groups[0].startswith(f"{COMPUTE}/projects/{PROJECT}/zones/{REGION}-a/"), str(groups))
        check(version.startswith("1.33."), version)

    return pulumi.Output.all(
        cluster.id,
        cluster.endpoint,
        cluster.master_auth.cluster_ca_certificate,
        pool.id,
        pool.instance_group_urls,
        pool.version,
    ).apply(verify)


@pulumi.runtime.test
def test_bucket_repository_and_iam_member_ids() -> pulumi.Output[Any]:
    bucket = gcp.storage.Bucket("catalog", name="ml-geo-raw-x", location=REGION, labels={"team": "ml-geo"})
    member = gcp.storage.BucketIAMMember("reader", bucket=bucket.name, role="roles/storage.objectViewer",
                                         member="group:a@example.com")  # fmt: skip
    repository = gcp.artifactregistry.Repository("repo", repository_id="ml-geo-dask", location=REGION, format="DOCKER")

    def verify(values: list[Any]) -> None:
        bucket_id, url, effective, member_id, repo_id = values
        check(bucket_id == "ml-geo-raw-x" and url == "gs://ml-geo-raw-x", f"{bucket_id} {url}")
        check(effective == {"team": "ml-geo"}, str(effective))
        check(member_id == "b/ml-geo-raw-x/roles/storage.objectViewer/group:a@example.com", member_id)
        check(repo_id == f"projects/{PROJECT}/locations/{REGION}/repositories/ml-geo-dask", repo_id)

    return pulumi.Output.all(bucket.id, bucket.url, bucket.effective_labels, member.id, repository.id).apply(verify)


@pulumi.runtime.test
def test_service_identity_is_the_agent_of_its_api() -> pulumi.Output[Any]:
    agent = gcp.projects.ServiceIdentity("ar-agent", service="artifactregistry.googleapis.com")
    expected = f"service-{project_number(PROJECT)}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    return agent.email.apply(lambda email: check(email == expected, email))


@pulumi.runtime.test
def test_kms_key_is_under_its_ring() -> pulumi.Output[Any]:
    ring = gcp.kms.KeyRing("ring", location=REGION)
    key = gcp.kms.CryptoKey("key", key_ring=ring.id)
    return pulumi.Output.all(ring.id, key.id).apply(
        lambda ids: matches(rf"{re.escape(ids[0])}/cryptoKeys/key-{HEX7}", ids[1])
    )


def test_invokes_answer_for_the_project_and_region() -> None:
    @pulumi.runtime.test
    def program() -> None:
        project = gcp.organizations.get_project(project_id=PROJECT)
        check(project.number == project_number(PROJECT) and len(project.number) == 12, project.number)
        check(project.project_id == PROJECT, str(project.project_id))
        zones = gcp.compute.get_zones(region=REGION, status="UP")
        check(zones.names == [f"{REGION}-a", f"{REGION}-b", f"{REGION}-c"], str(zones.names))
        gcs = gcp.storage.get_project_service_account(project=PROJECT)
        expected = f"service-{project_number(PROJECT)}@gs-project-accounts.iam.gserviceaccount.com"
        check(gcs.email_address == expected and gcs.member == f"serviceAccount:{expected}", gcs.email_address)

    program()


def test_unmocked_invoke_raises_through_the_program() -> None:
    @pulumi.runtime.test
    def program() -> None:
        gcp.compute.get_network(name="default")

    with pytest.raises(UnmockedInvoke, match=r"gcp:compute/getNetwork:getNetwork.*teamstack/plan/gcp_mocks\.py"):
        program()


def test_answers_are_deterministic() -> None:
    def create(mocks: GcpMocks) -> tuple[str | None, dict[str, Any]]:
        args = pulumi.runtime.MockResourceArgs(typ="gcp:pubsub/topic:Topic", name="specs", inputs={}, custom=True)
        return mocks.new_resource(args)

    first, second = create(GcpMocks(PROJECT, REGION)), create(GcpMocks(PROJECT, REGION))
    assert first == second
    assert re.fullmatch(rf"projects/{PROJECT}/topics/specs-{HEX7}", str(first[0]))
    assert project_number(PROJECT) != project_number("another-project")
