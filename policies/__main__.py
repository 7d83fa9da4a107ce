"""The teamstack CrossGuard policy pack: `pulumi preview --policy-pack policies` (see policies/README.md).

The rules live in teamstack/policy/ (pure functions, also run offline by `teamstack policy check`); this file
only builds the pack. Constructing `PolicyPack` starts the analyzer server the Pulumi CLI talks to.
"""

from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

from teamstack.policy.crossguard import PACK_DESCRIPTION, PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    # Each policy sets its own level (mandatory or advisory); this is only the fallback.
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(Path(__file__).resolve().parent),
)
