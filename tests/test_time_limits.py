"""Time limits kept by a watchdog thread (plugins/time_limits.py): runaway queries still stop,
and a query that ends near its deadline never cuts short the next one."""

import sqlite3
import threading
import time

import pytest

from conftest import make_datasette, plugin

RUNAWAY = "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n"


def time_limits_plugin():
    return plugin("time_limits")


@pytest.mark.asyncio
@pytest.mark.parametrize("limit_ms", [10, 300])  # below 50 ms Datasette's own handler; above, the watchdog
async def test_a_runaway_query_stops_at_its_time_limit_and_the_server_answers_on(seeds_db, limit_ms):
    datasette = make_datasette(seeds_db, immutable=True, settings={"sql_time_limit_ms": limit_ms})
    started = time.monotonic()
    response = await datasette.client.get("/archive.json", params={"sql": RUNAWAY, "_shape": "array"})
    elapsed = time.monotonic() - started
    assert response.status_code == 400 and "took too long" in response.text
    assert elapsed < 10  # stopped, not run to the end of a recursion that never ends
    for _ in range(5):  # every database thread's connection still answers
        ok = await datasette.client.get("/archive.json", params={"sql": "select count(*) from paragraphs", "_shape": "array"})
        assert ok.status_code == 200


def test_a_finished_query_is_never_interrupted_after_the_fact(seeds_db):
    """A deadline that passes after its query ended must not cut short whatever runs next."""
    plugin = time_limits_plugin()
    conn = sqlite3.connect(f"file:{seeds_db}?immutable=1", uri=True, check_same_thread=False)
    counting = "with recursive n(i) as (select 1 union all select i + 1 from n limit 20000) select count(*) from n"
    started = time.monotonic()
    # Each watched query ends well before its deadline; the unwatched ones after it keep the
    # connection busy while those deadlines pass, so a stray interrupt would end one of them.
    while time.monotonic() - started < 4 * plugin.SHORTEST_WATCHED_MS / 1000:
        with plugin.interrupt_after(conn, plugin.SHORTEST_WATCHED_MS):
            conn.execute("select count(*) from paragraphs_fts where paragraphs_fts match 'putin'").fetchall()
        assert conn.execute(counting).fetchone()[0] == 20000


def test_the_watchdog_interrupts_only_a_query_still_running(seeds_db):
    plugin = time_limits_plugin()
    conn = sqlite3.connect(f"file:{seeds_db}?immutable=1", uri=True, check_same_thread=False)
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        with plugin.interrupt_after(conn, 100):
            conn.execute(RUNAWAY).fetchall()
    with plugin.interrupt_after(conn, 100):
        assert conn.execute("select count(*) from paragraphs").fetchone()[0] > 100
    time.sleep(0.2)  # past that deadline: nothing is left to interrupt
    assert conn.execute("select count(*) from articles").fetchone()[0] == 5


def test_one_watchdog_serves_every_datasette_of_the_process(seeds_db):
    """Each Datasette runs the plugin file again; the deadlines stay with one watchdog thread."""
    import datasette.database

    first = datasette.database.sqlite_timelimit.watchdog
    for _ in range(3):
        make_datasette(seeds_db)
    assert datasette.database.sqlite_timelimit.watchdog is first
    watchdogs = [t for t in threading.enumerate() if t.name == "sql-time-limits"]
    assert len(watchdogs) <= 1
