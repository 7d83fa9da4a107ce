"""Read a stack's config from disk the way the Pulumi engine would, for the offline plan.

The engine merges the project's declared defaults (Pulumi.yaml `config:`) with the stack file
(`<stackConfigDir>/Pulumi.<stack>.yaml`), then passes the program a flat map of namespaced keys to strings,
objects and lists as JSON. Doing the same here means the offline plan sees exactly what `pulumi up` would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teamstack.config import ConfigError
from teamstack.validation import yamlfile


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    stack_dir: Path
    defaults: dict[str, Any]
    main: str | None = None  # Pulumi.yaml `main:` as written (relative to the project folder); None: the folder

    def program(self) -> Path:
        """The file Pulumi's Python language host runs: `main` when it names a file, else `__main__.py` in the
        folder `main` names (default: the project folder). A missing one is one ConfigError naming Pulumi.yaml."""
        target = "the program's folder (holding __main__.py) or file, relative to Pulumi.yaml"
        if self.main is None:
            program = self.root / "__main__.py"
            if not program.is_file():
                raise ConfigError(
                    "Pulumi.yaml",
                    "main",
                    f"not set, so Pulumi runs __main__.py in the project folder, "
                    f"and {program} does not exist: restore it, or set main to {target}",
                )
            return program
        path = self.root / self.main
        if not path.exists():
            raise ConfigError("Pulumi.yaml", "main", f"{self.main!r} does not exist ({path}): set it to {target}")
        program = path if path.is_file() else path / "__main__.py"
        if not program.is_file():
            raise ConfigError(
                "Pulumi.yaml", "main", f"{self.main!r} is a folder without __main__.py ({program}): set it to {target}"
            )
        return program

    def working_dir(self) -> Path:
        """Where the engine runs the program: the folder `main` names, else the project folder (as the Pulumi
        CLI's ProjectInfoContext decides it)."""
        if self.main is not None and (self.root / self.main).is_dir():
            return self.root / self.main
        return self.root

    def stack_path(self, stack: str) -> Path:
        return self.stack_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.stack_dir.glob("Pulumi.*.yaml"))


def _read_yaml(path: Path, shown: str) -> Any:
    try:
        return yamlfile.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(shown, "-", "file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(shown, "-", "not UTF-8 text") from None
    except yamlfile.YamlRefused as error:
        raise ConfigError(shown, error.where, error.reason) from None


def find_project(start: Path) -> Path:
    """The nearest folder at or above `start` holding a Pulumi.yaml, as the Pulumi CLI finds it."""
    for folder in [start, *start.parents]:
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise ConfigError(str(start), "Pulumi.yaml", "no Pulumi project here or above; run from the teamstack checkout")


def load_project(root: Path) -> Project:
    document = _read_yaml(root / "Pulumi.yaml", "Pulumi.yaml")
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise ConfigError("Pulumi.yaml", "name", "a Pulumi project file needs a name")
    name = document["name"]
    declarations = document.get("config") or {}
    if not isinstance(declarations, dict):
        raise ConfigError("Pulumi.yaml", "config", "must be a mapping of config keys to declarations")
    defaults: dict[str, Any] = {}
    for key, declaration in declarations.items():
        full_key = key if ":" in key else f"{name}:{key}"
        if isinstance(declaration, dict):
            if "default" in declaration:
                defaults[full_key] = declaration["default"]
            elif "value" in declaration:
                defaults[full_key] = declaration["value"]
        else:
            defaults[full_key] = declaration
    stack_dir = root / str(document.get("stackConfigDir", "."))
    return Project(root=root, name=name, stack_dir=stack_dir, defaults=defaults, main=_main(document))


def _runtime_name(document: dict[str, Any]) -> Any:
    runtime = document.get("runtime")
    return runtime.get("name") if isinstance(runtime, dict) else runtime


def _main(document: dict[str, Any]) -> str | None:
    """Check `runtime` (this platform's program is Python) and resolve `main`, as the Pulumi CLI reads them."""
    runtime = _runtime_name(document)
    if runtime != "python":
        raise ConfigError(
            "Pulumi.yaml",
            "runtime",
            f"must be python (or name: python): teamstack's program is Python, got {runtime!r}",
        )
    main = document.get("main")
    if main is None:
        return None
    if not isinstance(main, str) or not main.strip():
        raise ConfigError("Pulumi.yaml", "main", f"must be a path relative to Pulumi.yaml, got {main!r}")
    return main


def to_engine_string(value: Any) -> str:
    """How the engine hands a config value to a program: text as is, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def stack_config(project: Project, stack: str) -> dict[str, str]:
    """The flat config map the engine would give the program for `stack`."""
    path = project.stack_path(stack)
    shown = str(path.relative_to(project.root)) if path.is_relative_to(project.root) else str(path)
    if not path.is_file():
        known = ", ".join(project.stacks()) or "none"
        raise ConfigError(shown, "-", f"no such stack file; stacks here: {known}")
    document = _read_yaml(path, shown) or {}
    if not isinstance(document, dict):
        raise ConfigError(shown, "-", "a stack file is a mapping with a 'config:' section")
    unknown = sorted(set(document) - {"config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment"})
    if unknown:
        raise ConfigError(shown, unknown[0], "unknown top-level key; a stack file holds config: (and secrets settings)")
    values = document.get("config") or {}
    if not isinstance(values, dict):
        raise ConfigError(shown, "config", "must be a mapping of namespaced keys, e.g. teamstack:team")
    merged = dict(project.defaults)
    for key, value in values.items():
        if not isinstance(key, str) or ":" not in key:
            raise ConfigError(shown, str(key), f"config keys are namespaced, e.g. {project.name}:{key}")
        if isinstance(value, dict) and "secure" in value:
            raise ConfigError(shown, key, "is an encrypted secret; the offline plan cannot decrypt it")
        if value is None:
            merged.pop(key, None)  # `key:` with no value leaves the setting unset, as the engine does
            continue
        merged[key] = value
    return {key: to_engine_string(value) for key, value in merged.items()}
