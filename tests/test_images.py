"""The image pipeline's recipe (images/) and its content hashes (teamstack.envhash).

No Docker engine and no AWS here: the shell parts run under bash with stub `aws`, `docker`, `micromamba` and
`python` commands that log their arguments, which is enough to check the control flow the buildspec and the
Dockerfile's install step would take.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from teamstack import envhash
from teamstack.envhash import (
    SPEC_FILENAMES,
    VARIANTS,
    image_tag,
    parse_spec_key,
    recipe_hash,
    spec_key,
)

IMAGES = Path(__file__).resolve().parent.parent / "images"
BUILDSPEC = IMAGES / "buildspec.yml"
DOCKERFILE = IMAGES / "Dockerfile"
ENVTAG = IMAGES / "envtag.sh"
CHECK_SPEC_KEY = IMAGES / "check_spec_key.sh"
HELPER = IMAGES / "spec_to_requirements.py"

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None or shutil.which("sha256sum") is None, reason="needs bash and coreutils")

RECIPE = "0123456789abcdef"
TAG = "0123456789abcdef0123456789abcdef"


def run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


# ---------------------------------------------------------------------------------------------------------------
# teamstack.envhash


def test_image_tag_matches_its_documented_formula() -> None:
    spec = b"dask==2024.8.0\n"
    expected = hashlib.sha256(b"teamstack-env-v1\n" + RECIPE.encode() + b"\ngpu\n" + spec).hexdigest()[:32]
    assert image_tag(RECIPE, "gpu", spec) == expected
    assert re.fullmatch(r"[0-9a-f]{32}", expected)


def test_image_tag_depends_on_every_input() -> None:
    base = image_tag(RECIPE, "cpu", b"dask\n")
    assert image_tag("fedcba9876543210", "cpu", b"dask\n") != base
    assert image_tag(RECIPE, "gpu", b"dask\n") != base
    assert image_tag(RECIPE, "cpu", b"dask") != base
    assert image_tag(RECIPE, "cpu", b"dask\n") == base


@pytest.mark.parametrize("variant", ["tpu", "CPU", "", "cpu\n"])
def test_image_tag_rejects_unknown_variant(variant: str) -> None:
    with pytest.raises(ValueError, match="variant"):
        image_tag(RECIPE, variant, b"dask\n")


@pytest.mark.parametrize("bad", ["", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg"])
def test_image_tag_rejects_malformed_recipe_hash(bad: str) -> None:
    with pytest.raises(ValueError, match="recipe hash"):
        image_tag(bad, "cpu", b"dask\n")


def test_image_tag_wants_bytes() -> None:
    with pytest.raises(TypeError):
        image_tag(RECIPE, "cpu", "dask\n")  # type: ignore[arg-type]


def _write(root: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def test_recipe_hash_matches_its_documented_formula(tmp_path: Path) -> None:
    _write(tmp_path, {"b.txt": b"bee", "a/z.sh": b"zed\n", "Dockerfile": b"FROM x\n"})
    digest = hashlib.sha256()
    for relative, content in sorted({"b.txt": b"bee", "a/z.sh": b"zed\n", "Dockerfile": b"FROM x\n"}.items()):
        digest.update(relative.encode() + b"\0" + content + b"\0")
    assert recipe_hash(tmp_path) == digest.hexdigest()[:16]


def test_recipe_hash_of_the_real_recipe_is_stable() -> None:
    first = recipe_hash(IMAGES)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert recipe_hash(IMAGES) == first


def test_recipe_hash_changes_with_content_and_names_and_ignores_bytecode(tmp_path: Path) -> None:
    copy = tmp_path / "images"
    shutil.copytree(IMAGES, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    original = recipe_hash(copy)
    assert original == recipe_hash(IMAGES)

    _write(copy, {"__pycache__/spec_to_requirements.cpython-311.pyc": b"\x00bytecode",
                  "nested/__pycache__/x.cpython-312.pyc": b"more", "stray.pyc": b"stray"})
    assert recipe_hash(copy) == original

    dockerfile = copy / "Dockerfile"
    dockerfile.write_bytes(dockerfile.read_bytes() + b"\n# a comment is a change\n")
    changed = recipe_hash(copy)
    assert changed != original

    (copy / "envtag.sh").rename(copy / "envtag2.sh")
    assert recipe_hash(copy) != changed

    _write(copy, {"extra/notes.txt": b""})
    assert recipe_hash(copy) not in {original, changed}


def test_recipe_hash_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        recipe_hash(tmp_path / "missing")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("filename", SPEC_FILENAMES)
def test_spec_key_round_trips(variant: str, filename: str) -> None:
    tag = image_tag(RECIPE, variant, b"dask\n")
    key = spec_key(variant, tag, filename)
    assert key == f"specs/{variant}/{tag}/{filename}"
    assert parse_spec_key(key) == (variant, tag, filename)


@pytest.mark.parametrize(
    ("variant", "tag", "filename", "message"),
    [
        ("tpu", TAG, "requirements.txt", "variant"),
        ("cpu", TAG.upper(), "requirements.txt", "tag"),
        ("cpu", TAG[:-1], "requirements.txt", "tag"),
        ("cpu", "../" + TAG[3:], "requirements.txt", "tag"),
        ("cpu", TAG, "uv.lock", "spec file name"),
        ("cpu", TAG, "environment.yaml", "spec file name"),
    ],
)
def test_spec_key_rejects_bad_parts(variant: str, tag: str, filename: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec_key(variant, tag, filename)


GOOD_KEYS = [f"specs/{v}/{TAG}/{f}" for v in VARIANTS for f in SPEC_FILENAMES]
BAD_KEYS = [
    "",
    "specs/",
    f"specs/cpu/{TAG}",
    f"specs/cpu/{TAG}/",
    f"specs/cpu/{TAG}/requirements.txt\n",
    f"specs/cpu/{TAG}/requirements.txt/",
    f"/specs/cpu/{TAG}/requirements.txt",
    f"xspecs/cpu/{TAG}/requirements.txt",
    f"recipes/cpu/{TAG}/requirements.txt",
    f"specs/tpu/{TAG}/requirements.txt",
    f"specs/CPU/{TAG}/requirements.txt",
    f"specs/cpu/{TAG.upper()}/requirements.txt",
    f"specs/cpu/{TAG[:-1]}/requirements.txt",
    f"specs/cpu/{TAG}0/requirements.txt",
    f"specs/cpu/{TAG[:-1]}\u0663/requirements.txt",
    f"specs/cpu/{TAG}/uv.lock",
    f"specs/cpu/{TAG}/requirements_txt",
    f"specs/cpu/{TAG}/sub/requirements.txt",
    f"specs/cpu/{TAG}/../requirements.txt",
    f"specs//{TAG}/requirements.txt",
    f"specs/cpu/{TAG}/requirements.txt ",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_parse_spec_key_rejects_bad_keys(key: str) -> None:
    with pytest.raises(ValueError, match="invalid spec key"):
        parse_spec_key(key)


def test_parse_spec_key_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="string"):
        parse_spec_key(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------
# images/envtag.sh and images/check_spec_key.sh agree with Python

SPECS = [
    b"",
    b"dask==2024.8.0\ndistributed==2024.8.0\n",
    b"numpy>=2\nscipy",  # no trailing newline
    "name: caf\u00e9-\u73af\u5883\ndependencies:\n  - python=3.12\n  - pip:\n      - na\u00efve-pkg\n".encode(),
    b"a\r\nb\r\n",
    bytes(range(256)),
    b"\n\n\n",
    b"x" * 200_000,
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_envtag_sh_agrees_with_image_tag(tmp_path: Path, spec: bytes, variant: str) -> None:
    spec_file = tmp_path / "spec file with spaces.txt"
    spec_file.write_bytes(spec)
    result = run([BASH, ENVTAG, RECIPE, variant, spec_file])
    assert result.returncode == 0, result.stderr
    assert result.stdout == image_tag(RECIPE, variant, spec) + "\n"


def test_envtag_sh_reads_the_recipe_hash_it_is_given(tmp_path: Path) -> None:
    spec_file = tmp_path / "requirements.txt"
    spec_file.write_bytes(b"dask\n")
    real = recipe_hash(IMAGES)
    result = run([BASH, ENVTAG, real, "gpu", spec_file])
    assert result.stdout.strip() == image_tag(real, "gpu", b"dask\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([RECIPE, "tpu"], "usage"),
        ([RECIPE, "tpu", "SPEC"], "variant"),
        (["0123456789ABCDEF", "cpu", "SPEC"], "recipe hash"),
        (["0123456789abcde", "cpu", "SPEC"], "recipe hash"),
        (["", "cpu", "SPEC"], "recipe hash"),
        ([RECIPE, "cpu", "MISSING"], "not a readable file"),
    ],
)
def test_envtag_sh_rejects_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "SPEC").write_bytes(b"dask\n")
    result = run([BASH, ENVTAG, *args], cwd=tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""
    assert message in result.stderr


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_check_spec_key_sh_accepts_good_keys_like_python(key: str) -> None:
    result = run([BASH, CHECK_SPEC_KEY, key])
    assert result.returncode == 0, result.stderr
    assert tuple(result.stdout.split()) == parse_spec_key(key)
    assert result.stdout.count("\n") == 1


@pytest.mark.parametrize("key", BAD_KEYS)
def test_check_spec_key_sh_rejects_bad_keys_like_python(key: str) -> None:
    result = run([BASH, CHECK_SPEC_KEY, key])
    assert result.returncode == 2
    assert result.stdout == ""
    assert "invalid spec key" in result.stderr


def test_check_spec_key_sh_wants_one_argument() -> None:
    assert run([BASH, CHECK_SPEC_KEY]).returncode == 2
    assert run([BASH, CHECK_SPEC_KEY, GOOD_KEYS[0], GOOD_KEYS[0]]).returncode == 2


# ---------------------------------------------------------------------------------------------------------------
# images/spec_to_requirements.py

SAMPLE_PYPROJECT = """\
[build-system]
requires = ["hatchling"]

