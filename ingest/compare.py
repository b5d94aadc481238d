"""Compare: the stages that look across articles, run over the whole archive once it is loaded.

Per-article stages (segment, tag meetings and topics, find quotes) see one file at a time.
Whether a paragraph is a copy of another outlet's, or a name is a rare misspelling of one the
rest of the archive spells otherwise, depends on every other article. So these run after the
load, over every paragraph in the database — on full builds, incremental builds and merges
alike, which keeps their answers the same however the archive was put together.

- `link_copies()` fills `paragraph_copies` and `reports` (the reports carried by more than one
  paragraph, with how many paragraphs and articles carry each) and sets each paragraph's `report_id` (the
  paragraph that first carried the report) and `report` ("original" or "copy"). It keeps what
  it wrote, by rowid, in `copy_state`, so that the next run writes only what differs.
- `score_rewrites()` weighs the signs each article showed on its own (found at ingest, kept in
  `rewrite_signs`) against the names of the whole archive, and sets `rewrite_score`, `rewrite_flag`, `rewrite_level` and
  `rewrite_evidence` on articles and `rewrite_score` on paragraphs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from collections import Counter
from typing import NamedTuple

import numpy as np

from . import copies, quotes, rewrites
from .load import paragraph_key, sql_string, to_json, write_info

READ_BATCH = 10_000  # paragraphs read at once: all million rows at once would hold ~500 MB


def link_copies(conn: sqlite3.Connection, log=lambda message: None) -> int:
    """Find the paragraphs that repeat another article's report, store the links and each
    paragraph's report; return how many paragraphs are copies."""
    count = conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]
    log(f"stage: copies over {count} paragraphs")
    finder = copies.CopyFinder()
    # Each paragraph's fingerprint and MinHash signature were made at ingest, beside its other
    # rows (paragraph_prints): here they are only read, a batch at a time, in rowid order.
    published = dict(conn.execute("SELECT id, published FROM articles WHERE published IS NOT NULL"))
    rows = conn.execute(
        "SELECT p.rowid, p.id, p.article_id, f.print FROM paragraphs p "
        "JOIN paragraph_prints f ON f.paragraph_id = p.id ORDER BY p.rowid"
    )
    rowid_batches = []
    while batch := rows.fetchmany(READ_BATCH):
        rowids, *columns = map(list, zip(*batch))
        rowid_batches.append(np.asarray(rowids, dtype=np.int64))
        finder.add_packed(*columns, published)
    if len(finder) != count:
        missing = conn.execute(
            "SELECT id FROM paragraphs WHERE id NOT IN (SELECT paragraph_id FROM paragraph_prints) LIMIT 1"
        ).fetchone()
        raise RuntimeError(f"paragraph {missing[0] if missing else '?'} has no fingerprint in paragraph_prints")
    rowids = np.concatenate(rowid_batches) if rowid_batches else np.zeros(0, dtype=np.int64)
    found = finder.link_arrays()
    now = LinkState.of(rowids, finder.paragraph_ids, found)
    before = LinkState.read(conn, now)
    write_links(conn, finder, found, now, before)
    write_reports(conn, finder.paragraph_ids, now, before)
    now.write(conn)
    # Reports carried by more than one paragraph, counted once, so pages need not count copies.
    conn.execute("DELETE FROM reports")
    conn.execute(
        "INSERT INTO reports (report_id, paragraphs, articles) SELECT report_id, count(*), count(DISTINCT article_id) "
        "FROM paragraphs GROUP BY report_id HAVING count(*) > 1"
    )
    return len(found.copy)


