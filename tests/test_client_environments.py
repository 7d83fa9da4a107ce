"""Environments: spec normalisation (pure), the tag agreeing with images/envtag.sh on the uploaded bytes, and
`build` against moto: found at once when ECR has the tag, else uploaded where the pipeline expects it and
waited for (a pipeline stand-in pushes the tag), with timeout and failure reasons (CodeBuild log in moto)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from standins import *  # noqa: F403  (the stand-in fixtures)
from standins import ROOT, AwsTeam

import teamstack
from teamstack import envhash
from teamstack.client import BuildError, SpecError
from teamstack.client.environments import VersionMismatchWarning, build_failure, version_warnings
from teamstack.client.specs import (
    ClientPython,
    Wheel,
    current_environment,
    load_spec,
    normalise_environment_yml,
    normalise_requirements,
    python_of,
    requirements_from_uv_lock,
)

UV_LOCK = """
version = 1
requires-python = ">=3.11"

[[package]]
name = "vision-env"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "dask", extra = ["dataframe"] },
    { name = "colorama", marker = "sys_platform == 'win32'" },
]

[[package]]
name = "dask"
version = "2026.8.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "toolz" }]

[package.optional-dependencies]
dataframe = [{ name = "pandas" }]

[[package]]
name = "toolz"
version = "1.0.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pandas"
version = "3.1.1"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "unused"
version = "9.9"
source = { registry = "https://pypi.org/simple" }
"""


# A client with only some of the shared packages, so that what is added is visible and stable.
CLIENT = ClientPython("3.11", {"dask": "2026.8.0", "distributed": "2026.8.0", "cloudpickle": "3.1.3"}.get)


def test_equivalent_requirements_normalise_to_the_same_bytes() -> None:
    a = normalise_requirements("# team env\nPandas>=2\n\ndask[dataframe]==2026.8.0  # pinned\nnumpy\n", client=CLIENT)
    b = normalise_requirements("numpy\ndask[dataframe] == 2026.8.0\npandas >=2\npandas>=2\n", client=CLIENT)
    assert a.content == b.content == (
        b"# teamstack: python=3.11\ncloudpickle==3.1.3\ndask[dataframe]==2026.8.0\ndistributed==2026.8.0\n"
        b"numpy\npandas>=2\n"
    )
    assert a.filename == "requirements.txt" and a.python == "3.11"
    assert a.pins == {"cloudpickle": "3.1.3", "dask": "2026.8.0", "distributed": "2026.8.0", "numpy": None,
                      "pandas": None}  # fmt: skip
    assert a.added == ("distributed", "cloudpickle")
    with_index = normalise_requirements("--index-url https://pypi.example/simple\nrich\n", client=CLIENT)
    assert with_index.content.decode().splitlines()[:3] == [
        "# teamstack: python=3.11", "--index-url https://pypi.example/simple", "cloudpickle==3.1.3"
    ]


def test_shared_packages_the_spec_lacks_come_pinned_to_the_clients_versions_in_the_same_file() -> None:
    # The case: dask pinned, distributed absent. It is added at the client's version in the one spec
    # the resolver sees (never a second, unconstrained install), so a conflict fails the build instead of drifting.
    spec = normalise_requirements("dask==2026.3.0\n", client=CLIENT)
    assert spec.content.decode().splitlines() == [
        "# teamstack: python=3.11", "cloudpickle==3.1.3", "dask==2026.3.0", "distributed==2026.8.0"
    ]
    # A client without dask still gets a worker that can run: dask and distributed, unpinned.
    bare = normalise_requirements("rich\n", client=ClientPython("3.12", lambda name: None))
    assert bare.content == b"# teamstack: python=3.12\ndask\ndistributed\nrich\n"
    # Normalising a normalised spec changes nothing, whatever the client: it keeps its Python.
    again = normalise_requirements(bare.content.decode(), python=python_of(bare.content), client=CLIENT)
    assert again.content.startswith(b"# teamstack: python=3.12\n")


def test_local_wheels_are_named_by_hash_in_the_spec(tmp_path: Path) -> None:
    wheel = tmp_path / "mine-0.1-py3-none-any.whl"
    wheel.write_bytes(b"PK a wheel")
    spec = normalise_requirements("rich\n", client=CLIENT).with_wheels([Wheel.of(wheel)])
    digest = hashlib.sha256(b"PK a wheel").hexdigest()
    assert spec.content.decode().splitlines()[-1] == f"# teamstack: wheel mine-0.1-py3-none-any.whl sha256={digest}"
    assert envhash.wheel_key(digest, wheel.name) == f"specs/wheels/{digest}/{wheel.name}"
    wheel.write_bytes(b"PK changed code")
    changed = normalise_requirements("rich\n", client=CLIENT).with_wheels([Wheel.of(wheel)])
    assert envhash.image_tag("0" * 16, "cpu", changed.content) != envhash.image_tag("0" * 16, "cpu", spec.content)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-e ./mypkg\n", "option -e is not supported"),
        ("-r other.txt\n", "option -r is not supported"),
        ("pkg @ file:///home/me/pkg\n", "local path"),
        ("not a requirement!!\n", "line 1 is not a requirement"),
        ("# only comments\n", "lists no requirements"),
    ],
)
def test_unsupported_requirements_are_refused(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        normalise_requirements(text, "reqs.txt")


def test_environment_yml_becomes_the_same_pip_spec() -> None:
    spec = normalise_environment_yml(
        "name: mine\nprefix: /home/me/conda\nchannels: [rapidsai, conda-forge]\n"
        "dependencies:\n  - python=3.12\n  - pip\n  - xarray\n  - conda-forge::dask=2026.8\n  - pytorch>=2.4\n"
        "  - numpy 2.4.*\n  - pip:\n    - Rich\n",
        client=CLIENT,
    )
    assert spec.filename == "requirements.txt" and spec.python == "3.12"
    assert spec.content.decode().splitlines() == [
        "# teamstack: python=3.12", "cloudpickle==3.1.3", "dask==2026.8.*", "distributed==2026.8.0",
        "numpy==2.4.*", "rich", "torch>=2.4", "xarray",
    ]  # fmt: skip
    pip_text = "xarray\ndask==2026.8.*\ntorch>=2.4\nnumpy==2.4.*\nrich\n"
    same = normalise_requirements(pip_text, python="3.12", client=CLIENT)
    assert same.content == spec.content  # one image family: the same packages give the same tag


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dependencies: [numpy, cudatoolkit=11.8, libgdal]\n",
         "conda-only package(s) cudatoolkit=11.8, libgdal have no pip equivalent"),
        ("dependencies: [numpy=1.26=py311h64a7726_0]\n", "pins a conda build string"),
        ("dependencies: ['numpy 1.26 py311_0']\n", "pins a conda build string"),
        ("dependencies: ['python>=3.10']\n", "name one Python version"),
        ("dependencies: [numpy]\nvariables: {A: b}\n", "unsupported key(s) variables"),
        ("dependencies: [\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_environment_yml_refusals_name_the_packages(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        normalise_environment_yml(text, "env.yml", client=CLIENT)
    assert message in str(caught.value) and str(caught.value).startswith("env.yml")


def test_uv_lock_pins_what_the_project_needs(tmp_path: Path) -> None:
    spec = requirements_from_uv_lock(UV_LOCK, "vision-env", client=CLIENT)
    assert spec.content.decode().splitlines() == [
        "# teamstack: python=3.11",
        "cloudpickle==3.1.3",
        'colorama==0.4.6; sys_platform == "win32"',
        "dask==2026.8.0",
        "distributed==2026.8.0",
        "pandas==3.1.1",
        "toolz==1.0.0",
    ]
    spec = requirements_from_uv_lock(UV_LOCK, "vision-env")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "vision-env"\ndependencies = ["dask[dataframe]"]\n')
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    assert load_spec(tmp_path).content == spec.content
    assert load_spec(tmp_path / "uv.lock").content == spec.content


def test_pyproject_without_lock_and_bad_specs(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["Dask==2026.8.0", "zarr"]\n')
    loaded = load_spec(tmp_path / "pyproject.toml", CLIENT)
    assert loaded.content.decode().splitlines() == [
        "# teamstack: python=3.11", "cloudpickle==3.1.3", "dask==2026.8.0", "distributed==2026.8.0", "zarr"
    ]
    (tmp_path / "environment.yml").write_text("dependencies: [numpy]\n")
    with pytest.raises(SpecError, match="expected exactly one of"):
        load_spec(tmp_path)
    (tmp_path / "Pipfile").write_text("[packages]\n")
    with pytest.raises(SpecError, match="unsupported environment spec"):
        load_spec(tmp_path / "Pipfile")
    with pytest.raises(SpecError, match="cannot read environment spec"):
        load_spec(tmp_path / "missing.txt")
    (tmp_path / "dyn").mkdir()
    (tmp_path / "dyn" / "pyproject.toml").write_text('[project]\nname = "x"\ndynamic = ["dependencies"]\n')
    with pytest.raises(SpecError, match="dynamic"):
        load_spec(tmp_path / "dyn")


def test_current_environment_pins_this_interpreter() -> None:
    import dask
    import distributed

    spec = current_environment()
    lines = spec.content.decode().splitlines()
    assert f"dask=={dask.__version__}" in lines and f"distributed=={distributed.__version__}" in lines
    assert not any(line.startswith("teamstack==") for line in lines)  # installed from this checkout
    assert lines[0] == f"# teamstack: python={sys.version_info.major}.{sys.version_info.minor}"
    assert version_warnings(spec) == []


def test_version_warnings_cover_python_and_every_shared_package() -> None:
    spec = normalise_requirements("dask==2024.1.0\ndistributed\npyarrow==15.0.0\n", python="3.12", client=CLIENT)
    mine = {"dask": "2026.8.0", "distributed": "2026.8.0", "cloudpickle": "3.1.3", "pyarrow": "26.0.1"}
    messages = version_warnings(spec, installed=mine.get, python="3.11")
    assert any("Python 3.12" in m and "this client runs Python 3.11" in m for m in messages)
    assert any("dask 2024.1.0" in m and "client has dask 2026.8.0" in m for m in messages)
    assert any("does not pin distributed" in m and "distributed==2026.8.0" in m for m in messages)
    assert any("pyarrow 15.0.0" in m and "client has pyarrow 26.0.1" in m for m in messages)
    assert not any("cloudpickle" in m for m in messages)  # added at the client's version
    assert len(messages) == 4


def test_the_tag_is_what_envtag_sh_computes_on_the_uploaded_bytes(tmp_path: Path) -> None:
    spec = normalise_environment_yml("dependencies: [numpy, dask=2026.8.0]\n")
    (tmp_path / spec.filename).write_bytes(spec.content)
    recipe = "0123456789abcdef"
    script = subprocess.run(
        ["bash", str(ROOT / "images" / "envtag.sh"), recipe, "gpu", str(tmp_path / spec.filename)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert script.stdout.strip() == envhash.image_tag(recipe, "gpu", spec.content)


# --- build against moto -------------------------------------------------------------------------------------


def _push(aws_team: AwsTeam, tag: str) -> None:
    """What the pipeline's docker push leaves in ECR: an image manifest under the tag."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + tag * 2,
        },
        "layers": [],
    }
    aws_team.client("ecr").put_image(
        repositoryName=aws_team.manifest.registry.repository_uri.split("/", 1)[1],
        imageManifest=json.dumps(manifest),
        imageTag=tag,
    )


