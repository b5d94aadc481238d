"""Tag each body paragraph with the topics of the taxonomy in topics.yml.

A paragraph is split into words once; each word is reduced to its stem (snowball English)
through a cache, so "sanctions" and "sanctioned" look alike. Every term, phrase, negative
cue and sector word of every topic is compiled once into one dictionary keyed by stem
sequences, so tagging a paragraph is a single left-to-right pass of dictionary look-ups,
whatever the number of topics.

A topic's score is the sum of the weights of its terms found in the paragraph (repeats
count for less); the paragraph gets the topic when the score reaches the threshold.
Synonym-spun copies ("vitality" for energy) are recognised once per article from spinner
artefacts, and only then are their words mapped back (spun.yml) before tagging. The text
that is stored is never changed: evidence is quoted from it as written.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, compress
from pathlib import Path

import snowballstemmer
import yaml

from .text import PARAGRAPH_MEMO, BoundedCache, load_yaml

HERE = Path(__file__).parent
DEFAULT_TAXONOMY = HERE / "topics.yml"
DEFAULT_SPUN = HERE / "spun.yml"

TERM, NEGATIVE, SECTOR = 0, 1, 2


class TaxonomyError(ValueError):
    """The rules file cannot be used; the message says where and why."""


@dataclass
class Topic:
    """One topic of the taxonomy: what the `topics` table shows, and the rules that find it."""

    slug: str
    label: str
    description: str
    terms: dict[str, float] = field(default_factory=dict)
    negative: list[str] = field(default_factory=list)


@dataclass
class SpunRules:
    """How to recognise a spun article, and the map that undoes its word swaps."""

    min_markers: int = 2
    markers: list[str] = field(default_factory=list)
    raw_markers: list[str] = field(default_factory=list)
    map: dict[str, str] = field(default_factory=dict)


@dataclass
class Taxonomy:
    """The topics (in file order) and the settings that decide when a paragraph gets one."""

    topics: list[Topic]
    threshold: float = 2.0
    repeat_factor: float = 0.5
    min_term_weight: float = 0.0
    whole_words: list[str] = field(default_factory=list)
    sector_topic: str | None = None
    sector_weight: float = 2.0
    sectors: list[str] = field(default_factory=list)
    sector_joiners: list[str] = field(default_factory=list)
    spun: SpunRules = field(default_factory=SpunRules)
    path: Path | None = None

    @property
    def slugs(self) -> list[str]:
        return [topic.slug for topic in self.topics]


@dataclass
class TopicHit:
    """One topic's score in one paragraph, with the terms that fired as written in the text.
    `suppressed` lists terms that were found but did not count (negative cue, sector list)."""

    slug: str
    score: float
    evidence: list[str]
    suppressed: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- loading


def load_taxonomy(path: Path | None = None, spun_path: Path | None = None) -> Taxonomy:
    """Read the topic rules (default: topics.yml beside this module) and the spun-copy rules
    (default: spun.yml beside the topics file if there is one, else beside this module)."""
    path = Path(path) if path else DEFAULT_TAXONOMY
    if spun_path is None:
        spun_path = path.with_name("spun.yml") if path.with_name("spun.yml").exists() else DEFAULT_SPUN
    data = _read_yaml(path)
    if not isinstance(data.get("topics"), list) or not data["topics"]:
        raise TaxonomyError(f"{path}: needs a non-empty list under 'topics'")
    topics, seen = [], set()
    for number, item in enumerate(data["topics"], start=1):
        where = f"{path}: topic {number}"
        if not isinstance(item, dict) or not item.get("slug"):
            raise TaxonomyError(f"{where}: every topic needs a slug")
        slug = str(item["slug"])
        if slug in seen:
            raise TaxonomyError(f"{where}: slug {slug!r} is used twice")
        seen.add(slug)
        topics.append(Topic(
            slug=slug,
            label=str(item.get("label") or slug),
            description=" ".join(str(item.get("description") or "").split()),
            terms=_weights(item.get("terms") or {}, f"{where} ({slug}) terms"),
            negative=_strings(item.get("negative") or [], f"{where} ({slug}) negative"),
        ))
    sector = data.get("sector_lists") or {}
    if sector and sector.get("topic") not in seen:
        raise TaxonomyError(f"{path}: sector_lists names topic {sector.get('topic')!r}, which is not defined")
    spun_data = _read_yaml(spun_path) if spun_path and Path(spun_path).exists() else {}
    spun = SpunRules(
        min_markers=int(spun_data.get("min_markers", 2)),
        markers=_strings(spun_data.get("markers") or [], f"{spun_path}: markers"),
        raw_markers=_strings(spun_data.get("raw_markers") or [], f"{spun_path}: raw_markers"),
        map={str(k): "" if v is None else str(v) for k, v in (spun_data.get("map") or {}).items()},
    )
    return Taxonomy(
        topics=topics,
        threshold=float(data.get("threshold", 2.0)),
        repeat_factor=float(data.get("repeat_factor", 0.5)),
        min_term_weight=float(data.get("min_term_weight", 0.0)),
        whole_words=_strings(data.get("whole_words") or [], f"{path}: whole_words"),
        sector_topic=sector.get("topic"),
        sector_weight=float(sector.get("weight", 2.0)),
        sectors=_strings(sector.get("sectors") or [], f"{path}: sector_lists sectors"),
        sector_joiners=_strings(sector.get("joiners") or [], f"{path}: sector_lists joiners"),
        spun=spun,
        path=path,
    )


def _read_yaml(path: Path) -> dict:
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise TaxonomyError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise TaxonomyError(f"{path}: expected a mapping at the top level")
    return data


def _weights(terms, where: str) -> dict[str, float]:
    if not isinstance(terms, dict):
        raise TaxonomyError(f"{where}: expected 'term: weight' lines")
    out = {}
    for term, weight in terms.items():
        if not isinstance(term, (str, int, float)) or isinstance(term, bool):
            # YAML reads a bare yes/no/on/off as a boolean
            raise TaxonomyError(f"{where}: term {term!r} must be quoted")
        try:
            out[str(term)] = float(weight)
        except (TypeError, ValueError):
            raise TaxonomyError(f"{where}: weight of {term!r} is not a number: {weight!r}") from None
    return out


def _strings(items, where: str) -> list[str]:
    if not isinstance(items, list) or any(isinstance(i, (bool, dict, list)) or i is None for i in items):
        raise TaxonomyError(f"{where}: expected a list of words or phrases (quote yes/no/on/off)")
    return [str(i) for i in items]


def topic_rows(taxonomy: Taxonomy) -> list[dict]:
    """Rows for the `topics` table: slug (primary key), label and description, in file order."""
    return [{"slug": t.slug, "label": t.label, "description": t.description} for t in taxonomy.topics]


# ---------------------------------------------------------------- words

# A word: letters and digits with inner apostrophes or dots (Russia's, U.S., 1.5); "#"/"#th"
# are the rules' placeholders for any number/ordinal. Commas and semicolons are kept as
# tokens so that phrases do not run across them and sector lists can be seen.
WORD = re.compile(r"[\w'’.#]+|[,;]")
ORDINAL = re.compile(r"\d+(?:st|nd|rd|th)")
# "US" in capitals is the country, "us" a pronoun; everything else is case-insensitive.
COUNTRY_US = {"US", "USA"}
# Bound the per-process caches (a new corpus keeps adding rare words).
CACHE_LIMIT = 500_000


class _Words:
    """Turns text into stems, one whitespace-separated chunk at a time, with a cache: news
    vocabulary repeats, so almost every chunk ("sanctions,", "Russia’s") is looked up, not
    tokenised and stemmed again."""

    def __init__(self, whole_words=()):
        self._stemmer = snowballstemmer.stemmer("english")
        self._whole = {w.lower() for w in whole_words}
        # chunk -> (stem, as written, lower-cased) of each of its words, one flat tuple: a
        # paragraph's three lists come from one look-up per chunk and three strided slices
        self._chunks: dict[str, tuple[str, ...]] = {}
        self._stemmed: dict[str, str] = {}

    def words(self, text: str) -> tuple[str, ...]:
        """(stem, as written, lower-cased) of every word of `text`, in order, in one flat tuple."""
        if len(self._chunks) > CACHE_LIMIT:
            self._chunks.clear()
        cache = self._chunks
        chunks = text.split()
        try:
            return tuple(chain.from_iterable(map(cache.__getitem__, chunks)))
        except KeyError:  # a chunk not seen before: learn the new ones, then look up again
            for chunk in chunks:
                if chunk not in cache:
                    self._learn(chunk)
            return tuple(chain.from_iterable(map(cache.__getitem__, chunks)))

    def stems(self, text: str) -> tuple[str, ...]:
        """The stems of every word of `text`, in order."""
        return self.words(text)[0::3]

    def _learn(self, chunk: str) -> None:
        words = []
        for token in WORD.findall(chunk):
            surface = _trim(token)
            if surface:
                words += (self.normalise(surface), surface, surface.lower().replace("’", "'"))
        self._chunks[chunk] = tuple(words)

    def normalise(self, word: str) -> str:
        """The form a word is matched by: a stem, "#" for a number, "usa" for the country."""
        if word in COUNTRY_US:
            return "usa"
        low = word.lower().replace("’", "'")
        if "." in low:  # an abbreviation (U.S., U.N.) or a decimal number
            low = low.replace(".", "")
            if low == "us":
                return "usa"
        if low in (",", ";"):
            return ","
        if low.startswith("#") or low.isdigit():
            return "#" if low.isdigit() else low
        if ORDINAL.fullmatch(low):
            return "#th"
        if low in self._whole:
            return low + "="  # never equal to a stem: "vital=" is not "vitality" stemmed
        stem = self._stemmed.get(low)
        if stem is None:
            # one word comes in many chunks ("Putin", "Putin's", "(Putin,"): stem it once
            if len(self._stemmed) > CACHE_LIMIT:
                self._stemmed.clear()
            stem = self._stemmed[low] = self._stemmer.stemWord(low)
        return stem

    def key(self, phrase: str) -> tuple[str, ...]:
        """A phrase of the rules as a tuple of stems."""
        return tuple(self.stems(phrase))


def _trim(token: str) -> str:
    """A token without the quotes and full stop around it ("'Russia’s." -> "Russia’s"); an
    abbreviation keeps its dots ("U.S.")."""
    word = token.strip("'’").lstrip(".")
    if word.endswith(".") and "." not in word[:-1]:
        word = word[:-1]
    return word


def _lower_words(text: str) -> list[str]:
    """Words as written, lower-cased, not stemmed: how spinner markers and swaps are matched."""
    return [w.lower().replace("’", "'") for w in map(_trim, WORD.findall(text)) if w]


# ---------------------------------------------------------------- tagging


@dataclass
class _Entry:
    kind: int
    topic: int
    weight: float
    term: str  # as written in the rules file


class TopicTagger:
    """Tags paragraphs with the topics of a taxonomy; everything is compiled once here."""

    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        self.threshold = taxonomy.threshold
        self.repeat_factor = taxonomy.repeat_factor
        self.min_term_weight = taxonomy.min_term_weight
        self._slugs = taxonomy.slugs
        self._words = _Words(taxonomy.whole_words)
        self._tags = BoundedCache(PARAGRAPH_MEMO)
        lexicon: dict[tuple[str, ...], list[_Entry]] = defaultdict(list)
        for i, topic in enumerate(taxonomy.topics):
            for term, weight in topic.terms.items():
                self._add(lexicon, term, _Entry(TERM, i, weight, term))
            for cue in topic.negative:
                self._add(lexicon, cue, _Entry(NEGATIVE, i, 0.0, cue))
        self._sector_topic = self._slugs.index(taxonomy.sector_topic) if taxonomy.sector_topic else None
        if self._sector_topic is not None:
            for sector in taxonomy.sectors:
                self._add(lexicon, sector, _Entry(SECTOR, self._sector_topic, taxonomy.sector_weight, sector))
        self._joiners = {s for j in taxonomy.sector_joiners for s in self._words.key(j)}
        self._lexicon = {key: tuple(entries) for key, entries in lexicon.items()}
        # the one-word rules again, keyed by the stem itself: no tuple to build per word looked up
        self._one_word = {key[0]: entries for key, entries in self._lexicon.items() if len(key) == 1}
        # first stem of a rule -> the lengths of the rules that start with it, longest first
        lengths: dict[str, set[int]] = defaultdict(set)
        for key in self._lexicon:
            lengths[key[0]].add(len(key))
        self._lengths = {word: tuple(sorted(ls, reverse=True)) for word, ls in lengths.items()}

        spun = taxonomy.spun
        self._min_markers = spun.min_markers
        # (marker as written in spun.yml, its words as one lower-case string, whether whole words)
        self._markers = [
            (m, " ".join(_lower_words(m)), True) for m in spun.markers if _lower_words(m)
        ] + [(m, m.lower(), False) for m in spun.raw_markers]
        self._spin_map = {
            tuple(_lower_words(source)): self._words.key(target)
            for source, target in spun.map.items() if _lower_words(source)
        }
        self._spin_first = _first_index(self._spin_map)

    def _add(self, lexicon, phrase: str, entry: _Entry) -> None:
        key = self._words.key(phrase)
        if not key:
            return
        for other in lexicon[key]:
            # two spellings with one stem ("sanction", "sanctions"): keep the larger weight
            if other.kind == entry.kind and other.topic == entry.topic:
                other.weight = max(other.weight, entry.weight)
                return
        lexicon[key].append(entry)

    # -- spun copies

    def is_spun(self, paragraphs: list[str]) -> tuple[bool, list[str]]:
        """Whether an article is a synonym-spun copy, and the spinner markers found in it."""
        # a plain substring test first (fast, and almost always false), then whole words
        text = _single_spaced(" ".join(paragraphs).lower().replace("’", "'"))
        fired = [name for name, words, whole in self._markers
                 if words in text and (not whole or _whole_words_in(words, text))]
        return len(fired) >= self._min_markers, fired

    def _unspin(self, words: tuple[str, ...]) -> tuple[list[str], tuple[list[int], list[int]] | None]:
        """Stems of a spun paragraph (its `_Words.words`) with the spinner's swaps undone, and for
        each stem the range of words as written that it stands for (so evidence quotes the text,
        not the map), as a list of first words and one of ends; None for that when nothing was
        swapped."""
        as_written = words[0::3]
        lower = words[2::3]
        if self._spin_first.keys().isdisjoint(lower):
            return as_written, None  # no word begins a swap
        n = len(lower)
        longest = list(map(self._spin_first.get, lower))
        stems, firsts, ends, done = [], [], [], 0
        for i in compress(range(n), longest):
            if i < done:
                continue
            for length in range(min(longest[i], n - i), 0, -1):
                target = self._spin_map.get(tuple(lower[i:i + length]))
                if target is not None:
                    stems.extend(as_written[done:i])
                    firsts.extend(range(done, i))
                    ends.extend(range(done + 1, i + 1))
                    stems.extend(target)
                    firsts.extend([i] * len(target))
                    ends.extend([i + length] * len(target))
                    done = i + length
                    break
        if not done:
            return as_written, None  # nothing was swapped: every stem stands for its own word
        stems.extend(as_written[done:])
        firsts.extend(range(done, n))
        ends.extend(range(done + 1, n + 1))
        return stems, (firsts, ends)

    # -- scoring

    def _score(self, paragraph: str, spun: bool, everything: bool) -> list[TopicHit]:
        """Topic hits for one paragraph: all topics (with what did not count) when
        `everything`, else only those at or above the threshold, in file order."""
        words = self._words.words(paragraph)
        if spun:
            stems, origin = self._unspin(words)
        else:
            stems, origin = words[0::3], None
        written = None
        # only the words that begin some rule are looked at
        lexicon, one_word = self._lexicon, self._one_word
        lengths = list(map(self._lengths.get, stems))
        stems = tuple(stems)  # so that a slice is the key itself
        by_topic: dict[int, list] = {}
        negatives = sectors = None
        n = len(stems)
        for i in compress(range(n), lengths):
            for length in lengths[i]:
                if i + length > n:
                    continue
                entries = lexicon.get(stems[i:i + length]) if length > 1 else one_word.get(stems[i])
                if entries is None:
                    continue
                for entry in entries:
                    if entry.kind == TERM:
                        by_topic.setdefault(entry.topic, []).append((i, i + length, entry))
                    elif entry.kind == NEGATIVE:
                        negatives = negatives or {}
                        negatives.setdefault(entry.topic, []).append((i, i + length))
                    else:
                        sectors = sectors or []
                        sectors.append((i, i + length))

        def quote(start: int, end: int) -> str:
            nonlocal written
            if written is None:
                written = words[1::3]
            if origin is not None:
                start, end = origin[0][start], origin[1][end - 1]
            if end - start == 1:
                return written[start]
            return _locate(written[start:end], paragraph)

        lists = self._sector_lists(sectors, stems) if sectors and len(sectors) > 1 else ()
        if lists:
            by_topic.setdefault(self._sector_topic, [])
        results = {}
        for topic, hits in by_topic.items():
            suppressed = []
            if negatives and topic in negatives or lists:
                kept = []
                for hit in hits:
                    start, end = hit[0], hit[1]
                    cue = next((c for c in negatives.get(topic, ()) if c[0] < end and start < c[1]), None) \
                        if negatives else None
                    if cue:
                        if everything:
                            suppressed.append(f"{quote(start, end)} (in {quote(*cue)!r})")
                    elif any(a <= start and end <= b for a, b in lists):
                        if everything:
                            suppressed.append(f"{quote(start, end)} (in a list of sectors)")
                    else:
                        kept.append(hit)
                hits = kept
            # Hits come by start, longest first, so a hit that ends within an earlier one lies
            # inside a longer phrase and counts for nothing: "gas" in "natural gas".
            score, strongest, seen, reach, counted = 0.0, 0.0, set(), -1, []
            for hit in hits:
                if hit[1] <= reach:
                    continue
                reach = hit[1]
                counted.append(hit)
                entry = hit[2]
                if entry.term in seen:
                    score += entry.weight * self.repeat_factor
                else:
                    seen.add(entry.term)
                    score += entry.weight
                    if entry.weight > strongest:
                        strongest = entry.weight
            hits = counted
            if topic == self._sector_topic and lists:
                score += self.taxonomy.sector_weight * len(lists)
                strongest = max(strongest, self.taxonomy.sector_weight)
            tagged = score >= self.threshold and strongest >= self.min_term_weight
            if not (tagged or everything):
                continue
            evidence = list(dict.fromkeys([quote(start, end) for start, end, _ in hits]))
            if topic == self._sector_topic:
                evidence.extend(quote(a, b) for a, b in lists)
            if strongest < self.min_term_weight and evidence:
                # hints alone are no topic: they count only beside a clear sign
                suppressed.extend(f"{text} (a hint without a clear sign)" for text in evidence)
                score, evidence = 0.0, []
            results[topic] = TopicHit(self._slugs[topic], round(score, 6), evidence, suppressed)
        if everything:
            return [results.get(i) or TopicHit(slug, 0.0, []) for i, slug in enumerate(self._slugs)]
        return [results[i] for i in sorted(results) if results[i].score >= self.threshold]

    def _sector_lists(self, sectors, stems) -> list[tuple[int, int]]:
        """Spans of two or more different sectors joined only by commas, and/or and the like."""
        lists = []
        run_start = run_end = None
        named: set = set()
        for start, end in sorted(set(sectors)):
            if run_end is not None and start < run_end:
                continue  # a sector inside a longer one ("tech" in "high tech")
            # adjacent sectors with nothing between them are a compound ("energy industry"), not a list
            if run_end is not None and start > run_end and all(w in self._joiners for w in stems[run_end:start]):
                run_end = end
                named.add(tuple(stems[start:end]))
                continue
            if len(named) >= 2:
                lists.append((run_start, run_end))
            run_start, run_end, named = start, end, {tuple(stems[start:end])}
        if len(named) >= 2:
            lists.append((run_start, run_end))
        return lists

    # -- public

    def explain(self, paragraph: str, spun: bool = False) -> list[TopicHit]:
        """Every topic's score for one paragraph, including those below the threshold, with the
        terms that fired (and in `suppressed` those that did not count), highest score first."""
        return sorted(self._score(paragraph, spun, everything=True), key=lambda hit: -hit.score)

    def tag(self, paragraph: str, spun: bool = False) -> list[TopicHit]:
        """The topics one paragraph gets (score at or above the threshold), highest first."""
        return sorted(self._score(paragraph, spun, everything=False), key=lambda hit: -hit.score)

    def tag_article(self, paragraphs: list[str]) -> list[list[TopicHit]]:
        """The topics of each body paragraph of one article. Whether the article is a spun
        copy is decided once, from all its paragraphs."""
        spun, _ = self.is_spun(paragraphs)
        tags = []
        for paragraph in paragraphs:
            # a paragraph's tags depend on its text and on whether the article is spun, nothing else
            hits = self._tags.get((paragraph, spun))
            if hits is None:
                hits = self._tags.put((paragraph, spun), self.tag(paragraph, spun))
            tags.append(list(hits))
        return tags


def _single_spaced(text: str) -> str:
    """`text` with every run of white space made one space and none at either end."""
    # Already so when its only white space is single inner spaces: no other white space
    # character is printable, and isprintable() is a cheap scan where split/join is not.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def _whole_words_in(words: str, text: str) -> bool:
    """Whether `words` occurs in `text` with no word character (as regex \\w has it: a letter,
    digit or underscore) right before or after: what a search for (?<!\\w)words(?!\\w) finds,
    without the regex, whose look-behind made it try every position of a long text."""
    at, size = text.find(words), len(words)
    while at >= 0:
        end = at + size
        if (at == 0 or not _is_word_char(text[at - 1])) and (end == len(text) or not _is_word_char(text[end])):
            return True
        at = text.find(words, at + 1)
    return False


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _locate(words: Sequence[str], paragraph: str) -> str:
    """The stretch of `paragraph` that holds `words` in a row, with its own hyphens and
    punctuation ("dual-use", "energy, agriculture")."""
    phrase = " ".join(words)
    if phrase in paragraph:
        return phrase
    first, last = words[0], words[-1]
    start = paragraph.find(first)
    while start != -1:
        end = paragraph.find(last, start + len(first))
        if end == -1:
            break
        piece = paragraph[start:end + len(last)]
        if [w for w in map(_trim, WORD.findall(piece)) if w] == list(words):
            return piece
        start = paragraph.find(first, start + 1)
    return phrase


def _first_index(table) -> dict[str, int]:
    """First word of every key -> the length of the longest key starting with it."""
    first: dict[str, int] = {}
    for key in table:
        first[key[0]] = max(first.get(key[0], 0), len(key))
    return first
