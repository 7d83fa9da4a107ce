"""The offline plan: runs the team stack program under Pulumi mocks, without the Pulumi CLI or a cloud account."""
