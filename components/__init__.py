"""Pulumi components of a team stack, one cloud per sub-package."""
