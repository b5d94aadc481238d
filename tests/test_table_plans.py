"""The paragraphs table searched or browsed by topic on the immutable archive: the same answers, by quicker plans."""

import asyncio
import csv
import io
import json
import re
import shutil
from collections import Counter
import sqlite3

import pytest
from datasette.utils import escape_fts

from conftest import every_page as conftest_every_page
from conftest import make_datasette, plugin, rows

# Searches of every kind the table takes: a word in most paragraphs, one in a few, a phrase, a
# raw prefix query, a raw OR, a word in none.
SEARCHES = [
    {"_search": "the"},
    {"_search": "China"},
    {"_search": "gas"},
    {"_search": '"power of siberia"'},
    {"_search": "sanction*", "_searchmode": "raw"},
    {"_search": "gas OR oil", "_searchmode": "raw"},
    {"_search": "zzzunheardof"},
]


def busiest(db_path) -> dict:
    """The commonest (outlet, year) pair of the paragraphs, and the topics busiest first."""
    pair = rows(db_path, "SELECT outlet, meeting_year FROM paragraphs GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1")[0]
    topics = [r["topic"] for r in rows(db_path, "SELECT topic FROM paragraph_topics GROUP BY 1 ORDER BY count(*) DESC")]
    return {**pair, "topics": topics}


def filtered(db_path) -> list[dict]:
    """Searches and topics with column filters (the busiest outlet and year), alone and together."""
    busy = busiest(db_path)
    topic = busy["topics"][0]
    return [{"_search": "the", "outlet": busy["outlet"]},
            {"_search": "China", "outlet__exact": busy["outlet"], "meeting_year": busy["meeting_year"]},
            {"_search": "sanction*", "_searchmode": "raw", "meeting_year": busy["meeting_year"]},
            {"_search": "gas", "meeting_city": "Moscow"},
            {"_topic": topic, "outlet": busy["outlet"]},
            {"topics__arraycontains": topic, "meeting_year": busy["meeting_year"]}]


def with_topics(db_path) -> list[dict]:
    """What a reader gets by clicking a topic on a searched table (every kind of search, its words
    kept or not; the topic its matches have most), or a second topic, with and without a column
    filter; a year and a topic no paragraph has."""
    busy = busiest(db_path)
    first, second = busy["topics"][:2]
    conn = sqlite3.connect(db_path)
    conn.create_function("escape_fts", 1, escape_fts)

    def clicked(search: dict) -> dict:
        expression = "escape_fts(:search)" if "_searchmode" not in search else ":search"
        topic, = conn.execute(f"""SELECT pt.topic FROM paragraph_topics pt JOIN paragraphs p ON p.id = pt.paragraph_id
            WHERE p.rowid IN (SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH {expression})
            GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""", {"search": search["_search"]}).fetchone()
        return {**search, "topics__arraycontains" if "OR" in search["_search"] else "_topic": topic}

    try:
        return [clicked({"_search": "the"}), clicked({"_search": "Putin Xi"}), clicked({"_search": "gas"}),
                clicked({"_search": '"power of siberia"'}), clicked({"_search": "sanction*", "_searchmode": "raw"}),
                clicked({"_search": "gas OR oil", "_searchmode": "raw"}),
                {**clicked({"_search": "China"}), "outlet": busy["outlet"]},
                {"_search": "the", "meeting_year": busy["meeting_year"]},
                {"_search": "putin", "meeting_year": "1066"},
                {"_search": "the", "_topic": [first, second]},
                {"_search": "China", "meeting_city": "Moscow"},
                {"_topic": [first, second]},
                {"_topic": [first, second], "meeting_year": busy["meeting_year"]},
                {"_search": "the", "_topic": "no-such-topic"}]
    finally:
        conn.close()


def topic_browses(db_path) -> list[dict]:
    """Browses by the busiest topic, the least busy, and one no paragraph has."""
    topics = busiest(db_path)["topics"]
    return [{"_topic": topics[0]}, {"_topic": topics[-1]}, {"_topic": "no-such-topic"},
            {"topics__arraycontains": topics[0]}, {"topics__arraycontains": topics[-1]}]


