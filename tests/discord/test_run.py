"""`veo-bot run` as operators run it, with DISCORD_* pointing at the fake Discord: a real
process, the local provider, the gateway and REST on the fake, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import aiohttp

from tests.bot_process import BotProcess, veo_bot_run
from tests.fakes.discord import FakeDiscord
from tests.support import eventually


async def healthz(port: int) -> dict[str, object]:
    """/healthz once it says healthy: discord.py reports ready only after the guilds arrived."""

    async def ask() -> dict[str, object] | None:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as answer,
        ):
            body: dict[str, object] = await answer.json()
            return body if answer.status == 200 else None

    return await eventually(ask, timeout_s=30, step_s=0.1)


async def test_veo_bot_run_answers_veo_on_discord_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        env = {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "DISCORD_GUILD_IDS": str(fake.guild_id),
        }
        async with veo_bot_run(tmp_path, **env) as bot:
            await fake.wait_ready(timeout_s=30)
            # Synced to the guild named in DISCORD_GUILD_IDS, not globally.
            assert fake.commands.get(None) is None
            assert {c["name"] for c in fake.commands[fake.guild_id]} == {
                "veo",
                "veo-quota",
                "veo-history",
                "veo-admin",
                "Animate with Veo",
            }
            health = await healthz(bot.port)
            assert health["discord"] == "ok", health

            asked = await fake.slash("veo", {"prompt": "a lighthouse at dawn", "duration": 4})
            assert "Queued" in await fake.wait_for(asked.reply_text, timeout_s=30)
            thread = await fake.wait_for(fake.threads, timeout_s=30)
            thread_id = int(thread[0]["id"])
            [video] = await fake.wait_for(
                lambda: [m for m in fake.bot_messages_in(thread_id) if m.videos], timeout_s=60
            )
            [mp4] = video.videos
            assert mp4.data[4:8] == b"ftyp" and len(mp4.data) > 1000
            [card] = fake.bot_messages_in(fake.channel_id)
            assert "local-draft" in card.text()

        assert bot.process.returncode == 0, bot.output
        assert "shutting down" in bot.output
        assert fake.token not in bot.output
        assert fake.violations == []


async def test_sigterm_lets_a_video_being_posted_finish_before_discord_closes(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        env = {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
        }
        async with veo_bot_run(tmp_path, **env) as bot:
            await fake.wait_ready(timeout_s=30)
            asked = await fake.slash("veo", {"prompt": "a harbour at night", "duration": 4})
            await fake.wait_for(asked.reply_text, timeout_s=30)
            [thread] = await fake.wait_for(fake.threads, timeout_s=30)
            held = fake.hold("POST", f"/channels/{thread['id']}/messages")
            await asyncio.wait_for(held.reached.wait(), 60)

            bot.process.send_signal(signal.SIGTERM)
            await eventually(lambda: _said(bot, "shutting down"), timeout_s=30)
            held.release()  # Discord answers while the bot is stopping
            async with asyncio.timeout(30):
                await bot.process.wait()

        assert bot.process.returncode == 0, bot.output
        videos = [m for m in fake.bot_messages_in(int(thread["id"])) if m.videos]
        assert len(videos) == 1
        with sqlite3.connect(tmp_path / "veo.db") as db:
            [(state,)] = db.execute("SELECT state FROM jobs").fetchall()
        assert state == "delivered", bot.output


async def _said(bot: BotProcess, words: str) -> bool | None:
    return True if words in bot.output else None
