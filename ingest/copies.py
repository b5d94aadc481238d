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
  share of the excerpt's words found in the longer paragraph.

No step compares all pairs: exact and excerpt use hash equality, near uses LSH buckets (a bucket
larger than `max_bucket` is compared along a sliding window of that size only).

Direction (which one is the original, `copy_of`):
1. when both articles have a publication date and the dates differ, the earlier one;
2. for an excerpt, the fuller paragraph that contains it;
3. otherwise, an article that marks elisions with "[…]" announces that it is excerpting, so the
   article without them is the original;
4. then the longer paragraph (republishers trim: a dropped dateline, a dropped clause);
5. then the smaller article id, then the smaller paragraph id (stable, arbitrary).

Each copied paragraph gets one link: of the paragraphs it copies, the one matched by the
strongest method (exact, then near, then excerpt), and among those the most original by the
order above. So a report syndicated to 200 outlets gives 199 links to one original, not 20,000
pairs, and "also in" for a paragraph is everything linked to the same original. Two paragraphs
of the same article are never linked. Paragraphs shorter than `min_words` words are not linked
at all: short lines ("He said.") are the same in every article without being copies.

Worker processes can compute `fingerprint(text)` (the costly part, about 100 µs a paragraph)
and hand it to `CopyFinder.add_fingerprint()`; `links()` then runs once over everything.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from array import array
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

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

METHOD_RANK = {"exact": 0, "near": 1, "excerpt": 2}
EMPTY = np.uint32(0xFFFFFFFF)


@dataclass
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


