"""Paging through any table of the archive: every row once in a sorted table's order, and every
page of a selection counting the whole of it in its facets."""

import csv
import io
import re
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from conftest import ROOT, every_page, make_datasette, plugin, rows

# Tables sorted by columns whose values tie across pages (a publication date the seeds lack, a
# meeting, a kind of line, a verb), each way; pages of two rows, or seven.
SORTED = [("articles", {"_sort": "published"}, 2), ("articles", {"_sort_desc": "meeting_year"}, 2),
          ("articles", {"_sort": "days_from_meeting"}, 2), ("quotes", {"_sort": "verb"}, 7),
          ("quotes", {"_sort_desc": "speaker"}, 7), ("quotes", {"_sort": "meeting_id", "_search": "china"}, 3),
          ("lines", {"_sort": "kind"}, 7), ("lines", {"_sort_desc": "paragraph_id"}, 7),
          ("paragraphs", {"_sort_desc": "meeting_year"}, 7)]


def in_sorted_order(found: list, columns: list[str], params: dict) -> list:
    """Rows listed in key order, in a sort's order as SQLite orders a column's values (nulls
    first: last when descending), ties in key order (Python's sort keeps them, reversed or not)."""
    at = columns.index(params.get("_sort") or params["_sort_desc"])
    return sorted(found, key=lambda row: (row[at] is not None, row[at] if row[at] is not None else 0),
                  reverse="_sort_desc" in params)


@pytest.mark.asyncio
@pytest.mark.parametrize("immutable", [True, False])
async def test_a_sorted_table_pages_through_every_row_once_in_its_order(seeds_db, immutable):
    """Sorted by a column (the column headings' menus), every table pages through each row of
    its selection once, in the column's order with ties in key order, and exports them so as a
    streamed CSV. (Datasette's first page orders by the column alone, the next ones by the column
    and the key: paging skipped rows tied across a page's end and showed others twice.)"""
    served = make_datasette(seeds_db, immutable=immutable, settings={"trace_debug": True})
    unsorted_ds = make_datasette(seeds_db, immutable=immutable, settings={"trace_debug": True})
    exporter = make_datasette(seeds_db, immutable=immutable, settings={"max_returned_rows": 2})  # CSV pages of three
    lost = 0
    for table, params, size in SORTED:
        selection = {k: v for k, v in params.items() if k not in ("_sort", "_sort_desc")}
        own_rows, own_count, _ = await every_page(unsorted_ds, table, selection, 1000)  # in key order
        columns = (await unsorted_ds.client.get(f"/archive/{table}.json", params={**selection, "_size": "1"})).json()["columns"]
        expected = in_sorted_order(own_rows, columns, params)
        found, count, _ = await every_page(served, table, params, size)
        assert found == expected and count == own_count == len(own_rows) > size, (table, params)
        at = columns.index(params.get("_sort") or params["_sort_desc"])
        lost += any(a[at] == b[at] for a, b in zip(expected[size - 1::size], expected[size::size]))
        exported = await exporter.client.get(f"/archive/{table}.csv", params={**params, "_stream": "on", "_size": "max", "_nofacet": "1"})
        assert exported.status_code == 200, (table, params)
        assert list(csv.reader(io.StringIO(exported.text)))[1:] == [["" if v is None else str(v) for v in row] for row in expected], (table, params)
    assert lost >= 6  # ties across a page's end in most of them: where Datasette's own paging lost rows


def facet_counts(page: dict) -> dict:
    return {name: [(r["value"], r["count"]) for r in facet["results"]] for name, facet in page["facet_results"].items()}


