"""Full ingest against the floor, side by side: seconds, paragraphs a second, the ratio, peak memory.

    python bench/ingest_bench.py bench/corpus/100k --runs 3

Each run builds the archive from scratch with the real command line,
`python -m ingest CORPUS --db bench/out/NAME/archive.db --full --quiet`, and then
loads the floor (bench/floor.py: the same body paragraphs, plain sqlite-utils
`insert_all` plus `enable_fts`, porter) in its own process; runs alternate so
that both see the same machine. The best run of each is compared.

Memory is the largest single process (the child's ``ru_maxrss`` from ``wait4``,
which covers it and the processes it waited for, or the largest high-water mark
(``VmHWM``) of the processes of its tree, read every 0.2 s, whichever is more: the
workers and the compare process are forked by a server process the child does
not wait for, and their resident size sampled every 0.2 s missed their peaks by up
to 8 MB) and the peak of the whole process tree's
summed resident memory, sampled at the same times, with the peak of its summed
proportional set (PSS: a page shared by n processes counts 1/n in each), which is
the memory the tree takes, as a sum of resident sets counts shared pages again for
each process that maps them.

Then, unless --no-incremental, one new article is added to the archive just
built (`python -m ingest CORPUS NEW_FOLDER --db …`) and timed against the full build.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import OUT, PYTHON, ROOT, load_average, machine  # noqa: E402
import corpus as corpus_module  # noqa: E402

from ingest.load import open_read_only  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Run:
    """One measured child process."""

    seconds: float
    returncode: int
    max_rss_mb: float  # the largest single process: ru_maxrss or sampled, whichever is more
    tree_rss_mb: float  # the largest sum over the process and its descendants, sampled
    tree_pss_mb: float  # the same for proportional sets
    stdout: str
    stderr: str


def descendants(pid: int) -> list[int]:
    """A process and every process below it, from /proc (Linux)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as children:
                queue.extend(int(child) for child in children.read().split())
        except OSError:
            pass
    return found


def tree_memory(pid: int) -> tuple[int, int, int]:
    """Bytes of a process tree now: resident in all, the most any of its processes has had
    resident so far (its high-water mark, which a sample every 0.2 s could miss), and its
    proportional set in all."""
    total = largest = proportional = 0
    for member in descendants(pid):
        try:
            with open(f"/proc/{member}/statm") as statm:
                resident = int(statm.read().split()[1]) * PAGE
            with open(f"/proc/{member}/status") as status:
                high_water = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
            with open(f"/proc/{member}/smaps_rollup") as rollup:
                proportional += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
        total += resident
        largest = max(largest, resident, high_water)
    return total, largest, proportional


def measure(command: list[str], timeout: float) -> Run:
    """Run a command to completion (killed after timeout seconds), timing it and watching its memory."""
    stdout_path, stderr_path = OUT / "child.stdout", OUT / "child.stderr"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=ROOT)
        peak = largest = peak_pss = 0
        done = threading.Event()

        def sample():
            nonlocal peak, largest, peak_pss
            while not done.wait(0.2):
                total, one, proportional = tree_memory(process.pid)
                peak, largest, peak_pss = max(peak, total), max(largest, one), max(peak_pss, proportional)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        # wait4 rather than Popen.wait: it returns this child's own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        timer.cancel()
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        seconds, process.returncode, max(usage.ru_maxrss * 1024, largest) / 2**20, peak / 2**20, peak_pss / 2**20,
        stdout_path.read_text(errors="replace"), stderr_path.read_text(errors="replace"),
    )


def paragraph_count(db_path: Path) -> int:
    conn = open_read_only(db_path)
    try:
        return conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]
    finally:
        conn.close()


