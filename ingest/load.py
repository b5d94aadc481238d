"""Load: write articles, paragraphs and lines into a new SQLite file with full-text search.

The database is built in a temporary file beside the target and renamed into
place only when it is complete, so an interrupted or failed build leaves the
previous archive untouched and servable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from urllib.request import pathname2url

import sqlite_utils

from . import samples
from .memory import give_back_memory
from .text import FTS_TOKENIZER

# Rows are buffered and written with one prepared statement per table and batch.
BATCH_ROWS = 5000
# SQLite's page cache for the build file, in KiB. Small, so that memory does not grow with the
# archive: appending rows and sorting for indexes (which spill to files) were no slower at a
# million paragraphs with 20 MB than with 200 MB.
CACHE_KIB = 20_000

SCHEMA = {
    "meetings": (
        {
            "id": str, "label": str, "start": str, "end": str, "year": int, "city": str,
            "cities": str, "host": str, "occasion": str, "cues": str,
            "article_count": int, "paragraph_count": int,
        },
        {"pk": "id"},
    ),
    "topics": (
        {"slug": str, "label": str, "description": str, "paragraph_count": int},
        {"pk": "slug"},
    ),
    "articles": (
        {
            "id": str, "path": str, "title": str, "title_derived": int, "outlet": str,
            "outlet_source": str, "url": str, "published": str, "author": str, "dropped": str,
            "sha256": str, "encoding": str, "paragraph_count": int, "line_count": int,
            "meeting_id": str, "meeting_year": int, "meeting_city": str,
            "meeting_confidence": float, "meeting_evidence": str, "days_from_meeting": int,
            "rewrite_score": float, "rewrite_flag": int, "rewrite_level": str, "rewrite_evidence": str,
        },
        {"pk": "id", "foreign_keys": [("meeting_id", "meetings", "id")]},
    ),
    "paragraphs": (
        {
            "id": str, "article_id": str, "position": int, "text": str, "outlet": str,
            "meeting_id": str, "meeting_year": int, "meeting_city": str,
            "topics": str, "mentions": str,
            "report": str, "report_id": str, "rewrite_score": float,
        },
        {
            "pk": "id",
            "foreign_keys": [("article_id", "articles", "id"), ("meeting_id", "meetings", "id")],
        },
    ),
    "lines": (
        {"article_id": str, "line_no": int, "kind": str, "text": str, "paragraph_id": str},
        {
            "pk": ("article_id", "line_no"),
            "foreign_keys": [("article_id", "articles", "id"), ("paragraph_id", "paragraphs", "id")],
        },
    ),
    "paragraph_topics": (
        {"paragraph_id": str, "topic": str, "score": float, "evidence": str},
        {
            "pk": ("paragraph_id", "topic"),
            "foreign_keys": [("paragraph_id", "paragraphs", "id"), ("topic", "topics", "slug")],
        },
    ),
    "quotes": (
        {
            "paragraph_id": str, "number": int, "article_id": str, "speaker": str,
            "speaker_as_written": str, "quote": str, "verb": str, "meeting_id": str, "outlet": str,
        },
        {
            "pk": ("paragraph_id", "number"),
            "foreign_keys": [
                ("paragraph_id", "paragraphs", "id"), ("article_id", "articles", "id"),
                ("meeting_id", "meetings", "id"),
            ],
        },
    ),
    # Each paragraph's copies.fingerprint() and MinHash signature, packed: the compare stage
    # reads them instead of fingerprinting and sketching the whole archive again.
    "paragraph_prints": (
        {"paragraph_id": str, "print": bytes},
        {"pk": "paragraph_id"},
    ),
    "paragraph_copies": (
        {
            "paragraph_id": str, "copy_of": str, "similarity": float, "method": str,
            "article_id": str, "copy_of_article": str,
        },
        {
            "pk": "paragraph_id",
            "foreign_keys": [
                ("paragraph_id", "paragraphs", "id"), ("copy_of", "paragraphs", "id"),
                ("article_id", "articles", "id"), ("copy_of_article", "articles", "id"),
            ],
        },
    ),
    "rewrite_signs": (
        {"article_id": str, "signs": str},
        {"pk": "article_id", "foreign_keys": [("article_id", "articles", "id")]},
    ),
    # How often the archive's articles use each name (compare.count_names keeps it up to date).
    "rewrite_names": (
        {"name": str, "uses": int},
        {"pk": "name"},
    ),
    "article_paths": (
        {"article_id": str, "path": str},
        {"pk": ("article_id", "path"), "foreign_keys": [("article_id", "articles", "id")]},
    ),
    "ingest_errors": (
        {"path": str, "error": str},
        {"pk": "path"},
    ),
    # What the last compare stage wrote, as packed arrays by paragraph rowid (compare.LinkState).
    "copy_state": (
        {"name": str, "data": bytes},
        {"pk": "name"},
    ),
    # What the last compare stage linked, as the copy finder's columns (compare.LinkInputs).
    "copy_inputs": (
        {"name": str, "data": bytes},
        {"pk": "name"},
    ),
    # Each file as the last build saw it (read.FileState) and its article.
    "seen_files": (
        {"path": str, "device": int, "inode": int, "size": int, "mtime_ns": int, "ctime_ns": int, "article_id": str},
        {"pk": "path"},
    ),
    "reports": (
        {"report_id": str, "paragraphs": int, "articles": int},
        {"pk": "report_id", "foreign_keys": [("report_id", "paragraphs", "id")]},
    ),
    "meeting_topics": (
        {"meeting_id": str, "topic": str, "paragraphs": int},
        {
            "pk": ("meeting_id", "topic"),
            "foreign_keys": [("meeting_id", "meetings", "id"), ("topic", "topics", "slug")],
        },
    ),
    "build_info": (
        {"key": str, "value": str},
        {"pk": "key"},
    ),
}
# Tables whose rows belong to one article, children first: the order to delete them in.
ARTICLE_TABLES = [
    ("paragraph_copies", "article_id = ?"),  # the links from its paragraphs; links to them are re-derived
    ("paragraph_topics", "paragraph_id IN (SELECT id FROM paragraphs WHERE article_id = ?)"),
    ("paragraph_prints", "paragraph_id IN (SELECT id FROM paragraphs WHERE article_id = ?)"),
    ("quotes", "article_id = ?"),
    ("rewrite_signs", "article_id = ?"),
    ("lines", "article_id = ?"),
    ("paragraphs", "article_id = ?"),
    ("article_paths", "article_id = ?"),
    ("articles", "id = ?"),
]

# Indexes for the columns users filter and facet on, built after the bulk load.
# The articles table's default facets (metadata.yml).
ARTICLE_FACETS = ("meeting_id", "outlet", "outlet_source", "rewrite_level")
INDEXES = [
    ("paragraphs", ["article_id", "position"]),
    # A facet value's paragraphs in id order, as Datasette lists a table: its first page reads 101
    # index entries instead of sorting every paragraph of the value (90 ms for a year at 1M).
    ("paragraphs", ["meeting_id", "id"]),
    ("paragraphs", ["meeting_year", "id"]),
    ("paragraphs", ["meeting_city", "id"]),
    ("paragraphs", ["outlet", "id"]),
    # The articles' facets, each counted within one value of another (an outlet's articles by
    # meeting…) from an index holding both, not from every article's ~3 KB row: at 1M the four
    # facets of an outlet's or a meeting's articles took 52-166 ms, from these 0.5-11 ms.
    *(("articles", [column, *(other for other in ARTICLE_FACETS if other != column)]) for column in ARTICLE_FACETS),
    ("lines", ["kind"]),
    ("lines", ["paragraph_id"]),
    ("paragraph_topics", ["topic", "paragraph_id"]),
    # A paragraph's article title from the index alone: a search's CSV export names each match's
    # article, and its rows (evidence and all, ~3 KB) cost a page read each (0.1 s for 10,000 at 1M).
    ("articles", ["id", "title"]),
    # The quotes table's facets (speaker, meeting, outlet, verb) each count from an index, not from
    # every quotation's row (outlet and verb: ~250 ms at 1M paragraphs), and a value's first page,
    # listed by (paragraph_id, number) as Datasette lists the table, is read in order, not sorted
    # (a speaker's at 1M: 85 ms). By meeting is also the order "What did someone say" lists.
    ("quotes", ["speaker", "paragraph_id", "number"]),
    ("quotes", ["meeting_id", "paragraph_id", "number"]),
    ("quotes", ["outlet", "paragraph_id", "number"]),
    ("quotes", ["verb", "paragraph_id", "number"]),
    ("quotes", ["article_id"]),
    # Within one speaker or one meeting (the values a reader clicks first: "what did Xi say"), the
    # other facets count from these, not from the row of every quotation matched (Xi Jinping's at
    # 1M: ~150 ms a facet, three of them, against 10-40 ms).
    ("quotes", ["speaker", "meeting_id", "outlet", "verb"]),
    ("quotes", ["meeting_id", "speaker", "outlet", "verb"]),
    ("meeting_topics", ["topic"]),
]
# Indexes on what the compare stage writes (copy links, every paragraph's report), built after
# it: a full build's million writes would otherwise move entries in each of them, not sort once.
COMPARED_INDEXES = [
    ("paragraphs", ["report", "id"]),
    # Counting each report's paragraphs and articles (the reports table) reads only this index:
    # 0.2 s at a million paragraphs instead of 2.8 s looking up every row.
    ("paragraphs", ["report_id", "article_id"]),
    ("paragraph_copies", ["copy_of"]),
    # The table's method facet, and a method's first page in the table's order (0.3 s at 1M without).
    ("paragraph_copies", ["method", "paragraph_id"]),
    # Datasette's row pages count the rows pointing at them, one query per foreign key.
    ("paragraph_copies", ["article_id"]),
    ("paragraph_copies", ["copy_of_article"]),
]
# The articles table sorted by a column (metadata.yml's sortable_columns, its headings' menus): a
# page reads the first entries of an index in Datasette's order, the column either way and ties
# by id, instead of sorting every article's row (~3 KB each with its evidence: 0.2-0.5 s at 1M).
# Both ways: read backwards, an index orders ties by id descending, and sorting the ties of a large
# group (the articles without a date) costs as much as sorting them all.
ARTICLE_SORTS = ("title", "meeting_year", "paragraph_count", "meeting_confidence", "path", "published",
                 "days_from_meeting", "rewrite_score")
# Indexes on expressions, which sqlite-utils' create_index cannot write. The article page lists
# the first few other places each report ran, originals first; in this order a report printed
# 800 times is read five rows at a time instead of sorted on every page view.
EXPRESSION_INDEXES = {
    "idx_paragraphs_report_order": "paragraphs (report_id, (report = 'original') DESC)",
    # The one paragraph in ten that recalls another meeting: a meeting page counts those that
    # recall it from this partial index instead of reading every paragraph's JSON (0.5 s at 1M).
    "idx_paragraphs_mentions": "paragraphs (mentions) WHERE mentions != '[]'",
    **{f"idx_articles_{column}_{way}_id": f"articles ({column} {way.upper()}, id)"
       for column in ARTICLE_SORTS for way in ("asc", "desc")},
}


def write_info(conn: sqlite3.Connection, info: dict) -> None:
    """Record facts about a build in build_info, keeping the keys not given (an incremental
    build inherits them: compare keeps the name variants its rewrite scores were made with)."""
    conn.executemany("INSERT OR REPLACE INTO build_info (key, value) VALUES (?, ?)", info.items())


def paragraph_key(article_id: str, position: int) -> str:
    """A paragraph's id: its article's id and its 1-based position, so ids sort in reading order."""
    return f"{article_id}-{position:03d}"


# Values stored as they are; anything else is looked at (lists and dicts are stored as JSON).
PLAIN_TYPES = frozenset([str, int, float, bytes, type(None)])

# json.dumps with options builds a new encoder at every call; the ingest calls it ~7 times a paragraph.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# What that encoder writes for a string.
_JSON_STRING = json.encoder.encode_basestring


def to_json(value) -> str:
    """JSON as stored in the database: compact, keeping non-ASCII text readable."""
    if type(value) is list and all(type(item) is str for item in value):
        # Most values are lists of slugs or names: written directly, the encoder's set-up per
        # call (7 us, ~7 calls a paragraph) is skipped.
        return "[" + ",".join(map(_JSON_STRING, value)) + "]"
    return _JSON.encode(value)


def open_read_only(db_path: Path, immutable: bool = False) -> sqlite3.Connection:
    """A connection that can only read the SQLite file at db_path (and never creates it); with
    `immutable`, one that also trusts the file never to change (no locks, as Datasette reads an
    immutable archive). The path is quoted into the URI, so that a name with "?" or "#" opens that
    file and no other."""
    return sqlite3.connect(read_only_uri(db_path, immutable), uri=True)


def read_only_uri(db_path: Path, immutable: bool = False) -> str:
    """The URI that opens (or attaches) the SQLite file at db_path read-only (see open_read_only)."""
    return f"file:{pathname2url(str(db_path))}?{'immutable=1' if immutable else 'mode=ro'}"


def fingerprint_of(db_path: Path) -> str | None:
    """The code-and-rules fingerprint an archive was built with, or None if it is not an archive."""
    try:
        conn = open_read_only(db_path)
        try:
            return dict(conn.execute("SELECT key, value FROM build_info")).get("fingerprint")
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def can_update(db_path: Path, fingerprint: str) -> bool:
    """Whether there is an archive at db_path built by the same code and rules, to update."""
    return Path(db_path).exists() and fingerprint_of(db_path) == fingerprint


def counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """The archive's articles, paragraphs and other lines (as the build's summary reports them)."""
    return conn.execute(
        "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM paragraphs), "
        "(SELECT count(*) FROM lines WHERE kind != 'paragraph')"
    ).fetchone()


def archive_counts(db_path: Path) -> tuple[int, int, int]:
    """`counts` of the archive at db_path."""
    with closing(open_read_only(db_path)) as conn:
        return counts(conn)


def remove_abandoned_builds(target: Path) -> None:
    """Delete temporary files left by builds that were killed, so they cannot pile up."""
    for leftover in target.parent.glob(f".{target.name}.building-*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            leftover.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_build_file(path) -> sqlite3.Connection:
    """A connection to a build file, set for building: the bulk load, and the compare stage
    wherever it runs."""
    conn = sqlite3.connect(path)
    # Safe to trade durability for speed: this file is only renamed into place once complete.
    # Sorts for the indexes spill to temporary files (temp_store=FILE), not to memory, so that
    # memory stays flat however large the archive: measured as fast at 100k paragraphs.
    conn.executescript(
        f"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE; PRAGMA cache_size=-{CACHE_KIB};"
    )
    return conn


class ArchiveWriter:
    """Builds a complete archive in a temporary file and moves it over the target on success.

    With ``base``, the temporary file starts as a copy of an existing archive to
    update; otherwise it starts empty.
    """

    def __init__(self, target: Path, base: Path | None = None):
        self.target = Path(target)
        self.building = self.target.with_name(f".{self.target.name}.building-{os.getpid()}")
        remove_abandoned_builds(self.target)
        self.building.unlink(missing_ok=True)
        self.base = base
        # The base archive is copied in the background while the caller reads and analyses its
        # files; the first use of the connection waits for the copy.
        self._copy_error: BaseException | None = None
        self._copied = threading.Event()  # set once the copy is made (or has failed)
        self._copying = threading.Thread(target=self._copy, daemon=True) if base else None
        if self._copying:
            self._copying.start()
        self._conn: sqlite3.Connection | None = None
        self.removed_meetings: set[str] = set()  # meetings of removed articles: their counts change
        self.removed_any = False  # whether this build deleted paragraphs (kept samples then no longer hold)
        self.buffers: dict[str, list[tuple]] = {table: [] for table in SCHEMA}
        self.statements = {
            table: "INSERT INTO [{}] ({}) VALUES ({})".format(
                table, ", ".join(f"[{c}]" for c in columns), ", ".join("?" for _ in columns)
            )
            for table, (columns, _) in SCHEMA.items()
        }

    def _copy(self) -> None:
        """Copy the base archive to the build file (in the background thread), then write the
        copy out to disk while the build goes on."""
        try:
            shutil.copyfile(self.base, self.building)
        except BaseException as error:  # raised in the caller's thread by _wait_for_copy()
            self._copy_error = error
            return
        finally:
            self._copied.set()
        # Renaming a file whose gigabytes are still only in memory over the old archive makes the
        # file system write them out first (1M paragraphs: 7.0 s, against 2.9 s once written);
        # written now, beside the linking, the rename has only the build's own changes left.
        try:
            descriptor = os.open(self.building, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError:
            pass  # only a head start: the rename writes out whatever is left

    def _wait_for_copy(self) -> None:
        """Wait for the background copy (not for it to reach the disk), and raise here whatever
        stopped it."""
        if self._copying:
            self._copied.wait()
            if self._copy_error:
                error, self._copy_error = self._copy_error, None
                raise error

    @property
    def conn(self) -> sqlite3.Connection:
        """The build file's connection, opened once the base archive (if any) is copied into it."""
        if self._conn is None:
            self._wait_for_copy()
            self._conn = conn = open_build_file(self.building)
            self._db = sqlite_utils.Database(conn)
            if not self.base:
                for table, (columns, options) in SCHEMA.items():
                    self._db[table].create(columns, **options)
            # Rows added from here on are new to the full-text indexes and counts (rowids only grow while adding).
            self.fts_from_rowid, self.quotes_from_rowid, self.articles_from_rowid = conn.execute(
                "SELECT (SELECT coalesce(max(rowid), 0) FROM paragraphs), (SELECT coalesce(max(rowid), 0) FROM quotes), "
                "(SELECT coalesce(max(rowid), 0) FROM articles)"
            ).fetchone()
        return self._conn

    @property
    def db(self) -> sqlite_utils.Database:
        """The build file, for sqlite-utils' table methods."""
        self.conn  # opens it
        return self._db

    def add(self, table: str, row: dict) -> None:
        """Queue one row for a table; columns it lacks are stored as null."""
        values = tuple(map(row.get, SCHEMA[table][0]))
        if not PLAIN_TYPES.issuperset(map(type, values)):  # the rare row with a list or dict in it
            values = tuple(to_json(v) if isinstance(v, (list, dict)) else v for v in values)
        self.buffers[table].append(values)
        if len(self.buffers[table]) >= BATCH_ROWS:
            # Every table at once: a table with a row per article (its rewrite signs are ~3 KB)
            # would otherwise hold 5,000 articles' rows (46 MB at 100,000 paragraphs).
            self.flush()

    def add_all(self, table: str, rows) -> None:
        for row in rows:
            self.add(table, row)

    def replace_all(self, table: str, rows) -> None:
        """Replace every row of a small table that is rebuilt whole on every run."""
        self.flush()
        self.conn.execute(f"DELETE FROM [{table}]")
        self.add_all(table, rows)

    def set_info(self, info: dict) -> None:
        """Record facts about this build (write_info), after the rows buffered so far."""
        self.flush()
        write_info(self.conn, info)

    def flush(self, table: str | None = None) -> None:
        """Write buffered rows with one prepared statement per table."""
        for name in [table] if table else SCHEMA:
            if self.buffers[name]:
                self.conn.executemany(self.statements[name], self.buffers[name])
                self.buffers[name].clear()

    def merge_from(self, shard: Path) -> None:
        """Copy every article of another archive (a shard built elsewhere) into this one.

        An article both archives hold is kept once; meetings and topics come from
        the shards, which must have been built by the same code and rules.
        """
        self.flush()
        self.conn.execute("ATTACH DATABASE ? AS shard", (str(shard),))
        try:
            for table, (columns, _) in SCHEMA.items():
                if table in ("build_info", "meeting_topics", "paragraph_copies", "reports", "seen_files",
                             "rewrite_names", "copy_state", "copy_inputs"):
                    continue
                names = ", ".join(f"[{c}]" for c in columns)
                self.conn.execute(f"INSERT OR IGNORE INTO main.[{table}] ({names}) SELECT {names} FROM shard.[{table}]")
            self.conn.commit()
        finally:
            self.conn.execute("DETACH DATABASE shard")

    def remove_articles(self, article_ids) -> None:
        """Delete articles whose files are gone, with their rows in every table and the search index."""
        self.flush()
        ids = [(article_id,) for article_id in sorted(article_ids)]
        if not ids:
            return
        self.removed_any = True
        if self.db["paragraphs_fts"].exists():
            # An external-content index must be told the text it is forgetting.
            self.conn.executemany(
                "INSERT INTO paragraphs_fts(paragraphs_fts, rowid, text) "
                "SELECT 'delete', rowid, text FROM paragraphs WHERE article_id = ?",
                ids,
            )
        if self.db["quotes_fts"].exists():
            self.conn.executemany(
                "INSERT INTO quotes_fts(quotes_fts, rowid, quote, speaker) "
                "SELECT 'delete', rowid, quote, speaker FROM quotes WHERE article_id = ?",
                ids,
            )
        if self.db["paragraph_facets"].exists():
            # The search tables add rows only for new paragraphs (build_search_tables).
            self.conn.executemany(
                "DELETE FROM paragraph_facets WHERE rowid IN (SELECT rowid FROM paragraphs WHERE article_id = ?)", ids
            )
        for (meeting_id,) in self.conn.execute(
            "SELECT DISTINCT meeting_id FROM articles WHERE id IN (SELECT value FROM json_each(?))", (to_json(sorted(article_ids)),)
        ):
            self.removed_meetings.add(meeting_id)
        for table, where in ARTICLE_TABLES:
            self.conn.executemany(f"DELETE FROM [{table}] WHERE {where}", ids)

    def release_memory(self) -> None:
        """Write what is buffered and give SQLite's page cache back, before the compare stage holds
        every paragraph's fingerprint. Committed first: the bulk load's pages are dirty until then,
        and a dirty page cannot be let go."""
        self.flush()
        self.conn.commit()
        self.conn.execute("PRAGMA shrink_memory")
        give_back_memory()

    def index(self, log=lambda message: None, compared: bool = True) -> None:
        """Write what is buffered and build the indexes that are missing (after the bulk load);
        before the compare stage (`compared` false), not yet those on what it writes."""
        self.flush()
        log("stage: index links, reports and counts" if compared else "stage: index")
        for table, columns in INDEXES + (COMPARED_INDEXES if compared else []):
            self.db[table].create_index(columns, if_not_exists=True)
        for name, target in EXPRESSION_INDEXES.items() if compared else ():
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")

    def finish(self, log=lambda message: None) -> tuple[int, int, int]:
        """Index, count, update full-text search, move the finished file into place; return
        the archive's articles, paragraphs and other lines."""
        self.index(log)
        self.conn.executescript(
            """
            UPDATE articles SET path = (SELECT min(path) FROM article_paths WHERE article_id = articles.id);
            UPDATE meetings SET
              article_count = (SELECT count(*) FROM articles WHERE articles.meeting_id = meetings.id),
              paragraph_count = (SELECT count(*) FROM paragraphs WHERE paragraphs.meeting_id = meetings.id);
            UPDATE topics SET
              paragraph_count = (SELECT count(*) FROM paragraph_topics WHERE paragraph_topics.topic = topics.slug);
            """
        )
        # Topics per meeting are counted again only for the meetings whose articles came or went.
        touched = self.removed_meetings | {
            row[0] for row in self.conn.execute("SELECT DISTINCT meeting_id FROM articles WHERE rowid > ?", (self.articles_from_rowid,))
        }
        touched_json = to_json(sorted(m for m in touched if m is not None))
        self.conn.execute("DELETE FROM meeting_topics WHERE meeting_id IN (SELECT value FROM json_each(?))", (touched_json,))
        self.conn.execute(
            """INSERT INTO meeting_topics (meeting_id, topic, paragraphs)
               SELECT p.meeting_id, pt.topic, count(*) FROM paragraph_topics pt
               JOIN paragraphs p ON p.id = pt.paragraph_id
               WHERE p.meeting_id IN (SELECT value FROM json_each(?)) GROUP BY p.meeting_id, pt.topic""",
            (touched_json,),
        )
        log("stage: full-text index")
        if self.db["paragraphs_fts"].exists():
            self.conn.execute(
                "INSERT INTO paragraphs_fts(rowid, text) SELECT rowid, text FROM paragraphs WHERE rowid > ?",
                (self.fts_from_rowid,),
            )
        else:
            self.db["paragraphs"].enable_fts(["text"], tokenize=FTS_TOKENIZER)
            self.conn.execute("INSERT INTO paragraphs_fts(paragraphs_fts) VALUES ('optimize')")
            self.conn.execute("ANALYZE")
        build_search_tables(self.conn, log)
        # An update that deleted nothing only added paragraphs after the base's last: the common
        # words' kept samples can be extended with their new matches.
        samples.build_common_samples(self.conn, log, added_after=None if self.removed_any else self.fts_from_rowid)
        # Quotations are indexed as paragraphs are: new rows added, removed ones forgotten.
        if self.db["quotes_fts"].exists():
            self.conn.execute(
                "INSERT INTO quotes_fts(rowid, quote, speaker) SELECT rowid, quote, speaker FROM quotes WHERE rowid > ?",
                (self.quotes_from_rowid,),
            )
        else:
            self.db["quotes"].enable_fts(["quote", "speaker"], tokenize=FTS_TOKENIZER)
        self.conn.commit()
        stats = counts(self.conn)
        self.conn.close()
        log("stage: replace")
        if self._copying:
            self._copying.join()  # the copy written out: little is left for the rename to write
        os.replace(self.building, self.target)
        return stats

    def abort(self) -> None:
        """Throw the unfinished build away, leaving the previous archive as it was."""
        try:
            if self._copying:
                self._copying.join()
            if self._conn is not None:
                self._conn.close()
        finally:
            self.building.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# Search tables: precomputed at build time so that the search page and the
