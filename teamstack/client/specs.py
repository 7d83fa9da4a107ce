"""Environment specs -> the one normalised requirements.txt the image pipeline builds (pure, no cloud calls).

Every producer (the client, `teamstack env tag`, the stack's default environment, `make image`) normalises
here, so the same file gives the same bytes, hence the same tag (teamstack.envhash), everywhere.

The normalised spec is a requirements.txt that says everything the image depends on:

    # teamstack: python=3.11                        the Python major.minor of the notebook it came from
    --index-url https://...                         kept options, first, in order
    dask==2026.3.0                                  the spec's requirements: canonical names, sorted, no duplicates
    distributed==2026.8.0                           + each shared Dask package the spec lacks, pinned to the
    ...                                               client's installed version (never a second install)
    # teamstack: wheel mypkg-0.1-py3-none-any.whl sha256=<hex>    local packages, by content hash

* requirements.txt: comments, blank lines and duplicates dropped; only `--index-url`/`--extra-index-url`/
  `--find-links`/`--pre` options kept.
* environment.yml: translated to pip requirements (one image family, one resolver; conda-forge channels are
  not used): `python=X.Y` sets the Python, `name=1.2` becomes `name==1.2.*`, a few conda names map to their
  PyPI names (pytorch -> torch), and conda-only packages (CUDA toolkits, compilers, C libraries, R) are
  refused in one line naming them; CUDA libraries come from the pip packages that need them (nvidia-* wheels).
* pyproject.toml: its `[project].dependencies`; with a `uv.lock` beside it, the locked versions of everything
  the project depends on.
* the current environment: every installed distribution pinned; packages installed from a local folder
  (editable or not) are returned as `local` for the client to build into wheels.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from teamstack.client.errors import SpecError

KEPT_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "--pre")
# What a Dask client and its workers must share (pickled functions, msgpack frames, array and frame formats).
SHARED_PACKAGES = ("dask", "distributed", "cloudpickle", "msgpack", "tornado", "toolz", "numpy", "pandas", "pyarrow")
# A worker needs these even when this client lacks them (then unpinned: the resolver chooses).
REQUIRED_PACKAGES = ("dask", "distributed")
VERSION_CHECKED = SHARED_PACKAGES
PYTHON_LINE = "# teamstack: python="
WHEEL_LINE = "# teamstack: wheel "
_PYTHON_RE = re.compile(r"^# teamstack: python=(\d+\.\d+)$", re.M)
_ENV_KEYS = {"name", "prefix", "channels", "dependencies"}
_CONDA_DEP_RE = re.compile(r"^(?:([\w.-]+)::)?([A-Za-z0-9_][\w.-]*)\s*(.*)$")
# conda-forge names whose PyPI project has another name.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "py-xgboost": "xgboost",
    "pytables": "tables",
    "matplotlib-base": "matplotlib",
    "msgpack-python": "msgpack",
    "python-graphviz": "graphviz",
    "python-kubernetes": "kubernetes",
    "ruamel_yaml": "ruamel.yaml",
}
# Packages that exist only as conda packages (system libraries, toolchains, other languages): no wheel brings them.
CONDA_ONLY = frozenset(
    {
        "cudatoolkit", "cuda-toolkit", "cuda-version", "cuda-nvcc", "cudnn", "nccl", "cutensor", "mkl", "openblas",
        "blas", "compilers", "c-compiler", "cxx-compiler", "fortran-compiler", "gcc", "gxx", "gfortran", "make",
        "nodejs", "openjdk", "git", "curl", "gdal", "proj", "geos", "hdf5", "netcdf4-c", "ffmpeg", "graphviz-bin",
        "pytorch-cuda", "pytorch-mutex", "cpuonly",
    }
)  # fmt: skip
_CONDA_ONLY_PREFIXES = ("lib", "r-", "_", "cuda-", "nvidia-cuda-")


@dataclass(frozen=True)
class ClientPython:
    """The interpreter a spec is normalised for: its major.minor and its installed versions."""

    version: str
    installed: Callable[[str], str | None]

    @staticmethod
    def current() -> ClientPython:
        def installed(name: str) -> str | None:
            try:
                return importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                return None

        return ClientPython(f"{sys.version_info.major}.{sys.version_info.minor}", installed)


@dataclass(frozen=True)
class LocalPackage:
    """A distribution of the current environment installed from a local folder (`pip install -e .`)."""

    name: str
    path: Path


@dataclass(frozen=True)
class Wheel:
    """A local package built into a wheel; the spec names it by file name and sha256."""

    filename: str
    sha256: str
    path: Path

    @staticmethod
    def of(path: Path) -> Wheel:
        return Wheel(path.name, hashlib.sha256(path.read_bytes()).hexdigest(), path)


@dataclass(frozen=True)
class Spec:
    """A normalised spec: the file name the pipeline expects and its exact bytes."""

    filename: str
    content: bytes
    source: str
    # Each shared Dask package the spec holds: its exact version (None: listed but not pinned to one version).
    pins: dict[str, str | None] = field(default_factory=dict)
    python: str = ""  # major.minor the image will have
    added: tuple[str, ...] = ()  # shared packages the spec lacked, added pinned to the client's versions
    local: tuple[LocalPackage, ...] = ()  # local packages still to build (current environment)
    wheels: tuple[Wheel, ...] = ()  # local packages built, named in content

    def with_wheels(self, wheels: Iterable[Wheel]) -> Spec:
        """This spec with the local packages' wheels named in it (their hashes become part of the tag)."""
        built = tuple(sorted(wheels, key=lambda w: w.filename))
        lines = [line for line in self.content.decode().splitlines() if not line.startswith(WHEEL_LINE)]
        lines += [f"{WHEEL_LINE}{w.filename} sha256={w.sha256}" for w in built]
        return replace(self, content=("\n".join(lines) + "\n").encode(), local=(), wheels=built)