COLUMNS = "id, article_id, position, text, outlet, meeting_id, meeting_year, meeting_city, topics"


async def every_page(datasette, params: dict) -> tuple[list, int, list[str]]:
    """All rows of a paragraphs page, seven at a time, with its count and the SQL it ran."""
    return await conftest_every_page(datasette, "paragraphs", params, 7)


@pytest.mark.asyncio
@pytest.mark.parametrize("kept_in_order", [True, False])
async def test_searches_and_topics_on_the_served_archive_answer_as_datasettes_own_queries(seeds_db, monkeypatch, kept_in_order):
    """Served immutable (as `make serve` serves it) a table search or a topic's paragraphs, alone or
    with column filters, run quicker SQL; served mutable, Datasette's own: rows, order, pages and
    counts are the same. So they are with no set kept in id order (every page planned anew)."""
    served = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True})
    if not kept_in_order:
        monkeypatch.setattr(plugin("table_plans"), "ORDERED_MAX", 0)
    plain = make_datasette(seeds_db, settings={"trace_debug": True})
    ran = {}
    for params in SEARCHES + topic_browses(seeds_db) + filtered(seeds_db) + with_topics(seeds_db):
        quick_rows, quick_count, quick_sql = await every_page(served, params)
        own_rows, own_count, own_sql = await every_page(plain, params)
        assert quick_rows == own_rows, params
        assert quick_count == own_count == len(own_rows), params
        assert any("select count(*) from paragraphs where" in s for s in own_sql)
        ran[repr(sorted(params.items()))] = quick_sql
    # A set alone is counted by its own index, not by looking up every member in the table...
    for params in SEARCHES + topic_browses(seeds_db):
        assert not any("select count(*) from paragraphs where" in s for s in ran[repr(sorted(params.items()))]), params
    # ...and a word in most paragraphs is paged through by walking an index, or once its set is kept
    # in id order, read by rowid after the first page; with a column filter it is counted and paged
    # from memory (its matches walked once, and the paragraphs' facet keys).
    common, with_outlet = ran[repr([("_search", "the")])], ran[repr(sorted(filtered(seeds_db)[0].items()))]
    pages = [s for s in common if s.startswith("select id, article_id") and " order by id limit " in s]
    listed = [s for s in common if s.startswith("select id, rowid from paragraphs")]
    assert len(pages) > 10 and " indexed by " in pages[0]
    if kept_in_order:  # listed once, on the second page
        assert len(listed) == 1
        assert all(re.search(r"from paragraphs where rowid in \([\d,]+\) and \(\(id > :p\d+\)\)", s) for s in pages[1:])
    else:
        assert not listed and all(" indexed by " in s for s in pages)
    assert not any(s.startswith("select count(*) from paragraphs") for s in with_outlet)
    assert all(re.search(r"\browid in \([\d,]+\)", s) for s in with_outlet if s.startswith("select id, article_id"))
    # A topic with column filters is counted from the facet keys held in memory, not by SQL (which
    # counts only a filtered column's rows, to choose the page's plan).
    for params in filtered(seeds_db)[-2:]:
        assert not any(s.startswith("select count(*) from paragraphs") and not re.fullmatch(r'select count\(\*\) from paragraphs where "\w+" = :p\d+', s)
                       for s in ran[repr(sorted(params.items()))]), params


