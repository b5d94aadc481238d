"""Compare: the stages that look across articles, run over the whole archive once it is loaded.

Per-article stages (segment, tag meetings and topics, find quotes) see one file at a time.
Whether a paragraph is a copy of another outlet's, or a name is a rare misspelling of one the
rest of the archive spells otherwise, depends on every other article. So these run after the
load, over every paragraph in the database — on full builds, incremental builds and merges
alike, which keeps their answers the same however the archive was put together.

- `link_copies()` fills `paragraph_copies` and `reports` (the reports carried by more than one
  paragraph, with how many paragraphs and articles carry each) and sets each paragraph's `report_id` (the
  paragraph that first carried the report) and `report` ("original" or "copy").
- `score_rewrites()` weighs the signs each article showed on its own (found at ingest, kept in
  `rewrite_signs`) against the names of the whole archive, and sets `rewrite_score`, `rewrite_flag`, `rewrite_level` and
  `rewrite_evidence` on articles and `rewrite_score` on paragraphs.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

import numpy as np

from . import copies, quotes, rewrites
from .load import paragraph_key, to_json, write_info

READ_BATCH = 10_000  # paragraphs read at once: all million rows at once would hold ~500 MB


def link_copies(conn: sqlite3.Connection, log=lambda message: None) -> int:
    """Find the paragraphs that repeat another article's report, store the links and each
    paragraph's report; return how many paragraphs are copies."""
    count = conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]
    log(f"stage: copies over {count} paragraphs")
    finder = copies.CopyFinder()
    # Each paragraph's fingerprint and MinHash signature were made at ingest, beside its other
    # rows (paragraph_prints): here they are only read, a batch at a time, in rowid order, which
    # write_reports uses.
    published = dict(conn.execute("SELECT id, published FROM articles WHERE published IS NOT NULL"))
    rows = conn.execute(
        "SELECT p.id, p.article_id, f.print FROM paragraphs p JOIN paragraph_prints f ON f.paragraph_id = p.id "
        "ORDER BY p.rowid"
    )
    while batch := rows.fetchmany(READ_BATCH):
        finder.add_packed(*map(list, zip(*batch)), published)
    found = finder.link_arrays()
    ids, articles, article_of = finder.paragraph_ids, finder.article_ids, finder.article_index
    write_links(conn, (
        (ids[c], ids[o], similarity, copies.METHODS[method], articles[article_of[c]], articles[article_of[o]])
        for c, o, similarity, method in zip(
            found.copy.tolist(), found.original.tolist(), found.similarity.tolist(), found.method.tolist())
    ))
    write_reports(conn, ids, copies.report_roots(found, len(ids)))
    # Reports carried by more than one paragraph, counted once, so pages need not count copies.
    conn.execute("DELETE FROM reports")
    conn.execute(
        "INSERT INTO reports (report_id, paragraphs, articles) SELECT report_id, count(*), count(DISTINCT article_id) "
        "FROM paragraphs GROUP BY report_id HAVING count(*) > 1"
    )
    return len(found.copy)


def write_links(conn: sqlite3.Connection, wanted) -> None:
    """Make paragraph_copies hold exactly these links, rows of (paragraph_id, copy_of, similarity,
    method, article_id, copy_of_article), writing only the rows that differ: after adding one
    article to a big archive, almost none do. The comparison runs in SQLite against a temporary
    table, so a million links are never held in Python at once."""
    conn.execute(
        "CREATE TEMP TABLE wanted_links (paragraph_id TEXT PRIMARY KEY, copy_of TEXT, similarity REAL, "
        "method TEXT, article_id TEXT, copy_of_article TEXT)"
    )
    try:
        conn.executemany("INSERT INTO wanted_links VALUES (?, ?, ?, ?, ?, ?)", wanted)
        conn.execute(
            "DELETE FROM paragraph_copies WHERE NOT EXISTS (SELECT 1 FROM wanted_links w "
            "WHERE w.paragraph_id = paragraph_copies.paragraph_id AND w.copy_of = paragraph_copies.copy_of "
            "AND w.similarity = paragraph_copies.similarity AND w.method = paragraph_copies.method)"
        )
        conn.execute(
            "INSERT INTO paragraph_copies (paragraph_id, copy_of, similarity, method, article_id, copy_of_article) "
            "SELECT * FROM wanted_links w WHERE NOT EXISTS "
            "(SELECT 1 FROM paragraph_copies c WHERE c.paragraph_id = w.paragraph_id)"
        )
    finally:
        conn.execute("DROP TABLE temp.wanted_links")


