"""Who said what and who copied whom, through the whole build and Datasette: the quotes table,
paragraph copies and report ids, rewrite scores on articles, and the pages that show them."""

import html
import re
import shutil

import pytest
import yaml

from conftest import SEEDS, make_datasette, plugin, rows
from ingest.build import build
from quote_eval import ANNOTATION, normal, same_speaker


def seed_article_id(db_path, prefix):
    return rows(db_path, "SELECT id FROM articles WHERE path LIKE ?", (f"{prefix}%",))[0]["id"]


# -- quotes


def test_annotated_seed_quotations_are_stored_with_their_speakers(seeds_db):
    """At least 90% of the hand-annotated quotations of the seeds reach the quotes table with the
    right speaker, located by the line of the source file they are on."""
    gold = yaml.safe_load(ANNOTATION.read_text(encoding="utf-8"))
    annotated = right = 0
    for name, entries in gold.items():
        for entry in entries:
            annotated += 1
            stored = rows(
                seeds_db,
                "SELECT q.quote, q.speaker FROM quotes q JOIN lines l ON l.paragraph_id = q.paragraph_id "
                "JOIN articles a ON a.id = l.article_id WHERE a.path = ? AND l.line_no = ?",
                (name, entry["line"]),
            )
            words = normal(entry["quote"])
            match = next((q for q in stored if normal(q["quote"]).startswith(words) or words.startswith(normal(q["quote"]))), None)
            right += bool(match and same_speaker(match["speaker"], entry["speaker"]))
    assert annotated >= 40
    assert right / annotated >= 0.9


def test_quotes_carry_their_paragraphs_meeting_and_outlet(seeds_db):
    mismatched = rows(
        seeds_db,
        "SELECT q.paragraph_id FROM quotes q JOIN paragraphs p ON p.id = q.paragraph_id "
        "WHERE q.meeting_id IS NOT p.meeting_id OR q.outlet IS NOT p.outlet OR q.article_id != p.article_id",
    )
    assert not mismatched
    assert rows(seeds_db, "SELECT count(*) AS n FROM quotes")[0]["n"] > 0


def test_a_pronoun_speaker_is_resolved_from_the_sentence_before(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "story.txt").write_text(
        "Putin hosts Xi in Moscow\n\n"
        "MOSCOW — Chinese President Xi Jinping arrived in Moscow on Monday for talks with Vladimir Putin.\n\n"
        "Xi praised the partnership at the Kremlin. “Our relations are the best in history,” he said.\n\n"
        "“We will buy more gas,” the Chinese leader added, as the two men shook hands for the cameras.\n",
        encoding="utf-8",
    )
    build([folder], tmp_path / "archive.db", progress=False)
    quotes = rows(tmp_path / "archive.db", "SELECT speaker, speaker_as_written, verb, quote FROM quotes ORDER BY paragraph_id, number")
    assert [(q["speaker"], q["speaker_as_written"], q["verb"]) for q in quotes] == [
        ("Xi Jinping", "he", "said"),
        ("Xi Jinping", "the Chinese leader", "added"),
    ]


@pytest.mark.asyncio
async def test_what_did_someone_say_about_a_topic(datasette):
    every = (await datasette.client.get(
        "/archive/quotes_by_speaker.json?speaker=Putin&topic=&meeting=&_shape=array")).json()
    assert every and all("Putin" in q["speaker"] for q in every)
    on_sanctions = (await datasette.client.get(
        "/archive/quotes_by_speaker.json?speaker=Putin&topic=sanctions&meeting=&_shape=array")).json()
    assert 0 < len(on_sanctions) < len(every)
    tagged = (await datasette.client.get(
        "/archive/paragraph_topics.json?topic=sanctions&_shape=array&_size=max")).json()
    assert {q["paragraph"] for q in on_sanctions} <= {t["paragraph_id"] for t in tagged}


@pytest.mark.asyncio
async def test_quotations_are_searchable_in_full_text(datasette):
    found = (await datasette.client.get("/archive/quotes.json?_search=order&_shape=array")).json()
    assert found and all("order" in q["quote"].lower() for q in found)
    assert any(q["speaker"] == "Vladimir Putin" for q in found)


@pytest.mark.asyncio
async def test_quotes_are_faceted_by_speaker_and_meeting(datasette):
    data = (await datasette.client.get("/archive/quotes.json")).json()
    facets = data["facet_results"]
    facets = facets.get("results", facets)  # Datasette 0.65 nests them under "results"
    speakers = {v["value"]: v["count"] for v in facets["speaker"]["results"]}
    assert speakers["Xi Jinping"] >= 5 and speakers["Vladimir Putin"] >= 5
    assert "meeting_id" in facets


