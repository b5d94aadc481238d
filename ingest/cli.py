"""The command line: `python -m ingest PATH... --db archive.db` and `python -m ingest explain FILE`."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import click

from . import build as pipeline
from . import read


# A build still running after this many seconds names each stage as it starts: after the
# progress bar, a million paragraphs take another minute or two to index, compare and load.
STAGES_AFTER_SECONDS = 2.0


def stage_reporter(verbose: bool, quiet: bool):
    """Where the build's stage messages go, with the time since it started: all of them with
    --verbose; by default those of a build that has run a while (a short one stays quiet);
    none with --quiet."""
    started = time.perf_counter()

    def report(message: str) -> None:
        elapsed = time.perf_counter() - started
        if verbose or (not quiet and elapsed >= STAGES_AFTER_SECONDS):
            click.echo(f"{message}, at {elapsed:.1f} s", err=True)

    return report


class DefaultGroup(click.Group):
    """A command group that runs `build` when the first argument is not a command's name."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Build and inspect the Xi–Putin summit archive.

    \b
    python -m ingest seeds/ --db archive.db     build the archive from files and folders
    python -m ingest explain seeds/003_x.txt    show how one article is segmented and tagged
    python -m ingest merge a.db b.db --db all.db  merge archives built separately

    Run `python -m ingest build --help` for every option of the build.
    """


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--db", "db_path", default="archive.db", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
    help="The SQLite file to build. It is written to a temporary file beside it and replaced only when complete.",
)
@click.option("--strict", is_flag=True, help="Stop at the first file that cannot be ingested, leaving the database untouched.")
@click.option(
    "--full", is_flag=True,
    help="Rebuild every article. Without it, an archive built by the same code and rules is updated: "
    "only new or changed files are processed and articles whose files are gone are removed.",
)
@click.option("--workers", type=click.IntRange(1, 64), help="Processes that segment and tag articles (default: one per core).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line; errors are still reported.")
@click.option("--verbose", "-v", is_flag=True,
              help="Name every stage of the build as it starts (by default only once a build has run a few seconds).")
def build(paths, db_path, strict, full, workers, quiet, verbose):
    """Build the archive from article files (.txt) and folders of them.

    Every article is split into lines; each line gets a kind (title, paragraph,
    caption, credit, subhead, boilerplate); each article is tagged with the
    meeting it covers and each paragraph with its topics; everything is loaded
    into DB with full-text search on the paragraphs.

    A file that cannot be ingested is reported on stderr, recorded in the
    ingest_errors table, and the exit code is 1; the other files are still
    ingested.
    """
    try:
        summary = pipeline.build(
            list(paths), db_path, progress=not quiet, strict=strict, full=full, workers=workers,
            log=stage_reporter(verbose, quiet),
        )
    except (read.ReadError, pipeline.WorkerError) as error:
        click.echo(f"error: {error} (nothing was written; {db_path} is unchanged)", err=True)
        sys.exit(1)
    for path, error in summary.errors:
        click.echo(f"error: {path}: {error}", err=True)
    if not quiet:
        click.echo(f"{db_path}: {summary.line()}", err=True)
    sys.exit(1 if summary.errors else 0)


@cli.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db", "db_path", default="archive.db", show_default=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The merged archive to write (replaced only when complete).")
@click.option("--quiet", "-q", is_flag=True, help="No summary line.")
def merge(shards, db_path, quiet):
    """Merge archives built separately into one.

    Build one shard per input folder, on as many machines as you like
    (`python -m ingest folder-a --db a.db`), then merge them: the result holds
    the same rows and search index as one build over every folder. The shards
    must come from the same version of the code and rules.
    """
    try:
        summary = pipeline.merge(list(shards), db_path)
    except read.ReadError as error:
        click.echo(f"error: {error} (nothing was written; {db_path} is unchanged)", err=True)
        sys.exit(1)
    if not quiet:
        click.echo(f"{db_path}: {summary.line()}", err=True)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--width", default=100, show_default=True, help="Wrap paragraph text at this many characters.")
def explain(file, width):
    """Show how one article is read: the kind of every line, the candidate meetings
    with their scores and evidence, and each paragraph's topics and mentions."""
    taggers = pipeline.Taggers.load()
    try:
        document = read.read_document(read.Source(file, file.name))
    except read.ReadError as error:
        raise click.ClickException(f"{file}: {error}")
    article = pipeline.analyse(document, taggers)
    segmented, decision = article.segmented, article.decision
    echo = click.echo

    echo(f"{file}  (id {document.article_id}, {document.encoding})")
    echo(f"Title: {segmented.title}" + ("  [derived from the lead]" if segmented.title_derived else ""))
    echo("")
    echo("Lines")
    for line in segmented.lines:
        rule = f"  [{line.rule}]" if line.rule else ""
        echo(f"  {line.line_no:4}  {line.kind:<11} {textwrap.shorten(line.text, width - 20)}{rule}")
    echo("")
    echo(f"Meeting: {decision.meeting_id or 'unknown'}  (confidence {decision.confidence:.2f})")
    for candidate in decision.candidates:
        echo(f"  {candidate.meeting_id:<22} score {candidate.score:6.2f}")
        for item in candidate.evidence:
            echo(f"      {describe_evidence(item)}")
    echo("")
    echo("Paragraphs")
    spun, markers = taggers.topic_tagger.is_spun([l.text for l in segmented.paragraphs])
    if spun:
        echo(f"  (spun copy: synonym map applied for tagging; markers: {', '.join(markers)})")
    for position, (line, mentioned) in enumerate(zip(segmented.paragraphs, article.mentions), start=1):
        echo(f"  [{position}] line {line.line_no}: {textwrap.shorten(line.text, width - 4)}")
        for hit in taggers.topic_tagger.explain(line.text, spun=spun):
            if hit.score > 0:
                echo(f"        {hit.slug:<18} {hit.score:5.2f}  {', '.join(hit.evidence)}")
        tagged = [hit.slug for hit in article.topic_hits[position - 1]]
        echo(f"        topics: {', '.join(tagged) or '(none)'}")
        if mentioned:
            echo(f"        recalls: {', '.join(mentioned)}")


def describe_evidence(item: dict) -> str:
    """One line for one piece of meeting evidence, whatever fields it carries."""
    head = item.get("cue") or item.get("kind") or "evidence"
    rest = ", ".join(f"{k}={v}" for k, v in item.items() if k not in ("cue",))
    return f"{head}: {rest}" if rest else str(head)
