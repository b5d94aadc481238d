"""The response cache: repeated pages of the immutable archive come from memory, and nothing personal,
partial, writable or too large is kept."""

import asyncio
import csv
import io
import shutil

import pytest
from datasette.app import Datasette

import yaml

from conftest import ROOT, make_datasette, plugin


def served(db_path, settings=None, **cache_settings) -> Datasette:
    """The archive served immutable, as `make serve` serves it, with the cache's settings if given."""
    metadata = {"plugins": {"response-cache": cache_settings}} if cache_settings else {}
    return make_datasette(db_path, immutable=True, metadata=metadata, settings=settings)


def cache_of(datasette):
    """The plugin's cache of this Datasette (each instance has its own)."""
    return plugin("cache").CACHES[datasette]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", [
    "/-/search?q=gas", "/-/search.json?q=%22no+limits%22", "/archive/paragraphs.json?_search=pipeline",
    "/archive/articles", "/", "/archive.json?sql=select+count(*)+from+paragraphs",
])
async def test_a_page_asked_for_again_comes_from_memory_unchanged(seeds_db, path):
    datasette = served(seeds_db)
    first = await datasette.client.get(path)
    again = await datasette.client.get(path)
    assert first.status_code == again.status_code == 200
    assert (first.headers["x-archive-cache"], again.headers["x-archive-cache"]) == ("miss", "hit")
    assert again.content == first.content and again.headers["content-type"] == first.headers["content-type"]
    # Asked for fresh, it is computed again (pages carry their query times, so bytes differ).
    fresh = await datasette.client.get(path, headers={"cache-control": "no-cache"})
    assert fresh.status_code == 200 and "x-archive-cache" not in fresh.headers


@pytest.mark.asyncio
async def test_different_queries_are_different_entries(seeds_db):
    datasette = served(seeds_db)
    gas = (await datasette.client.get("/-/search.json?q=gas")).json()
    await datasette.client.get("/-/search.json?q=pipeline")
    pipeline = await datasette.client.get("/-/search.json?q=pipeline")
    assert pipeline.headers["x-archive-cache"] == "hit" and pipeline.json()["q"] == "pipeline" != gas["q"]
    # A filter is part of the request: the filtered answer is not the unfiltered one.
    filtered = await datasette.client.get("/-/search.json?q=gas&topic=energy")
    assert filtered.headers["x-archive-cache"] == "miss" and filtered.json()["total"] <= gas["total"]


@pytest.mark.asyncio
async def test_requests_with_cookies_and_writable_databases_are_never_cached(seeds_db, tmp_path):
    datasette = served(seeds_db)
    for _ in range(2):
        response = await datasette.client.get("/-/search?q=gas", cookies={"ds_actor": "someone"})
        assert response.status_code == 200 and "x-archive-cache" not in response.headers
    writable = make_datasette(seeds_db)  # a mutable file can change under the server
    for _ in range(2):
        response = await writable.client.get("/archive/articles.json")
        assert response.status_code == 200 and "x-archive-cache" not in response.headers
    # Beside a writable database, pages about every database are computed; the archive's own are kept.
    other = shutil.copy(seeds_db, tmp_path / "other.db")
    beside = Datasette([str(other)], immutables=[str(seeds_db)], plugins_dir=str(ROOT / "plugins"),
                       metadata=yaml.safe_load((ROOT / "metadata.yml").read_text()), template_dir=str(ROOT / "templates"))
    for path in ("/-/search?q=gas", "/", "/other/articles.json"):
        for _ in range(2):
            response = await beside.client.get(path)
            assert response.status_code == 200 and "x-archive-cache" not in response.headers, path
    assert [(await beside.client.get("/archive/articles.json")).headers["x-archive-cache"] for _ in range(2)] == ["miss", "hit"]
    errors = [await datasette.client.get("/archive/no_such_table") for _ in range(2)]
    assert [r.status_code for r in errors] == [404, 404] and all(r.headers.get("x-archive-cache") != "hit" for r in errors)


