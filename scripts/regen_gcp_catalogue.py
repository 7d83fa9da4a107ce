#!/usr/bin/env python3
"""Regenerate teamstack/data/gcp_catalogue.json: Compute Engine machine types (vCPUs, memory, architecture,
built-in GPUs) and, for each region with GKE, its zones and the machine types offered there.

Sources:
* `--live`: `gcloud compute machine-types list` and `gcloud compute zones list` (needs an authenticated gcloud
  and a project); every machine type offered in any zone of a region in the current catalogue's regions.
* default: the tables of the Compute Engine machine-family documentation
  (cloud.google.com/compute/docs/{general-purpose,compute-optimized,memory-optimized,storage-optimized,
  accelerator-optimized}-machines), transcribed below as series x shape x sizes with memory per vCPU, the
  `-lssd` (Titanium SSD) variants and bare metal types of each series, and the fixed shapes with their built-in
  GPUs; zones from the "Regions and zones" page. Cross-checked row by row on 2026-11-29 against a markdown
  copy of those pages (docs.cloud.google.com, C4D/C4A/C4/N4D/C3D tables) and against the machine list of
  github.com/Cyclenerd/google-cloud-pricing-cost-calculator build/gcp.yml (commit dac3128, 2026-08-20).
  The machine types each region offers (in at least one zone) come from a `gcloud compute machine-types list`
  reduced to regions (`--listing`, CSV `NAME;CPUS;SHARED_CPU;MEMORY_GB;DEPRECATED;ZONE`, the last column the
  region, plain or gzipped); the shipped regions were made from the listing of 2026-08-17 published as
  tools/machinetyperegion.csv of the same repository (commit 8bf3293a), whose vCPUs and memory agree with every
  documented row above. That listing is third-party data and is not kept here: without `--listing` the script
  keeps each region's machine types from the shipped catalogue (and names any type no region then offers).
  There is no per-zone listing newer than 2023, so availability is per region.

    python scripts/regen_gcp_catalogue.py [--live | --listing FILE] [--output teamstack/data/gcp_catalogue.json]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import gzip
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "teamstack" / "data" / "gcp_catalogue.json"
# The listing the shipped regions were made from: `gcloud compute machine-types list` of 2026-08-17 reduced to
# regions, github.com/Cyclenerd/google-cloud-pricing-cost-calculator tools/machinetyperegion.csv at commit
# 8bf3293a35613e7ee333e2365d3cf0a3b8a8f347 (SHA-256 of the CSV below).
SHIPPED_LISTING = (
    "gcloud compute machine-types list of 2026-08-17 "
    "(Cyclenerd/google-cloud-pricing-cost-calculator tools/machinetyperegion.csv @ 8bf3293)"
)
SHIPPED_LISTING_SHA256 = "7fed096a9c338da8ce8019b0fbac8b67fb1281a118123d3cd3be749d0eba27b6"
# Arm series (Axion: C4A, N4A; Ampere: T2A; Grace: A4X). teamstack.gcp_machines reads arch from the catalogue.
ARM_SERIES = ("t2a", "c4a", "n4a", "a4x")

# series -> shape -> (vCPU sizes, GB of memory per vCPU), from the machine-family pages.
_PER_VCPU: dict[str, dict[str, tuple[tuple[int, ...], float]]] = {
    "e2": {
        "standard": ((2, 4, 8, 16, 32), 4),
        "highmem": ((2, 4, 8, 16), 8),
        "highcpu": ((2, 4, 8, 16, 32), 1),
    },
    "n1": {
        "standard": ((1, 2, 4, 8, 16, 32, 64, 96), 3.75),
        "highmem": ((2, 4, 8, 16, 32, 64, 96), 6.5),
        "highcpu": ((2, 4, 8, 16, 32, 64, 96), 0.9),
    },
    "n2": {
        "standard": ((2, 4, 8, 16, 32, 48, 64, 80, 96, 128), 4),
        "highmem": ((2, 4, 8, 16, 32, 48, 64, 80, 96), 8),
        "highcpu": ((2, 4, 8, 16, 32, 48, 64, 80, 96), 1),
    },
    "n2d": {
        "standard": ((2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224), 4),
        "highmem": ((2, 4, 8, 16, 32, 48, 64, 80, 96), 8),
        "highcpu": ((2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224), 1),
    },
    "n4": {
        "standard": ((2, 4, 8, 16, 32, 48, 64, 80), 4),
        "highmem": ((2, 4, 8, 16, 32, 48, 64, 80), 8),
        "highcpu": ((2, 4, 8, 16, 32, 48, 64, 80), 2),
    },
    # N4D (AMD Turin): 2 to 96 vCPUs.
    "n4d": {
        "standard": ((2, 4, 8, 16, 32, 48, 64, 80, 96), 4),
        "highmem": ((2, 4, 8, 16, 32, 48, 64, 80, 96), 8),
        "highcpu": ((2, 4, 8, 16, 32, 48, 64, 80, 96), 2),
    },
    # N4A (Axion, Arm): 1 to 64 vCPUs.
    "n4a": {
        "standard": ((1, 2, 4, 8, 16, 32, 48, 64), 4),
        "highmem": ((1, 2, 4, 8, 16, 32, 48, 64), 8),
        "highcpu": ((1, 2, 4, 8, 16, 32, 48, 64), 2),
    },
    "c2": {"standard": ((4, 8, 16, 30, 60), 4)},
    "c2d": {
        "standard": ((2, 4, 8, 16, 32, 56, 112), 4),
        "highmem": ((2, 4, 8, 16, 32, 56, 112), 8),
        "highcpu": ((2, 4, 8, 16, 32, 56, 112), 2),
    },
    "c3": {
        "standard": ((4, 8, 22, 44, 88, 176), 4),
        "highmem": ((4, 8, 22, 44, 88, 176), 8),
        "highcpu": ((4, 8, 22, 44, 88, 176), 2),
    },
    # C3D highcpu is not 2 GB a vCPU from 30 vCPUs up (c3d-highcpu-30 has 59 GB): listed in _LISTED_GB.
    "c3d": {
        "standard": ((4, 8, 16, 30, 60, 90, 180, 360), 4),
        "highmem": ((4, 8, 16, 30, 60, 90, 180, 360), 8),
    },
    "c4": {
        "standard": ((2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288), 3.75),
        "highmem": ((2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288), 7.75),
        "highcpu": ((2, 4, 8, 16, 24, 32, 48, 96, 144, 192, 288), 2),
    },
    # C4N (C4 with higher network bandwidth): C4's memory per vCPU.
    "c4n": {
        "standard": ((2, 4, 8, 16, 24, 48, 96, 192), 3.75),
        "highmem": ((2, 4, 8, 16, 24, 48, 96, 192), 7.75),
        "highcpu": ((2, 4, 8, 16, 24, 48, 96, 192), 2),
    },
    "c4a": {
        "standard": ((1, 2, 4, 8, 16, 32, 48, 64, 72), 4),
        "highmem": ((1, 2, 4, 8, 16, 32, 48, 64, 72), 8),
        "highcpu": ((1, 2, 4, 8, 16, 32, 48, 64, 72), 2),
    },
    # C4D (AMD Turin): 2 to 384 vCPUs.
    "c4d": {
        "standard": ((2, 4, 8, 16, 32, 48, 64, 96, 192, 384), 3.875),
        "highmem": ((2, 4, 8, 16, 32, 48, 64, 96, 192, 384), 7.875),
        "highcpu": ((2, 4, 8, 16, 32, 48, 64, 96, 192, 384), 1.875),
    },
    "t2d": {"standard": ((1, 2, 4, 8, 16, 32, 48, 60), 4)},
    "t2a": {"standard": ((1, 2, 4, 8, 16, 32, 48), 4)},
}

# Series whose documented memory is the per-vCPU figure rounded down to whole GB (c4-standard-2: 7 GB, not 7.5;
# c4d-highcpu-2: 3 GB); the other series' tables give the exact product (n1-standard-1: 3.75 GB).
_WHOLE_GB_SERIES = frozenset({"c4", "c4d", "c4n"})

# Shapes whose memory is not a per-vCPU multiple: series-shape -> {vCPUs: GB}.
_LISTED_GB: dict[str, dict[int, float]] = {
    "n2-highmem": {128: 864},  # N2's memory tops out at 864 GB
    "c3d-highcpu": {4: 8, 8: 16, 16: 32, 30: 59, 60: 118, 90: 177, 180: 354, 360: 708},
}

# `-lssd` machine types (the same vCPUs and memory, with Titanium/Local SSD attached): series-shape -> sizes.
_LSSD: dict[str, tuple[int, ...]] = {
    "c3-standard": (4, 8, 22, 44, 88, 176),
    "c3d-standard": (8, 16, 30, 60, 90, 180, 360),
    "c3d-highmem": (8, 16, 30, 60, 90, 180, 360),
    "c4-standard": (4, 8, 16, 24, 32, 48, 96, 144, 192, 288),
    "c4-highmem": (4, 8, 16, 24, 32, 48, 96, 144, 192, 288),
    "c4a-standard": (4, 8, 16, 32, 48, 64, 72),
    "c4a-highmem": (4, 8, 16, 32, 48, 64, 72),
    "c4d-standard": (8, 16, 32, 48, 64, 96, 192, 384),
    "c4d-highmem": (8, 16, 32, 48, 64, 96, 192, 384),
}

# Machine types with fixed shapes: name -> (vCPUs, GB of memory, built-in GPU type or None, GPU count).
_FIXED: dict[str, tuple[int, float, str | None, int]] = {
    "e2-micro": (2, 1, None, 0),
    "e2-small": (2, 2, None, 0),
    "e2-medium": (2, 4, None, 0),
    "m1-megamem-96": (96, 1433.6, None, 0),
    "m1-ultramem-40": (40, 961, None, 0),
    "m1-ultramem-80": (80, 1922, None, 0),
    "m1-ultramem-160": (160, 3844, None, 0),
    "m2-ultramem-208": (208, 5888, None, 0),
    "m2-ultramem-416": (416, 11776, None, 0),
    "m2-megamem-416": (416, 5888, None, 0),
    "m2-hypermem-416": (416, 8832, None, 0),
    "m3-ultramem-32": (32, 976, None, 0),
    "m3-ultramem-64": (64, 1952, None, 0),
    "m3-ultramem-128": (128, 3904, None, 0),
    "m3-megamem-64": (64, 976, None, 0),
    "m3-megamem-128": (128, 1952, None, 0),
    # M4: also in GKE cluster-autoscaler's machine-family table (ultramem, megamem) and gcloud's listing.
    "m4-ultramem-56": (56, 1488, None, 0),
    "m4-ultramem-112": (112, 2976, None, 0),
    "m4-ultramem-224": (224, 5952, None, 0),
    "m4-megamem-28": (28, 372, None, 0),
    "m4-megamem-56": (56, 744, None, 0),
    "m4-megamem-112": (112, 1488, None, 0),
    "m4-megamem-224": (224, 2976, None, 0),
    "m4-hypermem-16": (16, 248, None, 0),
    "m4-hypermem-32": (32, 496, None, 0),
    "m4-hypermem-64": (64, 992, None, 0),
    # N1 names of the M1 shapes, still listed by gcloud.
    "n1-megamem-96": (96, 1433.6, None, 0),
    "n1-ultramem-40": (40, 961, None, 0),
    "n1-ultramem-80": (80, 1922, None, 0),
    "n1-ultramem-160": (160, 3844, None, 0),
    "h3-standard-88": (88, 352, None, 0),
    # Bare metal (the vCPUs are the host's hardware threads).
    "c3-standard-192-metal": (192, 768, None, 0),
    "c3-highmem-192-metal": (192, 1536, None, 0),
    "c3-highcpu-192-metal": (192, 512, None, 0),
    "c4-standard-288-metal": (288, 1080, None, 0),
    "c4-standard-288-lssd-metal": (288, 1080, None, 0),
    "c4-highmem-288-metal": (288, 2232, None, 0),
    "c4-highmem-288-lssd-metal": (288, 2232, None, 0),
    # (c4-highcpu-288-metal, announced in the release notes, is in no region's gcloud listing: left out.)
    "c4a-highmem-96-metal": (96, 768, None, 0),
    "c4d-standard-384-metal": (384, 1536, None, 0),
    "c4d-highmem-384-metal": (384, 3072, None, 0),
    "c4d-highcpu-384-metal": (384, 768, None, 0),
    # Z3 (storage optimized): the first two names, and the -standardlssd / -highlssd types that followed.
    "z3-highmem-88": (88, 704, None, 0),
    "z3-highmem-176": (176, 1408, None, 0),
    "z3-highmem-14-standardlssd": (14, 112, None, 0),
    "z3-highmem-22-standardlssd": (22, 176, None, 0),
    "z3-highmem-44-standardlssd": (44, 352, None, 0),
    "z3-highmem-88-standardlssd": (88, 704, None, 0),
    "z3-highmem-176-standardlssd": (176, 1408, None, 0),
    "z3-highmem-8-highlssd": (8, 64, None, 0),
    "z3-highmem-16-highlssd": (16, 128, None, 0),
    "z3-highmem-22-highlssd": (22, 176, None, 0),
    "z3-highmem-32-highlssd": (32, 256, None, 0),
    "z3-highmem-44-highlssd": (44, 352, None, 0),
    "z3-highmem-88-highlssd": (88, 704, None, 0),
    "z3-highmem-192-highlssd-metal": (192, 1536, None, 0),
    # G2: NVIDIA L4.
    "g2-standard-4": (4, 16, "nvidia-l4", 1),
    "g2-standard-8": (8, 32, "nvidia-l4", 1),
    "g2-standard-12": (12, 48, "nvidia-l4", 1),
    "g2-standard-16": (16, 64, "nvidia-l4", 1),
    "g2-standard-24": (24, 96, "nvidia-l4", 2),
    "g2-standard-32": (32, 128, "nvidia-l4", 1),
    "g2-standard-48": (48, 192, "nvidia-l4", 4),
    "g2-standard-96": (96, 384, "nvidia-l4", 8),
    # G4: NVIDIA RTX PRO 6000 Blackwell, whole GPUs (the fractional g4-standard-6/12/24 are left out: a node
    # pool's accelerator count is whole GPUs).
    "g4-standard-48": (48, 180, "nvidia-rtx-pro-6000", 1),
    "g4-standard-96": (96, 360, "nvidia-rtx-pro-6000", 2),
    "g4-standard-192": (192, 720, "nvidia-rtx-pro-6000", 4),
    "g4-standard-384": (384, 1440, "nvidia-rtx-pro-6000", 8),
    # A2: NVIDIA A100 40GB (highgpu, megagpu) and 80GB (ultragpu).
    "a2-highgpu-1g": (12, 85, "nvidia-tesla-a100", 1),
    "a2-highgpu-2g": (24, 170, "nvidia-tesla-a100", 2),
    "a2-highgpu-4g": (48, 340, "nvidia-tesla-a100", 4),
    "a2-highgpu-8g": (96, 680, "nvidia-tesla-a100", 8),
    "a2-megagpu-16g": (96, 1360, "nvidia-tesla-a100", 16),
    "a2-ultragpu-1g": (12, 170, "nvidia-a100-80gb", 1),
    "a2-ultragpu-2g": (24, 340, "nvidia-a100-80gb", 2),
    "a2-ultragpu-4g": (48, 680, "nvidia-a100-80gb", 4),
    "a2-ultragpu-8g": (96, 1360, "nvidia-a100-80gb", 8),
    # A3: NVIDIA H100 80GB (High, Mega, Edge) and H200 141GB (Ultra).
    "a3-highgpu-1g": (26, 234, "nvidia-h100-80gb", 1),
    "a3-highgpu-2g": (52, 468, "nvidia-h100-80gb", 2),
    "a3-highgpu-4g": (104, 936, "nvidia-h100-80gb", 4),
    "a3-highgpu-8g": (208, 1872, "nvidia-h100-80gb", 8),
    "a3-megagpu-8g": (208, 1872, "nvidia-h100-mega-80gb", 8),
    "a3-edgegpu-8g": (208, 1872, "nvidia-h100-80gb", 8),
    "a3-ultragpu-8g": (224, 2952, "nvidia-h200-141gb", 8),
    "a3-edgegpu-8g-nolssd": (208, 1872, "nvidia-h100-80gb", 8),
    "a3-ultragpu-8g-nolssd": (224, 2952, "nvidia-h200-141gb", 8),
    # A4: NVIDIA B200; A4X: NVIDIA GB200 on Grace (Arm) hosts.
    "a4-highgpu-8g": (224, 3968, "nvidia-b200", 8),
    "a4x-highgpu-4g": (140, 884, "nvidia-gb200", 4),
}

# Zones of GCP regions with GKE, from the "Regions and zones" page, in the order a stack takes them.
_REGION_ZONE_LETTERS = {
    "us-central1": "abcf", "us-east1": "bcd", "us-east4": "abc", "us-east5": "abc", "us-south1": "abc",
    "us-west1": "abc", "us-west2": "abc", "us-west3": "abc", "us-west4": "abc",
    "northamerica-northeast1": "abc", "northamerica-northeast2": "abc", "southamerica-east1": "abc",
    "europe-west1": "bcd", "europe-west2": "abc", "europe-west3": "abc", "europe-west4": "abc",
    "europe-west6": "abc", "europe-west8": "abc", "europe-west9": "abc", "europe-west10": "abc",
    "europe-west12": "abc", "europe-north1": "abc", "europe-central2": "abc", "europe-southwest1": "abc",
    "asia-east1": "abc", "asia-east2": "abc", "asia-northeast1": "abc", "asia-northeast2": "abc",
    "asia-northeast3": "abc", "asia-south1": "abc", "asia-south2": "abc", "asia-southeast1": "abc",
    "asia-southeast2": "abc", "australia-southeast1": "abc", "australia-southeast2": "abc",
    "me-west1": "abc", "me-central1": "abc", "africa-south1": "abc",
}  # fmt: skip


def _entry(vcpus: int, memory_gb: float, series: str, gpu: str | None = None, count: int = 0) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "vcpus": vcpus,
        "memoryMiB": round(memory_gb * 1024),
        "arch": "arm64" if series in ARM_SERIES else "x86_64",
    }
    if gpu is not None:
        entry["gpus"] = {"type": gpu, "count": count}
    return entry


def _memory(series: str, vcpus: int, per_vcpu: float) -> float:
    memory = vcpus * per_vcpu
    return float(int(memory)) if series in _WHOLE_GB_SERIES else memory


def from_documentation(
    listing: Path | None,
) -> tuple[str, dict[str, Any], dict[str, list[str]], dict[str, set[str]]]:
    machines: dict[str, Any] = {}
    for series, shapes in _PER_VCPU.items():
        for shape, (sizes, per_vcpu) in shapes.items():
            for vcpus in sizes:
                machines[f"{series}-{shape}-{vcpus}"] = _entry(vcpus, _memory(series, vcpus, per_vcpu), series)
    for series_shape, by_size in _LISTED_GB.items():
        for vcpus, memory in by_size.items():
            machines[f"{series_shape}-{vcpus}"] = _entry(vcpus, memory, series_shape.split("-")[0])
    for series_shape, sizes in _LSSD.items():
        for vcpus in sizes:
            machines[f"{series_shape}-{vcpus}-lssd"] = dict(machines[f"{series_shape}-{vcpus}"])
    for name, (vcpus, memory, gpu, count) in _FIXED.items():
        machines[name] = _entry(vcpus, memory, name.split("-")[0], gpu, count)
    zones = {region: [f"{region}-{letter}" for letter in letters] for region, letters in _REGION_ZONE_LETTERS.items()}
    offered, listed_from = _offered_from_listing(machines, listing) if listing else _offered_as_shipped(machines)
    source = f"Compute Engine machine-family and regions/zones documentation; machine types by region: {listed_from}"
    return source, machines, zones, offered


def _offered_from_listing(machines: dict[str, Any], listing: Path) -> tuple[dict[str, set[str]], str]:
    """Region -> the catalogue's machine types a gcloud listing names there (in at least one zone). The listing's
    vCPUs and memory must be the transcribed ones: a transcription slip stops the script instead of shipping."""
    raw = listing.read_bytes()
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    digest = hashlib.sha256(text).hexdigest()
    offered: dict[str, set[str]] = {region: set() for region in _REGION_ZONE_LETTERS}
    for row in csv.DictReader(io.StringIO(text.decode("utf-8")), delimiter=";"):
        name = row["NAME"]
        if name not in machines:
            continue
        listed = (int(row["CPUS"]), round(float(row["MEMORY_GB"]) * 1024))
        if listed != (machines[name]["vcpus"], machines[name]["memoryMiB"]):
            sys.exit(f"{name}: gcloud lists {listed} (vCPUs, MiB), the tables here say otherwise: fix the tables")
        if row["ZONE"] in offered:
            offered[row["ZONE"]].add(name)
    described = SHIPPED_LISTING if digest == SHIPPED_LISTING_SHA256 else f"{listing.name} (SHA-256 {digest[:12]})"
    return offered, described


def _offered_as_shipped(machines: dict[str, Any]) -> tuple[dict[str, set[str]], str]:
    """Region -> machine types, as the shipped catalogue has them (no listing given)."""
    shipped = json.loads(OUTPUT.read_text(encoding="utf-8"))
    offered = {
        region: set(entry["machineTypes"]) & set(machines)
        for region, entry in shipped["regions"].items()
        if region in _REGION_ZONE_LETTERS
    }
    nowhere = sorted(set(machines) - set().union(*offered.values()))
    if nowhere:
        print(f"offered in no region (give --listing): {', '.join(nowhere)}", file=sys.stderr)
    described = str(shipped["source"]).split("machine types by region: ", 1)[-1]
    return offered, described


def _gcloud(*args: str) -> Any:
    return json.loads(subprocess.run(["gcloud", *args, "--format=json"], check=True, capture_output=True).stdout)


def from_gcloud() -> tuple[str, dict[str, Any], dict[str, list[str]], dict[str, set[str]]]:
    zones: dict[str, list[str]] = {}
    for zone in _gcloud("compute", "zones", "list"):
        region = zone["region"].rsplit("/", 1)[-1]
        if region in _REGION_ZONE_LETTERS and zone.get("status") == "UP":
            zones.setdefault(region, []).append(zone["name"])
    machines: dict[str, Any] = {}
    offered: dict[str, set[str]] = {region: set() for region in zones}
    region_of = {zone: region for region, names in zones.items() for zone in names}
    for machine in _gcloud("compute", "machine-types", "list"):
        if machine["zone"] not in region_of:
            continue
        offered[region_of[machine["zone"]]].add(machine["name"])
        accelerators = machine.get("accelerators") or []
        gpu = accelerators[0]["guestAcceleratorType"] if accelerators else None
        count = sum(a["guestAcceleratorCount"] for a in accelerators)
        name = machine["name"]
        machines[name] = _entry(machine["guestCpus"], machine["memoryMb"] / 1024, name.split("-")[0], gpu, count)
    zones = {r: sorted(z) for r, z in zones.items()}
    return "gcloud compute machine-types list / zones list", machines, zones, offered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sources = parser.add_mutually_exclusive_group()
    sources.add_argument("--live", action="store_true", help="ask gcloud (needs an authenticated gcloud)")
    sources.add_argument("--listing", type=Path, help="machine types by region (CSV, plain or gzipped)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    source, machines, zones, offered = from_gcloud() if args.live else from_documentation(args.listing)
    regions = {
        region: json.dumps({"zones": region_zones, "machineTypes": sorted(offered.get(region, ()))})
        for region, region_zones in zones.items()
    }
    lines = [
        "{",
        f'"source":{json.dumps(source)},',
        f'"date":"{datetime.date.today().isoformat()}",',
        '"machineTypes":{',
        ",\n".join(f"{json.dumps(n)}:{json.dumps(machines[n], sort_keys=True)}" for n in sorted(machines)),
        "},",
        '"regions":{',
        ",\n".join(f"{json.dumps(region)}:{entry}" for region, entry in regions.items()),
        "}",
        "}",
    ]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {len(machines)} machine types, {len(zones)} regions", file=sys.stderr)


if __name__ == "__main__":
    main()
