"""Compare: the stages that look across articles, run over the whole archive once it is loaded.

Per-article stages (segment, tag meetings and topics, find quotes) see one file at a time.
Whether a paragraph is a copy of another outlet's, or a name is a rare misspelling of one the
rest of the archive spells otherwise, depends on every other article. So these run after the
load, over every paragraph in the database — on full builds, incremental builds and merges
alike, which keeps their answers the same however the archive was put together.

- `link_copies()` fills `paragraph_copies` and `reports` (the reports carried by more than one
  paragraph, with how many paragraphs and articles carry each) and sets each paragraph's `report_id` (the
  paragraph that first carried the report) and `report` ("original" or "copy"). It keeps what
  it wrote, by rowid, in `copy_state`, so that the next run writes only what differs, and what
  it linked (the paragraphs' prints as the finder's columns) in `copy_inputs`. An incremental
  build finds the links beforehand with `AheadLinks`, while its archive is copied, starting from
  those columns rather than from every paragraph's print.
- `score_rewrites()` weighs the signs each article showed on its own (found at ingest, kept in
  `rewrite_signs`) against the names of the whole archive, and sets `rewrite_score`, `rewrite_flag`, `rewrite_level` and
  `rewrite_evidence` on articles and `rewrite_score` on paragraphs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import Counter
from contextlib import closing, contextmanager
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.lib.format import descr_to_dtype, dtype_to_descr

from . import copies, quotes, rewrites
from .load import open_read_only, paragraph_key, sql_string, to_json, write_info
from .memory import give_back_memory
from .spill import Spilled

READ_BATCH = 10_000  # paragraphs read at once: all million rows at once would hold ~500 MB
ROWS_AT_ONCE = 50_000  # values made Python objects at once when writing: a million hold ~40 MB a column
# SQLite's page cache while the paragraphs are read, linked and their links written, in KiB: they
# are read once, in rowid order, so a bigger cache holds pages never read again beside linking's
# own arrays, then beside the link states written from (the links of a million paragraphs were
# written as fast with it as with the build's 20 MB).
LINKING_CACHE_KIB = 1_000


def link_copies(conn: sqlite3.Connection, log=lambda message: None, ahead: "AheadLinks | None" = None) -> int:
    """Find the paragraphs that repeat another article's report, store the links and each
    paragraph's report; return how many paragraphs are copies. With `ahead`, the links it found
    are used when the archive holds exactly the paragraphs it linked."""
    with page_cache(conn, LINKING_CACHE_KIB):
        count = conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]
        found_ahead = ahead.result(conn) if ahead else None
        if found_ahead:
            restored = " from the columns the last build kept" if ahead.restored else ""
            log(f"stage: copies over {count} paragraphs (found while the archive was copied{restored})")
            linked, rowids = found_ahead
        else:
            log(f"stage: copies over {count} paragraphs")
            linked, rowids = link_archive(conn, count)
        now = LinkState.of(rowids, linked.ids, linked.found)
        copied = len(linked.found.copy)
        inputs = linked.inputs
        # The links' arrays are the state's now; the ids' spill files go first.
        del linked, rowids, found_ahead
        give_back_memory()
        before = LinkState.read(conn, now)
        give_back_memory()  # what checking it took (~30 MB at a million paragraphs)
        write_links(conn, now, before)
        write_reports(conn, now, before)
        now.write(conn)
        inputs.write(conn, now.rowid)
        # The states (~35 MB at a million paragraphs) go before SQLite sorts every paragraph by
        # report below.
        del now, before
        give_back_memory()
    # Reports carried by more than one paragraph, counted once, so pages need not count copies.
    conn.execute("DELETE FROM reports")
    conn.execute(
        "INSERT INTO reports (report_id, paragraphs, articles) SELECT report_id, count(*), count(DISTINCT article_id) "
        "FROM paragraphs GROUP BY report_id HAVING count(*) > 1"
    )
    return copied


@contextmanager
def page_cache(conn: sqlite3.Connection, kib: int):
    """SQLite's page cache held to `kib` KiB (emptied first) while the block runs, then as it was."""
    before = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size=-{kib}")
    conn.execute("PRAGMA shrink_memory")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size={before}")


