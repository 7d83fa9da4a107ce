"""Real image builds with images/build.sh (buildah, chroot isolation) into a real registry on 127.0.0.1.

The base is Debian's own Python 3.11 (tests/image_standins.py) passed by digest. One CPU image runs
`dask scheduler` and `dask worker` on the host network; a client on this machine computes on them and checks
what the issue asks: the same Python major.minor, every shared Dask package at the client's version, the
spec's pins honoured, the data scientist's local package importable and replaceable on running workers.
A second build on a fresh buildah host (empty storage, empty uv cache) with one more package reuses the
first image's layers from the registry; a GPU build lists its CUDA libraries and carries no driver.
The refusals (unsatisfiable spec, no base for a Python, a base not pinned by digest) fail in one line before
anything is built.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from image_standins import (
    BuildahSandbox,
    DaskProcess,
    PodContainer,
    buildah_sandbox,
    run_as_pod,
    run_in_image,
    start_as_pod,
    test_base,
    wait_for_port,
)
from k8s_standin import KubeStandin
from registry_standin import registry_server
from standins import free_port

from components.k8s import reaper, spec
from teamstack import envhash, imagefile
from teamstack.client.specs import SHARED_PACKAGES, ClientPython, LocalPackage, Spec, normalise_requirements
from teamstack.client.wheels import build_wheels, sync_local_packages

__all__ = ["buildah_sandbox", "registry_server", "test_base"]  # fixtures, found by name

IMAGES = Path(__file__).resolve().parent.parent / "images"
CONTAINERFILE = IMAGES / imagefile.CONTAINERFILE
RECIPE = envhash.recipe_hash(IMAGES)
PROBE = "teamstack_probe"


def _write_probe(folder: Path, value: str) -> LocalPackage:
    """A data scientist's own package, src layout, as `pip install -e .` would have found it."""
    (folder / "src" / PROBE).mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{PROBE.replace("_", "-")}"\nversion = "0.1"\n'
    )
    (folder / "src" / PROBE / "__init__.py").write_text(f"VALUE = {value!r}\n")
    return LocalPackage(PROBE.replace("_", "-"), folder)


def _build(
    sandbox: BuildahSandbox, registry: str, spec: Spec, folder: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.txt").write_bytes(spec.content)
    wheels = folder / "wheels"
    wheels.mkdir(exist_ok=True)
    for wheel in spec.wheels:
        shutil.copyfile(wheel.path, wheels / wheel.filename)
    variant = "gpu" if "gpu" in extra else "cpu"
    tag = envhash.image_tag(RECIPE, variant, spec.content)
    image = f"{registry}/ml-vision/dask:{tag}"
    result = sandbox.build(
        "--spec", str(folder / "requirements.txt"), "--image", image, "--wheels", str(wheels),
        "--cache", f"{registry}/ml-vision/dask-cache", "--recipe-hash", RECIPE, "--insecure", *extra,
    )  # fmt: skip
    return result, image


def _layers(image: str) -> list[str]:
    out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{image}"], capture_output=True, text=True, check=True
    ).stdout
    return list(json.loads(out)["Layers"])


@pytest.fixture(scope="module")
def registry(registry_server: str) -> str:
    return registry_server.removeprefix("http://")


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> LocalPackage:
    return _write_probe(tmp_path_factory.mktemp("probe"), "built into the image")


@pytest.fixture(scope="module")
def cpu_spec(probe: LocalPackage, tmp_path_factory: pytest.TempPathFactory) -> Spec:
    spec = normalise_requirements("rich==13.9.4\n", "test spec")
    return spec.with_wheels(build_wheels([probe], tmp_path_factory.mktemp("wheels")))


