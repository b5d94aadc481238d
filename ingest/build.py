"""Build the archive: read → segment → tag meetings → tag topics → load, top to bottom."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import queue
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from itertools import chain, islice
from pathlib import Path

from tqdm import tqdm

from . import compare, copies, load, meetings, provenance, quotes, read, rewrites, segment, topics
from .files import FoundFiles
from .load import to_json

PACKAGE = Path(__file__).parent
# Show a progress bar once there are this many files to process.
PROGRESS_THRESHOLD = 20
# Below this many files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 200
# Files sent to a worker at once, and how many such chunks a worker has waiting (so that it is
# never idle while the writer takes its results).
CHUNK_FILES = 8
CHUNKS_IN_FLIGHT = 4
# Files changed this recently are hashed again next time (see build()).
RECENT_NS = 2_000_000_000


@dataclass
class Summary:
    """What a build did, for the one-line report at the end."""

    articles: int = 0
    paragraphs: int = 0
    other_lines: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    processed: int = 0
    mode: str = "full"
    seconds: float = 0.0
    dropped: int = 0  # blocks of web-page chrome left out (scripts, menus, ads…)

    def line(self) -> str:
        incremental = {
            "full": "",
            "unchanged": " (unchanged: no file to add, remove or record)",
        }.get(self.mode, f" ({self.mode}: {self.processed} files processed)")
        dropped = f", {self.dropped} blocks of page chrome dropped" if self.dropped else ""
        return (
            f"{self.articles} articles, {self.paragraphs} paragraphs, {self.other_lines} other lines"
            f"{dropped}, {len(self.errors)} errors in {self.seconds:.2f}s{incremental}"
        )


@dataclass
class Taggers:
    """The curated knowledge, loaded and compiled once per process."""

    catalogue: meetings.Catalogue
    meeting_tagger: meetings.MeetingTagger
    taxonomy: topics.Taxonomy
    topic_tagger: topics.TopicTagger
    quote_finder: quotes.QuoteFinder
    rewrite_scorer: rewrites.RewriteScorer

    @classmethod
    def load(cls) -> "Taggers":
        catalogue = meetings.load_catalogue()
        taxonomy = topics.load_taxonomy()
        return cls(
            catalogue, meetings.MeetingTagger(catalogue), taxonomy, topics.TopicTagger(taxonomy),
            quotes.QuoteFinder(), rewrites.RewriteScorer(),
        )


def fingerprint(files: list[Path]) -> str:
    """A short hash of some files' names and contents."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def rules_fingerprint() -> str:
    """A hash of the ingest code and its rule files: when it changes, every article is re-tagged."""
    return fingerprint(sorted(PACKAGE.glob("*.py")) + sorted(PACKAGE.glob("*.yml")))


def build_fingerprint(paths: list[Path]) -> str:
    """The rules' fingerprint plus the inputs' sources.yml files, whose provenance is stored on articles."""
    sources = [Path(p) / provenance.SOURCES_FILE for p in paths if (Path(p) / provenance.SOURCES_FILE).is_file()]
    return f"{rules_fingerprint()}-{fingerprint(sources)}"


@dataclass
class Article:
    """One article, segmented and tagged: everything the database stores about it."""

    document: read.Document
    segmented: segment.Segmented
    decision: meetings.MeetingDecision
    topic_hits: list[list[topics.TopicHit]]
    mentions: list[list[str]]
    quotes: list[list[quotes.Quote]]
    rewrite_signs: rewrites.ArticleSigns
    outlet: str | None
    outlet_source: str | None


def find_outlet(document: read.Document, segmented: segment.Segmented) -> tuple[str | None, str | None]:
    """The article's outlet and how we know it: sources.yml, the page's metadata, or clues in its text."""
    if document.source.provenance.get("outlet"):
        return document.source.provenance["outlet"], "sources.yml"
    if document.meta.get("outlet"):
        return document.meta["outlet"], "page metadata"
    return provenance.detect_outlet([line.text for line in segmented.lines])


def analyse(document: read.Document, taggers: Taggers) -> Article:
    """Segment a document and tag it with its meeting and each paragraph with its topics and mentions."""
    segmented = segment.segment(document.text, hints=document.hints)
    paragraphs = [line.text for line in segmented.paragraphs]
    extra = [line.text for line in segmented.lines if line.kind in ("caption", "subhead")]
    decision = taggers.meeting_tagger.infer(
        None if segmented.title_derived else segmented.title,
        paragraphs,
        published=document.meta.get("published"),
        extra=extra,
    )
    topic_hits = taggers.topic_tagger.tag_article(paragraphs)
    mentions = [taggers.meeting_tagger.mentions(p, decision) for p in paragraphs]
    quoted = taggers.quote_finder.find(paragraphs)
    # Rewrite signs of this article alone; compare.score_rewrites weighs them against the archive.
    signs = taggers.rewrite_scorer.signs(paragraphs)
    return Article(document, segmented, decision, topic_hits, mentions, quoted, signs, *find_outlet(document, segmented))


