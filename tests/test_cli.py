"""The `teamstack` command line as a user drives it: a real process, its stdout, stderr, files and exit code.

Every case runs `python -m teamstack.cli` in a fresh process, so what is checked is what a user or CI sees:
exit 0 on success, 2 with exactly one `error: <file>: <key>: <reason>` line on bad input, 1 on an unexpected
failure, and never a traceback unless asked for. Full plans cost ~4 s each, so there are few of them: one
stack, all stacks (one process), one in-process plan for byte-stability, and one plan a program check stops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from teamstack.config import ConfigError
from teamstack.plan import runner
from teamstack.stackfiles import load_project

REPO = Path(__file__).resolve().parents[1]
STACKS = load_project(REPO).stacks()
RESOURCE_KEYS = {"urn", "type", "name", "id", "parent", "custom", "inputs", "options"}
OPTION_KEYS = {"protect", "retainOnDelete"}
# `pkg:module:Type`, e.g. aws:ec2/vpc:Vpc or teamstack:aws:TeamStack.
# Resource types, and explicit providers (the Kubernetes layer's, built from the stack's own cluster).
TYPE_TOKEN = re.compile(r"[a-z][a-z0-9-]*:[A-Za-z0-9_./-]+:[A-Z][A-Za-z0-9]*|pulumi:providers:[a-z][a-z0-9-]*")
# Environment that would change what a user sees: forced colour, a debug traceback.
_SCRUBBED_ENV = ("TEAMSTACK_DEBUG", "FORCE_COLOR", "PY_COLORS", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def root_stack_urn(stack: str) -> str:
    return f"urn:pulumi:{stack}::teamstack::pulumi:pulumi:Stack::teamstack-{stack}"


def teamstack(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real entry point in a fresh process, as a user would from `cwd`."""
    environment = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "teamstack.cli", *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single `error: ...` line of a failed run (and nothing else on stderr, no traceback)."""
    assert result.returncode == code, describe(result)
    assert "Traceback" not in result.stderr + result.stdout, describe(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, describe(result)
    assert lines[0].startswith("error: "), describe(result)
    return lines[0]


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[[dict[str, dict[str, Any]]], Path]:
    """A copy of the project in tmp_path (program, components, images) with the given stack files."""

    def make(stacks: dict[str, dict[str, Any]]) -> Path:
        project = tmp_path / "project"
        project.mkdir()
        for name in ("Pulumi.yaml", "__main__.py"):
            shutil.copy2(REPO / name, project / name)
        for name in ("components", "images"):
            shutil.copytree(REPO / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        (project / "stacks").mkdir()
        for stack, document in stacks.items():
            (project / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
        return project

    return make


def analytics_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The analytics stack file with one change applied to its `config:`."""
    document = yaml.safe_load((REPO / "stacks" / "Pulumi.analytics.yaml").read_text(encoding="utf-8"))
    change(document["config"])
    return dict(document)


def _bad_nat_mode(config: dict[str, Any]) -> None:
    config["teamstack:natMode"] = "sometimes"


def _bad_node_group_size(config: dict[str, Any]) -> None:
    config["teamstack:nodeGroups"][1]["maxSize"] = "lots"


BAD_VALUES = [
    pytest.param(_bad_nat_mode, "teamstack:natMode", "sometimes", id="natMode"),
    pytest.param(_bad_node_group_size, "teamstack:nodeGroups[1].maxSize", "lots", id="nodeGroups-maxSize"),
]


