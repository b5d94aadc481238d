"""Segment an article: give every non-blank line of its text exactly one kind.

The kinds are ``title``, ``paragraph``, ``caption``, ``credit``, ``subhead`` and
``boilerplate``. Phrases that are knowledge (newsletter prompts, comment forms,
photo agencies, reporting credits) live in ``boilerplate.yml``; everything else
is a heuristic about how articles are laid out: where a line stands, how long it
is, whether it reads as a sentence, and whether it repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path


from .text import BoundedCache, clean, load_yaml, sentences

KINDS = ("title", "paragraph", "caption", "credit", "subhead", "boilerplate")
RULES_PATH = Path(__file__).with_name("boilerplate.yml")

# Lines longer than this are article text whatever phrase they contain.
MAX_PATTERN_WORDS = 40
# A line this short that is not a sentence is a label: a subhead, a menu item, a button.
MAX_LABEL_WORDS = 10
# Captions repeat within a few lines of each other (photo, enlarged photo, credit).
CAPTION_REPEAT_WINDOW = 8
# Share of a trailing block that must look like site chrome for all of it to be chrome.
CHROME_SHARE = 0.6

SMALL_WORDS = {
    "a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "of",
    "on", "or", "over", "the", "to", "up", "with", "vs", "via", "after", "amid",
}
DATELINE = re.compile(
    r"^[A-Z][A-Z.'’ -]{2,40}(?:,? [A-Z][A-Za-z.]+)?(?: and [A-Z][A-Z.'’ -]{2,40})?"
    r"(?: \([^)]{1,40}\))?\s*[—–-]+\s*"
)
CAPTION_MARKERS = re.compile(
    r"\((?:left|right|centre|center|l|r|c|front|back|top|bottom)\)"
    r"|\b(?:pictured|in this (?:photo|picture|image)|file photo|seen here)\b",
    re.IGNORECASE,
)
# Every match of CAPTION_MARKERS without a bracket holds one of these.
CAPTION_MARKER_WORDS = ("pictured", "in this", "file photo", "seen here")
LEADING_PHRASE = re.compile(
    r"^(with|after|as|amid|despite|while|following|during|although|though|having|"
    r"in|on|for|by|since|before|when|once|facing)\b",
    re.IGNORECASE,
)
MAX_TITLE_WORDS = 20
CLOSERS = "\"”’')]» "


@dataclass
class Line:
    """One non-blank line of the source: where it stood, what it said, what it is."""

    line_no: int
    raw: str
    text: str
    kind: str = ""
    rule: str = ""  # the boilerplate.yml concept that decided the kind, if a pattern did

    @cached_property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class Segmented:
    """An article's lines with their kinds, and the title it is shown under."""

    lines: list[Line]
    title: str
    title_derived: bool

    def of_kind(self, kind: str) -> list[Line]:
        return [line for line in self.lines if line.kind == kind]

    @property
    def paragraphs(self) -> list[Line]:
        return self.of_kind("paragraph")


def split_lines(text: str) -> list[Line]:
    """The non-blank lines of a text, numbered as in the source (1-based)."""
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        cleaned = clean(raw)
        if cleaned:
            lines.append(Line(number, raw, cleaned))
    return lines


@dataclass(frozen=True)
class Rules:
    """The compiled patterns of boilerplate.yml: which kind a phrase marks, and why."""

    patterns: tuple[tuple[str, str, re.Pattern], ...]

    def __post_init__(self):
        # Lines recur (site chrome, captions, the paragraphs of copied stories): remember answers.
        object.__setattr__(self, "_answers", BoundedCache(20_000))

    def match(self, text: str) -> tuple[str, str] | None:
        """The (kind, concept) of the first pattern that matches a short line, if any."""
        try:
            return self._answers[text]
        except KeyError:
            return self._answers.put(text, self._match(text))

    def _match(self, text: str) -> tuple[str, str] | None:
        if len(text.split()) > MAX_PATTERN_WORDS:
            return None
        for kind, concept, pattern in self.patterns:
            if pattern.search(text):
                return kind, concept
        return None


@lru_cache(maxsize=8)
def load_rules(path: Path = RULES_PATH) -> Rules:
    """Read and compile the boilerplate and credit patterns (credits first: they are narrower)."""
    data = load_yaml(Path(path).read_text(encoding="utf-8"))
    patterns = []
    for kind in ("credit", "boilerplate"):
        for concept, regexes in (data.get(kind) or {}).items():
            for regex in regexes:
                patterns.append((kind, concept, re.compile(regex, re.IGNORECASE)))
    return Rules(tuple(patterns))


