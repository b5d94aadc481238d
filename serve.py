"""Serve the archive read-only with Datasette, one process per core: what `make serve` runs.

    python serve.py archive.db --inspect-file archive.inspect.json        # http://127.0.0.1:8001
    python serve.py archive.db --port 8002 --workers 1
    python serve.py archive.db -- --setting num_sql_threads 4            # more `datasette serve` options

The options Datasette is given live here, once, for `make serve`, the Dockerfile,
the tests and the benchmarks: immutable (`-i`), this folder's metadata,
templates, plugins and static files, and the time limits.

Why several processes: Datasette renders pages and encodes JSON in Python, under
one GIL, so one process keeps about one core busy however many readers wait (at
100,000 paragraphs, ~50 fresh requests a second at 32 connections using 1.4 of 2
cores). uvicorn starts `--workers` processes (default: one per core, at most 4) on the same
port; each is an ordinary Datasette, with its own response cache, reading the
same immutable file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import uvicorn

ROOT = Path(__file__).resolve().parent
SETTINGS = {
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 1000,
    "max_returned_rows": 1000,
    # Suggested facets try every column of a table page as a facet: under 32 concurrent users
    # that alone pushed p99 past a second.
    "suggest_facets": False,
}
# One process per core, but not dozens on a big machine: each holds its own response cache.
DEFAULT_WORKERS = min(os.cpu_count() or 1, 4)
# How the worker processes, which uvicorn starts afresh, learn the options given to this command.
OPTIONS_VARIABLE = "SUMMIT_ARCHIVE_DATASETTE_OPTIONS"


def datasette_options(db: Path, inspect_file: Path | None, extra: tuple[str, ...] = ()) -> list[str]:
    """The `datasette serve` options that serve this archive as the project does."""
    options = ["-i", str(db)]
    if inspect_file is not None:
        options += ["--inspect-file", str(inspect_file)]
    options += [
        "--metadata", str(ROOT / "metadata.yml"), "--template-dir", str(ROOT / "templates"),
        "--plugins-dir", str(ROOT / "plugins"), "--static", f"static:{ROOT / 'static'}",
    ]
    for name, value in SETTINGS.items():
        options += ["--setting", name, ("on" if value else "off") if isinstance(value, bool) else str(value)]
    return options + list(extra)


def app():
    """One worker's ASGI app: Datasette configured by the `datasette serve` options in the environment."""
    from datasette import cli

    context = cli.serve.make_context("serve", json.loads(os.environ[OPTIONS_VARIABLE]))
    context.params["return_instance"] = True  # Datasette's own way to build, not run, what `serve` would
    with context:
        return cli.serve.invoke(context).app()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("datasette_extra", nargs=-1, type=click.UNPROCESSED)
@click.option("--inspect-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Counts made by `datasette inspect` for this archive, so that start-up counts nothing.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for every interface).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--workers", default=DEFAULT_WORKERS, show_default="one per core, at most 4", type=click.IntRange(1, 64),
              help="Server processes answering on the port (each with its own response cache, up to 128 MB).")
def main(db, datasette_extra, inspect_file, host, port, workers):
    """Serve the archive DB read-only on http://HOST:PORT.

    Anything after `--` is passed to `datasette serve` as well.
    """
    # Absolute, not resolved: Datasette names a database after its file, and a link named archive.db
    # must stay "archive".
    os.environ[OPTIONS_VARIABLE] = json.dumps(datasette_options(db.absolute(), inspect_file and inspect_file.absolute(), datasette_extra))
    click.echo(f"Serving {db} on http://{host}:{port} with {workers} worker process{'es' if workers > 1 else ''}", err=True)
    uvicorn.run("serve:app", factory=True, host=host, port=port, workers=workers, app_dir=str(ROOT))


if __name__ == "__main__":
    main()
