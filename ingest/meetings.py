"""Decide which Xi–Putin meeting an article covers, and which other meetings its paragraphs recall.

Coverage rarely prints the year. The tagger collects evidence from the text and lets every
piece vote for the catalogue meetings it fits:

- the catalogue's own cues ("Samarkand", "pancakes and vodka", "Friendship Medal"), the cities
  named in datelines ("MOSCOW —") or as places, and the summits a meeting was part of;
- general knowledge in meeting_evidence.yml: the leaders' terms ("fifth term" is 2024),
  anniversaries ("75th anniversary" of relations set up in 1949), how many times the two had met
  by a date ("the 40th meeting"), events that date a story (the ICC warrant, the Kharkiv
  offensive, "the war unleashed last year"), who held which office (Secretary Blinken), "the
  first meeting since the invasion", dates with weekdays ("Thursday, May 16"), printed years
  (weak: they often date other events), and the publication date when the source gives one.

Each piece of evidence counts once per article (its best occurrence), more in the headline and
lead, less in a sentence that recalls the past ("on his last trip to Moscow in 2019"). A meeting's
score is the sum; the best meeting wins only when it is clear of the runner-up, otherwise the
article stays unassigned. A paragraph "mentions" another meeting when it names a place, occasion
or cue of it together with a time that picks it out (a year, "last year", "10 years ago",
"shortly before the invasion") or a recall ("when they last met in Kazan").

Speed: every pattern is compiled once. Each paragraph is split into words once; a pattern is
tried only where a word it starts with occurs (the words are read from the patterns
themselves), so most of the hundreds of cues cost nothing on a given paragraph.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from re import _constants as sre_constants  # read the words a pattern starts with
from re import _parser as sre_parser


from .text import ABBREVIATIONS, PARAGRAPH_MEMO, BoundedCache, load_yaml

HERE = Path(__file__).parent
DEFAULT_CATALOGUE = HERE / "meetings.yml"
EVIDENCE_FILE = "meeting_evidence.yml"

# An article gets a meeting only with this much evidence, this far ahead of the runner-up.
MIN_SCORE = 3.0
MIN_MARGIN = 1.5
# The empty set of weekdays or years that most analyses share (see MeetingTagger._analyse).
NOTHING: frozenset = frozenset()
# Where the evidence is: the headline and the first paragraphs say what the story is about.
ROLE_FACTOR = {"title": 1.3, "lead": 1.1, "body": 1.0, "extra": 0.7}
LEAD_PARAGRAPHS = 3
# Evidence that names a meeting counts for less in a sentence that recalls the past.
RECALL_FACTOR = 0.3
RECALLABLE_KINDS = {"cue", "summit", "city", "date", "anniversary"}

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
NUMBER_WORDS = {
    "a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18,
    "a decade": 10, "half a": 0.5, "a half": 0.5,
}
ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "fifteenth": 15,
    "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60,
    "seventieth": 70, "eightieth": 80, "ninetieth": 90, "hundredth": 100,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}

ORDINAL = (
    r"(?:\d{1,3}(?:st|nd|rd|th)|(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-)?"
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|fifteenth|"
    r"twentieth|thirtieth|fortieth|fiftieth|sixtieth|seventieth|eightieth|ninetieth|hundredth))"
)
MONTH = (
    r"(?:Jan(?:uary|\.)?|Feb(?:ruary|\.)?|March|Mar\.|April|Apr\.|May|June|Jun\.|July|Jul\.|"
    r"Aug(?:ust|\.)?|Sept(?:ember|\.)?|Sep\.|Oct(?:ober|\.)?|Nov(?:ember|\.)?|Dec(?:ember|\.)?)"
)
# How long after a term began: "less than two weeks after starting a new term".
TERM_GAP = re.compile(
    r"\b(?P<q>less than |under |just |only |barely |nearly |about |some |more than )?(?P<n>a|one|two|three|four|five|six|\d+)"
    r" (?P<unit>days?|weeks?|months?) (?:after|since|into)\b",
    re.I,
)
UNIT_DAYS = {"day": 1, "week": 7, "month": 30.4}
FIRST_TRIP = re.compile(r"\bfirst (?:\w+ ){0,2}(?:trip|visit|journey|tour|foray|destination|stop)", re.I)
WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"

WORD = re.compile(r"\w+")
SENTENCE_END = re.compile(r"[.!?…][\"”’')\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
# Dates are found from their month: "May 16", "Thursday, May 16, 2024", "16 May".
DATE = re.compile(
    rf"(?P<mon>{MONTH})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?![\d:])(?:,?\s+(?P<year>(?:19|20)\d\d)\b)?"
)
DATE_DAY_FIRST = re.compile(rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{MONTH})(?![\w])(?:,?\s+(?P<year>(?:19|20)\d\d)\b)?")
WEEKDAY_BEFORE = re.compile(rf"(?P<wd>{WEEKDAY}),?\s+(?:the\s+)?$")
# "the Oct. 7 attack", "the September 11 attacks": a date that names another event.
DATE_NAMES_EVENT = re.compile(r"\s*(?:attacks?|terror\w*|massacre|raid|strikes?|incursion|bombing|assault|shooting|uprising|protests?)\b", re.I)
WEEKDAY_NAME = re.compile(rf"{WEEKDAY}\b")
WEEKDAY_RELATIVE = re.compile(r"\b(?:last|next|previous|following|coming|this past)\s+$", re.I)
YEAR = re.compile(r"\b(?P<year>(?:19|20)\d\d)\b(?!\s*(?:%|per ?cent))")
YEAR_PAST_CONTEXT = re.compile(
    rf"(?:\b(?:in|since|from|of|during|after|back in|early|late|mid|until|through|by|before|ahead of|next|target|for)\b|{MONTH}|-)\s*$",
    re.I,
)
# "deliveries starting in 2018", "by 2024", "due in 2020": a plan, not the past.
YEAR_FUTURE_CONTEXT = re.compile(
    r"\b(?:until|till|through|by|before|ahead of|next|target|for|from|start\w*|begin\w*|due|expected|scheduled|planned"
    r"|set to \w+|will \w+|would \w+|to be \w+)(?: \w+)? (?:in )?$",
    re.I,
)
COPYRIGHT_YEAR = re.compile(r"(?:©|\(c\)|copyright)\s*(?P<year>20\d\d)", re.I)
# A sentence that recalls the past. Matched on the lowercased text (faster than ignoring case).
RECALL = re.compile(
    rf"\b(?:in|since|back in|during) (?:(?:early|late|mid)[- ])?(?:{MONTH.lower()} )?(?:19|20)\d\d\b"
    r"|\b(?:\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a) (?:years?|decades?) (?:ago|earlier|before)\b"
    r"|\blast (?:visit\w*|trip|met|meeting|time|summit|travel\w*|came|went|hosted|held)\b"
    r"|\bprevious(?:ly)?\b|\bback in\b|\bat the time\b|\bthen-|\bearlier (?:visit|trip|meeting|summit)s?\b"
    r"|\b(?:shortly|days|weeks|months|just) before (?:russia|moscow|the (?:war|invasion)|he (?:invaded|launched))\b"
    r"|\bon the eve of the (?:war|invasion)\b|\bin the run-up to the (?:war|invasion)\b"
    rf"|\b(?:since|last) {MONTH.lower()}\b|\bfirst time since\b"
)
# Words that may start a date or a weekday: a text without any skips those searches.
MONTH_KEYS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec")
WEEKDAY_KEYS = ("monda", "tuesd", "wedne", "thurs", "frida", "satur", "sunda")
# A year that places something in the past or names an occasion: "in 2015", "the 2022 Winter Olympics".
RECALL_YEAR = re.compile(rf"\b(?:in|during|back in|the) (?:(?:early|late|mid)[- ])?(?:{MONTH.lower()} )?((?:19|20)\d\d)\b")
# Every recall (RECALL) has one of these: a cheap test before the search.
RECALL_HINTS = ("20", "19", "ago", "earlier", "before", "last", "previous", "back", "the time", "then-", "eve of", "run-up", "since")
# Where a clause ends, for recalls: "Putin, who attended in 2017, told the second forum ...".
CLAUSE_MARKS = (",", ";", " — ", " – ", "(", ")")
# Where a sentence may name two meetings: "They met in Astana in July, and Putin went to Beijing in May".
CLAUSE_SPLIT = re.compile(
    r",? (?:and|while|but|whereas|after|before) (?=(?:in|at|to|then|later) |\w+ (?:\w+ )?(?:met|made|went|visited|travell?ed|hosted|attended|came))|; "
)
# A clause that goes on from the one before it: "They last met in October, when Putin attended ...".
CONTINUING_CLAUSE = re.compile(r"\s*(?:when|where|at which|during which|during that|on that|as)\b")
MEETING_WORDS = re.compile(
    r"\b(?:met|meet|meeting|meetings|visit\w*|trips?|summits?|talks|travel\w*|hosted|hosting|welcomed|declared|signed"
    r"|announced|attended|attending|went|came|held|agreed|unveiled|proclaimed|pledged|celebrat\w*|toasted|gave|presented"
    r"|awarded|handed|rode|watched|marched|sealed|struck|forged|stood|joined|hailed|described|called|chose|inked|shook)\b",
    re.I,
)
PLACE_BEFORE = re.compile(
    r"(?:\b(?:in|to|at|into|visit\w*|arriv\w* in|reached|landed in|trip to|held in|hosted in|summit in|talks in|"
    r"welcomed (?:\w+ ){0,3}(?:in|to))|\bflew (?:in)?to)\s+(?:the (?:\w+ )?(?:city|capital) of\s+)?$",
    re.I,
)
PLACE_AFTER = re.compile(r"(?:['’]s)? (?:summit|meeting|talks|gathering|forum|parade|visit|declaration)\b", re.I)
# A city named outside a place phrase counts this much of its weight.
BARE_CITY_FACTOR = 0.5
# A country as the place of a recalled visit: "Xi last visited Russia in 2019".
COUNTRY_PLACE = re.compile(r"\b(?:visit(?:ed|s|ing)?|trips? to|travell?(?:ed|ing)? to|went to|came to|journey to|state visit to|flew to) (Russia|China)\b")
TIME_HINT = re.compile(rf"\b(?:19|20)\d\d\b|\bago\b|\blast\b|\bprevious|\bearlier\b|\b{MONTH}")
COUNTRY_HINT = re.compile(r"visit|trip|travel|went to|came to|journey|flew to")
DATELINE = re.compile(
    r"^\s*(?P<place>[A-Z][A-Za-z.'’]*(?:[ -](?:[A-Z][A-Za-z.'’]*|and|&))*?)"
    r"(?:,\s*(?P<region>[A-Z][A-Za-z.]*(?:\s[A-Z][A-Za-z.]*)?))?"
    rf"(?:,?\s*(?P<mon>{MONTH})\s+(?P<day>\d{{1,2}})(?:,\s*(?P<year>(?:19|20)\d\d))?)?"
    r"\s*(?:\((?P<agency>[A-Za-z][\w .&/-]{1,30})\))?\s*(?:[—–]+|-{1,2}|:)\s*\S"
)
# Relative times that anchor a recalled meeting (for `mentions`).
ANCHOR_YEARS_AGO = re.compile(r"\b(?P<n>\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a decade) (?:(?P<unit>years?|decades?) )?(?:ago|earlier|before)\b", re.I)
ANCHOR_LAST_YEAR = re.compile(r"\b(?:last|final|past) (?:year|12 months)\b|\ba year (?:ago|earlier)\b|\bthe previous year\b", re.I)
# "last week", "a week after", "weeks after", "days before": how far back, in days.
ANCHOR_RECENT = re.compile(
    r"\b(?:(?P<week>last week|a week (?:ago|earlier|after|before)|the previous week)"
    r"|(?P<weeks>(?:two|2|three|3|several|a few|few) weeks (?:ago|earlier|after|before)|weeks (?:after|before|earlier))"
    r"|(?P<days>(?:a few |several |two |three |\d+ )?days (?:ago|earlier|after|before))"
    r"|(?P<month>earlier this month))\b",
    re.I,
)
RECENT_DAYS = {"week": 14, "weeks": 70, "days": 10, "month": 31}
# The words of a meeting itself, for a sentence that names no place: "Their last meeting was in October".
MEETING_CORE = re.compile(r"\b(?:met|meeting|meetings|summit|visit|visited|talks|hosted)\b", re.I)
ANCHOR_THIS_YEAR = re.compile(r"\b(?:earlier )?this year\b", re.I)
ANCHOR_LAST_MONTH = re.compile(r"\b(?:last|final|past) month\b|\ba month ago\b", re.I)
ANCHOR_MONTH = re.compile(rf"\b(?:in|last|since|on|of|during|early|late|mid-?)\s+(?P<mon>{MONTH})(?!\s+\d)(?:\s+(?P<year>(?:19|20)\d\d))?")
ANCHOR_MONTH_YEAR = re.compile(rf"(?P<mon>{MONTH})\s+(?P<year>(?:19|20)\d\d)\b")
ANCHOR_BEFORE_INVASION = re.compile(
    r"\b(?:shortly|days|weeks|just|three weeks|20 days|three days) before (?:Russia|Moscow|the (?:war|invasion)|he (?:invaded|launched|ordered)|Putin (?:invaded|launched|ordered))"
    r"|\bon the eve of the (?:war|invasion)|\bin the run-up to the (?:war|invasion)|\bbefore (?:Russia|Moscow) (?:invaded|launched)|\bdays before (?:Russia|Moscow|Putin) launched",
    re.I,
)
RECALL_MARKERS = re.compile(r"\b(?:last (?:met|visit\w*|trip|time|came|went|summit|meeting|hosted)|previous(?:ly)?|earlier (?:visit|trip|meeting|summit)|when (?:they|the two|Xi|Putin|he) (?:met|last|hosted|visited|travelled|traveled|attended)|at the time|back in|recall\w*|remember\w*|memor\w+)\b", re.I)

# The characters for which a pattern's match ignoring case can differ from the lowercased
# pattern's match on the lowercased text: İ, ı, ſ and the Kelvin sign (they fold to or from an
# ASCII letter, or lowercase to two characters). Every other character is safe for that.
FOLDS_ODDLY = re.compile("[\u0130\u0131\u017f\u212a]")


def _lowercase_twin(regex: re.Pattern) -> re.Pattern:
    """regex (re.I, ASCII letters only) lowercased and case-sensitive: the same matches on
    lowercased text, faster. Only for patterns with no uppercase escape (\\W, \\S, \\B...)."""
    assert regex.flags & re.I and regex.pattern.isascii() and not re.search(r"\\[A-Z]", regex.pattern)
    return re.compile(regex.pattern.lower())


def _found(regex: re.Pattern, twin: re.Pattern, text: str) -> bool:
    """Whether regex matches text, read through its lowercase twin where that gives the same answer."""
    if text.isascii() or not FOLDS_ODDLY.search(text):
        return twin.search(text.lower()) is not None
    return regex.search(text) is not None


def _may_name_a_country_visit(sentence: str) -> bool:
    """Whether COUNTRY_PLACE can match: the sentence names Russia or China (which the pattern
    needs, checked first: cheaper than a regex) and speaks of a visit or trip."""
    return ("Russia" in sentence or "China" in sentence) and COUNTRY_HINT.search(sentence) is not None


MEETING_WORDS_LOWER = _lowercase_twin(MEETING_WORDS)
MEETING_CORE_LOWER = _lowercase_twin(MEETING_CORE)
RECALL_MARKERS_LOWER = _lowercase_twin(RECALL_MARKERS)


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Cue:
    """One phrase-concept that identifies a meeting in coverage."""

    label: str
    pattern: str
    weight: float = 3.0
    unless: str | None = None
    recall: bool = True


@dataclass(frozen=True)
class Meeting:
    """One in-person meeting of the two leaders: its facts, and the cues that identify it."""

    id: str
    start: date
    end: date
    year: int
    cities: tuple[str, ...]
    host: str
    occasion: str
    cues: tuple[Cue, ...] = ()
    summits: tuple[str, ...] = ()
    also: tuple[str, ...] = ()

    @property
    def city(self) -> str:
        """The primary city."""
        return self.cities[0]

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.host.split(","))

    @property
    def label(self) -> str:
        """How the meeting reads in lists: "Beijing, May 2024: Putin's state visit"."""
        return f"{' and '.join(self.cities)}, {self.start.strftime('%B %Y')}: {self.occasion}"

    def days(self) -> range:
        """The meeting's days as ordinals, with the eve (arrivals are reported the day before)."""
        return range(self.start.toordinal() - 1, self.end.toordinal() + 1)


