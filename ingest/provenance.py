"""Provenance: where an article was published.

Two sources. A ``sources.yml`` beside the articles, in which the user says where each
file came from (its URL, outlet, publication date and author). And, where it says
nothing, the article's own text: the site chrome, credits and reporters' lines that
name the outlet that published it. Outlets and the names they go by are data, in
``outlets.yml``.

Not every mention of an outlet is evidence of provenance. An outlet quoted as a
source ("according to Russian state media", "Bloomberg Businessweek reports:",
"Putin told the ITAR-Tass news agency") is usually someone else's; what names the
publisher is what only the publisher prints: its copyright notice, its subscription
prompts and appeals, its mastheads and bylines, its wire datelines, and the lines in
which its own reporters interview someone ("Blinken told NPR").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import yaml

SOURCES_FILE = "sources.yml"
SOURCE_FIELDS = ("url", "outlet", "published", "author")
OUTLETS_PATH = Path(__file__).with_name("outlets.yml")
HTTP_URL = re.compile(r"^https?://[^\s<>\"'`]+$", re.I)
SPACES = re.compile(r"\s+")


# --- sources.yml ------------------------------------------------------------------------------


class UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice, which would otherwise silently win."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: construct_mapping reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is listed twice", key_node.start_mark
                )
        return super().construct_mapping(node, deep)


# Dates stay text until as_date reads them, so that an impossible one ("2024-02-30") is
# reported against its entry rather than as a YAML crash.
UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_sources(folder: Path) -> dict[str, dict]:
    """The provenance a folder's optional sources.yml gives, by file name (relative to the folder).

    Each entry maps a file name to any of ``url`` (a web address), ``outlet``,
    ``author`` and ``published`` (a date, given as 2024-05-16). A folder without the
    file gives {}; a malformed file raises ValueError naming the file and the problem.
    """
    path = Path(folder) / SOURCES_FILE
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start} cannot be decoded)") from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {yaml_problem(error)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: expected file names, each with its url, outlet, published and author; found {type_name(data)}"
        )
    sources: dict[str, dict] = {}
    for name, entry in data.items():
        if name is None or isinstance(name, (list, dict)) or not str(name).strip():
            raise ValueError(f"{path}: an entry has no file name")
        name = str(name).strip().replace("\\", "/").removeprefix("./")
        sources[name] = source_entry(path, name, entry)
    return sources


def source_entry(path: Path, name: str, entry) -> dict:
    """One file's provenance, checked field by field."""
    where = f"{path}: {name}"
    if not isinstance(entry, dict) or not entry:
        raise ValueError(f"{where}: expected some of {', '.join(SOURCE_FIELDS)}; found {type_name(entry)}")
    fields: dict = {}
    for key, value in entry.items():
        if key not in SOURCE_FIELDS:
            raise ValueError(f"{where}: unknown field {key!r} (the fields are {', '.join(SOURCE_FIELDS)})")
        if value is None:
            continue
        if key == "published":
            fields[key] = as_date(value, where)
            continue
        if not isinstance(value, str):
            raise ValueError(f"{where}: {key} must be text, not {type_name(value)}")
        value = SPACES.sub(" ", value).strip()
        if key == "url" and not HTTP_URL.match(value):
            raise ValueError(f"{where}: url must be a web address starting with http:// or https://, not {value!r}")
        if value:
            fields[key] = value
    return fields


