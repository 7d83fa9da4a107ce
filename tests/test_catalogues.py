"""The shipped catalogues of the clouds' facts: each parses, is dated and sourced, is exactly what its script
regenerates, and knows everything the shipped stacks and the platform's own tables use."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from teamstack import gcp_machines, instances
from teamstack.config import AWS_REGIONS, load_team
from teamstack.policy.config import DEFAULT_INSTANCE_TYPES, DEFAULT_MACHINE_TYPES
from teamstack.stackfiles import load_project, stack_config
from teamstack.validation import catalogue

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "teamstack" / "data"


@pytest.mark.parametrize("name", ["aws_catalogue.json", "gcp_catalogue.json"])
def test_catalogue_parses_and_is_dated(name: str) -> None:
    data = json.loads((DATA / name).read_text(encoding="utf-8"))
    assert data["source"] and len(data["date"]) == 10 and data["date"][4] == "-"
    types = data.get("instanceTypes") or data.get("machineTypes")
    assert len(types) > 250
    for entry in types.values():
        assert entry["vcpus"] >= 1 and entry["memoryMiB"] >= 512
        assert set(entry["arch"] if isinstance(entry["arch"], list) else [entry["arch"]]) <= {"x86_64", "arm64"}
        assert "gpus" not in entry or entry["gpus"]["count"] >= 0  # 0: a fraction of one GPU (g6f)
    for region, entry in data["regions"].items():
        assert entry["zones"] and all(zone.startswith(region) for zone in entry["zones"])


def test_service_limits_parse_with_their_sources() -> None:
    data = yaml.safe_load((DATA / "service_limits.yaml").read_text(encoding="utf-8"))
    assert len(data["date"]) == 10
    for name, entry in data["limits"].items():
        assert isinstance(entry["value"], int) and entry["value"] > 0, name
        assert "." in entry["source"], name  # a documentation page
    assert catalogue.limit("eksPublicAccessCidrs") == 40
    assert catalogue.limit("gcpBudgetNotificationChannels") == 5


@pytest.mark.parametrize(
    ("script", "output"),
    [("regen_aws_catalogue.py", "aws_catalogue.json"), ("regen_gcp_catalogue.py", "gcp_catalogue.json")],
)
def test_the_script_regenerates_the_shipped_catalogue(tmp_path: Path, script: str, output: str) -> None:
    # Offline sources (moto's EC2 snapshot, the documented GCE tables): the shipped file is their output, so a
    # hand edit of the data, or a script change without regenerating, fails here.
    target = tmp_path / output
    subprocess.run([sys.executable, str(REPO / "scripts" / script), "--output", str(target)], check=True, cwd=REPO)
    fresh, shipped = json.loads(target.read_text()), json.loads((DATA / output).read_text())
    fresh.pop("date"), shipped.pop("date")
    assert fresh == shipped


def test_every_aws_region_the_model_takes_has_zones_or_is_named_as_missing() -> None:
    missing = sorted(AWS_REGIONS - set(catalogue._aws()["regions"]))
    # Newer regions moto's snapshot does not carry yet: zone counts are checked by the program there.
    assert missing == ["ap-east-2", "ap-southeast-7", "mx-central-1"]


def test_the_tables_of_the_platform_are_in_the_catalogues() -> None:
    for name in DEFAULT_INSTANCE_TYPES:
        assert catalogue.aws_instance(name) is not None, name
    for name in DEFAULT_MACHINE_TYPES:
        assert catalogue.gcp_machine(name) is not None, name
    for machine, (gpu, count) in gcp_machines.BUILT_IN_GPUS.items():
        assert gpu in gcp_machines.ACCELERATORS and count >= 1, machine
    assert gcp_machines.REGION_ZONES["us-central1"] == (
        "us-central1-a",
        "us-central1-b",
        "us-central1-c",
        "us-central1-f",
    )


def test_nvidia_table_agrees_with_the_ec2_catalogue() -> None:
    """instances.NVIDIA_GPU_TYPES (the EKS NVIDIA AMI's families) must not contradict what EC2 reports."""
    absent = []
    for family, sizes in instances.NVIDIA_GPU_TYPES.items():
        for size, shape in sizes.items():
            machine = catalogue.aws_instance(f"{family}.{size}")
            if machine is None:
                absent.append(f"{family}.{size}")
                continue
            assert (machine.gpu_count, (machine.gpu_model or "").upper()) == (shape.count, shape.model.upper())
            assert machine.gpu_manufacturer == "NVIDIA"
    assert absent == ["p3.2xlarge", "p3.8xlarge", "p3.16xlarge"]  # retired from EC2's answers


@pytest.mark.parametrize("stack", load_project(REPO).stacks())
def test_shipped_stacks_use_only_catalogued_types(stack: str) -> None:
    team = load_team(stack_config(load_project(REPO), stack), stack)
    if team.cloud == "aws":
        for aws_group in team.node_groups:
            for name in aws_group.instance_types:
                assert catalogue.aws_offered(team.region, name), name
    else:
        for gcp_group in team.node_groups:
            assert catalogue.gcp_machine(gcp_group.machine_type) is not None
            assert catalogue.gcp_offered(team.region, gcp_group.machine_type), gcp_group.machine_type
        assert catalogue.gcp_offered(team.region, team.system_machine_type)


@pytest.mark.parametrize(
    ("name", "vcpus", "memory_gb"),
    [
        # Rows of the machine-family documentation, including the ones not a plain per-vCPU multiple.
        ("c4d-standard-2", 2, 7),
        ("c4d-highcpu-2", 2, 3),
        ("c4d-highmem-384", 384, 3024),
        ("c4d-standard-384-metal", 384, 1536),
        ("n4d-highcpu-96", 96, 192),
        ("n4a-highmem-64", 64, 512),
        ("c4-standard-2", 2, 7),
        ("c4-highmem-24", 24, 186),
        ("c3d-highcpu-30", 30, 59),
        ("c4n-standard-2", 2, 7),
        ("n2-highmem-128", 128, 864),
        ("a3-ultragpu-8g", 224, 2952),
        ("a4-highgpu-8g", 224, 3968),
        ("g4-standard-48", 48, 180),
    ],
)
def test_gcp_machine_shapes_are_the_documented_ones(name: str, vcpus: int, memory_gb: int) -> None:
    machine = catalogue.gcp_machine(name)
    assert machine is not None, name
    assert (machine.vcpus, machine.memory_mib) == (vcpus, memory_gb * 1024)


def test_every_gcp_machine_type_parses_with_its_catalogued_arch() -> None:
    # A series or suffix the parser does not know would refuse a type the catalogue (and Compute Engine) has.
    for name in catalogue.gcp_machine_names():
        machine = catalogue.gcp_machine(name)
        assert machine is not None
        parsed = gcp_machines.parse_machine_type(name)
        assert (parsed.arch,) == machine.arches, name
        assert parsed.is_accelerated == (machine.gpu_count > 0), name
    assert {"n4a", "c4a", "t2a", "a4x"} <= gcp_machines.ARM_SERIES


def test_lssd_types_have_their_base_types_shape() -> None:
    lssd = [name for name in catalogue.gcp_machine_names() if name.endswith("-lssd")]
    assert len(lssd) > 50
    for name in lssd:
        assert catalogue.gcp_machine(name.removesuffix("-lssd")) == replace(
            catalogue.gcp_machine(name), name=name.removesuffix("-lssd")
        )


def test_built_in_gpus_of_the_newer_accelerator_series() -> None:
    assert gcp_machines.BUILT_IN_GPUS["a3-ultragpu-8g"] == ("nvidia-h200-141gb", 8)
    assert gcp_machines.BUILT_IN_GPUS["a4-highgpu-8g"] == ("nvidia-b200", 8)
    assert gcp_machines.BUILT_IN_GPUS["g4-standard-384"] == ("nvidia-rtx-pro-6000", 8)
    assert gcp_machines.BUILT_IN_GPUS["a3-edgegpu-8g"] == ("nvidia-h100-80gb", 8)


def test_retired_ec2_families_say_what_to_use_and_are_not_types() -> None:
    retired = catalogue._aws()["retired"]
    assert {"p3", "g4ad", "f1"} <= set(retired)
    families = {name.split(".", 1)[0] for name in catalogue._aws()["instanceTypes"]}
    for family, entry in retired.items():
        assert family not in families, family
        assert entry["instead"] and "20" in entry["source"], family  # dated
        assert catalogue.aws_retired(family) == (entry["instead"], entry["source"])
    assert catalogue.aws_instance("p3dn.24xlarge") is not None  # still offered: not the retired p3 family
    assert catalogue.aws_retired("p3dn") is None


@pytest.mark.parametrize(
    ("misspelt", "meant"),
    [
        ("n4d-standrad-8", "n4d-standard-8"),
        ("c4d-highmen-16", "c4d-highmem-16"),
        ("c4-standard-288-lssd-metl", "c4-standard-288-lssd-metal"),
        ("n4-standard-8-lssd", "n4-standard-8"),
    ],
)
def test_a_misspelt_gcp_type_gets_its_close_match(misspelt: str, meant: str) -> None:
    assert catalogue.gcp_close_match(misspelt) == meant
    assert f"did you mean {meant}?" in catalogue.gcp_type_hint(misspelt)


def test_a_wrong_size_is_not_taken_for_a_misspelling() -> None:
    # n2-standard-6 is one character from n2-standard-96, m7i.5xlarge from m7i.xlarge: list the sizes instead.
    assert catalogue.gcp_close_match("n2-standard-6") is None
    assert catalogue.gcp_type_hint("n2-standard-6") == "n2-standard comes in 2, 4, 8, 16, 32, 48, 64, 80, 96, 128 vCPUs"
    assert catalogue.aws_close_match("m7i.5xlarge") is None
    assert catalogue.aws_type_hint("m7i.5xlarge").startswith("sizes of m7i: ")
    assert catalogue.aws_close_match("m7i.2xlage") == "m7i.2xlarge"
    assert catalogue.aws_close_match("x" * 100_000) is None  # a pasted blob is not compared with every type


def test_every_gcp_machine_type_is_offered_somewhere_and_every_region_lists_its_types() -> None:
    # The documented tables and gcloud's per-region listing agree: no catalogued type that no region offers.
    regions = catalogue._gcp()["regions"]
    assert all(len(entry["machineTypes"]) > 20 for entry in regions.values())
    for name in catalogue.gcp_machine_names():
        assert catalogue.gcp_regions_offering(name), name
    assert catalogue.gcp_offered("europe-west4", "c4d-standard-16") is True
    assert catalogue.gcp_offered("us-central1", "n4d-highmem-8") is True
    assert catalogue.gcp_offered("mars-north1", "n2-standard-8") is None  # no list: nothing to refuse by


def test_the_default_machine_types_are_offered_where_the_defaults_run() -> None:
    for name in DEFAULT_MACHINE_TYPES:
        assert len(catalogue.gcp_regions_offering(name)) >= 3, name


def test_a_gpu_group_is_not_offered_a_retired_family() -> None:
    with pytest.raises(instances.InstanceTypeError) as raised:
        instances.check_gpu_type("m7i.large")
    assert "p3dn.*" in str(raised.value) and "p3.*" not in str(raised.value)
