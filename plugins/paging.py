"""Paging through any table: every page in one order, and facets of the whole selection.

Datasette (0.65) pages a table by keyset: each next page starts after the last
row's primary key (and, sorted, its value of the sort column). Four things it
does not get right, which cost a reader rows and numbers:

- A sorted table's first page is ordered by the sort column alone, the next
  pages by the column and the primary key. Rows tied on the column come in
  SQLite's order on the first page and in key order after it, so paging skipped
  some and showed others twice: sorted by publication date, paging through the
  47,671 articles of a million paragraphs showed 19,540 of them (a sorted CSV
  export, which pages the same way, lost as many). Every sorted table query of
  that shape gets the table's primary key (or rowid) after its sort column, as
  the next pages have it; the order is only made complete, so any answer to the
  query as written is still an answer to it.
- A page's facets count the rows of its where clause, the next page's condition
  included: page two of the quotes counted only the quotations after page one's
  last row, beside the same row count as page one. A facet query over a table
  page has the next page's condition taken out, so every page of a selection
  counts the whole selection, as its row count does.
- A facet value's link on a later page (HTML and the JSON's `toggle_url`) keeps the
  page's start, so a value chosen on page three listed only its rows after page
  two. The links start the chosen selection at its first page.
- A `_where` is joined to the page's other filters and its start with " and ", so
  `a or b` beside a filter picked rows the filter leaves out and paged without
  end. A table page's `_where` is put in parentheses (`parenthesized_wheres`).

Every page of a selection asks the same count and facet queries; on a file that
never changes (the archive as served) each server process answers them once. One
that runs out of its time limit (a `contains` over every line, a facet of two
million topic tags) is finished by a thread of the process's own, a query at a
time, so that the selection's next page (or the same page asked again) has the
count or facet the first page went without. A table whose facets are columns (the
lines' kind, the topic tags' topic, the copies' method, the articles' four) counts
a selection and its facets in one pass: its rows grouped by the facets' values (at
1M, the lines containing a word 1.2 → 0.6 s; the topic tags above a score 1.2 s
without their topic facet → 0.9 s with it).

The paragraphs' and quotes' own plans (plugins/table_plans.py, plugins/quotes.py)
order and count the same way; each database's `without_next_page` and
`split_page_start` (where a later page starts, read from Datasette's condition) are
offered to them, so that one reading of Datasette's paging serves every plugin.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import queue
import re
import sqlite3
import threading
from contextlib import closing
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import datasette.database
from datasette import hookimpl
from datasette.database import QueryInterrupted, Results
from datasette.utils import escape_sqlite, tilde_decode

from ingest.load import named_values, open_read_only
from ingest.text import BoundedCache

# The table of the table page being answered (/database/table, its JSON or CSV), if it is one: only
# its queries of that table are Datasette's own, which these rewrites know; a query a reader wrote
# (a canned query's page has the same shape of path) stays as written.
TABLE_REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("table_request", default=None)
ANSWERS_KEPT = 512  # count and facet queries' answers kept a database (each at most ~30 rows)
# A facet's counts over a page's rows, as Datasette's facets and ours write them: grouped, limited.
FACET_COUNTS = re.compile(r"\bcount\(\*\) as count\b.*\bgroup by\b.*\blimit \d+\s*$", re.S | re.I)
# How long a query that ran out of its time limit may take to be finished, and how many may wait.
FINISH_LIMIT_MS = 60_000
FINISHING_MAX = 16
TABLE_PATH = re.compile(r"^/(?!-/)[^/]+/(?P<table>[^/]+?)(?:\.(?:json|csv))?$")
COLUMN = r'(?:\w+|\[[^\]]+\]|"[^"]+")'  # a name as Datasette's escape_sqlite writes it (or quoted)
# The condition after the last row's key, as Datasette writes it (utils.compound_keys_after_sql,
# or a rowid): ((pk > :p0)) for one key, ((pk1 > :p0)\n  or\n(pk1 = :p0 and pk2 > :p1)) for two.
AFTER_KEY = r"(?:\((?:\([^()]*\)\n  or\n)*\([^()]*\)\)|rowid > :p\d+)"
# The next page's condition of a sorted table (views/table.py): after the last row's value, or at
# it and after its key; for a null value, the nulls after its key (descending: nulls come last)
# or every value (ascending: nulls come first).
AFTER_SORTED = (rf"\((?P<c1>{COLUMN}) (?P<op>[<>]) :(?P<v>p\d+)(?: or (?P=c1) is null)? or \((?P=c1) = :(?P=v) and {AFTER_KEY}\)\)",
                rf"\((?P<c2>{COLUMN}) is null and {AFTER_KEY}\)",
                rf"\((?P<c3>{COLUMN}) is not null or \((?P=c3) is null and {AFTER_KEY}\)\)")
NEXT_PAGE = "|".join([AFTER_KEY, *AFTER_SORTED])
# A page's where clause: its selection's conditions, then the next page's condition (always the last).
WITH_PAGE_START = re.compile(rf"(?:(?P<rest>.+) and )?(?P<start>{NEXT_PAGE})", re.S)
# The key part of the condition, which ends it: its last clause names every key column in order.
KEY_PART = re.compile(r"(?:\((?:\([^()]*\)\n  or\n)*\((?P<last>[^()]*)\)\)|rowid > :(?P<rowid>p\d+))\)*\Z")
KEY_TERM = re.compile(rf"(?P<column>{COLUMN}) [=>] :(?P<param>p\d+)")
# A table page's rows for its facets (`select … from table where … and NEXT `), where the next
# page's condition is always the last; alone (as a facet class is handed it) or in a query over
# them (a facet's: `from (select … ) group by …`).
COLUMNS = rf"{COLUMN}(?:, {COLUMN})*"  # a page's columns, as Datasette lists them: names and nothing else
PAGE_ROWS = rf"select {COLUMNS} from (?P<table>{COLUMN}) "
WITHOUT_NEXT = rf"(?:where (?P<where>.+?) and |where )(?:{NEXT_PAGE}) "
PAGE_ALONE = re.compile(rf"(?P<head>{PAGE_ROWS}){WITHOUT_NEXT}(?P<tail>\s*)", re.S)
# (A plugin's facet query may spell it FROM.)
PAGE_IN_QUERY = re.compile(rf"(?P<head>\b(?i:from) \(\s*{PAGE_ROWS}){WITHOUT_NEXT}(?P<tail>\s*\))", re.S)
# A table page sorted by one column, as Datasette writes its first page.
SORTED_PAGE = re.compile(rf"select (?P<columns>{COLUMNS}) from (?P<table>{COLUMN}) (?:where (?P<where>.+) )?"
                         rf"order by (?P<order>{COLUMN}(?: desc)?) limit (?P<limit>\d+)(?P<offset> offset \d+)?\s*", re.S)
# A table page's count of its selection, as Datasette writes it (the same on every page).
SELECTION_COUNT = re.compile(rf"select count\(\*\) from (?P<table>{COLUMN}) where (?P<where>.+)", re.S)
# A column's facet over a table page's rows, as Datasette's ColumnFacet writes it (facets.py), the
# next page's condition taken out.
COLUMN_FACET = re.compile(rf"\s*select (?P<column>{COLUMN}) as value, count\(\*\) as count from \(\s*"
                          rf"select {COLUMNS} from (?P<table>{COLUMN}) where (?P<where>.+?)\s*\)\s*"
                          rf"where (?P=column) is not null\s*group by (?P=column) order by count desc, value limit (?P<limit>\d+)\s*", re.S)
# A table whose facets are columns counts a selection by their values together, in one pass, if
# they make at most this many groups (its count is their sum); one with more is counted as
# Datasette counts it.
GROUPS_MAX = 10_000


def without_next_page(sql: str, table: str | None = None) -> str:
    """A table page's rows for its facets, or a query over them (a facet's), without the next
    page's condition: every row of the page's selection (of `table`'s rows only, if given)."""
    def whole(found: re.Match) -> str:
        if table is not None and unquoted(found["table"]) != table:
            return found.group(0)
        return f"{found['head']}{'where ' + found['where'] + ' ' if found['where'] else ''}{found['tail']}"

    if alone := PAGE_ALONE.fullmatch(sql):
        return whole(alone)
    return PAGE_IN_QUERY.sub(whole, sql)


def unquoted(name: str) -> str:
    return name[1:-1] if name[:1] in "[\"" else name


class PageStart(NamedTuple):
    """Where a later page of a table starts (`_next`): after the row whose key columns `keys` have
    the values of the params `params` and, on a page sorted by `column`, whose value of it is the
    param `value`'s (None: a null)."""

    condition: str  # as Datasette wrote it
    keys: tuple[str, ...]  # the table's key columns in order (or rowid), unquoted
    params: tuple[str, ...]  # the params of the last row's key values, in the same order
    column: str | None = None  # the sort column, unquoted; None for a page in key order
    desc: bool = False
    value: str | None = None  # the param of the last row's value of the sort column; None for a null


def split_page_start(where: str | None) -> tuple[str, PageStart | None]:
    """A table page's where clause as its selection's clause and where the page starts (None for
    a first page, or a clause Datasette's paging did not write)."""
    found = WITH_PAGE_START.fullmatch(where or "")
    key = KEY_PART.search(found["start"]) if found else None
    if key is None:
        return where or "", None
    if key["rowid"]:
        keys, params = ("rowid",), (key["rowid"],)
    else:
        terms = KEY_TERM.findall(key["last"])
        keys, params = tuple(unquoted(column) for column, _ in terms), tuple(param for _, param in terms)
    column = found["c1"] or found["c2"] or found["c3"]
    start = PageStart(found["start"], keys, params, unquoted(column) if column else None,
                      desc=found["op"] == "<" or found["c2"] is not None, value=found["v"])
    return found["rest"] or "", start


class Pager:
    """Wraps a database's execute: sorted table pages made whole in their order, and facet
    queries counted over the whole selection."""

    def __init__(self, db):
        self.db = db
        self.execute = db.execute  # what ran before: Datasette's own, or another plugin's plans
        self.keys: dict[str, str | None] = {}  # table -> its order's tie-break (None: no such table)
        # A selection's count and facet counts, which every page of it asks for again (its next
        # pages, sorted or not): an immutable file's answers never change (the lines' page two at
        # 1M: 0.1 s of counting facets; a `contains` over every line, 0.5 s of counting).
        kept = db.path and not db.is_mutable
        self.answers = BoundedCache(ANSWERS_KEPT) if kept else None
        self.finisher = Finisher(db, self.answers) if kept else None
        self.facets: dict[str, tuple[str, ...]] = {}  # table -> its facets' columns (none: not all columns)

    async def paged_execute(self, sql, params=None, *args, **kwargs):
        """Database.execute, with a sorted page's ties in key order and a facet's query over the
        whole selection; a selection's count and facets answered once."""
        table = TABLE_REQUEST.get()
        if isinstance(sql, str) and sql.lstrip().startswith("select") and table is not None:
            if "from (" in sql.lower():
                sql = without_next_page(sql, table)
                if self.answers is not None and FACET_COUNTS.search(sql):
                    if (facet := COLUMN_FACET.fullmatch(sql)) and (counted := self.facet_from_groups(facet, params)):
                        return counted
                    return await self.answered_once(sql, params, *args, **kwargs)
            elif (count := SELECTION_COUNT.fullmatch(sql)) and unquoted(count["table"]) == table:
                if self.answers is not None:
                    if (columns := await self.facet_columns(table)) and (counted := await self.count_by_groups(count, columns, params)):
                        return counted
                    return await self.answered_once(sql, params, *args, **kwargs)
            elif (page := SORTED_PAGE.fullmatch(sql)) and unquoted(page["table"]) == table \
                    and (key := await self.tie_break(table)) and key != page["order"].removesuffix(" desc"):
                # (A page ordered by its key already is left as it is.)
                sql = (f"select {page['columns']} from {page['table']} {'where ' + page['where'] + ' ' if page['where'] else ''}"
                       f"order by {page['order']}, {key} limit {page['limit']}{page['offset'] or ''}")
        return await self.execute(sql, params, *args, **kwargs)

    async def answered_once(self, sql: str, params, *args, **kwargs):
        """A selection's count or facet query, answered once a server process (by its SQL and the
        values it names: a later page's start, which it no longer names, changes nothing). One
        that runs out of time is handed to the finisher, and times out as it would."""
        key = self.answer_key(sql, params, args, kwargs)
        if key not in self.answers:
            try:
                self.answers.put(key, await self.execute(sql, params, *args, **kwargs))
            except QueryInterrupted:
                self.finisher.finish(key, sql, dict(key[1]) if isinstance(params, dict) else params)
                raise
        return self.answers[key]

    @staticmethod
    def answer_key(sql: str, params, args: tuple, kwargs: dict) -> tuple:
        """What a kept answer is kept by: its SQL and the values it names (not a later page's start,
        which it no longer names), and how it was asked."""
        named = tuple(named_values(sql, params).items()) if isinstance(params, dict) else tuple(params or ())
        return (sql, named, args, tuple(sorted(kwargs.items())))

    async def facet_columns(self, table: str) -> tuple[str, ...]:
        """The columns of a table's facets (its metadata's), if each is a column of it; none if it
        has no facets, one of another kind, is a view, or orders or groups some text by a
        collation of its own (`facet_from_groups` orders the values by SQLite's default)."""
        if table not in self.facets:
            facets = self.db.ds.table_metadata(self.db.name, table).get("facets") or []
            definition = await self.db.get_table_definition(table)  # (None for a view: not grouped)
            columns = await self.db.table_columns(table)
            plain = all(isinstance(facet, str) and facet in columns for facet in facets)
            grouped = plain and definition is not None and "collate" not in definition.lower()
            self.facets[table] = tuple(dict.fromkeys(facets)) if grouped else ()
        return self.facets[table]

    async def count_by_groups(self, count: re.Match, columns: tuple[str, ...], params) -> Results | None:
        """A selection's count as the sum of its rows grouped by the values of the table's facet
        columns together, which answer those facets' queries too (`facet_from_groups`): one pass
        over the selection where Datasette's count and facets make one each (a facet's walking
        the column's index and looking up every row: the topic tags above a score at 1M, 0.15 s
        to count and 1.7 s to facet, 0.9 s grouped). None if they make more than GROUPS_MAX
        groups in the selection."""
        groups = await self.answered_once(groups_sql(count["table"], count["where"], columns), params)
        if len(groups) > GROUPS_MAX:
            return None
        return Results([(sum(row[-1] for row in groups.rows),)], False, [("count(*)", None, None, None, None, None, None)])

    def facet_from_groups(self, facet: re.Match, params) -> Results | None:
        """A column facet's answer from its selection's groups, if its count made them: the
        values that are not null, most rows first, ties in SQLite's order, as its query sorts
        them. None if they were not made, or not by this column."""
        columns = self.facets.get(unquoted(facet["table"])) or ()
        column = unquoted(facet["column"])
        if column not in columns:
            return None
        groups = self.answers.get(self.answer_key(groups_sql(facet["table"], facet["where"], columns), params, (), {}))
        if groups is None or len(groups) > GROUPS_MAX:
            return None
        at = columns.index(column)
        with closing(sqlite3.connect(":memory:")) as conn:
            conn.row_factory = sqlite3.Row
            # Columns without a type: each value stays as it was (no affinity), compared as SQLite's default.
            conn.execute(f"create table groups ({', '.join(f'c{i}' for i in range(len(columns)))}, n)")
            conn.executemany(f"insert into groups values ({', '.join('?' * (len(columns) + 1))})", groups.rows)
            cursor = conn.execute(f"select c{at} as value, sum(n) as count from groups where c{at} is not null "
                                  f"group by c{at} order by count desc, value limit ?", (int(facet["limit"]),))
            return Results(cursor.fetchall(), False, cursor.description)

    async def tie_break(self, table: str) -> str | None:
        """The columns that order a table's rows tied on a sort column, as Datasette's next pages
        order them: its primary key, or its rowid; None for a view or no such table."""
        if table not in self.keys:
            if not await self.db.table_exists(table):
                self.keys[table] = None
            else:
                keys = await self.db.primary_keys(table)
                self.keys[table] = ", ".join(escape_sqlite(key) for key in keys) if keys else "rowid"
        return self.keys[table]


class Finisher:
    """Finishes the count and facet queries that ran out of their time limit, one at a time, in a
    thread and on a connection of its own (Datasette's query threads stay free for pages), and
    keeps their answers beside the others."""

    def __init__(self, db, answers: BoundedCache):
        self.db = db
        self.answers = answers
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.conn: sqlite3.Connection | None = None
        self.waiting: dict[tuple, asyncio.Future] = {}  # each query's answer to come (None: none)

    def finish(self, key: tuple, sql: str, params) -> None:
        """Finish a query that timed out, unless it is waiting already or too many are."""
        if key in self.waiting or len(self.waiting) >= FINISHING_MAX:
            return
        loop = asyncio.get_running_loop()
        self.waiting[key] = answer = loop.create_future()
        answer.add_done_callback(lambda done: self.finished(key, done))
        self.queue.put((sql, params, loop, answer))
        if self.thread is None:
            # A daemon: a server stopping does not wait for a query a minute long.
            self.thread = threading.Thread(target=self.work, name=f"finish-{self.db.name}", daemon=True)
            self.thread.start()

    def finished(self, key: tuple, answer: asyncio.Future) -> None:
        """Keep a finished query's answer (on the event loop's thread, as every answer is kept)."""
        self.waiting.pop(key, None)
        if not answer.cancelled() and answer.result() is not None:
            self.answers.put(key, answer.result())

    def work(self) -> None:
        """The finisher's thread: each query waiting, in turn."""
        while True:
            sql, params, loop, answer = self.queue.get()
            try:
                results = self.run(sql, params)
            except Exception:  # (too long even now, or no answer: the next page tries again)
                results = None
            try:
                loop.call_soon_threadsafe(answered, answer, results)
            except RuntimeError:
                pass  # the event loop that asked has closed

    def run(self, sql: str, params) -> Results:
        """The query's answer, as Datasette's execute gives it, within FINISH_LIMIT_MS."""
        if self.conn is None:
            self.conn = open_read_only(self.db.path, immutable=True)
            self.db.ds._prepare_connection(self.conn, self.db.name)  # the functions a page's SQL may call
        # (Datasette's time limit, as installed: plugins/time_limits.py's watchdog.)
        with datasette.database.sqlite_timelimit(self.conn, FINISH_LIMIT_MS):
            cursor = self.conn.execute(sql, params or {})
            return Results(cursor.fetchall(), False, cursor.description)


def groups_sql(table: str, where: str, columns: tuple[str, ...]) -> str:
    """A selection's rows counted by the values of columns together, at most GROUPS_MAX + 1
    groups; grouped by `+column` so that SQLite walks the selection's own plan, not a column's
    index (looking up every row from it took 1.5–2× as long)."""
    listed = [escape_sqlite(column) for column in columns]
    # (The clause on a line of its own: a reader's `_where` may end in a `--` comment.)
    return (f"select {', '.join(listed)}, count(*) from {table} where {where.rstrip()}\n"
            f"group by {', '.join('+' + column for column in listed)} limit {GROUPS_MAX + 1}")


def answered(answer: asyncio.Future, results: Results | None) -> None:
    """Hand the finisher's answer (None: none) to the future that waits for it."""
    if not answer.done():
        answer.set_result(results)


@hookimpl
def startup(datasette):
    for db in datasette.databases.values():
        if not hasattr(db, "pager"):
            db.pager = Pager(db)
            db.execute = db.pager.paged_execute
            db.without_next_page = without_next_page
            db.split_page_start = split_page_start


def from_the_first_page(url: str) -> str:
    """A link without `_next`: a facet value's link chooses another selection, whose rows start
    at its first page (Datasette's keeps the page's start, so a value clicked on page three
    listed only its rows after page two's last)."""
    parts = urlsplit(str(url))
    args = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "_next"]
    return urlunsplit(parts._replace(query=urlencode(args)))


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["from_the_first_page"] = from_the_first_page


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def marked(scope, receive, send):
            page = TABLE_PATH.match(scope.get("path", "")) if scope.get("type") == "http" else None
            if page and b"_where=" in scope.get("query_string", b""):
                scope = {**scope, "query_string": parenthesized_wheres(scope["query_string"])}
            token = TABLE_REQUEST.set(tilde_decode(page["table"]) if page else None)
            later_page = page and scope["path"].endswith(".json") and b"_next=" in scope.get("query_string", b"")
            try:
                await app(scope, receive, links_from_the_first_page(send) if later_page else send)
            finally:
                TABLE_REQUEST.reset(token)
        return marked
    return wrap


