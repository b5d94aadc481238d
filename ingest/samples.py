"""The sample of matches a search counts its facets from, and the common words' samples kept in
the archive.

A search with more than EXACT_MAX matches (a common word matches half the archive) counts its
facets among every k-th match by rowid, and ranks its results (bm25) among every
(k * RANK_EVERY)-th (plugins/search.py). Finding that sample walks every match in the full-text
index: ~40 ms for a word in half of a million paragraphs, and ranking it with FTS5's bm25 walks
them twice more (once for the word's IDF). The build walks them once instead for every word with
at least COMMON_MIN matches and keeps, in `common_samples`, the sample and, for the rows it ranks,
what bm25 weighs (the word's occurrences, the paragraph's length); a search for one such word
reads them and scores the rows as FTS5 would (`bm25`). The answers are the same either way: both
take the step from `sample_step`, and `bm25` repeats FTS5's arithmetic operation for operation.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading

import numpy as np

from .copies import lookup
from .text import FTS_TOKENIZER

# Up to this many matches everything is exact: every match is ranked (bm25) and counted per facet.
EXACT_MAX = 10_000
# Above it, results are ranked and facets counted among about SAMPLE_ROWS matches spread evenly
# over the archive (every k-th rowid); the counts are scaled up and shown as estimates ("≈").
SAMPLE_ROWS = 10_000
# Words with at least this many matches have their sample kept: walking fewer costs a search
# under ~8 ms, and a million paragraphs have ~80 words this common (~40 KB each).
COMMON_MIN = 100_000
# When sampling, one sampled row in RANK_EVERY is ranked: bm25 costs more than the rest of a row.
RANK_EVERY = 4
# Paragraphs tokenized at a time to count a word's occurrences in them (a few MB of index).
WEIGH_CHUNK = 20_000
# FTS5's bm25 parameters (k1, b): fixed in SQLite.
BM25_K1, BM25_B = 1.2, 0.75


COMMON_SAMPLES_SQL = """
DROP TABLE IF EXISTS common_samples;
-- The words (as the full-text index spells them: lower case, porter stems) with COMMON_MIN
-- matches or more, each with its matches' count and the rowids of every step-th match
-- (little-endian 32-bit): what a search for the word would otherwise walk the index to find.
-- upto: the highest paragraph rowid when it was sampled. For the sampled rows a search ranks
-- (rowids divisible by step * RANK_EVERY), in rowid order, the word's occurrences in each and
-- each paragraph's length in tokens (little-endian 32-bit): what bm25 weighs besides the index's totals.
CREATE TABLE common_samples (
  term TEXT PRIMARY KEY, matches INTEGER NOT NULL, step INTEGER NOT NULL, rowids BLOB NOT NULL, upto INTEGER NOT NULL,
  ranked_occurrences BLOB NOT NULL, ranked_lengths BLOB NOT NULL
);
"""


# What a search reads of a kept sample (a row of common_samples), in this order.
KEPT_COLUMNS = "matches, step, rowids, ranked_occurrences, ranked_lengths"


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


def ranked(rowids: np.ndarray, step: int) -> np.ndarray:
    """Which of a sample's rowids (every step-th) a search ranks, as a mask."""
    return rowids % (step * RANK_EVERY) == 0


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
    sampled = {}  # word -> matches, step, rowids, and the occurrences and lengths already weighed
    for (term,) in common:
        if indexed_words(term) != [term]:  # a stem whose own stem differs: no query finds just it
            continue
        query = {"query": phrase(term)}
        step = sample_step(*conn.execute(first_sql(), query).fetchone(), max_rowid)
        earlier = before.get(term)
        if earlier and earlier[1] == step:
            matches, added = conn.execute(sample_sql(step, "paragraphs_fts MATCH :query AND rowid > :upto"),
                                          {**query, "upto": added_after}).fetchone()
            weighed = [np.frombuffer(blob, dtype="<u4") for blob in earlier[3:]]
            sampled[term] = (earlier[0] + matches, step, np.frombuffer(earlier[2], dtype="<u4"), rowid_array(added), weighed)
        else:
            matches, rowids = conn.execute(sample_sql(step), query).fetchone()
            sampled[term] = (matches, step, np.zeros(0, dtype="<u4"), rowid_array(rowids), [np.zeros(0, dtype="<u4")] * 2)
    weights = ranking_weights(conn, {term: new[ranked(new, step)] for term, (_, step, _, new, _) in sampled.items()})
    for term, (matches, step, kept, new, weighed) in sampled.items():
        rowids = np.concatenate([kept, new.astype("<u4")])
        occurrences, lengths = (np.concatenate([old, added.astype("<u4")]) for old, added in zip(weighed, weights[term]))
        conn.execute("INSERT INTO common_samples VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (term, matches, step, rowids.tobytes(), max_rowid, occurrences.tobytes(), lengths.tobytes()))
    return len(sampled)


def kept_samples(conn: sqlite3.Connection, added_after: int) -> dict[str, tuple]:
    """The archive's kept samples, by word: (matches, step, rowids, ranked_occurrences,
    ranked_lengths), if they were taken of the paragraphs up to `added_after` (as they stood
    before this build added the rest)."""
    try:
        rows = conn.execute(f"SELECT term, {KEPT_COLUMNS} FROM common_samples WHERE upto = ?", (added_after,)).fetchall()
    except sqlite3.OperationalError:  # an archive without them (or of an older layout)
        return {}
    return {term: tuple(kept) for term, *kept in rows}


def ranking_weights(conn: sqlite3.Connection, wanted: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each word, its occurrences in each of the paragraphs `wanted` names (ascending rowids)
    and their lengths in tokens, as the full-text index counts them.

    The index keeps neither where SQL can read it per paragraph: the occurrences come from the
    paragraphs tokenized again by the archive's tokenizer into a small index of their own, a chunk
    at a time; the lengths from the index's `_docsize` table (FTS5's documented layout)."""
    paragraphs = np.unique(np.concatenate([np.zeros(0, dtype=np.int64), *wanted.values()]).astype(np.int64))
    occurrences = {word: np.zeros(len(rowids), dtype=np.int64) for word, rowids in wanted.items()}
    lengths = np.zeros(len(paragraphs), dtype=np.int64)  # by place in `paragraphs`
    conn.execute(f"CREATE VIRTUAL TABLE temp.weighed USING fts5(text, content='', tokenize='{FTS_TOKENIZER}')")
    conn.execute("CREATE VIRTUAL TABLE temp.weighed_words USING fts5vocab(temp, weighed, instance)")
    try:
        for start in range(0, len(paragraphs), WEIGH_CHUNK):
            part = slice(start, start + WEIGH_CHUNK)
            chunk = json.dumps(paragraphs[part].tolist())
            conn.execute("INSERT INTO temp.weighed (rowid, text) SELECT rowid, text FROM paragraphs "
                         "WHERE rowid IN (SELECT value FROM json_each(?))", (chunk,))
            for word, counts in occurrences.items():
                found = conn.execute("SELECT doc, count(*) FROM temp.weighed_words WHERE term = ? GROUP BY doc ORDER BY doc", (word,))
                place_values(counts, wanted[word], np.array(found.fetchall(), dtype=np.int64).reshape(-1, 2))
            # Every paragraph wanted is a match, so in the index: one size each, in rowid order.
            sizes = conn.execute("SELECT sz FROM paragraphs_fts_docsize WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", (chunk,))
            lengths[part] = [varints(size)[0] for (size,) in sizes]
            conn.execute("INSERT INTO temp.weighed (weighed) VALUES ('delete-all')")
    finally:
        conn.execute("DROP TABLE temp.weighed_words")
        conn.execute("DROP TABLE temp.weighed")
    return {word: (occurrences[word], lengths[np.searchsorted(paragraphs, rowids)]) for word, rowids in wanted.items()}


def place_values(into: np.ndarray, rowids: np.ndarray, pairs: np.ndarray) -> None:
    """Set into[i] to the value `pairs` (rowid, value; ascending rowids) gives rowids[i], where it gives one."""
    at, given = lookup(pairs[:, 0], rowids)
    into[given] = pairs[at[given], 1]


def varints(blob: bytes) -> list[int]:
    """The integers of a run of SQLite varints (big-endian, seven bits a byte; as FTS5 writes its
    sizes and totals)."""
    values, value = [], 0
    for byte in blob:
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            values.append(value)
            value = 0
    return values


def index_totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """The full-text index's paragraphs and tokens in all, from its averages record (row 1 of
    `_data`, FTS5's documented layout): the totals bm25 measures a paragraph against."""
    row = conn.execute("SELECT block FROM paragraphs_fts_data WHERE id = 1").fetchone()
    rows, *tokens = varints(row[0]) if row else (0,)
    return rows, sum(tokens)


def bm25(occurrences: np.ndarray, lengths: np.ndarray, matches: int, totals: tuple[int, int]) -> np.ndarray:
    """FTS5's bm25() of paragraphs matching a one-word query, from the word's occurrences in each,
    their lengths, how many paragraphs the word is in and the index's totals.

    The same operations in the same order as SQLite's fts5Bm25Function (double precision), so each
    score is the very number `bm25(paragraphs_fts)` gives: ordering by it ties and breaks ties alike."""
    rows, tokens = totals
    average_length = float(tokens) / float(rows)
    idf = math.log((rows - matches + 0.5) / (matches + 0.5))
    if idf <= 0.0:
        idf = 1e-6
    frequency = occurrences.astype(np.float64)
    score = 0.0 + idf * ((frequency * (BM25_K1 + 1.0)) /
                         (frequency + BM25_K1 * (1 - BM25_B + BM25_B * lengths.astype(np.float64) / average_length)))
    return -1.0 * score


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
