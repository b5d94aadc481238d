"""What keeps search fast at scale stays correct: build-time facet keys, exact and sampled counts."""

import json
import shutil
import sqlite3

import numpy as np
import pytest

from conftest import ROOT, make_datasette, plugin, rows
from ingest import samples


def test_paragraph_facets_hold_every_paragraphs_keys(seeds_db):
    values = {(r["facet"], r["key"]): r["value"] for r in rows(seeds_db, "SELECT * FROM facet_values")}
    stored = rows(seeds_db, """SELECT p.meeting_id, p.meeting_year, p.meeting_city, p.outlet, p.report, p.topics,
                                      f.meeting, f.year, f.city, f.outlet AS outlet_key, f.report AS report_key, f.topics AS mask
                               FROM paragraphs p JOIN paragraph_facets f ON f.rowid = p.rowid""")
    assert len(stored) == rows(seeds_db, "SELECT count(*) AS n FROM paragraphs")[0]["n"] > 100
    for r in stored:
        assert values.get(("meeting", r["meeting"])) == r["meeting_id"]
        assert values.get(("year", r["year"])) == r["meeting_year"]
        assert values.get(("city", r["city"])) == r["meeting_city"]
        assert values.get(("outlet", r["outlet_key"])) == r["outlet"]
        assert values.get(("report", r["report_key"])) == r["report"]
        topics = {values[("topic", bit)] for bit in range(63) if r["mask"] >> bit & 1}
        assert topics == set(json.loads(r["topics"] or "[]"))


@pytest.mark.asyncio
async def test_unfiltered_browse_facets_are_the_real_counts(datasette, seeds_db):
    facets = (await datasette.client.get("/archive/paragraphs.json")).json()["facet_results"]
    years = {item["value"]: item["count"] for item in facets["meeting_year"]["results"]}
    assert years == {r["y"]: r["n"] for r in rows(seeds_db, "SELECT meeting_year AS y, count(*) AS n FROM paragraphs WHERE meeting_year IS NOT NULL GROUP BY 1")}
    topics = {item["value"]: item["count"] for item in facets["topics"]["results"]}
    assert topics == {r["topic"]: r["n"] for r in rows(seeds_db, "SELECT topic, count(*) AS n FROM paragraph_topics GROUP BY 1")}
    assert not facets["topics"]["estimate"]


@pytest.mark.asyncio
async def test_filtered_browse_and_table_search_facets_are_the_real_counts(datasette, seeds_db):
    for path, where in [
        ("/archive/paragraphs.json?meeting_year=2023", "p.meeting_year = 2023"),
        ("/archive/paragraphs.json?_search=gas", "p.rowid IN (SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH 'gas')"),
    ]:
        facets = (await datasette.client.get(path)).json()["facet_results"]
        outlets = {item["value"]: item["count"] for item in facets["outlet"]["results"]}
        assert outlets == {r["o"]: r["n"] for r in rows(seeds_db, f"SELECT outlet AS o, count(*) AS n FROM paragraphs p WHERE {where} AND outlet IS NOT NULL GROUP BY 1")}, path
        topics = {item["value"]: item["count"] for item in facets["topics"]["results"]}
        assert topics == {r["topic"]: r["n"] for r in rows(seeds_db, f"SELECT topic, count(*) AS n FROM paragraph_topics pt JOIN paragraphs p ON p.id = pt.paragraph_id WHERE {where} GROUP BY 1")}, path


