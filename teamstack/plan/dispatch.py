"""One set of Pulumi mocks for a program that uses several providers (AWS or GCP, plus Kubernetes).

Each provider package has its own mocks module (`mocks.py` for AWS, ...); `PlanMocks` hands every resource
registration and invoke to the mocks of the package its type token names: `aws:ec2/vpc:Vpc` and the explicit
provider `pulumi:providers:aws` go to the AWS mocks. A package with no mocks is an error, so the plan never
silently works on an empty answer.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi


class UnmockedPackage(Exception):
    """The program used a provider package that the offline plan has no mocks for."""

    def __init__(self, token: str, known: list[str]) -> None:
        super().__init__(
            f"the offline plan has no mocks for provider package of {token} (mocked: {', '.join(known)}); "
            "add them in teamstack/plan/"
        )
        self.token = token


def package_of(token: str) -> str:
    """The provider package a type or function token belongs to: aws for `aws:s3/bucket:Bucket` and
    `pulumi:providers:aws`, kubernetes for `kubernetes:core/v1:Namespace`."""
    parts = token.split(":")
    if len(parts) == 3 and parts[0] == "pulumi" and parts[1] == "providers":
        return parts[2]
    return parts[0]


class PlanMocks(pulumi.runtime.Mocks):
    """Routes each registration and invoke to the mocks of its provider package; components need none."""

    def __init__(self, by_package: Mapping[str, pulumi.runtime.Mocks]) -> None:
        self.by_package = dict(by_package)

    def _mocks_for(self, token: str) -> pulumi.runtime.Mocks:
        package = package_of(token)
        mocks = self.by_package.get(package)
        if mocks is None:
            raise UnmockedPackage(token, sorted(self.by_package))
        return mocks

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if args.custom is False:
            return "", dict(args.inputs)  # a component: the engine keeps no provider state for it
        return self._mocks_for(args.typ).new_resource(args)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        return self._mocks_for(args.token).call(args)  # type: ignore[return-value]
