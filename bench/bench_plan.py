"""How much the program adds on top of merely importing Pulumi and the provider SDK modules it uses.

Three scenarios, each run in a fresh interpreter (cold imports, peak RSS of that scenario alone):

  bare-one  `import pulumi` and every provider SDK module the one stack's plan uses (pulumi_aws, pulumi_gcp,
            pulumi_kubernetes submodules), each really loaded (the SDKs bind their submodules lazily; the
            bare run fetches each resource class)
  plan-one  `plan_stack(root, <stack>)` for one stack (default ml-vision)
  bare-all  as bare-one, for the modules of every stack's plan (AWS and GCP stacks load different SDKs)
  plan-all  `plan_stack` for every stack file, in one process

Each plan is compared with the bare imports of exactly the SDK modules it uses.

Each child times itself from its first line to its end (time.perf_counter) and reports its peak RSS
(getrusage(RUSAGE_SELF).ru_maxrss, KiB on Linux) as JSON. The scenarios are interleaved, repeated --repeat
times, and the medians compared. Target: the program adds at most 50% over bare imports (ratio <= 1.5).
A MISS is reported, never fatal: the exit code is 0 whenever the measurements themselves succeed.

    .venv/bin/python bench/bench_plan.py [--repeat 3] [--stack ml-vision] [--json bench.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
SCENARIOS = ("bare-one", "plan-one", "bare-all", "plan-all")
BASELINE = {"plan-one": "bare-one", "plan-all": "bare-all"}
RESULT_MARK = "BENCH-RESULT "

# Runs in the child. Its first line starts the clock; everything after it is measured.
CHILD = r"""
import time; _t0 = time.perf_counter()
import json, resource, sys
from pathlib import Path

scenario, root, stack, classes = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4:]
info = {}
if scenario.startswith("bare"):
    import importlib
    import pulumi
    for qualified in classes:  # "pulumi_aws.ec2:Vpc"
        module, _, cls = qualified.partition(":")
        # The SDKs register their submodules lazily: importing one only binds a stub, and the first attribute
        # access runs it. Fetch each class the program uses, so every module is really loaded, as in a plan.
        getattr(importlib.import_module(module), cls)
else:
    from teamstack.plan.runner import plan_stack
    from teamstack.stackfiles import load_project
    names = [stack] if scenario == "plan-one" else load_project(root).stacks()
    types = {}
    resources = 0
    for name in names:
        plan = plan_stack(root, name)
        resources += len(plan.resources)
        types[name] = sorted({r.type for r in plan.resources})
    info.update(stacks=names, resources=resources, types=types)