[project]
name = "churn-model"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = [
  "pandas>=2.2,<3",
  "  scikit-learn==1.5.1  ",
  "xgboost[scikit-learn]~=2.1",
  'pywin32>=306; sys_platform == "win32"',
  "mylib @ https://example.invalid/mylib-1.0-py3-none-any.whl#sha256=00",
]

[project.optional-dependencies]
dev = ["pytest"]
"""


def test_spec_to_requirements_turns_dependencies_into_requirement_lines(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(SAMPLE_PYPROJECT)
    result = run([sys.executable, HELPER, tmp_path / "pyproject.toml"])
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    assert lines == [
        "pandas>=2.2,<3",
        "scikit-learn==1.5.1",
        "xgboost[scikit-learn]~=2.1",
        'pywin32>=306; sys_platform == "win32"',
        "mylib @ https://example.invalid/mylib-1.0-py3-none-any.whl#sha256=00",
    ]
    # optional dependencies (dev = ["pytest"]) are not part of the environment: the list above is all


def test_spec_to_requirements_accepts_a_project_without_dependencies(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "empty"\n')
    result = run([sys.executable, HELPER, tmp_path / "pyproject.toml"])
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if not line.startswith("#")] == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tool.poetry.dependencies]\npython = "^3.11"\n', "Poetry"),
        ('[project]\nname = "x"\ndynamic = ["dependencies"]\n', "dynamic"),
        ('[project]\nname = "x"\ndependencies = "pandas"\n', "must be a list"),
        ('[project]\nname = "x"\ndependencies = [1]\n', "not a string"),
        ('[project]\nname = "x"\ndependencies = ["--index-url https://evil.invalid"]\n', "not a requirement"),
        ('[project]\nname = "x"\ndependencies = ["-e ."]\n', "not a requirement"),
        ('[project]\nname = "x"\ndependencies = ["pandas\\n--pre"]\n', "not a requirement"),
        ("[project\n", "not valid TOML"),
    ],
)
def test_spec_to_requirements_rejects_what_it_cannot_install(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    result = run([sys.executable, HELPER, tmp_path / "pyproject.toml"])
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_spec_to_requirements_usage_errors(tmp_path: Path) -> None:
    assert run([sys.executable, HELPER]).returncode == 2
    assert run([sys.executable, HELPER, "a", "b"]).returncode == 2
    assert run([sys.executable, HELPER, tmp_path / "absent.toml"]).returncode == 1


def test_spec_to_requirements_lists_missing_distributions() -> None:
    result = run([sys.executable, HELPER, "--missing", "pytest", "no-such-dist-teamstack", "PyYAML",
                  "another-absent-dist"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no-such-dist-teamstack another-absent-dist\n"
    assert run([sys.executable, HELPER, "--missing", "pytest"]).stdout == "\n"


# ---------------------------------------------------------------------------------------------------------------
# images/Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, as Docker reads them."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "Dockerfile ends inside a continuation"
    return instructions


def test_dockerfile_pins_its_base_image_by_version() -> None:
    instructions = dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(froms) == 1
    defaults = {}
    for keyword, args in instructions:
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in args:
            name, _, value = args.partition("=")
            defaults[name] = value
    image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], froms[0].split()[0])
    name, _, tag = image.partition(":")
    assert name in {"mambaorg/micromamba", "docker.io/mambaorg/micromamba"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[a-z0-9.]+)*", tag), f"base image {image} is not pinned to a version tag"
    assert "latest" not in image


def test_dockerfile_never_runs_as_root_and_keeps_the_micromamba_entrypoint() -> None:
    instructions = dockerfile_instructions()
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "the image should name its (non-root) user explicitly"
    for user in users:
        assert user.split(":")[0] not in {"root", "0"}
    assert users[-1] == "${MAMBA_USER_ID}:${MAMBA_USER_GID}"  # numeric: runAsNonRoot can verify it
    entrypoints = [args for keyword, args in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints == ['["/usr/local/bin/_entrypoint.sh"]']
    position = {keyword: index for index, (keyword, _) in enumerate(instructions)}
    assert position["USER"] > position["RUN"]


def test_dockerfile_uses_the_helper_labels_its_image_and_cleans_in_the_same_layer() -> None:
    text = DOCKERFILE.read_text()
    assert "spec_to_requirements.py" in text
    instructions = dockerfile_instructions()
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert len(runs) == 1
    assert "micromamba clean --all --yes" in runs[0]
    assert "--no-cache-dir" in runs[0]
    assert "CONDA_OVERRIDE_CUDA" in runs[0]
    labels = " ".join(args for keyword, args in instructions if keyword == "LABEL")
    for label in ("org.opencontainers.image.title", "org.opencontainers.image.version",
                  "org.opencontainers.image.base.name", "teamstack.variant", "teamstack.recipe-hash"):
        assert f"{label}=" in labels
    args = {args.partition("=")[0] for keyword, args in instructions if keyword == "ARG"}
    assert {"SPEC_FILE", "VARIANT", "CUDA_VERSION", "RECIPE_HASH", "IMAGE_TAG"} <= args


def dockerfile_run_script() -> str:
    (script,) = [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]
    return script


def test_dockerfile_run_step_is_valid_bash() -> None:
    result = run([BASH, "-n", "-c", dockerfile_run_script()])
    assert result.returncode == 0, result.stderr


PYTHON_STUB = """#!/usr/bin/env bash
printf 'python %s\\n' "$*" >>"$STUB_LOG"
if [ "${2-}" = --missing ]; then echo "${STUB_MISSING-}"; exit 0; fi
case "${1-}" in *spec_to_requirements.py) exec "$REAL_PYTHON" "$@" ;; esac
previous=""
for arg in "$@"; do
  if [ "$previous" = -r ]; then cat "$arg" >>"$STUB_REQUIREMENTS"; fi
  previous=$arg
