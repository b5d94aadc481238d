"""Data for the archive's own pages: the home page, the article page and the meeting page.

Datasette renders them from templates/index.html, row-archive-articles.html and
row-archive-meetings.html; this plugin adds what those templates show beyond a
single row: an article's lines in order, a meeting's articles and topic counts,
and the topic-by-meeting counts behind the charts.
"""

from __future__ import annotations

import json

from datasette import hookimpl
from datasette.utils import tilde_decode

# One colour per topic, in taxonomy order; chosen to stay distinguishable side by side.
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
]


async def topic_colours(db) -> list[dict]:
    """The topics in taxonomy order, each with its label and chart colour."""
    topics = [dict(r) for r in await db.execute("SELECT slug, label, paragraph_count FROM topics ORDER BY rowid")]
    for i, topic in enumerate(topics):
        topic["colour"] = PALETTE[i % len(PALETTE)]
    return topics


async def meeting_topic_matrix(db, meeting_ids=None) -> list[dict]:
    """For each meeting with coverage: its label and paragraphs per topic (precomputed at build time)."""
    meetings = [dict(r) for r in await db.execute(
        "SELECT id, label, start, paragraph_count FROM meetings WHERE paragraph_count > 0 ORDER BY start"
    )]
    counts: dict[str, dict[str, int]] = {}
    for row in await db.execute("SELECT meeting_id, topic, paragraphs FROM meeting_topics"):
        counts.setdefault(row["meeting_id"], {})[row["topic"]] = row["paragraphs"]
    for meeting in meetings:
        meeting["topics"] = counts.get(meeting["id"], {})
    if meeting_ids is not None:
        meetings = [m for m in meetings if m["id"] in meeting_ids]
    return meetings


# The timeline shows coverage from this many days before a meeting's first day to as many after.
TIMELINE_DAYS = 14


async def timeline(db, meeting_ids=None) -> dict:
    """Articles per meeting by days from its first day, one series per meeting (from publication dates)."""
    rows = [dict(r) for r in await db.execute(
        "SELECT a.meeting_id, m.label, m.start, a.days_from_meeting AS day, count(*) AS n FROM articles a "
        "JOIN meetings m ON m.id = a.meeting_id WHERE a.days_from_meeting BETWEEN ? AND ? "
        "GROUP BY a.meeting_id, a.days_from_meeting ORDER BY m.start, day",
        [-TIMELINE_DAYS, TIMELINE_DAYS],
    )]
    series: dict[str, dict] = {}
    for row in rows:
        if meeting_ids is not None and row["meeting_id"] not in meeting_ids:
            continue
        entry = series.setdefault(row["meeting_id"], {"id": row["meeting_id"], "label": row["label"], "points": {}})
        entry["points"][row["day"]] = row["n"]
    for i, entry in enumerate(series.values()):
        entry["colour"] = PALETTE[i % len(PALETTE)]
        entry["total"] = sum(entry["points"].values())
    dated = (await db.execute("SELECT count(*) FROM articles WHERE published IS NOT NULL")).single_value()
    return {"series": list(series.values()), "days": TIMELINE_DAYS, "dated": dated}


async def home_page(db) -> dict:
    totals = (await db.execute(
        "SELECT (SELECT count(*) FROM articles) AS articles, (SELECT count(*) FROM paragraphs) AS paragraphs, "
        "(SELECT count(*) FROM meetings WHERE article_count > 0) AS meetings_covered, "
        "(SELECT count(*) FROM articles WHERE meeting_id IS NULL) AS unknown_meeting"
    )).first()
    return {
        "totals": dict(totals),
        "topics": await topic_colours(db),
        "matrix": await meeting_topic_matrix(db),
        "timeline": await timeline(db),
        "meetings": [dict(r) for r in await db.execute(
            "SELECT id, label, start, city, occasion, article_count, paragraph_count FROM meetings ORDER BY start"
        )],
    }


