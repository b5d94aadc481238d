"""Score how much an article reads like a garbled rewrite of someone else's report.

Content farms republish wire and newspaper stories run through a synonym "spinner" ("pricey
buddy" for dear friend, "he mentioned" for he said) or through a round trip of machine
translation (sentences that end in a dangling "are doing.", ". ." doubled stops, a name spelled
"Gabuyev" in one paragraph and "Gabuev" in the next). `rewrite_score()` finds these signs,
weighs them (rewrites.yml), and returns a score from 0 to 1, a flag, and the evidence in words.

Names: `name_counts()` counts the capitalised names of a set of articles, and `name_variants()`
finds, among them, rare spellings of common names (same consonant skeleton, small edit
distance: "Sharup" for "Charap"); pass its result to `rewrite_score()` so that an article using
such a spelling says so in its evidence. An article that spells one name two ways is evidence
on its own.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .text import PARAGRAPH_MEMO, BoundedCache

HERE = Path(__file__).parent
DEFAULT_RULES = HERE / "rewrites.yml"

# Words that end with a full stop without ending a sentence: what follows may be lower case.
ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "gen", "sen", "rep", "gov", "lt", "col", "maj", "capt", "sgt",
    "jr", "sr", "no", "corp", "inc", "co", "ltd", "vs", "prof", "messrs", "mt", "ft", "jan", "feb",
    "aug", "sept", "oct", "nov", "dec", "approx", "est", "etc", "cf", "al", "pp", "vol", "fig",
}
# A sentence end: a stop (and any closing quotation marks) and white space.
STOP = re.compile(r"([.!?])[\"”’')\]]*\s+")
FRAGMENT = re.compile(r"([a-z][\w’'-]*(?:\s+[a-z][\w’'-]*){0,2})\s*[.!?](?=[\"”’')\]]*(?:\s|$))")
LOWER_START = re.compile(r"[a-z]")
DOUBLED_STOP = re.compile(r"(?<![.])[.!?][\"”’')\]]*\s+\.(?![.\w])")
QUOTE_MARK = re.compile(r"[“”]")
WORD = re.compile(r"\w+")
# A capitalised name: "Gabuev", "Jin-ping", "O’Brien"; a trailing possessive is not part of it.
# Both patterns mean \b[A-Z][a-z]+... and \b[a-z]+...: the look-behind after the first letter is
# that \b, and a letter class first lets the regex engine skip to the letters it can start at
# (a name's search takes 40% less time).
NAME = re.compile(r"[A-Z](?<!\w[A-Z])[a-z]+(?:[-’'][A-Za-z]+)*\b")
LOWER_WORD = re.compile(r"[a-z](?<!\w[a-z])[a-z]*(?:[-’'][a-z]+)*\b")


@dataclass
class Rules:
    """The signs of a rewrite and their weights, as read from rewrites.yml."""

    threshold: float
    scale: float
    reference_words: int
    max_per_sign: int
    levels: dict[str, float]
    weights: dict[str, float]
    strong: dict[str, str]
    weak: dict[str, str]
    patterns: list[tuple[re.Pattern, str, str]]  # (pattern, what it means, text it requires)
    phrases: re.Pattern  # every strong and weak phrase in one pattern, to search lower-cased text
    not_names: frozenset[str] = frozenset()


@dataclass
class RewriteResult:
    """How much an article reads like a garbled rewrite, and why."""

    score: float  # 0 (reads as written) to 1 (certainly rewritten)
    flag: bool  # score >= the threshold in rewrites.yml
    evidence: list[str]
    level: str = "clean"  # "clean", "suspect" or "rewritten"
    paragraph_scores: list[float] = field(default_factory=list)  # the same score, paragraph by paragraph
    paragraph_evidence: list[list[str]] = field(default_factory=list)


@dataclass
class ArticleSigns:
    """What `RewriteScorer.signs()` finds in one article on its own; JSON-able, so the build can
    keep it and score the article again when the rest of the archive changes."""

    paragraph_signs: list[list[tuple[str, str, str]]]  # per paragraph: (sign, key, evidence)
    names: dict[str, list]  # name -> [occurrences, [paragraph indexes]]
    words: int = 0

    def to_json(self) -> dict:
        signs = {str(i): [list(s) for s in found] for i, found in enumerate(self.paragraph_signs) if found}
        return {"paragraphs": len(self.paragraph_signs), "signs": signs, "names": self.names, "words": self.words}

    @classmethod
    def from_json(cls, data: dict) -> "ArticleSigns":
        signs: list[list[tuple[str, str, str]]] = [[] for _ in range(data["paragraphs"])]
        for i, found in data["signs"].items():
            signs[int(i)] = [tuple(s) for s in found]
        return cls(signs, data["names"], data["words"])


def trie_pattern(phrases: Iterable[str]) -> str:
    """One regular expression matching any of the phrases (words separated by any white space,
    "'" matching "’" too), with common beginnings factored out: far faster to search than a
    plain alternation of the phrases."""
    trie: dict = {}
    for phrase in phrases:
        node = trie
        for char in " ".join(phrase.split()):
            node = node.setdefault(char, {})
        node[""] = {}

    def piece(char: str) -> str:
        return r"\s+" if char == " " else "['’]" if char in "'’" else re.escape(char)

    def build(node: dict) -> str:
        branches = [piece(c) + build(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return build(trie)


def _phrase_key(text: str) -> str:
    return " ".join(text.replace("’", "'").lower().split())


def load_rules(path: Path | str | None = None) -> Rules:
    """Read rewrites.yml (or another file of the same shape) and compile its patterns once."""
    data = yaml.safe_load(Path(path or DEFAULT_RULES).read_text(encoding="utf-8")) or {}
    strong = {_phrase_key(k): str(v) for k, v in (data.get("strong") or {}).items()}
    weak = {_phrase_key(k): str(v) for k, v in (data.get("weak") or {}).items() if _phrase_key(k) not in strong}
    # Searching lower-cased text for lower-case phrases is 3-4 times faster than IGNORECASE.
    phrases = re.compile(r"\b(?:" + trie_pattern(sorted({*strong, *weak})) + r")(?![\w-])") if strong or weak else re.compile(r"(?!)")
    return Rules(
        threshold=float(data.get("threshold", 0.5)),
        scale=float(data.get("scale", 2.0)),
        reference_words=int(data.get("reference_words", 500)),
        max_per_sign=int(data.get("max_per_sign", 3)),
        levels={k: float(v) for k, v in (data.get("levels") or {"suspect": 0.2, "rewritten": 0.5}).items()},
        weights={k: float(v) for k, v in (data.get("weights") or {}).items()},
        strong=strong,
        weak=weak,
        patterns=[
            (re.compile(p["pattern"]), str(p.get("means", p["pattern"])), str(p.get("requires", "")))
            for p in data.get("patterns") or []
        ],
        phrases=phrases,
        not_names=frozenset(str(w) for w in data.get("not_names") or []),
    )


@lru_cache(maxsize=4)
def _default_rules(path: str | None = None) -> Rules:
    return load_rules(path)


# -- names


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """A name's consonant skeleton, the same across common transliterations and the sound
    swaps of machine translation: Gabuev/Gabuyev -> "gbv", Charap/Sharup -> "srp"."""
    s = re.sub(r"[^a-z]", "", name.lower())
    for a, b in (("sch", "s"), ("sh", "s"), ("ch", "s"), ("zh", "j"), ("kh", "h"), ("ph", "f"),
                 ("ck", "k"), ("ks", "x"), ("ts", "c"), ("tz", "c"), ("w", "v"), ("q", "k")):
        s = s.replace(a, b)
    if not s:
        return ""
    head, tail = s[0], re.sub(r"[aeiouy]", "", s[1:])
    return re.sub(r"(.)\1+", r"\1", head + tail)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (names are short, so the plain dynamic programme is enough)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def similar_names(a: str, b: str) -> bool:
    """Whether two different words look like spellings of one name: the same consonant
    skeleton and few letters apart. Derived forms ("Russia"/"Russian") and short names are
    not variants."""
    la, lb = a.lower(), b.lower()
    if la == lb or min(len(la), len(lb)) < 5 or la.startswith(lb) or lb.startswith(la):
        return False  # short names (Chen, Wang) are too often different people
    if la[0] != lb[0] and min(len(la), len(lb)) < 6:
        return False  # Zhang/Chang, Cheng/Sheng: different surnames
    if name_key(a) != name_key(b):
        return False
    return edit_distance(la, lb) <= max(1, min(len(la), len(lb)) // 3)


def names_in(text: str) -> list[str]:
    """Capitalised words of the text that may be names (possessive "’s" removed)."""
    # endswith and a slice, not a regex substitution per name
    return [name[:-2] if name.endswith(("’s", "'s")) else name for name in NAME.findall(text)]


def name_counts(texts: Iterable[str], not_names: Iterable[str] | None = None) -> Counter:
    """How often each capitalised word that may be a name occurs across texts (e.g. all
    paragraphs of the archive). Words used in lower case more often than capitalised ("The",
    "Friday" is kept, "Earlier" is not) and the rules' `not_names` are left out."""
    capitalised: Counter = Counter()
    lower: Counter = Counter()
    for text in texts:
        capitalised.update(names_in(text))
        lower.update(LOWER_WORD.findall(text))
    skip = set(_default_rules().not_names if not_names is None else not_names)
    return Counter({
        name: n for name, n in capitalised.items() if name not in skip and lower[name.lower()] < n
    })


