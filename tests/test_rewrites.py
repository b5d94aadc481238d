"""Garbled rewrites: synonym-spun copies, machine-translation round trips, and garbled names."""

from pathlib import Path

import pytest

from ingest.rewrites import (
    load_rules,
    name_counts,
    name_key,
    name_variants,
    rewrite_score,
    similar_names,
)

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

ORIGINAL = [
    "Putin called Xi his dear friend and said natural gas exports to China would keep rising, "
    "according to state media.",
    "The two leaders also discussed the war in Ukraine and agreed to expand cooperation in space "
    "and nuclear energy research over the next decade.",
]
# The same paragraphs through a synonym spinner (written for this test).
SPUN = [
    "Putin known as Xi his pricey buddy and mentioned pure gasoline exports to China would hold rising, "
    "in line with state media.",
    "The 2 leaders additionally mentioned the conflict in Ukraine and agreed to increase cooperation in "
    "area and nuclear vitality analysis over the subsequent decade.",
]


def test_spun_paragraphs_score_far_above_their_original():
    spun, original = rewrite_score(SPUN), rewrite_score(ORIGINAL)
    assert spun.flag and not original.flag
    assert original.score == 0.0 and original.evidence == []
    assert spun.score > 0.5


def test_evidence_names_the_spinner_phrase_and_what_it_replaced():
    evidence = " ".join(rewrite_score(SPUN).evidence)
    assert "pricey buddy" in evidence and "dear friend" in evidence
    assert "pure gasoline" in evidence and "natural gas" in evidence


def test_each_paragraph_gets_its_own_score_and_evidence():
    result = rewrite_score([ORIGINAL[1], SPUN[0]])
    assert result.paragraph_scores[0] == 0.0 < result.paragraph_scores[1]
    assert result.paragraph_evidence[0] == [] and any("pricey buddy" in e for e in result.paragraph_evidence[1])


def test_a_dangling_fragment_after_a_full_stop_is_a_machine_translation_artefact():
    text = ["Beijing has refused to criticize Moscow over the war in Ukraine, analysts said on Friday. are doing."]
    result = rewrite_score(text)
    assert any("are doing." in e for e in result.evidence)
    assert 0 < result.score < 0.5  # one artefact alone is a typo, not a rewrite


def test_doubled_full_stops_and_stray_closing_quotes_are_artefacts():
    result = rewrite_score(["The talks ended on Friday. . Both sides called them useful and candid and constructive. ”"])
    kinds = " ".join(result.evidence)
    assert "doubled full stop" in kinds and "closing quotation mark" in kinds


def test_abbreviations_and_initials_are_not_sentence_ends():
    clean = [
        "U.S. officials said the meeting in St. Petersburg was closely watched, and Vladimir V. Putin "
        "said little. Mr. Xi left on Wednesday at 9 a.m. local time for Kazakhstan."
    ]
    assert rewrite_score(clean).evidence == []


def test_attributions_after_quotations_and_ellipses_are_not_lowercase_sentence_starts():
    clean = [
        "“Why should we choose?” he asked. “Never!” she replied, and the talks went on... and on "
        "until late in the evening."
    ]
    assert rewrite_score(clean).evidence == []


def test_one_name_spelled_two_ways_in_an_article_is_evidence():
    text = [
        "“Beijing is in no hurry,” said Alexander Gabuyev, who directs a Berlin research centre on Russia.",
        "Gabuev added that the gas pipeline talks had stalled again over price and volumes.",
    ]
    assert any("Gabuev" in e and "Gabuyev" in e for e in rewrite_score(text).evidence)


def test_a_long_careful_article_with_one_weak_phrase_is_not_flagged():
    paragraph = (
        "The leaders reviewed trade, energy and security, and officials said the talks were in line with "
        "the plan agreed last year by both governments in Moscow."
    )
    result = rewrite_score([paragraph] + ORIGINAL * 10)
    assert not result.flag and result.score < 0.2


