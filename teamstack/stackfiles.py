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
    return Project(root=root, name=name, stack_dir=stack_dir, defaults=defaults)


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
