"""Regenerate the machine prices of teamstack/data/prices.yaml from the providers' public price lists (online).

    python scripts/update_prices.py [--aws] [--gcp] [--dry-run]

AWS: the Price List Query API (boto3 `pricing.get_products`, us-east-1 endpoint; any AWS credentials may read
it) for the on-demand Linux, shared-tenancy hourly price of every instance type in the table, in the table's
base region; spot from `ec2.describe_spot_price_history` (the median of the last day's Linux/UNIX prices over
the region's zones). GCP: the Cloud Billing Catalog API (`services/6F81-5844-456A/skus`, Compute Engine; an API
key in GOOGLE_API_KEY or application default credentials): per-vCPU and per-GiB SKUs (sizes from
teamstack/data/gcp_catalogue.json) of each series in the base
region, on demand and Spot, which make a predefined machine type's price (vCPUs x core + GiB x RAM; E2 shared-core
e2-medium bills one core), and the GPU SKUs for attached accelerators. G2/A2 types carry their GPUs: their rows
are left as they are and reported, as are the fixed prices (control planes, NAT, endpoints, disks, KMS): the
pages the header of prices.yaml names list them.

Only numbers on existing lines change (comments, order and the other keys stay), and `date` becomes today.
Anything that cannot be read is one line naming what and why; nothing is written then.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

PRICES = Path(__file__).resolve().parent.parent / "teamstack" / "data" / "prices.yaml"
GCE_SERVICE = "6F81-5844-456A"  # Compute Engine in the Cloud Billing Catalog
_LINE = re.compile(
    r"^(?P<indent>    )(?P<name>[a-z0-9.-]+): \{onDemand: (?P<od>[0-9.]+), spot: (?P<spot>[0-9.]+)(?P<rest>.*)\}$"
)
# GCP series whose machine types are priced as cores + RAM, and how their SKU descriptions name them.
_GCP_SKU_SERIES = {"e2": "E2 Instance", "n2": "N2 Instance", "n1": "N1 Predefined Instance"}
_GCP_GPU_SKUS = {
    "nvidia-tesla-t4": "Nvidia Tesla T4 GPU",
    "nvidia-l4": "Nvidia L4 GPU",
    "nvidia-tesla-a100": "Nvidia Tesla A100 GPU",
}


class PriceSourceError(Exception):
    """A price list could not be read; the message is the one line shown."""


# --- AWS ------------------------------------------------------------------------------------------------------


def aws_on_demand(price_list: Iterable[str]) -> dict[str, float]:
    """Instance type -> hourly USD from `pricing.get_products` PriceList entries (JSON text, one product each)."""
    prices: dict[str, float] = {}
    for text in price_list:
        item = json.loads(text)
        name = item.get("product", {}).get("attributes", {}).get("instanceType")
        for term in item.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = float(dimension.get("pricePerUnit", {}).get("USD", "0"))
                if name and dimension.get("unit") == "Hrs" and usd > 0:
                    prices[name] = usd
    return prices


def aws_spot_median(history: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Instance type -> median spot price from `describe_spot_price_history` SpotPriceHistory entries."""
    seen: dict[str, list[float]] = {}
    for entry in history:
        seen.setdefault(str(entry["InstanceType"]), []).append(float(entry["SpotPrice"]))
    return {name: statistics.median(values) for name, values in seen.items()}


def _aws_location(region: str) -> str:
    import boto3

    ssm = boto3.client("ssm", region_name="us-east-1")
    parameter = f"/aws/service/global-infrastructure/regions/{region}/longName"
    return str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])


def fetch_aws(names: list[str], region: str) -> dict[str, tuple[float, float]]:
    import boto3
    import botocore.exceptions

    try:
        location = _aws_location(region)
        pricing = boto3.client("pricing", region_name="us-east-1")
        on_demand: dict[str, float] = {}
        for name in names:
            filters = [
                {"Type": "TERM_MATCH", "Field": field, "Value": value}
                for field, value in (
                    ("instanceType", name),
                    ("location", location),
                    ("operatingSystem", "Linux"),
                    ("tenancy", "Shared"),
                    ("preInstalledSw", "NA"),
                    ("capacitystatus", "Used"),
                )
            ]
            pages = pricing.get_paginator("get_products").paginate(ServiceCode="AmazonEC2", Filters=filters)
            for page in pages:
                on_demand.update(aws_on_demand(page["PriceList"]))
        ec2 = boto3.client("ec2", region_name=region)
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        history: list[Mapping[str, Any]] = []
        pages = ec2.get_paginator("describe_spot_price_history").paginate(
            InstanceTypes=names, ProductDescriptions=["Linux/UNIX"], StartTime=start
        )
        for page in pages:
            history.extend(page["SpotPriceHistory"])
        spot = aws_spot_median(history)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise PriceSourceError(f"AWS price list: {error} (needs AWS credentials and network access)") from None
    missing = [n for n in names if n not in on_demand or n not in spot]
    if missing:
        raise PriceSourceError(f"AWS price list has no on-demand or spot price for {', '.join(missing)} in {region}")
    return {name: (on_demand[name], spot[name]) for name in names}


# --- GCP ------------------------------------------------------------------------------------------------------


def _unit_price(sku: Mapping[str, Any]) -> float:
    rates = sku["pricingInfo"][0]["pricingExpression"]["tieredRates"]
    price = rates[-1]["unitPrice"]
    return int(price.get("units", "0")) + int(price.get("nanos", 0)) / 1e9


