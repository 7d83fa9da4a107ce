"""The team's monthly AWS Budget, filtered by the team's cost-allocation tag."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def cost_filter_value(team: str) -> str:
    # Budgets address user-defined cost-allocation tags as "user:<key>$<value>"; the `team` tag must be
    # activated as a cost-allocation tag in the payer account for the filter to match any cost.
    return f"user:team${team}"


@dataclass(frozen=True, kw_only=True)
class TeamBudgetArgs:
    team: str
    monthly_limit_usd: float
    alert_emails: Sequence[str]
    actual_alert_percent: int
    tags: Mapping[str, str]


class TeamBudget(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:aws:TeamBudget", name, None, opts)

        def alert(kind: str, percent: int) -> aws.budgets.BudgetNotificationArgs:
            return aws.budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN",
                notification_type=kind,
                threshold=percent,
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=list(args.alert_emails),
            )

        self.budget = aws.budgets.Budget(
            f"{name}-budget",
            name=f"teamstack-{args.team}-monthly",
            budget_type="COST",
            limit_amount=f"{args.monthly_limit_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[cost_filter_value(args.team)])],
            notifications=[alert("ACTUAL", args.actual_alert_percent), alert("FORECASTED", 100)],
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": self.budget.name})
