"""The team's dataset catalog: a JSON index in the team's first catalog bucket.

Index object: `teamstack/catalog.json` in the bucket of the manifest's first `catalog` entry:

    {"schemaVersion": 1, "team": "<team>", "datasets": {"<name>": {"url": ..., "format": ..., ...}}}

A registered URL must lie in one of the team's catalog buckets or a bucket shared with it, and hold data
(checked with one List request through the user's own identity) unless `allow_empty=True` (a future path).
Every storage failure is a `CatalogError` naming the dataset, the URL and the cause.

Every change is a compare-and-swap on that object (S3 If-None-Match/If-Match, GCS generation preconditions),
retried on conflict, so people registering at the same time lose nothing. Catalogs shared by other teams are
read through the same index format and listed as `<team>/<name>`, read-only. Registering or removing an
entry never touches the data it points at.
"""

from __future__ import annotations

import getpass
import json
import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from teamstack.client.errors import CatalogError
from teamstack.client.storage import ObjectStore, StorageError, WriteConflict

INDEX_KEY = "teamstack/catalog.json"
INDEX_SCHEMA_VERSION: Literal[1] = 1
FORMATS = ("parquet", "csv", "json", "files")
URL_SCHEMES = ("s3://", "gs://")
MAX_ATTEMPTS = 25
_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_NAME_RULE = "1-64 characters: lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit"

Format = Literal["parquet", "csv", "json", "files"]


class Dataset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str
    format: Format
    description: str = ""
    owner: str = ""
    created: str = ""
    updated: str = ""
    storage_options: dict[str, Any] = Field(default_factory=dict)
    team: str = ""
    read_only: bool = False


