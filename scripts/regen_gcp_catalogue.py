#!/usr/bin/env python3
"""Regenerate teamstack/data/gcp_catalogue.json: Compute Engine machine types (vCPUs, memory, architecture,
built-in GPUs) and the zones of each region with GKE.

Sources:
* `--live`: `gcloud compute machine-types list` and `gcloud compute zones list` (needs an authenticated gcloud
  and a project); every machine type offered in any zone of a region in the current catalogue's regions.
* default: the tables of the Compute Engine machine-family documentation
  (cloud.google.com/compute/docs/{general-purpose,compute-optimized,memory-optimized,accelerator-optimized}-machines),
  transcribed below as series x shape x sizes with memory per vCPU; zones from the "Regions and zones" page.

    python scripts/regen_gcp_catalogue.py [--live] [--output teamstack/data/gcp_catalogue.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "teamstack" / "data" / "gcp_catalogue.json"
ARM_SERIES = ("t2a", "c4a")

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
        "highmem": ((2, 4, 8, 16, 32, 48, 64, 80, 96, 128), 8),
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
    "c3d": {
        "standard": ((4, 8, 16, 30, 60, 90, 180, 360), 4),
        "highmem": ((4, 8, 16, 30, 60, 90, 180, 360), 8),
        "highcpu": ((4, 8, 16, 30, 60, 90, 180, 360), 2),
    },
    "c4": {
        "standard": ((2, 4, 8, 16, 32, 48, 96, 144, 192, 288), 3.75),
        "highmem": ((2, 4, 8, 16, 32, 48, 96, 144, 192, 288), 7.75),
        "highcpu": ((2, 4, 8, 16, 32, 48, 96, 144, 192, 288), 2),
    },
    "c4a": {
        "standard": ((1, 2, 4, 8, 16, 32, 48, 64, 72), 4),
        "highmem": ((1, 2, 4, 8, 16, 32, 48, 64, 72), 8),
        "highcpu": ((1, 2, 4, 8, 16, 32, 48, 64, 72), 2),
    },
    "t2d": {"standard": ((1, 2, 4, 8, 16, 32, 48, 60), 4)},
    "t2a": {"standard": ((1, 2, 4, 8, 16, 32, 48), 4)},
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
    "m3-ultramem-32": (32, 976, None, 0),
    "m3-ultramem-64": (64, 1952, None, 0),
    "m3-ultramem-128": (128, 3904, None, 0),
    "m3-megamem-64": (64, 976, None, 0),
    "m3-megamem-128": (128, 1952, None, 0),
    "h3-standard-88": (88, 352, None, 0),
    "z3-highmem-88": (88, 704, None, 0),
    "z3-highmem-176": (176, 1408, None, 0),
    # G2: NVIDIA L4.
    "g2-standard-4": (4, 16, "nvidia-l4", 1),
    "g2-standard-8": (8, 32, "nvidia-l4", 1),
    "g2-standard-12": (12, 48, "nvidia-l4", 1),
    "g2-standard-16": (16, 64, "nvidia-l4", 1),
    "g2-standard-24": (24, 96, "nvidia-l4", 2),
    "g2-standard-32": (32, 128, "nvidia-l4", 1),
    "g2-standard-48": (48, 192, "nvidia-l4", 4),
    "g2-standard-96": (96, 384, "nvidia-l4", 8),
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
    # A3: NVIDIA H100 80GB.
    "a3-highgpu-1g": (26, 234, "nvidia-h100-80gb", 1),
    "a3-highgpu-2g": (52, 468, "nvidia-h100-80gb", 2),
    "a3-highgpu-4g": (104, 936, "nvidia-h100-80gb", 4),
    "a3-highgpu-8g": (208, 1872, "nvidia-h100-80gb", 8),
    "a3-megagpu-8g": (208, 1872, "nvidia-h100-mega-80gb", 8),
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


def from_documentation() -> tuple[str, dict[str, Any], dict[str, list[str]]]:
    machines: dict[str, Any] = {}
    for series, shapes in _PER_VCPU.items():
        for shape, (sizes, per_vcpu) in shapes.items():
            for vcpus in sizes:
                machines[f"{series}-{shape}-{vcpus}"] = _entry(vcpus, vcpus * per_vcpu, series)
    for name, (vcpus, memory, gpu, count) in _FIXED.items():
        machines[name] = _entry(vcpus, memory, name.split("-")[0], gpu, count)
    zones = {region: [f"{region}-{letter}" for letter in letters] for region, letters in _REGION_ZONE_LETTERS.items()}
    return "Compute Engine machine-family and regions/zones documentation", machines, zones


def _gcloud(*args: str) -> Any:
    return json.loads(subprocess.run(["gcloud", *args, "--format=json"], check=True, capture_output=True).stdout)


def from_gcloud() -> tuple[str, dict[str, Any], dict[str, list[str]]]:
    zones: dict[str, list[str]] = {}
    for zone in _gcloud("compute", "zones", "list"):
        region = zone["region"].rsplit("/", 1)[-1]
        if region in _REGION_ZONE_LETTERS and zone.get("status") == "UP":
            zones.setdefault(region, []).append(zone["name"])
    machines: dict[str, Any] = {}
    for machine in _gcloud("compute", "machine-types", "list"):
        if machine["zone"] not in {z for names in zones.values() for z in names}:
            continue
        accelerators = machine.get("accelerators") or []
        gpu = accelerators[0]["guestAcceleratorType"] if accelerators else None
        count = sum(a["guestAcceleratorCount"] for a in accelerators)
        name = machine["name"]
        machines[name] = _entry(machine["guestCpus"], machine["memoryMb"] / 1024, name.split("-")[0], gpu, count)
    return "gcloud compute machine-types list / zones list", machines, {r: sorted(z) for r, z in zones.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="ask gcloud (needs an authenticated gcloud)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    source, machines, zones = from_gcloud() if args.live else from_documentation()
    lines = [
        "{",
        f'"source":{json.dumps(source)},',
        f'"date":"{datetime.date.today().isoformat()}",',
        '"machineTypes":{',
        ",\n".join(f"{json.dumps(n)}:{json.dumps(machines[n], sort_keys=True)}" for n in sorted(machines)),
        "},",
        '"regions":{',
        ",\n".join(f'{json.dumps(r)}:{{"zones":{json.dumps(z)}}}' for r, z in zones.items()),
        "}",
        "}",
    ]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {len(machines)} machine types, {len(zones)} regions", file=sys.stderr)


if __name__ == "__main__":
    main()
