"""Generate a benchmark corpus: article files that look like the seeds, at any size.

    python bench/corpus.py --paragraphs 100000 --out bench/corpus/100k

Every article is made from the seeds' body paragraphs, perturbed so that the
corpus is not five articles repeated: sentences shuffled, paragraphs mixed from
different seeds, cities, weekdays, numbers and people's names swapped, and a
sentence naming a cue of the article's meeting added now and then. Around the
body come the things real files carry: a headline (or none), a player label
copied by mistake, captions (sometimes twice), photo credits, bylines,
subheads, a newsletter prompt in the middle, reporting credits and a block of
site chrome after the article, each in the manner of one of several outlets.

The output is deterministic for a given --seed and seed folder (no network, no
clock). Files go in numbered subfolders of at most 1000 files. Beside them, in
hidden files that neither the ingest nor ripgrep reads, the generator records
what it wrote: `.paragraphs.jsonl` (every body paragraph, for the floor
benchmark) and `.manifest.json` (counts and settings).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import shutil
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
FILES_PER_FOLDER = 1000
MIN_BODY, MAX_BODY = 12, 30
# A seed line is body text when it is prose of at least this many words (captions and chrome are shorter).
MIN_BODY_WORDS = 8

# The meetings of /work/shared/reference/meetings.md: first day, cities, and cues coverage uses.
MEETINGS = [
    ("2013-03-22", ["Moscow"], ["the new president's first foreign trip", "the Gazprom–CNPC gas memorandum", "a $2bn Rosneft loan", "the Tourism Year of China"]),
    ("2013-09-05", ["St Petersburg"], ["the G20 summit"]),
    ("2013-10-07", ["Bali"], ["the APEC summit", "Putin's 61st birthday", "cake and vodka"]),
    ("2014-02-06", ["Sochi"], ["the Sochi Olympics", "the Winter Olympics opening"]),
    ("2014-05-20", ["Shanghai"], ["a 30-year gas contract worth about $400bn", "the Power of Siberia pipeline", "the CICA summit"]),
    ("2014-11-09", ["Beijing"], ["the APEC summit in Beijing"]),
    ("2015-05-08", ["Moscow"], ["the Victory Day parade", "Chinese troops marching on Red Square", "the 70th anniversary of victory"]),
    ("2015-07-08", ["Ufa"], ["the BRICS and SCO summits in Ufa"]),
    ("2015-09-02", ["Beijing"], ["the Tiananmen parade", "the 70th anniversary of the end of the Second World War"]),
    ("2016-06-25", ["Beijing"], ["Putin's state visit"]),
    ("2016-09-04", ["Hangzhou"], ["the G20 summit in Hangzhou"]),
    ("2017-05-14", ["Beijing"], ["the first Belt and Road Forum"]),
    ("2017-07-03", ["Moscow"], ["the Order of St Andrew", "Xi's state visit"]),
    ("2017-09-03", ["Xiamen"], ["the BRICS summit in Xiamen"]),
    ("2018-06-08", ["Beijing", "Tianjin", "Qingdao"], ["the Friendship Medal", "a high-speed train to Tianjin", "an ice hockey match"]),
    ("2018-09-11", ["Vladivostok"], ["the Eastern Economic Forum", "pancakes and vodka"]),
    ("2019-04-26", ["Beijing"], ["the second Belt and Road Forum"]),
    ("2019-06-05", ["Moscow", "St Petersburg"], ["his \"best friend\"", "pandas for the Moscow Zoo", "the St Petersburg economic forum", "the 70th anniversary of relations"]),
    ("2019-06-14", ["Bishkek", "Dushanbe"], ["Xi's 66th birthday", "ice cream", "the SCO and CICA summits"]),
    ("2022-02-04", ["Beijing"], ["the \"no limits\" partnership", "the Winter Olympics opening", "days before the invasion of Ukraine"]),
    ("2022-09-15", ["Samarkand"], ["China's \"questions and concerns\" about Ukraine", "the SCO summit in Samarkand"]),
    ("2023-03-20", ["Moscow"], ["Xi's third term", "the ICC arrest warrant", "their 40th meeting", "the fighting in Bakhmut", "the 12-point peace plan"]),
    ("2023-10-17", ["Beijing"], ["the third Belt and Road Forum", "the 10th anniversary of Belt and Road"]),
    ("2024-05-16", ["Beijing", "Harbin"], ["Putin's fifth term", "the first trip abroad of his new term", "the 75th anniversary of diplomatic relations", "the Kharkiv offensive", "Belousov, the new defence minister"]),
    ("2024-07-03", ["Astana"], ["the SCO summit in Astana"]),
    ("2024-10-22", ["Kazan"], ["the BRICS summit in Kazan"]),
    ("2025-05-07", ["Moscow"], ["the Victory Day parade", "the 80th anniversary of victory"]),
    ("2025-08-31", ["Tianjin", "Beijing"], ["the SCO summit in Tianjin", "Kim Jong Un at the parade", "the Power of Siberia 2 memorandum"]),
]
COUNTRY = {
    "Moscow": "Russia", "St Petersburg": "Russia", "Sochi": "Russia", "Ufa": "Russia", "Vladivostok": "Russia",
    "Kazan": "Russia", "Bali": "Indonesia", "Shanghai": "China", "Beijing": "China", "Hangzhou": "China",
    "Xiamen": "China", "Tianjin": "China", "Qingdao": "China", "Harbin": "China", "Bishkek": "Kyrgyzstan",
    "Dushanbe": "Tajikistan", "Samarkand": "Uzbekistan", "Astana": "Kazakhstan",
}
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Cities the seeds' paragraphs name as the place of the meeting: swapped for the article's own.
SEED_CITIES = re.compile(r"\b(Moscow|Beijing|Harbin)\b")
WEEKDAY_RE = re.compile(r"\b(" + "|".join(WEEKDAYS) + r")\b")
NUMBER_RE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?!\w|,\d)")  # not "75th", "$2bn"
# People the seeds quote who are neither leader: their names are swapped for made-up ones.
PEOPLE = re.compile(
    r"\b(?:Douglas H\. Paal|Dmitri Trenin|Igor Sechin|Zhou Jiping|Dmitry Rogozin|Wang Yang|Sergei Kupriyanov|"
    r"Antony J\. Blinken|Antony Blinken|Janet L\. Yellen|Yury Ushakov|Jakub Jakobowski|Temur Umarov|"
    r"Wang Wenbin|Alexander Gabuyev|Samuel Sharup|Alexander Novak|Maksim Reshetnikov|Mikhail Mishustin)\b"
)
SURNAME_ONLY = re.compile(r"\bMr\. (Blinken|Ushakov|Jakobowski|Kishida|Belousov|Mishustin)\b")

FIRST = ["Anna", "Boris", "Chen", "Dmitri", "Elena", "Fang", "Grigory", "Hui", "Irina", "Jun", "Kirill", "Li", "Maria",
         "Nikolai", "Olga", "Pavel", "Qiang", "Roman", "Svetlana", "Tao", "Viktor", "Wei", "Xiao", "Yulia", "Zhang",
         "Alexei", "Bao", "Daria", "Feng", "Igor", "Jing", "Ksenia", "Lei", "Mikhail", "Natalia", "Ping", "Sergei"]
SYLLABLES = ["ko", "va", "len", "sha", "rov", "min", "zhu", "tin", "bel", "yev", "pet", "lin", "gor", "dan", "mar",
             "sok", "chen", "vol", "kov", "nik", "ras", "tur", "bek", "lov", "zin", "han", "pol", "ger", "shin", "dub"]
SURNAME_ENDINGS = ["ov", "ova", "enko", "sky", "in", "ev", "ang", "ing", "eva", "ich", "yan", "oi"]
AGENCIES = ["AFP via Getty Images", "Getty Images", "Reuters", "AP", "EPA", "Sputnik", "TASS", "Xinhua", "Pool", "Kremlin",
            "Bloomberg", "Anadolu", "Kyodo", "RIA Novosti"]
ORGS = ["the Carnegie Endowment", "the Centre for Eastern Studies", "the Rand Corporation", "the Lowy Institute",
        "the Royal United Services Institute", "Chatham House", "the Valdai Club", "the Brookings Institution",
        "the Mercator Institute for China Studies", "the Jamestown Foundation"]

HEADLINES = [
    "Xi and Putin {verb} in {city} as {theme}",
    "Putin and Xi {verb} in {city}",
    "In {city}, Xi and Putin {talk} {topic_title}",
    "China’s Xi Jinping and Russia’s Vladimir Putin {verb_title} {topic_title}.",
    "{theme_cap}: what Xi and Putin agreed in {city}",
    "Xi Jinping arrives in {city} for talks with Putin",
    "Putin heads to {city} for summit with Xi",
    "{city} summit: Putin and Xi pledge {pledge}",
    "Chinese, Russian leaders {verb} amid {theme}",
]
VERBS = ["meet", "hold talks", "sign deals", "vow closer ties", "stress partnership", "talk trade"]
VERBS_TITLE = ["Strengthen", "Deepen", "Celebrate", "Reaffirm", "Discuss"]
TALK = ["Talk", "Discuss", "Weigh", "Focus on"]
TOPICS_TITLE = ["Economic, Political Ties", "Energy and Trade", "Bilateralism and Energy", "a Multipolar World",
                "the War in Ukraine", "Gas Pipelines", "Security Cooperation", "Their Friendship"]
THEMES = ["West watches", "sanctions bite", "war in Ukraine grinds on", "energy ties deepen", "trade hits record",
          "pipeline talks stall", "US pressure mounts", "old rivals grow closer"]
PLEDGES = ["closer ties", "a multipolar world", "more trade", "energy cooperation", "mutual support"]

SUBHEADS = ["endless partnership", "protect the economy from sanctions", "A pipeline deferred", "Trade in rubles and yuan",
            "What comes next", "The view from Washington", "Energy first", "A friendship on display", "Ukraine looms",
            "Arms and technology", "Pomp and pageantry", "The economic lifeline", "Old rivals", "Behind closed doors"]
CAPTIONS = [
    "{a} and {b} shake hands during their talks in {city} on {weekday}.",
    "{a} and {b} attend a welcome ceremony in {city}.",
    "{a} (left) and {b} speak to reporters after their meeting in {city}.",
    "{a} greets {b} at the start of the summit in {city}, {country}.",
    "Honour guards stand in line before the arrival of {a} in {city} on {weekday}.",
    "{a} and {b} walk along the red carpet in {city}.",
    "{a} and {b} toast during a state dinner in {city} on {weekday}.",
]
PLAYER_LABELS = ["Next Score View the next score", "Up Next video", "Play Video", "Watch Now", "Next Story View the next story",
                 "Advertisement"]


@dataclass
class Outlet:
    """How one publication lays out an article: where the pieces go and what its chrome says."""

    name: str
    slug: str
    layout: str  # "blank": blank line between lines; "indent": indented, blank lines; "compact": one line each
    dateline: str  # a format for the first paragraph's dateline, or "" for none
    byline: float = 0.0  # how often a "By …" line follows the headline
    lead_photo: float = 0.5
    photo_style: str = "credit"  # "credit": caption then credit; "repeat": caption twice; "toggle": NPR-style widget
    newsletter: float = 0.0
    subheads: float = 0.0
    adverts: float = 0.0
    player_label: float = 0.0
    no_headline: float = 0.05
    reporting_credit: float = 0.3
    chrome: list[list[str]] = field(default_factory=list)


OUTLETS = [
    Outlet("Daily Courier", "courier", "indent", "{CITY} — ", lead_photo=0.7, photo_style="repeat", newsletter=0.6,
           player_label=0.4, chrome=[["Most Read", "• World", "• Politics", "© {year} Daily Courier. All rights reserved.",
                                      "Privacy Policy", "Terms of Use"]]),
    Outlet("China Digest Times", "cdt", "blank", "", lead_photo=0.1, reporting_credit=0.0, chrome=[
        ["CDT EBOOKS", "Subscribe to CDT", "SUPPORT CDT", "Google Ads 1", "Google Ads 2", "Anti-censorship Tools",
         "Open popup", "X", "Welcome back!",
         "CDT is a non-profit media site, and we need your support. Your contribution will help us provide more translations, breaking news, and other content you love."],
    ]),
    Outlet("Global Wire", "globalwire", "compact", "{CITY} (GW) - ", byline=0.5, lead_photo=0.3, adverts=0.3,
           chrome=[["Related Stories", "• Asia", "• Europe", "© {year} Global Wire. All rights reserved.", "Cookie Settings"]]),
    Outlet("Evening Journal", "journal", "compact", "{CITY}—", lead_photo=0.2, no_headline=0.02, chrome=[
        ["Related Posts", "Leave a Reply", "Your email address will not be published. Required fields are marked *",
         "Editors Pick", "• All Post", "• World", "Subscribe For News",
         "Get the latest world news from Evening Journal about politics, business and travel.",
         "You have been successfully Subscribed! Ops! Something went wrong, please try again.", "Latest Posts", "• All Post",
         "• Economy", "Hot News", "© {year} Evening Journal right Reserves"],
    ]),
    Outlet("Public Radio News", "publicradio", "compact", "{CITY} and {OTHER} — ", lead_photo=0.9, photo_style="toggle",
           subheads=0.8, reporting_credit=0.8),
    Outlet("Asia Monitor", "asiamonitor", "blank", "{CITY}, {Country} — ", byline=0.8, lead_photo=0.6, newsletter=0.3,
           subheads=0.3, chrome=[["Read More", "Trending Stories", "Sign up for our World Briefing newsletter",
                                  "© {year} Asia Monitor", "Privacy Policy"]]),
    Outlet("Eastern Post", "easternpost", "blank", "", lead_photo=0.4, adverts=0.5, no_headline=0.3, chrome=[
        ["Leave a comment", "Your email address will not be published. Required fields are marked *", "Post a Comment",
         "Copyright {year} Eastern Post"],
        [],
    ]),
    Outlet("Continental Herald", "herald", "indent", "{CITY} — ", byline=0.3, lead_photo=0.5, newsletter=0.4,
           player_label=0.2, subheads=0.2, chrome=[["Advertisement", "Recommended Stories", "• China", "• Russia",
                                                   "We use cookies to improve your experience.", "Cookie Settings"]]),
]


# --- seeds -------------------------------------------------------------------------------------------

CHROME_WORDS = re.compile(r"newsletter|get the latest|reported from|contributed (reporting|analysis)|subscribe|sign(ed|ing)? up|censorship|email address|your support|getty images", re.I)


def body_paragraphs(text: str) -> list[str]:
    """The body paragraphs of a seed: prose lines of some length that appear once and are no captions."""
    lines = [clean(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    paragraphs = []
    for i, line in enumerate(lines):
        followed_by_credit = i + 1 < len(lines) and "/" in lines[i + 1] and len(lines[i + 1].split()) <= 6
        if (
            len(line.split()) >= MIN_BODY_WORDS
            and line.rstrip("\"”’') ")[-1:] in ".!?:"
            and counts[line] == 1
            and not followed_by_credit
            and not CHROME_WORDS.search(line)
            and not (i == 0 and len(line.split()) <= 20)  # a headline
        ):
            paragraphs.append(strip_dateline(line))
    return paragraphs


DATELINE = re.compile(r"^[A-Z][A-Z.' -]{2,40}(?: and [A-Z][A-Z.' -]{2,40})?\s*[—–-]+\s*")


def strip_dateline(text: str) -> str:
    return DATELINE.sub("", text, count=1)


def clean(text: str) -> str:
    """Text as the ingest stores it: NFC, white space collapsed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def load_seeds(folder: Path) -> list[list[str]]:
    """Each seed's body paragraphs (one list per seed file)."""
    seeds = [body_paragraphs(path.read_text(encoding="utf-8")) for path in sorted(Path(folder).glob("*.txt"))]
    seeds = [s for s in seeds if s]
    if not seeds:
        raise SystemExit(f"no seed articles with body paragraphs in {folder}")
    return seeds


