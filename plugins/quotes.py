"""The quotes table served from every quotation's keys, held in memory: its facets, and a
search's count and pages.

Datasette counts each facet of a table page with its own query over the page's
rows: for a search of the quotes table every facet walks the search's matches
again and reads each matching row (`china`, 89,775 quotations at a million
paragraphs: four facets of ~80 ms each); and it sorts every match for the page and
looks each one up for the count (~45 and ~35 ms for `russia`). Here each server
process reads, once per version of the archive file, every quotation's speaker,
meeting, outlet and verb as small integer keys, and every rowid in the table's
order (arrays by rowid; with the values, ~17 MB at 1M, read in ~2 s). A page whose
filters are a search and values of those columns (`speaker=Xi+Jinping`, as
Datasette writes them) is selected from them — the search walked once, the values
compared in numpy — and kept for the page's count and facets and the pages to
come:

- its facets are counted from the rowids it selects (metadata.yml names them
  `keyed: COLUMN`; their results are Datasette's column facets', the same values,
  counts, order, labels and links);
- on an archive served immutable, its count is the number selected, and each page
  (`_next` included) the first of them in the table's order after its start, read
  by rowid: the full-text index is built from the table (`content="quotes"`) and
  the file never changes.

A filter of any other kind beside them (`quote__contains=…`, `number__gt=…`, a
`_where`) is read once as the rowids it selects, by SQL, and then counts, pages
and facets the same way (`quote__contains` over 480,844 quotations at 1M: Datasette
scanned them for the count and again for each of four facets, ~1.4 s; once, ~0.3
s). The first page's rows are Datasette's own query's until the selection is read
(a page of rows stops at its hundredth match; the selection reads every row, and
runs out of the page's time where the page would not).

Any other page (a column facet that is not keyed, another sort's rows, a value no
quotation has) is answered by Datasette's own queries, as before.
"""

from __future__ import annotations

import asyncio
import re
from typing import NamedTuple

import numpy as np
from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import ColumnFacet
from datasette.utils import escape_fts, path_with_added_args, path_with_removed_args

from ingest.load import named_values
from ingest.samples import first_members, rowid_array
from ingest.text import BoundedCache

TABLE = "quotes"
KEYED_COLUMNS = ("speaker", "meeting_id", "outlet", "verb")
# The page's rows as Datasette selects them for facets, and the conditions of its where clause
# that these keys answer: a keyed column's value, and the table's full-text search.
PAGE_SQL = re.compile(r"select .+? from quotes(?: where (?P<where>.+?))?\s*", re.S)
# A page of rows in the table's order (after a page's start), and the count, as Datasette writes them.
# (Its columns are names, as Datasette lists them: a reader's query selecting anything else runs as written.)
ORDERED_SQL = re.compile(r"select (?P<columns>(?:\w+|\[[^\]]+\])(?:, (?:\w+|\[[^\]]+\]))*) from quotes where (?P<where>.+) order by paragraph_id, number limit (?P<limit>\d+)\s*", re.S)
COUNT_SQL = re.compile(r"select count\(\*\) from quotes where (?P<where>.+?)\s*", re.S)
SELECTIONS = 16  # pages' selections kept per archive (~60 KB each at 1M)
EQUALS = re.compile(r'"(?P<column>\w+)" = :(?P<param>p\d+)')
SEARCH = re.compile(r"rowid in \(select rowid from quotes_fts where quotes_fts match (?P<arg>escape_fts\(:search\)|:search)\)")


class Conditions(NamedTuple):
    """What a page's where clause selects quotations by."""

    chosen: list[tuple[str, int]]  # (keyed column, key of its value)
    search: str | None  # the FTS5 expression
    rest: str  # every other condition, as SQL ("" for none)
    rest_params: tuple  # (name, value) of the params the rest names


class QuoteKeys(NamedTuple):
    """Every quotation's keyed columns: by rowid, the key of its value (-1 for none)."""

    columns: dict[str, np.ndarray]
    values: dict[str, list]  # column -> the value of each key, in SQLite's order of values
    keys: dict[str, dict[str, int]]  # column -> str(value) -> key
    present: np.ndarray  # by rowid: whether a quotation has it
    in_order: np.ndarray  # every rowid in the table's order (paragraph_id, number)
    selections: BoundedCache  # (chosen, search) -> the rowids selected, ascending