def name_variants(counts: Mapping[str, int], known: Iterable[str] = (), ratio: float = 3.0) -> dict[str, str]:
    """Rare spellings of common names: {variant: usual spelling}.

    Names are grouped by `name_key()`, so only names within a group are compared (linear in
    the number of names). A spelling is a variant when a similar one is `ratio` times as
    common, or when the other is `known` (e.g. the canonical names of speakers.yml) and it
    is not."""
    known_words = {w for name in known for w in names_in(name)}
    groups: dict[str, list[str]] = defaultdict(list)
    for name in counts:
        if len(name) >= 5:
            groups[name_key(name)].append(name)
    for name in sorted(known_words):  # in a fixed order: when two spellings fit, the last one wins
        if len(name) >= 5 and name not in counts:
            groups[name_key(name)].append(name)
    variants = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        for a in group:
            for b in group:
                if a == b or not similar_names(a, b):
                    continue
                if b in known_words and a not in known_words:
                    variants[a] = b
                elif a not in known_words and counts.get(b, 0) >= ratio * max(1, counts.get(a, 0)):
                    variants[a] = b
    return variants


# -- scoring


def _is_sentence_end(text: str, stop: re.Match) -> bool:
    """Whether what follows a stop should start a new sentence: not after an abbreviation or an
    initial ("U.S.", "Mr."), an ellipsis ("... and"), or a quotation it ends (“Why?” he asked)."""
    start, end = stop.span(1)
    if text[end] in "\"”’')]":  # closing marks follow the stop (the match always goes on after it)
        return False
    if start and text[start - 1] in ".…":
        return False
    if text[start] != ".":
        return True
    words = text[:start].rsplit(None, 1)
    word = words[-1].lstrip("(\"“‘") if words else ""
    return not (len(word) == 1 or "." in word or word.lower() in ABBREVIATIONS)


