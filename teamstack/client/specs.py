"""Environment specs -> the one normalised spec file the image pipeline builds (pure, no cloud calls).

The pipeline (images/) builds `requirements.txt`, `environment.yml` or `pyproject.toml` and tags the image with
the hash of the uploaded bytes, so the client normalises first: equivalent specs give the same bytes, hence
the same tag, and an unchanged environment is never rebuilt.

* requirements.txt: comments, blank lines and duplicates dropped; names canonical (PEP 503); requirements
  sorted; only `--index-url`/`--extra-index-url`/`--find-links`/`--pre` options kept (first, in order).
* environment.yml: `name`/`prefix` dropped (machine-specific); channel order kept (it is priority);
  conda dependencies sorted; a `pip:` list normalised like requirements.txt.
* pyproject.toml: its `[project].dependencies` (what images/spec_to_requirements.py installs) as a
  requirements.txt; with a `uv.lock` beside it, the locked versions of everything the project depends on,
  pinned (`name==version`, with the lock's environment markers).
* the current environment: every installed distribution pinned, except those installed from a local folder.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from teamstack.client.errors import SpecError

KEPT_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "--pre")
VERSION_CHECKED = ("dask", "distributed")
_ENV_KEYS = {"name", "prefix", "channels", "dependencies", "variables"}
_CONDA_DEP_RE = re.compile(r"^(?:[\w.-]+::)?([A-Za-z0-9][\w.-]*)\s*(?:(==?)\s*([\w.*+!-]+))?")


@dataclass(frozen=True)
class Spec:
    """A normalised spec: the file name the pipeline expects and its exact bytes."""

    filename: str
    content: bytes
    source: str
    # Exact versions the spec pins for dask/distributed (None: present but not pinned; absent: not listed).
    pins: dict[str, str | None] = field(default_factory=dict)


def _requirement_line(line: str, source: str, where: str) -> tuple[str, str]:
    """(canonical name, normalised requirement) of one requirement line."""
    try:
        requirement = Requirement(line)
    except InvalidRequirement as error:
        raise SpecError(f"{source}: {where} is not a requirement ({line!r}): {error}") from None
    if requirement.url and requirement.url.startswith("file:"):
        raise SpecError(f"{source}: {where} points at a local path ({line!r}); the image build cannot see it")
    name = canonicalize_name(requirement.name)
    requirement.name = name
    return name, str(requirement)


def _pins(requirements: Iterable[tuple[str, str]]) -> dict[str, str | None]:
    pins: dict[str, str | None] = {}
    for name, text in requirements:
        if name in VERSION_CHECKED:
            specifiers = list(Requirement(text).specifier)
            exact = [s.version for s in specifiers if s.operator in ("==", "===") and "*" not in s.version]
            pins[name] = exact[0] if len(specifiers) == 1 and exact else None
    return pins


def normalise_requirements(text: str, source: str = "requirements.txt") -> Spec:
    options: list[str] = []
    requirements: dict[str, str] = {}
    joined = re.sub(r"\\\r?\n", " ", text)  # line continuations
    for number, raw in enumerate(joined.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        where = f"line {number}"
        if line.startswith("-"):
            option = line.split("=", 1)[0].split()[0]
            if option not in KEPT_OPTIONS:
                raise SpecError(
                    f"{source}: {where}: option {option} is not supported in an image spec "
                    f"(allowed: {', '.join(KEPT_OPTIONS)}; include requirements inline, no local or editable ones)"
                )
            normalised = " ".join(line.replace("=", " ", 1).split()) if option != "--pre" else "--pre"
            if normalised not in options:
                options.append(normalised)
            continue
        name, requirement = _requirement_line(line, source, where)
        requirements[requirement] = name
    if not requirements:
        raise SpecError(f"{source} lists no requirements")
    ordered = sorted(requirements.items(), key=lambda item: (item[1], item[0]))
    body = "\n".join([*options, *(text for text, _ in ordered)]) + "\n"
    return Spec("requirements.txt", body.encode(), source, _pins((name, text) for text, name in ordered))


def normalise_environment_yml(text: str, source: str = "environment.yml") -> Spec:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpecError(f"{source} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        raise SpecError(f"{source} must be a mapping with a `dependencies` list")
    unknown = sorted(set(data) - _ENV_KEYS)
    if unknown:
        raise SpecError(f"{source}: unsupported key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_ENV_KEYS))})")
    channels = data.get("channels") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise SpecError(f"{source}: `channels` must be a list of channel names")
    conda: set[str] = set()
    pip: list[str] = []
    pins: dict[str, str | None] = {}
    for index, dependency in enumerate(data["dependencies"]):
        if isinstance(dependency, dict) and set(dependency) == {"pip"} and isinstance(dependency["pip"], list):
            pip_spec = normalise_requirements("\n".join(map(str, dependency["pip"])), f"{source} pip list")
            pip = pip_spec.content.decode().splitlines()
            pins.update(pip_spec.pins)
            continue
        if not isinstance(dependency, str | int | float):
            raise SpecError(f"{source}: dependencies[{index}] must be a package spec or a `pip:` list")
        text = " ".join(str(dependency).split())
        match = _CONDA_DEP_RE.match(text)
        if not match:
            raise SpecError(f"{source}: dependencies[{index}] is not a conda package spec: {text!r}")
        conda.add(text)
        name, operator, version = match.groups()
        if canonicalize_name(name) in VERSION_CHECKED and canonicalize_name(name) not in pins:
            exact = operator is not None and version is not None and "*" not in version and text == match.group(0)
            pins[canonicalize_name(name)] = version if exact else None
    normalised: dict[str, Any] = {}
    if channels:
        normalised["channels"] = channels
    normalised["dependencies"] = sorted(conda) + ([{"pip": pip}] if pip else [])
    if data.get("variables"):
        if not isinstance(data["variables"], dict):
            raise SpecError(f"{source}: `variables` must be a mapping")
        normalised["variables"] = {str(k): str(v) for k, v in sorted(data["variables"].items())}
    body = yaml.safe_dump(normalised, sort_keys=False, default_flow_style=False, width=10_000)
    return Spec("environment.yml", body.encode(), source, pins)


def _pyproject_dependencies(text: str, source: str) -> tuple[str, list[str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source} is not valid TOML: {error}") from None
    project = data.get("project")
    if not isinstance(project, dict):
        raise SpecError(f"{source} has no [project] table: list the environment in [project].dependencies")
    if "dependencies" in project.get("dynamic", []):
        raise SpecError(f"{source} declares dependencies as dynamic: list them in [project].dependencies")
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise SpecError(f"{source}: [project].dependencies must be a list of requirement strings")
    return str(project.get("name", "")), dependencies


def normalise_pyproject(text: str, source: str = "pyproject.toml") -> Spec:
    _, dependencies = _pyproject_dependencies(text, source)
    spec = normalise_requirements("\n".join(dependencies), f"{source} [project].dependencies")
    return Spec(spec.filename, spec.content, source, spec.pins)


def requirements_from_uv_lock(lock_text: str, project_name: str, source: str = "uv.lock") -> Spec:
    """Pins of every package the project (the lock's editable/virtual root) needs, from the lock."""
    try:
        lock = tomllib.loads(lock_text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source} is not valid TOML: {error}") from None
    packages = lock.get("package", [])
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(canonicalize_name(package.get("name", "")), []).append(package)
    root_name = canonicalize_name(project_name)
    if root_name not in by_name:
        raise SpecError(f"{source} has no package {project_name!r} (the project of the pyproject.toml beside it)")
    markers: dict[str, set[str | None]] = {}
    versions: dict[str, str] = {}
    pending: list[tuple[dict[str, Any], list[str]]] = [(by_name[root_name][0], [])]
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while pending:
        package, extras = pending.pop()
        edges = list(package.get("dependencies", []))
        for extra in extras:
            edges += package.get("optional-dependencies", {}).get(extra, [])
        for edge in edges:
            name = canonicalize_name(edge["name"])
            candidates = by_name.get(name, [])
            if "version" in edge:
                candidates = [c for c in candidates if c.get("version") == edge["version"]]
            if len(candidates) != 1:
                raise SpecError(
                    f"{source}: {name} is locked {len(candidates)} times (platform-specific resolutions); "
                    "export a requirements.txt with `uv export --no-hashes` instead"
                )
            target = candidates[0]
            kind = next(iter(target.get("source", {})), "")
            if kind not in ("registry",):
                raise SpecError(
                    f"{source}: {name} comes from a {kind or 'unknown'} source; only registry packages build"
                )
            versions[name] = str(target["version"])
            markers.setdefault(name, set()).add(edge.get("marker"))
            key = (name, tuple(sorted(edge.get("extra", []))))
            if key not in seen:
                seen.add(key)
                pending.append((target, list(edge.get("extra", []))))
    lines = []
    for package_name in sorted(versions):
        conditions = markers[package_name]
        # Any unconditional edge makes the package unconditional; otherwise it is needed where any marker holds.
        marker = "" if None in conditions else " or ".join(f"({m})" for m in sorted(c for c in conditions if c))
        lines.append(f"{package_name}=={versions[package_name]}" + (f" ; {marker}" if marker else ""))
    if not lines:
        raise SpecError(f"{source}: project {project_name!r} has no locked dependencies")
    spec = normalise_requirements("\n".join(lines), source)
    return Spec(spec.filename, spec.content, source, spec.pins)


def current_environment() -> Spec:
    """Every installed distribution of this interpreter, pinned; local/editable installs are left out."""
    pinned: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if not name or canonicalize_name(name) in pinned:
            continue  # the first on sys.path is the one imported
        location = Path(str(distribution.locate_file("")))
        if not {"site-packages", "dist-packages"} & set(location.parts):
            continue  # metadata of a source checkout on sys.path, not an installed package
        direct = distribution.read_text("direct_url.json")
        if direct and ("dir_info" in json.loads(direct) or json.loads(direct).get("url", "").startswith("file:")):
            continue  # installed from a local folder or file: nothing a build could fetch
        pinned[canonicalize_name(name)] = f"{canonicalize_name(name)}=={distribution.version}"
    requirements = list(pinned.values())
    spec = normalise_requirements("\n".join(requirements), "the current environment")
    return spec


def load_spec(spec: str | Path | None) -> Spec:
    """A spec file, a folder holding one, or None for the current environment -> the normalised `Spec`."""
    if spec is None:
        return current_environment()
    path = Path(spec)
    if path.is_dir():
        found = [
            path / name for name in ("pyproject.toml", "environment.yml", "requirements.txt") if (path / name).exists()
        ]
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise SpecError(
                f"{path}: expected exactly one of pyproject.toml, environment.yml, requirements.txt (found {names}); "
                "name the file"
            )
        path = found[0]
    if path.name == "uv.lock":
        path = path.with_name("pyproject.toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"cannot read environment spec {path}: {error}") from None
    name = path.name
    if name == "pyproject.toml":
        lock = path.with_name("uv.lock")
        if lock.exists():
            project_name, _ = _pyproject_dependencies(text, str(path))
            try:
                lock_text = lock.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise SpecError(f"cannot read {lock}: {error}") from None
            return requirements_from_uv_lock(lock_text, project_name, str(lock))
        return normalise_pyproject(text, str(path))
    if name in ("environment.yml", "environment.yaml") or name.endswith((".yml", ".yaml")):
        return normalise_environment_yml(text, str(path))
    if name.endswith(".txt"):
        return normalise_requirements(text, str(path))
    raise SpecError(
        f"unsupported environment spec {path}: expected a requirements .txt, an environment .yml, "
        "a pyproject.toml (with or without uv.lock) or no spec (the current environment)"
    )
