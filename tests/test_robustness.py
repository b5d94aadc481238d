"""Nothing lost, nothing broken: bad files, interrupted builds and incremental updates."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ROOT, SEEDS
from ingest import load, samples
from ingest.build import build


def table_rows(db_path, table):
    conn = sqlite3.connect(db_path)
    try:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
        return sorted(conn.execute(f"SELECT {', '.join(columns)} FROM [{table}]").fetchall(), key=repr)
    finally:
        conn.close()


CONTENT_TABLES = (
    "articles", "paragraphs", "lines", "paragraph_topics", "quotes", "paragraph_copies", "article_paths",
    "meetings", "topics", "meeting_topics", "ingest_errors", "rewrite_signs", "rewrite_names",
)


def assert_same_archive(a, b):
    for table in CONTENT_TABLES:
        assert table_rows(a, table) == table_rows(b, table), table
    # the search tables hold the same keys for every paragraph, and no row for a paragraph gone
    assert table_rows(a, "facet_values") == table_rows(b, "facet_values")
    assert search_facets(a) == search_facets(b)
    # the search indexes answer the same
    for term in ("gazprom", "sanctions", "pipeline"):
        assert search_ids(a, term) == search_ids(b, term), term
    for term in ("putin", "xi", "friend*", "said"):
        assert quote_ids(a, term) == quote_ids(b, term), term
    conn = sqlite3.connect(a)
    try:  # and each index holds exactly what its table holds (rank 1: checked against the table)
        for index in ("paragraphs_fts", "quotes_fts"):
            conn.execute(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()


def search_facets(db_path):
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM paragraph_facets WHERE rowid NOT IN (SELECT rowid FROM paragraphs)").fetchone()[0] == 0
        return sorted(conn.execute(
            "SELECT p.id, f.meeting, f.year, f.city, f.outlet, f.report, f.topics FROM paragraphs p "
            "LEFT JOIN paragraph_facets f ON f.rowid = p.rowid").fetchall())
    finally:
        conn.close()


def quote_ids(db_path, term):
    conn = sqlite3.connect(db_path)
    try:
        return sorted(conn.execute(
            "SELECT q.paragraph_id, q.number FROM quotes_fts JOIN quotes q ON q.rowid = quotes_fts.rowid "
            "WHERE quotes_fts MATCH ?", (term,)))
    finally:
        conn.close()


def search_ids(db_path, term):
    conn = sqlite3.connect(db_path)
    try:
        return sorted(r[0] for r in conn.execute(
            "SELECT p.id FROM paragraphs_fts JOIN paragraphs p ON p.rowid = paragraphs_fts.rowid WHERE paragraphs_fts MATCH ?", (term,)))
    finally:
        conn.close()


def write_corpus(folder, copies):
    """Seeds copied many times, each copy made unique by an extra paragraph."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = sorted(SEEDS.glob("*.txt"))
    for i in range(copies):
        seed = seeds[i % len(seeds)]
        text = seed.read_text(encoding="utf-8")
        extra = f"\n\nThis is copy {i} of the article, kept apart from its siblings by this closing sentence.\n"
        (folder / f"copy-{i:04d}.txt").write_text(text + extra, encoding="utf-8")