@pytest.mark.asyncio
async def test_browse_facets_filtered_by_facet_values_are_the_real_counts(datasette, seeds_db):
    """Filters that pick facet values (counted from the keys in memory) and filters of other kinds
    (counted from the rows they select, read once) give the same counts as SQL over the rows the
    page lists, on a later page too."""
    topic = rows(seeds_db, "SELECT topic FROM paragraph_topics GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]["topic"]
    outlet = rows(seeds_db, "SELECT outlet FROM paragraphs WHERE outlet IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]["outlet"]
    year = rows(seeds_db, "SELECT meeting_year AS y FROM paragraphs WHERE meeting_year IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]["y"]
    for params, where in [
        ({"outlet": outlet}, f"outlet = '{outlet}'"),
        ({"meeting_year": year, "topics__arraycontains": topic},
         f"meeting_year = {year} AND id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = '{topic}')"),
        ({"report__exact": "original", "meeting_year": year}, f"report = 'original' AND meeting_year = {year}"),
        ({"meeting_year__gt": year - 1}, f"meeting_year > {year - 1}"),  # not a facet value: SQL
        ({"_where": f"outlet = '{outlet}'"}, f"outlet = '{outlet}'"),  # SQL, not an unfiltered page
        ({"outlet": "No such outlet"}, "0"),
        ({"_topic": topic}, f"id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = '{topic}')"),
        ({"_topic": topic, "outlet": outlet}, f"outlet = '{outlet}' AND id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = '{topic}')"),
        ({"_search": "Putin", "_topic": topic},  # a search with filters the search page has: its counts
         f"rowid IN (SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH 'Putin') AND id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = '{topic}')"),
        ({"_search": "Putin", "outlet": outlet, "meeting_year": year},
         f"rowid IN (SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH 'Putin') AND outlet = '{outlet}' AND meeting_year = {year}"),
        ({"_search": "Putin", "meeting_year__gt": year - 1},  # and with one it has not: its rows read once
         f"rowid IN (SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH 'Putin') AND meeting_year > {year - 1}"),
        ({"position": "1"}, "position = 1"),  # a column that is no facet
        ({"text__contains": "China", "_topic": topic},
         f"text LIKE '%China%' AND id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = '{topic}')"),
        # a later page counts the whole selection too
        ({"position__gt": "3", "_size": "5", "_next": rows(seeds_db, "SELECT id FROM paragraphs WHERE position > 3 ORDER BY id LIMIT 1 OFFSET 4")[0]["id"]},
         "position > 3"),
    ]:
        data = (await datasette.client.get("/archive/paragraphs.json", params=params)).json()
        facets = data["facet_results"]
        assert data["filtered_table_rows_count"] == rows(seeds_db, f"SELECT count(*) AS n FROM paragraphs WHERE {where}")[0]["n"], params
        for column in ("outlet", "meeting_year", "report"):
            counted = {item["value"]: item["count"] for item in facets[column]["results"]}
            assert counted == {r["v"]: r["n"] for r in rows(
                seeds_db, f"SELECT {column} AS v, count(*) AS n FROM paragraphs WHERE {where} AND {column} IS NOT NULL GROUP BY 1")}, (params, column)
        topics = {item["value"]: item["count"] for item in facets["topics"]["results"]}
        assert topics == {r["topic"]: r["n"] for r in rows(
            seeds_db, f"SELECT topic, count(*) AS n FROM paragraph_topics WHERE paragraph_id IN (SELECT id FROM paragraphs WHERE {where}) GROUP BY 1")}, params


@pytest.mark.asyncio
async def test_the_server_starts_reading_the_facet_keys_before_the_first_search(seeds_db, tmp_path):
    """Reading every paragraph's keys takes about a second at a million paragraphs: startup begins
    it, so the first search finds it under way or done, and then shares it."""
    import shutil

    path = shutil.copy(seeds_db, tmp_path / "archive.db")
    datasette = make_datasette(path, immutable=True)
    search = plugin("search")
    key = search.file_key(str(path))
    readings = search._readings.setdefault(search.read_facet_keys, {})
    assert key not in readings
    await datasette.invoke_startup()
    reading = readings[key]
    await datasette.client.get("/-/search.json", params={"q": "Putin"})
    assert readings[key] is reading and reading.result().present.sum() > 100


@pytest.mark.asyncio
async def test_a_topic_in_the_topics_facet_leads_to_its_paragraphs(datasette, seeds_db):
    """The topics facet links to `_topic=SLUG` (paragraph_topics' index, not every paragraph's JSON),
    which lists the paragraphs tagged with it, says so, and shows the topic selected."""
    facets = (await datasette.client.get("/archive/paragraphs.json")).json()["facet_results"]
    first = facets["topics"]["results"][0]
    assert "_topic=" in first["toggle_url"]
    page = (await datasette.client.get(first["toggle_url"].replace("http://localhost", ""))).json()
    tagged = {r["paragraph_id"] for r in rows(seeds_db, "SELECT paragraph_id FROM paragraph_topics WHERE topic = ?", (first["value"],))}
    assert page["filtered_table_rows_count"] == len(tagged) == first["count"]
    assert {r[0] if isinstance(r, list) else r["id"] for r in page["rows"]} <= tagged
    assert f'topic is "{first["value"]}"' in page["human_description_en"]
    selected = [item for item in page["facet_results"]["topics"]["results"] if item["selected"]]
    assert [item["value"] for item in selected] == [first["value"]]
    home = (await datasette.client.get("/")).text  # the home page's list of topics links the same way
    assert f'paragraphs?_topic={first["value"]}"' in home and "topics__arraycontains" not in home


@pytest.mark.asyncio
@pytest.mark.parametrize("immutable", [True, False])
async def test_a_topic_chosen_the_way_datasette_chooses_it_is_shown_chosen(seeds_db, immutable):
    """Paragraphs picked by Datasette's own `topics__arraycontains=SLUG` (a link from elsewhere, an
    export's URL) show the topic chosen in the topics facet, as Datasette's array facet does, and
    its link takes that filter away rather than adding `_topic`."""
    datasette = make_datasette(seeds_db, immutable=immutable)
    facets = (await datasette.client.get("/archive/paragraphs.json")).json()["facet_results"]
    first, second = [item["value"] for item in facets["topics"]["results"][:2]]
    page = (await datasette.client.get("/archive/paragraphs.json", params={"topics__arraycontains": first,
                                                                          "_topic": second})).json()
    listed = {item["value"]: item for item in page["facet_results"]["topics"]["results"]}
    assert listed[first]["selected"] and listed[second]["selected"]
    assert [item for item in listed.values() if item["selected"]] == [listed[first], listed[second]]
    assert "topics__arraycontains" not in listed[first]["toggle_url"] and f"_topic={second}" in listed[first]["toggle_url"]
    assert f"topics__arraycontains={first}" in listed[second]["toggle_url"] and "_topic=" not in listed[second]["toggle_url"]


@pytest.mark.asyncio
async def test_search_page_counts_are_exact_below_the_sampling_threshold(datasette, seeds_db):
    data = (await datasette.client.get("/-/search.json", params={"q": "Putin"})).json()
    assert data["total"] == rows(seeds_db, "SELECT count(*) AS n FROM paragraphs_fts WHERE paragraphs_fts MATCH 'Putin'")[0]["n"]
    assert not data["total_estimated"] and not data["facets_estimated"] and data["ranked_sample"] is None
    meetings = {item["value"]: item["n"] for item in data["facets"]["meeting"]}
    assert sum(meetings.values()) == data["total"]


@pytest.mark.asyncio
async def test_many_matches_are_sampled_and_said_to_be_estimates(seeds_db):
    datasette = make_datasette(seeds_db)
    saved = samples.EXACT_MAX, samples.SAMPLE_ROWS
    samples.EXACT_MAX, samples.SAMPLE_ROWS = 5, 20  # what a million paragraphs do to a common word
    try:
        exact_total = rows(seeds_db, "SELECT count(*) AS n FROM paragraphs_fts WHERE paragraphs_fts MATCH 'Putin'")[0]["n"]
        data = (await datasette.client.get("/-/search.json", params={"q": "Putin"})).json()
        assert data["total"] == exact_total and not data["total_estimated"]  # the total is always counted
        assert data["facets_estimated"] and data["ranked_sample"] < exact_total
        assert data["rows"] and all("putin" in r["text"].lower() for r in data["rows"])
        html = (await datasette.client.get("/-/search", params={"q": "Putin"})).text
        assert "≈" in html and "estimates from a sample" in html
        filtered = (await datasette.client.get("/-/search.json", params={"q": "Putin", "topic": "energy"})).json()
        assert filtered["total_estimated"] and all("energy" in r["topics"] for r in filtered["rows"])
        table = (await datasette.client.get("/archive/paragraphs.json", params={"_search": "Putin"})).json()
        assert table["facet_results"]["outlet"]["estimate"]
        filtered_table = (await datasette.client.get("/archive/paragraphs.json", params={"_search": "Putin", "_topic": "energy"})).json()
        assert filtered_table["facet_results"]["outlet"]["estimate"]
    finally:
        samples.EXACT_MAX, samples.SAMPLE_ROWS = saved


@pytest.mark.asyncio
async def test_search_page_facets_with_filters_are_the_real_counts(datasette, seeds_db):
    """Facets of a filtered search count exactly the matches that pass every filter, topics included."""
    topic = rows(seeds_db, "SELECT topic FROM paragraph_topics GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]["topic"]
    for params, where in [
        ({"q": "Putin", "topic": topic}, f"p.id IN (SELECT paragraph_id FROM paragraph_topics WHERE topic = '{topic}')"),
        ({"q": "Putin", "report": "original"}, "p.report = 'original'"),
        ({"q": "gas OR oil"}, "1"),
    ]:
        matched = f"p.rowid IN (SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH '{params['q']}') AND {where}"
        data = (await datasette.client.get("/-/search.json", params=params)).json()
        assert data["total"] == rows(seeds_db, f"SELECT count(*) AS n FROM paragraphs p WHERE {matched}")[0]["n"] > 0, params
        outlets = {item["value"]: item["n"] for item in data["facets"]["outlet"]}
        assert outlets == {r["o"]: r["n"] for r in rows(seeds_db, f"SELECT outlet AS o, count(*) AS n FROM paragraphs p WHERE {matched} GROUP BY 1")}, params
        meetings = {item["value"]: item["n"] for item in data["facets"]["meeting"]}
        assert meetings == {r["m"]: r["n"] for r in rows(seeds_db, f"SELECT meeting_id AS m, count(*) AS n FROM paragraphs p WHERE {matched} GROUP BY 1")}, params
        topics = {item["value"]: item["n"] for item in data["facets"]["topic"]}
        assert topics == {r["topic"]: r["n"] for r in rows(
            seeds_db, f"SELECT topic, count(*) AS n FROM paragraph_topics JOIN paragraphs p ON p.id = paragraph_id WHERE {matched} GROUP BY 1")}, params


@pytest.mark.asyncio
async def test_sampled_facets_are_the_samples_counts_scaled_to_the_total(seeds_db, sampling):
    """Above the threshold the facets count every k-th match (by rowid) and scale up to the total."""
    datasette = make_datasette(seeds_db)
    search = plugin("search")
    data = (await datasette.client.get("/-/search.json", params={"q": "Putin"})).json()
    matched = rows(seeds_db, "SELECT rowid, outlet FROM paragraphs WHERE rowid IN "
                             "(SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH 'Putin') ORDER BY rowid")
    assert data["facets_estimated"] and data["total"] == len(matched)
    shown = {item["value"]: item["n"] for item in data["facets"]["outlet"]}

    def scaled_counts_of_every(step):
        sample = [r for r in matched if r["rowid"] % step == 0]
        counts = {}
        for r in sample:
            counts[r["outlet"]] = counts.get(r["outlet"], 0) + 1
        return {o: search.round_estimate(n * len(matched) / len(sample)) for o, n in counts.items()} if sample else None

    # Some sample of every k-th match (k > 1: not every match) gives exactly the counts shown.
    assert any(scaled_counts_of_every(step) == shown for step in range(2, len(matched)))
    assert shown != scaled_counts_of_every(1)


@pytest.mark.asyncio
async def test_facet_keys_are_read_once_per_version_of_the_archive_file(seeds_db, tmp_path):
    """Every search of one file shares one reading of its paragraphs' keys; a rebuilt file is read again."""
    import os
    import shutil

    path = shutil.copy(seeds_db, tmp_path / "archive.db")
    datasette = make_datasette(path)
    search = plugin("search")
    db = datasette.get_database("archive")
    keys = await search.facet_keys(db)
    assert await search.facet_keys(db) is keys
    count = rows(path, "SELECT count(*) AS n FROM paragraph_facets")[0]["n"]
    assert int((keys.columns["report"] >= 0).sum()) == count
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = await search.facet_keys(db)
    assert again is not keys and int((again.columns["report"] >= 0).sum()) == count


@pytest.mark.asyncio
async def test_every_page_of_results_is_a_match_and_none_repeats(datasette):
    seen = []
    for page in (1, 2, 3):
        data = (await datasette.client.get("/-/search.json", params={"q": "Putin", "page": page})).json()
        seen += [r["id"] for r in data["rows"]]
        if not data["has_more"]:
            break
    assert len(seen) == len(set(seen)) > 20


def test_every_foreign_key_a_row_page_counts_is_indexed(seeds_db):
    """A row page counts the rows of every table that points at it; a key without an index
    scans its whole table on every page view (20 ms an article at 100,000 paragraphs)."""
    import sqlite3

    conn = sqlite3.connect(seeds_db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE '%VIRTUAL%'")]
    keys = [(table, fk[3]) for table in tables for fk in conn.execute(f"PRAGMA foreign_key_list([{table}])")]
    assert ("paragraph_copies", "article_id") in keys and len(keys) > 10
    scans = []
    for table, column in keys:
        plan = " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT count(*) FROM [{table}] WHERE [{column}] = ?", ("x",)))
        if "SCAN" in plan:
            scans.append(f"{table}.{column}: {plan}")
    assert not scans


@pytest.fixture
def planned_as_large(seeds_db, tmp_path):
    """A connection to a copy of the seeds archive whose planner sees it as of unknown, large size."""
    import shutil
    import sqlite3
    from contextlib import closing

    copy = shutil.copy(seeds_db, tmp_path / "large.db")
    with closing(sqlite3.connect(copy)) as conn:
        conn.execute("DELETE FROM sqlite_stat1")
        conn.commit()
    # A new connection: one reads the statistics when it opens and keeps them.
    with closing(sqlite3.connect(copy)) as conn:
        yield conn


def test_a_facet_values_first_page_is_read_in_order_not_sorted(planned_as_large):
    """Datasette lists a table by id: for a facet value (a year, an outlet, a report…) the first
    page is read from an index in id order, not sorted out of every paragraph with that value."""
    conn = planned_as_large
    for column in ("meeting_id", "meeting_year", "meeting_city", "outlet", "report"):
        plan = " ".join(r[3] for r in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM paragraphs WHERE {column} = ? ORDER BY id LIMIT 101", ("x",)))
        assert "TEMP B-TREE" not in plan and f"({column}=?)" in plan, (column, plan)


def column_of(facet) -> str | None:
    """The column of a default facet counted by a GROUP BY when its page is not one the facet
    counts otherwise: a column facet's, or a keyed one's (plugins/quotes.py)."""
    return facet if isinstance(facet, str) else facet.get("keyed")


def test_every_default_facet_counts_from_an_index_not_every_row(planned_as_large):
    """Each table's default facets (metadata.yml) count from an index; the paragraphs' own are
    counted from keys held in memory (plugins/search.py) and are left out here."""
    import yaml

    tables = yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["archive"]["tables"]
    conn = planned_as_large
    checked = []
    for table, settings in tables.items():
        for facet in settings.get("facets", []):
            facet = column_of(facet)
            if facet is None:
                continue  # a facet of another type (counted, array): not a plain GROUP BY
            plan = " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT [{facet}], count(*) FROM [{table}] GROUP BY [{facet}]"))
            assert "COVERING INDEX" in plan and "TEMP B-TREE" not in plan, (table, facet, plan)
            checked.append((table, facet))
    assert ("quotes", "verb") in checked and ("paragraph_copies", "method") in checked


def test_the_quotes_other_facets_within_a_speaker_or_a_meeting_count_from_an_index(planned_as_large):
    """Filtered by a speaker or a meeting, each other default facet of the quotes table counts from
    an index holding both columns, not from the row of every quotation matched."""
    import yaml

    facets = [column_of(f) for f in yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["archive"]["tables"]["quotes"]["facets"]]
    conn = planned_as_large
    for chosen in ("speaker", "meeting_id"):
        for facet in facets:
            if facet == chosen:
                continue
            # As Datasette writes a facet of a filtered table.
            plan = " ".join(r[3] for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT [{facet}] AS value, count(*) AS count FROM (SELECT * FROM quotes WHERE [{chosen}] = ?) "
                f"WHERE [{facet}] IS NOT NULL GROUP BY [{facet}] ORDER BY count DESC, value LIMIT 31", ("x",)))
            assert "COVERING INDEX" in plan and f"({chosen}=?" in plan, (chosen, facet, plan)


def test_the_articles_facets_within_a_value_of_another_count_from_an_index(planned_as_large):
    """Filtered by one value of any of its default facets (an outlet, a meeting…), each other facet
    of the articles table counts from an index holding both columns, not from every article's row
    (with its evidence, ~3 KB): at a million paragraphs 52-166 ms for the four, from indexes 0.5-11."""
    import yaml

    facets = yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["archive"]["tables"]["articles"]["facets"]
    conn = planned_as_large
    for chosen in facets:
        for facet in facets:
            plan = " ".join(r[3] for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT [{facet}] AS value, count(*) AS count FROM (SELECT * FROM articles WHERE [{chosen}] = ?) "
                f"WHERE [{facet}] IS NOT NULL GROUP BY [{facet}] ORDER BY count DESC, value LIMIT 31", ("x",)))
            assert "COVERING INDEX" in plan and f"({chosen}=?" in plan, (chosen, facet, plan)