@dataclass
class Catalogue:
    """The meetings in date order, looked up by id, and the general evidence rules."""

    meetings: list[Meeting]
    by_id: dict[str, Meeting]
    rules: dict = field(default_factory=dict)
    path: Path | None = None


class CatalogueError(ValueError):
    """The catalogue cannot be used; the message says where and why."""


def _as_date(value, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CatalogueError(f"{where}: {value!r} is not an ISO date")


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load meetings.yml (and meeting_evidence.yml beside it), checking facts and compiling nothing yet."""
    path = Path(path) if path else DEFAULT_CATALOGUE
    data = load_yaml(path.read_text(encoding="utf-8")) or {}
    rules_path = path.parent / EVIDENCE_FILE
    if not rules_path.exists():
        rules_path = HERE / EVIDENCE_FILE
    rules = load_yaml(rules_path.read_text(encoding="utf-8")) or {}
    meetings = []
    for item in data.get("meetings") or []:
        where = f"{path.name}: meeting {item.get('id')!r}"
        for key in ("id", "start", "end", "cities", "host", "occasion"):
            if not item.get(key):
                raise CatalogueError(f"{where}: missing {key}")
        start, end = _as_date(item["start"], where), _as_date(item["end"], where)
        if end < start:
            raise CatalogueError(f"{where}: ends before it starts")
        cues = []
        for cue in item.get("cues") or []:
            _check_pattern(cue.get("pattern"), f"{where}, cue {cue.get('label')!r}")
            cues.append(Cue(
                label=str(cue["label"]), pattern=cue["pattern"], weight=float(cue.get("weight", 3)),
                unless=cue.get("unless"), recall=bool(cue.get("recall", True)),
            ))
        unknown = set(item.get("summits") or []) - set(rules.get("summits") or {})
        if unknown:
            raise CatalogueError(f"{where}: unknown summits {sorted(unknown)}")
        meetings.append(Meeting(
            id=str(item["id"]), start=start, end=end, year=start.year,
            cities=tuple(item["cities"]), host=str(item["host"]), occasion=str(item["occasion"]),
            cues=tuple(cues), summits=tuple(item.get("summits") or ()), also=tuple(item.get("also") or ()),
        ))
    meetings.sort(key=lambda m: m.start)
    by_id = {m.id: m for m in meetings}
    if len(by_id) != len(meetings):
        raise CatalogueError(f"{path.name}: duplicate meeting ids")
    known_cities = set(rules.get("cities") or {})
    for meeting in meetings:
        missing = set(meeting.cities) - known_cities
        if missing:
            raise CatalogueError(f"{path.name}: meeting {meeting.id!r}: cities {sorted(missing)} not in {EVIDENCE_FILE}")
    return Catalogue(meetings, by_id, rules, path)


def _as_day(value) -> date | None:
    """A publication date as a date: from a date, a datetime or an ISO string; None otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _check_pattern(pattern, where: str) -> None:
    if not pattern:
        raise CatalogueError(f"{where}: no pattern")
    try:
        re.compile(pattern, re.I)
    except re.error as error:
        raise CatalogueError(f"{where}: bad pattern: {error}")


def meeting_rows(catalogue: Catalogue) -> list[dict]:
    """Rows for the `meetings` table, one per meeting, in date order."""
    return [
        {
            "id": m.id,
            "label": m.label,
            "start": m.start.isoformat(),
            "end": m.end.isoformat(),
            "year": m.year,
            "city": m.city,
            "cities": list(m.cities),
            "host": m.host,
            "occasion": m.occasion,
            "cues": list(dict.fromkeys([cue.label for cue in m.cues] + list(m.also))),
        }
        for m in catalogue.meetings
    ]


# --------------------------------------------------------------------------- decisions


@dataclass
class Candidate:
    """A meeting the article might cover, its score and the evidence behind it."""

    meeting_id: str
    score: float
    evidence: list[dict]


@dataclass
class MeetingDecision:
    """The meeting an article covers (None when unsure), how sure, and why."""

    meeting_id: str | None
    confidence: float
    evidence: list[dict]
    candidates: list[Candidate]
    reference: date | None = None  # the date relative times are read from (for mentions)


# --------------------------------------------------------------------------- compiled detectors


@dataclass
class _Detector:
    """One compiled pattern and what a match of it means."""

    kind: str
    key: str
    label: str
    regex: re.Pattern
    weight: float
    unless: re.Pattern | None = None
    data: dict = field(default_factory=dict)
    before: re.Pattern | None = None  # what must come just before a match (and is read with it)
    sentence_wide: bool = False  # gated on a rarer word inside the pattern: search that word's sentence


@dataclass(slots=True)  # tens of thousands are kept in a worker's memo of analyses: no __dict__ each
class _Hit:
    """One piece of evidence found in one text: what it is, where, and which meetings it fits."""

    kind: str
    key: str
    label: str
    text: str
    weight: float
    votes: dict[int, float]
    sentence: int = 0
    start: int = 0
    recall: bool = False  # found in a sentence that recalls the past
    data: dict = field(default_factory=dict)


@dataclass(slots=True)
class _Analysis:
    """Everything found in one text, before it is weighed."""

    hits: list[_Hit]
    sentences: list[tuple[int, int]]
    weekdays: set[int] | frozenset[int]
    years: set[int] | frozenset[int]
    floor_years: set[int] | frozenset[int]


def _leading_words(pattern: str) -> frozenset[str] | None:
    """The words (lowercase, their first two to five letters) that every match of pattern starts with.

    Read from the parsed pattern, branch by branch. None when a match may start otherwise (with
    a digit, a symbol, an optional part or a character class): such a pattern is searched for in
    the whole text."""
    try:
        tree = sre_parser.parse(pattern, re.I)
    except re.error:
        return None
    return _leading(list(tree))


REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)


