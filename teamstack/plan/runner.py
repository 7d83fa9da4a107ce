"""Run the real Pulumi program offline, under Pulumi's own mocks, and record the resource graph it registers.

The program is `__main__.py` exactly as `pulumi up` runs it. The config is what the engine would hand it
(`teamstack.stackfiles`); the providers are replaced by `plan_mocks(team)`, which answer like the clouds
would (stable ids, ARNs, names, the invokes the program makes). A recording monitor keeps every registration
as the engine receives it: type token, name, parent, options and camelCase inputs, with references already
resolved to the mock ids/ARNs of the resources they point at.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import set_root_resource
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from teamstack.config import ConfigError, Team, load_team
from teamstack.plan.dispatch import PlanMocks
from teamstack.plan.gcp_mocks import GcpMocks
from teamstack.plan.k8s_mocks import KubernetesMocks
from teamstack.plan.mocks import AwsMocks
from teamstack.stackfiles import load_project, stack_config

PLAN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    id: str | None
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    protect: bool
    retain_on_delete: bool
    # The URNs this resource had before a rename (its Pulumi aliases): `pulumi up` moves those, never replaces.
    aliases: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        options: dict[str, Any] = {"protect": self.protect, "retainOnDelete": self.retain_on_delete}
        if self.aliases:
            options["aliases"] = list(self.aliases)
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "id": self.id,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
            "options": options,
        }


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
        }

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self) -> dict[str, PlannedResource]:
        return {r.urn: r for r in self.resources}


class PlanError(Exception):
    """The program refused to plan (a pulumi.RunError: one line, already user-facing)."""


def _plain(value: Any, root: Path) -> Any:
    """Deserialized engine values -> JSON values (assets and archives become their source path)."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return "[secret]"  # plans are attached to pull requests: never print a secret
        return {str(k): _plain(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, root) for v in value]
    if isinstance(value, pulumi.FileArchive | pulumi.FileAsset):
        path = Path(value.path)
        shown = path.relative_to(root) if path.is_absolute() and path.is_relative_to(root) else path
        return {"archive" if isinstance(value, pulumi.FileArchive) else "asset": str(shown)}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": "text", "text": value.text}  # an object's content, e.g. a GCP team manifest
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {"asset": type(value).__name__}
    if isinstance(value, pulumi.Resource):
        return {"resource": type(value).__name__}
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format has only doubles; sizes and ports are integers
    return value


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, root: Path) -> None:
        super().__init__(mocks)
        self._root = root
        self._lock = threading.Lock()
        self.planned: list[PlannedResource] = []
        self.stack_outputs: dict[str, Any] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine makes them: the full chain of parent types, the root stack left out."""
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != "pulumi:pulumi:Stack":
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"

    def _alias_urns(self, request: Any) -> tuple[str, ...]:
        """The old URNs of a renamed resource (its aliases by name), as the engine resolves them: a spec inherits
        the type and parent it leaves out. The type aliases provider SDKs add to every resource of a renamed type
        are left out; they say nothing about this program."""
        urns = []
        for alias in request.aliases:
            spec = alias.spec
            if alias.urn or not spec.name or spec.name == request.name:
                continue
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urns.append(self.make_urn(parent, spec.type or request.type, spec.name))
        return tuple(urns)

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object)
        planned = PlannedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            id=(response.id or None) if request.custom else None,
            parent=request.parent or None,
            custom=bool(request.custom),
            inputs=_plain(inputs, self._root),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            aliases=self._alias_urns(request),
        )
        with self._lock:
            self.planned.append(planned)
        return response

    def Invoke(self, request: Any) -> Any:
        """Pulumi's mock monitor answers an invoke on a worker thread and leaves an event loop behind on it; closed
        here, so it is not finalised at interpreter exit after its own socket (a traceback on a clean exit)."""
        if threading.current_thread() is threading.main_thread():
            return super().Invoke(request)
        try:
            return super().Invoke(request)
        finally:
            policy = asyncio.get_event_loop_policy()
            try:
                loop = policy.get_event_loop()
            except RuntimeError:
                loop = None  # no loop on this thread
            if loop is not None and not loop.is_running():
                loop.close()
                policy.set_event_loop(None)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if "::pulumi:pulumi:Stack::" in request.urn:
            outputs = _plain(rpc.deserialize_properties(request.outputs), self._root)
            if outputs:
                self.stack_outputs = outputs
        return super().RegisterResourceOutputs(request)


def _ensure_event_loop() -> None:
    """Pulumi's runtime waits on the main thread's current event loop; `asyncio.run` (used by the client, e.g.
    `team.status()`) leaves the thread with none, after which planning in the same process would fail."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


def plan_mocks(team: Team) -> PlanMocks:
    """The mocks of every provider package the team's program uses, keyed by package name."""
    if team.cloud == "gcp":
        return PlanMocks({"gcp": GcpMocks(team.project, team.region), "kubernetes": KubernetesMocks()})
    return PlanMocks({"aws": AwsMocks(team.region), "kubernetes": KubernetesMocks()})


def plan_stack(root: Path, stack: str) -> Plan:
    """Plan one stack of the project at `root`. Raises ConfigError (bad config) or PlanError."""
    project = load_project(root)
    return plan_config(root, stack, stack_config(project, stack), project.name)


def plan_config(root: Path, stack: str, values: dict[str, str], project_name: str | None = None) -> Plan:
    """Plan the project at `root` with an explicit engine config map (a stack file's, or one derived from it,
    e.g. without a key to price what that key costs). Raises ConfigError or PlanError."""
    project = load_project(root)
    project_name = project_name or project.name
    team = load_team(values, stack)  # fail before anything runs, with the same one line the program gives
    main = project.program()  # the program Pulumi would run, or one line naming Pulumi.yaml's main

    mocks = plan_mocks(team)
    _ensure_event_loop()
    monitor = RecordingMonitor(mocks, root)
    pulumi.runtime.set_all_config(values, [])
    set_root_resource(None)  # type: ignore[arg-type]  # a fresh root for this run
    pulumi.runtime.set_mocks(mocks, project=project_name, stack=stack, preview=False, monitor=monitor)
    set_root_resource(None)  # type: ignore[arg-type]  # set_mocks made and finished a root stack; the run below makes the real one

    root_text = str(main.parent)
    added = root_text not in sys.path
    if added:
        sys.path.insert(0, root_text)
    cwd = os.getcwd()
    try:
        os.chdir(project.working_dir())  # where `pulumi up` runs the program

        def program() -> None:
            runpy.run_path(str(main), run_name="__main__")

        _sync_await(run_in_stack(program))
    except pulumi.RunError as error:
        raise PlanError(str(error)) from None
    finally:
        os.chdir(cwd)
        if added:
            sys.path.remove(root_text)
        set_root_resource(None)  # type: ignore[arg-type]

    plan = Plan(stack=stack, outputs=monitor.stack_outputs)
    # Registration order depends on when inputs resolve; URN order is stable, so saved plans diff cleanly.
    plan.resources = sorted(monitor.planned, key=lambda r: r.urn)
    return plan


__all__ = ["PLAN_FORMAT_VERSION", "ConfigError", "Plan", "PlanError", "PlannedResource", "plan_config", "plan_stack"]
