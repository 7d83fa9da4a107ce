"""Small object-store operations the client needs on S3 and GCS, with compare-and-swap writes.

`read` returns the object with a version token (S3 ETag, GCS generation); `write(expected=token)` replaces
the object only if it is still that version, `write(expected=None)` creates it only if it does not exist.
A lost race raises `WriteConflict` for the caller to re-read and retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class WriteConflict(Exception):
    """The object changed (or appeared) since it was read."""


class StorageError(Exception):
    """A refused or failed storage request; the message is one line: the cause and what to do."""


def aws_storage_error(error: Exception, where: str) -> StorageError:
    """botocore's errors at an S3 call, as one line naming `where` (an s3:// URL)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

    if isinstance(error, NoCredentialsError):
        return StorageError(f"no AWS credentials for {where} (run `aws sso login` or set AWS_PROFILE)")
    if isinstance(error, NoRegionError):
        return StorageError(f"no AWS region for {where} (set AWS_REGION or run `teamstack login <team>`)")
    if isinstance(error, EndpointConnectionError):
        return StorageError(f"cannot reach S3 for {where}: {error}")
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code = str(info.get("Code", ""))
        if code in ("NoSuchBucket",):
            return StorageError(f"bucket of {where} does not exist (is the URL right? is the stack deployed?)")
        if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StorageError(
                f"access to {where} denied ({code}): assume your team's data-scientist role, or ask the bucket's "
                "team to share it"
            )
        if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
            return StorageError(f"your AWS session expired reading {where}: log in again (`aws sso login`)")
        return StorageError(f"S3 refused a request on {where}: {code}: {info.get('Message', '')}".rstrip(": "))
    return StorageError(f"S3 request on {where} failed: {type(error).__name__}: {error}")


def gcs_storage_error(error: Exception, where: str) -> StorageError:
    """google-cloud-storage's errors at a GCS call, as one line naming `where` (a gs:// URL)."""
    from google.api_core import exceptions as gexc
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    if isinstance(error, DefaultCredentialsError):
        return StorageError(f"no Google credentials for {where} (run `gcloud auth application-default login`)")
    if isinstance(error, RefreshError):
        return StorageError(f"your Google credentials could not be refreshed for {where}: log in again")
    if isinstance(error, gexc.NotFound):
        return StorageError(f"bucket of {where} does not exist (is the URL right? is the stack deployed?)")
    if isinstance(error, gexc.Forbidden | gexc.Unauthorized):
        return StorageError(
            f"access to {where} denied: ask to be added to the team's data scientists, or ask the bucket's team to "
            "share it"
        )
    if isinstance(error, gexc.GoogleAPIError):
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        return StorageError(f"GCS refused a request on {where}: {message}")
    return StorageError(f"GCS request on {where} failed: {type(error).__name__}: {error}")


class ObjectStore(Protocol):
    @property
    def url(self) -> str: ...

    def read(self, key: str) -> tuple[bytes, str] | None: ...

    def write(self, key: str, data: bytes, *, expected: str | None, content_type: str) -> str: ...

    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    def has_data(self, prefix: str) -> bool: ...


def gcs_client(project: str | None = None) -> Any:
    from google.cloud import storage

    return storage.Client(project=project)


@dataclass
class S3Store:
    bucket: str
    client: Any  # a boto3 S3 client

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}"

    def read(self, key: str) -> tuple[bytes, str] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read(), str(response["ETag"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise aws_storage_error(error, f"{self.url}/{key}") from None
        except BotoCoreError as error:
            raise aws_storage_error(error, f"{self.url}/{key}") from None

    def write(self, key: str, data: bytes, *, expected: str | None, content_type: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **condition
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            # 412: the precondition failed; 409: a concurrent conditional write to the same key is in flight.
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise WriteConflict(key) from None
            if expected is not None and code == "NoSuchKey":
                raise WriteConflict(key) from None
            raise aws_storage_error(error, f"{self.url}/{key}") from None
        except BotoCoreError as error:
            raise aws_storage_error(error, f"{self.url}/{key}") from None
        return str(response["ETag"])

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as error:
            raise aws_storage_error(error, f"{self.url}/{key}") from None

    def has_data(self, prefix: str) -> bool:
        """Whether an object exists at `prefix` or under it (one List request, through the caller's identity)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        except (BotoCoreError, ClientError) as error:
            raise aws_storage_error(error, f"{self.url}/{prefix}") from None
        return int(listed.get("KeyCount", 0)) > 0


@dataclass
class GcsStore:
    bucket: str
    client: Any  # a google.cloud.storage.Client

    @property
    def url(self) -> str:
        return f"gs://{self.bucket}"

    def read(self, key: str) -> tuple[bytes, str] | None:
        from google.api_core.exceptions import GoogleAPIError, NotFound, PreconditionFailed
        from google.auth.exceptions import GoogleAuthError

        try:
            for _ in range(5):
                blob = self.client.bucket(self.bucket).blob(key)
                try:
                    blob.reload()
                except NotFound as error:
                    # GCS says which is missing: "The specified bucket does not exist." / "No such object: ..."
                    if "bucket" in str(error).lower():
                        raise gcs_storage_error(error, f"{self.url}/{key}") from None
                    return None
                try:
                    # Read exactly the generation whose number is returned: a write in between is not mixed in.
                    return blob.download_as_bytes(if_generation_match=blob.generation), str(blob.generation)
                except (NotFound, PreconditionFailed):
                    continue
        except (GoogleAPIError, GoogleAuthError) as error:
            raise gcs_storage_error(error, f"{self.url}/{key}") from None
        raise WriteConflict(key)

    def write(self, key: str, data: bytes, *, expected: str | None, content_type: str) -> str:
        from google.api_core.exceptions import GoogleAPIError, NotFound, PreconditionFailed
        from google.auth.exceptions import GoogleAuthError

        blob = self.client.bucket(self.bucket).blob(key)
        # Generation 0 means "only if no live object exists".
        generation = 0 if expected is None else int(expected)
        try:
            blob.upload_from_string(data, content_type=content_type, if_generation_match=generation)
        except PreconditionFailed:
            raise WriteConflict(key) from None
        except NotFound as error:
            if expected is None:  # nothing to race with: the bucket itself is missing
                raise gcs_storage_error(error, f"{self.url}/{key}") from None
            raise WriteConflict(key) from None
        except (GoogleAPIError, GoogleAuthError) as error:
            raise gcs_storage_error(error, f"{self.url}/{key}") from None
        return str(blob.generation)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError

        try:
            self.client.bucket(self.bucket).blob(key).upload_from_string(data, content_type=content_type)
        except (GoogleAPIError, GoogleAuthError) as error:
            raise gcs_storage_error(error, f"{self.url}/{key}") from None

    def has_data(self, prefix: str) -> bool:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError

        try:
            return any(True for _ in self.client.list_blobs(self.bucket, prefix=prefix, max_results=1))
        except (GoogleAPIError, GoogleAuthError) as error:
            raise gcs_storage_error(error, f"{self.url}/{prefix}") from None
