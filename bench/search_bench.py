"""Search latency of the served archive, side by side with ripgrep over the same files.

    python bench/search_bench.py bench/out/100k/archive.db --corpus bench/corpus/100k

Starts Datasette on a free 127.0.0.1 port, serving the archive as `make serve`
does (serve.py: immutable, with `datasette inspect` data, metadata, plugins,
templates and time limits; --plain for Datasette's defaults), and measures
sequential requests, each query type a fixed number of times within a time
limit:

- a rare term (about ten matching paragraphs), a common term (about half of
  the paragraphs), two common words together (both required, as a reader types
  "putin xi"), a phrase and a prefix search, each on the table JSON
  (`/archive/paragraphs.json?_search=…`, with the default facets) and on the
  ranked search page (`/-/search.json?q=…`, snippets and facets);
- an unfiltered faceted browse of `/archive/paragraphs.json`, and one filtered by the
  busiest outlet and by the busiest topic (`_topic`, and Datasette's `topics__arraycontains`),
  by the busiest year and outlet together, and by a filter of another kind (`position=1`);
- a search narrowed by a facet value clicked, on both pages: the common term in the
  busiest topic and by the busiest outlet, the prefix in the busiest topic;
- the table sorted by a column (the column headings' menus): the common term by year,
  newest first, and every paragraph by rewrite score, highest first (each server process
  reads a sort's order the first time it is asked for: the timed requests begin after);
- the quotes table with its facets: all of it, the busiest speaker's quotations, and the
  common term searched among them;
- the first page of a new selection of the other tables, each request another one (so
  that nothing a server process kept of the last one answers it): the lines containing
  a word (twenty-two words of the captions), the articles with one in the title, the
  quotations containing one, the topic tags above a score (1.00, 1.01, …) and the
  copies below a similarity (0.90, 0.89, …), each with its facets;
- a CSV of about 10,000 search results, from the search page and from the table.

Every request asks for a fresh answer (`Cache-Control: no-cache`), so the
figures are the work of searching, not of the response cache.

The terms are picked by counting the full-text index (fts5vocab), so they mean
the same at every corpus size; each is also counted with ripgrep over the
corpus files (best of several runs), and the ratios are printed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Datasette, load_average, machine, percentile  # noqa: E402

from ingest.load import open_read_only  # noqa: E402

# Words too common to be what anyone searches for; the common term is a content word.
MIN_COMMON_LETTERS = 5
RARE_TARGET = 10
CSV_TARGET = 10_000
DEFAULT_PHRASE = "no limits"
DEFAULT_PREFIX = "sanction"


@dataclass
class Query:
    """One thing a user searches for, as FTS5 and as ripgrep understand it."""

    kind: str
    fts: str  # the FTS5 expression
    rg: list[str]  # ripgrep arguments that find the same lines
    matches: int = 0  # paragraphs the index says match
    rg_then: list[str] | None = None  # a second ripgrep reading the first one's lines: both words on a line

    @property
    def table_args(self) -> dict:
        # Datasette's table search quotes every word unless raw; phrases survive quoting, prefixes do not.
        return {"_search": self.fts, **({"_searchmode": "raw"} if self.fts.endswith("*") else {})}


# Timed first pages of new selections of the other tables (each a second or so at 1M).
FIRST_PAGES = 20
# Seconds for a server process to read a sort's order (~1.4 s at a million paragraphs, the slowest).
SORT_SETTLE = 3.0


@dataclass
class Timing:
    label: str
    path: str
    seconds: list[float] = field(default_factory=list)
    errors: int = 0
    timed_out_facets: Counter = field(default_factory=Counter)  # facet -> responses it was missing from
    results: int | None = None
    note: str = ""
    settle: float = 0.0  # seconds waited after the warmup, for what the server reads in a thread
    each: list[str] | None = None  # a path for each request in turn (warmup first), instead of `path` every time
    facets: frozenset = frozenset()  # facets the response should have (the paragraphs' are checked anyway)

    def ms(self, p: float) -> float:
        return percentile(self.seconds, p) * 1000


def pick_queries(db_path: Path, phrase: str, prefix: str, rare: str | None, common: str | None,
                 corpus: Path | None = None, rg: str | None = None, words: str | None = None) -> tuple[list[Query], Query, int]:
    """The queries to time, chosen by counting the archive's full-text index; and the CSV query.

    The index holds stems ("defence" is "defenc"), so with a corpus and ripgrep
    at hand a candidate term is kept only if ripgrep finds it as a word in about
    as many lines as the index finds paragraphs: both sides then search the same thing.
    """
    conn = open_read_only(db_path, immutable=True)
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, 'paragraphs_fts', 'row')")
        total = conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]

        def count(expression: str) -> int:
            return conn.execute("SELECT count(*) FROM paragraphs_fts WHERE paragraphs_fts MATCH ?", (expression,)).fetchone()[0]

        def closest(target: int, min_letters: int, at_least: int = 0, besides: str | None = None) -> str | None:
            candidates = conn.execute(
                "SELECT term, doc FROM temp.vocab WHERE term GLOB '[a-z]*' AND term NOT GLOB '*[^a-z]*' "
                "AND length(term) >= ? AND doc >= ? ORDER BY abs(doc - ?), term LIMIT 50",
                (min_letters, at_least, target),
            ).fetchall()
            for term, doc in candidates:
                if count(term) != doc or term == besides:
                    continue  # a stem that a query does not reach as written ("defenc" is stemmed again)
                if not (corpus and rg):
                    return term
                _, lines = ripgrep(rg, ["-i", "-w", "-F", term], corpus, 1, 600)
                if doc / 2 <= lines <= 2 * doc + 5:
                    return term
            return candidates[0][0] if candidates else None

        rare = rare or closest(RARE_TARGET, 6)
        common = common or closest(total // 2, MIN_COMMON_LETTERS)
        # Two common words together ("putin xi"): the next content word nearest half the paragraphs.
        words = words or f"{common} {closest(total // 2, MIN_COMMON_LETTERS, besides=common)}"
        first, second = words.split()
        # A small corpus has no term in 10,000 paragraphs: export the largest result there is.
        csv_term = closest(CSV_TARGET, 4, at_least=min(CSV_TARGET, total // 2)) or common
        queries = [
            Query("rare term", rare, ["-i", "-w", "-F", rare]),
            Query("common term", common, ["-i", "-w", "-F", common]),
            Query("two common words", words, ["-i", "-w", "-F", first], rg_then=["-i", "-w", "-F", second]),
            Query("phrase", f'"{phrase}"', ["-i", "-F", phrase]),
            Query("prefix", f"{prefix}*", ["-i", rf"\b{re.escape(prefix)}"]),
        ]
        csv_query = Query("csv", csv_term, ["-i", "-w", "-F", csv_term])
        for query in [*queries, csv_query]:
            query.matches = count(query.fts)
        return queries, csv_query, total
    finally:
        conn.close()


class Client:
    """One keep-alive HTTP connection to the server, reopened after a failure."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.conn = None

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                # Every request is computed: the server's response cache would answer repeats from memory.
                self.conn.request("GET", path, headers={"Cache-Control": "no-cache"})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def time_requests(client: Client, timing: Timing, requests: int, warmup: int, time_limit: float,
                  expected_facets: set[str] = frozenset()) -> Timing:
    """Send the same request sequentially: warmup untimed, then up to `requests` timed within time_limit."""
    deadline = time.monotonic() + time_limit
    for i in range(warmup + requests):
        if time.monotonic() > deadline:
            timing.note = f"stopped at the {time_limit:.0f}s limit"
            break
        path = timing.each[i % len(timing.each)] if timing.each else timing.path
        started = time.perf_counter()
        try:
            status, body = client.get(path)
        except (OSError, http.client.HTTPException):
            timing.errors += 1
            continue
        elapsed = time.perf_counter() - started
        if status != 200:
            timing.errors += 1
            continue
        if i < warmup:
            if i == warmup - 1:
                time.sleep(timing.settle)
            continue
        timing.seconds.append(elapsed)
        if timing.results is None:
            timing.results = result_count(path, body)
        facets = timing.facets or (expected_facets if path.startswith("/archive/paragraphs.json") else frozenset())
        if facets:
            # Datasette leaves a facet that ran out of time out of facet_results (it names it only in HTML).
            timing.timed_out_facets.update(facets - set(json.loads(body).get("facet_results") or {}))
    return timing