class LinkState(NamedTuple):
    """What the last compare stage wrote, by paragraph rowid, kept in the archive (copy_state) so
    that the next one writes only what changed without reading a million links and reports back:
    every paragraph (rowid, a checksum of its id, the rowid of its report's first paragraph) and
    every link (copying rowid, original rowid, similarity, method)."""

    rowid: np.ndarray
    id_sum: np.ndarray
    root: np.ndarray
    copy: np.ndarray
    original: np.ndarray
    similarity: np.ndarray
    method: np.ndarray

    @classmethod
    def of(cls, rowids: np.ndarray, ids: list[str], found: copies.Links) -> "LinkState":
        """The state of links found among paragraphs listed in rowid order."""
        id_sum = np.fromiter((zlib.crc32(i.encode()) for i in ids), dtype=np.uint32, count=len(ids))
        root = rowids[copies.report_roots(found, len(rowids))]
        return cls(rowids, id_sum, root, rowids[found.copy], rowids[found.original],
                   found.similarity.astype(np.float64), found.method.astype(np.int8))

    @classmethod
    def read(cls, conn: sqlite3.Connection, now: "LinkState") -> "LinkState | None":
        """The stored state, or None when there is none or it does not describe these paragraphs
        (a new archive, or one merged from shards): every paragraph still here must have the
        rowid and id it had."""
        stored = dict(conn.execute("SELECT name, data FROM copy_state"))
        if set(stored) != set(cls._fields):
            return None
        state = cls(*(np.frombuffer(stored[name], dtype=STATE_DTYPES[name]) for name in cls._fields))
        at, kept = copies.lookup(now.rowid, state.rowid)
        if (now.id_sum[at[kept]] != state.id_sum[kept]).any():
            return None
        return state

    def write(self, conn: sqlite3.Connection) -> None:
        """Keep this state in the archive for the next compare stage."""
        conn.executemany(
            "INSERT OR REPLACE INTO copy_state (name, data) VALUES (?, ?)",
            ((name, np.ascontiguousarray(value, dtype=STATE_DTYPES[name]).tobytes()) for name, value in self._asdict().items()),
        )


STATE_DTYPES = {"rowid": "<i8", "id_sum": "<u4", "root": "<i8", "copy": "<i8", "original": "<i8",
                "similarity": "<f8", "method": "i1"}


def unchanged(keys: np.ndarray, values: tuple, before_keys: np.ndarray, before_values: tuple) -> np.ndarray:
    """For each of `keys`, whether `before_keys` (ascending) has it with the same values."""
    at, same = copies.lookup(before_keys, keys)
    if len(before_keys):
        for value, before_value in zip(values, before_values):
            same &= before_value[at] == value
    return same


def write_links(conn: sqlite3.Connection, finder: copies.CopyFinder, found: copies.Links, now: LinkState,
                before: LinkState | None) -> None:
    """Make paragraph_copies hold exactly the links found, writing only the rows that differ from
    the stored state: after adding one article to a big archive, almost none do. Without a state,
    every row is written again."""
    ids, articles, article_of = finder.paragraph_ids, finder.article_ids, finder.article_index
    if before is None:
        conn.execute("DELETE FROM paragraph_copies")
        write = np.ones(len(now.copy), dtype=bool)
    else:
        values = (now.original, now.similarity, now.method)
        write = ~unchanged(now.copy, values, before.copy, (before.original, before.similarity, before.method))
        stale = ~unchanged(before.copy, (before.original, before.similarity, before.method), now.copy, values)
        # Links of paragraphs removed with their articles went with them (load.ARTICLE_TABLES).
        at, here = copies.lookup(now.rowid, before.copy[stale])
        conn.executemany("DELETE FROM paragraph_copies WHERE paragraph_id = ?", ((ids[i],) for i in at[here].tolist()))
    conn.executemany(
        "INSERT OR REPLACE INTO paragraph_copies (paragraph_id, copy_of, similarity, method, article_id, copy_of_article) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            (ids[c], ids[o], similarity, copies.METHODS[method], articles[article_of[c]], articles[article_of[o]])
            for c, o, similarity, method in zip(found.copy[write].tolist(), found.original[write].tolist(),
                                                found.similarity[write].tolist(), found.method[write].tolist())
        ),
    )


def write_reports(conn: sqlite3.Connection, ids: list[str], now: LinkState, before: LinkState | None) -> None:
    """Set each paragraph's report_id (the first paragraph of its chain of copies) and report
    ("copy" when that is another paragraph, else "original") where they differ from the stored
    state: paragraphs that are new, or whose chain now starts elsewhere."""
    index = np.arange(len(now.rowid))
    if before is not None:
        index = index[~unchanged(now.rowid, (now.root,), before.rowid, (before.root,))]
    first = np.searchsorted(now.rowid, now.root[index])
    conn.executemany(
        "UPDATE paragraphs SET report_id = ?, report = ? WHERE rowid = ?",
        (
            (ids[f], "copy" if f != i else "original", rowid)
            for i, f, rowid in zip(index.tolist(), first.tolist(), now.rowid[index].tolist())
        ),
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
    to_score = conn.execute("SELECT article_id, signs FROM rewrite_signs" + rescore_where(stored_key, variants))
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
