"""`teamstack cluster|env|catalog ...`: the data scientist's commands (registered in teamstack/cli.py).

Every command finds the team stack like `teamstack.connect`: by team name (AWS SSM, or GCP with --project /
--cloud gcp) or an explicit --manifest location. Client errors are one line and exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from teamstack.client.errors import TeamstackError

EXIT_BAD_INPUT = 2

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 250)
err = Console(stderr=True, highlight=False, soft_wrap=True)

TeamArg = Annotated[str, typer.Argument(help="The team (its stack's manifest is found from the name).")]
ManifestOpt = Annotated[
    str | None, typer.Option("--manifest", help="Manifest location instead: ssm:<name>, s3://, gs:// or a file.")
]
CloudOpt = Annotated[str | None, typer.Option("--cloud", help="aws (default) or gcp.")]
ProjectOpt = Annotated[str | None, typer.Option("--project", help="GCP project (implies --cloud gcp).")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region of the manifest parameter.")]

# Plain help (rich_markup_mode=None): Typer's Rich help formatter costs ~0.25 s of imports at every `--help`.
cluster_app = typer.Typer(help="Dask clusters in a team stack.", no_args_is_help=True, rich_markup_mode=None)
env_app = typer.Typer(
    help="Images of your environment, built by the team's pipeline.", no_args_is_help=True, rich_markup_mode=None
)
catalog_app = typer.Typer(help="The team's dataset catalog.", no_args_is_help=True, rich_markup_mode=None)


@contextmanager
def _client_errors() -> Iterator[None]:
    try:
        yield
    except TeamstackError as error:
        err.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _team(team: str, manifest: str | None, cloud: str | None, project: str | None, region: str | None) -> Any:
    from teamstack.client import connect

    return connect(team, manifest=manifest, cloud=cloud, project=project, region=region)


# --- login --------------------------------------------------------------------------------------------------


def login(
    team: TeamArg,
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: Annotated[
        str | None, typer.Option("--region", help="AWS region of the team (default: your profile's, else searched).")
    ] = None,
) -> None:
    """Find the team's stack once and remember where (your Dask config), so `connect("<team>")` needs nothing else."""
    from teamstack.client import login as saved
    from teamstack.client.manifest_source import load_manifest

    with _client_errors():
        if manifest is not None:
            found = load_manifest(team, location=manifest, region=region, project=project)
            where = saved.SavedTeam(
                cloud=found.cloud,
                manifest=str(Path(manifest).expanduser().resolve()) if "://" not in manifest and not
                manifest.startswith("ssm:") else manifest,
                region=region or (found.region if found.cloud == "aws" else None),
                project=project or (found.account if found.cloud == "gcp" else None),
            )  # fmt: skip
            path = saved.remember(team, where)
        else:
            found = load_manifest(team, cloud=cloud or ("gcp" if project else "aws"), project=project, region=region)
            path = saved.config_path()
    kind = "project" if found.cloud == "gcp" else "account"
    out.print(
        f"team {found.team}: {found.cloud} {found.region}, {kind} {found.account}, cluster {found.cluster.name}; "
        f"remembered in {path}",
        markup=False,
    )


# --- status -------------------------------------------------------------------------------------------------


def status(
    team: TeamArg,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables.")] = False,
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: RegionOpt = None,
) -> None:
    """The team's running Dask clusters and its nodes and GPUs in use against the caps."""
    from teamstack.client.status import format_age

    with _client_errors():
        found = _team(team, manifest, cloud, project, region).status()
    if as_json:
        out.print(json.dumps(found.to_json(), indent=2), markup=False)
        return
    clusters = Table("cluster", "backend", "owner", "age", "workers", "GPUs", "idle", "~$/hour", title="Dask clusters")
    for c in found.clusters:
        price = f"{c.dollars_per_hour:.2f}" if c.dollars_per_hour is not None else "?"
        clusters.add_row(
            c.name, c.backend, c.owner, format_age(c.age_seconds), str(c.workers), str(c.gpus),
            format_age(c.idle_seconds), price,
        )  # fmt: skip
    if found.clusters:
        out.print(clusters)
    else:
        out.print(f"no Dask clusters running for team {found.team}", markup=False)
    pools = Table("pool", "kind", "nodes", "GPUs in use", title="Node pools (in use / cap)")
    for p in found.pools:
        gpus = f"{p.gpus_in_use} / {p.gpu_cap}" if p.gpu_cap else "-"
        pools.add_row(p.name, p.kind, f"{p.nodes} / {p.max_nodes}", gpus)
    out.print(pools)
    out.print(f"GPUs in use: {found.gpus_in_use} of {found.gpu_cap}", markup=False)
    for note in found.notes:
        err.print(f"note: {note}", markup=False)