# --- perturbation ------------------------------------------------------------------------------------

SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’')]*\s+(?=[\"“‘(]?[A-Z0-9])")
ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Messrs|Corp|Inc|No|U\.S|U\.N|U\.K|[A-Z]))\.$")


def sentences(text: str) -> list[str]:
    """Split prose into sentences, not after titles and initials."""
    parts, start = [], 0
    for match in SENTENCE_END.finditer(text):
        if ABBREVIATION.search(text[start:match.start()].rstrip("\"”’')")):
            continue
        parts.append(text[start:match.start()].strip())
        start = match.end()
    parts.append(text[start:].strip())
    return [p for p in parts if p]


class Names:
    """Made-up people, many of them, so that swapped names become the corpus's rare words."""

    def __init__(self, rng: random.Random, size: int = 4000):
        surnames = set()
        while len(surnames) < size:
            stem = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 2)))
            surnames.add((stem + rng.choice(SURNAME_ENDINGS)).capitalize())
        self.surnames = sorted(surnames)

    def person(self, rng: random.Random) -> str:
        return f"{rng.choice(FIRST)} {rng.choice(self.surnames)}"


@dataclass
class Setting:
    """What one article is about: its meeting, and the words that place it."""

    cities: list[str]
    weekday: str
    cues: list[str]
    year: int
    people: dict[str, str] = field(default_factory=dict)  # seed person -> this article's stand-in

    @property
    def city(self) -> str:
        return self.cities[0]


