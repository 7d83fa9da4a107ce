"""The subnet layout of a team network: pure arithmetic on the VPC CIDR, shared by AWS and GCP.

The VPC is cut into 2**k equal blocks, the smallest k that leaves one block spare after one block per zone.
Each zone gets one large private block for nodes and Dask pods (the VPC CNI gives every pod a VPC address,
so private space is what runs out first). The spare last block is cut into eighths; the first of them are
the small public subnets that only NAT gateways and load balancers use. The rest of the spare block stays
free for later needs (more zones, intra subnets) without renumbering anything.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MIN_VPC_PREFIX = 16  # AWS's largest VPC
MAX_VPC_PREFIX = 20  # smallest VPC that still gives each of 6 zones a /23 of private space
MAX_ZONES = 6


@dataclass(frozen=True)
class ZoneSubnets:
    zone_index: int
    private: ipaddress.IPv4Network
    public: ipaddress.IPv4Network


def _blocks_needed(zone_count: int) -> int:
    """Bits to split the VPC by: the smallest k with 2**k >= zones + 1 spare block."""
    bits = 1
    while 2**bits < zone_count + 1:
        bits += 1
    return bits


def subnet_layout(vpc_cidr: str, zone_count: int) -> list[ZoneSubnets]:
    """Private and public subnets for each zone, in zone order. Raises ValueError on an unusable input."""
    network = ipaddress.IPv4Network(vpc_cidr, strict=True)
    if not MIN_VPC_PREFIX <= network.prefixlen <= MAX_VPC_PREFIX:
        raise ValueError(f"VPC prefix must be /{MIN_VPC_PREFIX} to /{MAX_VPC_PREFIX}, got /{network.prefixlen}")
    if not 2 <= zone_count <= MAX_ZONES:
        raise ValueError(f"zone count must be 2 to {MAX_ZONES}, got {zone_count}")
    bits = _blocks_needed(zone_count)
    blocks = list(network.subnets(prefixlen_diff=bits))
    public_subnets = list(blocks[-1].subnets(prefixlen_diff=3))
    return [ZoneSubnets(i, blocks[i], public_subnets[i]) for i in range(zone_count)]
