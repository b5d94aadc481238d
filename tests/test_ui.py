"""The web UI in a real headless Chromium, against a real Datasette server on localhost."""

import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS
from ingest.build import build

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
HOSTILE_ARTICLE = """\
Summit <script>window.__pwned = 1; alert("title")</script> headline

MOSCOW — Xi Jinping and Vladimir Putin met on Tuesday <img src=x onerror="window.__pwned=2;alert(1)"> for talks on gas.
Officials said the talks <iframe src="javascript:alert(3)"></iframe> covered energy and a pipeline to China.
Read <a href="javascript:alert(4)">the statement</a> and <b style="background:url(javascript:alert(5));width:expression(alert(6))">this</b> about gas.
<svg onload="alert(7)"><script>alert(8)</script></svg> The pipeline gas deal was signed.
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db_path):
    """Serve an archive as `make serve` does (serve.py, two worker processes), on a free localhost port;
    return (process, base URL)."""
    port = free_port()
    command = [sys.executable, str(ROOT / "serve.py"), str(db_path), "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    return started(command, port, ROOT, Path(db_path).with_suffix(".log"))


def started(command: list[str], port: int, cwd: Path, log: Path, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Run a command that serves the archive on a localhost port; (the process, its base URL)
    once it answers. Its output goes to `log` (a file, not a pipe: the access log would fill a
    pipe and stall the server), which the error quotes if it never answers."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=1)
            return process, base
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the archive's server did not start: " + log.read_text(errors="replace"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-seeds")
    shutil.copytree(SEEDS, folder / "seeds")
    (folder / "seeds" / "hostile.txt").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    db = folder / "archive.db"
    build([folder / "seeds"], db, progress=False)
    process, base = serve(db)
    yield base
    process.terminate()
    process.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    assert page.dialogs == [], f"a stored script ran: {page.dialogs}"
    context.close()


def test_search_a_phrase_and_see_highlighted_results(page, server, shots):
    page.goto(server + "/")
    page.get_by_label("Search paragraphs").fill('"natural gas"')
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector(".search-results li")
    marks = page.locator(".search-results mark").all_inner_texts()
    assert marks and all(m.lower() == "natural gas" for m in marks)  # FTS5 marks a phrase as one
    page.screenshot(path=shots / "search.png", full_page=True)


def test_clicking_a_topic_facet_narrows_the_results(page, server):
    page.goto(server + "/-/search?q=Putin")
    before = page.locator(".search-summary").inner_text()
    page.locator(".search-facets a", has_text="Energy").first.click()
    page.wait_for_selector(".active-filter")
    after = page.locator(".search-summary").inner_text()
    count = lambda text: int(text.split()[0].replace(",", ""))
    assert 0 < count(after) < count(before)
    tags = page.locator(".search-results .result-meta").all_inner_texts()
    assert tags and all("energy" in t for t in tags)


def test_open_an_article_from_the_results(page, server, shots):
    page.goto(server + "/-/search?q=gazprom")
    title = page.locator(".search-results .result-meta a").first
    title_text = title.inner_text()
    title.click()
    page.wait_for_selector(".archive-article")
    assert page.locator("h1").inner_text() == title_text
    assert page.locator(".line-paragraph").count() > 5
    assert page.locator(".line-boilerplate:visible").count() == 0
    toggle = page.locator(".toggle-boilerplate")
    if toggle.count():
        toggle.click()
        assert page.locator(".line-boilerplate:visible").count() > 0
    page.screenshot(path=shots / "article.png", full_page=True)


def test_download_the_search_as_csv(page, server):
    page.goto(server + "/-/search?q=sanctions")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV (all matches)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    total = int(page.locator(".search-summary").inner_text().split()[0])
    assert len(rows) == total > 0
    assert all("sanction" in r["text"].lower() for r in rows)


def test_charts_render_with_marks(page, server, shots):
    page.goto(server + "/")
    assert page.locator("svg.stacked-bars rect.mark").count() > 3
    page.screenshot(path=shots / "home.png", full_page=True)
    page.goto(server + "/-/search?q=Putin")
    assert page.locator("svg.bars rect.mark").count() >= 2


def test_meeting_page_shows_its_articles_and_topics(page, server, shots):
    page.goto(server + "/archive/meetings/2024-05-beijing")
    assert page.locator("h2", has_text="Articles").count() == 1
    assert page.locator("ul a[href*='/archive/articles/']").count() >= 2
    page.screenshot(path=shots / "meeting.png", full_page=True)


def test_a_malformed_query_shows_a_friendly_message(page, server, shots):
    page.goto(server + "/-/search?q=" + urllib.request.quote('"no limits'))
    assert "run as plain words" in page.locator(".search-notice").inner_text()
    assert page.get_by_label("Search paragraphs").input_value() == '"no limits'
    page.screenshot(path=shots / "malformed.png", full_page=True)


def test_stored_markup_is_shown_as_text_everywhere(page, server):
    pages = [
        "/-/search?q=pipeline", "/-/search?q=gas", "/archive/articles", "/archive/paragraphs",
        "/archive/lines?_search=", "/archive/paragraphs?_sort=id&_search=gas", "/archive/search?q=gas&meeting=&topic=",
        "/archive/quotes", "/archive/quotes_by_speaker?speaker=&topic=&meeting=",
    ]
    conn_id = page.request.get(server + "/archive/articles.json?_shape=array&path=hostile.txt").json()[0]["id"]
    pages.append(f"/archive/articles/{conn_id}")
    for path in pages:
        page.goto(server + path)
        assert page.evaluate("window.__pwned === undefined"), path
        assert page.locator("iframe, svg[onload], img[onerror]").count() == 0, path
    assert "<script>" in page.content() or "&lt;script&gt;" in page.content()


def article_id_of(page, server, prefix):
    return page.request.get(server + f"/archive/articles.json?_shape=array&path__startswith={prefix}").json()[0]["id"]


def test_follow_also_in_from_a_copied_paragraph_to_the_original(page, server, shots):
    link = page.request.get(server + "/archive/paragraph_copies.json?_shape=array&_size=1").json()[0]
    page.goto(server + f"/archive/articles/{link['article_id']}")
    also_in = page.locator(".also-in a").first
    also_in.scroll_into_view_if_needed()
    page.screenshot(path=shots / "also-in.png")
    also_in.click()
    page.wait_for_load_state()
    assert f"/archive/articles/{link['copy_of_article']}" in page.url
    position = int(link["copy_of"].rsplit("-", 1)[1])
    assert page.locator(f"#p{position}").is_visible()


def test_a_rewrite_warning_lists_its_signs_on_request(page, server, shots):
    page.goto(server + f"/archive/articles/{article_id_of(page, server, '002')}")
    warning = page.locator(".rewrite-warning")
    assert "garbled rewrite" in warning.inner_text()
    assert not warning.locator("li").first.is_visible()
    warning.locator("summary").click()
    assert "spinner phrase" in warning.locator("li").first.inner_text()
    page.screenshot(path=shots / "rewrite-warning.png")


def test_phone_width_has_no_horizontal_scroll(browser, server, shots):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    copied = page.request.get(server + "/archive/paragraph_copies.json?_shape=array&_size=1").json()[0]["article_id"]
    flagged = article_id_of(page, server, "002")
    for path in ("/", "/-/search?q=gas", "/archive/meetings/2013-03-moscow", f"/archive/articles/{copied}",
                 f"/archive/articles/{flagged}", "/archive/quotes"):
        page.goto(server + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 2, (path, overflow)
    page.goto(server + "/-/search?q=gas")
    page.screenshot(path=shots / "search-phone.png", full_page=True)
    context.close()
