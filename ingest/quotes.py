"""Who said what: find the quotations of an article and the speaker of each.

`QuoteFinder().find(paragraphs)` takes the body paragraphs of one article, in order, and returns
for each paragraph its quotations (`Quote`: speaker, speaker as written, the quoted words, the
verb). Speakers are canonical names from speakers.yml ("Xi Jinping"); a named speaker not listed
there keeps the name as written, titles dropped ("Jakub Jakobowski").

What counts as a quotation (the rule, applied the same way everywhere):
- Quotation marks are “…”, ‘‘…’’ (doubled single marks), ``…'', "…" (straight marks, opening
  after a space or at the start), «…», and ‘…’ when no double quotation is open. A quotation
  left open at the end of a paragraph that it began runs to the paragraph's end (the convention
  for quotations that go on in the next paragraph).
- A quoted span that makes up a whole sentence (it starts the sentence, with a capital) is a
  quotation, attributed or not.
- A quoted span inside a sentence ("described ties as an ‘‘extremely important factor’’") is a
  quotation only when a speech verb attributes it: a verb of speaking in the same sentence
  before it (said, told, described … as, calls, vowed, warned …), or right after it (“…,” he
  said). Otherwise it is a scare quote or a name (“no limits” partnership, the “Tourism Year of
  China”), and it is not reported, however long.

Attribution, first that applies:
1. Right after the quotation: “…,” Xi said / “…,” said Jakub Jakobowski, a … / “…,” he added.
2. Before it in the same sentence: the nearest speech verb with a subject — a name, a pronoun,
   a role ("the Chinese leader") or a description ("Japan’s foreign ministry"). Appositives and
   adverbs between subject and verb are skipped ("Xi, in turn, told …"); a verb joined by "and"
   or a participle after a comma ("…, saying …") takes the subject of its sentence.
3. A whole-sentence quotation without either continues the previous quotation of this or the
   previous paragraph (“…,” Xi said. “…”), and gets no speaker if there is none.

"he"/"she" is the most recent singular person who was the subject of a sentence or a speaker
(earlier in the same sentence first, then in earlier sentences and paragraphs of the article),
"they" the most recent group ("the two leaders", "Douglas H. Paal and Dmitri Trenin").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from .rewrites import name_key, similar_names, trie_pattern

HERE = Path(__file__).parent
DEFAULT_SPEAKERS = HERE / "speakers.yml"


@dataclass
class Quote:
    """One quotation: its speaker (canonical, or None), the speaker as written, the quoted
    words, and the verb that attributes them."""

    speaker: str | None
    speaker_as_written: str
    quote: str
    verb: str | None


# -- words

# Titles and nationality words that stand before a name and are not part of it.
TITLE_WORDS = {
    "mr", "mrs", "ms", "dr", "messrs", "sir", "dame", "lord", "president", "presidential",
    "premier", "prime", "minister", "deputy", "vice", "foreign", "defense", "defence", "secretary",
    "state", "treasury", "general", "gen", "chief", "executive", "officer", "ceo", "chairman",
    "chairwoman", "director", "ambassador", "senator", "sen", "rep", "gov", "governor", "mayor",
    "spokesman", "spokeswoman", "professor", "prof", "king", "queen", "prince", "commander",
    "admiral", "colonel", "col", "lt", "sgt", "captain", "capt", "chancellor", "press", "aide",
    "adviser", "advisor", "counselor", "comrade", "party", "communist", "supreme", "leader",
    "chinese", "russian", "american", "us", "u.s", "japanese", "ukrainian", "indian", "british",
    "french", "german", "european", "eu", "un", "u.n", "nato", "kremlin", "white", "house",
    "economy", "energy", "trade", "finance", "interior", "emergency", "emergencies", "national",
    "security", "council", "company", "state-run", "former", "acting", "first", "then",
}
HONORIFICS = {"mr", "mrs", "ms", "dr", "messrs", "sir", "dame", "prof"}
FEMALE_HONORIFICS = {"mrs", "ms", "dame"}
# Capitalised words that begin a sentence without being part of a name.
FUNCTION_WORDS = {
    "but", "and", "the", "a", "an", "in", "on", "at", "for", "so", "yet", "still", "when", "while",
    "after", "before", "during", "meanwhile", "however", "instead", "rather", "indeed", "now",
    "then", "this", "that", "these", "those", "it", "its", "his", "her", "their", "our", "two",
    "three", "both", "many", "some", "several", "other", "another", "earlier", "later",
    "speaking", "asked", "as", "if", "since", "though", "although", "also", "moreover", "today",
    "yesterday", "separately", "finally", "only", "even", "with", "without", "by", "from", "to",
    "of", "over", "under", "about", "like", "unlike", "amid", "despite", "following", "formally",
}
NAME_PARTICLES = {"de", "van", "von", "bin", "al", "da", "di", "du", "der", "la", "le", "ibn", "el", "ben"}
# Words that make a capitalised phrase an institution rather than a person.
ORG_WORDS = {
    "ministry", "agency", "news", "times", "center", "centre", "institute", "bank", "corporation",
    "corp", "group", "company", "council", "committee", "university", "kremlin", "government",
    "office", "embassy", "press", "post", "journal", "reuters", "xinhua", "tass", "ria", "pravda",
    "media", "television", "tv", "foundation", "endowment", "fund", "association", "union",
    "organization", "organisation", "party", "parliament", "duma", "congress", "senate",
    "department", "administration", "commission", "court", "house", "service", "daily", "gazprom",
    "rosneft", "cnpc", "nato", "china", "russia", "moscow", "beijing", "washington", "kyiv",
    "ukraine", "japan", "tokyo", "europe", "states", "nations", "state",
}
# Nouns that head a description of a speaker: "the Kremlin aide", "a ministry spokesman".
ROLE_NOUNS = (
    "spokesman|spokeswoman|spokesperson|analyst|analysts|expert|experts|official|officials|"
    "minister|aide|adviser|advisor|researcher|fellow|director|ambassador|diplomat|diplomats|"
    "leader|leaders|president|premier|chief|envoy|professor|scholar|economist|watcher|"
    "commentator|secretary|statement|ministry|agency|report|source|sources|observers|critics|"
    "man|woman|men|pair|side|sides|media"
)
ADVERBS_AND_AUXILIARIES = re.compile(
    r"(?:\s+|^)(?:has|have|had|was|were|is|are|will|would|could|should|may|might|also|then|"
    r"later|earlier|again|once|reportedly|now|however|further|separately|long|often|still|"
    r"in turn|[a-z]+ly)$"
)
TOKEN = re.compile(r"\w[\w’'.\-]*|[^\w\s]")
DETERMINER_DESCRIPTION = re.compile(
    r"(?:(?<=\s)|^)((?:the|a|an|one|another|its|his|her|their|[A-Z][\w’'.\-]*[’']s)\s+"
    r"(?:[\w’'.\-]+\s+){0,4}?(?:" + ROLE_NOUNS + r"))$"
)
GENERIC_SPEAKERS = {"analysts", "officials", "experts", "diplomats", "observers", "critics", "sources", "witnesses", "residents"}
BARE_PLURAL = re.compile(r"(?:(?<=\s)|^)((?:[a-z][\w\-]*\s+){0,2}(?:analysts|officials|experts|diplomats|observers|critics|sources))$")
PRONOUN_AT_END = re.compile(r"(?:(?<=\s)|^)(he|she|they|He|She|They)$")
PRONOUNS = {"he", "she", "they"}

# Quotation marks.
# (Each alternative begins with a literal, so that the regex engine skips ahead to the next mark
# instead of trying every position; a "’" before a letter or digit, an apostrophe ("China’s"),
# is left out: it neither opens nor closes a quotation.)
MARK = re.compile(r"‘‘?|’’|’(?![^\W_])|``|''|“|”|«|»|„|\"")
OPENERS = {"‘‘", "``", "“", "«", "„"}
CLOSERS = {"’’", "''", "”", "»"}
MASK_OTHER = re.compile(r"[^\sA-Z]")
MASK_UPPER = re.compile(r"[A-Z]")
# Sentence ends in text whose quoted words are masked: a stop, closing marks, space, and the
# start of a sentence.
SENTENCE_END = re.compile(r"[.!?](?:’’|''|[\"”’»)\]])*\s+(?=‘‘|``|[\"“‘«(\[]?[A-Z0-9])")
ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "gen", "sen", "rep", "gov", "lt", "col", "maj", "capt", "sgt",
    "jr", "sr", "no", "corp", "inc", "co", "ltd", "vs", "prof", "messrs", "mt", "ft", "jan", "feb",
    "aug", "sept", "oct", "nov", "dec",
}
ELISION = re.compile(r"^\s*(?:\[\s*(?:…|\.\.\.)\s*\]|…)\s*")
LEADING_CONNECTIVE = re.compile(
    r"^(?:But|And|Yet|So|Still|However|Meanwhile|Instead|Rather|Indeed|Also|Then|Now|Thus|"
    r"Moreover|Separately|Finally|Overall|Formally|Nonetheless|Nevertheless|Earlier|Later)\b,?\s+"
)
INTRO_WORDS = {
    "in", "on", "at", "during", "after", "before", "while", "when", "since", "as", "for", "with",
    "despite", "amid", "far", "striking", "shortly", "over", "by", "beyond", "following", "unlike",
    "like", "throughout", "addressing", "speaking", "asked", "from", "under", "until", "within",
    "without", "according", "if", "although", "though", "because", "once", "whereas", "earlier",
    "later", "last", "this", "next", "two", "three", "four", "five", "six", "upon", "to",
    "back", "even", "only", "just", "days", "weeks", "hours", "months", "years", "meanwhile",
    "instead", "rather", "still", "however", "indeed", "formally", "separately", "finally",
}
# Patterns of the functions below, compiled once (they run for every sentence).
INITIAL = re.compile(r"[A-Z]\.?")
POSSESSIVE = re.compile(r"[’']s$")
ENDS_WITH_CONJUNCTION = re.compile(r"(?:^|\s)(?:and|but|or)$")
CONJUNCTION_AT_END = re.compile(r"\s*(?:and|but|or)$")
ENDS_WITH_RELATIVE = re.compile(r"(?:^|\s)(?:that|which|who)$")
NAME_CHUNK_END = re.compile(r"[,;:.]\s|[,;:]$|\.$")
AS_AT_END = re.compile(r"\bas\s*$")
QUOTED_AS = re.compile(r"\bquoted\s+(?!by\b)(.+?)\s+as\s*$")
PASSIVE_QUOTED = re.compile(r"^(.*?)\s+(?:was|were|is|are|has been|have been|had been)\s+quoted\b")
APPOSITIVE_END = re.compile(r"\s(?:of|at|from|with)\s")
LOWER_CASE_WORDS = re.compile(r"(?:[a-z][\w\-]*\s*){0,5}")
PRONOUN_AT_START = re.compile(r"(he|she|they)\b")
PRONOUN_WORD_AT_START = re.compile(r"(?:he|she|they)\s")
DESCRIPTION_AT_START = re.compile(
    r"((?:the|a|an|one|another)\s+(?:[\w’'.\-]+\s+){0,4}?(?:" + ROLE_NOUNS + r"))\b"
)
TAIL_CHUNK_END = re.compile(r"[,;:()—–]|\.(?:\s|$)")
TAIL_APPOSITIVE = re.compile(r"\s*,\s*((?:a|an|the)\s[^.;]+)")
QUOTE_MARK_OR_STOP = re.compile(r"[“”\"‘’:;]|\.\s")
PLAIN_WORDS = re.compile(r"(?:\w+\.\s)?[\w’'.\-\s]+")


@lru_cache(maxsize=4096)  # names recur in every article
def _key(text: str) -> str:
    """How names and phrases are compared: lower case, "’" as "'", no full stops, single spaces."""
    return " ".join(text.replace("’", "'").replace(".", " ").lower().split())


def _same_name(a: str, b: str) -> bool:
    return a.lower() == b.lower() or similar_names(a, b)


def _first_words(text: str, n: int) -> list[str]:
    """text.split()[:n] (n >= 1) without splitting all of a long text."""
    return text.split(None, n)[:n]


def _last_words(text: str, n: int) -> list[str]:
    """text.split()[-n:] (n >= 1) without splitting all of a long text."""
    return text.rsplit(None, n)[-n:]


def _last_token(text: str) -> str:
    """TOKEN.findall(text)[-1], or "": tokens never span white space, so it is in the last word."""
    last = text.rsplit(None, 1)
    return TOKEN.findall(last[-1])[-1] if last else ""


def _search_at_end(pattern: re.Pattern, text: str, words: int) -> re.Match | None:
    """pattern.search(text) for a pattern anchored at the end ($) whose matches lie within the
    last `words` words (and the space before them): searched from there, the same match without
    the regex engine trying every position of a long text."""
    head = text.rsplit(None, words)
    return pattern.search(text, len(head[0]) if len(head) > words else 0)


def _sub_at_end(pattern: re.Pattern, text: str, words: int) -> str:
    """pattern.sub("", text) for such a pattern (it matches once at most)."""
    match = _search_at_end(pattern, text, words)
    return text[: match.start()] + text[match.end() :] if match else text


@lru_cache(maxsize=4096)  # asked for every name not found as written
def _without_initials(text: str) -> str:
    """"Vladimir V. Putin" -> "Vladimir Putin"."""
    return " ".join(w for w in text.split() if not INITIAL.fullmatch(w))


# -- speakers


@dataclass
class Speaker:
    name: str
    surname: str
    gender: str | None = None
    person: bool = True
    descriptions: list[str] = field(default_factory=list)


@dataclass(slots=True)  # many are made per article: slots make them cheaper
class Who:
    """A resolved subject: the speaker (canonical name or name as written; None if unknown),
    how it was written, its members if it is a group, and whether "he"/"she" can refer to it."""

    speaker: str | None
    as_written: str
    members: tuple[str, ...] = ()
    person: bool = False
    gender: str | None = None
    group: bool = False


class Speakers:
    """The speakers list (speakers.yml), indexed for lookups."""

    def __init__(self, path: Path | str | None = None):
        data = yaml.safe_load(Path(path or DEFAULT_SPEAKERS).read_text(encoding="utf-8")) or {}
        self.by_name: dict[str, Speaker] = {}
        self.aliases: dict[str, set[str]] = {}  # key -> canonical names
        self.surnames: dict[str, set[str]] = {}
        self.roles: dict[str, tuple[str, ...]] = {}  # key -> canonical names (one, or a group)
        self.descriptions: dict[str, set[str]] = {}
        self.by_surname_key: dict[str, list[str]] = {}  # name_key(surname) -> canonical names
        described_aliases: list[str] = []  # aliases with lower-case words: "Japan’s foreign ministry"
        for entry in data.get("speakers") or []:
            name = str(entry["name"])
            surname = str(entry.get("surname") or name.split()[-1])
            speaker = Speaker(
                name, surname, entry.get("gender"), entry.get("kind", "person") == "person",
                [str(d) for d in entry.get("descriptions") or []],
            )
            self.by_name[name] = speaker
            for alias in [name, _without_initials(name), *map(str, entry.get("aliases") or [])]:
                for form in (alias, _without_initials(alias)):
                    self.aliases.setdefault(_key(form), set()).add(name)
                if any(word[0].islower() for word in alias.split()):
                    described_aliases.append(_key(alias))
            if speaker.person:
                self.surnames.setdefault(_key(surname), set()).add(name)
                self.by_surname_key.setdefault(name_key(surname), []).append(name)
            for role in entry.get("roles") or []:
                self.roles[_key(str(role))] = (name,)
            for description in speaker.descriptions:
                self.descriptions.setdefault(_key(description), set()).add(name)
        self.groups: list[tuple[str, ...]] = []
        for entry in data.get("groups") or []:
            names = tuple(str(n) for n in entry["names"])
            self.groups.append(names)
            for role in entry.get("roles") or []:
                self.roles[_key(str(role))] = names
        # Phrases matched at the end of a subject: roles, and aliases written with lower case.
        self.suffixes = sorted({*self.roles, *described_aliases}, key=len, reverse=True)
        self.suffix_at_end = re.compile(r"(?:^|(?<= ))(" + trie_pattern(self.suffixes) + r")$")
        self.suffix_words = max((len(suffix.split()) for suffix in self.suffixes), default=1)
        self.role_at_start = re.compile(r"(" + trie_pattern(sorted(self.roles)) + r") ")
        verbs = data.get("verbs") or {}
        self.finite = [str(v) for v in verbs.get("finite") or []]
        self.participles = {str(v) for v in verbs.get("participles") or []}
        words = trie_pattern(sorted({*self.finite, *self.participles, "according to", "According to"}))
        self.verb = re.compile(r"(?<![\w\-])(" + words + r")(?![\w\-])")
        self.verb_at_start = re.compile(r"(" + words + r")(?![\w\-])\s*")

    def group_name(self, members: tuple[str, ...]) -> str:
        """The name of a group of speakers: the order of speakers.yml's group where it is one."""
        for group in self.groups:
            if set(group) == set(members):
                return " and ".join(group)
        return " and ".join(members)


