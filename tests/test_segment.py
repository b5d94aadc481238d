"""Segmenting: every non-blank line gets the kind a careful reader would give it."""

from ingest.segment import segment

ARTICLE = """\
Watch the video

Leaders pledge deeper ties at summit

President A (left) and President B shake hands before talks in the capital.
Photographer Name/Getty Images
hide caption

CAPITAL — The two presidents met on Monday for talks that officials said would cover energy, trade and security.

Officials signed a series of agreements, including a long-delayed plan for a new pipeline.
Sign up for our daily newsletter
The day's top stories delivered every morning.
Thanks for signing up!
Analysts said the meeting was mostly symbolic, although both sides insisted it was not.
a new chapter
The leaders will meet again next year, according to a joint statement released after the talks.
Jane Doe reported from Moscow.

Related Stories
Leave a comment
© 2024 Example News. All rights reserved.
"""


def kinds(text):
    return [(line.text, line.kind) for line in segment(text).lines]


def kind_of(text, start):
    return next(kind for line_text, kind in kinds(text) if line_text.startswith(start))


def test_headline_is_the_title():
    result = segment(ARTICLE)
    assert result.title == "Leaders pledge deeper ties at summit"
    assert not result.title_derived
    assert kind_of(ARTICLE, "Leaders pledge") == "title"


def test_player_labels_before_the_headline_are_boilerplate():
    assert kind_of(ARTICLE, "Watch the video") == "boilerplate"


def test_line_followed_by_a_photo_credit_is_a_caption():
    assert kind_of(ARTICLE, "President A (left)") == "caption"
    assert kind_of(ARTICLE, "Photographer Name/Getty Images") == "credit"
    assert kind_of(ARTICLE, "hide caption") == "boilerplate"


def test_repeated_lines_in_the_lead_are_captions():
    text = "Headline of the story\n\nThe two leaders stand at the gate.\nThe two leaders stand at the gate.\n\nBEIJING — A long first paragraph of the story that is certainly prose and goes on.\n"
    result = kinds(text)
    assert [k for t, k in result if t.startswith("The two leaders")] == ["caption", "caption"]


def test_dateline_paragraph_and_body_are_paragraphs():
    assert kind_of(ARTICLE, "CAPITAL —") == "paragraph"
    assert kind_of(ARTICLE, "Analysts said") == "paragraph"


def test_newsletter_prompt_inside_the_article_is_boilerplate_and_the_text_around_it_is_not():
    assert kind_of(ARTICLE, "Sign up for our") == "boilerplate"
    assert kind_of(ARTICLE, "The day's top stories") == "boilerplate"
    assert kind_of(ARTICLE, "Thanks for signing up") == "boilerplate"
    assert kind_of(ARTICLE, "Officials signed") == "paragraph"


def test_short_line_between_paragraphs_is_a_subhead():
    assert kind_of(ARTICLE, "a new chapter") == "subhead"


def test_reporting_credit_is_a_credit():
    assert kind_of(ARTICLE, "Jane Doe reported") == "credit"
    assert kind_of("Headline here\n\nA paragraph of reasonable length that ends here.\nJohn Smith contributed reporting.\n", "John Smith") == "credit"


def test_site_chrome_after_the_article_is_boilerplate_even_when_it_has_sentences():
    text = ARTICLE + "Support Example News\nWe are a nonprofit newsroom and your donation helps us report the news you rely on every day.\nDonate\n"
    for start in ("Related Stories", "Leave a comment", "© 2024", "Support Example", "We are a nonprofit", "Donate"):
        assert kind_of(text, start) == "boilerplate", start


def test_article_without_headline_gets_a_derived_title():
    text = "After a week of preparations, President Ames of one country arrived in the other capital on Thursday for two days of talks.\nThe second paragraph follows here with more detail.\n"
    result = segment(text)
    assert result.title_derived
    assert result.title == "President Ames of one country arrived in the other capital on Thursday for two days of talks"
    assert all(line.kind == "paragraph" for line in result.lines)


def test_derived_title_does_not_break_at_initials():
    result = segment("Vladimir V. Putin arrived in Beijing. He was greeted by Xi.\n")
    assert result.title == "Vladimir V. Putin arrived in Beijing"


def test_headline_case_title_with_a_full_stop_is_still_a_title():
    text = "Leaders Strengthen Economic, Political Ties.\n\nMOSCOW — The leaders met on Tuesday, officials said, and more prose follows here.\n"
    assert kind_of(text, "Leaders Strengthen") == "title"


def test_lead_sentence_is_not_mistaken_for_a_headline():
    text = "President Xi Jinping arrived in Moscow on Monday for a three-day state visit.\nMore text.\n"
    assert segment(text).title_derived


def test_every_non_blank_line_gets_exactly_one_known_kind():
    result = segment(ARTICLE)
    non_blank = [line for line in ARTICLE.splitlines() if line.strip()]
    assert [line.raw for line in result.lines] == non_blank
    assert {line.kind for line in result.lines} <= {"title", "paragraph", "caption", "credit", "subhead", "boilerplate"}


def test_non_breaking_spaces_are_tidied_in_text_but_kept_in_raw():
    result = segment("Headline\n\nThe leaders\u00a0met in\u00a0Moscow on Tuesday and talked for hours.\n")
    line = result.paragraphs[0]
    assert line.text == "The leaders met in Moscow on Tuesday and talked for hours."
    assert "\u00a0" in line.raw


def test_markup_hints_decide_kinds_but_boilerplate_phrases_still_win():
    text = "Summit opens\nLeaders meet\nA photo of the leaders.\nSign up for our newsletter\nThe talks began on Monday and went on late.\n"
    hints = ["title", "subhead", "caption", "paragraph", "paragraph"]
    result = segment(text, hints=hints)
    assert [line.kind for line in result.lines] == ["title", "subhead", "caption", "boilerplate", "paragraph"]
    assert result.title == "Summit opens"


def test_decomposed_accents_are_composed_in_text_but_kept_in_raw():
    raw = "Cafe\u0301 talks in Moscow went on for hours and ended late on Tuesday."
    line = segment("Headline\n\n" + raw + "\n").paragraphs[0]
    assert line.text.startswith("Caf\u00e9 ")
    assert line.raw == raw
