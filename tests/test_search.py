"""The ranked search page, /-/search, through the real Datasette app."""

import pytest


async def search(datasette, query, fmt=".json", **extra):
    params = {"q": query, **extra}
    return await datasette.client.get(f"/-/search{fmt}", params=params)


@pytest.mark.asyncio
async def test_results_come_best_first(datasette):
    data = (await search(datasette, "gazprom")).json()
    ranks = [r["rank"] for r in data["rows"]]
    assert ranks == sorted(ranks) and len(ranks) >= 2
    assert data["notice"] is None


@pytest.mark.asyncio
@pytest.mark.parametrize("query,must,must_not", [
    ('"no limits"', "no limits", None),
    ("pipe*", "pipeline", None),
    ("gas NOT oil", "gas", "oil"),
])
async def test_fts_operators_work(datasette, query, must, must_not):
    data = (await search(datasette, query)).json()
    assert data["total"] > 0
    for row in data["rows"]:
        assert must in row["text"].lower()
        if must_not:
            assert must_not not in row["text"].lower().split()


@pytest.mark.asyncio
async def test_or_finds_either_word(datasette):
    either = (await search(datasette, "sanctions OR tariffs")).json()["total"]
    one = (await search(datasette, "sanctions")).json()["total"]
    assert either >= one > 0


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ['"xi', "AND", "***", "NEAR(", "U.S. sanctions"])
async def test_malformed_query_falls_back_to_plain_words_with_a_notice(datasette, query):
    response = await search(datasette, query, fmt="")
    assert response.status_code == 200
    assert "run as plain words" in response.text
    assert 'name="q"' in response.text


@pytest.mark.asyncio
async def test_matches_are_highlighted_and_stored_text_is_escaped(datasette):
    html = (await search(datasette, "gazprom", fmt="")).text
    assert "<mark>Gazprom</mark>" in html


@pytest.mark.asyncio
async def test_topic_filter_narrows_results(datasette):
    everything = (await search(datasette, "Putin")).json()
    energy = (await search(datasette, "Putin", topic="energy")).json()
    assert 0 < energy["total"] < everything["total"]
    assert all("energy" in r["topics"] for r in energy["rows"])


@pytest.mark.asyncio
async def test_table_search_box_goes_to_the_ranked_search(datasette):
    response = await datasette.client.get("/archive/paragraphs?_search=gazprom")
    assert response.status_code == 302
    assert response.headers["location"] == "/-/search?q=gazprom"


@pytest.mark.asyncio
async def test_table_search_box_keeps_the_tables_filters_on_the_ranked_search(datasette):
    response = await datasette.client.get("/archive/paragraphs?_search=gas&outlet=NPR&_topic=energy&meeting_year__exact=2023")
    assert response.status_code == 302
    assert response.headers["location"] == "/-/search?q=gas&outlet=NPR&topic=energy&year=2023"
    # a filter the search page does not have: the table answers the search itself, filter kept
    kept = await datasette.client.get("/archive/paragraphs?_search=gas&meeting_city=Moscow")
    assert kept.status_code == 200 and "Moscow" in kept.text


@pytest.mark.asyncio
async def test_csv_export_has_a_header_and_every_match(datasette):
    import csv, io
    data = (await search(datasette, "Putin")).json()
    response = await search(datasette, "Putin", fmt=".csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == data["total"]
    assert rows[0]["id"] == data["rows"][0]["id"]


@pytest.mark.asyncio
@pytest.mark.parametrize("params", [{"q": "Putin"}, {"q": "Putin", "topic": "ukraine-war"}, {"q": "the", "outlet": "NPR"}])
async def test_csv_export_lists_every_match_in_the_search_pages_order(datasette, monkeypatch, params):
    """The export streams a batch at a time; it holds one line per match (of the filters too), in
    the ranked order of the search page's pages (ties too)."""
    import csv, io

    from conftest import plugin

    monkeypatch.setattr(plugin("search"), "CSV_BATCH_ROWS", 7)  # many batches for a few dozen matches
    response = await datasette.client.get("/-/search.csv", params=params)
    exported = [row["id"] for row in csv.DictReader(io.StringIO(response.text))]
    ranked, page = [], 1
    while True:
        data = (await datasette.client.get("/-/search.json", params={**params, "page": page})).json()
        ranked += [row["id"] for row in data["rows"]]
        if not data["has_more"]:
            break
        page += 1
    assert len(exported) > 7 and exported == ranked


@pytest.mark.asyncio
async def test_csv_export_fields_read_back_as_the_stored_values(tmp_path):
    """SQLite writes the CSV lines: quoting of commas and double quotes, empty fields for NULL,
    numbers as written, and a header, must read back with Python's csv module exactly."""
    import csv, io

    from conftest import make_datasette, rows as db_rows
    from ingest.build import build

    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "quoted.txt").write_text(
        'Putin and Xi sign "no limits" pledge, again\n\n'
        'MOSCOW — Vladimir Putin said the "no limits" partnership with Xi Jinping, agreed in Beijing, '
        'would hold, and that trade had reached "a new level".\n\n'
        'Xi Jinping, speaking after talks in the Kremlin, said: "We are good friends, and good neighbours."\n\n'
        'The two leaders signed a statement on energy, trade and security, officials said.\n',
        encoding="utf-8")
    build([folder], tmp_path / "archive.db", progress=False)
    datasette = make_datasette(tmp_path / "archive.db")
    response = await search(datasette, "Putin OR Xi", fmt=".csv")
    assert response.text.startswith("id,article_id,title,outlet,meeting_id,meeting_year,topics,position,text\r\n")
    exported = list(csv.DictReader(io.StringIO(response.text)))
    stored = {r["id"]: r for r in db_rows(tmp_path / "archive.db", """
        SELECT p.id, p.article_id, a.title, p.outlet, p.meeting_id, p.meeting_year, p.topics, p.position, p.text
        FROM paragraphs p JOIN articles a ON a.id = p.article_id""")}
    assert len(exported) == 2  # the third paragraph names neither
    for row in exported:
        assert row == {k: "" if v is None else str(v) for k, v in stored[row["id"]].items()}
    assert sum('"' in row["text"] and "," in row["text"] for row in exported) == 2  # quoting was needed
    assert all(row["outlet"] == "" and row["position"].isdigit() for row in exported)
