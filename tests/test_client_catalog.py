"""The catalog against real stand-ins: the index in moto's S3 (and the GCS emulator), data read by Dask
through s3fs/gcsfs on a small distributed LocalCluster, concurrent registrations from threads and processes."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from standins import *  # noqa: F403  (the stand-in fixtures)
from standins import AWS_TEST_ENV, AwsTeam, gcp_manifest

import teamstack
from teamstack.client import CatalogError, Team
from teamstack.client.catalog import INDEX_KEY
from teamstack.manifest import CatalogBucket

FRAME = pd.DataFrame({"image_id": range(40), "label": ["cat", "dog"] * 20, "score": [i / 40 for i in range(40)]})


@pytest.fixture
def team(aws_team: AwsTeam) -> Iterator[Team]:
    connected = teamstack.connect("ml-vision")
    yield connected
    # Each test starts from an empty catalog (the bucket itself is the session's).
    aws_team.client("s3").delete_object(Bucket=aws_team.manifest.catalog[0].bucket, Key=INDEX_KEY)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _write_parquet(aws_team: AwsTeam, bucket: str, prefix: str) -> str:
    import s3fs

    fs = s3fs.S3FileSystem()
    url = f"s3://{bucket}/{prefix}"
    with fs.open(f"{url}/part-0.parquet", "wb") as handle:
        FRAME.iloc[:20].to_parquet(handle)
    with fs.open(f"{url}/part-1.parquet", "wb") as handle:
        FRAME.iloc[20:].to_parquet(handle)
    return url


def test_the_index_lives_in_the_first_catalog_bucket(team: Team, aws_team: AwsTeam) -> None:
    team.catalog.register(
        "labels", "s3://ml-vision-raw-123456789012/labels/", "parquet", "vendor labels", "ana", allow_empty=True
    )
    body = aws_team.client("s3").get_object(Bucket=aws_team.manifest.catalog[0].bucket, Key=INDEX_KEY)["Body"]
    index = json.loads(body.read())
    assert index["schemaVersion"] == 1 and index["team"] == "ml-vision"
    assert index["datasets"]["labels"]["url"] == "s3://ml-vision-raw-123456789012/labels/"
    assert index["datasets"]["labels"]["owner"] == "ana"
    assert [d.name for d in team.catalog.list()] == ["labels"]


def test_connect_to_dataframe_on_a_dask_cluster(team: Team, aws_team: AwsTeam, dask_client: object) -> None:
    url = _write_parquet(aws_team, aws_team.manifest.catalog[1].bucket, "embeddings/v1")
    team.catalog.register("embeddings", url, "parquet", "image embeddings")

    frame = teamstack.connect("ml-vision").catalog.open("embeddings")
    assert frame.npartitions == 2
    result = frame.groupby("label").score.count().compute().sort_index()  # runs on the LocalCluster
    assert result.to_dict() == {"cat": 20, "dog": 20}
    assert sorted(frame.image_id.compute().tolist()) == list(range(40))


def test_csv_datasets_open_as_dataframes(team: Team, aws_team: AwsTeam, dask_client: object) -> None:
    aws_team.client("s3").put_object(
        Bucket=aws_team.manifest.catalog[0].bucket, Key="csv/labels.csv", Body=FRAME.to_csv(index=False).encode()
    )
    team.catalog.register("labels-csv", f"s3://{aws_team.manifest.catalog[0].bucket}/csv/", "csv")
    assert len(team.catalog.open("labels-csv").compute()) == 40


def test_registering_over_a_name_needs_overwrite(team: Team) -> None:
    first = team.catalog.register(
        "scans", "s3://ml-vision-raw-123456789012/scans/", "parquet", owner="ana", allow_empty=True
    )
    with pytest.raises(CatalogError, match=r"already exists.*overwrite=True"):
        team.catalog.register("scans", "s3://ml-vision-raw-123456789012/other/", "parquet", allow_empty=True)
    assert team.catalog.show("scans").url.endswith("/scans/")
    replaced = team.catalog.register(
        "scans", "s3://ml-vision-raw-123456789012/v2/", "csv", owner="bo", overwrite=True, allow_empty=True
    )
    assert replaced.created == first.created and replaced.url.endswith("/v2/") and replaced.format == "csv"


@pytest.mark.parametrize(
    ("name", "url", "fmt", "message"),
    [
        ("Scans", "s3://b-123/x", "parquet", "invalid dataset name"),
        ("-scans", "s3://b-123/x", "parquet", "invalid dataset name"),
        ("a" * 65, "s3://b-123/x", "parquet", "invalid dataset name"),
        ("with space", "s3://b-123/x", "parquet", "invalid dataset name"),
        ("scans", "/local/path", "parquet", "must start with s3:// or gs://"),
        ("scans", "s3://b-123/x", "xlsx", "not one of parquet, csv, json, files"),
    ],
)
def test_bad_registrations_are_refused(team: Team, name: str, url: str, fmt: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        team.catalog.register(name, url, fmt)
    assert team.catalog.list() == []


def test_unknown_dataset_names_the_index(team: Team) -> None:
    with pytest.raises(CatalogError, match=r"no dataset 'nope'.*s3://ml-vision-raw-123456789012/teamstack/catalog"):
        team.catalog.open("nope")


def test_remove_drops_the_entry_but_not_the_data(team: Team, aws_team: AwsTeam) -> None:
    url = _write_parquet(aws_team, aws_team.manifest.catalog[1].bucket, "to-forget")
    team.catalog.register("forget-me", url, "parquet")
    team.catalog.remove("forget-me")
    assert team.catalog.list() == []
    listed = aws_team.client("s3").list_objects_v2(Bucket=aws_team.manifest.catalog[1].bucket, Prefix="to-forget/")
    assert listed["KeyCount"] == 2


def test_shared_datasets_are_listed_read_only(team: Team, aws_team: AwsTeam, dask_client: object) -> None:
    s3 = aws_team.client("s3")
    s3.create_bucket(Bucket="analytics-raw-123456789012", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    url = _write_parquet(aws_team, "analytics-raw-123456789012", "sales")
    bucket = CatalogBucket(
        name="raw", bucket="analytics-raw-123456789012", url="s3://analytics-raw-123456789012", description="raw"
    )
    analytics = Team(aws_team.manifest.model_copy(update={"team": "analytics", "catalog": [bucket]}))
    analytics.catalog.register("sales", url, "parquet", "daily sales")

    shared = teamstack.connect("ml-vision", shared_catalogs={"analytics": "s3://analytics-raw-123456789012"})
    with pytest.raises(CatalogError, match="outside the team's catalog buckets"):
        team.catalog.register("mine", url, "parquet")  # not connected with the share: not readable as one
    shared.catalog.register("mine", url, "parquet")
    listed = {d.name: d for d in shared.catalog.list()}
    assert set(listed) == {"mine", "analytics/sales"}
    assert listed["analytics/sales"].read_only and listed["analytics/sales"].team == "analytics"
    assert not listed["mine"].read_only
    assert len(shared.catalog.open("analytics/sales").compute()) == 40
    with pytest.raises(CatalogError, match="shared read-only by team analytics"):
        shared.catalog.register("analytics/sales", url, "parquet", overwrite=True)
    with pytest.raises(CatalogError, match="shared read-only"):
        shared.catalog.remove("analytics/sales")


def test_concurrent_registrations_from_threads_all_survive(team: Team) -> None:
    names = [f"thread-{i:02d}" for i in range(16)]

    def register(name: str) -> str:
        # A separate connection per thread: separate clients, each with its own read-modify-write.
        return (
            teamstack.connect("ml-vision")
            .catalog.register(name, f"s3://ml-vision-raw-123456789012/{name}/", "parquet", allow_empty=True)
            .name
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(register, names)) == names
    assert [d.name for d in team.catalog.list()] == names


def _register_in_process(endpoint: str, names: list[str]) -> None:
    os.environ.update(AWS_TEST_ENV, AWS_ENDPOINT_URL=endpoint)
    catalog = teamstack.connect("ml-vision").catalog
    for name in names:
        catalog.register(name, f"s3://ml-vision-raw-123456789012/{name}/", "csv", allow_empty=True)


def test_concurrent_registrations_from_processes_all_survive(team: Team, aws_team: AwsTeam) -> None:
    context = multiprocessing.get_context("spawn")
    batches = [[f"proc{p}-{i}" for i in range(4)] for p in range(3)]
    processes = [context.Process(target=_register_in_process, args=(aws_team.endpoint, b)) for b in batches]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert sorted(d.name for d in team.catalog.list()) == sorted(n for b in batches for n in b)


def test_a_lost_race_is_retried_not_overwritten(team: Team, aws_team: AwsTeam) -> None:
    """Between this client's read and its write, someone else writes: the conditional put fails, is retried."""
    catalog = team.catalog
    store = catalog.store
    original_write = store.write
    raced = []

    def write_after_a_rival(key: str, data: bytes, *, expected: str | None, content_type: str) -> str:
        if not raced:
            raced.append(True)
            teamstack.connect("ml-vision").catalog.register(
                "rival", "s3://ml-vision-raw-123456789012/r/", "csv", allow_empty=True
            )
        return original_write(key, data, expected=expected, content_type=content_type)

    store.write = write_after_a_rival  # type: ignore[method-assign]
    catalog.register("mine", "s3://ml-vision-raw-123456789012/m/", "csv", allow_empty=True)
    assert [d.name for d in team.catalog.list()] == ["mine", "rival"]


