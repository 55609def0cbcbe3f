"""fal.ai's Ed25519-signed webhooks, verified against the JWKS (cached, refreshed at most once a
minute)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from adapters.providers.fal import FalProvider
from bot.clock import SystemClock
from bot.links import MediaLinks
from bot.models import GenerationRequest, JobState
from bot.webhooks import InvalidSignature
from tests.fakes.fal import API_KEY, JWKS_PATH, FalFake
from tests.fal.support import BotFactory, fal_provider
from tests.provider_bots import ProviderBot
from tests.support import eventually


async def test_a_signed_webhook_makes_the_bot_deliver_without_waiting_for_a_poll(
    make_bot: BotFactory,
) -> None:
    # An hour between polls: only the webhook can explain a delivery.
    bot = await make_bot(public=True, poll_interval_s=3600)
    job = await bot.run(GenerationRequest(prompt="bees over lavender"))

    bot.assert_delivered_once(job)
    [request] = bot.fake.requests_by_id.values()
    [(status, body)] = request.webhooks
    assert status == 200 and body["status"] == "OK" and body["request_id"] == request.id
    assert len(bot.fake.received("GET", JWKS_PATH)) == 1


@pytest.mark.parametrize(
    "options", [{"forge_webhooks": True}, {"webhook_skew_s": -600.0}], ids=["forged", "stale"]
)
async def test_a_forged_or_stale_webhook_is_refused_and_changes_nothing(
    make_bot: BotFactory, options: dict[str, Any]
) -> None:
    bot = await make_bot(public=True, poll_interval_s=3600, **options)
    job = await bot.submit(GenerationRequest(prompt="bees over lavender"))
    [request] = await eventually(lambda: _webhooks_sent(bot))

    assert request.webhooks[0][0] == 401
    after = await bot.service.get_job(job.id)
    assert after is not None and after.state is JobState.SUBMITTED
    assert not bot.surface.of(job.id, "video")
    # Refused before the provider was asked again: one status reading, the submit's own none.
    assert bot.fake.received("GET", "/fal-ai/*/status") == []
    metric = bot.service.metrics.value("veo_webhooks_rejected_total", reason="bad_signature")
    assert metric == 1


async def _webhooks_sent(bot: ProviderBot) -> list[Any] | None:
    sent = [r for r in bot.fake.requests_by_id.values() if r.webhooks]
    return sent or None


def _signed(fake: FalFake, body: bytes, request_id: str = "req-1") -> dict[str, str]:
    return fake.signed_headers(request_id, body)


async def test_the_key_set_is_cached_and_refetched_at_most_once_a_minute(tmp_path: Path) -> None:
    now = time.time()
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        provider = fal_provider(fake, MediaLinks(None, "s", SystemClock()))
        body = b'{"status": "OK"}'
        fetches = lambda: len(fake.received("GET", JWKS_PATH))  # noqa: E731
        try:
            await provider.verify_callback(_signed(fake, body), body, now=now)
            await provider.verify_callback(_signed(fake, body), body, now=now + 1)
            assert fetches() == 1  # cached

            fake.forge_webhooks = True
            for second in range(2, 60):  # a flood of forgeries within the minute
                with pytest.raises(InvalidSignature):
                    await provider.verify_callback(_signed(fake, body), body, now=now + second)
            assert fetches() == 1  # not one more fetch for them

            fake.forge_webhooks = False
            fake.rotate_key()  # fal signs with a key the bot has not seen
            with pytest.raises(InvalidSignature):  # too soon to fetch again
                await provider.verify_callback(_signed(fake, body), body, now=now + 59)
            await provider.verify_callback(_signed(fake, body), body, now=now + 61)
            assert fetches() == 2  # one fetch found the new key
        finally:
            await provider.aclose()


async def test_a_second_key_host_is_asked_when_the_first_fails(tmp_path: Path) -> None:
    now = time.time()
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        provider = FalProvider(
            API_KEY,
            MediaLinks(None, "s", SystemClock()),
            queue_url=fake.base_url,
            jwks_urls=(fake.base_url + "/missing/jwks.json", fake.base_url + JWKS_PATH),
        )
        body = b"{}"
        try:
            await provider.verify_callback(_signed(fake, body), body, now=now)
        finally:
            await provider.aclose()
        assert [r.path for r in fake.requests] == ["/missing/jwks.json", JWKS_PATH]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"X-Fal-Webhook-Signature": "00" * 64}, "no fal key"),
        ({"X-Fal-Webhook-Signature": "not hex"}, "not hex"),
        ({"X-Fal-Webhook-Timestamp": "soon"}, "not a number"),
        ({"X-Fal-Webhook-Request-Id": "req-2"}, "no fal key"),
        ({"X-Fal-Webhook-User-Id": ""}, "missing"),
    ],
)
async def test_a_tampered_signature_is_refused(change: dict[str, str], why: str) -> None:
    async with FalFake() as fake:
        assert isinstance(fake, FalFake)
        provider = fal_provider(fake, MediaLinks(None, "s", SystemClock()))
        body = b'{"status": "OK"}'
        try:
            headers = _signed(fake, body) | change
            with pytest.raises(InvalidSignature, match=why):
                await provider.verify_callback(headers, body, now=time.time())
            with pytest.raises(InvalidSignature, match="no fal key"):  # another body
                await provider.verify_callback(_signed(fake, body), b"{}", now=time.time() + 61)
        finally:
            await provider.aclose()
