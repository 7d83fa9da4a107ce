"""The `teamstack` command line.

Exit codes: 0 success; 2 bad input (a stack file, a key, an argument), always one line naming what is wrong;
3 a mandatory policy rule is violated (`plan --policy`, `policy check`; each violation is printed);
1 an unexpected failure (set TEAMSTACK_DEBUG=1 for its traceback).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree
from typer import _click as click  # Typer 0.29 vendors click; its classes, not a separate install
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from teamstack.config import ConfigError, Team
    from teamstack.stackfiles import Project

# The config model and stack files are imported by the commands that use them: `teamstack --help` and the
# data scientist's commands start without them (bench/bench_cli.py measures the start-up).

# Who each command is for: `teamstack --help` lists them in these sections (rich_help_panel would need Rich's
# help formatter, which start-up avoids). Every command belongs to one audience (tests/test_cli_audiences.py).
AUDIENCES: dict[str, tuple[str, ...]] = {
    "For data scientists": ("login", "status", "cluster", "env", "catalog"),
    "For IT (stack files, plans, policy)": ("validate", "plan", "policy"),
}


class _AudienceGroup(TyperGroup):
    """The top-level group: its help lists the commands by audience, each section in AUDIENCES' order."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed = {name for names in AUDIENCES.values() for name in names}
        others = tuple(n for n in self.list_commands(ctx) if n not in listed)
        sections = [*AUDIENCES.items(), ("Other commands", others)]
        width = max((len(n) for n in self.list_commands(ctx)), default=0)
        for title, names in sections:
            commands = [(n, c) for n in names if (c := self.get_command(ctx, n)) is not None and not c.hidden]
            if not commands:
                continue
            limit = formatter.width - 6 - width
            with formatter.section(title):
                formatter.write_dl([(n, c.get_short_help_str(limit)) for n, c in commands])


app = typer.Typer(
    cls=_AudienceGroup,
    name="teamstack",
    help="Isolated per-team cloud stacks for Dask: plan them offline, validate their config.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: Typer's Rich help formatter alone costs ~0.25 s of imports
)
# Piped output (CI logs, `| less`) keeps whole lines rather than 80 cropped columns.
out = Console(highlight=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)

EXIT_BAD_INPUT = 2

ProjectDir = Annotated[
    Path | None,
    typer.Option("--project-dir", "-C", help="The Pulumi project (default: nearest Pulumi.yaml at or above here)."),
]


class BadInput(Exception):
    """A usage mistake; its message is the one line shown."""


