"""Ranked full-text search of the paragraphs, at /-/search (HTML, .json and .csv).

Datasette's own table search sorts matches by primary key and either escapes
every operator or fails on a malformed query. Here a well-formed FTS5 query runs
as written (phrases, prefixes, AND/OR/NOT, NEAR), a malformed one falls back to
a search for its plain words with a notice, and results come best first (bm25).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import sqlite3
import threading
from typing import Callable, NamedTuple
from urllib.parse import parse_qsl, urlencode

import numpy as np
from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.plugins import pm
from datasette.utils import add_cors_headers, escape_fts, escape_sqlite, path_with_added_args, path_with_removed_args
from datasette.utils.asgi import AsgiStream, Response
from datasette.views.table import TableView
from markupsafe import Markup, escape

from ingest import samples
from ingest.load import SEARCH_FACETS, named_values, open_read_only
from ingest.text import FTS_TOKENIZER, BoundedCache

PAGE_SIZE = 20
# The rows of a paragraphs table page as Datasette selects them for its facets: its columns by
# name, its where clause (the next page's condition last, on a later page).
FACET_ROWS = re.compile(r"select (?:\w+|\[[^\]]+\])(?:, (?:\w+|\[[^\]]+\]))* from paragraphs(?: where (?P<where>.+?))?\s*", re.S)
CSV_MAX_ROWS = 1_000_000
CSV_BATCH_ROWS = 1000
# snippet() marks matches with these control characters; they are swapped for <mark>
# only after the paragraph text has been HTML-escaped, so stored markup stays inert.
MARK_START, MARK_END = "\x01", "\x02"
FILTERS = {
    "meeting": "p.meeting_id = :meeting",
    "year": "p.meeting_year = :year",
    "outlet": "p.outlet = :outlet",
    "topic": "p.id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = :topic)",
    # report=original keeps one paragraph per report: copies in other outlets are left out.
    "report": "p.report = :report",
}
_validator = threading.local()
_snippets = threading.local()

# Up to EXACT_MAX matches everything is exact; above it (a common word matches half the archive)
# results are ranked, and facets counted, among a sample (ingest/samples.py).
# The facets the search page shows (its filters are FILTERS).
PAGE_FACETS = ("meeting", "topic", "outlet", "report")
# A query's words (kept ones read, others walked) remembered per archive: a table page asks for
# them three times (its page, its count, its facets); ~155 KB a kept word at 1M.
REMEMBERED_WORDS = 16
# The members of a table page's selection (a search and facet values, or filters of any other kind
# read by SQL), remembered per archive for its count, page, facets and next pages (a search walked
# or a selection read once, not for each); ~125 KB each at 1M.
REMEMBERED_MEMBERS = 16
# reader -> archive file version (file_key) -> the Future of what it read, shared by every request
_readings: dict[Callable, dict] = {}


def fts_syntax_error(query: str) -> str | None:
    """The error FTS5 gives for a query, or None when it is well formed.

    FTS5 parses a MATCH expression even against an empty table, so an in-memory
    table with the same column checks a query without touching the archive.
    """
    conn = getattr(_validator, "conn", None)
    if conn is None:
        conn = _validator.conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE paragraphs_fts USING fts5(text, tokenize='{FTS_TOKENIZER}')")
    try:
        conn.execute("SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH ?", (query,)).fetchall()
    except sqlite3.Error as error:
        return str(error)
    return None


def plain_words(query: str) -> str:
    """An FTS5 query matching every word of the text, operators and punctuation taken literally."""
    words = re.findall(r"\w[\w'’.-]*", query)
    return " ".join('"{}"'.format(w.replace('"', '""')) for w in words)


def fts_query(query: str) -> str:
    """The query to run: as written when well formed, else its plain words (empty if it has none)."""
    query = (query or "").strip()
    if query and fts_syntax_error(query) is None:
        return query
    return plain_words(query)


def sql_fts_query(query) -> str:
    """fts_query for SQL: a query with no words becomes the empty phrase, which matches nothing."""
    return fts_query(str(query or "")) or '""'


def highlight(snippet: str) -> Markup:
    """HTML for a snippet: the text escaped, the matched words in <mark>."""
    escaped = str(escape(snippet))
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def build_sql(filters: dict) -> tuple[str, str]:
    """The WHERE clause shared by results and facets, and the ranked results query."""
    where = ["paragraphs_fts MATCH :query"] + [FILTERS[name] for name in filters]
    where_sql = " AND ".join(where)
    results = f"""
        SELECT p.id, p.article_id, a.title, p.outlet, p.meeting_id, m.label AS meeting_label,
               p.meeting_year, p.topics, p.position, p.text,
               snippet(paragraphs_fts, 0, '{MARK_START}', '{MARK_END}', '…', 32) AS snippet,
               paragraphs_fts.rank AS rank
        FROM paragraphs_fts
        JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid
        JOIN articles a ON a.id = p.article_id
        LEFT JOIN meetings m ON m.id = p.meeting_id
        WHERE {where_sql}
        ORDER BY paragraphs_fts.rank
    """
    return where_sql, results


FACET_SQL = {
    "meeting": """SELECT p.meeting_id AS value, coalesce(m.label, p.meeting_id) AS label, count(*) AS n
        FROM paragraphs_fts JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid
        LEFT JOIN meetings m ON m.id = p.meeting_id WHERE {where} GROUP BY p.meeting_id ORDER BY n DESC""",
    "topic": """SELECT pt.topic AS value, t.label AS label, count(*) AS n
        FROM paragraphs_fts JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid
        JOIN paragraph_topics pt ON pt.paragraph_id = p.id JOIN topics t ON t.slug = pt.topic
        WHERE {where} GROUP BY pt.topic ORDER BY n DESC""",
    "outlet": """SELECT p.outlet AS value, p.outlet AS label, count(*) AS n
        FROM paragraphs_fts JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid
        WHERE {where} GROUP BY p.outlet ORDER BY n DESC""",
}


class FacetKeys:
    """The archive's facet values (table facet_values) and their integer keys, and every paragraph's
    keys (table paragraph_facets) as arrays indexed by rowid, read once per archive file.

    Holding the paragraphs' keys in memory (about 28 bytes a paragraph) lets a search count its
    facets from the rowids of its matches alone: looking each match up in paragraph_facets cost
    more than finding the matches (27 of 60 ms for a common word at a million paragraphs).
    """

    def __init__(self, rows, columns: dict[str, np.ndarray], present: np.ndarray,
                 ranked_lengths: tuple[int, np.ndarray] | None = None, index_totals: tuple[int, int] = (0, 0),
                 in_id_order: np.ndarray | None = None):
        # If the archive keeps its common words (ingest/samples.py), the lengths of the paragraphs
        # their searches may rank: (every, the length of rowid every * i at i).
        self.ranked_lengths = ranked_lengths
        # With them, every paragraph's rowid in id order: a table page of a search for kept words
        # is the first of its members in that order (see KeptMembers).
        self.in_id_order = in_id_order
        self.words = BoundedCache(REMEMBERED_WORDS)  # the last words of queries (query_word_rows)
        self.members = BoundedCache(REMEMBERED_MEMBERS)  # the last table pages' members (table_members)
        self.index_totals = index_totals  # the full-text index's paragraphs and tokens, which bm25 weighs by
        self.by_key: dict[str, dict[int, tuple]] = {}
        self.by_value: dict[str, dict[str, int]] = {}
        for facet, key, value, label, paragraphs in rows:
            self.by_key.setdefault(facet, {})[key] = (value, label, paragraphs)
            self.by_value.setdefault(facet, {})[str(value)] = key
        # facet -> array by rowid: the value's key (-1 for none), or for "topic" a bit mask of topic keys
        self.columns = columns
        self.present = present  # by rowid: whether a paragraph has it

    def key(self, facet: str, value: str) -> int | None:
        return self.by_value.get(facet, {}).get(str(value))

    @property
    def common_samples(self) -> bool:
        """Whether the archive keeps its common words."""
        return self.ranked_lengths is not None

    @property
    def max_rowid(self) -> int:
        return max(1, len(self.present) - 1)


# Facet -> its column in paragraph_facets, as the build makes that table (ingest/load.py
# build_search_tables): one column per facet of SEARCH_FACETS, named after it, and the topics' bits.
KEY_COLUMNS = {**{facet: facet for facet in SEARCH_FACETS}, "topic": "topics"}


def read_facet_keys(conn) -> FacetKeys | None:
    """The facet keys of an archive with search tables (None for one built without them), from a connection."""
    cursor = conn.cursor()
    cursor.row_factory = None
    if not cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'paragraph_facets'").fetchone():
        return None
    values = cursor.execute("SELECT facet, key, value, label, paragraphs FROM facet_values").fetchall()
    max_rowid = samples.max_paragraph_rowid(conn)  # as the build measures a sample's step against
    columns = {facet: np.full(max_rowid + 1, -1, dtype=np.int32) for facet in KEY_COLUMNS if facet != "topic"}
    columns["topic"] = np.zeros(max_rowid + 1, dtype=np.int64)
    present = np.zeros(max_rowid + 1, dtype=bool)
    none = {facet: 0 if facet == "topic" else -1 for facet in KEY_COLUMNS}
    cursor.execute(f"SELECT rowid, {', '.join(f'coalesce({c}, {none[f]})' for f, c in KEY_COLUMNS.items())} FROM paragraph_facets")
    while batch := cursor.fetchmany(100_000):
        block = np.array(batch, dtype=np.int64)
        for i, facet in enumerate(KEY_COLUMNS, start=1):
            columns[facet][block[:, 0]] = block[:, i]
        present[block[:, 0]] = True
    # The kept words, if the archive has them in this layout (an older one's are left unread).
    lengths, in_id_order = None, None
    if cursor.execute("SELECT 1 FROM pragma_table_info('common_samples') WHERE name = 'occurrence_type'").fetchone():
        kept = cursor.execute("SELECT every, lengths, length_type FROM ranked_lengths").fetchone()
        lengths = (kept[0], np.frombuffer(kept[1], dtype=kept[2])) if kept else None
        # The id index walked, in SQLite's order of ids (0.4 s at 1M).
        listed = cursor.execute("SELECT group_concat(rowid) FROM (SELECT rowid FROM paragraphs ORDER BY id)").fetchone()[0]
        in_id_order = samples.rowid_array(listed).astype(np.int32)
    return FacetKeys(values, columns, present, ranked_lengths=lengths,
                     index_totals=samples.index_totals(conn) if lengths is not None else (0, 0), in_id_order=in_id_order)


def file_key(path) -> tuple | None:
    """What identifies one version of an archive file: path, modification time and size."""
    try:
        stat = os.stat(path)
    except (OSError, TypeError):
        return None
    return (path, stat.st_mtime_ns, stat.st_size)


def read_only_connection(db) -> sqlite3.Connection:
    """A connection of our own to a Datasette database's file, read-only as Datasette reads it."""
    return open_read_only(db.path, immutable=not db.is_mutable)