# --- cluster ------------------------------------------------------------------------------------------------


@cluster_app.command("spec")
def cluster_spec(
    team: TeamArg,
    name: Annotated[str, typer.Option(help="Cluster name.")] = "dask",
    image: Annotated[str | None, typer.Option(help="Image (default: the team's).")] = None,
    workers: Annotated[int, typer.Option(help="Initial workers.")] = 0,
    gpu: Annotated[bool, typer.Option("--gpu", help="GPU workers.")] = False,
    spot: Annotated[bool | None, typer.Option("--spot/--on-demand", help="Worker capacity (default: any).")] = None,
    idle_timeout: Annotated[int | None, typer.Option(help="Seconds idle before shutdown.")] = None,
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: RegionOpt = None,
) -> None:
    """Print the DaskCluster resource `team.cluster()` would create (YAML); nothing is started."""
    import yaml

    from teamstack.client.clusters import kube_cluster_spec

    with _client_errors():
        connected = _team(team, manifest, cloud, project, region)
        spec = kube_cluster_spec(
            connected.manifest, name=name, image=image, n_workers=workers, gpu=gpu, spot=spot, idle_timeout=idle_timeout
        )
    out.print(yaml.safe_dump(spec, sort_keys=False), markup=False, end="")


@cluster_app.command("start")
def cluster_start(
    team: TeamArg,
    backend: Annotated[str, typer.Option(help="kubernetes, ec2 or gcp.")] = "kubernetes",
    image: Annotated[str | None, typer.Option(help="Image (default: the team's).")] = None,
    workers: Annotated[int, typer.Option(help="Initial workers.")] = 0,
    adapt: Annotated[str | None, typer.Option(help="MIN:MAX adaptive workers.")] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="GPU workers.")] = False,
    instance_profile: Annotated[
        str | None, typer.Option(help="EC2: the VMs' instance profile (default: the team's dask-vm).")
    ] = None,
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: RegionOpt = None,
) -> None:
    """Start a cluster, print its scheduler and dashboard addresses, and keep it until Ctrl-C."""
    bounds = None
    if adapt is not None:
        low, _, high = adapt.partition(":")
        if not (low.isdigit() and high.isdigit()):
            err.print(f"error: --adapt {adapt!r}: expected MIN:MAX, e.g. 0:10", markup=False)
            raise typer.Exit(EXIT_BAD_INPUT)
        bounds = (int(low), int(high))
    options: dict[str, Any] = {"image": image, "n_workers": workers, "gpu": gpu}
    if backend == "ec2":
        options["instance_profile"] = instance_profile  # None: the stack's dask-vm instance profile
    with _client_errors():
        connected = _team(team, manifest, cloud, project, region)
        with err.status(f"starting a {backend} Dask cluster for team {team}"):
            cluster = connected.cluster(backend=backend, adapt=bounds, **options)
    out.print(f"scheduler: {cluster.scheduler_address}")
    out.print(f"dashboard: {cluster.dashboard_link}")
    if getattr(cluster, "estimated_cost", None) is not None:
        out.print(f"cost: {cluster.estimated_cost.describe()}", markup=False)
    try:
        typer.prompt("press Enter (or Ctrl-C) to shut the cluster down", default="", show_default=False)
    except (KeyboardInterrupt, typer.Abort):
        pass
    finally:
        cluster.close()


# --- env ----------------------------------------------------------------------------------------------------


@env_app.command("build")
def env_build(
    team: TeamArg,
    spec: Annotated[
        Path | None, typer.Argument(help="requirements.txt, environment.yml, pyproject.toml (+uv.lock) or a folder.")
    ] = None,
    current: Annotated[bool, typer.Option("--current", help="Build the current Python environment.")] = False,
    variant: Annotated[str, typer.Option(help="cpu or gpu.")] = "cpu",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the build.")] = 3600,
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: RegionOpt = None,
) -> None:
    """Find or build the image of an environment spec; prints its URI."""
    import warnings

    if (spec is None) == (not current):
        err.print("error: name a spec file (or folder), or pass --current (not both)", markup=False)
        raise typer.Exit(EXIT_BAD_INPUT)
    with _client_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        connected = _team(team, manifest, cloud, project, region)
        image = connected.environments.build(spec, variant=variant, timeout=timeout)
    for warning in caught:
        err.print(f"warning: {warning.message}", markup=False)
    err.print("built" if image.built else "already in the registry", markup=False)
    out.print(image.uri, markup=False)