def test_a_quote_facets_first_page_and_what_someone_said_are_read_in_order(planned_as_large):
    """A quotes facet value's first page is read in the table's order, and the "what did someone
    say" query lists quotations in its order from an index, with no sort of every match."""
    import yaml

    metadata = yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["archive"]
    conn = planned_as_large
    for facet in map(column_of, metadata["tables"]["quotes"]["facets"]):
        plan = " ".join(r[3] for r in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM quotes WHERE {facet} = ? ORDER BY paragraph_id, number LIMIT 101", ("x",)))
        assert "TEMP B-TREE" not in plan and f"({facet}=?)" in plan, (facet, plan)
    said = metadata["queries"]["quotes_by_speaker"]["sql"]
    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + said, {"speaker": "Putin", "topic": "", "meeting": ""}))
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan


def test_a_meeting_page_counts_the_paragraphs_recalling_it_from_those_that_recall_any(datasette, seeds_db, planned_as_large):
    """The meeting page's "recalled by N paragraphs" reads the partial index of paragraphs that
    recall some meeting, not every paragraph's JSON, and counts what json_each over all counts."""
    pages = plugin("pages")
    recalled = rows(seeds_db, "SELECT j.value AS meeting, count(*) AS n FROM paragraphs p, json_each(p.mentions) j GROUP BY 1")
    assert recalled
    for row in recalled:
        assert rows(seeds_db, pages.RECALLED_BY_SQL, (row["meeting"],))[0]["count(*)"] == row["n"]
    conn = planned_as_large
    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + pages.RECALLED_BY_SQL, ("x",)))
    assert "idx_paragraphs_mentions" in plan, plan


