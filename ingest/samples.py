"""The sample of matches a search counts its facets from, and the common words' samples kept in
the archive.

A search with more than EXACT_MAX matches (a common word matches half the archive) counts its
facets, and ranks its results, among every k-th match by rowid (plugins/search.py). Finding
that sample walks every match in the full-text index: ~40 ms for a word in half of a million
paragraphs, most of a search's time. The build walks it once instead for every word with at
least COMMON_MIN matches and keeps the sample in `common_samples`; a search for one such word
reads it. The sample is the same either way: both take its step from `sample_step`.
"""

from __future__ import annotations

import re
import sqlite3
import threading

import numpy as np

from .text import FTS_TOKENIZER

# Up to this many matches everything is exact: every match is ranked (bm25) and counted per facet.
EXACT_MAX = 10_000
# Above it, results are ranked and facets counted among about SAMPLE_ROWS matches spread evenly
# over the archive (every k-th rowid); the counts are scaled up and shown as estimates ("≈").
SAMPLE_ROWS = 10_000
# Words with at least this many matches have their sample kept: walking fewer costs a search
# under ~8 ms, and a million paragraphs have ~80 words this common (~40 KB each).
COMMON_MIN = 100_000


COMMON_SAMPLES_SQL = """
DROP TABLE IF EXISTS common_samples;
-- The words (as the full-text index spells them: lower case, porter stems) with COMMON_MIN
-- matches or more, each with its matches' count and the rowids of every step-th match
-- (little-endian 32-bit): what a search for the word would otherwise walk the index to find.
-- upto: the highest paragraph rowid when it was sampled.
CREATE TABLE common_samples (
  term TEXT PRIMARY KEY, matches INTEGER NOT NULL, step INTEGER NOT NULL, rowids BLOB NOT NULL, upto INTEGER NOT NULL
);
"""


def first_sql() -> str:
    """The count of a query's first EXACT_MAX + 1 matches (in rowid order) and the last one's rowid,
    which decide whether it is sampled and how densely."""
    return ("SELECT count(*), max(rowid) FROM (SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH :query "
            f"LIMIT {EXACT_MAX + 1})")


def sample_step(first: int, last: int | None, max_rowid: int) -> int:
    """Which matches a search samples: every `step`-th rowid (1: every match), from how many of
    its first EXACT_MAX + 1 matches there are (`first`) and the rowid of the last of them."""
    if first <= EXACT_MAX:
        return 1
    guess = first * max_rowid / max(1, last or 1)  # the matches in all, at the density of the first
    return max(2, int(guess // SAMPLE_ROWS))


def sample_sql(step: int, where: str = "paragraphs_fts MATCH :query") -> str:
    """The count of the matches and their sample's rowids, comma-separated: one walk of the
    matches, whose rowids come back as one string, not a Python row each."""
    sampled = f"CASE WHEN rowid % {step} = 0 THEN rowid END" if step > 1 else "rowid"
    return f"SELECT count(*), group_concat({sampled}) FROM paragraphs_fts WHERE {where}"


def rowid_array(concatenated: str | None) -> np.ndarray:
    """The rowids of a comma-separated group_concat as an array."""
    return np.array(concatenated.split(","), dtype=np.int64) if concatenated else np.zeros(0, dtype=np.int64)


def max_paragraph_rowid(conn: sqlite3.Connection) -> int:
    """The highest paragraph rowid (at least 1), which the sample's step is measured against."""
    return max(1, conn.execute("SELECT max(rowid) FROM paragraph_facets").fetchone()[0] or 0)


def build_common_samples(conn: sqlite3.Connection, log=lambda message: None, added_after: int | None = None) -> int:
    """Keep the sample of every word with COMMON_MIN matches or more (after the full-text index
    and paragraph_facets are made); returns how many words.

    `added_after`: the highest paragraph rowid before this build, when the build only added
    paragraphs (after it). The samples kept then are extended with each word's new matches where
    the word's step has not changed, instead of walking all its matches again."""
    before = kept_samples(conn, added_after) if added_after else {}
    conn.executescript(COMMON_SAMPLES_SQL)
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.paragraph_words USING fts5vocab(main, paragraphs_fts, row)")
    common = conn.execute("SELECT term FROM temp.paragraph_words WHERE doc >= ? ORDER BY term", (COMMON_MIN,)).fetchall()
    conn.execute("DROP TABLE temp.paragraph_words")
    log(f"stage: samples of {len(common)} common words")
    max_rowid = max_paragraph_rowid(conn)
    kept = 0
    for (term,) in common:
        if indexed_words(term) != [term]:  # a stem whose own stem differs: no query finds just it
            continue
        query = {"query": phrase(term)}
        step = sample_step(*conn.execute(first_sql(), query).fetchone(), max_rowid)
        earlier = before.get(term)
        if earlier and earlier[1] == step:
            matches, sample = conn.execute(sample_sql(step, "paragraphs_fts MATCH :query AND rowid > :upto"),
                                           {**query, "upto": added_after}).fetchone()
            rowids = np.concatenate([np.frombuffer(earlier[2], dtype="<u4"), rowid_array(sample).astype("<u4")])
            matches += earlier[0]
        else:
            matches, sample = conn.execute(sample_sql(step), query).fetchone()
            rowids = rowid_array(sample).astype("<u4")
        conn.execute("INSERT INTO common_samples VALUES (?, ?, ?, ?, ?)", (term, matches, step, rowids.tobytes(), max_rowid))
        kept += 1
    return kept


def kept_samples(conn: sqlite3.Connection, added_after: int) -> dict[str, tuple]:
    """The archive's kept samples, by word: (matches, step, rowids), if they were taken of the
    paragraphs up to `added_after` (as they stood before this build added the rest)."""
    try:
        rows = conn.execute("SELECT term, matches, step, rowids FROM common_samples WHERE upto = ?", (added_after,)).fetchall()
    except sqlite3.OperationalError:  # an archive without them (or of an older layout)
        return {}
    return {term: (matches, step, rowids) for term, matches, step, rowids in rows}


def phrase(term: str) -> str:
    """An FTS5 query for this word."""
    return '"' + term.replace('"', '""') + '"'


# A query that is one word, bare or quoted (no operator, prefix, column or second word).
ONE_WORD = re.compile(r'"?[^\W_]+"?')
_tokenizers = threading.local()


def indexed_words(text: str) -> list[str]:
    """The words of `text` as the archive's full-text index keeps them (its tokenizer)."""
    conn = getattr(_tokenizers, "conn", None)
    if conn is None:
        conn = _tokenizers.conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE one USING fts5(text, tokenize='{FTS_TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE words USING fts5vocab(one, instance)")
    conn.execute("DELETE FROM one")
    conn.execute("INSERT INTO one (rowid, text) VALUES (1, ?)", (text,))
    return [term for (term,) in conn.execute("SELECT term FROM words ORDER BY offset")]


def common_word(query: str) -> str | None:
    """The indexed word an FTS5 query for one word searches for (None for any other query)."""
    if not ONE_WORD.fullmatch(query):
        return None
    words = indexed_words(query.strip('"'))
    return words[0] if len(words) == 1 else None
