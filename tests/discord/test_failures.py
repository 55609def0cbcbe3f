"""Failures on Discord: a provider's failure told on the card with the refund, results above
the server's upload limit, and Discord rate-limiting the upload."""

from __future__ import annotations

from pathlib import Path

from bot.models import JobState, ProviderJobState, ProviderStatus
from storage.sqlite import SqliteStore
from tests.discord.support import RUNNING, buttons_of, finish_at_provider, running_bot
from tests.fakes.discord import FakeDiscord
from tests.support import ScriptedProvider, noisy_mp4


async def test_a_provider_failure_ends_the_card_in_plain_words_with_the_refund(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(
        [
            RUNNING,
            ProviderStatus(
                ProviderJobState.FAILED,
                error_code="safety",
                error_message="The provider's safety filter refused this prompt.",
            ),
        ]
    )
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a storm", "duration": 6}))
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.FAILED
        [card] = fake.bot_messages_in(fake.channel_id)
        text = card.text()
        assert "Failed" in text and "safety filter refused" in text
        assert "The 6 s it would have used were not charged." in text
        assert await bot.ledger(done) == "refunded"
        assert not any(m.videos for m in fake.bot_messages_in(bot.thread_of(done)))


async def test_a_result_larger_than_the_servers_limit_arrives_re_encoded_under_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.mp4"
    size = noisy_mp4(source, audio=True)
    limit = size // 3
    provider = ScriptedProvider(video=source.read_bytes())
    async with (
        FakeDiscord(attachment_size_limit=limit) as fake,
        running_bot(store, tmp_path, fake=fake, provider=provider) as bot,
    ):
        await bot.reply(await fake.slash("veo", {"prompt": "static on a screen"}))
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.DELIVERED
        [mp4] = (await bot.video_message(done)).videos
        assert len(mp4.data) <= limit < size
        assert [c for c in fake.rest if c.status == 413] == []


async def test_a_result_too_large_even_re_encoded_is_posted_as_an_expiring_link(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider(video=b"\x00" * 50_000)  # no encoding brings it under 1 kB
    async with (
        FakeDiscord(attachment_size_limit=1000) as fake,
        running_bot(
            store, tmp_path, fake=fake, provider=provider, public_url="https://veo.example.org"
        ) as bot,
    ):
        await bot.reply(await fake.slash("veo", {"prompt": "a very long pan"}))
        done = await bot.finished(await bot.next_job())

        assert done.state is JobState.DELIVERED
        [message] = fake.bot_messages_in(bot.thread_of(done))[-1:]
        assert message.videos == []
        assert f"https://veo.example.org/results/{done.id}.mp4?expires=" in message.content
        assert "too large to upload here" in message.content
        assert {"Re-roll", "Delete"} <= {c.get("label") for c in buttons_of(message)}
        assert done.delivery_refs is not None and done.delivery_refs.link_expires_at is not None
        assert await bot.ledger(done) == "settled"


async def test_an_upload_rate_limited_by_discord_is_retried_and_posted_once(
    store: SqliteStore, tmp_path: Path
) -> None:
    provider = ScriptedProvider([RUNNING])
    async with running_bot(store, tmp_path, provider=provider) as bot:
        fake = bot.fake
        await bot.reply(await fake.slash("veo", {"prompt": "a kite"}))
        job = await bot.started()
        thread = bot.thread_of(job)
        fake.rate_limit("POST", f"/channels/{thread}/messages", retry_after=0.05, times=2)
        finish_at_provider(bot, job)

        done = await bot.finished(job)
        assert done.state is JobState.DELIVERED
        posts = fake.calls("POST", f"/channels/{thread}/messages")
        assert [c.status for c in posts] == [429, 429, 200]
        assert len([m for m in fake.bot_messages_in(thread) if m.videos]) == 1
