"""Topic tagging: each body paragraph gets the topics that are a substantial part of it."""

import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from ingest.topics import TaxonomyError, TopicTagger, load_taxonomy, topic_rows

from topic_eval import evaluate, load_annotation

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
REFERENCE = ROOT.parent / "shared" / "reference" / "topics.md"
RULES = ROOT / "ingest" / "topics.yml"


@pytest.fixture(scope="module")
def tagger():
    return TopicTagger(load_taxonomy())


def slugs(hits):
    return {hit.slug for hit in hits}


def tag(tagger, paragraph, spun=False):
    return slugs(tagger.tag(paragraph, spun))


# -- the taxonomy


def test_shipped_taxonomy_has_exactly_the_eleven_reference_topics_in_order():
    if not REFERENCE.exists():
        pytest.skip("shared/reference/topics.md is not beside the repository")
    reference = re.findall(r"^\| `([a-z-]+)` \|", REFERENCE.read_text(), flags=re.M)
    assert len(reference) == 11
    assert load_taxonomy().slugs == reference


def test_topic_rows_give_slug_label_and_description_for_the_topics_table():
    rows = topic_rows(load_taxonomy())
    assert [set(row) for row in rows] == [{"slug", "label", "description"}] * 11
    energy = next(row for row in rows if row["slug"] == "energy")
    assert energy["label"] == "Energy" and "natural gas" in energy["description"]
    assert all(row["label"] and row["description"] for row in rows)


# -- each topic, from paragraphs written for these tests


@pytest.mark.parametrize("slug, paragraph", [
    ("energy", "Rosneft agreed to raise crude deliveries to China through the pipeline, and the two sides "
               "discussed a new LNG plant in the Arctic."),
    ("energy", "The price of Russian gas for China remained the main obstacle to a deal on the second pipeline."),
    ("trade-finance", "Bilateral trade rose to a record $240 billion, and more than 90 percent of payments "
                      "are now settled in rubles and yuan."),
    ("trade-finance", "Chinese carmakers and makers of household appliances have taken over the Russian market."),
    ("ukraine-war", "Russian troops pressed their offensive near Kharkiv as Ukrainian forces ran short of shells."),
    ("ukraine-war", "Beijing's peace plan calls for a ceasefire and talks, but says nothing about Russian troops "
                    "leaving occupied Ukrainian territory."),
    ("sanctions", "Washington threatened secondary sanctions on Chinese banks that help Moscow evade export controls."),
    ("military-security", "The defence ministers agreed to hold more joint naval exercises and discussed "
                          "cooperation on missile defence."),
    ("world-order", "The two leaders called for a multipolar world and denounced American hegemony."),
    ("ceremony", "A military band played and an honour guard stood at attention as Xi walked the red carpet "
                 "to the welcome ceremony."),
    ("partnership", "The joint statement said the comprehensive strategic partnership between the two countries "
                    "had reached its highest level."),
    ("personal-ties", "Putin called Xi his dear friend and recalled the birthday they had celebrated together."),
    ("culture-exchange", "The two governments declared the coming years Years of Culture and promised more "
                         "exchanges of students and tourists."),
    ("domestic-politics", "Xi secured a precedent-breaking third term as party leader at the Communist Party congress."),
])
def test_each_topic_is_found_in_a_paragraph_about_it(tagger, slug, paragraph):
    assert slug in tag(tagger, paragraph)


def test_a_paragraph_about_nothing_in_the_taxonomy_gets_no_topic(tagger):
    assert tag(tagger, "It rained all afternoon, and the press centre ran out of coffee before noon.") == set()


def test_one_stray_word_is_not_a_topic(tagger):
    # the war and the energy needs are mentioned in passing; the paragraph is about the welcome
    paragraph = ("Guards on horseback escorted the motorcade, a welcome the Kremlin last gave a guest before the "
                 "war, and officials spoke of the energy needs of the growing Chinese economy.")
    topics = tag(tagger, paragraph)
    assert "ceremony" in topics
    assert not topics & {"ukraine-war", "energy"}


def test_hints_alone_are_not_a_topic(tagger):
    hits = {h.slug: h for h in tagger.explain("The deal was worth billions of dollars, officials said.")}
    assert hits["trade-finance"].score == 0
    assert any("hint" in note for note in hits["trade-finance"].suppressed)


def test_matching_is_on_word_forms_case_insensitive_and_whole_words(tagger):
    # forms that the rules do not list: "embargoes" (embargo), "invading" (invade), "shields" (shield)
    assert "sanctions" in tag(tagger, "New EMBARGOES hit Chinese firms shipping drone parts.")
    assert "ukraine-war" in tag(tagger, "Russia was invading its neighbour.")
    assert "military-security" in tag(tagger, "They criticised American missile shields in Asia.")
    # "oil" is not in "turmoil" or "toil", "war" not in "award" or "software"
    assert tag(tagger, "After years of turmoil and toil, the award for software went to a Kazan start-up.") == set()


