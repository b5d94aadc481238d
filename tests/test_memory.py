"""The build's memory: what SQLite holds for the build file is given back before the compare
stage, which holds every paragraph's fingerprint."""

from __future__ import annotations

import ctypes
import sys
from array import array
from pathlib import Path

import _sqlite3
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest import load  # noqa: E402

MB = 1 << 20


def sqlite_memory_used() -> int:
    """Bytes SQLite has allocated in this process (the library Python's sqlite3 module uses)."""
    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        pytest.skip("this Python's SQLite does not export sqlite3_memory_used")
    used.restype = ctypes.c_int64
    return used()


def test_release_memory_gives_back_the_bulk_loads_page_cache(tmp_path, monkeypatch):
    """The bulk load's pages stay dirty in the cache until committed, and a dirty page cannot be
    freed: releasing must write them out first."""
    monkeypatch.setattr(load, "CACHE_KIB", 64_000)  # room for every row below: only a release empties it
    # Measured against what SQLite held before: other tests' connections may still be open.
    before = sqlite_memory_used()
    writer = load.ArchiveWriter(tmp_path / "archive.db")
    try:
        for number in range(20_000):
            writer.add("paragraphs", {"id": f"a-{number:05d}", "article_id": "a", "position": number, "text": "word " * 80})
        writer.flush()
        filled = sqlite_memory_used() - before
        assert filled > 8 * MB  # the 8 MB of text sit in the page cache
        writer.release_memory()
        assert sqlite_memory_used() - before < 2 * MB
        assert writer.conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0] == 20_000
    finally:
        writer.abort()


def packed_paragraphs(count: int):
    """`count` paragraphs' ids, articles and packed prints, as the archive keeps them: each its own
    text, with 20 words in two sentences and a random signature."""
    from ingest import copies

    generator = np.random.default_rng(5)
    signatures = generator.integers(0, 1 << 16, size=(count, copies.NUM_PERM), dtype=np.uint16)
    return ([f"a{k // 20}:{k % 20}" for k in range(count)], [f"a{k // 20}" for k in range(count)],
            [copies.pack(copies.Fingerprint(k + 1, 20, False, ((2 * k, 12), (2 * k + 1, 8)), array("L")),
                                signatures[k]) for k in range(count)])


def traced_peak_above_start(work) -> tuple[int, int]:
    """What numpy and Python allocated at most while `work()` ran, beyond what they held before,
    and what they held beyond it after."""
    import tracemalloc

    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        work()
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start, now - start


def test_a_finder_keeps_its_signatures_and_sentences_on_disk_not_in_memory():
    """The compare stage reads a million paragraphs' signatures (128 bytes each) and sentence
    hashes (2.5 a paragraph, 16 bytes each) 10,000 at a time: they go to the finder's spill
    files as they come, so its memory holds neither, whatever the archive's size; and they read
    back as they were given."""
    from ingest import copies

    ids, articles, prints = packed_paragraphs(100_000)
    finder = copies.CopyFinder()

    def read():
        for start in range(0, len(ids), 1_000):
            finder.add_packed(ids[start:start + 1_000], articles[start:start + 1_000], prints[start:start + 1_000])

    peak, held = traced_peak_above_start(read)
    # Held in memory, they would take 128 + 2 * 16 bytes a paragraph. What is held (37 bytes a
    # paragraph here, each with a text of its own) is the article, words and signature row, and
    # the keyed signature rows of exact texts; the exact keys wait on disk too (46 with them).
    assert held < 42 * len(ids), held / len(ids)
    assert peak < 96 * len(ids)
    given = np.array([np.frombuffer(print_[-2 * copies.NUM_PERM:], dtype="<u2") for print_ in prints[:5_000]])
    assert (finder.signatures()[:5_000] == given).all()
    assert finder.sentence_units()["key"].tolist() == list(range(2 * len(ids)))


def test_ranking_paragraphs_takes_a_few_dozen_bytes_each():
    """Ranking is one sort of a 64-bit key a paragraph: its memory is a few arrays of the
    paragraphs' size, not one for each of the rules it sorts by."""
    from ingest import copies

    ids, articles, prints = packed_paragraphs(200_000)
    finder = copies.CopyFinder()
    finder.add_packed(ids, articles, prints, {article: "2024-05-16" for article in articles[::3]})
    peak, _ = traced_peak_above_start(finder._ranks)
    assert peak < 48 * len(ids)


