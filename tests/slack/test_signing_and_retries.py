"""What Slack must not be able to make the bot do: act on a request not signed by Slack now,
or start a second job for a retried event, before or after a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from storage.sqlite import SqliteStore
from tests.fakes.slack import BOT_USER_ID, FakeSlack
from tests.slack.support import running_bot


@pytest.mark.parametrize(
    "signing",
    [{"secret": "not-the-signing-secret"}, {"timestamp": time.time() - 6 * 60}],
    ids=["bad signature", "stale timestamp"],
)
async def test_a_request_not_signed_by_slack_now_is_refused_and_does_nothing(
    store: SqliteStore, tmp_path: Path, signing: dict[str, Any]
) -> None:
    async with running_bot(store, tmp_path) as bot:
        [identify] = bot.fake.calls  # auth.test, once, at start
        assert identify.method == "auth.test"
        payload = bot.fake.command_payload("a fox")
        reply = await bot.fake.send_command(bot.events_url, payload, **signing)

        assert reply.status == 401
        assert bot.fake.calls == [identify] and await bot.jobs() == []
        # a correctly signed one goes through
        assert (await bot.command("a fox")).status == 200


async def test_a_retried_event_never_starts_a_second_job(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        mention = bot.fake.add_message("C2", f"<@{BOT_USER_ID}> fireworks")
        first = await bot.mention(mention, event_id="Ev03")
        again = await bot.mention(mention, event_id="Ev03", retry=1)
        other = bot.fake.add_message("C2", f"<@{BOT_USER_ID}> confetti")
        await bot.mention(other, event_id="Ev04")

        assert (first.status, again.status) == (200, 200)
        await bot.finished(await bot.next_job(1))
        prompts = sorted(job.request.prompt for job in await bot.jobs())
        assert prompts == ["confetti", "fireworks"]


async def test_a_retried_event_after_a_restart_still_makes_one_job(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with FakeSlack() as fake:
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> fireworks")
        async with running_bot(store, tmp_path, fake=fake) as first:
            await first.mention(mention, event_id="Ev05")
            job = await first.next_job()
            await first.finished(job)
        async with running_bot(store, tmp_path, fake=fake) as second:  # a new process
            again = await second.mention(mention, event_id="Ev05", retry=2)
            assert again.status == 200
            await second.adapter.close()  # let the retried event's work run to its end
            assert [j.id for j in await second.jobs()] == [job.id]
