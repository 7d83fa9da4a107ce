"""The Kubernetes layer of a team cluster (namespace, quota, priorities, Dask operator, identity, RBAC, network
policy), shared by the EKS and GKE stacks. Pure data in `spec.py`, resources in `layer.py`."""
