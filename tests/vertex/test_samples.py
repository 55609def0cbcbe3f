"""Several takes in one Vertex operation (`sampleCount`, issue 18 variants): one submit asks
for them all; each take reads and fetches its own sample, inline or from Cloud Storage; a
sample the filter took fails alone and is refunded."""

from __future__ import annotations

import asyncio

import pytest

from bot.models import GenerationRequest, Job, JobState
from tests.support import origin
from tests.vertex.support import Bot, BotFactory


async def run_takes(bot: Bot, request: GenerationRequest) -> list[Job]:
    first = await bot.service.submit(request, origin())
    takes = await bot.service.takes_of(first)
    return [await asyncio.wait_for(bot.service.wait_until_done(t.id), 20) for t in takes]


@pytest.mark.parametrize("gcs", [False, True], ids=["inline", "cloud storage"])
async def test_three_takes_are_one_operation_and_each_gets_its_own_sample(
    make_bot: BotFactory, gcs: bool
) -> None:
    bot = await make_bot(gcs=gcs)
    takes = await run_takes(bot, GenerationRequest(prompt="a lantern drifts", seed=40, count=3))

    [body] = bot.submitted()
    assert body["parameters"]["sampleCount"] == 3 and body["parameters"]["seed"] == 40
    assert [t.state for t in takes] == [JobState.DELIVERED] * 3
    for take in takes:
        assert bot.surface.videos[take.id] == [bot.fake.sample_video(take.take)]
        assert await bot.ledger(take) == "settled"
    assert [t.request.count for t in takes] == [3, 0, 0]  # the first asks for all


async def test_a_sample_the_filter_took_fails_alone_and_is_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot()
    made, filtered = await run_takes(bot, GenerationRequest(prompt="a crowd [rai-last]", count=2))

    assert len(bot.submitted()) == 1
    assert made.state is JobState.DELIVERED and filtered.state is JobState.FAILED
    assert (await bot.ledger(made), await bot.ledger(filtered)) == ("settled", "refunded")


async def test_a_failed_operation_fails_every_take_and_refunds_them(make_bot: BotFactory) -> None:
    bot = await make_bot()
    takes = await run_takes(bot, GenerationRequest(prompt="a storm [fail]", count=2))

    assert len(bot.submitted()) == 1
    assert [t.state for t in takes] == [JobState.FAILED] * 2
    assert [await bot.ledger(t) for t in takes] == ["refunded"] * 2


async def test_takes_whose_first_is_refused_before_the_provider_fail_with_it(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    request = GenerationRequest(
        prompt="a harbour", count=3, extras={"person_generation": "everyone"}
    )
    takes = await run_takes(bot, request)

    assert bot.submitted() == []
    assert [t.state for t in takes] == [JobState.FAILED] * 3
    assert [await bot.ledger(t) for t in takes] == ["refunded"] * 3
    assert len({t.error_message for t in takes}) == 1