# --- plan one stack ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRun:
    result: subprocess.CompletedProcess[str]
    json_path: Path

    @property
    def document(self) -> dict[str, Any]:
        return dict(json.loads(self.json_path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def ml_vision(tmp_path_factory: pytest.TempPathFactory) -> PlanRun:
    """`teamstack plan ml-vision -C <repo> --json out.json`, run once from an unrelated folder."""
    workdir = tmp_path_factory.mktemp("plan-one")
    result = teamstack("plan", "ml-vision", "-C", REPO, "--json", "out.json", cwd=workdir)
    assert result.returncode == 0, describe(result)
    return PlanRun(result, workdir / "out.json")  # relative --json: the user's folder, not the project's


def test_plan_prints_the_resource_tree_and_the_outputs(ml_vision: PlanRun) -> None:
    document, stdout = ml_vision.document, ml_vision.result.stdout
    assert "Traceback" not in ml_vision.result.stderr
    assert ml_vision.result.stderr.splitlines() == ["wrote out.json"]
    assert stdout.startswith(f"stack ml-vision  ({len(document['resources'])} resources)\n")
    assert "\x1b[" not in stdout  # piped output is plain text, fit for CI logs
    assert "└── teamstack:aws:TeamStack ml-vision\n" in stdout
    for resource in document["resources"]:
        assert f"{resource['type']} {resource['name']}" in stdout
    # A reviewer sees which resources survive `pulumi destroy` (brackets are not swallowed as markup).
    protected = [r for r in document["resources"] if r["options"]["protect"]]
    assert protected and stdout.count("[protected]") == len(protected)
    outputs = stdout.split("\noutputs\n", 1)[1]
    assert document["outputs"]["clusterName"] == "ml-vision"
    assert '\n  clusterName: "ml-vision"\n' in f"\n{outputs}"
    for name in document["outputs"]:
        assert f"\n  {name}: " in f"\n{outputs}", name


def test_plan_json_has_exactly_the_documented_keys(ml_vision: PlanRun) -> None:
    document = ml_vision.document
    assert set(document) == {"stack", "resources", "outputs"}
    assert document["stack"] == "ml-vision"
    assert isinstance(document["outputs"], dict) and document["outputs"]
    assert document["resources"]
    for resource in document["resources"]:
        assert set(resource) == RESOURCE_KEYS, resource["urn"]
        options = dict(resource["options"])
        aliases = options.pop("aliases", [])  # only on renamed resources: the URNs they had before
        assert set(options) == OPTION_KEYS, resource["urn"]
        assert all(isinstance(flag, bool) for flag in options.values())
        assert all(isinstance(a, str) and a.startswith("urn:pulumi:ml-vision::teamstack::") for a in aliases)
        assert isinstance(resource["custom"], bool)
        assert isinstance(resource["inputs"], dict)
        assert TYPE_TOKEN.fullmatch(resource["type"]), resource["type"]
        assert resource["urn"].startswith("urn:pulumi:ml-vision::teamstack::")
        assert resource["urn"].endswith(f"{resource['type']}::{resource['name']}")


def test_plan_json_ids_and_parents_are_consistent(ml_vision: PlanRun) -> None:
    resources = ml_vision.document["resources"]
    urns = [r["urn"] for r in resources]
    assert len(set(urns)) == len(urns)
    assert urns == sorted(urns)  # stable order, so saved plans diff cleanly
    for resource in resources:
        if resource["custom"]:
            assert isinstance(resource["id"], str) and resource["id"], resource["urn"]
        else:
            assert resource["id"] is None, resource["urn"]
        assert resource["parent"] in {*urns, root_stack_urn("ml-vision")}, resource["urn"]
    assert any(r["parent"] == root_stack_urn("ml-vision") for r in resources)
    assert sum(r["custom"] for r in resources) > sum(not r["custom"] for r in resources) > 0


@pytest.fixture
def pulumi_state_restored() -> Iterator[None]:
    """An in-process plan leaves Pulumi's global runtime settings behind; clear them for later tests."""
    yield
    pulumi.runtime.set_all_config({}, [])
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]


@pytest.mark.usefixtures("pulumi_state_restored")
def test_plan_json_is_byte_identical_when_planned_again(ml_vision: PlanRun) -> None:
    again = runner.plan_stack(REPO, "ml-vision")  # another process, another hash seed, same bytes
    text = json.dumps(again.to_json(), indent=2, sort_keys=True) + "\n"
    assert text == ml_vision.json_path.read_text(encoding="utf-8")


# --- plan and validate every stack ------------------------------------------------------------------------


def test_plan_all_quiet_writes_one_file_per_stack(tmp_path: Path, ml_vision: PlanRun) -> None:
    # Run from a subfolder of the project: the CLI finds Pulumi.yaml above it, as `pulumi` does.
    result = teamstack("plan", "--all", "--quiet", "--json", tmp_path / "plans", cwd=REPO / "components")
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "plans").iterdir()) == [f"{s}.json" for s in STACKS]
    lines = result.stdout.splitlines()
    assert len(lines) == len(STACKS)  # --quiet: one line per stack, no tree
    for stack, line in zip(STACKS, lines, strict=True):
        document = json.loads((tmp_path / "plans" / f"{stack}.json").read_text(encoding="utf-8"))
        assert document["stack"] == stack
        assert line == f"{stack}: {len(document['resources'])} resources, {len(document['outputs'])} outputs"
    # Planned after another stack in the same process, still the same bytes as planned alone.
    assert (tmp_path / "plans" / "ml-vision.json").read_bytes() == ml_vision.json_path.read_bytes()


def test_validate_all_names_each_stack() -> None:
    result = teamstack("validate", "--all", cwd=REPO / "stacks")
    assert result.returncode == 0, describe(result)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == STACKS
    for line in lines:
        assert line.split(":", 1)[1].startswith(" ok (team ")


