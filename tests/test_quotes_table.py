"""The quotes table served from every quotation's keys held in memory (plugins/quotes.py): its
facets, counts and pages are Datasette's own answers."""

import copy
import re

import pytest
import yaml

from conftest import ROOT, make_datasette, plugin, rows
from conftest import every_page as conftest_every_page


def plain_facets_metadata() -> dict:
    """The archive's metadata with the quotes table's facets as Datasette's own column facets."""
    metadata = copy.deepcopy(yaml.safe_load((ROOT / "metadata.yml").read_text()))
    quotes = metadata["databases"]["archive"]["tables"]["quotes"]
    quotes["facets"] = [facet["keyed"] for facet in quotes["facets"]]
    return metadata


def pages(db_path) -> list[dict]:
    """Quotes pages a reader opens: the table, a speaker, a meeting, a word searched (alone, with a
    speaker, raw), two values together, a value no quotation has; small facets, to cut lists."""
    speaker, meeting = rows(db_path, "SELECT speaker, meeting_id FROM quotes WHERE speaker IS NOT NULL "
                                     "GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1")[0].values()
    outlet, verb = rows(db_path, "SELECT outlet, verb FROM quotes GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1")[0].values()
    return [{}, {"speaker": speaker}, {"meeting_id": meeting}, {"_search": "china"},
            {"_search": "china", "speaker": speaker}, {"_search": "chin*", "_searchmode": "raw"},
            {"_search": "russia OR china", "_searchmode": "raw", "meeting_id": meeting},
            {"outlet": outlet, "verb__exact": verb}, {"speaker": "Nobody Atall"},
            {"_search": "zzzunheardof"}, {"_facet_size": "2"}, {"speaker": speaker, "_facet_size": "3"}]


@pytest.mark.asyncio
async def test_quote_facets_are_datasettes_own_counted_from_keys_in_memory(seeds_db):
    """Every facet of every page — values, counts, order, labels, links, truncation — is what
    Datasette's column facets give, and a page of a search and keyed values runs no facet query."""
    keyed = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True})
    plain = make_datasette(seeds_db, immutable=True, metadata=plain_facets_metadata(), settings={"trace_debug": True})
    counted = 0
    for params in pages(seeds_db):
        ours = (await keyed.client.get("/archive/quotes.json", params={**params, "_trace": "1"})).json()
        own = (await plain.client.get("/archive/quotes.json", params={**params, "_trace": "1"})).json()
        assert ours["filtered_table_rows_count"] == own["filtered_table_rows_count"], params
        assert set(ours["facet_results"]) == set(own["facet_results"]) == {"speaker", "meeting_id", "outlet", "verb"}
        for name, facet in own["facet_results"].items():
            assert {**ours["facet_results"][name], "type": None} == {**facet, "type": None}, (params, name)
        facet_sql = [t["sql"] for t in ours["_trace"]["traces"] if "count(*) as count from" in t["sql"]]
        if "Nobody Atall" not in params.values():  # a value no quotation has: Datasette's queries count it
            assert not facet_sql, params
        counted += sum(len(f["results"]) for f in own["facet_results"].values())
        suggested = [facet["name"] for facet in ours["suggested_facets"]]  # (suggest_facets is on here)
        assert len(suggested) == len(set(suggested)), params
    assert counted > 50


def other_filters(db_path) -> list[dict]:
    """Quotes pages with a filter the keys do not answer: a text match, a range, a `_where` that
    holds " and " and an "or" of its own, each alone and beside a keyed value or a search."""
    speaker = rows(db_path, "SELECT speaker FROM quotes WHERE speaker IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]["speaker"]
    return [{"quote__contains": "China"}, {"number__gt": "1"}, {"quote__contains": "China", "speaker": speaker},
            {"_search": "china", "number__gt": "1"}, {"_where": "number = 1 and (verb = 'said' or verb = 'told')"},
            {"_where": "number = 1 or verb = 'told'", "speaker": speaker}, {"quote__contains": "zzzunheardof"}]


@pytest.mark.asyncio
async def test_other_filters_are_read_once_and_counted_from_the_keys(seeds_db):
    """A filter the keys do not answer is read once as the rowids it selects, and the page's count
    and facets come from them: Datasette's own answers, without its facet queries."""
    keyed = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True})
    plain = make_datasette(seeds_db, immutable=True, metadata=plain_facets_metadata(), settings={"trace_debug": True})
    for params in other_filters(seeds_db):
        ours = (await keyed.client.get("/archive/quotes.json", params={**params, "_trace": "1"})).json()
        own = (await plain.client.get("/archive/quotes.json", params={**params, "_trace": "1"})).json()
        assert ours["filtered_table_rows_count"] == own["filtered_table_rows_count"], params
        for name, facet in own["facet_results"].items():
            assert {**ours["facet_results"][name], "type": None} == {**facet, "type": None}, (params, name)
        traced = [t["sql"] for t in ours["_trace"]["traces"]]
        assert not any("count(*) as count from" in sql for sql in traced), params
        assert len([sql for sql in traced if sql.startswith("SELECT group_concat(rowid) FROM quotes WHERE")]) == 1, params