def test_the_country_us_is_not_the_pronoun_us(tagger):
    country = {h.slug: h for h in tagger.explain("He warned the U.S. against interference.")}
    pronoun = {h.slug: h for h in tagger.explain("He warned us against interference.")}
    assert "U.S." in country["world-order"].evidence
    assert not any(e.lower() == "us" for e in pronoun["world-order"].evidence + pronoun["world-order"].suppressed)


# -- negative cues and ordinary senses


def test_energy_in_the_sense_of_vigour_is_not_the_energy_topic(tagger):
    paragraph = "The talks brought new energy to the relationship, officials said."
    assert "energy" not in tag(tagger, paragraph)
    assert "partnership" in tag(tagger, paragraph)
    energy = next(h for h in tagger.explain(paragraph) if h.slug == "energy")
    assert energy.evidence == [] and "new energy" in energy.suppressed[0]


def test_other_wars_are_not_the_war_in_ukraine(tagger):
    for paragraph in (
        "Both leaders recalled the Second World War and the sacrifices of their peoples.",
        "The two were rivals during the Cold War, when border clashes brought them close to war.",
        "The trade war between Washington and Beijing pushed China to buy more Russian farm goods.",
    ):
        assert "ukraine-war" not in tag(tagger, paragraph), paragraph


def test_arms_length_and_think_tanks_are_not_weapons(tagger):
    paragraph = "Russia keeps China at arm's length on some issues, said a researcher at a Moscow think tank."
    assert "military-security" not in tag(tagger, paragraph)


def test_vitality_in_an_article_that_was_not_spun_means_vigour(tagger):
    paragraph = "Analysts said the summit showed the vitality of the ties, if nothing else."
    assert "energy" not in tag(tagger, paragraph, spun=False)
    assert "energy" in slugs(tagger.tag("Russia will sell more vitality and pure gasoline to China.", spun=True))


def test_a_list_of_sectors_is_economic_cooperation_not_each_sector(tagger):
    paragraph = "Putin said Russia was ready to expand cooperation in energy, agriculture and other areas."
    hits = {h.slug: h for h in tagger.explain(paragraph)}
    assert "trade-finance" in tag(tagger, paragraph)
    assert "energy" not in tag(tagger, paragraph)
    assert "energy, agriculture" in hits["trade-finance"].evidence
    assert any("list of sectors" in note for note in hits["energy"].suppressed)


def test_a_sector_named_on_its_own_still_counts(tagger):
    assert "energy" in tag(tagger, "The energy industry wants the new pipeline and more oil sold to China.")
    # two names for one sector are not a list of sectors
    assert "energy" in tag(tagger, "They agreed to work more closely on energy and nuclear power research.")


# -- spun copies


def test_the_spun_seed_is_recognised_and_the_others_are_not(tagger):
    for path in sorted(SEEDS.glob("*.txt")):
        spun, markers = tagger.is_spun(path.read_text(encoding="utf-8").split("\n"))
        assert spun == path.name.startswith("002_"), (path.name, markers)
        if spun:
            assert "pricey buddy" in markers and len(markers) >= 5


def test_one_odd_phrase_does_not_make_an_article_spun(tagger):
    spun, markers = tagger.is_spun(["The two nations talked about the vitality of trade.",
                                    "Critics called the statement a mannequin for future deals."])
    assert not spun and markers == ["mannequin for"]


def test_a_spun_paragraph_is_tagged_as_the_original_and_quoted_as_written(tagger):
    paragraphs = [
        "Mr. Putin, who began a fifth time period, known as Mr. Xi his pricey buddy.",
        "The 2 nations agreed to construct a pure gasoline pipeline and to double commerce in rubles.",
    ]
    hits = tagger.tag_article(paragraphs)
    assert {"domestic-politics", "personal-ties"} <= slugs(hits[0])
    energy = next(h for h in hits[1] if h.slug == "energy")
    assert "pure gasoline" in energy.evidence
    assert "trade-finance" in slugs(hits[1])
    for paragraph_hits, paragraph in zip(hits, paragraphs):
        for hit in paragraph_hits:
            assert all(e in paragraph for e in hit.evidence)


def test_the_same_words_outside_a_spun_article_are_not_mapped(tagger):
    paragraph = "The vitality of the ruling party and its pure gasoline subsidies impressed voters."
    assert "energy" in slugs(tagger.tag_article([paragraph, "The 2 nations talked of their pricey buddy."])[0])
    article = [paragraph, "The army held a parade in the capital."]
    assert tagger.is_spun(article)[0] is False
    assert "energy" not in slugs(tagger.tag_article(article)[0])


# -- explain


def test_explain_gives_every_topic_with_its_score_and_the_terms_that_fired(tagger):
    paragraph = ("Gazprom and CNPC signed a memorandum on the Power of Siberia 2 pipeline, "
                 "while Western sanctions weighed on Russia's economy.")
    hits = tagger.explain(paragraph)
    assert sorted(h.slug for h in hits) == sorted(load_taxonomy().slugs)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    energy = hits[0]
    assert energy.slug == "energy"
    assert {"Gazprom", "CNPC", "Power of Siberia", "pipeline"} <= set(energy.evidence)
    for hit in hits:
        assert all(term in paragraph for term in hit.evidence)
        assert (hit.score == 0) == (hit.evidence == [])
    # tagging keeps exactly the topics that explain scores at or above the threshold
    threshold = load_taxonomy().threshold
    assert [h.slug for h in tagger.tag(paragraph)] == [h.slug for h in hits if h.score >= threshold]