@pytest.mark.asyncio
async def test_the_cache_stays_within_its_budget_and_drops_the_least_recently_used(seeds_db):
    datasette = served(seeds_db, max_bytes=25_000, max_entry_bytes=20_000)
    cache = cache_of(datasette)
    paths = [f"/archive/paragraphs.json?_size=5&_search={word}" for word in ("gas", "pipeline", "Putin", "Xi", "Moscow", "Beijing")]
    for path in paths:
        assert (await datasette.client.get(path)).status_code == 200
        assert cache.size <= 25_000
    assert 1 < len(cache.entries) < len(paths)  # some were dropped to stay within the budget
    newest = await datasette.client.get(paths[-1])
    oldest = await datasette.client.get(paths[0])
    assert newest.headers["x-archive-cache"] == "hit" and oldest.headers["x-archive-cache"] == "miss"


@pytest.mark.asyncio
async def test_an_export_larger_than_an_entry_streams_whole_and_is_not_kept(seeds_db):
    datasette = served(seeds_db, max_entry_bytes=2_000)
    responses = [await datasette.client.get("/-/search.csv?q=Putin") for _ in range(2)]
    assert [r.headers["x-archive-cache"] for r in responses] == ["miss", "miss"]
    rows = list(csv.DictReader(io.StringIO(responses[1].text)))
    assert len(responses[1].content) > 2_000 and rows and all("putin" in r["text"].lower() for r in rows)
    assert not cache_of(datasette).entries


@pytest.mark.asyncio
async def test_a_response_whose_facets_timed_out_is_not_kept(seeds_db):
    # A facet that ran out of time under load may answer later: such a page must be asked again.
    datasette = served(seeds_db, settings={"facet_time_limit_ms": 0.0001})
    path = "/archive/paragraphs?_facet=article_id&_facet=position&_facet=text"
    first = await datasette.client.get(path)
    assert first.status_code == 200 and "These facets timed out" in first.text
    assert (await datasette.client.get(path)).headers["x-archive-cache"] == "miss"
    complete = "/-/search.json?q=gas"  # the same server keeps a page that is whole
    await datasette.client.get(complete)
    assert (await datasette.client.get(complete)).headers["x-archive-cache"] == "hit"


@pytest.mark.asyncio
async def test_nothing_is_repeated_after_its_time_to_live(seeds_db):
    datasette = served(seeds_db, ttl_seconds=0.05)
    path = "/-/search.json?q=gas"
    assert (await datasette.client.get(path)).headers["x-archive-cache"] == "miss"
    assert (await datasette.client.get(path)).headers["x-archive-cache"] == "hit"
    await asyncio.sleep(0.1)
    assert (await datasette.client.get(path)).headers["x-archive-cache"] == "miss"
    cache = cache_of(datasette)  # the expired entry's bytes were given back
    assert len(cache.entries) == 1 and cache.size == cache.cost(*next((k, e[2]) for k, e in cache.entries.items()))


@pytest.mark.asyncio
async def test_a_zero_budget_turns_the_cache_off(seeds_db):
    datasette = served(seeds_db, max_entry_bytes=0)
    for _ in range(2):
        assert "x-archive-cache" not in (await datasette.client.get("/-/search?q=gas")).headers


@pytest.mark.asyncio
async def test_a_crowd_asking_for_the_same_new_page_at_once_is_answered_by_one_computation(seeds_db):
    datasette = served(seeds_db)
    paths = ["/-/search.json?q=pipeline"] * 8 + ["/-/search.json?q=gas"] * 4
    responses = await asyncio.gather(*(datasette.client.get(path) for path in paths))
    assert all(r.status_code == 200 for r in responses)
    by_path = {}
    for path, response in zip(paths, responses):
        by_path.setdefault(path, []).append(response)
    for path, answers in by_path.items():
        assert [r.headers["x-archive-cache"] for r in answers].count("miss") == 1, path
        assert len({r.content for r in answers}) == 1
    # An answer that is not kept (too big to keep) lets the waiting requests compute their own.
    small = served(seeds_db, max_entry_bytes=2_000)
    exports = await asyncio.gather(*(small.client.get("/-/search.csv?q=Putin") for _ in range(3)))
    assert [r.headers["x-archive-cache"] for r in exports] == ["miss"] * 3
    assert len({r.content for r in exports}) == 1 and len(exports[0].content) > 2_000