def test_register_refuses_other_teams_buckets_and_dead_links(team: Team, aws_team: AwsTeam) -> None:
    s3 = aws_team.client("s3")
    s3.create_bucket(Bucket="finance-raw-123456789012", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket="finance-raw-123456789012", Key="ledger/part-0.csv", Body=b"a,b\n1,2\n")
    with pytest.raises(CatalogError, match=r"dataset 'ledger': s3://finance-raw-123456789012/ledger/ is outside"):
        team.catalog.register("ledger", "s3://finance-raw-123456789012/ledger/", "csv")
    empty = f"s3://{aws_team.manifest.catalog[1].bucket}/not-yet/"
    with pytest.raises(CatalogError, match=r"dataset 'later': no data at s3://.*/not-yet/.*allow_empty=True") as caught:
        team.catalog.register("later", empty, "parquet")
    assert "\n" not in str(caught.value)
    assert team.catalog.list() == []
    assert team.catalog.register("later", empty, "parquet", allow_empty=True).url == empty


def test_opening_data_that_is_gone_is_one_line(team: Team, aws_team: AwsTeam) -> None:
    bucket = aws_team.manifest.catalog[1].bucket
    for fmt, key in (("parquet", "gone-p/part-0.parquet"), ("csv", "gone-c/part-0.csv"), ("files", "gone-f/a.bin")):
        aws_team.client("s3").put_object(Bucket=bucket, Key=key, Body=b"x")
        team.catalog.register(f"gone-{fmt}", f"s3://{bucket}/{key.split('/')[0]}/", fmt)
        aws_team.client("s3").delete_object(Bucket=bucket, Key=key)
        with pytest.raises(CatalogError, match=rf"dataset 'gone-{fmt}': no data at s3://{bucket}/gone-") as caught:
            team.catalog.open(f"gone-{fmt}")
        assert "\n" not in str(caught.value) and "ask its owner" in str(caught.value)


