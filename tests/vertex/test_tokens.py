"""Vertex access tokens from the service-account grant: fetched once for many jobs, replaced
before expiry or when revoked, never logged, and the key checked by health."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.errors import ProviderAuthError
from bot.models import GenerationRequest, JobState
from tests.fakes.vertex import CLIENT_EMAIL, PROJECT, key_file_info
from tests.vertex.support import FAST, SUBMIT, BotFactory, SkippingClock, assert_plain


async def test_a_deleted_key_is_refused_before_vertex_is_called(make_bot: BotFactory) -> None:
    bot = await make_bot(key_revoked=True)
    job = await bot.run(GenerationRequest(prompt="a red kite"))

    assert job.state is JobState.FAILED and job.error_code == "provider_auth"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "service-account key" in message and "admin" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", "/token")) == 1
    assert bot.fake.received("POST", SUBMIT) == []


async def test_one_token_serves_many_jobs_fetched_once(make_bot: BotFactory) -> None:
    bot = await make_bot(expires_in_as_string=True)
    request = GenerationRequest(
        prompt="bubbles", model=FAST, duration_s=8, aspect_ratio="16:9", resolution="720p"
    )
    # Six submits at the same moment, before any token exists: one grant between them.
    names = await asyncio.gather(
        *(bot.provider.submit(f"job-{n}", request, callback_url=None) for n in range(6))
    )
    jobs = await asyncio.gather(
        *(bot.run(GenerationRequest(prompt=f"bubble number {n}")) for n in range(4))
    )

    assert len(set(names)) == 6
    for job in jobs:
        bot.assert_delivered_once(job)
    [grant] = bot.fake.grants
    assert len(bot.fake.received("POST", "/token")) == 1
    assert bot.tokens_used() == {f"Bearer {grant.issued}"}


async def test_a_token_is_replaced_before_it_expires(make_bot: BotFactory) -> None:
    clock = SkippingClock()
    bot = await make_bot(clock=clock)
    first = await bot.run(GenerationRequest(prompt="the first dawn"))
    bot.assert_delivered_once(first)
    [old] = bot.fake.grants
    seen = len(bot.fake.requests)

    clock.offset += 3599 - 300 + 1  # five minutes before the hour is out
    second = await bot.run(GenerationRequest(prompt="the second dawn"))

    bot.assert_delivered_once(second)
    [again, new] = bot.fake.grants
    assert again is old and new.issued != old.issued
    later = {r.headers.get("Authorization") for r in bot.fake.requests[seen:] if r.path != "/token"}
    assert later == {f"Bearer {new.issued}"}


async def test_a_revoked_token_is_replaced_and_the_call_repeated_once(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    first = await bot.run(GenerationRequest(prompt="a lantern"))
    bot.assert_delivered_once(first)
    bot.fake.revoke_tokens()

    second = await bot.run(GenerationRequest(prompt="another lantern"))

    bot.assert_delivered_once(second)
    assert len(bot.fake.grants) == 2
    submits = bot.fake.received("POST", SUBMIT)
    # The refused submit, then the same body with the new token: one operation made.
    assert [s.headers["Authorization"] for s in submits[1:]] == [
        f"Bearer {bot.fake.grants[0].issued}",
        f"Bearer {bot.fake.grants[1].issued}",
    ]
    assert submits[1].body == submits[2].body
    assert len(bot.fake.operations) == 2


async def test_neither_the_key_nor_a_token_reaches_the_log(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot = await make_bot()
    bot.assert_delivered_once(await bot.run(GenerationRequest(prompt="a moth 0")))
    bot.fake.revoke_tokens()  # the second job refreshes after a refusal
    bot.assert_delivered_once(await bot.run(GenerationRequest(prompt="a moth 1")))
    # A bot whose key Google refuses. Its provider is asked directly: the two bots share one
    # store, and the first one's scheduler could take a job meant for the second.
    refused = await make_bot(key_revoked=True)
    with pytest.raises(ProviderAuthError):
        await refused.provider.submit(
            "refused-job",
            GenerationRequest(
                prompt="a moth", model=FAST, duration_s=8, aspect_ratio="16:9", resolution="720p"
            ),
            callback_url=None,
        )

    assert len(bot.fake.grants) == 2 and "new access token" in caplog.text
    for grant in bot.fake.grants:
        assert str(grant.issued) not in caplog.text
    key = key_file_info("x")["private_key"]
    assert "PRIVATE KEY" not in caplog.text and key[60:120] not in caplog.text
    assert "ya29." not in caplog.text


async def test_health_reports_the_key_without_showing_it(make_bot: BotFactory) -> None:
    bot = await make_bot()
    health = await bot.provider.health()
    assert (health.reachable, health.key_accepted, health.live_models) == (True, True, None)
    assert CLIENT_EMAIL in health.detail and PROJECT in health.detail
    assert "ya29" not in health.detail

    refused = await (await make_bot(key_revoked=True)).provider.health()
    assert (refused.reachable, refused.key_accepted) == (True, False)
    assert "Invalid JWT Signature" in refused.detail and "PRIVATE KEY" not in refused.detail

    down = await make_bot()
    await down.fake.close()
    unreachable = await down.provider.health()
    assert (unreachable.reachable, unreachable.key_accepted) == (False, None)