def _artefacts(paragraph: str) -> list[tuple[str, str]]:
    """Machine-translation artefacts of one paragraph: (sign, what was seen)."""
    found = []
    for stop in STOP.finditer(paragraph):
        if not _is_sentence_end(paragraph, stop):
            continue
        rest = paragraph[stop.end():]
        fragment = FRAGMENT.match(rest)
        if fragment and stop.group(1) == ".":
            found.append(("fragment", f"a dangling fragment after a full stop: “{fragment.group(0).strip()}”"))
        elif LOWER_START.match(rest):
            found.append(("lowercase_start", f"a sentence starts in lower case: “{rest[:30].strip()}…”"))
    # A doubled stop needs white space right before a full stop; printable text has no white
    # space but " " (every other white space character is unprintable), so " ." must be there.
    if " ." in paragraph or not paragraph.isprintable():
        for match in DOUBLED_STOP.finditer(paragraph):
            found.append(("doubled_stop", "a doubled full stop “. .”"))
    if "”" not in paragraph:
        return found  # no closing mark, so none that closes nothing
    depth = 0
    for mark in QUOTE_MARK.findall(paragraph):
        if mark == "“":
            depth = 1
        elif depth:
            depth = 0
        else:
            found.append(("stray_quote", "a closing quotation mark that closes nothing"))
    return found


