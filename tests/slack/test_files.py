"""The Slack bot token never leaves Slack's hosts (issue 12, item 1).

Files reach the bot three ways: the form's file_input, the "Animate with Veo" shortcut on a
message, and an @mention with files. A remote file (files.remote.add) has its `url_private` on
whatever host its app chose; a download may redirect. Each test puts that host outside Slack
as a real server (`ForeignHost`) that records every request and its headers, and checks what
it, and the fake Slack, received."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from storage.sqlite import SqliteStore
from tests.fakes.slack import (
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    FakeSlack,
    ForeignHost,
    files_value,
    text_value,
)
from tests.slack.support import SlackBot, running_bot
from tests.support import png_bytes

PNG = png_bytes(320, 180)
OUTSIDE = "is a link to a file kept outside Slack, so the bot will not fetch it"


def file_fetches(fake: FakeSlack) -> list[str]:
    return [r.path for r in fake.requests if r.path.startswith("/files-pri/")]


async def submit_form(bot: SlackBot, **files: dict[str, object]) -> dict[str, object]:
    """Open the form with `/veo` and submit it with these file_input answers; the answer."""
    await bot.command("")
    view = await bot.opened_view()
    answers = {"prompt": text_value("the sky turns")} | {
        block: files_value(file) for block, file in files.items()
    }
    reply = await bot.interact(bot.fake.view_submission_payload(view, answers))
    assert reply.status == 200
    answer = reply.json()
    assert isinstance(answer, dict)
    return answer


async def test_a_remote_file_in_the_form_is_refused_and_its_host_never_hears_from_the_bot(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with ForeignHost(PNG) as stranger, running_bot(store, tmp_path) as bot:
        # The app that added it calls it a PNG; Slack holds only the address.
        remote = bot.fake.add_remote_file(stranger.url("/cat.png"), "cat.png")

        answer = await submit_form(bot, image=bot.fake.file_json(remote))

        assert answer["response_action"] == "errors"
        assert answer["errors"] == {
            "image": f"cat.png {OUTSIDE}. Upload the image itself to Slack and try again."
        }
        assert stranger.requests == []
        assert await bot.jobs() == [] and bot.provider.submits == []


async def test_a_remote_file_named_only_by_id_is_refused_once_slack_describes_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with ForeignHost(PNG) as stranger, running_bot(store, tmp_path) as bot:
        remote = bot.fake.add_remote_file(stranger.url("/cat.png"), "cat.png")

        answer = await submit_form(bot, image={"id": remote.id})

        assert bot.fake.calls_to("files.info") == [{"file": remote.id}]
        errors = answer["errors"]
        assert isinstance(errors, dict) and OUTSIDE in errors["image"]
        assert stranger.requests == [] and await bot.jobs() == []


@pytest.mark.parametrize(
    "url",
    [
        lambda stranger: f"http://files.slack.com/files-pri/{TEAM_ID}-F1/cat.png",
        lambda stranger: stranger.url(f"/files-pri/{TEAM_ID}-F1/cat.png"),
        lambda stranger: f"https://files.slack.com.{stranger.base_url.removeprefix('http://')}/x",
    ],
    ids=["plain http to files.slack.com", "another host", "a look-alike name"],
)
async def test_a_file_whose_url_is_not_on_slacks_file_hosts_is_never_fetched(
    store: SqliteStore, tmp_path: Path, url: Callable[[ForeignHost], str]
) -> None:
    async with ForeignHost(PNG) as stranger, running_bot(store, tmp_path) as bot:
        picture = bot.fake.add_file(PNG, "cat.png")
        described = bot.fake.file_json(picture) | {
            "url_private": url(stranger),
            "url_private_download": url(stranger),
        }

        answer = await submit_form(bot, image=described)

        assert answer["errors"] == {
            "image": "cat.png is not stored on Slack's own file servers, so the bot will not "
            "fetch it. Upload the image to Slack and try again."
        }
        assert stranger.requests == [] and file_fetches(bot.fake) == []
        assert await bot.jobs() == []


async def test_the_shortcut_on_a_message_with_a_remote_image_is_refused_in_plain_words(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with ForeignHost(PNG) as stranger, running_bot(store, tmp_path) as bot:
        fake = bot.fake
        remote = fake.add_remote_file(stranger.url("/logo.png"), "logo.png")
        original = fake.add_message("C1", "our logo", user="U3", files=[remote])

        reply = await bot.interact(fake.shortcut_payload(original, user="U5"))

        assert (reply.status, reply.body) == (200, "")
        [answer] = await fake.wait_for(lambda: fake.responses)
        assert answer["response_type"] == "ephemeral"
        assert (
            "The image on that message is a link to a file kept outside Slack" in (answer["text"])
        )
        assert fake.views == [] and stranger.requests == [] and await bot.jobs() == []


async def test_a_mention_with_a_remote_file_is_refused_and_nothing_is_fetched(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with ForeignHost(PNG) as stranger, running_bot(store, tmp_path) as bot:
        fake = bot.fake
        first = fake.add_file(PNG, "first.png", user="U4")
        remote = fake.add_remote_file(stranger.url("/last.png"), "last.png", user="U4")
        mention = fake.add_message(
            "C2", f"<@{BOT_USER_ID}> from day to night", user="U4", files=[first, remote]
        )

        await bot.mention(mention, event_id="EvRemote")

        [whisper] = await fake.wait_for(lambda: fake.ephemerals)
        assert whisper["text"] == (
            f"last.png {OUTSIDE}. Upload the image itself to Slack and try again."
        )
        assert (whisper["user"], whisper["thread_ts"]) == ("U4", mention.ts)
        # Not even the Slack-hosted first frame was downloaded for a request that cannot go on.
        assert stranger.requests == [] and file_fetches(fake) == []
        assert await bot.jobs() == []


async def test_a_mention_with_a_document_is_refused_without_downloading_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        report = fake.add_file(b"%PDF-1.7 quarterly", "report.pdf", mimetype="application/pdf")
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> animate this", files=[report])

        await bot.mention(mention, event_id="EvPdf")

        [whisper] = await fake.wait_for(lambda: fake.ephemerals)
        assert whisper["text"] == "report.pdf is not a PNG, JPEG or WebP image."
        assert file_fetches(fake) == [] and await bot.jobs() == []


async def test_a_redirect_within_slack_keeps_the_token_and_the_image_arrives(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        stored = fake.add_file(PNG, "sky.png", user="U4")
        moved = fake.add_file(b"", "sky.png", user="U4", moved_to=fake.download_url(stored))
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> make it rain", files=[moved])

        await bot.mention(mention, event_id="EvMoved")
        done = await bot.finished(await bot.next_job())

        first_frame = bot.request_of(done).first_frame
        assert first_frame is not None and first_frame.data == PNG
        fetches = [r for r in fake.requests if r.path.startswith("/files-pri/")]
        assert [r.path for r in fetches] == [
            f"/files-pri/{TEAM_ID}-{moved.id}/download/sky.png",
            f"/files-pri/{TEAM_ID}-{stored.id}/download/sky.png",
        ]
        assert all(r.headers["Authorization"] == f"Bearer {BOT_TOKEN}" for r in fetches)


async def test_a_redirect_out_of_slack_is_not_followed_and_the_token_stays_home(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with ForeignHost(PNG) as stranger, running_bot(store, tmp_path) as bot:
        fake = bot.fake
        moved = fake.add_file(b"", "sky.png", user="U4", moved_to=stranger.url("/sky.png"))
        mention = fake.add_message("C2", f"<@{BOT_USER_ID}> make it rain", files=[moved])

        await bot.mention(mention, event_id="EvAway")

        [whisper] = await fake.wait_for(lambda: fake.ephemerals)
        assert whisper["text"] == (
            "Slack sent the download of sky.png to a server outside Slack, so the bot "
            "stopped. Upload the image to Slack again and retry."
        )
        # Slack itself got the token; the stranger got nothing at all, token or not.
        assert file_fetches(fake) == [f"/files-pri/{TEAM_ID}-{moved.id}/download/sky.png"]
        assert stranger.requests == [] and not stranger.saw_token
        assert await bot.jobs() == []