def is_sentence(text: str) -> bool:
    """Whether a line ends as prose does: with a full stop, a question, or a colon introducing more."""
    stripped = text.rstrip(CLOSERS)
    return bool(stripped) and stripped[-1] in ".!?…:;"


def is_label(line: Line) -> bool:
    """A short line that is not a sentence: a heading, a menu item, a button."""
    return line.words <= MAX_LABEL_WORDS and not is_sentence(line.text)


def looks_like_headline(line: Line) -> bool:
    """Whether the first line of an article reads as its headline rather than its first paragraph."""
    if line.words > 25 or DATELINE.match(line.text):
        return False
    if not is_sentence(line.text):
        return True
    # A headline that ends with a full stop is still in headline case: every content word capitalised.
    words = [w for w in re.findall(r"[A-Za-z][\w’'-]*", line.text) if w.lower() not in SMALL_WORDS]
    return len(words) >= 3 and all(w[0].isupper() for w in words)


def similar(a: str, b: str) -> bool:
    """Whether two lines are the same text or a lightly edited copy of it (most words shared)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 0.25 * max(len(a), len(b)):
        return False
    words_a, words_b = set(a.lower().split()), set(b.lower().split())
    return len(words_a & words_b) >= 0.8 * len(words_a | words_b)


def segment(text: str, rules: Rules | None = None, hints: list[str | None] | None = None) -> Segmented:
    """Split an article's text into lines and classify each one.

    ``hints`` gives, for each non-blank line, the kind its markup suggests (an
    HTML page's <h1>, <p>, <figcaption>…), or None; a boilerplate or credit
    phrase still wins over a hint, since pages wrap newsletter prompts in <p> too.
    """
    rules = rules or load_rules()
    lines = split_lines(text)
    for i, line in enumerate(lines):
        hit = rules.match(line.text)
        if hit:
            line.kind, line.rule = hit
        elif hints and i < len(hints) and hints[i] in KINDS:
            line.kind, line.rule = hints[i], "markup"

    mark_trailing_chrome(lines)
    mark_sandwiched_chrome(lines)
    mark_captions(lines)
    title_index = mark_title(lines)
    mark_body(lines)

    if title_index is not None:
        title, derived = lines[title_index].text, False
    else:
        title, derived = derive_title(lines), True
    return Segmented(lines, title, derived)


def mark_trailing_chrome(lines: list[Line]) -> None:
    """Mark the block of site chrome after the article (ads, appeals, menus) as boilerplate.

    The block starts at the earliest boilerplate phrase after which most lines are
    boilerplate or menu labels, and any prose in it stands between chrome on both sides
    (a donation appeal among menu items), never at its end; labels just before it
    (a section name) belong to it too.
    """
    prose = [not l.kind and not is_label(l) for l in lines]
    # A label is chrome unless it stands between two pieces of prose, where it is a subhead.
    chrome = [
        l.kind in ("boilerplate", "credit")
        or (not l.kind and is_label(l) and not (0 < i < len(lines) - 1 and prose[i - 1] and prose[i + 1]))
        for i, l in enumerate(lines)
    ]
    for start, line in enumerate(lines):
        if line.kind != "boilerplate":
            continue
        block = chrome[start:]
        if sum(block) / len(block) < CHROME_SHARE or not block[-1]:
            continue
        if any(not block[k] and not (block[k - 1] and block[k + 1]) for k in range(1, len(block) - 1)):
            continue
        while start > 0 and not lines[start - 1].kind and is_label(lines[start - 1]):
            start -= 1
        for l in lines[start:]:
            if l.kind != "credit":
                l.kind = "boilerplate"
        return


def mark_sandwiched_chrome(lines: list[Line]) -> None:
    """A short line between two boilerplate lines is part of the same widget."""
    for i in range(1, len(lines) - 1):
        line = lines[i]
        if (
            not line.kind
            and line.words <= 12
            and lines[i - 1].kind == "boilerplate"
            and lines[i + 1].kind == "boilerplate"
        ):
            line.kind = "boilerplate"


def mark_captions(lines: list[Line]) -> None:
    """Mark photo captions: lines followed by a photo credit, repeated, or naming who stands where."""
    first_body = next(
        (i for i, l in enumerate(lines) if not l.kind and l.words > 12 and DATELINE.match(l.text)),
        None,
    )
    sizes = [len(l.text) for l in lines]
    word_sets: dict[int, set[str]] = {}  # each line's words, made once, for `similar`

    def words_of(k: int) -> set[str]:
        found = word_sets.get(k)
        if found is None:
            found = word_sets[k] = set(lines[k].text.lower().split())
        return found

    for i, line in enumerate(lines):
        if line.kind or line.words > 60:
            continue
        if credit_follows(lines, i) or has_caption_marker(line.text):
            line.kind = "caption"
            continue
        # Repeats are captions when they stand in the lead, before the article's text begins,
        # or beside a credit; a paragraph repeated deep in the body is a paste error, not a photo.
        in_lead = first_body is None or i < first_body
        text, size = line.text, sizes[i]
        for j in range(max(0, i - CAPTION_REPEAT_WINDOW), min(len(lines), i + CAPTION_REPEAT_WINDOW + 1)):
            if j == i or lines[j].kind not in ("", "caption"):
                continue
            # similar(text, lines[j].text), with the cheap length test first and each line's words made once
            other = sizes[j]
            if text != lines[j].text:
                if abs(size - other) > 0.25 * max(size, other):
                    continue
                words_a, words_b = words_of(i), words_of(j)
                # |a & b| >= 0.8 |a | b|, with |a | b| = |a| + |b| - |a & b|; the shared words can be no
                # more than the smaller set, so sets of sizes far apart fail without being intersected.
                fewer, more = sorted((len(words_a), len(words_b)))
                if fewer < 0.8 * more:
                    continue
                shared = len(words_a & words_b)
                if shared < 0.8 * (fewer + more - shared):
                    continue
            if in_lead or credit_follows(lines, j):
                line.kind = "caption"
                break


def has_caption_marker(text: str) -> bool:
    """CAPTION_MARKERS.search(text), skipped when none of the marker words can be in the text
    (the search costs ~20 us a line; ignoring case reaches beyond ASCII, so only ASCII text is skipped)."""
    if text.isascii() and "(" not in text:
        lower = text.lower()
        if not any(word in lower for word in CAPTION_MARKER_WORDS):
            return False
    return bool(CAPTION_MARKERS.search(text))


def credit_follows(lines: list[Line], i: int) -> bool:
    """Whether a photo credit comes right after line i, allowing for caption-widget labels between."""
    for j in range(i + 1, min(len(lines), i + 4)):
        if lines[j].kind == "credit":
            return lines[j].rule == "photo"
        if lines[j].kind != "boilerplate":
            return False
    return False


def mark_title(lines: list[Line]) -> int | None:
    """Mark the headline, if the first line of article text is one; return its index."""
    for i, line in enumerate(lines):
        if line.kind == "title":
            return i
        if line.kind:
            continue
        if looks_like_headline(line):
            line.kind = "title"
            return i
        return None
    return None


def mark_body(lines: list[Line]) -> None:
    """Everything left is a paragraph, a subhead between paragraphs, or a stray label."""
    prose = [not l.kind and not is_label(l) for l in lines]
    for i, line in enumerate(lines):
        if line.kind:
            continue
        if prose[i]:
            line.kind = "paragraph"
            continue
        heads_prose = i + 1 < len(lines) and prose[i + 1]
        line.kind = "subhead" if heads_prose and any(prose[:i]) else "boilerplate"


def derive_title(lines: list[Line]) -> str:
    """A readable title from the lead paragraph, for articles copied without their headline.

    Takes the lead's first sentence without its dateline and without an opening
    subordinate phrase ("With his army advancing, Putin arrived…" → "Putin arrived…"),
    up to its first clause break.
    """
    lead = next((l.text for l in lines if l.kind == "paragraph"), None)
    if lead is None:
        lead = next((l.text for l in lines if l.kind in ("caption", "subhead")), "Untitled article")
    lead = DATELINE.sub("", lead, count=1)
    sentence = sentences(lead)[0].rstrip(". ")
    if LEADING_PHRASE.match(sentence):
        main_clause = re.search(r",\s+(?=[A-Z])", sentence)
        if main_clause:
            sentence = sentence[main_clause.end():]
    words = sentence.split()
    for k, word in enumerate(words[:MAX_TITLE_WORDS], start=1):
        if k >= 6 and (word[-1] in ",;:" or word in ("—", "–")):
            return " ".join(words[:k]).rstrip(",;:—– ")
    if len(words) <= MAX_TITLE_WORDS:
        return sentence
    return " ".join(words[:14]).rstrip(",;:—– ") + "…"