@pytest.mark.parametrize("plan", ["sort", "list", "ask"])
@pytest.mark.parametrize("limit", [1, 8, 200])
def test_every_plan_finds_the_page_datasettes_query_finds(seeds_db, plan, limit):
    """Each plan's SQL, by the id index or by a filtered column's index, gives the rows of
    Datasette's own where clause: a set alone, with column filters, from a page's start."""
    table_plans = plugin("table_plans")
    conn = sqlite3.connect(seeds_db)
    conn.create_function("escape_fts", 1, escape_fts)
    indexes = {columns: name for name, columns in
               conn.execute("select il.name, group_concat(ii.name) from pragma_index_list('paragraphs') il, "
                            "pragma_index_info(il.name) ii group by il.name")}
    busy = busiest(seeds_db)
    middle = rows(seeds_db, "SELECT id FROM paragraphs ORDER BY id LIMIT 1 OFFSET 60")[0]["id"]
    values = {"p0": busy["outlet"], "p1": busy["meeting_year"], "p2": middle}
    for member, set_values in every_set(seeds_db):
        for filters, walk in [([], indexes["id"]), (['"outlet" = :p0'], indexes["outlet,id"]),
                              (['"outlet" = :p0', '"meeting_year" = :p1'], indexes["meeting_year,id"])]:
            for after in ([], ["((id > :p2))"]):
                where = " and ".join([*filters, member, *after])
                own = conn.execute(f"select {COLUMNS} from paragraphs where {where} order by id limit {limit}",
                                   {**values, **set_values}).fetchall()
                parsed = table_plans.parse_where(*plugin("paging").split_page_start(where))
                assert parsed is not None, where
                quick = conn.execute(table_plans.page_sql(plan, parsed, COLUMNS, limit, walk), {**values, **set_values}).fetchall()
                assert quick == own, (plan, where, set_values)


@pytest.mark.parametrize("plan", ["sort", "list", "ask"])
def test_every_plan_counts_what_datasettes_count_counts(seeds_db, plan):
    """Each plan's count, by a filtered column's index, is the count of Datasette's own where
    clause: a set with one or two column filters."""
    table_plans = plugin("table_plans")
    conn = sqlite3.connect(seeds_db)
    conn.create_function("escape_fts", 1, escape_fts)
    busy = busiest(seeds_db)
    values = {"p0": busy["outlet"], "p1": busy["meeting_year"]}
    counted = set()
    for member, set_values in every_set(seeds_db):
        for filters, walk in [(['"outlet" = :p0'], "idx_paragraphs_outlet_id"),
                              (['"outlet" = :p0', '"meeting_year" = :p1'], "idx_paragraphs_meeting_year_id")]:
            where = " and ".join([*filters, member])
            own = conn.execute(f"select count(*) from paragraphs where {where}", {**values, **set_values}).fetchone()[0]
            quick = conn.execute(table_plans.count_sql(plan, table_plans.parse_where(where), walk), {**values, **set_values})
            assert quick.fetchone()[0] == own, (plan, where, set_values)
            counted.add(own)
    assert len(counted) > 3


def every_set(db_path) -> list[tuple[str, dict]]:
    """Each search and topic as the where clause Datasette writes for it, with its values."""
    table_plans = plugin("table_plans")
    sets = [(table_plans.SEARCH.member.format(arg=":search" if p.get("_searchmode") == "raw" else "escape_fts(:search)"),
             {"search": p["_search"]}) for p in SEARCHES]
    sets += [(table_plans.TOPIC.member.format(arg=":_topic_0"), {"_topic_0": p["_topic"]})
             for p in topic_browses(db_path) if "_topic" in p]
    return sets


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", [1, 8, 200])
async def test_a_set_kept_in_id_order_gives_the_pages_datasettes_query_gives(seeds_db, limit):
    """From any start — the last id of a page, or any other string a `_next` may hold — the page
    read from a set kept in id order is the page of Datasette's own query."""
    served = make_datasette(seeds_db, immutable=True)
    await served.invoke_startup()
    planner, table_plans = served.get_database("archive").table_planner, plugin("table_plans")
    conn = sqlite3.connect(seeds_db)
    conn.create_function("escape_fts", 1, escape_fts)
    ids = [r["id"] for r in rows(seeds_db, "SELECT id FROM paragraphs ORDER BY id")]
    starts = [None, ids[0], ids[60], ids[-1], ids[60][:-1], ids[60] + "z", ids[60] + "\x00", "", "~", "é"]
    for member, set_values in every_set(seeds_db):
        for start in starts:
            where = member if start is None else f"{member} and ((id > :p2))"
            params = {**set_values, "p2": start}
            parsed = table_plans.parse_where(*plugin("paging").split_page_start(where))
            ordered = await planner.ordered(parsed, params)
            quick = conn.execute(ordered.page_sql(parsed, params, COLUMNS, limit), params).fetchall()
            own = conn.execute(f"select {COLUMNS} from paragraphs where {where} order by id limit {limit}", params).fetchall()
            assert quick == own, (where, params)