class _LazyPlanCommand(TyperCommand):
    """`teamstack plan` that also answers `teamstack plan diff ...` as `teamstack.plan.diff_cli.PlanCommand`
    does, importing the diff app only then (it loads the policy engine and config model: `--help` need not)."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        if args and args[0] == "diff":
            from teamstack.plan.diff_cli import app as diff_app

            command = typer.main.get_command(diff_app)
            return command.make_context(f"{info_name or 'plan'} diff", list(args[1:]), parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


def _project_root(project_dir: Path | None) -> Path:
    from teamstack.stackfiles import find_project

    return find_project((project_dir or Path.cwd()).resolve())


def _stacks(root: Path, stack: str | None, all_stacks: bool) -> list[str]:
    if all_stacks == (stack is not None):
        raise BadInput("name one stack, or pass --all (not both)")
    if all_stacks:
        from teamstack.stackfiles import load_project

        names = load_project(root).stacks()
        if not names:
            raise BadInput(f"no stack files in {load_project(root).stack_dir}")
        return names
    return [str(stack)]


# Inputs worth a glance in the tree, per resource type (the JSON plan has all of them).
_KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName", "vpcEndpointType"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("fromPort", "toPort", "cidrIpv4"),
    "aws:eks/cluster:Cluster": ("name", "version", "vpcConfig.endpointPublicAccess", "vpcConfig.publicAccessCidrs"),
    "aws:eks/nodeGroup:NodeGroup": ("instanceTypes", "capacityType", "amiType", "scalingConfig", "taints"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("metadataOptions.httpTokens",),
    "aws:s3/bucket:Bucket": ("bucket",),
    "aws:ecr/repository:Repository": ("name", "imageTagMutability"),
    "aws:iam/role:Role": ("name",),
    "aws:budgets/budget:Budget": ("limitAmount", "timeUnit"),
    "aws:ssm/parameter:Parameter": ("name", "tier"),
    "aws:codebuild/project:Project": ("name",),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "gcp:compute/subnetwork:Subnetwork": ("ipCidrRange", "secondaryIpRanges", "privateIpGoogleAccess"),
    "gcp:compute/firewall:Firewall": ("direction", "sourceRanges", "allows", "denies"),
    "gcp:compute/routerNat:RouterNat": ("natIpAllocateOption",),
    "gcp:container/cluster:Cluster": (
        "name",
        "location",
        "releaseChannel.channel",
        "privateClusterConfig.enablePrivateEndpoint",
        "masterAuthorizedNetworksConfig.cidrBlocks",
    ),
    "gcp:container/nodePool:NodePool": (
        "name",
        "nodeConfig.machineType",
        "nodeConfig.guestAccelerators",
        "nodeConfig.spot",
        "autoscaling",
        "nodeConfig.taints",
    ),
    "gcp:storage/bucket:Bucket": ("name", "publicAccessPrevention"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("role", "member"),
    "gcp:projects/iAMMember:IAMMember": ("role", "member"),
    "gcp:artifactregistry/repository:Repository": ("repositoryId", "dockerConfig.immutableTags"),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": ("role", "member"),
    "gcp:serviceaccount/account:Account": ("accountId",),
    "gcp:serviceaccount/iAMMember:IAMMember": ("role", "member"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ("role", "member"),
    "gcp:cloudbuild/trigger:Trigger": ("name",),
    "gcp:billing/budget:Budget": ("amount.specifiedAmount.units",),
}


def _lookup(inputs: dict[str, Any], dotted: str) -> Any:
    value: Any = inputs
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _summary(resource: Any) -> str:
    keys = _KEY_SETTINGS.get(resource.type, ("name",))
    shown = []
    for key in keys:
        value = _lookup(resource.inputs, key)
        if value not in (None, [], {}):
            shown.append(f"{key.split('.')[-1]}={json.dumps(value, separators=(',', ':'))}")
    if resource.protect:
        shown.append("[protected]")
    if resource.retain_on_delete:
        shown.append("[retained on delete]")
    return " ".join(shown)


def _print_plan(plan: Any) -> None:
    tree = Tree(f"[bold]stack {plan.stack}[/bold]  ({len(plan.resources)} resources)")
    known = {resource.urn for resource in plan.resources}
    children: dict[str | None, list[Any]] = {}
    for resource in plan.resources:
        children.setdefault(resource.parent if resource.parent in known else None, []).append(resource)

    def add(branch: Tree, parent: str | None) -> None:
        for resource in children.get(parent, []):
            kind = "[cyan]" if resource.custom else "[magenta]"
            label = f"{kind}{resource.type}[/] {resource.name}"
            summary = _summary(resource) if resource.custom else ""
            # Escaped: summaries hold brackets ("[protected]", JSON lists) that Rich would read as markup.
            add(branch.add(f"{label}  [dim]{escape(summary)}[/dim]" if summary else label), resource.urn)

    add(tree, None)
    out.print(tree)
    out.print("[dim]offline plan: ids, ARNs and the account id are the mocks' stand-ins, not real values[/dim]")
    out.print("[bold]outputs[/bold]")
    for name, value in plan.outputs.items():
        shown = (
            f"<team manifest, schema {value.get('schemaVersion')}, {len(json.dumps(value))} bytes>"
            if name == "manifest" and isinstance(value, dict)
            else json.dumps(value)
        )
        out.print(f"  {name}: {shown}")


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"error: {message}", markup=False)
    return typer.Exit(code)


def _validated(
    root: Path, project: Project, names: list[str], with_policy: bool
) -> tuple[dict[str, Team], dict[str, ConfigError]]:
    """The one validation pass before anything is planned or written: every named stack (its stack file, the
    checks across the project's stack files, and its policy values file when `with_policy`), not only up to
    the first bad one. Returns the good stacks' team configs and one error per bad stack."""
    from teamstack.config import ConfigError
    from teamstack.policy.config import load_team_policy
    from teamstack.validation.project import validate_stacks

    checked = validate_stacks(project, names)
    errors = dict(checked.errors)
    if with_policy:
        for name, team in checked.teams.items():
            try:
                load_team_policy(root / "policies", name, team.team)
            except ConfigError as error:
                errors[name] = error
    teams = {name: team for name, team in checked.teams.items() if name not in errors}
    return teams, {name: errors[name] for name in names if name in errors}


def _refuse(errors: dict[str, ConfigError]) -> None:
    """One line per bad stack, then exit 2; nothing when all are good."""
    for error in errors.values():
        err.print(f"error: {error}", markup=False)
    if errors:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command(cls=_LazyPlanCommand)
def plan(
    stack: Annotated[str | None, typer.Argument(help="Stack name: stacks/Pulumi.<stack>.yaml.")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="Plan every stack file.")] = False,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the plan as JSON here (a folder, with --all).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print one line per stack, not the tree.")] = False,
    policy: Annotated[
        bool, typer.Option("--policy", help="Check against policies/; exit 3 on a mandatory violation.")
    ] = False,
    show_cost: Annotated[
        bool, typer.Option("--cost", help="Estimate the monthly cost, idle and at full scale.")
    ] = False,
    diff_base: Annotated[
        str | None, typer.Option("--diff-base", help="Also plan this Git revision; show the diff, exit 3 if blocked.")
    ] = None,
    diff_markdown: Annotated[Path | None, typer.Option(help="With --diff-base: write the Markdown here.")] = None,
    diff_json: Annotated[Path | None, typer.Option(help="With --diff-base: write the diff as JSON here.")] = None,
    project_dir: ProjectDir = None,
) -> None:
    """Run the Pulumi program offline under mocks and show the stack's resource graph and outputs.

    `teamstack plan diff OLD.json NEW.json` compares two saved plans (see `teamstack plan diff --help`)."""
    try:
        _plan(stack, all_stacks, json_path, quiet, policy, show_cost, diff_base, diff_markdown, diff_json, project_dir)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in PLATFORM_MODULES:
            raise
        raise _fail(
            f"teamstack plan runs the Pulumi program, which needs the platform extra ({error.name} is not "
            "installed): pip install 'teamstack[platform]' (in this repository: make setup)",
            EXIT_BAD_INPUT,
        ) from None


