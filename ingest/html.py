"""Read a saved web page: the article's text as blocks with the kind its markup suggests,
the page's metadata, and a count of what was dropped around the article.

beautifulsoup4 (with lxml) gives the structure. Everything that is never article text
(scripts, styles, frames, forms, navigation, site headers and footers, asides, share
widgets, cookie banners, ads, comments, related-story lists) is dropped first and counted
by reason; the article is then the page's ``[itemprop=articleBody]``, ``<article>`` or
``<main>``, or, on pages without them, the element with the densest prose (the
readability approach: many long, comma-rich paragraphs and few links). Its text is read
in order into blocks, one per paragraph, heading, caption or credit, each cleaned of any
markup or script that slipped into the text.
"""

from __future__ import annotations

import html as entities
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

@dataclass
class Block:
    """One line of the article: its text and the kind its markup suggests (None when it says nothing)."""

    text: str
    kind: str | None


@dataclass
class Extracted:
    """What a web page gives the archive: its article's blocks, its metadata and what was dropped.

    ``meta`` holds only what the page says: any of ``title``, ``published`` (a
    ``datetime.date``), ``outlet``, ``url`` and ``author``. ``dropped`` counts the
    elements removed, by reason ("script", "nav", "ad", …; "outside" counts text
    blocks left out because they stand outside the article).
    """

    blocks: list[Block]
    meta: dict
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The article as plain text, one block a line, as the text ingest reads files."""
        return "\n".join(block.text for block in self.blocks)

    @property
    def hints(self) -> list[str | None]:
        """The kind of each line of ``text``, for ``segment.segment(text, hints=...)``."""
        return [block.kind for block in self.blocks]


# Elements that never hold article text, by the reason they are dropped.
DROP_TAGS = {
    "script": "script", "noscript": "script", "template": "script",
    "amp-analytics": "script", "amp-pixel": "script",
    "style": "style",
    "iframe": "iframe", "frame": "iframe", "frameset": "iframe", "object": "iframe",
    "embed": "iframe", "applet": "iframe", "amp-iframe": "iframe",
    "svg": "media", "math": "media", "canvas": "media", "audio": "media", "video": "media",
    "amp-video": "media", "amp-youtube": "media",
    "form": "form", "button": "form", "input": "form", "select": "form", "option": "form",
    "textarea": "form", "label": "form", "fieldset": "form",
    "nav": "nav", "menu": "nav", "amp-sidebar": "nav",
    "aside": "aside",
    "footer": "footer",
    "amp-ad": "ad", "amp-embed": "ad", "amp-sticky-ad": "ad", "amp-auto-ads": "ad",
    "amp-social-share": "share", "amp-addthis": "share",
    "amp-consent": "cookie", "amp-user-notification": "cookie",
    "dialog": "popup",
}
ROLES = {
    "navigation": "nav", "menu": "nav", "menubar": "nav", "banner": "header",
    "contentinfo": "footer", "complementary": "aside", "search": "form",
    "dialog": "popup", "alertdialog": "popup",
}
# Site chrome recognised by the words of its class or id, each a token between hyphens or
# underscores ("ad-slot", "social_share"), so that "head" or "thread" never reads as "ad".
CHROME_CLASSES = {
    "cookie": r"cookies?\w*|consent|gdpr|cmp",
    "ad": r"ads?|adv|advert\w*|ad(?:slot|unit|box|zone|block|banner|container|wrap\w*)|adsbygoogle"
          r"|dfp|gpt|sponsor\w*|promo\w*",
    "share": r"share\w*|sharing|social\w*|addthis|sharethis",
    "comments": r"comments?|comment(?:list|form|area|section)|disqus|respond|replies",
    "related": r"related\w*|recommend\w*|more[-_]?(?:stories|news|articles)|most[-_]?(?:read|popular|viewed)"
               r"|popular|trending|outbrain|taboola|read[-_]?more|also[-_]?read|see[-_]?also|teasers?",
    "newsletter": r"newsletters?|subscribe|subscription|sign[-_]?up|paywall",
    "nav": r"nav|navbar|navigation|menu|breadcrumbs?|skip[-_]?link|pagination|topbar|top[-_]?links",
    "aside": r"sidebar|side[-_]?bar|widgets?|rail",
    "header": r"masthead|(?:site|page|global)[-_]?header",
    "footer": r"(?:site|page|global)[-_]?footer",
    "popup": r"modal|popup",
    "tags": r"tags|tag[-_]?list|topics",
}
CHROME_CLASS = re.compile(
    r"(?:^|[-_])(?:" + "|".join(f"(?P<{reason}>{rx})" for reason, rx in CHROME_CLASSES.items()) + r")(?:$|[-_])"
)
# Text that is on the page only for screen readers or not shown at all.
HIDDEN_CLASS = re.compile(r"^(?:hidden|sr-only|visually-?hidden|screen-reader-text|element-invisible)$")
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# Attributes besides class that name what an element is.
NAME_ATTRIBUTES = ("id", "data-component", "data-testid", "data-module")
# Credits and captions where the markup says so.
CREDIT_CLASS = re.compile(
    r"(?:^|[-_])(?:credits?|byline|bylines|authors?|contributors?|copyright|photographer)(?:$|[-_])"
)
CAPTION_CLASS = re.compile(r"(?:^|[-_])caption(?:s|-?text)?(?:$|[-_])")
HEADINGS = {"h1": "title", "h2": "subhead", "h3": "subhead"}
CODE_TAGS = {"script", "style", "noscript", "template"}
ARTICLE_BODY = re.compile(r"\barticleBody\b", re.I)
# No real page nests elements this deep; below it the page is read as plain text.
MAX_DEPTH = 150
# Elements that hold no content; lxml nests what follows an <embed> inside it, so it is unwrapped, not dropped.
VOID_TAGS = {"area", "base", "col", "embed", "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr"}
BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
    "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hgroup", "hr", "li", "main", "ol", "p", "pre", "section", "summary", "table",
    "tbody", "tfoot", "thead", "td", "th", "tr", "ul",
}
# Where the structure makes every line inside it the same kind.
INHERITED_KINDS = {"caption", "credit", "paragraph", "title", "subhead"}

# A block is a list of links (a menu, a "Read more" teaser) when this share of its text is linked.
MAX_LINK_SHARE = 0.5
MAX_LINK_LIST_WORDS = 25
# A <p> that is one short bold phrase is a subhead in disguise; let the segmenter judge it.
MAX_BOLD_LABEL_WORDS = 10
# The semantic container must hold at least this share of the densest block's text to be trusted.
MIN_SEMANTIC_SHARE = 0.5
# An element holding this share of the page's text is the page's wrapper, whatever its class says.
WRAPPER_SHARE = 0.6
# What is left of a block after markup or script is scrubbed from it must be this many words to be prose.
MIN_PROSE_AFTER_SCRUB = 4
# Paragraphs shorter than this tell nothing about where the article is.
MIN_SCORED_CHARS = 25

# Containers whose loose text (split by <br>) is itself a run of paragraphs on old pages.
LOOSE_TEXT_TAGS = ("div", "section", "font", "td")
BR = "\x00"  # stands for a <br> while a block's text is gathered
SPACES = re.compile(r"\s+")
ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});", re.I)
# Zero-width marks, soft hyphens and control characters: invisible on the page, noise in search.
INVISIBLE = dict.fromkeys([*map(ord, "\u200b\u2060\ufeff\u00ad"), *range(0x00, 0x09), *range(0x0E, 0x1C), 0x7F])

# Code that reached text (a double-escaped embed, a CMS that printed a script): an element
# that carries code, with its content, then any other tag, script URL or inline handler.
CODE_ELEMENT = re.compile(
    r"<\s*(script|style|iframe|object|embed|noscript|template|svg|math|applet|frameset)\b.*?(?:<\s*/\s*\1\s*>|$)",
    re.I | re.S,
)
MARKUP_TAG = re.compile(r"<!--.*?(?:-->|$)|</?[a-z][a-z0-9-]*(?:\s[^<>]*)?/?>", re.I | re.S)
SCRIPT_URL = re.compile(r"\b(?:java|vb|live)\s*script\s*:[^\s<>\"']*|\bdata:[a-z]+/[a-z0-9.+-]+[;,][^\s<>\"']*", re.I)
HANDLER = re.compile(r"\bon[a-z]{3,}\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s<>]+)", re.I)
# What is left is still code when it reads like JavaScript or CSS rather than prose.
CODE = re.compile(
    r"\b(?:function\s*\w*\s*\([^)]*\)\s*\{|(?:var|let|const)\s+\w+\s*=|document\.\w|window\.\w"
    r"|console\.\w|\w+\.push\s*\(|(?:alert|eval|fetch|prompt|confirm|msgbox)\(|expression\()"
    r"|=>\s*[{(]|[{;]\s*[a-z-]+\s*:\s*[^;{}]+;|@(?:media|import|keyframes|font-face)\b|</?script",
    re.I,
)

ORGANISATION_TYPES = {"organization", "newsmediaorganization", "corporation", "website"}
ARTICLE_TYPES = {
    "newsarticle", "article", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
    "backgroundnewsarticle", "blogposting", "liveblogposting", "socialmediaposting", "report",
}
DATE_META = (
    "article:published_time", "og:published_time", "article:published", "datepublished",
    "pubdate", "publishdate", "publish-date", "publish_date", "publication_date", "date",
    "dc.date", "dc.date.issued", "dcterms.created", "dcterms.issued", "sailthru.date", "parsely-pub-date",
)
AUTHOR_META = ("author", "article:author", "parsely-author", "sailthru.author", "dc.creator", "byl")
ISO_DATE = re.compile(r"^\s*(\d{4})[-/]?(\d{2})[-/]?(\d{2})(?:$|[T\s])")
HTTP_URL = re.compile(r"^https?://[^\s<>\"'`{}|\\^]+$", re.I)
TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—·:»~•]|::)\s+")
# A trailing part of a <title> this short is the site or section name, not part of the headline.
MAX_SITE_SUFFIX_WORDS = 4
BYLINE_PREFIX = re.compile(r"^(?:by|from|written by)\s+", re.I)
BYLINE_NAME = re.compile(r"author|byline|contributor")
# A byline longer than this is a biography or a date line, not a list of names.
MAX_AUTHOR_WORDS = 8


def extract(data: bytes, name: str) -> Extracted:
    """The article blocks, metadata and dropped-element counts of one saved web page.

    ``name`` (the file's name) is used in error messages: a file that is binary
    rather than a page raises ValueError.
    """
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{name}: binary data, not a web page")
    soup = BeautifulSoup(data, "lxml")
    head_meta = page_meta(soup)
    for node in soup.find_all(string=lambda s: isinstance(s, (Comment, Declaration, Doctype, ProcessingInstruction))):
        node.extract()
    body = soup.body or soup
    flatten_deep(body)
    dropped = drop_chrome(body)
    container = main_content(body)

    walker = Walker(container)
    walker.walk(body, None, inside=container is body)
    dropped.update(walker.dropped)
    blocks = walker.blocks

    meta = finish_meta(head_meta, body, container)
    place_title(blocks, meta.get("title"), body, container)
    return Extracted(blocks, {k: v for k, v in meta.items() if v is not None}, dict(sorted(dropped.items())))


# --- text ---------------------------------------------------------------------------------


def tidy(text: str) -> str:
    """Text as a reader sees it, with no markup, script URL or inline handler left in it."""
    return scrub(plain(text))


def plain(text: str) -> str:
    """Entities decoded (double-escaped pages and JSON-LD leave some), NFC, invisible marks gone,
    white space collapsed."""
    if "&" in text and ENTITY.search(text):
        text = entities.unescape(text)
    text = unicodedata.normalize("NFC", text).translate(INVISIBLE)
    return SPACES.sub(" ", text).strip()


def scrub(text: str) -> str:
    """Text without the markup, script URLs and inline handlers that reached it as text."""
    text = CODE_ELEMENT.sub(" ", text)
    text = MARKUP_TAG.sub(" ", text)
    text = SCRIPT_URL.sub(" ", text)
    text = HANDLER.sub(" ", text)
    return SPACES.sub(" ", text).strip()


def is_code(text: str) -> bool:
    """Whether a piece of text reads as JavaScript or CSS rather than prose."""
    return bool(CODE.search(text))


def safe_text(value) -> str | None:
    """A metadata string made safe to show, or None when nothing readable is left."""
    if not isinstance(value, str):
        return None
    text = tidy(value)
    return text if text and not is_code(text) else None


# --- dropping chrome ------------------------------------------------------------------------


def classes(tag: Tag) -> list[str]:
    """The names a page gives a tag, lower-cased: its classes, its id, and the component names
    that script-built pages put in data attributes ("byline-block", "ad-slot")."""
    names = tag.get("class") or []
    if isinstance(names, str):
        names = names.split()
    names = list(names)
    for attribute in NAME_ATTRIBUTES:
        value = tag.get(attribute)
        if isinstance(value, str):
            names.append(value)
    return [n.lower() for n in names]


def chrome_reason(tag: Tag) -> str | None:
    """Why a tag is site chrome by its tag name, role, visibility or class, or None."""
    name = tag.name
    if name in DROP_TAGS:
        return DROP_TAGS[name]
    if name == "header" and not tag.find_parent(("article", "main")) and not tag.find("h1"):
        return "header"
    if name in ("html", "body", "main", "article"):
        return None
    role = (tag.get("role") or "").strip().lower()
    if role in ROLES:
        return ROLES[role]
    style = tag.get("style")
    if tag.has_attr("hidden") or (tag.get("aria-hidden") or "").lower() == "true" or (
        isinstance(style, str) and HIDDEN_STYLE.search(style)
    ):
        return "hidden"
    for value in classes(tag):
        if HIDDEN_CLASS.match(value):
            return "hidden"
        match = CHROME_CLASS.search(value)
        if match:
            return match.lastgroup
    return None


def drop_chrome(body: Tag) -> Counter:
    """Remove every element that is site chrome rather than article; count them by reason.

    Class names are only a hint, so an element that holds the article's headline, its
    body, or most of the page's text (a wrapper called "has-sidebar") stays. The page is
    walked top down, so nothing inside a dropped element is looked at again.
    """
    dropped: Counter = Counter()
    page_chars = sum(len(s) for s in body.find_all(string=True) if s.parent.name not in CODE_TAGS) or 1
    anchors = {
        id(parent)
        for anchor in body.find_all(lambda t: t.name in ("h1", "main") or ARTICLE_BODY.search(t.get("itemprop") or ""))
        for parent in (anchor, *anchor.parents)
    }
    stack = [c for c in reversed(body.contents) if isinstance(c, Tag)]
    while stack:
        tag = stack.pop()
        reason = chrome_reason(tag)
        children = [c for c in reversed(tag.contents) if isinstance(c, Tag)]
        if reason is None:
            stack.extend(children)
        elif tag.name in VOID_TAGS:
            dropped[reason] += 1
            tag.unwrap()  # keep what the parser wrongly nested inside it
            stack.extend(children)
        elif tag.name not in DROP_TAGS and tag.name != "header" and (
            id(tag) in anchors or len(tag.get_text()) >= WRAPPER_SHARE * page_chars
        ):
            stack.extend(children)
        else:
            dropped[reason] += 1
            tag.decompose()
    return dropped


def flatten_deep(body: Tag) -> None:
    """Turn what lies deeper than any real page nests into plain text, code removed first,
    so that the rest of the reading stays linear on a page built to be pathological."""
    stack = [(body, 0)]
    while stack:
        tag, depth = stack.pop()
        for child in list(tag.contents):
            if not isinstance(child, Tag):
                continue
            if depth + 1 < MAX_DEPTH:
                stack.append((child, depth + 1))
                continue
            for code in child.find_all(lambda t: t.name in DROP_TAGS):
                if code.parent is not None:
                    code.decompose()
            child.replace_with(NavigableString(" " + child.get_text(" ") + " "))


# --- finding the article ------------------------------------------------------------------


def text_chars(tag: Tag) -> int:
    """Characters of text in a tag that are not link text."""
    total = len(SPACES.sub(" ", tag.get_text()))
    linked = sum(len(SPACES.sub(" ", a.get_text())) for a in tag.find_all("a"))
    return total - linked


def link_density(tag: Tag) -> float:
    """The share of a tag's text that is link text."""
    total = len(SPACES.sub(" ", tag.get_text()).strip())
    if not total:
        return 1.0
    return 1 - text_chars(tag) / total


def own_text(tag: Tag) -> str:
    """The text of a tag that is not inside a block-level child: a div's loose prose."""
    parts = []
    for child in tag.children:
        if isinstance(child, NavigableString):
            parts.append(str(child))
        elif isinstance(child, Tag) and child.name not in BLOCK_TAGS:
            parts.append(child.get_text())
    return SPACES.sub(" ", "".join(parts)).strip()


def densest(body: Tag) -> Tag:
    """The element whose children are the most prose: long, comma-rich paragraphs with few links.

    Each paragraph scores 1 + its commas + 1 per 100 characters (at most 3), for its
    parent in full and its grandparent by half; a div with loose prose (paragraphs
    split by <br>) scores for itself. The best score, discounted by link density, wins.
    """
    scores: dict[int, float] = {}
    tags: dict[int, Tag] = {}

    def add(tag: Tag | None, score: float) -> None:
        if tag is not None and isinstance(tag, Tag):
            tags[id(tag)] = tag
            scores[id(tag)] = scores.get(id(tag), 0.0) + score

    for tag in body.find_all(["p", "pre", "blockquote", "div", "section", "font", "td"]):
        if tag.name in LOOSE_TEXT_TAGS:
            text = own_text(tag)
            owner = tag
        else:
            text = SPACES.sub(" ", tag.get_text()).strip()
            owner = tag.parent
        if len(text) < MIN_SCORED_CHARS:
            continue
        score = 1 + text.count(",") + min(len(text) // 100, 3)
        add(owner, score)
        add(owner.parent if owner is not None else None, score / 2)
    if not scores:
        return body
    best = max(scores, key=lambda key: scores[key] * (1 - link_density(tags[key])))
    return tags[best]


def main_content(body: Tag) -> Tag:
    """The element that holds the article: its articleBody, <article> or <main> where the
    page marks one and it holds the article's prose, else the densest block of prose."""
    semantic = None
    bodies = body.find_all(attrs={"itemprop": ARTICLE_BODY})
    if bodies:
        best = max(bodies, key=text_chars)
        semantic = best.find_parent("article") or best  # the story with its headline and photos
    else:
        for candidates in (body.find_all("article"), body.find_all("main") + body.find_all(attrs={"role": "main"})):
            if candidates:
                semantic = max(candidates, key=text_chars)
                break
    dense = densest(body)
    if semantic is None:
        return dense
    if (
        dense is semantic
        or any(parent is semantic for parent in dense.parents)
        or text_chars(semantic) >= MIN_SEMANTIC_SHARE * text_chars(dense)
    ):
        return semantic
    return dense


# --- reading blocks ---------------------------------------------------------------------------


def kind_of(tag: Tag, inherited: str | None) -> str | None:
    """The kind of line a block-level tag holds, from its name, class and what encloses it."""
    names = classes(tag)
    if tag.get("itemprop") == "author" or "author" in (tag.get("rel") or []) or any(CREDIT_CLASS.search(n) for n in names):
        return "credit"
    if inherited == "caption" and tag.name in ("small", "cite"):
        return "credit"
    if tag.name in ("figcaption", "figure") or any(CAPTION_CLASS.search(n) for n in names):
        return "caption"
    if tag.name in HEADINGS:
        return HEADINGS[tag.name]
    if tag.name in ("h4", "h5", "h6"):
        return None
    if inherited in INHERITED_KINDS:
        return inherited
    if tag.name in ("p", "blockquote"):
        return "paragraph"
    return None


@dataclass
class Run:
    """The inline text gathered for one block, with how much of it is linked, bold or a date."""

    pieces: list[tuple[str, str]] = field(default_factory=list)  # (text, "a" | "b" | "t" | "")

    def add(self, text: str, style: str) -> None:
        self.pieces.append((text, style))


class Walker:
    """Reads the page in order into blocks; keeps those inside the article, counts the rest."""

    def __init__(self, container: Tag):
        self.container = container
        self.blocks: list[Block] = []
        self.dropped: Counter = Counter()

    def walk(self, root: Tag, kind: str | None, inside: bool) -> None:
        """Read a block-level tag in document order: each run of inline content becomes blocks of
        the kind of the block that holds it, and nested blocks are read in turn.

        An explicit stack rather than recursion, so that pages nested thousands deep still read.
        """
        # Each frame: the children still to read, the kind and place of the enclosing block,
        # the run of text being gathered, the inline style, and whether the frame owns the run.
        stack = [(iter(root.children), kind, inside, Run(), "", True)]
        while stack:
            children, kind, inside, run, style, owner = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                if owner:
                    self.flush(run, kind, inside)
            elif isinstance(child, NavigableString):
                run.add(str(child), style)
            elif not isinstance(child, Tag):
                continue
            elif child.name == "br":
                run.add(BR, style)
            elif child.name in BLOCK_TAGS or "-" in child.name or child is self.container or self.splits(child, kind):
                self.flush(run, kind, inside)
                stack.append((iter(child.children), kind_of(child, kind), inside or child is self.container, Run(), "", True))
            else:
                inner = style or ("a" if child.name == "a" else "t" if child.name == "time"
                                  else "b" if child.name in ("b", "strong") else "")
                stack.append((iter(child.children), kind, inside, run, inner, False))

    @staticmethod
    def splits(tag: Tag, kind: str | None) -> bool:
        """An inline tag marked as a credit inside other text (a photo credit in a caption) is a line of its own."""
        return kind != "credit" and kind_of(tag, kind) == "credit"

    def flush(self, run: Run, kind: str | None, inside: bool) -> None:
        """Turn the gathered run into blocks: one per stretch between double <br>s."""
        if not run.pieces:
            return
        pieces, run.pieces = run.pieces, []
        stretch: list[tuple[str, str]] = []
        breaks = 0
        for text, style in pieces + [(BR, ""), (BR, "")]:
            if text == BR:
                breaks += 1
                if breaks == 2:
                    self.emit(stretch, kind, inside)
                    stretch = []
                continue
            if not text.strip():
                stretch.append((" ", ""))
                continue
            if breaks == 1:
                stretch.append((" ", ""))
            breaks = 0
            stretch.append((text, style))

    def emit(self, stretch: list[tuple[str, str]], kind: str | None, inside: bool) -> None:
        """Keep one stretch of text as a block, unless it is outside the article, code, or a list of links."""
        readable = plain("".join(text for text, _ in stretch))
        if not readable:
            return
        if not inside:
            self.dropped["outside"] += 1
            return
        text = scrub(readable)
        if text != readable:
            # Markup or script as text: a sign of a broken or hostile page; keep only real prose around it.
            self.dropped["code"] += 1
            if len(text.split()) < MIN_PROSE_AFTER_SCRUB:
                return
        if is_code(text):
            self.dropped["code"] += 1
            return
        lengths = [(len(tidy(t)), st) for t, st in stretch]
        total = sum(n for n, _ in lengths) or 1
        share = {s: sum(n for n, st in lengths if st == s) / total for s in "abt"}
        if kind not in ("title", "credit") and share["a"] > MAX_LINK_SHARE and len(text.split()) <= MAX_LINK_LIST_WORDS:
            self.dropped["links"] += 1
            return
        if share["t"] > 0.9:
            kind = None  # a date on its own: neither prose nor a heading
        elif kind == "paragraph" and share["b"] > 0.9 and len(text.split()) <= MAX_BOLD_LABEL_WORDS:
            kind = None  # a bold label standing in for a subhead
        self.blocks.append(Block(text, kind))


def place_title(blocks: list[Block], title: str | None, body: Tag, container: Tag) -> None:
    """Make sure the article starts from one headline: the first <h1> in it, else the page's
    <h1>, else the title from the metadata; later <h1>s are subheads."""
    titles = [b for b in blocks if b.kind == "title"]
    for extra in titles[1:]:
        extra.kind = "subhead"
    if titles:
        return
    heading = next((h for h in body.find_all("h1") if not any(p is container for p in h.parents)), None)
    text = safe_text(heading.get_text()) if heading is not None else None
    text = text or title
    if not text:
        return
    for block in blocks[:5]:
        if block.text.casefold() == text.casefold():
            block.kind = "title"
            return
    blocks.insert(0, Block(text, "title"))


# --- metadata -----------------------------------------------------------------------------


def json_ld(soup: BeautifulSoup) -> list[dict]:
    """Every object in the page's JSON-LD scripts, @graph members included, in page order."""
    found: list[dict] = []
    for script in soup.find_all("script", type=re.compile(r"ld\+json", re.I)):
        raw = script.string or script.get_text() or ""
        raw = raw.strip().removeprefix("<!--").removesuffix("-->").strip()
        try:
            data = json.loads(raw, strict=False)
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack[:0] = item
            elif isinstance(item, dict):
                found.append(item)
                if isinstance(item.get("@graph"), list):
                    stack[:0] = item["@graph"]
    return found


def types_of(item: dict) -> set[str]:
    kind = item.get("@type") or []
    return {str(k).lower() for k in (kind if isinstance(kind, list) else [kind])}


def names(value, people_only: bool = False) -> list[str]:
    """The names in a JSON-LD person or organisation field: a string, an object or a list of them.

    With ``people_only``, organisations are left out (sites that name themselves as the author).
    """
    if isinstance(value, list):
        return [n for v in value for n in names(v, people_only)]
    if isinstance(value, dict):
        if people_only and types_of(value) & ORGANISATION_TYPES:
            return []
        return names(value.get("name"))
    text = safe_text(value)
    return [text] if text else []


def page_meta(soup: BeautifulSoup) -> dict:
    """What the page's head says about it (meta tags, canonical link, JSON-LD), before anything is dropped."""
    metas: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = tag.get("property") or tag.get("name") or tag.get("itemprop")
        value = tag.get("content")
        if isinstance(key, str) and isinstance(value, str) and value.strip():
            metas.setdefault(key.strip().lower(), value)
    items = json_ld(soup)
    article = next((i for i in items if types_of(i) & ARTICLE_TYPES), None)
    article = article or next((i for i in items if "headline" in i), {})
    canonical = soup.find("link", rel="canonical")
    title_tag = soup.find("title")
    entity = article.get("mainEntityOfPage")
    publisher = names(article.get("publisher"))
    website = next((names(i.get("name")) for i in items if "website" in types_of(i)), [])
    return {
        "titles": [metas.get("og:title"), metas.get("twitter:title"), article.get("headline")],
        "page_title": title_tag.get_text() if title_tag else None,
        "dates": [metas.get(k) for k in DATE_META[:3]] + [article.get("datePublished")]
                 + [metas.get(k) for k in DATE_META[3:]] + [article.get("dateCreated")],
        "outlets": [metas.get("og:site_name"), *publisher, metas.get("application-name"), *website],
        "urls": [canonical.get("href") if canonical else None, metas.get("og:url"), article.get("url"),
                 entity.get("@id") or entity.get("url") if isinstance(entity, dict) else entity],
        "authors": [names(article.get("author"), people_only=True)] + [[metas.get(k)] for k in AUTHOR_META],
    }


def first(values) -> str | None:
    return next((text for text in map(safe_text, values) if text), None)


def parse_date(value) -> date | None:
    """The calendar date an ISO date or timestamp was written for ("2024-05-16T09:00:00+08:00" → 2024-05-16)."""
    if not isinstance(value, str):
        return None
    match = ISO_DATE.match(value)
    if not match:
        return None
    try:
        day = date(*map(int, match.groups()))
    except ValueError:
        return None
    return day if 1990 <= day.year <= 2100 else None


def strip_site(title: str, outlet: str | None, short_parts: bool) -> str:
    """A page title without the site's name around it ("Headline | Site" → "Headline").

    Trailing parts equal to the outlet always go; with ``short_parts`` (for <title>,
    where sites put their name and section) so do trailing parts of a few words.
    """
    parts = TITLE_SEPARATOR.split(title)
    seps = TITLE_SEPARATOR.findall(title)
    site = (outlet or "").casefold()
    while len(parts) > 1 and (
        parts[-1].casefold() == site or (short_parts and len(parts[-1].split()) <= MAX_SITE_SUFFIX_WORDS)
    ):
        parts.pop()
        seps.pop()
    if len(parts) > 1 and parts[0].casefold() == site:
        parts.pop(0)
        seps.pop(0)
    out = parts[0]
    for sep, part in zip(seps, parts[1:]):
        out += sep + part
    return out.strip()


def byline(body: Tag, container: Tag) -> str | None:
    """The author named in the page's byline, if it marks one: the innermost element marked
    as author or byline whose text is a name rather than a biography."""
    for scope in (container, body):
        for tag in scope.find_all(is_byline):
            if tag.find(is_byline) is not None:
                continue  # the name is marked inside it, apart from titles and dates
            text = safe_text(tag.get_text(" "))
            text = BYLINE_PREFIX.sub("", text or "")
            if text and len(text.split()) <= MAX_AUTHOR_WORDS:
                return text
    return None


def is_byline(tag: Tag) -> bool:
    return (
        tag.get("itemprop") == "author"
        or "author" in (tag.get("rel") or [])
        or any(BYLINE_NAME.search(n) for n in classes(tag))
    )


def finish_meta(head: dict, body: Tag, container: Tag) -> dict:
    """The page's title, date, outlet, URL and author, from the head first and the body after."""
    outlet = first(head["outlets"])
    title = next((strip_site(t, outlet, False) for t in map(safe_text, head["titles"]) if t), None)
    if not title:
        heading = container.find("h1") or body.find("h1")
        title = safe_text(heading.get_text()) if heading is not None else None
    if not title and head["page_title"]:
        page_title = safe_text(head["page_title"])
        title = strip_site(page_title, outlet, True) if page_title else None

    published = next((d for d in map(parse_date, head["dates"]) if d), None)
    if published is None:
        times = body.find_all("time", attrs={"itemprop": "datePublished"}) + body.find_all("time", pubdate=True)
        times += container.find_all("time", datetime=True) + body.find_all("time", datetime=True)
        published = next((d for d in (parse_date(t.get("datetime")) for t in times) if d), None)

    url = next((u.strip() for u in head["urls"] if isinstance(u, str) and HTTP_URL.match(u.strip())), None)

    author = None
    for candidates in head["authors"]:  # the first source that names anyone: JSON-LD, then meta tags
        found: list[str] = []
        for name in map(safe_text, candidates):
            if name and not HTTP_URL.match(name) and name.casefold() not in map(str.casefold, found):
                found.append(name)
        if found:
            author = ", ".join(found)
            break
    author = author or byline(body, container)
    return {"title": title, "published": published, "outlet": outlet, "url": url, "author": author}