@pytest.mark.asyncio
@pytest.mark.parametrize("immutable", [True, False])
async def test_every_page_of_a_selection_counts_the_whole_selection_in_its_facets(seeds_db, immutable):
    """Every page of a table's selection — the first, and each next page, sorted or not — lists
    the same facets, each value counted as often as every row of the selection has it (Datasette's
    own counted only the rows after the page's start, beside the whole selection's row count)."""
    served = make_datasette(seeds_db, immutable=immutable, settings={"trace_debug": True})
    for table, params in [("quotes", {}), ("quotes", {"_search": "china"}), ("quotes", {"_sort_desc": "verb"}),
                          ("quotes", {"verb": "said", "quote__contains": "a"}), ("lines", {}), ("lines", {"_sort": "kind"}),
                          ("articles", {"_sort": "published"}), ("paragraphs", {"_search": "the", "_sort": "outlet"})]:
        every_row, _, _ = await every_page(served, table, {k: v for k, v in params.items() if not k.startswith("_sort")}, 1000)
        first = (await served.client.get(f"/archive/{table}.json", params={**params, "_size": "3"})).json()
        columns, pages, after = first["columns"], [first], first["next"]
        while after and len(pages) < 4:
            pages.append((await served.client.get(f"/archive/{table}.json", params={**params, "_size": "3", "_next": after, "_trace": "1"})).json())
            after = pages[-1]["next"]
        assert len(pages) > 1, (table, params)
        if table == "quotes" and "quote__contains" not in params:  # the quotes' keyed columns: from the keys held in memory
            assert not any("count(*) as count" in t["sql"] for page in pages[1:] for t in page["_trace"]["traces"]), params
        for page in pages:
            assert page["filtered_table_rows_count"] == len(every_row), (table, params)
            assert facet_counts(page) == facet_counts(first), (table, params)
        for name, listed in facet_counts(first).items():
            if name == "topics":
                continue  # an array facet (counted elsewhere)
            held = Counter(row[columns.index(name)] for row in every_row)
            assert all(held[value] == n for value, n in listed), (table, params, name)


@pytest.mark.asyncio
async def test_a_query_the_reader_writes_runs_as_written(seeds_db):
    """Only a table page's own queries are rewritten: SQL a reader writes, sorted or over a page
    of rows, runs as written, in the SQL editor or as a canned query (whose page has the path of
    a table page)."""
    written = ["select id, outlet from articles order by outlet limit 3",
               "select outlet as value, count(*) as count from (select id, outlet from articles where ((id > 'a')) ) group by outlet",
               "select outlet from (select outlet from paragraphs where meeting_year = 2024) order by outlet limit 3",
               "select distinct outlet from paragraphs order by outlet limit 3",
               "select distinct speaker from quotes where \"speaker\" = :p0 order by paragraph_id, number limit 3"]
    queries = {f"query_{n}": {"sql": sql} for n, sql in enumerate(written)}
    served = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True},
                            metadata={"databases": {"archive": {"queries": queries}}})
    for n, sql in enumerate(written):
        for path, params in (("/archive.json", {"sql": sql, "p0": "Xi Jinping"}), (f"/archive/query_{n}.json", {"p0": "Xi Jinping"})):
            page = (await served.client.get(path, params={**params, "_trace": "1"})).json()
            assert page.get("ok", True) and sql in [trace["sql"] for trace in page["_trace"]["traces"]], (path, page.get("error"))
    # (The same shapes on a table page are changed: the sorted articles get their key after the column.)
    page = (await served.client.get("/archive/articles.json", params={"_sort": "title", "_trace": "1"})).json()
    assert any(re.search(r"from articles order by title, id limit", t["sql"]) for t in page["_trace"]["traces"])


def test_the_articles_sorted_by_any_sortable_column_are_read_from_an_index_in_order(seeds_db):
    """Sorted by any of its sortable columns, either way, the articles table's page is the first
    entries of an index in Datasette's order (the column, ties by id), not a sort of every
    article's row (~3 KB each with its evidence: 0.2-0.5 s at a million paragraphs)."""
    import sqlite3

    import yaml

    from conftest import ROOT

    sortable = yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["archive"]["tables"]["articles"]["sortable_columns"]
    conn = sqlite3.connect(seeds_db)
    try:
        for column in sortable:
            for way in ("", " desc"):
                plan = " ".join(row[-1] for row in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT * FROM articles ORDER BY [{column}]{way}, id LIMIT 101"))
                assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, (column, way, plan)
    finally:
        conn.close()


@pytest.mark.asyncio
async def test_a_facet_value_clicked_on_a_later_page_lists_the_value_from_its_first_row(seeds_db):
    """On a table's second page, a facet value's link (to choose it, or to drop a chosen one), in
    the HTML and in the JSON's `toggle_url`, leads to that selection's first page, not to its rows
    after the page being read (Datasette's links keep the page's start)."""
    from bs4 import BeautifulSoup

    served = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True})
    for table, params in [("quotes", {}), ("quotes", {"verb": "said"}), ("articles", {"_sort_desc": "meeting_year"}),
                          ("paragraphs", {"_sort": "outlet"}), ("lines", {"kind": "paragraph"})]:
        first = (await served.client.get(f"/archive/{table}.json", params={**params, "_size": "2"})).json()
        html = (await served.client.get(f"/archive/{table}", params={**params, "_size": "2", "_next": first["next"]})).text
        links = [a["href"] for a in BeautifulSoup(html, "html.parser").select(".facet-results li a")]
        second = (await served.client.get(f"/archive/{table}.json", params={**params, "_size": "2", "_next": first["next"]})).json()
        json_links = [value["toggle_url"] for facet in second["facet_results"].values() for value in facet["results"]]
        assert links and len(json_links) == len(links) and second["rows"], (table, params)
        links += json_links
        for link in links[:4] + json_links[:4]:
            query = dict(parse_qsl(urlsplit(link).query))
            assert "_next" not in query, (table, link)
            chosen = (await served.client.get(f"/archive/{table}.json", params=query)).json()
            whole, count, _ = await every_page(served, table, query, 1000)
            assert chosen["rows"] == whole[:len(chosen["rows"])] and chosen["filtered_table_rows_count"] == count, link