@pytest.mark.asyncio
async def test_a_streamed_csv_export_of_a_set_is_datasettes_own(seeds_db, monkeypatch):
    """Streamed a page of ten at a time, every search and topic gives Datasette's own CSV, with its
    set kept in id order from the first page."""
    settings = {"max_returned_rows": 10}
    served = make_datasette(seeds_db, immutable=True, settings=settings)
    plain = make_datasette(seeds_db, settings=settings)
    monkeypatch.setattr(plugin("table_plans"), "STREAMED_PAGE", 10)
    for params in SEARCHES + topic_browses(seeds_db):
        # _nofacet (which Datasette's export adds itself): Datasette's own export, paged, not the search
        # plugin's one-statement export of a bare search (tests/test_table_search_csv.py)
        query = {**params, "_stream": "on", "_size": "max", "_nofacet": "1"}
        quick = await served.client.get("/archive/paragraphs.csv", params=query, headers={"cache-control": "no-cache"})
        own = await plain.client.get("/archive/paragraphs.csv", params=query)
        assert quick.status_code == own.status_code == 200
        assert quick.text == own.text, params
    assert served.get_database("archive").table_planner.orders


def test_only_a_conjunction_of_known_conditions_is_planned():
    def parse(where):
        return plugin("table_plans").parse_where(*plugin("paging").split_page_start(where))

    search = "rowid in (select rowid from paragraphs_fts where paragraphs_fts match escape_fts(:search))"
    assert parse(f'"outlet" = :p0 and {search} and ((id > :p1))').equals == [("outlet", ":p0")]
    assert parse('"outlet" = :p0') is None  # no set: Datasette's own indexes serve it
    assert parse(f"{search} and {search}") is None  # two searches
    topic = "id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = :_topic_0)"
    both = parse(f'{topic} and "outlet" = :p0 and {search}')  # a search and a topic: the search first
    assert (both.set_at, both.kind.count, [(n, kind.count) for n, kind, _ in both.more_sets]) == \
        (2, table_plans_kinds()[0].count, [(0, table_plans_kinds()[1].count)])
    assert parse(f'{search} and "outlet" = :p0 or 1') is None  # not a plain conjunction
    assert parse(f"{search} and position > :p0") is None  # a condition of another kind


def table_plans_kinds():
    """The search set and the topic set, as the planner knows them."""
    table_plans = plugin("table_plans")
    return table_plans.SEARCH, table_plans.TOPIC


def test_plans_suit_how_many_paragraphs_are_in_the_set():
    table_plans = plugin("table_plans")
    word_cost = table_plans.search_ask_cost

    def choose(members, walkable, expected, limit, ask_cost):
        return table_plans.cheapest(table_plans.plan_costs(members, walkable, expected, limit, ask_cost), members)

    million = 1_000_000
    assert choose(40, million, 40, 101, word_cost({"search": "rare"})) == "sort"  # a few: sort them
    assert choose(100_000, million, 100_000, 101, word_cost({"search": "sanction*"})) == "list"  # many: walk the ids, keep the listed
    assert choose(550_000, million, 550_000, 101, word_cost({"search": "russia"})) == "ask"  # most: walk the ids, ask of each
    # A common word in one year's paragraphs: walk that year's rows in id order, asking of each.
    assert choose(550_000, 280_000, 150_000, 101, word_cost({"search": "russia"})) == "ask"
    # Counted within one outlet (126,000 paragraphs of a million): a topic in a third of the archive
    # is asked of the outlet's rows; a word is listed; a small topic is not asked of every row.
    def count_plan(kind, members, search=None):
        where = table_plans.Where([], 0, kind, ":x", [("outlet", ":p0")])
        return table_plans.cheapest(table_plans.count_costs(where, {"search": search}, members, 126_000), members)

    assert count_plan(table_plans.TOPIC, 338_000) == "ask" and count_plan(table_plans.TOPIC, 20_000) != "ask"
    assert count_plan(table_plans.SEARCH, 545_000, "russia") == "list"
    # A prefix query is never asked row by row: each question costs it milliseconds.
    assert word_cost({"search": "sanction*"}) is None
    assert choose(900_000, million, 900_000, 101, None) != "ask"
    # A set streamed in pages of 1,001 (a CSV export) is put in id order once; one paged through
    # 101 rows at a time is not, when listing it costs more than the next two pages.
    worth, costs = table_plans.worth_ordering, table_plans.plan_costs
    for members in (10_000, 100_000):
        streamed = min(costs(members, million, members, 1001, None).values())
        paged = min(costs(members, million, members, 101, None).values())
        assert worth(members, million, 1001, streamed) and not worth(members, million, 101, paged)


