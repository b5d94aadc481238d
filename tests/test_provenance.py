"""Provenance: sources.yml beside the articles, and the outlet an article's own text names."""

from datetime import date
from pathlib import Path

import pytest

from ingest.provenance import detect_outlet, load_outlets, load_sources

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

BODY = [
    "Xi Jinping and Vladimir Putin pledged on Tuesday to deepen cooperation in energy and trade, "
    "signing a string of agreements at the end of two days of talks in the Kremlin.",
    "The two leaders, who have met more than 40 times, said relations were at their best ever.",
]


def article(*lines: str) -> list[str]:
    """An article body with some lines of site chrome or credits after it."""
    return [*BODY, *lines]


# --- sources.yml ------------------------------------------------------------------------------


def write_sources(folder: Path, text: str) -> Path:
    (folder / "sources.yml").write_text(text, encoding="utf-8")
    return folder


def test_sources_give_each_file_its_url_outlet_date_and_author(tmp_path):
    write_sources(tmp_path, """
000_summit.txt:
  url: https://www.example.com/world/2013/03/22/xi-moscow
  outlet: Boston Globe
  published: 2013-03-22
  author: Associated Press
"sub/004 npr.txt":
  outlet: "  NPR "
  published: "2024-05-17T09:00:00Z"
""")
    sources = load_sources(tmp_path)
    assert sources["000_summit.txt"] == {
        "url": "https://www.example.com/world/2013/03/22/xi-moscow",
        "outlet": "Boston Globe",
        "published": date(2013, 3, 22),
        "author": "Associated Press",
    }
    assert sources["sub/004 npr.txt"] == {"outlet": "NPR", "published": date(2024, 5, 17)}


def test_a_folder_without_sources_has_no_provenance(tmp_path):
    assert load_sources(tmp_path) == {}
    assert load_sources(write_sources(tmp_path, "# nothing yet\n")) == {}


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a.txt:\n  url: [unclosed\n", r"not valid YAML.*line \d"),
        ("- a.txt\n- b.txt\n", "expected file names"),
        ("a.txt: https://example.com/a\n", "expected some of url, outlet, published, author; found text"),
        ("a.txt:\n  outlet: NPR\n  publisher: NPR\n", "unknown field 'publisher'"),
        ("a.txt:\n  url: javascript:alert(1)\n", "url must be a web address"),
        ("a.txt:\n  url: www.example.com/a\n", "url must be a web address"),
        ("a.txt:\n  published: last spring\n", "published must be a date"),
        ("a.txt:\n  published: 2024-02-30\n", "published must be a date"),
        ("a.txt:\n  outlet: [NPR, PBS]\n", "outlet must be text"),
        ("a.txt:\n  outlet: NPR\na.txt:\n  outlet: PBS\n", "'a.txt' is listed twice"),
    ],
)
def test_a_malformed_sources_file_is_refused_saying_where_and_why(tmp_path, text, problem):
    write_sources(tmp_path, text)
    with pytest.raises(ValueError, match=problem) as error:
        load_sources(tmp_path)
    assert "sources.yml" in str(error.value)


# --- outlet detection ------------------------------------------------------------------------


def test_a_copyright_notice_names_the_site_even_one_we_do_not_know():
    assert detect_outlet(article("© 2021 Danube Post. All rights reserved.")) == ("Danube Post", "copyright notice")
    assert detect_outlet(article("Copyright © 2019 Baltic Daily Courier. Reproduction prohibited.")) == (
        "Baltic Daily Courier", "copyright notice")
    assert detect_outlet(article("Steppe Herald © 2024")) == ("Steppe Herald", "copyright notice")


def test_a_known_outlet_is_shown_under_its_own_name_whatever_alias_the_text_uses():
    assert detect_outlet(article("Copyright 2024 Thomson Reuters")) == ("Reuters", "copyright notice")
    assert detect_outlet(article("© 2023 The Associated Press. All rights reserved.")) == ("Associated Press", "copyright notice")


def test_subscription_prompts_and_appeals_name_the_site():
    assert detect_outlet(article("Sign up for The Moscow Times newsletter")) == ("The Moscow Times", "subscribe prompt")
    assert detect_outlet(article("Subscribe to Meduza")) == ("Meduza", "subscribe prompt")
    assert detect_outlet(article("Support the Kyiv Independent")) == ("Kyiv Independent", "support appeal")