done
"""

MICROMAMBA_STUB = """#!/usr/bin/env bash
printf 'micromamba %s CUDA=%s\\n' "$*" "${CONDA_OVERRIDE_CUDA-none}" >>"$STUB_LOG"
for arg in "$@"; do
  case "$arg" in python=*) cp "$STUB_DIR/python" "$MAMBA_ROOT_PREFIX/bin/python" ;; esac
done
"""


class DockerRun:
    """The Dockerfile's RUN step under bash, with stub micromamba/python/dask that log their arguments."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.app = root / "opt-teamstack"
        self.prefix = root / "conda"
        self.stubs = root / "stubs"
        self.log = root / "log"
        self.requirements = root / "requirements-seen"
        for folder in (self.app / "spec", self.prefix / "bin", self.stubs, root / "home"):
            folder.mkdir(parents=True)
        shutil.copy(HELPER, self.app / "spec_to_requirements.py")
        for name, text in {"python": PYTHON_STUB, "micromamba": MICROMAMBA_STUB}.items():
            (self.stubs / name).write_text(text)
            (self.stubs / name).chmod(0o755)
        (self.prefix / "bin" / "dask").write_text('#!/bin/sh\necho "dask $*" >>"$STUB_LOG"\n')
        (self.prefix / "bin" / "dask").chmod(0o755)

    def with_python(self) -> DockerRun:
        shutil.copy(self.stubs / "python", self.prefix / "bin" / "python")
        return self

    def __call__(self, spec_file: str, spec: str, variant: str = "cpu",
                 missing: str = "") -> subprocess.CompletedProcess[str]:
        if spec_file:
            (self.app / "spec" / spec_file).write_text(spec)
        env = {
            "PATH": f"{self.stubs}:{os.environ['PATH']}",
            "HOME": str(self.root / "home"),
            "MAMBA_USER": "mambauser",
            "MAMBA_ROOT_PREFIX": str(self.prefix),
            "TEAMSTACK_DIR": str(self.app),
            "SPEC_FILE": spec_file,
            "VARIANT": variant,
            "CUDA_VERSION": "12.4",
            "PYTHON_VERSION": "3.12",
            "STUB_LOG": str(self.log),
            "STUB_DIR": str(self.stubs),
            "STUB_MISSING": missing,
            "STUB_REQUIREMENTS": str(self.requirements),
            "REAL_PYTHON": sys.executable,
            "TMPDIR": str(self.root),
        }
        return run([BASH, "-o", "pipefail", "-c", dockerfile_run_script()], env=env, cwd=self.root)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def test_docker_run_requirements_txt(tmp_path: Path) -> None:
    docker_run = DockerRun(tmp_path)
    result = docker_run("requirements.txt", "pandas==2.2.2\ndask==2024.8.0\n", missing="bokeh s3fs")
    assert result.returncode == 0, result.stderr
    calls = docker_run.calls()
    assert calls[0] == "micromamba install --yes --name base -c conda-forge python=3.12 pip CUDA=none"
    assert f"python -m pip install --no-cache-dir --no-input -r {docker_run.app}/spec/requirements.txt" in calls
    assert "python -m pip install --no-cache-dir --no-input bokeh s3fs" in calls
    assert any(call.startswith("python -c import bokeh, dask, distributed, s3fs") for call in calls)
    assert "dask --help" in calls
    assert calls[-1].startswith("micromamba clean --all --yes")
    assert docker_run.requirements.read_text() == "pandas==2.2.2\ndask==2024.8.0\n"