def swap_words(text: str, setting: Setting, rng: random.Random, names: Names) -> str:
    """Move a seed paragraph to the article's meeting: its city, weekday, numbers and people."""
    if rng.random() < 0.8:
        # The host's city becomes the article's city; the other side's capital stays (it is "Moscow and Beijing").
        host = COUNTRY[setting.city]
        replaced = {"Russia": "Moscow", "China": "Beijing"}.get(host) or rng.choice(["Moscow", "Beijing"])
        text = SEED_CITIES.sub(
            lambda m: rng.choice(setting.cities) if m.group(0) in (replaced, "Harbin") else m.group(0), text
        )
    if rng.random() < 0.8:
        text = WEEKDAY_RE.sub(lambda m: setting.weekday if rng.random() < 0.7 else rng.choice(WEEKDAYS), text)
    if rng.random() < 0.5:
        text = NUMBER_RE.sub(lambda m: other_number(m.group(0), rng), text)

    def person(match: re.Match) -> str:
        return setting.people.setdefault(match.group(0), names.person(rng))

    def surname(match: re.Match) -> str:
        # "Mr. Blinken" is the same stand-in as "Antony Blinken" earlier in the article.
        full = next((k for k in setting.people if k.endswith(" " + match.group(1))), match.group(1))
        return "Mr. " + setting.people.setdefault(full, names.person(rng)).split()[-1]

    text = PEOPLE.sub(person, text)
    return SURNAME_ONLY.sub(surname, text)