def test_a_site_describing_itself_to_its_readers_names_the_site():
    line = "Meduza is an independent news outlet, and we depend on our readers to keep going."
    assert detect_outlet(article(line)) == ("Meduza", "self-description")


def test_the_site_name_in_menus_and_mastheads_names_the_site():
    assert detect_outlet(["SCMP", *BODY]) == ("South China Morning Post", "site name in chrome")
    assert detect_outlet(article("Meduza Podcasts")) == ("Meduza", "site name in chrome")


def test_a_wire_dateline_names_the_agency():
    lines = ["MOSCOW, March 21 (Reuters) - Xi Jinping and Vladimir Putin hailed a new era in relations on Tuesday."]
    assert detect_outlet(lines) == ("Reuters", "wire dateline")
    assert detect_outlet(["BEIJING (AP) — Putin arrived in Beijing on Thursday."]) == ("Associated Press", "wire dateline")


def test_a_byline_or_credit_that_gives_the_employer_names_the_outlet():
    assert detect_outlet(["By Anna Lee, Bloomberg", *BODY]) == ("Bloomberg", "site name in credit")
    assert detect_outlet(article("NPR's Emily Feng reported from Beijing.")) == ("NPR", "site name in credit")
    assert detect_outlet(article("Associated Press writer Ken Moritsugu in Beijing contributed to this report.")) == (
        "Associated Press", "site name in credit")


def test_an_interview_by_the_outlets_own_reporters_names_the_outlet():
    lines = article("“We are not allies,” the official told NPR on Friday, describing the talks.")
    assert detect_outlet(lines) == ("NPR", "told NPR in a reporter's line")
    lines = article("In an interview with the Guardian, the minister said trade would keep growing this year.")
    assert detect_outlet(lines) == ("The Guardian", "In an interview with Guardian in a reporter's line")


@pytest.mark.parametrize(
    "line",
    [
        "Putin told the Xinhua news agency that ties had never been stronger.",
        "According to Reuters, the pipeline deal is still stuck on price.",
        "The Wall Street Journal has reported that the call was planned.",
        "Bloomberg Businessweek reports:",
        "China Daily reports on the leaders’ plans to promote tourism between the countries:",
        "“This relationship will continue to grow,” he said, according to Russian state media.",
        "The Financial Times, citing people familiar with the matter, said the deal was close.",
        "Reuters",
        "Contributor/Getty Images",
        "Sergei Bobylev/Sputnik/Pool via Reuters",
        "© Getty Images",
        "The mayor said he told time and again that the bridge would be built.",
        "Xinhua is the official state news agency of China.",
        "Copyright Law Changes Worry Foreign Publishers",
    ],
)
def test_an_outlet_quoted_as_a_source_or_credited_for_a_photo_is_not_the_publisher(line):
    assert detect_outlet(article(line)) == (None, None)


def test_a_notice_only_the_publisher_prints_outweighs_a_reporters_line():
    lines = article("The minister told The Wall Street Journal that talks would go on.", "© 2023 AicoNews right Reserves")
    assert detect_outlet(lines) == ("AicoNews", "copyright notice")


def test_text_that_names_no_publisher_has_unknown_provenance():
    assert detect_outlet(BODY) == (None, None)
    assert detect_outlet([]) == (None, None)


def test_outlets_are_data_a_user_can_extend(tmp_path):
    lines = article("Subscribe to Steppe Herald")
    assert detect_outlet(lines) == (None, None)
    extended = tmp_path / "outlets.yml"
    extended.write_text("outlets:\n  Steppe Herald:\n    aliases: [The Herald]\n", encoding="utf-8")
    assert detect_outlet(lines, load_outlets(extended)) == ("Steppe Herald", "subscribe prompt")


@pytest.mark.parametrize(
    "seed, expected",
    [
        ("000", (None, None)),  # an AP story on a news site; nothing in the text names either
        ("001", ("China Digital Times", "subscribe prompt")),
        ("002", (None, None)),  # a reworded copy of another paper's story, with no site chrome
        ("003", ("AicoNews", "copyright notice")),
        ("004", ("NPR", "told NPR in a reporter's line")),
    ],
)
def test_the_seeds_name_their_publishers_where_their_text_does(seed, expected):
    path = next(SEEDS.glob(f"{seed}_*.txt"))
    assert detect_outlet(path.read_text(encoding="utf-8").splitlines()) == expected
