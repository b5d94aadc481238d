"""Data for the archive's own pages: the home page, the article page and the meeting page.

Datasette renders them from templates/index.html, row-archive-articles.html and
row-archive-meetings.html; this plugin adds what those templates show beyond a
single row: an article's lines in order, a meeting's articles and topic counts,
and the topic-by-meeting counts behind the charts.
"""

from __future__ import annotations

import json
import sqlite3

from datasette import database as datasette_database
from datasette import hookimpl
from datasette.utils import tilde_decode

# One colour per topic, in taxonomy order; chosen to stay distinguishable side by side.
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
]


def rows(conn: sqlite3.Connection, sql: str, params=()) -> list[dict]:
    """The rows of a query as dicts, whatever the connection's row factory."""
    cursor = conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def first(conn: sqlite3.Connection, sql: str, params=()) -> dict | None:
    """The first row of a query as a dict, or None."""
    found = rows(conn, sql, params)
    return found[0] if found else None


def value(conn: sqlite3.Connection, sql: str, params=()):
    """The single value a query returns."""
    return conn.execute(sql, params).fetchone()[0]


def topic_colours(conn) -> list[dict]:
    """The topics in taxonomy order, each with its label and chart colour."""
    topics = rows(conn, "SELECT slug, label, paragraph_count FROM topics ORDER BY rowid")
    for i, topic in enumerate(topics):
        topic["colour"] = PALETTE[i % len(PALETTE)]
    return topics


def meeting_topic_matrix(conn, meeting_ids=None) -> list[dict]:
    """For each meeting with coverage: its label and paragraphs per topic (precomputed at build time)."""
    meetings = rows(
        conn, "SELECT id, label, start, paragraph_count FROM meetings WHERE paragraph_count > 0 ORDER BY start"
    )
    counts: dict[str, dict[str, int]] = {}
    for row in rows(conn, "SELECT meeting_id, topic, paragraphs FROM meeting_topics"):
        counts.setdefault(row["meeting_id"], {})[row["topic"]] = row["paragraphs"]
    for meeting in meetings:
        meeting["topics"] = counts.get(meeting["id"], {})
    if meeting_ids is not None:
        meetings = [m for m in meetings if m["id"] in meeting_ids]
    return meetings


# The timeline shows coverage from this many days before a meeting's first day to as many after.
TIMELINE_DAYS = 14


def timeline(conn, meeting_ids=None) -> dict:
    """Articles per meeting by days from its first day, one series per meeting (from publication dates)."""
    # Only the meetings asked for are counted: a meeting page need not group every article.
    chosen = "" if meeting_ids is None else f"AND a.meeting_id IN ({', '.join('?' * len(meeting_ids))}) "
    found = rows(
        conn,
        "SELECT a.meeting_id, m.label, m.start, a.days_from_meeting AS day, count(*) AS n FROM articles a "
        f"JOIN meetings m ON m.id = a.meeting_id WHERE a.days_from_meeting BETWEEN ? AND ? {chosen}"
        "GROUP BY a.meeting_id, a.days_from_meeting ORDER BY m.start, day",
        [-TIMELINE_DAYS, TIMELINE_DAYS, *sorted(meeting_ids or ())],
    )
    series: dict[str, dict] = {}
    for row in found:
        entry = series.setdefault(row["meeting_id"], {"id": row["meeting_id"], "label": row["label"], "points": {}})
        entry["points"][row["day"]] = row["n"]
    for i, entry in enumerate(series.values()):
        entry["colour"] = PALETTE[i % len(PALETTE)]
        entry["total"] = sum(entry["points"].values())
    dated = value(conn, "SELECT count(*) FROM articles WHERE published IS NOT NULL")
    return {"series": list(series.values()), "days": TIMELINE_DAYS, "dated": dated}