def as_date(value, where: str) -> date:
    """A publication date from YAML: a date, a timestamp, or ISO text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        for parse in (date.fromisoformat, lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")).date()):
            try:
                return parse(text)
            except ValueError:
                pass
    raise ValueError(f"{where}: published must be a date such as 2024-05-16, not {value!r}")


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and on which line."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} (line {mark.line + 1})" if mark is not None else problem


def type_name(value) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(
        type(value), f"a {type(value).__name__}"
    )


# --- outlet detection ------------------------------------------------------------------------

# Rules, strongest first. Each names a concept; {name} stands for any known outlet name and
# {named} for a known name or, in a copyright notice only, any capitalised name.
YEAR = r"(?:19|20)\d\d(?:\s*[-–]\s*(?:19|20)?\d\d)?"
SIGN = r"(?:©|\((?i:c)\))"
RULES = (
    # The site's own legal line: "© 2023 Name", "Copyright 2024 Name", "Name © 2023", "Name. All rights reserved".
    # The word "copyright" counts only beside the sign or a year, so that a headline about copyright law does not.
    (3, "copyright notice", rf"(?:{SIGN}|\b(?i:copyright)\b\s*{SIGN}?(?=\s*{YEAR}))\s*(?:{SIGN}\s*)?(?:{YEAR}\s*,?\s*)?(?:(?i:by)\s+)?(?P<name>{{named}})"),
    (3, "copyright notice", rf"(?P<name>{{named}})\s*{SIGN}\s*{YEAR}"),
    (3, "copyright notice", r"(?P<name>{named})[.,]?\s+(?i:all\s+rights?\s+reserved?s?)"),
    # Prompts that only the publisher shows its readers.
    (3, "subscribe prompt", r"(?i:subscribe(?:\s+now)?\s+(?:to|for)|sign\s+up\s+(?:to|for)|follow)\s+(?:(?i:the)\s+)?(?P<name>{name})\b"),
    (3, "subscribe prompt", r"(?P<name>{name})(?:['’]s)?\s+(?i:newsletters?|subscriptions?|premium|membership|alerts)\b"),
    (3, "support appeal", r"^\W*(?i:support|donate\s+to|contribute\s+to|become\s+a\s+member\s+of|join)\s+(?:(?i:the)\s+)?(?P<name>{name})\b"),
    # The publisher describing itself to its readers, in the first person.
    (3, "self-description", r"^\W*(?P<name>{name})\s+(?i:is|has\s+been)\s+(?i:an?|the)\s+[^.]{{0,60}}?(?i:media|news|newspaper|publication|outlet|site|website|organi[sz]ation|broadcaster|agency|magazine)\b(?=.*\b(?i:we|our|us)\b)"),
    # A wire service's dateline: "MOSCOW (Reuters) -", "BEIJING, May 16 (AP) —".
    (3, "wire dateline", r"^\W*(?:[A-Z][A-Za-z .’'-]{{1,40}}(?:,[^()]{{1,30}})?\s*)?\((?P<name>{name})\)\s*[-—–]"),
    # Bylines and reporting credits that give the reporter's employer.
    (2, "site name in credit", r"^\W*(?i:by)\s+[A-Z][^|,;/]{{1,60}}?\s*(?:,|\||—|–|\s-|\s(?i:for))\s*(?:(?i:the)\s+)?(?P<name>{name})\W*$"),
    (2, "site name in credit", r"(?P<name>{name})['’]s\s+(?:[A-Z][\w.'’-]+\s+){{1,3}}(?i:reported|contributed|contributes)\b"),
    (2, "site name in credit", r"(?P<name>{name})\s+(?i:writers?|reporters?|correspondents?|staff|journalists?)\b.{{0,80}}?\b(?i:contributed)\b"),
    # The outlet's own reporters interviewing someone: "he told NPR". An outlet introduced to the
    # reader ("told the ITAR-Tass news agency") is someone else's, so it does not count.
    (2, "reporter's line", r"\b(?P<verb>told|(?i:in\s+an\s+interview\s+with)|(?i:speaking\s+to))\s+(?:(?i:the)\s+)?(?P<name>{name})\b(?!['’]s)(?!\s+(?i:news\s+agency|agency|newspaper|daily|magazine|television|tv|radio|broadcaster|channel|network|website|news\s+site|in\s+an?\s+interview\s+(?:published|broadcast|aired)))"),
)
# Words a masthead or menu puts beside the site's name ("CDT EBOOKS", "NPR Podcasts").
CHROME_WORDS = {
    "home", "news", "ebook", "ebooks", "app", "apps", "podcast", "podcasts", "newsletter", "newsletters",
    "video", "videos", "live", "radio", "tv", "plus", "premium", "shop", "store", "about", "contact", "menu",
    "sections", "search", "more", "from", "on", "follow", "join", "donate", "support", "subscribe", "digital",
    "edition", "international", "english", "the", "us", "login", "log", "in", "sign", "up", "account",
    "archive", "archives", "|", "-", "–", "—", "»", "•", "·",
}
MAX_LABEL_WORDS = 6
# Cheap first looks at a line (plain substring tests), before any rule runs on it.
LEGAL_SIGNS = ("©", "(c)", "(C)", "opyright", "OPYRIGHT", "eserve", "ESERVE")
REPORTER_VERBS = ("told ", "nterview with ", "peaking to ")
# Chrome lines are short; a long line that mentions an outlet is prose about it.
MAX_CHROME_LINE_WORDS = 30
# What a copyright notice names after the year is a name only until the sentence or the legal phrase goes on.
NEW_NAME = r"[A-Z][\w&’'.-]*(?:[ \t]+(?:[A-Z][\w&’'.-]*|of|the|and|&)){0,5}"
NOT_NAME_WORDS = {"all", "rights", "right", "reserved", "photo", "photos", "image", "images", "video", "text", "content", "this", "the"}
INITIALISM = re.compile(r"(?:[A-Z]\.)+")
MAX_NEW_NAME_WORDS = 5


@dataclass(frozen=True)
class Outlets:
    """The known outlets, compiled: every written form of a name, and the rules that find them."""

    canonical: dict[str, str]  # written form → outlet name
    agencies: frozenset[str]
    not_outlets: frozenset[str]  # casefolded
    names: re.Pattern
    rules: tuple[tuple[int, int, str, re.Pattern], ...]  # (strength, order, concept, pattern)

    def outlet(self, written: str) -> str | None:
        """The outlet a name written in the text stands for; an unknown name stands for itself."""
        known = self.canonical.get(written) or self.canonical.get(written.upper())
        if known:
            return known
        name = clean_new_name(written)
        if not name or name.casefold() in self.not_outlets:
            return None
        return self.canonical.get(name, name)


@lru_cache(maxsize=4)
def load_outlets(path: Path = OUTLETS_PATH) -> Outlets:
    """Read outlets.yml and compile the detection rules once per process."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    canonical: dict[str, str] = {}
    agencies = set()
    for outlet, entry in (data.get("outlets") or {}).items():
        entry = entry or {}
        for written in [outlet, *(entry.get("aliases") or [])]:
            # As written, and in capitals for mastheads and menus ("SUPPORT CDT").
            canonical.setdefault(written, outlet)
            canonical.setdefault(written.upper(), outlet)
        if entry.get("agency"):
            agencies.add(outlet)
    name = rf"\b{trie_regex(canonical)}(?![\w&])"
    named = rf"{name}|{NEW_NAME}"
    rules = tuple(
        (strength, order, concept, re.compile(rx.format(name=name, named=named)))
        for order, (strength, concept, rx) in enumerate(RULES)
    )
    return Outlets(
        canonical=canonical,
        agencies=frozenset(agencies),
        not_outlets=frozenset(n.casefold() for n in data.get("not_outlets") or []),
        names=re.compile(name),
        rules=rules,
    )


