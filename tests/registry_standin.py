"""A real Docker registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1, and a real push into it.

`registry_server` starts one per test session on a free port with its own config and storage in a temp dir
and no auth; `silly_registry_server` one whose `silly` access controller answers 401 with a Bearer challenge to
any request without credentials (what Artifact Registry answers a caller without a token). `push_image` pushes
a config blob and a layer blob (monolithic upload: POST, then PUT with the digest) and the OCI manifest under
a tag, as `docker push` does.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from standins import free_port

REGISTRY_BINARY = "docker-registry"
INSTALL_HINT = (
    "the registry tests need Debian's docker-registry (distribution 2.8): `apt-get install -y docker-registry` "
    "(`make test` installs it when run as root on Debian)"
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

__all__ = ["registry_server", "silly_registry_server"]


def _config(root: Path, port: int, auth: str) -> Path:
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"{auth}"
    )
    return config


def _serve(tmp: Path, auth: str = "") -> Iterator[str]:
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        pytest.skip(INSTALL_HINT)
    port = free_port()
    if auth:
        auth = auth.format(port=port)
    log = (tmp / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(_config(tmp, port, auth))], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        # Ready when /v2/ answers (200, or 401 with auth); a registry that exits instead fails the fixture.
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited {process.returncode}: {(tmp / 'registry.log').read_text()}")
            try:
                if requests.get(f"{endpoint}/v2/", timeout=2).status_code in (200, 401):
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"docker-registry on {endpoint} never answered: {(tmp / 'registry.log').read_text()}")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def silly_registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    auth = "auth:\n  silly:\n    realm: http://127.0.0.1:{port}/token\n    service: teamstack-tests\n"
    yield from _serve(tmp_path_factory.mktemp("silly-registry"), auth)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _upload_blob(endpoint: str, name: str, data: bytes) -> str:
    digest = _digest(data)
    started = requests.post(f"{endpoint}/v2/{name}/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    if location.startswith("/"):
        location = endpoint + location
    separator = "&" if "?" in location else "?"
    done = requests.put(
        f"{location}{separator}digest={digest}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert done.status_code == 201, done.text
    return digest


def _layer(tag: str) -> bytes:
    """A gzipped tar with one file, as an image layer is."""
    content = f"teamstack test image {tag}\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("etc/teamstack-image")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def push_image(endpoint: str, name: str, tag: str) -> str:
    """Push a one-layer image to `<endpoint>/v2/<name>` under `tag`; returns the manifest digest."""
    layer = _layer(tag)
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _upload_blob(endpoint, name, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _upload_blob(endpoint, name, layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    put = requests.put(
        f"{endpoint}/v2/{name}/manifests/{tag}", data=manifest, headers={"Content-Type": OCI_MANIFEST}, timeout=30
    )
    assert put.status_code == 201, put.text
    return _digest(manifest)