@pytest.mark.asyncio
async def test_an_index_not_built_from_the_table_is_left_to_datasette(tmp_path):
    """The count's shortcut holds only for an index built from the paragraphs themselves."""
    db_path = tmp_path / "other.db"
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE paragraphs (id TEXT PRIMARY KEY, text TEXT)")
    conn.execute("CREATE VIRTUAL TABLE paragraphs_fts USING fts5(text)")  # its own content
    conn.executemany("INSERT INTO paragraphs VALUES (?, ?)", [("a", "gas"), ("b", "oil")])
    conn.executemany("INSERT INTO paragraphs_fts (rowid, text) VALUES (?, ?)", [(1, "gas"), (2, "gas"), (3, "gas")])
    conn.commit()
    conn.close()
    served = make_datasette(db_path, immutable=True, metadata={"databases": {}})
    page = (await served.client.get("/other/paragraphs.json", params={"_search": "gas",
                                                                      "_fts_table": "paragraphs_fts"})).json()
    assert [row[0] for row in page["rows"]] == ["a", "b"]
    assert page["filtered_table_rows_count"] == 2  # the index alone would say 3


KEPT_SEARCHES = [{"_search": "the"}, {"_search": "Putin Xi"}, {"_search": "china the russia"},
                 {"_search": "putin AND xi", "_searchmode": "raw"}, {"_search": '"xi" putin'}]


@pytest.mark.asyncio
async def test_a_table_search_for_kept_words_is_paged_and_counted_from_them(kept_words_db):
    """A table search whose words the archive keeps (ingest/samples.py) is counted and paged from
    the kept words, first page on, without the full-text index: the same rows, pages and counts as
    Datasette's own queries, with and without column filters, and the same streamed CSV."""
    served = make_datasette(kept_words_db, immutable=True, settings={"trace_debug": True})
    plain = make_datasette(kept_words_db, settings={"trace_debug": True})
    busy = busiest(kept_words_db)
    for params in KEPT_SEARCHES + [{**search, "outlet": busy["outlet"]} for search in KEPT_SEARCHES[:2]]:
        quick_rows, quick_count, quick_sql = await every_page(served, params)
        own_rows, own_count, _ = await every_page(plain, params)
        assert quick_rows == own_rows and quick_count == own_count == len(own_rows) > (0 if "outlet" in params else 7), params
        if "outlet" not in params:  # more than a page of seven
            pages = [s for s in quick_sql if s.startswith("select id, article_id") and " order by id limit " in s]
            assert len(pages) > 1 and all(re.search(r"from paragraphs where rowid in \([\d,]+\)", s) for s in pages), params
            assert not any(s.startswith("select count(*) from paragraphs_fts") for s in quick_sql), params
        query = {**params, "_stream": "on", "_size": "max", "_nofacet": "1"}
        quick = await served.client.get("/archive/paragraphs.csv", params=query, headers={"cache-control": "no-cache"})
        own = await plain.client.get("/archive/paragraphs.csv", params=query)
        assert quick.status_code == own.status_code == 200 and quick.text == own.text, params