def trie_regex(words) -> str:
    """One regular expression matching any of the words, the longest first, built as a trie
    so that a scan tries one branch per character instead of every name in turn."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        if "" in node:  # a word ends here, and longer ones go on: prefer the longer
            return "(?:" + "|".join(branches) + ")?"
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return "(?:" + build(trie) + ")"


def clean_new_name(text: str) -> str | None:
    """The name in an unknown outlet's copyright line, cut where the sentence or legal phrase goes on."""
    words = []
    for word in text.split()[:MAX_NEW_NAME_WORDS]:
        if word.strip(".,").lower() in NOT_NAME_WORDS and words:
            break
        if word.endswith(".") and not INITIALISM.fullmatch(word):
            words.append(word.rstrip("."))
            break
        words.append(word)
    while words and words[-1].lower() in {"of", "the", "and", "&"}:
        words.pop()
    name = " ".join(words).strip(" .,-")
    if not name or name.lower() in NOT_NAME_WORDS:
        return None
    return name


@dataclass(frozen=True)
class Evidence:
    """One line that names an outlet, how strongly, and by which rule."""

    strength: int
    order: int
    line: int
    outlet: str
    how: str


def detect_outlet(lines: list[str], outlets: Outlets | None = None) -> tuple[str | None, str | None]:
    """The outlet an article's own text says published it, and how that was detected.

    Returns (outlet, how), e.g. ("China Digital Times", "subscribe prompt") or
    ("NPR", "told NPR in a reporter's line"); (None, None) when the text names no
    publisher. The strongest kind of evidence decides; among outlets with evidence
    of that strength, the one named most often, then the one named last (site chrome
    follows the article).
    """
    outlets = outlets or load_outlets()
    found: list[Evidence] = []
    for number, raw in enumerate(lines):
        words = raw.split()
        if not words:
            continue
        line = " ".join(words)
        if len(words) > MAX_CHROME_LINE_WORDS:
            # A paragraph of prose: only a reporter's line can name the publisher in it.
            if any(verb in line for verb in REPORTER_VERBS):
                found.extend(line_evidence(line, number, outlets))
        elif any(sign in line for sign in LEGAL_SIGNS) or outlets.names.search(line):
            found.extend(line_evidence(line, number, outlets))
    if not found:
        return None, None
    strongest = max(e.strength for e in found)
    top = [e for e in found if e.strength == strongest]
    counts: dict[str, int] = {}
    for e in top:
        counts[e.outlet] = counts.get(e.outlet, 0) + 1
    winner = max(counts, key=lambda o: (counts[o], max(e.line for e in top if e.outlet == o)))
    return winner, min((e for e in top if e.outlet == winner), key=lambda e: e.order).how


