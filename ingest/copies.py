"""Link paragraphs that are the same report in different articles: exact, near and excerpted copies.

A wire story runs in many outlets, aggregators excerpt it with "[…]", and republishers make small
edits ("U.S." for "US", a dropped dateline, one added adverb). `CopyFinder` collects every
paragraph with `add()` and then `links()` says, for each paragraph that copies another article's
paragraph, which paragraph it copies:

- **exact**: the same text once white space, quote marks, dashes, "[…]" elisions and case are
  normalised. Found by hashing that normal form.
- **near**: word 3-shingles with a Jaccard similarity of at least `near_threshold`, estimated by
  MinHash (one-permutation hashing with densification, computed in numpy in batches) and found
  by LSH banding: `bands` bands of `rows` values, so only paragraphs that share a whole band are
  ever compared. The similarity is the estimated Jaccard similarity.
- **excerpt**: a paragraph whose sentences (and the pieces between its "[…]" marks) are at least
  `excerpt_threshold` of its words and all appear in one longer paragraph of another article.
  Found by hashing each sentence of at least `min_unit_words` words. The similarity is the
  share of the excerpt's words found in the longer paragraph. Only paragraphs without an exact
  or near link are looked at as excerpts (a stronger method wins anyway).

No step compares all pairs, nor all pairs within a bucket: a wire story syndicated everywhere
fills a bucket with thousands of paragraphs. Exact copies are grouped by hash and each linked to
its group's most original. For near copies, the members of each LSH bucket are put in the order
below, most original first, and each is compared with the first `heads` members of its bucket and
with the one just before it; those still without an original after all bands are then compared
with the `window` members before them. Excerpts are paired the same way within the paragraphs
that share a sentence, fullest first, and each pair's shared words are counted over all their
sentences. So the work grows with the number of paragraphs, not with the square of a bucket. A
copy whose bucket heads differ too much (longer versions with added text) is linked to a nearer
copy instead, which is linked in turn: chains of links lead to the original.

Direction (which one is the original, `copy_of`):
1. when both articles have a publication date and the dates differ, the earlier one;
2. for an excerpt, the fuller paragraph that contains it;
3. otherwise, an article that marks elisions with "[…]" announces that it is excerpting, so the
   article without them is the original;
4. then the longer paragraph (republishers trim: a dropped dateline, a dropped clause);
5. then the smaller article id, then the smaller paragraph id (stable, arbitrary).

Each copied paragraph gets one link: of the paragraphs it copies, the one matched by the
strongest method (exact, then near, then excerpt), and among those it was compared with the
most original by the order above (computed once as a rank of all paragraphs). So a report
syndicated to 200 outlets gives 199 links to one original, not 20,000 pairs, and "also in" for a
paragraph is everything linked to the same original. Two paragraphs
of the same article are never linked. Paragraphs shorter than `min_words` words are not linked
at all: short lines ("He said.") are the same in every article without being copies.

Worker processes can compute `fingerprint(text)` (the costly part, about 100 µs a paragraph)
and hand it to `CopyFinder.add_fingerprint()`, or sketch it too (`signatures_of()`) and keep both
as `pack()` writes them (`pack_texts()` does both for an article's paragraphs, and remembers
recent texts: wire copy repeats them), which `CopyFinder.add_packed()` reads back many at a time;
`links()` then runs once over everything.

Memory: the finder keeps ~12 bytes a paragraph in memory (its article, words and signature
row) and its ids packed. The bulk, each paragraph's sentence hashes, signature and exact
key (~170 bytes), goes to spill files (`spill.Spilled`) as it comes and is read back one LSH band,
or one part of the sentences by hash, at a time; every pass keeps its arrays 32-bit where the
values fit and gives the memory it freed back before the next.
"""

from __future__ import annotations

import gc
import hashlib
import re
import struct
import unicodedata
import zlib
from array import array
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .memory import give_back_memory
from .spill import Spilled
from .text import PARAGRAPH_MEMO, BoundedCache

ELISION = re.compile(r"\[\s*(?:…|\.\.\.)\s*\]|\(\s*(?:…|\.\.\.)\s*\)|…|\.\.\.")
QUOTE_MARKS = re.compile(r"[\"'‘’‚‛“”„‟«»‹›`´]")
DASHES = re.compile(r"[‐‑‒–—―−]")
# Dots and apostrophes inside a word are dropped, so "U.S." and "US", "China’s" and
# "China's" are the same word. (The pattern starts with its character class: much faster.)
INNER = re.compile(r"[.'’](?<=\w[.'’])(?=\w)")
WORD = re.compile(r"\w+")
# Sentence ends and elision marks cut a paragraph into the units that excerpts keep whole.
# Lower-cased text has no capitals to tell "Mr. Xi" from a sentence end; cutting after every
# full stop is fine, because a copy is cut at the same places as its original.
UNIT_BREAK = re.compile(r"[.!?;:][\"”’')\]]*\s+|\[\s*(?:…|\.\.\.)\s*\]|\(\s*(?:…|\.\.\.)\s*\)|…|\.\.\.")

METHODS = ("exact", "near", "excerpt")  # strongest first; a method's number in Links.method
NUM_PERM = 64  # MinHash values per paragraph
PAIR_CHUNK = 50_000  # excerpt candidate pairs measured at once: 200,000 took 20 MB more and were no faster
COMPARE_CHUNK = 25_000  # near candidate pairs compared at once: their two signatures take 6.4 MB
NEAR_PARTS = 4  # the near pass sorts a band's buckets in this many parts (a power of two, at most 256)
EXACT_PARTS = 4  # the exact pass sorts its keys in this many parts (as NEAR_PARTS)
EMPTY = np.uint32(0xFFFFFFFF)
# A sentence unit as the finder spills it: its hash, its paragraph's index, its words.
UNIT_RECORD = np.dtype([("key", "<i8"), ("paragraph", "<i4"), ("words", "<i4")])
PENDING_UNITS = 50_000  # units of paragraphs added one by one, written to the spill file at once
# Sentence units sorted and paired at once by the excerpt pass, which takes the archive's sentences
# in parts by hash: sorting all 2.5 million of a million paragraphs at once took ~110 MB.
EXCERPT_PART = 200_000
RANK_TIES = 100_000  # paragraphs of tied runs ordered by id at once (their ids are read for it)
UNITS_READ = 65_536  # sentence units read back from the spill file at once (1 MB)


@dataclass(slots=True)
class Copy:
    """`paragraph_id` is a copy of `copy_of` (the original), found by `method`."""

    paragraph_id: str
    copy_of: str
    similarity: float
    method: str  # "exact" | "near" | "excerpt"


def exact_form(text: str) -> str:
    """The text as compared for exact copies (give it NFKC-normalised): case, white space, quote
    marks, dashes and elision marks normalised; all other punctuation kept."""
    if "…" in text or "..." in text:
        text = ELISION.sub(" ", text)
    text = DASHES.sub("-", QUOTE_MARKS.sub("", text))
    return " ".join(text.lower().split())


def units(text: str) -> list[list[str]]:
    """The paragraph's words, lower-cased, cut at sentence ends and elision marks: the pieces an
    excerpt keeps whole. Joined end to end they are the paragraph's words."""
    return [WORD.findall(piece) for piece in UNIT_BREAK.split(INNER.sub("", text.lower()))]


def words(text: str) -> list[str]:
    """The paragraph's words, lower-cased, with dots and apostrophes inside words dropped."""
    return [word for unit in units(text) for word in unit]