def days_between(start, published) -> int | None:
    """Days from a meeting's first day to an article's publication (negative: before it)."""
    if not published:
        return None
    try:
        day = published if isinstance(published, date) else date.fromisoformat(str(published)[:10])
    except ValueError:
        return None
    return (day - start).days


# The tables each article adds rows to, in the order they are written.
ARTICLE_TABLES = ("articles", "paragraphs", "paragraph_prints", "paragraph_topics", "quotes", "rewrite_signs", "lines")


def article_rows(article: Article, catalogue: meetings.Catalogue) -> dict[str, list[dict]]:
    """The rows one article adds to each table: itself, its paragraphs, its lines and its topic tags."""
    document, segmented, decision = article.document, article.segmented, article.decision
    article_id = document.article_id
    meeting = catalogue.by_id.get(decision.meeting_id) if decision.meeting_id else None
    meeting_fields = {
        "meeting_id": meeting.id if meeting else None,
        "meeting_year": meeting.year if meeting else None,
        "meeting_city": meeting.city if meeting else None,
    }
    outlet, meta = article.outlet, document.meta
    published = meta.get("published")
    rows: dict[str, list[dict]] = {table: [] for table in ARTICLE_TABLES}
    rows["articles"].append({
        "id": article_id,
        "path": document.source.relpath,
        "title": segmented.title,
        "title_derived": int(segmented.title_derived),
        "outlet": outlet,
        "outlet_source": article.outlet_source,
        "url": meta.get("url"),
        "published": published.isoformat() if hasattr(published, "isoformat") else published,
        "author": meta.get("author"),
        "dropped": to_json(document.dropped) if document.dropped else None,
        "sha256": document.sha256,
        "encoding": document.encoding,
        "paragraph_count": len(segmented.paragraphs),
        "line_count": len(segmented.lines),
        "meeting_confidence": round(decision.confidence, 3),
        "meeting_evidence": to_json(decision.evidence),
        "days_from_meeting": days_between(meeting.start, published) if meeting else None,
        **meeting_fields,
    })
    paragraph_ids = {}
    # Fingerprinted and sketched here, in the worker, so the compare stage only reads them.
    prints = copies.pack_texts([line.text for line in segmented.paragraphs])
    for position, (line, hits, mentioned, quoted, print_) in enumerate(
        zip(segmented.paragraphs, article.topic_hits, article.mentions, article.quotes, prints), start=1
    ):
        paragraph_id = load.paragraph_key(article_id, position)
        paragraph_ids[line.line_no] = paragraph_id
        rows["paragraphs"].append({
            "id": paragraph_id,
            "article_id": article_id,
            "position": position,
            "text": line.text,
            "outlet": outlet,
            "topics": to_json([hit.slug for hit in hits]),
            "mentions": to_json(mentioned),
            **meeting_fields,
        })
        rows["paragraph_prints"].append({"paragraph_id": paragraph_id, "print": print_})
        for hit in hits:
            rows["paragraph_topics"].append({
                "paragraph_id": paragraph_id,
                "topic": hit.slug,
                "score": round(hit.score, 3),
                "evidence": to_json(hit.evidence),
            })
        for number, quote in enumerate(quoted, start=1):
            rows["quotes"].append({
                "paragraph_id": paragraph_id,
                "number": number,
                "article_id": article_id,
                "speaker": quote.speaker,
                "speaker_as_written": quote.speaker_as_written or None,
                "quote": quote.quote,
                "verb": quote.verb,
                "meeting_id": meeting_fields["meeting_id"],
                "outlet": outlet,
            })
    rows["rewrite_signs"].append({"article_id": article_id, "signs": to_json(article.rewrite_signs.to_json())})
    for line in segmented.lines:
        rows["lines"].append({
            "article_id": article_id,
            "line_no": line.line_no,
            "kind": line.kind,
            "text": line.raw,
            "paragraph_id": paragraph_ids.get(line.line_no),
        })
    return rows


_taggers: Taggers | None = None