def _leading(items, prefix: str = "") -> frozenset[str] | None:
    i = 0
    while i < len(items) and items[i][0] is sre_constants.AT:
        i += 1
    if i >= len(items):
        return None
    op, av = items[i]
    if op is sre_constants.LITERAL:
        run, j = prefix, i
        while j < len(items) and items[j][0] is sre_constants.LITERAL and chr(items[j][1]).isalnum():
            run += chr(items[j][1]).lower()
            j += 1
        if not run:
            return None
        if len(run) >= 5:
            return frozenset([run[:5]])
        following = items[j] if j < len(items) else None
        if following and following[0] is sre_constants.BRANCH:
            # The parser factors a shared first letter out of branches: "S(?:CO|hanghai)".
            words = set()
            for branch in following[1][1]:
                branch = list(branch)
                lead = _leading_literal(branch)
                if lead:
                    words.add((run + lead)[:5])
                elif _starts_nonword(branch):
                    words.add(run)  # the word ends here: "G(?:20|-20)", "Xi(?:'s|,)"
                else:
                    rest = _leading(branch, run)
                    if rest is None:
                        return None
                    words.update(rest)
            return frozenset(words)
        # A short run must be a whole word ("Xi", "G-20"): the text's words are matched whole.
        whole = following is None or _starts_nonword([following])
        return frozenset([run]) if len(run) >= 3 or whole else None
    if op is sre_constants.BRANCH:
        parts = [_leading(list(b), prefix) for b in av[1]]
        return None if any(p is None for p in parts) else frozenset().union(*parts)
    if op is sre_constants.SUBPATTERN:
        return _leading(list(av[-1]), prefix)
    if op in REPEATS and av[0] >= 1:
        return _leading(list(av[2]), prefix)
    return None


def _is_nonword_class(av) -> bool:
    for op, value in av:
        if op is sre_constants.CATEGORY and value in (sre_constants.CATEGORY_NOT_WORD, sre_constants.CATEGORY_SPACE):
            continue
        if op is sre_constants.LITERAL and not chr(value).isalnum():
            continue
        return False
    return True


def _starts_nonword(items) -> bool:
    """Whether a branch starts with something that is not a letter or digit (or with nothing)."""
    if not items:
        return True
    op, av = items[0]
    if op is sre_constants.LITERAL:
        return not chr(av).isalnum()
    if op is sre_constants.IN:
        return _is_nonword_class(av)
    if op is sre_constants.AT:
        return True
    if op in REPEATS:
        return _starts_nonword(list(av[2]))
    if op is sre_constants.SUBPATTERN:
        return _starts_nonword(list(av[-1]))
    return False


def _leading_literal(items) -> str:
    """The letters a branch starts with."""
    out = ""
    for op, av in items:
        if op is not sre_constants.LITERAL or not chr(av).isalnum():
            break
        out += chr(av).lower()
    return out


# Words (first five letters) found in nearly every story: no good as the only gate of a pattern.
COMMON_WORDS = frozenset([
    "putin", "xi", "russi", "china", "chine", "beiji", "mosco", "presi", "leade", "us", "u", "new", "first",
    "state", "kreml", "two", "visit", "talks", "meeti", "summi", "the", "in", "and", "of", "to", "a", "minis",
    "prime", "forei", "said", "war", "ukrai", "count", "nation", "relat", "ties",
])


def _rare_words(pattern: str) -> frozenset[str] | None:
    """Words (first five letters, at least three long) one of which every match of pattern
    contains somewhere, chosen to avoid COMMON_WORDS; None if there are none."""
    try:
        tree = sre_parser.parse(pattern, re.I)
    except re.error:
        return None
    return _contained(list(tree))


def _contained(items) -> frozenset[str] | None:
    options: list[frozenset[str]] = []
    run, run_ok, at_start = "", False, True

    def flush():
        nonlocal run
        if run_ok and len(run) >= 3:
            options.append(frozenset([run[:5]]))
        run = ""

    for op, av in items:
        if op is sre_constants.LITERAL and chr(av).isalnum():
            if not run:
                run_ok = at_start
            run += chr(av).lower()
            at_start = False
            continue
        flush()
        if op is sre_constants.LITERAL or op is sre_constants.AT:
            at_start = True
        elif op is sre_constants.BRANCH:
            parts = [_contained(list(b)) for b in av[1]]
            if all(p is not None for p in parts):
                options.append(frozenset().union(*parts))
            at_start = False
        elif op is sre_constants.SUBPATTERN:
            inner = _contained(list(av[-1]))
            if inner is not None:
                options.append(inner)
            at_start = _ends_nonword(list(av[-1]))
        elif op in REPEATS:
            if av[0] >= 1:
                inner = _contained(list(av[2]))
                if inner is not None:
                    options.append(inner)
            at_start = _ends_nonword(list(av[2])) and (av[0] >= 1 or at_start)
        elif op is sre_constants.IN:
            at_start = _is_nonword_class(av)
        elif op not in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            at_start = False
    flush()
    clean = [o for o in options if not o & COMMON_WORDS]
    if not clean:
        return None
    return max(clean, key=lambda o: min(len(w) for w in o) - 0.5 * len(o))


def _ends_nonword(items) -> bool:
    if not items:
        return False
    op, av = items[-1]
    if op is sre_constants.LITERAL:
        return not chr(av).isalnum()
    if op is sre_constants.IN:
        return _is_nonword_class(av)
    if op in REPEATS:
        return _ends_nonword(list(av[2]))
    if op is sre_constants.SUBPATTERN:
        return _ends_nonword(list(av[-1]))
    if op is sre_constants.BRANCH:
        return all(_ends_nonword(list(b)) for b in av[1])
    return False


