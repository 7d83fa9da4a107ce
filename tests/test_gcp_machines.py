"""GCP machine types, accelerators and zones (teamstack.gcp_machines): which machine types take which GPUs,
how many, and which series a CPU pool refuses."""

from __future__ import annotations

import pytest

from teamstack import gcp_machines
from teamstack.gcp_machines import GpuAttachment, MachineTypeError, check_cpu_machine, check_gpu_pool


@pytest.mark.parametrize(
    ("name", "series", "vcpus", "arch"),
    [
        ("n2-standard-16", "n2", 16, "x86_64"),
        ("n2d-highmem-32", "n2d", 32, "x86_64"),
        ("c3-standard-22-lssd", "c3", 22, "x86_64"),
        ("e2-medium", "e2", None, "x86_64"),
        ("t2a-standard-8", "t2a", 8, "arm64"),
        ("c4a-highcpu-16", "c4a", 16, "arm64"),
        ("a2-highgpu-1g", "a2", None, "x86_64"),
        ("n1-standard-8", "n1", 8, "x86_64"),
        ("c4d-standard-384-metal", "c4d", 384, "x86_64"),
        ("c4-highmem-288-lssd-metal", "c4", 288, "x86_64"),
        ("z3-highmem-88-highlssd", "z3", 88, "x86_64"),
        ("n4a-standard-8", "n4a", 8, "arm64"),
        ("a4x-highgpu-4g", "a4x", None, "arm64"),
    ],
)
def test_machine_types_parse(name: str, series: str, vcpus: int | None, arch: str) -> None:
    parsed = gcp_machines.parse_machine_type(name)
    assert (parsed.series, parsed.vcpus, parsed.arch) == (series, vcpus, arch)


@pytest.mark.parametrize(
    "name", ["n2.standard.16", "m7i.4xlarge", "N2-STANDARD-8", "q9-standard-4", "n2-standard-8\n", ""]
)
def test_malformed_machine_types_are_refused(name: str) -> None:
    with pytest.raises(MachineTypeError, match="is not a GKE machine type") as raised:
        gcp_machines.parse_machine_type(name)
    assert raised.value.field == "machineType"


@pytest.mark.parametrize("name", ["g2-standard-8", "a2-highgpu-1g", "a3-highgpu-8g"])
def test_cpu_pools_refuse_accelerator_optimized_types(name: str) -> None:
    with pytest.raises(MachineTypeError, match="accelerator-optimized"):
        check_cpu_machine(name)


def test_built_in_gpus_are_the_machine_types_own() -> None:
    assert check_gpu_pool("g2-standard-8", None, None) == GpuAttachment("nvidia-l4", 1)
    assert check_gpu_pool("g2-standard-24", "nvidia-l4", 2) == GpuAttachment("nvidia-l4", 2)
    assert check_gpu_pool("g2-standard-48", None, None).count == 4
    assert check_gpu_pool("a2-highgpu-2g", None, None) == GpuAttachment("nvidia-tesla-a100", 2)
    assert check_gpu_pool("a2-ultragpu-1g", None, None).accelerator.memory_gib == 80
    assert check_gpu_pool("a3-highgpu-8g", None, None) == GpuAttachment("nvidia-h100-80gb", 8)
    assert check_gpu_pool("g4-standard-96", "nvidia-rtx-pro-6000", 2) == GpuAttachment("nvidia-rtx-pro-6000", 2)
    assert check_gpu_pool("a4-highgpu-8g", None, None).accelerator.model == "B200"
    with pytest.raises(MachineTypeError, match="comes with 8 GPU") as raised:
        check_gpu_pool("a3-ultragpu-8g", "nvidia-h200-141gb", 4)
    assert raised.value.field == "gpuCount"


def test_attached_gpus_go_on_n1_within_the_vcpu_limits() -> None:
    assert check_gpu_pool("n1-standard-8", "nvidia-tesla-t4", None) == GpuAttachment("nvidia-tesla-t4", 1)
    assert check_gpu_pool("n1-standard-96", "nvidia-tesla-t4", 4).count == 4
    assert check_gpu_pool("n1-highmem-8", "nvidia-tesla-v100", 1).accelerator.model == "V100"
    with pytest.raises(MachineTypeError, match="at most 12 vCPUs") as raised:
        check_gpu_pool("n1-standard-16", "nvidia-tesla-v100", 1)
    assert raised.value.field == "machineType"


@pytest.mark.parametrize(
    ("machine", "gpu", "count", "field", "message"),
    [
        ("n1-standard-8", "nvidia-l4", None, "gpuType", "cannot be attached"),
        ("n1-standard-8", "nvidia-tesla-a100", 1, "gpuType", "cannot be attached"),
        ("n2-standard-8", "nvidia-tesla-t4", 1, "machineType", "attach only to N1"),
        ("e2-standard-8", None, None, "gpuType", "must name its GPUs"),
        ("n1-standard-8", "nvidia-tesla-t4", 3, "gpuCount", "not 3"),
        ("n1-standard-8", "nvidia-tesla-t4", 8, "gpuCount", "not 8"),
        ("g2-standard-8", "nvidia-tesla-t4", None, "gpuType", "comes with nvidia-l4"),
        ("g2-standard-8", None, 2, "gpuCount", "comes with 1 GPU(s)"),
        ("a2-highgpu-4g", "nvidia-a100-80gb", None, "gpuType", "comes with nvidia-tesla-a100"),
        ("a3-standard-8", None, None, "machineType", "not a supported GPU machine type"),
        ("n1-standard-8", "amd-mi300", 1, "gpuType", "not a supported NVIDIA GPU"),
    ],
)
def test_incompatible_accelerators_are_refused(
    machine: str, gpu: str | None, count: int | None, field: str, message: str
) -> None:
    with pytest.raises(MachineTypeError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        check_gpu_pool(machine, gpu, count)
    assert raised.value.field == field


def test_every_built_in_accelerator_is_known() -> None:
    for machine, (gpu, count) in gcp_machines.BUILT_IN_GPUS.items():
        assert gpu in gcp_machines.ACCELERATORS, machine
        assert gcp_machines.parse_machine_type(machine).is_accelerated
        assert count >= 1
    for gpu, counts in gcp_machines.ATTACHABLE_ON_N1.items():
        assert gpu in gcp_machines.ACCELERATORS
        assert all(limit <= 96 for limit in counts.values())


def test_regions_list_their_zones() -> None:
    assert gcp_machines.region_zones("us-central1") == (
        "us-central1-a",
        "us-central1-b",
        "us-central1-c",
        "us-central1-f",
    )
    assert gcp_machines.region_zones("europe-west1")[0] == "europe-west1-b"
    assert gcp_machines.region_zones("us-west-2") == ()
    for region, zones in gcp_machines.REGION_ZONES.items():
        assert len(zones) >= 3 and all(zone.startswith(region + "-") for zone in zones)