@pytest.mark.asyncio
async def test_searches_with_topics_and_facet_values_are_counted_and_paged_from_memory(kept_words_db):
    """A search with a topic (the topics facet of a searched table links there), two topics, a
    search with a column filter: counted and paged from the kept words or the search walked once,
    and the paragraphs' facet keys, not by Datasette's SQL looking up every match (~0.8 s for a
    common word and a topic at 1M): the same rows, pages, counts and streamed CSV as Datasette's."""
    served = make_datasette(kept_words_db, immutable=True, settings={"trace_debug": True})
    plain = make_datasette(kept_words_db, settings={"trace_debug": True})
    counts = []
    for params in with_topics(kept_words_db):
        quick_rows, quick_count, quick_sql = await every_page(served, params)
        own_rows, own_count, own_sql = await every_page(plain, params)
        assert quick_rows == own_rows and quick_count == own_count == len(own_rows), params
        counts.append(own_count)
        # The facets count the same paragraphs: each value as often as the rows have it.
        page = (await served.client.get("/archive/paragraphs.json", params={**params, "_size": "1"})).json()
        own_dicts = [dict(zip(page["columns"], row)) for row in own_rows]
        for facet in page["facet_results"].values():
            values = [v for row in own_dicts for v in (json.loads(row["topics"] or "[]") if facet["name"] == "topics" else [row[facet["name"]]])]
            expected = Counter(v for v in values if v is not None)
            listed = {r["value"]: r["count"] for r in facet["results"]}
            assert all(expected[value] == n for value, n in listed.items()), (params, facet["name"])
            assert all(n <= min(listed.values()) for value, n in expected.items() if value not in listed), (params, facet["name"])
            assert facet["truncated"] or len(listed) == len(expected), (params, facet["name"])
        assert any(s.startswith("select count(*) from paragraphs where") for s in own_sql)
        if "1066" in params.values():  # a year no paragraph has (no facet value): Datasette's SQL decides
            continue
        assert not any(s.startswith("select count(*) from paragraphs") for s in quick_sql), params
        assert not any("count(*) AS count" in s for s in quick_sql), params  # no facet counted by SQL either
        pages = [s for s in quick_sql if s.startswith("select id, article_id") and " order by id limit " in s]
        assert pages and all(re.search(r"\browid in \([\d,]*\)", s) and "paragraph_topics" not in s
                             for s in pages), params
        query = {**params, "_stream": "on", "_size": "max", "_nofacet": "1"}
        quick = await served.client.get("/archive/paragraphs.csv", params=query, headers={"cache-control": "no-cache"})
        own = await plain.client.get("/archive/paragraphs.csv", params=query)
        assert quick.status_code == own.status_code == 200 and quick.text == own.text, params
    assert sum(count > 7 for count in counts) >= 6 and counts[-1] == 0  # pages of seven paged through; none


def sorted_pages(db_path) -> list[dict]:
    """Table pages sorted by each sortable column, each way: browsed, searched (a word in most
    paragraphs, one in a few, a raw prefix query), with a topic, a facet value, both, a filter of
    another kind, a word in none."""
    busy = busiest(db_path)
    sorts = [{"_sort": c} for c in ("meeting_year", "outlet", "meeting_city", "position", "rewrite_score")]
    sorts += [{"_sort_desc": next(iter(s.values()))} for s in sorts]
    return sorts + [{**s, **narrowed} for s in ({"_sort_desc": "meeting_year"}, {"_sort": "rewrite_score"}) for narrowed in (
        {"_search": "the"}, {"_search": "gas"}, {"_search": "sanction*", "_searchmode": "raw"},
        {"_search": "China", "_topic": busy["topics"][0]}, {"outlet": busy["outlet"]},
        {"_topic": busy["topics"][1], "meeting_year": busy["meeting_year"]}, {"position__gt": "3"},
        {"_search": "zzzunheardof"})]


def in_sorted_order(found: list, columns: list[str], params: dict) -> list:
    """Rows in the order of a page sorted as `params` sort it, as SQLite orders a column's values
    (nulls first: last when descending), ties in id order."""
    at = columns.index(params.get("_sort") or params["_sort_desc"])
    by_id = sorted(found, key=lambda row: row[columns.index("id")])
    # (Python's sort keeps the id order of ties, reversed or not.)
    return sorted(by_id, key=lambda row: (row[at] is not None, row[at] if row[at] is not None else 0),
                  reverse="_sort_desc" in params)


