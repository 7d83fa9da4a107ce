#!/usr/bin/env python3
"""The last step of every image build, run by the image's own Python (standard library only).

    image_check.py --variant cpu|gpu --python X.Y --lock LOCK --out environment.json

Fails the build (one line on stderr, exit 1) unless the environment is what was asked for: the interpreter
is Python X.Y, every `name==version` of LOCK (the one resolution of the spec) is installed at that version,
and dask and distributed import. Then it writes OUT, what the image contains: the Python version, every
installed distribution with its version, and for the GPU variant the CUDA libraries the spec's packages
brought (nvidia-* wheels). The NVIDIA driver is never in an image: the node provides it, so a GPU image that
carries libcuda.so fails here.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)")
_DRIVER_LIBRARIES = ("libcuda.so", "libnvidia-ml.so")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _fail(message: str) -> int:
    print(f"image_check.py: {message}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=("cpu", "gpu"), required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if have != args.python:
        return _fail(f"the image's Python is {sys.version.split()[0]}, the spec needs {args.python}")
    installed = {_canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    wrong = []
    for line in args.lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            name, version = _canonical(match.group(1)), match.group(2)
            if installed.get(name) != version:
                wrong.append(f"{name}=={version} (installed: {installed.get(name, 'none')})")
    if wrong:
        return _fail(f"the image does not hold the resolved versions: {', '.join(wrong)}")
    try:
        import dask
        import distributed
    except ImportError as error:  # a package that installs but cannot import (a missing system library)
        return _fail(f"dask does not import in the image: {error}")

    cuda = sorted(f"{n}=={v}" for n, v in installed.items() if n.startswith("nvidia-"))
    drivers = sorted(
        str(path)
        for root in ("/usr/lib", "/usr/lib64", "/usr/local", sys.prefix)  # sys.prefix: the venv running this check
        if Path(root).is_dir()
        for path in Path(root).rglob("lib*.so*")
        if path.name.startswith(_DRIVER_LIBRARIES)
    )
    if drivers:
        return _fail(f"the image carries NVIDIA driver libraries ({', '.join(drivers)}); the node provides them")
    if args.variant == "gpu" and not cuda:
        print("image_check.py: note: a gpu image whose spec brings no CUDA libraries (nvidia-* packages)")
    content = {
        "python": sys.version.split()[0],
        "variant": args.variant,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "cuda": cuda if args.variant == "gpu" else [],
        "driver": "from the node" if args.variant == "gpu" else None,
        "packages": dict(sorted(installed.items())),
    }
    args.out.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    print(f"image_check.py: Python {content['python']}, dask {content['dask']}, {len(installed)} packages ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