class Linked(NamedTuple):
    """The links found among some paragraphs, with the paragraphs' ids in the order they were
    linked (a state's id digests are made of them) and what the finder was given, to keep."""

    ids: copies.PackedStrings
    found: copies.Links
    inputs: "LinkInputs"

    @classmethod
    def of(cls, finder: copies.CopyFinder) -> "Linked":
        """Link the finder's paragraphs. Only the ids and the finder's columns (in spill files)
        outlive the finder."""
        inputs = LinkInputs(finder.options, finder.columns())
        return cls(finder.paragraph_ids, finder.link_arrays(), inputs)


class LinkInputs(NamedTuple):
    """What a finder linked, as its columns (`CopyFinder.columns`), kept in the archive
    (copy_inputs) with the paragraphs' rowids, so that an incremental build restores the finder
    from them (`CopyFinder.restore`): at a million paragraphs, reading the columns takes about a
    second where parsing every paragraph's print again took ten."""

    options: dict
    columns: dict[str, Spilled]

    def write(self, conn: sqlite3.Connection, rowids: np.ndarray) -> None:
        """Keep the columns in the archive, for paragraphs with these rowids (in the finder's
        order); the spill files are closed."""
        conn.execute("DELETE FROM copy_inputs")
        columns = {**self.columns, "rowid": rowids}
        layout = {"options": self.options,
                  "columns": {name: dtype_to_descr(column.dtype) for name, column in columns.items()}}
        text = np.frombuffer(json.dumps(layout).encode(), dtype=np.uint8)
        write_blob(conn, "copy_inputs", "layout", text.nbytes, [text])
        for name, column in columns.items():
            if isinstance(column, Spilled):
                write_blob(conn, "copy_inputs", name, len(column) * column.dtype.itemsize, column.batches(ROWS_AT_ONCE))
            else:
                write_blob(conn, "copy_inputs", name, column.nbytes, slices(column))
        self.close()

    @classmethod
    def read(cls, conn: sqlite3.Connection, spill_dir) -> "tuple[LinkInputs, np.ndarray] | None":
        """The columns kept in the archive (copied into spill files) and the rowids they are
        for, if they are for the paragraphs the archive holds now; else None."""
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'copy_inputs'").fetchone():
            return None
        found = dict(conn.execute("SELECT name, rowid FROM copy_inputs"))
        if "layout" not in found:
            return None
        layout = json.loads(read_blob(conn, "copy_inputs", found.pop("layout"), np.uint8).tobytes())
        dtypes = {name: descr_to_dtype(descr) for name, descr in layout["columns"].items()}
        if set(found) != set(dtypes):
            return None
        rowids = read_blob(conn, "copy_inputs", found.pop("rowid"), dtypes.pop("rowid"))
        # The archive's rowids now, compared a slice at a time (not a second array of them all).
        now = conn.execute("SELECT rowid FROM paragraphs ORDER BY rowid")
        for part in slices_of(len(rowids)):
            here = np.fromiter((rowid for (rowid,) in islice(now, ROWS_AT_ONCE)), dtype=np.int64)
            if not np.array_equal(rowids[part], here):
                return None
        if now.fetchone() is not None:
            return None
        columns = {}
        for name, dtype in dtypes.items():
            columns[name] = Spilled(dtype, spill_dir)
            for piece in blob_pieces(conn, "copy_inputs", found[name], dtype):
                columns[name].append(piece)
        return cls(layout["options"], columns), rowids

    def close(self) -> None:
        """Let the columns go unkept (their spill files are deleted)."""
        for column in self.columns.values():
            column.close()