def _requirements(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return path


def test_an_existing_image_is_returned_at_once(aws_team: AwsTeam, tmp_path: Path) -> None:
    import dask
    import distributed

    path = _requirements(tmp_path, f"dask=={dask.__version__}\ndistributed=={distributed.__version__}\nxarray\n")
    team = teamstack.connect("ml-vision")
    tag = envhash.image_tag(aws_team.manifest.build.recipe_hash, "cpu", load_spec(path).content)
    _push(aws_team, tag)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pinned to this client's versions: no warning
        image = team.environments.build(path, progress=False)
    assert image.uri == f"{aws_team.manifest.registry.repository_uri}:{tag}" and not image.built
    listed = aws_team.client("s3").list_objects_v2(Bucket=aws_team.manifest.build.bucket, Prefix=f"specs/cpu/{tag}/")
    assert listed["KeyCount"] == 0  # nothing uploaded, nothing rebuilt


def test_a_new_spec_is_uploaded_and_waited_for(aws_team: AwsTeam, tmp_path: Path) -> None:
    path = _requirements(tmp_path, "zarr==3.0.0\n")
    team = teamstack.connect("ml-vision")
    s3 = aws_team.client("s3")

    def pipeline() -> None:
        """Stand-in for EventBridge + CodeBuild: when the spec lands, check it as the buildspec does, push."""
        for _ in range(600):
            found = s3.list_objects_v2(Bucket=aws_team.manifest.build.bucket, Prefix="specs/gpu/").get("Contents", [])
            if found:
                variant, tag, _filename = envhash.parse_spec_key(found[0]["Key"])
                body = s3.get_object(Bucket=aws_team.manifest.build.bucket, Key=found[0]["Key"])["Body"].read()
                if envhash.image_tag(aws_team.manifest.build.recipe_hash, variant, body) == tag:
                    _push(aws_team, tag)
                return
            time.sleep(0.05)

    builder = threading.Thread(target=pipeline)
    builder.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error", VersionMismatchWarning)  # the image gets this client's versions
        image = team.environments.build(path, variant="gpu", poll=0.05, timeout=120, progress=True)
    builder.join()
    assert image.built and image.variant == "gpu"
    key = envhash.spec_key("gpu", image.tag, "requirements.txt")
    stored = s3.get_object(Bucket=aws_team.manifest.build.bucket, Key=key)["Body"].read()
    assert stored == image.spec.content and b"\nzarr==3.0.0\n" in stored
    assert stored.startswith(f"# teamstack: python={sys.version_info.major}.{sys.version_info.minor}\n".encode())


def test_a_build_that_never_comes_times_out_with_where_to_look(aws_team: AwsTeam, tmp_path: Path) -> None:
    path = _requirements(tmp_path, "scikit-image\n")
    team = teamstack.connect("ml-vision")
    with pytest.raises(BuildError) as caught:
        team.environments.build(path, timeout=0, poll=0.01, progress=False)
    message = str(caught.value)
    assert "was not ready after 0s" in message and "no build has started" in message
    assert aws_team.manifest.build.log_group in message and "specs/cpu/" in message


def test_failure_reason_names_the_phase_and_the_log_tail(aws_team: AwsTeam) -> None:
    logs = aws_team.client("logs")
    stream = "build-0001"
    logs.create_log_stream(logGroupName=aws_team.manifest.build.log_group, logStreamName=stream)
    lines = ["[Container] Entering phase PRE_BUILD", "buildspec: REFUSED s3://b/specs/cpu/x: its content hashes to y"]
    logs.put_log_events(
        logGroupName=aws_team.manifest.build.log_group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000) + i, "message": line} for i, line in enumerate(lines)],
    )
    build = {  # the shape of a failed build in CodeBuild's BatchGetBuilds answer
        "id": "ml-vision-image-build:1234",
        "buildStatus": "FAILED",
        "currentPhase": "COMPLETED",
        "phases": [
            {"phaseType": "INSTALL", "phaseStatus": "SUCCEEDED"},
            {
                "phaseType": "PRE_BUILD",
                "phaseStatus": "FAILED",
                "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": "Error while executing command"}],
            },
        ],
        "logs": {"groupName": aws_team.manifest.build.log_group, "streamName": stream},
    }
    environments = teamstack.connect("ml-vision").environments
    reason = build_failure(build, environments._log_tail(build))
    first, *rest = reason.splitlines()
    assert first == "image build ml-vision-image-build:1234 FAILED in PRE_BUILD FAILED: Error while executing command"
    assert rest[-1].endswith("its content hashes to y")


