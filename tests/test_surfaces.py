"""What Discord, Slack and the CLI share from the core's surface layer, checked through each
real surface: the models offered, the sentences people read, the one catch-all for errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from bot.ports import VideoProvider
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.support import ScriptedProvider, run_cli
from tests.test_discord import running_bot as discord_bot
from tests.test_slack import running_bot as slack_bot


@pytest.fixture(autouse=True)
def discord_endpoints() -> Iterator[None]:
    """The Discord adapter points discord.py's class attributes at the fake; put them back."""
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


# --- the models offered -------------------------------------------------------------------


async def test_discord_slack_and_the_cli_offer_the_same_models_in_the_same_order(
    store: SqliteStore, tmp_path: Path
) -> None:
    def providers() -> dict[str, VideoProvider]:
        return {
            "scripted": ScriptedProvider(video=sample_mp4()),  # the default provider
            "gemini": ScriptedProvider(),
            "gateway": ScriptedProvider(),
        }

    async with discord_bot(store, tmp_path, providers=providers()) as on_discord:
        choices = await on_discord.fake.autocomplete("veo", "model", "", {"prompt": "x"})
    async with slack_bot(store, tmp_path, providers=providers()) as on_slack:
        await on_slack.command("")
        form = await on_slack.opened_view()
    listed = run_cli(tmp_path, "models")

    autocomplete = [choice["value"] for choice in choices]
    select = next(b for b in form["blocks"] if b.get("block_id") == "model")
    in_the_form = [option["value"] for option in select["element"]["options"]]
    assert autocomplete == in_the_form
    # The default provider's models first, then the others by name.
    assert autocomplete[0] == "scripted/scripted-1"
    others = autocomplete[1:]
    assert others == sorted(others, key=lambda value: value.split("/")[0])
    assert {value.split("/")[0] for value in others} == {"gateway", "gemini"}
    # `veo-bot models` lists every provider's live models, in the same order within each.
    lines = [line.split(":")[0].removesuffix(" (default)") for line in listed.stdout.splitlines()]
    assert [line for line in lines if line.split("/")[0] in ("gateway", "gemini")] == others
