"""The image pipeline's recipe (images/) and its content hashes (teamstack.envhash).

No AWS here: the buildspec's shell runs under bash with stub `aws`, `buildah` and `build.sh` commands that log
their arguments, which is enough to check its control flow; build.sh itself builds for real in
tests/test_image_build.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from teamstack import envhash
from teamstack.client.specs import SHARED_PACKAGES
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
CONTAINERFILE = IMAGES / "Containerfile"
BUILD_SH = IMAGES / "build.sh"
BASES = IMAGES / "bases.txt"
ENVTAG = IMAGES / "envtag.sh"
CHECK_SPEC_KEY = IMAGES / "check_spec_key.sh"

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

    dockerfile = copy / "Containerfile"
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
# images/Containerfile, bases.txt, build.sh (built for real in tests/test_image_build.py)


def test_every_base_is_pinned_by_digest_per_python_minor() -> None:
    rows = [line.split() for line in BASES.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert rows and all(len(row) == 2 for row in rows)
    minors = [row[0] for row in rows]
    assert len(set(minors)) == len(minors) and all(re.fullmatch(r"3\.1[1-9]", minor) for minor in minors)
    for minor, reference in rows:
        assert re.fullmatch(rf"docker/library/python:{re.escape(minor)}-slim-bookworm@sha256:[0-9a-f]{{64}}", reference)


def test_containerfile_layers_run_as_a_numeric_non_root_user_and_never_pull_by_tag() -> None:
    text = CONTAINERFILE.read_text()
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M)  # the base comes from build.sh, pinned by digest
    assert re.search(r"^USER 1000:1000$", text, re.M) and "USER root" not in text
    # layers from the most to the least stable: shared packages, the rest, then local wheels and checks
    markers = ("core.lock /opt/teamstack/", "COPY rest.lock", "COPY wheels/", "image_check.py --")
    order = [text.index(marker) for marker in markers]
    assert order == sorted(order)
    # No ARG inside the stage: buildah 1.28 never reuses registry cache past one (containers/buildah#4315);
    # the variant comes as a file after the install layers, so CPU and GPU images share them.
    assert [line for line in text.splitlines() if line.startswith("ARG ")] == ["ARG BASE_IMAGE"]
    assert text.index("ARG BASE_IMAGE") < text.index("FROM ")
    assert text.index(" variant /opt/teamstack/") > text.index("COPY rest.lock")


def test_build_sh_pins_uv_by_version_and_sha256() -> None:
    text = BUILD_SH.read_text()
    version = re.search(r"^UV_VERSION=(\S+)$", text, re.M)
    assert version and f"uv-{version.group(1)}-py3-none-manylinux" in text
    assert re.search(r"^UV_SHA256=[0-9a-f]{64}$", text, re.M)
    assert "sha256sum --check" in text
    assert re.search(r"^CORE_PACKAGES=\((.*)\)$", text, re.M).group(1).split() == list(SHARED_PACKAGES)  # type: ignore[union-attr]
    result = run([BASH, "-n", BUILD_SH])
    assert result.returncode == 0, result.stderr


def test_build_sh_usage_errors_are_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "requirements.txt"
    spec.write_text("# teamstack: python=3.11\ndask\n")
    for args, message in [
        ([], "--spec FILE and --image REPO:TAG are required"),
        (["--spec", spec, "--image", "no-tag"], "is not <registry>/<repository>:<tag>"),
        (["--spec", spec, "--image", "r/x:t", "--variant", "tpu"], "--variant must be cpu or gpu"),
        (["--spec", tmp_path / "absent", "--image", "r/x:t"], "is not a readable file"),
        (["--bogus"], "unknown argument '--bogus'"),
    ]:
        result = run([BASH, BUILD_SH, *args])
        assert result.returncode == 2, args
        assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------------------------
# images/buildspec.yml


def buildspec() -> dict:
    document = yaml.safe_load(BUILDSPEC.read_text())
    assert isinstance(document, dict)
    return document


PHASES = ("install", "pre_build", "build")


def test_buildspec_structure() -> None:
    document = buildspec()
    assert str(document["version"]) == "0.2"
    assert document["env"]["shell"] == "bash"
    assert document["env"]["variables"] == {"STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}
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
    assert 'buildah login --username AWS --password-stdin "${REGISTRY_HOST}"' in text
    assert 'bash build.sh --spec "spec/${SPEC_FILENAME}" --image "${IMAGE_URI}"' in text
    assert "docker" not in text.replace("docker/library", "")  # no Docker daemon anywhere


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

BUILDAH_STUB = """#!/usr/bin/env bash
printf 'buildah %s\\n' "$*" >>"$STUB_LOG"
case "$1" in
  --version) echo "buildah version 1.28 (stub)" ;;
  login) [ "$(cat)" = stub-password ] || { echo "buildah stub: wrong password" >&2; exit 1; } ;;
  *) echo "buildah stub: unexpected call: $*" >&2; exit 1 ;;
