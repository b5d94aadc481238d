"""The quotes table's facets, counted from every quotation's keys held in memory: Datasette's own answers."""

import copy

import pytest
import yaml

from conftest import ROOT, make_datasette, rows


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


@pytest.mark.asyncio
async def test_other_filters_leave_the_quote_facets_to_datasette(seeds_db):
    """A filter the keys do not answer (a text match, a range) is counted by Datasette's queries."""
    keyed = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True})
    plain = make_datasette(seeds_db, immutable=True, metadata=plain_facets_metadata(), settings={"trace_debug": True})
    for params in ({"quote__contains": "China"}, {"number__gt": "1"}):
        ours = (await keyed.client.get("/archive/quotes.json", params={**params, "_trace": "1"})).json()
        own = (await plain.client.get("/archive/quotes.json", params={**params, "_trace": "1"})).json()
        assert {n: f["results"] for n, f in ours["facet_results"].items()} == {n: f["results"] for n, f in own["facet_results"].items()}
        assert any("count(*) as count from" in t["sql"] for t in ours["_trace"]["traces"]), params
