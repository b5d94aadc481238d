"""Inputs beyond clean UTF-8 text: web pages, other encodings, and provenance from sources.yml."""

import shutil
import sqlite3

import pytest

from conftest import ROOT, make_datasette
from ingest.build import build

HTML_FIXTURES = ROOT / "tests" / "fixtures" / "html"
STORY = [
    "Summit talks end with pledges",
    "",
    "MOSCOW — Xi Jinping and Vladimir Putin ended two days of talks in the Kremlin on Tuesday, pledging closer ties.",
    "The two leaders signed a joint statement on the “comprehensive partnership” and discussed gas supplies.",
]


def articles(db):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {r["path"]: dict(r) for r in conn.execute("SELECT * FROM articles")}
    finally:
        conn.close()


@pytest.mark.parametrize("encoding,expected", [
    ("utf-16", "utf-16"),       # with its BOM
    ("utf-8-sig", "utf-8-sig"), # UTF-8 with a BOM
    ("cp1252", "cp1252"),       # Windows: curly quotes and dashes in the 0x80–0x9F range
    ("latin-1", "cp1252"),      # Latin-1 is Windows-1252 for every printable character
])
def test_text_in_other_encodings_is_decoded(tmp_path, encoding, expected):
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [line.replace("Kremlin", "Kremlin café") for line in STORY]
    if encoding == "latin-1":  # Latin-1 has no curly quotes or dashes
        lines = [line.replace("—", "-").replace("“", '"').replace("”", '"') for line in lines]
    (folder / "story.txt").write_bytes("\n".join(lines).encode(encoding))
    summary = build([folder], tmp_path / "a.db", progress=False)
    assert not summary.errors
    assert articles(tmp_path / "a.db")["story.txt"]["encoding"] == expected
    conn = sqlite3.connect(tmp_path / "a.db")
    texts = [r[0] for r in conn.execute("SELECT text FROM paragraphs ORDER BY position")]
    assert texts[0] == lines[2]
    assert "\ufeff" not in conn.execute("SELECT group_concat(text) FROM lines").fetchone()[0]


def test_web_pages_are_ingested_with_their_metadata_and_no_code(tmp_path):
    db = tmp_path / "a.db"
    summary = build([HTML_FIXTURES], db, progress=False)
    assert not summary.errors and summary.dropped > 0
    rows = articles(db)
    assert len(rows) == len(list(HTML_FIXTURES.glob("*.html")))
    with_metadata = [r for r in rows.values() if r["outlet_source"] == "page metadata"]
    assert with_metadata and all(r["published"] for r in with_metadata)
    conn = sqlite3.connect(db)
    stored = " ".join(r[0] for r in conn.execute("SELECT text FROM lines"))
    for code in ("<script", "javascript:", "onerror=", "onclick=", "expression("):
        assert code not in stored.lower()


def test_a_page_with_no_article_is_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "menu.html").write_text("<html><body><nav><a href='/'>Home</a><a href='/world'>World</a></nav>"
                                      "<footer>© 2024 Example News</footer></body></html>")
    shutil.copy(HTML_FIXTURES / "semantic_article.html", folder)
    summary = build([folder], tmp_path / "a.db", progress=False)
    assert list(dict(summary.errors)) == ["menu.html"]
    assert list(articles(tmp_path / "a.db")) == ["semantic_article.html"]


def write_story_with_sources(folder, published="2023-03-21"):
    folder.mkdir(exist_ok=True)
    (folder / "story.txt").write_text("\n".join(STORY), encoding="utf-8")
    (folder / "sources.yml").write_text(
        "story.txt:\n"
        "  url: https://news.example.org/2023/summit\n"
        "  outlet: Example Wire\n"
        f"  published: {published}\n"
        "  author: A. Reporter\n"
    )


@pytest.mark.asyncio
async def test_sources_yml_provenance_appears_in_datasette(tmp_path):
    write_story_with_sources(tmp_path / "in")
    db = tmp_path / "archive.db"
    build([tmp_path / "in"], db, progress=False)
    ds = make_datasette(db)
    row = (await ds.client.get("/archive/articles.json?_shape=array")).json()[0]
    assert row["url"] == "https://news.example.org/2023/summit"
    assert row["outlet"] == "Example Wire" and row["outlet_source"] == "sources.yml"
    assert row["published"] == "2023-03-21" and row["author"] == "A. Reporter"
    assert row["meeting_id"] == "2023-03-moscow"
    paragraph = (await ds.client.get("/archive/paragraphs.json?_shape=array")).json()[0]
    assert paragraph["outlet"] == "Example Wire"
    html = (await ds.client.get("/archive/articles")).text
    assert 'href="https://news.example.org/2023/summit"' in html


def test_the_publication_date_decides_between_meetings(tmp_path):
    # The same Moscow story, dated by its publication: 2013 or 2023.
    for published, meeting in (("2013-03-23", "2013-03-moscow"), ("2023-03-21", "2023-03-moscow")):
        folder = tmp_path / published
        write_story_with_sources(folder, published)
        build([folder], tmp_path / f"{published}.db", progress=False)
        assert articles(tmp_path / f"{published}.db")["story.txt"]["meeting_id"] == meeting


def test_a_broken_sources_yml_is_reported_and_the_articles_still_ingested(tmp_path):
    folder = tmp_path / "in"
    write_story_with_sources(folder)
    (folder / "sources.yml").write_text("story.txt: [unclosed\n")
    summary = build([folder], tmp_path / "a.db", progress=False)
    assert any("sources.yml" in path for path, _ in summary.errors)
    assert "story.txt" in articles(tmp_path / "a.db")


def test_editing_sources_yml_updates_the_archive(tmp_path):
    folder = tmp_path / "in"
    write_story_with_sources(folder)
    db = tmp_path / "a.db"
    build([folder], db, progress=False)
    (folder / "sources.yml").write_text((folder / "sources.yml").read_text().replace("Example Wire", "Other Wire"))
    build([folder], db, progress=False)
    assert articles(db)["story.txt"]["outlet"] == "Other Wire"
