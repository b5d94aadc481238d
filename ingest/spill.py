"""Spill: records a stage collects as it goes and reads back later, kept in an unnamed temporary
file instead of in memory.

The compare stage gathers every paragraph's sentence hashes and MinHash signatures before it can
link any (~85 MB at a million paragraphs, and growing with the archive); each is read back in
passes of a bounded size, so in a file they cost the build's memory only the pass being made.
The file sits in the directory given (the build's, so that it lands on the archive's disk rather
than on a /tmp that may be memory) and has no name: it is gone when closed or when the process
ends, however it ends.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np


class Spilled:
    """Records of one numpy dtype, appended in order and read back by position."""

    def __init__(self, dtype, directory: str | os.PathLike | None = None):
        self.dtype = np.dtype(dtype)
        self.directory = directory
        self._file = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, records: np.ndarray) -> None:
        """Add records (an array of this dtype, or one that casts to it) after the others."""
        records = np.ascontiguousarray(records, dtype=self.dtype)
        if not len(records):
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self.directory, prefix="ingest-spill-")
        self._file.seek(0, os.SEEK_END)
        self._file.write(records.reshape(-1).view(np.uint8))
        self._count += len(records)

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The records from `start` up to `stop` (all the rest when None), as a new array."""
        stop = self._count if stop is None else min(stop, self._count)
        out = np.empty(max(0, stop - start), dtype=self.dtype)
        if len(out):
            self._file.seek(start * self.dtype.itemsize)
            if self._file.readinto(out.view(np.uint8)) != out.nbytes:
                raise OSError(f"spill file {self._file.name}: {len(out)} records from {start} could not be read back")
        return out

    def batches(self, size: int):
        """All the records in order, `size` at a time."""
        for start in range(0, self._count, size):
            yield self.read(start, start + size)

    def close(self) -> None:
        """Let the records go (the file is deleted)."""
        if self._file is not None:
            self._file.close()
        self._file, self._count = None, 0
