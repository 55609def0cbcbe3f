"""Links to videos too large to upload: posted without a preview (no platform's crawler
fetches them), and dead for good once the video is deleted, on Discord and on Slack, across
a restart. The bot, the fake platforms and the bot's web server are all real."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.shared_files import kept_name
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.discord.support import discord_endpoints  # noqa: F401 - restores discord.py's URLs
from tests.discord.support import running_bot as discord_bot
from tests.fakes.discord import SUPPRESS_EMBEDS, FakeDiscord
from tests.fakes.discord import TOKEN as DISCORD_TOKEN
from tests.fakes.slack import FakeSlack
from tests.slack.support import card_of, result_of
from tests.slack.support import running_bot as slack_bot
from tests.support import RecordingSurface, ScriptedProvider, make_service

DISCORD_SECRET = "test-secret"  # what tests.discord.support.running_bot gives the service
SECRET = "a-webhook-secret-of-32-bytes-or-more"


@asynccontextmanager
async def web_server(
    store: SqliteStore, service: JobService, secret: str, sock: socket.socket | None = None
) -> AsyncIterator[str]:
    """The bot's own web server (what serves /results) for this service; its base URL."""
    app_links = MediaLinks(None, secret, SystemClock())
    runner = web.AppRunner(build_web_app(store, app_links, service=service))
    await runner.setup()
    site = web.SockSite(runner, sock) if sock else web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.sqlite_only  # it reopens the SQLite file
async def test_discord_posts_the_link_without_a_preview_and_delete_revokes_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    # The server's address must be known before the service that signs links to it is made.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    provider = ScriptedProvider(video=b"\x00" * 50_000)  # no encoding brings it under 1 kB
    async with (
        FakeDiscord(attachment_size_limit=1000) as fake,
        discord_bot(store, tmp_path, fake=fake, provider=provider, public_url=public_url) as bot,
        web_server(store, bot.service, DISCORD_SECRET, sock),
        httpx.AsyncClient() as client,
    ):
        author = fake.add_user("author")
        await bot.reply(await fake.slash("veo", {"prompt": "a very long pan"}, user=author))
        done = await bot.finished(await bot.next_job())
        [message] = fake.bot_messages_in(bot.thread_of(done))[-1:]
        # Written <url>: Discord shows it as a link and fetches nothing to preview it; the
        # message keeps its own embed with the parameters.
        [url] = re.findall(rf"<({re.escape(public_url)}/results/\S+)>", message.content)
        assert message.previewed_links == []
        assert message.embeds and message.videos == []
        assert (await client.get(url)).content == provider.video
        kept = bot.service.config.results_dir / f"{done.id}.mp4"
        assert kept.is_file()
        # Another replica, on the same database but a disk of its own, serves it too.
        replica = make_service(
            store,
            tmp_path / "replica",
            providers={"scripted": ScriptedProvider()},
            surfaces={"discord": RecordingSurface(platform="discord")},
        )
        assert not (replica.config.results_dir / f"{done.id}.mp4").exists()
        async with web_server(store, replica, DISCORD_SECRET) as other:
            served = await client.get(url.replace(public_url, other))
        assert (served.status_code, served.content) == (200, provider.video)
        assert served.headers["Content-Type"] == "video/mp4"

        deleted = await fake.click(message, "Delete", user=author)
        assert await bot.reply(deleted) == "Deleted."
        assert message.deleted
        gone = await client.get(url)
        assert (gone.status_code, gone.text) == (410, "This video was deleted.")
        assert not kept.exists()
        assert await store.blob_size(kept_name(done.id)) is None

    # A new process on the same database refuses the link too, even with the video back.
    kept.write_bytes(provider.video)
    restarted = await SqliteStore.open(tmp_path / "veo.db")
    try:
        service = make_service(
            restarted,
            tmp_path,
            providers={"scripted": ScriptedProvider()},
            surfaces={"discord": RecordingSurface(platform="discord")},
        )
        async with (
            web_server(restarted, service, DISCORD_SECRET) as base,
            httpx.AsyncClient() as client,
        ):
            again = await client.get(url.replace(public_url, base))
        assert again.status_code == 410
    finally:
        await restarted.close()


async def test_slack_result_messages_are_not_unfurled_and_delete_revokes_the_link(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with (
        slack_bot(store, tmp_path) as bot,
        web_server(store, bot.service, SECRET) as base,
        httpx.AsyncClient() as client,
    ):
        fake = bot.fake
        await bot.command("a fox like the one at https://example.com/fox.png", user="U1")
        done = await bot.finished(await bot.next_job())
        result = result_of(fake, done)
        # The prompt's link is in the message, but Slack is told to fetch nothing for it.
        assert "https://example.com/fox.png" in result.all_text
        assert (result.unfurl_links, result.unfurl_media) == (False, False)
        assert result.crawled_links == []

        # A result link for this job, signed as the bot signs them, to a video kept for it.
        link = MediaLinks(base, SECRET, SystemClock()).result_link(done.id, 3600)
        assert link is not None
        kept = bot.service.config.results_dir / f"{done.id}.mp4"
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(b"\x00" * 1000)
        assert (await client.get(link.url)).status_code == 200

        await bot.interact(fake.block_action_payload(result, "veo_delete", user="U1"))
        await fake.wait_for(lambda: "Deleted by <@U1>" in card_of(fake, done).all_text)
        gone = await client.get(link.url)
        assert (gone.status_code, gone.text) == (410, "This video was deleted.")
        assert not kept.exists()


# --- the fakes model what the platforms fetch --------------------------------------------


async def test_the_fake_discord_previews_bare_links_only() -> None:
    async with (
        FakeDiscord() as fake,
        httpx.AsyncClient(
            base_url=fake.api_base, headers={"Authorization": f"Bot {DISCORD_TOKEN}"}
        ) as http,
    ):
        messages = f"/channels/{fake.channel_id}/messages"
        for body in (
            {"content": "see https://a.example/x.mp4?sig=1 and <https://b.example/y>"},
            {"content": "see https://a.example/x.mp4", "flags": SUPPRESS_EMBEDS},
            {"content": "see <https://b.example/y>"},
        ):
            assert (await http.post(messages, json=body)).status_code == 200
    bare, suppressed, bracketed = fake.bot_messages_in(fake.channel_id)
    assert bare.previewed_links == ["https://a.example/x.mp4?sig=1"]
    assert suppressed.previewed_links == bracketed.previewed_links == []


async def test_the_fake_slack_crawls_links_unless_both_unfurls_are_off() -> None:
    async with (
        FakeSlack() as fake,
        httpx.AsyncClient(
            base_url=fake.api_url, headers={"Authorization": f"Bearer {fake.bot_token}"}
        ) as http,
    ):
        link = "<https://a.example/x.mp4?sig=1|watch it>"
        for flags in ({}, {"unfurl_links": False}, {"unfurl_links": False, "unfurl_media": False}):
            answer = await http.post(
                "chat.postMessage", json={"channel": "C1", "text": link, **flags}
            )
            assert answer.json()["ok"] is True
    default, links_off, both_off = fake.bot_messages("C1")
    assert default.crawled_links == links_off.crawled_links == ["https://a.example/x.mp4?sig=1"]
    assert both_off.crawled_links == []
