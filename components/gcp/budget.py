"""A monthly Cloud Billing budget on the team's project and `team` label, alerting the configured addresses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from teamstack import naming


@dataclass(frozen=True, kw_only=True)
class TeamBudgetArgs:
    team: str
    project: str
    project_number: str
    billing_account: str
    monthly_limit_usd: float
    alert_emails: Sequence[str]
    actual_alert_percent: int
    labels: Mapping[str, str]


class TeamBudget(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("teamstack:gcp:TeamBudget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Named by the address (`naming.keyed_names`): removing one never replaces the other channels.
        self.channels = [
            gcp.monitoring.NotificationChannel(
                channel,
                project=args.project,
                type="email",
                display_name=f"{args.team} budget: {email}",
                labels={"email_address": email},
                user_labels=dict(args.labels),
                opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name=alias)] if alias else None),
            )
            for (channel, alias), email in zip(
                naming.keyed_names(f"{name}-email", args.alert_emails), args.alert_emails, strict=True
            )
        ]
        units, cents = divmod(round(args.monthly_limit_usd * 100), 100)
        self.budget = gcp.billing.Budget(
            f"{name}-budget",
            billing_account=args.billing_account,
            display_name=f"teamstack {args.team}",
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[f"projects/{args.project_number}"],
                # Only the team's own resources when several teams share a project.
                labels={"team": args.labels["team"]},
                calendar_period="MONTH",
            ),
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code="USD", units=str(units), nanos=cents * 10_000_000
                )
            ),
            threshold_rules=[
                gcp.billing.BudgetThresholdRuleArgs(
                    threshold_percent=args.actual_alert_percent / 100, spend_basis="CURRENT_SPEND"
                ),
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=1.0, spend_basis="FORECASTED_SPEND"),
            ],
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=[c.name for c in self.channels],
                disable_default_iam_recipients=False,
            ),
            opts=child,
        )
        self.register_outputs({"budget": self.budget.name})