def test_reading_and_linking_an_archive_takes_less_than_its_signatures_and_sentences_would(monkeypatch):
    """From the first paragraph read to the links, a finder's memory at its most stays well
    under the 160 bytes a paragraph that its signature (128) and two sentences (2 x 16) would
    take in memory: they stay on disk, and every pass keeps its arrays lean (the finder before
    took 194 bytes here). Half the paragraphs are exact copies of the other half (in another
    article); the sentences are taken in parts, as a big archive's are."""
    from ingest import copies

    monkeypatch.setattr(copies, "EXCERPT_PART", 25_000)
    count = 100_000
    signatures = np.random.default_rng(5).integers(0, 1 << 16, size=(count // 2, copies.NUM_PERM), dtype=np.uint16)
    ids, articles = [f"a{k % 2_500}:{k}" for k in range(count)], [f"a{k % 2_500}" for k in range(count)]
    prints = [copies.pack(copies.Fingerprint(k // 2 + 1, 20, False, ((k // 2, 12), (count + k // 2, 8)), array("L")),
                          signatures[k // 2]) for k in range(count)]
    found = []

    def read_and_link():
        finder = copies.CopyFinder()
        for start in range(0, count, 10_000):
            finder.add_packed(ids[start:start + 10_000], articles[start:start + 10_000], prints[start:start + 10_000])
        found.append(finder.link_arrays())

    peak, _ = traced_peak_above_start(read_and_link)
    assert len(found[0].copy) == count // 2
    assert peak < 130 * count


def test_a_meeting_tagger_remembers_an_analysis_in_under_1100_bytes():
    """Each worker remembers the meeting evidence of the last texts it read (wire copy
    repeats them): a hit keeps no __dict__ of its own, and the many texts that name no weekday
    or year share one empty set instead of keeping three (the memo took ~1,540 bytes a text)."""
    from ingest.meetings import MeetingTagger, load_catalogue

    tagger = MeetingTagger(load_catalogue())
    lines = [line for path in sorted((ROOT / "seeds").glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if len(line) > 80]
    texts = [f"{line} ({copy})" for copy in range(40) for line in lines][:4_000]
    tagger.infer(None, texts[:5])

    def tag():
        for start in range(0, len(texts), 20):
            tagger.infer(None, texts[start:start + 20])

    _, held = traced_peak_above_start(tag)
    assert len(tagger._cache) > 3_000
    assert held < 1_100 * len(tagger._cache)


def test_a_workers_paragraph_memos_when_full_hold_a_few_mb(tmp_path, monkeypatch):
    """A worker remembers what it made of the paragraphs it read last (copies of a story repeat
    them): the memos are bounded, and their bound is what a worker holds for the rest of a build of
    any size. Measured: what each new paragraph adds to them, times the most any of them keeps
    (at 20,000 paragraphs a memo, a worker took 141 MB on the 1M benchmark archive, at 4,000 96)."""
    from ingest import build, copies
    from ingest.text import BoundedCache

    lines = [line for path in sorted((ROOT / "seeds").glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if len(line) > 80]
    for number in range(24):
        paragraphs = [f"{line} (report {number}, part {k})" for k, line in enumerate(lines[:16])]
        text = f"Xi and Putin meet again, report {number}\n\n" + "\n\n".join(paragraphs) + "\n"
        (tmp_path / f"report-{number:02d}.txt").write_text(text, encoding="utf-8")
    sources, _ = build.read.find_sources([tmp_path])
    taggers = build.Taggers.load()
    monkeypatch.setattr(build, "_taggers", taggers)
    monkeypatch.setattr(copies, "_packed_memo", BoundedCache(copies._packed_memo.limit))
    build.process(sources[0])  # the first article fills the word caches that any text would

    def analyse_the_rest():
        for source in sources[1:]:
            assert not isinstance(build.process(source)[1], str)

    _, held = traced_peak_above_start(analyse_the_rest)
    memos = [copies._packed_memo] + [memo for tagger in vars(taggers).values()
                                      for memo in vars(tagger).values() if isinstance(memo, BoundedCache)]
    paragraphs = 16 * (len(sources) - 1)
    assert all(len(memo) < memo.limit for memo in memos)  # none has forgotten anything yet
    per_paragraph = held / paragraphs
    assert per_paragraph * max(memo.limit for memo in memos) < 24 * MB, per_paragraph


def test_the_writer_holds_no_table_back_once_a_batch_is_full(tmp_path, monkeypatch):
    """Rows wait in buffers to be written a batch at a time. A table with one row an article
    (articles, their rewrite signs of ~3 KB each) fills far more slowly than the paragraphs: when
    any batch is full every table is written, so the slow ones never hold thousands of articles."""
    monkeypatch.setattr(load, "BATCH_ROWS", 50)
    writer = load.ArchiveWriter(tmp_path / "archive.db")
    try:
        for number in range(3):
            writer.add("articles", {"id": f"a{number}", "title": "Xi and Putin meet"})
            writer.add("rewrite_signs", {"article_id": f"a{number}", "signs": "{}"})
            for position in range(20):
                writer.add("paragraphs", {"id": f"a{number}-{position:03d}", "article_id": f"a{number}",
                                          "position": position, "text": "word " * 20})
        assert max(map(len, writer.buffers.values())) < 50
        assert writer.conn.execute("SELECT count(*) FROM articles").fetchone()[0] >= 2
        assert writer.conn.execute("SELECT count(*) FROM rewrite_signs").fetchone()[0] >= 2
    finally:
        writer.abort()


def test_a_link_state_is_written_to_the_archive_a_slice_at_a_time(tmp_path):
    """The compare stage keeps its state (arrays of every paragraph) as blobs; writing one whole
    would hold its bytes twice more (numpy's copy, SQLite's copy), the top of the stage at a
    million paragraphs. Written a slice at a time, and read back as it was."""
    import sqlite3

    from ingest import compare

    count = 500_000
    rng = np.random.default_rng(3)
    rowid = np.arange(1, count + 1, dtype=np.int64)
    links = np.sort(rng.choice(count, size=count // 2, replace=False)).astype(np.int32)
    state = compare.LinkState(
        rowid, rng.integers(0, 1 << 32, size=count, dtype=np.uint32), np.arange(count, dtype=np.int32), links,
        links // 2, rng.integers(0, 1001, size=count // 2, dtype=np.uint16), rng.integers(0, 3, size=count // 2, dtype=np.int8),
    )
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("PRAGMA cache_size=-256")  # a small page cache, so what is measured is the writing
    conn.execute("CREATE TABLE copy_state (name TEXT PRIMARY KEY, data BLOB)")
    highwater = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_highwater
    highwater.restype, highwater.argtypes = ctypes.c_int64, [ctypes.c_int]
    sqlite_memory_used()  # skips where SQLite's counters cannot be read
    base = highwater(1)  # resets the high-water mark to what is in use now
    peak, _ = traced_peak_above_start(lambda: state.write(conn))
    sqlite_peak = highwater(0) - base
    array_bytes = count * 8
    assert peak < array_bytes / 4 and sqlite_peak < array_bytes / 2
    conn.commit()
    read = compare.LinkState.read(conn, state)
    assert read is not None
    for name in compare.LinkState._fields:
        assert np.array_equal(read.column(name), state.stored(name)), name


def random_packed_paragraphs(count: int):
    """Ids, article ids and packed prints of `count` paragraphs of 2,500 articles, each with a
    random signature (so that few are near copies) and an exact text of its own."""
    from ingest import copies

    signatures = np.random.default_rng(7).integers(0, 1 << 16, size=(count, copies.NUM_PERM), dtype=np.uint16)
    ids, articles = [f"a{k % 2_500}:{k}" for k in range(count)], [f"a{k % 2_500}" for k in range(count)]
    prints = [copies.pack(copies.Fingerprint(k + 1, 20, False, (), array("L")), signatures[k]) for k in range(count)]
    return ids, articles, prints


def test_the_near_pass_runs_without_what_only_adding_paragraphs_needed(monkeypatch):
    """Linking's top is its passes: by then the keyed signature rows that adding a paragraph
    looks up (20 bytes an exact text) are gone (the exact keys, used by the exact pass, wait on
    disk until then): the near pass starts with 13 bytes a paragraph less traced than the finder
    held before linking (+7 were the keyed rows kept)."""
    import tracemalloc

    from ingest import copies

    count = 100_000
    ids, articles, prints = random_packed_paragraphs(count)
    at_near = []
    near_pairs = copies.CopyFinder._near_pairs

    def noting_near_pairs(self, *args):
        at_near.append(tracemalloc.get_traced_memory()[0])
        return near_pairs(self, *args)

    monkeypatch.setattr(copies.CopyFinder, "_near_pairs", noting_near_pairs)
    tracemalloc.start()
    try:
        finder = copies.CopyFinder()
        finder.add_packed(ids, articles, prints)
        before = tracemalloc.get_traced_memory()[0]
        finder.link_arrays()
    finally:
        tracemalloc.stop()
    assert at_near[0] - before < -10 * count, (at_near[0] - before) / count


def test_the_near_pass_sorts_a_part_of_a_bands_buckets_at_a_time(monkeypatch):
    """The near pass buckets every candidate by each band's key: sorting them all at once, with
    the arrays that say where each bucket starts, was its top (55 bytes a paragraph above what it
    started with). A part of the buckets at a time (by key), it tops at ~33."""
    import tracemalloc

    from ingest import copies

    count = 100_000
    ids, articles, prints = random_packed_paragraphs(count)
    above_start = []
    near_pairs = copies.CopyFinder._near_pairs

    def measured_near_pairs(self, *args):
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        found = near_pairs(self, *args)
        above_start.append(tracemalloc.get_traced_memory()[1] - start)
        return found

    monkeypatch.setattr(copies.CopyFinder, "_near_pairs", measured_near_pairs)
    finder = copies.CopyFinder()
    finder.add_packed(ids, articles, prints)
    tracemalloc.start()
    try:
        finder.link_arrays()
    finally:
        tracemalloc.stop()
    assert above_start[0] < 40 * count, above_start[0] / count


def test_links_are_written_by_rowid_without_the_ids_in_memory(tmp_path, monkeypatch):
    """Once the link state is made, the compare stage writes links and reports by rowid (SQLite
    looks the ids up): the paragraphs' ids and the links by position are let go before the
    stored state is read, which an incremental build holds beside the new one (at a million
    paragraphs both are ~45 MB). Written as before: the archive's links and reports are those
    of a build."""
    import sqlite3
    import tracemalloc

    from ingest import compare
    from ingest.build import build
    from test_robustness import write_corpus

    folder = tmp_path / "in"
    write_corpus(folder, 60)
    db = tmp_path / "archive.db"
    build([folder], db, progress=False, workers=1)
    conn = sqlite3.connect(db)
    written = [conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in ("paragraph_copies", "reports")]
    written.append(conn.execute("SELECT id, report_id, report FROM paragraphs ORDER BY rowid").fetchall())
    conn.execute("DELETE FROM copy_state")  # every link and report written again
    count = conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]
    noted = {}
    for name in ("of", "read"):
        method = getattr(compare.LinkState, name).__func__

        def noting(cls, *args, name=name, method=method):
            noted[name] = tracemalloc.get_traced_memory()[0]
            return method(cls, *args)

        monkeypatch.setattr(compare.LinkState, name, classmethod(noting))
    tracemalloc.start()
    try:
        compare.link_copies(conn)
    finally:
        tracemalloc.stop()
    # Held more between making the state and reading the stored one: 7 bytes a paragraph here (the
    # ids' digests and the reports' first paragraphs: the links' arrays become the state's), 18
    # with a state of rowids of its own, 44 with the ids and links kept to write from.
    assert (noted["read"] - noted["of"]) / count < 10, (noted["read"] - noted["of"]) / count
    again = [conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in ("paragraph_copies", "reports")]
    again.append(conn.execute("SELECT id, report_id, report FROM paragraphs ORDER BY rowid").fetchall())
    assert again == written


def test_sqlites_page_cache_is_held_small_while_the_paragraphs_are_read_linked_and_written(tmp_path, monkeypatch):
    """The compare stage reads every paragraph once, in rowid order, and then links them: a page
    cache of the build's size (20 MB) would only hold pages never read again beside linking's
    arrays, and then beside the link states it writes from (at a million paragraphs, 187 against
    175 MB for an incremental build's compare process). While it reads, links and writes the
    links and reports, the cache is held small (and emptied first); it is as it was after, and
    the links are those of the build."""
    import sqlite3

    from ingest import compare, load
    from ingest.build import build
    from test_robustness import write_corpus

    folder = tmp_path / "in"
    write_corpus(folder, 30)
    db = tmp_path / "archive.db"
    build([folder], db, progress=False, workers=1)
    conn = sqlite3.connect(db)
    written = conn.execute("SELECT * FROM paragraph_copies ORDER BY 1, 2").fetchall()
    conn.execute(f"PRAGMA cache_size=-{load.CACHE_KIB}")
    conn.execute("SELECT count(*), sum(length(text)) FROM paragraphs").fetchone()
    conn.execute("DELETE FROM copy_state")  # every link written again
    while_linking = []

    def log(message):
        if message.startswith("stage: copies"):
            while_linking.append(conn.execute("PRAGMA cache_size").fetchone()[0])

    def noting_the_cache(write):
        def noted(*args):
            while_linking.append(conn.execute("PRAGMA cache_size").fetchone()[0])
            return write(*args)
        return noted

    monkeypatch.setattr(compare, "write_links", noting_the_cache(compare.write_links))
    monkeypatch.setattr(compare, "write_reports", noting_the_cache(compare.write_reports))
    compare.link_copies(conn, log)
    assert while_linking == [-compare.LINKING_CACHE_KIB] * 3 and compare.LINKING_CACHE_KIB * 10 <= load.CACHE_KIB
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -load.CACHE_KIB
    assert conn.execute("SELECT * FROM paragraph_copies ORDER BY 1, 2").fetchall() == written


@pytest.mark.parametrize("update", [False, True], ids=["full build", "update"])
def test_what_a_build_found_of_its_files_takes_no_memory_a_file(tmp_path, monkeypatch, update):
    """A build keeps what it found of every file (its path, state on disk, article) and, for an
    update, what the last build saw of them, from the read stage to the load: 50,000 files at a
    million paragraphs. Kept in a temporary database, not in Python lists and dicts (~800 bytes a
    file as they were), what the build holds once it has read its files does not grow with them."""
    import tracemalloc

    from ingest import build as build_module
    from ingest import compare, copies, spill
    from test_robustness import write_corpus

    monkeypatch.setattr(build_module, "RECENT_NS", 0)  # every file's state recorded, however new
    if not update:  # what is held once the files are read is measured, not the processing
        monkeypatch.setattr(build_module, "process_all", lambda sources, workers: iter(()))

    def held_once_read(files):
        folder, db = tmp_path / f"in-{files}", tmp_path / f"archive-{files}.db"
        write_corpus(folder, files)
        if update:
            build_module.build([folder], db, progress=False, workers=1)
            (folder / "new.txt").write_text("Xi and Putin met again.\n\nThey talked about gas.\n", encoding="utf-8")
        held = []

        def log(message):
            if message.startswith("stage: read"):
                # Not what an update's linking ahead has read of the archive by then (in a thread),
                # nor what anything but the ingest allocates meanwhile (another test's server threads).
                snapshot = tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(True, str(Path(build_module.__file__).parent / "*"))]
                    + [tracemalloc.Filter(False, module.__file__) for module in (compare, copies, spill)])
                held.append(sum(stat.size for stat in snapshot.statistics("filename")))

        tracemalloc.start()
        try:
            build_module.build([folder], db, progress=False, workers=1, log=log, full=not update)
        finally:
            tracemalloc.stop()
        return held[0]

    held_once_read(10)  # what any build's first run fills (caches, imports)
    few, many = held_once_read(40), held_once_read(440)
    assert (many - few) / 400 < 60, (few, many)


def test_the_stored_link_state_is_compared_a_column_at_a_time(tmp_path):
    """An update compares the links it found with those the last build kept (copy_state), to
    write only what changed: the stored state's columns are read one or two at a time as they are
    compared, not all at once beside the new state (the top of an update's compare stage at a
    million paragraphs: 1.65 times the state's size, where it is now 1.0); the new state's
    paragraphs, positions in memory, are made rowids a slice at a time as they are compared."""
    import sqlite3

    from ingest import compare

    count = 500_000
    rng = np.random.default_rng(3)
    rowid = np.arange(1, count + 1, dtype=np.int64)
    links = np.sort(rng.choice(count, size=count // 2, replace=False)).astype(np.int32)
    state = compare.LinkState(
        rowid, rng.integers(0, 1 << 32, size=count, dtype=np.uint32), np.arange(count, dtype=np.int32), links,
        links // 2, rng.integers(0, 1001, size=count // 2, dtype=np.uint16), rng.integers(0, 3, size=count // 2, dtype=np.int8),
    )
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.executescript("""
        CREATE TABLE copy_state (name TEXT PRIMARY KEY, data BLOB);
        CREATE TABLE paragraphs (id TEXT, article_id TEXT, report_id TEXT, report TEXT);
        CREATE TABLE paragraph_copies (paragraph_id TEXT PRIMARY KEY, copy_of, similarity, method, article_id, copy_of_article);
    """)
    state.write(conn)
    conn.commit()

    def compare_with_the_stored_state():
        before = compare.LinkState.read(conn, state)
        assert before is not None
        compare.write_links(conn, state, before)
        compare.write_reports(conn, state, before)

    peak, _ = traced_peak_above_start(compare_with_the_stored_state)
    assert conn.execute("SELECT count(*) FROM paragraph_copies").fetchone()[0] == 0  # nothing changed
    assert peak < 1.3 * sum(column.nbytes for column in state), peak


def test_report_roots_are_found_in_two_arrays_of_the_paragraphs():
    """Following every paragraph's chain of links to its report's first paragraph is the top of
    making the link state: two 32-bit arrays of the paragraphs (and a flag each) are all it holds,
    not a third and numpy's 64-bit copy of the index it jumps with (20 bytes a paragraph)."""
    from ingest import copies

    count = 200_000
    rng = np.random.default_rng(11)
    copy = np.sort(rng.choice(np.arange(1, count), size=count // 2, replace=False)).astype(np.int32)
    original = (rng.random(len(copy)) * copy).astype(np.int32)  # an earlier paragraph: chains, no loops
    found = copies.Links(copy, original, np.ones(len(copy)), np.zeros(len(copy), dtype=np.int8))
    roots = []
    peak, _ = traced_peak_above_start(lambda: roots.append(copies.report_roots(found, count)))
    assert peak / count < 12, peak / count
    root = roots[0]
    assert (root <= np.arange(count)).all() and not np.isin(root, copy).any()


def test_a_finder_is_restored_from_its_kept_columns_a_batch_at_a_time():
    """An update restores the finder from the columns the last build kept: each paragraph column
    read whole, picked, cast and copied into the finder's own held two copies of it at once (32
    bytes a paragraph at the top for 23 held, 40 MB at a million paragraphs, an update's top);
    read back a batch at a time, little more than what is held."""
    import tempfile

    from ingest import copies

    count = 200_000
    ids, articles, prints = random_packed_paragraphs(count)
    spill_dir = tempfile.mkdtemp()
    finder = copies.CopyFinder(spill_dir=spill_dir)
    finder.add_packed(ids, articles, prints)
    columns, options = finder.columns(), finder.options
    del finder
    restored = []
    peak, held = traced_peak_above_start(
        lambda: restored.append(copies.CopyFinder.restore(columns, options, (), spill_dir)))
    assert peak / count < 29 and peak - held < 4 * count, (peak / count, held / count)
    assert len(restored[0][0]) == count and restored[0][1].all()


def test_the_kept_columns_are_checked_against_the_archive_without_a_second_array_of_rowids(tmp_path):
    """An update reads the columns the last build kept only if they are for the paragraphs the
    archive holds: the archive's rowids are compared with the kept ones a slice at a time, not
    read into a second array of them all beside the first (8 MB more at a million paragraphs,
    at the top of an update's compare process)."""
    import sqlite3

    from ingest import compare, copies

    count = 400_000
    ids, articles, prints = random_packed_paragraphs(count)
    finder = copies.CopyFinder(spill_dir=str(tmp_path))
    finder.add_packed(ids, articles, prints)
    conn = sqlite3.connect(tmp_path / "kept.db")
    conn.executescript("CREATE TABLE copy_inputs (name TEXT PRIMARY KEY, data BLOB); CREATE TABLE paragraphs (id TEXT);")
    conn.executemany("INSERT INTO paragraphs (rowid, id) VALUES (?, ?)", enumerate(ids, start=1))
    rowids = np.arange(1, count + 1, dtype=np.int64)
    compare.LinkInputs(finder.options, finder.columns()).write(conn, rowids)
    found = []
    peak, _ = traced_peak_above_start(lambda: found.append(compare.LinkInputs.read(conn, str(tmp_path))))
    (inputs, kept_rowids), = found
    assert np.array_equal(kept_rowids, rowids) and set(inputs.columns) >= {"paragraph_id", "exact_key", "units"}
    inputs.close()
    # The rowids read once (1), and a piece of each column as it is copied to its spill file.
    assert peak < 1.6 * rowids.nbytes, peak / rowids.nbytes