def test_docker_run_adds_nothing_when_the_spec_has_everything(tmp_path: Path) -> None:
    docker_run = DockerRun(tmp_path)
    result = docker_run("requirements.txt", "dask[distributed]\nbokeh\ns3fs\n", missing="")
    assert result.returncode == 0, result.stderr
    pip_installs = [call for call in docker_run.calls() if call.startswith("python -m pip install")]
    assert len(pip_installs) == 1


def test_docker_run_pyproject_gpu_installs_its_dependencies_with_a_cuda_override(tmp_path: Path) -> None:
    docker_run = DockerRun(tmp_path)
    result = docker_run("pyproject.toml", SAMPLE_PYPROJECT, variant="gpu", missing="dask distributed bokeh s3fs")
    assert result.returncode == 0, result.stderr
    calls = docker_run.calls()
    assert calls[0] == "micromamba install --yes --name base -c conda-forge python=3.12 pip CUDA=12.4"
    seen = [line for line in docker_run.requirements.read_text().splitlines() if not line.startswith("#")]
    assert seen[:3] == ["pandas>=2.2,<3", "scikit-learn==1.5.1", "xgboost[scikit-learn]~=2.1"]
    assert "python -m pip install --no-cache-dir --no-input dask distributed bokeh s3fs" in calls
    assert not list(tmp_path.glob("tmp.*")), "the step leaves no scratch files behind"


