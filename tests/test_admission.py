"""Admission (plugins/admission.py): a process computes one request at a time, first come first
served, so that under load a long request is not stretched by every short one beside it."""

import asyncio
import time

import pytest
from datasette import hookimpl
from datasette.plugins import pm
from datasette.utils.asgi import Response

from conftest import make_datasette


class SlowPage:
    """A test-only page that takes as long as it is told (?seconds=) and records when it ran."""

    __name__ = "test_slow_page"  # Datasette lists plugins by their module's name

    def __init__(self):
        self.events: list[tuple[str, str, float]] = []

    @hookimpl
    def register_routes(self):
        async def slow(request):
            name = request.args["name"]
            self.events.append(("start", name, time.monotonic()))
            await asyncio.sleep(float(request.args.get("seconds", "0.05")))
            self.events.append(("end", name, time.monotonic()))
            return Response.text(name)

        return [(r"^/-/slow$", slow)]


@pytest.fixture
def slow_page():
    page = SlowPage()
    pm.register(page, name="test-slow-page")
    try:
        yield page
    finally:
        pm.unregister(name="test-slow-page")


async def served(db_path, slow_page, **admission):
    """The archive served with these admission settings, its first request (Datasette's start-up
    work, which would reorder the requests under test) already answered."""
    datasette = make_datasette(db_path, immutable=True, metadata={"plugins": {"admission": admission}} if admission else None)
    await datasette.client.get("/-/slow?name=warm-up&seconds=0")
    slow_page.events.clear()
    return datasette


async def arrive_in_order(datasette, *requests):
    """Send requests (name, seconds) a moment apart, so that their order of arrival is known."""
    tasks = []
    for name, seconds in requests:
        tasks.append(asyncio.create_task(datasette.client.get(f"/-/slow?name={name}&seconds={seconds}")))
        await asyncio.sleep(0.01)
    return await asyncio.gather(*tasks)


@pytest.mark.asyncio
async def test_requests_are_computed_one_at_a_time_in_order_of_arrival(seeds_db, slow_page):
    responses = await arrive_in_order(await served(seeds_db, slow_page), ("a", 0.1), ("b", 0.05), ("c", 0.05))
    assert [r.text for r in responses] == ["a", "b", "c"]
    assert [(kind, name) for kind, name, _ in slow_page.events] == [
        ("start", "a"), ("end", "a"), ("start", "b"), ("end", "b"), ("start", "c"), ("end", "c")]


@pytest.mark.asyncio
async def test_with_no_slots_every_request_starts_at_once(seeds_db, slow_page):
    await arrive_in_order(await served(seeds_db, slow_page, slots=0), ("a", 0.1), ("b", 0.05), ("c", 0.05))
    assert [kind for kind, _, _ in slow_page.events[:3]] == ["start"] * 3


@pytest.mark.asyncio
async def test_more_slots_let_that_many_run_together(seeds_db, slow_page):
    await arrive_in_order(await served(seeds_db, slow_page, slots=2), ("a", 0.2), ("b", 0.2), ("c", 0.05))
    order = [(kind, name) for kind, name, _ in slow_page.events]
    assert order[:2] == [("start", "a"), ("start", "b")]
    assert order.index(("start", "c")) > order.index(("end", "a"))


@pytest.mark.asyncio
async def test_a_request_past_its_hold_time_lets_the_next_one_in(seeds_db, slow_page):
    # A slow reader of a big export, or a query running into its time limit, must not stall everyone.
    await arrive_in_order(await served(seeds_db, slow_page, hold_seconds=0.05), ("slow", 0.6), ("quick", 0.01))
    ended = [name for kind, name, _ in slow_page.events if kind == "end"]
    assert ended == ["quick", "slow"]


@pytest.mark.asyncio
async def test_answers_from_the_response_cache_do_not_queue(seeds_db, slow_page):
    datasette = await served(seeds_db, slow_page, hold_seconds=30)
    await datasette.client.get("/archive/articles.json")  # computed once: later asks are cache hits
    busy = asyncio.create_task(datasette.client.get("/-/slow?name=busy&seconds=1.0"))
    await asyncio.sleep(0.05)
    cached = await datasette.client.get("/archive/articles.json")
    assert cached.headers["x-archive-cache"] == "hit"
    assert not busy.done()  # answered while the only place was taken
    fresh = asyncio.create_task(datasette.client.get("/archive/articles.json", headers={"cache-control": "no-cache"}))
    await asyncio.sleep(0.2)
    assert not fresh.done()  # a fresh answer waits its turn
    assert (await busy).status_code == 200 and (await fresh).status_code == 200


@pytest.mark.asyncio
async def test_a_request_given_up_by_its_reader_frees_its_place(seeds_db, slow_page):
    datasette = await served(seeds_db, slow_page, hold_seconds=30)
    abandoned = asyncio.create_task(datasette.client.get("/-/slow?name=abandoned&seconds=30"))
    await asyncio.sleep(0.05)
    abandoned.cancel()
    started = time.monotonic()
    response = await asyncio.wait_for(datasette.client.get("/-/slow?name=next&seconds=0.01"), timeout=5)
    assert response.text == "next" and time.monotonic() - started < 2


@pytest.mark.asyncio
async def test_a_request_given_up_while_queued_never_runs(seeds_db, slow_page):
    datasette = await served(seeds_db, slow_page, hold_seconds=30)
    busy = asyncio.create_task(datasette.client.get("/-/slow?name=busy&seconds=0.3"))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(datasette.client.get("/-/slow?name=queued&seconds=0.01"))
    await asyncio.sleep(0.05)
    queued.cancel()
    after = await datasette.client.get("/-/slow?name=after&seconds=0.01")
    assert (await busy).text == "busy" and after.text == "after"
    assert [name for kind, name, _ in slow_page.events if kind == "start"] == ["busy", "after"]
