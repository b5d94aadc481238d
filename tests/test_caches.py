"""The ingest's shortcuts (per-process memos, fast paths) give the same answers as working
everything out afresh.

A tagger that has already seen a paragraph (in this article, an earlier one, or a copy of the
story) looks its analysis up; what an article gets must not depend on what came before it.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest import build, copies, read  # noqa: E402
from ingest.meetings import MeetingDecision  # noqa: E402
from ingest.rewrites import RewriteScorer  # noqa: E402
from ingest.text import BoundedCache  # noqa: E402

SOURCES = [p for p in sorted((ROOT / "seeds").glob("*.txt"))] + sorted((ROOT / "tests" / "fixtures" / "meetings").glob("*.txt"))[:12]


def documents():
    found, _ = read.find_sources([Path(p) for p in SOURCES])
    return [read.read_document(source) for source in found]


def answers(article: build.Article) -> tuple:
    """Everything the database stores from the taggers, as plain values."""
    decision = article.decision
    return (
        decision.meeting_id, decision.confidence, decision.evidence, decision.reference,
        [(c.meeting_id, c.score, c.evidence) for c in decision.candidates],
        [[(h.slug, h.score, h.evidence, h.suppressed) for h in hits] for hits in article.topic_hits],
        article.mentions,
        article.rewrite_signs,
    )


def test_an_article_is_tagged_the_same_whatever_the_tagger_saw_before():
    docs = documents()
    fresh = [answers(build.analyse(doc, build.Taggers.load())) for doc in docs]
    shared = build.Taggers.load()
    for _ in range(2):  # twice: the second time every paragraph comes from the memos
        assert [answers(build.analyse(doc, shared)) for doc in docs] == fresh
    backwards = build.Taggers.load()
    assert [answers(build.analyse(doc, backwards)) for doc in reversed(docs)] == fresh[::-1]


def test_a_paragraph_recalls_meetings_relative_to_its_own_article_not_the_last_one():
    tagger = build.Taggers.load().meeting_tagger
    paragraph = "Xi last visited Moscow in 2019, when the two leaders met at an economic forum."
    in_2023 = MeetingDecision("2023-03-moscow", 0.9, [], [], date(2023, 3, 20))
    in_2019 = MeetingDecision("2019-06-moscow", 0.9, [], [], date(2019, 6, 5))
    unsure = MeetingDecision(None, 0.0, [], [], None)
    assert tagger.mentions(paragraph, in_2023) == ["2019-06-moscow"]
    assert tagger.mentions(paragraph, in_2019) == []  # its own meeting is no memory
    assert tagger.mentions(paragraph, unsure) == build.Taggers.load().meeting_tagger.mentions(paragraph, unsure)
    recalled = tagger.mentions(paragraph, in_2023)
    recalled.append("changed by a caller")
    assert tagger.mentions(paragraph, in_2023) == ["2019-06-moscow"]


def test_whether_a_capitalised_word_is_a_name_is_decided_by_its_own_article():
    """A scorer remembers what each paragraph shows on its own; a capitalised word that the
    article also writes in lower case is no name, and that depends on the article, not on the
    article where the paragraph was first seen."""
    shared = "Sterling rose as Ushakov spoke in Moskow. . the talks went well."
    plain = [shared, "Analysts agreed with Ushakov."]
    with_lower_case = [shared, "The pound sterling fell later."]
    assert "Sterling" in RewriteScorer().signs(plain).names
    assert "Sterling" not in RewriteScorer().signs(with_lower_case).names
    for first, then in ((plain, with_lower_case), (with_lower_case, plain)):
        scorer = RewriteScorer()
        scorer.signs(first)
        assert scorer.signs(then) == RewriteScorer().signs(then)


def test_a_paragraph_packed_before_is_looked_up_with_the_bytes_of_packing_it_afresh():
    """Workers fingerprint and sketch each paragraph for the compare stage; wire copy seen in an
    earlier article is looked up instead, and its bytes are those of packing it alone."""
    texts = [
        "Xi Jinping and Vladimir Putin signed a joint statement on deepening their partnership, the Kremlin said.",
        "Trade between the two countries reached a record $240 billion last year, customs data showed.",
    ]
    first = copies.pack_texts(texts)
    again = copies.pack_texts([texts[1] + " Analysts expect more.", texts[0]])
    assert again[1] is first[0]  # looked up, not packed again
    for text, packed in zip(texts + [texts[1] + " Analysts expect more."], first + again[:1]):
        print_ = copies.fingerprint(text)
        assert packed == copies.pack(print_, copies.signatures_of([print_])[0])


def test_lists_of_strings_are_stored_as_the_json_encoder_writes_them():
    """Lists of slugs and names skip the encoder; any string, escapes and all, must come out the same."""
    import json
    import random

    from ingest.load import to_json

    rng = random.Random(8)
    alphabet = ["a", "Z", "é", "中", '"', "\\", "\n", "\t", "\x00", "\x1f", "\u2028", "😀", "\ud800", " ", "/", "\x7f"]
    for _ in range(5_000):
        value = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(0, 4))]
        assert to_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for other in ([1, "a"], ["a", None], {"a": ["b"]}, [["a"]], 3, "a"):
        assert to_json(other) == json.dumps(other, ensure_ascii=False, separators=(",", ":"))


def test_a_bounded_cache_stays_within_its_limit_and_keeps_what_it_was_given():
    cache = BoundedCache(16)
    for n in range(100):
        assert cache.put(n, str(n)) == str(n)
        assert len(cache) <= 16
    assert cache[99] == "99"
    assert 0 not in cache


def test_the_whole_word_test_for_spinner_markers_agrees_with_the_regex_it_replaced():
    import random
    import re

    from ingest.topics import _whole_words_in

    rng = random.Random(8)
    alphabet = list("ab _-'.é1²\u0663—xyZ")
    for _ in range(20_000):
        words = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        regex = re.compile(r"(?<!\w)" + re.escape(words) + r"(?!\w)")
        assert _whole_words_in(words, text) == bool(regex.search(text)), (words, text)
    assert _whole_words_in("the 2 leaders", "as the 2 leaders met")
    assert not _whole_words_in("the 2 leaders", "the 2 leadership")


def test_quick_text_checks_agree_with_the_regexes_they_stand_in_front_of():
    import re

    from ingest.segment import CAPTION_MARKERS, has_caption_marker
    from ingest.text import clean

    samples = [
        "Xi Jinping (left) and Vladimir Putin", "Putin, pictured in Moscow", "IN THIS PHOTO released by the Kremlin",
        "A FILE PHOTO of the two leaders", "Putin is seen here with Xi", "The talks went on for hours.",
        "ſeen here", "Putin (L) and Xi", "in this  photo", "Kremlin pool photo", "",
    ]
    for text in samples:
        assert has_caption_marker(text) == bool(CAPTION_MARKERS.search(text)), text
    spaces = re.compile(r"\s+")
    for text in ["  a\u00a0 b\t\nc  ", "\u2003x\u3000y\u200bz", "", " ", "e\u0301 caf\u00e9", "a\x1cb\x85c"]:
        assert clean(text) == spaces.sub(" ", __import__("unicodedata").normalize("NFC", text)).strip()