def other_number(number: str, rng: random.Random) -> str:
    """A different number of the same size; years stay as written, since they date other events."""
    digits = number.replace(",", "")
    if len(digits) == 4 and digits[:2] in ("19", "20"):
        return number
    if rng.random() < 0.5:
        return number
    low, high = (10 ** (len(digits) - 1) if len(digits) > 1 else 1), 10 ** len(digits) - 1
    value = rng.randint(low, high)
    return f"{value:,}" if "," in number else str(value)


def perturb(paragraph: str, other: str, setting: Setting, rng: random.Random, names: Names) -> str:
    """One body paragraph made from a seed paragraph: as written, shuffled, or mixed with another."""
    parts = sentences(paragraph)
    roll = rng.random()
    if roll < 0.25 and len(parts) > 1:
        rng.shuffle(parts)
    elif roll < 0.5:
        extra = sentences(other)
        keep = rng.randint(1, max(1, len(parts)))
        parts = parts[:keep] + extra[rng.randint(0, len(extra) - 1):][:2]
    text = " ".join(parts)
    if rng.random() < 0.12:
        text += " " + cue_sentence(setting, rng)
    text = clean(swap_words(text, setting, rng, names))
    return text if text.rstrip("\"”’') ")[-1:] in ".!?:" else text + "."