def test_docker_run_environment_yml_uses_micromamba_and_adds_what_is_missing(tmp_path: Path) -> None:
    docker_run = DockerRun(tmp_path).with_python()
    spec = "name: analysis\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - xarray\n"
    result = docker_run("environment.yml", spec, variant="gpu", missing="bokeh")
    assert result.returncode == 0, result.stderr
    calls = docker_run.calls()
    assert calls[0] == f"micromamba install --yes --name base --file {docker_run.app}/spec/environment.yml CUDA=12.4"
    assert "micromamba install --yes --name base --freeze-installed -c conda-forge bokeh CUDA=12.4" in calls
    assert not any("pip" in call for call in calls)


def test_docker_run_environment_yml_without_channels_or_python(tmp_path: Path) -> None:
    docker_run = DockerRun(tmp_path)  # the spec's solve yields no python
    result = docker_run("environment.yml", "dependencies:\n  - zlib\n", missing="dask distributed bokeh s3fs")
    assert result.returncode == 0, result.stderr
    calls = docker_run.calls()
    assert calls[0] == (f"micromamba install --yes --name base -c conda-forge --file "
                        f"{docker_run.app}/spec/environment.yml CUDA=none")
    assert calls[1] == "micromamba install --yes --name base --freeze-installed -c conda-forge python=3.12 CUDA=none"
    assert ("micromamba install --yes --name base --freeze-installed -c conda-forge dask distributed bokeh s3fs "
            "CUDA=none") in calls