def line_evidence(line: str, number: int, outlets: Outlets) -> list[Evidence]:
    """The outlets one line names as its publisher, by every rule that applies."""
    evidence = []
    prose = len(line.split()) > MAX_CHROME_LINE_WORDS
    for strength, order, concept, pattern in outlets.rules:
        if prose and concept != "reporter's line":
            continue
        for match in pattern.finditer(line):
            outlet = outlets.outlet(match.group("name"))
            if not outlet:
                continue
            how = concept
            if concept == "reporter's line":
                how = f"{match.group('verb')} {match.group('name')} in a reporter's line"
            evidence.append(Evidence(strength, order, number, outlet, how))
    label = masthead(line, number, outlets)
    if label:
        evidence.append(label)
    return evidence


def masthead(line: str, number: int, outlets: Outlets) -> Evidence | None:
    """A short label that is the site's name, alone or with menu words ("CDT EBOOKS", "NPR Podcasts").

    A wire or photo agency's name alone is usually a photo credit, so it does not count.
    """
    if len(line.split()) > MAX_LABEL_WORDS or line.rstrip()[-1:] in ".!?:;":
        return None
    match = outlets.names.search(line)
    if not match:
        return None
    rest = (line[: match.start()] + " " + line[match.end():]).lower().split()
    if any(word not in CHROME_WORDS for word in rest):
        return None
    outlet = outlets.canonical[match.group(0)]
    if not rest:
        if outlet in outlets.agencies:
            return None
        return Evidence(2, len(RULES), number, outlet, "site name in chrome")
    return Evidence(3, len(RULES), number, outlet, "site name in chrome")
