"""Real image builds for the tests and the benchmark: buildah with its own storage, a Debian base, a registry.

Docker Hub is out of reach here, so the base the cloud pulls (python:<minor>-slim-bookworm by digest, through
the team's registry) is stood in for by Debian's own packages: `debootstrap --variant=minbase
--include=python3 bookworm` (Python 3.11, as the client's lock), made once and kept on disk
(TEAMSTACK_TEST_CACHE, default ~/.cache/teamstack-tests, one rootfs tarball a day), imported into the local
registry and passed to images/build.sh BY DIGEST, exactly as a pinned base is. The machine's CA bundle goes into
the base (the build's package downloads trust what the host trusts).

`BuildahSandbox` gives buildah its own storage and temp folder (so builds never see another run's layers or
uv cache), and runs `dask scheduler` / `dask worker` from a built image (`buildah run --network host`).
`run_as_pod` starts a command in a built image as a pod's container would be started (tests/pod_exec.py: its uid
and gid, read-only volumes and root, the image's environment and working directory).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_SH = ROOT / "images" / "build.sh"
POD_EXEC = Path(__file__).with_name("pod_exec.py")
BASE_PYTHON = "3.11"  # Debian bookworm's python3
TOOLS = ("buildah", "debootstrap")
INSTALL_HINT = (
    "the image build tests need buildah and debootstrap: `apt-get install -y buildah debootstrap` "
    "(`make test` / .ci/run install them as root on Debian)"
)
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def cache_dir() -> Path:
    folder = Path(os.environ.get("TEAMSTACK_TEST_CACHE", Path.home() / ".cache" / "teamstack-tests"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root (buildah chroot builds and debootstrap)")
    return missing


def base_rootfs_tarball() -> Path:
    """Debian bookworm minbase + python3 as a tarball, made at most once a day (about 40 s)."""
    tarball = cache_dir() / f"debian-bookworm-python3-{datetime.date.today():%Y%m%d}.tar"
    if tarball.exists():
        return tarball
    for old in cache_dir().glob("debian-bookworm-python3-*.tar"):
        old.unlink()
    work = cache_dir() / f"rootfs-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(work), "http://deb.debian.org/debian"],
            check=True,
            capture_output=True,
            text=True,
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(work / junk, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-cpf", str(partial), "-C", str(work), "."], check=True)
        partial.rename(tarball)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"debootstrap failed: {error.stderr.strip().splitlines()[-1:]}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


@dataclass
class BuildahSandbox:
    root: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_STORAGE_CONF": str(self.root / "storage.conf"),
            "TMPDIR": str(self.root / "tmp"),
            "TEAMSTACK_BUILD_CACHE": str(self.root / "build-cache"),
        }

    @staticmethod
    def create(root: Path) -> BuildahSandbox:
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        (root / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{root / "graph"}"\nrunroot = "{root / "run"}"\n'
        )
        return BuildahSandbox(root)

    def buildah(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["buildah", *args], capture_output=True, text=True, env=self.env, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"buildah {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def import_base(self, tarball: Path, reference: str) -> str:
        """Push the rootfs as a one-layer image to `reference` (host:port/repo:tag); returns repo@digest."""
        container = self.buildah("from", "--quiet", "scratch")
        try:
            mount = Path(self.buildah("mount", container))
            subprocess.run(["tar", "--numeric-owner", "-xpf", str(tarball), "-C", str(mount)], check=True)
            if HOST_CA.exists():
                (mount / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(HOST_CA, mount / "etc/ssl/certs/ca-certificates.crt")
            self.buildah("config", "--env", f"PATH={BASE_PATH}", container)
            self.buildah("commit", "--quiet", container, reference)
        finally:
            self.buildah("rm", container, check=False)
        digest_file = self.root / "base.digest"
        self.buildah("push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file), reference,
                     f"docker://{reference}")  # fmt: skip
        return f"{reference.rsplit(':', 1)[0]}@{digest_file.read_text().strip()}"

    def build(self, *args: str) -> subprocess.CompletedProcess[str]:
        """images/build.sh with this sandbox's storage; the caller checks the result."""
        return subprocess.run(["bash", str(BUILD_SH), *args], capture_output=True, text=True, env=self.env, check=False)

    def forget_local_images(self) -> None:
        """Drop every local image and layer: the next build sees only what the registry holds (a fresh CI host)."""
        self.buildah("rm", "--all", check=False)
        self.buildah("rmi", "--all", "--force", check=False)

    def image_config(self, reference: str) -> str:
        return self.buildah("inspect", "--type", "image", reference)


@dataclass
class DaskProcess:
    process: subprocess.Popen[bytes]
    container: str
    sandbox: BuildahSandbox

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.sandbox.buildah("rm", self.container, check=False)


def run_in_image(sandbox: BuildahSandbox, image: str, command: list[str], log: Path) -> DaskProcess:
    """`command` in a container of `image` on the host network, in the background (its own process group)."""
    container = sandbox.buildah("from", "--quiet", "--tls-verify=false", image)
    handle = log.open("wb")
    process = subprocess.Popen(
        ["buildah", "run", "--isolation", "chroot", "--network", "host", container, "--", *command],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=sandbox.env,
        start_new_session=True,
    )
    return DaskProcess(process, container, sandbox)


