"""EC2 instance type knowledge: architecture, NVIDIA GPUs, which group kind a type may join, the AMI type."""

from __future__ import annotations

import re

import pytest

from teamstack import instances
from teamstack.instances import (
    NVIDIA_GPU_TYPES,
    InstanceTypeError,
    check_cpu_type,
    check_gpu_type,
    eks_ami_type,
    known_gpu_types,
    parse_instance_type,
)

# --- architecture --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "m7g.large",  # Graviton3
        "c7gn.16xlarge",  # Graviton3 + network
        "r8gd.2xlarge",  # Graviton4 + local NVMe
        "x2gd.medium",
        "im4gn.large",
        "m6gd.metal",
        "hpc7g.16xlarge",
        "a1.medium",  # first Graviton, no 'g' attribute
        "a1.metal",
    ],
)
def test_graviton_types_are_arm64(name: str) -> None:
    parsed = parse_instance_type(name)
    assert parsed.arch == "arm64"
    assert parsed.gpu is None
    assert check_cpu_type(name).arch == "arm64"


@pytest.mark.parametrize(
    "name",
    ["m7i.large", "m7i-flex.xlarge", "m6a.4xlarge", "c5n.18xlarge", "r7iz.metal-16xl", "m5zn.large", "g4dn.xlarge"],
)
def test_intel_and_amd_types_are_x86_64(name: str) -> None:
    assert parse_instance_type(name).arch == "x86_64"


def test_g5g_is_an_arm64_gpu_type() -> None:
    parsed = check_gpu_type("g5g.2xlarge")
    assert parsed.arch == "arm64"
    assert parsed.gpu == instances.GpuShape(count=1, model="T4G", memory_gib=16)
    assert eks_ami_type(parsed.arch, gpu=True) == "AL2023_ARM_64_NVIDIA"


def test_family_keeps_generation_and_attributes() -> None:
    parsed = parse_instance_type("c7gn.16xlarge")
    assert (parsed.name, parsed.family) == ("c7gn.16xlarge", "c7gn")


# --- GPUs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "model"),
    [
        ("g4dn.xlarge", 1, "T4"),
        ("g4dn.8xlarge", 1, "T4"),
        ("g4dn.12xlarge", 4, "T4"),
        ("g4dn.metal", 8, "T4"),
        ("g5.xlarge", 1, "A10G"),
        ("g5.12xlarge", 4, "A10G"),
        ("g5.48xlarge", 8, "A10G"),
        ("g5g.16xlarge", 2, "T4G"),
        ("g6e.12xlarge", 4, "L40S"),
        ("p3.8xlarge", 4, "V100"),
        ("p4d.24xlarge", 8, "A100"),
        ("p5.4xlarge", 1, "H100"),
        ("p5.48xlarge", 8, "H100"),
    ],
)
def test_gpu_counts(name: str, count: int, model: str) -> None:
    parsed = check_gpu_type(name)
    assert parsed.gpu is not None
    assert (parsed.gpu.count, parsed.gpu.model) == (count, model)
    assert parsed.arch == ("arm64" if name.startswith("g5g") else "x86_64")


def test_known_gpu_types_all_pass_the_gpu_check() -> None:
    names = known_gpu_types()
    assert len(names) == sum(len(sizes) for sizes in NVIDIA_GPU_TYPES.values())
    for name in names:
        shape = check_gpu_type(name).gpu
        assert shape is not None and shape.count >= 1 and shape.memory_gib >= 16, name


@pytest.mark.parametrize(
    "name",
    [
        "m7i.4xlarge",  # no GPU at all
        "g4ad.xlarge",  # AMD Radeon: the NVIDIA AMI and device plugin do not apply
        "inf2.xlarge",  # Inferentia
        "trn1.32xlarge",  # Trainium
        "g4dn.24xlarge",  # a size the family does not have
        "g3.4xlarge",  # an NVIDIA family the AL2023 NVIDIA AMI does not support
    ],
)
def test_gpu_groups_take_only_known_nvidia_types(name: str) -> None:
    assert parse_instance_type(name).gpu is None
    with pytest.raises(InstanceTypeError, match=re.escape("a gpu group allows g4dn.*, g5.*")):
        check_gpu_type(name)