class RewriteScorer:
    """Scores articles with one set of rules, compiled once."""

    def __init__(self, rules: Rules | None = None):
        self.rules = rules or _default_rules()
        # What a paragraph shows on its own, by text: wire copy repeats paragraphs across articles.
        self._seen: BoundedCache = BoundedCache(PARAGRAPH_MEMO)

    def _spinner_signs(self, paragraph: str) -> list[tuple[str, str, str]]:
        """(weight name, key for counting once, evidence) for each spinner sign in a paragraph."""
        rules, found = self.rules, []
        lowered = paragraph.lower()
        if len(lowered) != len(paragraph):  # a few characters lower-case to two: search a copy that keeps places
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in paragraph)
        for match in rules.phrases.finditer(lowered):
            written = paragraph[match.start():match.end()]
            key = _phrase_key(written)
            if key in rules.strong:
                found.append(("strong", key, f"spinner phrase “{written}” (for “{rules.strong[key]}”)"))
            elif key in rules.weak:
                found.append(("weak", key, f"likely spinner word “{written}” (for “{rules.weak[key]}”)"))
        for pattern, means, requires in rules.patterns:
            if requires not in paragraph:
                continue
            for match in pattern.finditer(paragraph):
                found.append(("pattern", means, f"“{match.group(0)}”: {means}"))
        return found

    def _paragraph(self, paragraph: str) -> tuple[tuple, tuple[str, ...], int]:
        """A paragraph's own signs, the names it uses (in order, as often as used) and its number
        of words: looked up for a paragraph seen lately."""
        found = self._seen.get(paragraph)
        if found is None:
            signs = self._spinner_signs(paragraph) + [(sign, sign, text) for sign, text in _artefacts(paragraph)]
            # Interned: a few thousand names recur in every memo entry.
            not_names = self.rules.not_names
            names = tuple([sys.intern(name) for name in names_in(paragraph) if name not in not_names])
            found = self._seen.put(paragraph, (tuple(signs), names, len(WORD.findall(paragraph))))
        return found

    def signs(self, paragraphs: list[str]) -> ArticleSigns:
        """What one article shows on its own (its body paragraphs, in order): the signs of each
        paragraph, and the names it uses, for comparing with the rest of the archive later."""
        per_paragraph: list[list[tuple[str, str, str]]] = []
        uses: list[str] = []  # every name used, as often as used
        places: dict[str, list[int]] = {}  # name -> the paragraphs using it, in order of first use
        words = 0
        for i, paragraph in enumerate(paragraphs):
            signs, its_names, its_words = self._paragraph(paragraph)
            per_paragraph.append(list(signs))
            uses += its_names
            for name in dict.fromkeys(its_names):
                places.setdefault(name, []).append(i)
            words += its_words
        counts = Counter(uses)
        # Capitalised words the article uses in lower case as often are not names ("Earlier").
        # One search of the paragraphs joined by line breaks finds what a search of each would.
        lower = Counter(LOWER_WORD.findall("\n".join(paragraphs))) if places else Counter()
        names = {name: [counts[name], where] for name, where in places.items() if lower.get(name.lower(), 0) < counts[name]}
        return ArticleSigns(per_paragraph, names, words)

    def result(self, article: ArticleSigns, name_variants: Mapping[str, str] | None = None) -> RewriteResult:
        """The rewrite score of an article from its signs and, from the rest of the archive, the
        rare spellings of common names ({variant: usual spelling})."""
        rules, weights = self.rules, self.rules.weights
        per_paragraph = [list(signs) for signs in article.paragraph_signs]
        # Names: one name spelled two ways here, or a rare spelling of a common name.
        pairs = set()
        by_key: dict[str, list[str]] = defaultdict(list)
        for name in article.names:
            by_key[name_key(name)].append(name)
        for group in by_key.values():
            for a in group:
                for b in group:
                    if a < b and similar_names(a, b):
                        pairs.add((a, b))
        name_signs = [("name_spellings", f"{a}/{b}", f"one name spelled two ways: “{a}” and “{b}”") for a, b in sorted(pairs)]
        in_pairs = {n for pair in pairs for n in pair}
        for name in sorted(article.names):
            usual = (name_variants or {}).get(name)
            if usual and name not in in_pairs:
                name_signs.append(("rare_variant", name, f"“{name}” is a rare spelling of “{usual}”"))
        for sign in name_signs:
            for i in sorted({i for name in sign[1].split("/") for i in article.names.get(name, (0, []))[1]}):
                per_paragraph[i].append(sign)

        # Article points: each spinner phrase and name once; each artefact up to max_per_sign.
        seen, counts, evidence, points = set(), Counter(), [], 0.0
        for signs in per_paragraph:
            for sign, key, text in signs:
                once = sign in ("strong", "weak", "pattern", "name_spellings", "rare_variant")
                if once and (sign, key) in seen:
                    continue
                if not once and counts[sign] >= rules.max_per_sign:
                    continue
                seen.add((sign, key))
                counts[sign] += 1
                points += weights.get(sign, 0.0)
                evidence.append(text)
        words = article.words
        if words > rules.reference_words:
            points *= math.sqrt(rules.reference_words / words)
        score = round(1 - math.exp(-points / rules.scale), 3)
        paragraph_scores, paragraph_evidence = [], []
        for signs in per_paragraph:
            distinct = {(sign, key) for sign, key, _ in signs}
            p_points = sum(weights.get(sign, 0.0) for sign, _ in distinct)
            paragraph_scores.append(round(1 - math.exp(-p_points / rules.scale), 3))
            paragraph_evidence.append(list(dict.fromkeys(text for _, _, text in signs)))
        level = "clean"
        for name, bound in sorted(rules.levels.items(), key=lambda item: item[1]):
            if score >= bound:
                level = name
        return RewriteResult(score, score >= rules.threshold, evidence, level, paragraph_scores, paragraph_evidence)

    def score(self, paragraphs: list[str], name_variants: Mapping[str, str] | None = None) -> RewriteResult:
        """The rewrite score of one article (its body paragraphs, in order)."""
        return self.result(self.signs(paragraphs), name_variants)


def rewrite_score(
    paragraphs: list[str], name_variants: Mapping[str, str] | None = None, rules: Rules | None = None
) -> RewriteResult:
    """Score one article's body paragraphs with the default rules (rewrites.yml)."""
    return RewriteScorer(rules).score(paragraphs, name_variants)
