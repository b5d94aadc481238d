"""Shared fixtures: the seeds built into a real SQLite file, served by the real Datasette app."""

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import yaml
from datasette import hookimpl
from datasette.app import Datasette
from datasette.plugins import pm

from ingest import samples
from ingest.build import build

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def seeds_db(tmp_path_factory) -> Path:
    """The five seed articles built into archive.db in a temporary folder."""
    db_path = tmp_path_factory.mktemp("seeds") / "archive.db"
    summary = build([SEEDS], db_path, progress=False)
    assert not summary.errors
    return db_path


def rows(db_path, sql, params=()) -> list[dict]:
    """The rows of a query against an archive file, as dicts."""
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def make_datasette(db_path: Path, immutable: bool = False, metadata: dict | None = None, settings: dict | None = None) -> Datasette:
    """The archive's Datasette, configured as `make serve` configures it (which also serves it immutable)."""
    return Datasette(
        [] if immutable else [str(db_path)],
        immutables=[str(db_path)] if immutable else [],
        settings=settings,
        metadata={**yaml.safe_load((ROOT / "metadata.yml").read_text()), **(metadata or {})},
        template_dir=str(ROOT / "templates"),
        plugins_dir=str(ROOT / "plugins"),
        static_mounts=[("static", str(ROOT / "static"))],
    )


async def every_page(datasette, table: str, params: dict, size: int) -> tuple[list, int, list[str]]:
    """All rows of a table page of the archive (`size` rows a page, through `next`), with its count
    and the SQL it ran (the Datasette needs the trace_debug setting)."""
    found, count, sql, after = [], None, [], None
    while True:
        page_params = {**params, "_size": str(size), "_trace": "1", **({"_next": after} if after else {})}
        page = (await datasette.client.get(f"/archive/{table}.json", params=page_params)).json()
        found += page["rows"]
        count = page["filtered_table_rows_count"] if count is None else count
        sql += [trace["sql"] for trace in page["_trace"]["traces"]]
        after = page["next"]
        if not after:
            return found, count, sql


def plugin(name: str):
    """The module of one of our plugins (plugins/NAME.py) as Datasette registered it."""
    from datasette.plugins import pm

    return next(p for p in pm.get_plugins() if getattr(p, "__file__", "").endswith(f"plugins/{name}.py"))


@pytest.fixture
def kept_words_db(seeds_db, tmp_path, monkeypatch):
    """The seeds' archive with its common words kept, as a million paragraphs keep theirs (words in
    30 paragraphs or more, instead of 100,000)."""
    monkeypatch.setattr(samples, "COMMON_MIN", 30)
    path = shutil.copy(seeds_db, tmp_path / "archive.db")
    conn = sqlite3.connect(path)
    assert samples.build_common_samples(conn) > 5
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def datasette(seeds_db) -> Datasette:
    return make_datasette(seeds_db)


class PausingRows:
    """A test-only SQL function, `pause_ms(ms)`, that takes as long as it is told and returns 1:
    a filter that costs the same time a row on any machine, however fast."""

    __name__ = "test_pausing_rows"  # Datasette lists plugins by their module's name

    @hookimpl
    def prepare_connection(self, conn):
        conn.create_function("pause_ms", 1, lambda ms: time.sleep(ms / 1000) or 1)


@pytest.fixture
def pausing_rows():
    pm.register(PausingRows(), name="test-pausing-rows")
    try:
        yield
    finally:
        pm.unregister(name="test-pausing-rows")
