"""A bounded load test: concurrent requests against a running archive, at 1, 8 and 32 connections.

    python bench/load.py http://127.0.0.1:8001              # a Datasette already serving the archive
    python bench/load.py --db bench/out/100k/archive.db     # start one for the run, stop it after

For each concurrency, that many threads each keep one connection open and send
requests back to back for --duration seconds (default 30), drawn from a fixed,
seeded mix of what readers do: searches with facets (the ranked search page
and the table's JSON with its default facets), article pages and CSV exports
of a search. It reports requests a second, p50, p99 and errors, overall and
per kind of request, and how many answers came from the server's response
cache; with --no-cache every request asks for a fresh answer (`Cache-Control:
no-cache`), the worst case of readers who never repeat one another, and with
--fresh SHARE that share of them does. Only
localhost URLs are accepted; every request has a timeout and every level a
deadline, so the script always stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Datasette, load_average, machine, percentile  # noqa: E402

# What readers search for: words, names, phrases and prefixes of the summit coverage.
TERMS = [
    "pipeline", "sanctions", '"no limits"', "gas", "ukraine", "kremlin", "friendship", "bakhmut", "harbin",
    "yuan", "multipolar", '"arrest warrant"', '"belt and road"', '"power of siberia"', "sanction*", "parade",
    "rosneft", "nato", "tiananmen", "birthday", "pipe*", '"state visit"', "blinken", "zelensky",
]
# Kind of request -> share of the mix.
MIX = {"search page": 0.35, "table search + facets": 0.25, "article page": 0.30, "csv export": 0.10}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Asks the server to compute the answer rather than send it from its response cache.
FRESH = {"Cache-Control": "no-cache"}


def request_path(kind: str, rng: random.Random, articles: list[str]) -> str:
    """A path for one request of this kind."""
    term = rng.choice(TERMS)
    if kind == "search page":
        return "/-/search?" + urlencode({"q": term})
    if kind == "table search + facets":
        raw = {"_searchmode": "raw"} if term.endswith("*") else {}
        return "/archive/paragraphs.json?" + urlencode({"_search": term, **raw})
    if kind == "article page":
        return "/archive/articles/" + quote(rng.choice(articles))
    if kind == "csv export":
        return "/-/search.csv?" + urlencode({"q": term})
    raise ValueError(kind)


@dataclass
class Level:
    """What one concurrency level saw."""

    connections: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    error_samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float | None, error: str | None = None, cache_hit: bool = False) -> None:
        with self.lock:
            self.cache_hits += cache_hit
            if error is None:
                self.latencies.setdefault(kind, []).append(seconds)
            else:
                self.errors[kind] = self.errors.get(kind, 0) + 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(f"{kind}: {error}")

    @property
    def all_latencies(self) -> list[float]:
        return [s for values in self.latencies.values() for s in values]


def worker(host: str, port: int, level: Level, deadline: float, seed: int, articles: list[str], timeout: float,
           fresh: float) -> None:
    """Send requests back to back on one keep-alive connection until the deadline."""
    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    conn = None
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        path = request_path(kind, rng, articles)
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=FRESH if rng.random() < fresh else {})
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            if response.status == 200:
                level.record(kind, elapsed, cache_hit=response.getheader("x-archive-cache") == "hit")
            else:
                level.record(kind, None, f"HTTP {response.status} for {path}")
        except (OSError, http.client.HTTPException) as error:
            level.record(kind, None, f"{type(error).__name__}: {error} for {path}")
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def run_level(host: str, port: int, connections: int, duration: float, articles: list[str], timeout: float,
              fresh: float) -> Level:
    level = Level(connections)
    deadline = time.monotonic() + duration
    threads = [
        threading.Thread(target=worker, args=(host, port, level, deadline, 1000 * connections + i, articles, timeout, fresh),
                         daemon=True)
        for i in range(connections)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        # A request started just before the deadline may take up to `timeout` to finish.
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + timeout + 5)
    level.seconds = time.perf_counter() - started
    return level


def article_ids(host: str, port: int, timeout: float, count: int = 200) -> list[str]:
    """Article ids spread over the archive, asked of the server itself with read-only SQL."""
    sql = (
        "select id from articles where rowid % max(1, (select count(*) from articles) / :n) = 0 "
        "order by rowid limit :n"
    )
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/archive.json?" + urlencode({"sql": sql, "n": count, "_shape": "array"}))
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"could not list articles: HTTP {response.status}: {body[:300]!r}")
        return [row["id"] for row in json.loads(body)]
    finally:
        conn.close()


def print_level(level: Level) -> None:
    values = level.all_latencies
    errors = sum(level.errors.values())
    total = len(values) + errors
    print(
        f"{level.connections:>4} connections: {total:6} requests in {level.seconds:5.1f}s = {total / level.seconds:7.1f} req/s  "
        f"p50 {percentile(values, 50) * 1000:7.1f} ms  p99 {percentile(values, 99) * 1000:7.1f} ms  errors {errors}  "
        f"cache hits {level.cache_hits / max(1, total):.0%}"
    )
    for kind in MIX:
        kind_values = level.latencies.get(kind, [])
        print(
            f"       {kind:<22} {len(kind_values):6}  p50 {percentile(kind_values, 50) * 1000:7.1f} ms  "
            f"p99 {percentile(kind_values, 99) * 1000:7.1f} ms  errors {level.errors.get(kind, 0)}"
        )
    for sample in level.error_samples:
        print(f"       error: {sample}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", help="Base URL of a running Datasette serving the archive (localhost only).")
    parser.add_argument("--db", type=Path, help="Instead of a URL: an archive to serve for the run.")
    parser.add_argument("--datasette-args", default="", help="Extra `datasette serve` options when --db is used.")
    parser.add_argument("--workers", type=int, help="Server processes when --db is used (default: serve.py's, one per core).")
    parser.add_argument("--duration", type=float, default=30, help="Seconds per concurrency level (default 30).")
    parser.add_argument("--connections", default="1,8,32", help="Concurrency levels (default 1,8,32).")
    parser.add_argument("--timeout", type=float, default=30, help="Seconds at most per request (default 30).")
    parser.add_argument("--no-cache", action="store_true",
                        help="Ask for a fresh answer every time (Cache-Control: no-cache): the server's work, not its cache.")
    parser.add_argument("--fresh", type=float, default=0.0,
                        help="The share of requests (0-1) that ask for a fresh answer, as readers who search for something new.")
    args = parser.parse_args(argv)
    if bool(args.url) == bool(args.db):
        parser.error("give either a URL or --db")
    levels = [int(n) for n in args.connections.split(",")]
    if not all(1 <= n <= 256 for n in levels) or not 0 < args.duration <= 3600 or not 0 <= args.fresh <= 1:
        parser.error("connections must be 1–256, the duration at most an hour and --fresh between 0 and 1")

    server = Datasette(args.db, args.datasette_args.split(), workers=args.workers) if args.db else None  # as `make serve` serves
    if server:
        server.__enter__()
    try:
        url = urlsplit(server.url if server else args.url)
        if url.hostname not in LOCAL_HOSTS or url.scheme != "http":
            parser.error("only http URLs on localhost are load-tested")
        host, port = url.hostname, url.port or 80
        print(machine())
        articles = article_ids(host, port, args.timeout)
        fresh = 1.0 if args.no_cache else args.fresh
        print(f"target {url.geturl()}; {len(articles)} article pages in the mix; {args.duration:.0f}s per level; mix "
              + ", ".join(f"{kind} {share:.0%}" for kind, share in MIX.items())
              + (f"; {fresh:.0%} of requests ask for a fresh answer (no-cache)" if fresh else "; the server's cache may answer repeats"))
        for connections in levels:
            print_level(run_level(host, port, connections, args.duration, articles, args.timeout, fresh))
            print(f"       ({load_average()})")
    finally:
        if server:
            server.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