# Tables keyed by a rowid, one key, two keys; in key order, and sorted each way (a value, and
# the nulls of a column that has them).
PAGE_STARTS = [("sqlite_stat1", {"tbl__not": "none"}), ("articles", {}), ("quotes", {}), ("quotes", {"_search": "china"}),
               ("quotes", {"_sort": "verb"}), ("lines", {"_sort_desc": "kind"}),
               ("lines", {"_sort": "paragraph_id"}), ("lines", {"_sort_desc": "paragraph_id"})]


@pytest.mark.asyncio
async def test_where_a_later_page_starts_is_read_from_datasettes_own_condition(seeds_db):
    """The one reading of Datasette's next-page condition that the plugins share finds, on every
    page after the first, the last row before it: its key values and, sorted, its value of the
    column; the rest of the clause is the selection's own."""
    served = make_datasette(seeds_db, settings={"trace_debug": True})
    await served.invoke_startup()
    split = served.get_database("archive").split_page_start
    read = 0
    for table, params in PAGE_STARTS:
        first = (await served.client.get(f"/archive/{table}.json", params={**params, "_size": "3", "_shape": "objects"})).json()
        later = (await served.client.get(f"/archive/{table}.json", params={**params, "_size": "3", "_next": first["next"], "_trace": "1"})).json()
        page = next(t for t in later["_trace"]["traces"] if re.search(r"\border by .* limit 4\b", t["sql"]))
        where = re.search(r"\bwhere (.+) order by ", page["sql"], re.S)[1]
        rest, start = split(where)
        last, sort = first["rows"][-1], params.get("_sort") or params.get("_sort_desc")
        keys = first["primary_keys"] or ["rowid"]
        assert start is not None and start.keys == tuple(keys), (table, params, where)
        assert [page["params"][p] for p in start.params] == [str(last[key]) for key in keys], (table, params)
        assert (start.column, start.desc) == (sort, "_sort_desc" in params), (table, params)
        assert (page["params"][start.value] if start.value else None) == (None if last.get(sort) is None else str(last[sort]))
        assert start.condition not in rest and (rest != "") == any(not k.startswith("_sort") for k in params)
        read += 1
    assert read == len(PAGE_STARTS)
    assert split('"outlet" = :p0') == ('"outlet" = :p0', None)  # a first page: no start


def test_a_facet_query_over_a_later_page_counts_the_whole_selection_however_it_is_spelled(seeds_db):
    """The next page's condition is taken out of a facet's query over a page's rows whether the
    query says `from (` as Datasette's facets do or `FROM (` as the paragraphs' own facets do
    (whose counts from SQL, on page two, counted only the rows after page one)."""
    from conftest import plugin
    make_datasette(seeds_db)  # (the plugins registered)
    without = plugin("paging").without_next_page
    page = 'select id, position from paragraphs where "position" > :p0 and ((id > :p1)) '  # as Datasette writes it
    for outer in ("select position as value, count(*) as count from ({}) group by position",
                  "SELECT position AS value, count(*) AS count FROM ({}) WHERE position IS NOT NULL GROUP BY position"):
        assert without(outer.format(page), "paragraphs") == outer.format('select id, position from paragraphs where "position" > :p0 ')


