"""The pull-request workflow's helpers (`.github/workflows/`): which stacks a change touches, and one comment.

    python -m teamstack.plan.review changed --base SHA [--head SHA] [--matrix]
    python -m teamstack.plan.review comment DIR        # every DIR/<stack>.md, in one comment body
    python -m teamstack.plan.review check FILE...      # policies/teams/*.yaml and policies/allowances/*.yaml

A stack is touched by its own stack file, policy values and allowances; every stack by anything the program,
the policy pack or the image pipeline is made of. Documentation, tests and other workflows touch none.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from teamstack.config import ConfigError, load_team
from teamstack.plan.allowances import load_allowances
from teamstack.plan.diff import MARKER, comment
from teamstack.policy.config import load_policy_config
from teamstack.stackfiles import find_project, load_project, stack_config

# Paths (relative to the project) whose change can change every stack's plan or its policy check.
EVERY_STACK = (
    "__main__.py",
    "Pulumi.yaml",
    "requirements.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "components/",
    "teamstack/",
    "policies/",
    "images/",
    "environments/",
)
# GitHub refuses a comment over 65536 characters.
COMMENT_LIMIT = 60000


def changed_stacks(paths: Iterable[str], stacks: Iterable[str], stack_dir: str = "stacks") -> list[str]:
    """The stacks (of `stacks`, those that exist now) whose plan or checks the changed `paths` can change."""
    known = sorted(set(stacks))
    touched: set[str] = set()
    prefix = f"{stack_dir.strip('/')}/" if stack_dir not in ("", ".") else ""
    for path in paths:
        name = Path(path).name
        in_stack_dir = path.startswith(prefix) and "/" not in path[len(prefix) :]
        if in_stack_dir and name.startswith("Pulumi.") and name.endswith(".yaml"):
            touched.add(name[len("Pulumi.") : -len(".yaml")])
            continue
        for folder in ("policies/teams/", "policies/allowances/"):
            if path.startswith(folder) and path.endswith(".yaml"):
                touched.add(Path(path).stem)
                break
        else:
            if any(path == p or (p.endswith("/") and path.startswith(p)) for p in EVERY_STACK):
                return known
    return [s for s in known if s in touched]


def _git_paths(root: Path, base: str, head: str) -> list[str]:
    if not base or set(base) == {"0"}:  # a new branch: GitHub sends an all-zero "before"
        return ["Pulumi.yaml"]
    done = subprocess.run(
        ["git", "diff", "--name-only", "--no-renames", f"{base}...{head}", "--", "."],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise ConfigError("git", f"diff {base}...{head}", f"{reason} (fetch the history: fetch-depth: 0)")
    return [line for line in done.stdout.splitlines() if line]


def _matrix(root: Path, stacks: list[str]) -> list[dict[str, str]]:
    project = load_project(root)
    rows = []
    for stack in stacks:
        team = load_team(stack_config(project, stack), stack)
        rows.append({"stack": stack, "cloud": team.cloud, "region": team.region})
    return rows


def assemble(folder: Path) -> str:
    """One comment from each stack's Markdown section, cut to what GitHub accepts."""
    sections = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md")) if p.name != "comment.md"]
    body = comment(sections)
    if len(body) > COMMENT_LIMIT:
        body = (
            body[:COMMENT_LIMIT]
            + "\n\n… cut here: the whole diff is in the job summary and the `plan-diff` artifact.\n"
        )
    return body


def check_files(paths: Iterable[Path]) -> list[str]:
    """Load each policy-values or allowance file as the pack and the diff would; ConfigError on the first bad one."""
    checked = []
    for path in paths:
        policies_dir, kind = path.parent.parent, path.parent.name
        if kind == "teams":
            load_policy_config(policies_dir, path.stem)
        elif kind == "allowances":
            load_allowances(policies_dir, path.stem)
        else:
            continue
        checked.append(str(path))
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m teamstack.plan.review")
    sub = parser.add_subparsers(dest="command", required=True)
    changed = sub.add_parser("changed", help="stacks touched between two commits, one per line")
    changed.add_argument("--base", required=True)
    changed.add_argument("--head", default="HEAD")
    changed.add_argument("--matrix", action="store_true", help="a JSON list of {stack, cloud, region}")
    collect = sub.add_parser("comment", help="the pull-request comment from DIR/<stack>.md")
    collect.add_argument("folder", type=Path)
    check = sub.add_parser("check", help="policy values and allowance files, as the pack and the diff load them")
    check.add_argument("files", type=Path, nargs="*")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            for path in check_files(args.files):
                print(f"{path}: ok")
            return 0
        if args.command == "comment":
            sys.stdout.write(assemble(args.folder))
            return 0
        root = find_project(Path.cwd().resolve())
        project = load_project(root)
        stack_dir = str(project.stack_dir.relative_to(root))
        stacks = changed_stacks(_git_paths(root, args.base, args.head), project.stacks(), stack_dir)
        if args.matrix:
            print(json.dumps(_matrix(root, stacks), separators=(",", ":")))
        else:
            print("\n".join(stacks))
        return 0
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


__all__ = ["MARKER", "assemble", "changed_stacks", "main"]

if __name__ == "__main__":
    sys.exit(main())
