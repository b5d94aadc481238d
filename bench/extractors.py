"""Our web-page extraction against trafilatura, on the hand-annotated fixture pages.

    python bench/extractors.py            # our rules; trafilatura too when it is installed

`tests/fixtures/html/expected.yml` lists, for every fixture page, a phrase from
each line a careful reader takes as the article and phrases of the site chrome
around it. For each extractor this prints how many article lines its text keeps
and how many chrome phrases it lets through, with what it missed. A phrase
counts as kept when it appears in the extractor's text (case and white space
ignored), so a short chrome phrase such as "About" can also be found inside an
article paragraph: the list of hits says which.

trafilatura is not a dependency of the archive (this comparison is why); to run
it: `pip install trafilatura lxml_html_clean` into any environment that also
has the project installed.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures" / "html"


def norm(text: str) -> str:
    """Text compared without case, Unicode variants or runs of white space."""
    text = unicodedata.normalize("NFC", text.replace("\u00a0", " "))
    return re.sub(r"\s+", " ", text).strip().lower()


def ours(data: bytes, name: str) -> str:
    from ingest import html

    return "\n".join(block.text for block in html.extract(data, name).blocks)


def trafilatura_text(data: bytes, name: str) -> str:
    import trafilatura

    return trafilatura.extract(data) or ""


def score(extract, expected: dict) -> None:
    kept = total = chrome = chrome_total = 0
    missed, leaked = [], []
    for name, page in expected.items():
        text = norm(extract((FIXTURES / name).read_bytes(), name))
        for kind, phrase in page.get("article") or []:
            total += 1
            if norm(phrase) in text:
                kept += 1
            else:
                missed.append(f"{name}: {kind or 'line'} “{phrase[:60]}”")
        for phrase in page.get("chrome") or []:
            chrome_total += 1
            if norm(phrase) in text:
                chrome += 1
                leaked.append(f"{name}: “{phrase}”")
    print(f"  article lines kept {kept}/{total}; chrome phrases found {chrome}/{chrome_total}")
    for line in missed:
        print("    missed   ", line)
    for line in leaked:
        print("    chrome   ", line)


def main() -> None:
    expected = yaml.safe_load((FIXTURES / "expected.yml").read_text(encoding="utf-8"))
    print(f"{len(expected)} fixture pages in {FIXTURES.relative_to(ROOT)}")
    print("ours (ingest/html.py):")
    score(ours, expected)
    try:
        import trafilatura
    except ImportError:
        print("trafilatura: not installed (pip install trafilatura lxml_html_clean)")
        return
    print(f"trafilatura {trafilatura.__version__} (extract with its defaults):")
    score(trafilatura_text, expected)


if __name__ == "__main__":
    main()