def parenthesized_wheres(query_string: bytes) -> bytes:
    """A table page's query string with each `_where` in parentheses, so that it stays one
    condition: Datasette joins the `_where` conditions, the page's other filters and its next
    page's start with " and " (and its order and limit after them), so `a or b` beside a filter
    picked rows the filter leaves out and paged on without end, and a `--` comment hid the rest
    of the query. The closing parenthesis on a line of its own ends a comment; once only (the
    links the page makes keep it)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    changed = [(key, f"({value}\n)" if key == "_where" and not value.endswith("\n)") else value) for key, value in pairs]
    return urlencode(changed).encode("ascii") if changed != pairs else query_string


def links_from_the_first_page(send):
    """The ASGI send of a later page's JSON with its facets' links (`toggle_url`) from the first
    page, as the HTML's are (`from_the_first_page`): the body is held until whole, then sent."""
    start, body = None, []

    async def sending(message):
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            return await send(message)
        body.append(message.get("body", b""))
        if message.get("more_body"):
            return
        whole = b"".join(body)
        if start["status"] == 200:
            whole = facet_links_rewritten(whole)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(whole)).encode())]})
        await send({"type": "http.response.body", "body": whole})

    return sending


def facet_links_rewritten(body: bytes) -> bytes:
    """A table page's JSON with every facet value's `toggle_url` from the first page; any other
    body as it is."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    facets = data.get("facet_results") if isinstance(data, dict) else None
    if not isinstance(facets, dict):
        return body
    for facet in facets.values():
        for value in facet.get("results") or []:
            if isinstance(value, dict) and "toggle_url" in value:
                value["toggle_url"] = from_the_first_page(value["toggle_url"])
    return json.dumps(data).encode()
