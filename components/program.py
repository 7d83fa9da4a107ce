"""The Pulumi program behind `__main__.py`: config -> one team stack -> stack outputs.

Everything a team may get wrong is checked before the first resource is registered, and reported as one
line through `pulumi.RunError` (which the engine prints without a traceback), so a bad stack file never
leaves a half-created stack behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pulumi

from teamstack.config import AwsTeamConfig, ConfigError, GcpTeamConfig, Team, load_team, stack_file
from teamstack.envhash import recipe_hash

# Each cloud's components (and so its provider SDK, hundreds of modules) are imported only for that cloud's
# stacks: an AWS plan or `pulumi up` never pays for loading pulumi_gcp, nor a GCP one for pulumi_aws.
if TYPE_CHECKING:
    from components.aws.stack import AwsEnvironment, AwsTeamStack
    from components.gcp.stack import GcpEnvironment, GcpTeamStack

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RECIPE_DIR = PROJECT_ROOT / "images"


def engine_config() -> dict[str, str]:
    """Every config value the engine gave this program, as its flat namespaced string map."""
    values = dict(pulumi.runtime.config.get_config_env())
    values.update(pulumi.runtime.config.CONFIG.get())
    return {key: str(value) for key, value in values.items()}


def aws_environment(team: AwsTeamConfig) -> AwsEnvironment:
    import pulumi_aws as aws

    from components.aws.stack import AwsEnvironment

    identity = aws.get_caller_identity()
    partition = aws.get_partition()
    zones = aws.get_availability_zones(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
    )
    if len(zones.names) < team.az_count:
        raise ConfigError(
            stack_file(pulumi.get_stack()),
            "teamstack:azCount",
            f"{team.region} has {len(zones.names)} zones available, {team.az_count} requested",
        )
    if team.ghcr_credential_arn is not None:
        from teamstack.validation.principals import secret_account

        owner = secret_account(team.ghcr_credential_arn)
        if owner != identity.account_id:
            raise ConfigError(
                stack_file(pulumi.get_stack()),
                "teamstack:ghcrCredentialArn",
                f"the secret is in account {owner}; ECR reads a pull-through cache credential only from the rule's "
                f"own account, {identity.account_id} (the one deploying): store it there",
            )
    return AwsEnvironment(
        account_id=identity.account_id, partition=partition.partition, zones=tuple(sorted(zones.names))
    )


def gcp_environment(team: GcpTeamConfig) -> GcpEnvironment:
    import pulumi_gcp as gcp

    from components.gcp.stack import GcpEnvironment

    project = gcp.organizations.get_project(project_id=team.project)
    # Creates the Cloud Storage service agent if the project has none yet; the key and topic grants name it.
    gcp.storage.get_project_service_account(project=team.project)
    zones = gcp.compute.get_zones(project=team.project, region=team.region, status="UP")
    for i, zone in enumerate(team.gcp_zones):
        if zone not in zones.names:
            key = f"teamstack:zones[{i}]" if team.zones is not None else "teamstack:azCount"
            raise ConfigError(
                stack_file(pulumi.get_stack()),
                key,
                f"zone {zone} is not available in {team.region} (up: {', '.join(sorted(zones.names))})",
            )
    return GcpEnvironment(project=team.project, project_number=str(project.number), zones=team.gcp_zones)


def check_project(stack: str, team: Team) -> None:
    """The checks across the project's stack files (the same team, buckets, ranges or namespaces claimed twice),
    as `teamstack validate` makes them; the engine runs the program from the project folder."""
    from teamstack.stackfiles import find_project, load_project
    from teamstack.validation.project import check_siblings

    try:
        project = load_project(find_project(Path.cwd()))
    except ConfigError:
        return  # not run from a project folder (a bare test harness): nothing to compare with
    check_siblings(project, stack, team)


def run() -> None:
    stack = pulumi.get_stack()
    try:
        team = load_team(engine_config(), stack)
        check_project(stack, team)
        if team.cloud == "gcp":
            gcp_env = gcp_environment(team)
        else:
            aws_env = aws_environment(team)
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    team_stack: AwsTeamStack | GcpTeamStack
    if team.cloud == "gcp":
        from components.gcp.stack import GcpTeamStack

        team_stack = GcpTeamStack(team.team, team, gcp_env, RECIPE_DIR, recipe_hash(RECIPE_DIR))
    else:
        from components.aws.stack import AwsTeamStack

        team_stack = AwsTeamStack(team.team, team, aws_env, RECIPE_DIR, recipe_hash(RECIPE_DIR))
    for name, value in team_stack.outputs.items():
        pulumi.export(name, value)