@pytest.fixture(scope="module")
def cpu_image(
    buildah_sandbox: BuildahSandbox,
    test_base: str,
    registry: str,
    cpu_spec: Spec,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    result, image = _build(buildah_sandbox, registry, cpu_spec, tmp_path_factory.mktemp("cpu"), "--base", test_base)
    assert result.returncode == 0, result.stderr[-3000:]
    reference = result.stdout.strip().splitlines()[-1]
    assert reference.startswith(f"{image}@sha256:") and len(reference) == len(image) + 8 + 64
    return image


@pytest.fixture(scope="module")
def cluster(buildah_sandbox: BuildahSandbox, cpu_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import dask
    from distributed import Client
    from distributed.security import Security

    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    processes: list[DaskProcess] = []
    try:
        scheduler_command = ["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
        processes.append(run_in_image(buildah_sandbox, cpu_image, scheduler_command, logs / "scheduler.log"))
        wait_for_port(port, processes[0], logs / "scheduler.log")
        worker_command = ["dask", "worker", f"tcp://127.0.0.1:{port}", "--host", "127.0.0.1", "--nthreads", "1",
                          "--no-dashboard", "--local-directory", "/tmp/dask-worker"]  # fmt: skip
        processes.append(run_in_image(buildah_sandbox, cpu_image, worker_command, logs / "worker.log"))
        # Plain TCP on loopback: another test's dask-cloudprovider cluster may have left TLS required in the
        # process-wide Dask config.
        plain = {"distributed.comm.require-encryption": False, "distributed.comm.default-scheme": "tcp"}
        with dask.config.set(plain), Client(f"tcp://127.0.0.1:{port}", timeout=60, security=Security()) as client:
            client.wait_for_workers(1, timeout=90)
            yield client
    finally:
        for process in reversed(processes):
            process.stop()


SHARED_NAMES = tuple(SHARED_PACKAGES)


def _worker_facts() -> Any:
    """What a worker has; a nested function, so that it travels by value (workers cannot import this module)."""

    def facts() -> dict[str, Any]:
        import importlib.metadata
        import os
        import sys

        import teamstack_probe  # type: ignore[import-not-found]  # only on the workers

        names = (*SHARED_NAMES, "rich")
        return {
            "python": list(sys.version_info[:2]),
            "versions": {name: importlib.metadata.version(name) for name in names},
            "probe": teamstack_probe.VALUE,
            "user": os.getuid(),
        }

    return facts


def test_workers_match_the_client_python_pins_and_local_code(cluster: Any, cpu_spec: Spec) -> None:
    facts = cluster.submit(_worker_facts(), pure=False).result(timeout=60)
    client = ClientPython.current()
    assert facts["python"] == list(sys.version_info[:2])
    assert f"{facts['python'][0]}.{facts['python'][1]}" == cpu_spec.python
    for name in SHARED_PACKAGES:
        assert facts["versions"][name] == client.installed(name), name
    assert facts["versions"]["rich"] == "13.9.4"  # the spec's own pin, honoured
    assert facts["probe"] == "built into the image"  # the local package's wheel, installed by hash
    assert facts["user"] == 1000  # never root
    assert cluster.submit(sum, [1, 2, 3]).result(timeout=30) == 6


def test_changed_local_code_reaches_running_workers_without_a_rebuild(
    cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    changed = _write_probe(tmp_path_factory.mktemp("probe2"), "synced to the running workers")
    assert sync_local_packages(cluster, [changed]) == ["teamstack_probe-0.1-py3-none-any.whl"]
    facts = cluster.submit(_worker_facts(), pure=False).result(timeout=60)
    assert facts["probe"] == "synced to the running workers"


def test_the_image_says_what_it_contains(buildah_sandbox: BuildahSandbox, cpu_image: str, test_base: str) -> None:
    config = json.loads(buildah_sandbox.image_config(cpu_image))
    labels = config["OCIv1"]["config"]["Labels"]
    assert labels["teamstack.python"] == "3.11" and labels["teamstack.variant"] == "cpu"
    assert labels["org.opencontainers.image.base.name"] == test_base and "@sha256:" in test_base
    assert labels["teamstack.image-tag"] == cpu_image.rsplit(":", 1)[1]
    assert config["OCIv1"]["config"]["User"] == "1000:1000"


# --- the reaper CronJob's command, in the built image, as its pod runs it ------------------------------------------


def _reaper_pod(command: list[str], kube: KubeStandin, folder: Path) -> PodContainer:
    """The reaper CronJob's container (components/k8s/layer.py) from the same functions the layer uses: the script
    mounted from its ConfigMap, the service-account token, CA and namespace where the kubelet puts them, the
    pod's uid/gid and read-only root, and the API's service address (the stand-in on the host's loopback)."""
    script, account = folder / "configmap", folder / "serviceaccount"
    for made in (script, account):
        made.mkdir(mode=0o755, parents=True)
        made.chmod(0o755)  # as the kubelet's volumes: readable by any uid
    (script / spec.REAPER_SCRIPT.name).write_text(spec.REAPER_SCRIPT.read_text(encoding="utf-8"))
    (account / "token").write_text("reaper-token\n")
    (account / "ca.crt").write_bytes(base64.b64decode(kube.ca_data))
    (account / "namespace").write_text("ml-vision")
    for file in (*script.iterdir(), *account.iterdir()):
        file.chmod(0o644)
    pod, container = spec.reaper_pod_security()
    host, port = kube.endpoint.removeprefix("https://").rsplit(":", 1)
    return PodContainer(
        command=command,
        uid=pod["runAsUser"],
        gid=pod["runAsGroup"],
        env={reaper.LIFETIME_ENV: str(24 * 3600), "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port},
        volumes={spec.REAPER_MOUNT: script, reaper.ACCOUNT_DIR: account},
        read_only_root=container["readOnlyRootFilesystem"],
    )


@pytest.fixture
def kube() -> Iterator[KubeStandin]:
    server = KubeStandin()
    yield server
    server.stop()


def _daskcluster(name: str, age: timedelta) -> dict[str, Any]:
    created = (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": name, "namespace": "ml-vision", "uid": f"uid-{name}", "creationTimestamp": created}}


def test_the_reaper_cronjob_command_deletes_expired_clusters_from_the_built_image(
    buildah_sandbox: BuildahSandbox, cpu_image: str, kube: KubeStandin, tmp_path: Path
) -> None:
    """The CronJob's exact command, in the team image, under the reaper's uid with a read-only root: the script
    starts under the image's Python, lists the namespace's DaskClusters and deletes the expired one."""
    kube.state.daskclusters.update(
        forgotten=_daskcluster("forgotten", timedelta(days=2)), fresh=_daskcluster("fresh", timedelta(hours=1))
    )
    command = spec.reaper_command(imagefile.interpreter(IMAGES))
    result = run_as_pod(buildah_sandbox, cpu_image, _reaper_pod(command, kube, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "deleted DaskCluster ml-vision/forgotten: 48.0 h old, limit 24 h\n"
    assert set(kube.state.daskclusters) == {"fresh"}
    collection = f"/apis/{reaper.GROUP}/{reaper.VERSION}/namespaces/ml-vision/{reaper.PLURAL}"
    assert kube.state.requests == [
        ("GET", collection, "Bearer reaper-token"),
        ("DELETE", f"{collection}/forgotten", "Bearer reaper-token"),
    ]


def test_the_image_runs_the_containerfiles_python_and_nothing_else(
    buildah_sandbox: BuildahSandbox, cpu_image: str, kube: KubeStandin, tmp_path: Path
) -> None:
    """What the reaper's command relies on, from the built image: the Containerfile's ENV as the platform reads
    it, that interpreter's venv under the pod's uid and read-only root, and a command outside the image (the
    micromamba-era /opt/conda/bin/python) refused the way the runtime refuses it."""
    declared = imagefile.image_env(CONTAINERFILE.read_text())
    built = dict(e.split("=", 1) for e in json.loads(buildah_sandbox.image_config(cpu_image))["OCIv1"]["config"]["Env"])
    assert built[imagefile.VENV_KEY] == declared[imagefile.VENV_KEY] and built["PATH"] == declared["PATH"]

    python = imagefile.interpreter(IMAGES)
    probe = "import os, sys; print(os.getuid(), os.getgid(), sys.prefix); open('/probe', 'w')"
    result = run_as_pod(buildah_sandbox, cpu_image, _reaper_pod([python, "-c", probe], kube, tmp_path), tmp_path)
    uid, gid, prefix = result.stdout.split()
    assert (int(uid), int(gid)) == (spec.REAPER_UID, spec.REAPER_UID) and prefix == built[imagefile.VENV_KEY]
    assert result.returncode == 1 and "Read-only file system: '/probe'" in result.stderr

    old = ["/opt/conda/bin/python", *spec.reaper_command(python)[1:]]
    gone = run_as_pod(buildah_sandbox, cpu_image, _reaper_pod(old, kube, tmp_path / "old"), tmp_path)
    assert gone.returncode == 127 and gone.stderr == 'exec: "/opt/conda/bin/python": no such file or directory\n'
    assert kube.state.requests == []


def _in_network(network: str, code: str) -> subprocess.CompletedProcess[str]:
    """This machine's Python, in a pod's network namespace (as the kubelet's probes reach the pod)."""
    return subprocess.run(["nsenter", f"--net={network}", "--", sys.executable, "-I", "-c", code],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip


def _get(url: str) -> str:
    return f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"


def _kubelet_expand(args: list[str], env: dict[str, str]) -> list[str]:
    """`$(NAME)` in a container's args, as the kubelet expands it from the container's env."""
    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), arg) for arg in args]


def test_the_operators_scheduler_and_worker_pods_start_from_the_built_image(
    buildah_sandbox: BuildahSandbox, cpu_image: str, tmp_path: Path
) -> None:
    """The DaskCluster the client submits (kube_cluster_spec) and the worker Deployment the Dask operator makes
    of it (its own build_worker_deployment_spec), started from the built image: no command, so the args run on the
    image's PATH as its user (runAsNonRoot without runAsUser), the scheduler in a network of its own on its fixed
    ports. The scheduler's readiness probe passes; the worker registers under the name the operator gave it. Only
    DASK_SCHEDULER_ADDRESS is changed: there is no cluster DNS here, the pods share one network namespace."""
    from dask_kubernetes.operator.controller.controller import build_worker_deployment_spec
    from standins import planned_manifest

    from teamstack.client.clusters import kube_cluster_spec

    cluster = kube_cluster_spec(planned_manifest(), name="probe", image=cpu_image)
    (scheduler,) = cluster["spec"]["scheduler"]["spec"]["containers"]
    deployment = build_worker_deployment_spec(
        "probe-default", "ml-vision", "probe", "0a1b2c", cluster["spec"]["worker"]["spec"], {}, {}
    )
    (worker,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "command" not in scheduler and "command" not in worker  # the image has no entrypoint: args are the command
    image_user = json.loads(buildah_sandbox.image_config(cpu_image))["OCIv1"]["config"]["User"]
    user, group = (int(n) for n in image_user.split(":"))
    assert user > 0 and cluster["spec"]["scheduler"]["spec"]["securityContext"]["runAsNonRoot"] is True
    probe = scheduler["readinessProbe"]["httpGet"]
    port = next(p["containerPort"] for p in scheduler["ports"] if p["name"] == probe["port"])

    running = start_as_pod(buildah_sandbox, cpu_image, PodContainer(scheduler["args"], user, group, {}, {}, False),
                           tmp_path, tmp_path / "scheduler.log")  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while (ready := _in_network(running.network, _get(f"http://127.0.0.1:{port}{probe['path']}"))).returncode:
            assert running.process.poll() is None, (tmp_path / "scheduler.log").read_text()[-2000:]
            assert time.monotonic() < deadline, ready.stderr[-2000:]
            time.sleep(0.5)
        assert ready.stdout.strip() == "ok"
        env = {item["name"]: item["value"] for item in worker["env"]}
        env["DASK_SCHEDULER_ADDRESS"] = "tcp://127.0.0.1:8786"
        args = _kubelet_expand(worker["args"], env)
        joined = start_as_pod(buildah_sandbox, cpu_image, PodContainer(args, user, group, env, {}, False), tmp_path,
                              tmp_path / "worker.log", network=running.network)  # fmt: skip
        try:
            while True:
                asked = _in_network(running.network, _get(f"http://127.0.0.1:{port}/json/identity.json"))
                assert asked.returncode == 0, asked.stderr[-2000:]
                identity = json.loads(asked.stdout)
                if identity["workers"]:
                    break
                assert joined.process.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
                time.sleep(0.5)
            assert [w["name"] for w in identity["workers"].values()] == [env["DASK_WORKER_NAME"]]
        finally:
            joined.stop()
    finally:
        running.stop()


def test_the_vm_scheduler_command_of_dask_cloudprovider_starts_in_the_image(
    buildah_sandbox: BuildahSandbox, cpu_image: str, tmp_path: Path
) -> None:
    """EC2/GCE VMs run `docker run <image> <command>`, the command as dask-cloudprovider's SchedulerMixin writes
    it (`env DASK_INTERNAL_INHERIT_CONFIG=... python -m distributed.cli.dask_scheduler ...`): `env` and `python`
    come from the image's PATH, as its user. Our client's idle timeout; address and ports of this shared host."""
    from dask_cloudprovider.generic.vmcluster import SchedulerMixin, VMInterface

    class _Vm(VMInterface):
        def __init__(self, cluster: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.cluster = cluster

    class _Scheduler(SchedulerMixin, _Vm):
        pass

    port, dashboard = free_port(), free_port()
    options = {"idle_timeout": "1200s", "port": port, "host": "127.0.0.1"}
    options["dashboard_address"] = f"127.0.0.1:{dashboard}"
    command = _Scheduler(cluster=SimpleNamespace(uuid="t"), scheduler_options=options).command
    assert command.split()[2:5] == ["python", "-m", "distributed.cli.dask_scheduler"]
    log = tmp_path / "vm-scheduler.log"
    process = run_in_image(buildah_sandbox, cpu_image, shlex.split(command), log)  # docker's host shell splits it
    try:
        wait_for_port(port, process, log)
    finally:
        process.stop()


def test_one_added_package_reuses_the_registry_layers_on_a_fresh_host(
    cpu_image: str, cpu_spec: Spec, registry: str, test_base: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    fresh = BuildahSandbox.create(tmp_path_factory.mktemp("fresh-host"))  # no local layers, no uv cache
    one_more = normalise_requirements("rich==13.9.4\nsix==1.17.0\n", "test spec").with_wheels(cpu_spec.wheels)
    try:
        result, image = _build(fresh, registry, one_more, tmp_path_factory.mktemp("plus-one"), "--base", test_base)
        assert result.returncode == 0, result.stderr[-3000:]
        before, after = _layers(cpu_image), _layers(image)
        # base, uv, core.lock and the shared-packages layer come from the registry cache, byte for byte
        assert after[:4] == before[:4]
        assert after[4:] != before[4:] and len(after) == len(before)
    finally:
        fresh.forget_local_images()


def test_gpu_image_lists_its_cuda_libraries_and_no_driver(
    buildah_sandbox: BuildahSandbox, test_base: str, registry: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    spec = normalise_requirements("nvidia-cuda-runtime-cu12==12.4.127\n", "gpu spec")
    result, image = _build(buildah_sandbox, registry, spec, tmp_path_factory.mktemp("gpu"), "--base", test_base,
                           "--variant", "gpu")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    container = buildah_sandbox.buildah("from", "--quiet", image)
    try:
        root = Path(buildah_sandbox.buildah("mount", container))
        content = json.loads((root / "opt/teamstack/environment.json").read_text())
        assert content["variant"] == "gpu" and content["driver"] == "from the node"
        assert content["cuda"] == ["nvidia-cuda-runtime-cu12==12.4.127"]
        assert list(root.rglob("libcudart.so*")), "the CUDA runtime of the spec's wheel"
        venv = root / imagefile.image_env(CONTAINERFILE.read_text())[imagefile.VENV_KEY].lstrip("/")
        assert venv.is_dir() and not list(venv.rglob("libcuda.so*"))
        assert not list((root / "usr/lib").rglob("libcuda.so*"))
    finally:
        buildah_sandbox.buildah("rm", container, check=False)
    config = json.loads(buildah_sandbox.image_config(image))["OCIv1"]["config"]
    assert config["Labels"]["teamstack.variant"] == "gpu"
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in config["Env"]


# --- refusals: one line, nothing built ----------------------------------------------------------------------


def _refused(sandbox: BuildahSandbox, tmp_path: Path, spec_text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "requirements.txt").write_text(spec_text)
    return sandbox.build("--spec", str(tmp_path / "requirements.txt"), "--image", "127.0.0.1:1/x/dask:t", *extra)


def test_an_unsatisfiable_spec_fails_with_the_resolvers_reason(
    buildah_sandbox: BuildahSandbox, test_base: str, tmp_path: Path
) -> None:
    # The case: dask pinned without distributed; distributed is added at the client's version.
    client = ClientPython("3.11", {"distributed": "2026.8.0"}.get)
    spec = normalise_requirements("dask==2026.3.0\n", "spec", client=client)
    result = _refused(buildah_sandbox, tmp_path, spec.content.decode(), "--base", test_base)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("build.sh: the spec cannot be installed as asked (nothing was built):")
    assert "dask==2026.3.0" in lines[0] and "distributed==2026.8.0" in lines[0] and "unsatisfiable" in lines[0]


@pytest.mark.parametrize(
    ("spec_text", "extra", "message"),
    [
        ("# teamstack: python=3.9\ndask\n", ["--base-registry", "r.example/ecr-public"],
         "build.sh: no base image for Python 3.9: images/bases.txt has 3.11 3.12 3.13 "),
        ("# teamstack: python=3.11\ndask\n", ["--base", "127.0.0.1:1/python:3.11"], "is not pinned by digest"),
        ("dask\n", ["--base", "x@sha256:" + "0" * 64], "has no '# teamstack: python=X.Y' line"),
        ("# teamstack: python=3.11\ndask\n# teamstack: wheel a-1-py3-none-any.whl sha256=" + "0" * 64 + "\n",
         ["--base", "x@sha256:" + "0" * 64], "names the local package a-1-py3-none-any.whl but it is not in"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_in_one_line(
    buildah_sandbox: BuildahSandbox, tmp_path: Path, spec_text: str, extra: list[str], message: str
) -> None:
    result = _refused(buildah_sandbox, tmp_path, spec_text, *extra)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