def test_users_can_extend_the_phrases_in_the_rules_file(tmp_path):
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text("strong:\n  glorious chief: great leader\n", encoding="utf-8")
    result = rewrite_score(["The glorious chief arrived in Moscow on Tuesday for a two-day state visit."], rules=load_rules(rules_file))
    assert result.evidence and "great leader" in result.evidence[0]


# -- names across the archive


@pytest.mark.parametrize("a, b", [("Gabuev", "Gabuyev"), ("Charap", "Sharup"), ("Charap", "Charup"), ("Zelensky", "Zelenskiy"), ("Dmitry", "Dmitri")])
def test_transliteration_and_sound_variants_are_similar_names(a, b):
    assert name_key(a) == name_key(b)
    assert similar_names(a, b)


@pytest.mark.parametrize("a, b", [("Russia", "Russian"), ("Putin", "Patten"), ("Chen", "Shen"), ("Xi", "Li"), ("Moscow", "Moscow")])
def test_derived_forms_short_names_and_different_names_are_not_variants(a, b):
    assert not similar_names(a, b)


def test_rare_spellings_of_common_names_are_found_across_the_archive():
    counts = {"Charap": 14, "Sharup": 2, "Gabuev": 9, "Gabuyev": 1, "Russia": 50, "Russian": 40, "Lavrov": 3}
    assert name_variants(counts) == {"Sharup": "Charap", "Gabuyev": "Gabuev"}


def test_a_known_canonical_spelling_wins_even_when_rare():
    assert name_variants({"Sharup": 2, "Charup": 1}, known=["Samuel Charap"]) == {"Sharup": "Charap", "Charup": "Charap"}


def test_name_counts_skip_capitalised_common_words_and_titles():
    counts = name_counts(["Earlier, the Minister met Gabuev.", "Earlier talks failed; the earlier plan and an earlier deal too.", "The Ministry said so."])
    assert counts["Gabuev"] == 1
    assert "Earlier" not in counts and "Minister" not in counts and "Ministry" not in counts


def test_rare_variant_passed_in_is_reported_for_the_article():
    result = rewrite_score(["Analyst Samuel Sharup of Rand said the summit changed little for Moscow."], {"Sharup": "Charap"})
    assert any("Sharup" in e and "Charap" in e for e in result.evidence)


# -- the seeds


def seed_article(prefix):
    """Body paragraphs of a seed, read simply: stripped lines of more than 12 words."""
    path = next(SEEDS.glob(f"{prefix}_*.txt"))
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if len(line.split()) > 12]


def test_seed_flags_spun_002_only_and_scores_machine_translated_004_between():
    scores = {prefix: rewrite_score(seed_article(prefix)) for prefix in ("000", "001", "002", "003", "004")}
    assert scores["002"].flag and scores["002"].level == "rewritten"
    for clean in ("000", "001", "003"):
        assert not scores[clean].flag and scores[clean].level == "clean", scores[clean].evidence
    assert max(scores[c].score for c in ("000", "001", "003")) < scores["004"].score < scores["002"].score
    assert scores["004"].level == "suspect" and not scores["004"].flag


def test_name_and_lower_word_patterns_find_what_the_plain_word_boundary_forms_find():
    import re

    from ingest import rewrites

    plain_name = re.compile(r"\b[A-Z][a-z]+(?:[-’'][A-Za-z]+)*\b")
    plain_lower = re.compile(r"\b[a-z]+(?:[-’'][a-z]+)*\b")
    texts = [
        "Putin's O’Brien met Jin-ping and McDonald, xAbc aBc Abc1 _Abc Éabc Abc-def abc-Def",
        "A Ab ab a1b 1ab ab_ é ab-cd-Ef ab'cd ab’ ‘Ab’ (Ab) Ab. ab. İstanbul Kelvin Σας",
        "", "A", "a", "Ab", "ab", "x\nAb\nab\n", "Ab-", "-ab", "ab--cd", "ÀbAb Ab_ab",
    ]
    for text in texts:
        assert rewrites.NAME.findall(text) == plain_name.findall(text), text
        assert rewrites.LOWER_WORD.findall(text) == plain_lower.findall(text), text
