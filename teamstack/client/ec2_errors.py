"""Why EC2 refused to start a Dask VM cluster, in one line (pure; the error codes are EC2's documented ones).

dask-cloudprovider wraps RunInstances' ClientError in its own errors, and its clean-up then fails on the
instance that was never created (`TypeError: 'NoneType' object is not subscriptable`): the first EC2 error in
the chain is the cause, and it is what is described here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

CAPACITY_CODES = ("InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity")
SPOT_CODES = ("SpotMaxPriceTooLow", "MaxSpotInstanceCountExceeded", "InsufficientSpotInstanceCapacity")
QUOTA_CODES = ("VcpuLimitExceeded", "InstanceLimitExceeded", "RequestLimitExceeded")
SUBNET_CODES = ("InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed", "InvalidSubnet")


def ec2_error(error: BaseException) -> BaseException | None:
    """The first botocore error (ClientError, NoCredentialsError, ...) in an exception's cause chain."""
    seen: BaseException | None = error
    for _ in range(20):
        if seen is None:
            return None
        if type(seen).__module__.startswith("botocore"):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def encoded_message(error: BaseException) -> str | None:
    """The encoded authorization failure message of an UnauthorizedOperation, if any."""
    message = str(getattr(error, "response", {}).get("Error", {}).get("Message", ""))
    marker = "Encoded authorization failure message:"
    return message.split(marker, 1)[1].strip() if marker in message else None


def describe_decoded(decoded: Mapping[str, Any]) -> str:
    """`sts:DecodeAuthorizationMessage`'s DecodedMessage, in a phrase: which action on what, and why."""
    context = decoded.get("context") or {}
    why = "an explicit deny" if decoded.get("explicitDeny") else "no policy allows it"
    conditions = context.get("conditions", {}).get("items", []) if isinstance(context.get("conditions"), dict) else []
    tags = [
        f"{item.get('key')}={','.join(str(v.get('value')) for v in (item.get('values', {}).get('items') or []))}"
        for item in conditions
        if str(item.get("key", "")).startswith(("aws:RequestTag", "ec2:ResourceTag", "ec2:Subnet", "ec2:InstanceType"))
    ]
    detail = f" (request: {'; '.join(tags[:6])})" if tags else ""
    return f"{context.get('action', '?')} on {context.get('resource', '?')} is refused by {why}{detail}"


def describe_ec2_failure(
    error: BaseException, options: Mapping[str, Any], team: str, decoded: Mapping[str, Any] | None = None
) -> str:
    """One line for a failed EC2Cluster start. `options` are the EC2Cluster keywords (subnet, types, spot)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    cause = ec2_error(error)
    worker = options.get("worker_instance_type", "?")
    subnet = options.get("subnet_id", "?")
    if isinstance(cause, NoCredentialsError):
        return "no AWS credentials to start EC2 VMs: run `aws sso login` or set AWS_PROFILE"
    if isinstance(cause, NoRegionError):
        return "no AWS region for EC2 VMs: connect to the team again (`teamstack login <team>`)"
    if isinstance(cause, EndpointConnectionError):
        return f"cannot reach EC2: {cause}"
    if not isinstance(cause, ClientError):
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"the Dask VM cluster did not start: {type(error).__name__}: {text}"
    info = cause.response.get("Error", {})
    code, message = str(info.get("Code", "")), str(info.get("Message", "")).strip()
    operation = getattr(cause, "operation_name", "the request")
    if code == "UnauthorizedOperation" or code in ("AccessDenied", "AccessDeniedException"):
        if decoded is not None:
            reason = describe_decoded(decoded)
        else:
            encoded = encoded_message(cause)
            reason = (
                f"decode the reason with `aws sts decode-authorization-message --encoded-message {encoded}`"
                if encoded
                else message
            )
        return (
            f"EC2 refused {operation} ({code}): your role may not start these VMs; {reason}; team {team}'s "
            "data-scientist role launches only tagged VMs with the stack's instance profile in its private subnets"
        )
    if code in CAPACITY_CODES:
        spot = " or spot=False (on-demand)" if options.get("spot") else ""
        return (
            f"AWS has no capacity for {worker} in the zone of subnet {subnet} right now ({code}): try another "
            f"worker_instance_type=, another subnet_id= (zone){spot}, or later"
        )
    if code in SPOT_CODES:
        return f"no spot capacity for {worker} ({code}: {message}): start with spot=False (on-demand) or another type"
    if code in QUOTA_CODES:
        return (
            f"an EC2 quota of the account is reached ({code}: {message}): close running clusters "
            f"(`teamstack status {team}`) or ask IT to request a Service Quotas increase"
        )
    if code in SUBNET_CODES:
        return (
            f"subnet {subnet} is not usable ({code}: {message}): the team manifest may be stale (ask IT to update the "
            f"stack of team {team}), or pass subnet_id= one of the team's private subnets"
        )
    return f"EC2 refused {operation} ({code}): {message}"


def decode_authorization(sts_client: Any, error: BaseException) -> dict[str, Any] | None:
    """The decoded reason of an UnauthorizedOperation, when your identity may decode it (else None)."""
    cause = ec2_error(error)
    encoded = encoded_message(cause) if cause is not None else None
    if not encoded:
        return None
    try:
        decoded = sts_client.decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"]
        result = json.loads(decoded)
    except Exception:
        return None  # no sts:DecodeAuthorizationMessage: the message says how to decode it
    return result if isinstance(result, dict) else None