def test_packages_installed_from_a_local_folder_are_found_for_wheels(tmp_path: Path) -> None:
    from teamstack.client.specs import _local_folder

    project = tmp_path / "my project"
    url = project.as_uri()
    assert _local_folder(json.dumps({"url": url, "dir_info": {"editable": True}})) == project
    assert _local_folder(json.dumps({"url": url, "dir_info": {}})) == project  # `pip install .` too
    assert _local_folder(json.dumps({"url": "https://x/y.whl", "archive_info": {}})) is None
    assert _local_folder("not json") is None and _local_folder(None) is None
    # A package of the test environment installed from a folder (teamstack itself, editable) is a local package
    # to build, never a pin the build could not fetch.
    current = current_environment()
    lines = current.content.decode().splitlines()
    for package in current.local:
        assert (package.path / "pyproject.toml").is_file() or (package.path / "setup.py").is_file()
        assert not any(line.startswith(f"{package.name}==") for line in lines)


def test_env_normalise_and_tag_commands(tmp_path: Path) -> None:
    spec = tmp_path / "requirements.txt"
    spec.write_text("rich\n")
    cli = [sys.executable, "-m", "teamstack.cli", "env"]
    normalised = subprocess.run([*cli, "normalise", str(spec)], capture_output=True, text=True, check=True).stdout
    assert normalised.encode() == load_spec(spec).content
    tag = subprocess.run([*cli, "tag", str(spec), "--recipe-hash", "0123456789abcdef"], capture_output=True,
                         text=True, check=True).stdout.strip()  # fmt: skip
    assert tag == envhash.image_tag("0123456789abcdef", "cpu", normalised.encode())
    missing = subprocess.run([*cli, "tag", str(tmp_path / "absent.txt")], capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "cannot read environment spec" in missing.stderr
    bad = subprocess.run([*cli, "tag", str(spec), "--recipe-hash", "zz"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "invalid recipe hash" in bad.stderr
