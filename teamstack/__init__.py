"""teamstack: an isolated cloud stack per data-science team, ready for Dask clusters."""

from typing import Any

__version__ = "0.1.0"


def connect(*args: Any, **kwargs: Any) -> Any:
    """Connect to a team stack: see `teamstack.client.connect` (imported here lazily, so `import teamstack`
    stays light and needs none of the cloud or Dask extras)."""
    from teamstack.client import connect as _connect

    return _connect(*args, **kwargs)