def test_tag_article_gives_one_list_per_paragraph_highest_score_first(tagger):
    paragraphs = [line for line in (SEEDS / "004_89bbe4f98d1db68f.txt").read_text().split("\n") if len(line) > 80]
    hits = tagger.tag_article(paragraphs)
    assert len(hits) == len(paragraphs)
    for paragraph_hits in hits:
        scores = [h.score for h in paragraph_hits]
        assert scores == sorted(scores, reverse=True)
        assert all(score >= load_taxonomy().threshold for score in scores)


# -- editing the rules


def copy_rules(tmp_path, edit) -> Path:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "topics.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_editing_the_rules_file_retags(tmp_path):
    paragraph = "The leaders watched a ballet and a circus performance at the Bolshoi."
    before = TopicTagger(load_taxonomy())
    assert "culture-exchange" not in tag(before, paragraph)

    def add_terms(data):
        culture = next(t for t in data["topics"] if t["slug"] == "culture-exchange")
        culture["terms"]["ballet"] = 2
        culture["terms"]["circus performance"] = 2

    after = TopicTagger(load_taxonomy(copy_rules(tmp_path, add_terms)))
    hit = next(h for h in after.tag(paragraph) if h.slug == "culture-exchange")
    assert {"ballet", "circus performance"} <= set(hit.evidence)


def test_a_new_negative_cue_and_threshold_take_effect(tmp_path):
    paragraph = "Officials said the gas station near the Kremlin was closed for the visit and oil prices rose."
    assert "energy" in tag(TopicTagger(load_taxonomy()), paragraph)

    def edit(data):
        next(t for t in data["topics"] if t["slug"] == "energy")["negative"].append("gas station")
        data["threshold"] = 2.5

    edited = TopicTagger(load_taxonomy(copy_rules(tmp_path, edit)))
    assert "energy" not in tag(edited, paragraph)


def test_the_spun_rules_beside_an_edited_rules_file_are_used(tmp_path):
    rules = copy_rules(tmp_path, lambda data: None)
    article = ["Mr. Xi met his pricey buddy.", "They discussed vitality."]
    assert TopicTagger(load_taxonomy(rules)).is_spun(article)[0] is False  # one marker is not enough
    spun = yaml.safe_load((ROOT / "ingest" / "spun.yml").read_text())
    spun["min_markers"] = 1
    (tmp_path / "spun.yml").write_text(yaml.safe_dump(spun), encoding="utf-8")
    assert TopicTagger(load_taxonomy(rules)).is_spun(article) == (True, ["pricey buddy"])


def test_a_broken_rules_file_says_what_is_wrong(tmp_path):
    bad = tmp_path / "topics.yml"
    shutil.copy(RULES, bad)
    bad.write_text(bad.read_text().replace("      cubic metres: 3", "      no: 3"))
    with pytest.raises(TaxonomyError, match="quoted"):
        load_taxonomy(bad)
    bad.write_text(RULES.read_text().replace("slug: sanctions", "slug: energy"))
    with pytest.raises(TaxonomyError, match="used twice"):
        load_taxonomy(bad)


# -- quality and speed


def test_annotation_matches_the_seeds_it_names():
    articles = load_annotation()
    assert sum(1 for a in articles if a.source == "seed") == 5
    assert sum(len(a.paragraphs) for a in articles if a.source == "own") >= 60


def test_tagger_meets_the_issue_goals_on_the_annotation():
    results = evaluate()
    for subset in ("seed", "all"):
        table = results[subset]
        assert table["micro"]["f1"] >= 0.85, (subset, table["micro"])
        weak = {slug: round(row["f1"], 2) for slug, row in table.items() if row["f1"] < 0.70}
        assert not weak, (subset, weak)


def test_tagging_is_fast_enough_for_a_large_corpus(tagger):
    paragraphs = [p.text for a in load_annotation() for p in a.paragraphs]
    tagger.tag_article(paragraphs)  # warm the word cache, as a long ingest would
    start = time.perf_counter()
    for _ in range(5):
        tagger.tag_article(paragraphs)
    per_second = 5 * len(paragraphs) / (time.perf_counter() - start)
    assert per_second > 2000, f"{per_second:.0f} paragraphs/second"


def test_single_spacing_skips_only_text_that_is_already_single_spaced():
    import sys

    from ingest.topics import _single_spaced

    # what its shortcut relies on: no white space character but " " is printable
    assert not [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() and c != " " and c.isprintable()]
    for text in ["a b", " a b", "a b ", "a  b", "a\tb", "a\u00a0b", "a\u2028b", "", " ", "a\x1cb", "a b\n"]:
        assert _single_spaced(text) == " ".join(text.split()), repr(text)
