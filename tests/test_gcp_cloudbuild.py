"""images/cloudbuild.yaml, the GCP twin of buildspec.yml: same build.sh, same scripts, same content-hash
contract (teamstack.envhash). No Google Cloud here: each step's script runs under bash, as Cloud Build runs it,
with the step's `env` (substitutions resolved) and stub `gcloud`, `buildah` and `build.sh` commands that log
their arguments (build.sh builds for real in tests/test_image_build.py)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from teamstack.envhash import image_tag, parse_spec_key, recipe_hash, spec_key, wheel_key

IMAGES = Path(__file__).resolve().parent.parent / "images"
CLOUDBUILD = IMAGES / "cloudbuild.yaml"
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None or shutil.which("sha256sum") is None, reason="needs bash and coreutils")

BUCKET = "ml-geo-envs-ml-geo-prod-example"
REPOSITORY = "europe-west4-docker.pkg.dev/ml-geo-prod-example/ml-geo-dask/dask"
CACHE_REPOSITORY = "europe-west4-docker.pkg.dev/ml-geo-prod-example/ml-geo-dask/dask-cache"
BASE_REGISTRY = "europe-west4-docker.pkg.dev/ml-geo-prod-example/ml-geo-ecr-public"

GCLOUD_STUB = """#!/usr/bin/env bash
printf 'gcloud %s\\n' "$*" >>"$STUB_LOG"
case "$1 $2" in
  "storage cp")
    source="" target=""
    for arg in "${@:3}"; do
      case "$arg" in gs://*) source=${arg#gs://} ;; --*) ;; *) target=$arg ;; esac
    done
    cp "$FAKE_GCS/$source" "$target" ;;
  "artifacts docker")
    if [ "$STUB_AR" = denied ]; then
      echo "ERROR: (gcloud.artifacts.docker.images.describe) PERMISSION_DENIED: caller lacks permission" >&2; exit 1
    fi
    count=$(( $(cat "$STUB_STATE" 2>/dev/null || echo 0) + 1 ))
    echo "$count" >"$STUB_STATE"
    if [ "$STUB_AR" = exists ] || { [ "$STUB_AR" = appears ] && [ "$count" -gt 1 ]; }; then
      echo "image_summary: {}"; exit 0
    fi
    echo "ERROR: (gcloud.artifacts.docker.images.describe) NOT_FOUND: Requested entity was not found." >&2; exit 1 ;;
  "auth print-access-token") echo stub-token ;;
  *) echo "gcloud stub: unexpected call: $*" >&2; exit 1 ;;
esac
"""

BUILDAH_STUB = """#!/usr/bin/env bash
printf 'buildah %s\\n' "$*" >>"$STUB_LOG"
case "$1" in
  login) [ "$(cat)" = stub-token ] || { echo "buildah stub: wrong token" >&2; exit 1; } ;;
  *) echo "buildah stub: unexpected call: $*" >&2; exit 1 ;;