def home_page(conn) -> dict:
    totals = first(
        conn,
        "SELECT (SELECT count(*) FROM articles) AS articles, (SELECT count(*) FROM paragraphs) AS paragraphs, "
        "(SELECT count(*) FROM meetings WHERE article_count > 0) AS meetings_covered, "
        "(SELECT count(*) FROM articles WHERE meeting_id IS NULL) AS unknown_meeting",
    )
    return {
        "totals": totals,
        "topics": topic_colours(conn),
        "matrix": meeting_topic_matrix(conn),
        "timeline": timeline(conn),
        "meetings": rows(
            conn, "SELECT id, label, start, city, occasion, article_count, paragraph_count FROM meetings ORDER BY start"
        ),
    }


def article_page(conn, article_id: str) -> dict:
    """An article in reading order: every line with its kind, paragraphs with topics and recalled meetings."""
    article = first(conn, "SELECT * FROM articles WHERE id = ?", [article_id])
    if article is None:
        return {}
    article["evidence"] = json.loads(article.get("meeting_evidence") or "[]")
    meeting = None
    if article["meeting_id"]:
        meeting = first(conn, "SELECT * FROM meetings WHERE id = ?", [article["meeting_id"]])
    lines = []
    for line in rows(
        conn,
        "SELECT l.line_no, l.kind, l.text, l.paragraph_id, p.position, p.topics, p.mentions, p.report, p.rewrite_score "
        "FROM lines l LEFT JOIN paragraphs p ON p.id = l.paragraph_id WHERE l.article_id = ? ORDER BY l.line_no",
        [article_id],
    ):
        line["topics"] = json.loads(line["topics"] or "[]")
        line["mentions"] = json.loads(line["mentions"] or "[]")
        lines.append(line)
    siblings = []
    if article["meeting_id"]:
        siblings = rows(
            conn,
            "SELECT id, title, outlet FROM articles WHERE meeting_id = ? AND id != ? ORDER BY title LIMIT ?",
            [article["meeting_id"], article_id, SIBLINGS_SHOWN + 1],
        )
    paths = [r["path"] for r in rows(conn, "SELECT path FROM article_paths WHERE article_id = ? ORDER BY path", [article_id])]
    also_in = same_reports(conn, article_id)
    quoted: dict[str, list[dict]] = {}
    for row in rows(
        conn,
        "SELECT paragraph_id, speaker, speaker_as_written, verb FROM quotes WHERE article_id = ? ORDER BY paragraph_id, number",
        [article_id],
    ):
        quoted.setdefault(row["paragraph_id"], []).append(row)
    for line in lines:
        line["also_in"] = also_in.get(line["paragraph_id"], {"shown": [], "more": 0})
        line["quotes"] = quoted.get(line["paragraph_id"], [])
    article["rewrite_evidence"] = json.loads(article.get("rewrite_evidence") or "[]")
    shared: dict[str, dict] = {}
    for copies in also_in.values():
        for other in copies["shown"]:
            entry = shared.setdefault(other["article_id"], {**other, "paragraphs": 0})
            entry["paragraphs"] += 1
    return {
        "article": article, "meeting": meeting, "lines": lines, "siblings": siblings, "paths": paths,
        "shares_with": sorted(shared.values(), key=lambda a: -a["paragraphs"]),
        "shares_more": any(copies["more"] > 0 for copies in also_in.values()),
        "boilerplate_count": sum(1 for l in lines if l["kind"] == "boilerplate"),
        "topics": {t["slug"]: t for t in topic_colours(conn)},
    }


# A report syndicated everywhere would list thousands of places: show the first few of each.
ALSO_IN_SHOWN = 5
SIBLINGS_SHOWN = 20
# The other places a report ran, the original first. The ingest indexes paragraphs on exactly
# (report_id, report = 'original' DESC), rowid, so this reads five rows, not every copy sorted.
ALSO_IN_SQL = (
    "SELECT other.id AS other_id, other.position, other.article_id, a.title, a.outlet, other.report "
    "FROM paragraphs other JOIN articles a ON a.id = other.article_id "
    "WHERE other.report_id = ? AND other.article_id != ? "
    "ORDER BY other.report = 'original' DESC, other.rowid LIMIT ?"
)