# -- one article's context


@dataclass
class Context:
    """What the earlier sentences of an article tell about who is who."""

    recent: list[Who] = field(default_factory=list)  # subjects and speakers, oldest first
    local: dict[str, str] = field(default_factory=dict)  # surname key -> full name as written
    described: dict[str, set[str]] = field(default_factory=dict)  # speaker -> description words
    last_quote: tuple[Quote, int] | None = None  # the last quotation and its paragraph

    def push(self, who: Who | None) -> None:
        if who and who.speaker and (who.person or who.group):
            self.recent.append(who)
            del self.recent[:-30]


@dataclass(slots=True)  # many are made per article: slots make them cheaper
class Span:
    """A quoted span: positions of the opening mark, the words, and the end of the closing mark."""

    start: int
    words_start: int
    words_end: int
    end: int
    closed: bool = True


def quote_spans(text: str) -> list[Span]:
    """The quoted spans of a paragraph, in order (see the module docstring for the marks)."""
    spans: list[Span] = []
    double: tuple[int, int] | None = None  # (mark start, words start) of an open double quote
    single: tuple[int, int] | None = None
    for match in MARK.finditer(text):
        mark, at, after = match.group(0), match.start(), match.end()
        before = text[at - 1] if at else " "
        following = text[after] if after < len(text) else " "
        if mark == '"':
            mark = "“" if double is None and (before.isspace() or before in "([{—–-/") else "”"
        if mark in OPENERS:
            double = (at, after)  # an opening mark while one is open: the earlier one was stray
            single = None
        elif mark in CLOSERS:
            if double is not None:
                spans.append(Span(double[0], double[1], at, after))
                double = None
        elif mark == "‘" and double is None:
            if (before.isspace() or before in "([{—–-") and following.isalnum():
                single = (at, after)
        elif mark == "’" and double is None and single is not None:
            if not following.isalnum():  # not an apostrophe ("China’s")
                spans.append(Span(single[0], single[1], at, after))
                single = None
    if double is not None:
        # Left open: a quotation that goes on in the next paragraph, if it began a sentence.
        lead = text[: double[0]].rstrip()
        if not lead or lead[-1] in ".!?:" or ELISION.fullmatch(lead + " "):
            spans.append(Span(double[0], double[1], len(text), len(text), closed=False))
    return spans