@env_app.command("normalise")
def env_normalise(
    spec: Annotated[Path, typer.Argument(help="requirements.txt, environment.yml, pyproject.toml or a folder.")],
) -> None:
    """Print the normalised spec the pipeline builds (for this Python and its Dask packages)."""
    from teamstack.client.specs import load_spec

    with _client_errors():
        loaded = load_spec(spec)
    sys.stdout.write(loaded.content.decode())


@env_app.command("tag")
def env_tag(
    spec: Annotated[Path, typer.Argument(help="requirements.txt, environment.yml, pyproject.toml or a folder.")],
    variant: Annotated[str, typer.Option(help="cpu or gpu.")] = "cpu",
    recipe_hash: Annotated[
        str | None, typer.Option(help="The deployed recipe's hash (manifest build.recipeHash); default: images/ here.")
    ] = None,
) -> None:
    """Print the image tag of a spec: the tag the stack, the client and both pipelines give the same file."""
    from teamstack import envhash
    from teamstack.client.specs import load_spec

    images = Path(__file__).resolve().parents[2] / "images"
    with _client_errors():
        loaded = load_spec(spec)
        try:
            recipe = recipe_hash or envhash.recipe_hash(images)
            tag = envhash.image_tag(recipe, variant, loaded.content)
        except (ValueError, NotADirectoryError) as error:
            raise TeamstackError(f"{error} (pass --recipe-hash from the team manifest)") from None
    out.print(tag, markup=False)


# --- catalog ------------------------------------------------------------------------------------------------


@catalog_app.command("ls")
def catalog_ls(
    team: TeamArg,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: RegionOpt = None,
) -> None:
    """List the team's datasets (and read-only shared ones)."""
    with _client_errors():
        datasets = _team(team, manifest, cloud, project, region).catalog.list()
    if as_json:
        for entry in datasets:
            out.print(json.dumps(entry.model_dump()), markup=False)
        return
    table = Table("name", "format", "url", "owner", "description")
    for entry in datasets:
        table.add_row(
            entry.name + (" (read-only)" if entry.read_only else ""),
            entry.format,
            entry.url,
            entry.owner,
            entry.description,
        )
    out.print(table)


@catalog_app.command("show")
def catalog_show(
    team: TeamArg,
    name: Annotated[str, typer.Argument(help="Dataset name (<team>/<name> for a shared one).")],
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: RegionOpt = None,
) -> None:
    """Show one dataset's entry as JSON."""
    with _client_errors():
        entry = _team(team, manifest, cloud, project, region).catalog.show(name)
    out.print(json.dumps(entry.model_dump(), indent=2), markup=False)


@catalog_app.command("add")
def catalog_add(
    team: TeamArg,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    url: Annotated[str, typer.Argument(help="s3:// or gs:// URL of the data.")],
    format: Annotated[str, typer.Option("--format", help="parquet, csv, json or files.")] = "parquet",
    description: Annotated[str, typer.Option(help="What the data is.")] = "",
    owner: Annotated[str | None, typer.Option(help="Owner (default: your user name).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing entry of that name.")] = False,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="Register a path that holds no data yet.")] = False,
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: RegionOpt = None,
) -> None:
    """Register a dataset (the data stays where it is; it must be in the team's or a shared bucket)."""
    with _client_errors():
        entry = _team(team, manifest, cloud, project, region).catalog.register(
            name, url, format, description, owner, overwrite=overwrite, allow_empty=allow_empty
        )
    out.print(f"registered {entry.name}: {entry.url} ({entry.format})", markup=False)


@catalog_app.command("rm")
def catalog_rm(
    team: TeamArg,
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    manifest: ManifestOpt = None,
    cloud: CloudOpt = None,
    project: ProjectOpt = None,
    region: RegionOpt = None,
) -> None:
    """Remove a dataset's entry (its data is left untouched)."""
    with _client_errors():
        _team(team, manifest, cloud, project, region).catalog.remove(name)
    out.print(f"removed {name} (its data is untouched)", markup=False)
