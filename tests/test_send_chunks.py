"""Streamed responses leave the server in chunks of a useful size, with the same bytes."""

import csv
import io
import json

import pytest

from conftest import make_datasette, plugin, rows

STREAMED_CSV = ("/archive/paragraphs.csv", b"_stream=on&_size=max")


async def messages_sent(app, path: str, query_string: bytes = b"") -> list[dict]:
    """Every ASGI message `app` sends the server for one GET request."""
    scope = {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "root_path": "",
        "path": path, "raw_path": path.encode(), "query_string": query_string,
        "headers": [(b"host", b"localhost"), (b"cache-control", b"no-cache")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8001),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


def bodies(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] == "http.response.body"]


@pytest.mark.asyncio
async def test_a_streamed_csv_export_is_sent_in_few_large_chunks_with_the_same_bytes(seeds_db, monkeypatch):
    app = make_datasette(seeds_db, immutable=True).app()
    send_chunks = plugin("send_chunks")
    # With no least size every message goes out as Datasette sent it: a row at a time.
    monkeypatch.setattr(send_chunks, "CHUNK_BYTES", 0)
    as_made = bodies(await messages_sent(app, *STREAMED_CSV))
    monkeypatch.setattr(send_chunks, "CHUNK_BYTES", 4096)
    chunked = bodies(await messages_sent(app, *STREAMED_CSV))

    paragraphs = rows(seeds_db, "SELECT count(*) AS n FROM paragraphs")[0]["n"]
    body = b"".join(m["body"] for m in chunked)
    assert body == b"".join(m["body"] for m in as_made)
    assert len(list(csv.reader(io.StringIO(body.decode())))) == paragraphs + 1  # the header and every row
    assert len(as_made) > paragraphs  # what the chunks replace
    assert len(chunked) <= len(body) // 4096 + 1
    assert all(m["more_body"] and len(m["body"]) >= 4096 for m in chunked[:-1])
    assert chunked[-1]["more_body"] is False


@pytest.mark.asyncio
async def test_a_response_in_one_message_is_sent_as_it_was_made(seeds_db):
    app = make_datasette(seeds_db, immutable=True).app()
    sent = await messages_sent(app, "/archive/paragraphs.json", b"_size=5")
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200 and len(json.loads(sent[1]["body"])["rows"]) == 5


@pytest.mark.asyncio
async def test_what_a_failing_stream_made_still_reaches_the_client(seeds_db):
    make_datasette(seeds_db)  # loads the plugins
    sending_in_chunks = plugin("send_chunks").sending_in_chunks

    async def failing_export(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for line in (b"id,text\r\n", b"1,first\r\n"):
            await send({"type": "http.response.body", "body": line, "more_body": True})
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        sent = []

        async def send(message):
            sent.append(message)

        await sending_in_chunks(failing_export, chunk_bytes=1 << 20)({"type": "http"}, None, send)
    assert [m.get("body") for m in bodies(sent)] == [b"id,text\r\n1,first\r\n"]
    assert bodies(sent)[-1]["more_body"] is True  # unfinished, as the app left it


@pytest.mark.asyncio
async def test_a_message_of_another_kind_keeps_its_place_after_the_body_before_it(seeds_db):
    make_datasette(seeds_db)  # loads the plugins
    sending_in_chunks = plugin("send_chunks").sending_in_chunks

    async def with_trailers(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.trailers", "headers": [(b"x-rows", b"1")], "more_trailers": False})

    sent = []

    async def send(message):
        sent.append(message)

    await sending_in_chunks(with_trailers, chunk_bytes=1 << 20)({"type": "http"}, None, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body", "http.response.trailers"]
    assert sent[1]["body"] == b"part"