class TestBadFiles:
    @pytest.fixture
    def folder(self, tmp_path):
        folder = tmp_path / "in"
        shutil.copytree(SEEDS, folder)
        return folder

    def build(self, folder, tmp_path, **options):
        return build([folder], tmp_path / "archive.db", progress=False, **options)

    def errors(self, summary):
        return dict(summary.errors)

    def test_a_file_whose_name_is_not_utf8_is_an_error_not_a_crash(self, folder, tmp_path):
        """Linux lets a file's name be any bytes; the archive stores names as text. Such a file is
        reported by name (as well as it can be shown) and the other articles are built."""
        from ingest.read import find_sources

        articles = len(find_sources([folder])[0])
        name = os.path.join(os.fsencode(folder), b"caf\xe9.txt")
        try:
            with open(name, "wb") as file:
                file.write(b"Xi and Putin met in Moscow.\n\nThey talked about gas.\n")
        except OSError:
            pytest.skip("this file system does not take names that are not UTF-8")
        summary = self.build(folder, tmp_path)
        assert "not UTF-8" in self.errors(summary)["caf?.txt"]
        assert summary.articles == articles

    def test_invalid_utf8_that_is_not_text_is_refused(self, folder, tmp_path):
        (folder / "garbage.txt").write_bytes(bytes(range(1, 32)) * 50 + b"\xff\xfe\xfd")
        assert "not text" in self.errors(self.build(folder, tmp_path))["garbage.txt"]

    def test_windows_1252_text_is_decoded(self, folder, tmp_path):
        text = "Putin and Xi met in Moscow, the Kremlin said on Tuesday, in talks described as “friendly”."
        (folder / "cp1252.txt").write_bytes(("Headline of a story\n\n" + text + "\n").encode("cp1252"))
        summary = self.build(folder, tmp_path)
        assert "cp1252.txt" not in self.errors(summary)
        conn = sqlite3.connect(tmp_path / "archive.db")
        assert conn.execute("SELECT encoding FROM articles WHERE path = 'cp1252.txt'").fetchone() == ("cp1252",)
        assert conn.execute("SELECT count(*) FROM paragraphs WHERE text = ?", (text,)).fetchone() == (1,)

    def test_a_file_too_large_to_be_an_article_is_refused(self, folder, tmp_path):
        (folder / "huge.txt").write_bytes(b"word " * 11_000_000)
        assert "too large" in self.errors(self.build(folder, tmp_path))["huge.txt"]

    def test_a_file_of_only_boilerplate_is_refused(self, folder, tmp_path):
        (folder / "chrome.txt").write_text("Subscribe to our newsletter\nLeave a Reply\n© 2024 Example News. All rights reserved.\n")
        assert "no article text" in self.errors(self.build(folder, tmp_path))["chrome.txt"]

    def test_identical_files_are_one_article_with_both_paths(self, folder, tmp_path):
        first = sorted(folder.glob("*.txt"))[0]
        shutil.copy(first, folder / "zz-same-bytes.txt")
        summary = self.build(folder, tmp_path)
        assert summary.articles == 5 and not summary.errors
        conn = sqlite3.connect(tmp_path / "archive.db")
        paths = [r[0] for r in conn.execute("SELECT path FROM article_paths ORDER BY path")]
        assert first.name in paths and "zz-same-bytes.txt" in paths

    def test_a_dangling_link_and_a_link_loop_are_reported_and_do_not_hang(self, folder, tmp_path):
        (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
        (folder / "loop-a.txt").symlink_to(folder / "loop-b.txt")
        (folder / "loop-b.txt").symlink_to(folder / "loop-a.txt")
        (folder / "sub").mkdir()
        (folder / "sub" / "back-up").symlink_to(folder)
        errors = self.errors(self.build(folder, tmp_path))
        assert "cannot read" in errors["gone.txt"]
        assert "cannot read" in errors["loop-a.txt"] and "cannot read" in errors["loop-b.txt"]

    def test_an_unreadable_file_is_reported(self, folder, tmp_path):
        locked = folder / "locked.txt"
        locked.write_text("text")
        locked.chmod(0)
        db = tmp_path / "archive.db"
        command = [sys.executable, "-m", "ingest", str(folder), "--db", str(db), "--quiet"]
        if os.geteuid() == 0:
            # Root reads every file through CAP_DAC_OVERRIDE; CI runs as root, so drop that power for the ingest.
            drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
            probe = subprocess.run([*drop, "test", "-r", str(locked)], capture_output=True) if shutil.which("setpriv") else None
            if probe is None or probe.returncode != 1 or probe.stderr:
                pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE (setpriv missing or not permitted)")
            command = [*drop, *command]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        assert "locked.txt" in result.stderr + result.stdout
        assert dict(table_rows(db, "ingest_errors"))["locked.txt"].startswith("cannot read")
        assert table_rows(db, "articles"), "the readable files are still ingested"

    def test_strict_stops_at_the_first_failure_without_touching_the_archive(self, folder, tmp_path):
        self.build(folder, tmp_path)
        before = (tmp_path / "archive.db").read_bytes()
        (folder / "empty.txt").write_bytes(b"")
        with pytest.raises(Exception, match="empty.txt"):
            self.build(folder, tmp_path, strict=True)
        assert (tmp_path / "archive.db").read_bytes() == before

    def test_errors_are_recorded_for_datasette(self, folder, tmp_path):
        (folder / "empty.txt").write_bytes(b"")
        self.build(folder, tmp_path)
        assert table_rows(tmp_path / "archive.db", "ingest_errors") == [("empty.txt", "empty file")]


class TestIncremental:
    def test_adding_changing_and_removing_files_matches_a_full_rebuild(self, tmp_path):
        folder = tmp_path / "in"
        write_corpus(folder, 12)
        db = tmp_path / "archive.db"
        assert build([folder], db, progress=False).mode == "full"

        (folder / "copy-0000.txt").unlink()
        (folder / "copy-0001.txt").write_text((folder / "copy-0001.txt").read_text() + "\nA changed ending for this copy of the article.\n")
        shutil.copy(SEEDS / sorted(p.name for p in SEEDS.glob("*.txt"))[2], folder / "added.txt")
        summary = build([folder], db, progress=False)
        assert summary.mode == "incremental"
        assert summary.processed == 2  # the changed file and the added one, nothing else

        rebuilt = tmp_path / "rebuilt.db"
        build([folder], rebuilt, progress=False, full=True)
        assert_same_archive(db, rebuilt)

    @pytest.mark.parametrize("change", ["add", "add and remove"])
    def test_common_words_kept_after_an_update_are_a_full_rebuilds(self, tmp_path, monkeypatch, change):
        """An update extends the kept common words with their new matches and weights when it only
        added paragraphs, and keeps them afresh when it removed some: either way, what keeping
        them afresh in the updated archive makes."""
        monkeypatch.setattr(samples, "COMMON_MIN", 20)  # common words in a small archive
        monkeypatch.setattr(samples, "WALK_ROWIDS", 17)  # walked a few rowids at a time
        monkeypatch.setattr(samples, "RANK_EVERY", 1)  # the occurrences of every other row kept: the new ones weighed too
        folder = tmp_path / "in"
        write_corpus(folder, 10)
        db = tmp_path / "archive.db"
        build([folder], db, progress=False)
        before = table_rows(db, "common_samples")
        assert len(before) > 20 and all(row[1] >= 20 for row in before)  # (term, matches, ...)
        write_corpus(tmp_path / "more", 13)
        shutil.copy(tmp_path / "more" / "copy-0012.txt", folder / "added.txt")
        if change == "add and remove":
            (folder / "copy-0003.txt").unlink()
        assert build([folder], db, progress=False).mode == "incremental"
        after = table_rows(db, "common_samples"), table_rows(db, "ranked_lengths")
        afresh = shutil.copy(db, tmp_path / "afresh.db")
        conn = sqlite3.connect(afresh)
        samples.build_common_samples(conn)
        conn.commit()
        conn.close()
        assert after == (table_rows(afresh, "common_samples"), table_rows(afresh, "ranked_lengths")) and after[0] != before

    def test_worker_processes_build_and_update_the_archive_one_process_would(self, tmp_path, monkeypatch):
        """Many files go to worker processes (from a fork server; an incremental build reads the
        old archive in a thread): full and incremental builds in workers equal one process's."""
        from ingest import build as build_module

        monkeypatch.setattr(build_module, "PARALLEL_THRESHOLD", 2)  # the seeds' dozen files are "many"
        folder = tmp_path / "in"
        write_corpus(folder, 12)
        db, alone = tmp_path / "archive.db", tmp_path / "alone.db"
        assert build([folder], db, progress=False, workers=2).mode == "full"
        build([folder], alone, progress=False, workers=1)
        assert_same_archive(db, alone)

        (folder / "copy-0003.txt").unlink()
        for name in ("added-1.txt", "added-2.txt", "added-3.txt"):
            text = (folder / "copy-0001.txt").read_text()
            (folder / name).write_text(text + f"\nA closing line that only {name} has, to make it new.\n")
        stages = []
        summary = build([folder], db, progress=False, workers=2, log=stages.append)
        assert summary.mode == "incremental" and summary.processed == 3
        assert any("found while the archive was copied" in stage for stage in stages)
        build([folder], alone, progress=False, workers=1, full=True)
        assert_same_archive(db, alone)

    def test_a_build_with_workers_compares_in_a_process_of_its_own(self, tmp_path, monkeypatch):
        """The compare stage takes a big build's most memory: a build with workers runs it in a
        clean process too, full or incremental (here the building process's compare functions are
        broken, and unused), its stage messages logged as they come (an incremental build's links
        found ahead there), and the archive is one process's."""
        from ingest import build as build_module
        from ingest import compare

        def broken(*args, **kwargs):
            raise RuntimeError("compared in the building process")

        monkeypatch.setattr(build_module, "PARALLEL_THRESHOLD", 2)
        folder = tmp_path / "in"
        write_corpus(folder, 12)
        db, alone = tmp_path / "archive.db", tmp_path / "alone.db"
        with monkeypatch.context() as patched:
            for name in ("link_copies", "score_rewrites", "AheadLinks"):
                patched.setattr(compare, name, broken)
            stages = []
            build([folder], db, progress=False, workers=2, log=stages.append)
            assert [stage.split(" over ")[0] for stage in stages if "copies" in stage or "rewrite" in stage] == [
                "stage: copies", "stage: rewrite scores"]
            (folder / "added.txt").write_text((folder / "copy-0001.txt").read_text() + "\nA closing line of its own.\n")
            stages = []
            assert build([folder], db, progress=False, workers=2, log=stages.append).mode == "incremental"
            assert any("found while the archive was copied" in stage for stage in stages)
        build([folder], alone, progress=False, workers=1, full=True)
        assert_same_archive(db, alone)

    def test_an_error_in_the_compare_process_stops_the_build_with_it(self, tmp_path):
        """What stops the compare stage in its own process (here a paragraph without its print) is
        raised in the building process, as it would be were the stage run there."""
        import sqlite3

        from ingest import build as build_module

        folder = tmp_path / "in"
        write_corpus(folder, 4)
        db = tmp_path / "archive.db"
        build([folder], db, progress=False, workers=1)
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM paragraph_prints WHERE rowid = (SELECT min(rowid) FROM paragraph_prints)")
        writer, comparer = load.ArchiveWriter(db, base=db), build_module.CompareProcess()
        writer.release_memory()
        try:
            with pytest.raises(RuntimeError, match="has no fingerprint"):
                comparer.compare(writer, lambda message: None)
        finally:
            comparer.close()
            writer.abort()

    def test_a_compare_process_that_is_killed_stops_the_build_with_an_error_not_a_hang(self, tmp_path):
        """A compare stage's process killed (say by the system, out of memory) sends nothing more:
        the build gets an error saying so instead of waiting for ever."""
        import multiprocessing

        from ingest import build as build_module

        folder = tmp_path / "in"
        write_corpus(folder, 40)  # a stage long enough to be killed in
        db = tmp_path / "archive.db"
        build([folder], db, progress=False, workers=1)

        def kill_the_compare_process(message):
            for process in multiprocessing.active_children():
                if process.name == "ingest-compare":
                    os.kill(process.pid, signal.SIGKILL)

        writer, comparer = load.ArchiveWriter(db, base=db), build_module.CompareProcess()
        writer.release_memory()
        try:
            with pytest.raises(build_module.CompareError, match="killed, or out of memory"):
                comparer.compare(writer, kill_the_compare_process)
        finally:
            comparer.close()
            writer.abort()

    def test_workers_start_without_what_the_building_process_holds(self, tmp_path, monkeypatch):
        """A worker forked from the build would carry its memory (the lists of files grow with the
        corpus) into every worker: workers come from a clean server process instead, so a taggers
        object set in the building process is not theirs."""
        from ingest import build as build_module

        class Poisoned:
            def __getattr__(self, name):
                raise RuntimeError("a worker used the building process's taggers")

        monkeypatch.setattr(build_module, "PARALLEL_THRESHOLD", 2)
        monkeypatch.setattr(build_module, "_taggers", Poisoned())
        folder = tmp_path / "in"
        write_corpus(folder, 4)
        sources, _ = build_module.read.find_sources([folder])
        results = list(build_module.process_all(sources, workers=2))
        assert [path for path, _ in results] == [source.relpath for source in sources]
        assert all(isinstance(rows, dict) and rows["paragraphs"] for _, rows in results)

    def test_workers_are_sent_a_few_files_ahead_not_every_file_at_once(self, tmp_path):
        """Every file handed to the pool at the start would hold a future and its files for each
        chunk until the build ends (14 MB at a million paragraphs): the building process keeps a
        few chunks a worker in flight, and still gives every result, in order."""
        import tracemalloc

        from ingest import build as build_module

        def peak_while_processing(count):
            # Files that are not there: each worker answers at once, "cannot read".
            sources = [build_module.read.Source(str(tmp_path / f"gone-{n}.txt"), f"gone-{n}.txt") for n in range(count)]
            tracemalloc.start()
            try:
                results = build_module.process_all(sources, workers=2)
                first = next(results)
                start_peak = tracemalloc.get_traced_memory()[1]
                paths = [first[0]] + [path for path, _ in results]
            finally:
                tracemalloc.stop()
            assert paths == [source.relpath for source in sources]
            return start_peak

        few, many = peak_while_processing(400), peak_while_processing(8_000)
        assert many - few < 500_000, (few, many)  # handing over every chunk at once: ~2.3 MB more

    def test_a_script_without_a_main_guard_gets_an_error_not_a_hang(self, tmp_path):
        """Workers import the script that started the build; one that builds at import time
        (no `if __name__ == "__main__":`) makes every worker fail to start. The build stops with
        an error saying so, and the archive already there is untouched."""
        folder = tmp_path / "in"
        write_corpus(folder, 4)
        db = tmp_path / "archive.db"
        build([folder], db, progress=False)
        before = db.read_bytes()
        script = tmp_path / "unguarded.py"
        script.write_text(
            f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom pathlib import Path\n"
            "from ingest import build as b\nb.PARALLEL_THRESHOLD = 2\n"
            f"b.build([Path({str(folder)!r})], Path({str(db)!r}), progress=False, full=True, workers=2)\n"
        )
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        assert done.returncode != 0
        assert "WorkerError" in done.stderr and "__main__" in done.stderr
        assert db.read_bytes() == before

    def test_removing_files_alone_matches_a_full_rebuild(self, tmp_path):
        """Counts kept per meeting, topic and report change with articles that go, not only with
        articles that come."""
        folder = tmp_path / "in"
        write_corpus(folder, 12)
        db = tmp_path / "archive.db"
        build([folder], db, progress=False)
        for name in ("copy-0002.txt", "copy-0003.txt", "copy-0004.txt"):
            (folder / name).unlink()
        summary = build([folder], db, progress=False)
        assert summary.mode == "incremental" and summary.processed == 0

        rebuilt = tmp_path / "rebuilt.db"
        build([folder], rebuilt, progress=False, full=True)
        assert_same_archive(db, rebuilt)

    def test_articles_that_change_how_a_name_is_usually_spelled_rescore_the_old_ones(self, tmp_path):
        """Rewrite scores are kept for old articles only while the archive's usual spellings stay
        the same; new articles that make another spelling the usual one rescore every article."""
        def article(name, spokesman):
            return (
                f"Gas talks in Beijing, {name}\n\n"
                f"Gazprom spokesman {spokesman} met Chinese energy officials in Beijing on Tuesday, "
                "the company said, ahead of a visit by President Vladimir Putin.\n\n"
                f"{spokesman} said the two sides had agreed on the price of gas for the new pipeline, "
                f"and {spokesman} thanked his hosts for talks held in {name}.\n"
            )

        folder = tmp_path / "in"
        folder.mkdir()
        (folder / "old.txt").write_text(article("the old article", "Sergei Kupriyanov"), encoding="utf-8")
        shutil.copy(SEEDS / sorted(p.name for p in SEEDS.glob("*.txt"))[0], folder / "unrelated.txt")
        db = tmp_path / "archive.db"
        build([folder], db, progress=False)
        conn = sqlite3.connect(db)
        old_evidence = conn.execute(
            "SELECT a.rewrite_evidence FROM articles a JOIN article_paths p ON p.article_id = a.id WHERE p.path = 'old.txt'"
        ).fetchone()[0]
        # Note which articles the next build scores again (the trigger travels with the archive).
        conn.executescript(
            "CREATE TABLE rescored (id); CREATE TRIGGER noted AFTER UPDATE OF rewrite_score ON articles "
            "BEGIN INSERT INTO rescored VALUES (new.id); END;"
        )
        conn.close()
        for i in range(4):
            (folder / f"new-{i}.txt").write_text(article(f"round {i}", "Sergei Kupriyanow"), encoding="utf-8")
        assert build([folder], db, progress=False).processed == 4
        # an article that uses none of the names whose usual spelling changed keeps its score untouched
        rescored = {row[0] for row in sqlite3.connect(db).execute(
            "SELECT p.path FROM rescored r JOIN article_paths p ON p.article_id = r.id")}
        assert "old.txt" in rescored and "unrelated.txt" not in rescored

        rebuilt = tmp_path / "rebuilt.db"
        build([folder], rebuilt, progress=False, full=True)
        assert_same_archive(db, rebuilt)
        # the old article was scored again against the new usual spelling
        evidence = sqlite3.connect(db).execute(
            "SELECT a.rewrite_evidence FROM articles a JOIN article_paths p ON p.article_id = a.id WHERE p.path = 'old.txt'"
        ).fetchone()[0]
        assert "Kupriyanov" not in old_evidence and "Kupriyanov" in evidence

    def test_rewrite_scores_written_a_few_articles_at_a_time_are_those_written_at_once(self, tmp_path, monkeypatch):
        """The rewrite stage scores and writes its articles in batches (all 50,000 of a million
        paragraphs held ~130 MB of rows): a batch of two must give every article and paragraph
        the scores one batch gives."""
        from ingest import compare

        folder = tmp_path / "in"
        write_corpus(folder, 6)
        at_once, in_twos = tmp_path / "at-once.db", tmp_path / "in-twos.db"
        build([folder], at_once, progress=False)
        monkeypatch.setattr(compare, "SCORE_BATCH", 2)
        build([folder], in_twos, progress=False)
        assert_same_archive(at_once, in_twos)
        conn = sqlite3.connect(in_twos)
        assert conn.execute("SELECT count(*) FROM articles WHERE rewrite_level IS NULL").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM paragraphs WHERE rewrite_score > 0").fetchone()[0] > 0

    def test_nothing_changed_processes_nothing(self, tmp_path):
        db = tmp_path / "archive.db"
        build([SEEDS], db, progress=False)
        assert build([SEEDS], db, progress=False).processed == 0

    def test_nothing_changed_leaves_the_archive_file_as_it_was(self, tmp_path):
        """With nothing to add, remove or record, the archive is neither copied nor replaced: a
        scheduled rebuild of a million paragraphs costs a walk of the folders, not a rewrite."""
        folder = tmp_path / "in"
        self.aged_copy_of_seeds(folder)
        db = tmp_path / "archive.db"
        first = build([folder], db, progress=False)
        before = os.stat(db)
        summary = build([folder], db, progress=False)
        assert summary.mode == "unchanged" and summary.processed == 0
        assert (summary.articles, summary.paragraphs, summary.other_lines) == (first.articles, first.paragraphs, first.other_lines)
        after = os.stat(db)
        assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)

    def test_a_renamed_file_or_a_new_unreadable_one_still_updates_the_archive(self, tmp_path):
        """No article changes, but what the archive records does: the paths and the errors."""
        folder = tmp_path / "in"
        self.aged_copy_of_seeds(folder)
        db = tmp_path / "archive.db"
        build([folder], db, progress=False)
        first = sorted(p.name for p in folder.iterdir())[0]
        (folder / first).rename(folder / "renamed.txt")
        summary = build([folder], db, progress=False)
        assert summary.mode == "incremental" and summary.processed == 0
        paths = [row[0] for row in sqlite3.connect(db).execute("SELECT path FROM article_paths")]
        assert "renamed.txt" in paths and first not in paths
        (folder / "empty.txt").write_text("")
        summary = build([folder], db, progress=False)
        assert summary.mode == "incremental" and summary.errors == [("empty.txt", "empty file")]
        assert table_rows(db, "ingest_errors") == [("empty.txt", "empty file")]

    @staticmethod
    def aged_copy_of_seeds(folder):
        """The seeds, copied with modification times an hour old, and not written in the last
        seconds (the build hashes such files every time)."""
        from ingest import build as build_module

        shutil.copytree(SEEDS, folder)
        an_hour_ago = time.time() - 3600
        for path in folder.iterdir():
            os.utime(path, (an_hour_ago, an_hour_ago))
        time.sleep(build_module.RECENT_NS / 1e9 + 0.1)

    def test_files_unchanged_since_the_last_build_are_not_read_again(self, tmp_path, monkeypatch):
        from ingest import read

        folder, db = tmp_path / "in", tmp_path / "archive.db"
        self.aged_copy_of_seeds(folder)
        (folder / "fresh.txt").write_text((SEEDS / sorted(p.name for p in SEEDS.glob("*.txt"))[0]).read_text() + "\nFresh.\n")
        build([folder], db, progress=False)
        hashed = []
        real_identify = read.identify
        monkeypatch.setattr(read, "identify", lambda source: hashed.append(source.relpath) or real_identify(source))
        assert build([folder], db, progress=False).processed == 0
        # only the file written seconds ago, whose times could hide a change, is hashed again
        assert hashed == ["fresh.txt"]

    def test_a_file_rewritten_with_its_old_size_and_modification_time_is_read_again(self, tmp_path):
        folder, db = tmp_path / "in", tmp_path / "archive.db"
        self.aged_copy_of_seeds(folder)
        build([folder], db, progress=False)
        target = folder / sorted(p.name for p in folder.glob("*.txt"))[0]
        before = os.stat(target)
        text = target.read_text(encoding="utf-8")
        changed = text.replace("Putin", "Pútin", 1).replace("the ", "the", 1)  # one byte more, one less
        assert changed != text and len(changed.encode()) == len(text.encode())
        target.write_text(changed, encoding="utf-8")
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert os.stat(target).st_mtime_ns == before.st_mtime_ns and os.stat(target).st_size == before.st_size
        summary = build([folder], db, progress=False)
        assert summary.mode == "incremental" and summary.processed == 1
        assert "Pútin" in " ".join(r[0] for r in sqlite3.connect(db).execute("SELECT text FROM lines"))

    @pytest.mark.parametrize("name", ["news?2024.db", "desk#2.db", "with space%20.db"])
    def test_an_archive_named_with_url_characters_is_updated_in_place(self, tmp_path, name):
        """The archive is opened read-only by a URI: its name must be quoted into it, or "?" and
        "#" would cut it short and another file would be opened (and created)."""
        folder = tmp_path / "in"
        shutil.copytree(SEEDS, folder)
        db = tmp_path / name
        build([folder], db, progress=False)
        shutil.copy(folder / sorted(p.name for p in SEEDS.glob("*.txt"))[0], folder / "again.txt")
        (folder / "again.txt").write_text((folder / "again.txt").read_text() + "\nA new last paragraph.\n")
        summary = build([folder], db, progress=False)
        assert summary.mode == "incremental" and summary.processed == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", name])

    def test_full_forces_a_rebuild(self, tmp_path):
        db = tmp_path / "archive.db"
        build([SEEDS], db, progress=False)
        summary = build([SEEDS], db, progress=False, full=True)
        assert summary.mode == "full" and summary.processed == 5

    def test_changed_rules_retag_everything(self, tmp_path):
        db = tmp_path / "archive.db"
        build([SEEDS], db, progress=False)
        conn = sqlite3.connect(db)
        conn.execute("UPDATE build_info SET value = 'rules-of-another-day' WHERE key = 'fingerprint'")
        conn.commit()
        conn.close()
        assert build([SEEDS], db, progress=False).processed == 5