def write_reports(conn: sqlite3.Connection, ids: list[str], root: np.ndarray, batch: int = 50_000) -> None:
    """Set each paragraph's report_id (`ids[root[i]]`, the first paragraph of its chain of
    copies) and report ("copy" when that is another paragraph, else "original"), where `i` counts
    the paragraphs in rowid order; only the paragraphs whose values change are written, a batch
    of rows at a time."""
    done, after = 0, 0
    while rows := conn.execute(
        "SELECT rowid, id, report_id, report FROM paragraphs WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, batch)
    ).fetchall():
        changes = []
        for (rowid, paragraph_id, report_id, report), first in zip(rows, root[done:done + len(rows)].tolist()):
            if done >= len(ids) or paragraph_id != ids[done]:
                raise RuntimeError(f"paragraph {paragraph_id} has no fingerprint in paragraph_prints")
            wanted = (ids[first], "copy" if first != done else "original")
            if (report_id, report) != wanted:
                changes.append((*wanted, rowid))
            done += 1
        conn.executemany("UPDATE paragraphs SET report_id = ?, report = ? WHERE rowid = ?", changes)
        after = rows[-1][0]
    if done != len(ids):
        raise RuntimeError(f"{len(ids)} paragraphs compared but {done} in the table")


def known_names() -> list[str]:
    """Canonical names of the speakers list: a spelling close to one of them is a variant."""
    return list(quotes.Speakers().by_name)


def score_rewrites(conn: sqlite3.Connection, log=lambda message: None) -> int:
    """Score every article (and its paragraphs) for signs of a spun or machine-garbled rewrite,
    from the signs each article showed on its own (rewrite_signs, found at ingest) and the names
    of the whole archive; return how many articles are flagged."""
    log("stage: rewrite scores")
    scorer = rewrites.RewriteScorer()
    # A name's spelling is rare or usual against every article that uses it.
    # Streamed, not held: at a million paragraphs the signs are 160 MB of JSON.
    names: Counter = Counter()
    for (signs,) in conn.execute("SELECT signs FROM rewrite_signs"):
        names.update({name: entry[0] for name, entry in json.loads(signs)["names"].items()})
    variants = rewrites.name_variants(names, known=known_names())
    # An article's score depends only on its own signs and the archive's name variants: when the
    # variants are those the stored scores were made with, only new articles need scoring.
    variants_key = to_json(sorted(variants.items()))
    stored_key = conn.execute("SELECT value FROM build_info WHERE key = 'rewrite_variants'").fetchone()
    new_only = " WHERE article_id IN (SELECT id FROM articles WHERE rewrite_level IS NULL)"
    to_score = conn.execute(
        "SELECT article_id, signs FROM rewrite_signs" + (new_only if stored_key == (variants_key,) else "")
    )
    article_rows, paragraph_rows = [], []
    for article_id, signs in to_score:
        result = scorer.result(rewrites.ArticleSigns.from_json(json.loads(signs)), variants)
        article_rows.append((result.score, int(result.flag), result.level, to_json(result.evidence), article_id))
        paragraph_rows.extend(
            (score, paragraph_key(article_id, position))
            for position, score in enumerate(result.paragraph_scores, start=1) if score
        )
    conn.executemany(
        "UPDATE articles SET rewrite_score = ?, rewrite_flag = ?, rewrite_level = ?, rewrite_evidence = ? WHERE id = ?",
        article_rows,
    )
    conn.executemany(
        "UPDATE paragraphs SET rewrite_score = 0 WHERE article_id = ? AND rewrite_score IS NOT 0",
        ((article_id,) for *_, article_id in article_rows),
    )
    conn.executemany("UPDATE paragraphs SET rewrite_score = ? WHERE id = ?", paragraph_rows)
    write_info(conn, {"rewrite_variants": variants_key})
    return conn.execute("SELECT count(*) FROM articles WHERE rewrite_flag = 1").fetchone()[0]