def python_of(content: bytes) -> str | None:
    """The `# teamstack: python=X.Y` of a normalised spec."""
    match = _PYTHON_RE.search(content.decode(errors="replace"))
    return match.group(1) if match else None


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
        if name in SHARED_PACKAGES:
            specifiers = list(Requirement(text).specifier)
            exact = [s.version for s in specifiers if s.operator in ("==", "===") and "*" not in s.version]
            pins[name] = exact[0] if len(specifiers) == 1 and exact else None
    return pins


def normalise_requirements(
    text: str, source: str = "requirements.txt", *, python: str | None = None, client: ClientPython | None = None
) -> Spec:
    """A requirements text -> the normalised spec for `client` (default: this interpreter).

    `python` (major.minor) overrides the client's Python (an environment.yml that names its own).
    """
    client = client or ClientPython.current()
    python = python or client.version
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
    present = set(requirements.values())
    added = []
    for name in SHARED_PACKAGES:
        if name in present:
            continue
        version = client.installed(name)
        if version is not None:
            requirements[f"{name}=={version}"] = name
            added.append(name)
        elif name in REQUIRED_PACKAGES:
            requirements[name] = name
            added.append(name)
    ordered = sorted(requirements.items(), key=lambda item: (item[1], item[0]))
    body = "\n".join([f"{PYTHON_LINE}{python}", *options, *(text for text, _ in ordered)]) + "\n"
    pins = _pins((name, text) for text, name in ordered)
    return Spec("requirements.txt", body.encode(), source, pins, python=python, added=tuple(added))


def _conda_only(name: str) -> bool:
    return name in CONDA_ONLY or name.startswith(_CONDA_ONLY_PREFIXES)


def _conda_to_pip(text: str, source: str, index: int) -> tuple[str, str]:
    """One conda dependency -> (canonical conda name, its pip requirement; for python/pip: the bare constraint)."""
    match = _CONDA_DEP_RE.match(text)
    if not match:
        raise SpecError(f"{source}: dependencies[{index}] is not a conda package spec: {text!r}")
    _, raw_name, rest = match.groups()
    name = canonicalize_name(raw_name)
    parts = rest.split()
    constraint = parts[0] if parts else ""
    if len(parts) > 1 or re.fullmatch(r"=?[^=<>!~,|]+=[^=].*", constraint):
        raise SpecError(
            f"{source}: dependencies[{index}] {text!r} pins a conda build string, which pip cannot honour: "
            "give a version only"
        )
    if "|" in constraint:
        raise SpecError(f"{source}: dependencies[{index}] {text!r} uses `|` (or), which pip requirements cannot say")
    if name in ("python", "pip"):
        return name, constraint
    pypi = CONDA_TO_PYPI.get(name, name)
    if not constraint:
        return name, pypi
    if re.fullmatch(r"=?[\w.!+*]+", constraint):  # conda's `=1.2` and `1.2` mean 1.2.*
        version = constraint.lstrip("=")
        return name, f"{pypi}=={version if version.endswith('*') else version + '.*'}"
    return name, f"{pypi}{constraint}"


