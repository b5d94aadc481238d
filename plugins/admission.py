"""Admission: a server process computes a few requests at a time, first come first served.

Datasette starts every request at once: under 16 concurrent readers a process
shares its core among 16 requests (and its GIL among their threads), so each
takes about 16 times its own work — a 13 MB CSV export of 0.3 s became 3–4 s.
Queued in order of arrival instead, every request waits about as long as the
work ahead of it and then runs at full speed: the short ones wait no longer
than before, and the long ones stop being the tail. One at a time measured
best: with two, their threads contend for the GIL again (at 100,000
paragraphs, 32 connections, every request fresh: 75–87 requests/s with one,
66–74 with two).

A request holds its place for at most `hold_seconds`; one that takes longer (a
reader slowly downloading a big export, a query running into its time limit)
keeps running but lets the next request in, so a few slow readers cannot stall
everybody. Answers from the response cache never queue (it wraps this).
Settings, in metadata.yml:

    plugins:
      admission:
        slots: 1            # requests computed at once per process; 0 turns this off
        hold_seconds: 0.5
"""

from __future__ import annotations

import asyncio

from datasette import hookimpl

DEFAULTS = {"slots": 1, "hold_seconds": 0.5}


class Admission:
    """A first-come-first-served gate of `slots` places, each held for at most `hold_seconds`."""

    def __init__(self, slots: int, hold_seconds: float):
        self.slots, self.hold_seconds = slots, hold_seconds
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def semaphore(self) -> asyncio.Semaphore:
        # Made on first use, inside the server's event loop.
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        return self._semaphore

    async def run(self, start) -> None:
        """Run the coroutine that `start()` makes once a place is free; free the place when it is
        done, or after hold_seconds if it is not. (Made only once admitted, so a request given up
        while queued leaves no coroutine behind.)"""
        await self.semaphore.acquire()
        task = asyncio.ensure_future(start())
        try:
            await asyncio.wait_for(asyncio.shield(task), self.hold_seconds)
        except asyncio.TimeoutError:
            self.semaphore.release()
            await task
            return
        except BaseException:
            task.cancel()
            self.semaphore.release()
            raise
        self.semaphore.release()


def admitting(app, admission: Admission):
    """ASGI middleware: HTTP requests go through the gate; everything else passes."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        await admission.run(lambda: app(scope, receive, send))

    return wrapped


# Innermost of the wrappers, so that the response cache (outside) answers repeats without queueing.
@hookimpl(tryfirst=True)
def asgi_wrapper(datasette):
    settings = {**DEFAULTS, **(datasette.plugin_config("admission") or {})}
    if int(settings["slots"]) <= 0:
        return None
    admission = Admission(int(settings["slots"]), float(settings["hold_seconds"]))
    return lambda app: admitting(app, admission)
