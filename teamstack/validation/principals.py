"""IAM principals: ARNs that name a real role or user in the stack's partition, and member lists without repeats.

IAM ARNs: arn:<partition>:iam::<12-digit account>:role/<path/><name>, names 1-64 of [A-Za-z0-9+=,.@_-]
(docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html, reference_identifiers.html).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from teamstack.validation import shorten

_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):(?P<kind>role|user)(?P<rest>/.*)\Z"
)
_NAME = re.compile(r"^[\w+=,.@-]{1,64}\Z", re.ASCII)
_PATH_PART = re.compile(r"^[\x21-\x7e]+\Z")


def partition_of_region(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def arn_problem(arn: str, region: str | None) -> str | None:
    """Why `arn` names no IAM role or user of `region`'s partition (any partition when `region` is None)."""
    match = _ARN.match(arn)
    if match is None:
        return f"'{shorten(arn)}' is not an IAM role or user ARN (arn:aws:iam::<12-digit account>:role/<name>)"
    partition = match["partition"] if region is None else partition_of_region(region)
    if match["partition"] != partition:
        return (
            f"'{shorten(arn)}' is in partition {match['partition']}; a stack in {region} trusts only {partition} ARNs"
        )
    *path, name = match["rest"][1:].split("/")
    if not _NAME.match(name):
        return (
            f"'{shorten(arn)}' names no {match['kind']}: the last part must be a 1-64 character name of letters, "
            "digits and +=,.@_-"
        )
    if len(match["rest"]) - len(name) > 512 or not all(_PATH_PART.match(part) for part in path):
        return f"'{shorten(arn)}' has an invalid IAM path (at most 512 printable characters, no empty parts)"
    return None


# A pull-through cache rule's credentialArn (botocore's ECR model, shape CredentialArn: 50-612 characters, a Secrets
# Manager secret whose name starts ecr-pullthroughcache/); the secret must be in the rule's account and Region
# (ECR user guide, "Creating a pull through cache rule").
ECR_CREDENTIAL_PREFIX = "ecr-pullthroughcache/"
_SECRET_ARN = re.compile(
    r"^arn:(?P<partition>aws(-[a-z]+)*):secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:"
    r"(?P<name>[A-Za-z0-9/_+=.@-]+)\Z"
)


def ecr_credential_arn_problem(arn: str, region: str) -> str | None:
    """Why ECR would refuse `arn` as a pull-through cache rule's credential in `region`, or None."""
    match = _SECRET_ARN.match(arn)
    if match is None:
        return (
            f"'{shorten(arn)}' is not a Secrets Manager secret ARN "
            f"(arn:aws:secretsmanager:{region}:<12-digit account>:secret:{ECR_CREDENTIAL_PREFIX}<name>)"
        )
    if not match["name"].startswith(ECR_CREDENTIAL_PREFIX):
        return f"the secret's name must start with '{ECR_CREDENTIAL_PREFIX}' for ECR to use it (got '{match['name']}')"
    if not 50 <= len(arn) <= 612:
        return f"ECR takes a credential ARN of 50-612 characters, got {len(arn)}: name the secret longer"
    partition = partition_of_region(region)
    if match["partition"] != partition or match["region"] != region:
        return (
            f"the secret is in {match['region']} ({match['partition']}); ECR reads it only in the cache rule's own "
            f"Region, {region}: store it there"
        )
    return None


def secret_account(arn: str) -> str | None:
    """The account of a Secrets Manager secret ARN (None if it is not one): ECR reads a rule's credential only
    from the rule's own account, which only the program knows (the deploying credentials')."""
    match = _SECRET_ARN.match(arn)
    return match["account"] if match else None


def first_repeat(values: Sequence[str], case_insensitive: bool = False) -> int | None:
    """The index of the first value listed again (an email's letter case does not matter), or None."""
    seen: set[str] = set()
    for i, value in enumerate(values):
        key = value.lower() if case_insensitive else value
        if key in seen:
            return i
        seen.add(key)
    return None
