"""CIDR text as the clouds need it: canonical `a.b.c.d/n`, host bits zero, and ranges that make sense.

Python's `ipaddress` (and some cloud APIs) accept more than a CIDR: netmask notation (10.40.0.0/255.255.0.0),
host masks, bare addresses (a /32 nobody wrote down), leading whitespace. Passed through raw, these reach
the API half-way through `pulumi up`; here they are refused with the canonical form to write instead.
"""

from __future__ import annotations

import ipaddress
import re

from teamstack.validation import shorten

_CANONICAL = re.compile(r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}\Z")

# Never a source or destination on the internet: multicast, "reserved for future use", broadcast, "this network".
_NEVER_ROUTED = tuple(
    ipaddress.IPv4Network(c) for c in ("224.0.0.0/4", "240.0.0.0/4", "0.0.0.0/8", "255.255.255.255/32")
)


def parse(text: str) -> ipaddress.IPv4Network:
    """A canonical IPv4 CIDR, or ValueError saying what to write instead."""
    try:
        network = ipaddress.IPv4Network(text, strict=False)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"'{shorten(text)}' is not an IPv4 CIDR with its host bits zero, e.g. 10.20.0.0/16 ({shorten(error)})"
        ) from None
    if "/" not in text:
        raise ValueError(f"'{shorten(text)}' is a bare address; write the range as a CIDR, e.g. {network}")
    if not _CANONICAL.match(text):
        raise ValueError(f"'{shorten(text)}' is not in CIDR notation; write it as {network}")
    if str(network) != text:
        raise ValueError(
            f"'{text}' is not an IPv4 CIDR with its host bits zero ({text} has host bits set); the range is {network}"
        )
    return network


def never_routed(network: ipaddress.IPv4Network) -> str | None:
    """Why a range can never be a real network (multicast, reserved, 'this network'), or None."""
    for other in _NEVER_ROUTED:
        if network.overlaps(other):
            return f"'{network}' overlaps {other}, which is {'multicast' if other.is_multicast else 'never routed'}"
    return None
