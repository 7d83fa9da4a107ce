"""How long a changed environment takes to build, against a cold build of the same environment.

Real builds with images/build.sh (buildah, chroot isolation) into a real registry (Debian's docker-registry on
127.0.0.1), on the tests' pinned Debian base (tests/image_standins.py; made once a day, not timed):

  cold     the team's default environment (environments/default/requirements.txt, normalised for this
           Python), on a host with no local layers and an empty uv cache, an empty registry cache
  changed  the same environment plus one package, on ANOTHER fresh host (no local layers, no uv cache: what a
           new CodeBuild/Cloud Build machine has), with the first build's layers in the registry
           (--cache-from): what a data scientist waits for after adding one package
  local    the same one-package change again on the first host (local layers and uv cache warm): `make image`
           iteration on one machine

Each is timed from build.sh's start to its last line (the pushed reference), base pulls and pushes included.
Target: changed / cold <= 0.35. A MISS is reported, never fatal: the exit code is 0 whenever the builds succeed.

    .venv/bin/python bench/bench_build.py [--extra humanize==4.12.3] [--json bench-build.json]

Needs root, buildah, debootstrap and docker-registry (as the tests do).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from image_standins import BuildahSandbox, base_rootfs_tarball, missing_tools  # noqa: E402
from registry_standin import _serve  # noqa: E402

from teamstack import envhash  # noqa: E402
from teamstack.client.specs import load_spec, normalise_requirements  # noqa: E402

TARGET_RATIO = 0.35
RECIPE = envhash.recipe_hash(ROOT / "images")


def timed_build(sandbox: BuildahSandbox, registry: str, base: str, spec: bytes, folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True)
    (folder / "requirements.txt").write_bytes(spec)
    (folder / "wheels").mkdir()
    image = f"{registry}/bench/dask:{envhash.image_tag(RECIPE, 'cpu', spec)}"
    started = time.perf_counter()
    result = sandbox.build(
        "--spec", str(folder / "requirements.txt"), "--image", image, "--base", base, "--wheels",
        str(folder / "wheels"), "--cache", f"{registry}/bench/dask-cache", "--recipe-hash", RECIPE, "--insecure",
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"bench_build: the build of {image} failed: {result.stderr.strip()[-2000:]}")
    return {"image": result.stdout.strip().splitlines()[-1], "seconds": round(seconds, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="humanize==4.12.3", help="the one package added (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    missing = missing_tools() + [tool for tool in ("docker-registry",) if shutil.which(tool) is None]
    if missing:
        print(f"bench_build: needs {', '.join(missing)}", file=sys.stderr)
        return 2

    default = load_spec(ROOT / "environments" / "default" / "requirements.txt")
    changed_text = default.content.decode() + args.extra + "\n"
    changed = normalise_requirements(changed_text, "changed", python=default.python).content
    with tempfile.TemporaryDirectory(prefix="bench-build-") as folder:
        root = Path(folder)
        (root / "registry").mkdir()
        serving = _serve(root / "registry")
        endpoint = next(serving)
        registry = endpoint.removeprefix("http://")
        first, second, importer = (BuildahSandbox.create(root / name) for name in ("host-1", "host-2", "importer"))
        try:
            base = importer.import_base(base_rootfs_tarball(), f"{registry}/base/python:3.11")
            importer.forget_local_images()
            cold = timed_build(first, registry, base, default.content, root / "cold")
            warm = timed_build(second, registry, base, changed, root / "changed")
            local_spec = normalise_requirements(changed_text + "tabulate==0.9.0\n", "local", python=default.python)
            local = timed_build(first, registry, base, local_spec.content, root / "local")
        finally:
            for sandbox in (first, second, importer):
                sandbox.forget_local_images()
            serving.close()

    ratio = warm["seconds"] / cold["seconds"]
    local_ratio = local["seconds"] / cold["seconds"]
    print(f"machine: {platform.machine()}, {platform.node()}, Python {platform.python_version()}")
    print(f"{'build':<10}{'seconds':>9}  what")
    print(f"{'cold':<10}{cold['seconds']:>9.1f}  default environment, empty host, empty registry cache")
    print(f"{'changed':<10}{warm['seconds']:>9.1f}  + {args.extra}, another empty host, registry layer cache")
    print(f"{'local':<10}{local['seconds']:>9.1f}  + tabulate==0.9.0, the first host again (local layers, uv cache)")
    verdict = "ok" if ratio <= TARGET_RATIO else "MISS"
    print(f"changed/cold = {ratio:.2f} (target <= {TARGET_RATIO}: {verdict}); local/cold = {local_ratio:.2f}")
    if args.json:
        numbers = {"cold": cold, "changed": warm, "local": local, "ratio": ratio, "localRatio": local_ratio,
                   "target": TARGET_RATIO, "extra": args.extra}  # fmt: skip
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
