"""Provider callbacks and results that go wrong, for every provider that calls back or whose
results expire: a webhook that never arrives, a forged one, an expired result."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.models import JobState
from storage.sqlite import SqliteStore
from tests.faults.support import FAMILIES, Family, provider_bot
from tests.support import eventually

CALLING_BACK = [f for f in FAMILIES if f.callbacks_sent is not None]
SIGNING = [f for f in FAMILIES if f.name in ("fal", "replicate")]  # sign their callbacks
EXPIRING = [f for f in FAMILIES if f.expire is not None]


@pytest.mark.parametrize("family", CALLING_BACK, ids=[f.name for f in CALLING_BACK])
async def test_a_webhook_that_never_arrives_is_made_up_for_by_polling(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: every callback is lost
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert family.callback_of is not None and family.callbacks_sent is not None
    async with provider_bot(store, tmp_path, family, public_url=dead) as bot:
        job = await bot.run()
        await bot.assert_delivered_once(job)
        [sent] = bot.fake.received("POST", family.submit)
        callback = family.callback_of(sent)
        assert callback.startswith(f"{dead}/callbacks/{family.name}/{job.id}?token=")
        sent_back = family.callbacks_sent

        async def called_back() -> list[int] | None:
            return sent_back(bot.fake) or None

        assert await eventually(called_back) == [0]  # tried once, reached nobody


@pytest.mark.parametrize("family", SIGNING, ids=[f.name for f in SIGNING])
async def test_a_forged_webhook_is_refused_and_polling_still_delivers_once(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    assert family.callbacks_sent is not None
    sent_back = family.callbacks_sent
    async with provider_bot(store, tmp_path, family, serve=True) as bot:
        bot.fake.forge_webhooks = True  # signed, but not with the provider's key
        job = await bot.run()

        async def called_back() -> list[int] | None:
            return sent_back(bot.fake) or None

        assert await eventually(called_back) == [401]
        await bot.assert_delivered_once(job)
        refused = bot.service.metrics.value("veo_webhooks_rejected_total", reason="bad_signature")
        assert refused == 1


@pytest.mark.parametrize("family", EXPIRING, ids=[f.name for f in EXPIRING])
async def test_an_expired_result_fails_refunded_in_plain_words(
    store: SqliteStore, tmp_path: Path, family: Family
) -> None:
    assert family.expire is not None
    async with provider_bot(store, tmp_path, family) as bot:
        family.expire(bot.fake)  # the provider deletes results the moment they are made
        job = await bot.run()

        assert job.state is JobState.FAILED
        [failure] = bot.surface.of(job.id, "failure")
        assert family.expired_words in failure.text and "were not charged" in failure.text
        assert not bot.surface.of(job.id, "video")
        [row] = await bot.store.ledger([job.id])
        assert row["status"] == "refunded"
        assert len(bot.fake.received("POST", family.submit)) == 1  # not made a second time


async def test_an_openrouter_webhook_that_never_arrives_is_made_up_for_by_polling(
    store: SqliteStore, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # an HTTPS address nobody listens on: the webhook is lost
        probe.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{probe.getsockname()[1]}"
    [family] = [f for f in FAMILIES if f.name == "openrouter"]
    async with provider_bot(store, tmp_path, family, public_url=dead) as bot:
        job = await bot.run()
        await bot.assert_delivered_once(job)
        [sent] = bot.fake.received("POST", family.submit)
        assert sent.json()["callback_url"].startswith(f"{dead}/callbacks/openrouter/{job.id}?")
        [fake_job] = bot.fake.jobs.values()

        async def called_back() -> list[int] | None:
            return [status for status, _, _ in fake_job.callbacks] or None

        assert await eventually(called_back) == [0]  # tried once, reached nobody