def same_reports(conn, article_id: str) -> dict[str, dict]:
    """For each paragraph of an article that carries a shared report: how many other paragraphs
    carry it and the first few of them (the original first)."""
    found: dict[str, dict] = {}
    shared = rows(
        conn,
        "SELECT p.id, p.report_id, r.paragraphs FROM paragraphs p JOIN reports r ON r.report_id = p.report_id "
        "WHERE p.article_id = ? ORDER BY p.position",
        [article_id],
    )
    for paragraph in shared:
        others = rows(conn, ALSO_IN_SQL, [paragraph["report_id"], article_id, ALSO_IN_SHOWN])
        if others:
            found[paragraph["id"]] = {
                "shown": others, "more": paragraph["paragraphs"] - 1 - len(others), "report_id": paragraph["report_id"],
            }
    return found


# Paragraphs that recall a meeting; `mentions != '[]'` lets SQLite read only those that recall
# any (the ingest's partial index idx_paragraphs_mentions).
RECALLED_BY_SQL = "SELECT count(*) FROM paragraphs p, json_each(p.mentions) j WHERE p.mentions != '[]' AND j.value = ?"


# A meeting page lists this many of its articles by title and links to the rest: at a million
# paragraphs a summit has ~12,000 articles, a page of megabytes that took half a second to render.
MEETING_ARTICLES_LISTED = 200


def meeting_page(conn, meeting_id: str) -> dict:
    """A meeting's facts, the articles covering it, and its topic counts."""
    meeting = first(conn, "SELECT * FROM meetings WHERE id = ?", [meeting_id])
    if meeting is None:
        return {}
    for key in ("cities", "cues"):
        try:
            meeting[key] = json.loads(meeting.get(key) or "[]")
        except (TypeError, ValueError):
            meeting[key] = [meeting[key]] if meeting.get(key) else []
    articles = rows(
        conn,
        "SELECT id, title, outlet, paragraph_count, meeting_confidence, published, days_from_meeting, rewrite_level "
        f"FROM articles WHERE meeting_id = ? ORDER BY title LIMIT {MEETING_ARTICLES_LISTED}",
        [meeting_id],
    )
    topics = topic_colours(conn)
    counts = {r["topic"]: r["paragraphs"] for r in rows(
        conn,
        "SELECT topic, paragraphs FROM meeting_topics WHERE meeting_id = ?", [meeting_id])}
    for topic in topics:
        topic["count"] = counts.get(topic["slug"], 0)
    recalled_by = value(conn, RECALLED_BY_SQL, [meeting_id])
    return {
        "meeting": meeting, "articles": articles, "topics": topics, "recalled_by": recalled_by,
        "timeline": timeline(conn, {meeting_id}),
    }


def page_data(datasette, db, build, *args):
    """Run one page's queries in a single trip to a database thread, under the SQL time limit.

    A page makes a dozen small queries; sent one by one, each would wait its turn in
    Datasette's thread pool behind every other request's queries, which under load
    multiplied the article page's latency.
    """
    def in_thread(conn):
        # The time limit Datasette's own queries run under (plugins/time_limits.py makes it a watchdog's).
        with datasette_database.sqlite_timelimit(conn, datasette.setting("sql_time_limit_ms")):
            return build(conn, *args)

    return db.execute_fn(in_thread)


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    async def inner():
        if database is None and view_name != "index":
            return {}
        db = datasette.get_database(database) if database else datasette.get_database()
        if "meeting_topics" not in await db.table_names():
            return {}
        if view_name == "index":
            return {"archive": await page_data(datasette, db, home_page)}
        if view_name == "row" and request is not None:
            pk = tilde_decode(request.url_vars.get("pks", ""))
            if table == "articles":
                return {"page": await page_data(datasette, db, article_page, pk)}
            if table == "meetings":
                return {"page": await page_data(datasette, db, meeting_page, pk)}
        return {}

    return inner