def mask_quotes(text: str, spans: list[Span]) -> str:
    """The text with the letters of quoted words replaced by "x"/"X" (same length and case), so
    that searching for verbs and subjects never looks inside a quotation while sentence ends
    still see capitals. A final stop is kept: it may end the sentence."""
    pieces, at = [], 0
    for span in spans:
        words = text[span.words_start : span.words_end]
        body = words.rstrip()
        keep = body[-1:] if body[-1:] in (".", "!", "?", ",") else ""
        body = body[: len(body) - len(keep)]
        masked = MASK_UPPER.sub("X", MASK_OTHER.sub("x", body))
        pieces += [text[at : span.words_start], masked, keep, words[len(body) + len(keep) :]]
        at = span.words_end
    pieces.append(text[at:])
    return "".join(pieces)


def _ends_sentence(text: str, match: re.Match, start: int = 0) -> bool:
    """Whether a SENTENCE_END match ends a sentence, not an abbreviation ("Mr.", "U.S.", "V.")."""
    if text[match.start()] != ".":
        return True
    before = text[start : match.start()].rstrip()
    last_word = (before.rsplit(None, 1) or [""])[-1]
    stem = last_word.lstrip("(\"“‘").lower()
    return not (len(stem) == 1 or stem in ABBREVIATIONS or "." in stem)