def _digest(text: str) -> int:
    """A stable 63-bit hash (the same in every process, unlike hash())."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def _mix64(h: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64), so that shingle hashes are spread over all bits."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


class Links(NamedTuple):
    """Links as parallel arrays, one entry a copying paragraph, by paragraph index."""

    copy: np.ndarray  # the copying paragraph, ascending
    original: np.ndarray  # the paragraph it copies
    similarity: np.ndarray  # in thousandths, 0 to 1000 (16-bit): rounded to 3 decimals, exactly
    method: np.ndarray  # 0 exact, 1 near, 2 excerpt (METHODS)


class Fingerprint(NamedTuple):
    """What `CopyFinder` keeps of a paragraph. Picklable, so worker processes can compute it."""

    exact_key: int
    words: int
    elided: bool
    units: tuple[tuple[int, int], ...]  # (hash, words) of each sentence of min_unit_words or more
    word_hashes: array  # crc32 of each word, for the shingles


_WORD_HASH: dict[str, int] = {}


def fingerprint(text: str, min_unit_words: int = 6) -> Fingerprint:
    """Everything `CopyFinder` needs of one paragraph's text, computed in one pass."""
    text = unicodedata.normalize("NFKC", text)
    tokens: list[str] = []
    kept = []
    for unit in units(text):
        if len(unit) >= min_unit_words:
            kept.append((_digest(" ".join(unit)), len(unit)))
        tokens.extend(unit)
    cache = _WORD_HASH
    if len(cache) > 2_000_000:  # a bound on memory; the hashes are recomputed identically
        cache.clear()
    hashes = list(map(cache.get, tokens))
    if None in hashes:
        for k, token in enumerate(tokens):
            if hashes[k] is None:
                hashes[k] = cache[token] = zlib.crc32(token.encode())
    return Fingerprint(
        _digest(exact_form(text)), len(tokens), bool(ELISION.search(text)), tuple(kept), array("L", hashes)
    )


def sketch(tokens: list[int], starts: list[int], num_perm: int = NUM_PERM) -> np.ndarray:
    """One-permutation MinHash of each paragraph's word 3-shingles, densified by rotation: one
    row of `num_perm` 16-bit values per paragraph, whose words' hashes are `tokens[starts[i]:starts[i + 1]]`.

    Each shingle hash picks a bin with its low bits and competes there with its high bits;
    a bin left empty (a short paragraph) takes the value of the next non-empty bin plus an
    offset, which keeps the estimate of Jaccard similarity unbiased (Shrivastava 2017)."""
    k, n = num_perm, len(starts)
    out = np.full((n, k), EMPTY, dtype=np.uint32)
    tok = np.asarray(tokens, dtype=np.uint64)
    ends = np.asarray(starts[1:] + [len(tokens)], dtype=np.int64)
    begin = np.asarray(starts, dtype=np.int64)
    if len(tok) >= 3:
        sh = (tok[:-2] * np.uint64(0x9E3779B97F4A7C15)) ^ (tok[1:-1] * np.uint64(0xC2B2AE3D27D4EB4F))
        sh ^= tok[2:] * np.uint64(0x165667B19E3779F9)
        sh = _mix64(sh)
        owner = np.repeat(np.arange(n), ends - begin)[: len(sh)]
        keep = np.arange(len(sh)) + 2 < ends[owner]  # the shingle stays inside its paragraph
        sh, owner = sh[keep], owner[keep]
        bins = (sh & np.uint64(k - 1)).astype(np.int64)
        values = (sh >> np.uint64(32)).astype(np.uint32)
        flat = out.reshape(-1)
        np.minimum.at(flat, owner * k + bins, values)
    empty = out == EMPTY
    if empty.any():
        out = densify(out, empty)
    # 16 bits per value are plenty to compare, and halve the memory.
    return (out & np.uint32(0xFFFF)).astype(np.uint16)


