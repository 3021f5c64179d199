"""The archive's local write path fsyncs the file before it is renamed into place, then the folder.

What this shows: every byte of the Parquet file is written when fsync is called on it, under
its temporary name, before the final name exists, and the folder holding the new name is
fsynced after the rename. What it cannot show: that the disk honours fsync (only a power cut
could); it catches the fsync being removed or moved after the rename (issue 15 item 10).
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from patrolwatch.archive.storage import ArchiveStorage

REL = "positions/day=2025-12-01/h12-x.parquet"


def test_the_file_is_fsynced_whole_before_its_rename_and_the_folders_after(
        tmp_path: Path) -> None:
    calls: list[tuple[str, int, bool]] = []  # (what the fd names, its size, final name exists)

    def recording_fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        calls.append((name, os.fstat(fd).st_size, os.path.exists(storage.path(REL))))
        os.fsync(fd)

    storage = ArchiveStorage(str(tmp_path), fsync=recording_fsync)
    size = storage.write_parquet(REL, pa.table({"ts": [1.0, 2.0], "unit": ["A", "B"]}))
    final = storage.path(REL)
    folder = os.path.dirname(final)
    assert calls, "nothing was fsynced"
    name, synced_size, final_existed = calls[0]
    assert name.endswith(".tmp") and os.path.dirname(name) == folder
    assert synced_size == size  # the whole file, not part of it
    assert not final_existed  # before the rename: a crash leaves the old file or the new one
    assert (folder, True) in [(n, exists) for n, _, exists in calls[1:]]  # the new name kept
    assert {n for n, _, _ in calls[1:]} == {folder, os.path.dirname(folder),
                                           os.path.dirname(os.path.dirname(folder))}