def test_a_missing_catalog_bucket_or_no_credentials_is_a_catalog_error(
    aws_team: AwsTeam, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = CatalogBucket(name="raw", bucket="ml-vision-gone-123456789012", url="s3://ml-vision-gone-123456789012",
                         description="")  # fmt: skip
    team = Team(aws_team.manifest.model_copy(update={"catalog": [gone]}))
    with pytest.raises(CatalogError, match=r"cannot read the catalog index of team ml-vision: bucket of "
                       r"s3://ml-vision-gone-123456789012/teamstack/catalog.json does not exist"):  # fmt: skip
        team.catalog.list()
    with pytest.raises(CatalogError, match=r"dataset 'x': cannot read the catalog index"):
        team.catalog.register("x", "s3://ml-vision-gone-123456789012/x/", "csv", allow_empty=True)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CatalogError, match=r"cannot check for data at s3://ml-vision-raw-.*: no AWS credentials"):
        teamstack.connect(manifest=_manifest_file(aws_team)).catalog.register(
            "x", f"{aws_team.manifest.catalog[0].url}/x/", "csv"
        )


def _manifest_file(aws_team: AwsTeam) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(aws_team.manifest.to_json())
    return handle.name


def test_the_loser_of_an_overwrite_race_is_told(team: Team, aws_team: AwsTeam) -> None:
    url = f"{aws_team.manifest.catalog[0].url}/scans/"
    team.catalog.register("scans", url, "csv", owner="ana", allow_empty=True)
    catalog = teamstack.connect("ml-vision").catalog
    original_write = catalog.store.write
    raced: list[bool] = []

    def write_after_a_rival(key: str, data: bytes, *, expected: str | None, content_type: str) -> str:
        if not raced:
            raced.append(True)  # the rival overwrites the same entry between our read and our write
            teamstack.connect("ml-vision").catalog.register(
                "scans", f"{url}rival/", "csv", owner="bo", overwrite=True, allow_empty=True
            )
        return original_write(key, data, expected=expected, content_type=content_type)

    catalog.store.write = write_after_a_rival  # type: ignore[method-assign]
    with pytest.raises(CatalogError, match=r"dataset 'scans' was changed by bo at .* it now points at s3://.*/rival/"):
        catalog.register("scans", f"{url}mine/", "csv", owner="cy", overwrite=True, allow_empty=True)
    assert team.catalog.show("scans").owner == "bo"  # the winner's entry stands, and only the loser was told


def test_gcs_catalog_reads_through_gcsfs(gcs_env: str, dask_client: object) -> None:
    import gcsfs
    from google.cloud import storage

    manifest = gcp_manifest()
    bucket = storage.Client().create_bucket(manifest.catalog[0].bucket)
    # Written with google-cloud-storage: gcsfs' resumable upload does not complete against the emulator.
    bucket.blob("tiles/part-0.parquet").upload_from_string(FRAME.to_parquet())
    url = f"gs://{manifest.catalog[0].bucket}/tiles"
    assert gcsfs.GCSFileSystem(project=manifest.account, token="anon").ls(url) == [f"{url[5:]}/part-0.parquet"]

    team = Team(manifest)
    team.catalog.register("tiles", url, "parquet", "map tiles", storage_options={"token": "anon"})
    assert [d.name for d in team.catalog.list()] == ["tiles"]
    with pytest.raises(CatalogError, match="already exists"):
        team.catalog.register("tiles", url, "parquet")
    frame = team.catalog.open("tiles")
    assert frame.score.sum().compute() == pytest.approx(FRAME.score.sum())