# paragraphs table's facets never read every matching paragraph (plugins/search.py).
# Made by every build (full, incremental or merge) from the tables above; kept up to date
# rather than rebuilt when an incremental build leaves every facet value its key.

# facet name -> (paragraphs column, label SQL for a value or None)
SEARCH_FACETS = {
    "meeting": ("meeting_id", "SELECT label FROM meetings WHERE id = v.value"),
    "year": ("meeting_year", None),
    "city": ("meeting_city", None),
    "outlet": ("outlet", None),
    "report": ("report", "SELECT CASE v.value WHEN 'original' THEN 'unique reports (first or only appearance)' "
                         "WHEN 'copy' THEN 'copies of another article''s report' END"),
}

FACET_VALUES_SQL = """
DROP TABLE IF EXISTS facet_values;
-- Every facet value of the paragraphs as a small integer key, with its paragraph count.
CREATE TABLE facet_values (
  facet TEXT NOT NULL, key INTEGER NOT NULL, value, label TEXT, paragraphs INTEGER NOT NULL,
  PRIMARY KEY (facet, key)
);
"""
PARAGRAPH_FACETS_SQL = """
DROP TABLE IF EXISTS paragraph_facets;
-- One narrow row per paragraph (same rowid as paragraphs and paragraphs_fts) with its facet keys;
-- topics is a bit mask of facet_values keys (facet 'topic'). Null key: no value.
CREATE TABLE paragraph_facets (
  rowid INTEGER PRIMARY KEY, meeting INTEGER, year INTEGER, city INTEGER,
  outlet INTEGER, report INTEGER, topics INTEGER NOT NULL DEFAULT 0
);
"""


