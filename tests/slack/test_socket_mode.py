"""Socket Mode on Slack: the same flow as over HTTP events, and a refused app token stopping
start-up."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from adapters.slack import create_adapter
from bot.errors import ConfigurationError
from bot.settings import Settings
from storage.sqlite import SqliteStore
from tests.fakes.slack import BOT_USER_ID, FakeSlack, text_value
from tests.slack.support import running_bot
from tests.support import ScriptedProvider, make_service


async def test_the_same_flow_runs_over_socket_mode(store: SqliteStore, tmp_path: Path) -> None:
    async with running_bot(store, tmp_path, socket_mode=True) as bot:
        fake = bot.fake
        assert bot.adapter.healthy()
        # no HTTP endpoint in Socket Mode
        async with aiohttp.ClientSession() as session, session.post(bot.events_url) as response:
            assert response.status == 404

        envelope = await fake.push("slash_commands", fake.command_payload("a fox", user="U7"))
        assert await fake.socket_ack(envelope) == {"envelope_id": envelope}
        done = await bot.finished(await bot.next_job())

        [card] = fake.channel("C1")
        [video] = fake.videos("C1", card.ts)
        assert video.data == bot.provider.video and done.origin.user_id == "U7"

        # the form's inline errors travel in the ack's payload
        envelope = await fake.push("slash_commands", fake.command_payload(""))
        await fake.socket_ack(envelope)
        view = await bot.opened_view()
        long_prompt = {"prompt": text_value("x" * 101)}
        envelope = await fake.push("interactive", fake.view_submission_payload(view, long_prompt))
        ack = await fake.socket_ack(envelope)
        assert (
            ack["payload"]["response_action"] == "errors" and "prompt" in ack["payload"]["errors"]
        )

        # a retried event envelope starts nothing new
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> sparks")
        event = fake.event_envelope(fake.mention_event(mention), event_id="Ev05")
        for attempt in (None, 1):
            await fake.socket_ack(await fake.push("events_api", event, retry_attempt=attempt))
        await bot.finished(await bot.next_job(1))
        assert len(await bot.jobs()) == 2


async def test_a_refused_app_token_stops_start_up(store: SqliteStore, tmp_path: Path) -> None:
    async with FakeSlack(app_token="xapp-another-token") as fake:
        settings = Settings(
            _env_file=None,
            slack_bot_token=fake.bot_token,
            slack_app_token="xapp-wrong",
            slack_api_url=fake.api_url,
        )
        adapter = create_adapter(settings)
        service = make_service(
            store,
            tmp_path,
            providers={"scripted": ScriptedProvider()},
            surfaces={"slack": adapter.surface},
        )
        with pytest.raises(ConfigurationError, match=r"invalid_auth.*SLACK_APP_TOKEN") as raised:
            await adapter.start(service)
        assert "xapp-wrong" not in str(raised.value)
        assert not adapter.healthy()
        await adapter.close()