# What the `platform` extra installs (pyproject.toml): the Pulumi SDK, the provider SDKs, the policy SDK.
PLATFORM_MODULES = frozenset({"pulumi", "pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "pulumi_policy"})


def _plan(
    stack: str | None,
    all_stacks: bool,
    json_path: Path | None,
    quiet: bool,
    policy: bool,
    show_cost: bool,
    diff_base: str | None,
    diff_markdown: Path | None,
    diff_json: Path | None,
    project_dir: Path | None,
) -> None:
    from teamstack.config import ConfigError
    from teamstack.plan.diff_cli import BaseRevisionError, review_against_base
    from teamstack.plan.overrides import setting_costs
    from teamstack.plan.runner import PlanError, plan_stack  # imports Pulumi: only when planning
    from teamstack.policy import report
    from teamstack.policy.engine import resources_from_json
    from teamstack.stackfiles import load_project, stack_config

    mandatory_violations = 0
    blocked = False
    try:
        root = _project_root(project_dir)
        project = load_project(root)
        names = _stacks(root, stack, all_stacks)
    except (ConfigError, BadInput) as error:
        raise _fail(str(error), EXIT_BAD_INPUT) from None
    teams, errors = _validated(root, project, names, with_policy=policy)
    _refuse(errors)
    try:
        for name in names:
            result = plan_stack(root, name)
            if quiet:
                out.print(f"{name}: {len(result.resources)} resources, {len(result.outputs)} outputs")
            else:
                _print_plan(result)
            if json_path is not None:
                target = json_path / f"{name}.json" if all_stacks else json_path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
                err.print(f"wrote {target}", markup=False)
            if policy or show_cost:
                # The same resource view a saved JSON plan gives `teamstack policy check` (secrets redacted).
                _, resources = resources_from_json(result.to_json(), f"plan of {name}")
                if policy:
                    found = report.check_policy(out, name, resources, root / "policies", teams[name].team)
                    mandatory_violations += sum(v.mandatory for v in found)
                if show_cost:
                    region = result.outputs.get("region")
                    region = region if isinstance(region, str) else None
                    estimate = report.print_cost(out, name, resources, region)
                    values = stack_config(load_project(root), name)
                    report.print_setting_costs(out, setting_costs(root, name, values, estimate, region))
            if diff_base is not None:
                md = diff_markdown / f"{name}.md" if all_stacks and diff_markdown else diff_markdown
                js = diff_json / f"{name}.json" if all_stacks and diff_json else diff_json
                blocked |= review_against_base(root, name, result.to_json(), diff_base, md, js) != 0
    except (ConfigError, PlanError, BadInput, BaseRevisionError) as error:
        raise _fail(str(error), EXIT_BAD_INPUT) from None
    if mandatory_violations or blocked:
        raise typer.Exit(report.EXIT_POLICY_VIOLATION)


@app.command()
def validate(
    stack: Annotated[str | None, typer.Argument(help="Stack name: stacks/Pulumi.<stack>.yaml.")] = None,
    all_stacks: Annotated[bool, typer.Option("--all", help="Validate every stack file.")] = False,
    project_dir: ProjectDir = None,
) -> None:
    """Check stack files (and their policy values files) against the model and the clouds' rules, without
    planning: every named stack, one line per bad one, then exit 2."""
    from teamstack.config import ConfigError
    from teamstack.stackfiles import load_project

    try:
        root = _project_root(project_dir)
        project = load_project(root)
        names = _stacks(root, stack, all_stacks)
    except (ConfigError, BadInput) as error:
        raise _fail(str(error), EXIT_BAD_INPUT) from None
    teams, errors = _validated(root, project, names, with_policy=(root / "policies").is_dir())
    for name, team in teams.items():
        out.print(f"{name}: ok (team {team.team}, {team.cloud} {team.region}, {len(team.node_groups)} node groups)")
    _refuse(errors)


from teamstack.client import cli as client_cli  # noqa: E402  (sub-apps; they import nothing heavy)

app.command("login")(client_cli.login)
app.command("status")(client_cli.status)
app.add_typer(client_cli.cluster_app, name="cluster")
app.add_typer(client_cli.env_app, name="env")
app.add_typer(client_cli.catalog_app, name="catalog")

from teamstack.policy import cli as policy_cli  # noqa: E402  (pure rules, no Pulumi import)

app.add_typer(policy_cli.app, name="policy")


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except Exception as error:
        if os.environ.get("TEAMSTACK_DEBUG"):
            traceback.print_exc()
        err.print(
            f"error: unexpected failure: {type(error).__name__}: {error} (TEAMSTACK_DEBUG=1 shows more)", markup=False
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
