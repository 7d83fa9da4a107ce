"""The team's customer-managed KMS key: one key encrypts the team's secrets, logs, volumes, buckets and images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws import iam_documents as docs


@dataclass(frozen=True, kw_only=True)
class TeamKeyArgs:
    team: str
    account_id: str
    region: str
    partition: str
    tags: Mapping[str, str]


class TeamKey(pulumi.ComponentResource):
    """A rotating KMS key with a 30-day deletion window and a policy that names who may use it."""

    def __init__(self, name: str, args: TeamKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:TeamKey", name, None, opts)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"teamstack key of team {args.team}: cluster secrets, logs, volumes, buckets, images",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.json_dumps(docs.team_key_policy(args.account_id, args.region, args.partition)),
            tags=dict(args.tags),
            # Losing the key loses every object and log encrypted with it.
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        self.alias = aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/teamstack/{args.team}",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.key.arn, "alias": self.alias.name})