@pytest.mark.parametrize(
    ("spec_file", "variant", "message"),
    [
        ("requirements.txt", "tpu", "VARIANT must be cpu or gpu"),
        ("uv.lock", "cpu", "unsupported SPEC_FILE"),
        ("", "cpu", "SPEC_FILE must name a file"),
    ],
)
def test_docker_run_rejects_bad_build_args(tmp_path: Path, spec_file: str, variant: str, message: str) -> None:
    docker_run = DockerRun(tmp_path)
    result = docker_run(spec_file, "x\n", variant=variant)
    assert result.returncode != 0
    assert message in result.stderr
    assert not [call for call in docker_run.calls() if "install" in call]


def test_docker_run_fails_when_the_pyproject_cannot_be_converted(tmp_path: Path) -> None:
    docker_run = DockerRun(tmp_path)
    result = docker_run("pyproject.toml", '[project]\nname = "x"\ndynamic = ["dependencies"]\n')
    assert result.returncode != 0
    assert "dynamic" in result.stderr
    assert not any(call.startswith("python -m pip") for call in docker_run.calls())


# ---------------------------------------------------------------------------------------------------------------
# images/buildspec.yml


def buildspec() -> dict:
    document = yaml.safe_load(BUILDSPEC.read_text())
    assert isinstance(document, dict)
    return document


PHASES = ("install", "pre_build", "build", "post_build")


def test_buildspec_structure() -> None:
    document = buildspec()
    assert str(document["version"]) == "0.2"
    assert document["env"]["shell"] == "bash"
    assert document["env"]["variables"]["CUDA_VERSION"] == "12.4"
    assert set(document["env"]["exported-variables"]) == {"IMAGE_URI", "SPEC_TAG", "SKIP_BUILD"}
    assert tuple(document["phases"]) == PHASES
    for phase in PHASES:
        commands = document["phases"][phase]["commands"]
        assert commands and all(isinstance(command, str) for command in commands)
    for phase in ("install", "pre_build", "build"):
        assert document["phases"][phase]["on-failure"] == "ABORT"


def all_commands() -> list[str]:
    document = buildspec()
    return [command for phase in PHASES for command in document["phases"][phase]["commands"]]


def test_buildspec_commands_are_strict_valid_bash() -> None:
    for command in all_commands():
        lines = command.strip().splitlines()
        assert lines[0] == "set -euo pipefail", command
        assert lines[-1] == "set +euo pipefail", command
        result = run([BASH, "-n", "-c", command])
        assert result.returncode == 0, result.stderr


def test_buildspec_uses_the_shared_scripts() -> None:
    text = "\n".join(all_commands())
    assert 'bash check_spec_key.sh "${SPEC_KEY}"' in text
    assert 'bash envtag.sh "${RECIPE_HASH}"' in text
    assert "aws ecr describe-images" in text
    assert 'docker login --username AWS --password-stdin "${REGISTRY_HOST}"' in text
    assert 'docker push "${IMAGE_URI}"' in text


AWS_STUB = """#!/usr/bin/env bash
printf 'aws %s\\n' "$*" >>"$STUB_LOG"
case "$1 ${2-}" in
  "--version ") echo "aws-cli/2 (stub)" ;;
  "s3 cp")
    source="" target=""
    for arg in "${@:3}"; do
      case "$arg" in s3://*) source=${arg#s3://} ;; --*) ;; *) target=$arg ;; esac
    done
    cp "$FAKE_S3/$source" "$target" ;;
  "ecr describe-images")
    count=$(( $(cat "$STUB_STATE" 2>/dev/null || echo 0) + 1 ))
    echo "$count" >"$STUB_STATE"
    if [ "$STUB_ECR" = denied ]; then
      echo "An error occurred (AccessDeniedException) when calling the DescribeImages operation" >&2; exit 254
    fi
    if [ "$STUB_ECR" = exists ] || { [ "$STUB_ECR" = appears ] && [ "$count" -gt 1 ]; }; then
      echo '{"imageDetails": [{}]}'; exit 0
    fi
    echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation" >&2; exit 254 ;;
  "ecr get-login-password") echo stub-password ;;
  *) echo "aws stub: unexpected call: $*" >&2; exit 1 ;;
esac
"""

