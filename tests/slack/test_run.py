"""`veo-bot run` as operators run it, with SLACK_* pointing at the fake Slack: a real process,
the local provider, HTTP events on its own port or Socket Mode, and a clean stop on SIGTERM."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.bot_process import veo_bot_run
from tests.fakes.slack import FakeSlack


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http events", "socket mode"])
async def test_veo_bot_run_answers_slash_commands_and_stops_on_sigterm(
    tmp_path: Path, socket_mode: bool
) -> None:
    async with FakeSlack() as fake:
        secrets = {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": fake.signing_secret}
        if socket_mode:
            secrets["SLACK_APP_TOKEN"] = fake.app_token
        # People write the URL with or without the trailing slash; both must work.
        api_url = fake.api_url if socket_mode else fake.api_url.rstrip("/")
        async with veo_bot_run(tmp_path, SLACK_API_URL=api_url, **secrets) as bot:
            base = f"http://127.0.0.1:{bot.port}"
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{base}/healthz") as health,
            ):
                assert health.status == 200 and (await health.json())["slack"] == "ok"

            command = fake.command_payload("a lighthouse at dawn")
            if socket_mode:
                await fake.socket_ack(await fake.push("slash_commands", command))
            else:
                reply = await fake.send_command(f"{base}/slack/events", command)
                assert (reply.status, reply.body) == (200, "")

            [card] = await fake.wait_for(lambda: fake.channel("C1"), timeout_s=30)
            [video] = await fake.wait_for(lambda: fake.videos("C1", card.ts), timeout_s=30)
            assert video.data[4:8] == b"ftyp" and len(video.data) > 1000
            assert "local-draft" in card.all_text

        assert bot.process.returncode == 0, bot.output
        assert "shutting down" in bot.output
        for secret in secrets.values():
            assert secret not in bot.output