@pytest.mark.asyncio
@pytest.mark.parametrize("orders_read", [True, False])
async def test_a_table_sorted_by_a_column_pages_through_every_row_once_in_its_order(seeds_db, orders_read):
    """A table page sorted by a column (the column headings' menus; `_sort`, `_sort_desc`) pages
    through the rows Datasette's own table selects, every one once, in the column's order with
    ties in id order, and streams them so as a CSV export. (Datasette's first page orders by the
    column alone and the next pages by the column and id: with a meeting's year sorted, paging
    showed 72 of the seeds' 121 paragraphs.) Served immutable, once every paragraph's order in
    that sort is read, each page is its first members after the page's start, read by rowid."""
    served = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True, "max_returned_rows": 10})
    plain = make_datasette(seeds_db, settings={"trace_debug": True})
    await served.client.get("/archive/paragraphs.json")  # started: the plugins' startup ran
    db = served.get_database("archive")
    if not orders_read:
        del db.read_once  # as without the search plugin: Datasette's SQL, ties in id order
    tied = 0
    for params in sorted_pages(seeds_db):
        unsorted = {k: v for k, v in params.items() if k not in ("_sort", "_sort_desc")}
        own_rows, own_count, _ = await every_page(plain, unsorted)  # Datasette's own rows, in id order
        columns = (await plain.client.get("/archive/paragraphs.json", params={**unsorted, "_size": "1"})).json()["columns"]
        if orders_read:
            column = params.get("_sort") or params["_sort_desc"]
            await asyncio.wrap_future(db.read_once(plugin("table_plans").order_reader(column, "_sort_desc" in params)))
        quick_rows, quick_count, quick_sql = await every_page(served, params)
        expected = in_sorted_order(own_rows, columns, params)
        assert quick_rows == expected and quick_count == own_count, params
        at = columns.index(params.get("_sort") or params["_sort_desc"])
        tied += any(a[at] == b[at] for a, b in zip(expected[6::7], expected[7::7]))  # a tie across a page's end
        pages = [s for s in quick_sql if s.startswith("select id, article_id")]
        from_memory = [re.search(r"from paragraphs where rowid in \([\d,]*\) order by \w+( desc)?, id limit", s) for s in pages]
        if orders_read:  # (a filter of another kind too: its members read once by SQL)
            assert pages and all(from_memory), params
            assert not any("paragraphs_fts match" in s or "paragraph_topics" in s for s in pages), params
        else:
            assert pages and not any(from_memory), params
        query = {**params, "_stream": "on", "_size": "max", "_nofacet": "1"}
        exported = await served.client.get("/archive/paragraphs.csv", params=query, headers={"cache-control": "no-cache"})
        assert exported.status_code == 200, params
        assert [line[0] for line in csv.reader(io.StringIO(exported.text))][1:] == [row[0] for row in expected], params
    assert tied > 10  # the pages' ends fall within ties: Datasette's own paging would lose rows


@pytest.mark.asyncio
async def test_only_the_sorts_the_table_offers_are_read_into_memory(seeds_db, tmp_path):
    """A sort the table page offers (metadata's sortable_columns) is read once into memory and
    its pages planned from it; a reader's own SQL sorted by another column (the text) runs by
    SQL, and nothing is read for it (every paragraph's text would be sorted)."""
    archive = shutil.copy(seeds_db, tmp_path / "archive.db")  # a file of its own: no order read for it yet
    served = make_datasette(archive, immutable=True, settings={"trace_debug": True})
    await served.client.get("/archive/paragraphs.json")  # started: the plugins' startup ran
    order_reader, readings = plugin("table_plans").order_reader, plugin("search")._readings
    for column in ("text", "rewrite_score"):
        sql = f"select id from paragraphs order by {column} limit 5"
        first = (await served.client.get("/archive.json", params={"sql": sql, "_trace": "1"})).json()
        assert sql in [t["sql"] for t in first["_trace"]["traces"]], column  # before the order is read: as written
        reading = next(iter(readings.get(order_reader(column, False), {}).values()), None)
        assert (reading is not None) == (column == "rewrite_score"), column
        if reading is not None:
            await asyncio.wrap_future(reading)
        again = (await served.client.get("/archive.json", params={"sql": sql, "_trace": "1"})).json()
        planned = any("where rowid in (" in t["sql"] for t in again["_trace"]["traces"])
        assert planned == (column == "rewrite_score"), column
        if planned:  # from memory: the rows of the same order, its ties by id
            expected = [[r["id"]] for r in rows(archive, f"SELECT id FROM paragraphs ORDER BY {column}, id LIMIT 5")]
            assert again["rows"] == expected, column
        else:
            assert again["rows"] == first["rows"] and sql in [t["sql"] for t in again["_trace"]["traces"]], column


