"""Ranked full-text search of the paragraphs, at /-/search (HTML, .json and .csv).

Datasette's own table search sorts matches by primary key and either escapes
every operator or fails on a malformed query. Here a well-formed FTS5 query runs
as written (phrases, prefixes, AND/OR/NOT, NEAR), a malformed one falls back to
a search for its plain words with a notice, and results come best first (bm25).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
import threading
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils import escape_fts
from datasette.utils.asgi import AsgiStream, Response
from markupsafe import Markup, escape

PAGE_SIZE = 20
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
}
_validator = threading.local()


def fts_syntax_error(query: str) -> str | None:
    """The error FTS5 gives for a query, or None when it is well formed.

    FTS5 parses a MATCH expression even against an empty table, so an in-memory
    table with the same column checks a query without touching the archive.
    """
    conn = getattr(_validator, "conn", None)
    if conn is None:
        conn = _validator.conn = sqlite3.connect(":memory:")
        conn.execute("CREATE VIRTUAL TABLE paragraphs_fts USING fts5(text, tokenize='porter')")
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
    if query:
        where_sql, results_sql = build_sql(filters)
        if fmt == "csv":
            return await csv_response(db, results_sql, params)
        rows = list(await db.execute(f"{results_sql} LIMIT {PAGE_SIZE} OFFSET {(page - 1) * PAGE_SIZE}", params))
        total = (await db.execute(f"SELECT count(*) FROM paragraphs_fts JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid WHERE {where_sql}", params)).single_value()
        for name, sql in FACET_SQL.items():
            facets[name] = [dict(r) for r in await db.execute(sql.format(where=where_sql), params)]

    results = [
        {**{k: row[k] for k in row.keys() if k not in ("snippet", "rank")}, "topics": json.loads(row["topics"] or "[]"),
         "snippet": row["snippet"], "rank": row["rank"]}
        for row in rows
    ]
    if fmt == "json":
        return Response.json({
            "q": q, "query": query, "notice": notice, "filters": filters, "total": total,
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
                "url_with": url_with, "database": db.name,
                "json_url": "/-/search.json" + url_with(), "csv_url": "/-/search.csv" + url_with(),
            },
            request=request,
        )
    )


async def csv_response(db, results_sql, params):
    """Every matching paragraph, best first, streamed as CSV with a header row.

    The rows come from a reader thread with its own read-only connection, a
    batch at a time through a bounded queue, so memory stays flat however many
    paragraphs match and the first bytes leave at once.
    """
    columns = ["id", "article_id", "title", "outlet", "meeting_id", "meeting_year", "topics", "position", "text"]
    sql = f"SELECT {', '.join(columns)} FROM ({results_sql}) LIMIT {CSV_MAX_ROWS}"
    loop = asyncio.get_running_loop()
    batches: asyncio.Queue = asyncio.Queue(maxsize=4)

    def read_rows():
        conn = sqlite3.connect(f"file:{db.path}?{'mode=ro' if db.is_mutable else 'immutable=1'}", uri=True)
        def hand_over(item):
            # A consumer that stopped reading (the client went away) must not hold this thread forever.
            asyncio.run_coroutine_threadsafe(batches.put(item), loop).result(timeout=60)

        try:
            cursor = conn.execute(sql, params)
            while batch := cursor.fetchmany(CSV_BATCH_ROWS):
                hand_over(batch)
            hand_over(None)
        except TimeoutError:
            pass
        finally:
            conn.close()

    async def stream(writer):
        reader = loop.run_in_executor(None, read_rows)
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(columns)
        while (batch := await batches.get()) is not None:
            out.writerows(batch)
            await writer.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
        await writer.write(buffer.getvalue())
        await reader

    return AsgiStream(
        stream,
        headers={"content-disposition": 'attachment; filename="search.csv"'},
        content_type="text/csv; charset=utf-8",
    )


def table_search_guard(app):
    """Make table searches on the paragraphs ranked and unbreakable.

    The paragraphs table's search box (HTML, no sort chosen) leads to the ranked
    search page. Any other table search that FTS5 could not parse, in raw mode or
    even after Datasette's own escaping (a lone quote defeats it), is rewritten
    to a raw search for its plain words, instead of failing with an error page.
    """

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and b"_search" in scope.get("query_string", b""):
            args = parse_qsl(scope["query_string"].decode("utf-8", "replace"), keep_blank_values=True)
            search = next((v for k, v in args if k == "_search"), None)
            if search is not None and scope["path"].endswith("/paragraphs") and not any(k.startswith("_sort") for k, _ in args):
                location = "/-/search?" + urlencode({"q": search})
                await send({"type": "http.response.start", "status": 302,
                            "headers": [(b"location", location.encode()), (b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b""})
                return
            rewritten = safe_table_search_args(args)
            if rewritten is not None:
                scope = {**scope, "query_string": urlencode(rewritten).encode()}
        await app(scope, receive, send)

    return wrapped


def safe_table_search_args(args: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    """Query-string arguments with unparseable searches replaced by their plain words; None if all are fine."""
    raw = ("_searchmode", "raw") in args
    changed, result = False, []
    for key, value in args:
        if key.startswith("_search") and key != "_searchmode":
            effective = value if raw else escape_fts(value)
            if fts_syntax_error(effective) is not None:
                value, changed = plain_words(value) or '""', True
        result.append((key, value))
    if not changed:
        return None
    return [(k, v) for k, v in result if k != "_searchmode"] + [("_searchmode", "raw")]


@hookimpl
def register_routes():
    return [(r"^/-/search(\.(?P<format>json|csv))?$", search_view)]


@hookimpl
def asgi_wrapper(datasette):
    return table_search_guard


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