def canned_search_sql() -> str:
    import yaml
    return yaml.safe_load((ROOT / "metadata.yml").read_text())["databases"]["archive"]["queries"]["search"]["sql"]


@pytest.mark.asyncio
async def test_the_canned_search_lists_a_topics_matches_best_first(datasette, seeds_db):
    """The canned `search` query narrowed to a topic (and a meeting) lists every paragraph that
    matches and carries the topic, best match first."""
    conn = sqlite3.connect(seeds_db)
    tested = 0
    for word in ("gas", "putin", "china"):
        for topic in [r["topic"] for r in rows(seeds_db, "SELECT DISTINCT topic FROM paragraph_topics")]:
            for meeting in ("", *[r["m"] for r in rows(seeds_db, "SELECT DISTINCT meeting_id AS m FROM paragraphs WHERE meeting_id IS NOT NULL")]):
                expected = [r[0] for r in conn.execute(
                    """SELECT p.id FROM paragraphs_fts JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid
                       JOIN paragraph_topics t ON t.paragraph_id = p.id AND t.topic = ?
                       WHERE paragraphs_fts MATCH ? AND (? = '' OR p.meeting_id = ?) ORDER BY paragraphs_fts.rank""",
                    (topic, word, meeting, meeting))]
                found = (await datasette.client.get("/archive/search.json", params={
                    "q": word, "topic": topic, "meeting": meeting, "_shape": "array"})).json()
                assert [r["paragraph"] for r in found] == expected, (word, topic, meeting)
                tested += bool(expected)
    assert tested > 10