def gcp_unit_prices(skus: Iterable[Mapping[str, Any]], region: str) -> dict[tuple[str, str, bool], float]:
    """(series or GPU, "core"/"ram"/"gpu", spot) -> hourly USD per vCPU, GiB or GPU, for `region`."""
    found: dict[tuple[str, str, bool], float] = {}
    for sku in skus:
        if region not in sku.get("serviceRegions", []):
            continue
        description = str(sku.get("description", ""))
        usage = sku.get("category", {}).get("usageType")
        if usage not in ("OnDemand", "Preemptible") or "Custom" in description or "Sole Tenancy" in description:
            continue
        spot = usage == "Preemptible"
        plain = description.removeprefix("Spot Preemptible ").removeprefix("Preemptible ")
        for series, prefix in _GCP_SKU_SERIES.items():
            for part, word in (("core", "Core"), ("ram", "Ram")):
                if plain.startswith(f"{prefix} {word} running in"):
                    found[(series, part, spot)] = _unit_price(sku)
        for gpu, prefix in _GCP_GPU_SKUS.items():
            if plain.startswith(f"{prefix} running in"):
                found[(gpu, "gpu", spot)] = _unit_price(sku)
    return found


def gcp_machine_price(
    name: str, vcpu: float, memory_gib: float, units: Mapping[tuple[str, str, bool], float], spot: bool
) -> float:
    series = name.split("-", 1)[0]
    cores = 1.0 if name == "e2-medium" else vcpu  # E2 shared-core: e2-medium bills one vCPU's worth
    return cores * units[(series, "core", spot)] + memory_gib * units[(series, "ram", spot)]


def fetch_gcp_skus() -> list[Mapping[str, Any]]:
    key = os.environ.get("GOOGLE_API_KEY")
    headers = {}
    if not key:
        try:
            import google.auth
            import google.auth.transport.requests

            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-billing.readonly"])
            credentials.refresh(google.auth.transport.requests.Request())
            headers["Authorization"] = f"Bearer {credentials.token}"
        except Exception as error:  # google-auth raises several unrelated types here
            raise PriceSourceError(
                f"GCP price list: no GOOGLE_API_KEY and no application default credentials ({error})"
            ) from None
    skus: list[Mapping[str, Any]] = []
    token = ""
    while True:
        query = {
            "currencyCode": "USD",
            "pageSize": "5000",
            **({"pageToken": token} if token else {}),
            **({"key": key} if key else {}),
        }
        url = f"https://cloudbilling.googleapis.com/v1/services/{GCE_SERVICE}/skus?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
                page = json.load(response)
        except OSError as error:
            raise PriceSourceError(f"GCP price list: {url.split('?')[0]}: {error}") from None
        skus.extend(page.get("skus", []))
        token = page.get("nextPageToken", "")
        if not token:
            return skus


# --- rewriting the table --------------------------------------------------------------------------------------


def rewrite(text: str, updates: Mapping[str, tuple[float, float]], today: str) -> str:
    """The table with each listed type's onDemand/spot replaced and `date` set; everything else as it was."""
    lines = []
    for line in text.split("\n"):
        match = _LINE.match(line)
        if match and match["name"] in updates:
            on_demand, spot = updates[match["name"]]
            line = f"{match['indent']}{match['name']}: {{onDemand: {on_demand:.6g}, spot: {spot:.6g}{match['rest']}}}"
        elif line.startswith("date: "):
            line = f"date: '{today}'"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aws", action="store_true", help="only AWS")
    parser.add_argument("--gcp", action="store_true", help="only GCP")
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    args = parser.parse_args(argv)
    clouds = [c for c in ("aws", "gcp") if getattr(args, c)] or ["aws", "gcp"]
    text = PRICES.read_text(encoding="utf-8")
    table = yaml.safe_load(text)
    updates: dict[str, tuple[float, float]] = {}
    skipped: list[str] = []
    try:
        if "aws" in clouds:
            aws = table["aws"]
            updates.update(fetch_aws(sorted(aws["instances"]), aws["baseRegion"]))
        if "gcp" in clouds:
            gcp = table["gcp"]
            units = gcp_unit_prices(fetch_gcp_skus(), gcp["baseRegion"])
            for name, entry in gcp["machines"].items():
                try:
                    updates[name] = tuple(  # type: ignore[assignment]
                        gcp_machine_price(name, entry["vcpu"], entry["memoryGiB"], units, spot)
                        for spot in (False, True)
                    )
                except KeyError:
                    skipped.append(name)
            for name in gcp["accelerators"]:
                if (name, "gpu", False) in units and (name, "gpu", True) in units:
                    updates[name] = (units[(name, "gpu", False)], units[(name, "gpu", True)])
                else:
                    skipped.append(name)
    except PriceSourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    new = rewrite(text, updates, datetime.date.today().isoformat())
    for name in skipped:
        print(f"not regenerated (priced with built-in GPUs or no SKU found): {name}", file=sys.stderr)
    print(
        "fixed prices (control planes, NAT, endpoints, disks, KMS) are not regenerated: check the pages in the header"
    )
    if args.dry_run:
        changed = [(a, b) for a, b in zip(text.split("\n"), new.split("\n"), strict=True) if a != b]
        for old, line in changed:
            print(f"- {old.strip()}\n+ {line.strip()}")
        return 0
    PRICES.write_text(new, encoding="utf-8")
    print(f"wrote {PRICES} ({len(updates)} prices)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
