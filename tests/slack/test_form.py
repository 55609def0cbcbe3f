"""The form on Slack: every setting reaching the provider, files named only by id, the models
and sound offered, the form opened when a model needs an image, and invalid input shown inline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.ports import VideoProvider
from storage.sqlite import SqliteStore
from tests.fakes._base import sample_mp4
from tests.fakes.slack import (
    BOT_TOKEN,
    checkbox_value,
    files_value,
    number_value,
    select_value,
    text_value,
)
from tests.slack.support import PNG, running_bot
from tests.support import ScriptedProvider, png_bytes


async def test_the_form_with_a_first_frame_sends_every_setting_to_the_provider(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        reply = await bot.command("", user="U2")
        assert (reply.status, reply.body) == (200, "")
        view = await bot.opened_view()
        blocks = {b.get("block_id") for b in view["blocks"]}
        assert {"prompt", "image", "end_image", "model", "duration", "aspect_ratio"} <= blocks
        assert {"seed", "negative_prompt"} <= blocks
        picture = fake.add_file(PNG, "cat.png", user="U2")

        reply = await bot.interact(
            fake.view_submission_payload(
                view,
                {
                    "prompt": text_value("a cat yawns"),
                    "image": files_value(fake.file_json(picture)),
                    "duration": select_value("4"),
                    "aspect_ratio": select_value("9:16"),
                    "seed": number_value("42"),
                    "negative_prompt": text_value("blur"),
                },
                user="U2",
            )
        )
        assert (reply.status, reply.body) == (200, "")  # the modal closes
        done = await bot.finished(await bot.next_job())

        request = bot.request_of(done)
        assert request.first_frame is not None and request.first_frame.data == PNG
        assert (request.duration_s, request.aspect_ratio, request.seed) == (4, "9:16", 42)
        assert request.negative_prompt == "blur" and request.prompt == "a cat yawns"
        assert done.origin.user_id == "U2"
        [card] = fake.channel("C1")
        [video] = fake.videos("C1", card.ts)
        assert video.data == bot.provider.video
        # the picture was fetched from url_private with the bot token
        [fetch] = [r for r in fake.requests if r.path.startswith("/files-pri/")]
        assert fetch.headers["Authorization"] == f"Bearer {BOT_TOKEN}"


async def test_a_form_file_named_only_by_id_is_looked_up_with_files_info(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        await bot.command("")
        view = await bot.opened_view()
        picture = fake.add_file(PNG, "cat.png")
        answers = {"prompt": text_value("a cat"), "image": files_value({"id": picture.id})}

        assert (await bot.interact(fake.view_submission_payload(view, answers))).body == ""
        done = await bot.finished(await bot.next_job())

        assert fake.calls_to("files.info") == [{"file": picture.id}]
        first_frame = bot.request_of(done).first_frame
        assert first_frame is not None and first_frame.data == PNG


async def test_the_form_offers_every_providers_live_models_and_sound_where_a_model_has_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    gateway = ScriptedProvider(video=sample_mp4())
    # The gateway's models take 5,000-character prompts; Slack's text input stops at 3,000.
    providers: dict[str, VideoProvider] = {
        "scripted": ScriptedProvider(),
        "useapi": ScriptedProvider(),  # every model retired: none is offered
        "gemini": ScriptedProvider(),
        "gateway": gateway,
    }
    async with running_bot(store, tmp_path, providers=providers, gateway_dialect="veo31") as bot:
        await bot.command("")
        view = await bot.opened_view()
        model = next(b for b in view["blocks"] if b.get("block_id") == "model")
        values = [option["value"] for option in model["element"]["options"]]
        assert values[0] == "scripted/scripted-1" and "gateway/veo3.1-video-720p" in values
        assert "gemini/gemini-omni-1.1-flash" in values
        assert not [v for v in values if v.startswith("useapi/") or "/veo-" in v]
        assert model["element"]["initial_option"]["value"] == "scripted/scripted-1"

        answers = {
            "prompt": text_value("thunder over the sea"),
            "model": select_value("gateway/veo3.1-video-720p"),
            "audio": checkbox_value("on"),
        }
        reply = await bot.interact(bot.fake.view_submission_payload(view, answers))
        assert reply.body == ""
        done = await bot.finished(await bot.next_job())

        assert (done.provider, done.model) == ("gateway", "veo3.1-video-720p")
        assert done.provider_job_id is not None
        assert gateway.jobs[done.provider_job_id].request.audio is True


async def test_a_text_prompt_opens_the_form_when_the_model_needs_an_image(
    store: SqliteStore, tmp_path: Path
) -> None:
    # useapi's default model (Veo 2) animates an image and takes no text alone (its API is
    # retired; taken as live here for a default model that needs an image).
    async with running_bot(
        store,
        tmp_path,
        providers={"useapi": ScriptedProvider()},
        default_provider="useapi",
        unretired=("useapi",),
    ) as bot:
        reply = await bot.command("a kite over the dunes")
        assert (reply.status, reply.body) == (200, "")

        view = await bot.opened_view()
        prompt = next(b for b in view["blocks"] if b.get("block_id") == "prompt")
        assert prompt["element"]["initial_value"] == "a kite over the dunes"
        model = next(b for b in view["blocks"] if b.get("block_id") == "model")
        assert model["element"]["initial_option"]["value"] == "useapi/veo2"
        assert await bot.jobs() == []


@pytest.mark.parametrize(
    ("answers", "block", "words"),
    [
        ({"prompt": text_value("x" * 101)}, "prompt", "takes at most 100"),
        ({"duration": select_value("4"), "seed": number_value("12.5")}, "seed", "whole number"),
        (
            {"end_image": "notes.txt"},
            "end_image",
            "notes.txt is not a PNG, JPEG or WebP image.",
        ),
        ({"image": "tiny.png"}, "image", "images need at least 64 pixels"),
    ],
    ids=["prompt too long", "seed", "not an image", "image too small"],
)
async def test_invalid_form_input_is_shown_inline_and_charges_nothing(
    store: SqliteStore, tmp_path: Path, answers: dict[str, Any], block: str, words: str
) -> None:
    async with running_bot(store, tmp_path) as bot:
        fake = bot.fake
        files = {
            "notes.txt": fake.add_file(b"meeting notes", "notes.txt", mimetype="text/plain"),
            "tiny.png": fake.add_file(png_bytes(32, 32), "tiny.png"),
        }
        filled = {"prompt": text_value("a storm")} | {
            key: files_value(fake.file_json(files[value])) if isinstance(value, str) else value
            for key, value in answers.items()
        }
        await bot.command("")
        view = await bot.opened_view()

        reply = await bot.interact(fake.view_submission_payload(view, filled))

        assert reply.status == 200
        answer = reply.json()
        assert answer["response_action"] == "errors"
        assert list(answer["errors"]) == [block] and words in answer["errors"][block]
        assert await bot.jobs() == [] and bot.provider.submits == []
