"""The seeds built into a real archive and queried through Datasette's own client."""

import csv
import io

import pytest

from conftest import SEEDS, rows
from ingest.build import build


def paths_of_2013_articles(db_path):
    return {r["path"] for r in rows(db_path, "SELECT path FROM articles WHERE meeting_year = 2013")}


@pytest.mark.asyncio
async def test_search_for_gazprom_finds_both_2013_articles_and_no_boilerplate(datasette, seeds_db):
    response = await datasette.client.get("/archive/paragraphs.json?_search=gazprom&_shape=objects&_size=max")
    assert response.status_code == 200
    found = response.json()["rows"]
    article_ids = {r["article_id"] for r in found}
    expected = {r["id"] for r in rows(seeds_db, "SELECT id FROM articles WHERE path LIKE '000_%' OR path LIKE '001_%'")}
    assert expected <= article_ids
    assert all("gazprom" in r["text"].lower() for r in found)
    # every hit is a body paragraph: its source line is of kind paragraph
    kinds = rows(seeds_db, "SELECT DISTINCT kind FROM lines WHERE paragraph_id IN ({})".format(
        ",".join("?" * len(found))), [r["id"] for r in found])
    assert [k["kind"] for k in kinds] == ["paragraph"]


@pytest.mark.asyncio
async def test_porter_stemming_finds_other_word_forms(datasette):
    singular = (await datasette.client.get("/archive/paragraphs.json?_search=sanction&_shape=objects")).json()["rows"]
    assert any("sanctions" in r["text"].lower() for r in singular)


@pytest.mark.asyncio
async def test_paragraph_facets_are_present(datasette):
    response = await datasette.client.get("/archive/paragraphs.json")
    facets = response.json()["facet_results"]
    assert {"meeting_year", "meeting_city", "topics", "outlet"} <= set(facets)
    years = {item["value"] for item in facets["meeting_year"]["results"]}
    assert {2013, 2023, 2024} <= years
    topics = {item["value"] for item in facets["topics"]["results"]}
    assert "energy" in topics


@pytest.mark.asyncio
async def test_csv_export_of_a_search_holds_the_same_rows_as_the_json(datasette):
    as_json = (await datasette.client.get("/archive/paragraphs.json?_search=energy&_shape=objects&_size=max")).json()["rows"]
    response = await datasette.client.get("/archive/paragraphs.csv?_search=energy&_size=max")
    assert response.status_code == 200
    as_csv = list(csv.DictReader(io.StringIO(response.text)))
    assert len(as_csv) == len(as_json) > 0
    assert [r["id"] for r in as_csv] == [r["id"] for r in as_json]
    assert [r["text"] for r in as_csv] == [r["text"] for r in as_json]


@pytest.mark.parametrize("seed", sorted(p.name for p in SEEDS.glob("*.txt")))
def test_lines_table_rebuilds_every_seed_exactly(seeds_db, seed):
    source = (SEEDS / seed).read_text(encoding="utf-8")
    expected = [line for line in source.splitlines() if line.strip()]
    stored = rows(
        seeds_db,
        "SELECT lines.text FROM lines JOIN articles ON articles.id = lines.article_id "
        "WHERE articles.path = ? ORDER BY line_no",
        (seed,),
    )
    assert [r["text"] for r in stored] == expected


def test_every_line_has_one_known_kind_and_paragraph_lines_point_at_their_paragraph(seeds_db):
    kinds = {r["kind"] for r in rows(seeds_db, "SELECT DISTINCT kind FROM lines")}
    assert kinds <= {"title", "paragraph", "caption", "credit", "subhead", "boilerplate"}
    mismatched = rows(
        seeds_db,
        "SELECT l.line_no FROM lines l LEFT JOIN paragraphs p ON p.id = l.paragraph_id "
        "WHERE (l.kind = 'paragraph') != (p.id IS NOT NULL)",
    )
    assert mismatched == []


def test_paragraph_positions_run_from_one_without_gaps(seeds_db):
    for article in rows(seeds_db, "SELECT id, paragraph_count FROM articles"):
        positions = [r["position"] for r in rows(seeds_db, "SELECT position FROM paragraphs WHERE article_id = ? ORDER BY position", (article["id"],))]
        assert positions == list(range(1, article["paragraph_count"] + 1))


def test_article_id_is_derived_from_content_so_renaming_keeps_it(tmp_path):
    source = next(SEEDS.glob("*.txt"))
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "original.txt").write_bytes(source.read_bytes())
    (second / "renamed.txt").write_bytes(source.read_bytes())
    build([first], tmp_path / "one.db", progress=False)
    build([second], tmp_path / "two.db", progress=False)
    assert rows(tmp_path / "one.db", "SELECT id FROM articles") == rows(tmp_path / "two.db", "SELECT id FROM articles")


def test_building_twice_gives_the_same_rows_and_ids(tmp_path, seeds_db):
    again = tmp_path / "again.db"
    build([SEEDS], again, progress=False)
    for table in ("articles", "paragraphs", "lines", "paragraph_topics", "meetings", "topics"):
        sql = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert rows(again, sql) == rows(seeds_db, sql), table


def test_failed_build_leaves_the_previous_archive_untouched(tmp_path, seeds_db):
    target = tmp_path / "archive.db"
    target.write_bytes(seeds_db.read_bytes())
    before = target.read_bytes()
    with pytest.raises(Exception):
        build([SEEDS, tmp_path / "does-not-exist"], target, progress=False, strict=True)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".archive.db.building")] == []


def test_a_disk_full_while_copying_for_an_update_leaves_the_previous_archive_untouched(tmp_path, seeds_db, monkeypatch):
    """An incremental build copies the archive in a background thread (and writes the copy out
    there); a copy that fails, here on a full disk, stops the build with that error, and the
    archive stays as it was, with no build file left beside it."""
    import errno
    import shutil

    target = tmp_path / "archive.db"
    target.write_bytes(seeds_db.read_bytes())
    before = target.read_bytes()
    added = tmp_path / "added"
    added.mkdir()
    (added / "new.txt").write_text(
        "Putin met Xi in Beijing on Tuesday to talk about gas and trade, officials said.\n", encoding="utf-8"
    )

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", disk_full)
    with pytest.raises(OSError, match="No space left"):
        build([SEEDS, added], target, progress=False)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".archive.db.building")] == []


def test_derived_titles_are_marked(seeds_db):
    derived = rows(seeds_db, "SELECT path, title FROM articles WHERE title_derived = 1")
    headlined = rows(seeds_db, "SELECT path, title FROM articles WHERE title_derived = 0")
    # each headline is a line of kind title in that article; derived titles have none
    for article in headlined:
        titles = rows(seeds_db, "SELECT l.text FROM lines l JOIN articles a ON a.id = l.article_id WHERE a.path = ? AND l.kind = 'title'", (article["path"],))
        assert [t["text"].strip() for t in titles] == [article["title"]]
    for article in derived:
        assert rows(seeds_db, "SELECT 1 FROM lines l JOIN articles a ON a.id = l.article_id WHERE a.path = ? AND l.kind = 'title'", (article["path"],)) == []
        assert article["title"]