class _Index(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: Literal[1] = Field(default=INDEX_SCHEMA_VERSION, alias="schemaVersion")
    team: str
    datasets: dict[str, Dataset] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return (
            self.model_dump_json(by_alias=True, indent=2, exclude={"datasets": {"__all__": {"read_only"}}})
        ).encode()


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise CatalogError(f"invalid dataset name {name!r}: {_NAME_RULE}")
    return name


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Catalog:
    """`list`, `show`, `register`, `remove` and `open` the datasets of one team (plus read-only shared ones)."""

    def __init__(
        self,
        team: str,
        store: ObjectStore,
        *,
        shared: Mapping[str, ObjectStore] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        data_stores: Mapping[str, ObjectStore] | None = None,
    ) -> None:
        self.team = team
        self.store = store
        self.shared = dict(shared or {})
        self.storage_options = dict(storage_options or {})
        # Where datasets may live: the team's catalog buckets and the shared ones, by bucket URL (s3://name).
        self.data_stores = {s.url: s for s in [store, *self.shared.values(), *(data_stores or {}).values()]}

    @property
    def index_url(self) -> str:
        return f"{self.store.url}/{INDEX_KEY}"

    # --- reading -------------------------------------------------------------------------------------------

    def _load(self, store: ObjectStore, team: str, dataset: str | None = None) -> tuple[_Index, str | None]:
        try:
            found = store.read(INDEX_KEY)
        except StorageError as error:
            subject = f"dataset {dataset!r}: " if dataset else ""
            raise CatalogError(f"{subject}cannot read the catalog index of team {team}: {error}") from None
        if found is None:
            return _Index(team=team), None
        data, version = found
        try:
            index = _Index.model_validate(json.loads(data))
        except (ValueError, ValidationError) as error:
            first = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
            raise CatalogError(f"catalog index {store.url}/{INDEX_KEY} is unreadable: {first}") from None
        return index, version

    def _load_settled(self, store: ObjectStore, team: str) -> _Index:
        """The index for reading only: a read that keeps losing races to writers is tried again."""
        for _ in range(MAX_ATTEMPTS):
            try:
                return self._load(store, team)[0]
            except WriteConflict:
                time.sleep(random.uniform(0, 0.1))
        raise CatalogError(f"catalog index {store.url}/{INDEX_KEY} kept changing while being read; try again")

    def list(self) -> list[Dataset]:
        """Own datasets by name, then each shared team's as `<team>/<name>` (read-only)."""
        own = self._load_settled(self.store, self.team).datasets
        datasets = [entry.model_copy(update={"team": self.team}) for _, entry in sorted(own.items())]
        for team, store in sorted(self.shared.items()):
            theirs = self._load_settled(store, team).datasets
            datasets += [
                entry.model_copy(update={"name": f"{team}/{name}", "team": team, "read_only": True})
                for name, entry in sorted(theirs.items())
            ]
        return datasets

    def show(self, name: str) -> Dataset:
        for entry in self.list():
            if entry.name == name:
                return entry
        raise CatalogError(f"no dataset {name!r} in the catalog of team {self.team} ({self.index_url})")

    # --- writing -------------------------------------------------------------------------------------------

    def _writable(self, name: str) -> str:
        team, slash, _ = name.partition("/")
        if slash:
            owner = "another team" if team not in self.shared else f"team {team}"
            raise CatalogError(f"dataset {name!r} is shared read-only by {owner}: register it under your own name")
        return validate_name(name)

    def _update(self, name: str, change: Callable[[_Index, int], Dataset | None]) -> Dataset | None:
        """Read-modify-write the index until the conditional write wins (or give up after MAX_ATTEMPTS).

        `change(index, attempt)` is redone on the index as it is after each lost race."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                # A read can lose a race too (the generation it saw was replaced before its download).
                index, version = self._load(self.store, self.team, name)
                result = change(index, attempt)
                self.store.write(INDEX_KEY, index.to_bytes(), expected=version, content_type="application/json")
                return result
            except StorageError as error:
                raise CatalogError(f"dataset {name!r}: cannot write the catalog index: {error}") from None
            except WriteConflict:
                # Someone else wrote first: back off a little (jittered, capped) and redo the change on theirs.
                time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
        raise CatalogError(f"catalog index {self.index_url} kept changing during {MAX_ATTEMPTS} attempts; try again")

    def register(
        self,
        name: str,
        url: str,
        format: str,
        description: str = "",
        owner: str | None = None,
        *,
        storage_options: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        allow_empty: bool = False,
    ) -> Dataset:
        """Add a dataset (the data stays where `url` points). An existing name needs `overwrite=True`.

        The URL must lie in one of the team's catalog buckets or a shared one, and hold data (read through your
        own identity); `allow_empty=True` registers a path nothing has been written to yet."""
        self._writable(name)
        if not isinstance(url, str) or not url.startswith(URL_SCHEMES) or len(url.split("://", 1)[1]) < 3:
            raise CatalogError(f"dataset {name!r}: url {url!r} must start with {' or '.join(URL_SCHEMES)}")
        if format not in FORMATS:
            raise CatalogError(f"dataset {name!r}: format {format!r} is not one of {', '.join(FORMATS)}")
        self._check_location(name, url, allow_empty)
        owner = owner or getpass.getuser()
        options = dict(storage_options or {})
        seen: list[Dataset | None] = []  # the entry as this writer first found it

        def change(index: _Index, attempt: int) -> Dataset:
            existing = index.datasets.get(name)
            if not seen:
                seen.append(existing)
            elif existing != seen[0]:
                # Lost a race: someone else wrote this very entry between our read and our write.
                who = f"{existing.owner} at {existing.updated}" if existing else "someone"
                now = f"{existing.url}" if existing else "nothing (it was removed)"
                raise CatalogError(
                    f"dataset {name!r} was changed by {who} while you were registering it; it now points at "
                    f"{now}: nothing was written, check it and register again"
                )
            if existing is not None and not overwrite:
                raise CatalogError(
                    f"dataset {name!r} already exists ({existing.url}, owner {existing.owner}): "
                    "pass overwrite=True (CLI: --overwrite) to replace its entry"
                )
            now = _now()
            entry = Dataset(
                name=name,
                url=url,
                format=format,  # type: ignore[arg-type]  # checked against FORMATS above
                description=description,
                owner=owner,
                created=existing.created if existing else now,
                updated=now,
                storage_options=options,
                team=self.team,
            )
            index.datasets[name] = entry
            return entry

        entry = self._update(name, change)
        assert entry is not None
        return entry

    def _check_location(self, name: str, url: str, allow_empty: bool) -> None:
        """`url` lies in a bucket the team's catalog may point at, and (unless `allow_empty`) holds data."""
        scheme, _, rest = url.partition("://")
        bucket, _, prefix = rest.partition("/")
        store = self.data_stores.get(f"{scheme}://{bucket}")
        if store is None:
            allowed = ", ".join(sorted(self.data_stores)) or "none"
            raise CatalogError(
                f"dataset {name!r}: {url} is outside the team's catalog buckets and the catalogs shared with it "
                f"({allowed}): copy the data there, or connect with shared_catalogs= naming its team's bucket"
            )
        if allow_empty:
            return
        try:
            found = store.has_data(prefix)
        except StorageError as error:
            raise CatalogError(f"dataset {name!r}: cannot check for data at {url}: {error}") from None
        if not found:
            raise CatalogError(
                f"dataset {name!r}: no data at {url} (nothing under that path): write the data first, or pass "
                "allow_empty=True (CLI: --allow-empty) to register a future path"
            )

    def remove(self, name: str) -> None:
        """Drop a dataset's entry from the index; its data is left untouched."""
        self._writable(name)

        def change(index: _Index, attempt: int) -> None:
            if index.datasets.pop(name, None) is None:
                raise CatalogError(f"no dataset {name!r} in the catalog of team {self.team}")

        self._update(name, change)

    # --- opening -------------------------------------------------------------------------------------------

    def options_for(self, entry: Dataset, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        scheme = entry.url.split("://", 1)[0]
        defaults = self.storage_options.get(scheme, {})
        return {**defaults, **entry.storage_options, **(extra or {})}

    def open(self, name: str, *, storage_options: Mapping[str, Any] | None = None, **read_kwargs: Any) -> Any:
        """A Dask DataFrame for parquet/csv/json datasets; an fsspec mapper for `files` datasets."""
        entry = self.show(name)
        options = self.options_for(entry, storage_options)
        try:
            return self._open(entry, options, read_kwargs)
        except CatalogError:
            raise
        except Exception as error:
            cause = _root_cause(error)
            if isinstance(cause, FileNotFoundError):
                raise CatalogError(
                    f"dataset {name!r}: no data at {entry.url}: it was moved or deleted; ask its owner "
                    f"({entry.owner or 'unknown'}) or remove the entry (`teamstack catalog rm`)"
                ) from None
            if isinstance(cause, PermissionError):
                raise CatalogError(
                    f"dataset {name!r}: access to {entry.url} denied: assume your team's data-scientist role, or "
                    f"ask team {entry.team or self.team} to share it"
                ) from None
            translated = _storage_failure(cause, entry.url)
            if translated is None:
                raise
            raise CatalogError(f"dataset {name!r}: {translated}") from None

    @staticmethod
    def _open(entry: Dataset, options: dict[str, Any], read_kwargs: dict[str, Any]) -> Any:
        if entry.format == "files":
            import fsspec

            mapper = fsspec.get_mapper(entry.url, **options)
            if not mapper.fs.exists(mapper.root):
                raise FileNotFoundError(entry.url)
            return mapper
        import dask.dataframe as dd

        url = entry.url
        if entry.format == "parquet":
            return dd.read_parquet(url, storage_options=options, **read_kwargs)
        if url.endswith("/"):
            url += f"*.{entry.format}"
        if entry.format == "csv":
            return dd.read_csv(url, storage_options=options, **read_kwargs)
        return dd.read_json(url, storage_options=options, **{"lines": True, **read_kwargs})


def _root_cause(error: BaseException) -> BaseException:
    """The storage-level error in a chain: Dask wraps a backend's error in its own OSError, and an empty glob is
    an OSError saying it "resolved to no files"."""
    chain: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and len(chain) < 20:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for link in chain:
        if isinstance(link, FileNotFoundError | PermissionError):
            return link
        if type(link).__module__.startswith(("botocore", "aiobotocore", "google.")):
            return link
    if any("resolved to no files" in str(link) for link in chain):
        return FileNotFoundError(str(chain[-1]))
    return next((link for link in reversed(chain) if isinstance(link, OSError)), error)


def _storage_failure(error: BaseException, url: str) -> str | None:
    """One line for a cloud library's error reached through fsspec (credentials, refused requests), else None."""
    module = type(error).__module__
    if module.startswith(("botocore", "aiobotocore")):
        from teamstack.client.storage import aws_storage_error

        return str(aws_storage_error(error, url))  # type: ignore[arg-type]
    if module.startswith(("google.", "gcsfs")):
        from teamstack.client.storage import gcs_storage_error

        return str(gcs_storage_error(error, url))  # type: ignore[arg-type]
    if isinstance(error, OSError):
        return f"cannot read {url}: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
    return None