# --- CPU groups refuse accelerators -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["g5.xlarge", "p3.2xlarge", "inf2.xlarge", "inf1.2xlarge", "trn1.32xlarge", "dl1.24xlarge", "f1.2xlarge",
     "vt1.3xlarge", "gr6.4xlarge"],
)  # fmt: skip
def test_cpu_groups_refuse_accelerated_types(name: str) -> None:
    assert parse_instance_type(name).is_accelerated
    with pytest.raises(InstanceTypeError, match=r"is an accelerated .* put it in a group with kind: gpu"):
        check_cpu_type(name)


# Families whose name carries attribute letters after the generation (g4dn, p4d, g6e): the accelerator
# check must read the letters before the generation, or these would pass in a CPU group.
@pytest.mark.parametrize(
    "name",
    ["g4dn.xlarge", "g4ad.xlarge", "g5g.xlarge", "g6e.xlarge", "p3dn.24xlarge", "p4d.24xlarge", "p5en.48xlarge",
     "trn1n.32xlarge", "dl2q.24xlarge"],
)  # fmt: skip
def test_cpu_groups_refuse_accelerated_types_with_attributes(name: str) -> None:
    with pytest.raises(InstanceTypeError):
        check_cpu_type(name)


@pytest.mark.parametrize("name", ["m7i.2xlarge", "c7gn.large", "r6a.metal", "x2iedn.xlarge", "t3.micro"])
def test_cpu_groups_take_cpu_types(name: str) -> None:
    parsed = check_cpu_type(name)
    assert not parsed.is_accelerated
    assert parsed.gpu is None


# --- malformed names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "m7i",  # no size
        "m7i.",
        ".large",
        "m7i-4xlarge",  # '-' for '.'
        "M7i.large",  # upper case
        "m.large",  # no generation
        "7i.large",  # no family letters
        "m7i.huge",  # unknown size
        "m7i.4XLARGE",
        "m7i.large ",
        " m7i.large",
        "m7i.2xlarge.x",
        "ml.m5.large",  # a SageMaker type, not EC2
    ],
)
def test_malformed_names_are_rejected(name: str) -> None:
    with pytest.raises(InstanceTypeError, match="is not an EC2 instance type"):
        parse_instance_type(name)
    # Both group checks parse first, so neither lets a malformed name through.
    for check in (check_cpu_type, check_gpu_type):
        with pytest.raises(InstanceTypeError, match="is not an EC2 instance type"):
            check(name)


def test_trailing_newline_is_rejected() -> None:
    with pytest.raises(InstanceTypeError):
        parse_instance_type("m7i.large\n")


@pytest.mark.parametrize("name", ["mac1.metal", "mac2.metal"])
def test_mac_hosts_are_rejected(name: str) -> None:
    with pytest.raises(InstanceTypeError, match="cannot join an EKS cluster"):
        check_cpu_type(name)


# --- AMI types ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "gpu", "ami"),
    [
        ("x86_64", False, "AL2023_x86_64_STANDARD"),
        ("x86_64", True, "AL2023_x86_64_NVIDIA"),
        ("arm64", False, "AL2023_ARM_64_STANDARD"),
        ("arm64", True, "AL2023_ARM_64_NVIDIA"),
    ],
)
def test_eks_ami_type(arch: instances.Arch, gpu: bool, ami: str) -> None:
    assert eks_ami_type(arch, gpu) == ami


def test_ami_type_follows_the_parsed_type() -> None:
    # The path the node group component takes: parse the group's type, then pick the AMI from it.
    for name, ami in [
        ("m7g.large", "AL2023_ARM_64_STANDARD"),
        ("m7i.large", "AL2023_x86_64_STANDARD"),
        ("g4dn.xlarge", "AL2023_x86_64_NVIDIA"),
        ("g5g.xlarge", "AL2023_ARM_64_NVIDIA"),
    ]:
        parsed = parse_instance_type(name)
        assert eks_ami_type(parsed.arch, parsed.gpu is not None) == ami, name