def process(source: read.Source) -> tuple[str, dict[str, list[dict]] | str]:
    """Read and analyse one file into table rows (or say why it cannot be), in whichever process runs it."""
    global _taggers
    if _taggers is None:
        _taggers = Taggers.load()
    try:
        document = read.read_document(source)
    except read.ReadError as error:
        return source.relpath, str(error)
    article = analyse(document, _taggers)
    if not article.segmented.paragraphs:
        kinds = sorted({line.kind for line in article.segmented.lines})
        return source.relpath, f"no article text: its {len(article.segmented.lines)} lines are all {' or '.join(kinds)}"
    return source.relpath, article_rows(article, _taggers.catalogue)


class WorkerError(RuntimeError):
    """The worker processes stopped before every file was analysed."""


def process_chunk(sources: list[read.Source]) -> list[tuple[str, dict[str, list[dict]] | str]]:
    """`process` of each of a few sources: one message to a worker and back for several files."""
    return [process(source) for source in sources]


def process_all(sources, workers: int):
    """(path, rows or error) for every source (an iterable), in order; in worker processes when
    there are many. A worker that dies (killed, out of memory, or failing to start) is an error,
    not a wait for files that will never come."""
    sources = iter(sources)
    first = list(islice(sources, PARALLEL_THRESHOLD))
    sources = chain(first, sources)
    if workers <= 1 or len(first) < PARALLEL_THRESHOLD:
        yield from map(process, sources)
        return
    chunks = iter(lambda: list(islice(sources, CHUNK_FILES)), [])  # the sources, a few at a time
    pool = ProcessPoolExecutor(workers, mp_context=worker_context())
    try:
        # A few chunks a worker in flight, not all at once as pool.map would: a future and its
        # chunk for every 8 files took 14 MB at a million paragraphs, and finished ones would
        # wait in memory if the writer fell behind.
        in_flight = deque(pool.submit(process_chunk, chunk) for chunk in islice(chunks, workers * CHUNKS_IN_FLIGHT))
        while in_flight:
            done = in_flight.popleft().result()
            for chunk in islice(chunks, 1):
                in_flight.append(pool.submit(process_chunk, chunk))
            yield from done
    except BrokenProcessPool as error:
        raise WorkerError(
            "a worker process stopped before every file was analysed (was it killed, or out of memory?). "
            "Workers import the script that started the build: a script calling build() must do so under "
            "`if __name__ == '__main__':`"
        ) from error
    finally:
        pool.shutdown(cancel_futures=True)  # on an early stop, the files not yet begun are not analysed