@pytest.mark.asyncio
@pytest.mark.parametrize("immutable", [True, False])
async def test_a_where_with_an_or_stays_one_condition_beside_filters_and_pages(seeds_db, immutable):
    """`_where=a or b -- a comment` beside a filter picks the rows that pass both, and pages
    through them once each: Datasette joins it to the filters and to the next page's start with
    " and ", so the " or " escaped them (rows the filter leaves out, and next pages without end),
    and the comment hid the rest of the query (an error)."""
    import sqlite3

    served = make_datasette(seeds_db, immutable=immutable, settings={"trace_debug": True})
    conn = sqlite3.connect(seeds_db)
    year = conn.execute("SELECT meeting_year FROM paragraphs GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    expected = [r[0] for r in conn.execute(
        "SELECT id FROM paragraphs WHERE meeting_year = ? AND (position = 1 OR position = 2 -- the lead\n) ORDER BY id", (year,))]
    for table_where in ("position = 1 or position = 2 -- the lead", "position = 1 OR position = 2 -- the lead"):
        found, after, count = [], None, None
        for _ in range(len(expected)):  # (Datasette's own paging never ended)
            page = (await served.client.get("/archive/paragraphs.json", params={
                "meeting_year": str(year), "_where": table_where, "_size": "3", **({"_next": after} if after else {})})).json()
            found += [row[0] for row in page["rows"]]
            count, after = page["filtered_table_rows_count"], page["next"]
            if not after:
                break
        assert found == expected and count == len(expected) > 3 and not after, table_where
    everything = conn.execute("SELECT count(*) FROM paragraphs WHERE position = 1 OR position = 2").fetchone()[0]
    assert everything > len(expected)  # the filter leaves some out


@pytest.mark.asyncio
@pytest.mark.parametrize("immutable", [True, False])
async def test_a_later_page_of_a_selection_reuses_its_count_and_facet_counts_on_a_file_that_never_changes(seeds_db, immutable):
    """Every page of a selection counts the same rows and facets, so on an immutable archive its
    next pages (and the selection sorted another way) reuse the first page's counts instead of
    counting again; a file that may change counts each time."""
    served = make_datasette(seeds_db, immutable=immutable, settings={"trace_debug": True})
    for table, params, sort in [("lines", {}, "line_no"), ("lines", {"kind": "caption"}, "text"),
                                ("lines", {"text__contains": "Putin"}, "kind"),
                                ("articles", {"outlet_source__not": "x"}, "published"), ("paragraph_topics", {}, "score")]:
        first = (await served.client.get(f"/archive/{table}.json", params={**params, "_size": "2", "_trace": "1"})).json()
        later = (await served.client.get(f"/archive/{table}.json", params={**params, "_size": "2", "_trace": "1", "_next": first["next"]})).json()
        resorted = (await served.client.get(f"/archive/{table}.json", params={**params, "_size": "2", "_trace": "1", "_sort_desc": sort})).json()
        pages = (first, later, resorted)
        facet_sql = [[t["sql"] for t in page["_trace"]["traces"] if "count(*) as count" in t["sql"].lower()] for page in pages]
        count_sql = [[t["sql"] for t in page["_trace"]["traces"] if selection_count(t["sql"], table)] for page in pages]
        assert facet_sql[0] or count_sql[0], (table, params)  # the first page counts its facets
        assert facet_counts(later) == facet_counts(resorted) == facet_counts(first), (table, params)
        assert (facet_sql[1], facet_sql[2]) == (([], []) if immutable else (facet_sql[0], facet_sql[0])), (table, params)
        assert later["filtered_table_rows_count"] == resorted["filtered_table_rows_count"] == first["filtered_table_rows_count"]
        if params:  # (the whole table's count is Datasette's, from its inspection of the file)
            assert len(count_sql[0]) == 1, (table, params)
            assert (count_sql[1], count_sql[2]) == (([], []) if immutable else (count_sql[0], count_sql[0])), (table, params)


def selection_count(sql: str, table: str) -> bool:
    """Whether a query counts a table page's selection: Datasette's count, or its rows grouped by
    the table's one facet (plugins/paging.py)."""
    return bool(re.match(rf"select (?:[^()]+, )?count\(\*\) from {table} where", sql))