@dataclass(frozen=True)
class PodContainer:
    """What a pod's container is given besides its image: command, user, environment, volumes (read-only)."""

    command: list[str]
    uid: int
    gid: int
    env: dict[str, str]
    volumes: dict[str, Path]  # path in the container -> host folder
    read_only_root: bool = True


def _pod_launcher(
    sandbox: BuildahSandbox, image: str, pod: PodContainer, workdir: Path, network: str
) -> tuple[list[str], str]:
    """The command line that starts `pod` in a new container of `image` (tests/pod_exec.py), and the container.
    `network`: "host", "own" (a new network namespace, loopback up) or "/proc/<pid>/ns/net" (join that one)."""
    config = json.loads(sandbox.image_config(image))["OCIv1"]["config"]
    env = dict(entry.split("=", 1) for entry in config.get("Env", []))
    container = sandbox.buildah("from", "--quiet", "--tls-verify=false", image)
    spec = {
        "root": sandbox.buildah("mount", container),
        "volumes": {target: str(source) for target, source in pod.volumes.items()},
        "read_only_root": pod.read_only_root,
        "uid": pod.uid,
        "gid": pod.gid,
        "cwd": config.get("WorkingDir") or "/",
        "env": {**env, **pod.env},
        "command": pod.command,
        "loopback_up": network == "own",
    }
    spec_file = workdir / f"pod-{container}.json"
    spec_file.write_text(json.dumps(spec))
    unshare = ["unshare", "--mount", *(["--net"] if network == "own" else []), "--propagation", "private", "--"]
    join = [] if network in ("host", "own") else ["nsenter", f"--net={network}", "--"]
    return [*join, *unshare, sys.executable, "-I", str(POD_EXEC), str(spec_file)], container


def _remove(sandbox: BuildahSandbox, container: str) -> None:
    sandbox.buildah("umount", container, check=False)
    sandbox.buildah("rm", container, check=False)


def run_as_pod(
    sandbox: BuildahSandbox, image: str, pod: PodContainer, workdir: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`pod.command` in a container of `image` as the kubelet's runtime would start it (tests/pod_exec.py): the
    image's environment and working directory, the pod's uid/gid, its volumes bound read-only, a read-only root,
    the host's network. Returns when it exits; the container is removed."""
    launcher, container = _pod_launcher(sandbox, image, pod, workdir, "host")
    try:
        return subprocess.run(launcher, capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        _remove(sandbox, container)


@dataclass
class PodProcess:
    """A pod's container running in the background (its own process group); `network` joins its namespace."""

    process: subprocess.Popen[bytes]
    container: str
    sandbox: BuildahSandbox

    @property
    def network(self) -> str:
        return f"/proc/{self.process.pid}/ns/net"

    def stop(self) -> None:
        DaskProcess(self.process, self.container, self.sandbox).stop()
        _remove(self.sandbox, self.container)


def start_as_pod(
    sandbox: BuildahSandbox, image: str, pod: PodContainer, workdir: Path, log: Path, network: str = "own"
) -> PodProcess:
    """`pod.command` as `run_as_pod` starts it, in the background: by default in a network namespace of its own
    (as a pod has: its fixed ports cannot collide with the host's); `network=<other>.network` shares another's."""
    launcher, container = _pod_launcher(sandbox, image, pod, workdir, network)
    with log.open("wb") as handle:
        process = subprocess.Popen(launcher, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    started = PodProcess(process, container, sandbox)
    if network == "own":
        # Until unshare has run, the pid's namespace is still this machine's: a probe sent there would be answered
        # by whatever listens on the host (another test's scheduler on 8787, say).
        deadline = time.monotonic() + 30
        while os.readlink(started.network) == os.readlink("/proc/self/ns/net"):
            if process.poll() is not None or time.monotonic() > deadline:
                started.stop()
                raise RuntimeError(f"the pod did not get its own network: {log.read_text()[-2000:]}")
            time.sleep(0.05)
    return started


def wait_for_port(port: int, process: DaskProcess, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise RuntimeError(f"the process in the image exited: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} after {timeout}s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def buildah_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildahSandbox]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"{INSTALL_HINT} (missing: {', '.join(missing)})")
    if f"{sys.version_info.major}.{sys.version_info.minor}" != BASE_PYTHON:
        pytest.skip(f"the test base (Debian bookworm) has Python {BASE_PYTHON}; this interpreter is another")
    sandbox = BuildahSandbox.create(tmp_path_factory.mktemp("buildah"))
    yield sandbox
    sandbox.buildah("rm", "--all", check=False)
    sandbox.buildah("rmi", "--all", "--force", check=False)
    subprocess.run(["umount", "-R", str(sandbox.root / "graph" / "overlay")], capture_output=True, check=False)


@pytest.fixture(scope="session")
def test_base(buildah_sandbox: BuildahSandbox, registry_server: str) -> str:
    """The pinned base of every test build: `<registry>/base/python@sha256:...` (Python 3.11, Debian packages)."""
    host = registry_server.removeprefix("http://")
    return buildah_sandbox.import_base(base_rootfs_tarball(), f"{host}/base/python:{BASE_PYTHON}")