# --- bad input: exit 2, one line ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "validate"])
def test_unknown_stack_lists_the_known_ones(command: str) -> None:
    result = teamstack(command, "no-such-team", cwd=REPO)
    line = one_error_line(result)
    assert line.startswith("error: stacks/Pulumi.no-such-team.yaml: -: no such stack file; stacks here: ")
    assert line.endswith(", ".join(STACKS))
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["plan", "validate"])
@pytest.mark.parametrize(("change", "key", "value"), BAD_VALUES)
def test_bad_stack_file_value_names_the_file_and_key(
    make_project: Callable[[dict[str, dict[str, Any]]], Path],
    command: str,
    change: Callable[[dict[str, Any]], None],
    key: str,
    value: str,
) -> None:
    project = make_project({"bad": analytics_with(change), "analytics": analytics_with(lambda _: None)})
    result = teamstack(command, "bad", "-C", project, cwd=project.parent)
    line = one_error_line(result)
    assert line.startswith(f"error: stacks/Pulumi.bad.yaml: {key}: "), line
    assert f'"{value}"' in line
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_check_the_program_makes_is_made_by_validate_too(
    make_project: Callable[[dict[str, dict[str, Any]]], Path], command: str
) -> None:
    """Zones are a region fact: the shipped catalogue knows them, so `validate` refuses what `plan` refuses."""

    def three_zones_in_us_west_1(config: dict[str, Any]) -> None:
        config["aws:region"], config["teamstack:azCount"] = "us-west-1", 3

    project = make_project({"bad": analytics_with(three_zones_in_us_west_1)})
    line = one_error_line(teamstack(command, "bad", "-C", project, cwd=project))
    assert line == (
        "error: stacks/Pulumi.bad.yaml: teamstack:azCount: us-west-1 has 2 availability zones "
        "(us-west-1a, us-west-1b), 3 requested"
    )