def test_the_canned_searchs_topic_filter_looks_up_each_match_not_the_whole_topic(planned_as_large):
    """Narrowed to a topic, the canned search asks of each match whether it carries the topic (by
    the topic rows' key), rather than listing every paragraph of the topic first: a rare word in a
    large topic took 40 ms at a million paragraphs that way, 0.2 ms this way."""
    conn = planned_as_large
    conn.create_function("fts_query", 1, plugin("search").fts_query)
    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + canned_search_sql(),
                                               {"q": "gas", "meeting": "", "topic": "energy"}))
    assert "paragraph_id=? AND topic=?" in plan and "LIST SUBQUERY" not in plan, plan


@pytest.mark.asyncio
async def test_topics_by_meeting_counts_each_meetings_tagged_paragraphs(datasette, seeds_db):
    """The canned query reads the counts made at build time; they are what joining every paragraph
    to its topics gives."""
    data = (await datasette.client.get("/archive/topics_by_meeting.json?_shape=array")).json()
    slugs = [r["slug"] for r in rows(seeds_db, "SELECT slug FROM topics")]
    expected = {}
    for r in rows(seeds_db, """SELECT p.meeting_id AS meeting, pt.topic, count(*) AS n FROM paragraphs p
                               JOIN paragraph_topics pt ON pt.paragraph_id = p.id GROUP BY 1, 2"""):
        expected.setdefault(r["meeting"], {})[r["topic"]] = r["n"]
    covered = {r["m"] for r in rows(seeds_db, "SELECT DISTINCT meeting_id AS m FROM paragraphs WHERE meeting_id IS NOT NULL")}
    assert {row["meeting"] for row in data} == covered and expected
    for row in data:
        assert {slug: row[slug] for slug in slugs} == {slug: expected.get(row["meeting"], {}).get(slug, 0) for slug in slugs}, row["meeting"]


def test_also_in_reads_a_reports_first_copies_without_sorting_them(datasette, seeds_db, planned_as_large):
    """The article page asks, for each paragraph, where else its report ran (originals first):
    with the ingest's index that is a walk of the first few copies, not a sort of all of them."""
    pages = plugin("pages")
    # Five articles are quicker to sort than to walk; without the seeds' statistics the
    # planner sees an archive of unknown, large size, as with 100,000 paragraphs.
    conn = planned_as_large
    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + pages.ALSO_IN_SQL, ("x", "y", 5)))
    assert "report_id=?" in plan and "TEMP B-TREE" not in plan, plan
    # And it still puts the original first: every shared report's first listed copy, seen from
    # another article, is its original when the original is elsewhere.
    shared = rows(seeds_db, "SELECT p.report_id, p.article_id FROM paragraphs p JOIN reports r ON r.report_id = p.report_id "
                            "WHERE p.report != 'original'")
    assert shared
    for row in shared:
        found = rows(seeds_db, pages.ALSO_IN_SQL, (row["report_id"], row["article_id"], 5))
        originals_elsewhere = rows(
            seeds_db, "SELECT 1 FROM paragraphs WHERE report_id = ? AND report = 'original' AND article_id != ?",
            (row["report_id"], row["article_id"]))
        assert found and (found[0]["report"] == "original") == bool(originals_elsewhere)


COMMON_IN_SEEDS = 30  # paragraphs a word is in to count as common among the seeds (none is in 100,000)


def common_samples_built(path):
    """Keep the common words again in the archive at `path` (with `common` on); returns them by
    word, each as (matches, paragraphs, occurrences, occurrence_type)."""
    conn = sqlite3.connect(path)
    try:
        samples.build_common_samples(conn)
        conn.commit()
        return {r[0]: r[1:] for r in conn.execute(f"SELECT {samples.KEPT_COLUMNS} FROM common_samples")}
    finally:
        conn.close()


def archives_with_and_without_samples(seeds_db, tmp_path, words):
    """Three copies of the seeds' archive, each in a folder of its own (the server names a database
    after its file): without kept words, with them (`words` among them), and one with them to alter."""
    without, kept, altered = (tmp_path / name / "archive.db" for name in ("without", "kept", "altered"))
    for copy in (without, kept, altered):
        copy.parent.mkdir()
    shutil.copy(seeds_db, without)
    shutil.copy(seeds_db, kept)
    assert set(words) <= set(common_samples_built(kept))
    shutil.copy(kept, altered)
    return without, kept, altered


def kept_rowids(blob, every=1):
    """The rowids a kept word's bits (common_samples.paragraphs) hold, the multiples of `every` only."""
    return samples.rowids_of(np.frombuffer(blob, dtype=np.uint8), every).tolist()


def matching(conn, query, every=1):
    """The rowids of the paragraphs an FTS5 query matches, the multiples of `every` only."""
    return [r for (r,) in conn.execute("SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH ? AND rowid % ? = 0 "
                                       "ORDER BY rowid", (query, every))]


@pytest.fixture
def sampling(monkeypatch):
    """Sampling from a few matches on, as a million paragraphs sample a common word."""
    monkeypatch.setattr(samples, "EXACT_MAX", 5)
    monkeypatch.setattr(samples, "SAMPLE_ROWS", 10)