class CopyFinder:
    """Collects paragraphs with `add()`, then finds the copies among them with `links()`."""

    def __init__(
        self,
        num_perm: int = 64,
        bands: int = 16,
        near_threshold: float = 0.6,
        excerpt_threshold: float = 0.8,
        min_words: int = 8,
        min_unit_words: int = 6,
        max_bucket: int = 200,
        batch_size: int = 2000,
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
        self.max_bucket = max_bucket
        self.batch_size = batch_size
        # Per paragraph, in the order added.
        self.paragraph_ids: list[str] = []
        self.article_index = array("l")  # index into self.article_ids
        self.word_counts = array("l")
        self.exact_keys = array("q")
        self.article_ids: list[str] = []
        self._article_number: dict[str, int] = {}
        self.article_dates: list[str | None] = []
        self.article_elides: list[bool] = []
        # Sentence units: hash, paragraph index, words.
        self.unit_keys = array("q")
        self.unit_paragraph = array("l")
        self.unit_words = array("l")
        # MinHash signatures, 16 bits per value, computed in batches.
        self._signatures: list[np.ndarray] = []
        self._pending_tokens: list[int] = []
        self._pending_starts: list[int] = []

    def __len__(self) -> int:
        return len(self.paragraph_ids)

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
        number = self._article(article_id, published)
        if print_.elided:
            self.article_elides[number] = True
        index = len(self.paragraph_ids)
        self.paragraph_ids.append(paragraph_id)
        self.article_index.append(number)
        self.exact_keys.append(print_.exact_key)
        self.word_counts.append(print_.words)
        if print_.words >= self.min_words:
            for key, size in print_.units:
                self.unit_keys.append(key)
                self.unit_paragraph.append(index)
                self.unit_words.append(size)
        self._pending_starts.append(len(self._pending_tokens))
        self._pending_tokens.extend(print_.word_hashes)
        if len(self._pending_starts) >= self.batch_size:
            self._flush()

    # -- MinHash

    def _flush(self) -> None:
        """Compute the signatures of the queued paragraphs in one numpy pass."""
        if not self._pending_starts:
            return
        self._signatures.append(self._sketch(self._pending_tokens, self._pending_starts))
        self._pending_tokens, self._pending_starts = [], []

    def _sketch(self, tokens: list[int], starts: list[int]) -> np.ndarray:
        """One-permutation MinHash of each paragraph's word 3-shingles, densified by rotation.

        Each shingle hash picks a bin with its low bits and competes there with its high bits;
        a bin left empty (a short paragraph) takes the value of the next non-empty bin plus an
        offset, which keeps the estimate of Jaccard similarity unbiased (Shrivastava 2017)."""
        k, n = self.num_perm, len(starts)
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
            has_any = ~empty.all(axis=1)
            filled, todo = out.copy(), empty & has_any[:, None]
            for shift in range(1, k):
                if not todo.any():
                    break
                rolled = np.roll(out, -shift, axis=1)
                take = todo & (rolled != EMPTY)
                filled[take] = rolled[take] + np.uint32((shift * 0x9E3779B1) & 0xFFFFFFFF)
                todo &= ~take
            out = filled
        # 16 bits per value are plenty to compare, and halve the memory.
        return (out & np.uint32(0xFFFF)).astype(np.uint16)

    def signatures(self) -> np.ndarray:
        """The MinHash signatures of all paragraphs added so far, one row each."""
        self._flush()
        if not self._signatures:
            return np.zeros((0, self.num_perm), dtype=np.uint16)
        if len(self._signatures) > 1:
            self._signatures = [np.concatenate(self._signatures)]
        return self._signatures[0]

    # -- finding copies

    def _order_key(self, i: int) -> tuple:
        """Smaller is more original (rules 1, 3, 4, 5 of the module docstring)."""
        a = self.article_index[i]
        return (
            self.article_dates[a] or "9999",
            self.article_elides[a],
            -self.word_counts[i],
            self.article_ids[a],
            self.paragraph_ids[i],
        )

    def _orient(self, i: int, j: int, method: str) -> tuple[int, int]:
        """(copy, original) for a matched pair."""
        if method == "excerpt":
            di = self.article_dates[self.article_index[i]]
            dj = self.article_dates[self.article_index[j]]
            if di and dj and di != dj:
                return (i, j) if di > dj else (j, i)
            if self.word_counts[i] != self.word_counts[j]:
                return (i, j) if self.word_counts[i] < self.word_counts[j] else (j, i)
        return (i, j) if self._order_key(i) > self._order_key(j) else (j, i)

    def _exact_pairs(self, eligible: np.ndarray) -> tuple[list[tuple[int, int, float, str]], np.ndarray]:
        """Pairs of exact copies (each member with its group's most original), and the
        paragraphs that stand for their group in the slower searches."""
        keys = np.frombuffer(self.exact_keys, dtype=np.int64)
        index = np.flatnonzero(eligible)
        order = index[np.argsort(keys[index], kind="stable")]
        sorted_keys = keys[order]
        pairs, representative = [], eligible.copy()
        same = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            return pairs, representative
        # Only the groups with more than one member, found without a Python loop over all.
        in_group = np.zeros(len(order), dtype=bool)
        in_group[1:] |= same
        in_group[:-1] |= same
        members, member_keys = order[in_group], sorted_keys[in_group]
        bounds = np.flatnonzero(np.diff(member_keys)) + 1
        for group in np.split(members, bounds):
            group = sorted(group.tolist(), key=self._order_key)
            first = group[0]
            for other in group[1:]:
                representative[other] = False
                if self.article_index[other] != self.article_index[first]:
                    pairs.append((other, first, 1.0, "exact"))
        return pairs, representative

    def _near_pairs(self, candidates: np.ndarray) -> list[tuple[int, int, float, str]]:
        """Pairs among `candidates` whose estimated Jaccard similarity reaches the threshold."""
        sig = self.signatures()
        index = np.flatnonzero(candidates)
        if len(index) < 2:
            return []
        n = len(self.paragraph_ids)
        found = []
        for band in range(self.bands):
            cols = sig[index, band * self.rows : (band + 1) * self.rows].astype(np.uint64)
            key = np.zeros(len(index), dtype=np.uint64)
            for r in range(self.rows):
                key |= cols[:, r] << np.uint64(16 * r)
            order = np.argsort(key, kind="stable")
            sorted_key = key[order]
            same = sorted_key[1:] == sorted_key[:-1]
            if not same.any():
                continue
            # Members of buckets with more than one paragraph; pair each with the next ones in
            # its bucket (up to max_bucket of them), one offset at a time, vectorised.
            in_bucket = np.zeros(len(order), dtype=bool)
            in_bucket[1:] |= same
            in_bucket[:-1] |= same
            members = index[order[in_bucket]]
            bucket = np.cumsum(np.concatenate(([0], np.diff(sorted_key[in_bucket]) != 0)))
            for offset in range(1, min(len(members), self.max_bucket + 1)):
                together = bucket[offset:] == bucket[:-offset]
                if not together.any():
                    break
                found.append(members[:-offset][together] * n + members[offset:][together])
        if not found:
            return []
        codes = np.unique(np.concatenate(found))
        first, second = codes // n, codes % n
        pairs = np.stack((np.minimum(first, second), np.maximum(first, second)), axis=1)
        arts = np.array(self.article_index, dtype=np.int64)
        pairs = pairs[arts[pairs[:, 0]] != arts[pairs[:, 1]]]
        out = []
        for chunk in range(0, len(pairs), 100_000):
            part = pairs[chunk : chunk + 100_000]
            similarity = (sig[part[:, 0]] == sig[part[:, 1]]).mean(axis=1)
            keep = similarity >= self.near_threshold
            for (i, j), s in zip(part[keep].tolist(), similarity[keep].tolist()):
                out.append((i, j, round(s, 3), "near"))
        return out

    def _excerpt_pairs(self, candidates: np.ndarray) -> list[tuple[int, int, float, str]]:
        """Pairs where one paragraph's sentences are (nearly) all found in a longer one."""
        if not len(self.unit_keys):
            return []
        keys = np.frombuffer(self.unit_keys, dtype=np.int64)
        paragraph = np.asarray(self.unit_paragraph, dtype=np.int64)
        size = np.asarray(self.unit_words, dtype=np.int64)
        keep = candidates[paragraph]
        keys, paragraph, size = keys[keep], paragraph[keep], size[keep]
        order = np.argsort(keys, kind="stable")
        keys, paragraph, size = keys[order], paragraph[order], size[order]
        same = keys[1:] == keys[:-1]
        if not same.any():
            return []
        shared: dict[tuple[int, int], int] = {}
        run_start = np.flatnonzero(np.concatenate(([True], ~same)))
        run_len = np.diff(np.concatenate((run_start, [len(keys)])))
        for start, length in zip(run_start[run_len > 1].tolist(), run_len[run_len > 1].tolist()):
            members = sorted(set(paragraph[start : start + length].tolist()))[: self.max_bucket]
            words_in_unit = int(size[start])
            for a in members:
                for b in members:
                    if a != b and self.article_index[a] != self.article_index[b]:
                        shared[(a, b)] = shared.get((a, b), 0) + words_in_unit
        out = []
        for (a, b), count in shared.items():
            if self.word_counts[a] >= self.word_counts[b]:
                continue  # an excerpt is shorter than what it is taken from
            containment = min(1.0, count / max(1, self.word_counts[a]))
            if containment >= self.excerpt_threshold:
                out.append((a, b, round(containment, 3), "excerpt"))
        return out

    def links(self) -> list[Copy]:
        """Every paragraph that copies a paragraph of another article, with the one it copies."""
        n = len(self.paragraph_ids)
        if n < 2:
            return []
        eligible = np.asarray(self.word_counts, dtype=np.int64) >= self.min_words
        exact, representative = self._exact_pairs(eligible)
        matched = exact + self._near_pairs(representative) + self._excerpt_pairs(representative)
        best: dict[int, tuple] = {}
        for i, j, similarity, method in matched:
            copy, original = self._orient(i, j, method) if method != "exact" else (i, j)
            rank = (METHOD_RANK[method], self._order_key(original))
            if copy not in best or rank < best[copy][0]:
                best[copy] = (rank, original, similarity, method)
        self._break_cycles(best)
        return [
            Copy(self.paragraph_ids[copy], self.paragraph_ids[original], similarity, method)
            for copy, (_, original, similarity, method) in sorted(best.items())
        ]


    def _break_cycles(self, best: dict[int, tuple]) -> None:
        """Each paragraph has at most one link, so links form chains; the excerpt rule (fuller
        text first) can close a chain into a loop. In a loop, the paragraph that comes first in
        the general order keeps no link: it is the original of the others."""
        state: dict[int, int] = {}  # 1: on the current path, 2: done
        for start in list(best):
            path, node = [], start
            while node in best and state.get(node) is None:
                state[node] = 1
                path.append(node)
                node = best[node][1]
            if state.get(node) == 1:  # walked into the current path: a loop
                loop = path[path.index(node) :]
                del best[min(loop, key=self._order_key)]
            for visited in path:
                state[visited] = 2


def find_copies(paragraphs, **options) -> list[Copy]:
    """Links for an iterable of (paragraph_id, article_id, text) or (…, published) tuples."""
    finder = CopyFinder(**options)
    for row in paragraphs:
        finder.add(*row)
    return finder.links()
