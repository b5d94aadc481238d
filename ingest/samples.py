"""What a search for common words reads instead of walking the full-text index: each common
word's paragraphs, and what bm25 weighs for the paragraphs a search ranks.

A search with more than EXACT_MAX matches (a common word matches half the archive) counts its
facets among every k-th match by rowid, and ranks its results (bm25) among every
(k * RANK_EVERY)-th (plugins/search.py). Finding that sample walks every match in the full-text
index: ~40 ms for a word in half of a million paragraphs, and ranking it with FTS5's bm25 walks
every word's matches again (for its IDF); "Putin Xi" at a million paragraphs took ~125 ms. The
build walks them once instead for every word with at least COMMON_MIN matches and keeps, in
`common_samples`, the word's paragraphs (one bit a rowid) and its occurrences in each of them
whose rowid is a multiple of `kept_every()`, with those paragraphs' lengths in `ranked_lengths`.
A search for a few words, all required, at least one kept, intersects their bits (the other
words walked: each is in fewer paragraphs), takes the sample and the ranked rows from them and
scores the rows as FTS5 would (`bm25`; the other words' occurrences read back from their own
bm25(), `occurrences_from_bm25`). The answers are the same either way: both take the step from
`sample_step`, and `bm25` repeats FTS5's arithmetic operation for operation.
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
# Words with at least this many matches are kept: walking fewer costs a search under ~8 ms, and
# a million paragraphs have ~80 words this common (each ~125 KB of bits, ~30 KB of occurrences).
COMMON_MIN = 100_000
# When sampling, one sampled row in RANK_EVERY is ranked: bm25 costs more than the rest of a row.
RANK_EVERY = 4
# Paragraphs tokenized at a time to count the words' occurrences in them (a few MB of index).
WEIGH_CHUNK = 20_000
# Rowids a word's matches are walked for at a time while keeping it (~700 KB of rowids as text).
WALK_ROWIDS = 100_000
# FTS5's bm25 parameters (k1, b): fixed in SQLite.
BM25_K1, BM25_B = 1.2, 0.75


COMMON_SAMPLES_SQL = """
DROP TABLE IF EXISTS common_samples;
DROP TABLE IF EXISTS ranked_lengths;
-- The words (as the full-text index spells them: lower case, porter stems) with COMMON_MIN
-- matches or more: how many paragraphs each is in, and which (paragraphs: one bit a rowid, bit
-- r % 8 of byte r // 8 for rowid r): what a search for them would otherwise walk the index to
-- find. occurrences: the word's count in each of those paragraphs whose rowid is a multiple of
-- ranked_lengths.every, in rowid order, as numpy type occurrence_type. upto: the highest
-- paragraph rowid when they were kept.
CREATE TABLE common_samples (
  term TEXT PRIMARY KEY, matches INTEGER NOT NULL, paragraphs BLOB NOT NULL,
  occurrences BLOB NOT NULL, occurrence_type TEXT NOT NULL, upto INTEGER NOT NULL
);
-- One row: the length in tokens of each paragraph whose rowid is a multiple of `every` (rowid
-- every * i at i; 0 where there is none), as numpy type length_type: with the occurrences, what
-- bm25 weighs besides the index's totals.
CREATE TABLE ranked_lengths (every INTEGER NOT NULL, upto INTEGER NOT NULL, lengths BLOB NOT NULL, length_type TEXT NOT NULL);
"""


# What a search reads of a kept word (a row of common_samples), in this order.
KEPT_COLUMNS = "term, matches, paragraphs, occurrences, occurrence_type"


def kept_every() -> int:
    """Occurrences are kept for the paragraphs whose rowids are multiples of this: every row a
    sampled search ranks is one, its step being even (`sample_step`)."""
    return 2 * RANK_EVERY


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
    # Even, so that the rows it ranks (multiples of step * RANK_EVERY) have their occurrences kept.
    return max(2, int(guess // SAMPLE_ROWS) // 2 * 2)


def sample_sql(step: int, where: str = "paragraphs_fts MATCH :query") -> str:
    """The count of the matches and their sample's rowids, comma-separated: one walk of the
    matches, whose rowids come back as one string, not a Python row each."""
    sampled = f"CASE WHEN rowid % {step} = 0 THEN rowid END" if step > 1 else "rowid"
    return f"SELECT count(*), group_concat({sampled}) FROM paragraphs_fts WHERE {where}"


def ranked(rowids: np.ndarray, step: int) -> np.ndarray:
    """Which of a sample's rowids (every step-th) a search ranks, as a mask."""
    return rowids % (step * RANK_EVERY) == 0


def rowid_array(concatenated: str | None) -> np.ndarray:
    """The rowids of a comma-separated group_concat as an array (parsed by numpy: a million in 30
    ms, against 280 ms split into strings first)."""
    return np.fromstring(concatenated, dtype=np.int64, sep=",") if concatenated else np.zeros(0, dtype=np.int64)


def max_paragraph_rowid(conn: sqlite3.Connection) -> int:
    """The highest paragraph rowid (at least 1), which the sample's step is measured against."""
    return max(1, conn.execute("SELECT max(rowid) FROM paragraph_facets").fetchone()[0] or 0)


# For each value of a byte, which of its 8 bits are set (256 x 8, least significant first), and how many.
BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(np.int64)
BITS_SET = BYTE_BITS.sum(axis=1)


def count_bits(bits: np.ndarray) -> int:
    """How many bits are set in `bits` (bytes)."""
    return int(BITS_SET[bits].sum())


def first_members(order: np.ndarray, member: np.ndarray, start: int, limit: int) -> np.ndarray:
    """The first `limit` rowids of `order` from position `start` on whose `member` flag is set
    (a rowid past the flags is none), looking at no more of `order` than needed: a block, then
    twice as many, and so on (~2 rowids a member for a word in half the archive)."""
    found, size = [], max(4 * limit, 1024)
    while start < len(order) and sum(map(len, found)) < limit:
        block = order[start:start + size]
        found.append(block[member[np.minimum(block, len(member) - 1)] & (block < len(member))])
        start, size = start + size, 2 * size
    return np.concatenate([np.zeros(0, dtype=order.dtype), *found])[:limit]


def first_matches(bits: np.ndarray) -> tuple[int, int | None]:
    """What `first_sql` gives for the matches whose bits are set: how many of the first EXACT_MAX
    + 1 there are, and the rowid of the last of them."""
    counts = np.cumsum(BITS_SET[bits])
    first = int(min(counts[-1] if len(counts) else 0, EXACT_MAX + 1))
    if not first:
        return 0, None
    byte = int(np.searchsorted(counts, first))  # the byte holding the first-th set bit
    within = first - (int(counts[byte - 1]) if byte else 0)
    set_bits = np.flatnonzero(np.unpackbits(bits[byte:byte + 1], bitorder="little"))
    return first, byte * 8 + int(set_bits[within - 1])


def rowids_of(bits: np.ndarray, every: int = 1) -> np.ndarray:
    """The rowids whose bits are set in `bits` (bytes, least significant bit first), of the
    multiples of `every` only."""
    return np.flatnonzero(np.unpackbits(bits, bitorder="little")[::every]) * every


def build_common_samples(conn: sqlite3.Connection, log=lambda message: None, added_after: int | None = None) -> int:
    """Keep the paragraphs of every word with COMMON_MIN matches or more, and what bm25 weighs in
    those a search may rank (after the full-text index and paragraph_facets are made); returns
    how many words.

    `added_after`: the highest paragraph rowid before this build, when the build only added
    paragraphs (after it). The words kept then are extended with their new matches instead of
    walking all their matches again.

    What it holds does not grow with a word's matches beyond one bit each: each word is walked a
    range of rowids at a time and written as soon as walked, and read back while it is weighed."""
    every = kept_every()
    extending = bool(added_after) and keeps_words_of(conn, added_after, every)
    conn.executescript("DROP TABLE IF EXISTS common_samples_before; DROP TABLE IF EXISTS ranked_lengths_before;")
    if extending:  # read again word by word below, then dropped
        conn.executescript("ALTER TABLE common_samples RENAME TO common_samples_before; "
                           "ALTER TABLE ranked_lengths RENAME TO ranked_lengths_before;")
    conn.executescript(COMMON_SAMPLES_SQL)
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.paragraph_words USING fts5vocab(main, paragraphs_fts, row)")
    common = conn.execute("SELECT term FROM temp.paragraph_words WHERE doc >= ? ORDER BY term", (COMMON_MIN,)).fetchall()
    conn.execute("DROP TABLE temp.paragraph_words")
    log(f"stage: samples of {len(common)} common words")
    max_rowid = max_paragraph_rowid(conn)
    after = added_after if extending else 0
    weighed = np.zeros(max_rowid // every + 1, dtype=bool)  # the paragraphs to weigh: rowid every * i at i
    words = []
    for (term,) in common:
        if indexed_words(term) != [term]:  # a stem whose own stem differs: no query finds just it
            continue
        earlier = conn.execute("SELECT matches, paragraphs FROM common_samples_before WHERE term = ?",
                               (term,)).fetchone() if extending else None
        paragraphs = np.zeros(max_rowid + 1, dtype=bool)
        matches = 0
        if earlier:
            matches, kept = earlier[0], np.unpackbits(np.frombuffer(earlier[1], dtype=np.uint8), bitorder="little")
            paragraphs[: min(len(kept), max_rowid + 1)] = kept[: max_rowid + 1]
        for low in range(after + 1 if earlier else 0, max_rowid + 1, WALK_ROWIDS):
            found, rowids = conn.execute(sample_sql(1, "paragraphs_fts MATCH :query AND rowid BETWEEN :low AND :high"),
                                         {"query": phrase(term), "low": low, "high": low + WALK_ROWIDS - 1}).fetchone()
            paragraphs[rowid_array(rowids)] = True
            matches += found
        new = paragraphs[::every].copy()
        new[: after // every + 1 if earlier else 0] = False
        weighed |= new
        conn.execute("INSERT INTO common_samples VALUES (?, ?, ?, x'', '', ?)",
                     (term, matches, np.packbits(paragraphs, bitorder="little").tobytes(), max_rowid))
        words.append((term, after if earlier else 0))
    occurrences = ranking_weights(conn, words, np.flatnonzero(weighed) * every)
    for term, above in words:
        found = occurrences[term]
        if above:
            (before, kind), = conn.execute("SELECT occurrences, occurrence_type FROM common_samples_before WHERE term = ?", (term,))
            found = np.concatenate([np.frombuffer(before, dtype=kind), found])
        kind = np.min_scalar_type(found.max(initial=0))
        conn.execute("UPDATE common_samples SET occurrences = ?, occurrence_type = ? WHERE term = ?",
                     (found.astype(kind).tobytes(), kind.str, term))
    lengths = paragraph_lengths(conn, every, max_rowid, after)
    kind = np.min_scalar_type(lengths.max(initial=0))
    conn.execute("INSERT INTO ranked_lengths VALUES (?, ?, ?, ?)", (every, max_rowid, lengths.astype(kind).tobytes(), kind.str))
    conn.executescript("DROP TABLE IF EXISTS common_samples_before; DROP TABLE IF EXISTS ranked_lengths_before;")
    return len(words)


def keeps_words_of(conn: sqlite3.Connection, added_after: int, every: int) -> bool:
    """Whether the archive's kept words and lengths are of the paragraphs up to `added_after` (as
    they stood before this build added the rest), for the same rows (multiples of `every`)."""
    try:
        lengths = conn.execute("SELECT count(*) FROM ranked_lengths WHERE upto = ? AND every = ?", (added_after, every))
        words = conn.execute("SELECT count(*), count(*) = sum(upto = ?) FROM common_samples", (added_after,))
        return bool(lengths.fetchone()[0]) and words.fetchone()[1] == 1
    except sqlite3.OperationalError:  # an archive without them (or of an older layout)
        return False


def paragraph_lengths(conn: sqlite3.Connection, every: int, max_rowid: int, after: int) -> np.ndarray:
    """The length in tokens of each paragraph whose rowid is a multiple of `every` (rowid every * i
    at i), as the full-text index counts them (its `_docsize` table, FTS5's documented layout):
    those kept up to rowid `after` (in ranked_lengths_before), read for the rest."""
    lengths = np.zeros(max_rowid // every + 1, dtype=np.int64)
    if after:
        (kept, kind), = conn.execute("SELECT lengths, length_type FROM ranked_lengths_before")
        kept = np.frombuffer(kept, dtype=kind)
        lengths[: len(kept)] = kept[: len(lengths)]
    sizes = conn.execute("SELECT id, sz FROM paragraphs_fts_docsize WHERE id > ? AND id % ? = 0", (after, every))
    for rowid, size in sizes:
        lengths[rowid // every] = varints(size)[0]
    return lengths


def ranking_weights(conn: sqlite3.Connection, words: list[tuple[str, int]], paragraphs: np.ndarray) -> dict[str, np.ndarray]:
    """For each kept word (common_samples) and rowid, its occurrences in each of these paragraphs
    (ascending rowids) above that rowid that it is in, in rowid order, as the full-text index
    counts them.

    The index keeps them where SQL can read them only by walking every occurrence of the word: they
    come from the paragraphs tokenized again by the archive's tokenizer into a small index of their
    own, a chunk at a time, each word's paragraphs read back from its bits for each chunk."""
    parts: dict[str, list[np.ndarray]] = {word: [] for word, _ in words}
    conn.execute(f"CREATE VIRTUAL TABLE temp.weighed USING fts5(text, content='', tokenize='{FTS_TOKENIZER}')")
    conn.execute("CREATE VIRTUAL TABLE temp.weighed_words USING fts5vocab(temp, weighed, instance)")
    try:
        for start in range(0, len(paragraphs), WEIGH_CHUNK):
            chunk = paragraphs[start:start + WEIGH_CHUNK]
            conn.execute("INSERT INTO temp.weighed (rowid, text) SELECT rowid, text FROM paragraphs "
                         "WHERE rowid IN (SELECT value FROM json_each(?))", (json.dumps(chunk.tolist()),))
            for word, above in words:
                (bits,), = conn.execute("SELECT paragraphs FROM common_samples WHERE term = ?", (word,))
                has = np.unpackbits(np.frombuffer(bits, dtype=np.uint8), bitorder="little")
                wanted = chunk[has[np.minimum(chunk, len(has) - 1)].astype(bool) & (chunk < len(has)) & (chunk > above)]
                counts = np.zeros(len(wanted), dtype=np.int64)
                found = conn.execute("SELECT doc, count(*) FROM temp.weighed_words WHERE term = ? GROUP BY doc ORDER BY doc", (word,))
                place_values(counts, wanted, np.array(found.fetchall(), dtype=np.int64).reshape(-1, 2))
                parts[word].append(counts.astype(np.min_scalar_type(counts.max(initial=0))))
            conn.execute("INSERT INTO temp.weighed (weighed) VALUES ('delete-all')")
    finally:
        conn.execute("DROP TABLE temp.weighed_words")
        conn.execute("DROP TABLE temp.weighed")
    return {word: np.concatenate([np.zeros(0, dtype=np.uint8), *found]) for word, found in parts.items()}


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


def bm25(occurrences: list[np.ndarray], lengths: np.ndarray, matches: list[int], totals: tuple[int, int]) -> np.ndarray:
    """FTS5's bm25() of paragraphs matching a query for one or more words (each a phrase of the
    query), from each word's occurrences in each paragraph, the paragraphs' lengths, how many
    paragraphs each word is in and the index's totals.

    The same operations in the same order as SQLite's fts5Bm25Function (double precision, the
    words' terms summed in the query's order), so each score is the very number
    `bm25(paragraphs_fts)` gives: ordering by it ties and breaks ties alike."""
    rows, tokens = totals
    average_length = float(tokens) / float(rows)
    lengths = lengths.astype(np.float64)
    score = np.zeros(len(lengths))
    for found, hits in zip(occurrences, matches):
        idf = math.log((rows - hits + 0.5) / (hits + 0.5))
        if idf <= 0.0:
            idf = 1e-6
        frequency = found.astype(np.float64)
        score = score + idf * ((frequency * (BM25_K1 + 1.0)) /
                               (frequency + BM25_K1 * (1 - BM25_B + BM25_B * lengths / average_length)))
    return -1.0 * score


def occurrences_from_bm25(scores: np.ndarray, lengths: np.ndarray, matches: int, totals: tuple[int, int]) -> np.ndarray | None:
    """A word's occurrences in paragraphs, from FTS5's bm25() of a query for the word alone (and
    the paragraphs' lengths, how many paragraphs the word is in and the index's totals): bm25
    solved for the count and rounded; None unless every count scores exactly its bm25() again."""
    rows, tokens = totals
    idf = math.log((rows - matches + 0.5) / (matches + 0.5))
    if idf <= 0.0:
        idf = 1e-6
    score = -scores
    norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths.astype(np.float64) / (float(tokens) / float(rows)))
    with np.errstate(divide="ignore", invalid="ignore"):
        found = np.rint(score * norm / (idf * (BM25_K1 + 1.0) - score))
    if not np.isfinite(found).all() or (found < 1).any():
        return None
    found = found.astype(np.int64)
    return found if np.array_equal(bm25([found], lengths, [matches], totals), scores) else None


def phrase(term: str) -> str:
    """An FTS5 query for this word."""
    return '"' + term.replace('"', '""') + '"'


# One word of a query, bare or quoted (no operator, prefix, column or phrase of several words).
QUERY_WORD = re.compile(r'"[^\W_]+"|[^\W_]+')
# Bare words that FTS5 reads as operators.
FTS5_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})
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


def query_words(query: str) -> list[str] | None:
    """The indexed words, in the query's order, of an FTS5 query asking for the paragraphs that
    have every one of a few words (one or more, each bare or quoted, with or without AND between
    them); None for any other query."""
    tokens = query.split()
    # "putin AND xi" is "putin xi": AND only between two words, where it changes nothing.
    tokens = [token for i, token in enumerate(tokens)
              if not (token == "AND" and 0 < i < len(tokens) - 1 and "AND" not in (tokens[i - 1], tokens[i + 1]))]
    if not tokens or any(token in FTS5_OPERATORS or not QUERY_WORD.fullmatch(token) for token in tokens):
        return None
    words = [indexed_words(token.strip('"')) for token in tokens]
    return [found[0] for found in words] if all(len(found) == 1 for found in words) else None