# -- copies


def test_the_seeds_sharing_a_wire_report_are_linked(seeds_db):
    first, second = seed_article_id(seeds_db, "000"), seed_article_id(seeds_db, "001")
    links = rows(seeds_db, "SELECT * FROM paragraph_copies")
    between = [l for l in links if {l["article_id"], l["copy_of_article"]} == {first, second}]
    assert len(between) >= 3
    assert all(l["similarity"] >= 0.6 for l in between)
    # A copy belongs to its original's report; the original to its own.
    for link in between:
        copy, original = (rows(seeds_db, "SELECT report, report_id FROM paragraphs WHERE id = ?", (pid,))[0]
                          for pid in (link["paragraph_id"], link["copy_of"]))
        assert copy == {"report": "copy", "report_id": link["copy_of"]}
        assert original == {"report": "original", "report_id": link["copy_of"]}


def test_unique_reports_count_each_report_once(seeds_db):
    total = rows(seeds_db, "SELECT count(*) AS n FROM paragraphs")[0]["n"]
    originals = rows(seeds_db, "SELECT count(*) AS n FROM paragraphs WHERE report = 'original'")[0]["n"]
    reports = rows(seeds_db, "SELECT count(DISTINCT report_id) AS n FROM paragraphs")[0]["n"]
    copies = rows(seeds_db, "SELECT count(*) AS n FROM paragraph_copies")[0]["n"]
    assert copies > 0 and originals == reports == total - copies


EDITED_COPY = (
    "Aggregated: China's Xi in Moscow\n\n"
    "{first} […]\n\n"
    "{second_edited}\n\n"
    "This summary was put together by our aggregation desk from wire reports filed on the day.\n"
)


def write_edited_copy(folder, db_path):
    """An aggregator's article: one seed paragraph excerpted with "[…]", one with small edits."""
    paragraphs = rows(db_path, "SELECT id, text FROM paragraphs WHERE article_id = ? ORDER BY position",
                      (seed_article_id(db_path, "000"),))
    long = [p for p in paragraphs if len(p["text"].split(". ")) >= 3][:1] + [p for p in paragraphs if len(p["text"].split()) > 40][-1:]
    sentences = long[0]["text"].split(". ")
    edited = long[1]["text"].replace("said", "stated", 1).replace("Putin", "Mr Putin", 1)
    (folder / "aggregated.txt").write_text(
        EDITED_COPY.format(first=". ".join(sentences[:2]).rstrip(".") + ".", second_edited=edited), encoding="utf-8"
    )
    return long[0]["id"], long[1]["id"]