def worker_context():
    """Where worker processes come from: a server process that has imported ingest and nothing
    else, forked for each worker. A fork of this process would carry into every worker what the
    build holds by then (its lists of files, about 1 KB a file: 50 MB at 50,000 files), and a
    thread it runs (an incremental build reads the old archive in one) with any lock it held."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ingest.build"])
    return context


def compares_apart(workers: int, articles: int) -> bool:
    """Whether a build with this many workers, over an archive of this many articles (or files),
    runs its compare stage in a process of its own (`CompareProcess`)."""
    return workers > 1 and articles >= PARALLEL_THRESHOLD


def start_process_server() -> None:
    """Start the server that worker and compare processes are forked from now, rather than when
    the first is wanted: it imports `ingest` (~0.6 s), which can then overlap other work."""
    if worker_context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


def build(
    paths: list[Path],
    db_path: Path,
    progress: bool = True,
    strict: bool = False,
    full: bool = False,
    workers: int | None = None,
    log=lambda message: None,
) -> Summary:
    """Build the archive at db_path from the article files under paths; return what was done.

    Unless ``full`` is set, an existing archive built with the same code and rules
    is updated in place of a rebuild: only files whose content is new are
    processed, and articles whose files are gone are removed. A file that cannot
    be read is reported and recorded in ``ingest_errors``; with ``strict`` the
    first such file aborts the build and the old archive stays as it was.
    """
    started = time.perf_counter()
    summary = Summary()
    workers = workers or os.cpu_count() or 1
    fingerprint = build_fingerprint(paths)

    previous = not full and load.can_update(db_path, fingerprint)
    summary.mode = "incremental" if previous else "full"
    # What the build finds of its files, and for an update what the last build saw of them, is
    # kept in a temporary database, not in this process's memory (~800 bytes a file as lists).
    files = FoundFiles(db_path if previous else None)
    try:
        known = files.known_count()  # articles the archive being updated holds
        if compares_apart(workers, known):
            start_process_server()  # for the compare process, while the files are read

        # Read: hash every file, so that its content says whether it is new, an old friend or a
        # copy; a file the archive saw last time, unchanged since, keeps the id it had.
        summary.errors.extend(files.add(paths))
        # A file written in the last seconds could be written again within one tick of its clock
        # without its ctime (set by every write) showing it: it is hashed again next time.
        summary.errors.extend(files.identify(settled_before=time.time_ns() - RECENT_NS))
        if strict and summary.errors:
            raise read.ReadError("{}: {}".format(*summary.errors[0]))
        files.choose()  # each article's first file is the one processed
        summary.processed = files.new_count()
        log(f"stage: read {summary.processed} files to process")
        if previous and not summary.processed and files.holds_as_before(summary.errors):
            # Nothing to add, remove or record: the archive stays as it is (not copied, not rewritten).
            summary.mode = "unchanged"
            summary.articles, summary.paragraphs, summary.other_lines = load.archive_counts(db_path)
            summary.seconds = time.perf_counter() - started
            return summary

        # An incremental build starts from a copy of the archive, made while the new files are processed.
        writer = load.ArchiveWriter(db_path, base=db_path if previous else None)
        comparer = None
        try:
            # The compare stage takes a big build's most memory: it runs in a process of its own,
            # started clean, when there are workers. An incremental build's copies are found while
            # the archive it updates is being copied.
            apart = compares_apart(workers, max(known, summary.processed))
            comparer = (CompareProcess if apart else CompareHere)(db_path if previous else None, files.removed_articles())
            global _taggers
            # Files processed in this process (a few) use these too; workers load their own.
            taggers = _taggers = Taggers.load()
            if not previous:
                writer.add_all("meetings", meetings.meeting_rows(taggers.catalogue))
                writer.add_all("topics", topics.topic_rows(taggers.taxonomy))

            log(f"stage: process {summary.processed} files ({summary.mode} build)")
            # Segment and tag: the heavy work, in worker processes feeding this single writer.
            bar = tqdm(
                total=summary.processed, unit="file", desc="ingest",
                disable=not progress or summary.processed < PROGRESS_THRESHOLD,
            )
            failed: set[str] = set()
            for path, rows in process_all(files.new_sources(), workers):
                bar.update(1)
                if isinstance(rows, str):
                    if strict:
                        raise read.ReadError(f"{path}: {rows}")
                    summary.errors.append((path, rows))
                    failed.add(path)
                    continue
                for table in ARTICLE_TABLES:
                    writer.add_all(table, rows[table])
                comparer.add(rows)
                summary.dropped += sum(json.loads(rows["articles"][0]["dropped"] or "{}").values())
            bar.close()
            comparer.link()

            # Load: paths, errors, counts, indexes and full-text search.
            files.mark_failed(failed)
            writer.remove_articles(files.removed_articles())
            writer.replace_all("article_paths", files.article_paths())
            writer.replace_all("ingest_errors", ({"path": p, "error": e} for p, e in summary.errors))
            writer.replace_all("seen_files", files.seen_files())
            writer.set_info({"fingerprint": fingerprint})
            files.close()  # written: its temporary file, and the archive it attached, go now
            compare_articles(writer, log, comparer)
            stats = writer.finish(log)
        except BaseException:
            writer.abort()
            raise
        finally:
            if comparer:
                comparer.close()
    finally:
        files.close()
    summary.articles, summary.paragraphs, summary.other_lines = stats
    summary.seconds = time.perf_counter() - started
    return summary


def compare_articles(writer: load.ArchiveWriter, log, comparer: "CompareHere | CompareProcess | None" = None) -> None:
    """Compare every article with the rest: which paragraphs are copies (with the links found
    ahead, if they still hold), which articles are rewrites; in this process unless `comparer`
    says otherwise."""
    writer.index(log, compared=False)
    writer.release_memory()
    (comparer or CompareHere()).compare(writer, log)


class CompareHere:
    """The compare stage in the building process; for an incremental build (`base`, the archive
    it updates, less `removed_articles`), the copies found while the archive is copied."""

    def __init__(self, base: Path | None = None, removed_articles=()):
        self.ahead = compare.AheadLinks(base, set(removed_articles)) if base else None
        if self.ahead:
            self.ahead.start()

    def add(self, rows: dict[str, list[dict]]) -> None:
        """Take a new article's rows (its paragraphs and their prints), to link them ahead."""
        if self.ahead:
            self.ahead.add(*compare.new_paragraphs(rows))

    def link(self) -> None:
        """Every new article is added: link them with the kept paragraphs."""
        if self.ahead:
            self.ahead.link()

    def compare(self, writer: load.ArchiveWriter, log) -> None:
        """Run the compare stage on the build file, with the links found ahead if they hold."""
        self.run(writer.conn, log)

    def run(self, conn, log) -> None:
        """Run the compare stage on the archive at `conn` (the build file, in either process)."""
        compare.link_copies(conn, log, self.ahead)
        compare.score_rewrites(conn, log)

    def close(self) -> None:
        """Nothing to stop: the stage ran, or will not, in this process."""


