"""Helpers the benchmark scripts share: the machine's description, percentiles, a Datasette to measure."""

from __future__ import annotations

import os
import platform
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PYTHON = sys.executable


def machine() -> str:
    """One line naming what the figures were measured on: cores, memory, Python, SQLite, Datasette."""
    try:
        with open("/proc/meminfo") as meminfo:
            memory = f"{int(meminfo.readline().split()[1]) / 2**20:.1f} GiB"
    except OSError:
        memory = "unknown memory"
    try:
        from importlib.metadata import version

        versions = f"Datasette {version('datasette')}, sqlite-utils {version('sqlite-utils')}"
    except Exception:  # not installed in this interpreter: say so rather than fail
        versions = "Datasette ?"
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores (nproc), {memory} RAM, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {versions}"
    )


def load_average() -> str:
    """The 1-minute load average, to show whether other work shared the machine during a measurement."""
    return f"load average {os.getloadavg()[0]:.2f}"


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0–100) of values, interpolated between the nearest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served_as_archive(db: Path) -> Path:
    """A path to db named archive.db: Datasette names a database after its file, and metadata.yml says `archive`."""
    if db.name == "archive.db":
        return db
    link = OUT / "serve" / db.stem / "archive.db"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(db.resolve())
    return link


# Datasette's defaults with only what the archive's pages need: what the brief for these benchmarks named.
PLAIN_FLAGS = ["--metadata", "metadata.yml", "--plugins-dir", "plugins", "--template-dir", "templates"]


class Datasette:
    """The archive served as `make serve` serves it (serve.py), on a free localhost port; stopped on exit.

    Used as a context manager: the server is started, awaited (bounded) and
    always terminated, so a benchmark never leaves it running. With ``inspect``,
    `datasette inspect` runs first and the server starts from its counts, as
    `make serve` does; ``workers`` sets the server processes (default: serve.py's,
    one per core); ``extra`` adds `datasette serve` options; ``plain`` serves with
    plain `datasette serve` and PLAIN_FLAGS instead.
    """

    def __init__(self, db: Path, extra: list[str] | None = None, plain: bool = False,
                 inspect: bool = True, workers: int | None = None, startup_timeout: float = 120):
        self.db = served_as_archive(Path(db))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.plain, self.workers = plain, workers
        self.extra = extra or []
        self.inspect_file = self.db.with_suffix(".inspect.json") if inspect and not plain else None
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log = OUT / f"datasette-{self.port}.log"

    def command(self) -> list[str]:
        address = ["--host", "127.0.0.1", "--port", str(self.port)]
        if self.plain:
            return [str(Path(PYTHON).with_name("datasette")), "serve", "-i", str(self.db), *PLAIN_FLAGS, *address, *self.extra]
        inspect = ["--inspect-file", str(self.inspect_file)] if self.inspect_file else []
        workers = ["--workers", str(self.workers)] if self.workers else []
        return [PYTHON, str(ROOT / "serve.py"), str(self.db), *inspect, *address, *workers, "--", *self.extra]

    def __enter__(self) -> "Datasette":
        OUT.mkdir(parents=True, exist_ok=True)
        if self.inspect_file:
            subprocess.run(
                [str(Path(PYTHON).with_name("datasette")), "inspect", str(self.db), "--inspect-file", str(self.inspect_file)],
                check=True, timeout=1800, cwd=ROOT,
            )
        log = open(self.log, "wb")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"datasette exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/-/versions.json", timeout=5) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"datasette did not answer within {self.startup_timeout:.0f}s; see {self.log}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
