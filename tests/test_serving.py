"""Served read-only: immutable, time-limited, and with no way to write through the web."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest


from test_ui import serve


@pytest.fixture(scope="module")
def server(seeds_db, tmp_path_factory):
    db = tmp_path_factory.mktemp("serving") / "archive.db"
    db.write_bytes(seeds_db.read_bytes())
    process, base = serve(db)
    yield base, db
    process.terminate()
    process.wait()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sql(base, query):
    return get(base + "/archive.json?" + urllib.parse.urlencode({"sql": query, "_shape": "array"}))


def test_read_only_sql_is_available(server):
    base, _ = server
    status, body = sql(base, "select count(*) as n from paragraphs")
    assert status == 200 and json.loads(body)[0]["n"] > 100


@pytest.mark.parametrize("statement", [
    "delete from paragraphs",
    "update articles set title = 'x'",
    "insert into topics (slug) values ('x')",
    "drop table lines",
    "select 1; delete from paragraphs",
])
def test_writes_are_refused_and_the_file_is_unchanged(server, statement):
    base, db = server
    before = db.read_bytes()
    status, _ = sql(base, statement)
    assert status != 200
    assert db.read_bytes() == before


def test_a_runaway_query_is_stopped_by_the_time_limit(server):
    base, _ = server
    status, body = sql(base, "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n")
    assert status == 400 and "interrupted" in body.lower()


def test_the_database_is_served_immutable(server):
    base, _ = server
    status, body = get(base + "/-/databases.json")
    assert [d["is_mutable"] for d in json.loads(body)] == [False]


def test_post_requests_cannot_change_anything(server):
    base, db = server
    before = db.read_bytes()
    request = urllib.request.Request(base + "/archive/paragraphs", data=b"text=changed", method="POST")
    try:
        status = urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as error:
        status = error.code
    assert status >= 400
    assert db.read_bytes() == before


@pytest.mark.asyncio
async def test_the_immutable_archive_is_read_through_a_memory_map(seeds_db):
    """Mapped pages come from the OS page cache shared by all connections (plugins/connections.py);
    a writable database is never mapped."""
    from datasette.app import Datasette

    from conftest import ROOT, make_datasette

    immutable = Datasette(immutables=[str(seeds_db)], plugins_dir=str(ROOT / "plugins"))
    mapped = await immutable.get_database("archive").execute_fn(lambda conn: conn.execute("PRAGMA mmap_size").fetchone()[0])
    assert mapped > 0  # SQLite's default is 0, no map; a build's cap (often 2 GB) may lower what we ask
    # Still answers searches and streamed exports through those connections.
    response = await immutable.client.get("/-/search.csv", params={"q": "gas"})
    assert response.status_code == 200 and response.text.count("\n") > 1
    writable = make_datasette(seeds_db)
    assert await writable.get_database("archive").execute_fn(lambda conn: conn.execute("PRAGMA mmap_size").fetchone()[0]) == 0



def test_served_by_one_process_per_worker_which_stop_with_the_server(seeds_db, tmp_path):
    """serve.py (what `make serve` runs) answers from two processes on one port, both configured
    alike, and stopping the server stops them."""
    import os
    import time
    from pathlib import Path

    proc = Path("/proc")
    if not proc.exists():
        pytest.skip("needs /proc to see the worker processes")
    db = tmp_path / "archive.db"
    db.write_bytes(seeds_db.read_bytes())
    process, base = serve(db)
    try:
        children = [int(pid) for pid in (proc / str(process.pid) / "task" / str(process.pid) / "children").read_text().split()]
        commands = [(proc / str(pid) / "cmdline").read_bytes() for pid in children]
        # uvicorn spawns the workers with multiprocessing, which adds its resource tracker.
        assert sum(b"resource_tracker" not in command for command in commands) == 2
        settings = [json.loads(get(base + "/-/settings.json")[1]) for _ in range(6)]
        assert all(s["sql_time_limit_ms"] == 3000 and s["suggest_facets"] is False for s in settings)
        assert get(base + "/-/search?q=gas")[0] == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in children)
