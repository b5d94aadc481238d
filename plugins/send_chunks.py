"""Streamed responses sent in chunks of a useful size, not a message per row.

Datasette streams a CSV export a row at a time: each row is its own ASGI message,
which the server turns into its own chunk and its own write to the socket. For
10,000 rows that was most of the export's time (at 1M paragraphs, ~250 of the
table CSV's ~540 ms). This wrapper, outermost so that every other one sees what
Datasette sends, joins the body messages of a response until they hold
`CHUNK_BYTES` and sends them as one; the last message goes out with whatever is
waiting. Bytes, headers and order are unchanged: only the number of writes is.
"""

from __future__ import annotations

from datasette import hookimpl

# Big enough that a write per chunk costs little, small enough that a client sees progress soon.
CHUNK_BYTES = 64 * 1024


def sending_in_chunks(app, chunk_bytes: int | None = None):
    """An ASGI app that sends `app`'s response bodies in chunks of at least `chunk_bytes` (default
    CHUNK_BYTES; the last may be smaller)."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        least = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
        waiting: list[bytes] = []
        size = 0

        async def flush(more_body: bool):
            nonlocal size
            body = b"".join(waiting)
            waiting.clear()
            size = 0
            await send({"type": "http.response.body", "body": body, "more_body": more_body})

        async def chunking_send(message):
            nonlocal size
            if message["type"] != "http.response.body":
                if waiting:  # keep the order: what came before goes first
                    await flush(True)
                return await send(message)
            waiting.append(message.get("body", b""))
            size += len(waiting[-1])
            if not message.get("more_body", False):
                await flush(False)
            elif size >= least:
                await flush(True)

        try:
            await app(scope, receive, chunking_send)
        finally:
            # An app that stopped mid-body (it failed) left the response unfinished: what it sent
            # still goes out, as it would have unjoined, and the response stays unfinished.
            if waiting:
                try:
                    await flush(True)
                except Exception:  # the client has gone: the app's own failure is the one to report
                    pass

    return wrapped


# Last, so outermost: the response cache and the search guard inside it still see every message.
@hookimpl(trylast=True)
def asgi_wrapper(datasette):
    return sending_in_chunks