def cue_sentence(setting: Setting, rng: random.Random) -> str:
    cue = rng.choice(setting.cues)
    return rng.choice([
        f"The talks in {setting.city} were overshadowed by {cue}.",
        f"Officials in {setting.city} pointed to {cue} as a sign of the times.",
        f"Much of the coverage of the {setting.city} meeting focused on {cue}.",
        f"State media in both countries made much of {cue}.",
    ])


# --- articles ----------------------------------------------------------------------------------------

@dataclass
class Article:
    """One generated file: its lines in order, and which of them are body paragraphs."""

    lines: list[tuple[str, str]]  # (kind, text)
    outlet: Outlet

    @property
    def paragraphs(self) -> list[str]:
        return [text for kind, text in self.lines if kind == "paragraph"]

    def render(self) -> str:
        """The file's text, laid out as the outlet lays out its pages."""
        out = []
        for kind, text in self.lines:
            if self.outlet.layout == "indent":
                # Pages copied from this kind of site have indented lines and, now and then, two blank lines.
                out.extend(["    " + text, "\n" if len(out) % 7 == 0 else ""])
            elif self.outlet.layout == "blank" and kind not in ("credit", "caption-widget"):
                out.extend([text, ""])
            else:
                out.append(text)
        return "\n".join(out).rstrip() + "\n"