async def article_page(db, article_id: str) -> dict:
    """An article in reading order: every line with its kind, paragraphs with topics and recalled meetings."""
    article = (await db.execute("SELECT * FROM articles WHERE id = ?", [article_id])).first()
    if article is None:
        return {}
    article = dict(article)
    article["evidence"] = json.loads(article.get("meeting_evidence") or "[]")
    meeting = None
    if article["meeting_id"]:
        row = (await db.execute("SELECT * FROM meetings WHERE id = ?", [article["meeting_id"]])).first()
        meeting = dict(row) if row else None
    lines = []
    for row in await db.execute(
        "SELECT l.line_no, l.kind, l.text, l.paragraph_id, p.position, p.topics, p.mentions, p.report, p.rewrite_score "
        "FROM lines l LEFT JOIN paragraphs p ON p.id = l.paragraph_id WHERE l.article_id = ? ORDER BY l.line_no",
        [article_id],
    ):
        line = dict(row)
        line["topics"] = json.loads(line["topics"] or "[]")
        line["mentions"] = json.loads(line["mentions"] or "[]")
        lines.append(line)
    siblings = []
    if article["meeting_id"]:
        siblings = [dict(r) for r in await db.execute(
            "SELECT id, title, outlet FROM articles WHERE meeting_id = ? AND id != ? ORDER BY title LIMIT ?",
            [article["meeting_id"], article_id, SIBLINGS_SHOWN + 1],
        )]
    paths = [r["path"] for r in await db.execute("SELECT path FROM article_paths WHERE article_id = ? ORDER BY path", [article_id])]
    also_in = await same_reports(db, article_id)
    quoted: dict[str, list[dict]] = {}
    for row in await db.execute(
        "SELECT paragraph_id, speaker, speaker_as_written, verb FROM quotes WHERE article_id = ? ORDER BY paragraph_id, number",
        [article_id],
    ):
        quoted.setdefault(row["paragraph_id"], []).append(dict(row))
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
        "topics": {t["slug"]: t for t in await topic_colours(db)},
    }


# A report syndicated everywhere would list thousands of places: show the first few of each.
ALSO_IN_SHOWN = 5
SIBLINGS_SHOWN = 20


async def same_reports(db, article_id: str) -> dict[str, dict]:
    """For each paragraph of an article that carries a shared report: how many other paragraphs
    carry it and the first few of them (the original first)."""
    found: dict[str, dict] = {}
    shared = await db.execute(
        "SELECT p.id, p.report_id, r.paragraphs FROM paragraphs p JOIN reports r ON r.report_id = p.report_id "
        "WHERE p.article_id = ? ORDER BY p.position",
        [article_id],
    )
    for paragraph in shared:
        others = [dict(r) for r in await db.execute(
            "SELECT other.id AS other_id, other.position, other.article_id, a.title, a.outlet, other.report "
            "FROM paragraphs other JOIN articles a ON a.id = other.article_id "
            "WHERE other.report_id = ? AND other.article_id != ? "
            "ORDER BY other.report = 'original' DESC, other.rowid LIMIT ?",
            [paragraph["report_id"], article_id, ALSO_IN_SHOWN],
        )]
        if others:
            found[paragraph["id"]] = {
                "shown": others, "more": paragraph["paragraphs"] - 1 - len(others), "report_id": paragraph["report_id"],
            }
    return found


async def meeting_page(db, meeting_id: str) -> dict:
    """A meeting's facts, the articles covering it, and its topic counts."""
    meeting = (await db.execute("SELECT * FROM meetings WHERE id = ?", [meeting_id])).first()
    if meeting is None:
        return {}
    meeting = dict(meeting)
    for key in ("cities", "cues"):
        try:
            meeting[key] = json.loads(meeting.get(key) or "[]")
        except (TypeError, ValueError):
            meeting[key] = [meeting[key]] if meeting.get(key) else []
    articles = [dict(r) for r in await db.execute(
        "SELECT id, title, outlet, paragraph_count, meeting_confidence, published, days_from_meeting, rewrite_level "
        "FROM articles WHERE meeting_id = ? ORDER BY title",
        [meeting_id],
    )]
    topics = await topic_colours(db)
    counts = {r["topic"]: r["paragraphs"] for r in await db.execute(
        "SELECT topic, paragraphs FROM meeting_topics WHERE meeting_id = ?", [meeting_id])}
    for topic in topics:
        topic["count"] = counts.get(topic["slug"], 0)
    recalled_by = (await db.execute(
        "SELECT count(*) FROM paragraphs p, json_each(p.mentions) j WHERE j.value = ?", [meeting_id]
    )).single_value()
    return {
        "meeting": meeting, "articles": articles, "topics": topics, "recalled_by": recalled_by,
        "timeline": await timeline(db, {meeting_id}),
    }


@hookimpl
def extra_template_vars(view_name, table, database, request, datasette):
    async def inner():
        if database is None and view_name != "index":
            return {}
        db = datasette.get_database(database) if database else datasette.get_database()
        if "meeting_topics" not in await db.table_names():
            return {}
        if view_name == "index":
            return {"archive": await home_page(db)}
        if view_name == "row" and request is not None:
            pk = tilde_decode(request.url_vars.get("pks", ""))
            if table == "articles":
                return {"page": await article_page(db, pk)}
            if table == "meetings":
                return {"page": await meeting_page(db, pk)}
        return {}

    return inner
