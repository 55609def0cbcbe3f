"""Vertex failures, each ending refunded in plain words: a failed or expired operation, safety
filters, a retired model, a missing role, and RESOURCE_EXHAUSTED backed off."""

from __future__ import annotations

from bot.models import GenerationRequest, JobState
from tests.fakes.vertex import RAI_REASON
from tests.vertex.support import FAST, SUBMIT, BotFactory, assert_plain


async def test_a_failed_operation_is_refunded_in_plain_words(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[fail] a glass city"))

    assert job.state is JobState.FAILED and job.error_code == "provider_failed"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "could not make a video" in message
    assert_plain(message)


async def test_a_safety_filtered_video_is_a_plain_refusal(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[rai] a famous face"))

    assert job.state is JobState.FAILED and job.error_code == "content_rejected"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "safety filter" in message
    assert RAI_REASON not in message and "58061214" not in message
    assert_plain(message)


async def test_a_retired_model_is_said_to_be_gone(make_bot: BotFactory) -> None:
    bot = await make_bot(retired_models={FAST})
    job = await bot.run(GenerationRequest(prompt="a tram in the rain"))

    assert job.state is JobState.FAILED and job.error_code == "model_retired"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    # The catalog's one sentence for a retired model, with what to use instead.
    assert "veo-3.1-fast-generate-001) was retired; use veo-3.1-generate-001 instead" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", SUBMIT)) == 1  # not retried


async def test_a_project_without_the_role_is_a_configuration_problem(make_bot: BotFactory) -> None:
    bot = await make_bot(permission_denied=True)
    job = await bot.run(GenerationRequest(prompt="a red balloon"))

    assert job.state is JobState.FAILED and job.error_code == "provider_auth"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "Vertex AI User" in message and "admin" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", SUBMIT)) == 1


async def test_resource_exhausted_is_backed_off_and_retried(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[429] fireflies in a jar"))

    bot.assert_delivered_once(job)
    first, second = bot.submitted()
    assert first == second
    assert len(bot.fake.operations) == 1
    assert await bot.ledger(job) == "settled"


async def test_an_expired_operation_fails_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot(operation_ttl_s=0.03)
    job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))

    assert job.state is JobState.FAILED and job.error_code == "provider_job_not_found"
    assert await bot.ledger(job) == "refunded"
    assert_plain(bot.failure(job))