esac
"""

BUILD_SH_STUB = """#!/usr/bin/env bash
printf 'build.sh %s\\n' "$*" >>"$STUB_LOG"
[ -f "$2" ] && [ -d wheels ] || { echo "build.sh stub: no spec or wheels folder" >&2; exit 2; }
[ "$STUB_PUSH" = ok ] || { echo "build.sh: cannot push: tag invalid: the image tag already exists" >&2; exit 1; }
"""

def cloudbuild() -> dict[str, Any]:
    document = yaml.safe_load(CLOUDBUILD.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def substitute(text: str, substitutions: dict[str, str]) -> str:
    """Cloud Build's substitution of ${_NAME} in a step's env (ALLOW_LOOSE: an unset one becomes empty)."""
    return re.sub(r"\$\{(_[A-Z0-9_]+)\}", lambda m: substitutions.get(m.group(1), ""), text)


class CloudBuild:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.source = root / "workspace"
        shutil.copytree(IMAGES, self.source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.gcs = root / "gcs"
        self.stubs = root / "stubs"
        self.stubs.mkdir()
        self.log = root / "log"
        for name, text in {"gcloud": GCLOUD_STUB, "buildah": BUILDAH_STUB}.items():
            (self.stubs / name).write_text(text)
            (self.stubs / name).chmod(0o755)
        (self.source / "build.sh").write_text(BUILD_SH_STUB)
        self.recipe = recipe_hash(IMAGES)

    def put(self, key: str, content: bytes) -> None:
        path = self.gcs / BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    def upload(self, variant: str, filename: str, spec: bytes, tag: str | None = None) -> str:
        key = spec_key(variant, tag or image_tag(self.recipe, variant, spec), filename)
        path = self.gcs / BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(spec)
        return key

    def __call__(self, key: str, ar: str = "missing", push: str = "ok",
                 **overrides: str | None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        substitutions = {"_SPEC_KEY": key, "_BUILD_BUCKET": BUCKET, "_REPOSITORY_URI": REPOSITORY,
                         "_RECIPE_HASH": self.recipe, "_BASE_REGISTRY": BASE_REGISTRY,
                         "_CACHE_REPOSITORY": CACHE_REPOSITORY}  # fmt: skip
        for name, value in overrides.items():
            if value is None:
                substitutions.pop(name, None)
            else:
                substitutions[name] = value
        result = subprocess.CompletedProcess[str]([], 0, "", "")
        for step in cloudbuild()["steps"]:  # steps run in order; the first failure ends the build
            env = {
                "PATH": f"{self.stubs}:{os.environ['PATH']}",
                "HOME": str(self.root),
                "TMPDIR": str(self.root),
                "FAKE_GCS": str(self.gcs),
                "STUB_LOG": str(self.log),
                "STUB_AR": ar,
                "STUB_PUSH": push,
                "STUB_STATE": str(self.root / "describe-count"),
            }
            for assignment in step.get("env", []):
                name, _, value = substitute(assignment, substitutions).partition("=")
                env[name] = value
            run = subprocess.run([str(BASH), "-c", step["script"]], env=env, cwd=self.source,
                                 capture_output=True, text=True, check=False)  # fmt: skip
            result = subprocess.CompletedProcess(run.args, run.returncode, result.stdout + run.stdout,
                                                 result.stderr + run.stderr)  # fmt: skip
            if run.returncode != 0:
                break
        return result

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def test_cloudbuild_structure() -> None:
    document = cloudbuild()
    assert [step["id"] for step in document["steps"]] == ["verify", "build", "check"]
    assert document["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert document["timeout"].endswith("s") and int(document["timeout"][:-1]) <= 24 * 3600
    for step in document["steps"]:
        lines = step["script"].strip().splitlines()
        assert lines[:2] == ["#!/usr/bin/env bash", "set -euo pipefail"], step["id"]
        result = subprocess.run([str(BASH), "-n", "-c", step["script"]], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        # Cloud Build does not substitute inside `script`: a ${_X} there would reach bash as an unset variable.
        assert "${_" not in step["script"], step["id"]
    # Every step image is pinned by digest or is Google's own builder; none comes from Docker Hub.
    for step in document["steps"]:
        pinned = re.fullmatch(r"quay\.io/[\w/.-]+@sha256:[0-9a-f]{64}", step["name"])
        assert step["name"].startswith("gcr.io/") or pinned, step["name"]


def test_cloudbuild_runs_build_sh_like_the_buildspec() -> None:
    scripts = "\n".join(step["script"] for step in cloudbuild()["steps"])
    assert 'bash check_spec_key.sh "${SPEC_KEY}"' in scripts
    assert 'bash envtag.sh "${RECIPE_HASH}"' in scripts
    buildspec = (IMAGES / "buildspec.yml").read_text(encoding="utf-8")
    # The same build.sh arguments on both clouds.
    call = re.compile(r'bash build\.sh (.*?)--recipe-hash "\$\{RECIPE_HASH\}"', re.S)
    ours, theirs = call.search(scripts), call.search(buildspec)
    assert ours and theirs
    assert " ".join(ours.group(1).replace("\\", " ").split()) == " ".join(theirs.group(1).replace("\\", " ").split())
    assert not re.search(r"^\s*docker ", scripts, re.M)  # no Docker daemon


def test_the_recipe_hash_covers_cloudbuild_yaml(tmp_path: Path) -> None:
    copy = tmp_path / "images"
    shutil.copytree(IMAGES, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    before = recipe_hash(copy)
    (copy / "cloudbuild.yaml").write_text((copy / "cloudbuild.yaml").read_text() + "# changed\n")
    assert recipe_hash(copy) != before


def test_builds_and_pushes_a_new_spec(tmp_path: Path) -> None:
    build = CloudBuild(tmp_path)
    wheel = b"PK\x03\x04 a wheel"
    digest = hashlib.sha256(wheel).hexdigest()
    spec = f"# teamstack: python=3.11\ntorch==2.4.0\n# teamstack: wheel mine-1-py3-none-any.whl sha256={digest}\n"
    key = build.upload("gpu", "requirements.txt", spec.encode())
    build.put(wheel_key(digest, "mine-1-py3-none-any.whl"), wheel)
    tag = parse_spec_key(key)[1]
    result = build(key)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = build.calls()
    assert calls[0] == f"gcloud storage cp --quiet gs://{BUCKET}/{key} spec/requirements.txt"
    assert calls[1] == (f"gcloud storage cp --quiet gs://{BUCKET}/specs/wheels/{digest}/mine-1-py3-none-any.whl "
                        "wheels/mine-1-py3-none-any.whl")  # fmt: skip
    assert calls[2] == f"gcloud artifacts docker images describe {REPOSITORY}:{tag} --quiet"
    assert "buildah login --username oauth2accesstoken --password-stdin europe-west4-docker.pkg.dev" in calls
    (built,) = [call for call in calls if call.startswith("build.sh")]
    assert built == (
        f"build.sh --spec spec/requirements.txt --image {REPOSITORY}:{tag} --variant gpu "
        f"--base-registry {BASE_REGISTRY} --cache {CACHE_REPOSITORY} --wheels wheels --recipe-hash {build.recipe}"
    )
    assert (build.source / "spec" / "requirements.txt").read_bytes() == spec.encode()
    assert f"pushed {REPOSITORY}:{tag}" in result.stdout
    assert not (build.source / "registry.token").exists()  # the token does not outlive the build


def test_skips_an_existing_image(tmp_path: Path) -> None:
    build = CloudBuild(tmp_path)
    key = build.upload("cpu", "requirements.txt", b"dask\n")
    result = build(key, ar="exists")
    assert result.returncode == 0, result.stderr
    assert not [call for call in build.calls() if call.startswith(("buildah", "build.sh"))]
    assert "already exists: nothing to build" in result.stdout


def test_refuses_a_spec_under_someone_elses_tag(tmp_path: Path) -> None:
    build = CloudBuild(tmp_path)
    other = image_tag(build.recipe, "cpu", b"numpy\n")
    key = build.upload("cpu", "requirements.txt", b"numpy\nmalware\n", tag=other)
    result = build(key)
    assert result.returncode != 0 and "REFUSED" in result.stderr and f"not to the tag {other}" in result.stderr
    assert not [call for call in build.calls() if call.startswith(("gcloud artifacts", "buildah", "build.sh"))]


def test_refuses_a_spec_hashed_with_another_recipe(tmp_path: Path) -> None:
    build = CloudBuild(tmp_path)
    spec = b"dask\n"
    key = build.upload("cpu", "requirements.txt", spec, tag=image_tag("ffffffffffffffff", "cpu", spec))
    result = build(key)
    assert result.returncode != 0 and "REFUSED" in result.stderr


@pytest.mark.parametrize("key", ["specs/cpu/0123/requirements.txt", "teamstack/manifest.json", "specs/tpu/x/a"])
def test_rejects_a_bad_key_before_downloading(tmp_path: Path, key: str) -> None:
    build = CloudBuild(tmp_path)
    result = build(key)
    assert result.returncode != 0 and "invalid spec key" in result.stderr
    assert build.calls() == []


def test_fails_when_it_cannot_check_the_registry(tmp_path: Path) -> None:
    build = CloudBuild(tmp_path)
    key = build.upload("cpu", "requirements.txt", b"dask\n")
    result = build(key, ar="denied")
    assert result.returncode != 0 and "PERMISSION_DENIED" in result.stderr
    assert not [call for call in build.calls() if call.startswith(("buildah", "build.sh"))]


def test_accepts_a_concurrent_push_of_the_same_tag(tmp_path: Path) -> None:
    build = CloudBuild(tmp_path)
    key = build.upload("cpu", "requirements.txt", b"dask\n")
    result = build(key, push="refused", ar="appears")
    assert result.returncode == 0, result.stderr
    assert "concurrent build" in result.stdout


def test_fails_when_the_push_fails(tmp_path: Path) -> None:
    build = CloudBuild(tmp_path)
    key = build.upload("cpu", "requirements.txt", b"dask\n")
    result = build(key, push="refused")
    assert result.returncode != 0 and "cannot push" in result.stderr and "nothing was pushed" in result.stderr


@pytest.mark.parametrize("missing", ["_SPEC_KEY", "_BUILD_BUCKET", "_REPOSITORY_URI", "_RECIPE_HASH"])
def test_needs_its_substitutions(tmp_path: Path, missing: str) -> None:
    build = CloudBuild(tmp_path)
    key = build.upload("cpu", "requirements.txt", b"dask\n")
    result = build(key, **{missing: None})
    assert result.returncode != 0 and f"{missing.removeprefix('_')} is not set" in result.stderr
    assert build.calls() == []


@pytest.mark.parametrize("missing", ["_BASE_REGISTRY", "_CACHE_REPOSITORY"])
def test_needs_its_registries(tmp_path: Path, missing: str) -> None:
    build = CloudBuild(tmp_path)
    key = build.upload("cpu", "requirements.txt", b"dask\n")
    result = build(key, **{missing: None})
    assert result.returncode != 0 and f"substitution {missing} is not set" in result.stderr
    assert not [call for call in build.calls() if call.startswith("build.sh")]


@pytest.mark.parametrize(
    "uri",
    [f"{REPOSITORY}:latest", "ml-geo-dask", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/analytics/dask",
     "europe-west4-docker.pkg.dev/ml-geo-prod-example",
     # The repository itself: Artifact Registry refuses a push without an image name.
     "europe-west4-docker.pkg.dev/ml-geo-prod-example/ml-geo-dask"],
)  # fmt: skip
def test_rejects_a_repository_that_is_not_artifact_registry(tmp_path: Path, uri: str) -> None:
    build = CloudBuild(tmp_path)
    key = build.upload("cpu", "requirements.txt", b"dask\n")
    result = build(key, _REPOSITORY_URI=uri)
    assert result.returncode != 0 and "is not an Artifact Registry repository" in result.stderr
    assert build.calls() == []


def test_refuses_a_malformed_recipe_hash(tmp_path: Path) -> None:
    build = CloudBuild(tmp_path)
    key = build.upload("cpu", "requirements.txt", b"dask\n")
    result = build(key, _RECIPE_HASH="not-a-hash")
    assert result.returncode != 0 and "invalid recipe hash" in result.stderr
    assert not [call for call in build.calls() if call.startswith(("gcloud artifacts", "buildah", "build.sh"))]
