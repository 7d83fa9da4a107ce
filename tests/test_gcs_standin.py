"""The GCS JSON API stand-in with generation preconditions (tests/gcs_standin.py): its own answers, then the
GCS catalog's compare-and-swap run against it (the gcp-storage-emulator ignores ifGenerationMatch)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from gcs_standin import PRECONDITION_MESSAGE, GcsStandin
from standins import GCP_PROJECT, gcp_manifest

from teamstack.client import CatalogError, Team
from teamstack.client.storage import GcsStore, WriteConflict


@pytest.fixture(scope="module")
def server() -> Iterator[GcsStandin]:
    standin = GcsStandin()
    yield standin
    standin.stop()


@pytest.fixture
def gcs(server: GcsStandin, monkeypatch: pytest.MonkeyPatch) -> Any:
    from google.cloud import storage

    server.state.buckets.clear()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", GCP_PROJECT)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/dev/null/none")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    return storage.Client(project=GCP_PROJECT)


def _raw(server: GcsStandin, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/octet-stream") -> tuple[int, Any]:  # fmt: skip
    request = urllib.request.Request(server.endpoint + path, data=body, method=method,
                                     headers={"Content-Type": content_type})  # fmt: skip
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read()
            return response.status, json.loads(
                raw
            ) if response.headers.get_content_type() == "application/json" else raw
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_media_insert_get_and_preconditions_over_raw_http(gcs: Any, server: GcsStandin) -> None:
    gcs.create_bucket("b-one")
    code, created = _raw(
        server, "POST", "/upload/storage/v1/b/b-one/o?uploadType=media&name=a%2Fx.json&ifGenerationMatch=0", b"{}"
    )
    assert code == 200 and created["name"] == "a/x.json" and created["size"] == "2"
    generation = created["generation"]
    # Create-only again: the object exists now.
    code, refused = _raw(
        server, "POST", "/upload/storage/v1/b/b-one/o?uploadType=media&name=a%2Fx.json&ifGenerationMatch=0", b"{}"
    )
    assert code == 412
    assert refused["error"]["code"] == 412 and refused["error"]["message"] == PRECONDITION_MESSAGE
    assert refused["error"]["errors"][0]["reason"] == "conditionNotMet"
    # Replace only that generation.
    code, replaced = _raw(
        server,
        "POST",
        f"/upload/storage/v1/b/b-one/o?uploadType=media&name=a%2Fx.json&ifGenerationMatch={generation}",
        b"[1]",
    )
    assert code == 200 and int(replaced["generation"]) > int(generation)
    code, _ = _raw(server, "GET", f"/storage/v1/b/b-one/o/a%2Fx.json?alt=media&ifGenerationMatch={generation}")
    assert code == 412  # a read pinned to the old generation
    code, data = _raw(
        server, "GET", f"/storage/v1/b/b-one/o/a%2Fx.json?alt=media&ifGenerationMatch={replaced['generation']}"
    )
    assert code == 200 and data == b"[1]"
    code, missing = _raw(server, "GET", "/storage/v1/b/b-one/o/nope")
    assert code == 404 and missing["error"]["errors"][0]["reason"] == "notFound"
    code, _ = _raw(server, "GET", "/storage/v1/b/no-bucket/o/x")
    assert code == 404


def test_the_google_client_multipart_uploads_and_lists(gcs: Any) -> None:
    from google.api_core.exceptions import PreconditionFailed

    bucket = gcs.create_bucket("b-two")
    blob = bucket.blob("dir/data.bin")
    payload = bytes(range(256)) * 10 + b"\r\n--boundary-like--\r\n"
    blob.upload_from_string(payload, content_type="application/x-test", if_generation_match=0)
    first = blob.generation
    assert bucket.get_blob("dir/data.bin").download_as_bytes(if_generation_match=first) == payload
    with pytest.raises(PreconditionFailed):
        bucket.blob("dir/data.bin").upload_from_string(b"late", if_generation_match=0)
    bucket.blob("dir/data.bin").upload_from_string(b"v2", if_generation_match=first)
    with pytest.raises(PreconditionFailed):
        bucket.blob("dir/data.bin").upload_from_string(b"v3", if_generation_match=first)  # a stale writer
    bucket.blob("dir/other").upload_from_string(b"o")
    bucket.blob("else").upload_from_string(b"e")
    assert [b.name for b in gcs.list_blobs("b-two", prefix="dir/")] == ["dir/data.bin", "dir/other"]
    assert [b.name for b in gcs.list_blobs("b-two", prefix="dir/", max_results=1)] == ["dir/data.bin"]
    assert [b.name for b in gcs.list_blobs("b-two", page_size=1)] == ["dir/data.bin", "dir/other", "else"]


def test_gcs_store_compare_and_swap(gcs: Any) -> None:
    gcs.create_bucket("b-three")
    store = GcsStore("b-three", gcs)
    first = store.write("k", b"1", expected=None, content_type="text/plain")
    with pytest.raises(WriteConflict):
        store.write("k", b"2", expected=None, content_type="text/plain")
    second = store.write("k", b"2", expected=first, content_type="text/plain")
    with pytest.raises(WriteConflict):
        store.write("k", b"3", expected=first, content_type="text/plain")
    assert store.read("k") == (b"2", second)


def _gcs_team(gcs: Any) -> Team:
    manifest = gcp_manifest()
    gcs.create_bucket(manifest.catalog[0].bucket)
    return Team(manifest)


def test_gcs_catalog_concurrent_registrations_all_survive(gcs: Any) -> None:
    team = _gcs_team(gcs)
    bucket = team.manifest.catalog[0].url
    names = [f"tile-{i:02d}" for i in range(12)]

    def register(name: str) -> str:
        return Team(team.manifest).catalog.register(name, f"{bucket}/{name}/", "parquet", allow_empty=True).name

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert sorted(pool.map(register, names)) == names
    assert [d.name for d in team.catalog.list()] == names


def test_gcs_catalog_the_loser_of_an_overwrite_race_is_told(gcs: Any) -> None:
    team = _gcs_team(gcs)
    url = f"{team.manifest.catalog[0].url}/scans/"
    team.catalog.register("scans", url, "csv", owner="ana", allow_empty=True)
    catalog = Team(team.manifest).catalog
    original = catalog.store.write
    raced: list[bool] = []

    def write_after_a_rival(key: str, data: bytes, *, expected: str | None, content_type: str) -> str:
        if not raced:
            raced.append(True)
            Team(team.manifest).catalog.register("scans", f"{url}v2/", "csv", owner="bo", overwrite=True,
                                                 allow_empty=True)  # fmt: skip
        return original(key, data, expected=expected, content_type=content_type)

    catalog.store.write = write_after_a_rival  # type: ignore[method-assign]
    with pytest.raises(CatalogError, match=r"dataset 'scans' was changed by bo at "):
        catalog.register("scans", f"{url}v3/", "csv", owner="cy", overwrite=True, allow_empty=True)
    assert team.catalog.show("scans").url.endswith("/scans/v2/")


def test_gcs_catalog_register_checks_for_data_and_missing_buckets(gcs: Any) -> None:
    team = _gcs_team(gcs)
    bucket = team.manifest.catalog[0]
    with pytest.raises(CatalogError, match=rf"dataset 'tiles': no data at {bucket.url}/tiles/"):
        team.catalog.register("tiles", f"{bucket.url}/tiles/", "parquet")
    gcs.bucket(bucket.bucket).blob("tiles/part-0.parquet").upload_from_string(b"PAR1")
    assert team.catalog.register("tiles", f"{bucket.url}/tiles/", "parquet").name == "tiles"
    gone = Team(gcp_manifest(team="gone"))
    with pytest.raises(CatalogError, match=r"cannot read the catalog index of team gone: bucket of gs://.* does not"):
        gone.catalog.list()
