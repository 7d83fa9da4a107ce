"""The data-scientist client: `teamstack.connect(team)` -> clusters, environments and the catalog.

Cloud and Dask libraries are imported only when a feature needs them (extras `teamstack[aws,dask]`).
"""

from teamstack.client.connect import Team, connect
from teamstack.client.errors import (
    BuildError,
    CatalogError,
    ClusterError,
    ManifestError,
    SpecError,
    TeamstackError,
)

__all__ = [
    "BuildError",
    "CatalogError",
    "ClusterError",
    "ManifestError",
    "SpecError",
    "Team",
    "TeamstackError",
    "connect",
]