def test_an_incremental_build_links_a_new_copy_and_forgets_it_when_removed(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(SEEDS, folder)
    db = tmp_path / "archive.db"
    build([folder], db, progress=False)
    excerpted, edited = write_edited_copy(folder, db)
    summary = build([folder], db, progress=False)
    assert summary.mode == "incremental" and summary.processed == 1
    new = rows(db, "SELECT id FROM articles WHERE path = 'aggregated.txt'")[0]["id"]
    links = {l["copy_of"]: l for l in rows(db, "SELECT * FROM paragraph_copies WHERE article_id = ?", (new,))}
    assert links[excerpted]["method"] in ("excerpt", "near")  # which one depends on how much was cut
    assert links[edited]["method"] == "near"
    (folder / "aggregated.txt").unlink()
    build([folder], db, progress=False)
    assert not rows(db, "SELECT * FROM paragraph_copies WHERE article_id = ? OR copy_of_article = ?", (new, new))


def test_an_incremental_build_finds_its_copies_while_the_archive_is_copied(tmp_path):
    """The links among the kept and the new paragraphs are found before the build file (a copy of
    the archive) is ready, and are the links a full rebuild finds."""
    folder = tmp_path / "in"
    shutil.copytree(SEEDS, folder)
    db = tmp_path / "archive.db"
    build([folder], db, progress=False)
    write_edited_copy(folder, db)
    (folder / sorted(p.name for p in SEEDS.glob("*.txt"))[-1]).unlink()  # and one article goes
    stages = []
    assert build([folder], db, progress=False, log=stages.append).mode == "incremental"
    assert any(stage.startswith("stage: copies") and "found while the archive was copied from the columns the last "
               "build kept" in stage for stage in stages)
    assert_links_of_a_full_rebuild(folder, db, tmp_path)


@pytest.mark.parametrize("spoil", [
    "DELETE FROM copy_inputs",  # none kept
    "UPDATE copy_inputs SET data = substr(data, 1, length(data) - 4) WHERE name = 'words'",  # one cut short
    "UPDATE copy_inputs SET data = substr(data, 1, length(data) - 3) WHERE name = 'words'",  # and not in whole values
    "UPDATE copy_inputs SET data = CAST('{' AS BLOB) WHERE name = 'layout'",  # a layout that is not JSON
])
def test_an_incremental_build_without_usable_kept_columns_reads_every_print_and_links_the_same(tmp_path, spoil):
    """The columns the last build kept are a shortcut: an archive without them, or with columns
    that do not fit together, has its kept paragraphs read from their prints, with the same links,
    and keeps sound columns again for the next build."""
    import sqlite3
    from contextlib import closing

    from ingest import compare
    from ingest.copies import CopyFinder

    folder = tmp_path / "in"
    shutil.copytree(SEEDS, folder)
    db = tmp_path / "archive.db"
    build([folder], db, progress=False)
    with sqlite3.connect(db) as conn:
        conn.execute(spoil)
    write_edited_copy(folder, db)
    stages = []
    assert build([folder], db, progress=False, log=stages.append).mode == "incremental"
    copies_stage = [stage for stage in stages if stage.startswith("stage: copies")]
    assert copies_stage[0].endswith("(found while the archive was copied)")
    assert_links_of_a_full_rebuild(folder, db, tmp_path)
    with closing(sqlite3.connect(db)) as conn:
        (options, columns), rowids = compare.LinkInputs.read(conn, tmp_path)  # kept again for the next build
        assert len(CopyFinder.restore(columns, options)[0]) == len(rowids)  # and sound


def test_kept_columns_for_other_paragraphs_than_the_archive_holds_are_not_read(tmp_path):
    """Kept columns are read only if they are for exactly the paragraphs the archive holds."""
    import sqlite3

    from ingest import compare

    db = tmp_path / "archive.db"
    build([SEEDS], db, progress=False)
    conn = sqlite3.connect(db)
    stored = compare.LinkInputs.read(conn, tmp_path)
    assert stored is not None
    inputs, rowids = stored
    assert rowids.tolist() == [rowid for (rowid,) in conn.execute("SELECT rowid FROM paragraphs ORDER BY rowid")]
    assert len(inputs.columns["paragraph_id"]) == len(rowids)
    inputs.close()
    conn.execute("DELETE FROM paragraphs WHERE rowid = (SELECT max(rowid) FROM paragraphs)")
    assert compare.LinkInputs.read(conn, tmp_path) is None
    conn.execute("DROP TABLE copy_inputs")  # an archive from before they were kept
    assert compare.LinkInputs.read(conn, tmp_path) is None


def assert_links_of_a_full_rebuild(folder, db, tmp_path):
    """The archive at db has the links and reports a full build of folder makes."""
    rebuilt = tmp_path / "rebuilt.db"
    build([folder], rebuilt, progress=False, full=True)
    for table in ("paragraph_copies", "reports"):
        assert sorted(map(repr, rows(db, f"SELECT * FROM {table}"))) == sorted(map(repr, rows(rebuilt, f"SELECT * FROM {table}")))
    assert rows(db, "SELECT id, report_id, report FROM paragraphs ORDER BY id") == \
        rows(rebuilt, "SELECT id, report_id, report FROM paragraphs ORDER BY id")


def test_copies_found_ahead_for_other_paragraphs_than_the_archive_holds_are_found_again(tmp_path):
    """Links found ahead are only used for the paragraphs they were found among: when the build
    file holds others (here one article fewer), the compare stage reads the file and links anew."""
    import sqlite3

    from ingest import compare

    db = tmp_path / "archive.db"
    build([SEEDS], db, progress=False)
    ahead = compare.AheadLinks(db, removed_articles=set())
    ahead.link()
    gone = rows(db, "SELECT article_id FROM paragraph_copies LIMIT 1")[0]["article_id"]
    shutil.copy(db, tmp_path / "expected.db")
    conn, expected = sqlite3.connect(db), sqlite3.connect(tmp_path / "expected.db")
    for each in (conn, expected):  # as removing an article does
        each.execute("DELETE FROM paragraph_copies WHERE article_id = ?", (gone,))
        each.execute("DELETE FROM paragraph_prints WHERE paragraph_id IN (SELECT id FROM paragraphs WHERE article_id = ?)", (gone,))
        each.execute("DELETE FROM paragraphs WHERE article_id = ?", (gone,))
    stages = []
    assert compare.link_copies(conn, stages.append, ahead) == compare.link_copies(expected)
    assert ahead.linked is None  # let go, with the columns it would have kept
    assert stages == [f"stage: copies over {conn.execute('SELECT count(*) FROM paragraphs').fetchone()[0]} paragraphs"]
    for query in ("SELECT * FROM paragraph_copies ORDER BY paragraph_id", "SELECT id, report_id, report FROM paragraphs ORDER BY id"):
        assert conn.execute(query).fetchall() == expected.execute(query).fetchall()
    assert not conn.execute("SELECT count(*) FROM paragraph_copies WHERE article_id = ? OR copy_of_article = ?", (gone, gone)).fetchone()[0]


def test_comparing_again_rewrites_no_link_or_report_that_stays_the_same(tmp_path):
    """The compare stage writes only what changed: run again over the same archive, it neither
    deletes and re-inserts a link (rowids would move) nor updates a paragraph."""
    import sqlite3

    from ingest import compare

    db = tmp_path / "archive.db"
    build([SEEDS], db, progress=False)
    conn = sqlite3.connect(db)
    before = conn.execute("SELECT rowid, * FROM paragraph_copies ORDER BY rowid").fetchall()
    reports = conn.execute("SELECT id, report_id, report FROM paragraphs ORDER BY rowid").fetchall()
    assert before and any(report == "copy" for _, _, report in reports)
    conn.execute("CREATE TEMP TABLE updates (n)")
    conn.execute("CREATE TEMP TRIGGER counted AFTER UPDATE ON paragraphs BEGIN INSERT INTO updates VALUES (1); END")
    assert compare.link_copies(conn) == len(before)
    assert conn.execute("SELECT rowid, * FROM paragraph_copies ORDER BY rowid").fetchall() == before
    assert conn.execute("SELECT count(*) FROM updates").fetchone()[0] == 0
    assert conn.execute("SELECT id, report_id, report FROM paragraphs ORDER BY rowid").fetchall() == reports


def test_a_chain_of_copies_has_the_first_paragraph_as_its_report():
    """Links form chains (a copy of a copy); every paragraph's report is the chain's first one."""
    import numpy as np

    from ingest.copies import Links, report_roots

    # paragraphs 0-4: 2 copies 1, 1 copies 0, 4 copies 2; 3 copies nothing
    found = Links(np.array([1, 2, 4]), np.array([0, 1, 2]), np.ones(3), np.array([1, 1, 2]))
    assert report_roots(found, 5).tolist() == [0, 0, 0, 3, 0]
    looped = Links(np.array([0, 1]), np.array([1, 0]), np.ones(2), np.array([2, 2]))
    with pytest.raises(ValueError, match="loop"):
        report_roots(looped, 2)


@pytest.mark.asyncio
async def test_the_article_page_says_where_else_a_report_ran(seeds_db):
    ds = make_datasette(seeds_db)
    copy = rows(seeds_db, "SELECT * FROM paragraph_copies LIMIT 1")[0]
    html = (await ds.client.get(f"/archive/articles/{copy['article_id']}")).text
    assert "Also in:" in html and f'/archive/articles/{copy["copy_of_article"]}#p' in html
    assert "Shares paragraphs with" in html
    unshared = seed_article_id(seeds_db, "003")
    assert "Also in:" not in (await ds.client.get(f"/archive/articles/{unshared}")).text


@pytest.mark.asyncio
async def test_paragraphs_facet_lets_users_keep_unique_reports_only(datasette):
    data = (await datasette.client.get("/archive/paragraphs.json?_facet=report")).json()
    facets = data["facet_results"]
    facets = facets.get("results", facets)
    counts = {v["value"]: v["count"] for v in facets["report"]["results"]}
    assert counts["copy"] > 0 and counts["original"] > counts["copy"]


# -- rewrites


def test_spun_seed_is_flagged_and_machine_translated_seed_sits_between(seeds_db):
    scores = {
        prefix: rows(seeds_db, "SELECT rewrite_score, rewrite_flag, rewrite_level, rewrite_evidence FROM articles WHERE path LIKE ?",
                     (f"{prefix}%",))[0]
        for prefix in ("000", "001", "002", "003", "004")
    }
    assert scores["002"]["rewrite_flag"] == 1 and scores["002"]["rewrite_level"] == "rewritten"
    assert "spinner" in scores["002"]["rewrite_evidence"]
    for clean in ("000", "001", "003"):
        assert scores[clean]["rewrite_flag"] == 0
    assert max(scores[c]["rewrite_score"] for c in ("000", "001", "003")) < scores["004"]["rewrite_score"] < scores["002"]["rewrite_score"]
    assert scores["004"]["rewrite_flag"] == 0 and scores["004"]["rewrite_level"] == "suspect"


def test_a_name_misspelt_against_the_rest_of_the_archive_is_evidence(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(SEEDS, folder)
    (folder / "garbled.txt").write_text(
        "Analysts weigh Xi's visit to Moscow\n\n"
        "MOSCOW — Xi Jinping arrived in Moscow on Monday for talks with Vladimir Putin at the Kremlin, "
        "his first trip abroad since he secured a third term as president of China.\n\n"
        "Alexander Gabuyev, who studies the relationship, said the visit showed how far the ties had come "
        "since the war in Ukraine began and the West imposed sanctions on Russia.\n",
        encoding="utf-8",
    )
    db = tmp_path / "archive.db"
    build([folder], db, progress=False)
    evidence = rows(db, "SELECT rewrite_evidence FROM articles WHERE path = 'garbled.txt'")[0]["rewrite_evidence"]
    assert "Gabuyev" in evidence and "Gabuev" in evidence


@pytest.mark.asyncio
async def test_the_article_page_warns_of_a_garbled_rewrite(seeds_db):
    ds = make_datasette(seeds_db)
    flagged = (await ds.client.get(f"/archive/articles/{seed_article_id(seeds_db, '002')}")).text
    assert "Reads like a garbled rewrite" in flagged and "spinner phrase" in flagged
    between = (await ds.client.get(f"/archive/articles/{seed_article_id(seeds_db, '004')}")).text
    assert "Some signs of a garbled rewrite" in between
    clean = (await ds.client.get(f"/archive/articles/{seed_article_id(seeds_db, '003')}")).text
    assert "garbled rewrite" not in clean


# -- timeline


@pytest.mark.asyncio
async def test_coverage_is_charted_by_days_from_the_meeting(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("000", "003"):  # 2013 Moscow and 2023 Moscow coverage
        source = next(SEEDS.glob(f"{name}_*.txt"))
        shutil.copy(source, folder / source.name)
    sources = {next(SEEDS.glob("000_*.txt")).name: "2013-03-24", next(SEEDS.glob("003_*.txt")).name: "2023-03-19"}
    (folder / "sources.yml").write_text(yaml.safe_dump({n: {"published": d} for n, d in sources.items()}))
    db = tmp_path / "archive.db"
    build([folder], db, progress=False)
    days = {r["meeting_id"]: r["days_from_meeting"] for r in rows(db, "SELECT meeting_id, days_from_meeting FROM articles")}
    assert days == {"2013-03-moscow": 2, "2023-03-moscow": -1}
    ds = make_datasette(db)
    home = (await ds.client.get("/")).text
    assert 'class="chart timeline"' in home
    assert "day +2: 1 article" in home and "day -1: 1 article" in home
    meeting = (await ds.client.get("/archive/meetings/2023-03-moscow")).text
    assert "day -1: 1 article" in meeting and "day +2" not in meeting


@pytest.mark.asyncio
async def test_a_meeting_page_lists_its_first_articles_and_links_to_all(datasette, seeds_db, monkeypatch):
    """A summit with thousands of articles lists the first few by title and links to the table
    of all of them, which lists as many as the meeting counts."""
    meeting = rows(seeds_db, "SELECT id, article_count FROM meetings ORDER BY article_count DESC LIMIT 1")[0]
    titles = [r["title"] for r in rows(seeds_db, "SELECT title FROM articles WHERE meeting_id = ? ORDER BY title", [meeting["id"]])]
    assert meeting["article_count"] == len(titles) >= 2
    whole = (await datasette.client.get(f"/archive/meetings/{meeting['id']}")).text
    assert all(title in whole for title in titles) and "in the articles table" not in whole
    monkeypatch.setattr(plugin("pages"), "MEETING_ARTICLES_LISTED", 1)
    page = (await datasette.client.get(f"/archive/meetings/{meeting['id']}")).text
    assert titles[0] in page and not any(title in page for title in titles[1:])
    link = re.search(r'<a href="([^"]*)">all (\d+) in the articles table', page)
    assert link and int(link[2]) == len(titles)
    listed = (await datasette.client.get(html.unescape(link[1]).replace("/articles?", "/articles.json?"))).json()
    assert listed["filtered_table_rows_count"] == len(titles)


@pytest.mark.asyncio
async def test_without_publication_dates_the_home_page_says_why_there_is_no_timeline(datasette):
    home = (await datasette.client.get("/")).text
    assert 'class="chart timeline"' not in home
    assert "No article with a known publication date" in home


@pytest.mark.asyncio
async def test_the_search_page_can_keep_unique_reports_only(datasette):
    link = (await datasette.client.get("/archive/paragraph_copies.json?_shape=array&_size=1")).json()[0]
    copied = (await datasette.client.get(f"/archive/paragraphs/{link['paragraph_id']}.json?_shape=array")).json()[0]
    word = max(copied["text"].split(), key=len).strip(".,;:“”\"'()")
    every = (await datasette.client.get("/-/search.json", params={"q": word})).json()
    unique = (await datasette.client.get("/-/search.json", params={"q": word, "report": "original"})).json()
    assert link["paragraph_id"] in {r["id"] for r in every["rows"]}
    assert link["paragraph_id"] not in {r["id"] for r in unique["rows"]}
    assert unique["total"] == every["total"] - sum(f["n"] for f in every["facets"]["report"] if f["value"] == "copy")
    html = (await datasette.client.get("/-/search", params={"q": word})).text
    assert "unique reports (first or only appearance)" in html


@pytest.mark.asyncio
async def test_a_widely_syndicated_report_shows_a_few_places_and_links_to_the_rest(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    source = next(SEEDS.glob("003_*.txt"))
    shutil.copy(source, folder / source.name)
    wire = max(source.read_text(encoding="utf-8").splitlines(), key=len)
    for n in range(8):
        (folder / f"outlet-{n}.txt").write_text(
            f"Outlet {n} on the Moscow summit\n\n{wire}\n\n"
            f"Our correspondent number {n} adds that talks went on late into the night at the Kremlin, officials said.\n",
            encoding="utf-8",
        )
    db = tmp_path / "archive.db"
    build([folder], db, progress=False)
    # (the correspondents' closing lines differ by a number: near copies of each other too)
    report = rows(db, "SELECT r.report_id, r.paragraphs, r.articles FROM reports r JOIN paragraphs p ON p.id = r.report_id "
                      "WHERE p.text = ?", (wire.strip(),))
    assert len(report) == 1 and report[0]["paragraphs"] == report[0]["articles"] == 9
    ds = make_datasette(db)
    article = rows(db, "SELECT id FROM articles WHERE path = 'outlet-3.txt'")[0]["id"]
    html = (await ds.client.get(f"/archive/articles/{article}")).text
    also_in = html.split('class="also-in"')[1].split("</p>")[0]
    assert also_in.count("/archive/articles/") == 5 and "(the original)" in also_in
    assert f'/archive/paragraphs?report_id={report[0]["report_id"]}">3 more</a>' in also_in
    same = (await ds.client.get(f"/archive/paragraphs.json?report_id={report[0]['report_id']}&_shape=array")).json()
    assert len(same) == 9


def test_a_stored_comparison_that_no_longer_matches_the_paragraphs_is_not_trusted(tmp_path):
    """The compare stage keeps what it wrote by paragraph rowid (copy_state) and next time writes
    only what differs from it. When the rowids now name other paragraphs, stored without their
    reports yet (as a reused rowid would be), that state says nothing about them: every link and
    report comes out right, not as the stale state would leave them."""
    import sqlite3

    from ingest import compare

    db = tmp_path / "archive.db"
    build([SEEDS], db, progress=False)
    conn = sqlite3.connect(db)
    links = sorted(conn.execute("SELECT * FROM paragraph_copies").fetchall())
    reports = sorted(conn.execute("SELECT id, report_id, report FROM paragraphs").fetchall())
    assert links and conn.execute("SELECT count(*) FROM copy_state").fetchone()[0]
    top = conn.execute("SELECT max(rowid) FROM paragraphs").fetchone()[0]
    conn.execute("UPDATE paragraphs SET rowid = -rowid, report_id = NULL, report = NULL")
    conn.execute("UPDATE paragraphs SET rowid = ? + rowid", (top + 1,))
    conn.execute("DELETE FROM paragraph_copies")
    assert compare.link_copies(conn) == len(links)
    assert sorted(conn.execute("SELECT * FROM paragraph_copies").fetchall()) == links
    assert sorted(conn.execute("SELECT id, report_id, report FROM paragraphs").fetchall()) == reports
