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


class ObjectStore(Protocol):
    @property
    def url(self) -> str: ...

    def read(self, key: str) -> tuple[bytes, str] | None: ...

    def write(self, key: str, data: bytes, *, expected: str | None, content_type: str) -> str: ...

    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...


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
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return response["Body"].read(), str(response["ETag"])

    def write(self, key: str, data: bytes, *, expected: str | None, content_type: str) -> str:
        from botocore.exceptions import ClientError

        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **condition
            )
        except ClientError as error:
            # 412: the precondition failed; 409: a concurrent conditional write to the same key is in flight.
            if error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise WriteConflict(key) from None
            if expected is not None and error.response.get("Error", {}).get("Code") == "NoSuchKey":
                raise WriteConflict(key) from None
            raise
        return str(response["ETag"])

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)


@dataclass
class GcsStore:
    bucket: str
    client: Any  # a google.cloud.storage.Client

    @property
    def url(self) -> str:
        return f"gs://{self.bucket}"

    def read(self, key: str) -> tuple[bytes, str] | None:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        for _ in range(5):
            blob = self.client.bucket(self.bucket).get_blob(key)
            if blob is None:
                return None
            try:
                # Read exactly the generation whose number is returned: a write in between is not mixed in.
                return blob.download_as_bytes(if_generation_match=blob.generation), str(blob.generation)
            except (NotFound, PreconditionFailed):
                continue
        raise WriteConflict(key)

    def write(self, key: str, data: bytes, *, expected: str | None, content_type: str) -> str:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        blob = self.client.bucket(self.bucket).blob(key)
        # Generation 0 means "only if no live object exists".
        generation = 0 if expected is None else int(expected)
        try:
            blob.upload_from_string(data, content_type=content_type, if_generation_match=generation)
        except (PreconditionFailed, NotFound):
            raise WriteConflict(key) from None
        return str(blob.generation)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.client.bucket(self.bucket).blob(key).upload_from_string(data, content_type=content_type)
