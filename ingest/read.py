"""Read: find the article files under the paths given and decode each one to text."""

from __future__ import annotations

import codecs
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from . import html, provenance

TEXT_SUFFIXES = {".txt", ".text", ".md"}
HTML_SUFFIXES = {".html", ".htm"}
ARTICLE_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES
# No news article is this large; a file that is must be something else (a dump, a log, a book).
MAX_BYTES = 10_000_000
# Share of characters that must be ordinary text for a decoded file to count as text.
MIN_TEXT_SHARE = 0.97


# What a Source of a file that sources.yml says nothing of refers to (never changed: read only).
NO_PROVENANCE: dict = {}


class ReadError(Exception):
    """A file that cannot be ingested; the message says why, in words a user can act on."""


@dataclass(frozen=True, slots=True)
class Source:
    """An article file: where it is on disk, and the path we show for it. Slotted, its path a
    string (a Path object took ~400 bytes more), and files that sources.yml says nothing of share
    one empty provenance: `find_sources` holds one for every file (a build keeps them on disk,
    `files.FoundFiles`)."""

    path: str | os.PathLike  # kept as an absolute path string
    relpath: str
    provenance: dict = field(default_factory=dict, compare=False)  # from the folder's sources.yml

    def __post_init__(self):
        if not (isinstance(self.path, str) and os.path.isabs(self.path)):  # each_source's already are
            object.__setattr__(self, "path", os.path.abspath(self.path))


@dataclass
class Document:
    """An article file's bytes, decoded text, and whatever the file says about itself."""

    source: Source
    data: bytes
    text: str
    encoding: str
    meta: dict = field(default_factory=dict)
    hints: list[str | None] | None = None  # per non-blank line, the kind its markup suggests
    dropped: dict = field(default_factory=dict)  # what was removed from a web page, by reason

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def article_id(self) -> str:
        """A stable id derived from the content, so that renaming or moving a file keeps it."""
        return article_id(self.data)


def find_sources(paths: list[Path]) -> tuple[list[Source], list[tuple[str, str]]]:
    """Every article file named or found under the given paths, sorted by the path shown, and the
    paths that could not be used (`each_source`; a path named twice is read once)."""
    problems: list[tuple[str, str]] = []
    sources: dict[str, Source] = {}  # by absolute path
    for source in each_source(paths, problems):
        sources.setdefault(source.path, source)
    return sorted(sources.values(), key=lambda s: s.relpath), problems


def each_source(paths: list[Path], problems: list[tuple[str, str]]):
    """Every article file named or found under the given paths, as found (a file named twice comes
    twice), adding to `problems` each path that could not be used and why.

    Files inside a folder are shown relative to that folder, with what the
    folder's sources.yml says of them. Folders are walked without following
    symbolic links to folders, so a link loop cannot trap us.
    """
    for given in paths:
        given = Path(given)
        if not given.exists():
            problems.append((str(given), "no such file or folder"))
        elif given.is_dir():
            try:
                known = provenance.load_sources(given)
            except ValueError as error:
                problems.append((str(given / provenance.SOURCES_FILE), str(error)))
                known = {}
            # Walked from its absolute path, so that each file's path is absolute as made.
            for path, relpath in walk(os.path.abspath(given)):
                yield Source(path, relpath, known.get(relpath) or known.get(os.path.basename(path)) or NO_PROVENANCE)
        else:
            yield Source(os.path.abspath(given), given.name)


def walk(folder: Path):
    """Article files below a folder, each as its path and its path relative to the folder
    ("a/b.txt"), in a stable order, skipping hidden files and linked folders. (Strings, not Path
    objects: a million-paragraph archive has tens of thousands of files.)"""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        below = os.path.relpath(root, folder)
        for name in sorted(files):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in ARTICLE_SUFFIXES:
                yield os.path.join(root, name), (name if below == "." else f"{below}/{name}".replace(os.sep, "/"))


def article_id(data: bytes) -> str:
    """The id of the article made from these bytes: the start of their SHA-256."""
    return hashlib.sha256(data).hexdigest()[:16]


def read_bytes(source: Source) -> bytes:
    """A file's bytes, or ReadError when it cannot be read or holds nothing."""
    try:
        with open(source.path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise ReadError(f"cannot read: {error.strerror or error}") from error
    if not data.strip():
        raise ReadError("empty file")
    if len(data) > MAX_BYTES:
        raise ReadError(f"too large for an article ({len(data) / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB)")
    return data


class FileState(NamedTuple):
    """What says a file is as it was without reading it (as git's index does). Writing a file
    changes its ctime, whatever its mtime is set back to. (The columns of seen_files.)"""

    path: str  # absolute
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int


def file_state(path: str) -> FileState | None:
    """The state now of the file at an absolute path; None if it cannot be looked at."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return FileState(path, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def identify(source: Source) -> str:
    """The article id of a file, read cheaply, without decoding or analysing it."""
    return article_id(read_bytes(source))


def read_document(source: Source) -> Document:
    """Read and decode one article file, or raise ReadError saying what is wrong with it."""
    data = read_bytes(source)
    if os.path.splitext(source.path)[1].lower() in HTML_SUFFIXES:
        try:
            page = html.extract(data, source.relpath)
        except ValueError as error:
            raise ReadError(str(error).removeprefix(f"{source.relpath}: ")) from error
        meta = {**page.meta, **source.provenance}
        return Document(source, data, page.text, "html", meta, page.hints, page.dropped)
    text, encoding = decode(data)
    return Document(source, data, text, encoding, dict(source.provenance))


def decode(data: bytes) -> tuple[str, str]:
    """Decode article bytes: UTF-8 (with or without a BOM), UTF-16 with a BOM, else Windows-1252."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding), encoding
    if b"\x00" in data:
        raise ReadError("binary file, not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        utf8_error = error
    # Old Windows and web text: Windows-1252 decodes it, but so would any binary blob, so check it reads as text.
    text = data.decode("cp1252", errors="replace")
    if text_share(text) < MIN_TEXT_SHARE:
        raise ReadError(f"not text: invalid UTF-8 at byte {utf8_error.start}, and not readable as Windows-1252 either")
    return text, "cp1252"


def text_share(text: str) -> float:
    """The share of characters that are letters, digits, punctuation or ordinary white space."""
    if not text:
        return 0.0
    odd = sum(1 for c in text if (not c.isprintable() and c not in "\n\r\t") or c == "\ufffd")
    return 1 - odd / len(text)