def _first_sentence_end(text: str) -> int:
    """Where the first sentence of the text ends (its length if it does not)."""
    for match in SENTENCE_END.finditer(text):
        if _ends_sentence(text, match):
            return match.start() + 1
    return len(text)


def sentence_bounds(masked: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a masked paragraph."""
    bounds, start = [], 0
    for match in SENTENCE_END.finditer(masked):
        if not _ends_sentence(masked, match, start):
            continue
        bounds.append((start, match.end()))
        start = match.end()
    if start < len(masked):
        bounds.append((start, len(masked)))
    return bounds


class QuoteFinder:
    """Finds quotations and their speakers, article by article."""

    def __init__(self, speakers_path: Path | str | None = None):
        self.speakers = Speakers(speakers_path)

    # -- resolving names

    def _resolve_name(self, tokens: list[str], ctx: Context) -> Who:
        """A person's or institution's name (one member of a subject) -> Who."""
        as_written = " ".join(tokens)
        bare = [t.rstrip(".").lower() for t in tokens]  # as the word lists have them
        honorific = next((b for b in bare if b in HONORIFICS), None)
        # Drop an institution before a possessive ("Rand’s Charup") and titles ("Treasury
        # Secretary Janet L. Yellen"): the name is what follows the last of them.
        cut = 0
        for i, token in enumerate(tokens[:-1]):
            if POSSESSIVE.search(token) or bare[i] in TITLE_WORDS or token == "of":
                if any(b not in TITLE_WORDS for b in bare[i + 1 :]):
                    cut = i + 1
        name_tokens = tokens[cut:] or tokens
        written = " ".join(name_tokens)
        # 1. A name or alias of the speakers list.
        listed = self._listed(as_written) or self._listed(written) or self._listed(_without_initials(written))
        if listed:
            return self._remember(listed, as_written, ctx)
        # 2. A surname alone: the person of this article with it, else the one listed speaker.
        if len(name_tokens) == 1:
            if _key(written) in ctx.local:
                return self._known(ctx.local[_key(written)], as_written)
            found = self.speakers.surnames.get(_key(written))
            if found and len(found) == 1:
                return self._remember(next(iter(found)), as_written, ctx)
        # 3. Another spelling of a name of this article or of the list ("Sharup", "Charap").
        spelling = self._spelling_of(name_tokens, ctx)
        if spelling:
            return self._remember(spelling, as_written, ctx)
        # 4. Unknown: the name as written.
        words = {_key(t) for t in name_tokens}
        person = (len(name_tokens) >= 2 or honorific is not None) and not words & ORG_WORDS
        gender = "female" if honorific in FEMALE_HONORIFICS else ("male" if honorific == "mr" else None)
        if person and len(name_tokens) >= 2:
            ctx.local[_key(name_tokens[-1])] = written
            # Chinese, Korean and Vietnamese names put the surname first: "Mr. Li" after "Li
            # Mingjiang". A first name is never used alone with a title, so this is safe.
            ctx.local[_key(name_tokens[0])] = written
        return Who(written, as_written, (written,), person, gender)

    def _listed(self, name: str) -> str | None:
        """The one speaker of the list with this name or alias, or None."""
        found = self.speakers.aliases.get(_key(name))
        return next(iter(found)) if found and len(found) == 1 else None

    def _spelling_of(self, name_tokens: list[str], ctx: Context) -> str | None:
        """The name (of this article, most recent first, then of the list) that these tokens
        spell another way: the same surname give or take a transliteration, and the same or a
        similar first name where one is given."""
        surname, first = name_tokens[-1], name_tokens[0] if len(name_tokens) > 1 else None
        if len(surname) < 4:
            return None
        key = name_key(surname)
        candidates = [full for full in reversed(ctx.local.values()) if name_key(full.split()[-1]) == key]
        candidates += self.speakers.by_surname_key.get(key, [])
        for full in candidates:
            parts = full.split()
            known = self.speakers.by_name[full].surname if full in self.speakers.by_name else parts[-1]
            if full != " ".join(name_tokens) and _same_name(surname, known) and (first is None or _same_name(first, parts[0])):
                return full
        return None

    def _remember(self, name: str, as_written: str, ctx: Context) -> Who:
        """A name found: a later surname alone ("Mr. Wang") means this person."""
        speaker = self.speakers.by_name.get(name)
        if speaker is None or speaker.person:
            ctx.local[_key(speaker.surname if speaker else name.split()[-1])] = name
        return self._known(name, as_written)

    def _known(self, name: str, as_written: str) -> Who:
        speaker = self.speakers.by_name.get(name)
        if speaker:
            return Who(name, as_written, (name,), speaker.person, speaker.gender)
        return Who(name, as_written, (name,), True, None)

    def _role(self, names: tuple[str, ...], written: str) -> Who:
        """A role of speakers.yml ("the Kremlin leader", "the two leaders") -> Who."""
        if len(names) == 1:
            return self._known(names[0], written)
        return self._group([self._known(n, n) for n in names], written)

    def _group(self, members: list[Who], written: str) -> Who:
        names = tuple(dict.fromkeys(m.speaker for m in members if m.speaker))
        if len(names) == 1:
            return Who(names[0], written, names, members[0].person, members[0].gender)
        return Who(self.speakers.group_name(names), written, names, False, None, group=True)

    def _resolve_pronoun(self, pronoun: str, ctx: Context, local: list[Who]) -> Who:
        """he/she: the most recent singular person; they: the most recent group."""
        word = pronoun.lower()
        for who in reversed(ctx.recent + local):
            if word == "they":
                if who.group:
                    return Who(who.speaker, pronoun, who.members, False, None, group=True)
            elif who.person and not who.group:
                wanted = "male" if word == "he" else "female"
                if who.gender in (None, wanted):
                    return Who(who.speaker, pronoun, who.members, True, who.gender)
        return Who(None, pronoun)

    def _resolve_description(self, phrase: str, ctx: Context, local: list[Who]) -> Who:
        """"the Kremlin aide": the latest person of the article so described, or the one
        speaker of the list with that description."""
        words = [w for w in _key(phrase).split() if w not in {"the", "a", "an", "one", "another"}]
        if not words:
            return Who(None, phrase)
        head = words[-1]
        for who in reversed(ctx.recent + local):
            if who.group or not who.speaker:
                continue
            described = set(ctx.described.get(who.speaker, set()))
            speaker = self.speakers.by_name.get(who.speaker)
            if speaker:
                for d in speaker.descriptions:
                    described |= set(_key(d).split())
            if head in described and all(w in described for w in words[:-1] if w[0].isalpha() and w not in {"s"}):
                return Who(who.speaker, phrase, who.members, who.person, who.gender)
        found = self.speakers.descriptions.get(" ".join(words))
        if found and len(found) == 1:
            return self._known(next(iter(found)), phrase)
        return Who(None, phrase)

    def _resolve_tokens(self, tokens: list[str], ctx: Context, local: list[Who]) -> Who | None:
        """A run of name tokens, possibly several joined by "and", -> Who."""
        while tokens and (tokens[0].lower() in FUNCTION_WORDS or tokens[0].lower() in NAME_PARTICLES or tokens[0] == "and"):
            tokens = tokens[1:]
        if not tokens:
            return None
        written = " ".join(tokens)
        if len(tokens) == 1 and tokens[0].lower() in GENERIC_SPEAKERS:
            return Who(None, written)  # "Officials said", "Analysts say"
        role = self.speakers.roles.get(_key(written))
        if role:
            return self._role(role, written)
        plural = tokens[0].rstrip(".").lower() == "messrs"
        members, current = [], []
        for token in tokens + ["and"]:
            if token in ("and", "&", ","):
                if current:
                    members.append(current)
                current = []
            else:
                current.append(token)
        resolved = []
        for member in members:
            if plural and member[0].rstrip(".").lower() != "messrs":
                member = ["Mr."] + member
            if len(member) == 1 and member[0].lower() in PRONOUNS:
                resolved.append(self._resolve_pronoun(member[0], ctx, local))
            else:
                resolved.append(self._resolve_name(member, ctx))
        if len(resolved) == 1:
            who = resolved[0]
            return Who(who.speaker, written, who.members, who.person, who.gender, who.group)
        return self._group(resolved, written)

    # -- finding subjects

    def _name_run_at_end(self, text: str) -> list[str]:
        """The capitalised name tokens (joined by "and") that end the text."""
        tokens = TOKEN.findall(text)
        run: list[str] = []
        for token in reversed(tokens):
            if token[0].isupper():
                run.insert(0, token)
            elif run and token in ("and", "&") :
                run.insert(0, token)
            elif run and run[0] == "and" and token.lower() in PRONOUNS:
                run.insert(0, token)
            elif run and token.lower() in NAME_PARTICLES:
                run.insert(0, token)
            elif run and token == "of" and run[0].lower() in TITLE_WORDS:
                run.insert(0, token)
            else:
                break
        while run and run[0] in ("and", "&", "of"):
            run.pop(0)
        return run

    def _subject_at_end(self, left: str, ctx: Context, local: list[Who]) -> Who | None:
        """The subject that ends `left` (the words before a verb), or None."""
        text = left.rstrip()
        pronoun = _search_at_end(PRONOUN_AT_END, text, 1)
        if pronoun:
            return self._resolve_pronoun(pronoun.group(1), ctx, local)
        key = _key(" ".join(_last_words(text, 8)))
        ending = _search_at_end(self.speakers.suffix_at_end, key, self.speakers.suffix_words)
        if ending:
            suffix = ending.group(1)
            written = " ".join(_last_words(text, len(suffix.split())))
            if suffix in self.speakers.roles:
                return self._role(self.speakers.roles[suffix], written)
            found = self.speakers.aliases[suffix]
            if len(found) == 1:
                return self._known(next(iter(found)), written)
        if _last_token(text)[:1].isupper():
            run = self._name_run_at_end(text)
            return self._resolve_tokens(run, ctx, local)
        described = _search_at_end(DETERMINER_DESCRIPTION, text, 6) or _search_at_end(BARE_PLURAL, text, 3)
        if described:
            return self._resolve_description(described.group(1), ctx, local)
        return None

    def _subject_at_start(self, sentence: str, ctx: Context, local: list[Who]) -> Who | None:
        """The subject of a sentence: its first noun phrase after any introductory phrase."""
        text = ELISION.sub("", sentence)
        while True:
            stripped = LEADING_CONNECTIVE.sub("", text, count=1)
            if stripped == text:
                break
            text = stripped
        first = (text.split(None, 1) or [""])[0].lower().strip(",")
        if first in INTRO_WORDS or first.endswith("ing"):
            comma = text.find(", ")
            if comma < 0 or comma > 160:
                return None
            text = text[comma + 2 :]
        if not text or not (text[0].isalpha()):
            return None
        words = text.split(None, 8)  # the first 8 words are all that is used (and whether there are 3)
        if words[0].lower() in PRONOUNS:
            if len(words) > 2 and words[1] == "and":
                pass  # "he and Mr. Putin": a group, read below
            else:
                return self._resolve_pronoun(words[0], ctx, local)
        key = _key(" ".join(words[:8]))
        starting = self.speakers.role_at_start.match(key)
        if starting:
            role = starting.group(1)
            return self._role(self.speakers.roles[role], " ".join(_first_words(text, len(role.split()))))
        run = []
        for match in TOKEN.finditer(text):  # lazily: the run of names ends within a few tokens
            token = match.group()
            lower = token.lower()
            if token[0].isupper() or lower in PRONOUNS and not run:
                run.append(token)
            elif run and (token in ("and", "&") or lower in NAME_PARTICLES):
                run.append(token)
            elif run and token == "of" and run[-1].lower() in TITLE_WORDS:
                run.append(token)
            else:
                break
        while run and run[-1] in ("and", "&", "of"):
            run.pop()
        if not run:
            return None
        tokens = [t for t in run if t.lower() not in FUNCTION_WORDS] if run[0].lower() in FUNCTION_WORDS else run
        if len(tokens) == 1 and tokens[0].lower() not in PRONOUNS:
            # One capitalised word at the start of a sentence may be any word ("Key to …"):
            # a subject only if it is known.
            key = _key(tokens[0])
            if key not in ctx.local and key not in self.speakers.aliases and key not in self.speakers.surnames:
                return None
        return self._resolve_tokens(tokens, ctx, local)

    def _strip_to_subject(self, left: str) -> tuple[str, str | None, str]:
        """Remove adverbs and appositives between a subject and its verb.
        Returns (left without them, the last appositive removed, what the left ends with:
        "" or "and" / "comma" / "relative")."""
        text = left.rstrip()
        appositive = None
        for _ in range(6):
            before = text
            text = _sub_at_end(ADVERBS_AND_AUXILIARIES, text, 2).rstrip()
            if _search_at_end(ENDS_WITH_CONJUNCTION, text, 1):
                return _sub_at_end(CONJUNCTION_AT_END, text, 1), appositive, "and"
            if _search_at_end(ENDS_WITH_RELATIVE, text, 1):
                return text, appositive, "relative"
            if text.endswith(","):
                opener = text.rfind(",", 0, len(text) - 1)
                dash = max(text.rfind("—", 0, len(text) - 1), text.rfind("–", 0, len(text) - 1))
                opener = max(opener, dash)
                if opener < 0:
                    return text[:-1].rstrip(), appositive, "comma"
                appositive = text[opener + 1 : -1].strip()
                text = text[:opener].rstrip()
            elif text.endswith(("—", "–")):
                opener = max(text.rfind("—", 0, len(text) - 1), text.rfind("–", 0, len(text) - 1))
                if opener < 0:
                    return text[:-1].rstrip(), appositive, ""
                appositive = text[opener + 1 : -1].strip()
                text = text[:opener].rstrip()
            if text == before:
                break
        return text, appositive, ""

    def _verb_subject(self, sentence: str, verb: re.Match, main: Who | None, ctx: Context, local: list[Who]) -> Who | None:
        """The subject of one speech verb in a (masked) sentence."""
        word = " ".join(verb.group(1).split())
        if word.lower() == "according to":
            after = sentence[verb.end() :]
            chunk = NAME_CHUNK_END.split(after, maxsplit=1)[0]
            return self._subject_of_chunk(chunk, ctx, local)
        left = sentence[: verb.start()]
        if word == "saying" and AS_AT_END.search(left):
            # "TASS quoted Lavrov as saying", "Xi was quoted by CCTV as saying"
            quoted = QUOTED_AS.search(left)
            if quoted:
                return self._subject_of_chunk(quoted.group(1), ctx, local)
            passive = PASSIVE_QUOTED.search(left)
            if passive:
                return self._subject_at_end(self._strip_to_subject(passive.group(1))[0], ctx, local)
        if word in self.speakers.participles and left.rstrip().endswith(","):
            return main or (local[-1] if local else None)
        text, appositive, ending = self._strip_to_subject(left)
        if ending in ("and", "relative"):
            # "… and said", "a statement that called …": the subject of the sentence so far.
            return local[-1] if local else main
        if ending == "comma":
            return None
        subject = self._subject_at_end(text, ctx, local) if text else None
        if appositive:
            named = self._name_run_at_end(APPOSITIVE_END.split(appositive)[0])
            # "Two academics — A and B —", "Putin’s spokesman, Ivan Ivanov,": the names in the
            # appositive say who a described subject is.
            described = not (text and _last_token(text)[0].isupper())
            if named and (described or subject is None or not subject.speaker or not (subject.person or subject.group)):
                subject = self._resolve_tokens(named, ctx, local) or subject
            if subject and subject.speaker:
                ctx.described.setdefault(subject.speaker, set()).update(_key(appositive).split())
        return subject

    def _subject_of_chunk(self, chunk: str, ctx: Context, local: list[Who]) -> Who | None:
        """The speaker named after an inverted verb: "said Jakub Jakobowski", "says Rand’s
        Charup", "said the Kremlin aide"."""
        chunk = chunk.strip()
        tokens = TOKEN.findall(chunk)
        start = next((i for i, t in enumerate(tokens) if t[0].isupper()), None)
        if start is not None:
            run = []
            for token in tokens[start:]:
                if token[0].isupper() or token.lower() in NAME_PARTICLES or token in ("and", "&"):
                    run.append(token)
                elif token == "of" and run and run[-1].lower() in TITLE_WORDS:
                    run.append(token)
                else:
                    break
            while run and run[-1] in ("and", "&", "of"):
                run.pop()
            descriptor = " ".join(tokens[:start])
            who = self._resolve_tokens(run, ctx, local)
            if who and who.speaker and descriptor:
                ctx.described.setdefault(who.speaker, set()).update(_key(descriptor).split())
            if who and (start == 0 or LOWER_CASE_WORDS.fullmatch(descriptor)):
                return who
        pronoun = PRONOUN_AT_START.match(chunk)
        if pronoun:
            return self._resolve_pronoun(pronoun.group(1), ctx, local)
        described = DESCRIPTION_AT_START.match(chunk)
        if described:
            return self._resolve_description(described.group(1), ctx, local)
        return None

    # -- attributing quotations

    def _tail(self, text: str, masked: str, span: Span, ctx: Context, local: list[Who]) -> tuple[Who, str] | None:
        """An attribution right after the quotation: “…,” Xi said / “…,” said Xi."""
        words = text[span.words_start : span.words_end].rstrip()
        rest = masked[span.end :]
        follows_comma = rest.lstrip().startswith((",", "—", "–"))
        rest = rest.lstrip(" ,—–")
        if not (words.endswith((",", "?", "!", "—", "–", "-")) or follows_comma or PRONOUN_WORD_AT_START.match(rest)):
            return None
        rest = masked[span.end :][: _first_sentence_end(masked[span.end :])].lstrip(" ,—–")
        inverted = self.speakers.verb_at_start.match(rest)
        if inverted:
            chunk = TAIL_CHUNK_END.split(rest[inverted.end() :], maxsplit=1)[0]
            after_name = rest[inverted.end() + len(chunk) :]
            who = self._subject_of_chunk(chunk, ctx, local)
            if who and who.speaker:
                appositive = TAIL_APPOSITIVE.match(after_name)
                if appositive:
                    ctx.described.setdefault(who.speaker, set()).update(_key(appositive.group(1)).split())
            if who:
                return who, " ".join(inverted.group(1).split())
            return None
        for verb in self.speakers.verb.finditer(rest[:90]):
            subject_text = rest[: verb.start()]
            if QUOTE_MARK_OR_STOP.search(subject_text) and not PLAIN_WORDS.fullmatch(subject_text):
                break
            if len(subject_text.split()) > 8:
                break
            text_, appositive, ending = self._strip_to_subject(subject_text)
            if ending:
                break
            who = self._subject_at_end(text_, ctx, local) if text_ else None
            if who:
                if appositive and who.speaker:
                    ctx.described.setdefault(who.speaker, set()).update(_key(appositive).split())
                return who, " ".join(verb.group(1).split())
            break
        return None

    def _before(self, masked: str, sentence_start: int, span: Span, main: Who | None, ctx: Context, local: list[Who]) -> tuple[Who, str] | None:
        """An attribution before the quotation in its sentence: the nearest speech verb with a
        subject."""
        sentence = masked[sentence_start : span.start]
        from_sentence = masked[sentence_start:]
        for verb in reversed(list(self.speakers.verb.finditer(sentence))):
            who = self._verb_subject(from_sentence, verb, main, ctx, local)
            if who:
                return who, " ".join(verb.group(1).split())
        return None

    def _paragraph(self, text: str, index: int, ctx: Context) -> list[Quote]:
        text = text.replace("\u00a0", " ")
        spans = quote_spans(text)
        masked = mask_quotes(text, spans)
        quotes: list[Quote] = []
        for start, end in sentence_bounds(masked):
            sentence = masked[start:end]
            local: list[Who] = []
            main = self._subject_at_start(sentence, ctx, local)
            if main and main.speaker:
                local.append(main)
            # Subjects of the sentence's speech verbs, in order; a quotation's own attribution
            # is looked up at its place.
            inside = [s for s in spans if start <= s.start < end]
            events: list[tuple[int, Span | re.Match]] = [(s.start, s) for s in inside]
            events += [(start + m.start(), m) for m in self.speakers.verb.finditer(sentence)]
            for _, event in sorted(events, key=lambda e: e[0]):
                if isinstance(event, re.Match):
                    who = self._verb_subject(sentence, event, main, ctx, local)
                    if who and who.speaker and (who.person or who.group):
                        local.append(who)
                    continue
                quote = self._attribute(text, masked, start, event, main, index, ctx, local)
                if quote:
                    quotes.append(quote)
                    ctx.last_quote = (quote, index)
            for who in local:
                ctx.push(who)
        return quotes

    def _attribute(self, text: str, masked: str, start: int, span: Span, main: Who | None, index: int, ctx: Context, local: list[Who]) -> Quote | None:
        words = text[span.words_start : span.words_end].strip().rstrip(",").strip()
        if not words:
            return None
        found = self._tail(text, masked, span, ctx, local) or self._before(masked, start, span, main, ctx, local)
        lead = ELISION.sub("", masked[start : span.start]).strip()
        capital = words[0].isupper() or words[0].isdigit() or words[0] in "‘'"
        whole = capital and (not lead or lead.endswith(":"))
        if not found and capital and lead.endswith(":") and main and main.speaker and (main.person or main.group):
            found = (main, None)  # "Putin was blunt: “…”": the sentence's subject speaks
        if found:
            who, verb = found
            if who.speaker:
                local.append(who)
            return Quote(who.speaker, who.as_written, words, verb)
        if not whole:
            return None  # a scare quote or a name, not a quotation
        if ctx.last_quote and ctx.last_quote[1] >= index - 1:
            previous = ctx.last_quote[0]
            return Quote(previous.speaker, previous.speaker_as_written, words, previous.verb)
        return Quote(None, "", words, None)

    def find(self, paragraphs: list[str]) -> list[list[Quote]]:
        """The quotations of each paragraph of one article (paragraphs in article order)."""
        with_marks = [i for i, paragraph in enumerate(paragraphs) if MARK.search(paragraph)]
        found: list[list[Quote]] = [[] for _ in paragraphs]
        ctx = Context()
        # Paragraphs after the last one with a quotation mark cannot hold a quotation.
        for i in range(with_marks[-1] + 1 if with_marks else 0):
            found[i] = self._paragraph(paragraphs[i], i, ctx)
        return found


def find_quotes(paragraphs: list[str], speakers_path: Path | str | None = None) -> list[list[Quote]]:
    """Quotations of one article with a fresh QuoteFinder (tests and one-off use)."""
    return QuoteFinder(speakers_path).find(paragraphs)