def start_reading(db, reader: Callable) -> concurrent.futures.Future | None:
    """Read what `reader` reads of a database's file (given a read-only connection) in a thread of
    its own, once per version of the file; None for a database without a file.

    Every request for the same file shares the one reading (the facet keys: about a second at a
    million paragraphs); the server's startup begins it, so the first search seldom waits.
    """
    key = file_key(db.path)
    if key is None:
        return None
    readings = _readings.setdefault(reader, {})
    future = readings.get(key)
    if future is not None and not (future.done() and future.exception() is not None):
        return future
    future = concurrent.futures.Future()
    for older in [k for k in readings if k[0] == key[0]]:  # earlier versions of the file
        del readings[older]
    readings[key] = future

    def read():
        try:
            conn = read_only_connection(db)
            try:
                future.set_result(reader(conn))
            finally:
                conn.close()
        except BaseException as error:  # handed to every request that waits for it
            future.set_exception(error)

    threading.Thread(target=read, name=reader.__name__, daemon=True).start()
    return future


async def facet_keys(db) -> FacetKeys | None:
    """The facet keys of an archive with search tables; None for an archive built without them."""
    future = start_reading(db, read_facet_keys)
    if future is None:  # a database without a file
        return await db.execute_fn(read_facet_keys)
    return await asyncio.wrap_future(future)


def filter_conditions(keys: FacetKeys, filters: dict) -> list[str] | None:
    """SQL conditions on paragraph_facets f for the filters; None when a filter value does not exist."""
    conditions = []
    for name, value in filters.items():
        key = keys.key(name, value)
        if key is None:
            return None
        conditions.append(f"(f.topics & {1 << key})" if name == "topic" else f"f.{KEY_COLUMNS[name]} = {key}")
    return conditions


def round_estimate(n: float) -> int:
    """An estimate rounded to three significant figures, so that it does not look exact."""
    n = int(round(n))
    if n < 1000:
        return n
    digits = len(str(n)) - 3
    return int(round(n, -digits))


def having(columns: dict, chosen: list[tuple[str, int]], size: int) -> np.ndarray:
    """Which of `size` paragraphs, whose facet keys are `columns`, have every chosen (facet, key)."""
    passes = np.ones(size, dtype=bool)
    for facet, key in chosen:
        passes &= (columns[facet] & (1 << key)) != 0 if facet == "topic" else columns[facet] == key
    return passes


def passing(keys: FacetKeys, rowids: np.ndarray, chosen: list[tuple[str, int]]) -> np.ndarray:
    """Which of these paragraphs (rowids) have every chosen (facet, key), as a mask."""
    return having({facet: keys.columns[facet][rowids] for facet, _ in chosen}, chosen, len(rowids))


