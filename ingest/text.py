"""Small text utilities shared by the stages: white space and sentences."""

from __future__ import annotations

import re
import unicodedata

import yaml

# The archive's full-text indexes split text into words this way (lower case, porter stems);
# whatever reads their words, or builds a table to match as they do, says the same.
FTS_TOKENIZER = "porter"
SPACES = re.compile(r"\s+")
SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’')\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
# Words that end with a full stop without ending a sentence.
ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "gen", "sen", "rep", "gov", "lt", "col", "maj", "capt",
    "sgt", "jr", "sr", "no", "corp", "inc", "co", "ltd", "vs", "prof", "messrs", "mt", "ft",
    "u.s", "u.k", "u.n", "e.u", "jan", "feb", "aug", "sept", "oct", "nov", "dec",
}


def clean(text: str) -> str:
    """Text as stored for search: NFC-normalised, every kind of white space (non-breaking
    spaces included) collapsed to one space; quotes and dashes stay as written."""
    # str.split() splits on exactly the characters regex \s matches (str.isspace), 4x faster than SPACES.sub
    return " ".join(unicodedata.normalize("NFC", text).split())


def sentences(text: str) -> list[str]:
    """Split prose into sentences, without breaking after initials ("Vladimir V. Putin") or titles ("Mr.")."""
    parts, start = [], 0
    for match in SENTENCE_END.finditer(text):
        before = text[start : match.start()].rstrip("\"”’')]")
        last_word = before.rsplit(None, 1)[-1] if before.split() else ""
        stem = last_word.rstrip(".").lstrip("(\"“‘").lower()
        if len(stem) == 1 or stem in ABBREVIATIONS:
            continue
        parts.append(text[start : match.start()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


# How many paragraphs each per-process memo of a paragraph's analysis remembers (its meetings, its
# mentions, its topics, its print, its rewrite signs). A story's copies come close together, so a
# short memory catches the repeats: over 2,500 files of the 1M benchmark corpus, as a worker sees
# them, 4,000 were as fast as 20,000 (1.072 against 1.064 ms a paragraph) and the worker 45 MB
# smaller (96 against 141 MB).
PARAGRAPH_MEMO = 4_000


class BoundedCache(dict):
    """A dict that forgets its oldest entries beyond `limit`, for per-process memos of pure
    functions of a text: news copy repeats (wire stories, boilerplate), so a paragraph seen
    before is looked up instead of analysed again, while memory stays bounded however many
    articles a build reads."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def put(self, key, value):
        if len(self) >= self.limit:
            # drop the oldest eighth at once: cheaper than one at a time, and still bounded
            for old in list(self.keys())[: max(1, self.limit // 8)]:
                del self[old]
        self[key] = value
        return value


# libyaml's parser where PyYAML has it (the same safe constructors build the same data, 10x faster:
# the rule files took a quarter of a second to parse at the start of every build).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str):
    """yaml.safe_load(text), with the C parser when available."""
    return yaml.load(text, Loader=_YAML_LOADER)
