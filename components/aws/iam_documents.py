"""IAM policy documents as typed Python values: pure builders, unit-tested, no wildcard action on "*".

Values may be plain strings or Pulumi Outputs; `pulumi.Output.json_dumps` renders a document holding
Outputs, `json.dumps` one holding strings (as the tests do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Conditions = Mapping[str, Mapping[str, Any]]


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[Any] | None = None,
    *,
    effect: str = "Allow",
    principals: Mapping[str, Any] | None = None,
    conditions: Conditions | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {"Sid": sid, "Effect": effect, "Action": sorted(actions)}
    if principals is not None:
        result["Principal"] = dict(principals)
    if resources is not None:
        result["Resource"] = list(resources)
    if conditions:
        result["Condition"] = {op: dict(values) for op, values in conditions.items()}
    return result


def document(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [dict(s) for s in statements]}


def service_trust(
    service: str, account_id: Any, *, actions: Sequence[str] = ("sts:AssumeRole",), source_arn: Any | None = None
) -> dict[str, Any]:
    """Trust for an AWS service, pinned to this account (and one source resource) against confused deputies."""
    conditions: dict[str, dict[str, Any]] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn is not None:
        conditions["ArnEquals"] = {"aws:SourceArn": source_arn}
    return document(statement("TrustService", actions, principals={"Service": service}, conditions=conditions))


def ec2_trust() -> dict[str, Any]:
    # EC2 does not send aws:SourceAccount for instance roles, so no condition here.
    return document(statement("TrustEc2", ["sts:AssumeRole"], principals={"Service": "ec2.amazonaws.com"}))


def principals_trust(principal_arns: Sequence[str]) -> dict[str, Any]:
    return document(
        statement("TrustTeamPrincipals", ["sts:AssumeRole", "sts:TagSession"], principals={"AWS": list(principal_arns)})
    )


S3_READ = ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging")
S3_WRITE = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:PutObjectTagging")
S3_LIST = ("s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads")
KMS_USE_VIA_S3 = ("kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey")


def bucket_access(
    sid: str, bucket_arns: Sequence[Any], *, write: bool, key_arn: Any, region: str
) -> list[dict[str, Any]]:
    """Read (and optionally write) objects in exactly these buckets, using the team key only through S3."""
    objects = [arn_join(arn, "/*") for arn in bucket_arns]
    actions = [*S3_READ, *S3_WRITE] if write else list(S3_READ)
    return [
        statement(f"{sid}List", S3_LIST, list(bucket_arns)),
        statement(f"{sid}Objects", actions, objects),
        statement(
            f"{sid}Key",
            KMS_USE_VIA_S3 if write else ("kms:Decrypt", "kms:DescribeKey"),
            [key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        ),
    ]


def arn_join(arn: Any, suffix: str) -> Any:
    """`arn + suffix` for a string or a Pulumi Output."""
    if isinstance(arn, str):
        return arn + suffix
    return arn.apply(lambda value: value + suffix)


def deny_insecure_transport(bucket_arn: Any) -> dict[str, Any]:
    return statement(
        "DenyInsecureTransport",
        ["s3:*"],
        [bucket_arn, arn_join(bucket_arn, "/*")],
        effect="Deny",
        principals={"AWS": "*"},
        conditions={"Bool": {"aws:SecureTransport": "false"}},
    )


# Key administration and use for the account's IAM principals, without "kms:*" (what an account root
# statement needs so that IAM policies, which stay least-privilege, can grant use of the key).
KMS_ADMIN_ACTIONS = (
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
    "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
)  # fmt: skip
KMS_USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")


def team_key_policy(account_id: str, region: str, partition: str = "aws") -> dict[str, Any]:
    """Key policy of the team's KMS key: IAM-delegated use plus the services that encrypt with it."""
    root = f"arn:{partition}:iam::{account_id}:root"
    autoscaling = (
        f"arn:{partition}:iam::{account_id}:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )
    return document(
        statement("AccountAdministersKey", KMS_ADMIN_ACTIONS, ["*"], principals={"AWS": root}),
        statement(
            "AccountIamPoliciesMayGrantUse", [*KMS_USE_ACTIONS, "kms:CreateGrant"], ["*"], principals={"AWS": root}
        ),
        statement(
            "CloudWatchLogsEncryptsTeamLogs",
            KMS_USE_ACTIONS,
            ["*"],
            principals={"Service": f"logs.{region}.amazonaws.com"},
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:log-group:*"
                }
            },
        ),
        # Node volumes are encrypted with this key and launched by the Auto Scaling service-linked role. It is
        # named by condition, not as principal: KMS rejects a policy naming a role that does not exist yet,
        # and a new account has no such role until its first Auto Scaling group.
        statement(
            "AutoScalingEncryptsNodeVolumes",
            KMS_USE_ACTIONS,
            ["*"],
            principals={"AWS": "*"},
            conditions={"StringEquals": {"aws:PrincipalArn": autoscaling, "kms:CallerAccount": account_id}},
        ),
        statement(
            "AutoScalingAttachesNodeVolumes",
            ["kms:CreateGrant"],
            ["*"],
            principals={"AWS": "*"},
            conditions={
                "StringEquals": {"aws:PrincipalArn": autoscaling, "kms:CallerAccount": account_id},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        ),
    )