@pytest.mark.asyncio
async def test_paragraphs_browsed_by_two_facet_values_are_datasettes_own_from_memory(seeds_db):
    """Browsed by two facet values or more (a year and an outlet, a city and a kind of report…),
    every page and the count are Datasette's own, read from every paragraph's facet keys held in
    memory rather than by walking one value's index and reading each row for the other."""
    settings = {"trace_debug": True}
    served, plain = make_datasette(seeds_db, immutable=True, settings=settings), make_datasette(seeds_db, settings=settings)
    combos = [{a: r[a], b: r[b]} for a, b in [("meeting_year", "outlet"), ("meeting_city", "report"), ("outlet", "report")]
              for r in rows(seeds_db, f"SELECT DISTINCT {a}, {b} FROM paragraphs WHERE {a} IS NOT NULL AND {b} IS NOT NULL")]
    busy = busiest(seeds_db)
    combos += [{"meeting_year": busy["meeting_year"], "outlet": busy["outlet"], "report": "original"},
               {"meeting_year": "1999", "outlet": busy["outlet"]}]  # a year no paragraph has
    counts = []
    for params in combos:
        quick, quick_count, quick_sql = await conftest_every_page(served, "paragraphs", params, 3)
        own, own_count, _ = await conftest_every_page(plain, "paragraphs", params, 3)
        assert (quick, quick_count) == (own, own_count), params
        if quick_count:
            assert any("rowid in (" in sql for sql in quick_sql), params
        counts.append(quick_count)
    assert sum(n > 0 for n in counts) > 3 and max(counts) > 3 and counts[-1] == 0  # several pages, and none


@pytest.mark.asyncio
async def test_paragraphs_filtered_by_any_other_condition_are_datasettes_own_from_their_members(seeds_db):
    """Filters of any other kind (a column that is no facet, a range, `contains`, `_where`, beside
    a search or a topic or not; a facet value no paragraph has) page and count as
    Datasette's own, from the selection's members read once by SQL: Datasette's count and each
    facet scanned the paragraphs again (1.4 s a page at a million for the first paragraphs)."""
    settings = {"trace_debug": True}
    served, plain = make_datasette(seeds_db, immutable=True, settings=settings), make_datasette(seeds_db, settings=settings)
    busy = busiest(seeds_db)
    selections = [{"position": "1"}, {"position__gt": "3"}, {"text__contains": "China"}, {"_where": "position = 1 and rewrite_score >= 0"},
                  {"_search": "putin", "position__lte": "4"}, {"_topic": busy["topics"][0], "position__gt": "2"},
                  {"meeting_year": busy["meeting_year"], "outlet": "No such outlet"}, {"_search": "zzzunheardof", "position": "1"}]
    counts = []
    for params in selections:
        quick, quick_count, quick_sql = await conftest_every_page(served, "paragraphs", params, 3)
        own, own_count, _ = await conftest_every_page(plain, "paragraphs", params, 3)
        assert (quick, quick_count) == (own, own_count), params
        pages = [s for s in quick_sql if s.startswith("select id, article_id")]
        assert pages and all(re.search(r"from paragraphs where rowid in \([\d,]*\)( and \(.*\))? order by id limit", s, re.S)
                             for s in pages), params
        counts.append(quick_count)
    assert min(counts) == 0 and sum(n > 3 for n in counts) >= 5  # several pages, and none