wall = time.perf_counter() - _t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
info.update(wall_s=wall, maxrss_kib=peak, loaded_modules=len(sys.modules))
print("BENCH-RESULT " + json.dumps(info), flush=True)
"""


# Provider package of a type token -> its Python SDK module.
SDK_MODULES = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "kubernetes": "pulumi_kubernetes"}


def module_of(type_token: str) -> str | None:
    """The SDK module behind a provider type token, or None for the program's own components:
    aws:ec2/vpc:Vpc -> pulumi_aws.ec2, gcp:compute/network:Network -> pulumi_gcp.compute,
    kubernetes:rbac.authorization.k8s.io/v1:Role -> pulumi_kubernetes.rbac.v1,
    kubernetes:helm.sh/v3:Release -> pulumi_kubernetes.helm.v3, pulumi:providers:aws -> pulumi_aws."""
    package, module, _ = type_token.split(":", 2)
    if package == "pulumi" and module == "providers":
        return SDK_MODULES.get(type_token.rsplit(":", 1)[1])
    sdk = SDK_MODULES.get(package)
    if sdk is None:
        return None  # teamstack:aws:TeamStack and other components
    if package == "kubernetes":
        group, _, version = module.partition("/")
        return f"{sdk}.{group.split('.', 1)[0]}.{version}"
    name = module.split("/", 1)[0]
    return sdk if name == "index" else f"{sdk}.{name.replace('-', '_')}"


def sdk_classes(type_tokens: list[str]) -> list[str]:
    """`module:Class` of every provider resource type in a plan: aws:ec2/vpc:Vpc -> pulumi_aws.ec2:Vpc;
    explicit providers (pulumi:providers:kubernetes) -> pulumi_kubernetes:Provider."""
    classes = set()
    for token in type_tokens:
        module = module_of(token)
        if module is not None:
            cls = "Provider" if token.startswith("pulumi:providers:") else token.rsplit(":", 1)[1]
            classes.add(f"{module}:{cls}")
    return sorted(classes)


def run_child(scenario: str, root: Path, stack: str, classes: list[str]) -> dict[str, Any]:
    # The parent stays small (it never imports Pulumi): on Linux a child's ru_maxrss starts from the RSS of
    # the process it was forked from, so a heavy parent would inflate every child's peak.
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, scenario, str(root), stack, *classes],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    results = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if completed.returncode != 0 or not results:
        raise RuntimeError(f"{scenario} failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(results[-1][len(RESULT_MARK) :])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median is reported")
    parser.add_argument("--stack", default="ml-vision", help="the stack of the plan-one scenario")
    parser.add_argument("--root", type=Path, default=ROOT, help="the Pulumi project (default: this checkout)")
    parser.add_argument("--json", type=Path, dest="json_path", help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    root: Path = args.root.resolve()

    # A warm-up plan of every stack, not counted: fills the OS file cache and the bytecode caches (so no
    # scenario pays for compiling), and tells which provider SDK modules the program uses.
    print("warm-up: planning every stack to find the provider SDK modules the program uses ...", file=sys.stderr)
    warmup = run_child("plan-all", root, args.stack, [])
    if args.stack not in warmup["types"]:
        parser.error(f"no stack file for --stack {args.stack}; stacks: {', '.join(warmup['stacks'])}")
    classes = {
        "bare-one": sdk_classes(warmup["types"][args.stack]),
        "bare-all": sdk_classes([t for types in warmup["types"].values() for t in types]),
    }
    modules = {bare: sorted({c.split(":")[0] for c in found}) for bare, found in classes.items()}
    print(f"  {len(modules['bare-all'])} modules: {', '.join(modules['bare-all'])}", file=sys.stderr)
    run_child("bare-all", root, args.stack, classes["bare-all"])  # warm the bare path's bytecode too

    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SCENARIOS}
    for i in range(args.repeat):  # interleaved, so drift (thermal, other load) hits every scenario alike
        for scenario in SCENARIOS:
            result = run_child(scenario, root, args.stack, classes.get(scenario, []))
            runs[scenario].append(result)
            print(f"  run {i + 1}/{args.repeat} {scenario:8} {result['wall_s']:6.2f} s "
                  f"{result['maxrss_kib'] / 1024:7.1f} MiB", file=sys.stderr)  # fmt: skip

    wall = {s: statistics.median(r["wall_s"] for r in runs[s]) for s in SCENARIOS}
    peak = {s: statistics.median(r["maxrss_kib"] for r in runs[s]) / 1024 for s in SCENARIOS}
    labels = {
        "bare-one": f"bare imports of {args.stack}'s SDK modules ({len(modules['bare-one'])})",
        "plan-one": f"plan one stack ({args.stack}, {runs['plan-one'][0]['resources']} resources)",
        "bare-all": f"bare imports of every stack's SDK modules ({len(modules['bare-all'])})",
        "plan-all": f"plan all stacks ({len(warmup['stacks'])} stacks, {runs['plan-all'][0]['resources']} resources)",
    }

    width = max(len(label) for label in labels.values())
    print(f"\nmedian of {args.repeat} runs per scenario, each in a fresh process "
          f"(Python {platform.python_version()}, {platform.machine()})\n")  # fmt: skip
    print(f"{'scenario':<{width}}  {'wall s':>7}  {'peak MiB':>8}  {'modules':>7}  runs (wall s)")
    for s in SCENARIOS:
        each = " ".join(f"{r['wall_s']:.2f}" for r in runs[s])
        loaded = runs[s][0]["loaded_modules"]
        print(f"{labels[s]:<{width}}  {wall[s]:>7.2f}  {peak[s]:>8.1f}  {loaded:>7}  {each}")

    ratios: dict[str, dict[str, Any]] = {}
    print(f"\n{'ratio to bare imports':<22} {'time':>6} {'verdict':>7}  {'memory':>6} {'verdict':>7}  target")
    for s, bare in BASELINE.items():
        time_ratio, mem_ratio = wall[s] / wall[bare], peak[s] / peak[bare]
        verdicts = ["PASS" if r <= TARGET_RATIO else "MISS" for r in (time_ratio, mem_ratio)]
        ratios[s] = {
            "time_ratio": time_ratio,
            "memory_ratio": mem_ratio,
            "time_overhead_percent": 100 * (time_ratio - 1),
            "memory_overhead_percent": 100 * (mem_ratio - 1),
            "time_verdict": verdicts[0],
            "memory_verdict": verdicts[1],
        }
        print(f"{s + ' / ' + bare:<22} {time_ratio:>5.2f}x {verdicts[0]:>7}  {mem_ratio:>5.2f}x {verdicts[1]:>7}  "
              f"<= {TARGET_RATIO:.2f}x")  # fmt: skip
    print(f"\n{'program overhead':<22} {'time':>6}  {'memory':>7}   (plan - bare) / bare; target <= "
          f"+{100 * (TARGET_RATIO - 1):.0f}%")  # fmt: skip
    for s in ("plan-one", "plan-all"):
        print(f"{s:<22} {ratios[s]['time_overhead_percent']:>+5.0f}%  {ratios[s]['memory_overhead_percent']:>+6.0f}%")

    if args.json_path is not None:
        document = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "repeat": args.repeat,
            "stack": args.stack,
            "target_ratio": TARGET_RATIO,
            "modules": modules,
            "classes": classes,
            "scenarios": {
                s: {
                    "label": labels[s],
                    "median_wall_s": wall[s],
                    "median_peak_mib": peak[s],
                    "runs": [{k: r[k] for k in ("wall_s", "maxrss_kib", "loaded_modules")} for r in runs[s]],
                }
                for s in SCENARIOS
            },
            "ratios": ratios,
        }
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json_path}", file=sys.stderr)
    return 0  # a MISS is a finding to report, not a failure


if __name__ == "__main__":
    sys.exit(main())