class CompareError(RuntimeError):
    """The compare stage's process stopped before it finished."""


class CompareProcess:
    """The compare stage in a process of its own, started clean from the workers' fork server:
    the stage takes the most memory of a big build, and its top then does not stand on what the
    building process has held (its lists of files, in memory it cannot give back once freed). For
    an incremental build the process starts at once, reads the archive being updated and links
    the new paragraphs as they are sent (`add`, `link`), as `CompareHere` does in its thread; for
    a full one, when the stage begins. Its stage messages are logged by `compare`; its error is
    raised there."""

    def __init__(self, base: Path | None = None, removed_articles=()):
        context = worker_context()
        self._requests, self._messages = context.Queue(), context.Queue()
        self._process = context.Process(
            target=serve_compare, name="ingest-compare",
            args=(self._requests, self._messages, str(base) if base else None, sorted(removed_articles)),
        )
        self._linking = base is not None
        if self._linking:
            self._process.start()

    def add(self, rows: dict[str, list[dict]]) -> None:
        """Send a new article's paragraphs and their prints, to link them ahead."""
        if self._linking:
            self._requests.put(("add", compare.new_paragraphs(rows)))

    def link(self) -> None:
        """Every new article is sent: have them linked with the kept paragraphs."""
        if self._linking:
            self._requests.put(("link", None))

    def compare(self, writer: load.ArchiveWriter, log) -> None:
        """Run the stage on the build file (committed: this process's connection stays idle) and
        wait for it, logging its stage messages as they come."""
        if not self._linking:
            self._process.start()
        self._requests.put(("compare", str(writer.building)))
        while True:
            try:
                kind, value = self._messages.get(timeout=0.2)
            except queue.Empty:
                if not self._process.is_alive():
                    raise CompareError(
                        "the compare stage's process stopped before it finished (was it killed, or out of memory?)"
                    ) from None
                continue
            if kind == "log":
                log(value)
            elif kind == "error":
                raise value
            else:
                break
        self._process.join()

    def close(self) -> None:
        """Stop the process if it still runs (the build stopped early)."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        # Requests it will never read must not hold this process's exit waiting to send them.
        self._requests.cancel_join_thread()


def serve_compare(requests, messages, base: str | None, removed_articles: list[str]) -> None:
    """The compare process's work (`CompareProcess`): link ahead from `base`, if given, with the
    paragraphs `requests` adds; then run the compare stage on the build file it names. Stage
    messages, then an error or "done", go to `messages`."""
    def log(message):
        messages.put(("log", message))

    try:
        here = CompareHere(Path(base) if base else None, removed_articles)  # this process is "here"
        while True:
            kind, value = requests.get()
            if kind == "add":
                here.ahead.add(*value)
            elif kind == "link":
                here.link()
            else:
                with closing(load.open_build_file(value)) as conn:
                    here.run(conn, log)
                    conn.commit()
                break
    except BaseException as error:
        try:
            pickle.dumps(error)
        except Exception:  # sent as text: the queue pickles in a thread that cannot raise here
            error = CompareError(f"{type(error).__name__}: {error}")
        messages.put(("error", error))
    else:
        messages.put(("done", None))
    messages.close()
    messages.join_thread()  # everything sent before the process ends


def merge(shards: list[Path], db_path: Path, log=lambda message: None) -> Summary:
    """Merge archives built separately (one per input folder or machine) into one archive at db_path.

    The result holds the same rows as one build over all the shards' inputs.
    Every shard must come from the same code and rules, or its tags would disagree.
    """
    started = time.perf_counter()
    expected = rules_fingerprint()
    for path in shards:
        rules = (load.fingerprint_of(path) or "").split("-")[0]
        if rules != expected:
            raise read.ReadError(f"{path}: built by other code or rules ({rules or 'unknown'}, this ingest is {expected}); rebuild it first")
    writer = load.ArchiveWriter(db_path)
    try:
        for path in shards:
            log(f"stage: merge {path}")
            writer.merge_from(path)
        errors = writer.conn.execute("SELECT path, error FROM ingest_errors ORDER BY path").fetchall()
        writer.set_info({"fingerprint": f"{expected}-merged"})
        compare_articles(writer, log)
        stats = writer.finish(log)
    except BaseException:
        writer.abort()
        raise
    summary = Summary(*stats, errors=errors, mode="merge", processed=len(shards))
    summary.seconds = time.perf_counter() - started
    return summary
