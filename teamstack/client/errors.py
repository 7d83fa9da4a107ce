"""Errors of the data-scientist client: each message is one line that says what is wrong and what to do."""

from __future__ import annotations


class TeamstackError(Exception):
    """Base of every error the client raises on purpose; the CLI prints its message and exits 2."""


class ManifestError(TeamstackError):
    """The team manifest is missing, unreadable or of an unsupported schema version."""


class SpecError(TeamstackError):
    """An environment spec that cannot be read or is not supported."""


class BuildError(TeamstackError):
    """An image build failed or did not finish in time."""


class CatalogError(TeamstackError):
    """A catalog request that cannot be honoured (bad name, unknown dataset, read-only, conflict)."""


class ClusterError(TeamstackError):
    """A cluster request the team stack cannot serve (no Kubernetes layer, no such node group, ...)."""