def default_facets(client: Client) -> set[str]:
    """The paragraphs table's default facets, as the server's metadata names them."""
    status, body = client.get("/-/metadata.json")
    if status != 200:
        return set()
    tables = json.loads(body).get("databases", {}).get("archive", {}).get("tables", {})
    return {f if isinstance(f, str) else next(iter(f.values())) for f in tables.get("paragraphs", {}).get("facets", [])}


def result_count(path: str, body: bytes) -> int | None:
    """How many results a response says there are (JSON) or holds (CSV rows)."""
    if ".csv" in path:
        return max(0, body.count(b"\n") - 1)  # rows may hold newlines in quotes; close enough for a count
    data = json.loads(body)
    return data.get("total", data.get("filtered_table_rows_count"))


def ripgrep(rg: str, args: list[str], corpus: Path, runs: int, timeout: float, then: list[str] | None = None) -> tuple[float, int]:
    """Best wall-clock seconds of `rg -c ARGS CORPUS` over runs, and the matching lines it counted;
    with `then`, of `rg ARGS CORPUS | rg -c THEN` (the lines matching both)."""
    command = [rg, "--count", "--no-ignore", "--no-messages", "-g", "*.txt", *args, str(corpus)]
    if then:
        command = [rg, "--no-filename", "--no-ignore", "--no-messages", "-g", "*.txt", *args, str(corpus)]
    best, lines = None, 0
    for _ in range(runs):
        started = time.perf_counter()
        if then:
            first = subprocess.Popen(command, stdout=subprocess.PIPE)
            result = subprocess.run([rg, "--count", *then], stdin=first.stdout, capture_output=True, timeout=timeout)
            first.stdout.close()
            first.wait(timeout)
        else:
            result = subprocess.run(command, capture_output=True, timeout=timeout)
        elapsed = time.perf_counter() - started
        if result.returncode not in (0, 1):  # 1 means no match
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.decode(errors='replace')}")
        lines = sum(int(line.rsplit(b":", 1)[-1]) for line in result.stdout.splitlines() if line)
        best = elapsed if best is None else min(best, elapsed)
    return best, lines


