"""Images reach URL-only providers through short-lived signed links on the bot's server."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from aiohttp import web

from bot.clock import ManualClock
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState, MediaRole, QuotaLimits
from bot.quota import period_at
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.support import origin, png_bytes

NOW = 1_790_000_000.0
IMAGE = load_image(png_bytes(300, 200, (1, 2, 3)))


@pytest.fixture
async def server(store: SqliteStore) -> AsyncIterator[tuple[str, MediaLinks, ManualClock]]:
    clock = ManualClock(NOW)
    runner = web.AppRunner(build_web_app(store, MediaLinks("http://placeholder", "s3cret", clock)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    links = MediaLinks(base, "s3cret", clock, ttl_s=60)
    job = Job(
        id="job1",
        origin=origin(),
        request=GenerationRequest(prompt="p", first_frame=IMAGE),
        provider="local",
        model="local-preview",
        state=JobState.PENDING,
        created_at=NOW,
        updated_at=NOW,
        deadline_at=NOW + 60,
        cost_s=1,
    )
    await store.create_job(
        job, [(MediaRole.FIRST_FRAME, 0, IMAGE.data)], QuotaLimits(100, 10, 0), period_at(NOW)
    )
    yield base, links, clock
    await runner.cleanup()


async def test_a_signed_link_serves_the_exact_image(
    server: tuple[str, MediaLinks, ManualClock],
) -> None:
    _base, links, _clock = server
    url = links.image_ref("job1", MediaRole.FIRST_FRAME, 0, IMAGE)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == IMAGE.data
    assert response.headers["content-type"] == "image/png"


async def test_tampered_expired_or_unknown_links_are_refused(
    server: tuple[str, MediaLinks, ManualClock],
) -> None:
    base, links, clock = server
    url = links.image_ref("job1", MediaRole.FIRST_FRAME, 0, IMAGE)
    query = parse_qs(urlparse(url).query)
    async with httpx.AsyncClient() as client:
        other_role = url.replace("/first_frame/", "/last_frame/")
        assert (await client.get(other_role)).status_code == 403
        forged = url.replace(query["signature"][0], "0" * 40)
        assert (await client.get(forged)).status_code == 403
        clock.advance(61)
        assert (await client.get(url)).status_code == 403
        missing = links.image_ref("nojob", MediaRole.FIRST_FRAME, 0, IMAGE)
        assert (await client.get(missing)).status_code == 404
        assert (await client.get(f"{base}/media/job1/first_frame/x")).status_code == 404


def test_without_a_public_url_images_travel_as_data_uris() -> None:
    links = MediaLinks(None, "s3cret", ManualClock(NOW))
    ref = links.image_ref("job1", MediaRole.FIRST_FRAME, 0, IMAGE)
    header, _, payload = ref.partition(",")
    assert header == "data:image/png;base64"
    assert base64.b64decode(payload) == IMAGE.data


async def test_a_non_ascii_signature_is_refused_not_a_server_error(
    server: tuple[str, MediaLinks, ManualClock], caplog: pytest.LogCaptureFixture
) -> None:
    _base, links, _clock = server
    url = links.image_ref("job1", MediaRole.FIRST_FRAME, 0, IMAGE)
    signed = parse_qs(urlparse(url).query)["signature"][0]
    async with httpx.AsyncClient() as client:
        for forged in ("%C3%A9", "%FF%FE", signed[:-1] + "%C3%A9"):
            response = await client.get(url.replace(signed, forged))
            assert response.status_code == 403, forged
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