def read_quote_keys(conn) -> QuoteKeys | None:
    """The quotes table's keys (None for an archive without one), from a connection."""
    cursor = conn.cursor()
    cursor.row_factory = None
    if not cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone():
        return None
    # Every rowid in the table's order: its primary key's index walked (0.3 s at 1M).
    in_order = rowid_array(cursor.execute(f"SELECT group_concat(rowid) FROM (SELECT rowid FROM {TABLE} "
                                          "ORDER BY paragraph_id, number)").fetchone()[0]).astype(np.int32)
    max_rowid = int(in_order.max()) if len(in_order) else 0
    present = np.zeros(max_rowid + 1, dtype=bool)
    present[in_order] = True
    columns, values, keys = {}, {}, {}
    for column in KEYED_COLUMNS:
        # Keys in the order of the values (as SQLite sorts them), a value's rowids as one string each.
        listed = cursor.execute(f"SELECT [{column}], group_concat(rowid) FROM {TABLE} WHERE [{column}] IS NOT NULL "
                                f"GROUP BY [{column}] ORDER BY [{column}]").fetchall()
        by_rowid = np.full(max_rowid + 1, -1, dtype=np.int32)
        for key, (_, rowids) in enumerate(listed):
            by_rowid[rowid_array(rowids)] = key
        columns[column], values[column] = by_rowid, [value for value, _ in listed]
        keys[column] = {str(value): key for key, value in enumerate(values[column])}
    return QuoteKeys(columns, values, keys, present, in_order, BoundedCache(SELECTIONS))


async def quote_keys(db) -> QuoteKeys | None:
    """The quote keys of a database, read once per version of its file by the search plugin's
    `db.read_once`; None without it, a file, or a quotes table."""
    read_once = getattr(db, "read_once", None)
    future = read_once(read_quote_keys) if read_once else None
    return await asyncio.wrap_future(future) if future is not None else None


def page_conditions(keys: QuoteKeys, sql: str, params: dict) -> Conditions | None:
    """What a page's SQL selects quotations by: keyed values, a search, and the rest of its
    conditions; None for SQL of another shape. A keyed value no quotation has gets no key: the
    page's SQL then decides."""
    page = PAGE_SQL.fullmatch(sql)
    if page is None:
        return None
    chosen, search, rest = [], None, []
    for atom in top_level_conditions(page["where"] or ""):
        if (equals := EQUALS.fullmatch(atom)) and equals["column"] in KEYED_COLUMNS:
            value = params.get(equals["param"])
            key = keys.keys[equals["column"]].get(value) if isinstance(value, str) else None
            if key is None:
                return None
            chosen.append((equals["column"], key))
        elif (match := SEARCH.fullmatch(atom)) and search is None and isinstance(params.get("search"), str):
            search = escape_fts(params["search"]) if match["arg"].startswith("escape_fts") else params["search"]
        else:
            rest.append(atom)
    rest_sql = " and ".join(rest)
    return Conditions(chosen, search, rest_sql, tuple(named_values(rest_sql, params).items()))


def top_level_conditions(where: str) -> list[str]:
    """A where clause's conditions, as Datasette joins them with " and ": split only outside
    parentheses and quotes (a `_where` comes in parentheses, and may hold " and " itself). A
    clause with a comment is one condition: what a comment hides is not read."""
    if not where or "--" in where or "/*" in where:
        return [where] if where else []
    atoms, depth, quote, start, at = [], 0, None, 0, 0
    while at < len(where):
        char = where[at]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"[":
            quote = "]" if char == "[" else char
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif depth == 0 and where.startswith(" and ", at):
            atoms.append(where[start:at])
            start = at = at + len(" and ")
            continue
        at += 1
    return [*atoms, where[start:]]


def selected(keys: QuoteKeys, chosen: list[tuple[str, int]], matched: np.ndarray | None) -> np.ndarray:
    """The rowids of the quotations with every chosen key (and among `matched`, if given)."""
    member = keys.present.copy()
    for column, key in chosen:
        member &= keys.columns[column] == key
    if matched is None:
        return np.flatnonzero(member)
    matched = matched[matched < len(member)]
    return matched[member[matched]]