DOCKER_STUB = """#!/usr/bin/env bash
printf 'docker %s\\n' "$*" >>"$STUB_LOG"
case "$1" in
  version) echo "docker 27.0 (stub)" ;;
  login) [ "$(cat)" = stub-password ] || { echo "docker stub: wrong password" >&2; exit 1; } ;;
  build) [ -f Dockerfile ] && [ -d spec ] || exit 1 ;;
  push) [ "$STUB_PUSH" = ok ] || { echo "tag invalid: the image tag already exists" >&2; exit 1; } ;;
  *) echo "docker stub: unexpected call: $*" >&2; exit 1 ;;
esac
"""

BUCKET = "analytics-build-123456789012"
REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/analytics/dask"


class CodeBuild:
    """Runs every phase's commands in one bash process, as buildspec version 0.2 does, against stubs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.source = root / "src"
        shutil.copytree(IMAGES, self.source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.bucket = root / "s3"
        self.stubs = root / "stubs"
        self.stubs.mkdir()
        self.log = root / "log"
        for name, text in {"aws": AWS_STUB, "docker": DOCKER_STUB}.items():
            (self.stubs / name).write_text(text)
            (self.stubs / name).chmod(0o755)
        self.recipe = recipe_hash(IMAGES)

    def upload(self, variant: str, filename: str, spec: bytes, tag: str | None = None) -> str:
        key = spec_key(variant, tag or image_tag(self.recipe, variant, spec), filename)
        path = self.bucket / BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(spec)
        return key

    def __call__(self, spec_key: str, ecr: str = "missing", push: str = "ok",
                 **overrides: str | None) -> subprocess.CompletedProcess[str]:
        document = buildspec()
        script = "\n".join(all_commands()) + "\n"
        env = {
            "PATH": f"{self.stubs}:{os.environ['PATH']}",
            "HOME": str(self.root),
            "TMPDIR": str(self.root),
            **{name: str(value) for name, value in document["env"]["variables"].items()},
            "SPEC_KEY": spec_key,
            "BUILD_BUCKET": BUCKET,
            "REPOSITORY_URI": REPOSITORY,
            "RECIPE_HASH": self.recipe,
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            "FAKE_S3": str(self.bucket),
            "STUB_LOG": str(self.log),
            "STUB_STATE": str(self.root / "describe-count"),
            "STUB_ECR": ecr,
            "STUB_PUSH": push,
        }
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return run([BASH, "-c", script], env=env, cwd=self.source)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def test_codebuild_builds_and_pushes_a_new_spec(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    spec = "torch==2.4.0\ncaf\u00e9-tools\n".encode()
    key = codebuild.upload("gpu", "requirements.txt", spec)
    tag = parse_spec_key(key)[1]
    result = codebuild(key)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = codebuild.calls()
    assert f"aws s3 cp --only-show-errors s3://{BUCKET}/{key} spec/requirements.txt" in calls
    assert (f"aws ecr describe-images --region eu-west-1 --registry-id 123456789012 --repository-name analytics/dask "
            f"--image-ids imageTag={tag}") in calls
    assert "aws ecr get-login-password --region eu-west-1" in calls
    assert "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com" in calls
    (build,) = [call for call in calls if call.startswith("docker build")]
    assert build == (
        f"docker build --pull --build-arg SPEC_FILE=requirements.txt --build-arg VARIANT=gpu "
        f"--build-arg CUDA_VERSION=12.4 --build-arg RECIPE_HASH={codebuild.recipe} --build-arg IMAGE_TAG={tag} "
        f"--tag {REPOSITORY}:{tag} --file Dockerfile ."
    )
    assert calls[-1] == f"docker push {REPOSITORY}:{tag}"
    assert (codebuild.source / "spec" / "requirements.txt").read_bytes() == spec
    assert f"pushed {REPOSITORY}:{tag}" in result.stdout


def test_codebuild_passes_a_base_image_mirror(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "environment.yml", b"dependencies:\n  - dask\n")
    mirror = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/mambaorg/micromamba:2.0.5"
    result = codebuild(key, BASE_IMAGE=mirror)
    assert result.returncode == 0, result.stderr
    (build,) = [call for call in codebuild.calls() if call.startswith("docker build")]
    assert f"--build-arg BASE_IMAGE={mirror} " in build


def test_codebuild_skips_an_existing_image(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "pyproject.toml", SAMPLE_PYPROJECT.encode())
    result = codebuild(key, ecr="exists")
    assert result.returncode == 0, result.stderr
    assert not [call for call in codebuild.calls() if call.startswith(("docker login", "docker build", "docker push"))]
    assert "already exists: nothing to build" in result.stdout


def test_codebuild_refuses_a_spec_under_someone_elses_tag(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    other_tag = image_tag(codebuild.recipe, "cpu", b"numpy\n")
    key = codebuild.upload("cpu", "requirements.txt", b"numpy\nmalware\n", tag=other_tag)
    result = codebuild(key)
    assert result.returncode != 0
    assert "REFUSED" in result.stderr
    assert f"not to the tag {other_tag}" in result.stderr
    assert not [call for call in codebuild.calls() if call.startswith(("aws ecr", "docker login", "docker build"))]


def test_codebuild_refuses_a_spec_hashed_with_another_recipe(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    spec = b"dask\n"
    key = codebuild.upload("cpu", "requirements.txt", spec, tag=image_tag("ffffffffffffffff", "cpu", spec))
    result = codebuild(key)
    assert result.returncode != 0
    assert "REFUSED" in result.stderr


@pytest.mark.parametrize("key", [f"specs/cpu/{TAG}/uv.lock", f"specs/tpu/{TAG}/requirements.txt", "specs/x"])
def test_codebuild_rejects_a_bad_key_before_downloading(tmp_path: Path, key: str) -> None:
    codebuild = CodeBuild(tmp_path)
    result = codebuild(key)
    assert result.returncode != 0
    assert "invalid spec key" in result.stderr
    assert not [call for call in codebuild.calls() if call.startswith("aws s3")]


def test_codebuild_fails_when_it_cannot_check_the_registry(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "requirements.txt", b"dask\n")
    result = codebuild(key, ecr="denied")
    assert result.returncode != 0
    assert "AccessDeniedException" in result.stderr
    assert not [call for call in codebuild.calls() if call.startswith("docker build")]


def test_codebuild_accepts_a_concurrent_push_of_the_same_tag(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "requirements.txt", b"dask\n")
    result = codebuild(key, ecr="appears", push="refused")
    assert result.returncode == 0, result.stderr
    assert "concurrent build" in result.stdout


def test_codebuild_fails_when_the_push_fails(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "requirements.txt", b"dask\n")
    result = codebuild(key, push="refused")
    assert result.returncode != 0
    assert "docker push" in result.stderr


@pytest.mark.parametrize("missing", ["SPEC_KEY", "BUILD_BUCKET", "REPOSITORY_URI", "RECIPE_HASH"])
def test_codebuild_needs_its_environment(tmp_path: Path, missing: str) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "requirements.txt", b"dask\n")
    result = codebuild(key, **{missing: None})
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert codebuild.calls() == []


@pytest.mark.parametrize("uri", [f"{REPOSITORY}:latest", "analytics/dask", "docker.io/library/python"])
def test_codebuild_rejects_a_repository_uri_that_is_not_ecr(tmp_path: Path, uri: str) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "requirements.txt", b"dask\n")
    result = codebuild(key, REPOSITORY_URI=uri)
    assert result.returncode != 0
    assert "is not an ECR repository URI" in result.stderr


def test_codebuild_refuses_a_malformed_recipe_hash(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "requirements.txt", b"dask\n")
    result = codebuild(key, RECIPE_HASH="not-a-hash")
    assert result.returncode != 0
    assert "invalid recipe hash" in result.stderr
    assert not [call for call in codebuild.calls() if call.startswith(("aws ecr", "docker login", "docker build"))]


def test_envhash_constants_match_the_shell_scripts() -> None:
    key_check = CHECK_SPEC_KEY.read_text()
    assert f"^specs/({'|'.join(VARIANTS)})/([0-9a-f]{{{envhash.TAG_LENGTH}}})/" in key_check
    assert "(" + "|".join(name.replace(".", "\\.") for name in SPEC_FILENAMES) + ")$" in key_check
    envtag = ENVTAG.read_text()
    assert "printf '" + envhash.TAG_DOMAIN.decode().replace("\n", "\\n") in envtag
    assert " | ".join(VARIANTS) + ")" in envtag
    assert f"cut -c1-{envhash.TAG_LENGTH}" in envtag
    assert f'-eq {envhash.RECIPE_HASH_LENGTH} ]' in envtag
