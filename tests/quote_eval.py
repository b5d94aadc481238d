"""Score the quotation finder against the hand annotations in tests/fixtures/quotes/.

    python tests/quote_eval.py            speaker accuracy (annotated quotations found with the
                                          right speaker, of all annotated quotations) on the
                                          seeds and on the held-out articles
    python tests/quote_eval.py --errors   also list misses, wrong speakers and extra quotations

seeds.yml annotates the seeds. Each seed is read simply, without the ingest segmenter: its
stripped lines of more than 12 words, in order, are the article's paragraphs. holdout.yml holds
articles written after the rules were settled, with their annotation: their score estimates how
the rules do on coverage they were not built from. A found quotation matches an annotated one
when it is in the same paragraph and one's words begin with the other's (case, quote marks and
spaces normalised).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.quotes import Quote, QuoteFinder  # noqa: E402

ANNOTATION = ROOT / "tests" / "fixtures" / "quotes" / "seeds.yml"
HOLDOUT = ROOT / "tests" / "fixtures" / "quotes" / "holdout.yml"
SEEDS = ROOT / "seeds"


def body_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines of a seed that are body paragraphs, read simply."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, line.strip()) for n, line in enumerate(lines, 1) if len(line.split()) > 12]


def normal(text: str) -> str:
    text = re.sub(r"[“”‘’\"'`«»]", "", text.lower())
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def same_speaker(found: str | None, gold: str | None) -> bool:
    """Groups are compared as sets of names ("A and B" = "B and A")."""
    if found is None or gold is None:
        return found is gold
    return set(found.split(" and ")) == set(gold.split(" and "))


@dataclass
class Result:
    annotated: int = 0
    found: int = 0
    right: int = 0
    extra: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.annotated if self.annotated else 0.0


def articles(subset: str) -> list[tuple[str, list[tuple[int, str]], list[dict]]]:
    """(name, [(line or paragraph number, text)], annotated quotations) of the seeds or the
    held-out articles."""
    if subset == "seeds":
        gold = yaml.safe_load(ANNOTATION.read_text(encoding="utf-8"))
        return [(name, body_lines(SEEDS / name), entries) for name, entries in gold.items()]
    data = yaml.safe_load(HOLDOUT.read_text(encoding="utf-8"))
    return [
        (name, list(enumerate(article["paragraphs"], 1)), [{**q, "line": q["paragraph"]} for q in data["quotes"][name]])
        for name, article in data.items() if name != "quotes"
    ]


def evaluate(finder: QuoteFinder | None = None, subset: str = "seeds") -> Result:
    finder = finder or QuoteFinder()
    result = Result()
    for name, lines, entries in articles(subset):
        found_by_line: dict[int, list[Quote]] = {
            n: quotes for (n, _), quotes in zip(lines, finder.find([text for _, text in lines]))
        }
        used: set[tuple[int, int]] = set()
        for entry in entries:
            result.annotated += 1
            gold_words = normal(entry["quote"])
            candidates = found_by_line.get(entry["line"], [])
            match = next(
                (
                    (i, q) for i, q in enumerate(candidates)
                    if (entry["line"], i) not in used
                    and (normal(q.quote).startswith(gold_words) or gold_words.startswith(normal(q.quote)))
                    and normal(q.quote)
                ),
                None,
            )
            where = f"{name[:15]} line {entry['line']}: “{entry['quote']}”"
            if match is None:
                result.errors.append(f"missed  {where} ({entry['speaker']})")
                continue
            used.add((entry["line"], match[0]))
            result.found += 1
            quote = match[1]
            if same_speaker(quote.speaker, entry["speaker"]):
                result.right += 1
            else:
                result.errors.append(
                    f"wrong   {where}: {quote.speaker!r} from {quote.speaker_as_written!r}, should be {entry['speaker']!r}"
                )
        for n, quotes in found_by_line.items():
            for i, quote in enumerate(quotes):
                if (n, i) not in used:
                    result.extra += 1
                    result.errors.append(f"extra   {name[:15]} line {n}: “{quote.quote[:50]}” ({quote.speaker})")
    return result


def main(argv: list[str]) -> None:
    for subset in ("seeds", "holdout"):
        result = evaluate(subset=subset)
        print(
            f"{subset}: {result.annotated} annotated quotations, {result.found} found, {result.right} with "
            f"the right speaker ({result.accuracy:.1%}); {result.extra} found that are not annotated"
        )
        if "--errors" in argv:
            for line in result.errors:
                print("  " + line)


if __name__ == "__main__":
    main(sys.argv[1:])
