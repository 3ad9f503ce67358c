import boto3
import pytest

from sentiment_pipeline.records.store import LocalStore, S3Store, StoreError, open_store, read_uri


def _exercise(store):
    store.write_bytes("runs/a/x.json", b"{}")
    store.write_bytes("runs/a/model/m.bin", b"\x00\x01")
    store.write_bytes("latest.json", b'{"run_id": "a"}')
    assert store.read_bytes("runs/a/model/m.bin") == b"\x00\x01"
    assert store.exists("latest.json") and not store.exists("runs/b/x.json")
    assert store.list("runs/") == ["runs/a/model/m.bin", "runs/a/x.json"]
    assert "latest.json" in store.list()
    with pytest.raises(StoreError, match="does not exist"):
        store.read_bytes("runs/missing.json")
    with pytest.raises(StoreError, match="invalid store key"):
        store.write_bytes("../escape", b"")
    # compare-and-swap: what claims a run id (S3 conditional writes, a lock file locally)
    assert store.replace_if("claims/m.json", b"1", None)
    assert not store.replace_if("claims/m.json", b"2", None)  # exists already
    assert not store.replace_if("claims/m.json", b"2", b"0")  # holds something else
    assert store.replace_if("claims/m.json", b"2", b"1") and store.read_bytes("claims/m.json") == b"2"
    assert not store.replace_if("claims/other.json", b"1", b"0") and not store.exists("claims/other.json")


def test_local_store(tmp_path):
    store = open_store(f"file://{tmp_path}/root")
    assert isinstance(store, LocalStore)
    _exercise(store)
    assert (tmp_path / "root" / "runs" / "a" / "x.json").stat().st_mode & 0o044  # readable by others
    assert not [p for p in (tmp_path / "root").rglob(".*")]  # no temp files left behind


def test_os_errors_of_a_local_store_are_one_line_store_errors(tmp_path):
    """A file where the store's folder should be, or a folder where a record file should be: StoreError (the
    CLI's exit 2 and one `error:` line), not a traceback."""
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StoreError, match=r"cannot write to the store file://.*a-file: Not a directory") as info:
        LocalStore(tmp_path / "a-file").write_bytes("runs/r/manifest.json", b"{}")
    assert "\n" not in str(info.value)
    store = LocalStore(tmp_path / "store")
    (tmp_path / "store" / "runs" / "r" / "params.json").mkdir(parents=True)
    with pytest.raises(StoreError, match=r"cannot read .*params.json: Is a directory"):
        store.read_bytes("runs/r/params.json")
    with pytest.raises(StoreError, match=r"cannot write .*params.json: Is a directory"):
        store.write_bytes("runs/r/params.json", b"{}")
    assert not [p for p in (tmp_path / "store").rglob(".*")]  # no temp file left behind


@pytest.mark.slow  # starts a moto server
def test_s3_store_against_moto_server(aws_env):
    boto3.client("s3").create_bucket(Bucket="records")
    store = open_store("s3://records/team/pipeline/")
    assert isinstance(store, S3Store) and store.uri == "s3://records/team/pipeline"
    _exercise(store)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="records")["Contents"]]
    assert "team/pipeline/latest.json" in keys
    assert read_uri("s3://records/team/pipeline/latest.json") == b'{"run_id": "a"}'
    with pytest.raises(StoreError, match="bucket of s3://nope/x does not exist"):
        open_store("s3://nope").read_bytes("x")


def test_missing_credentials_is_a_clear_error(monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # forget credentials cached by earlier tests
    with pytest.raises(StoreError, match="no AWS credentials"):
        open_store("s3://bucket/prefix").write_bytes("k", b"v")


def test_read_uri_local_and_errors(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"abc")
    assert read_uri(str(tmp_path / "d.csv")) == b"abc"
    assert read_uri(f"file://{tmp_path}/d.csv") == b"abc"
    with pytest.raises(StoreError, match="does not exist"):
        read_uri(str(tmp_path / "nope.csv"))
    with pytest.raises(StoreError, match="is a folder"):
        read_uri(str(tmp_path))
    with pytest.raises(StoreError, match="unsupported data URI"):
        read_uri("ftp://host/file.csv")
    with pytest.raises(StoreError, match="cannot download"):
        read_uri("http://127.0.0.1:9/nothing.csv", timeout=2)


def test_every_s3_client_the_project_makes_has_timeouts_and_bounded_retries(monkeypatch):
    """boto3's own clients have no connect/read bounds worth the name (60 s a read, retried): a hung S3 endpoint hung
    the run. The store's clients and papermill's (which writes the executed notebooks) share one Config."""
    from papermill.s3 import S3

    from sentiment_pipeline.records import store as store_module
    from sentiment_pipeline.training.notebook_execution import _notebook_io

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    _notebook_io()
    clients = {
        "store": S3Store("s3://bucket/prefix").client,
        "read_uri": store_module._s3_client(),
        "papermill client": S3().client,
        "papermill resource": S3().s3.meta.client,
    }
    for name, client in clients.items():
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (5, 15), name
        assert config.retries == {"total_max_attempts": 3, "mode": "standard"}, name