def test_bad_stack_fails_before_anything_is_registered(
    make_project: Callable[[dict[str, dict[str, Any]]], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project({"bad": analytics_with(_bad_nat_mode)})
    calls: list[str] = []

    def record(what: str) -> Callable[..., None]:
        return lambda *args, **kwargs: calls.append(what)

    monkeypatch.setattr(runner.RecordingMonitor, "RegisterResource", record("RegisterResource"))
    monkeypatch.setattr(pulumi.runtime, "set_mocks", record("set_mocks"))
    monkeypatch.setattr(runner.runpy, "run_path", record("run_path"))
    with pytest.raises(ConfigError) as raised:
        runner.plan_stack(project, "bad")
    assert (raised.value.file, raised.value.key) == ("stacks/Pulumi.bad.yaml", "teamstack:natMode")
    assert calls == []


@pytest.mark.parametrize("args", [("plan", "ml-vision", "--all"), ("validate", "ml-vision", "--all"), ("validate",)])
def test_name_one_stack_or_all(args: tuple[str, ...]) -> None:
    line = one_error_line(teamstack(*args, cwd=REPO))
    assert line == "error: name one stack, or pass --all (not both)"


@pytest.mark.parametrize("args", [("plan", "ml-vision"), ("validate", "--all")])
def test_no_project_above_the_working_folder(tmp_path: Path, args: tuple[str, ...]) -> None:
    elsewhere = (tmp_path / "elsewhere").resolve()
    elsewhere.mkdir()
    if any((folder / "Pulumi.yaml").is_file() for folder in [elsewhere, *elsewhere.parents]):
        pytest.skip(f"a Pulumi.yaml exists above {elsewhere}")
    line = one_error_line(teamstack(*args, cwd=elsewhere))
    assert line.startswith(f"error: {elsewhere}: Pulumi.yaml: no Pulumi project here or above")


def test_unknown_option_is_a_usage_error() -> None:
    result = teamstack("plan", "ml-vision", "--bogus", cwd=REPO)
    assert result.returncode == 2, describe(result)
    assert "No such option: --bogus" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# --- unexpected failure: exit 1 ---------------------------------------------------------------------------


@pytest.fixture
def crashing_project(make_project: Callable[[dict[str, dict[str, Any]]], Path]) -> Path:
    project = make_project({"analytics": analytics_with(lambda _: None)})
    (project / "__main__.py").write_text('raise RuntimeError("boom")\n', encoding="utf-8")
    return project


def test_unexpected_failure_exits_1_with_one_line(crashing_project: Path) -> None:
    line = one_error_line(teamstack("plan", "analytics", "-C", crashing_project, cwd=crashing_project), code=1)
    assert line == "error: unexpected failure: RuntimeError: boom (TEAMSTACK_DEBUG=1 shows more)"


def test_debug_shows_the_traceback_of_an_unexpected_failure(crashing_project: Path) -> None:
    result = teamstack("plan", "analytics", cwd=crashing_project, env={"TEAMSTACK_DEBUG": "1"})
    assert result.returncode == 1, describe(result)
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: unexpected failure: RuntimeError: boom")


def test_a_project_file_or_stack_file_of_the_wrong_shape_is_bad_input(tmp_path: Path) -> None:
    """Not a crash (exit 1) but exit 2 with one line naming the file."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: teamstack\nruntime: python\nconfig: [1]\n")
    (tmp_path / "stacks" / "Pulumi.x.yaml").write_text("config: {}\n")
    wrong_config = subprocess.run(
        [sys.executable, "-m", "teamstack.cli", "validate", "x", "-C", str(tmp_path)], capture_output=True, text=True
    )
    assert wrong_config.returncode == 2 and wrong_config.stderr.startswith("error: Pulumi.yaml: config: ")
    (tmp_path / "Pulumi.yaml").write_text("name: teamstack\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks" / "Pulumi.x.yaml").write_bytes(b"config:\n  teamstack:team: \xff\xfe\n")
    not_utf8 = subprocess.run(
        [sys.executable, "-m", "teamstack.cli", "validate", "x", "-C", str(tmp_path)], capture_output=True, text=True
    )
    assert not_utf8.returncode == 2 and "not UTF-8" in not_utf8.stderr and len(not_utf8.stderr.splitlines()) == 1


# --- the project's program: Pulumi.yaml `runtime` and `main` -----------------------------------------------


@pytest.mark.parametrize(
    ("main", "make", "expected"),
    [
        pytest.param(None, None, "main: not set, so Pulumi runs __main__.py in the project folder, and ", id="no-main"),
        pytest.param("infra", None, "main: 'infra' does not exist (", id="main-missing"),
        pytest.param("infra", "folder", "main: 'infra' is a folder without __main__.py (", id="main-folder-empty"),
    ],
)
def test_a_project_without_its_program_is_one_bad_input_line(
    make_project: Callable[[dict[str, dict[str, Any]]], Path], main: str | None, make: str | None, expected: str
) -> None:
    """Not 'unexpected failure: FileNotFoundError' (exit 1): the file, the key, what is expected; exit 2."""
    project = make_project({"analytics": analytics_with(lambda _: None)})
    (project / "__main__.py").unlink()
    if main is not None:
        settings = yaml.safe_load((project / "Pulumi.yaml").read_text(encoding="utf-8"))
        (project / "Pulumi.yaml").write_text(yaml.safe_dump({**settings, "main": main}, sort_keys=False))
    if make == "folder":
        (project / main).mkdir()  # type: ignore[operator]
    line = one_error_line(teamstack("plan", "analytics", "-C", project, cwd=project))
    assert line.startswith(f"error: Pulumi.yaml: {expected}"), line
    assert "set it to the program's folder (holding __main__.py) or file" in line or "restore it" in line
    # validate reads only the stack files: the same project validates (its config is good).
    assert teamstack("validate", "analytics", "-C", project, cwd=project).returncode == 0


@pytest.mark.parametrize("runtime", ["nodejs", {"name": "go"}, None])
@pytest.mark.parametrize("command", ["plan", "validate"])
def test_a_project_of_another_runtime_is_one_bad_input_line(
    make_project: Callable[[dict[str, dict[str, Any]]], Path], command: str, runtime: Any
) -> None:
    project = make_project({"analytics": analytics_with(lambda _: None)})
    settings = yaml.safe_load((project / "Pulumi.yaml").read_text(encoding="utf-8"))
    settings["runtime"] = runtime
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    line = one_error_line(teamstack(command, "analytics", "-C", project, cwd=project))
    shown = runtime["name"] if isinstance(runtime, dict) else runtime
    assert line == (
        f"error: Pulumi.yaml: runtime: must be python (or name: python): teamstack's program is Python, got {shown!r}"
    )


def test_main_names_the_program_folder_or_file(tmp_path: Path) -> None:
    """Pulumi runs `main`/__main__.py from `main` when it is a folder, a `main` file from the project folder."""
    (tmp_path / "Pulumi.yaml").write_text("name: teamstack\nruntime:\n  name: python\nmain: infra/\n")
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "__main__.py").write_text("")
    project = load_project(tmp_path)
    assert (project.program(), project.working_dir()) == (tmp_path / "infra" / "__main__.py", tmp_path / "infra")
    (tmp_path / "Pulumi.yaml").write_text("name: teamstack\nruntime: python\nmain: infra/program.py\n")
    (tmp_path / "infra" / "program.py").write_text("")
    project = load_project(tmp_path)
    assert (project.program(), project.working_dir()) == (tmp_path / "infra" / "program.py", tmp_path)
    assert load_project(REPO).program() == REPO / "__main__.py"