def link_archive(conn: sqlite3.Connection, count: int) -> tuple[Linked, np.ndarray]:
    """The links among all the archive's paragraphs, and the paragraphs' rowids in their order."""
    spill_dir = database_directory(conn)
    finder = copies.CopyFinder(spill_dir=spill_dir)
    # Linking does not need the rowids (8 MB at a million paragraphs): they wait on disk.
    waiting = read_prints(conn, finder, spill_dir)
    if len(finder) != count:
        missing = conn.execute(
            "SELECT id FROM paragraphs WHERE id NOT IN (SELECT paragraph_id FROM paragraph_prints) LIMIT 1"
        ).fetchone()
        raise RuntimeError(f"paragraph {missing[0] if missing else '?'} has no fingerprint in paragraph_prints")
    linked = Linked.of(finder)
    rowids = waiting.read()
    waiting.close()
    return linked, rowids


def database_directory(conn: sqlite3.Connection) -> str | None:
    """The directory of the connection's database file (None for one in memory): the compare
    stage spills there, on the archive's disk, rather than to a /tmp that may be memory."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return str(Path(file).parent)
    return None


def read_prints(conn: sqlite3.Connection, finder: copies.CopyFinder, spill_dir: str | None,
                where: str = "", params=()) -> Spilled:
    """Add the archive's paragraphs (those `where` keeps) to the finder in rowid order, from the
    fingerprints and MinHash signatures made at ingest (paragraph_prints), a batch at a time;
    return their rowids, in a spill file in `spill_dir` (each batch's as it is read: all of them
    in memory, then joined, held 16 MB at a million paragraphs beside the finder's arrays)."""
    published = dict(conn.execute("SELECT id, published FROM articles WHERE published IS NOT NULL"))
    rows = conn.execute(
        "SELECT p.rowid, p.id, p.article_id, f.print FROM paragraphs p "
        f"JOIN paragraph_prints f ON f.paragraph_id = p.id{where} ORDER BY p.rowid",
        params,
    )
    rowids = Spilled(np.int64, spill_dir)
    while batch := rows.fetchmany(READ_BATCH):
        batch_rowids, *columns = map(list, zip(*batch))
        rowids.append(np.asarray(batch_rowids, dtype=np.int64))
        finder.add_packed(*columns, published)
    # The batches' memory given back before linking takes its most.
    give_back_memory()
    return rowids


def new_paragraphs(rows: dict[str, list[dict]]) -> tuple[list[str], list[str], list[bytes], dict[str, str]]:
    """What linking needs of a new article's rows, as a worker made them: its paragraphs' ids,
    article ids and packed prints, and its publication date (by article id, if known)."""
    prints = {row["paragraph_id"]: row["print"] for row in rows["paragraph_prints"]}
    paragraphs = rows["paragraphs"]
    return ([paragraph["id"] for paragraph in paragraphs], [paragraph["article_id"] for paragraph in paragraphs],
            [prints[paragraph["id"]] for paragraph in paragraphs],
            {row["id"]: row["published"] for row in rows["articles"] if row["published"]})


class AheadLinks:
    """An incremental build's copies, found while the archive it updates is still being copied
    into the build file (at a million paragraphs the copy takes seconds, the links ten more).

    The paragraphs the build keeps are read from the archive being updated, in a thread (`start`):
    from the columns its last compare stage kept (`LinkInputs`), or, where it kept none for these
    paragraphs, from every paragraph's print. The new paragraphs come as `new_paragraphs` takes
    them from the workers' rows (`add`); `link` finds the links among them all. `link_copies`
    uses them only if the build file holds exactly those paragraphs: the kept ones where they
    were, the new ones after them in the order added."""

    def __init__(self, base: Path, removed_articles: set[str]):
        self.spill_dir = Path(base).parent
        self.finder = copies.CopyFinder(spill_dir=self.spill_dir)
        self.restored = False  # whether the kept paragraphs came from the columns kept
        self.linked: Linked | None = None
        # The new paragraphs' ids, their articles' ids and their packed prints, in the order added.
        self._new_ids: list[str] = []
        self._new_articles: list[str] = []
        self._new_prints: list[bytes] = []
        self._published: dict[str, str] = {}
        self._error: BaseException | None = None
        self._reading = threading.Thread(target=self._read_base, args=(base, removed_articles), daemon=True)

    def start(self) -> None:
        """Start reading the kept paragraphs from the archive being updated."""
        if self._reading.ident is None:  # not started yet
            self._reading.start()

    def _read_base(self, base: Path, removed_articles: set[str]) -> None:
        """Add the kept paragraphs of the archive at `base` to the finder (in the thread)."""
        try:
            with closing(open_read_only(base)) as conn:
                # New paragraphs get rowids above every old one: they are added before any is removed.
                self.base_max = conn.execute("SELECT coalesce(max(rowid), 0) FROM paragraphs").fetchone()[0]
                stored = None
                try:
                    stored = LinkInputs.read(conn, self.spill_dir)
                    if stored:
                        (options, columns), rowids = stored
                        self.finder, kept = copies.CopyFinder.restore(columns, options, removed_articles, self.spill_dir)
                        self.base_rowids = rowids if kept.all() else rowids[kept]
                        self.restored = True
                        return
                except ValueError:  # columns not as written, or not fitting together: the prints are read instead
                    if stored:
                        stored[0].close()
                rowids = read_prints(
                    conn, self.finder, self.spill_dir, " WHERE p.article_id NOT IN (SELECT value FROM json_each(?))",
                    (to_json(sorted(removed_articles)),),
                )
                self.base_rowids = rowids.read()
                rowids.close()
        except BaseException as error:  # raised in the caller's thread by link()
            self._error = error

    def add(self, ids: list[str], articles: list[str], prints: list[bytes], published: dict[str, str]) -> None:
        """Take new paragraphs (their ids, articles' ids and packed prints, as `new_paragraphs`
        gives them from a worker's rows) and their articles' publication dates."""
        self._new_ids.extend(ids)
        self._new_articles.extend(articles)
        self._new_prints.extend(prints)
        self._published.update(published)

    def link(self) -> None:
        """Find the links among the kept and the new paragraphs, once every new one is added."""
        self.start()
        self._reading.join()
        if self._error:
            raise self._error
        self.finder.add_packed(self._new_ids, self._new_articles, self._new_prints, self._published)
        self._new_articles = self._new_prints = []
        give_back_memory()  # what the reading thread freed, before linking takes its most
        self.linked, self.finder = Linked.of(self.finder), None

    def result(self, conn: sqlite3.Connection) -> tuple[Linked, np.ndarray] | None:
        """The links and every paragraph's rowid in their order, if the build file at `conn`
        holds exactly the paragraphs linked; else None."""
        if self.linked is None:
            return None
        kept = conn.execute("SELECT count(*) FROM paragraphs WHERE rowid <= ?", (self.base_max,)).fetchone()[0]
        new = conn.execute("SELECT rowid, id FROM paragraphs WHERE rowid > ? ORDER BY rowid", (self.base_max,)).fetchall()
        if kept != len(self.base_rowids) or [paragraph_id for _, paragraph_id in new] != self._new_ids:
            self.linked.inputs.close()  # the compare stage links anew and keeps its own
            self.linked = None
            return None
        rowids = np.concatenate((self.base_rowids, np.asarray([rowid for rowid, _ in new], dtype=np.int64)))
        self.base_rowids = np.zeros(0, dtype=np.int64)  # in `rowids` now: not held twice
        linked, self.linked = self.linked, None  # handed over: freed with the compare stage's other arrays
        return linked, rowids


class LinkState(NamedTuple):
    """What the last compare stage wrote, by paragraph rowid, kept in the archive (copy_state) so
    that the next one writes only what changed without reading a million links and reports back:
    every paragraph (rowid, a 32-bit digest of its id, its report's first paragraph) and every
    link (copying paragraph, original, similarity, method). In memory the paragraphs of reports
    and links are positions in `rowid` (32-bit, and the links' own arrays: at a million
    paragraphs a state of rowids was 45 MB made beside the links, the compare stage's top); the
    archive keeps them as rowids (`stored`), which stay the same when paragraphs come and go."""

    rowid: np.ndarray  # ascending
    id_sum: np.ndarray
    root: np.ndarray  # positions, as `copy` and `original`
    copy: np.ndarray  # ascending
    original: np.ndarray
    similarity: np.ndarray
    method: np.ndarray

    @classmethod
    def of(cls, rowids: np.ndarray, ids: copies.PackedStrings, found: copies.Links) -> "LinkState":
        """The state of links found among paragraphs listed in rowid order (the links' arrays
        become the state's)."""
        # The ids wait in spill files: digested a batch at a time, into one array.
        id_sum, start = np.empty(len(rowids), dtype=np.uint32), 0
        for batch in ids.batches():
            id_sum[start:start + len(batch)] = copies.string_digests(batch)
            start += len(batch)
        root = copies.report_roots(found, len(rowids))
        return cls(rowids, id_sum, root, found.copy, found.original, found.similarity, found.method)

    def stored(self, name: str, part=slice(None)) -> np.ndarray:
        """Column `name` (its entries `part`) as the archive keeps it: paragraphs as rowids,
        similarities as numbers (in memory, thousandths)."""
        values = getattr(self, name)[part]
        if name in POSITIONS:
            return self.rowid[values]
        return values / 1000 if name == "similarity" else values

    @classmethod
    def read(cls, conn: sqlite3.Connection, now: "LinkState") -> "StoredState | None":
        """The stored state, or None when there is none or it does not describe these paragraphs
        (a new archive, or one merged from shards): every paragraph still here must have the
        rowid and id it had."""
        stored = dict(conn.execute("SELECT name, rowid FROM copy_state"))
        if set(stored) != set(cls._fields):
            return None
        state = StoredState(conn, stored)
        rowid, id_sum = state.column("rowid"), state.column("id_sum")
        for part in slices_of(len(rowid)):  # looked up a slice at a time: 64-bit places
            at, kept = copies.lookup(now.rowid, rowid[part])
            if (now.id_sum[at[kept]] != id_sum[part][kept]).any():
                return None
        return state

    def write(self, conn: sqlite3.Connection) -> None:
        """Keep this state in the archive for the next compare stage."""
        for name in self._fields:
            dtype = np.dtype(STATE_DTYPES[name])
            pieces = (np.asarray(self.stored(name, part), dtype=dtype)
                      for part in slices_of(len(getattr(self, name))))
            write_blob(conn, "copy_state", name, len(getattr(self, name)) * dtype.itemsize, pieces)


STATE_DTYPES = {"rowid": "<i8", "id_sum": "<u4", "root": "<i8", "copy": "<i8", "original": "<i8",
                "similarity": "<f8", "method": "i1"}
POSITIONS = ("root", "copy", "original")  # positions in `rowid` in memory, rowids in the archive


class StoredState:
    """A `LinkState` kept in the archive, each column read from it when asked for: the new state
    is compared with it a column or two at a time, not beside every column of it (~45 MB at a
    million paragraphs, the top of an incremental build's compare stage)."""

    def __init__(self, conn: sqlite3.Connection, rowids: dict[str, int]):
        self._conn, self._rowids = conn, rowids

    def column(self, name: str) -> np.ndarray:
        """One of `LinkState`'s columns, as it was written."""
        return read_blob(self._conn, "copy_state", self._rowids[name], STATE_DTYPES[name])

    def columns(self, *names: str):
        """Those columns, each read as the one before is let go (for `unchanged`)."""
        return (self.column(name) for name in names)


def slices(values: np.ndarray):
    """An array ROWS_AT_ONCE values at a time."""
    return (values[part] for part in slices_of(len(values)))


def slices_of(count: int):
    """Slices of ROWS_AT_ONCE positions covering `count` values."""
    return (slice(start, start + ROWS_AT_ONCE) for start in range(0, count, ROWS_AT_ONCE))


def write_blob(conn: sqlite3.Connection, table: str, name: str, nbytes: int, pieces) -> None:
    """Store `nbytes` bytes, the arrays `pieces` end to end, as the blob `name` of `table` (name,
    data), written a piece at a time: the bytes of a whole array, and SQLite's copy of them, would
    be 16 MB more at a million paragraphs."""
    rowid = conn.execute(f"INSERT OR REPLACE INTO {table} (name, data) VALUES (?, zeroblob(?))", (name, nbytes)).lastrowid
    with conn.blobopen(table, "data", rowid) as blob:
        for piece in pieces:
            blob.write(piece.tobytes())


def blob_pieces(conn: sqlite3.Connection, table: str, rowid: int, dtype, values: int = ROWS_AT_ONCE):
    """The blob of `table`'s row `rowid` as arrays of `dtype`, `values` at a time."""
    dtype = np.dtype(dtype)
    with conn.blobopen(table, "data", rowid, readonly=True) as blob:
        while piece := blob.read(values * dtype.itemsize):
            yield np.frombuffer(piece, dtype=dtype)


def read_blob(conn: sqlite3.Connection, table: str, rowid: int, dtype) -> np.ndarray:
    """The whole blob of `table`'s row `rowid` as one array of `dtype`, read into it a piece at a
    time (not its bytes whole, then the array)."""
    dtype = np.dtype(dtype)
    with conn.blobopen(table, "data", rowid, readonly=True) as blob:
        size = len(blob)
    if size % dtype.itemsize:
        raise ValueError(f"{table} {rowid}: {size} bytes is not a whole number of {dtype} values")
    values = np.empty(size // dtype.itemsize, dtype=dtype)
    at = 0
    for piece in blob_pieces(conn, table, rowid, dtype):
        values[at:at + len(piece)] = piece
        at += len(piece)
    return values


def unchanged(count: int, keys, values, before_keys: np.ndarray, before_values) -> np.ndarray:
    """For each of `count` entries, whether `before_keys` (ascending) has its key with the same
    values (the arrays of `before_values`, in the order of `values`, which may come one at a time).
    `keys` and each of `values` give a slice's keys or values: made a slice at a time (as rowids,
    from a state's positions), never as whole columns beside the stored ones."""
    same = np.zeros(count, dtype=bool)
    if not len(before_keys):
        return same
    for part in slices_of(count):
        same[part] = copies.lookup(before_keys, keys(part))[1]
    for value, before_value in zip(values, before_values):
        for part in slices_of(count):
            at = copies.lookup(before_keys, keys(part))[0]
            same[part] &= before_value[at] == value(part)
    return same


def column_of(state: "LinkState", name: str):
    """The function giving a slice of the state's column `name` as the archive keeps it."""
    return lambda part: state.stored(name, part)


def write_links(conn: sqlite3.Connection, now: LinkState, before: StoredState | None) -> None:
    """Make paragraph_copies hold exactly the links found, writing only the rows that differ from
    the stored state: after adding one article to a big archive, almost none do. Without a state,
    every row is written again. Links are given by rowid; SQLite looks up the paragraphs' ids
    and articles."""
    if before is None:
        conn.execute("DELETE FROM paragraph_copies")
        write = slice(None)  # every link, without copying the arrays to pick them all
    else:
        names = ("original", "similarity", "method")
        before_copy = before.column("copy")
        write = ~unchanged(len(now.copy), column_of(now, "copy"), [column_of(now, name) for name in names],
                           before_copy, before.columns(*names))
        # A link that changed is replaced as it is written; those of paragraphs that now copy
        # nothing go. (Links of paragraphs removed with their articles went with them:
        # load.ARTICLE_TABLES.)
        gone = np.zeros(len(before_copy), dtype=bool)
        for part in slices_of(len(before_copy)):  # looked up a slice at a time: 64-bit places
            at, here = copies.lookup(now.rowid, before_copy[part])
            here[here] = ~copies.lookup(now.copy, at[here].astype(now.copy.dtype))[1]
            gone[part] = here
        gone = before_copy[gone]
        del before_copy
        conn.executemany(
            "DELETE FROM paragraph_copies WHERE paragraph_id = (SELECT id FROM paragraphs WHERE rowid = ?)",
            ((rowid,) for rowid in gone.tolist()),
        )
    copy, original, similarity, method = (getattr(now, name)[write] for name in ("copy", "original", "similarity", "method"))

    def rows():
        # A slice at a time, as rowids: each column of a million links as Python values is ~40 MB.
        for part in slices_of(len(copy)):
            yield from zip((similarity[part] / 1000).tolist(), map(copies.METHODS.__getitem__, method[part].tolist()),
                           now.rowid[copy[part]].tolist(), now.rowid[original[part]].tolist())

    conn.executemany(
        "INSERT OR REPLACE INTO paragraph_copies (paragraph_id, copy_of, similarity, method, article_id, copy_of_article) "
        "SELECT c.id, o.id, ?, ?, c.article_id, o.article_id FROM paragraphs c, paragraphs o WHERE c.rowid = ? AND o.rowid = ?",
        rows(),
    )


def write_reports(conn: sqlite3.Connection, now: LinkState, before: StoredState | None) -> None:
    """Set each paragraph's report_id (the first paragraph of its chain of copies) and report
    ("copy" when that is another paragraph, else "original") where they differ from the stored
    state: paragraphs that are new, or whose chain now starts elsewhere."""
    changed = None
    if before is not None:
        changed = np.flatnonzero(~unchanged(len(now.rowid), column_of(now, "rowid"), [column_of(now, "root")],
                                            before.column("rowid"), before.columns("root")))
    count = len(now.rowid) if changed is None else len(changed)

    def rows():
        # A slice at a time: at a million paragraphs, each array of them all is 8 MB.
        for part in slices_of(count):
            index = part if changed is None else changed[part]
            for root, rowid in zip(now.stored("root", index).tolist(), now.rowid[index].tolist()):
                yield root, "copy" if root != rowid else "original", rowid

    conn.executemany(
        "UPDATE paragraphs SET report_id = (SELECT id FROM paragraphs WHERE rowid = ?), report = ? WHERE rowid = ?", rows()
    )


def known_names() -> list[str]:
    """Canonical names of the speakers list: a spelling close to one of them is a variant."""
    return list(quotes.Speakers().by_name)


def count_names(conn: sqlite3.Connection) -> Counter:
    """How often the archive's articles use each name, kept in rewrite_names. When articles were
    only added since the last count, their names are added to it; otherwise (articles removed or
    changed, or no count yet) every article's signs are counted again: at a million paragraphs
    that reads 160 MB of JSON."""
    scored = [row[0] for row in conn.execute("SELECT id FROM articles WHERE rewrite_level IS NOT NULL")]
    counted = conn.execute("SELECT value FROM build_info WHERE key = 'rewrite_names_of'").fetchone()
    names: Counter = Counter()
    signs = "SELECT signs FROM rewrite_signs"
    if counted == (articles_key(scored),):
        names.update(dict(conn.execute("SELECT name, uses FROM rewrite_names")))
        signs += " WHERE article_id IN (SELECT id FROM articles WHERE rewrite_level IS NULL)"
    for (found,) in conn.execute(signs):
        names.update({name: entry[0] for name, entry in json.loads(found)["names"].items()})
    conn.execute("DELETE FROM rewrite_names")
    conn.executemany("INSERT INTO rewrite_names (name, uses) VALUES (?, ?)", sorted(names.items()))
    write_info(conn, {"rewrite_names_of": articles_key(row[0] for row in conn.execute("SELECT id FROM articles"))})
    return names


def articles_key(article_ids) -> str:
    """A short hash of a set of article ids."""
    return hashlib.sha256("\n".join(sorted(article_ids)).encode()).hexdigest()[:16]


# Beyond this many changed variants, finding the articles that use them costs more than scoring all.
MAX_CHANGED_VARIANTS = 40


def rescore_where(stored_key: tuple | None, variants: dict[str, str]) -> str:
    """The WHERE clause choosing the rewrite_signs rows to score: new articles (never scored) and
    those whose names include one whose variant is not what their stored scores were made with;
    every row when there are no stored variants or too many changed."""
    if stored_key is None:
        return ""
    before = dict(json.loads(stored_key[0]))
    changed = sorted(name for name in before.keys() | variants.keys() if before.get(name) != variants.get(name))
    if len(changed) > MAX_CHANGED_VARIANTS:
        return ""
    # A name an article uses is a key of its signs' "names": '"name":' in the stored JSON.
    uses = "".join(f" OR instr(signs, {sql_string(to_json(name) + ':')})" for name in changed)
    return f" WHERE article_id IN (SELECT id FROM articles WHERE rewrite_level IS NULL){uses}"


# Articles scored and written at once: the rows of all 50,000 articles of a million paragraphs
# (their evidence, and each scored paragraph's id) held ~130 MB until written.
SCORE_BATCH = 2_000


def write_scores(conn: sqlite3.Connection, scored: list[tuple[str, rewrites.RewriteResult]]) -> None:
    """Store some articles' rewrite results on them and on their paragraphs (0 where none)."""
    conn.executemany(
        "UPDATE articles SET rewrite_score = ?, rewrite_flag = ?, rewrite_level = ?, rewrite_evidence = ? WHERE id = ?",
        ((result.score, int(result.flag), result.level, to_json(result.evidence), article_id) for article_id, result in scored),
    )
    conn.executemany(
        "UPDATE paragraphs SET rewrite_score = 0 WHERE article_id = ? AND rewrite_score IS NOT 0",
        ((article_id,) for article_id, _ in scored),
    )
    conn.executemany(
        "UPDATE paragraphs SET rewrite_score = ? WHERE id = ?",
        ((score, paragraph_key(article_id, position))
         for article_id, result in scored
         for position, score in enumerate(result.paragraph_scores, start=1) if score),
    )


def score_rewrites(conn: sqlite3.Connection, log=lambda message: None) -> int:
    """Score every article (and its paragraphs) for signs of a spun or machine-garbled rewrite,
    from the signs each article showed on its own (rewrite_signs, found at ingest) and the names
    of the whole archive; return how many articles are flagged."""
    log("stage: rewrite scores")
    scorer = rewrites.RewriteScorer()
    # A name's spelling is rare or usual against every article that uses it.
    variants = rewrites.name_variants(count_names(conn), known=known_names())
    # An article's score depends only on its own signs and on the variants of the names it uses:
    # besides new articles, only those using a name whose variant changed need scoring again.
    variants_key = to_json(sorted(variants.items()))
    stored_key = conn.execute("SELECT value FROM build_info WHERE key = 'rewrite_variants'").fetchone()
    to_score = [row[0] for row in conn.execute("SELECT article_id FROM rewrite_signs" + rescore_where(stored_key, variants))]
    for start in range(0, len(to_score), SCORE_BATCH):
        write_scores(conn, [
            (article_id, scorer.result(rewrites.ArticleSigns.from_json(json.loads(signs)), variants))
            for article_id, signs in conn.execute(
                "SELECT article_id, signs FROM rewrite_signs WHERE article_id IN (SELECT value FROM json_each(?))",
                (to_json(to_score[start:start + SCORE_BATCH]),),
            )
        ])
    write_info(conn, {"rewrite_variants": variants_key})
    return conn.execute("SELECT count(*) FROM articles WHERE rewrite_flag = 1").fetchone()[0]