def normalise_environment_yml(
    text: str, source: str = "environment.yml", *, client: ClientPython | None = None
) -> Spec:
    """An environment.yml -> the normalised pip spec (see the module doc: one image family)."""
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
    lines: list[str] = []
    python: str | None = None
    refused: list[str] = []
    for index, dependency in enumerate(data["dependencies"]):
        if isinstance(dependency, dict) and set(dependency) == {"pip"} and isinstance(dependency["pip"], list):
            lines += [str(item) for item in dependency["pip"]]
            continue
        if not isinstance(dependency, str | int | float):
            raise SpecError(f"{source}: dependencies[{index}] must be a package spec or a `pip:` list")
        text_dep = " ".join(str(dependency).split())
        name, requirement = _conda_to_pip(text_dep, source, index)
        if name == "python":
            exact = re.fullmatch(r"=?=?(\d+)\.(\d+)(?:\.[\d*]+)?\*?", requirement)
            if requirement and not exact:
                raise SpecError(
                    f"{source}: dependencies[{index}] {text_dep!r}: name one Python version (python=3.11)"
                )
            python = f"{exact.group(1)}.{exact.group(2)}" if exact else None
        elif name == "pip":
            continue
        elif _conda_only(name):
            refused.append(text_dep)
        else:
            lines.append(requirement)
    if refused:
        raise SpecError(
            f"{source}: conda-only package(s) {', '.join(refused)} have no pip equivalent; images are built with "
            "pip packages only (CUDA libraries come with the packages that need them, e.g. torch's nvidia-* wheels): "
            "remove them"
        )
    return normalise_requirements("\n".join(lines), source, python=python, client=client)


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


def normalise_pyproject(text: str, source: str = "pyproject.toml", *, client: ClientPython | None = None) -> Spec:
    _, dependencies = _pyproject_dependencies(text, source)
    spec = normalise_requirements("\n".join(dependencies), f"{source} [project].dependencies", client=client)
    return replace(spec, source=source)


def requirements_from_uv_lock(
    lock_text: str, project_name: str, source: str = "uv.lock", *, client: ClientPython | None = None
) -> Spec:
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
    return normalise_requirements("\n".join(lines), source, client=client)


def _local_folder(direct_url: str | None) -> Path | None:
    """The folder a distribution was installed from (PEP 610 direct_url.json with dir_info), if any."""
    if not direct_url:
        return None
    try:
        data = json.loads(direct_url)
    except json.JSONDecodeError:
        return None
    url = str(data.get("url", ""))
    if "dir_info" not in data or not url.startswith("file:"):
        return None
    return Path(unquote(urlparse(url).path))


def current_environment(client: ClientPython | None = None) -> Spec:
    """Every installed distribution of this interpreter, pinned; those installed from a local folder (editable
    or not) are returned as `local` packages, for the client to build into wheels."""
    pinned: dict[str, str] = {}
    local: dict[str, LocalPackage] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if not name or canonicalize_name(name) in pinned or canonicalize_name(name) in local:
            continue  # the first on sys.path is the one imported
        location = Path(str(distribution.locate_file("")))
        if not {"site-packages", "dist-packages"} & set(location.parts):
            continue  # metadata of a source checkout on sys.path, not an installed package
        direct = distribution.read_text("direct_url.json")
        folder = _local_folder(direct)
        if folder is not None:
            if (folder / "pyproject.toml").is_file() or (folder / "setup.py").is_file():
                local[canonicalize_name(name)] = LocalPackage(canonicalize_name(name), folder)
            continue  # a folder that is gone cannot be built: the package is left out
        if direct and str(json.loads(direct).get("url", "")).startswith("file:"):
            continue  # a local archive: nothing a build could fetch
        pinned[canonicalize_name(name)] = f"{canonicalize_name(name)}=={distribution.version}"
    spec = normalise_requirements("\n".join(pinned.values()), "the current environment", client=client)
    return replace(spec, local=tuple(sorted(local.values(), key=lambda p: p.name)))


def load_spec(spec: str | Path | None, client: ClientPython | None = None) -> Spec:
    """A spec file, a folder holding one, or None for the current environment -> the normalised `Spec`."""
    if spec is None:
        return current_environment(client)
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
            return requirements_from_uv_lock(lock_text, project_name, str(lock), client=client)
        return normalise_pyproject(text, str(path), client=client)
    if name in ("environment.yml", "environment.yaml") or name.endswith((".yml", ".yaml")):
        return normalise_environment_yml(text, str(path), client=client)
    if name.endswith(".txt"):
        # A spec normalised before keeps its Python: normalising is idempotent.
        return normalise_requirements(text, str(path), python=python_of(text.encode()), client=client)
    raise SpecError(
        f"unsupported environment spec {path}: expected a requirements .txt, an environment .yml, "
        "a pyproject.toml (with or without uv.lock) or no spec (the current environment)"
    )