def busiest_values(db_path: Path) -> tuple[str, str, str]:
    """The outlet with the most paragraphs, the topic tagged on most and the year of the most
    paragraphs: what a reader clicks first."""
    conn = open_read_only(db_path, immutable=True)
    try:
        outlet = conn.execute("SELECT outlet FROM paragraphs WHERE outlet IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()
        topic = conn.execute("SELECT topic FROM paragraph_topics GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()
        year = conn.execute("SELECT meeting_year FROM paragraphs WHERE meeting_year IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return (outlet or [""])[0], (topic or [""])[0], str((year or [""])[0])


def busiest_speaker(db_path: Path) -> str:
    """The speaker quoted most: the first value of the quotes table's speaker facet."""
    conn = open_read_only(db_path, immutable=True)
    try:
        found = conn.execute("SELECT speaker FROM quotes WHERE speaker IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return (found or [""])[0]


def caption_words(db_path: Path, count: int) -> list[str]:
    """The `count` words of five letters or more that start most captions' words with a capital
    (names and places), most frequent first: what a reader looks for among the lines."""
    conn = open_read_only(db_path, immutable=True)
    try:
        captions = [row[0] for row in conn.execute("SELECT text FROM lines WHERE kind = 'caption' ORDER BY rowid LIMIT 2000")]
    finally:
        conn.close()
    words = Counter(word for text in captions for word in re.findall(r"\b[A-Z][a-z]{4,}\b", text))
    return [word for word, _ in words.most_common(count)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path, help="An archive built by `python -m ingest` from the corpus.")
    parser.add_argument("--corpus", type=Path, help="The corpus folder the archive was built from (for ripgrep).")
    parser.add_argument("--requests", type=int, default=50, help="Timed requests per query type (default 50).")
    parser.add_argument("--csv-requests", type=int, default=10, help="Timed requests for each CSV export (default 10).")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed requests first (default 2).")
    parser.add_argument("--time-limit", type=float, default=60, help="Seconds at most per query type (default 60).")
    parser.add_argument("--timeout", type=float, default=60, help="Seconds at most per request (default 60).")
    parser.add_argument("--rg-runs", type=int, default=5, help="ripgrep runs per query; the best counts (default 5).")
    parser.add_argument("--rare", help="The rare term (default: a word matching about ten paragraphs).")
    parser.add_argument("--common", help="The common term (default: the word matching closest to half the paragraphs).")
    parser.add_argument("--words", help="Two common words searched together (default: the common term and the next "
                        "content word nearest half the paragraphs).")
    parser.add_argument("--phrase", default=DEFAULT_PHRASE, help=f"The phrase (default {DEFAULT_PHRASE!r}).")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"The prefix, searched as PREFIX* (default {DEFAULT_PREFIX!r}).")
    parser.add_argument("--datasette-args", default="", help="Extra `datasette serve` options, e.g. '--setting num_sql_threads 6'.")
    parser.add_argument("--plain", action="store_true",
                        help="Serve with only --metadata, --plugins-dir and --template-dir (Datasette's default settings, "
                        "no inspect data) instead of serving as `make serve` does (serve.py) with inspect data.")
    args = parser.parse_args(argv)

    rg = shutil.which("rg")
    queries, csv_query, total = pick_queries(args.db, args.phrase, args.prefix, args.rare, args.common, args.corpus, rg,
                                              args.words)
    print(machine())
    print(load_average())
    print(f"archive {args.db}: {total} paragraphs ({args.db.stat().st_size / 2**20:.0f} MB)")
    for query in [*queries, csv_query]:
        print(f"  {query.kind:<12} {query.fts!r:<22} matches {query.matches} paragraphs ({query.matches / total:.2%})")

    serve = dict(extra=args.datasette_args.split(), plain=args.plain)

    timings: list[Timing] = []
    for query in queries:
        timings.append(Timing(f"{query.kind}: table JSON + facets", "/archive/paragraphs.json?" + urlencode(query.table_args)))
        timings.append(Timing(f"{query.kind}: search page JSON", "/-/search.json?" + urlencode({"q": query.fts})))
    timings.append(Timing("browse: table JSON + facets", "/archive/paragraphs.json"))
    # A facet value clicked: the busiest outlet, the busiest topic (as the facet links it, and as
    # Datasette's own array filter asks for it).
    outlet, topic, year = busiest_values(args.db)
    print(f"  browse by   outlet {outlet!r}, topic {topic!r}, year {year}")
    timings.append(Timing("browse by outlet: table JSON + facets", "/archive/paragraphs.json?" + urlencode({"outlet": outlet})))
    timings.append(Timing("browse by topic: table JSON + facets", "/archive/paragraphs.json?" + urlencode({"_topic": topic})))
    timings.append(Timing("  same, topics__arraycontains", "/archive/paragraphs.json?" + urlencode({"topics__arraycontains": topic})))
    # A second value clicked (a year, then an outlet), and a filter of another kind: the first
    # paragraphs of every article (`position=1`, from the column's filter form).
    timings.append(Timing("browse by year and outlet: table JSON + facets", "/archive/paragraphs.json?" + urlencode(
        {"meeting_year": year, "outlet": outlet})))
    timings.append(Timing("browse first paragraphs: table JSON + facets", "/archive/paragraphs.json?position=1"))
    # A search narrowed by a facet value clicked: the common term in the busiest topic or outlet, and
    # the prefix (its matches walked) in that topic.
    common, prefix = (next(q for q in queries if q.kind == kind) for kind in ("common term", "prefix"))
    for label, query, narrowed in (("common term in a topic", common, {"_topic": topic}),
                                   ("common term by outlet", common, {"outlet": outlet}),
                                   ("prefix in a topic", prefix, {"_topic": topic})):
        timings.append(Timing(f"{label}: table JSON + facets", "/archive/paragraphs.json?" + urlencode({**query.table_args, **narrowed})))
        page_filters = {"topic": topic} if "_topic" in narrowed else {"outlet": outlet}
        timings.append(Timing("  same, search page JSON", "/-/search.json?" + urlencode({"q": query.fts, **page_filters})))
    # The quotes table: every quotation, the busiest speaker's ("what did Xi say"), the common term among them.
    speaker = busiest_speaker(args.db)
    print(f"  quotes by  speaker {speaker!r}")
    timings.append(Timing("quotes: table JSON + facets", "/archive/quotes.json"))
    timings.append(Timing("quotes by speaker: table JSON + facets", "/archive/quotes.json?" + urlencode({"speaker": speaker})))
    timings.append(Timing("quotes, common term: table JSON + facets", "/archive/quotes.json?" + urlencode({"_search": common.fts})))
    # Sorted by a column: the order is read once a sort by each server process (one keep-alive
    # connection, one process), in a thread; Datasette's SQL answers meanwhile.
    timings.append(Timing("common term by year: table JSON + facets", "/archive/paragraphs.json?" + urlencode(
        {**common.table_args, "_sort_desc": "meeting_year"}), settle=SORT_SETTLE))
    timings.append(Timing("browse by rewrite score: table JSON + facets", "/archive/paragraphs.json?_sort_desc=rewrite_score",
                          settle=SORT_SETTLE))
    # The other tables, a new selection each request: their first pages count it and its facet.
    new_selections = FIRST_PAGES + args.warmup
    words = caption_words(args.db, new_selections)
    repeats = " (fewer than requests: some repeat, and are answered from what was kept)" if len(words) < new_selections else ""
    print(f"  lines containing one of {len(words)} caption words: {', '.join(words[:5])}, …{repeats}")
    if words:  # (an archive without captions has none)
        timings.append(Timing("new lines containing a word: table JSON + facet", "/archive/lines.json",
                              each=["/archive/lines.json?" + urlencode({"text__contains": word}) for word in words],
                              facets=frozenset({"kind"})))
        timings.append(Timing("new articles, a word in the title: table JSON + facets", "/archive/articles.json",
                              each=["/archive/articles.json?" + urlencode({"title__contains": word}) for word in words],
                              facets=frozenset({"meeting_id", "outlet", "outlet_source", "rewrite_level"})))
        timings.append(Timing("new quotes containing a word: table JSON + facets", "/archive/quotes.json",
                              each=["/archive/quotes.json?" + urlencode({"quote__contains": word}) for word in words],
                              facets=frozenset({"speaker", "meeting_id", "outlet", "verb"})))
    timings.append(Timing("new topic tags above a score: table JSON + facet", "/archive/paragraph_topics.json",
                          each=[f"/archive/paragraph_topics.json?score__gt={1 + n / 100:.2f}" for n in range(new_selections)],
                          facets=frozenset({"topic"})))
    timings.append(Timing("new copies below a similarity: table JSON + facet", "/archive/paragraph_copies.json",
                          each=[f"/archive/paragraph_copies.json?similarity__lt={0.9 - n / 100:.2f}" for n in range(new_selections)],
                          facets=frozenset({"method"})))
    csv_timings = [
        Timing(f"CSV {csv_query.matches} results: search page", "/-/search.csv?" + urlencode({"q": csv_query.fts})),
        Timing(f"CSV {csv_query.matches} results: table, streamed",
               "/archive/paragraphs.csv?" + urlencode({"_search": csv_query.fts, "_stream": "on", "_size": "max"})),
    ]

    with Datasette(args.db, **serve) as server:
        print(f"datasette: {' '.join(server.command()[1:])}")
        client = Client(server.port, args.timeout)
        facets = default_facets(client)
        print(f"default facets of the paragraphs table: {', '.join(sorted(facets)) or 'none'}")
        for timing in timings:
            requests = min(args.requests, FIRST_PAGES) if timing.each else args.requests
            time_requests(client, timing, requests, args.warmup, args.time_limit, facets)
        for timing in csv_timings:
            time_requests(client, timing, args.csv_requests, 1, args.time_limit)

    print()
    print(f"{'request':<40} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'results':>8} {'errors':>6}  facets timed out")
    for timing in [*timings, *csv_timings]:
        print(
            f"{timing.label:<40} {len(timing.seconds):>4} {timing.ms(50):8.1f} {timing.ms(95):8.1f} {timing.ms(99):8.1f} "
            f"{timing.results if timing.results is not None else '-':>8} {timing.errors:>6}  "
            f"{', '.join(f'{name} ({n}/{len(timing.seconds)})' for name, n in sorted(timing.timed_out_facets.items())) or '-'} "
            f"{timing.note}"
        )

    if args.corpus:
        if not rg:
            print("\nripgrep (rg) is not installed: `apt-get install -y ripgrep` to compare with it.")
            return 0
        print(f"\nripgrep over {args.corpus} (best of {args.rg_runs}); speed-up = rg time / Datasette time, > 1 means Datasette is faster")
        print(f"{'query':<12} {'rg ms':>8} {'lines':>8}   {'table p50':>9} {'table p95':>9}   {'search p50':>10} {'search p95':>10}")
        by_label = {t.label: t for t in timings + csv_timings}
        for query in [*queries, csv_query]:
            seconds, lines = ripgrep(rg, query.rg, args.corpus, args.rg_runs, args.timeout, query.rg_then)
            if query is csv_query:
                table, search = csv_timings[1], csv_timings[0]
            else:
                table, search = by_label[f"{query.kind}: table JSON + facets"], by_label[f"{query.kind}: search page JSON"]
            ratios = [seconds * 1000 / t.ms(p) if t.seconds else float("nan") for t in (table, search) for p in (50, 95)]
            print(f"{query.kind:<12} {seconds * 1000:8.1f} {lines:>8}   {ratios[0]:8.2f}x {ratios[1]:8.2f}x   {ratios[2]:9.2f}x {ratios[3]:9.2f}x")
    print(f"\nat the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
