"""teamstack: an isolated cloud stack per data-science team, ready for Dask clusters."""

__version__ = "0.1.0"