def build_search_tables(conn: sqlite3.Connection, log=lambda message: None) -> None:
    """Build facet_values and paragraph_facets from paragraphs and the topic counts. When every
    facet value keeps its key, paragraph_facets is only brought up to date: rows for the new
    paragraphs, and the report of those whose report changed (remove_articles deletes the rows
    of the paragraphs it deletes)."""
    log("stage: search tables")
    kept = sqlite_utils.Database(conn)["paragraph_facets"].exists()
    keys_before = facet_keys(conn) if kept else None
    conn.executescript(FACET_VALUES_SQL)
    for facet, (column, label_sql) in SEARCH_FACETS.items():
        conn.execute(
            f"""INSERT INTO facet_values (facet, key, value, label, paragraphs)
                SELECT ?, row_number() OVER (ORDER BY value), value, value, n
                FROM (SELECT [{column}] AS value, count(*) AS n FROM paragraphs
                      WHERE [{column}] IS NOT NULL GROUP BY [{column}])""",
            (facet,),
        )
        if label_sql:
            conn.execute(f"UPDATE facet_values AS v SET label = coalesce(({label_sql}), value) WHERE facet = ?", (facet,))
    # Topic keys are bit positions (0-62) of paragraph_facets.topics; finish() has just counted them.
    conn.execute(
        """INSERT INTO facet_values (facet, key, value, label, paragraphs)
           SELECT 'topic', row_number() OVER (ORDER BY slug) - 1, slug, label, paragraph_count FROM topics"""
    )
    if conn.execute("SELECT count(*) FROM facet_values WHERE facet = 'topic'").fetchone()[0] > 62:
        raise ValueError("paragraph_facets.topics holds at most 62 topics as bits")
    conn.execute("CREATE UNIQUE INDEX facet_values_by_value ON facet_values (facet, value)")
    key_sql = {
        facet: f"(SELECT key FROM facet_values WHERE facet = '{facet}' AND value = p.[{column}])"
        for facet, (column, _) in SEARCH_FACETS.items()
    }
    # paragraphs.topics is a compact JSON array of slugs: '"slug"' occurs in it exactly when the slug is there
    # (a dozen instr() calls per row cost far less than json_each).
    topic_keys = conn.execute("SELECT value, key FROM facet_values WHERE facet = 'topic'").fetchall()
    topics = " | ".join(
        f"(CASE WHEN instr(p.topics, {sql_string(json.dumps(slug))}) THEN {1 << key} ELSE 0 END)" for slug, key in topic_keys
    ) or "0"
    if keys_before != facet_keys(conn):
        conn.executescript(PARAGRAPH_FACETS_SQL)
    # Rows for the paragraphs that have none (all of them, unless the table was kept).
    conn.execute(
        f"""INSERT INTO paragraph_facets (rowid, meeting, year, city, outlet, report, topics)
            SELECT p.rowid, {key_sql['meeting']}, {key_sql['year']}, {key_sql['city']}, {key_sql['outlet']}, {key_sql['report']},
                   CASE WHEN p.topics IS NULL OR p.topics = '[]' THEN 0 ELSE {topics} END
            FROM paragraphs p WHERE p.rowid > (SELECT coalesce(max(rowid), 0) FROM paragraph_facets) ORDER BY p.rowid"""
    )
    # An old paragraph's meeting, outlet and topics come with its article; only its report
    # changes, when the compare stage finds a new original for it.
    for value, key in conn.execute("SELECT value, key FROM facet_values WHERE facet = 'report'").fetchall():
        conn.execute(
            "UPDATE paragraph_facets SET report = ? WHERE report IS NOT ? "
            "AND rowid IN (SELECT rowid FROM paragraphs WHERE report = ?)",
            (key, key, value),
        )


def facet_keys(conn: sqlite3.Connection) -> list[tuple]:
    """Every facet value with its key, as paragraph_facets refers to them."""
    return conn.execute("SELECT facet, key, value FROM facet_values ORDER BY facet, key").fetchall()


def named_values(sql: str, params: dict) -> dict:
    """The values of the named parameters (`:name`) a statement uses, by name in order: what
    identifies its answer (a table page's params hold more, such as a later page's start)."""
    return {name: params.get(name) for name in sorted(set(re.findall(r":(\w+)", sql)))}


def sql_string(text: str) -> str:
    """A string as an SQL literal."""
    return "'" + text.replace("'", "''") + "'"
