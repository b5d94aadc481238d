"""Files: what the read stage found, kept for the rest of the build in a temporary SQLite
database rather than in Python — every article file, its state on disk and its article, and for
an update the last build's record of them (its archive attached read-only) to compare with.

As lists and dicts in the building process they took ~800 bytes a file (40 MB at a million
paragraphs) from the read stage to the end of the build, in memory it could not give back; here
they take a page cache of a megabyte, the rest in a file that SQLite deletes itself.
"""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path
from typing import Iterator

from . import read
from .load import read_only_uri, to_json

# Files looked at, hashed and written back at once, and sent on to be processed at once.
BATCH = 1_000
# SQLite's page cache for the list, in KiB: it is read and written in order, a batch at a time.
CACHE_KIB = 1_000

STATE_COLUMNS = ", ".join(read.FileState._fields)  # path, device, inode, …
LOOKED_AT = ", ".join(read.FileState._fields[1:])  # what looking at a file by its path tells

SCHEMA = f"""
-- Every file as found, a path named twice kept once (the first time).
CREATE TABLE found (number INTEGER PRIMARY KEY, path TEXT UNIQUE, relpath TEXT, provenance BLOB);
-- The files in the order they are read, by the path shown; the state each had when looked at,
-- whether it is old enough to be trusted next time (see build.RECENT_NS), and its article (none:
-- it could not be read).
CREATE TABLE files (
    number INTEGER PRIMARY KEY, path TEXT, relpath TEXT, provenance BLOB,
    {LOOKED_AT}, settled INTEGER, article_id TEXT
);
-- Each article found, with its first file (the one processed); whether the archive lacks it, and
-- whether processing it failed.
CREATE TABLE articles (number INTEGER PRIMARY KEY, article_id TEXT UNIQUE, new INTEGER, failed INTEGER DEFAULT 0);
"""