@pytest.mark.asyncio
@pytest.mark.parametrize("table, params, column", [
    ("lines", {"text__contains": "Putin"}, "kind"),
    ("paragraph_topics", {"score__gt": "3"}, "topic"),
    ("paragraph_copies", {"similarity__lt": "0.95"}, "method"),
    ("lines", {"kind__not": "paragraph", "_facet_size": "2"}, "kind"),
    ("lines", {"line_no__gt": "3"}, "paragraph_id"),  # a column with nulls and many values
    ("articles", {"title__contains": "Putin"}, None),  # four facets, one of them a foreign key
    ("articles", {"paragraph_count__gt": "16", "_facet_size": "1"}, None),
])
async def test_a_table_whose_facets_are_columns_counts_a_selection_and_its_facets_in_one_pass(seeds_db, table, params, column):
    """On an immutable archive a table whose facets are columns counts a selection by their
    values once, and takes both its count and every facet from that: the same numbers, values,
    labels and links as Datasette's queries over the same file, in SQLite's order. (`column`: a
    column made the table's one facet; None: its own facets.)"""
    metadata = yaml.safe_load((ROOT / "metadata.yml").read_text())
    if column:
        metadata["databases"]["archive"]["tables"][table]["facets"] = [column]
    facets = metadata["databases"]["archive"]["tables"][table]["facets"]
    options = {"metadata": {"databases": metadata["databases"]}, "settings": {"trace_debug": True, "suggest_facets": False}}
    immutable = make_datasette(seeds_db, immutable=True, **options)
    mutable = make_datasette(seeds_db, **options)
    page = (await immutable.client.get(f"/archive/{table}.json", params={**params, "_trace": "1"})).json()
    sql = [trace["sql"] for trace in page["_trace"]["traces"]]
    assert [q for q in sql if selection_count(q, table)] == [next(q for q in sql if q.startswith(f"select {', '.join(facets)}, count(*)"))]
    assert not [q for q in sql if "count(*) as count" in q]  # no facet query of its own
    expected = (await mutable.client.get(f"/archive/{table}.json", params={**params, "_trace": "1"})).json()
    assert page["filtered_table_rows_count"] == expected["filtered_table_rows_count"] > 0
    assert page["facet_results"] == expected["facet_results"] and set(page["facet_results"]) == set(facets)
    everything = rows(seeds_db, f"select count(*) as n from {table}")[0]["n"]
    assert page["filtered_table_rows_count"] < everything  # the filter was counted, not the table


@pytest.mark.asyncio
async def test_a_readers_own_facet_beside_grouped_ones_is_counted_by_datasettes_query(seeds_db):
    """A facet the reader adds (`_facet=`) is not among the groups: Datasette's query counts it,
    and the table's own facets still come from the groups."""
    immutable = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True, "suggest_facets": False})
    mutable = make_datasette(seeds_db, settings={"trace_debug": True, "suggest_facets": False})
    params = {"title__contains": "Putin", "_facet": "title_derived", "_trace": "1"}
    page = (await immutable.client.get("/archive/articles.json", params=params)).json()
    facet_sql = [t["sql"] for t in page["_trace"]["traces"] if "count(*) as count" in t["sql"]]
    assert len(facet_sql) == 1 and "title_derived as value" in facet_sql[0]
    expected = (await mutable.client.get("/archive/articles.json", params=params)).json()
    assert {name: facet["results"] for name, facet in page["facet_results"].items()} == \
        {name: facet["results"] for name, facet in expected["facet_results"].items()}
    assert len(page["facet_results"]) == 5


@pytest.mark.asyncio
async def test_a_facet_with_too_many_values_to_group_is_counted_as_datasette_counts_it(seeds_db, monkeypatch):
    """A selection with more values of the table's facet than are grouped at once is counted by
    Datasette's own count and facet queries, with the same answers."""
    immutable = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True, "suggest_facets": False})
    await immutable.invoke_startup()
    monkeypatch.setattr(plugin("paging"), "GROUPS_MAX", 2)  # the lines containing "Putin" are of 3 kinds
    params = {"text__contains": "Putin", "_trace": "1"}
    page = (await immutable.client.get("/archive/lines.json", params=params)).json()
    sql = [trace["sql"] for trace in page["_trace"]["traces"]]
    assert any(q.startswith("select count(*) from lines where") for q in sql)
    assert any("count(*) as count" in q for q in sql)
    mutable = make_datasette(seeds_db, settings={"trace_debug": True, "suggest_facets": False})
    expected = (await mutable.client.get("/archive/lines.json", params=params)).json()
    assert page["filtered_table_rows_count"] == expected["filtered_table_rows_count"]
    assert page["facet_results"]["kind"] == expected["facet_results"]["kind"]


