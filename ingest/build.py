"""Build the archive: read → segment → tag meetings → tag topics → load, top to bottom."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from . import load, meetings, read, segment, topics
from .load import to_json

# Show a progress bar once there are this many files.
PROGRESS_THRESHOLD = 20


@dataclass
class Summary:
    """What a build did, for the one-line report at the end."""

    articles: int = 0
    paragraphs: int = 0
    other_lines: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.articles} articles, {self.paragraphs} paragraphs, {self.other_lines} other lines, "
            f"{len(self.errors)} errors in {self.seconds:.2f}s"
        )


@dataclass
class Taggers:
    """The curated knowledge, loaded and compiled once per build."""

    catalogue: meetings.Catalogue
    meeting_tagger: meetings.MeetingTagger
    taxonomy: topics.Taxonomy
    topic_tagger: topics.TopicTagger

    @classmethod
    def load(cls) -> "Taggers":
        catalogue = meetings.load_catalogue()
        taxonomy = topics.load_taxonomy()
        return cls(catalogue, meetings.MeetingTagger(catalogue), taxonomy, topics.TopicTagger(taxonomy))


@dataclass
class Article:
    """One article, segmented and tagged: everything the database stores about it."""

    document: read.Document
    segmented: segment.Segmented
    decision: meetings.MeetingDecision
    topic_hits: list[list[topics.TopicHit]]
    mentions: list[list[str]]


def analyse(document: read.Document, taggers: Taggers) -> Article:
    """Segment a document and tag it with its meeting and each paragraph with its topics and mentions."""
    segmented = segment.segment(document.text)
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
    return Article(document, segmented, decision, topic_hits, mentions)


def build(paths: list[Path], db_path: Path, progress: bool = True, strict: bool = False) -> Summary:
    """Build the archive at db_path from the article files under paths; return what was done.

    A file that cannot be read is reported and recorded in ``ingest_errors``; with
    ``strict`` the first such file aborts the build and the old archive stays.
    """
    started = time.perf_counter()
    summary = Summary()
    taggers = Taggers.load()
    sources, problems = read.find_sources(paths)
    summary.errors.extend(problems)
    if strict and problems:
        raise read.ReadError(f"{problems[0][0]}: {problems[0][1]}")

    writer = load.ArchiveWriter(db_path)
    try:
        for row in meetings.meeting_rows(taggers.catalogue):
            writer.add("meetings", row)
        for row in topics.topic_rows(taggers.taxonomy):
            writer.add("topics", row)
        writer.flush()

        stored: set[str] = set()
        bar = tqdm(sources, unit="file", disable=not progress or len(sources) < PROGRESS_THRESHOLD)
        for source in bar:
            try:
                document = read.read_document(source)
            except read.ReadError as error:
                if strict:
                    raise read.ReadError(f"{source.relpath}: {error}") from error
                summary.errors.append((source.relpath, str(error)))
                continue
            writer.add("article_paths", {"article_id": document.article_id, "path": source.relpath})
            if document.article_id in stored:
                continue  # the same bytes under another name: one article, both paths recorded
            stored.add(document.article_id)
            article = analyse(document, taggers)
            store(writer, article, taggers.catalogue)
            summary.articles += 1
            summary.paragraphs += len(article.segmented.paragraphs)
            summary.other_lines += len(article.segmented.lines) - len(article.segmented.paragraphs)
        for path, error in summary.errors:
            writer.add("ingest_errors", {"path": path, "error": error})
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    summary.seconds = time.perf_counter() - started
    return summary


def store(writer: load.ArchiveWriter, article: Article, catalogue: meetings.Catalogue) -> None:
    """Queue the rows of one article: the article, its paragraphs, its lines and its topic tags."""
    document, segmented, decision = article.document, article.segmented, article.decision
    article_id = document.article_id
    meeting = catalogue.by_id.get(decision.meeting_id) if decision.meeting_id else None
    meeting_fields = {
        "meeting_id": meeting.id if meeting else None,
        "meeting_year": meeting.year if meeting else None,
        "meeting_city": meeting.city if meeting else None,
    }
    outlet = document.meta.get("outlet")
    writer.add("articles", {
        "id": article_id,
        "path": document.source.relpath,
        "title": segmented.title,
        "title_derived": int(segmented.title_derived),
        "outlet": outlet,
        "sha256": document.sha256,
        "encoding": document.encoding,
        "paragraph_count": len(segmented.paragraphs),
        "line_count": len(segmented.lines),
        "meeting_confidence": round(decision.confidence, 3),
        "meeting_evidence": to_json(decision.evidence),
        **meeting_fields,
    })
    paragraph_ids = {}
    for position, (line, hits, mentioned) in enumerate(
        zip(segmented.paragraphs, article.topic_hits, article.mentions), start=1
    ):
        paragraph_id = f"{article_id}-{position:03d}"
        paragraph_ids[line.line_no] = paragraph_id
        writer.add("paragraphs", {
            "id": paragraph_id,
            "article_id": article_id,
            "position": position,
            "text": line.text,
            "outlet": outlet,
            "topics": to_json([hit.slug for hit in hits]),
            "mentions": to_json(mentioned),
            **meeting_fields,
        })
        for hit in hits:
            writer.add("paragraph_topics", {
                "paragraph_id": paragraph_id,
                "topic": hit.slug,
                "score": round(hit.score, 3),
                "evidence": to_json(hit.evidence),
            })
    for line in segmented.lines:
        writer.add("lines", {
            "article_id": article_id,
            "line_no": line.line_no,
            "kind": line.kind,
            "text": line.raw,
            "paragraph_id": paragraph_ids.get(line.line_no),
        })
