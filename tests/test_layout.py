"""The pure subnet layout: every VPC size and zone count the config allows gives a sound layout."""

from __future__ import annotations

import ipaddress
import itertools
import re

import pytest

from teamstack.layout import MAX_VPC_PREFIX, MAX_ZONES, MIN_VPC_PREFIX, ZoneSubnets, subnet_layout

try:
    from hypothesis import given
    from hypothesis import strategies as st
except ImportError:  # not a declared dev dependency yet: the exhaustive grid below still covers every shape
    given = None

PREFIXES = range(MIN_VPC_PREFIX, MAX_VPC_PREFIX + 1)
ZONES = range(2, MAX_ZONES + 1)
AWS_MIN_SUBNET_PREFIX = 28  # AWS refuses subnets smaller than /28
# Addresses in each private range the config allows, plus the very top of the space; each test VPC is the
# block of the tested size that holds one, so both first and last blocks of a range are covered.
BASES = ("10.0.0.0", "10.255.240.0", "172.16.0.0", "172.31.240.0", "192.168.0.0", "100.64.0.0", "255.255.240.0")


def test_bounds_are_what_the_config_relies_on() -> None:
    # config.py takes these bounds for vpcCidr and azCount; the grid below covers them all.
    assert (MIN_VPC_PREFIX, MAX_VPC_PREFIX, MAX_ZONES) == (16, 20, 6)


def _check_layout(vpc: ipaddress.IPv4Network, zones: int, layout: list[ZoneSubnets]) -> None:
    assert [z.zone_index for z in layout] == list(range(zones))
    privates = [z.private for z in layout]
    publics = [z.public for z in layout]
    subnets = privates + publics
    for subnet in subnets:
        assert subnet.subnet_of(vpc), f"{subnet} outside {vpc}"
    for a, b in itertools.combinations(subnets, 2):
        assert not a.overlaps(b), f"{a} overlaps {b} in {vpc} with {zones} zones"
    for zone in layout:
        assert zone.public.prefixlen <= AWS_MIN_SUBNET_PREFIX, f"{zone.public} is smaller than /28"
        assert zone.private.num_addresses > zone.public.num_addresses
    # All zones get the same room, so no zone runs out of pod addresses first.
    assert len({p.prefixlen for p in privates}) == 1
    assert len({p.prefixlen for p in publics}) == 1
    # Space is left over for later needs (more zones, intra subnets) without renumbering.
    assert sum(s.num_addresses for s in subnets) < vpc.num_addresses


@pytest.mark.parametrize(("prefix", "zones"), list(itertools.product(PREFIXES, ZONES)))
def test_every_allowed_shape_gives_a_sound_layout(prefix: int, zones: int) -> None:
    for base in BASES:
        vpc = ipaddress.IPv4Network(f"{base}/{prefix}", strict=False)  # the block of that size holding base
        _check_layout(vpc, zones, subnet_layout(str(vpc), zones))


@pytest.mark.parametrize("prefix", list(PREFIXES))
def test_adding_a_zone_never_renumbers_the_existing_ones_within_a_split(prefix: int) -> None:
    # Zones 2 and 3 share one split (quarters), as do 4 to 6 (eighths): growing inside a split keeps
    # every existing subnet where it is.
    vpc = f"10.0.0.0/{prefix}"
    for smaller, larger in [(2, 3), (4, 5), (5, 6)]:
        assert subnet_layout(vpc, larger)[:smaller] == subnet_layout(vpc, smaller)


if given is not None:

    @given(
        address=st.integers(min_value=0, max_value=2**32 - 1),
        prefix=st.sampled_from(list(PREFIXES)),
        zones=st.sampled_from(list(ZONES)),
    )
    def test_any_vpc_address_gives_a_sound_layout(address: int, prefix: int, zones: int) -> None:
        vpc = ipaddress.IPv4Network((address, prefix), strict=False)
        _check_layout(vpc, zones, subnet_layout(str(vpc), zones))


def _nets(*cidrs: str) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(c) for c in cidrs]


@pytest.mark.parametrize(
    ("vpc", "zones", "privates", "publics"),
    [
        (
            "10.40.0.0/16",  # ml-vision
            3,
            _nets("10.40.0.0/18", "10.40.64.0/18", "10.40.128.0/18"),
            _nets("10.40.192.0/21", "10.40.200.0/21", "10.40.208.0/21"),
        ),
        (
            "10.41.0.0/18",  # analytics
            2,
            _nets("10.41.0.0/20", "10.41.16.0/20"),
            _nets("10.41.48.0/23", "10.41.50.0/23"),
        ),
        (
            "10.0.0.0/16",
            4,
            _nets("10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19", "10.0.96.0/19"),
            _nets("10.0.224.0/22", "10.0.228.0/22", "10.0.232.0/22", "10.0.236.0/22"),
        ),
        (
            "172.16.16.0/20",  # the smallest VPC with the most zones
            6,
            _nets(*(f"172.16.{16 + 2 * i}.0/23" for i in range(6))),
            _nets(
                "172.16.30.0/26",
                "172.16.30.64/26",
                "172.16.30.128/26",
                "172.16.30.192/26",
                "172.16.31.0/26",
                "172.16.31.64/26",
            ),
        ),
    ],
)
def test_known_layouts(
    vpc: str, zones: int, privates: list[ipaddress.IPv4Network], publics: list[ipaddress.IPv4Network]
) -> None:
    layout = subnet_layout(vpc, zones)
    assert [z.private for z in layout] == privates
    assert [z.public for z in layout] == publics


@pytest.mark.parametrize(
    ("vpc", "zones", "message"),
    [
        ("10.0.0.0/15", 3, "VPC prefix must be /16 to /20, got /15"),
        ("10.0.0.0/21", 3, "VPC prefix must be /16 to /20, got /21"),
        ("10.0.0.0/16", 1, "zone count must be 2 to 6, got 1"),
        ("10.0.0.0/16", 7, "zone count must be 2 to 6, got 7"),
        ("10.0.0.0/16", 0, "zone count must be 2 to 6, got 0"),
        ("10.0.0.1/16", 3, "has host bits set"),
    ],
)
def test_unusable_inputs_are_refused(vpc: str, zones: int, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        subnet_layout(vpc, zones)
