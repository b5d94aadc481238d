"""The build's memory: what SQLite holds for the build file is given back before the compare
stage, which holds every paragraph's fingerprint."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import _sqlite3
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest import load  # noqa: E402

MB = 1 << 20


def sqlite_memory_used() -> int:
    """Bytes SQLite has allocated in this process (the library Python's sqlite3 module uses)."""
    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        pytest.skip("this Python's SQLite does not export sqlite3_memory_used")
    used.restype = ctypes.c_int64
    return used()


def test_release_memory_gives_back_the_bulk_loads_page_cache(tmp_path, monkeypatch):
    """The bulk load's pages stay dirty in the cache until committed, and a dirty page cannot be
    freed: releasing must write them out first."""
    monkeypatch.setattr(load, "CACHE_KIB", 64_000)  # room for every row below: only a release empties it
    # Measured against what SQLite held before: other tests' connections may still be open.
    before = sqlite_memory_used()
    writer = load.ArchiveWriter(tmp_path / "archive.db")
    try:
        for number in range(20_000):
            writer.add("paragraphs", {"id": f"a-{number:05d}", "article_id": "a", "position": number, "text": "word " * 80})
        writer.flush()
        filled = sqlite_memory_used() - before
        assert filled > 8 * MB  # the 8 MB of text sit in the page cache
        writer.release_memory()
        assert sqlite_memory_used() - before < 2 * MB
        assert writer.conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0] == 20_000
    finally:
        writer.abort()
