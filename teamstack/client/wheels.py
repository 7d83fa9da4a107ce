"""A data scientist's own code on the cluster: local packages (`pip install -e .`) as wheels.

* Into an image: `build_wheels(spec.local, folder)` builds each local package of the current environment into
  a wheel (pip, no dependencies: those are in the spec); `Spec.with_wheels` names them in the spec by sha256,
  the client uploads them to `envhash.wheel_key` beside the spec, and images/build.sh installs them.
* Onto running workers without a rebuild: `sync_local_packages(client)` builds the same wheels and sends
  each pure-Python one with distributed's `Client.upload_file` (a wheel is a zip archive Python imports
  from), so the next tasks import the current code. Seconds for a small package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from teamstack.client.errors import BuildError
from teamstack.client.specs import LocalPackage, Wheel, current_environment

# Wheels of unchanged sources are byte-identical (zip entry times), so their hash, and the image tag, is stable.
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can hold


def build_wheels(packages: Iterable[LocalPackage], folder: Path) -> list[Wheel]:
    """One wheel per local package in `folder`; a package that does not build fails in one line."""
    wheels = []
    for package in packages:
        out = Path(tempfile.mkdtemp(prefix=f"{package.name}-", dir=folder))
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PIP_NO_INPUT": "1"}
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out)]
        result = subprocess.run([*command, str(package.path)], capture_output=True, text=True, env=env, check=False)
        built = sorted(out.glob("*.whl"))
        if result.returncode != 0 or len(built) != 1:
            reason = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
            raise BuildError(
                f"cannot build a wheel of the local package {package.name} from {package.path}: "
                f"{reason[-1].strip() if reason else 'pip made no wheel'}; fix its packaging or uninstall it"
            )
        wheels.append(Wheel.of(built[0]))
    return wheels


def sync_local_packages(client: Any, packages: Iterable[LocalPackage] | None = None) -> list[str]:
    """Send the current environment's local packages to the running workers of `client` (a distributed
    Client); returns the wheel file names sent. Compiled packages need an image rebuild and are refused."""
    chosen = list(current_environment().local if packages is None else packages)
    if not chosen:
        return []
    with tempfile.TemporaryDirectory(prefix="teamstack-sync-") as folder:
        sent = []
        for wheel in build_wheels(chosen, Path(folder)):
            if not wheel.filename.endswith("-none-any.whl"):
                raise BuildError(
                    f"{wheel.filename} holds compiled code, which workers cannot import from an upload: "
                    "build an image of the current environment instead (team.environments.build())"
                )
            # A new name per content: workers import from the archive; the hash keeps versions apart.
            archive = Path(folder, f"{wheel.filename[:-4]}-{wheel.sha256[:12]}.zip")
            shutil.copyfile(wheel.path, archive)
            try:
                client.upload_file(str(archive))
            except Exception as error:  # any worker error reaches us re-raised by distributed
                raise BuildError(
                    f"cannot send {wheel.filename} to the cluster's workers: {type(error).__name__}: {error}"
                ) from None
            sent.append(wheel.filename)
    return sent