# 5 ms a line: a count or facet of every line of the seeds takes ~0.9 s, past the 60 ms limit
# the test sets, where a page of two lines (three read) takes ~15 ms.
SLOW_WHERE = "pause_ms(5) = 1"


@pytest.mark.asyncio
@pytest.mark.parametrize("immutable", [True, False])
async def test_a_count_or_facet_that_ran_out_of_time_is_finished_for_the_next_page(seeds_db, tmp_path, immutable, pausing_rows):
    """On an immutable archive a selection's count and facets that ran out of their time limit
    are finished in the background, so that its next page has them, as SQLite counts them; a file
    that may change times out again."""
    import asyncio
    import shutil
    import sqlite3

    path = shutil.copy(seeds_db, tmp_path / "archive.db")
    served = make_datasette(path, immutable=immutable, settings={"sql_time_limit_ms": 60, "facet_time_limit_ms": 60, "suggest_facets": False})
    params = {"_where": SLOW_WHERE, "_size": "2"}
    first = (await served.client.get("/archive/lines.json", params=params)).json()
    assert first["filtered_table_rows_count"] is None and "kind" not in first["facet_results"]  # timed out
    pager = served.get_database("archive").pager
    if immutable:
        assert len(pager.finisher.waiting) == 2  # the count and the kind facet
        await asyncio.wait_for(asyncio.gather(*pager.finisher.waiting.values()), 30)
    later = (await served.client.get("/archive/lines.json", params={**params, "_next": first["next"]})).json()
    conn = sqlite3.connect(path)
    count = conn.execute("select count(*) from lines").fetchone()[0]
    kinds = conn.execute("select kind, count(*) from lines group by kind order by 2 desc, 1").fetchall()
    if immutable:
        assert later["filtered_table_rows_count"] == count
        assert [(r["value"], r["count"]) for r in later["facet_results"]["kind"]["results"]] == kinds
    else:
        assert pager.finisher is None
        assert later["filtered_table_rows_count"] is None and "kind" not in later["facet_results"]


@pytest.mark.asyncio
async def test_a_query_the_finisher_cannot_answer_leaves_it_answering_the_next(seeds_db):
    """A query that fails in the finisher's thread is not kept, and the thread goes on to finish
    the queries after it."""
    import asyncio

    served = make_datasette(seeds_db, immutable=True)
    await served.invoke_startup()
    pager = served.get_database("archive").pager
    for key, sql in [("broken", "select count(*) from no_such_table"), ("fine", "select count(*) from lines where kind = :kind")]:
        pager.finisher.finish((key,), sql, {"kind": "caption"})
    await asyncio.wait_for(asyncio.gather(*pager.finisher.waiting.values()), 30)
    assert ("broken",) not in pager.answers and not pager.finisher.waiting
    assert pager.answers[("fine",)].rows[0][0] == rows(seeds_db, "select count(*) as n from lines where kind = 'caption'")[0]["n"]


@pytest.mark.asyncio
async def test_a_facet_column_with_a_collation_of_its_own_is_counted_as_datasette_counts_it(tmp_path):
    """Values that a column's collation holds equal ("Moscow" and "moscow" under NOCASE) are one
    facet value to Datasette's query, and values are ordered by it ("beijing" before "Kazan"), so
    such a table's selection is not grouped by our plan, which orders values as SQLite's default."""
    import sqlite3

    path = tmp_path / "archive.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table places (id integer primary key, name text collate nocase)")
        conn.executemany("insert into places (name) values (?)", [("Moscow",), ("moscow",), ("Kazan",), ("MOSCOW",), ("beijing",)])
    metadata = {"databases": {"archive": {"tables": {"places": {"facets": ["name"]}}}}}
    params = {"id__gt": "1", "_trace": "1"}
    pages = []
    for immutable in (True, False):
        served = make_datasette(path, immutable=immutable, metadata=metadata, settings={"trace_debug": True, "suggest_facets": False})
        pages.append((await served.client.get("/archive/places.json", params=params)).json())
    facets = [[(value["value"].lower(), value["count"]) for value in page["facet_results"]["name"]["results"]] for page in pages]
    assert facets[0] == facets[1] == [("moscow", 2), ("beijing", 1), ("kazan", 1)]
    assert pages[0]["filtered_table_rows_count"] == pages[1]["filtered_table_rows_count"] == 4
