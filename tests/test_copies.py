"""Copies: paragraphs that are the same report in different articles, exact, edited or excerpted."""

import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from ingest.copies import CopyFinder, exact_form, fingerprint, find_copies

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

WIRE = (
    "BEIJING — Russian President Vladimir Putin arrived in the Chinese capital on Thursday for two days "
    "of talks with Xi Jinping, seeking more economic support as Western sanctions squeeze the Russian "
    "economy. The two leaders were expected to sign a joint statement on deepening their partnership. "
    "Putin told reporters before leaving Moscow that trade with China had grown by a quarter last year."
)
OTHER = (
    "Chinese officials said the talks would cover energy, agriculture and finance, and that Beijing "
    "hoped to expand the use of national currencies in trade between the two neighbours."
)


def links(*rows):
    """{paragraph_id: (copy_of, method)} for (paragraph_id, article_id, text[, published]) rows."""
    return {c.paragraph_id: (c.copy_of, c.method) for c in find_copies(rows)}


def test_same_text_with_other_quote_marks_spaces_and_case_is_an_exact_copy():
    edited = WIRE.replace("—", "-").replace("  ", " ").upper().replace(" ", "  ")
    found = find_copies([("a:1", "a", WIRE), ("b:1", "b", edited)])
    assert [(c.paragraph_id, c.copy_of, c.similarity, c.method) for c in found] == [("b:1", "a:1", 1.0, "exact")]


def test_exact_form_ignores_elision_marks_and_quote_styles_but_keeps_words():
    assert exact_form("He said “yes” […] today") == exact_form('He said "yes" today')
    assert exact_form("He said yes today") != exact_form("He said no today")


def test_small_edits_make_a_near_copy_of_the_fuller_text():
    edited = WIRE.replace("BEIJING — ", "").replace("Western sanctions", "U.S. sanctions")
    found = find_copies([("a:1", "a", WIRE), ("b:1", "b", edited)])
    assert len(found) == 1
    copy = found[0]
    assert (copy.paragraph_id, copy.copy_of, copy.method) == ("b:1", "a:1", "near")
    assert 0.6 <= copy.similarity < 1.0


def test_us_and_u_s_are_the_same_word():
    found = find_copies([("a:1", "a", WIRE.replace("Western", "US")), ("b:1", "b", WIRE.replace("Western", "U.S."))])
    assert [c.method for c in found] == ["near"] and found[0].similarity == 1.0


def test_excerpt_with_elision_marks_is_linked_to_the_paragraph_it_was_cut_from():
    excerpt = "[…]The two leaders were expected to sign a joint statement on deepening their partnership. […]"
    found = find_copies([("aggregator:3", "aggregator", excerpt), ("wire:1", "wire", WIRE)])
    assert [(c.paragraph_id, c.copy_of, c.method) for c in found] == [("aggregator:3", "wire:1", "excerpt")]
    assert found[0].similarity >= 0.8


def test_a_contiguous_part_of_a_paragraph_is_an_excerpt_even_without_marks():
    part = (
        "The two leaders were expected to sign a joint statement on deepening their partnership. Putin told "
        "reporters before leaving Moscow that trade with China had grown by a quarter last year."
    )
    assert links(("wire:1", "wire", WIRE), ("site:7", "site", part)) == {"site:7": ("wire:1", "excerpt")}


def test_different_paragraphs_on_the_same_subject_are_not_linked():
    retold = (
        "Vladimir Putin flew to Beijing on Thursday to meet Xi Jinping, hoping for economic help while "
        "sanctions weigh on Russia; the pair planned a joint statement, and Putin said trade grew 25%."
    )
    assert links(("a:1", "a", WIRE), ("b:1", "b", retold), ("c:1", "c", OTHER)) == {}


def test_two_paragraphs_of_the_same_article_are_never_linked():
    assert links(("a:1", "a", WIRE), ("a:9", "a", WIRE)) == {}


def test_short_lines_are_not_linked():
    assert links(("a:1", "a", "He said no."), ("b:1", "b", "He said no.")) == {}


def test_the_earlier_article_is_the_original_when_dates_are_known():
    trimmed = WIRE.replace("BEIJING — ", "")
    found = links(("a:1", "a", WIRE, "2024-05-17"), ("b:1", "b", trimmed, "2024-05-16"))
    assert found == {"a:1": ("b:1", "near")}