@pytest.fixture
def common(monkeypatch):
    """Words in COMMON_IN_SEEDS paragraphs or more are kept, their matches walked a few rowids at
    a time (as a million paragraphs' are, 100,000 at a time)."""
    monkeypatch.setattr(samples, "COMMON_MIN", COMMON_IN_SEEDS)
    monkeypatch.setattr(samples, "WALK_ROWIDS", 17)


def test_a_common_words_kept_paragraphs_are_its_matches(seeds_db, tmp_path, common):
    """Every word in COMMON_MIN paragraphs or more is kept with exactly the paragraphs the index
    finds for it, and the lengths kept are the index's own."""
    path = shutil.copy(seeds_db, tmp_path / "archive.db")
    kept = common_samples_built(path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, paragraphs_fts, row)")
    in_paragraphs = dict(conn.execute("SELECT term, doc FROM temp.words WHERE doc >= ?", (COMMON_IN_SEEDS,)))
    assert {"putin", "xi", "china"} <= set(kept) <= set(in_paragraphs)
    for term in set(in_paragraphs) - set(kept):  # left out only when no query finds just the word
        assert len(matching(conn, samples.phrase(term))) != in_paragraphs[term], term
    for term, (matches, paragraphs, _, _) in kept.items():
        assert kept_rowids(paragraphs) == matching(conn, samples.phrase(term)) and matches == in_paragraphs[term], term
    every, blob, kind = conn.execute("SELECT every, lengths, length_type FROM ranked_lengths").fetchone()
    sizes = {rowid: samples.varints(size)[0] for rowid, size in conn.execute("SELECT id, sz FROM paragraphs_fts_docsize")}
    lengths = np.frombuffer(blob, dtype=kind).tolist()
    assert every == samples.kept_every() and lengths == [sizes.get(every * i, 0) for i in range(len(lengths))]
    assert len(lengths) == max(sizes) // every + 1 and sum(lengths) > 500
    conn.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/-/search.json?q={query}", "/-/search.json?q={query}&topic={topic}",
                                  "/archive/paragraphs.json?_search={query}"])
