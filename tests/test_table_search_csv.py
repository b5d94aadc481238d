"""A table search's streamed CSV export is written by SQLite and is, byte for byte, Datasette's own."""

import shutil
import sqlite3

import pytest

from conftest import make_datasette, plugin, rows
from test_send_chunks import bodies, messages_sent

EXPORT = "/archive/paragraphs.csv"
SEARCHES = [
    {"_search": "the"},
    {"_search": "gas", "_size": "max"},
    {"_search": "Putin", "_dl": "1"},
    {"_search": '"no limits"'},
    {"_search": "sanction*", "_searchmode": "raw"},
    {"_search": "gas OR oil", "_searchmode": "raw"},
    {"_search": '"'},  # malformed: searched for its plain words (plugins/search.py, table_search_guard)
    {"_search": "zzzunheardof"},
]
# An argument Datasette's export adds itself (so the answer is the same): with it, Datasette answers.
DATASETTES_OWN = {"_nofacet": "1"}


async def both(datasette, params: dict):
    """The export answered by the search plugin and by Datasette itself."""
    query = {**params, "_stream": "on"}
    headers = {"cache-control": "no-cache"}
    ours = await datasette.client.get(EXPORT, params=query, headers=headers)
    own = await datasette.client.get(EXPORT, params={**query, **DATASETTES_OWN}, headers=headers)
    return ours, own


@pytest.mark.asyncio
@pytest.mark.parametrize("sorted_max", [50_000, 3], ids=["lines sorted", "rowids sorted first"])
@pytest.mark.parametrize("params", SEARCHES, ids=[str(p) for p in SEARCHES])
async def test_a_table_searchs_streamed_csv_is_datasettes_own_export(seeds_db, monkeypatch, params, sorted_max):
    datasette = make_datasette(seeds_db, immutable=True)
    monkeypatch.setattr(plugin("search"), "TABLE_CSV_SORTED_MAX", sorted_max)
    monkeypatch.setattr(plugin("search"), "CSV_BATCH_ROWS", 7)  # many batches
    ours, own = await both(datasette, params)
    assert ours.status_code == own.status_code == 200
    assert ours.headers == own.headers
    assert ours.content == own.content and ours.text.startswith("id,article_id,")


@pytest.mark.asyncio
async def test_every_kind_of_value_is_written_as_pythons_csv_writes_it(seeds_db, tmp_path):
    """Line breaks, quotes and commas in text, empty text, NULLs, and floats whose shortest form
    SQLite would not write (it writes fifteen digits)."""
    db = shutil.copy(seeds_db, tmp_path / "archive.db")
    matched = [r["rowid"] for r in rows(db, "SELECT rowid FROM paragraphs_fts WHERE paragraphs_fts MATCH 'putin' ORDER BY rowid")]
    odd = [("two\nlines", 1e-05), ('a "quoted", word', 0.1 + 0.2), ("carriage\rreturn", 1e16), ("", 123456789.123),
           ("plain", None), ("  spaced  ", -0.0), ("tab\there", 2.5e-300)]
    conn = sqlite3.connect(db)
    for rowid, (text, score) in zip(matched, odd):
        conn.execute("UPDATE paragraphs SET text = ?, rewrite_score = ?, meeting_year = NULL, outlet = ? WHERE rowid = ?",
                     (text, score, text, rowid))
    conn.commit()
    conn.close()
    ours, own = await both(make_datasette(db, immutable=True), {"_search": "putin"})
    assert ours.status_code == own.status_code == 200
    assert ours.content == own.content
    assert "1e-05" in ours.text and "0.30000000000000004" in ours.text and '"two\nlines"' in ours.text


@pytest.mark.asyncio
async def test_an_export_past_max_csv_mb_stops_where_datasettes_does(seeds_db):
    """Limits (max_csv_mb is whole megabytes on the command line; a fraction here) at, just under
    and between the ends of lines: the same lines, then the same notice."""
    whole = (await both(make_datasette(seeds_db, immutable=True), {"_search": "the"}))[0].text
    line_ends = [i + 2 for i in range(len(whole)) if whole.startswith("\r\n", i)]
    for limit in (line_ends[3], line_ends[3] - 1, line_ends[10] + 7):
        datasette = make_datasette(seeds_db, immutable=True, settings={"max_csv_mb": limit / 1024 / 1024})
        ours, own = await both(datasette, {"_search": "the"})
        assert ours.content == own.content, limit
        assert ours.text.endswith(f"CSV contains more than {limit / 1024 / 1024 * 1024 * 1024} bytes")


@pytest.mark.asyncio
async def test_with_streaming_off_or_another_argument_datasette_answers(seeds_db):
    no_streams = make_datasette(seeds_db, immutable=True, settings={"allow_csv_stream": False})
    ours, own = await both(no_streams, {"_search": "gas"})
    assert ours.status_code == own.status_code == 400
    filtered = make_datasette(seeds_db, immutable=True)
    ours, own = await both(filtered, {"_search": "gas", "outlet": rows(seeds_db, "SELECT outlet FROM paragraphs LIMIT 1")[0]["outlet"]})
    assert ours.status_code == 200 and ours.content == own.content


@pytest.mark.asyncio
async def test_the_export_is_made_in_batches_not_a_row_at_a_time(seeds_db, monkeypatch):
    """What makes it quick: Datasette's own export sends a message a row; this one a batch of rows."""
    app = make_datasette(seeds_db, immutable=True).app()
    monkeypatch.setattr(plugin("send_chunks"), "CHUNK_BYTES", 0)  # every message as it was made
    query = b"_search=the&_stream=on"
    matches = rows(seeds_db, "SELECT count(*) AS n FROM paragraphs_fts WHERE paragraphs_fts MATCH 'the'")[0]["n"]
    ours = bodies(await messages_sent(app, EXPORT, query))
    own = bodies(await messages_sent(app, EXPORT, query + b"&_nofacet=1"))
    assert b"".join(m["body"] for m in ours) == b"".join(m["body"] for m in own)
    assert len(own) > matches > 10 * len(ours)
