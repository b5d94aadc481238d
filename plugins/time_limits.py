"""SQL time limits that cost nothing while a query runs.

Datasette 0.65 stops a query at its time limit with a SQLite progress handler: a
Python function that SQLite calls every 1,000 virtual-machine instructions (about
every 0.08 ms) to look at the clock. Each call needs the GIL, and under load the
event loop's thread holds it, rendering pages: each call waits its turn, up to
Python's 5 ms switch interval. Measured on the 100,000-paragraph archive, a 12 ms
count took 1,100 ms while another thread was busy, which is why one server
answered no more requests a second at 32 connections than at one.

Here a query's time limit is a deadline kept by one watchdog thread, which calls
`conn.interrupt()` if the query is still running when it passes; the query never
calls back into Python. SQLite ends an interrupted query with the same
"interrupted" error as the progress handler did, so Datasette reports a time-out
exactly as before ("SQL query took too long", facets that "timed out").
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from contextlib import contextmanager

import datasette.database
import datasette.utils


class Watchdog:
    """One thread that interrupts each watched connection whose deadline has passed."""

    def __init__(self):
        self.condition = threading.Condition()
        self.deadlines: list[tuple[float, int, dict]] = []  # a heap, soonest first
        self.order = itertools.count()
        self.thread: threading.Thread | None = None

    def watch(self, conn, seconds: float) -> dict:
        """Interrupt `conn` in `seconds` unless `release` is called first."""
        entry = {"conn": conn, "live": True}
        deadline = time.monotonic() + seconds
        with self.condition:
            sooner = not self.deadlines or deadline < self.deadlines[0][0]
            heapq.heappush(self.deadlines, (deadline, next(self.order), entry))
            if self.thread is None:
                self.thread = threading.Thread(target=self.run, name="sql-time-limits", daemon=True)
                self.thread.start()
            elif sooner:
                self.condition.notify()
        return entry

    def release(self, entry: dict) -> None:
        # Under the lock: once this returns the watchdog cannot interrupt this connection for
        # this query, so a query finishing at its deadline never interrupts the next one.
        with self.condition:
            entry["live"] = False

    def run(self) -> None:
        with self.condition:
            while True:
                while self.deadlines and not self.deadlines[0][2]["live"]:
                    heapq.heappop(self.deadlines)
                if not self.deadlines:
                    self.condition.wait()
                    continue
                deadline, _, entry = self.deadlines[0]
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self.condition.wait(remaining)
                    continue
                heapq.heappop(self.deadlines)
                entry["live"] = False
                entry["conn"].interrupt()


# Datasette runs this file again for each Datasette it starts (tests start many): the process keeps
# the watchdog (and its thread) of the first run, found on the function installed below.
WATCHDOG = getattr(datasette.database.sqlite_timelimit, "watchdog", None) or Watchdog()


# Datasette's own time limit. Below 50 ms it checks the clock at every instruction, which only a
# handler can do (a thread may take longer than that to wake); our settings are a second or more.
# (Taken from datasette.utils, which is never replaced: each Datasette instance loads this file anew.)
PROGRESS_HANDLER_LIMIT = datasette.utils.sqlite_timelimit
SHORTEST_WATCHED_MS = 50


@contextmanager
def interrupt_after(conn, ms):
    """Datasette's `sqlite_timelimit(conn, ms)`, kept by the watchdog instead of a progress handler."""
    if ms < SHORTEST_WATCHED_MS:
        with PROGRESS_HANDLER_LIMIT(conn, ms):
            yield
        return
    entry = WATCHDOG.watch(conn, ms / 1000)
    try:
        yield
    finally:
        WATCHDOG.release(entry)


# Datasette's Database.execute looks the function up in its module on every query.
interrupt_after.watchdog = WATCHDOG
datasette.database.sqlite_timelimit = interrupt_after
