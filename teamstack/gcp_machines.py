"""What the platform knows about GCP machine types, NVIDIA accelerators, regions and zones.

Pure data and functions, no cloud calls, so the config model can refuse an accelerator on a machine type
that cannot carry it (an L4 on an N1, a T4 on an N2), a GPU machine type in a CPU pool, or a zone outside
the region, before anything is created; and the GKE autoscaler can be told how many GPUs a pool's nodes
carry when it scales that pool up from zero.

Two ways a GKE node gets NVIDIA GPUs:
* attached: N1 machine types take T4, V100, P4 or P100 GPUs, 1/2/4(/8) of them, each count up to a vCPU limit;
* built in: accelerator-optimized series (G2: L4, G4: RTX PRO 6000, A2: A100, A3: H100/H200, A4: B200,
  A4X: GB200) come with a fixed type and count, read from the machine-type catalogue; the node pool still
  names the accelerator, with exactly that type and count.
Facts from the Compute Engine "GPU machine types" documentation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from teamstack.validation import catalogue

Arch = Literal["x86_64", "arm64"]

_MACHINE_TYPE = re.compile(
    r"^(?P<series>[a-z][0-9][a-z]?)-(?P<shape>[a-z]+(?:-[a-z]+)?)-(?P<size>\d+g?)"
    r"(?P<suffix>(?:-lssd|-nolssd|-standardlssd|-highlssd)?(?:-metal)?)\Z"
)
_SHARED_CORE = re.compile(r"^e2-(micro|small|medium)\Z")


@dataclass(frozen=True)
class Accelerator:
    """One NVIDIA GPU type as GKE names it (`guest_accelerator.type`)."""

    type: str
    model: str
    memory_gib: int


ACCELERATORS: Mapping[str, Accelerator] = {
    a.type: a
    for a in (
        Accelerator("nvidia-tesla-t4", "T4", 16),
        Accelerator("nvidia-tesla-v100", "V100", 16),
        Accelerator("nvidia-tesla-p4", "P4", 8),
        Accelerator("nvidia-tesla-p100", "P100", 16),
        Accelerator("nvidia-l4", "L4", 24),
        Accelerator("nvidia-tesla-a100", "A100", 40),
        Accelerator("nvidia-a100-80gb", "A100", 80),
        Accelerator("nvidia-h100-80gb", "H100", 80),
        Accelerator("nvidia-h100-mega-80gb", "H100", 80),
        Accelerator("nvidia-h200-141gb", "H200", 141),
        Accelerator("nvidia-b200", "B200", 180),
        Accelerator("nvidia-gb200", "GB200", 186),
        Accelerator("nvidia-rtx-pro-6000", "RTX PRO 6000", 96),
    )
}

# N1 + attached GPUs: GPUs per node -> the most vCPUs an N1 machine may have with that many.
ATTACHABLE_ON_N1: Mapping[str, Mapping[int, int]] = {
    "nvidia-tesla-t4": {1: 48, 2: 48, 4: 96},
    "nvidia-tesla-v100": {1: 12, 2: 24, 4: 48, 8: 96},
    "nvidia-tesla-p4": {1: 24, 2: 48, 4: 96},
    "nvidia-tesla-p100": {1: 16, 2: 32, 4: 64},
}

# Accelerator-optimized machine types: the GPUs each one comes with (from the machine-type catalogue).
BUILT_IN_GPUS: Mapping[str, tuple[str, int]] = {
    name: (machine.gpu_model, machine.gpu_count)
    for name in catalogue.gcp_machine_names()
    if (machine := catalogue.gcp_machine(name)) is not None and machine.gpu_model is not None
}

# Series whose machines carry accelerators: never valid in a CPU pool, where they would burn GPU money.
ACCELERATOR_SERIES = frozenset({"g2", "g4", "a2", "a3", "a4", "a4x", "ct5", "ct6"})
# Arm series (Axion C4A/N4A, Ampere T2A, Grace A4X): those whose machines the catalogue lists as arm64.
ARM_SERIES = frozenset(
    name.split("-", 1)[0]
    for name in catalogue.gcp_machine_names()
    if (machine := catalogue.gcp_machine(name)) is not None and machine.arches == ("arm64",)
)
# General-purpose, compute- and memory-optimized series GKE node pools accept.
CPU_SERIES = frozenset(
    {"e2", "n1", "n2", "n2d", "n4", "n4d", "c2", "c2d", "c3", "c3d", "c4", "c4d", "c4n", "t2d", "m1", "m2", "m3",
     "m4", "h3", "z3", *ARM_SERIES}
)  # fmt: skip

# Zones of GCP regions with GKE, in the order a stack takes them when it lists none (from the catalogue).
REGION_ZONES: Mapping[str, tuple[str, ...]] = catalogue.gcp_region_zones()


class MachineTypeError(ValueError):
    """A machine type or accelerator a node pool cannot have. `field` is the config key it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MachineType:
    name: str
    series: str
    vcpus: int | None  # None where the name does not say (shared-core e2-micro/small/medium)
    arch: Arch

    @property
    def is_accelerated(self) -> bool:
        return self.series in ACCELERATOR_SERIES