def _trie_pattern(words) -> str:
    """One regular expression matching any of words at the start of a word, longest first,
    written as a trie so that the engine does not try every word at every position."""
    root: dict = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def walk(node) -> str:
        branches = [re.escape(char) + walk(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return r"\b" + walk(root)


def _number(text: str) -> float | None:
    text = text.lower().strip()
    if text.isdigit():
        return int(text)
    if text in NUMBER_WORDS:
        return NUMBER_WORDS[text]
    match = re.fullmatch(r"(\d+) and a half", text)
    return int(match.group(1)) + 0.5 if match else None


def _ordinal(text: str) -> int | None:
    text = text.lower()
    match = re.match(r"(\d+)", text)
    if match:
        return int(match.group(1))
    if "-" in text:
        tens, unit = text.split("-", 1)
        return TENS.get(tens, 0) + ORDINAL_WORDS.get(unit, 0) or None
    return ORDINAL_WORDS.get(text)


def _month(text: str) -> int:
    return MONTHS[text.lower()[:3]]


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


# --------------------------------------------------------------------------- the tagger


class MeetingTagger:
    """Scores every catalogue meeting against an article's evidence. Compile once, reuse for every article."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self.meetings = catalogue.meetings
        self.index = {m.id: i for i, m in enumerate(self.meetings)}
        self.starts = [m.start for m in self.meetings]
        # The weekdays of each meeting's days (and its eve), for "on Thursday".
        self.weekdays_of = [{date.fromordinal(o).weekday() for o in m.days()} for m in self.meetings]
        rules = catalogue.rules
        self.rules = rules
        flags = re.I
        detectors: list[_Detector] = []

        for i, meeting in enumerate(self.meetings):
            for cue in meeting.cues:
                detectors.append(_Detector(
                    "cue", f"{meeting.id}: {cue.label}", cue.label, re.compile(cue.pattern, flags), cue.weight,
                    re.compile(cue.unless, flags) if cue.unless else None,
                    {"meeting": i, "recall": cue.recall, "votes": {i: 1.0}},
                ))

        self.cities = rules.get("cities") or {}
        self.city_alias = []
        for name, spec in self.cities.items():
            members = {i: 1.0 for i, m in enumerate(self.meetings) if name in m.cities}
            pattern = r"\b(?:" + "|".join(spec["aliases"]) + r")\b"
            self.city_alias.append((re.compile(pattern, flags), name))
            detectors.append(_Detector(
                "city", name, name, re.compile(pattern, flags), float(spec.get("weight", 1)),
                re.compile(spec["unless"], flags) if spec.get("unless") else None,
                {"votes": members, "place_only": bool(spec.get("place_only"))},
            ))

        summit_words = re.compile(rules.get("summit_words", r"summit"), re.I)
        self.summit_words = summit_words
        for slug, spec in (rules.get("summits") or {}).items():
            members = {i: 1.0 for i, m in enumerate(self.meetings) if slug in m.summits}
            detectors.append(_Detector(
                "summit", slug, spec.get("label", slug), re.compile(r"\b(?:" + spec["name"] + r")\b", flags),
                float(spec.get("weight", 2)), None, {"votes": members},
            ))

        self.leader_ref = re.compile(
            "|".join(f"(?P<{name}>\\b(?:{pattern}))" for name, pattern in (rules.get("leaders") or {}).items()), flags
        )
        self.terms = rules.get("terms") or []
        for term in self.terms:
            for key in ("from", "start", "end"):
                term[key] = _as_date(term[key], "terms") if term.get(key) else None
        self.term_start_words = re.compile(rules.get("term_start_words", r"$^"), re.I)
        self.term_future_words = re.compile(rules.get("term_future_words", r"$^"), re.I)
        term_weight = float(rules.get("term_weight", 3))
        detectors.append(_Detector(
            "term", "term", "a leader's term",
            re.compile(
                r"\b(?P<ord>first|second|third|fourth|fifth|sixth|1st|2nd|3rd|4th|5th|6th|new|another)"
                r"(?:[- ](?:consecutive|straight|successive|new|presidential|six-year|five-year|record|unprecedented|historic|precedent-breaking|term-limit-busting))*"
                r"\s+(?:term|time period|stint|mandate)s?\b",
                flags,
            ),
            term_weight,
        ))
        new_leader = rules.get("new_leader")
        if new_leader:
            detectors.append(_Detector(
                "term", "new-leader", "a new president", re.compile(new_leader["pattern"], flags),
                float(new_leader.get("weight", term_weight)), None,
                {"leader": new_leader["leader"], "ordinal": new_leader["ordinal"], "new": True},
            ))

        if rules.get("inauguration"):
            detectors.append(_Detector(
                "term", "inauguration", "a new term, just begun", re.compile(rules["inauguration"], flags), term_weight * 0.8,
                None, {"inauguration": True},
            ))

        self.anniversaries = [
            (re.compile(r"\b(?:" + a["pattern"] + r")", flags), int(a["base"]), a["label"])
            for a in rules.get("anniversaries") or []
        ]
        self.bare_bases = [int(b) for b in rules.get("bare_bases") or []]
        anniversary_weight = float(rules.get("anniversary_weight", 3))
        # Patterns that start with a number are found from the word after it, and the number is
        # read back from the text before (`before`): "75th anniversary", "the 40th meeting".
        detectors.append(_Detector(
            "anniversary", "anniversary", "an anniversary", re.compile(r"anniversar(?:y|ies)\b", flags), anniversary_weight,
            before=re.compile(rf"\b(?P<ord>{ORDINAL})[- ](?:\w+[- ]){{0,2}}?$", flags),
        ))
        detectors.append(_Detector(
            "anniversary", "years-of", "years of", re.compile(r"years (?:of|since)\b", flags), anniversary_weight,
            before=re.compile(r"\b(?P<n>\d{2,3}) $"),
        ))

        counts = rules.get("meeting_counts") or {}
        anchors = sorted((_as_date(d, "meeting_counts"), float(n)) for d, n in (counts.get("anchors") or {}).items())
        per_year = float(counts.get("per_year", 3))
        self.expected_count = [self._interpolate(anchors, per_year, m.start) for m in self.meetings]
        count_weight = float(counts.get("weight", 2.5))
        detectors.append(_Detector(
            "count", "ordinal-meeting", "the Nth meeting",
            re.compile(r"(?:meeting|encounter|get-together|time (?:they|the two)(?: leaders| men)? (?:have )?met)\b(?! of\b)", flags),
            count_weight, None, {"how": "exact"},
            before=re.compile(
                r"\b(?P<n>\d{1,2})(?:st|nd|rd|th) (?:(?:in-person|face-to-face|bilateral|personal|formal|official|summit|such)[- ])*$", flags
            ),
        ))
        detectors.append(_Detector(
            "count", "times-met", "met N times", re.compile(r"(?:times|occasions|instances)\b", flags), 1.5, None, {"how": "fuzzy"},
            before=re.compile(
                r"\b(?:met|meet|meeting|seen each other|conferred)\w*\b(?:\W+\w+){0,6}?\W+(?P<q>more than |over |nearly |almost |about |around |some |at least |roughly |close to |)(?P<n>\d{1,2}) $", flags
            ),
        ))
        detectors.append(_Detector(
            "count", "n-meetings", "N meetings", re.compile(r"(?:meetings|encounters|summits)\b(?! of\b)", flags), 1.5, None,
            {"how": "fuzzy"},
            before=re.compile(rf"\b(?P<q>more than |over |nearly |almost |about |around |some |at least |roughly |close to |)(?P<n>\d{1,2}) (?:(?:in-person|face-to-face|bilateral|personal|such)[- ])*$", flags),
        ))

        self.events = {}
        for event in rules.get("events") or []:
            spec = dict(event)
            spec["date"] = _as_date(spec.get("date") or spec.get("start"), f"event {event['id']}")
            spec["start"] = _as_date(spec["start"], event["id"]) if spec.get("start") else spec["date"]
            spec["end"] = _as_date(spec["end"], event["id"]) if spec.get("end") else spec["date"]
            spec["votes"] = self._event_votes(spec)
            self.events[event["id"]] = spec
            detectors.append(_Detector(
                "event", event["id"], event["label"], re.compile(event["pattern"], flags), float(event.get("weight", 2)),
                re.compile(event["unless"], flags) if event.get("unless") else None, {"event": spec},
            ))
        relative = rules.get("relative") or {}
        # Lowercase patterns on lowercased text (much faster than ignoring case), each tried only
        # on a sentence with one of its words.
        words = {"recent": ("week", "month", "day", "ago", "recent")}
        self.relative = [
            (name, re.compile(pattern), frozenset(words.get(name, ("year", "month"))))
            for name, pattern in relative.items()
        ]
        self.relative_words = frozenset().union(*(needs for _, _, needs in self.relative))

        firsts = rules.get("firsts") or {}
        if firsts:
            self.first_since = [
                (re.compile(r"\s*(?:" + s["pattern"] + r")", flags), s["event"], _as_date(s["date"], "firsts"))
                for s in firsts.get("since") or []
            ]
            self.trip_words = re.compile(firsts.get("trip_words", r"$^"), flags)
            detectors.append(_Detector(
                "first", "first-since", "the first meeting since", re.compile(firsts["pattern"], flags),
                float(firsts.get("weight", 3)),
            ))

        # "Putin marked his birthday with Xi": a leader's birthday falls on the meeting (Oct 7, June 15).
        self.birthdays = {leader: _as_date(day, "birthdays") for leader, day in (rules.get("birthdays") or {}).items()}
        if self.birthdays:
            detectors.append(_Detector(
                "birthday", "birthday", "a leader's birthday", re.compile(r"birthdays?\b", flags),
                float(rules.get("birthday_weight", 3)),
                before=re.compile(rf"(?:\b(?P<ord>{ORDINAL})[- ])?$", flags),
            ))

        office_weight = float(rules.get("office_weight", 1))
        self.office_after = int(rules.get("office_after", 180))
        self.former = re.compile(r"(?:\bformer|\bex-|\bthen-|\blate|\bonetime|\bpredecessor)\W*(?:\w+\W+){0,2}$", re.I)
        for office in rules.get("offices") or []:
            spans = [(_as_date(a, office["label"]), _as_date(b, office["label"]) if b else date.max) for a, b in office["spans"]]
            votes = {}
            for i, m in enumerate(self.meetings):
                for s, e in spans:
                    if s <= m.start <= e:
                        votes[i] = 1.0
                    elif e < m.start <= e + timedelta(days=self.office_after) and i not in votes:
                        votes[i] = 0.4
            detectors.append(_Detector(
                "office", office["label"], office["label"], re.compile(r"\b(?:" + office["pattern"] + r")", flags),
                office_weight, None, {"votes": votes},
            ))

        self.date_weight = float(rules.get("date_weight", 2.5))
        self.weekday_date_weight = float(rules.get("weekday_date_weight", 3.5))
        self.full_date_weight = float(rules.get("full_date_weight", 4))
        self.weekday_weight = float(rules.get("weekday_weight", 0.8))
        self.year_weight = float(rules.get("year_weight", 0.4))
        self.year_floor_weight = float(rules.get("year_floor_weight", 1.5))
        self.published_weight = float(rules.get("published_weight", 6))
        self.dateline_weight = float(rules.get("dateline_weight", 2.5))

        # Gate each detector on the words it needs; those with none run on every text.
        self.detectors = detectors
        self.gates: dict[str, list[int]] = defaultdict(list)
        self.always: list[int] = []
        for number, detector in enumerate(detectors):
            words = _leading_words(detector.regex.pattern)
            if words is None or words & COMMON_WORDS:
                # Starting with a word every story has ("Putin's 61st birthday"): gate on a rarer
                # word inside the pattern instead, and search the sentences that have it.
                rare = _rare_words(detector.regex.pattern)
                if rare is not None and not rare & COMMON_WORDS:
                    words, detector.sentence_wide = rare, True
            if words is None:
                self.always.append(number)
            else:
                for word in words:
                    self.gates[word].append(number)
        self.gate_words = frozenset(self.gates)
        words = sorted(self.gate_words | set(MONTH_KEYS) | set(WEEKDAY_KEYS))
        self.trigger = re.compile(_trie_pattern(words))
        # For each word the trigger can match: the gate words it begins with, and their patterns.
        self.trigger_info = {
            word: [(word[:n], n, tuple(self.gates.get(word[:n], ()))) for n in range(1, len(word) + 1) if word[:n] in words]
            for word in words
        }
        # Analyses by text, kept across articles: _analyse depends on the text alone, and a
        # paragraph is read by infer and again by mentions, and recurs in copies of a story.
        self._cache: BoundedCache = BoundedCache(PARAGRAPH_MEMO)
        self._mentions_cache: BoundedCache = BoundedCache(PARAGRAPH_MEMO)

    @staticmethod
    def _interpolate(anchors, per_year: float, when: date) -> float:
        """How many times the two had met by `when`, from the anchors."""
        if not anchors:
            return 0.0
        if when <= anchors[0][0]:
            return anchors[0][1]
        for (d0, n0), (d1, n1) in zip(anchors, anchors[1:]):
            if d0 <= when <= d1:
                return n0 + (n1 - n0) * (when - d0).days / max(1, (d1 - d0).days)
        last_date, last_n = anchors[-1]
        return last_n + per_year * (when - last_date).days / 365.25

    # ----------------------------------------------------------------------- scanning one text

    def _sentences(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each sentence, not breaking after "Mr." or initials."""
        spans, start = [], 0
        for match in SENTENCE_END.finditer(text):
            words = text[start : match.start() + 1].rstrip(".").rsplit(None, 1)
            last = words[-1].lower() if words else ""
            if len(last) == 1 or last in ABBREVIATIONS:
                continue
            spans.append((start, match.start() + 1))
            start = match.end()
        spans.append((start, len(text)))
        return spans

    def _analyse(self, text: str) -> _Analysis:
        """Find every piece of evidence in one text (headline, paragraph or caption)."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        lower = text.lower()
        if len(lower) != len(text):  # a letter whose lowercase is longer: keep offsets aligned
            lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        # Where each pattern can start: at a word it starts with (or anywhere, for the few others).
        seen: set[str] = set()
        starts: dict[int, list[int]] = defaultdict(list)
        size = len(lower)
        for match in self.trigger.finditer(lower):
            at = match.start()
            for key, length, numbers in self.trigger_info[match.group()]:
                if length < 3 and at + length < size and lower[at + length].isalnum():
                    continue  # short words match only whole ("Xi", not "Xiamen")
                seen.add(key)
                for number in numbers:
                    starts[number].append(at)
        for number in self.always:
            starts[number] = []
        sentences = self._sentences(text)
        ends = [b for _, b in sentences]
        last_sentence = len(sentences) - 1
        recall_cache: dict[tuple[int, int], bool] = {}
        hinted: dict[int, bool] = {}

        def sentence_of(pos: int) -> int:
            return min(bisect_right(ends, pos), last_sentence)  # the first sentence ending after pos

        def is_recall(n: int, at: int) -> bool:
            """Whether the clause around `at` recalls the past ("Putin, who came in 2017, told ...")."""
            a, b = sentences[n]
            # The clause is part of the sentence: a sentence without a recall hint has no recall.
            if n not in hinted:
                sentence = lower[a:b]
                hinted[n] = any(word in sentence for word in RECALL_HINTS)
            if not hinted[n]:
                return False
            start = max(lower.rfind(mark, a, at) for mark in CLAUSE_MARKS) + 1 or a
            while start > a and CONTINUING_CLAUSE.match(lower, start):
                start = max(lower.rfind(mark, a, start - 1) for mark in CLAUSE_MARKS) + 1 or a
            ends = [e for e in (lower.find(mark, at, b) for mark in CLAUSE_MARKS) if e >= 0]
            span = (max(a, start), min(ends) if ends else b)
            if span not in recall_cache:
                clause = lower[span[0] : span[1]]
                recall_cache[span] = any(word in clause for word in RECALL_HINTS) and bool(RECALL.search(clause))
            return recall_cache[span]

        year_cache: dict[int, set[int]] = {}

        def recalls_its_year(n: int, hit: _Hit) -> bool:
            """Whether the sentence puts the hit's own meeting in the past: "in 2015, for the 70th anniversary"."""
            if "20" not in text:
                return False
            if n not in year_cache:
                a, b = sentences[n]
                year_cache[n] = {int(y) for y in RECALL_YEAR.findall(lower, a, b)}
            years = year_cache[n]
            voted = {self.meetings[i].year for i, v in hit.votes.items() if v >= 0.5}
            return bool(years) and bool(voted) and voted <= years

        hits: list[_Hit] = []
        for number in sorted(starts):
            detector = self.detectors[number]
            positions = starts[number]
            if positions and detector.sentence_wide:
                spans = sorted({sentences[sentence_of(at)] for at in positions})
                matches = [m for a, b in spans for m in detector.regex.finditer(text, a, b)]
            elif positions:
                matches, reached = [], 0
                for at in positions if len(positions) == 1 else sorted(set(positions)):
                    if at >= reached:  # like finditer: no match inside the previous one
                        match = detector.regex.match(text, at)
                        if match:
                            matches.append(match)
                            reached = match.end()
            else:
                matches = detector.regex.finditer(text)
            for match in matches:
                n = sentence_of(match.start())
                a, b = sentences[n]
                if detector.unless and detector.unless.search(text, a, b):
                    continue
                lead = None
                if detector.before:
                    lead = detector.before.search(text, max(a, match.start() - 80), match.start())
                    if not lead:
                        continue
                for hit in self._read(detector, match, text, a, b, lead):
                    hit.sentence, hit.start = n, match.start()
                    if hit.kind in RECALLABLE_KINDS:
                        hit.recall = is_recall(n, match.start()) or recalls_its_year(n, hit)
                    hits.append(hit)

        weekdays = set()
        for at in self.positions(seen, lower, WEEKDAY_KEYS):
            match = WEEKDAY_NAME.match(text, at)
            if match and not WEEKDAY_RELATIVE.search(text, max(0, at - 20), at):
                weekdays.add(WEEKDAYS.index(match.group(0).lower()))
        if not seen.isdisjoint(MONTH_KEYS):
            for regex in (DATE, DATE_DAY_FIRST):
                for match in regex.finditer(text):
                    hit = self._read_date(match, text)
                    if hit:
                        n = sentence_of(match.start())
                        hit.sentence, hit.start, hit.recall = n, match.start(), is_recall(n, match.start())
                        hits.append(hit)
        years, floor_years = set(), set()
        if "20" in text:
            for match in YEAR.finditer(text):
                year = int(match.group("year"))
                if not 2000 <= year <= 2030:
                    continue
                before = text[max(0, match.start() - 30) : match.start()]
                years.add(year)
                if YEAR_PAST_CONTEXT.search(before) and not YEAR_FUTURE_CONTEXT.search(before):
                    floor_years.add(year)
            if "©" in text or "copyright" in lower or "(c)" in lower:
                for match in COPYRIGHT_YEAR.finditer(text):
                    year = int(match.group("year"))
                    votes = {i: 1.0 if m.year == year else 0.3 if m.year == year - 1 else 0 for i, m in enumerate(self.meetings)}
                    hits.append(_Hit("published", "copyright", "copyright year", match.group(0), 0.6, votes))
        # Most texts name no weekday or year: they share one empty set rather than keep three
        # (216 bytes each, for every text in the memo).
        return self._cache.put(text, _Analysis(hits, sentences, weekdays or NOTHING, years or NOTHING,
                                               floor_years or NOTHING))

    @staticmethod
    def positions(seen: set[str], lower: str, words) -> list[int]:
        """Where any of words (seen in the text) starts a word of it."""
        found = []
        for word in seen.intersection(words):
            at = lower.find(word)
            while at >= 0:
                if at == 0 or not lower[at - 1].isalnum():
                    found.append(at)
                at = lower.find(word, at + 1)
        return found

    def _read(self, detector: _Detector, match: re.Match, text: str, a: int, b: int, lead=None) -> list[_Hit]:
        """Turn one match into evidence: which meetings it fits, and how well."""
        kind, quote = detector.kind, match.group(0)
        if kind == "cue":
            return [_Hit(kind, detector.key, detector.label, quote, detector.weight, detector.data["votes"],
                         data={"meeting": detector.data["meeting"], "recall_ok": detector.data["recall"]})]
        if kind == "city":
            place = bool(PLACE_BEFORE.search(text[max(0, match.start() - 40) : match.start()]) or PLACE_AFTER.match(text, match.end()))
            if detector.data["place_only"] and not place:
                return []
            # "a rail link between Moscow and Kazan" names a city, not where the leaders met.
            weight = detector.weight if place else detector.weight * BARE_CITY_FACTOR
            return [_Hit(kind, detector.key, detector.label, quote, weight, detector.data["votes"], data={"place": place})]
        if kind == "summit":
            window = text[max(a, match.start() - 30) : min(b, match.end() + 40)]
            occasion = bool(self.summit_words.search(window))
            return [_Hit(kind, detector.key, detector.label, quote, detector.weight * (1.0 if occasion else 0.35),
                         detector.data["votes"], data={"occasion": occasion})]
        if kind == "term":
            return self._read_term(detector, match, text, a, b)
        if kind == "anniversary":
            return self._read_anniversary(detector, match, text, a, b, lead)
        if kind == "count":
            return self._read_count(detector, match, text, lead)
        if kind == "event":
            return self._read_event(detector, match, text, a, b)
        if kind == "first":
            return self._read_first(detector, match, text, a, b)
        if kind == "birthday":
            return self._read_birthday(detector, match, text, a, b, lead)
        if kind == "office":
            if self.former.search(text[max(a, match.start() - 30) : match.start()]):
                return []
            return [_Hit(kind, detector.key, detector.label, quote, detector.weight, detector.data["votes"])]
        return []

    def _leader(self, text: str, a: int, start: int, end: int, b: int) -> str | None:
        """Whom a phrase is about: the nearest leader named before it in its sentence, else after it."""
        last = None
        for match in self.leader_ref.finditer(text, a, start):
            last = match.lastgroup
        if last:
            return last
        match = self.leader_ref.search(text, end, b)
        return match.lastgroup if match else None

    def _read_term(self, detector, match, text, a, b) -> list[_Hit]:
        data = detector.data
        if data.get("new"):
            leader, ordinal, near_start = data["leader"], data["ordinal"], True
        else:
            ordinal = None if data.get("inauguration") else _ordinal(match.group("ord"))
            leader = self._leader(text, a, match.start(), match.end(), b)
            if leader == "other":
                return []
            sentence = text[a:b]
            # "a new six-year term": one of the leader's re-elections, just begun
            near_start = ordinal is None or bool(self.term_start_words.search(sentence))
        first_trip = bool(FIRST_TRIP.search(text, a, b))
        future = bool(self.term_future_words.search(text[a:b])) and not data.get("new")
        gap = TERM_GAP.search(text, a, b)
        if gap:
            days = (_number(gap.group("n")) or 1) * UNIT_DAYS[gap.group("unit").lower().rstrip("s")]
            q = (gap.group("q") or "").strip().lower()
            low, high = (0, days) if q in ("less than", "under", "just", "only", "barely") else (days * 0.5 - 3, days * 1.5 + 3)
        terms = [
            t for t in self.terms
            if (t["ordinal"] == ordinal if ordinal else t["ordinal"] > 1) and (leader is None or t["leader"] == leader)
        ]
        if not terms:
            return []
        share = 1.0 if len({t["leader"] for t in terms}) == 1 else 0.6
        votes: dict[int, float] = {}
        for term in terms:
            begin, end = term["start"], term["end"] or date.max
            said_from = term["from"] or begin
            first_after = next((i for i, m in enumerate(self.meetings) if m.start >= begin), None)
            for i, m in enumerate(self.meetings):
                if future:
                    factor = 1.0 if said_from - timedelta(days=200) <= m.start < said_from else 0.3 if said_from <= m.start <= end else 0
                elif begin <= m.start <= end:
                    factor = 0.6
                    if gap:
                        factor = 1.0 if low <= (m.start - begin).days <= high else 0.3
                    elif near_start and i == first_after and (m.start - begin).days <= 120:
                        factor = 1.0
                    elif near_start and not first_trip and (m.start - begin).days <= 120:
                        factor = 0.7
                    elif near_start:
                        factor = 0.3
                elif said_from <= m.start < begin:
                    factor = 0.5
                else:
                    continue
                votes[i] = max(votes.get(i, 0), factor * share)
        key = f"{leader or '?'}-{ordinal or 'new'}{'-inauguration' if data.get('inauguration') else ''}"
        label = f"{leader or 'a leader'}'s term {ordinal or '(a new one)'}" + (" (just begun)" if near_start else "")
        return [_Hit("term", key, label, match.group(0), detector.weight, votes, data={"leader": leader, "ordinal": ordinal})]

    def _read_anniversary(self, detector, match, text, a, b, lead) -> list[_Hit]:
        if detector.key == "years-of":
            n = int(lead.group("n"))
        else:
            n = _ordinal(lead.group("ord"))
        if not n or n < 5:
            return []
        after = text[match.end() : min(b, match.end() + 110)]
        before = text[max(a, lead.start() - 70) : lead.start()]
        base, label = None, None
        best = None
        for regex, year, name in self.anniversaries:
            found = regex.search(after)
            if found and (best is None or found.start() < best):
                best, base, label = found.start(), year, name
        if base is None:
            for regex, year, name in self.anniversaries:
                found = None
                for found in regex.finditer(before):
                    pass
                if found:
                    base, label = year, name
        if base is None and detector.key == "years-of":
            return []
        if base is None:
            years = {b_ + n: 0.5 for b_ in self.bare_bases}
            label = "an anniversary with no subject"
        else:
            years = {base + n: 1.0}
        votes = {i: years[m.year] for i, m in enumerate(self.meetings) if m.year in years}
        return [_Hit("anniversary", f"{n}-{base}", f"{n}th anniversary: {label}", text[lead.start() : match.end()], detector.weight, votes,
                     data={"years": sorted(years)})]

    def _read_count(self, detector, match, text, lead) -> list[_Hit]:
        n = int(lead.group("n"))
        if n < 3:
            return []
        q = (lead.groupdict().get("q") or "").strip().lower()
        votes = {}
        for i, expected in enumerate(self.expected_count):
            if detector.data["how"] == "exact":
                gap = abs(expected - n)
                factor = 1.0 if gap <= 1.2 else 0.4 if gap <= 3 else 0
            elif q in ("more than", "over", "at least"):
                factor = 1.0 if n < expected <= n + 6 else 0.4 if n - 1 <= expected <= n + 10 else 0
            elif q in ("nearly", "almost", "close to"):
                factor = 1.0 if n - 4 <= expected <= n + 0.5 else 0.4 if n - 7 <= expected <= n + 2 else 0
            else:
                gap = abs(expected - n)
                factor = 1.0 if gap <= 2 else 0.4 if gap <= 4 else 0
            if factor:
                votes[i] = factor
        return [_Hit("count", f"{detector.data['how']}-{q or '='}{n}", f"{q + ' ' if q else ''}{n} meetings", text[lead.start() : match.end()],
                     detector.weight, votes)]

    def _read_event(self, detector, match, text, a, b) -> list[_Hit]:
        event = detector.data["event"]
        sentence = text[a:b]
        offset = match.start() - a
        votes: dict[int, float] = {}
        how = None
        # Relative time near the event dates the story from the event: the nearest one.
        lowered = sentence.lower()
        present = {word for word in self.relative_words if word in lowered}  # each word looked for once
        for name, regex, needs in self.relative:
            if present.isdisjoint(needs):
                continue
            for rel in regex.finditer(lowered):
                distance = abs(rel.start() - offset)
                if distance <= 140 and (how is None or distance < how[2]):
                    how = (name, rel, distance)
        label = event["label"]
        if how:
            name, rel, _ = how
            target: tuple[date, date] | None = None
            when = event["date"]
            if name == "years_ago":
                target = (date(when.year + 1, 1, 1), date(when.year + 1, 12, 31))
            elif name == "two_years_ago":
                target = (date(when.year + 2, 1, 1), date(when.year + 2, 12, 31))
            elif name == "this_year":
                target = (when, date(when.year, 12, 31))
            elif name == "recent":
                target = (when - timedelta(days=3), when + timedelta(days=60))
            elif name == "duration":
                amount = _number(rel.group("n"))
                if amount is not None:
                    days = amount * (365.25 if rel.group("unit").strip().startswith("year") else 30.4)
                    before = re.search(r"(more than|over|nearly|almost|about|some|around|close to) $", lowered[: rel.start()])
                    q = before.group(1) if before else ""
                    low, high = (days, days + 365) if q in ("more than", "over") else (days - 200, days) if q in ("nearly", "almost") else (days - 90, days + 330)
                    if rel.group("unit").strip().startswith("month"):
                        low, high = (days, days + 60) if q in ("more than", "over") else (days - 45, days + 45)
                    target = (when + timedelta(days=low), when + timedelta(days=high))
            elif name == "nth_year":
                ordinal = ORDINAL_WORDS[(rel.group("ord") or rel.group("ord2")).lower()]
                target = (when + timedelta(days=365.25 * (ordinal - 1)), when + timedelta(days=365.25 * ordinal))
            if target:
                for i, m in enumerate(self.meetings):
                    if target[0] <= m.start <= target[1]:
                        votes[i] = 1.0
                label = f"{label}, {rel.group(0).strip()}"
                quote = match.group(0) if rel.group(0) in match.group(0) else f"{match.group(0)} … {rel.group(0)}"
                return [_Hit("event", f"{detector.key}:{name}", label, quote, detector.weight + 0.5, votes)]
        return [_Hit("event", detector.key, label, match.group(0), detector.weight, event["votes"])]

    def _event_votes(self, event: dict) -> dict[int, float]:
        """How well a mention of the event fits each meeting, with no relative time beside it."""
        votes = {}
        start, end = event["start"], event["end"]
        fresh = event.get("fresh", 0)
        stale = event.get("stale", fresh)
        for i, m in enumerate(self.meetings):
            if start <= m.start <= end:
                factor = 1.0
            elif m.start < start:
                factor = 0.5 if (start - m.start).days <= event.get("before", 0) else 0
            else:
                gap = (m.start - end).days
                factor = 1.0 if gap <= fresh else event.get("stale_factor", 0.5) if gap <= stale else event.get("old_factor", 0.2)
            if factor:
                votes[i] = factor
        return votes

    def _read_birthday(self, detector, match, text, a, b, lead) -> list[_Hit]:
        """Whose birthday (the leader named nearest before it), and which meetings fell on it."""
        if len(match.group(0)) > 8:  # "birthdays": the two "celebrated birthdays together", no date
            return []
        leader = self._leader(text, a, match.start(), match.end(), b)
        born = self.birthdays.get(leader)
        if born is None:
            return []
        ordinal = _ordinal(lead.group("ord")) if lead and lead.group("ord") else None
        votes = {}
        for i, m in enumerate(self.meetings):
            day = _safe_date(m.year, born.month, born.day)
            if day and (m.start - day).days <= 2 and (day - m.end).days <= 2:
                if ordinal is None or born.year + ordinal == m.year:
                    votes[i] = 1.0
        label = f"{leader}'s {'%dth ' % ordinal if ordinal else ''}birthday"
        return [_Hit("birthday", f"{leader}-{ordinal}", label, text[(lead.start() if lead else match.start()) : match.end()],
                     detector.weight, votes)]

    def _read_first(self, detector, match, text, a, b) -> list[_Hit]:
        rest = text[match.end() : b]
        for regex, event, when in self.first_since:
            if not regex.match(rest):
                continue
            phrase = match.group(0)
            trip = bool(self.trip_words.search(phrase))
            leader = self._leader(text, a, match.start(), match.end(), b)
            host = None
            dest = re.search(r"\bto (China|Beijing|Russia|Moscow)\b", phrase + " " + rest[:60])
            if dest:
                host = "China" if dest.group(1) in ("China", "Beijing") else "Russia"
            for i, m in enumerate(self.meetings):
                if m.start <= when:
                    continue
                if host and host not in m.hosts:
                    continue
                if trip and not host and leader in ("xi", "putin"):
                    own = "China" if leader == "xi" else "Russia"
                    if own in m.hosts:
                        continue
                return [_Hit("first", f"first-since-{event}-{host or leader or ''}", f"the first meeting since {event}",
                             phrase + regex.match(rest).group(0), detector.weight, {i: 1.0})]
        return []

    def _read_date(self, match: re.Match, text: str) -> _Hit | None:
        if DATE_NAMES_EVENT.match(text, match.end()):
            return None
        before = text[max(0, match.start() - 8) : match.start()].lower()
        if "since" in before:
            return None
        month = _month(match.group("mon"))
        day = int(match.group("day"))
        if not 1 <= day <= 31:
            return None
        named = WEEKDAY_BEFORE.search(text, max(0, match.start() - 16), match.start())
        weekday = WEEKDAYS.index(named.group("wd").lower()) if named else None
        year = int(match.group("year")) if match.group("year") else None
        votes = {}
        for i, m in enumerate(self.meetings):
            for y in ([year] if year else [m.year]):
                d = _safe_date(y, month, day)
                if d is None or (weekday is not None and d.weekday() != weekday):
                    continue
                gap_before, gap_after = (m.start - d).days, (d - m.end).days
                if gap_before <= 2 and gap_after <= 1:
                    votes[i] = 1.0
                elif gap_before <= 7 and gap_after <= 7:
                    votes[i] = 0.3
        weight = self.full_date_weight if year else self.weekday_date_weight if weekday is not None else self.date_weight
        return _Hit("date", f"{month:02d}-{day:02d}", "a date", match.group(0), weight, votes)

    # ----------------------------------------------------------------------- deciding

    def _dateline(self, paragraphs: list[str]) -> list[_Hit]:
        """The place (and date) a story was filed from, in the first lines: "MOSCOW —", "BEIJING (Reuters) -"."""
        for paragraph in paragraphs[:4]:
            match = DATELINE.match(paragraph)
            if not match:
                continue
            place = match.group("place")
            if not (place.replace(" and ", "").replace("&", "").replace(".", "").replace(" ", "").isupper()
                    or match.group("agency") or match.group("mon")):
                continue
            hits = []
            names = [p.strip() for p in re.split(r"\band\b|&|/", place, flags=re.I) if p.strip()]
            for name in names:
                for regex, city in self.city_alias:
                    if regex.fullmatch(name):
                        votes = {i: 1.0 for i, m in enumerate(self.meetings) if city in m.cities}
                        hits.append(_Hit("dateline", city, f"dateline {city}", match.group(0)[:-1].strip(),
                                         self.dateline_weight / len(names), votes))
            if match.group("mon"):
                month, day = _month(match.group("mon")), int(match.group("day"))
                year = int(match.group("year")) if match.group("year") else None
                votes = {}
                for i, m in enumerate(self.meetings):
                    d = _safe_date(year or m.year, month, day)
                    if d and (m.start - d).days <= 2 and (d - m.end).days <= 1:
                        votes[i] = 1.0
                hits.append(_Hit("date", f"{month:02d}-{day:02d}", "dateline date", match.group(0)[:-1].strip(),
                                 self.full_date_weight if year else self.weekday_date_weight, votes))
            if hits or match.group("agency"):
                return hits
        return []

    def infer(self, title: str | None, paragraphs: list[str], published: date | None = None, extra=()) -> MeetingDecision:
        """Decide the meeting an article covers from its headline, body paragraphs, publication date and captions."""
        texts = []
        if title:
            texts.append(("title", title))
        for n, paragraph in enumerate(paragraphs):
            texts.append(("lead" if n < LEAD_PARAGRAPHS else "body", paragraph))
        texts.extend(("extra", text) for text in extra or ())

        weighed: list[tuple[_Hit, float]] = []
        weekdays, years, floor_years = set(), set(), set()
        for role, text in texts:
            if not text:
                continue
            analysis = self._analyse(text)
            for hit in analysis.hits:
                factor = ROLE_FACTOR[role]
                if hit.recall and hit.kind in RECALLABLE_KINDS:
                    factor *= RECALL_FACTOR
                weighed.append((hit, factor))
            if role != "extra":
                weekdays |= analysis.weekdays
            years |= analysis.years
            floor_years |= analysis.floor_years
        for hit in self._dateline(paragraphs):
            weighed.append((hit, 1.0))
        weighed.extend((hit, 1.0) for hit in self._article_hits(weekdays, years, floor_years, published))

        # Each piece of evidence counts once per meeting: its best occurrence.
        best: dict[tuple[str, str], dict[int, tuple[float, _Hit]]] = defaultdict(dict)
        for hit, factor in weighed:
            slot = best[(hit.kind, hit.key)]
            for i, vote in hit.votes.items():
                value = hit.weight * vote * factor
                if i not in slot or abs(value) > abs(slot[i][0]):
                    slot[i] = (value, hit)
        scores = [0.0] * len(self.meetings)
        for slot in best.values():
            for i, (value, _) in slot.items():
                scores[i] += value
        # Evidence is written out only for the candidates: the meetings with a positive score.
        evidence: dict[int, list[dict]] = {i: [] for i, score in enumerate(scores) if score > 0}
        for (kind, key), slot in best.items():
            for i, (value, hit) in slot.items():
                if i in evidence:
                    evidence[i].append({"cue": hit.label, "kind": kind, "text": hit.text[:160], "weight": round(value, 2)})
        candidates = [
            Candidate(self.meetings[i].id, round(scores[i], 3), sorted(found, key=lambda e: -e["weight"]))
            for i, found in evidence.items()
        ]
        candidates.sort(key=lambda c: -c.score)
        top = candidates[0].score if candidates else 0.0
        second = candidates[1].score if len(candidates) > 1 else 0.0
        margin = top - max(second, 0.0)
        chosen = None
        if candidates and top >= MIN_SCORE and margin >= MIN_MARGIN:
            chosen = candidates[0]
        confidence = self._confidence(top, margin) if chosen else 0.0
        reference = self.meetings[self.index[chosen.meeting_id]].start if chosen else _as_day(published)
        return MeetingDecision(
            meeting_id=chosen.meeting_id if chosen else None,
            confidence=round(confidence, 3),
            evidence=[e for e in chosen.evidence if e["weight"] > 0] if chosen else [],
            candidates=candidates,
            reference=reference,
        )

    @staticmethod
    def _confidence(top: float, margin: float) -> float:
        """How sure: the lead over the runner-up, discounted when the evidence is thin overall."""
        return (1 - math.exp(-margin / 3.0)) * min(1.0, 0.55 + top / 12)

    def _article_hits(self, weekdays, years, floor_years, published) -> list[_Hit]:
        """Evidence read from the article as a whole: weekdays, printed years and the publication date."""
        hits = []
        if weekdays:
            votes = {}
            for i, days in enumerate(self.weekdays_of):
                share = len(weekdays & days) / len(weekdays)
                if share:
                    votes[i] = share
            names = ", ".join(WEEKDAYS[d].title() for d in sorted(weekdays))
            hits.append(_Hit("weekday", "weekdays", f"weekdays named: {names}", names, self.weekday_weight, votes))
        for year in sorted(years):
            votes = {i: 1.0 for i, m in enumerate(self.meetings) if m.year == year}
            if votes:
                hits.append(_Hit("year", str(year), f"the year {year} is printed", str(year), self.year_weight, votes))
        if floor_years:
            floor = max(floor_years)
            votes = {i: -1.0 for i, m in enumerate(self.meetings) if m.year < floor}
            if votes:
                hits.append(_Hit("year-floor", "floor", f"a past event of {floor}: the story is not older",
                                 f"in {floor}", self.year_floor_weight, votes))
        published = _as_day(published)
        if published is not None:
            votes = {}
            for i, m in enumerate(self.meetings):
                gap = (published - m.start).days
                if -10 <= gap <= (m.end - m.start).days + 30:
                    votes[i] = 1.0
                elif gap < -10:
                    votes[i] = -1.0
                elif gap <= 200:
                    votes[i] = 0.25
            hits.append(_Hit("published", "published", f"published {published.isoformat()}", published.isoformat(),
                             self.published_weight, votes))
        return hits

    # ----------------------------------------------------------------------- mentions

    def mentions(self, paragraph: str, decision: MeetingDecision) -> list[str]:
        """Ids of the other meetings a paragraph recalls, in order of first mention (never the article's own)."""
        if not paragraph:
            return []
        # The answer depends on the paragraph and on these two only.
        key = (paragraph, decision.meeting_id, decision.reference)
        found = self._mentions_cache.get(key)
        if found is None:
            found = self._mentions_cache.put(key, self._mentions(paragraph, decision))
        return list(found)

    def _mentions(self, paragraph: str, decision: MeetingDecision) -> list[str]:
        analysis = self._analyse(paragraph)
        own = self.index.get(decision.meeting_id) if decision.meeting_id else None
        reference = decision.reference
        if reference is None and own is not None:
            reference = self.meetings[own].start
        # Cheap first: only sentences that name an earlier meeting (meetings are in date order, so
        # "earlier" is a lower index), or may recall one by time ("last", "previous") or by
        # country ("visited Russia"), are read further.
        limit = self.meetings[own].start if own is not None else reference
        before = bisect_left(self.starts, limit) if limit is not None else len(self.meetings)
        by_sentence: dict[int, list[_Hit]] = defaultdict(list)
        for hit in analysis.hits:
            by_sentence[hit.sentence].append(hit)
        own_places = set(self.meetings[own].cities) if own is not None else set()
        wanted = set()
        for hit in analysis.hits:
            if hit.kind in ("cue", "city", "summit") and hit.votes and min(hit.votes) < before:
                if (hit.kind == "city" and hit.key in own_places) or (hit.kind == "summit" and own in hit.votes):
                    # the story's own city or summit recalls an earlier one only beside a time
                    a, b = analysis.sentences[hit.sentence]
                    if not TIME_HINT.search(paragraph, a, b):
                        continue
                wanted.add(hit.sentence)
        by_time = reference is not None and ("last " in paragraph or "previous" in paragraph)
        by_country = "Russia" in paragraph or "China" in paragraph
        if by_time or by_country:
            for n, (a, b) in enumerate(analysis.sentences):
                sentence = paragraph[a:b]
                if (by_time and ("last " in sentence or "previous" in sentence)) or (
                    by_country and _may_name_a_country_visit(sentence) and COUNTRY_PLACE.search(sentence)
                ):
                    wanted.add(n)
        if not wanted:
            return []
        by_sentence = {n: by_sentence.get(n, []) for n in wanted}
        found: list[str] = []
        for n, hits in sorted(by_sentence.items()):
            a, b = analysis.sentences[n]
            # Each clause may recall its own meeting; if no clause does alone, the whole sentence may.
            cuts = [a, b]
            if len(hits) > 1 and (" and " in paragraph[a:b] or ";" in paragraph[a:b]):
                cuts = sorted(set([a] + [m.end() for m in CLAUSE_SPLIT.finditer(paragraph, a, b)] + [b]))
            recalled = []
            if len(cuts) > 2:
                for x, y in zip(cuts, cuts[1:]):
                    part = [h for h in hits if x <= h.start < y]
                    meeting = self._recalled(paragraph[x:y], x, part, own, reference, paragraph[a:b]) if part else None
                    if meeting is not None:
                        recalled.append(meeting)
            if not recalled:
                meeting = self._recalled(paragraph[a:b], a, hits, own, reference)
                recalled = [meeting] if meeting is not None else []
            for meeting in recalled:
                if self.meetings[meeting].id not in found:
                    found.append(self.meetings[meeting].id)
        return found

    def _recalled(self, sentence: str, offset: int, hits: list[_Hit], own: int | None, reference: date | None,
                  whole: str | None = None) -> int | None:
        """The one meeting a sentence (or a clause of `whole`, the sentence) recalls, or None."""
        whole = whole or sentence
        cues, places, summits, own_places = set(), set(), set(), []
        strong = False
        for hit in hits:
            if hit.kind == "cue" and hit.data.get("recall_ok") and hit.data["meeting"] != own:
                cues.add(hit.data["meeting"])
                strong = strong or (hit.weight >= 2.5 and hit.data["meeting"] != own)
            elif hit.kind == "city" and (hit.data.get("place") or not self.cities[hit.key].get("place_only")):
                # "in Beijing" in a story of a Beijing meeting is where the story is, not a memory,
                # unless the time is right beside it ("his last trip to Moscow in 2019": see below).
                if own is None or hit.key not in self.meetings[own].cities:
                    places |= set(hit.votes)
                else:
                    own_places.append(hit)
            elif hit.kind == "summit" and hit.data.get("occasion"):
                # the summit of the article's own meeting is the story's, like its city
                if own is None or own not in hit.votes:
                    summits |= set(hit.votes)
                else:
                    own_places.append(hit)
        for match in COUNTRY_PLACE.finditer(sentence) if _may_name_a_country_visit(sentence) else ():
            hosted = {i for i, m in enumerate(self.meetings) if match.group(1) in m.hosts}
            if own is None or match.group(1) not in self.meetings[own].hosts:
                places |= hosted
            else:
                own_places.append(_Hit("country", match.group(1), match.group(1), match.group(0), 0,
                                       dict.fromkeys(hosted, 1.0), start=offset + match.start()))
        # Cheap first: a sentence that names only the article's own meeting (or later ones) recalls nothing.
        named = cues | places | summits | {i for hit in own_places for i in hit.votes}
        limit = self.meetings[own].start if own is not None else reference
        if limit is not None:
            named = {i for i in named if self.meetings[i].start < limit}
        if not (cues or places or summits):
            # No other place or occasion: a time that leaves one meeting may still name it
            # ("Their last meeting was in October"), given the words of a meeting and a recall.
            recalled = self._recalled_by_time(sentence, own, limit, reference, whole)
            if recalled is not None or not own_places:
                return recalled
        if not named or not _found(MEETING_WORDS, MEETING_WORDS_LOWER, whole):
            return None
        window, anchored, anchor_at = self._time_window(sentence, reference)
        for hit in own_places:
            # "his last trip to Moscow in 2019": the time follows the place, in the same phrase
            end = hit.start - offset + len(hit.text)
            explicit = anchor_at is not None and YEAR.search(sentence, anchor_at, anchor_at + 20)
            if anchor_at is not None and (
                (0 <= anchor_at - end <= 25 and "," not in sentence[end:anchor_at])
                or (explicit and abs(anchor_at - (hit.start - offset)) <= 40)  # "In 2019 Xi visited Moscow"
            ):
                (summits if hit.kind == "summit" else places).update(hit.votes)
            # A recurring summit with a printed year that is not the story's ("the first gathering
            # in 2017, told the second forum") recalls that year's summit.
            elif hit.kind == "summit" and window and own is not None and YEAR.search(sentence) and not (
                window[0] <= self.meetings[own].start <= window[1]
            ):
                summits.update(hit.votes)
        recalled = anchored or _found(RECALL_MARKERS, RECALL_MARKERS_LOWER, whole)
        groups = [g for g in (cues, places, summits) if g]
        if not groups:
            return None
        pool = set.intersection(*groups)
        if not pool:
            pool = set(cues)
        if window is not None:
            pool = {i for i in pool if window[0] <= self.meetings[i].end and self.meetings[i].start <= window[1]}
        elif not (recalled or strong):
            return None
        if own is not None:
            pool.discard(own)
        if limit is not None:
            pool = {i for i in pool if self.meetings[i].start < limit}
        return next(iter(pool)) if len(pool) == 1 else None

    def _recalled_by_time(self, sentence: str, own: int | None, limit: date | None, reference: date | None,
                          whole: str) -> int | None:
        """The one meeting in the month a sentence names, when it speaks of a past meeting."""
        if not _found(MEETING_CORE, MEETING_CORE_LOWER, whole) or not _found(RECALL_MARKERS, RECALL_MARKERS_LOWER, whole):
            return None
        window, _, _ = self._time_window(sentence, reference)
        if window is None or (window[1] - window[0]).days > 62:
            return None
        pool = [i for i, m in enumerate(self.meetings)
                if window[0] <= m.end and m.start <= window[1] and i != own and (limit is None or m.start < limit)]
        return pool[0] if len(pool) == 1 else None

    def _time_window(self, sentence: str, reference: date | None):
        """The span of time a sentence points to ("in 2019", "last year", "10 years ago"), if any:
        (first day, last day) or None, whether one was found, and where it is in the sentence."""
        # A printed year starts with 19 or 20: without one, neither year pattern can match.
        match = ANCHOR_MONTH_YEAR.search(sentence) if "20" in sentence or "19" in sentence else None
        if match:
            year, month = int(match.group("year")), _month(match.group("mon"))
            return (date(year, month, 1), date(year, month, 28) + timedelta(days=4)), True, match.start()
        lower = sentence.lower()
        match = ANCHOR_BEFORE_INVASION.search(sentence) if ("before" in lower or "eve of" in lower or "run-up" in lower) else None
        if match:
            return (date(2022, 1, 1), date(2022, 2, 23)), True, match.start()
        found = [y for y in YEAR.finditer(sentence) if 2012 <= int(y.group("year")) <= 2030] if "20" in sentence else []
        if found:
            years = [int(y.group("year")) for y in found]
            return (date(min(years), 1, 1), date(max(years), 12, 31)), True, found[0].start()
        if reference is None:
            return None, False, None
        match = ANCHOR_RECENT.search(sentence) if ("week" in lower or "day" in lower or "this month" in lower) else None
        if match:
            back = RECENT_DAYS[match.lastgroup]
            return (reference - timedelta(days=back), reference - timedelta(days=1)), True, match.start()
        match = ANCHOR_YEARS_AGO.search(sentence) if ("ago" in lower or "earlier" in lower or "before" in lower) else None
        if match:
            n = match.group("n").lower()
            amount = 10 if n == "a decade" else _number(n) or 1
            if match.group("unit") and match.group("unit").lower().startswith("decade"):
                amount *= 10
            year = reference.year - int(amount)
            return (date(year, 1, 1), date(year, 12, 31)), True, match.start()
        match = ANCHOR_LAST_YEAR.search(sentence) if "year" in lower or "12 months" in lower else None
        if match:
            year = reference.year - 1
            return (date(year, 1, 1), date(year, 12, 31)), True, match.start()
        match = ANCHOR_LAST_MONTH.search(sentence) if "month" in lower else None
        if match:
            first = reference.replace(day=1)
            previous = first - timedelta(days=1)
            return (previous.replace(day=1), previous), True, match.start()
        match = ANCHOR_MONTH.search(sentence)
        if match:
            month = _month(match.group("mon"))
            year = int(match.group("year")) if match.group("year") else reference.year if month < reference.month else reference.year - 1
            return (date(year, month, 1), date(year, month, 28) + timedelta(days=4)), True, match.start()
        match = ANCHOR_THIS_YEAR.search(sentence) if "this year" in lower else None
        if match:
            return (date(reference.year, 1, 1), reference), True, match.start()
        return None, False, None