def test_an_article_that_marks_elisions_is_the_copy():
    # Same words in both: only the "[…]" elsewhere in the aggregator tells who copied whom.
    found = links(
        ("wire:1", "wire", WIRE), ("agg:1", "agg", WIRE), ("agg:2", "agg", "[…]" + OTHER),
    )
    assert found["agg:1"] == ("wire:1", "exact")


def test_direction_does_not_depend_on_the_order_paragraphs_are_added():
    rows = [("a:1", "a", WIRE), ("b:1", "b", WIRE.replace("Thursday", "Friday")), ("c:1", "c", WIRE)]
    assert links(*rows) == links(*reversed(rows))


def test_a_syndicated_paragraph_links_every_copy_to_one_original():
    rows = [(f"outlet{i}:1", f"outlet{i}", WIRE) for i in range(12)]
    found = links(*rows)
    assert len(found) == 11
    assert len({original for original, _ in found.values()}) == 1


def test_fingerprints_made_elsewhere_give_the_same_links():
    rows = [("a:1", "a", WIRE), ("b:1", "b", WIRE.replace("BEIJING — ", "")), ("c:1", "c", OTHER)]
    finder = CopyFinder()
    for paragraph_id, article_id, text in rows:
        print_ = pickle.loads(pickle.dumps(fingerprint(text)))  # as if from a worker process
        finder.add_fingerprint(paragraph_id, article_id, print_)
    assert finder.links() == find_copies(rows)


