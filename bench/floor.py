"""The floor: how fast plain sqlite-utils loads the same body paragraphs, with full-text search.

    python bench/floor.py bench/corpus/100k --runs 3

The body paragraphs come from the corpus generator's own record
(`.paragraphs.jsonl` beside the files) and are read into memory before the
clock starts, so the floor pays neither for reading article files nor for
segmenting them: it is one process doing `insert_all` and
`enable_fts(["text"], tokenize="porter")`, with sqlite-utils' defaults, into a
new file. Full ingest is measured against it
(bench/ingest_bench.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import sqlite_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import OUT, machine  # noqa: E402
from corpus import read_paragraphs  # noqa: E402


def floor_rows(corpus: Path) -> list[dict]:
    """The rows the floor loads: every body paragraph with its article and position."""
    return [
        {"id": f"{row['article']}#{row['position']}", "article": row["article"], "position": row["position"], "text": row["text"]}
        for row in read_paragraphs(corpus)
    ]


def load_floor(rows: list[dict], db_path: Path) -> float:
    """Load rows into a new database the plain way, with a porter full-text index; return the seconds taken."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.unlink(missing_ok=True)
    started = time.perf_counter()
    db = sqlite_utils.Database(db_path)
    db["paragraphs"].insert_all(rows, pk="id")
    db["paragraphs"].enable_fts(["text"], tokenize="porter")
    db.close()
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="A folder written by bench/corpus.py.")
    parser.add_argument("--db", type=Path, help="Database to write (default bench/out/NAME/floor.db).")
    parser.add_argument("--runs", type=int, default=3, help="Runs; the best is reported (default 3).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object per run instead of text.")
    args = parser.parse_args(argv)
    db_path = args.db or OUT / args.corpus.name / "floor.db"
    if not args.json:
        print(machine())
    started = time.perf_counter()
    # Read before the clock starts, so that the floor is the database work alone: the strictest comparison.
    rows = floor_rows(args.corpus)
    read_seconds = time.perf_counter() - started
    best = None
    for run in range(1, args.runs + 1):
        seconds = load_floor(rows, db_path)
        if args.json:
            print(json.dumps({"run": run, "paragraphs": len(rows), "seconds": seconds, "read_seconds": read_seconds}), flush=True)
            continue
        print(f"floor run {run}: {len(rows)} paragraphs in {seconds:.2f}s ({len(rows) / seconds:,.0f} paragraphs/s)", flush=True)
        best = min(best or seconds, seconds)
    if not args.json:
        print(f"floor best of {args.runs}: {best:.2f}s, {len(rows) / best:,.0f} paragraphs/s "
              f"(reading the paragraphs beforehand, not timed: {read_seconds:.2f}s)")

if __name__ == "__main__":
    main()
