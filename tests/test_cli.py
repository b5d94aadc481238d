"""The ingest command as a user runs it: `python -m ingest PATH... --db FILE`."""

import re
import shutil
import sqlite3
import subprocess
import sys

from conftest import ROOT, SEEDS


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "ingest", *map(str, args)], cwd=cwd, capture_output=True, text=True)


def test_build_prints_a_one_line_summary(tmp_path):
    result = run(SEEDS, "--db", tmp_path / "archive.db")
    assert result.returncode == 0, result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    assert "5 articles" in summary and "paragraphs" in summary and "0 errors" in summary


def test_a_bad_file_is_named_the_good_ones_are_still_ingested_and_the_exit_code_says_so(tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(SEEDS, folder)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result = run(folder, "--db", tmp_path / "archive.db")
    assert result.returncode == 1
    assert "empty.txt: empty file" in result.stderr
    assert "picture.txt: binary file" in result.stderr
    conn = sqlite3.connect(tmp_path / "archive.db")
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 5
    assert {r[0] for r in conn.execute("SELECT path FROM ingest_errors")} == {"empty.txt", "picture.txt"}


def test_a_missing_path_is_reported(tmp_path):
    result = run(SEEDS, tmp_path / "nowhere", "--db", tmp_path / "archive.db")
    assert result.returncode == 1
    assert "nowhere: no such file or folder" in result.stderr


def test_help_explains_every_option():
    result = run("build", "--help")
    assert result.returncode == 0
    for option in ("--db", "--strict", "--quiet"):
        assert option in result.stdout
    assert "explain" in run("--help").stdout


def test_explain_shows_line_kinds_meeting_evidence_and_topics():
    seed = sorted(SEEDS.glob("*.txt"))[3]
    result = run("explain", seed)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Lines" in out and "boilerplate" in out and "paragraph" in out
    assert "Meeting: 2023-03-moscow" in out
    assert "topics:" in out


def test_a_long_build_names_its_stages_after_the_progress_bar_and_a_short_one_stays_quiet(tmp_path, monkeypatch):
    """At a million paragraphs the build runs a minute or two after its progress bar: it says
    which stage it is in. A build of a few files says nothing but its summary."""
    from click.testing import CliRunner

    from ingest import cli

    short = CliRunner().invoke(cli.cli, [str(SEEDS), "--db", str(tmp_path / "short.db")])
    assert short.exit_code == 0, short.output
    assert "stage:" not in short.output

    monkeypatch.setattr(cli, "STAGES_AFTER_SECONDS", 0)  # as if every stage came late in a long build
    long = CliRunner().invoke(cli.cli, [str(SEEDS), "--db", str(tmp_path / "long.db")])
    assert long.exit_code == 0, long.output
    stages = [line for line in long.output.splitlines() if line.startswith("stage:")]
    assert any(line.startswith("stage: copies over") for line in stages)
    assert any(line.startswith("stage: full-text index") for line in stages)
    assert all(re.search(r", at \d+\.\d s$", line) for line in stages)  # the time since the build began

    quiet = CliRunner().invoke(cli.cli, [str(SEEDS), "--db", str(tmp_path / "quiet.db"), "--quiet"])
    assert quiet.exit_code == 0 and "stage:" not in quiet.output