def test_a_where_clause_is_split_only_between_its_own_conditions(seeds_db):
    """Datasette joins a page's conditions with " and "; a `_where` in parentheses, a quoted
    " and ", or a comment is one condition."""
    make_datasette(seeds_db, immutable=True)  # (registers the plugins)
    split = plugin("quotes").top_level_conditions
    assert split('"speaker" = :p0 and "quote" like :p1') == ['"speaker" = :p0', '"quote" like :p1']
    assert split("(a = 1 and b = 2\n) and \"verb\" = :p0") == ["(a = 1 and b = 2\n)", '"verb" = :p0']
    assert split("quote = 'this and that' and [odd and name] = 1") == ["quote = 'this and that'", "[odd and name] = 1"]
    assert split("(a = 1 -- (\n) and \"verb\" = :p0") == ["(a = 1 -- (\n) and \"verb\" = :p0"]
    assert split("") == []


@pytest.mark.asyncio
async def test_a_quotes_page_with_another_filter_is_paged_from_its_selection(seeds_db):
    """Served immutable, a quotes page with another filter is counted from its selection, read once,
    and its pages after the first are the next of them in the table's order: the same rows, counts
    and streamed CSV as Datasette's own queries (served mutable)."""
    served = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True})
    plain = make_datasette(seeds_db, settings={"trace_debug": True})
    paged = 0
    for params in other_filters(seeds_db):
        quick_sql, own_sql = await same_pages_and_csv(served, plain, params)
        assert not any(sql.startswith("select count(*) from quotes") for sql in quick_sql), params
        listed = [sql for sql in quick_sql if sql.startswith("select paragraph_id, number") and " order by paragraph_id, number limit " in sql]
        paged += sum(bool(re.search(r"from quotes where rowid in \([\d,]*\) order by", sql)) for sql in listed[1:]) > 1
    assert paged >= 3  # several filters paged through from their selections


async def same_pages_and_csv(served, plain, params: dict) -> tuple[list[str], list[str]]:
    """Check that a quotes page served immutable (`served`) and mutable (`plain`) has the same
    rows on every page, the same count and the same streamed CSV; the SQL each ran for its pages."""
    quick_rows, quick_count, quick_sql = await every_page(served, params)
    own_rows, own_count, own_sql = await every_page(plain, params)
    assert quick_rows == own_rows and quick_count == own_count == len(own_rows), params
    query = {**params, "_stream": "on", "_size": "max"}
    quick = await served.client.get("/archive/quotes.csv", params=query, headers={"cache-control": "no-cache"})
    own = await plain.client.get("/archive/quotes.csv", params=query)
    assert quick.status_code == own.status_code == 200 and quick.text == own.text, params
    return quick_sql, own_sql


async def every_page(datasette, params: dict) -> tuple[list, int, list[str]]:
    """All rows of a quotes page, three at a time and without facets, with its count and the SQL it ran."""
    return await conftest_every_page(datasette, "quotes", {**params, "_nofacet": "1"}, 3)


@pytest.mark.asyncio
async def test_a_quotes_search_is_counted_and_paged_from_its_selection(seeds_db):
    """Served immutable, a quotes page of a search and keyed values is counted from what it selects
    and each page, every `_next` included, is the next of them in the table's order, read by rowid:
    the same rows, pages, counts and streamed CSV as Datasette's own queries (served mutable)."""
    served = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True})
    plain = make_datasette(seeds_db, settings={"trace_debug": True})
    paged = 0
    for params in pages(seeds_db):
        params = {k: v for k, v in params.items() if k != "_facet_size"}
        quick_sql, own_sql = await same_pages_and_csv(served, plain, params)
        if not params or "Nobody Atall" in params.values():
            continue  # the whole table, or a value no quotation has: Datasette's own queries
        assert any(s.startswith("select count(*) from quotes where") for s in own_sql)
        assert not any(s.startswith("select count(*) from quotes") for s in quick_sql), params
        listed = [s for s in quick_sql if s.startswith("select paragraph_id, number") and " order by paragraph_id, number limit " in s]
        assert listed and all(re.search(r"from quotes where rowid in \([\d,]*\) order by", s) for s in listed), params
        paged += len(listed) > 2
    assert paged >= 4  # several searches paged through


@pytest.mark.asyncio
@pytest.mark.parametrize("table, facet", [("quotes", "speaker"), ("paragraphs", "outlet")])
async def test_a_facet_counted_our_way_is_named_as_a_column_facet(datasette, table, facet):
    """A reader sees "speaker", not "speaker (keyed)": how a facet is counted is no concern of
    theirs; Datasette's other facet types (array, date) are still named."""
    html = (await datasette.client.get(f"/archive/{table}")).text
    assert re.search(rf"<strong>{facet}\s*<span class=\"facet-info-total\">", html), table
    assert "(keyed)" not in html and "(counted)" not in html


@pytest.mark.asyncio
async def test_a_first_page_with_another_filter_shows_its_rows_when_the_selection_is_too_slow(seeds_db, pausing_rows):
    """A page's rows stop at the page's last; its selection reads every row. The first page of a
    filter too slow to read whole within the time limit still shows its rows (Datasette's query),
    and only its count and facets go without, as Datasette's would."""
    served = make_datasette(seeds_db, immutable=True, settings={"sql_time_limit_ms": 60, "facet_time_limit_ms": 60, "suggest_facets": False})
    page = await served.client.get("/archive/quotes.json", params={"_where": "pause_ms(5) = 1", "_size": "2"})
    assert page.status_code == 200, page.text
    data = page.json()
    assert len(data["rows"]) == 2 and data["filtered_table_rows_count"] is None  # 5 ms x every quotation: past 60 ms
