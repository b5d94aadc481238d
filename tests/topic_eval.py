"""Score the topic tagger against the hand annotation in tests/fixtures/topics/annotation.yml.

    python tests/topic_eval.py             precision, recall and F1 per topic, micro-averaged,
                                           for all paragraphs, the seeds', our own and the held-out
    python tests/topic_eval.py --errors    also list every paragraph the tagger gets wrong
    python tests/topic_eval.py --speed     also measure paragraphs tagged per second

The annotation was made from the definitions in shared/reference/topics.md; seed paragraphs
name their file and line, and their text is checked against the seed so the two cannot drift.
Articles named "holdout-..." were written and annotated after the rules were tuned on the rest:
their scores estimate how the rules do on coverage they were not built from.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.topics import TopicTagger, load_taxonomy  # noqa: E402

SUBSETS = ("all", "seed", "own", "holdout")
ANNOTATION = ROOT / "tests" / "fixtures" / "topics" / "annotation.yml"
SEEDS = ROOT / "seeds"


@dataclass
class Paragraph:
    article: str
    source: str  # "seed", "own" or "holdout"
    text: str
    gold: set[str]
    predicted: set[str] | None = None


@dataclass
class Article:
    name: str
    source: str
    spun: bool  # what the annotator says: the article is a spun copy
    paragraphs: list[Paragraph]


def load_annotation(path: Path = ANNOTATION) -> list[Article]:
    """The annotated articles; seed paragraphs are checked against the seed files."""
    articles = []
    for item in yaml.safe_load(path.read_text(encoding="utf-8")):
        source = "seed" if item.get("seed") else "holdout" if item["article"].startswith("holdout") else "own"
        seed_lines = (SEEDS / item["seed"]).read_text(encoding="utf-8").split("\n") if source == "seed" else None
        paragraphs = []
        for p in item["paragraphs"]:
            text = p["text"]
            if seed_lines is not None:
                written = " ".join(seed_lines[p["line"] - 1].split())
                if written != " ".join(text.split()):
                    raise ValueError(f"{item['seed']} line {p['line']} does not match the annotation's text")
                text = written
            paragraphs.append(Paragraph(item["article"], source, text, set(p["topics"] or [])))
        articles.append(Article(item["article"], source, bool(item.get("spun")), paragraphs))
    return articles


def predict(articles: list[Article], tagger: TopicTagger) -> list[Paragraph]:
    """Tag every annotated article as the pipeline does (one article at a time)."""
    out = []
    for article in articles:
        hits = tagger.tag_article([p.text for p in article.paragraphs])
        for paragraph, paragraph_hits in zip(article.paragraphs, hits):
            paragraph.predicted = {hit.slug for hit in paragraph_hits}
            out.append(paragraph)
    return out


def scores(paragraphs: list[Paragraph], slugs: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and counts per topic, plus 'micro' over all topics."""
    table = {}
    totals = [0, 0, 0]
    for slug in slugs:
        tp = sum(1 for p in paragraphs if slug in p.gold and slug in p.predicted)
        fp = sum(1 for p in paragraphs if slug not in p.gold and slug in p.predicted)
        fn = sum(1 for p in paragraphs if slug in p.gold and slug not in p.predicted)
        table[slug] = _prf(tp, fp, fn)
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
    table["micro"] = _prf(*totals)
    return table


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "support": tp + fn}


def evaluate(tagger: TopicTagger | None = None, path: Path = ANNOTATION) -> dict[str, dict]:
    """Scores for 'all', 'seed', 'own' and 'holdout' paragraphs of the annotation."""
    taxonomy = load_taxonomy() if tagger is None else tagger.taxonomy
    tagger = tagger or TopicTagger(taxonomy)
    paragraphs = predict(load_annotation(path), tagger)
    return {
        subset: scores([p for p in paragraphs if subset == "all" or p.source == subset], taxonomy.slugs)
        for subset in SUBSETS
    }


def format_table(table: dict[str, dict[str, float]], title: str) -> str:
    lines = [title, f"  {'topic':<18} {'P':>6} {'R':>6} {'F1':>6}  {'tp':>4} {'fp':>4} {'fn':>4}"]
    for slug, row in table.items():
        if slug == "micro":
            lines.append("  " + "-" * 54)
        lines.append(
            f"  {slug:<18} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f}  "
            f"{row['tp']:4d} {row['fp']:4d} {row['fn']:4d}"
        )
    return "\n".join(lines)


def speed(tagger: TopicTagger, articles: list[Article], seconds: float = 3.0) -> float:
    """Paragraphs tagged per second (whole articles, spun check included), after a warm-up."""
    texts = [[p.text for p in a.paragraphs] for a in articles]
    for article in texts:
        tagger.tag_article(article)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for article in texts:
            tagger.tag_article(article)
            count += len(article)
    return count / (time.perf_counter() - start)


def main(argv: list[str]) -> int:
    taxonomy = load_taxonomy()
    tagger = TopicTagger(taxonomy)
    articles = load_annotation()
    paragraphs = predict(articles, tagger)
    titles = {"all": "All annotated paragraphs", "seed": "Seed paragraphs (body paragraphs of seeds/)",
              "own": "Own paragraphs (other meetings, ordinary senses, a spun copy)",
              "holdout": "Held-out paragraphs (written after tuning)"}
    for subset, title in titles.items():
        chosen = [p for p in paragraphs if subset == "all" or p.source == subset]
        print(format_table(scores(chosen, taxonomy.slugs), f"{title} ({len(chosen)})"))
        print()
    for article in articles:
        spun, markers = tagger.is_spun([p.text for p in article.paragraphs])
        if spun != article.spun:
            print(f"spun check wrong for {article.name}: said {spun} ({', '.join(markers)})")
    if "--errors" in argv:
        for p in paragraphs:
            if p.gold != p.predicted:
                missing, extra = sorted(p.gold - p.predicted), sorted(p.predicted - p.gold)
                print(f"[{p.article}] missing {missing} extra {extra}\n    {p.text[:160]}")
    if "--speed" in argv:
        print(f"speed: {speed(tagger, articles):,.0f} paragraphs/second")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