def selection_key(conditions: Conditions) -> tuple:
    return tuple(conditions.chosen), conditions.search, conditions.rest, conditions.rest_params


async def selection(db, keys: QuoteKeys, conditions: Conditions, time_limit=None) -> np.ndarray:
    """The rowids (ascending) of the quotations a page selects: with every chosen key, matching
    the search (walked once) and the rest of its conditions (read once by SQL); kept for the
    page's count, facets and next pages."""
    key = selection_key(conditions)
    found = keys.selections.get(key)
    if found is None:
        matched = None
        if conditions.search is not None:
            walked = await db.execute("SELECT group_concat(rowid) FROM quotes_fts WHERE quotes_fts MATCH :q",
                                      {"q": conditions.search}, custom_time_limit=time_limit)
            matched = np.sort(rowid_array(walked.rows[0][0]))
        if conditions.rest:
            # (The clause on a line of its own: a reader's `_where` may end in a `--` comment.)
            read = await db.execute(f"SELECT group_concat(rowid) FROM quotes WHERE {conditions.rest}\n",
                                    dict(conditions.rest_params), custom_time_limit=time_limit)
            rest = np.sort(rowid_array(read.rows[0][0]))
            matched = rest if matched is None else np.intersect1d(matched, rest, assume_unique=True)
        # (32-bit: sixteen selections of every quotation at 1M hold ~30 MB, not 60.)
        found = keys.selections.put(key, selected(keys, conditions.chosen, matched).astype(np.int32))
    return found


def facet_rows(keys: QuoteKeys, column: str, rowids: np.ndarray, limit: int) -> list[tuple]:
    """(value, count) of the column's values among these quotations, as Datasette's facet query
    lists them: most first, then by value; none for a quotation without one; `limit` at most."""
    counts = np.bincount(keys.columns[column][rowids] + 1, minlength=len(keys.values[column]) + 1)[1:]
    found = np.flatnonzero(counts)
    # Keys are in the values' order, so ties in count stay in the order of their values.
    order = found[np.argsort(-counts[found], kind="stable")][:limit]
    return [(keys.values[column][key], int(counts[key])) for key in order]


class KeyedFacet(ColumnFacet):
    """A column facet of the quotes table counted from the keys held in memory when the page
    selects by a search and keyed values; otherwise Datasette's own column facet."""

    type = "keyed"

    async def suggest(self):
        return []  # Datasette's column facet suggests the table's other columns already

    async def facet_results(self):
        db = self.ds.get_database(self.database)
        keys = await quote_keys(db) if self.table == TABLE else None
        configs = self.get_configs()
        # (Datasette hands an unfiltered page's params as an empty list.)
        params = self.params if isinstance(self.params, dict) else {} if not self.params else None
        # Every page of a selection counts the whole of it (the next page's condition taken out: plugins/paging.py).
        sql = getattr(db, "without_next_page", lambda page_sql: page_sql)(self.sql)
        conditions = page_conditions(keys, sql, params) if keys is not None and params is not None else None
        if conditions is None or any((c["config"].get("column") or c["config"]["simple"]) not in KEYED_COLUMNS for c in configs):
            return await super().facet_results()
        try:
            rowids = await selection(db, keys, conditions, time_limit=self.ds.setting("facet_time_limit_ms"))
        except QueryInterrupted:  # as Datasette's facets time out: each one named
            return [], [c["config"].get("column") or c["config"]["simple"] for c in configs]
        facet_size = self.get_facet_size()
        qs_pairs = self.get_querystring_pairs()
        results = []
        for source_and_config in configs:
            column = source_and_config["config"].get("column") or source_and_config["config"]["simple"]
            rows = facet_rows(keys, column, rowids, facet_size + 1)
            values = [value for value, _ in rows[:facet_size]]
            expanded = await self.ds.expand_foreign_keys(self.database, self.table, column, values)
            listed = []
            for value, count in rows[:facet_size]:
                # As Datasette's column facet links a value (a column named with "_" is asked as __exact).
                column_qs = f"{column}__exact" if column.startswith("_") else column
                chosen_now = (column_qs, str(value)) in qs_pairs
                toggle = path_with_removed_args(self.request, {column_qs: str(value)}) if chosen_now \
                    else path_with_added_args(self.request, {column_qs: value})
                listed.append({"value": value, "label": expanded.get((column, value), value), "count": count,
                               "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(toggle)),
                               "selected": chosen_now})
            results.append({
                "name": column, "type": self.type, "hideable": source_and_config["source"] != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet": column})),
                "results": listed, "truncated": len(rows) > facet_size,
            })
        return results, []


