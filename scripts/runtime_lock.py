"""Derive the runtime lock (requirements.txt) from the development lock (requirements-dev.txt).

requirements.txt is what `pulumi up` installs into the project's virtualenv (Pulumi.yaml: toolchain pip): the
Pulumi program, its provider SDKs and the policy pack, i.e. teamstack's base dependencies and its `platform`
extra, with everything they need, and nothing else (no moto, pytest, hypothesis, linters). It is not written
by hand: this script walks the dependency metadata of the installed development environment from those roots
(markers evaluated for this Python, extras followed) and copies exactly those pins from requirements-dev.txt,
so the two locks can never disagree on a version.

    .venv/bin/python scripts/runtime_lock.py          # rewrite requirements.txt
    .venv/bin/python scripts/runtime_lock.py --check  # exit 1 when requirements.txt is not what it derives
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DEV_LOCK = ROOT / "requirements-dev.txt"
RUNTIME_LOCK = ROOT / "requirements.txt"
RUNTIME_EXTRA = "platform"
# `pip freeze` leaves these out of the development lock; pip installs them as the environment needs.
UNPINNED = frozenset({"pip", "setuptools", "wheel"})
HEADER = """\
# The runtime lock: what `pulumi up` installs into .venv (Pulumi.yaml: toolchain pip) for the program, its
# provider SDKs and the policy pack; no test tools. Derived from requirements-dev.txt by
# scripts/runtime_lock.py (do not edit by hand); `make setup` / `make test` install the development lock.
"""


def roots() -> list[Requirement]:
    """teamstack's base dependencies and its runtime extra, as pyproject.toml declares them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in (*project["dependencies"], *project["optional-dependencies"][RUNTIME_EXTRA])]


def closure(start: list[Requirement]) -> set[str]:
    """Canonical names of every distribution `start` needs in this environment (markers and extras followed)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    pending = list(start)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(name)
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{requirement.name} is not installed: install requirements-dev.txt first") from None
        for text in distribution.requires or []:
            needed = Requirement(text)
            extras = {"", *requirement.extras}
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    return names


def pins(lock: Path) -> dict[str, str]:
    """Canonical name -> its `name==version` line in a lock file."""
    found: dict[str, str] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-")) and "==" in line:
            found[canonicalize_name(line.split("==", 1)[0])] = line
    return found


def runtime_lock() -> str:
    needed = closure(roots()) - {"teamstack"} - UNPINNED
    locked = pins(DEV_LOCK)
    missing = sorted(needed - set(locked))
    if missing:
        raise SystemExit(f"requirements-dev.txt pins none of {', '.join(missing)}: regenerate the development lock")
    lines = sorted((locked[name] for name in needed), key=str.lower)
    return HEADER + "\n".join(lines) + f"\n-e .[{RUNTIME_EXTRA}]\n"


def main(argv: list[str]) -> int:
    text = runtime_lock()
    if "--check" in argv:
        if RUNTIME_LOCK.read_text(encoding="utf-8") != text:
            print("requirements.txt is not derived from requirements-dev.txt: run scripts/runtime_lock.py")
            return 1
        return 0
    RUNTIME_LOCK.write_text(text, encoding="utf-8")
    print(f"wrote {RUNTIME_LOCK.name}: {text.count('==')} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
