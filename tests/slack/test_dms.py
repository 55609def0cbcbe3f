"""`/veo` in the Slack app's Messages tab (an im channel with the bot): answered there, card
and video in its thread, counted under the person's team like any channel of it."""

from __future__ import annotations

from pathlib import Path

from bot.models import QuotaLimits
from storage.sqlite import SqliteStore
from tests.slack.support import card_of, running_bot


async def test_veo_in_the_messages_tab_answers_there_under_the_teams_quota(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path, limits=QuotaLimits(16, 2, 0)) as bot:
        fake = bot.fake
        dm = "D0APPHOME"

        async def in_dm(text: str) -> None:
            payload = fake.command_payload(text, user="U1", channel=dm)
            payload["channel_name"] = "directmessage"
            reply = await fake.send_command(bot.events_url, payload)
            assert reply.status == 200

        await in_dm("a lantern")
        job = await bot.finished(await bot.next_job())
        assert job.origin.workspace_key == f"slack:{fake.team_id}"
        card = card_of(fake, job)
        assert card.channel == dm
        [video] = fake.videos(dm, card.ts)
        assert video.name == f"veo-{job.id}.mp4"

        await bot.command("a harbour", channel="C1")
        await bot.finished(await bot.next_job(1))
        await in_dm("a bell")
        [refusal] = await fake.wait_for(lambda: fake.responses or None)
        assert "you have 0 s of 16 s left today" in refusal["text"]
        assert len(await bot.jobs()) == 2
