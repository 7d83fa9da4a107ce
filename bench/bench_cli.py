"""How long the `teamstack` command takes to start, compared with what any Typer/Rich CLI pays.

Scenarios, each a fresh process, wall time from spawn to exit (interpreter start-up included, as a user feels it):

  python        `python -c pass`: the interpreter alone
  floor         `import typer, rich.console, rich.table`: what every Typer + Rich command pays
  help          `teamstack --help`
  catalog-help  `teamstack catalog add --help`
  catalog-ls    `teamstack catalog ls ml-vision --manifest <file> --json` against a local moto server (S3 seeded
                with the team's catalog bucket, empty index): imports, the manifest, boto3, one GetObject

The scenarios are interleaved and repeated; medians are compared. Target: `help` and `catalog-help` under
0.5 s, and each within 1.5x of `floor` (on a loaded machine the absolute figure moves with the load, the
ratio much less). A MISS is printed, never fatal.

    .venv/bin/python bench/bench_cli.py [--repeat 5] [--json bench-cli.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5
TARGET_RATIO = 1.5
CLI = [sys.executable, "-m", "teamstack.cli"]


def _scenarios(manifest: Path) -> dict[str, list[str]]:
    return {
        "python": [sys.executable, "-c", "pass"],
        "floor": [sys.executable, "-c", "import typer, rich.console, rich.table"],
        "help": [*CLI, "--help"],
        "catalog-help": [*CLI, "catalog", "add", "--help"],
        "catalog-ls": [*CLI, "catalog", "ls", "ml-vision", "--manifest", str(manifest), "--json"],
    }


def _seed(endpoint: str, folder: Path) -> tuple[Path, dict[str, str]]:
    """The planned ml-vision manifest in a file, its catalog bucket in moto; the children's environment."""
    import boto3

    sys.path.insert(0, str(ROOT))
    from teamstack.manifest import TeamManifest
    from teamstack.plan.runner import plan_stack

    manifest = TeamManifest.model_validate(plan_stack(ROOT, "ml-vision").outputs["manifest"])
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": manifest.region,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "DASK_CONFIG": str(folder / "dask"),
    }
    s3 = boto3.client("s3", region_name=manifest.region, endpoint_url=endpoint,
                      aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    s3.create_bucket(Bucket=manifest.catalog[0].bucket,
                     CreateBucketConfiguration={"LocationConstraint": manifest.region})  # fmt: skip
    path = folder / "manifest.json"
    path.write_text(manifest.to_json())
    return path, env


def _run(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed ({result.returncode}): {result.stderr.strip()[-400:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with tempfile.TemporaryDirectory() as folder:
            manifest, env = _seed(f"http://{host}:{port}", Path(folder))
            scenarios = _scenarios(manifest)
            for command in scenarios.values():  # warm-up: bytecode and file caches
                _run(command, env)
            times: dict[str, list[float]] = {name: [] for name in scenarios}
            for _ in range(args.repeat):
                for name, command in scenarios.items():
                    times[name].append(_run(command, env))
    finally:
        server.stop()

    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["floor"]
    print(f"{'scenario':<14}{'median s':>10}{'x floor':>10}  verdict")
    report: dict[str, Any] = {"repeat": args.repeat, "medians": medians, "ratios": {}}
    for name, median in medians.items():
        ratio = median / floor
        report["ratios"][name] = ratio
        verdict = ""
        if name in ("help", "catalog-help"):
            ok = median <= TARGET_SECONDS and ratio <= TARGET_RATIO
            verdict = "ok" if ok else f"MISS (target <= {TARGET_SECONDS}s and <= {TARGET_RATIO}x floor)"
        print(f"{name:<14}{median:>10.3f}{ratio:>10.2f}  {verdict}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