def test_planted_copies_among_many_paragraphs_are_found_without_false_links():
    rng = random.Random(7)
    vocabulary = sorted(set(" ".join([WIRE, OTHER]).lower().replace(".", "").replace(",", "").split()))
    vocabulary += [f"word{i}" for i in range(3000)]

    def sentence():
        return " ".join(rng.choices(vocabulary, k=rng.randint(12, 24))).capitalize() + "."

    rows, planted = [], {}
    for i in range(3000):
        rows.append((f"p{i}", f"art{i // 6}", " ".join(sentence() for _ in range(rng.randint(2, 3)))))
    for i in range(0, 3000, 30):
        source_id, _, text = rows[i]
        words = text.split()
        words.insert(len(words) // 2, "reportedly")
        rows.append((f"copy{i}", f"copier{i}", " ".join(words)))
        planted[f"copy{i}"] = source_id
    found = {c.paragraph_id: c.copy_of for c in find_copies(rows)}
    pairs = {frozenset(item) for item in found.items()}
    recovered = sum(frozenset(item) in pairs for item in planted.items())
    assert recovered >= 0.95 * len(planted)
    assert all(frozenset(item) in {frozenset(p) for p in planted.items()} for item in found.items())


# -- the seeds


def seed_paragraphs():
    """Body paragraphs of the seeds, read simply: stripped lines of more than 12 words."""
    for path in sorted(SEEDS.glob("*.txt")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if len(line.split()) > 12:
                yield f"{path.name[:3]}:{number}", path.name[:3], line.strip()


def test_seed_001_is_linked_to_000_on_the_wire_paragraphs_they_share():
    found = links(*seed_paragraphs())
    # 001 reprints four paragraphs of the AP report that 000 carries in full (read from the seeds).
    assert found == {
        "001:5": ("000:8", "near"),
        "001:7": ("000:10", "near"),
        "001:9": ("000:27", "near"),
        "001:11": ("000:30", "near"),
    }


# -- big buckets: a report syndicated everywhere


def roots(found):
    """{paragraph_id: the original at the end of its chain of links}."""
    def root(paragraph_id):
        while paragraph_id in found:
            paragraph_id = found[paragraph_id][0]
        return paragraph_id
    return {paragraph_id: root(paragraph_id) for paragraph_id in found}


def test_a_report_syndicated_to_many_outlets_links_each_copy_to_the_one_original():
    # 400 outlets, far more than a bucket was once compared along, each with its own small edit.
    rows = [("wire:1", "wire", WIRE, "2024-05-16")]
    rows += [(f"outlet{i}:1", f"outlet{i}", f"{WIRE} (Outlet {i} staff)", "2024-05-17") for i in range(400)]
    found = links(*rows)
    assert set(found) == {f"outlet{i}:1" for i in range(400)}
    assert {original for original, _ in found.values()} == {"wire:1"}
    assert {method for _, method in found.values()} == {"near"}


def test_every_member_of_a_big_bucket_of_near_copies_is_linked():
    rng = random.Random(3)
    words = WIRE.split()
    rows = []
    for i in range(300):  # each drops a different word or two: near copies of each other
        kept = [w for k, w in enumerate(words) if k not in {rng.randrange(len(words)), rng.randrange(len(words))}]
        rows.append((f"site{i}:1", f"site{i}", " ".join(kept)))
    found = links(*rows)
    assert len(found) >= 299  # all but the one original (or exact copies of it)
    assert len(set(roots(found).values())) == 1


def test_near_copies_found_a_part_of_each_bands_buckets_at_a_time_give_the_same_links(monkeypatch):
    """The near search sorts each band's buckets a part at a time (by key) to bound its memory;
    how many parts must not change what is found, though a copy meets its originals in several
    bands, each in whichever part its key falls."""
    rng = random.Random(5)
    words = (WIRE + " " + OTHER).split()
    rows = []
    for story in range(6):  # six stories, each retold by 40 sites dropping a word or two
        told = words[story * 7:story * 7 + 40]
        for site in range(40):
            dropped = {rng.randrange(len(told)), rng.randrange(len(told))}
            kept = [w for k, w in enumerate(told) if k not in dropped]
            rows.append((f"s{story}site{site}:1", f"s{story}site{site}", " ".join(kept), f"2024-05-{10 + site % 9:02d}"))
    assert_the_same_links_in_any_parts(monkeypatch, rows, "NEAR_PARTS", "near")


def assert_the_same_links_in_any_parts(monkeypatch, rows, setting: str, method: str) -> None:
    """The links of `rows` found with the `setting` of ingest.copies at 1, 2, 4 and 64 parts
    are the same, and at least 100 of them are found by `method`."""
    from ingest import copies

    monkeypatch.setattr(copies, setting, 1)
    expected = find_copies(rows)
    assert sum(c.method == method for c in expected) >= 100
    for parts in (2, 4, 64):
        monkeypatch.setattr(copies, setting, parts)
        assert find_copies(rows) == expected, parts


def test_exact_copies_found_a_part_of_the_keys_at_a_time_give_the_same_links(monkeypatch):
    """The exact search sorts the texts' keys a part at a time (by a byte of the key) to bound
    its memory; how many parts must not change which copies are found nor their originals: the
    most original of each group of equal texts, whatever part the group falls in."""
    stories = [" ".join(f"{word}{story}" for word in (WIRE + " " + OTHER).split()[:30]) for story in range(40)]
    rng = random.Random(8)
    rows = [(f"site{site}:{story}", f"site{site}", stories[story], f"2024-05-{10 + rng.randrange(9):02d}")
            for site in range(12) for story in rng.sample(range(40), 15)]
    assert_the_same_links_in_any_parts(monkeypatch, rows, "EXACT_PARTS", "exact")


def test_an_excerpt_of_a_widely_syndicated_report_leads_to_its_original():
    excerpt = "[…]The two leaders were expected to sign a joint statement on deepening their partnership. […]"
    rows = [("wire:1", "wire", WIRE, "2024-05-16"), ("agg:1", "agg", excerpt, "2024-05-18")]
    rows += [(f"outlet{i}:1", f"outlet{i}", f"{WIRE} (Outlet {i})", "2024-05-17") for i in range(300)]
    found = links(*rows)
    assert found["agg:1"][1] == "excerpt"
    assert roots(found)["agg:1"] == "wire:1"


def test_excerpts_measured_a_few_pairs_at_a_time_give_the_same_links(monkeypatch):
    """The excerpt search measures its candidate pairs in chunks to bound its memory; the chunk
    size must not change what is found."""
    from ingest import copies

    sentences = [s.strip() + "." for s in (WIRE + " " + OTHER).split(".") if s.strip()]
    rows = [("wire:1", "wire", WIRE), ("other:1", "other", OTHER)]
    rows += [(f"agg{i}:1", f"agg{i}", "[…] " + sentences[i % len(sentences)] + " […]") for i in range(12)]
    rows += [(f"mix{i}:1", f"mix{i}", " ".join(sentences[i:i + 2])) for i in range(len(sentences) - 1)]
    expected = find_copies(rows)
    assert sum(c.method == "excerpt" for c in expected) >= 5
    for chunk in (1, 3, 7):
        monkeypatch.setattr(copies, "PAIR_CHUNK", chunk)
        assert find_copies(rows) == expected


def test_excerpts_found_a_part_of_the_sentences_at_a_time_give_the_same_links(monkeypatch):
    """The excerpt search sorts and pairs the archive's sentences a part at a time (by hash) to
    bound its memory; how many parts must not change what is found, though a pair's sentences
    fall in different parts: its shared words are counted over them all."""
    from ingest import copies

    cities = ["Moscow", "Beijing", "Astana", "Kazan", "Harbin", "Vladivostok", "Shanghai", "Omsk"]
    topics = ["gas supplies", "grain exports", "a new bridge", "payments in yuan", "arctic shipping",
              "nuclear power", "border trade", "satellite navigation"]
    sentences = [f"Officials in {city} spoke at length about {topic} on day {day} of the talks."
                 for day, (city, topic) in enumerate(zip(cities + cities[::-1], topics + topics[1:] + topics[:1]))]
    rows = [(f"wire{k}:1", f"wire{k}", " ".join(sentences[8 * k:8 * k + 8])) for k in range(2)]
    # Aggregators keep two sentences of eight, marking the cuts; sites run three without marks.
    rows += [(f"agg{k}:1", f"agg{k}", f"[…] {sentences[k]} […] {sentences[k + 3]} […]") for k in (0, 1, 2, 3, 4, 8, 9, 10)]
    rows += [(f"site{k}:1", f"site{k}", " ".join(sentences[k:k + 3])) for k in (0, 3, 5, 11, 13)]
    expected = find_copies(rows)
    assert sum(c.method == "excerpt" for c in expected) >= 5
    for part in (1, 2, 5):
        monkeypatch.setattr(copies, "EXCERPT_PART", part)
        assert find_copies(rows) == expected


def test_equal_values_of_two_signatures_are_counted_from_their_packed_bands():
    """Signatures are compared a band at a time, each band's values packed in one 64-bit key:
    the count of equal values must be that of comparing them one by one, for bands of 1 to 4
    values, values with their top bit set included."""
    from ingest import copies

    rng = np.random.default_rng(11)
    for rows in (1, 2, 3, 4):
        a = rng.integers(0, 4, size=(5_000, rows), dtype=np.uint16) * np.uint16(0x5555)  # many equal
        b = rng.integers(0, 4, size=(5_000, rows), dtype=np.uint16) * np.uint16(0x5555)
        counted = copies.zero_lanes(copies.band_keys(a) ^ copies.band_keys(b), rows)
        assert counted.tolist() == (a == b).sum(axis=1).tolist()


def test_the_rank_of_originality_follows_the_documented_order():
    finder = CopyFinder()
    finder.add("late:1", "late", WIRE, "2024-05-18")
    finder.add("agg:1", "agg", WIRE)
    finder.add("agg:2", "agg", "[…] " + OTHER)
    finder.add("long:1", "long", WIRE + " More words here.")
    finder.add("b:1", "b", WIRE)
    finder.add("a:2", "a", WIRE)
    finder.add("a:1", "a", WIRE)
    rank = finder._ranks()
    by_rank = sorted(range(len(finder)), key=rank.__getitem__)
    assert [finder.paragraph_ids[i] for i in by_rank] == ["late:1", "long:1", "a:1", "a:2", "b:1", "agg:1", "agg:2"]


def test_paragraphs_read_back_packed_are_remembered_as_when_fingerprinted_here():
    """The archive keeps each paragraph's fingerprint and signature packed (pack); a finder that
    reads them back in bulk (add_packed) holds the same words, keys, sentences and signatures, and
    the same articles with their dates and elisions, as one that fingerprints the texts itself."""
    from ingest import copies

    rows = [
        ("a:1", "a", "Xi Jinping met Vladimir Putin in Moscow on Tuesday. The two leaders signed [...] a joint statement."),
        ("a:2", "a", "Short."),
        ("b:1", "b", ""),
        ("b:2", "b", "Über 99 “quoted” words, with Ümlauts — and dashes; Gazprom's 38 billion cubic metres a year."),
        ("c:1", "c", WIRE),
    ]
    published = {"a": "2023-03-21", "c": "2023-03-22"}
    here, packed = CopyFinder(), CopyFinder()
    for paragraph_id, article_id, text in rows:
        here.add(paragraph_id, article_id, text, published.get(article_id))
    prints = [copies.fingerprint(text) for *_, text in rows]
    stored = [copies.pack(print_, signature) for print_, signature in zip(prints, copies.signatures_of(prints))]
    ids, articles = [row[0] for row in rows], [row[1] for row in rows]
    packed.add_packed(ids[:2], articles[:2], stored[:2], published)
    packed.add_packed(ids[2:], articles[2:], stored[2:], published)
    assert (packed.signatures() == here.signatures()).all()  # sketched here once asked for
    for name in ("paragraph_ids", "article_ids", "article_dates", "article_elides", "article_index", "word_counts",
                 "signature_row"):
        assert list(getattr(packed, name)) == list(getattr(here, name)), name
    assert packed.exact_keys.read().tolist() == here.exact_keys.read().tolist()
    assert packed.sentence_units().tolist() == here.sentence_units().tolist()
    assert packed.article_elides == [True, False, False]


def test_signatures_made_at_ingest_give_the_same_links_as_sketching_here():
    """The build sketches each article's paragraphs in its worker and the compare stage reads the
    packed signatures (add_packed); mixed with paragraphs sketched by the finder itself, in any
    batch size, the links are those of sketching everything in one place."""
    from ingest import copies

    rows = [("a:1", "a", WIRE), ("b:1", "b", WIRE.replace("BEIJING — ", "")), ("c:1", "c", OTHER),
            ("d:1", "d", WIRE.replace("Tuesday", "Wednesday")), ("e:1", "e", OTHER + " He added nothing.")]
    expected = find_copies(rows)
    assert expected
    for batch_size in (1, 2, 1000):
        finder = CopyFinder(batch_size=batch_size)
        for k, (paragraph_id, article_id, text) in enumerate(rows):
            print_ = copies.fingerprint(text)
            if k % 2:
                finder.add_fingerprint(paragraph_id, article_id, print_)
            else:
                finder.add_packed([paragraph_id], [article_id], [copies.pack(print_, copies.signatures_of([print_])[0])])
        assert finder.links() == expected
    stored = copies.pack(copies.fingerprint(WIRE), copies.signatures_of([copies.fingerprint(WIRE)])[0])
    with pytest.raises(ValueError, match="x:1: its packed print is not 32 values"):
        CopyFinder(num_perm=32, bands=8).add_packed(["x:1"], ["x"], [stored])


def test_a_finder_links_once_and_says_so_when_asked_again():
    """Linking lets the signatures go (128 MB at a million paragraphs, not needed to write the
    links): asking the same finder again is an error that says why, not a wrong answer."""
    finder = CopyFinder()
    for paragraph_id, article_id, text in [("a:1", "a", WIRE), ("b:1", "b", WIRE.replace("BEIJING — ", ""))]:
        finder.add(paragraph_id, article_id, text)
    assert finder.links()
    with pytest.raises(RuntimeError, match="links once"):
        finder.links()


def test_paragraph_ids_kept_packed_read_back_as_given(monkeypatch):
    """A finder keeps its paragraph ids packed as UTF-8 bytes, a batch at a time: read back by
    index or in order, across batches and with any characters, they are the ids given."""
    from ingest.copies import PackedStrings

    monkeypatch.setattr(PackedStrings, "PACK_EVERY", 3)
    given = ["a:1", "Über-002", "", "中文:7", "x" * 40, "b:2", "c"]
    packed = PackedStrings(given[:2])
    for paragraph_id in given[2:]:
        packed.append(paragraph_id)
    assert len(packed) == len(given)
    assert list(packed) == given
    assert [packed[i] for i in range(len(given))] == given and packed[-1] == "c"
    packed.extend(["d:1"])
    assert list(packed) == given + ["d:1"] and len(packed) == len(given) + 1


def test_paragraph_ids_kept_on_disk_read_back_as_given(tmp_path):
    """A finder keeps its ids in spill files, a batch at a time (memory holds only the batch
    being made): they read back as given, whole, in order, by position and in batches, with a
    longer id after shorter ones and more added after reading."""
    from ingest.copies import PackedStrings

    given = [f"article-{k // 20}:{k % 20:03d}" for k in range(25_000)] + ["Über-002", "中文:7"]
    packed = PackedStrings(given, spill_dir=tmp_path)
    assert len(packed) == len(given) and list(packed) == given
    assert packed[24_999] == given[24_999] and packed[-1] == given[-1]
    assert [string.decode() for string in packed.encoded().tolist()] == given
    picked = [25_001, 3, 25_000, 3, 0, 24_999]
    assert [string.decode() for string in packed.take(picked).tolist()] == [given[k] for k in picked]
    with pytest.raises(IndexError):
        packed.take([len(given)])
    longer = "x" * 90
    packed.extend([longer, "short:1"])
    assert [string.decode() for batch in packed.batches(7_000) for string in batch.tolist()] == given + [longer, "short:1"]
    assert packed.dtype.itemsize == 90


def test_paragraph_ids_take_no_memory_but_the_batch_being_made(tmp_path):
    """A hundred thousand ids held by a PackedStrings take less memory than one batch of them
    as Python strings: the rest waits in the spill file."""
    import tracemalloc

    from ingest.copies import PackedStrings

    ids = [f"0123456789abcdef-{k:03d}" for k in range(100_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        packed = PackedStrings(spill_dir=tmp_path)
        for start in range(0, len(ids), 5_000):
            packed.extend(ids[start:start + 5_000])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(packed) == len(ids)
    assert held < 20 * PackedStrings.PACK_EVERY, held


@pytest.mark.parametrize("ties_at_once", [100_000, 1, 2, 5])
def test_the_rank_of_originality_is_the_documented_order_over_many_articles(monkeypatch, ties_at_once):
    """Ranks pack date, elisions, length and article into one sort key: over random articles
    (dated or not, eliding or not, paragraphs of equal and differing lengths) the order is that
    of sorting by the documented rules one after another; tied paragraphs go by id whether
    their runs are ordered all at once or a few at a time."""
    from ingest import copies

    monkeypatch.setattr(copies, "RANK_TIES", ties_at_once)
    generator = random.Random(7)
    finder = CopyFinder()
    documented = {}
    for number in range(40):
        article = f"art{generator.randrange(1000):03d}-{number}"
        published = generator.choice([None, "2019-06-05", "2023-03-21", "2024-05-16"])
        elides = generator.random() < 0.3
        positions = list(range(generator.randrange(1, 9)))
        generator.shuffle(positions)  # added out of order, ids with letters beyond ASCII: ties go by id
        for position in positions:
            size = generator.choice([8, 9, 12, 40])
            text = " ".join(f"w{generator.randrange(50)}" for _ in range(size)) + (" […] end" if elides else "")
            paragraph_id = f"{article}:{generator.choice(['', 'é', '€', 'z', 'Z', '𝔷'])}{position}"
            finder.add(paragraph_id, article, text, published)
            documented[paragraph_id] = (published or "9999", elides, -finder.word_counts[-1], article, paragraph_id)
    rank = finder._ranks()
    by_rank = sorted(range(len(finder)), key=rank.__getitem__)
    assert [finder.paragraph_ids[i] for i in by_rank] == sorted(documented, key=documented.__getitem__)


def test_signatures_handed_out_stay_as_they_were_while_more_paragraphs_come():
    """The finder grows its signature array in place; one it has handed out (signatures()) must
    not be resized under its holder: later paragraphs go into a new array."""
    finder = CopyFinder(batch_size=1)
    finder.add("a:1", "a", WIRE)
    held = finder.signatures()
    before = held.copy()
    finder.add("b:1", "b", OTHER)
    assert len(held) == 1 and (held == before).all()
    assert len(finder.signatures()) == 2 and (finder.signatures()[0] == before[0]).all()


def test_exact_copies_share_one_signature_row_and_every_paragraph_finds_its_own():
    """A syndicated archive is mostly exact copies (the benchmark's million paragraphs: 61%): they
    share the row of the first one's signature, across batches. A text equal to another but for a
    mark inside a word ("Xi`s", "Xis") may sketch differently: it keeps its own row. A paragraph
    too short to link keeps none. Whatever is shared, each paragraph's row is its own signature."""
    from ingest import copies

    odd = WIRE.replace("Xi Jinping", "Xi`s Jinping")
    rows = [("a:1", "a", WIRE), ("b:1", "b", WIRE.upper()), ("c:1", "c", odd), ("d:1", "d", odd.replace("`", "")),
            ("e:1", "e", "He said."), ("f:1", "f", OTHER), ("g:1", "g", f"“{WIRE}”"), ("h:1", "h", OTHER)]
    assert copies.exact_form(odd) == copies.exact_form(odd.replace("`", ""))
    finder = CopyFinder(batch_size=3)
    for row in rows:
        finder.add(*row)
    kept, row_of = finder.signatures(), list(finder.signature_row)
    for (_, _, text), row in zip(rows, row_of):
        if len(copies.words(text)) < finder.min_words:
            assert row == -1
        else:
            assert (kept[row] == copies.signatures_of([copies.fingerprint(text)])[0]).all()
    assert row_of[0] == row_of[1] == row_of[6] and row_of[5] == row_of[7]
    assert row_of[2] != row_of[3]
    assert len(kept) == 4


def test_an_empty_bin_takes_the_next_filled_bin_round_the_row_plus_an_offset_a_bin():
    """Densification (Shrivastava 2017) as the definition says it, bin by bin, against `densify`
    over rows from full to empty: a bin with no shingle takes the first filled bin after it,
    going round the row, plus a fixed offset for each bin skipped; a row with none stays empty."""
    from ingest.copies import EMPTY, densify

    rng = np.random.default_rng(7)
    k = 16
    out = rng.integers(0, 2**32 - 1, size=(60, k), dtype=np.uint32)
    for row, share in zip(out, np.linspace(0, 1, len(out))):
        row[rng.random(k) < share] = EMPTY
    out[-1] = EMPTY
    expected = out.copy()
    for r, row in enumerate(out):
        for b in range(k):
            if row[b] != EMPTY:
                continue
            for shift in range(1, k):
                if row[(b + shift) % k] != EMPTY:
                    expected[r, b] = (int(row[(b + shift) % k]) + shift * 0x9E3779B1) % 2**32
                    break
    assert (densify(out, out == EMPTY) == expected).all()
    assert (densify(out, out == EMPTY)[-1] == EMPTY).all()


# -- a finder kept between builds


def restore_rows():
    """(paragraph_id, article_id, text, published) rows with every kind of link and order: seed
    paragraphs, a dated wire story and its edited copies, an excerpt marked with elisions."""
    rows = [(paragraph_id, article_id, text, None) for paragraph_id, article_id, text in seed_paragraphs()]
    last = [row for row in rows if row[1] == rows[-1][1]]  # the last seed article's paragraphs
    longest = max(last, key=lambda row: len(row[2].split(". ")))[2].split(". ")
    rows += [("wire:1", "wire", WIRE, "2024-05-16"), ("wire:2", "wire", OTHER, "2024-05-16")]
    rows += [(f"outlet{i}:1", f"outlet{i}", WIRE.replace("Thursday", ["Friday", "Monday", "today"][i % 3]),
              "2024-05-17") for i in range(6)]
    rows += [("outlet0:2", "outlet0", OTHER, "2024-05-17")]
    rows += [("aggregator:1", "aggregator", f"[…] {longest[0]}. […] {longest[2]}. […]", None)]
    return rows


def test_a_finder_restored_from_its_columns_links_as_one_given_its_paragraphs_anew(tmp_path):
    """An incremental build restores the last compare stage's finder from the columns it kept,
    without the articles whose files went, and adds the new articles: the links are those of a
    finder given the same paragraphs anew, though the kept columns were linked first."""
    old = restore_rows()
    seed_articles = sorted({row[1] for row in old if row[3] is None and row[1] != "aggregator"})
    # The wire story (the original of its copies) and a seed article in the middle go.
    dropped = {"wire", seed_articles[1]}
    new = [("late:1", "late", WIRE.replace("Thursday", "Friday"), "2024-05-18"),  # an exact copy of outlet0's
           ("late:2", "late", old[-1][2].replace("[…] ", "", 1), "2024-05-18"),  # the excerpt, one mark fewer
           ("wire2:1", "wire2", WIRE, "2024-05-15")]  # an earlier wire: the original of them all now
    before = CopyFinder(spill_dir=tmp_path)
    for row in old:
        before.add(*row)
    columns = before.columns()
    assert before.links()  # linking leaves the columns it handed over as they were
    restored, kept = CopyFinder.restore(columns, before.options, dropped, spill_dir=tmp_path)
    assert kept.tolist() == [row[1] not in dropped for row in old]
    anew = CopyFinder(spill_dir=tmp_path)
    for row in [row for row in old if row[1] not in dropped]:
        anew.add(*row)
    for finder in (restored, anew):
        for row in new:
            finder.add(*row)
    expected = anew.links()
    assert {c.method for c in expected} == {"exact", "near", "excerpt"}
    assert restored.links() == expected
    chains = roots({c.paragraph_id: (c.copy_of, c.method) for c in expected})
    assert {chains[f"outlet{i}:1"] for i in range(6)} == {"wire2:1"}  # the new, earlier wire leads them all


def test_kept_columns_that_do_not_fit_together_are_refused(tmp_path):
    """Columns made with other options, or that disagree with each other (a column a value short,
    a paragraph pointing past the signature rows), are refused with ValueError, not misread."""
    def kept(bands=16):
        finder = CopyFinder(spill_dir=tmp_path, bands=bands)
        finder.add("a:1", "a", WIRE)
        finder.add("b:1", "b", WIRE.replace("Thursday", "Friday"))
        return finder.columns(), dict(finder.options, bands=16)

    def replaced(column, values):
        column.close()
        column.append(values)

    columns, options = kept(bands=32)
    with pytest.raises(ValueError, match="not a finder's with 16 signature bands"):
        CopyFinder.restore(columns, options)
    columns, options = kept()
    replaced(columns["words"], columns["words"].read()[:1])
    with pytest.raises(ValueError, match="not one value a paragraph"):
        CopyFinder.restore(columns, options)
    columns, options = kept()
    replaced(columns["signature_row"], columns["signature_row"].read() + 5)
    with pytest.raises(ValueError, match="point to an article, signature row or paragraph"):
        CopyFinder.restore(columns, options)
    columns, options = kept()
    assert len(CopyFinder.restore(columns, options)[0]) == 2


def test_distinct_values_are_those_of_np_unique():
    """The excerpt pass's pairs are made distinct by sorting (numpy's own unique is far slower for
    64-bit integers): the same values as np.unique, for empty, repeated and negative values."""
    from ingest.copies import distinct

    rng = np.random.default_rng(5)
    for values in (np.zeros(0, dtype=np.int64), np.array([3, 3, 3]), rng.integers(-50, 50, size=1000),
                   rng.integers(0, 1 << 62, size=5000)):
        given = values.copy()
        assert np.array_equal(distinct(values), np.unique(values))
        assert np.array_equal(values, given)  # a copy is sorted unless told otherwise
        assert np.array_equal(distinct(given, in_place=True), np.unique(values))
        assert np.array_equal(given, np.sort(values))  # no copy of the pairs: they are many


def test_strings_with_different_bytes_have_different_digests():
    """The link state tells a paragraph's id by a 32-bit digest of its bytes, made in numpy: ids
    that differ in one byte, in length or beyond ASCII differ; equal ids, in arrays of any width,
    digest the same."""
    from ingest.copies import string_digests

    ids = [f"{article:016x}:{position}" for article in range(300) for position in range(40)]
    ids += ["a", "a:1", "a:1é", "a:1e", "é", "𝔷:1", "x" * 70]
    digests = string_digests(np.array([i.encode() for i in ids], dtype=bytes))
    assert len(set(digests.tolist())) == len(ids)
    narrow = string_digests(np.array([i.encode() for i in ids[:5]], dtype=bytes))  # a narrower array
    assert narrow.tolist() == digests[:5].tolist()
    assert len(string_digests(np.zeros(0, dtype="S1"))) == 0


def test_gather_takes_what_indexing_takes():
    """`gather` stands for numpy's `values[index]` where the index is big: the same values, into a
    new array or the one given, for empty, 32-bit and 64-bit indexes longer than its chunk."""
    from ingest.copies import GATHER_CHUNK, gather

    rng = np.random.default_rng(9)
    values = rng.integers(0, 1 << 40, size=3 * GATHER_CHUNK)
    for index in (np.zeros(0, dtype=np.int32), rng.integers(0, len(values), size=2 * GATHER_CHUNK + 7).astype(np.int32),
                  rng.integers(0, len(values), size=5)):
        assert np.array_equal(gather(values, index), values[index])
        out = np.empty(len(index), dtype=values.dtype)
        assert gather(values, index, out=out) is out and np.array_equal(out, values[index])
    with pytest.raises(IndexError):
        gather(values, np.array([len(values)], dtype=np.int32))