@dataclass(frozen=True)
class GpuAttachment:
    """The accelerators of every node of a GPU pool."""

    type: str
    count: int

    @property
    def accelerator(self) -> Accelerator:
        return ACCELERATORS[self.type]


def parse_machine_type(name: str) -> MachineType:
    if _SHARED_CORE.match(name):
        return MachineType(name, "e2", None, "x86_64")
    match = _MACHINE_TYPE.match(name)
    series = match["series"] if match else ""
    if match is None or (series not in CPU_SERIES and series not in ACCELERATOR_SERIES):
        close = catalogue.gcp_close_match(name)
        hint = f"did you mean {close}?" if close else "expected e.g. n2-standard-8, g2-standard-8"
        raise MachineTypeError("machineType", f"'{name}' is not a GKE machine type ({hint})")
    size = match["size"]
    vcpus = int(size) if size.isdigit() else None
    return MachineType(name, series, vcpus, "arm64" if series in ARM_SERIES else "x86_64")


def check_cpu_machine(name: str) -> MachineType:
    """A machine type for a CPU pool: well formed, no accelerator."""
    parsed = parse_machine_type(name)
    if parsed.is_accelerated:
        raise MachineTypeError(
            "machineType",
            f"'{name}' is an accelerator-optimized type; a cpu pool allows CPU-only types such as n2-standard-8: "
            "put it in a group with kind: gpu",
        )
    return parsed


def _allowed_summary() -> str:
    attachable = ", ".join(ATTACHABLE_ON_N1)
    return (
        f"attach {attachable} to n1-* types, or use g2-standard-* (L4), g4-standard-* (RTX PRO 6000), a2-* (A100), "
        "a3-* (H100, H200), a4-* (B200)"
    )


def check_gpu_pool(machine_type: str, gpu_type: str | None, gpu_count: int | None) -> GpuAttachment:
    """The accelerators of a GPU pool: the machine type must be able to carry `gpu_type` x `gpu_count`.

    For accelerator-optimized types `gpu_type` and `gpu_count` may be left out (they are the type's own);
    given, they must match it. N1 types need `gpu_type`; `gpu_count` defaults to 1.
    """
    parsed = parse_machine_type(machine_type)
    if gpu_type is not None and gpu_type not in ACCELERATORS:
        raise MachineTypeError(
            "gpuType", f"'{gpu_type}' is not a supported NVIDIA GPU; allowed: {', '.join(ACCELERATORS)}"
        )
    built_in = BUILT_IN_GPUS.get(machine_type)
    if built_in is not None:
        own_type, own_count = built_in
        if gpu_type is not None and gpu_type != own_type:
            raise MachineTypeError(
                "gpuType", f"{machine_type} comes with {own_type} GPUs, not {gpu_type}; set {own_type} or leave it out"
            )
        if gpu_count is not None and gpu_count != own_count:
            raise MachineTypeError(
                "gpuCount",
                f"{machine_type} comes with {own_count} GPU(s), not {gpu_count}; set {own_count} or leave it out",
            )
        return GpuAttachment(own_type, own_count)
    if parsed.is_accelerated:
        raise MachineTypeError(
            "machineType", f"'{machine_type}' is not a supported GPU machine type; {_allowed_summary()}"
        )
    if gpu_type is None:
        raise MachineTypeError("gpuType", f"a gpu pool on {machine_type} must name its GPUs; {_allowed_summary()}")
    if gpu_type not in ATTACHABLE_ON_N1:
        raise MachineTypeError(
            "gpuType",
            f"{gpu_type} is built into accelerator-optimized machine types and cannot be attached to {machine_type}; "
            f"{_allowed_summary()}",
        )
    if parsed.series != "n1":
        raise MachineTypeError(
            "machineType", f"{gpu_type} GPUs attach only to N1 machine types (e.g. n1-standard-8), not {machine_type}"
        )
    count = 1 if gpu_count is None else gpu_count
    limits = ATTACHABLE_ON_N1[gpu_type]
    if count not in limits:
        allowed = ", ".join(map(str, limits))
        raise MachineTypeError("gpuCount", f"{gpu_type} attaches {allowed} GPUs per node, not {count}")
    if parsed.vcpus is not None and parsed.vcpus > limits[count]:
        raise MachineTypeError(
            "machineType",
            f"{machine_type} has {parsed.vcpus} vCPUs; with {count} x {gpu_type} an N1 node has at most "
            f"{limits[count]} vCPUs",
        )
    return GpuAttachment(gpu_type, count)


def region_zones(region: str) -> tuple[str, ...]:
    return REGION_ZONES.get(region, ())
