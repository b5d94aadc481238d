"""A response cache for the immutable archive: a page asked for again is sent from memory.

The archive is served immutable, so until the server restarts on a new file the
same URL gives the same bytes. On the day of a summit many readers run the same
searches and open the same articles; each is computed once and then costs a
dictionary lookup. Bounded by `max_bytes` in all and `max_entry_bytes` a
response (larger ones, such as big CSV exports, stream as before); the least
recently used go first, and nothing is kept longer than `ttl_seconds`. Requests
for a page that is being computed wait for it (up to 30 s) instead of computing
it again, so a crowd running the same new search costs one search.
Settings, in metadata.yml:

    plugins:
      response-cache:
        max_bytes: 134217728        # 128 MB
        max_entry_bytes: 16777216   # 16 MB; 0 turns the cache off
        ttl_seconds: 600

Only what is the same for every reader is kept: GET requests for the immutable
databases' pages (and for the home and search pages when every database is
immutable), without cookies or credentials, answered 200 without setting a
cookie and without a count or facet that ran out of time (which may answer next
time; where a page cannot tell, in a JSON facet list, the time to live bounds
how long it is repeated). A request with `Cache-Control: no-cache` is computed
afresh. Every cacheable response says `x-archive-cache: hit` or `miss`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict

from datasette import hookimpl

DEFAULTS = {"max_bytes": 128 * 1024 * 1024, "max_entry_bytes": 16 * 1024 * 1024, "ttl_seconds": 600}
# How Datasette's pages say that a count or facet ran out of time (HTML; a JSON count left empty).
DEGRADED = (b"These facets timed out", b'"filtered_table_rows_count": null')
# Headers under which a response may differ from one reader to another.
PERSONAL_HEADERS = {b"cookie", b"authorization"}
# How long a request waits for the same one already being computed before computing it too.
WAIT_FOR_SAME_SECONDS = 30
# Each Datasette's cache, for looking into (tests, debugging).
CACHES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class ResponseCache:
    """Complete responses by request, least recently used dropped first once over the byte budget."""

    def __init__(self, max_bytes: int, max_entry_bytes: int, ttl_seconds: float):
        self.max_bytes, self.max_entry_bytes = max_bytes, min(max_entry_bytes, max_bytes)
        self.ttl_seconds = ttl_seconds
        self.entries: OrderedDict[tuple, tuple[int, list, bytes, float]] = OrderedDict()
        self.size = 0

    @staticmethod
    def cost(key, body: bytes) -> int:
        # The URL counts too: many tiny answers to very long queries must not grow without bound.
        return len(body) + sum(len(part) for part in key if part)

    def get(self, key) -> tuple[int, list, bytes] | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if time.monotonic() > entry[3]:
            self.size -= self.cost(key, self.entries.pop(key)[2])
            return None
        self.entries.move_to_end(key)
        return entry[:3]

    def put(self, key, status: int, headers: list, body: bytes) -> None:
        if len(body) > self.max_entry_bytes:
            return
        if key in self.entries:
            self.size -= self.cost(key, self.entries.pop(key)[2])
        self.entries[key] = (status, headers, body, time.monotonic() + self.ttl_seconds)
        self.size += self.cost(key, body)
        while self.size > self.max_bytes:
            old_key, (_, _, old_body, _) = self.entries.popitem(last=False)
            self.size -= self.cost(old_key, old_body)


def cache_key(scope, datasette) -> tuple | None:
    """What identifies a cacheable request's response, or None when it must be computed."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    headers = dict(scope.get("headers") or [])
    if PERSONAL_HEADERS & headers.keys() or b"no-cache" in headers.get(b"cache-control", b""):
        return None
    query = scope.get("query_string", b"")
    if b"_trace" in query:  # timings of this very request
        return None
    path = scope["path"]
    immutable = immutable_databases(datasette)
    if path == "/" or path.startswith("/-/search"):
        # Pages about every database (the home page; the search page reads the first one).
        if any(name not in immutable for name in datasette.databases if name != "_internal"):
            return None
    elif database_of(path) not in immutable:
        return None
    # Absolute URLs in pages and JSON (next page, facet toggles) are made from the host asked for.
    return scope.get("scheme"), headers.get(b"host"), scope.get("root_path", ""), path, query


def database_of(path: str) -> str:
    """The database a path such as /archive/paragraphs.json or /archive.json is about."""
    first = path.lstrip("/").split("/", 1)[0]
    return first.rsplit(".", 1)[0] if "." in first else first


def immutable_databases(datasette) -> set[str]:
    return {name for name, db in datasette.databases.items() if not db.is_mutable}


def caching(app, cache: ResponseCache, datasette):
    """An ASGI app that answers from the cache, or asks `app` and keeps a complete, shareable answer."""

    # Requests being computed, by key: the same page asked for again meanwhile waits for it.
    computing: dict[tuple, asyncio.Event] = {}

    async def wrapped(scope, receive, send):
        key = cache_key(scope, datasette)
        if key is None:
            await app(scope, receive, send)
            return
        if key in computing:
            # A crowd asking for the same new search at once is answered by one computation.
            try:
                await asyncio.wait_for(computing[key].wait(), timeout=WAIT_FOR_SAME_SECONDS)
            except asyncio.TimeoutError:
                pass
        entry = cache.get(key)
        if entry is not None:
            status, headers, body = entry
            await send({"type": "http.response.start", "status": status, "headers": headers + [(b"x-archive-cache", b"hit")]})
            await send({"type": "http.response.body", "body": body})
            return
        done = computing[key] = asyncio.Event()
        try:
            await compute(key, scope, receive, send)
        finally:
            if computing.get(key) is done:
                del computing[key]
            done.set()

    async def compute(key, scope, receive, send):
        kept: dict = {"status": None, "headers": None, "chunks": [], "size": 0, "keep": False}

        async def keeping_send(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                kept.update(status=message["status"], headers=headers,
                            keep=message["status"] == 200 and not any(name.lower() == b"set-cookie" for name, _ in headers))
                message = {**message, "headers": headers + [(b"x-archive-cache", b"miss")]}
            elif message["type"] == "http.response.body" and kept["keep"]:
                body = message.get("body", b"")
                kept["size"] += len(body)
                if kept["size"] > cache.max_entry_bytes:
                    kept.update(keep=False, chunks=[])  # too big to keep: stream on, keep nothing
                else:
                    kept["chunks"].append(body)
                    if not message.get("more_body"):
                        body = b"".join(kept["chunks"])
                        if not any(marker in body for marker in DEGRADED):
                            cache.put(key, kept["status"], kept["headers"], body)
            await send(message)

        await app(scope, receive, keeping_send)

    return wrapped


@hookimpl
def asgi_wrapper(datasette):
    settings = {**DEFAULTS, **(datasette.plugin_config("response-cache") or {})}
    if settings["max_entry_bytes"] <= 0 or settings["max_bytes"] <= 0:
        return None
    cache = CACHES[datasette] = ResponseCache(
        int(settings["max_bytes"]), int(settings["max_entry_bytes"]), float(settings["ttl_seconds"]))

    def wrap(app):
        return caching(app, cache, datasette)

    return wrap
