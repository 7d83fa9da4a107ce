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


def first_repeat(values: Sequence[str], case_insensitive: bool = False) -> int | None:
    """The index of the first value listed again (an email's letter case does not matter), or None."""
    seen: set[str] = set()
    for i, value in enumerate(values):
        key = value.lower() if case_insensitive else value
        if key in seen:
            return i
        seen.add(key)
    return None
