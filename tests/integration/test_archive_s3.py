"""The archive on S3-compatible storage: moto's S3 server on a free port, pyarrow's S3 client.

The same move and the same reads as on a folder (test_archive.py), through ``s3://`` with
the endpoint in the URL, as docker-compose's MinIO is used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from patrolwatch.archive.archiver import Archiver
from patrolwatch.archive.reader import ArchiveReader
from patrolwatch.archive.tiers import History
from patrolwatch.settings import Settings
from patrolwatch.store import Store
from tests.integration.test_archive import everything, fill
from tests.services import free_port

pytestmark = pytest.mark.integration
moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Return an s3:// archive URL on a fresh S3 server (the bucket made by the archiver)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield (f"s3://patrolwatch-test/archive?endpoint_override=127.0.0.1:{port}&scheme=http"
           "&region=us-east-1&allow_bucket_creation=true")
    server.stop()


def test_move_and_reads_on_s3(redis_url: str, s3_url: str) -> None:
    store = Store.from_url(redis_url)
    now = time.time()
    expected = fill(store, units=20, hours=3, every_s=30, end=now)
    settings = Settings(redis_url=redis_url, archive=s3_url, hot_hours=1)
    archiver = Archiver(settings, store)
    history = History(store, ArchiveReader(archiver.storage))
    before = history.trail("U0003", now - 4 * 3600, now, 100)
    result = archiver.run_once(now)
    assert result.points > 0 and result.files
    assert archiver.storage.list_dir("positions")  # day folders, on the S3 server
    got = everything(history, store, now - 4 * 3600, now)
    assert len(got) == len(set(got)) and set(got) == expected
    assert history.trail("U0003", now - 4 * 3600, now, 100) == before