def densify(out: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """`out` with each empty bin given the value of the next non-empty bin of its row (going round
    the row) plus an offset for each bin skipped; a row with no value at all stays empty."""
    k = out.shape[1]
    # Each bin's next non-empty bin, found for every bin at once: the row is laid twice end to end
    # so that the search goes round it, and a running minimum from the right finds the nearest.
    columns = np.where(np.tile(~empty, 2), np.arange(2 * k), 2 * k)
    nearest = np.minimum.accumulate(columns[:, ::-1], axis=1)[:, ::-1][:, :k]
    rows, bins = np.nonzero(empty & (nearest < 2 * k))
    shift = (nearest[rows, bins] - bins).astype(np.uint64)
    offset = ((shift * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    filled = out.copy()
    filled[rows, bins] = out[rows, nearest[rows, bins] % k] + offset
    return filled


def signatures_of(prints: list[Fingerprint], num_perm: int = NUM_PERM) -> np.ndarray:
    """The MinHash signatures of some paragraphs' fingerprints (one row each), in one numpy pass."""
    tokens: list[int] = []
    starts = []
    for print_ in prints:
        starts.append(len(tokens))
        tokens.extend(print_.word_hashes)
    return sketch(tokens, starts, num_perm)


def band_keys(values: np.ndarray) -> np.ndarray:
    """Each row's values (up to four of 16 bits) packed side by side into one little-endian 64-bit
    key, the first value lowest: a band of a signature, as LSH buckets it."""
    key = np.zeros(len(values), dtype="<u8")
    for lane in range(values.shape[1]):
        key |= values[:, lane].astype(np.uint64) << np.uint64(16 * lane)
    return key


def zero_lanes(keys: np.ndarray, lanes: int) -> np.ndarray:
    """How many of the first `lanes` 16-bit values packed in each 64-bit key are zero: with bit
    arithmetic on whole keys, several times faster than comparing the values one by one."""
    low, high = np.uint64(0x7FFF7FFF7FFF7FFF), np.uint64(0x8000800080008000)
    # A lane's top bit ends up set exactly when the lane is zero (nothing carries between lanes).
    zero = ~(((keys & low) + low) | keys) & high & np.uint64((1 << (16 * lanes)) - 1)
    # One bit a zero lane, summed into the top lane by the multiplication.
    return ((zero >> np.uint64(15)) * np.uint64(0x0001000100010001)) >> np.uint64(48)


def signature_digests(rows: np.ndarray) -> np.ndarray:
    """A 64-bit digest of each signature row, to tell whether two are the same without keeping
    either (two different signatures share one with odds of 1 in 2**64)."""
    digest = np.zeros(len(rows), dtype=np.uint64)
    for column in range(rows.shape[1]):
        digest = _mix64((digest * np.uint64(0x9E3779B97F4A7C15)) ^ rows[:, column].astype(np.uint64))
    return digest


def string_digests(strings: np.ndarray) -> np.ndarray:
    """A 32-bit digest of each of some byte strings without NUL bytes (a numpy bytes array, as
    `PackedStrings` keeps them), made in numpy 65,536 at a time: crc32 in Python took ~1 s for a
    million paragraph ids. A string's digest does not depend on the array's width: the zero
    words that pad it add nothing."""
    out = np.empty(len(strings), dtype=np.uint32)
    width = strings.dtype.itemsize
    for start in range(0, len(strings), 65_536):
        part = np.ascontiguousarray(strings[start:start + 65_536])
        raw = np.zeros((len(part), -(-width // 8) * 8), dtype=np.uint8)  # each padded to whole 64-bit words
        raw[:, :width] = part.view(np.uint8).reshape(len(part), width)
        total = np.zeros(len(part), dtype=np.uint64)
        for place, word in enumerate(raw.view("<u8").T):
            # Each word mixed with its place, so that the same words in another order differ.
            total += np.where(word != 0, _mix64(word ^ np.uint64(0x9E3779B97F4A7C15 * (place + 1) % 2**64)), np.uint64(0))
        out[start:start + len(part)] = _mix64(total) >> np.uint64(32)
    return out


# Packed prints by text, kept across articles: wire copy repeats a paragraph in many articles
# (half the paragraphs of the benchmark's archive), and its bytes depend on its text alone.
_packed_memo = BoundedCache(PARAGRAPH_MEMO)


def pack_texts(texts: list[str]) -> list[bytes]:
    """What `pack()` makes of each text's fingerprint and signature: looked up for a text seen
    lately, else fingerprinted and sketched (all such texts in one numpy pass)."""
    packed = [_packed_memo.get(text) for text in texts]
    todo = [i for i, found in enumerate(packed) if found is None]
    if todo:
        prints = [fingerprint(texts[i]) for i in todo]
        for i, print_, signature in zip(todo, prints, signatures_of(prints)):
            packed[i] = _packed_memo.put(texts[i], pack(print_, signature))
    return packed


_HEAD = struct.Struct("<qIBI")  # exact_key, words, elided, number of units
_UNIT = struct.Struct("<qI")  # a unit's hash and words
# The same layouts for numpy, which reads a million of them at once (CopyFinder.add_packed).
_HEAD_DTYPE = np.dtype([("exact_key", "<i8"), ("words", "<u4"), ("elided", "u1"), ("units", "<u4")])
_UNIT_DTYPE = np.dtype([("key", "<i8"), ("words", "<u4")])


def pack(print_: Fingerprint, signature: np.ndarray) -> bytes:
    """A fingerprint and its MinHash signature as compact bytes, so that the archive can keep them
    and a later build need neither fingerprint nor sketch the paragraph again. The word hashes are
    left out: the signature is all the comparison needs of them."""
    units = b"".join(_UNIT.pack(key, size) for key, size in print_.units)
    return (_HEAD.pack(print_.exact_key, print_.words, print_.elided, len(print_.units)) + units
            + np.asarray(signature, dtype="<u2").tobytes())


def lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `keys` is in `sorted_keys` (ascending), and whether it is there at all."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return at, sorted_keys[at] == keys


def _shared_words(part, whole, keys, paragraph, size, present) -> np.ndarray:
    """For pairs of paragraphs (part, whole), how many of part's words are in sentences that whole
    has too, among the sentences listed: `keys`, `paragraph`, `size` list (sentence, paragraph)
    sorted by paragraph and `present` holds their keys mixed with their paragraph, sorted."""
    first = np.searchsorted(paragraph, part)
    count = np.searchsorted(paragraph, part, side="right") - first
    pair = np.repeat(np.arange(len(part)), count)
    entry = np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first, count)
    probe = keys[entry].view(np.uint64) ^ (whole[pair].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    found = lookup(present, probe)[1]
    return np.bincount(pair, weights=size[entry] * found, minlength=len(part))


class PackedStrings:
    """A list of strings kept as UTF-8 numpy byte strings in spill files, `PACK_EVERY` at a time:
    a finder's million paragraph ids are 20 MB of disk, and in memory only the last few thousand
    (77 MB as Python strings). Appended; read back in batches, by position, or all at once. A
    string must not end with a NUL character (numpy's byte strings drop trailing NULs)."""

    PACK_EVERY = 10_000
    READ_EVERY = 65_536

    def __init__(self, strings=(), spill_dir: str | None = None):
        # Each file is as wide as its longest string: a wider batch starts a new one, so the last
        # file is the widest.
        self._files: list[Spilled] = []
        self._pending: list[str] = []
        self._spill_dir = spill_dir
        self.extend(strings)

    def append(self, string: str) -> None:
        self.extend((string,))

    def extend(self, strings) -> None:
        self._pending.extend(strings)
        if len(self._pending) >= self.PACK_EVERY:
            self._pack()

    def extend_encoded(self, encoded: np.ndarray) -> None:
        """Add strings already UTF-8 encoded, as `batches()` gives them."""
        self._pack()
        self._spill(encoded)

    def _pack(self) -> None:
        if self._pending:
            self._spill(np.array([string.encode() for string in self._pending], dtype=bytes))
            self._pending = []

    def _spill(self, encoded: np.ndarray) -> None:
        if not len(encoded):
            return
        if not self._files or self._files[-1].dtype.itemsize < encoded.dtype.itemsize:
            self._files.append(Spilled(encoded.dtype, self._spill_dir))
        self._files[-1].append(encoded)  # a narrower batch is padded with NULs, which read back as none

    @property
    def dtype(self) -> np.dtype:
        """The byte-string type wide enough for every string."""
        self._pack()
        return self._files[-1].dtype if self._files else np.dtype("S1")

    def batches(self, size: int | None = None):
        """All the strings in order, UTF-8 encoded, as numpy arrays of byte strings of up to
        `size` (READ_EVERY when None) each."""
        self._pack()
        for spilled in self._files:
            yield from spilled.batches(size or self.READ_EVERY)

    def encoded(self) -> np.ndarray:
        """All the strings, UTF-8 encoded, as one (new) numpy array of byte strings."""
        self._pack()
        out = np.empty(len(self), dtype=self.dtype)
        start = 0
        for spilled in self._files:
            out[start:start + len(spilled)] = spilled.read()
            start += len(spilled)
        return out

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The strings at `positions`, UTF-8 encoded, in the order given; read a batch at a time,
        so that memory holds only what is asked for (and a byte and a 32-bit number a string)."""
        positions = np.asarray(positions)
        last = int(positions.max()) if len(positions) else -1
        if len(positions) and (positions.min() < 0 or last >= len(self)):
            raise IndexError(f"string positions outside 0 to {len(self) - 1}")
        wanted = np.zeros(len(self), dtype=bool)
        wanted[positions] = True
        found, start = [np.zeros(0, dtype=self.dtype)], 0
        for batch in self.batches():
            if start > last:
                break
            found.append(batch[wanted[start:start + len(batch)]])
            start += len(batch)
        found = np.concatenate(found)
        # Where each string wanted is among those found (they are in the order of their positions).
        place = np.cumsum(wanted, dtype=np.int32)
        place -= 1
        del wanted
        return found[place[positions]]

    def __len__(self) -> int:
        return sum(map(len, self._files)) + len(self._pending)

    def __getitem__(self, index: int) -> str:
        """One string (the files are read up to it: `take()` and `encoded()` are for many)."""
        if index < 0:
            index += len(self)
        return self.take([index])[0].decode()

    def __iter__(self):
        for batch in self.batches():
            yield from (string.decode() for string in batch.tolist())


class CopyFinder:
    """Collects paragraphs with `add()`, then finds the copies among them, once, with `links()`."""

    def __init__(
        self,
        num_perm: int = NUM_PERM,
        bands: int = 16,
        near_threshold: float = 0.6,
        excerpt_threshold: float = 0.8,
        min_words: int = 8,
        min_unit_words: int = 6,
        heads: int = 3,
        window: int = 16,
        batch_size: int = 2000,
        spill_dir: str | None = None,
    ):
        if num_perm % bands or num_perm > 256 or num_perm & (num_perm - 1):
            raise ValueError("num_perm must be a power of two up to 256, divisible by bands")
        self.num_perm, self.bands, self.rows = num_perm, bands, num_perm // bands
        if self.rows > 4:
            raise ValueError("at most 4 rows per band (a band key packs 4 16-bit values)")
        self.near_threshold = near_threshold
        self.excerpt_threshold = excerpt_threshold
        self.min_words = min_words
        self.min_unit_words = min_unit_words
        self.heads = heads
        self.window = window
        self.batch_size = batch_size
        self._spill_dir = spill_dir
        self._handed_over = False  # columns() took the spill files: linking leaves them open
        # Per paragraph, in the order added.
        self.paragraph_ids = PackedStrings(spill_dir=spill_dir)
        # 32-bit where the values fit (paragraph and article numbers, word counts): at a million
        # paragraphs and 2.5 million sentences, 28 MB less than 64-bit.
        self.article_index = array("i")  # index into self.article_ids
        self.word_counts = array("i")
        # The exact keys wait on disk until the exact pass (8 bytes a paragraph); those of
        # paragraphs waiting to be sketched, in _pending_keys.
        self.exact_keys = Spilled(np.int64, spill_dir)
        self._pending_keys: list[int] = []
        self.article_ids: list[str] = []
        self._article_number: dict[str, int] = {}
        self.article_dates: list[str | None] = []
        self.article_elides: list[bool] = []
        # Sentence units (hash, paragraph index, words): 2.5 million at a million paragraphs, only
        # needed by the excerpt pass, which reads them back a part at a time. Those of paragraphs
        # added one by one wait in _pending_units until there are enough to write at once.
        self.units = Spilled(UNIT_RECORD, spill_dir)
        self._pending_units: list[tuple[int, int, int]] = []
        # MinHash signatures, 16 bits per value, computed in batches: a row for each paragraph
        # long enough to link, but exact copies (a syndicated archive's most common paragraphs)
        # share the row of the first with the same signature; signature_row says which is whose.
        # Spilled a band at a time (a band's values packed in one 64-bit key, as LSH buckets
        # them): the near pass reads one band's column at once, never every signature.
        self._bands: list[Spilled] | None = [Spilled("<u8", spill_dir) for _ in range(bands)]  # None once linked
        self.signature_row = array("i")
        self._keyed_keys = np.zeros(0, dtype=np.int64)  # exact keys with a row, ascending
        self._keyed_rows = np.zeros(0, dtype=np.int32)  # and the row of the first of each
        self._keyed_digests = np.zeros(0, dtype=np.uint64)  # and that row's signature_digests()
        self._pending_tokens: list[int] = []
        self._pending_starts: list[int] = []

    def __len__(self) -> int:
        return len(self.paragraph_ids)

    @property
    def options(self) -> dict:
        """What restore() needs to make a finder that treats paragraphs as this one does."""
        return {"num_perm": self.num_perm, "bands": self.bands, "near_threshold": self.near_threshold,
                "excerpt_threshold": self.excerpt_threshold, "min_words": self.min_words,
                "min_unit_words": self.min_unit_words, "heads": self.heads, "window": self.window}

    def _article(self, article_id: str, published: str | None) -> int:
        number = self._article_number.get(article_id)
        if number is None:
            number = self._article_number[article_id] = len(self.article_ids)
            self.article_ids.append(article_id)
            self.article_dates.append(published)
            self.article_elides.append(False)
        elif published and not self.article_dates[number]:
            self.article_dates[number] = published
        return number

    def add(self, paragraph_id: str, article_id: str, text: str, published: str | None = None) -> None:
        """Remember one paragraph of an article. `published` is the article's publication date
        (ISO, "2023-03-21") where known: an earlier article is the original of a later one."""
        self.add_fingerprint(paragraph_id, article_id, fingerprint(text, self.min_unit_words), published)

    def add_fingerprint(
        self, paragraph_id: str, article_id: str, print_: Fingerprint, published: str | None = None
    ) -> None:
        """Remember one paragraph from its `fingerprint()`, which worker processes can compute."""
        self._register(paragraph_id, article_id, print_, published)
        self._pending_starts.append(len(self._pending_tokens))
        self._pending_tokens.extend(print_.word_hashes)
        if len(self._pending_starts) >= self.batch_size:
            self._flush()

    def add_packed(
        self, paragraph_ids: list[str], article_ids: list[str], prints: list[bytes], published: dict | None = None
    ) -> None:
        """Remember many paragraphs at once from what `pack()` made of their fingerprints and
        signatures (as the archive keeps them), with each one's article; `published` maps article
        ids to publication dates. Parsed in numpy, not one paragraph at a time: a million
        paragraphs are read in about a second."""
        if not (len(paragraph_ids) == len(article_ids) == len(prints)):
            raise ValueError("add_packed needs as many paragraph ids, article ids and prints")
        if not prints:
            return
        self._flush()
        head, unit, sig = _HEAD.size, _UNIT.size, 2 * self.num_perm
        heads = np.frombuffer(b"".join([data[:head] for data in prints]), dtype=_HEAD_DTYPE)
        size = np.fromiter(map(len, prints), dtype=np.int64, count=len(prints))
        wrong = np.flatnonzero(size != head + heads["units"].astype(np.int64) * unit + sig)
        if len(wrong):
            raise ValueError(f"paragraph {paragraph_ids[wrong[0]]}: its packed print is not {self.num_perm} values")
        units = np.frombuffer(b"".join([data[head:-sig] for data in prints]), dtype=_UNIT_DTYPE)
        signatures = np.frombuffer(b"".join([data[-sig:] for data in prints]), dtype="<u2")
        published = published or {}
        for article_id in dict.fromkeys(article_ids):
            self._article(article_id, published.get(article_id))
        numbers = np.fromiter(map(self._article_number.__getitem__, article_ids), dtype=np.int64, count=len(prints))
        for number in set(numbers[heads["elided"] != 0].tolist()):  # few paragraphs mark elisions
            self.article_elides[number] = True
        first = len(self.paragraph_ids)
        self.paragraph_ids.extend(paragraph_ids)
        words = heads["words"].astype(np.int64)
        owner = np.repeat(np.arange(first, first + len(prints)), heads["units"].astype(np.int64))
        kept = words[owner - first] >= self.min_words  # as _register: short paragraphs keep no units
        for column, values in ((self.article_index, numbers), (self.word_counts, words)):
            column.frombytes(values.astype(column.typecode).tobytes())  # no Python int for each value
        self.exact_keys.append(heads["exact_key"])
        records = np.empty(np.count_nonzero(kept), dtype=UNIT_RECORD)
        records["key"], records["paragraph"], records["words"] = units["key"][kept], owner[kept], units["words"][kept]
        self._spill_units()
        self.units.append(records)
        self._keep_signatures(signatures.reshape(-1, self.num_perm), heads["exact_key"].astype(np.int64))

    def _register(self, paragraph_id: str, article_id: str, print_: Fingerprint, published: str | None) -> None:
        """Everything but the signature: ids, article, words, exact key and sentence units."""
        number = self._article(article_id, published)
        if print_.elided:
            self.article_elides[number] = True
        index = len(self.paragraph_ids)
        self.paragraph_ids.append(paragraph_id)
        self.article_index.append(number)
        self._pending_keys.append(print_.exact_key)
        self.word_counts.append(print_.words)
        if print_.words >= self.min_words:
            self._pending_units.extend((key, index, size) for key, size in print_.units)
            if len(self._pending_units) >= PENDING_UNITS:
                self._spill_units()

    def _spill_units(self) -> None:
        """Write the sentence units waiting in memory to the spill file."""
        if self._pending_units:
            self.units.append(np.array(self._pending_units, dtype=UNIT_RECORD))
            self._pending_units = []

    def sentence_units(self) -> np.ndarray:
        """Every sentence unit kept so far (key, paragraph, words), in the order added."""
        self._spill_units()
        return self.units.read()

    # -- MinHash

    def _flush(self) -> None:
        """Sketch the queued paragraphs' signatures in one numpy pass."""
        if self._pending_starts:
            keys = np.array(self._pending_keys, dtype=np.int64)
            self.exact_keys.append(keys)
            self._keep_signatures(sketch(self._pending_tokens, self._pending_starts, self.num_perm), keys)
            self._pending_tokens, self._pending_starts, self._pending_keys = [], [], []

    def _keep_signatures(self, rows: np.ndarray, keys: np.ndarray) -> None:
        """Keep the signatures of the paragraphs added last (one row each, in order, with their
        exact `keys`): a row of their own for those long enough to link, except where an exact
        copy already kept the very same signature, whose row they share."""
        count = len(rows)
        words = np.frombuffer(self.word_counts, dtype=np.dtype(self.word_counts.typecode))[len(self.word_counts) - count:]
        row = np.full(count, -1, dtype=np.int32)
        wanted = np.flatnonzero(words >= self.min_words)  # shorter paragraphs are never compared
        # An exact copy of a paragraph added before, with the same signature: its row.
        at, seen = lookup(self._keyed_keys, keys[wanted])
        earlier, there = wanted[seen], self._keyed_rows[at[seen]]
        same = self._keyed_digests[at[seen]] == signature_digests(rows[earlier])
        row[earlier[same]] = there[same]
        fresh = wanted[row[wanted] < 0]
        # Among the rest, the first of each exact text in this batch has a row of its own, and so
        # has any with a signature unlike that first one's (texts equal but for, say, a "`"
        # inside a word); the others share the first one's.
        unique_keys, first, which = np.unique(keys[fresh], return_index=True, return_inverse=True)
        which = which.reshape(-1)
        leader = fresh[first][which]
        own = (fresh == leader) | (rows[fresh] != rows[leader]).any(axis=1)
        row[fresh[own]] = self._rows_kept() + np.arange(np.count_nonzero(own), dtype=np.int32)
        row[fresh[~own]] = row[leader[~own]]
        self._append_signatures(rows[fresh[own]])
        self.signature_row.frombytes(row.tobytes())
        # Exact texts seen for the first time are looked up by later batches.
        new = ~lookup(self._keyed_keys, unique_keys)[1]
        place = np.searchsorted(self._keyed_keys, unique_keys[new])
        self._keyed_keys = np.insert(self._keyed_keys, place, unique_keys[new])
        self._keyed_rows = np.insert(self._keyed_rows, place, row[fresh[first][new]])
        self._keyed_digests = np.insert(self._keyed_digests, place, signature_digests(rows[fresh[first][new]]))

    def _append_signatures(self, rows: np.ndarray) -> None:
        """Add signature rows after the others, each band's values to its own spill file."""
        for band, spilled in enumerate(self._live_bands()):
            spilled.append(band_keys(rows[:, band * self.rows:(band + 1) * self.rows]))

    def _live_bands(self) -> list[Spilled]:
        if self._bands is None:
            raise RuntimeError("this CopyFinder has linked its paragraphs and let their signatures go: it links once")
        return self._bands

    def _rows_kept(self) -> int:
        return len(self._live_bands()[0])

    def _band(self, band: int) -> np.ndarray:
        """One band's key of every signature row kept (queued sketches are made first)."""
        self._flush()
        return self._live_bands()[band].read()

    def signatures(self) -> np.ndarray:
        """The MinHash signatures kept of the paragraphs added so far, read back from the spill
        files: paragraph i's is row `signature_row[i]` (-1 for a paragraph too short to link,
        which has none)."""
        lanes = [self._band(band).view("<u2").reshape(-1, 4)[:, :self.rows] for band in range(self.bands)]
        return np.hstack(lanes).astype(np.uint16)

    def _agreement(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """For pairs of signature rows, how many values the two signatures share, counted band by
        band (one band's column in memory at a time)."""
        same = np.zeros(len(a), dtype=np.uint8)
        if not len(a):
            return same
        for band in range(self.bands):
            keys = self._band(band)
            for start in range(0, len(a), COMPARE_CHUNK):
                # np.take gathers about twice as fast as fancy indexing
                differ = np.take(keys, a[start:start + COMPARE_CHUNK]) ^ np.take(keys, b[start:start + COMPARE_CHUNK])
                same[start:start + COMPARE_CHUNK] += zero_lanes(differ, self.rows).astype(np.uint8)
        return same

    # -- keeping what was added, to link it again with more

    def columns(self) -> dict[str, Spilled]:
        """Everything added so far, column by column in spill files, as `restore()` takes it back:
        what an archive keeps so that its next build adds new paragraphs to it instead of parsing
        every paragraph's print again. Call it once every paragraph is added and before linking;
        the signature bands and sentence units are the finder's own files, handed over (the
        caller closes them), the rest copies."""
        self._flush()
        self._spill_units()
        bands = self._live_bands()
        self._handed_over = True
        dates = [date or "" for date in self.article_dates]
        ids = Spilled(self.paragraph_ids.dtype, self._spill_dir)
        for batch in self.paragraph_ids.batches():
            ids.append(batch)
        columns = {
            "article": np.frombuffer(self.article_index, dtype=np.int32),
            "words": np.frombuffer(self.word_counts, dtype=np.int32),
            "signature_row": np.frombuffer(self.signature_row, dtype=np.int32),
            "article_id": np.array([article_id.encode() for article_id in self.article_ids], dtype=bytes),
            "article_date": np.array([date.encode() for date in dates], dtype=bytes),
            "article_elides": np.asarray(self.article_elides, dtype=np.uint8),
        }
        exact_keys = Spilled(self.exact_keys.dtype, self._spill_dir)
        for batch in self.exact_keys.batches(UNITS_READ):
            exact_keys.append(batch)
        kept = {"paragraph_id": ids, "exact_key": exact_keys}
        for name, values in columns.items():
            kept[name] = Spilled(values.dtype, self._spill_dir)
            kept[name].append(values)
        kept.update({f"band_{band}": spilled for band, spilled in enumerate(bands)})
        kept["units"] = self.units
        return kept

    @classmethod
    def restore(cls, columns: dict[str, Spilled], options: dict, drop_articles=(),
                spill_dir: str | None = None) -> tuple["CopyFinder", np.ndarray]:
        """A finder holding what `columns()` kept of one made with `options`, less the paragraphs
        of `drop_articles`, as if the rest had been added anew in the same order; and which of the
        kept paragraphs it holds. Takes over the columns' spill files. More paragraphs can then be
        added; linking finds the links a finder given all of them anew finds (an exact copy of an
        old paragraph added now gets a signature row of its own: more disk, the same values)."""
        finder = cls(spill_dir=spill_dir, **options)
        finder._check_columns(columns)
        article_ids = [article_id.decode() for article_id in columns.pop("article_id").read().tolist()]
        dropped = set(drop_articles)
        kept_article = np.array([article_id not in dropped for article_id in article_ids], dtype=bool)
        # Articles are numbered in the order their paragraphs first came, which dropping some keeps.
        number = np.cumsum(kept_article, dtype=np.int32) - 1
        # Each paragraph column is read back a batch at a time into the finder's own (read whole,
        # picked, cast and copied, a column was held twice at once: 32 bytes a paragraph at the
        # top for 23 held).
        article = columns.pop("article")
        kept, start = np.zeros(len(article), dtype=bool), 0
        for batch in article.batches(UNITS_READ):
            kept[start:start + len(batch)] = kept_article[batch]
            finder.article_index.frombytes(number[batch[kept_article[batch]]].astype(np.int32, copy=False).view(np.uint8))
            start += len(batch)
        finder.article_ids = [a for a, keep in zip(article_ids, kept_article.tolist()) if keep]
        finder._article_number = {article_id: k for k, article_id in enumerate(finder.article_ids)}
        dates = columns.pop("article_date").read()[kept_article].tolist()
        finder.article_dates = [date.decode() or None for date in dates]
        finder.article_elides = columns.pop("article_elides").read()[kept_article].astype(bool).tolist()
        for batch in kept_batches(columns.pop("paragraph_id"), kept):
            finder.paragraph_ids.extend_encoded(batch)
        for batch in kept_batches(columns.pop("exact_key"), kept):
            finder.exact_keys.append(batch)
        for name, column in (("words", finder.word_counts), ("signature_row", finder.signature_row)):
            for batch in kept_batches(columns.pop(name), kept):
                column.frombytes(batch.astype(column.typecode, copy=False).view(np.uint8))
        # Signature rows stay where they are: a dropped paragraph's row is simply never looked at.
        finder._bands = [columns.pop(f"band_{band}") for band in range(finder.bands)]
        units = columns.pop("units")
        if kept.all():
            finder.units = units
        else:
            index = np.cumsum(kept, dtype=np.int64) - 1  # a kept paragraph's place among those kept
            for batch in units.batches(UNITS_READ):
                batch = batch[kept[batch["paragraph"]]]
                batch["paragraph"] = index[batch["paragraph"]]
                finder.units.append(batch)
            units.close()
        return finder, kept

    def _check_columns(self, columns: dict[str, Spilled]) -> None:
        """Raise ValueError unless the columns fit together as `columns()` makes them: the names,
        one value a paragraph, and every article, signature row and paragraph they point to there."""
        per_paragraph = ("paragraph_id", "article", "words", "exact_key", "signature_row")
        per_article = ("article_id", "article_date", "article_elides")
        bands = [f"band_{band}" for band in range(self.bands)]
        if set(columns) != {*per_paragraph, *per_article, *bands, "units"}:
            raise ValueError(f"kept columns are not a finder's with {self.bands} signature bands: "
                             f"{', '.join(sorted(columns))}")
        paragraphs, articles, rows = (len(columns[names[0]]) for names in (per_paragraph, per_article, bands))
        if {len(columns[name]) for name in per_paragraph} != {paragraphs}:
            raise ValueError("kept columns have not one value a paragraph")
        if {len(columns[name]) for name in per_article} != {articles} or {len(columns[name]) for name in bands} != {rows}:
            raise ValueError("kept columns have not one value an article, or one a signature row in every band")

        def highest(name: str, field: str | None = None) -> int:
            values = (batch[field] if field else batch for batch in columns[name].batches(UNITS_READ))
            return max((int(batch.max()) for batch in values if len(batch)), default=-1)

        if highest("article") >= articles or highest("signature_row") >= rows or highest("units", "paragraph") >= paragraphs:
            raise ValueError("kept columns point to an article, signature row or paragraph they do not have")

    # -- finding copies

    def _ranks(self) -> np.ndarray:
        """Each paragraph's place in the order of originality (rules 1, 3, 4, 5 of the module
        docstring; smaller is more original), computed once for all paragraphs so that comparing
        two of them is an array lookup."""
        article = np.frombuffer(self.article_index, dtype=np.dtype(self.article_index.typecode))
        words = np.frombuffer(self.word_counts, dtype=np.dtype(self.word_counts.typecode))
        # The order is by date, then elisions (article-level: one code an article), then more
        # words first, then article id. One int64 key packs all four, so one sort does it: at
        # a million paragraphs a quarter of the memory of sorting four columns.
        date = np.unique(np.array([d or "9999" for d in self.article_dates]), return_inverse=True)[1]
        dated = date.reshape(-1) * 2 + np.asarray(self.article_elides, dtype=np.int64)
        # Each article id's place among them all, sorted in Python: as a numpy array of str, 50,000
        # ids took 4 bytes a character, ~15 MB to sort.
        name = np.empty(len(self.article_ids), dtype=np.int32)
        name[sorted(range(len(self.article_ids)), key=self.article_ids.__getitem__)] = np.arange(len(name), dtype=np.int32)
        most = int(words.max(initial=0))
        if (int(dated.max(initial=0)) + 1) * (most + 1) * (len(name) + 1) >= 2**63:
            raise ValueError("too many articles and words to rank in one 64-bit key")
        key = gather(dated, article)
        key *= most + 1
        key += most - words
        key *= len(name)
        key += gather(name, article)
        order = np.argsort(key, kind="stable").astype(np.int32)
        key = gather(key, order)
        # Ties (paragraphs of one article with as many words) go by paragraph id.
        tied = key[1:] == key[:-1]
        del key
        if tied.any():
            # Runs of ties: from where a tie begins to where the next non-tie is, each sorted by
            # id (UTF-8 bytes sort as the strings' code points do), in one sort of a group of
            # runs of about RANK_TIES paragraphs (the ids of every tied paragraph at once were the
            # top of ranking).
            edges = np.flatnonzero(np.diff(tied.view(np.int8), prepend=np.int8(0), append=np.int8(0)))
            starts, sizes = edges[0::2], edges[1::2] + 1 - edges[0::2]
            ends = np.cumsum(sizes)
            groups = distinct(np.searchsorted(ends, np.arange(RANK_TIES, ends[-1] + RANK_TIES, RANK_TIES)))
            first_run = 0
            for last_run in np.minimum(groups, len(starts) - 1).tolist():
                group = slice(first_run, last_run + 1)
                # 32-bit, as every position here
                run = np.repeat(np.arange(last_run + 1 - first_run, dtype=np.int32), sizes[group])
                place = np.repeat((starts[group] - (ends[group] - sizes[group])).astype(np.int32), sizes[group])
                place += np.arange(ends[group][0] - sizes[group][0], ends[last_run], dtype=np.int32)
                members = order[place]
                order[place] = members[np.lexsort((self.paragraph_ids.take(members), run))]
                first_run = last_run + 1
                if first_run == len(starts):
                    break
            del run, place, members
        del tied
        return inverse(order)

    def _exact_pairs(self, eligible: np.ndarray, rank: np.ndarray, article: np.ndarray):
        """(copies, originals) of exact copies, each member of a group of equal texts with the
        group's most original, and the paragraphs that stand for their group in the slower
        searches (the most original of each group, and every paragraph without an equal)."""
        keys = self.exact_keys.read()
        # The eligible paragraphs, most original first (32-bit, as every array of positions here).
        by_rank = inverse(rank)
        ranked = by_rank[gather(eligible, by_rank)]
        del by_rank
        # Equal texts have equal keys, so a group lies in one part of the keys (by a byte of
        # them): each part is sorted by key apart, keeping the order by rank among equal keys
        # (sorting every key at once, and its 64-bit order, was the pass's top).
        part = gather(key_parts(keys, EXACT_PARTS), ranked)
        copy, original = [ranked[:0]], [ranked[:0]]
        for number in range(EXACT_PARTS):
            members = ranked[part == number]
            member_keys = gather(keys, members)
            members = gather(members, np.argsort(member_keys, kind="stable"))
            member_keys.sort()  # as the members now are
            first = np.ones(len(members), dtype=bool)
            first[1:] = member_keys[1:] != member_keys[:-1]
            del member_keys
            group_start = np.maximum.accumulate(np.where(first, np.arange(len(members), dtype=np.int32), np.int32(0)))
            head = gather(members, group_start)
            copy.append(members[~first])
            original.append(head[~first])
            del members, head, first
        del ranked, part
        copy, original = np.concatenate(copy), np.concatenate(original)
        representative = eligible.copy()
        representative[copy] = False
        keep = gather(article, copy) != gather(article, original)
        return copy[keep], original[keep], representative

    @staticmethod
    def _buckets(bucket_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions sorted by bucket key (stable, so members given most original first stay
        so), with the start of each one's bucket in that order and its offset from there."""
        order = np.argsort(bucket_keys, kind="stable").astype(np.int32)  # 32-bit, as the rest
        sorted_keys = bucket_keys[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_keys[1:] != sorted_keys[:-1]
        del sorted_keys
        position = np.arange(len(order), dtype=np.int32)
        start = np.maximum.accumulate(np.where(first, position, np.int32(0)))
        position -= start
        return order, start, position

    @staticmethod
    def _pairs(buckets, members: np.ndarray, heads: int, distances: range, skip: int, wanted=None, keep=None):
        """Candidate (copy, original) pairs in `_buckets` of `members`: each member (of those
        `wanted`) with the first `heads` members of its bucket and with the ones `distances`
        before it that are not among the first `skip`; only the pairs `keep(copies, originals)`
        keeps, if given (sifted as they are made, so that all of them are never held at once).
        Linear in the number of members however big a bucket is."""
        order, start, offset = buckets
        position = np.flatnonzero(offset > 0)
        if wanted is not None:
            position = position[wanted[members[order[position]]]]
        copies, originals = [members[:0]], [members[:0]]

        def add(copy, original):
            copy, original = members[copy], members[original]
            if keep is not None:
                kept = keep(copy, original)
                copy, original = copy[kept], original[kept]
            copies.append(copy)
            originals.append(original)

        for j in range(heads):
            later = position[offset[position] > j]
            add(order[later], order[start[later] + j])
        for d in distances:
            later = position[offset[position] >= skip + d]
            add(order[later], order[later - d])
        return np.concatenate(copies), np.concatenate(originals)

    def _near_pairs(self, candidates: np.ndarray, rank: np.ndarray, article: np.ndarray):
        """(copies, originals, similarities): for each of `candidates` whose estimated Jaccard
        similarity with a more original paragraph of one of its LSH buckets reaches the threshold,
        the most original such paragraph among those it was compared with: the first `heads` of
        the bucket and the one before it, then, for those still without one, the `window` before
        it."""
        row = np.frombuffer(self.signature_row, dtype=np.dtype(self.signature_row.typecode))  # every candidate has one
        n = len(self.paragraph_ids)
        index = np.flatnonzero(candidates)
        # Most original first, within every bucket; 32-bit, as are the pairs made of them.
        index = index[np.argsort(rank[index])].astype(np.int32)
        best = np.full(n, n, dtype=np.int32)  # rank of the best original so far; n: none
        agree = np.zeros(n, dtype=np.uint8)  # signature values it shares with that original
        need = int(np.ceil(self.near_threshold * self.num_perm - 1e-9))
        if len(index) < 2:
            return index[:0], index[:0], np.zeros(0, dtype=np.uint16)

        def could_improve(copy, original):
            # Only pairs that could give a copy a more original original are compared: sifted as
            # the pairs are made (a band makes over a million at a million paragraphs).
            return (gather(rank, original) < gather(best, copy)) & (gather(article, copy) != gather(article, original))

        def compare(copy, original):
            same = self._agreement(gather(row, copy), gather(row, original))
            ok = same >= need
            c, o, same = copy[ok], original[ok], same[ok]
            rank_o = gather(rank, o)
            np.minimum.at(best, c, rank_o)
            chosen = rank_o == gather(best, c)
            agree[c[chosen]] = same[chosen]

        def band_parts(band):
            """The candidates of each part of a band's buckets and their keys: a bucket is one
            key, so it lies in one part, and each part's buckets are sorted apart (sorting every
            candidate's key at once was the pass's top). A paragraph's pairs in a band are all
            in its own part, so its best original is the same as with the band's pairs at once."""
            keys = gather(self._band(band), gather(row, index))
            part = key_parts(keys, NEAR_PARTS)
            for number in range(NEAR_PARTS):
                chosen = np.flatnonzero(part == number)
                yield index[chosen], keys[chosen]

        for band in range(self.bands):
            for members, keys in band_parts(band):
                compare(*self._pairs(self._buckets(keys), members, self.heads, range(1, 2), self.heads,
                                     keep=could_improve))
        if self.window > 1:
            for band in range(self.bands):
                for members, keys in band_parts(band):
                    compare(*self._pairs(self._buckets(keys), members, 0, range(2, self.window + 1), self.heads,
                                         best == n, keep=could_improve))
        copy = np.flatnonzero(best < n).astype(np.int32)
        original = gather(inverse(rank), gather(best, copy))  # from its rank to its place
        similarity = thousandths([count / self.num_perm for count in range(self.num_perm + 1)])[agree[copy]]
        return copy, original, similarity

    def _excerpt_pairs(self, candidates: np.ndarray, rank: np.ndarray, article: np.ndarray, linked: np.ndarray):
        """(copies, originals, similarities) where one paragraph's sentences are (nearly) all
        found in a longer one. Paragraphs that share a sentence are paired as in LSH buckets,
        each with the fullest few of them; then the share of the shorter one's words found in the
        longer one is counted over all their sentences. Pairs whose copy already has a stronger
        link are left out. The sentences are taken a part at a time, by hash: the pairs of a
        sentence, and the words two paragraphs share in it, are found within its part."""
        empty = np.zeros(0, dtype=np.int64)
        self._spill_units()
        if not len(self.units):
            return empty.astype(np.int32), empty.astype(np.int32), np.zeros(0, dtype=np.uint16)
        n = len(self.paragraph_ids)
        words = np.frombuffer(self.word_counts, dtype=np.dtype(self.word_counts.typecode))
        parts = -(-len(self.units) // EXCERPT_PART)

        # Direction: the earlier article when both have dates that differ, else the fuller text.
        date = np.unique(np.array([d or "" for d in self.article_dates]), return_inverse=True)[1].astype(np.int32)
        undated = np.array([not d for d in self.article_dates])

        def part_is_earlier(part, whole):
            dated = ~undated[article[part]] & ~undated[article[whole]]
            return dated & (date[article[part]] < date[article[whole]])

        def worth_measuring(part, whole):
            # A shorter paragraph of another article, whose copy (by the direction) has no
            # stronger link: sifted as the pairs are made, most never are held.
            keep = (words[part] < words[whole]) & (article[part] != article[whole])
            return keep & ~linked[np.where(part_is_earlier(part, whole), whole, part)]

        codes = [empty]
        for number in range(parts):
            keys, paragraph, _ = self._candidate_units(candidates, parts, number)
            part, whole = self._sharing_pairs(keys, paragraph, rank, words, linked, worth_measuring)
            codes.append(distinct(part.astype(np.int64) * n + whole, in_place=True))
        codes = np.concatenate(codes)  # the parts' arrays go as the name is taken
        codes = distinct(codes, in_place=True)
        # 32-bit, as every position here: the pairs (600,000 at a million paragraphs) are held
        # while they are measured.
        part, whole = (codes // n).astype(np.int32), (codes % n).astype(np.int32)
        del codes
        # Count the shorter one's words in sentences that the longer one has too, part by part.
        common = np.zeros(len(part))
        for number in range(parts):
            keys, paragraph, size = self._candidate_units(candidates, parts, number)
            present = np.sort(keys.view(np.uint64) ^ (paragraph.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))
            for i in range(0, len(part), PAIR_CHUNK):
                common[i:i + PAIR_CHUNK] += _shared_words(part[i:i + PAIR_CHUNK], whole[i:i + PAIR_CHUNK],
                                                          keys, paragraph, size, present)
        # The share of the shorter one's words found, made in place of the counts.
        common /= np.maximum(1, words[part])
        containment = np.minimum(common, 1.0, out=common)
        ok = containment >= self.excerpt_threshold
        part, whole, containment = part[ok], whole[ok], containment[ok]
        flip = part_is_earlier(part, whole)
        values, which = np.unique(containment, return_inverse=True)
        copy, original = np.where(flip, whole, part).astype(np.int32), np.where(flip, part, whole).astype(np.int32)
        # One a copy: its most original.
        order = np.lexsort((gather(rank, original), copy))
        first = np.ones(len(order), dtype=bool)
        first[1:] = copy[order[1:]] != copy[order[:-1]]
        best = order[first]
        return copy[best], original[best], thousandths(values.tolist())[which.reshape(-1)[best]]

    def _candidate_units(self, candidates: np.ndarray, parts: int, number: int):
        """The sentence units of part `number` of `parts` (by hash) of the `candidates`, once per
        sentence and paragraph, sorted by paragraph: keys, paragraph indexes (32-bit), words."""
        chosen = []
        for batch in self.units.batches(UNITS_READ):
            keep = candidates[batch["paragraph"]] & (batch["key"].view(np.uint64) % np.uint64(parts) == number)
            chosen.append(batch[keep])
        units = np.concatenate(chosen)
        del chosen
        order = np.lexsort((units["key"], units["paragraph"]))
        keys, paragraph, size = units["key"][order], units["paragraph"][order], units["words"][order]
        del units, order
        new = np.ones(len(keys), dtype=bool)
        new[1:] = (keys[1:] != keys[:-1]) | (paragraph[1:] != paragraph[:-1])
        return keys[new], paragraph[new], size[new]

    def _sharing_pairs(self, keys, paragraph, rank, words, linked, keep):
        """Candidate (part, whole) pairs among the paragraphs that share a sentence of `keys`: each
        with the fullest few of them, as `_pairs` does in a bucket; those `keep` keeps."""
        by_key = np.argsort(keys, kind="stable")
        sorted_keys = keys[by_key]
        shared = np.zeros(len(keys), dtype=bool)
        same = sorted_keys[1:] == sorted_keys[:-1]
        shared[1:] |= same
        shared[:-1] |= same
        entries = by_key[shared]
        del by_key, sorted_keys, same, shared
        member = paragraph[entries]  # 32-bit: the candidate pairs made of it are many
        fullest = np.lexsort((rank[member], -words[member].astype(np.int64)))  # within a sentence, fullest first
        member, member_keys = member[fullest], keys[entries][fullest]
        buckets = self._buckets(member_keys)
        part, whole = self._pairs(buckets, member, self.heads, range(1, 2), self.heads, keep=keep)
        if self.window > 1:
            more = self._pairs(buckets, member, 0, range(2, self.window + 1), self.heads, ~linked, keep=keep)
            part, whole = np.concatenate((part, more[0])), np.concatenate((whole, more[1]))
        return part, whole

    def link_arrays(self) -> "Links":
        """Every paragraph that copies a paragraph of another article, with the one it copies, as
        arrays of paragraph indexes (in the order added): cheaper than `links()` for a million."""
        n = len(self.paragraph_ids)
        if n < 2:
            none = np.zeros(0, dtype=np.int32)
            return Links(none, none, np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.int8))
        self._flush()
        self._live_bands()  # raises if this finder has linked already
        # A finder links once: what only adding paragraphs needs (the exact keys that have a
        # signature row, 20 bytes each) goes now, and each column once its last pass has used it.
        self._keyed_keys, self._keyed_rows, self._keyed_digests = None, None, None
        # Each pass frees tens of MB of arrays at a million paragraphs, which the C library would
        # keep (and count against the build) unless given back.
        rank = self._ranks()
        give_back_memory()
        article = np.asarray(self.article_index, dtype=np.int32)  # compared and looked up only
        eligible = np.frombuffer(self.word_counts, dtype=np.dtype(self.word_counts.typecode)) >= self.min_words
        exact_copy, exact_original, representative = self._exact_pairs(eligible, rank, article)
        self.exact_keys.close()
        # Each pass's links wait on disk while the later passes run (~7 MB at a million
        # paragraphs), noted in `linked` for the excerpt pass.
        linked = np.zeros(n, dtype=bool)
        scatter(linked, exact_copy, np.ones(len(exact_copy), dtype=bool))
        exact = self._set_aside(exact_copy, exact_original)
        del exact_copy, exact_original
        give_back_memory()
        near_copy, near_original, near_similarity = self._near_pairs(representative, rank, article)
        if not self._handed_over:
            for spilled in self._bands:
                spilled.close()
        self._bands, self.signature_row = None, array("i")
        scatter(linked, near_copy, np.ones(len(near_copy), dtype=bool))
        near = self._set_aside(near_copy, near_original, near_similarity)
        del near_copy, near_original, near_similarity
        give_back_memory()
        excerpt = list(self._excerpt_pairs(representative, rank, article, linked))
        if not self._handed_over:
            self.units.close()
        # What only the passes needed (~7 MB at a million paragraphs) goes before the links are
        # assembled, the top of this last step.
        del article, eligible, representative, linked
        give_back_memory()
        # 32-bit paragraph numbers (as the passes give them), 8-bit methods, and each array
        # reordered on its own: a million links' arrays are made again below. Each column is
        # read back and made as the passes' arrays it is made of go, not beside all of them.
        counts = [len(exact[0]), len(near[0]), len(excerpt[0])]
        links = []
        for column in range(3):
            parts = [exact[column].read() if column < 2 else np.full(counts[0], 1000, dtype=np.uint16),
                     near[column].read(), excerpt[column]]
            excerpt[column] = None
            links.append(np.concatenate(parts).astype(np.int32 if column < 2 else np.uint16, copy=False))
            del parts
            for passed in (exact, near):
                if column < len(passed):
                    passed[column].close()
        del excerpt
        links.append(np.repeat(np.array([0, 1, 2], dtype=np.int8), counts))
        copy, original, method = 0, 1, 3  # the columns of links
        # One link a paragraph: the strongest method's (each pass gives a copy one link, its most
        # original), put in the order of the copies through one array of the paragraphs, not by
        # sorting the links (the sort and its keys were this step's top).
        link = np.full(n, -1, dtype=np.int32)  # a paragraph's place among the links, then its original
        ends = np.cumsum(counts)
        for number in (2, 1, 0):  # the weakest method's first: a stronger one's takes the paragraph
            start = ends[number] - counts[number]
            scatter(link, links[copy][start:ends[number]], np.arange(start, ends[number], dtype=np.int32))
        _take(links, link[link >= 0])
        link.fill(-1)
        scatter(link, links[copy], links[original])
        self._break_cycles(link, links[copy][links[method] == 2].tolist(), rank)
        _take(links, gather(link, links[copy]) >= 0)
        return Links(*links)

    def _set_aside(self, *columns: np.ndarray) -> list[Spilled]:
        """Arrays kept in spill files until they are read back (`Spilled.read`)."""
        kept = []
        for column in columns:
            kept.append(Spilled(column.dtype, self._spill_dir))
            kept[-1].append(column)
        return kept

    def links(self) -> list[Copy]:
        """Every paragraph that copies a paragraph of another article, with the one it copies."""
        found = self.link_arrays()
        ids = [string.decode() for string in self.paragraph_ids.encoded().tolist()]
        # Many new objects would set off the cyclic garbage collector again and again, and each
        # time it walks every object alive; these hold no cycles.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return [
                Copy(ids[c], ids[o], s / 1000, METHODS[m])
                for c, o, s, m in zip(found.copy.tolist(), found.original.tolist(), found.similarity.tolist(),
                                      found.method.tolist())
            ]
        finally:
            if collecting:
                gc.enable()

    @staticmethod
    def _break_cycles(link: np.ndarray, starts: list[int], rank: np.ndarray) -> None:
        """Each paragraph has at most one link, so links form chains; the excerpt rule (fuller
        text first) can close a chain into a loop. In a loop, the paragraph that comes first in
        the general order keeps no link: it is the original of the others. Exact and near links
        always lead to a more original paragraph, so every loop has an excerpt link: walking from
        the excerpt copies finds them all."""
        state: dict[int, int] = {}  # 1: on the current path, 2: done
        for start in starts:
            path, node = [], start
            while link[node] >= 0 and state.get(node) is None:
                state[node] = 1
                path.append(node)
                node = int(link[node])
            if state.get(node) == 1:  # walked into the current path: a loop
                loop = path[path.index(node) :]
                link[min(loop, key=rank.__getitem__)] = -1
            for visited in path:
                state[visited] = 2


def key_parts(keys: np.ndarray, parts: int) -> np.ndarray:
    """Which of `parts` parts (a power of two, at most 256) each 64-bit key falls in, by its first
    byte in memory (the low byte, little-endian): equal keys fall in the same part."""
    return keys.view(np.uint8)[::8] & np.uint8(parts - 1)


def kept_batches(column: Spilled, kept: np.ndarray):
    """A paragraph column's values a batch at a time, those of the paragraphs `kept` only."""
    start = 0
    for batch in column.batches(UNITS_READ):
        yield batch[kept[start:start + len(batch)]]
        start += len(batch)


def distinct(values: np.ndarray, in_place: bool = False) -> np.ndarray:
    """The distinct values, ascending, as `np.unique` gives them: numpy 2's `np.unique` finds
    64-bit integers' with a hash table, ~50 times slower than sorting them (2.1 s against 0.04 s
    for two million). `in_place`: sort the array given rather than a copy."""
    if in_place:
        values.sort()
    else:
        values = np.sort(values)
    new = np.ones(len(values), dtype=bool)
    new[1:] = values[1:] != values[:-1]
    return values[new]


def _take(columns: list[np.ndarray], which: np.ndarray) -> None:
    """Keep the entries `which` (indexes or a mask) picks of each column, one column at a time,
    so that only one is ever held twice."""
    for number, column in enumerate(columns):
        columns[number] = column[which] if which.dtype == bool else gather(column, which)
        del column


GATHER_CHUNK = 16_384  # indexes gathered with at once by gather(): 64-bit, and a buffer of the values


def gather(values: np.ndarray, index: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """`values[index]` (into `out` if given), a part of `index` at a time: numpy gathers with a
    64-bit copy of a 32-bit index, 8 bytes an entry more for the whole index at once (at a million
    paragraphs, 8 MB beside the arrays gathered)."""
    if out is None:
        out = np.empty(len(index), dtype=values.dtype)
    for start in range(0, len(index), GATHER_CHUNK):
        np.take(values, index[start:start + GATHER_CHUNK], out=out[start:start + GATHER_CHUNK])
    return out


def inverse(permutation: np.ndarray) -> np.ndarray:
    """The inverse of a permutation of 0 to n - 1 (where each number is in it), 32-bit, made a
    part at a time (as `gather`): no 64-bit copy of the permutation, no array of 0 to n - 1."""
    out = np.empty(len(permutation), dtype=np.int32)
    for start in range(0, len(permutation), GATHER_CHUNK):
        part = permutation[start:start + GATHER_CHUNK]
        out[part] = np.arange(start, start + len(part), dtype=np.int32)
    return out


def scatter(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """`target[index] = values`, a part of `index` at a time (as `gather`); `index` without repeats."""
    for start in range(0, len(index), GATHER_CHUNK):
        target[index[start:start + GATHER_CHUNK]] = values[start:start + GATHER_CHUNK]


def thousandths(values: list[float]) -> np.ndarray:
    """The values between 0 and 1 rounded to 3 decimals (as round() does), in thousandths, as a
    16-bit array to look them up in: similarities take few values, so each is rounded once, not
    each link, and a link's is 2 bytes, not 8. Divided by 1000 they are the rounded values again
    (both are the nearest double to the same decimal)."""
    return np.array([round(round(value, 3) * 1000) for value in values], dtype=np.uint16)


def report_roots(found: Links, count: int) -> np.ndarray:
    """For each of `count` paragraphs (by index), the first paragraph of its chain of links: the
    original of its report, itself when it copies nothing."""
    parent = np.arange(count, dtype=np.int32)  # 32-bit: a million paragraphs' chains, looked up 64 times
    parent[found.copy] = found.original
    # Pointer jumping: each pass doubles how far every paragraph has looked up its chain, into the
    # other of two arrays (a new one each pass would hold three).
    further = np.empty_like(parent)
    for _ in range(64):
        gather(parent, parent, out=further)
        if np.array_equal(further, parent):
            break
        parent, further = further, parent
    del further
    copying = np.zeros(count, dtype=bool)
    copying[found.copy] = True
    if copying[parent].any():  # a "first paragraph" that copies another: a loop
        raise ValueError("copy links form a loop")  # CopyFinder._break_cycles leaves none
    return parent


def find_copies(paragraphs, **options) -> list[Copy]:
    """Links for an iterable of (paragraph_id, article_id, text) or (…, published) tuples."""
    finder = CopyFinder(**options)
    for row in paragraphs:
        finder.add(*row)
    return finder.links()
