"""Spill files: what the compare stage collects before it can link, kept on disk, not in memory."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.spill import Spilled  # noqa: E402

RECORD = np.dtype([("key", "<i8"), ("paragraph", "<i4"), ("words", "<i4")])


def records(start: int, count: int) -> np.ndarray:
    out = np.zeros(count, dtype=RECORD)
    out["key"] = np.arange(start, start + count) * 7919 - 2**40
    out["paragraph"], out["words"] = np.arange(start, start + count), np.arange(count) % 13
    return out


def test_records_read_back_as_appended_by_position_and_in_batches(tmp_path):
    spilled = Spilled(RECORD, tmp_path)
    expected = np.concatenate([records(0, 5), records(5, 1_000), records(1_005, 0), records(1_005, 37)])
    for start, count in ((0, 5), (5, 1_000), (1_005, 0), (1_005, 37)):
        spilled.append(records(start, count))
    assert len(spilled) == 1_042
    assert spilled.read().tolist() == expected.tolist()
    assert spilled.read(1_000, 1_010).tolist() == expected[1_000:1_010].tolist()
    assert spilled.read(1_040, 5_000).tolist() == expected[1_040:].tolist()
    assert [len(batch) for batch in spilled.batches(400)] == [400, 400, 242]
    assert np.concatenate(list(spilled.batches(400))).tolist() == expected.tolist()
    # Appending after reading goes after the rest, not where the last read stopped.
    spilled.append(records(2_000, 3))
    assert spilled.read(1_042).tolist() == records(2_000, 3).tolist()


def test_a_spill_file_has_no_name_and_is_gone_once_closed(tmp_path):
    spilled = Spilled("<u8", tmp_path)
    spilled.append(np.arange(100_000, dtype=np.uint64))
    assert list(tmp_path.iterdir()) == []  # nothing to clean up after a crash
    spilled.close()
    assert len(spilled) == 0 and len(spilled.read()) == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see where an unnamed file is")
def test_the_compare_stage_spills_beside_the_archive_not_in_the_temporary_directory(tmp_path, monkeypatch):
    """The spill files of a build go to the archive's own directory (its disk), whatever
    TMPDIR says: a /tmp in memory would take what the spill saves."""
    from ingest.build import build

    opened = []
    make = tempfile.TemporaryFile

    def watched(*args, **kwargs):
        file = make(*args, **kwargs)
        opened.append(os.readlink(f"/proc/self/fd/{file.fileno()}"))
        return file

    monkeypatch.setattr(tempfile, "TemporaryFile", watched)
    elsewhere = tmp_path / "tmp"
    elsewhere.mkdir()
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    archive = tmp_path / "out" / "archive.db"
    archive.parent.mkdir()
    build(sorted((ROOT / "seeds").iterdir()), archive, progress=False)
    assert opened
    assert all(path.startswith(str(archive.parent) + os.sep) for path in opened), opened
    assert sorted(path.name for path in archive.parent.iterdir() if not path.name.endswith(".json")) == ["archive.db"]