@pytest.mark.parametrize("stage", [
    "stage: process",         # while articles are parsed and rows written
    "stage: index",           # while indexes and counts are built
    "stage: full-text index", # while the FTS index is built
])
def test_a_build_killed_at_any_stage_leaves_the_previous_archive_intact(tmp_path, stage):
    folder = tmp_path / "in"
    write_corpus(folder, 400)
    db = tmp_path / "archive.db"
    shutil.copy(sorted(SEEDS.glob("*.txt"))[0], tmp_path / "one.txt")
    build([tmp_path / "one.txt"], db, progress=False)
    before = db.read_bytes()

    process = subprocess.Popen(
        [sys.executable, "-m", "ingest", str(folder), "--db", str(db), "--full", "--verbose", "--quiet"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    for line in process.stderr:
        if line.startswith(stage) or time.monotonic() > deadline:
            break
    if stage == "stage: process":
        time.sleep(0.5)  # well inside the parsing of 400 files
    os.killpg(process.pid, signal.SIGKILL)  # the build and its worker processes, mid-stride
    process.wait()

    assert db.read_bytes() == before
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT count(*) FROM articles").fetchone() == (1,)
    conn.close()
    # the next build cleans up what the killed one left behind
    build([tmp_path / "one.txt"], db, progress=False, full=True)
    assert [p.name for p in tmp_path.iterdir() if ".building-" in p.name] == []


def test_shards_merge_into_the_same_archive_as_one_build(tmp_path):
    seeds = sorted(SEEDS.glob("*.txt"))
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, files in ((first, seeds[:3]), (second, seeds[2:])):  # one article in both shards
        folder.mkdir()
        for f in files:
            shutil.copy(f, folder / f.name)
    build([first], tmp_path / "first.db", progress=False)
    build([second], tmp_path / "second.db", progress=False)
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "merge", tmp_path / "first.db", tmp_path / "second.db", "--db", tmp_path / "merged.db"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    build([first, second], tmp_path / "whole.db", progress=False)
    assert_same_archive(tmp_path / "merged.db", tmp_path / "whole.db")
    for table in ("meetings", "topics", "meeting_topics"):
        assert table_rows(tmp_path / "merged.db", table) == table_rows(tmp_path / "whole.db", table)


def test_shards_built_by_other_rules_are_refused(tmp_path):
    build([SEEDS], tmp_path / "a.db", progress=False)
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("UPDATE build_info SET value = 'older' WHERE key = 'fingerprint'")
    conn.commit()
    conn.close()
    result = subprocess.run([sys.executable, "-m", "ingest", "merge", tmp_path / "a.db", "--db", tmp_path / "m.db"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert "built by other code or rules" in result.stderr
    assert not (tmp_path / "m.db").exists()
