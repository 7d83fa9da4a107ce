"""scripts/update_prices.py: the price lists' documented shapes parsed, machine prices built the way Google
prices predefined types, and the table rewritten in place. (Fetching needs the network; these parts do not.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import update_prices

from teamstack.validation import catalogue

TEXT = update_prices.PRICES.read_text(encoding="utf-8")
TABLE = yaml.safe_load(TEXT)


def _product(instance_type: str, usd: str, unit: str = "Hrs") -> str:
    # One PriceList entry of pricing.get_products (AWS Price List Query API), trimmed to what is read.
    return json.dumps(
        {
            "product": {"productFamily": "Compute Instance", "attributes": {"instanceType": instance_type}},
            "terms": {
                "OnDemand": {
                    "ABC.JRTCKXETXF": {
                        "priceDimensions": {"ABC.JRTCKXETXF.6YS6EN2CT7": {"unit": unit, "pricePerUnit": {"USD": usd}}}
                    }
                }
            },
        }
    )


def test_aws_on_demand_reads_hourly_usd_and_ignores_zero_priced_reservation_rows() -> None:
    prices = update_prices.aws_on_demand(
        [
            _product("t3a.small", "0.0188000000"),
            _product("m7i.large", "0.0000000000"),
            _product("x", "1", unit="Quantity"),
        ]
    )
    assert prices == {"t3a.small": 0.0188}


def test_spot_is_the_median_over_zones() -> None:
    history = [
        {"InstanceType": "m7i.large", "SpotPrice": "0.0400", "AvailabilityZone": "us-east-1a"},
        {"InstanceType": "m7i.large", "SpotPrice": "0.0500", "AvailabilityZone": "us-east-1b"},
        {"InstanceType": "m7i.large", "SpotPrice": "0.0900", "AvailabilityZone": "us-east-1c"},
    ]
    assert update_prices.aws_spot_median(history) == {"m7i.large": 0.05}


def _sku(description: str, usd: float, usage: str = "OnDemand", region: str = "us-central1") -> dict:
    units, nanos = divmod(round(usd * 1e9), 10**9)
    return {
        "description": description,
        "category": {"resourceFamily": "Compute", "usageType": usage},
        "serviceRegions": [region],
        "pricingInfo": [
            {
                "pricingExpression": {
                    "usageUnit": "h",
                    "tieredRates": [{"unitPrice": {"units": str(units), "nanos": nanos}}],
                }
            }
        ],
    }


# Google's published per-vCPU and per-GiB hourly prices in us-central1 (cloud.google.com/compute/vm-instance-pricing).
UNIT_SKUS = [
    _sku("E2 Instance Core running in Americas", 0.021811),
    _sku("E2 Instance Ram running in Americas", 0.002923),
    _sku("N2 Instance Core running in Americas", 0.031611),
    _sku("N2 Instance Ram running in Americas", 0.004237),
    _sku("N1 Predefined Instance Core running in Americas", 0.031611),
    _sku("N1 Predefined Instance Ram running in Americas", 0.004237),
    _sku("N2 Custom Instance Core running in Americas", 9.0),
    _sku("E2 Instance Core running in Belgium", 9.0, region="europe-west1"),
    _sku("Spot Preemptible E2 Instance Core running in Americas", 0.006543, usage="Preemptible"),
    _sku("Nvidia Tesla T4 GPU running in Americas", 0.35),
]


def test_gcp_units_are_read_for_the_region_on_demand_and_spot_without_custom_types() -> None:
    units = update_prices.gcp_unit_prices(UNIT_SKUS, "us-central1")
    assert units[("e2", "core", False)] == pytest.approx(0.021811)
    assert units[("e2", "core", True)] == pytest.approx(0.006543)
    assert units[("n2", "core", False)] == pytest.approx(0.031611)  # not the custom-type SKU
    assert units[("nvidia-tesla-t4", "gpu", False)] == pytest.approx(0.35)


@pytest.mark.parametrize("series", ["e2", "n2", "n1"])
def test_the_tables_machine_prices_are_cores_plus_ram_as_google_prices_them(series: str) -> None:
    units = update_prices.gcp_unit_prices(UNIT_SKUS, "us-central1")
    machines = {n: e for n, e in TABLE["gcp"]["machines"].items() if n.startswith(f"{series}-")}
    assert machines
    for name, entry in machines.items():
        shape = catalogue.gcp_machine(name)
        assert shape is not None, name
        built = update_prices.gcp_machine_price(name, shape.vcpus, shape.memory_mib / 1024, units, spot=False)
        assert built == pytest.approx(entry["onDemand"], abs=1e-6), name


def test_rewrite_changes_only_the_numbers_of_listed_types_and_the_date() -> None:
    assert update_prices.rewrite(TEXT, {}, TABLE["date"]) == TEXT
    new = update_prices.rewrite(TEXT, {"t3a.small": (0.02, 0.007), "nvidia-l4": (0.6, 0.2)}, "2027-01-01")
    data = yaml.safe_load(new)
    assert data["aws"]["instances"]["t3a.small"] == {"onDemand": 0.02, "spot": 0.007}
    assert data["gcp"]["accelerators"]["nvidia-l4"] == {"onDemand": 0.6, "spot": 0.2}
    assert data["date"] == "2027-01-01"
    changed = [line for old, line in zip(TEXT.split("\n"), new.split("\n"), strict=True) if old != line]
    assert len(changed) == 3
    assert new.split("\n")[0] == TEXT.split("\n")[0], "the header comment stays"
