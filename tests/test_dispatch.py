"""The plan's mock dispatcher: each registration and invoke reaches its own provider's mocks, and a provider
without mocks stops the plan instead of getting an empty answer."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from teamstack.plan.dispatch import PlanMocks, UnmockedPackage, package_of


@pytest.mark.parametrize(
    ("token", "package"),
    [
        ("aws:s3/bucket:Bucket", "aws"),
        ("pulumi:providers:aws", "aws"),
        ("gcp:container/cluster:Cluster", "gcp"),
        ("kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes"),
        ("pulumi:providers:kubernetes", "kubernetes"),
        ("aws:index/getCallerIdentity:getCallerIdentity", "aws"),
    ],
)
def test_package_of_a_token(token: str, package: str) -> None:
    assert package_of(token) == package


class Recording(pulumi.runtime.Mocks):
    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.seen.append(args.typ)
        return f"{self.name}-id", {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        self.seen.append(args.token)
        return {"from": self.name}


def _resource(typ: str, custom: bool = True) -> pulumi.runtime.MockResourceArgs:
    return pulumi.runtime.MockResourceArgs(typ=typ, name="r", inputs={"k": "v"}, provider=None, resource_id="",
                                           custom=custom)  # fmt: skip


def _call(token: str) -> Any:
    return pulumi.runtime.MockCallArgs(token=token, args={}, provider="")


def test_each_package_reaches_its_own_mocks() -> None:
    aws, k8s = Recording("aws"), Recording("kubernetes")
    mocks = PlanMocks({"aws": aws, "kubernetes": k8s})
    assert mocks.new_resource(_resource("aws:ec2/vpc:Vpc"))[0] == "aws-id"
    assert mocks.new_resource(_resource("pulumi:providers:kubernetes"))[0] == "kubernetes-id"
    assert mocks.call(_call("aws:index/getPartition:getPartition")) == {"from": "aws"}
    assert aws.seen == ["aws:ec2/vpc:Vpc", "aws:index/getPartition:getPartition"]
    assert k8s.seen == ["pulumi:providers:kubernetes"]


def test_components_need_no_provider_mocks() -> None:
    mocks = PlanMocks({})
    assert mocks.new_resource(_resource("teamstack:aws:TeamStack", custom=False)) == ("", {"k": "v"})


def test_a_provider_without_mocks_stops_the_plan() -> None:
    mocks = PlanMocks({"aws": Recording("aws")})
    with pytest.raises(UnmockedPackage, match=r"random:index/randomId:RandomId.*mocked: aws"):
        mocks.new_resource(_resource("random:index/randomId:RandomId"))
    with pytest.raises(UnmockedPackage, match=r"gcp:compute/getZones:getZones"):
        mocks.call(_call("gcp:compute/getZones:getZones"))
