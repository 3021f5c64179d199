"""The archive's storage: a local folder, or S3-compatible object storage through pyarrow.

``PATROL_ARCHIVE`` is a folder path or ``s3://bucket/prefix``; pyarrow's URI options go in
the query string (``s3://patrol/archive?endpoint_override=minio:9000&scheme=http``) and
credentials come from the usual ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``.

A write is durable before it returns: on a folder, the file is written under a temporary
name, fsynced, renamed over its final name and the folder fsynced; on S3 the object appears
whole when its upload completes. Readers never see half a file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


class ArchiveStorage:
    """Files of the archive, addressed by paths relative to its root."""

    def __init__(self, location: str, fsync: Callable[[int], None] = os.fsync) -> None:
        self.location = location
        self.fsync = fsync  # injectable, so a test can see what is fsynced, and when
        self.local = not location.startswith("s3://")
        if self.local:
            self.root = str(Path(location).resolve())
            self.fs: pafs.FileSystem = pafs.LocalFileSystem()
        else:
            fs, root = pafs.FileSystem.from_uri(location)
            self.fs, self.root = fs, root.rstrip("/")

    def ensure_root(self) -> None:
        """Create the folder, or the bucket (when the URL allows it), if it is missing."""
        if self.local:
            os.makedirs(self.root, exist_ok=True)
            return
        bucket = self.root.split("/", 1)[0]
        if self.fs.get_file_info(bucket).type == pafs.FileType.NotFound:
            try:
                self.fs.create_dir(bucket)
            except OSError as exc:
                raise OSError(f"archive bucket {bucket!r} does not exist and cannot be created "
                              f"({exc}): create it, or add allow_bucket_creation=true to "
                              "PATROL_ARCHIVE") from None

    def path(self, rel: str) -> str:
        """Return the full path of a file (what pyarrow and DuckDB open)."""
        return f"{self.root}/{rel}"

    def write_parquet(self, rel: str, table: pa.Table, **options: Any) -> int:
        """Write a Parquet file durably; return its size in bytes."""
        final = self.path(rel)
        if not self.local:
            with self.fs.open_output_stream(final) as out:
                pq.write_table(table, out, **options)
            return int(self.fs.get_file_info(final).size)
        folder = os.path.dirname(final)
        created = not os.path.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(final)}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as f:
                pq.write_table(table, f, **options)
                f.flush()
                self.fsync(f.fileno())
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_dir(folder, self.fsync)
        if created:  # the new day folder's own entry must survive a crash too
            _fsync_dir(os.path.dirname(folder), self.fsync)
            _fsync_dir(os.path.dirname(os.path.dirname(folder)), self.fsync)
        return os.path.getsize(final)

    def list_dir(self, rel: str) -> list[str]:
        """Return the names in a folder (empty if it does not exist), temporary files left out."""
        selector = pafs.FileSelector(self.path(rel), allow_not_found=True)
        names = [info.base_name for info in self.fs.get_file_info(selector)]
        return sorted(n for n in names if not n.startswith("."))

    def delete_file(self, rel: str) -> None:
        """Delete one file (gone already is fine)."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.path(rel))

    def file_size(self, rel: str) -> int:
        """Return one file's size in bytes."""
        return int(self.fs.get_file_info(self.path(rel)).size or 0)

    def delete_dir(self, rel: str) -> None:
        """Delete a folder and everything in it."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(self.path(rel))

    def size(self, rel: str) -> int:
        """Return the bytes of every file under a folder."""
        selector = pafs.FileSelector(self.path(rel), allow_not_found=True, recursive=True)
        return sum(int(i.size or 0) for i in self.fs.get_file_info(selector)
                   if i.type == pafs.FileType.File)


def _fsync_dir(folder: str, fsync: Callable[[int], None] = os.fsync) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fsync(fd)
    finally:
        os.close(fd)
