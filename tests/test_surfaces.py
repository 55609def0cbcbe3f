"""What Discord, Slack and the CLI share from the core's surface layer, checked through each
real surface: the models offered, the sentences people read, the one catch-all for errors."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from bot.ports import VideoProvider
from storage.sqlite import SqliteStore
from tests.discord.support import running_bot as discord_bot
from tests.fakes._base import Fault, sample_mp4
from tests.fakes.discord import EPHEMERAL
from tests.fakes.slack import files_value, text_value
from tests.slack.support import running_bot as slack_bot
from tests.support import ScriptedProvider, png_bytes, run_cli

PNG = png_bytes(320, 180)


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


# --- the one catch-all --------------------------------------------------------------------


def unexpected_ref(said: str) -> str:
    """The reference in the apology for an unexpected error, which says nothing else."""
    match = re.fullmatch(
        r"Something went wrong \(ref ([0-9a-f]{6})\)\. "
        r"The team can look it up with that reference\.",
        said,
    )
    assert match is not None, said
    return match[1]


def logged_with(caplog: pytest.LogCaptureFixture, ref: str) -> logging.LogRecord:
    """The log entry of an unexpected error: its reference, and the whole traceback."""
    [record] = [r for r in caplog.records if f"unexpected error (ref {ref})" in r.getMessage()]
    assert record.exc_info is not None
    return record


async def test_a_discord_command_that_fails_unexpectedly_answers_with_a_reference_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Another process holds the database for longer than the bot waits for it.
    store = await SqliteStore.open(tmp_path / "veo.db", busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "veo.db", isolation_level=None)
    try:
        async with discord_bot(store, tmp_path) as bot:
            await bot.reply(await bot.fake.slash("veo", {"prompt": "a fox"}))
            video = await bot.video_message(await bot.finished(await bot.next_job()))
            other.execute("BEGIN EXCLUSIVE")
            with caplog.at_level(logging.ERROR):
                asked = await bot.fake.slash("veo", {"prompt": "a fox in the snow"})
                said = await bot.reply(asked)
                clicked = await bot.fake.click(video, "Re-roll")  # a button: the same
                said_to_clicker = await bot.reply(clicked)
            other.execute("COMMIT")

            for interaction, words in ((asked, said), (clicked, said_to_clicker)):
                assert interaction.callbacks[0]["data"]["flags"] & EPHEMERAL
                record = logged_with(caplog, unexpected_ref(words))
                assert record.exc_info is not None and "locked" in str(record.exc_info[1])
                assert "locked" not in words
            assert len(await bot.jobs()) == 1
    finally:
        other.close()
        await store.close()


async def test_a_discord_form_that_cannot_open_is_answered_with_a_reference(
    store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with discord_bot(store, tmp_path) as bot:
        fake = bot.fake
        picture = fake.upload(PNG, "harbour.png", "image/png")
        post = fake.post_as(fake.owner, "my harbour sketch", attachments=[picture])
        # Discord refuses the form "Animate with Veo" answers with (once).
        refusal = {"code": 50035, "message": "Invalid Form Body"}
        fake.inject(Fault("/api/v10/interactions/*/callback", status=400, body=refusal))
        with caplog.at_level(logging.ERROR):
            asked = await fake.message_command("Animate with Veo", post)
            said = await bot.reply(asked)

        logged_with(caplog, unexpected_ref(said))
        assert asked.callbacks[0]["data"]["flags"] & EPHEMERAL
        assert await bot.jobs() == []


async def test_a_slack_form_that_fails_unexpectedly_shows_a_reference_on_the_form(
    store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(store, tmp_path) as bot:
        fake = bot.fake
        picture = fake.add_file(PNG, "sky.png")
        # Slack's answer about the file lacks the file.
        fake.inject(Fault("/api/files.info", status=200, body={"ok": True}))
        await bot.command("")
        view = await bot.opened_view()
        answers = {"prompt": text_value("the sky turns"), "image": files_value({"id": picture.id})}
        with caplog.at_level(logging.ERROR):
            reply = await bot.interact(fake.view_submission_payload(view, answers))

        assert reply.status == 200
        answer = reply.json()
        assert answer["response_action"] == "errors" and list(answer["errors"]) == ["prompt"]
        logged_with(caplog, unexpected_ref(answer["errors"]["prompt"]))
        assert await bot.jobs() == [] and bot.provider.submits == []


async def test_a_slack_command_that_fails_unexpectedly_is_answered_privately_with_a_reference(
    store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(store, tmp_path) as bot:
        fake = bot.fake
        # A command whose payload lacks a field the bot reads (its workspace).
        payload = fake.command_payload("a fox")
        del payload["team_id"]
        with caplog.at_level(logging.ERROR):
            reply = await fake.send_command(bot.events_url, payload)
            [answer] = await fake.wait_for(lambda: fake.responses)

        assert (reply.status, reply.body) == (200, "")
        assert answer["response_type"] == "ephemeral"
        logged_with(caplog, unexpected_ref(answer["text"]))
        assert await bot.jobs() == []