class Generator:
    """Makes articles one after another from one seeded random stream."""

    def __init__(self, seeds: list[list[str]], seed: int = 8):
        self.rng = random.Random(seed)
        self.seeds = seeds
        self.pool = [(i, p) for i, paragraphs in enumerate(seeds) for p in paragraphs]
        self.family = families([p for _, p in self.pool])
        self.names = Names(random.Random(seed + 1))

    def setting(self) -> Setting:
        start, cities, cues = self.rng.choice(MEETINGS)
        day = dt.date.fromisoformat(start) + dt.timedelta(days=self.rng.randint(0, 1))
        return Setting(cities, WEEKDAYS[day.weekday()], cues, day.year)

    def headline(self, setting: Setting) -> str:
        rng = self.rng
        theme = rng.choice(THEMES)
        return rng.choice(HEADLINES).format(
            verb=rng.choice(VERBS), city=setting.city, theme=theme, theme_cap=theme[0].upper() + theme[1:],
            talk=rng.choice(TALK), topic_title=rng.choice(TOPICS_TITLE), verb_title=rng.choice(VERBS_TITLE),
            pledge=rng.choice(PLEDGES),
        )

    def photo(self, setting: Setting, outlet: Outlet) -> list[tuple[str, str]]:
        rng = self.rng
        leaders = ["Chinese President Xi Jinping", "Russian President Vladimir Putin"]
        rng.shuffle(leaders)
        caption = rng.choice(CAPTIONS).format(
            a=leaders[0], b=leaders[1], city=setting.city, weekday=setting.weekday, country=COUNTRY[setting.city]
        )
        credit = f"{self.names.person(rng)}/{rng.choice(AGENCIES)}" if rng.random() < 0.7 else f"Photo: {rng.choice(AGENCIES)}"
        if outlet.photo_style == "toggle":
            return [("caption", caption), ("credit", credit), ("caption-widget", "hide caption"),
                    ("caption-widget", "toggle caption"), ("credit", credit)]
        if outlet.photo_style == "repeat" and rng.random() < 0.7:
            return [("caption", caption), ("caption", caption)]
        return [("caption", caption), ("credit", credit)]

    def article(self, n_paragraphs: int) -> Article:
        rng, outlet = self.rng, self.rng.choice(OUTLETS)
        setting = self.setting()
        lines: list[tuple[str, str]] = []
        if rng.random() < outlet.player_label:
            lines.append(("boilerplate", rng.choice(PLAYER_LABELS)))
        if rng.random() >= outlet.no_headline:
            lines.append(("title", self.headline(setting)))
            if rng.random() < outlet.byline:
                lines.append(("credit", "By " + " and ".join(self.names.person(rng) for _ in range(rng.randint(1, 2)))))
            if rng.random() < outlet.lead_photo:
                lines.extend(self.photo(setting, outlet))

        body = self.body(n_paragraphs, setting)
        if outlet.dateline and rng.random() < 0.8:
            city = setting.city.upper()
            other = "MOSCOW" if COUNTRY[setting.city] != "Russia" else "BEIJING"
            body[0] = outlet.dateline.format(
                CITY=city, OTHER=other, Country=COUNTRY[setting.city]
            ) + body[0]
        newsletter_at = rng.randint(len(body) // 3, 2 * len(body) // 3) if rng.random() < outlet.newsletter else -1
        for i, paragraph in enumerate(body):
            if 2 < i < len(body) - 2:
                if rng.random() < outlet.subheads / 6:
                    lines.append(("subhead", rng.choice(SUBHEADS)))
                elif rng.random() < outlet.adverts / 5:
                    lines.append(("boilerplate", "Advertisement"))
                elif rng.random() < 0.03:
                    lines.extend(self.photo(setting, outlet) if outlet.photo_style != "repeat" else
                                 [("caption", self.photo(setting, outlet)[0][1]), ("credit", f"Photo: {rng.choice(AGENCIES)}")])
            if i == newsletter_at:
                lines.extend(("boilerplate", line) for line in rng.choice([
                    ["Get Today's Headlines in your inbox:", "The day's top stories delivered every morning.",
                     "Thank you for signing up! Sign up for more newsletters here"],
                    ["Sign up for our Asia Briefing newsletter"],
                    ["Subscribe to our daily newsletter", "Get the latest news from around the world delivered to your inbox."],
                ]))
            lines.append(("paragraph", paragraph))
        if rng.random() < outlet.reporting_credit:
            lines.append(("credit", rng.choice([
                f"{self.names.person(rng)} reported from {setting.city}. {self.names.person(rng)} from Beijing.",
                f"Additional reporting by {self.names.person(rng)}; Editing by {self.names.person(rng)}",
                f"{self.names.person(rng)} contributed reporting.",
                f"{self.names.person(rng)} contributed analysis.",
            ])))
        if outlet.chrome:
            block = rng.choice(outlet.chrome)
            lines.extend(("boilerplate", line.format(year=setting.year)) for line in block)
        return Article(lines, outlet)

    def body(self, n: int, setting: Setting) -> list[str]:
        """n body paragraphs, each from a different seed paragraph, mostly from one seed article."""
        rng = self.rng
        main = rng.randrange(len(self.seeds))
        used: set[str] = set()
        out = []
        while len(out) < n:
            if rng.random() < 0.5:
                candidates = [p for p in self.seeds[main] if self.family[p] not in used]
                paragraph = rng.choice(candidates) if candidates else rng.choice(self.pool)[1]
            else:
                paragraph = rng.choice(self.pool)[1]
            # Two versions of one paragraph in an article would read as a repeated caption, not as text.
            if self.family[paragraph] in used and len(used) < len(set(self.family.values())):
                continue
            used.add(self.family[paragraph])
            # The paragraph mixed in is used up too: it would otherwise return as a near-copy.
            other = rng.choice(self.pool)[1]
            while self.family[other] in used and len(used) < len(set(self.family.values())):
                other = rng.choice(self.pool)[1]
            used.add(self.family[other])
            out.append(perturb(paragraph, other, setting, rng, self.names))
        return out


def families(paragraphs: list[str]) -> dict[str, str]:
    """Each paragraph's first near-copy in the list (itself if none): seeds quote the same wire copy."""
    family: dict[str, str] = {}
    words = {p: set(p.lower().split()) for p in paragraphs}
    for i, p in enumerate(paragraphs):
        family[p] = next((q for q in paragraphs[:i] if len(words[p] & words[q]) >= 0.6 * len(words[p] | words[q])), p)
        family[p] = family[family[p]]
    return family


def generate(paragraphs: int, out: Path, seed: int = 8, seeds_dir: Path = SEEDS) -> dict:
    """Write articles holding `paragraphs` body paragraphs in all under `out`; return the manifest."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    generator = Generator(load_seeds(seeds_dir), seed)
    written = files = 0
    with open(out / ".paragraphs.jsonl", "w", encoding="utf-8") as record:
        while written < paragraphs:
            n = min(generator.rng.randint(MIN_BODY, MAX_BODY), paragraphs - written)
            article = generator.article(n)
            folder = out / f"{files // FILES_PER_FOLDER:04d}"
            if files % FILES_PER_FOLDER == 0:
                folder.mkdir()
            relpath = f"{folder.name}/{files:07d}-{article.outlet.slug}.txt"
            (out / relpath).write_text(article.render(), encoding="utf-8")
            for position, text in enumerate(article.paragraphs, start=1):
                record.write(json.dumps({"article": relpath, "position": position, "text": text}, ensure_ascii=False) + "\n")
            written += n
            files += 1
    manifest = {"files": files, "paragraphs": written, "seed": seed, "files_per_folder": FILES_PER_FOLDER}
    (out / ".manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_paragraphs(corpus: Path):
    """The body paragraphs a corpus was generated with, as recorded beside it: dicts of article, position, text."""
    with open(Path(corpus) / ".paragraphs.jsonl", encoding="utf-8") as record:
        for line in record:
            yield json.loads(line)


def check(corpus: Path, limit: int | None = None) -> dict:
    """Segment the corpus files with the ingest's own segmenter and compare its paragraphs with ours."""
    sys.path.insert(0, str(ROOT))
    from ingest.segment import segment

    expected: dict[str, list[str]] = {}
    for row in read_paragraphs(corpus):
        expected.setdefault(row["article"], []).append(row["text"])
    files = sorted(Path(corpus).glob("*/*.txt"))[:limit]
    generated = found = same = exact_files = 0
    for path in files:
        relpath = path.relative_to(corpus).as_posix()
        ours = expected.get(relpath, [])
        theirs = [line.text for line in segment(path.read_text(encoding="utf-8")).paragraphs]
        generated += len(ours)
        found += len(theirs)
        same += len(set(ours) & set(theirs))
        exact_files += ours == theirs
    return {"files": len(files), "generated": generated, "segmented": found, "in_both": same, "files_exact": exact_files}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paragraphs", type=int, default=10_000, help="Body paragraphs to write in all (default 10000).")
    parser.add_argument("--out", type=Path, required=True, help="Folder to write (replaced if it exists).")
    parser.add_argument("--seed", type=int, default=8, help="Random seed (default 8): same seed, same corpus.")
    parser.add_argument("--seeds-dir", type=Path, default=SEEDS, help="Folder of seed articles (default seeds/).")
    parser.add_argument("--check", nargs="?", const=0, type=int, metavar="FILES",
                        help="Afterwards, segment the files (all, or the first FILES) with ingest.segment and compare.")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = generate(args.paragraphs, args.out, args.seed, args.seeds_dir)
    seconds = time.perf_counter() - started
    print(f"{args.out}: {manifest['files']} files, {manifest['paragraphs']} body paragraphs in {seconds:.1f}s")
    if args.check is not None:
        result = check(args.out, args.check or None)
        print(
            "check with ingest.segment: {files} files, {generated} paragraphs generated, {segmented} segmented as "
            "paragraphs, {in_both} in both; {files_exact} files segmented exactly".format(**result)
        )


if __name__ == "__main__":
    main()