class QuotePlanner:
    """Answers a quotes page's count and rows from its selection (an immutable archive's)."""

    def __init__(self, db):
        self.db = db
        self.execute = db.execute  # what ran before: Datasette's own, or another plugin's plans
        self.usable: bool | None = None  # the full-text index is the table's own (read once)

    async def planned_execute(self, sql, params=None, *args, **kwargs):
        """Database.execute, running a quotes page's count or rows from its selection."""
        if isinstance(sql, str) and isinstance(params, dict) and sql.startswith("select") and " from quotes where " in sql:
            sql = await self.rewrite(sql, params) or sql
        return await self.execute(sql, params, *args, **kwargs)

    async def rewrite(self, sql: str, params: dict) -> str | None:
        """The count as a number, or the page as the rows of its members listed; None for any other query."""
        page = ORDERED_SQL.fullmatch(sql)
        count = None if page else COUNT_SQL.fullmatch(sql)
        if not (page or count):
            return None
        where, after = (page or count)["where"], None
        if page:  # a page's start: after the last row's (paragraph_id, number), as plugins/paging.py reads it
            where, start = getattr(self.db, "split_page_start", lambda clause: (clause, None))(where)
            if start is not None and (start.keys != ("paragraph_id", "number") or start.column is not None):
                return None  # another table's key, or another order
            if start is not None and not where:
                return None  # no filter beside the start: Datasette's own plan reads the table in order
            after = start.condition if start else None
        keys = await quote_keys(self.db)
        conditions = page_conditions(keys, f"select * from quotes where {where}", params) if keys is not None else None
        if conditions is None or not await self.index_is_the_tables():
            return None
        if page and conditions.rest and keys.selections.get(selection_key(conditions)) is None:
            return None  # a first page of rows stops at its last; the count reads the selection
        rowids = await selection(self.db, keys, conditions)
        if count:
            return f"select {len(rowids)}"
        start = 0
        if after:
            first = (await self.execute(f"select rowid from quotes where {after} order by paragraph_id, number limit 1", params)).first()
            if first is None:
                return f"select {page['columns']} from quotes where 0"
            start = int(np.flatnonzero(keys.in_order == first[0])[0])
        member = np.zeros(len(keys.present), dtype=bool)
        member[rowids] = True
        listed = first_members(keys.in_order, member, start, int(page["limit"]))
        return (f"select {page['columns']} from quotes where rowid in ({','.join(map(str, listed.tolist()))}) "
                f"order by paragraph_id, number limit {page['limit']}")

    async def index_is_the_tables(self) -> bool:
        """Whether quotes_fts is built from the quotes themselves: each match is one quotation."""
        if self.usable is None:
            found = (await self.execute("select sql from sqlite_master where name = 'quotes_fts'")).first()
            self.usable = bool(found) and re.search(r"""\bcontent\s*=\s*["'\[]?quotes["'\]]?\s*[,)]""", found[0] or "") is not None
        return self.usable


@hookimpl
def register_facet_classes():
    return [KeyedFacet]


@hookimpl
def startup(datasette):
    # Read while the server starts, as the paragraphs' facet keys are (the search plugin's read_once).
    async def inner():
        for db in datasette.databases.values():
            if getattr(db, "read_once", None):
                db.read_once(read_quote_keys)
            # Only an immutable file: a count and pages from what was read hold while it never changes.
            if db.path and not db.is_mutable and not hasattr(db, "quote_planner"):
                db.quote_planner = QuotePlanner(db)
                db.execute = db.quote_planner.planned_execute
    return inner