class FoundFiles:
    """The article files a build found, and for an update (`previous`, the archive it updates)
    what the last build saw. Used in the order the build runs: `add`, `identify`, `choose`, then
    the questions; `close` when done."""

    def __init__(self, previous: Path | None = None):
        # "": a private database in a temporary file that SQLite deletes when it is closed.
        self.conn = sqlite3.connect("", uri=True, isolation_level=None)
        self.conn.executescript(f"PRAGMA cache_size=-{CACHE_KIB}; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        self.conn.executescript(SCHEMA)
        self.previous = previous is not None
        if previous:
            self.conn.execute("ATTACH DATABASE ? AS previous", (read_only_uri(previous),))

    def add(self, paths: list[Path]) -> list[tuple[str, str]]:
        """Find every article file named or found under `paths`; return (path, problem) for each
        path that could not be used."""
        problems: list[tuple[str, str]] = []
        self.conn.executemany(
            "INSERT OR IGNORE INTO found (path, relpath, provenance) VALUES (?, ?, ?)",
            ((source.path, source.relpath, pickle.dumps(source.provenance) if source.provenance else None)
             for source in named_in_utf8(read.each_source(paths, problems), problems)),
        )
        self.conn.execute("INSERT INTO files (path, relpath, provenance) "
                          "SELECT path, relpath, provenance FROM found ORDER BY relpath, number")
        self.conn.execute("DELETE FROM found")
        return problems

    def identify(self, settled_before: int) -> Iterator[tuple[str, str]]:
        """Look at every file and give it its article id: the one the last build saw it with if
        it is in the state it was seen in, else that of its bytes. A file changed at or after
        `settled_before` (ns) is not trusted next time. Yields (path shown, error) for each file
        that cannot be read, in order."""
        for first, last in self._batches():
            rows = self.conn.execute("SELECT number, path FROM files WHERE number BETWEEN ? AND ?", (first, last)).fetchall()
            self.conn.executemany(
                f"UPDATE files SET ({LOOKED_AT}, settled) = (?, ?, ?, ?, ?, ?) WHERE number = ?",
                (state_values(read.file_state(path), settled_before) + (number,) for number, path in rows),
            )
            if self.previous:
                self.conn.execute(
                    "UPDATE files SET article_id = (SELECT s.article_id FROM previous.seen_files s WHERE "
                    + " AND ".join(f"s.{name} = files.{name}" for name in read.FileState._fields)
                    + ") WHERE number BETWEEN ? AND ?", (first, last),
                )
            unknown = self.conn.execute("SELECT number, path, relpath FROM files WHERE number BETWEEN ? AND ? "
                                        "AND article_id IS NULL", (first, last)).fetchall()
            identified = []
            for number, path, relpath in unknown:
                try:
                    identified.append((read.identify(read.Source(path, relpath)), number))
                except read.ReadError as error:
                    yield relpath, str(error)
            self.conn.executemany("UPDATE files SET article_id = ? WHERE number = ?", identified)

    def choose(self) -> None:
        """Make each article's first file the one processed (identical bytes under two names are one
        article), and note which articles the archive lacks."""
        self.conn.execute("INSERT INTO articles (article_id, number, new) SELECT article_id, min(number), 1 "
                          "FROM files WHERE article_id IS NOT NULL GROUP BY article_id ORDER BY min(number)")
        if self.previous:
            self.conn.execute("UPDATE articles SET new = 0 WHERE article_id IN (SELECT id FROM previous.articles)")

    def new_count(self) -> int:
        """How many articles are new to the archive: the files to process."""
        return self.conn.execute("SELECT count(*) FROM articles WHERE new").fetchone()[0]

    def known_count(self) -> int:
        """How many articles the archive being updated holds (0 for a new archive)."""
        if not self.previous:
            return 0
        return self.conn.execute("SELECT count(*) FROM previous.articles").fetchone()[0]

    def new_sources(self) -> Iterator[read.Source]:
        """The first file of every article new to the archive, in the order read, a batch at a time."""
        last = 0
        while batch := self.conn.execute(
            "SELECT a.number, f.path, f.relpath, f.provenance FROM articles a JOIN files f USING (number) "
            "WHERE a.new AND a.number > ? ORDER BY a.number LIMIT ?", (last, BATCH),
        ).fetchall():
            last = batch[-1][0]
            for _, path, relpath, provenance in batch:
                yield read.Source(path, relpath, pickle.loads(provenance) if provenance else read.NO_PROVENANCE)

    def holds_as_before(self, errors: list[tuple[str, str]]) -> bool:
        """Whether the archive being updated was built from exactly these files: the same paths for
        the same articles, every file in the state the last build saw it in, and the same `errors`
        (so that a build with no file to process would leave it as it is)."""
        paths_now = "SELECT article_id, relpath FROM files WHERE article_id IS NOT NULL"
        paths_then = "SELECT article_id, path FROM previous.article_paths"
        seen_now = f"SELECT {STATE_COLUMNS}, article_id FROM files WHERE settled AND article_id IS NOT NULL"
        seen_then = f"SELECT {STATE_COLUMNS}, article_id FROM previous.seen_files"
        for one, other in ((paths_now, paths_then), (paths_then, paths_now), (seen_now, seen_then), (seen_then, seen_now)):
            if self.conn.execute(f"SELECT 1 FROM ({one} EXCEPT {other}) LIMIT 1").fetchone():
                return False
        errors_then = self.conn.execute("SELECT path, error FROM previous.ingest_errors ORDER BY path, error").fetchall()
        return sorted(errors) == errors_then

    def mark_failed(self, relpaths: set[str]) -> None:
        """Note the articles whose file, processed, turned out not to be an article: not stored."""
        self.conn.execute(
            "UPDATE articles SET failed = 1 WHERE number IN (SELECT number FROM files WHERE relpath IN "
            "(SELECT value FROM json_each(?)))", (to_json(sorted(relpaths)),),
        )

    def removed_articles(self) -> list[str]:
        """The archive's articles that this build does not store (their files are gone), sorted."""
        if not self.previous:
            return []
        return [row[0] for row in self.conn.execute(
            "SELECT id FROM previous.articles WHERE id NOT IN (SELECT article_id FROM articles WHERE NOT failed) ORDER BY id"
        )]

    def article_paths(self) -> Iterator[dict]:
        """A row (article id, path shown) for every file of an article stored, sorted (article_paths)."""
        rows = self.conn.execute(
            "SELECT DISTINCT article_id, relpath FROM files WHERE article_id IN "
            "(SELECT article_id FROM articles WHERE NOT failed) ORDER BY article_id, relpath"
        )
        return ({"article_id": article_id, "path": path} for article_id, path in rows)

    def seen_files(self) -> Iterator[dict]:
        """A row of every settled file of an article stored, with its state (seen_files)."""
        rows = self.conn.execute(
            f"SELECT {STATE_COLUMNS}, article_id FROM files WHERE settled AND article_id IN "
            "(SELECT article_id FROM articles WHERE NOT failed) ORDER BY number"
        )
        names = read.FileState._fields + ("article_id",)
        return (dict(zip(names, row)) for row in rows)

    def close(self) -> None:
        """Let the list go (SQLite deletes its file) and the archive being updated."""
        self.conn.close()

    def _batches(self) -> Iterator[tuple[int, int]]:
        """The first and last number of each batch of the files."""
        count = self.conn.execute("SELECT coalesce(max(number), 0) FROM files").fetchone()[0]
        for first in range(1, count + 1, BATCH):
            yield first, min(first + BATCH - 1, count)


def state_values(state: read.FileState | None, settled_before: int) -> tuple:
    """A file's state as the files table's columns (nulls when it could not be looked at)."""
    if state is None:
        return (None,) * 6
    return tuple(state[1:]) + (int(state.ctime_ns < settled_before),)


def named_in_utf8(sources, problems: list[tuple[str, str]]):
    """The sources whose paths can be stored (a name that is not UTF-8 cannot be shown or kept),
    adding the others to `problems`."""
    for source in sources:
        try:
            source.path.encode("utf-8")
            yield source
        except UnicodeEncodeError:
            problems.append((source.relpath.encode("utf-8", "replace").decode(), "its name is not UTF-8: rename the file"))