async def test_a_search_for_common_words_reads_them_and_answers_as_without_them(seeds_db, tmp_path, sampling, common, path):
    """The same page with the kept words as with the matches walked, for one word and for several;
    a word's paragraphs altered on purpose (some of those no search ranks left out) change the
    facets, so the search did read them."""
    without, kept, altered = archives_with_and_without_samples(seeds_db, tmp_path, ["putin", "xi", "china"])
    conn = sqlite3.connect(altered)
    for word in ("putin", "xi"):
        (blob,) = conn.execute("SELECT paragraphs FROM common_samples WHERE term = ?", (word,)).fetchone()
        bits = np.unpackbits(np.frombuffer(blob, dtype=np.uint8), bitorder="little")
        unranked = np.flatnonzero(bits)[np.flatnonzero(bits) % samples.kept_every() != 0]
        bits[unranked[::2]] = 0
        conn.execute("UPDATE common_samples SET paragraphs = ? WHERE term = ?", (np.packbits(bits, bitorder="little").tobytes(), word))
    conn.commit()
    conn.close()

    topic = rows(seeds_db, "SELECT topic FROM paragraph_topics GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]["topic"]
    apps = {db: make_datasette(db, immutable=True) for db in (without, kept, altered)}

    async def page(db, query):
        response = await apps[db].client.get(path.format(query=query, topic=topic))
        assert response.status_code == 200, response.text[:300]
        data = response.json()
        return {key: value for key, value in data.items() if key not in ("query_ms", "database_ms")}

    for query in ("Putin", '"putin"', "putin xi", "Xi Putin China", '"xi" AND putin'):
        shown = await page(kept, query)
        assert shown == await page(without, query), query
        facets = shown.get("facets") or shown["facet_results"]
        assert any(facets.values()) and facets != (lambda p: p.get("facets") or p["facet_results"])(await page(altered, query)), query


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/-/search.json?q={query}", "/archive/paragraphs.json?_search={query}"])
async def test_a_search_for_common_words_and_others_walks_only_the_others(seeds_db, tmp_path, sampling, common, monkeypatch, path):
    """With a word the archive does not keep (in fewer than COMMON_MIN paragraphs), the kept words
    are read and only the other is walked, its occurrences read back from its bm25(): the same
    pages as with every match walked, and no ranking of the matches by the index."""
    without, kept, _ = archives_with_and_without_samples(seeds_db, tmp_path, ["putin", "xi", "the"])
    queries = ("putin energy", "Xi war", "war the putin", "the gas")
    apps = {db: make_datasette(db, immutable=True) for db in (without, kept)}

    async def page(db, query):
        response = await apps[db].client.get(path.format(query=query))
        assert response.status_code == 200, response.text[:300]
        return {key: value for key, value in response.json().items() if key not in ("query_ms", "database_ms")}

    walked = {query: await page(without, query) for query in queries}
    if path.startswith("/-/search"):  # sampled, so ranked from the kept words and the walked one
        assert all(walked[query]["facets_estimated"] for query in queries)
    else:
        assert all(walked[query]["facet_results"] for query in queries)

    def no_ranking_by_the_index(*args):
        raise AssertionError("the matches were ranked by the index")

    monkeypatch.setattr(plugin("search"), "ranked_ids_sql", no_ranking_by_the_index)
    for query in queries:
        assert await page(kept, query) == walked[query], query


def test_a_words_occurrences_are_read_back_from_its_bm25_exactly(seeds_db, tmp_path, dense_sampling, common):
    """bm25() of a query for one word, solved for the word's count in each paragraph: the counts
    the index holds (fts5vocab's instances), for every word in a few paragraphs."""
    path = shutil.copy(seeds_db, tmp_path / "archive.db")
    common_samples_built(path)
    conn = sqlite3.connect(path)
    every, blob, kind = conn.execute("SELECT every, lengths, length_type FROM ranked_lengths").fetchone()
    lengths, totals = np.frombuffer(blob, dtype=kind), samples.index_totals(conn)
    conn.execute("CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, paragraphs_fts, row)")
    conn.execute("CREATE VIRTUAL TABLE temp.instances USING fts5vocab(main, paragraphs_fts, instance)")
    checked, twice = 0, 0
    for term, docs in conn.execute("SELECT term, doc FROM temp.words WHERE doc BETWEEN 2 AND ? AND term GLOB '[a-z]*'",
                                   (COMMON_IN_SEEDS - 1,)).fetchall():
        scored = np.array(conn.execute("SELECT rowid, bm25(paragraphs_fts) FROM paragraphs_fts WHERE paragraphs_fts MATCH ? "
                                       "AND rowid % ? = 0 ORDER BY rowid", (samples.phrase(term), every)).fetchall()).reshape(-1, 2)
        if not len(scored) or len(matching(conn, samples.phrase(term))) != docs:
            continue
        counts = dict(conn.execute("SELECT doc, count(*) FROM temp.instances WHERE term = ? GROUP BY doc", (term,)).fetchall())
        rowids = scored[:, 0].astype(np.int64)
        found = samples.occurrences_from_bm25(scored[:, 1], lengths[rowids // every], docs, totals)
        assert found is not None and found.tolist() == [counts[r] for r in rowids.tolist()], term
        checked, twice = checked + len(found), twice + int((found > 1).sum())
    conn.close()
    assert checked > 1000 and twice > 20


def test_kept_words_tell_a_searchs_first_matches_as_the_index_does(seeds_db, tmp_path, common, monkeypatch):
    """How many of the first EXACT_MAX + 1 matches there are and the last one's rowid (which set the
    sample's step), from the kept words' bits: the index's own answer, for one word and several."""
    path = shutil.copy(seeds_db, tmp_path / "archive.db")
    kept = common_samples_built(path)
    conn = sqlite3.connect(path)
    words = sorted(kept)
    queries = [[word] for word in words] + [[a, b] for a in words[:8] for b in words[:8] if a < b] + [words[:4]]
    seen = set()
    for exact_max in (0, 5, 29, 10_000):
        monkeypatch.setattr(samples, "EXACT_MAX", exact_max)
        for query in queries:
            bits = np.bitwise_and.reduce([np.frombuffer(kept[word][1], dtype=np.uint8) for word in query])
            found = samples.first_matches(bits)
            assert found == conn.execute(samples.first_sql(), {"query": " ".join(query)}).fetchone(), (query, exact_max)
            seen.add(found[0] == exact_max + 1)
    conn.close()
    assert seen == {True, False}  # both more matches than EXACT_MAX, and fewer


@pytest.fixture
def dense_sampling(monkeypatch):
    """Sampling, and ranking, every other match: many ranked rows for a common word among the seeds."""
    monkeypatch.setattr(samples, "EXACT_MAX", 5)
    monkeypatch.setattr(samples, "SAMPLE_ROWS", 1_000_000)  # the step is then its least, 2
    monkeypatch.setattr(samples, "RANK_EVERY", 1)


def test_kept_words_score_the_rows_a_search_ranks_as_fts5s_bm25(seeds_db, tmp_path, dense_sampling, common):
    """For one kept word and for several, every paragraph whose occurrences are kept scores exactly
    (not nearly) what bm25() gives it, so ordering by the kept scores ties and breaks ties as the
    index's ORDER BY bm25 does."""
    path = shutil.copy(seeds_db, tmp_path / "archive.db")
    kept = common_samples_built(path)
    conn = sqlite3.connect(path)
    totals = samples.index_totals(conn)
    assert totals == (conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0],
                      sum(samples.varints(size)[0] for (size,) in conn.execute("SELECT sz FROM paragraphs_fts_docsize")))
    every, blob, kind = conn.execute("SELECT every, lengths, length_type FROM ranked_lengths").fetchone()
    lengths = np.frombuffer(blob, dtype=kind)
    words = sorted(kept, key=lambda word: -kept[word][0])[:6]
    queries = [[word] for word in kept] + [[a, b] for a in words for b in words if a != b] + [words[:3], words[2:5][::-1]]
    scored = 0
    for words in queries:
        query = " ".join(words)
        bm25 = conn.execute("SELECT rowid, bm25(paragraphs_fts) FROM paragraphs_fts WHERE paragraphs_fts MATCH ? "
                            "AND rowid % ? = 0 ORDER BY rowid", (query, every)).fetchall()
        ranked = np.array([rowid for rowid, _ in bm25], dtype=np.int64)
        occurrences = [np.frombuffer(kept[w][2], dtype=kept[w][3])[np.searchsorted(kept_rowids(kept[w][1], every), ranked)]
                       for w in words]
        mine = samples.bm25(occurrences, lengths[ranked // every], [kept[w][0] for w in words], totals)
        assert mine.tolist() == [score for _, score in bm25], query
        scored += len(bm25)
    # With a word not kept, its occurrences read back from its own bm25(): the same scores too.
    for word, other in [("the", "war"), ("putin", "energy"), ("china", "gas"), ("xi", "sanctions")]:
        query = f"{word} {other}"
        bm25 = conn.execute("SELECT rowid, bm25(paragraphs_fts) FROM paragraphs_fts WHERE paragraphs_fts MATCH ? "
                            "AND rowid % ? = 0 ORDER BY rowid", (query, every)).fetchall()
        alone = np.array(conn.execute("SELECT rowid, bm25(paragraphs_fts) FROM paragraphs_fts WHERE paragraphs_fts MATCH ? "
                                      "AND rowid % ? = 0 ORDER BY rowid", (other, every)).fetchall()).reshape(-1, 2)
        others = len(matching(conn, other))
        counts = samples.occurrences_from_bm25(alone[:, 1], lengths[alone[:, 0].astype(np.int64) // every], others, totals)
        ranked = np.array([rowid for rowid, _ in bm25], dtype=np.int64)
        occurrences = [np.frombuffer(kept[word][2], dtype=kept[word][3])[np.searchsorted(kept_rowids(kept[word][1], every), ranked)],
                       counts[np.searchsorted(alone[:, 0], ranked)]]
        mine = samples.bm25(occurrences, lengths[ranked // every], [kept[word][0], others], totals)
        assert len(bm25) and mine.tolist() == [score for _, score in bm25], query
    conn.close()
    assert len(kept) >= 3 and scored > 1000 and every == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("query, filtered", [("the", False), ("the", True), ("putin the", False), ("the putin", True)])
async def test_the_search_page_ranks_common_words_by_their_kept_weights(seeds_db, tmp_path, dense_sampling, common, monkeypatch,
                                                                         query, filtered):
    """Pages of many ranked rows: the same with the kept weights as with the index's bm25, and
    weights altered on purpose (one row's occurrences of a word raised) put that row first."""
    word = "putin" if "putin" in query else "the"  # not "the" when there is another: its weight is next to nothing
    without, kept, altered = archives_with_and_without_samples(seeds_db, tmp_path, query.split())
    topic = rows(seeds_db, "SELECT topic FROM paragraph_topics GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0]["topic"]
    url = f"/-/search.json?q={query}" + (f"&topic={topic}" if filtered else "")
    rowid = {r["id"]: r["rowid"] for r in rows(seeds_db, "SELECT rowid, id FROM paragraphs")}
    apps = {db: make_datasette(db, immutable=True) for db in (without, kept, altered)}
    monkeypatch.setattr(plugin("search"), "PAGE_SIZE", 5)  # pages of the kept ranking, not of its exact fallback

    async def ids(db, page=1):
        response = await apps[db].client.get(f"{url}&page={page}")
        assert response.status_code == 200, response.text[:300]
        return [rowid[result["id"]] for result in response.json()["rows"]]

    pages = [await ids(kept, page) for page in (1, 2)]
    assert pages == [await ids(without, page) for page in (1, 2)] and len(pages[1]) == 5
    conn = sqlite3.connect(altered)
    paragraphs, occurrences, kind = conn.execute(
        "SELECT paragraphs, occurrences, occurrence_type FROM common_samples WHERE term = ?", (word,)).fetchone()
    raised = np.frombuffer(occurrences, dtype=kind).astype(np.uint32)
    raised[kept_rowids(paragraphs, samples.kept_every()).index(pages[1][-1])] = 1000
    conn.execute("UPDATE common_samples SET occurrences = ?, occurrence_type = ? WHERE term = ?",
                 (raised.tobytes(), raised.dtype.str, word))
    conn.commit()
    conn.close()
    assert (await ids(altered))[0] == pages[1][-1] != pages[0][0]


@pytest.mark.asyncio
async def test_an_archive_with_common_words_of_an_older_layout_is_searched_by_walking(seeds_db, tmp_path, sampling, common):
    """An archive built before the words were kept as they are now answers from the index, as
    one without them does."""
    without, kept, older = archives_with_and_without_samples(seeds_db, tmp_path, ["putin"])
    conn = sqlite3.connect(older)
    conn.executescript("DROP TABLE common_samples; DROP TABLE ranked_lengths; CREATE TABLE common_samples "
                       "(term TEXT PRIMARY KEY, matches INTEGER, step INTEGER, rowids BLOB, upto INTEGER)")
    conn.commit()
    conn.close()
    for query in ("putin", "putin xi"):
        pages = [(await make_datasette(db, immutable=True).client.get(f"/-/search.json?q={query}")).json() for db in (without, older)]
        shown = [{key: value for key, value in page.items() if key not in ("query_ms", "database_ms")} for page in pages]
        assert shown[0] == shown[1] and shown[1]["total"] > 0 and shown[1]["facets_estimated"], query


def test_query_words_are_those_of_a_search_for_every_one_of_a_few_words():
    assert samples.query_words("Russia") == ["russia"] and samples.query_words('"Russians"') == ["russian"]
    assert samples.query_words("russia China") == ["russia", "china"] and samples.query_words('"xi"  Putin xi') == ["xi", "putin", "xi"]
    assert samples.query_words("russia AND china xi") == ["russia", "china", "xi"] == samples.query_words("russia china AND xi")
    assert samples.query_words("russia and china") == ["russia", "and", "china"]  # in lower case a word, as FTS5 reads it
    for query in ("", '"no limits"', "sanction*", "russia OR china", "russia NOT china", "NEAR(russia china)", "AND russia",
                  "russia AND", "russia AND AND china",
                  "text:russia", "don't", "(russia)", "russia -china", '"russia', "^russia", "russia + china"):
        assert samples.query_words(query) is None, query


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ["_search=the", "_search=sanction*&_searchmode=raw", "_search=Putin&outlet=NPR"])
async def test_a_table_searchs_facets_start_counting_as_it_arrives(seeds_db, query):
    """The paragraphs table's search hands Datasette a request whose facets' search is already under
    way (so that it runs beside Datasette's query for the page), and counts the search page's facets."""
    datasette = make_datasette(seeds_db, immutable=True)
    search = plugin("search")
    handed = []

    async def table_page(scope, receive, send):  # what the guard hands on, in Datasette's place
        handed.append(scope)

    guard = search.table_search_guard(datasette, table_page)
    for path, arguments in [("/archive/paragraphs.json", query), ("/archive/paragraphs", f"{query}&_sort=id"),
                            ("/archive/paragraphs.json", f"{query}&_nofacet=1"), ("/archive/paragraphs.csv", query),
                            ("/archive/paragraphs.json", f"{query}&_shape=array"), ("/archive/articles.json", query)]:
        await guard({"type": "http", "path": path, "query_string": arguments.encode()}, None, None)
    started = [scope.get(search.STARTED_SEARCHES) for scope in handed]
    assert all(started[:2]) and not any(started[2:])
    searched = await next(iter(started[0].values()))
    params = dict(arg.split("=") for arg in query.split("&") if "mode" not in arg)
    page = (await datasette.client.get("/-/search.json", params={"q": params.pop("_search"), **params})).json()
    assert searched["facets"]["outlet"] == page["facets"]["outlet"] != []
    shown = (await datasette.client.get(f"/archive/paragraphs.json?{query}", headers={"cache-control": "no-cache"})).json()
    assert {item["value"]: item["count"] for item in shown["facet_results"]["outlet"]["results"]} == {
        item["value"]: item["n"] for item in page["facets"]["outlet"] if item["value"] is not None}