def bit_counts(masks: np.ndarray, bits: int) -> dict[int, int]:
    """How many of these 64-bit masks have each of their lowest `bits` bits set (the ones set at
    least once): a histogram of each byte in use, 256 values, instead of unpacking every bit."""
    as_bytes = masks.view(np.uint8).reshape(-1, 8)
    counts = []
    for byte in range(-(-bits // 8)):
        counts.extend((np.bincount(as_bytes[:, byte], minlength=256) @ samples.BYTE_BITS).tolist())
    return {bit: n for bit, n in enumerate(counts[:bits]) if n}


def count_facets(keys: FacetKeys, rows: np.ndarray, chosen: list[tuple[str, int]], scale: float = 1.0,
                 estimate: bool = False) -> tuple[dict, int]:
    """Facet counts of the paragraphs `rows` picks (rowids, or a mask over all rowids) that have
    every chosen (facet, key), and how many have them."""
    if rows.dtype == bool:  # a mask over every rowid: test whole columns, then take the rowids that pass
        rows = np.flatnonzero(rows & having(keys.columns, chosen, len(rows)))
    else:  # some rowids: test just their keys
        rows = rows[passing(keys, rows, chosen)]
    picked = len(rows)
    counted = {}
    for facet, array in keys.columns.items():
        column = array[rows]
        if facet == "topic":
            counted[facet] = bit_counts(column, max(keys.by_key.get("topic", {0: None})) + 1)
        else:  # keys are small integers from 0, -1 for none
            per_key = np.bincount(column + 1)
            counted[facet] = {(None if k < 0 else k): n for k, n in enumerate(per_key.tolist(), start=-1) if n}

    def listing(facet, counts, keep_none):
        items = []
        for key, n in counts.items():
            if key is None:
                if not keep_none:
                    continue
                value, label = None, None
            else:
                value, label, _ = keys.by_key[facet][key]
            n = round_estimate(n * scale) if estimate else n
            if n:
                items.append({"value": value, "label": label, "n": n})
        return sorted(items, key=lambda item: (-item["n"], str(item["value"])))

    # Paragraphs with no meeting or no outlet are listed as such; the other facets list values only.
    facets = {facet: listing(facet, counted[facet], facet in ("meeting", "outlet"))
              for facet in ("meeting", "topic", "outlet", "year", "city", "report")}
    return facets, picked


async def ranked_search(db, query: str, filters: dict, offset: int, limit: int) -> dict:
    """Ranked matches, total and facets for an FTS5 query, without ranking or faceting every match when
    there are many.

    One pass over the index counts the matches and lists every match (up to EXACT_MAX matches) or
    every k-th match (a sample of about SAMPLE_ROWS), whose facet keys, held in memory, give the
    facet counts; a second ranks them (bm25) for the page. For a query whose words are all common
    (each in COMMON_MIN paragraphs or more, all required) the build keeps each word's paragraphs
    and what bm25 weighs, and neither pass runs.

    Returns {"ids": [rowid, ...] best first (at most limit + 1), "total", "total_estimated",
    "facets", "facets_estimated", "ranked_sample": None or how many matches were ranked}.
    """
    keys = await facet_keys(db)
    params = {"query": query}
    conditions = filter_conditions(keys, filters)
    found = {"ids": [], "total": 0, "total_estimated": False, "facets": {n: [] for n in ("meeting", "topic", "outlet", "year", "city", "report")},
             "facets_estimated": False, "ranked_sample": None}
    if conditions is None:
        return found
    # The first EXACT_MAX + 1 matches (in rowid order) decide the mode and, when there are more,
    # how dense the matches are: the sample is sized from that. Kept words' bits tell at once.
    kept = await kept_words(db, keys, query)
    matched = having_every_word(kept) if kept else None
    first, last = samples.first_matches(matched) if kept else (await db.execute(samples.first_sql(), params)).first()
    if not first:
        return found
    step = samples.sample_step(first, last, keys.max_rowid)
    chosen = [(name, keys.key(name, value)) for name, value in filters.items()]

    async def fetch(sql):
        return await db.execute_fn(lambda conn: plain_rows(conn, sql, params)) if sql else []

    async def walked():
        """The count of the matches, the rowids of the sample and the page's rowids, from the index:
        two walks of the matches side by side in the database threads (the sample's rowids come
        as one string: a Python row per match cost a GIL hand-over per row, which under load kept
        the database threads waiting)."""
        ranked_sql = ranked_ids_sql(conditions, step * samples.RANK_EVERY if step > 1 else 1, limit, offset)
        ((matches, rowids),), ranked_rows = await asyncio.gather(fetch(samples.sample_sql(step)),
                                                                 fetch(ranked_sql if limit else None))
        return matches, samples.rowid_array(rowids), [row[0] for row in ranked_rows]

    # Kept occurrences serve the rows a sample ranks (multiples of step * RANK_EVERY) if they are
    # multiples of `every`; every match is ranked when there are few (step 1), and is walked.
    others = None
    if kept and step > 1 and step * samples.RANK_EVERY % keys.ranked_lengths[0] == 0:
        # (Facets alone rank nothing: the other words' occurrences are not read for them.)
        others = await walked_occurrences(db, keys, kept, step * samples.RANK_EVERY) if limit else {}
    if others is not None:
        matches, rowids, ranked = kept_search(keys, kept, others, matched, step, chosen, offset, limit)
    else:
        matches, rowids, ranked = await walked()
    sample_size = max(1, len(rowids))
    estimate = step > 1
    facets, filtered = count_facets(keys, rowids, chosen, scale=matches / sample_size, estimate=estimate)
    total = matches
    if filters:
        total = round_estimate(filtered * matches / sample_size) if estimate else filtered
    if limit and estimate and filters and len(ranked) <= limit and offset + len(ranked) < total:
        # A narrow filter leaves too few of the sample for this page: rank every match of the filter (exact, slower).
        ranked = [row[0] for row in await db.execute(ranked_ids_sql(conditions, 1, limit, offset), params)]
        step = 1
    found.update(ids=ranked, total=total, total_estimated=bool(filters) and estimate, facets=facets,
                 facets_estimated=estimate, ranked_sample=-(-matches // (step * samples.RANK_EVERY)) if step > 1 else None)
    return found


async def kept_words(db, keys: FacetKeys, query: str) -> list[tuple] | None:
    """Each word of an FTS5 query for paragraphs having each of a few words, at least one of them
    kept, in the query's order: the kept words' common_samples rows, and for each other word (in
    fewer than COMMON_MIN paragraphs) a row like them made by walking its matches now, without
    occurrences; the last REMEMBERED_WORDS kept in `keys.words`. None for any other query."""
    words = samples.query_words(query) if keys.common_samples else None
    if not words:
        return None
    by_word = {word: keys.words[word] for word in words if word in keys.words}
    missing = [word for word in dict.fromkeys(words) if word not in by_word]
    if missing:
        kept = await db.execute_fn(lambda conn: plain_rows(
            conn, f"SELECT {samples.KEPT_COLUMNS} FROM common_samples WHERE term IN (SELECT value FROM json_each(:words))",
            {"words": json.dumps(missing)}))
        by_word.update((row[0], row) for row in kept)
    if all(row[3] is None for row in by_word.values()):
        return None  # no word kept: the index answers as quickly
    for word in missing:
        if word not in by_word:
            matches, bits = await walked_bits(db, keys, samples.phrase(word))
            by_word[word] = (word, matches, bits.tobytes(), None, None)
        keys.words.put(word, by_word[word])
    return [by_word[word] for word in words]


async def walked_bits(db, keys: FacetKeys, query: str) -> tuple[int, np.ndarray]:
    """How many paragraphs an FTS5 query matches, and which (one bit a rowid, as the kept words'
    bits), from one walk of its matches."""
    (matches, rowids), = await db.execute_fn(lambda conn: plain_rows(conn, samples.sample_sql(1), {"query": query}))
    paragraphs = np.zeros(keys.max_rowid + 1, dtype=bool)
    paragraphs[samples.rowid_array(rowids)] = True
    return matches, np.packbits(paragraphs, bitorder="little")


async def walked_occurrences(db, keys: FacetKeys, kept: list[tuple], every: int) -> dict[str, tuple] | None:
    """For each word of a query not kept (a row of `kept_words` without occurrences), its rowids
    that are multiples of `every` and its occurrences in those paragraphs, from FTS5's bm25() of the
    word alone (one walk of a word in fewer than COMMON_MIN paragraphs); None when they cannot be
    read back from it exactly."""
    found = {}
    lengths_every, lengths = keys.ranked_lengths
    for term, matches, _, occurrences, _ in kept:
        if occurrences is not None or term in found:
            continue
        scored = np.array(await db.execute_fn(lambda conn, term=term: plain_rows(
            conn, f"SELECT rowid, bm25(paragraphs_fts) FROM paragraphs_fts WHERE paragraphs_fts MATCH :query "
                  f"AND rowid % {every} = 0 ORDER BY rowid", {"query": samples.phrase(term)})), dtype=np.float64).reshape(-1, 2)
        rowids = scored[:, 0].astype(np.int64)
        counts = samples.occurrences_from_bm25(scored[:, 1], lengths[rowids // lengths_every], matches, keys.index_totals)
        if counts is None:
            return None
        found[term] = (rowids, counts)
    return found


def having_every_word(kept: list[tuple]) -> np.ndarray:
    """The bits (one a rowid) of the paragraphs having every one of the kept words."""
    bits = [np.frombuffer(row[2], dtype=np.uint8) for row in kept]
    size = min(len(b) for b in bits)
    return np.bitwise_and.reduce([b[:size] for b in bits])


class KeptMembers(NamedTuple):
    """The paragraphs a search for kept words matches, from the kept words: for the table plans
    (plugins/table_plans.py), which count them and page through them in id order."""

    bits: np.ndarray  # one a rowid (bytes, least significant bit first)
    in_id_order: np.ndarray  # every paragraph's rowid, in id order

    @classmethod
    def of(cls, mask: np.ndarray, in_id_order: np.ndarray) -> "KeptMembers":
        """The members a mask over every rowid marks (the inverse of `mask`)."""
        return cls(np.packbits(mask, bitorder="little"), in_id_order)

    def count(self) -> int:
        return samples.count_bits(self.bits)

    def mask(self, size: int) -> np.ndarray:
        """The members as a mask over `size` rowids."""
        member = np.zeros(size, dtype=bool)
        found = np.unpackbits(self.bits, bitorder="little", count=min(size, 8 * len(self.bits))).view(bool)
        member[:len(found)] = found
        return member

    def first_in_id_order(self, after_rowid: int | None, limit: int) -> np.ndarray | None:
        """The rowids of the first `limit` members in id order, after the paragraph `after_rowid`
        (from the first, for None); None if there is no such paragraph."""
        return self.first_in_order(self.in_id_order, after_rowid, limit)

    def first_in_order(self, order: np.ndarray, after_rowid: int | None, limit: int) -> np.ndarray | None:
        """The rowids of the first `limit` members in the order of `order` (every paragraph's rowid),
        after the paragraph `after_rowid` (from the first, for None); None if there is no such
        paragraph. Only the paragraphs before the last one found are looked at: ~2 a member for a
        word in half the archive."""
        start = 0
        if after_rowid is not None:
            at = np.flatnonzero(order == after_rowid)
            if not len(at):
                return None
            start = int(at[0]) + 1
        member = np.unpackbits(self.bits, bitorder="little").view(bool)
        return samples.first_members(order, member, start, limit)


async def table_members(db, search: str | None, raw: bool, pairs: list[tuple[str, str]],
                        walk_alone: bool = False) -> KeptMembers | None:
    """The paragraphs a table page picks by a search (`_search`, raw or not; or none) and facet
    values (`_topic=slug`, `column=value`), from memory: the search's kept words, or its matches
    walked once when there are filters (or `walk_alone`), and every paragraph's facet keys. None
    for an archive that does not keep its words, a filter that is no facet value the archive has,
    a search FTS5 cannot read, or a search of no kept word without filters, unless `walk_alone`
    (the table plans walk the index for a page in id order)."""
    keys = await facet_keys(db)
    if keys is None or keys.in_id_order is None:
        return None
    if any(facet == "topic" and keys.key(facet, value) is None for facet, value in facet_filters(pairs) or ()):
        return KeptMembers.of(np.zeros_like(keys.present), keys.in_id_order)  # a topic no paragraph has
    chosen = keyed_filters(keys, pairs)
    expression = table_search_expression(search, raw) if search is not None else None
    if chosen is None or (expression is not None and fts_syntax_error(expression) is not None):
        return None
    # (A search walked alone, for a sorted page, is kept apart: a page in id order has quicker plans.)
    remembered = (expression, tuple(sorted(chosen)), walk_alone and not chosen)
    if remembered in keys.members:
        return keys.members[remembered]
    size = len(keys.present)
    member = keys.present.copy()
    if expression is not None:
        kept = await kept_words(db, keys, expression)
        if not kept and not chosen and not walk_alone:
            return None
        bits = having_every_word(kept) if kept else (await walked_bits(db, keys, expression))[1]
        member &= KeptMembers(bits, keys.in_id_order).mask(size)
    if chosen:
        member &= having(keys.columns, chosen, size)
    return keys.members.put(remembered, KeptMembers.of(member, keys.in_id_order))


async def selected_members(db, where: str, params: dict) -> KeptMembers | None:
    """The paragraphs a table page's where clause picks, whatever its filters (a range, `contains`,
    `_where`, a column that is no facet…; the page's start left out), read once by SQL as rowids
    and remembered for the page's count, facets and next pages: each of those scanned the
    paragraphs again (a filter on position: five facets and a count, 1.4 s at a million). None
    for an archive without facet keys, or no clause."""
    keys = await facet_keys(db)
    if keys is None or keys.in_id_order is None or not where:
        return None
    values = named_values(where, params)
    remembered = ("where", where, tuple(values.items()))
    if remembered in keys.members:
        return keys.members[remembered]
    # (The clause on a line of its own: a reader's `_where` may end in a `--` comment.)
    listed = (await db.execute(f"select group_concat(rowid) from (select rowid from paragraphs where {where}\n)", values)).first()[0]
    rowids, size = samples.rowid_array(listed), len(keys.present)
    if len(rowids) and (rowids.min() < 0 or rowids.max() >= size):
        return None  # rows the keys do not know
    member = np.zeros(size, dtype=bool)
    member[rowids] = True
    return keys.members.put(remembered, KeptMembers.of(member, keys.in_id_order))


async def filtered_search_members(db, pairs: list[tuple[str, str]]) -> KeptMembers | None:
    """The paragraphs a table search with facet-value filters picks (a table page's arguments),
    from memory (`table_members`); None for a page without a search, or with other filters."""
    search = next((value for key, value in pairs if key == "_search"), None)
    filters = [(key, value) for key, value in pairs if key != "_search"]
    if search is None or not facet_filters(filters):
        return None
    return await table_members(db, search, ("_searchmode", "raw") in pairs, filters)


def kept_search(keys: FacetKeys, kept: list[tuple], others: dict[str, tuple], matched: np.ndarray, step: int,
                chosen: list[tuple[str, int]], offset: int, limit: int) -> tuple:
    """A search for a few words, some kept (`kept_words`, in the query's order; the others'
    occurrences in `others`, from `walked_occurrences`), whose matches are the bits `matched`,
    sampled every `step`-th rowid: the count of the matches, the sample's rowids, and the rowids of
    one page of its ranked rows that have the chosen facet keys, best first, scored as FTS5's bm25
    would score them (the answers of `walked`, without its walks of the common words)."""
    every, lengths = keys.ranked_lengths
    sample = samples.rowids_of(matched, step)  # only the sample's rowids made: a few ms less than all
    ranked = sample[samples.ranked(sample, step)]
    ranked = ranked[passing(keys, ranked, chosen)]
    if not limit:
        return samples.count_bits(matched), sample, []
    occurrences = []
    for term, _, paragraphs, found, kind in kept:  # each word's count in the ranked rows, from its rows'
        if found is None:
            weighed, counts = others[term]
        else:
            weighed, counts = samples.rowids_of(np.frombuffer(paragraphs, dtype=np.uint8), every), np.frombuffer(found, dtype=kind)
        occurrences.append(counts[np.searchsorted(weighed, ranked)])
    scores = samples.bm25(occurrences, lengths[ranked // every], [row[1] for row in kept], keys.index_totals)
    best = ranked[np.lexsort((ranked, scores))]  # ORDER BY bm25, rowid
    return samples.count_bits(matched), sample, best[offset:offset + limit + 1].tolist()


def ranked_ids_sql(conditions: list[str], every: int, limit: int, offset: int) -> str:
    """The rowids of one page of matches, best first, of those passing the filter conditions and,
    when `every` > 1, of every `every`-th rowid only (a sample)."""
    where = ["paragraphs_fts MATCH :query", *conditions]
    if every > 1:
        where.append(f"paragraphs_fts.rowid % {every} = 0")
    join = "JOIN paragraph_facets f ON f.rowid = paragraphs_fts.rowid" if conditions else ""
    return (f"SELECT paragraphs_fts.rowid FROM paragraphs_fts {join} WHERE {' AND '.join(where)} "
            f"ORDER BY bm25(paragraphs_fts), paragraphs_fts.rowid LIMIT {limit + 1} OFFSET {offset}")


def plain_rows(conn, sql: str, params: dict) -> list[tuple]:
    """Rows as plain tuples (Datasette's connections make sqlite3.Row objects, slower and not comparable)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, params).fetchall()


RESULT_SQL = """
    SELECT p.rowid AS rowid, p.id, p.article_id, a.title, p.outlet, p.meeting_id, m.label AS meeting_label,
           p.meeting_year, p.topics, p.position, p.text
    FROM paragraphs p
    JOIN articles a ON a.id = p.article_id
    LEFT JOIN meetings m ON m.id = p.meeting_id
    WHERE p.rowid IN ({ids})
"""


async def result_rows(db, ids: list[int]) -> list[dict]:
    """The paragraphs with these rowids, in the order given."""
    if not ids:
        return []
    rows = await db.execute(RESULT_SQL.format(ids=", ".join(str(int(i)) for i in ids)))
    by_rowid = {row["rowid"]: dict(row) for row in rows}
    return [by_rowid[i] for i in ids if i in by_rowid]


def snippets(query: str, texts: list[str]) -> list[str]:
    """FTS5 snippets of a few texts for a query, as the archive's index would make them.

    The texts go into a small in-memory FTS5 table with the same tokenizer, so the
    snippet costs a few paragraphs' work instead of being made for every match.
    """
    conn = getattr(_snippets, "conn", None)
    if conn is None:
        conn = _snippets.conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE page USING fts5(text, tokenize='{FTS_TOKENIZER}')")
    conn.execute("DELETE FROM page")
    conn.executemany("INSERT INTO page (rowid, text) VALUES (?, ?)", enumerate(texts))
    made = dict(conn.execute(
        f"SELECT rowid, snippet(page, 0, '{MARK_START}', '{MARK_END}', '…', 32) FROM page WHERE page MATCH ?", (query,)
    ))
    return [made.get(i, text[:200]) for i, text in enumerate(texts)]


async def search_view(datasette, request):
    """Serve /-/search: ranked, highlighted paragraphs with facets, as HTML, JSON or CSV."""
    fmt = request.url_vars.get("format") or "html"
    db = datasette.get_database()
    q = request.args.get("q", "")
    query = fts_query(q)
    notice = None
    if q.strip() and query != q.strip():
        notice = (
            "Your search could not be read as a search expression "
            f"({fts_syntax_error(q.strip())}), so it was run as plain words: {query or '(none)'}."
        )
    filters = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    params = {"query": query, **filters}
    page = max(1, int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1)

    rows, total, facets = [], 0, {}
    estimate = {"total": False, "facets": False, "ranked_sample": None}
    has_more = False
    if query:
        where_sql, results_sql = build_sql(filters)
        if fmt == "csv":
            return await csv_response(db, lambda conn: ranked_csv_lines(conn, where_sql, params, bool(filters)))
        offset = (page - 1) * PAGE_SIZE
        if await facet_keys(db) is not None:
            found = await ranked_search(db, query, filters, offset, PAGE_SIZE)
            has_more = len(found["ids"]) > PAGE_SIZE
            rows = await result_rows(db, found["ids"][:PAGE_SIZE])
            for row, snippet in zip(rows, snippets(query, [row["text"] for row in rows])):
                row["snippet"] = snippet
            total, facets = found["total"], {name: found["facets"][name] for name in PAGE_FACETS}
            estimate = {"total": found["total_estimated"], "facets": found["facets_estimated"],
                        "ranked_sample": found["ranked_sample"]}
        else:  # an archive built without the search tables: count every match
            rows = list(await db.execute(f"{results_sql} LIMIT {PAGE_SIZE + 1} OFFSET {offset}", params))
            has_more = len(rows) > PAGE_SIZE
            rows = [dict(row) for row in rows[:PAGE_SIZE]]
            total = (await db.execute(f"SELECT count(*) FROM paragraphs_fts JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid WHERE {where_sql}", params)).single_value()
            for name, sql in FACET_SQL.items():
                facets[name] = [dict(r) for r in await db.execute(sql.format(where=where_sql), params)]

    results = [
        {**{k: row[k] for k in row if k not in ("snippet", "rank", "rowid")}, "topics": json.loads(row["topics"] or "[]"),
         "snippet": row["snippet"], "rank": (page - 1) * PAGE_SIZE + i + 1}
        for i, row in enumerate(rows)
    ]
    if fmt == "json":
        return Response.json({
            "q": q, "query": query, "notice": notice, "filters": filters, "total": total,
            "total_estimated": estimate["total"], "facets_estimated": estimate["facets"],
            "ranked_sample": estimate["ranked_sample"], "has_more": has_more,
            "page": page, "page_size": PAGE_SIZE,
            "rows": [{**r, "snippet": r["snippet"].replace(MARK_START, "[").replace(MARK_END, "]")} for r in results],
            "facets": facets,
        })

    def url_with(**changes):
        args = {"q": q, **filters, **changes}
        return "?" + urlencode({k: v for k, v in args.items() if v not in (None, "")})

    for r in results:
        r["snippet_html"] = highlight(r["snippet"])
    return Response.html(
        await datasette.render_template(
            "search.html",
            {
                "q": q, "query": query, "notice": notice, "filters": filters, "total": total,
                "page": page, "page_size": PAGE_SIZE, "results": results, "facets": facets,
                "estimate": estimate, "has_more": has_more,
                "url_with": url_with, "database": db.name,
                "json_url": "/-/search.json" + url_with(), "csv_url": "/-/search.csv" + url_with(),
            },
            request=request,
        )
    )


# The export's columns, in order, and where each comes from; integers go out as written, text
# quoted (RFC 4180: "" for ").
CSV_SOURCES = {"id": "p.id", "article_id": "p.article_id", "title": "a.title", "outlet": "p.outlet",
               "meeting_id": "p.meeting_id", "meeting_year": "p.meeting_year", "topics": "p.topics",
               "position": "p.position", "text": "p.text"}
CSV_COLUMNS = list(CSV_SOURCES)
CSV_NUMBERS = {"meeting_year", "position"}


def csv_line_sql() -> str:
    """An SQL expression for one CSV line of a paragraph. SQLite building the line costs a third of
    what Python's csv module did, and a big export is mostly that work."""
    fields = [
        f"ifnull({CSV_SOURCES[name]}, '')" if name in CSV_NUMBERS
        else f"""'"' || replace(ifnull({CSV_SOURCES[name]}, ''), '"', '""') || '"'"""
        for name in CSV_COLUMNS
    ]
    return " || ',' || ".join(fields)


def ranked_csv_lines(conn, where_sql: str, params: dict, filtered: bool):
    """Every match's CSV line, best first (ties by rowid, as the search page's pages), a batch at a
    time, without snippets (which would be made for every row before sorting)."""
    join = "JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid" if filtered else ""
    ranked = f"""SELECT paragraphs_fts.rowid FROM paragraphs_fts {join} WHERE {where_sql}
        ORDER BY bm25(paragraphs_fts), paragraphs_fts.rowid LIMIT {CSV_MAX_ROWS}"""
    lines = f"SELECT p.rowid, {csv_line_sql()} FROM paragraphs p JOIN articles a ON a.id = p.article_id WHERE p.rowid IN ({{ids}})"
    yield from lines_in_order(conn, ranked, params, lines)


def lines_in_order(conn, order_sql: str, params: dict, lines_sql: str):
    """The CSV lines of the rows `order_sql` lists (rowids, in its order), a batch at a time: the
    rows put in order by rowid alone, then each batch's lines made (`lines_sql`: rowid and line,
    or its parts, of the rows {ids}). Sorting whole lines moved every line through SQLite's sorter
    and sent nothing until all were sorted."""
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(order_sql, params)
    chunks = [np.zeros(0, dtype=np.int64)]
    while chunk := cursor.fetchmany(100_000):
        chunks.append(np.array(chunk, dtype=np.int64).reshape(-1))
    order = np.concatenate(chunks)
    for start in range(0, len(order), CSV_BATCH_ROWS):
        batch = order[start:start + CSV_BATCH_ROWS].tolist()
        made = {row[0]: row[1] if len(row) == 2 else csv_line(row[1:])
                for row in plain_rows(conn, lines_sql.format(ids=", ".join(map(str, batch))), {})}
        yield [made[rowid] for rowid in batch]


async def csv_response(db, lines: Callable, header: list[str] = CSV_COLUMNS, headers: dict | None = None,
                       limit_bytes: int = 0, content_type: str = "text/csv; charset=utf-8"):
    """CSV streamed after a header row: the lines `lines(conn)` yields a batch at a time.

    The lines come from a reader thread with its own read-only connection, a
    batch at a time through a bounded queue, so memory stays flat however many
    paragraphs match and the first bytes leave at once. With `limit_bytes` the
    export stops as Datasette's stops at its `max_csv_mb`: before the first line
    that would pass it (counted in characters, as Datasette counts), with a line
    saying so.
    """
    loop = asyncio.get_running_loop()
    batches: asyncio.Queue = asyncio.Queue(maxsize=4)
    stop = threading.Event()

    def read_rows():
        conn = read_only_connection(db)
        pm.hook.prepare_connection(conn=conn, database=db.name, datasette=db.ds)  # read as Datasette's own connections do
        def hand_over(item):
            # A consumer that stopped reading (the client went away) must not hold this thread forever.
            asyncio.run_coroutine_threadsafe(batches.put(item), loop).result(timeout=60)

        try:
            for batch in lines(conn):
                if stop.is_set():
                    break
                hand_over(batch)
            hand_over(None)
        except TimeoutError:
            pass
        finally:
            conn.close()

    async def stream(writer):
        reader = loop.run_in_executor(None, read_rows)
        written = 0
        try:
            lines = [",".join(header)]
            while lines is not None:
                text = "".join(line + "\r\n" for line in lines)
                if limit_bytes and written + len(text) > limit_bytes:
                    fitting = []
                    for line in lines:
                        written += len(line) + 2
                        if written > limit_bytes:
                            break
                        fitting.append(line + "\r\n")
                    await writer.write("".join(fitting) + f"CSV contains more than {limit_bytes} bytes")
                    return
                written += len(text)
                await writer.write(text)
                lines = await batches.get()
        finally:
            stop.set()
            while not reader.done():  # the reader may be waiting to hand over a batch: take it
                try:
                    batches.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.005)
            await reader

    return AsgiStream(
        stream,
        headers=headers if headers is not None else {"content-disposition": 'attachment; filename="search.csv"'},
        content_type=content_type,
    )


# A streamed CSV export of the paragraphs table for a search and nothing else (the export the table
# page links to) is answered by table_csv_view; with any other argument Datasette answers it.
TABLE_CSV_ARGS = {"_search", "_searchmode", "_stream", "_size", "_dl"}
# Up to this many matches a table search's export sorts its lines in one statement (quickest);
# more have their rowids sorted first, so that the first lines leave soon (table_csv_lines).
TABLE_CSV_SORTED_MAX = 50_000


async def table_csv_view(datasette, request, send):
    """Serve /DB/paragraphs.csv. A streamed export of a table search alone has its lines written by
    SQLite and sent a batch at a time: the same bytes as Datasette's own export, which pages through
    the matches and writes and sends each row in Python (most of its time). Every other export is
    Datasette's."""
    args = parse_qsl(request.query_string, keep_blank_values=True)
    search = request.args.get("_search")
    try:
        db = datasette.get_database(route=request.url_vars["database"])
    except KeyError:
        db = None
    if (db is None or not search or not request.args.get("_stream") or not datasette.setting("allow_csv_stream")
            or not {key for key, _ in args} <= TABLE_CSV_ARGS or request.args.get("_size", "max") != "max"
            or len({key for key, _ in args}) < len(args) or not await db.table_exists("paragraphs_fts")):
        return await TableView.as_view(datasette)(request, send)
    columns = await db.execute_fn(lambda conn: plain_rows(conn, "SELECT name, upper(type) FROM pragma_table_info('paragraphs')", {}))
    query = table_search_expression(search, request.args.get("_searchmode") == "raw")
    headers = {}
    if datasette.cors:
        add_cors_headers(headers)
    if request.args.get("_dl"):
        headers["content-disposition"] = 'attachment; filename="paragraphs.csv"'
    return await csv_response(db, lambda conn: table_csv_lines(conn, columns, {"query": query}),
                              header=[name for name, _ in columns],
                              headers=headers, limit_bytes=datasette.setting("max_csv_mb") * 1024 * 1024,
                              content_type="text/csv; charset=utf-8" if request.args.get("_dl") else "text/plain; charset=utf-8")


def csv_field_sql(column: str) -> str:
    """An SQL expression for a text or integer column's CSV field as Python's csv module writes it
    (quoted only when it holds a comma, a quote or a line break; NULL empty)."""
    c = escape_sqlite(column)
    quoted = f"""'"' || replace({c}, '"', '""') || '"'"""
    needs_quotes = f"""instr({c}, ',') OR instr({c}, '"') OR instr({c}, char(10)) OR instr({c}, char(13))"""
    return f"CASE typeof({c}) WHEN 'null' THEN '' WHEN 'text' THEN (CASE WHEN {needs_quotes} THEN {quoted} ELSE {c} END) ELSE {c} END"


def table_csv_lines(conn, columns: list[tuple[str, str]], params: dict):
    """The CSV lines of every paragraph matching :query as Datasette's table search selects and
    orders them (by primary key), a batch at a time: up to TABLE_CSV_SORTED_MAX matches in one
    statement that sorts their lines, more by their rowids sorted first (for a word in half a
    million paragraphs the first lines leave in ~2 s, not after a sort of every line, ~13 s)."""
    matches = "SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH :query"
    parts = table_csv_parts(columns)
    many = conn.execute(f"SELECT count(*) FROM ({matches} LIMIT {TABLE_CSV_SORTED_MAX + 1})", params).fetchone()[0]
    if many <= TABLE_CSV_SORTED_MAX:
        cursor = conn.execute(f"SELECT {parts} FROM paragraphs WHERE rowid IN ({matches}) ORDER BY id", params)
        while batch := cursor.fetchmany(CSV_BATCH_ROWS):
            yield [row[0] if len(row) == 1 else csv_line(row) for row in batch]
    else:
        order = f"SELECT rowid FROM paragraphs WHERE rowid IN ({matches}) ORDER BY id"
        yield from lines_in_order(conn, order, params, f"SELECT rowid, {parts} FROM paragraphs WHERE rowid IN ({{ids}})")


def table_csv_parts(columns: list[tuple[str, str]]) -> str:
    """The paragraphs table's CSV line as SQL result columns: text and integer columns' fields
    joined by SQLite, REAL columns' values raw (Python writes a float's shortest form, SQLite
    fifteen digits; `csv_line` joins them)."""
    parts, run = [], []
    for name, kind in columns:
        if kind == "REAL":
            if run:
                parts.append(" || ',' || ".join(run))
                run = []
            parts.append(escape_sqlite(name))
        else:
            run.append(csv_field_sql(name))
    if run:
        parts.append(" || ',' || ".join(run))
    return ", ".join(parts)


def csv_line(parts: tuple) -> str:
    """One CSV line from table_csv_parts' parts: text as it is, REAL values as Python writes them."""
    return ",".join(part if isinstance(part, str) else "" if part is None else repr(part) for part in parts)


def table_search_guard(datasette, app):
    """Make table searches on the paragraphs ranked, unbreakable and quick.

    The paragraphs table's search box (HTML, no sort chosen) leads to the ranked
    search page, with the table's filters that the search page has too (with any
    other filter the table page answers). Any other table search that FTS5 could not parse, in raw mode or
    even after Datasette's own escaping (a lone quote defeats it), is rewritten
    to a raw search for its plain words, instead of failing with an error page.
    A table search whose facets will be counted from its matches starts counting
    them as it arrives (`start_facet_search`).
    """

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and b"_search" in scope.get("query_string", b""):
            args = parse_qsl(scope["query_string"].decode("utf-8", "replace"), keep_blank_values=True)
            search = next((v for k, v in args if k == "_search"), None)
            page_filters = search_page_filters(args) if search is not None else None
            if page_filters is not None and scope["path"].endswith("/paragraphs") and not any(k.startswith("_sort") for k, _ in args):
                location = "/-/search?" + urlencode({"q": search, **page_filters})
                await send({"type": "http.response.start", "status": 302,
                            "headers": [(b"location", location.encode()), (b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b""})
                return
            rewritten = safe_table_search_args(args)
            if rewritten is not None:
                scope = {**scope, "query_string": urlencode(rewritten).encode()}
                args = rewritten
            scope = start_facet_search(datasette, scope, args)
        await app(scope, receive, send)

    return wrapped


# The scope key of a table search's facet searches started as it arrived: {facet_search_key: task}.
STARTED_SEARCHES = "archive.started_facet_searches"
# A table page, as Datasette routes it: /DATABASE/paragraphs or /DATABASE/paragraphs.json.
TABLE_PAGE = re.compile(r"^/(?P<database>[^/.]+)/paragraphs(\.json)?$")


def table_search_expression(search: str, raw: bool) -> str:
    """The FTS5 expression a table search runs: as written in raw mode, else escaped as Datasette escapes it."""
    return search if raw else escape_fts(search)


def facet_search(pairs: list[tuple[str, str]]) -> tuple[str, dict] | None:
    """What a table search's counted facets count (CountedFacet): its FTS5 expression and its
    filters as the search page's; None without a search, with a filter the search page lacks, or
    with an expression FTS5 cannot parse."""
    search = next((value for key, value in pairs if key == "_search"), None)
    page_filters = search_page_filters(pairs) if search else None
    if page_filters is None:
        return None
    expression = table_search_expression(search, next((v for k, v in pairs if k == "_searchmode"), None) == "raw")
    return (expression, page_filters) if fts_syntax_error(expression) is None else None


def facet_search_key(expression: str, page_filters: dict) -> tuple:
    return expression, tuple(sorted(page_filters.items()))


def start_facet_search(datasette, scope: dict, args: list[tuple[str, str]]) -> dict:
    """The request's scope, with its facets' search started when the paragraphs table's counted
    facets will count a search's matches (CountedFacet): Datasette runs its query for the page
    first and the facets after it, and the two, each a walk of the matches, now run side by side
    in the database threads (a prefix search at a million paragraphs: ~30 ms less)."""
    page = TABLE_PAGE.match(scope["path"])
    counted = facet_search(args)
    if (page is None or counted is None or any(key == "_nofacet" and value for key, value in args)
            or any(key == "_shape" and value in ("array", "object") for key, value in args)):
        return scope
    try:
        db = datasette.get_database(route=page["database"])
    except KeyError:
        return scope

    async def search():
        return await ranked_search(db, *counted, 0, 0) if await facet_keys(db) is not None else None

    task = asyncio.ensure_future(search())
    task.add_done_callback(lambda done: done.cancelled() or done.exception())  # an error nobody awaited is not logged
    return {**scope, STARTED_SEARCHES: {facet_search_key(*counted): task}}


def safe_table_search_args(args: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """Query-string arguments with unparseable searches replaced by their plain words; None if all are fine."""
    raw = ("_searchmode", "raw") in args
    changed, result = False, []
    for key, value in args:
        if key.startswith("_search") and key != "_searchmode":
            effective = table_search_expression(value, raw)
            if fts_syntax_error(effective) is not None:
                value, changed = plain_words(value) or '""', True
        result.append((key, value))
    if not changed:
        return None
    return [(k, v) for k, v in result if k != "_searchmode"] + [("_searchmode", "raw")]


@hookimpl
def register_routes():
    return [(r"^/-/search(\.(?P<format>json|csv))?$", search_view),
            (r"^/(?P<database>[^\/\.]+)/(?P<table>paragraphs)\.(?P<format>csv)$", table_csv_view)]


@hookimpl
def startup(datasette):
    # Facet keys are read while the server starts, so that the first search seldom waits for them.
    for db in datasette.databases.values():
        start_reading(db, read_facet_keys)
        # Other plugins read what they keep of the file the same way (plugins/quotes.py).
        db.read_once = lambda reader, db=db: start_reading(db, reader)
        # The table plans (plugins/table_plans.py) count and page a table search for kept words, or
        # a search or topics with facet values, from the members this gives.
        db.table_members = lambda search, raw, pairs, walk_alone=False, db=db: \
            table_members(db, search, raw, pairs, walk_alone)
        # ... and a page of any other filters from the members of its where clause.
        db.selected_members = lambda where, params, db=db: selected_members(db, where, params)


@hookimpl
def asgi_wrapper(datasette):
    return lambda app: table_search_guard(datasette, app)


@hookimpl
def prepare_connection(conn):
    # Canned queries call fts_query(:q) so that they accept the same queries as the search page.
    conn.create_function("fts_query", 1, sql_fts_query, deterministic=True)


@hookimpl
def render_cell(value):
    # Snippets made with char(1)/char(2) around matches (as the search canned query does) show highlighted.
    if isinstance(value, str) and MARK_START in value:
        return highlight(value)
    return None


# The paragraphs table's default facets (metadata.yml: `counted: COLUMN`). Unfiltered, their counts come
# from facet_values, counted when the archive was built; filtered by facet values (or searched), from
# every paragraph's keys held in memory; filtered otherwise, they run SQL as Datasette's own facets
# do, with the topics array counted from paragraph_topics (indexed) rather than json_each.
# paragraphs column -> facet, from the build's own facet definitions.
COUNTED_COLUMNS = {**{column: facet for facet, (column, _) in SEARCH_FACETS.items()}, "topics": "topic"}
# Table page arguments that do not choose rows: paging, sorting, shapes, facets, time limits.
NOT_FILTERS = {"_facet", "_facet_array", "_facet_date", "_facet_size", "_sort", "_sort_desc", "_size", "_next",
               "_nocount", "_nofacet", "_nosuggest", "_shape", "_json", "_json_infinity", "_labels", "_nolabels",
               "_col", "_nocol", "_trace", "_timelimit", "_ttl", "_stream", "_dl", "_header", "_searchmode"}
# Filters that pick one facet value: `column=value` or `column__exact=value` for a facet column,
# and a topic as `_topic=slug` or `topics__arraycontains=slug`.
KEYED_FILTERS = {**{column: facet for column, facet in COUNTED_COLUMNS.items() if column != "topics"},
                 "_topic": "topic", "topics__arraycontains": "topic"}


def facet_filters(pairs) -> list[tuple[str, str]] | None:
    """A table page's filters as (facet, value) pairs when each picks one facet value; None when
    any is of another kind (a search, a range, SQL)."""
    chosen = []
    for name, value in pairs:
        if name in NOT_FILTERS:
            continue
        facet = KEYED_FILTERS.get(name.removesuffix("__exact"))
        if facet is None:
            return None
        chosen.append((facet, value))
    return chosen


def keyed_filters(keys: FacetKeys, pairs) -> list[tuple[str, int]] | None:
    """A table page's filters as (facet, key) pairs when each picks a facet value the archive has."""
    chosen = facet_filters(pairs)
    keyed = [(facet, keys.key(facet, value)) for facet, value in chosen or ()]
    return None if chosen is None or any(key is None for _, key in keyed) else keyed


def search_page_filters(pairs) -> dict[str, str] | None:
    """A table search's other filters as the search page's parameters (FILTERS); None when one has
    no counterpart there (a city, a range, SQL…) or picks a second value for the same facet."""
    chosen = facet_filters([(name, value) for name, value in pairs if name != "_search"])
    if chosen is None or any(facet not in FILTERS for facet, _ in chosen) or len({f for f, _ in chosen}) < len(chosen):
        return None
    return dict(chosen)


class CountedFacet(Facet):
    type = "counted"

    async def selected(self, db) -> KeptMembers | None:
        """The paragraphs of the page's selection, whatever its filters (`selected_members`); None
        for SQL of another shape, or if reading them takes too long (each facet is then counted
        by SQL, and times out as it would)."""
        found = FACET_ROWS.fullmatch(self.sql)
        split = getattr(db, "split_page_start", None)
        if found is None or split is None or not found["where"]:
            return None
        try:
            return await selected_members(db, split(found["where"])[0], self.params)
        except QueryInterrupted:
            return None

    async def facet_results(self):
        results, timed_out = [], []
        db = self.ds.get_database(self.database)
        keys = await facet_keys(db) if self.table == "paragraphs" else None
        facet_size = self.get_facet_size()
        pairs = self.get_querystring_pairs()
        chosen = keyed_filters(keys, pairs) if keys is not None else None
        unfiltered = chosen == []
        # Filtered by facet values only: every paragraph's keys give the exact counts (a million in ~20 ms).
        browsed = count_facets(keys, keys.present, chosen)[0] if chosen else None
        searched = None
        counted = facet_search(pairs) if keys is not None else None
        if (keys is not None and counted is None and chosen is None
                and (members := await filtered_search_members(db, pairs)) is not None):
            # A table search with filters the search page lacks (a city, two topics): exact counts
            # from the paragraphs it picks, as the table plans count and page it.
            browsed = count_facets(keys, members.mask(len(keys.present)), [])[0]
        elif keys is not None and counted is None and chosen is None and (members := await self.selected(db)) is not None:
            # Any other filters: counted from the rowids of the page's selection, read once.
            browsed = count_facets(keys, members.mask(len(keys.present)), [])[0]
        if counted is not None:
            # A table search, maybe with filters the search page has: counted from the matches' keys
            # as the search page counts (every match up to EXACT_MAX, above that a sample, marked as
            # an estimate); started as the request arrived (start_facet_search), or now.
            started = self.request.scope.get(STARTED_SEARCHES, {}).get(facet_search_key(*counted))
            searched = await (started or ranked_search(db, *counted, 0, 0))
        for source_and_config in self.get_configs():
            config = source_and_config["config"]
            column = config.get("column") or config["simple"]
            array = column == "topics"
            facet = COUNTED_COLUMNS.get(column)
            try:
                if (searched is not None or browsed is not None) and facet:
                    listed = (searched["facets"] if searched is not None else browsed)[facet]
                    rows = [(item["value"], item["n"]) for item in listed if item["value"] is not None][:facet_size + 1]
                elif keys is not None and unfiltered and facet:
                    rows = sorted(((value, n) for value, _, n in keys.by_key.get(facet, {}).values() if value is not None and n),
                                  key=lambda row: (-row[1], str(row[0])))[:facet_size + 1]
                elif array:
                    rows = (await self.ds.execute(self.database, f"""
                        SELECT pt.topic AS value, count(*) AS count FROM paragraph_topics pt
                        WHERE pt.paragraph_id IN (SELECT id FROM ({self.sql}))
                        GROUP BY pt.topic ORDER BY count DESC, value LIMIT {facet_size + 1}""",
                        self.params, truncate=False, custom_time_limit=self.ds.setting("facet_time_limit_ms"))).rows
                else:
                    rows = (await self.ds.execute(self.database, f"""
                        SELECT {escape_sqlite(column)} AS value, count(*) AS count FROM ({self.sql})
                        WHERE {escape_sqlite(column)} IS NOT NULL
                        GROUP BY {escape_sqlite(column)} ORDER BY count DESC, value LIMIT {facet_size + 1}""",
                        self.params, truncate=False, custom_time_limit=self.ds.setting("facet_time_limit_ms"))).rows
            except QueryInterrupted:
                timed_out.append(column)
                continue
            rows = [tuple(row) for row in rows]
            argument = "_topic" if array else column
            # A topic is chosen by `_topic` (ours) or by Datasette's `topics__arraycontains`; either is
            # shown chosen, and its link takes away the one given.
            arguments = (argument, "topics__arraycontains") if array else (argument,)
            values = []
            for value, count in rows[:facet_size]:
                chosen_by = next((name for name in arguments if (name, str(value)) in pairs), None)
                toggled = path_with_removed_args(self.request, {chosen_by: str(value)}) if chosen_by \
                    else path_with_added_args(self.request, {argument: str(value)})
                values.append({
                    "value": value, "label": value, "count": count, "selected": chosen_by is not None,
                    "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggled)),
                })
            results.append({
                "name": column, "type": self.type, "hideable": source_and_config["source"] != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet": column})),
                "results": values, "truncated": len(rows) > facet_size,
                "estimate": bool(searched and searched["facets_estimated"]),
            })
        return results, timed_out


@hookimpl
def register_facet_classes():
    return [CountedFacet]
