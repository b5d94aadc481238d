"""Where the per-article analysis spends its CPU, step by step, and a digest of what each step made.

    python bench/analysis_bench.py bench/corpus/100k --files 3000

A full build's per-article stage is this analysis, in worker processes: it is most of a
build's time. Each file is read and analysed in one process, exactly as a worker does it
(`ingest.build.process`, in the same order, so the memos of repeated paragraphs behave as in
a build), with each step timed on its own: read, segment, the meeting, the topics, the
meeting mentions, the quotes, the rewrite signs, the outlet, and the rows (fingerprints,
MinHash sketches and JSON included). CPU time, not wall time, so that other work on the
machine disturbs the figures less.

Each step's output is hashed: a change meant only to make a step faster must leave every
digest as it was (`--profile STEP` shows where one step's time goes).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, load_average, machine  # noqa: E402

sys.path.insert(0, str(ROOT))
from ingest import build, read, segment  # noqa: E402

CHECKED_FILES = 20  # files whose rows are compared with build.process's
STEPS = ("read", "segment", "meeting", "topics", "mentions", "quotes", "rewrites", "outlet", "rows")


class Steps:
    """CPU seconds and a running digest of each step's output."""

    def __init__(self, profile: str | None):
        self.seconds = dict.fromkeys(STEPS, 0.0)
        self.digests = {step: hashlib.sha256() for step in STEPS}
        self.profile = profile
        self.profiler = cProfile.Profile() if profile else None

    def run(self, step: str, work):
        """Run one step's work, adding its CPU time and its output's repr to the step's figures."""
        profiling = self.profiler and step == self.profile
        if profiling:
            self.profiler.enable()
        started = time.process_time()
        out = work()
        self.seconds[step] += time.process_time() - started
        if profiling:
            self.profiler.disable()
        self.digests[step].update(repr(out).encode())
        return out


def analyse(source: read.Source, taggers: build.Taggers, steps: Steps) -> tuple[int, dict | None]:
    """Analyse one file as `build.process` does, step by step; return how many paragraphs it has
    and the rows it makes."""
    document = steps.run("read", lambda: read.read_document(source))
    segmented = steps.run("segment", lambda: segment.segment(document.text, hints=document.hints))
    paragraphs = [line.text for line in segmented.paragraphs]
    if not paragraphs:
        return 0, None
    extra = [line.text for line in segmented.lines if line.kind in ("caption", "subhead")]
    title = None if segmented.title_derived else segmented.title
    published = document.meta.get("published")
    decision = steps.run("meeting", lambda: taggers.meeting_tagger.infer(title, paragraphs, published=published, extra=extra))
    topic_hits = steps.run("topics", lambda: taggers.topic_tagger.tag_article(paragraphs))
    mentions = steps.run("mentions", lambda: [taggers.meeting_tagger.mentions(p, decision) for p in paragraphs])
    quoted = steps.run("quotes", lambda: taggers.quote_finder.find(paragraphs))
    signs = steps.run("rewrites", lambda: taggers.rewrite_scorer.signs(paragraphs))
    outlet = steps.run("outlet", lambda: build.find_outlet(document, segmented))
    article = build.Article(document, segmented, decision, topic_hits, mentions, quoted, signs, *outlet)
    rows = steps.run("rows", lambda: build.article_rows(article, taggers.catalogue))
    return len(paragraphs), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a folder of article files (e.g. bench/corpus/100k)")
    parser.add_argument("--files", type=int, default=3000, help="analyse the first FILES files (default 3000)")
    parser.add_argument("--profile", choices=STEPS, help="print a profile of this step (slower: the figures grow)")
    args = parser.parse_args()

    sources, _ = read.find_sources([args.corpus])
    sources = sources[: args.files]
    taggers = build.Taggers.load()
    steps = Steps(args.profile)
    print(machine())
    print(f"{load_average()}; {len(sources)} files of {args.corpus}")
    paragraphs = 0
    for number, source in enumerate(sources):
        count, rows = analyse(source, taggers, steps)
        paragraphs += count
        # The steps are build.analyse's, spelled out to time each: the first files' rows must be
        # the build's own, or these figures measure something else.
        if number < CHECKED_FILES and rows is not None and rows != build.process(source)[1]:
            raise SystemExit(f"{source.relpath}: the steps here no longer make the build's rows; update analyse()")
    total = sum(steps.seconds.values())
    print(f"{paragraphs} paragraphs, CPU {total:.2f} s = {total / max(1, paragraphs) * 1000:.3f} ms a paragraph")
    for step in STEPS:
        seconds = steps.seconds[step]
        print(f"  {step:9s} {seconds:7.2f} s {seconds / max(total, 1e-9):6.1%}  digest {steps.digests[step].hexdigest()[:16]}")
    if steps.profiler:
        pstats.Stats(steps.profiler).sort_stats("tottime").print_stats(40)


if __name__ == "__main__":
    main()
