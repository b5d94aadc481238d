"""The paragraphs table searched or browsed by topic on the immutable archive: the same answers, by quicker plans."""

import sqlite3

import pytest
from datasette.utils import escape_fts

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


def topic_browses(db_path) -> list[dict]:
    """Browses by the busiest topic, the least busy, and one no paragraph has."""
    topics = [r["topic"] for r in rows(db_path, "SELECT topic FROM paragraph_topics GROUP BY 1 ORDER BY count(*) DESC")]
    return [{"_topic": topics[0]}, {"_topic": topics[-1]}, {"_topic": "no-such-topic"},
            {"topics__arraycontains": topics[0]}, {"topics__arraycontains": topics[-1]}]
COLUMNS = "id, article_id, position, text, outlet, meeting_id, meeting_year, meeting_city, topics"


async def every_page(datasette, params: dict) -> tuple[list, int, list[str]]:
    """All rows of a table search, page by page through `next`, with its count and the SQL it ran."""
    found, count, sql, after = [], None, [], None
    while True:
        page_params = {**params, "_size": "7", "_trace": "1", **({"_next": after} if after else {})}
        page = (await datasette.client.get("/archive/paragraphs.json", params=page_params)).json()
        found += page["rows"]
        count = page["filtered_table_rows_count"] if count is None else count
        sql += [trace["sql"] for trace in page["_trace"]["traces"]]
        after = page["next"]
        if not after:
            return found, count, sql


@pytest.mark.asyncio
async def test_searches_and_topics_on_the_served_archive_answer_as_datasettes_own_queries(seeds_db):
    """Served immutable (as `make serve` serves it) a table search or a topic's paragraphs run
    quicker SQL; served mutable, Datasette's own: rows, order, pages and counts are the same."""
    served = make_datasette(seeds_db, immutable=True, settings={"trace_debug": True})
    plain = make_datasette(seeds_db, settings={"trace_debug": True})
    for params in SEARCHES + topic_browses(seeds_db):
        quick_rows, quick_count, quick_sql = await every_page(served, params)
        own_rows, own_count, own_sql = await every_page(plain, params)
        assert quick_rows == own_rows, params
        assert quick_count == own_count == len(own_rows), params
        assert any("select count(*) from paragraphs where" in s for s in own_sql)
        # The count is the set's own, not a lookup of every member in the table.
        assert not any("select count(*) from paragraphs where" in s for s in quick_sql), params
    assert len((await every_page(served, {"_search": "the"}))[0]) > 100


@pytest.mark.parametrize("plan", ["sort", "list", "ask"])
@pytest.mark.parametrize("limit", [1, 8, 200])
def test_every_plan_finds_the_page_datasettes_query_finds(seeds_db, plan, limit):
    table_plans = plugin("table_plans")
    conn = sqlite3.connect(seeds_db)
    conn.create_function("escape_fts", 1, escape_fts)
    id_index = conn.execute("select name from pragma_index_list('paragraphs') where origin = 'pk'").fetchone()[0]
    middle = rows(seeds_db, "SELECT id FROM paragraphs ORDER BY id LIMIT 1 OFFSET 60")[0]["id"]
    sets = [(table_plans.SEARCH, ":search" if p.get("_searchmode") == "raw" else "escape_fts(:search)", {"search": p["_search"]})
            for p in SEARCHES]
    sets += [(table_plans.TOPIC, ":_topic_0", {"_topic_0": p["_topic"]}) for p in topic_browses(seeds_db) if "_topic" in p]
    for kind, arg, values in sets:
        for after in (None, "(id > :p1)"):
            values = {**values, "p1": middle}
            own = conn.execute(f"select {COLUMNS} from paragraphs where {kind.member.format(arg=arg)} "
                               f"{'and ' + after + ' ' if after else ''}order by id limit {limit}", values).fetchall()
            quick = conn.execute(table_plans.page_sql(plan, kind, COLUMNS, arg, after, limit, id_index), values).fetchall()
            assert quick == own, (plan, values, after)


def test_plans_suit_how_many_paragraphs_are_in_the_set():
    table_plans = plugin("table_plans")
    choose, word_cost = table_plans.choose_plan, table_plans.search_ask_cost
    million = 1_000_000
    assert choose(40, million, 101, word_cost({"search": "rare"})) == "sort"  # a few: sort them
    assert choose(100_000, million, 101, word_cost({"search": "sanction*"})) == "list"  # many: walk the ids, keep the listed
    assert choose(550_000, million, 101, word_cost({"search": "russia"})) == "ask"  # most: walk the ids, ask of each
    # A prefix query is never asked row by row: each question costs it milliseconds.
    assert word_cost({"search": "sanction*"}) is None
    assert choose(900_000, million, 101, None) != "ask"


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
