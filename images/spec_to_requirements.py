#!/usr/bin/env python3
"""Helpers the Dockerfile runs with the image's own Python (standard library only).

    spec_to_requirements.py PYPROJECT          print PYPROJECT's [project].dependencies as pip requirement lines
    spec_to_requirements.py --missing NAME...  print (space-separated, one line) the NAMEs not installed

Installing a data scientist's pyproject.toml means installing its dependencies, not the (absent) project
itself, so `pip install <dir>` is wrong: this turns the dependency list into a requirements file instead.
v1 reads `[project].dependencies` only: no optional-dependencies, dependency groups, Poetry tables or lock
files. `--missing` lets the Dockerfile add dask, distributed, bokeh and s3fs only where the spec lacks them.

The `--missing` mode also runs under an environment.yml's own Python, which may be older than 3.11: keep
this file importable on Python 3.8 (tomllib is imported only where it is needed).
"""

from __future__ import annotations

import re
import sys

USAGE = "usage: spec_to_requirements.py PYPROJECT | spec_to_requirements.py --missing NAME..."
# A PEP 508 requirement starts with the project name; anything else (an option such as `-e`/`-r`/`--index-url`,
# a path, an empty line) has no place in [project].dependencies and must not reach pip as a requirement-file line.
_REQUIREMENT_START = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class SpecError(Exception):
    """A pyproject.toml this helper cannot turn into requirements; the message says why."""


def requirements_from_pyproject(text: str, source: str = "pyproject.toml") -> list[str]:
    """The `[project].dependencies` of a pyproject.toml, validated, in their original order."""
    import tomllib  # Python >= 3.11: only this mode needs it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source} is not valid TOML: {error}") from None
    project = data.get("project")
    if not isinstance(project, dict):
        hint = " (Poetry's [tool.poetry] tables are not supported)" if "poetry" in data.get("tool", {}) else ""
        raise SpecError(f"{source} has no [project] table{hint}: list the environment in [project].dependencies")
    if "dependencies" in project.get("dynamic", []):
        raise SpecError(f"{source} declares dependencies as dynamic: list them in [project].dependencies")
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list):
        raise SpecError(f"{source}: [project].dependencies must be a list of requirement strings")
    requirements = []
    for index, dependency in enumerate(dependencies):
        if not isinstance(dependency, str):
            raise SpecError(f"{source}: [project].dependencies[{index}] is not a string: {dependency!r}")
        requirement = dependency.strip()
        if "\n" in requirement or "\r" in requirement or not _REQUIREMENT_START.match(requirement):
            raise SpecError(f"{source}: [project].dependencies[{index}] is not a requirement: {dependency!r}")
        requirements.append(requirement)
    return requirements


def missing_distributions(names: list[str]) -> list[str]:
    """The names among `names` that no installed distribution of this interpreter provides."""
    from importlib.metadata import PackageNotFoundError, distribution

    missing = []
    for name in names:
        try:
            distribution(name)
        except PackageNotFoundError:
            missing.append(name)
    return missing


def main(argv: list[str]) -> int:
    if argv[:1] == ["--missing"]:
        print(" ".join(missing_distributions(argv[1:])))
        return 0
    if len(argv) != 1 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    path = argv[0]
    try:
        with open(path, encoding="utf-8") as handle:
            requirements = requirements_from_pyproject(handle.read(), source=path)
    except (OSError, UnicodeDecodeError, SpecError) as error:
        print(f"spec_to_requirements.py: {error}", file=sys.stderr)
        return 1
    print(f"# generated from {path} [project].dependencies")
    for requirement in requirements:
        print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