def new_article(folder: Path) -> Path:
    """A folder holding one article that is not in any generated corpus (another seed)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    generator = corpus_module.Generator(corpus_module.load_seeds(corpus_module.SEEDS), seed=999_999)
    path = folder / "new-article.txt"
    path.write_text(generator.article(20).render(), encoding="utf-8")
    return folder


def report(name: str, runs: list[Run], paragraphs: int) -> Run:
    best = min(runs, key=lambda r: r.seconds)
    times = ", ".join(f"{r.seconds:.2f}" for r in runs)
    print(
        f"{name:<7} best {best.seconds:7.2f}s  {paragraphs / best.seconds:9,.0f} paragraphs/s  "
        f"peak RSS {best.max_rss_mb:6.0f} MB (largest process), {max(r.tree_rss_mb for r in runs):6.0f} MB (process tree; "
        f"PSS {max(r.tree_pss_mb for r in runs):.0f} MB)  "
        f"runs: {times}"
    )
    return best


def settle() -> None:
    """Wait for earlier runs' writes to reach the disk (sync), so that no run pays for the last one's:
    a full build leaves gigabytes on their way to the disk, which slowed the next run's own writes."""
    if hasattr(os, "sync"):
        os.sync()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="A folder written by bench/corpus.py.")
    parser.add_argument("--runs", type=int, default=3, help="Runs of each; the best is reported (default 3).")
    parser.add_argument("--workers", type=int, help="Passed to `python -m ingest --workers` (default: its own).")
    parser.add_argument("--timeout", type=float, default=1800, help="Kill a run after this many seconds (default 1800).")
    parser.add_argument("--ingest", default=f"{PYTHON} -m ingest", metavar="COMMAND",
                        help="The command that builds an archive (default: this Python's `-m ingest`).")
    parser.add_argument("--no-incremental", action="store_true", help="Skip adding one article to the built archive.")
    parser.add_argument("--no-floor", action="store_true", help="Measure the ingest alone.")
    parser.add_argument("--no-ingest", action="store_true", help="Measure the floor alone.")
    args = parser.parse_args(argv)

    corpus = args.corpus.resolve()
    manifest = json.loads((corpus / ".manifest.json").read_text())
    name = corpus.name
    OUT.mkdir(parents=True, exist_ok=True)
    # archive.db, because Datasette names a database after its file and the metadata describes "archive".
    ingest_db, floor_db = OUT / name / "archive.db", OUT / name / "floor.db"
    ingest_db.parent.mkdir(parents=True, exist_ok=True)
    ingest = shlex.split(args.ingest)
    ingest_command = [*ingest, str(corpus), "--db", str(ingest_db), "--full", "--quiet"]
    if args.workers:
        ingest_command += ["--workers", str(args.workers)]
    floor_command = [PYTHON, str(ROOT / "bench" / "floor.py"), str(corpus), "--db", str(floor_db), "--runs", "1", "--json"]

    print(machine())
    print(f"{load_average()}; corpus {corpus}: {manifest['files']} files, {manifest['paragraphs']} body paragraphs")
    print("ingest: " + " ".join(ingest_command[1:]))
    print("floor:  " + " ".join(floor_command[1:]))
    ingest_runs, floor_runs, floor_internal = [], [], []
    for run in range(1, args.runs + 1):
        if not args.no_ingest:
            ingest_db.unlink(missing_ok=True)
            settle()
            result = measure(ingest_command, args.timeout)
            if result.returncode != 0:
                print(f"ingest run {run} failed (exit {result.returncode}):\n{result.stderr[-3000:]}", file=sys.stderr)
                return 1
            ingest_runs.append(result)
            print(f"  ingest run {run}: {result.seconds:.2f}s, peak RSS {result.max_rss_mb:.0f} MB ({load_average()})", flush=True)
        if not args.no_floor:
            settle()
            result = measure(floor_command, args.timeout)
            if result.returncode != 0:
                print(f"floor run {run} failed (exit {result.returncode}):\n{result.stderr[-3000:]}", file=sys.stderr)
                return 1
            floor_runs.append(result)
            floor_internal.append(json.loads(result.stdout.splitlines()[-1])["seconds"])
            print(f"  floor run {run}: {result.seconds:.2f}s ({floor_internal[-1]:.2f}s loading, the rest starting "
                  "Python and reading the paragraphs)", flush=True)

    print()
    paragraphs = manifest["paragraphs"]
    if ingest_runs:
        stored = paragraph_count(ingest_db)
        print(f"ingest stored {stored} paragraphs of the {paragraphs} generated ({stored / paragraphs:.2%})")
        best_ingest = report("ingest", ingest_runs, stored)
    if floor_runs:
        best_floor = report("floor", floor_runs, paragraphs)
        best_load = min(floor_internal)
        print(f"        floor database work alone (clock inside the process): {best_load:.2f}s, {paragraphs / best_load:,.0f} paragraphs/s")
    if ingest_runs and floor_runs:
        print(f"ratio ingest/floor: {best_ingest.seconds / best_floor.seconds:.2f}x (process wall clock), "
              f"{best_ingest.seconds / best_load:.2f}x (against the floor's database work alone); goal at 1M: <= 1.5x")

    if ingest_runs and not args.no_incremental:
        extra = new_article(OUT / "new-article")
        command = [*ingest, str(corpus), str(extra), "--db", str(ingest_db)]
        settle()
        result = measure(command, args.timeout)
        if result.returncode != 0:
            print(f"incremental run failed (exit {result.returncode}):\n{result.stderr[-3000:]}", file=sys.stderr)
            return 1
        # The summary line says whether the build really was incremental (a rules file edited meanwhile makes it full).
        summary = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        print(f"incremental: adding one article took {result.seconds:.2f}s, "
              f"{result.seconds / best_ingest.seconds:.1%} of the full build (goal at 1M: <= 5%)\n  {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
