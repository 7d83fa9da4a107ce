"""What the platform knows about EC2 instance types: CPU architecture, NVIDIA GPUs, and the EKS AMI type.

Pure data and functions, no cloud calls, so config validation can reject a GPU type in a CPU group (or the
reverse) before anything is created, and cluster-autoscaler can be told how many GPUs a group's nodes carry
when it has to scale that group up from zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from teamstack.validation import catalogue

Arch = Literal["x86_64", "arm64"]

_INSTANCE_TYPE = re.compile(
    r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<attributes>[a-z-]*)\."
    r"(?P<size>nano|micro|small|medium|large|\d*xlarge|metal(?:-\d+xl)?)\Z"
)

# Families whose instances carry accelerators (NVIDIA/AMD GPUs, Inferentia, Trainium, FPGAs, video
# transcoders): never valid in a CPU group, where they would burn GPU money on CPU work.
_ACCELERATOR_FAMILIES = frozenset({"p", "g", "gr", "inf", "trn", "dl", "f", "vt"})
# macOS hosts cannot join an EKS cluster.
_UNSUPPORTED_FAMILIES = frozenset({"mac"})


@dataclass(frozen=True)
class GpuShape:
    """NVIDIA GPUs on one instance of a type."""

    count: int
    model: str
    memory_gib: int


def _sizes(model: str, memory_gib: int, counts: dict[str, int]) -> dict[str, GpuShape]:
    return {size: GpuShape(count, model, memory_gib) for size, count in counts.items()}


_ONE_GPU_SIZES = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1}

# NVIDIA GPU instance types supported by the EKS AL2023 NVIDIA AMIs, with GPUs per instance (from the
# EC2 accelerated-computing instance documentation). AMD (g4ad) and other accelerators are deliberately
# absent: the NVIDIA AMI, device plugin and `nvidia.com/gpu` resource do not apply to them.
NVIDIA_GPU_TYPES: dict[str, dict[str, GpuShape]] = {
    "g4dn": _sizes("T4", 16, {**_ONE_GPU_SIZES, "12xlarge": 4, "metal": 8}),
    "g5": _sizes("A10G", 24, {**_ONE_GPU_SIZES, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g5g": _sizes("T4G", 16, {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 2, "metal": 2}),
    "g6": _sizes("L4", 24, {**_ONE_GPU_SIZES, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g6e": _sizes("L40S", 48, {**_ONE_GPU_SIZES, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "p3": _sizes("V100", 16, {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8}),
    "p3dn": _sizes("V100", 32, {"24xlarge": 8}),
    "p4d": _sizes("A100", 40, {"24xlarge": 8}),
    "p4de": _sizes("A100", 80, {"24xlarge": 8}),
    "p5": _sizes("H100", 80, {"4xlarge": 1, "48xlarge": 8}),
    "p5e": _sizes("H200", 141, {"48xlarge": 8}),
    "p5en": _sizes("H200", 141, {"48xlarge": 8}),
}


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    arch: Arch
    gpu: GpuShape | None

    @property
    def is_accelerated(self) -> bool:
        prefix = re.match(r"[a-z]+", self.family)
        return prefix is not None and prefix.group() in _ACCELERATOR_FAMILIES


class InstanceTypeError(ValueError):
    """An instance type the platform cannot place in a group; the message says what is allowed."""


def parse_instance_type(name: str) -> InstanceType:
    match = _INSTANCE_TYPE.match(name)
    if match is None:
        close = catalogue.aws_close_match(name)
        hint = f"did you mean {close}?" if close else "expected e.g. m7i.2xlarge"
        raise InstanceTypeError(f"'{name}' is not an EC2 instance type ({hint})")
    prefix, generation, attributes = match["family"], match["generation"], match["attributes"]
    if prefix in _UNSUPPORTED_FAMILIES:
        raise InstanceTypeError(f"'{name}' cannot join an EKS cluster (macOS hosts are not supported)")
    family = f"{prefix}{generation}{attributes}"
    # Graviton types carry a 'g' among their attribute letters (m7g, c7gn, r8gd, x2gd, im4gn); so does
    # the Arm GPU family g5g. The first Graviton family, a1, predates that convention.
    arch: Arch = "arm64" if "g" in attributes or family == "a1" else "x86_64"
    gpu = NVIDIA_GPU_TYPES.get(family, {}).get(match["size"])
    return InstanceType(name=name, family=family, arch=arch, gpu=gpu)


def known_gpu_types() -> list[str]:
    return [f"{family}.{size}" for family, sizes in NVIDIA_GPU_TYPES.items() for size in sizes]


def check_cpu_type(name: str) -> InstanceType:
    """An instance type for a CPU group: well formed, no accelerator."""
    parsed = parse_instance_type(name)
    if parsed.is_accelerated:
        raise InstanceTypeError(
            f"'{name}' is an accelerated (GPU/accelerator) type; a cpu group allows CPU-only types "
            "such as m7i.2xlarge: put it in a group with kind: gpu"
        )
    return parsed


def check_gpu_type(name: str) -> InstanceType:
    """An instance type for a GPU group: a known NVIDIA GPU type."""
    parsed = parse_instance_type(name)
    if parsed.gpu is None:
        families = ", ".join(f"{family}.*" for family in NVIDIA_GPU_TYPES if catalogue.aws_retired(family) is None)
        raise InstanceTypeError(f"'{name}' is not a supported NVIDIA GPU type; a gpu group allows {families}")
    return parsed


def eks_ami_type(arch: Arch, gpu: bool) -> str:
    """The EKS managed-node-group AMI type (Amazon Linux 2023) for a group's architecture and GPU kind."""
    base = "AL2023_x86_64" if arch == "x86_64" else "AL2023_ARM_64"
    return f"{base}_NVIDIA" if gpu else f"{base}_STANDARD"