esac
"""

# Replaces images/build.sh in the copied source: logs its arguments, checks the downloaded files, and fails
# like a refused push when STUB_PUSH is not ok.
BUILD_SH_STUB = """#!/usr/bin/env bash
printf 'build.sh %s\\n' "$*" >>"$STUB_LOG"
[ -f "$2" ] && [ -d wheels ] || { echo "build.sh stub: no spec or wheels folder" >&2; exit 2; }
[ "$STUB_PUSH" = ok ] || { echo "build.sh: cannot push: tag invalid: the image tag already exists" >&2; exit 1; }
"""

BUCKET = "analytics-build-123456789012"
REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/analytics/dask"
CACHE_REPOSITORY = f"{REPOSITORY}-cache"
BASE_REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/analytics-ecr-public"


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
        for name, text in {"aws": AWS_STUB, "buildah": BUILDAH_STUB}.items():
            (self.stubs / name).write_text(text)
            (self.stubs / name).chmod(0o755)
        (self.source / "build.sh").write_text(BUILD_SH_STUB)
        self.recipe = recipe_hash(IMAGES)

    def put(self, key: str, content: bytes) -> None:
        path = self.bucket / BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    def upload(self, variant: str, filename: str, spec: bytes, tag: str | None = None) -> str:
        key = spec_key(variant, tag or image_tag(self.recipe, variant, spec), filename)
        path = self.bucket / BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(spec)
        return key

    def __call__(self, spec_key: str, ecr: str = "missing", push: str = "ok",
                 **overrides: str | None) -> subprocess.CompletedProcess[str]:
        script = "\n".join(all_commands()) + "\n"
        env = {
            "PATH": f"{self.stubs}:{os.environ['PATH']}",
            "HOME": str(self.root),
            "TMPDIR": str(self.root),
                "SPEC_KEY": spec_key,
            "BUILD_BUCKET": BUCKET,
            "REPOSITORY_URI": REPOSITORY,
            "BASE_REGISTRY": BASE_REGISTRY,
            "CACHE_REPOSITORY": CACHE_REPOSITORY,
            "RECIPE_HASH": self.recipe,
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            **{name: str(value) for name, value in buildspec()["env"]["variables"].items()},
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
    wheel = b"PK\x03\x04 a wheel"
    digest = hashlib.sha256(wheel).hexdigest()
    wheel_line = f"# teamstack: wheel mine-1-py3-none-any.whl sha256={digest}\n"
    spec = f"# teamstack: python=3.11\ntorch==2.4.0\ncaf\u00e9-tools\n{wheel_line}"
    key = codebuild.upload("gpu", "requirements.txt", spec.encode())
    codebuild.put(envhash.wheel_key(digest, "mine-1-py3-none-any.whl"), wheel)
    tag = parse_spec_key(key)[1]
    result = codebuild(key)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = codebuild.calls()
    assert f"aws s3 cp --only-show-errors s3://{BUCKET}/{key} spec/requirements.txt" in calls
    assert (f"aws s3 cp --only-show-errors s3://{BUCKET}/specs/wheels/{digest}/mine-1-py3-none-any.whl "
            "wheels/mine-1-py3-none-any.whl") in calls
    assert (f"aws ecr describe-images --region eu-west-1 --registry-id 123456789012 --repository-name analytics/dask "
            f"--image-ids imageTag={tag}") in calls
    assert "aws ecr get-login-password --region eu-west-1" in calls
    assert "buildah login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com" in calls
    (build,) = [call for call in calls if call.startswith("build.sh")]
    assert build == (
        f"build.sh --spec spec/requirements.txt --image {REPOSITORY}:{tag} --variant gpu "
        f"--base-registry {BASE_REGISTRY} --cache {CACHE_REPOSITORY} --wheels wheels --recipe-hash {codebuild.recipe}"
    )
    assert (codebuild.source / "spec" / "requirements.txt").read_bytes() == spec.encode()
    assert (codebuild.source / "wheels" / "mine-1-py3-none-any.whl").read_bytes() == wheel
    assert f"pushed {REPOSITORY}:{tag}" in result.stdout


def test_codebuild_skips_an_existing_image(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    key = codebuild.upload("cpu", "requirements.txt", b"# teamstack: python=3.11\ndask\n")
    result = codebuild(key, ecr="exists")
    assert result.returncode == 0, result.stderr
    assert not [call for call in codebuild.calls() if call.startswith(("buildah login", "build.sh"))]
    assert "already exists: nothing to build" in result.stdout


def test_codebuild_refuses_a_spec_under_someone_elses_tag(tmp_path: Path) -> None:
    codebuild = CodeBuild(tmp_path)
    other_tag = image_tag(codebuild.recipe, "cpu", b"numpy\n")
    key = codebuild.upload("cpu", "requirements.txt", b"numpy\nmalware\n", tag=other_tag)
    result = codebuild(key)
    assert result.returncode != 0
    assert "REFUSED" in result.stderr
    assert f"not to the tag {other_tag}" in result.stderr
    assert not [call for call in codebuild.calls() if call.startswith(("aws ecr", "buildah login", "build.sh"))]


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
    assert not [call for call in codebuild.calls() if call.startswith("build.sh")]


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
    assert "cannot push" in result.stderr and "nothing was pushed" in result.stderr


@pytest.mark.parametrize(
    "missing", ["SPEC_KEY", "BUILD_BUCKET", "REPOSITORY_URI", "RECIPE_HASH", "BASE_REGISTRY", "CACHE_REPOSITORY"]
)
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
    assert not [call for call in codebuild.calls() if call.startswith(("aws ecr", "buildah login", "build.sh"))]


def test_envhash_constants_match_the_shell_scripts() -> None:
    key_check = CHECK_SPEC_KEY.read_text()
    assert f"^specs/({'|'.join(VARIANTS)})/([0-9a-f]{{{envhash.TAG_LENGTH}}})/" in key_check
    assert "(" + "|".join(name.replace(".", "\\.") for name in SPEC_FILENAMES) + ")$" in key_check
    envtag = ENVTAG.read_text()
    assert "printf '" + envhash.TAG_DOMAIN.decode().replace("\n", "\\n") in envtag
    assert " | ".join(VARIANTS) + ")" in envtag
    assert f"cut -c1-{envhash.TAG_LENGTH}" in envtag
    assert f'-eq {envhash.RECIPE_HASH_LENGTH} ]' in envtag
