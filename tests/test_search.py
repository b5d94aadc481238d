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
async def test_csv_export_has_a_header_and_every_match(datasette):
    import csv, io
    data = (await search(datasette, "Putin")).json()
    response = await search(datasette, "Putin", fmt=".csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == data["total"]
    assert rows[0]["id"] == data["rows"][0]["id"]
