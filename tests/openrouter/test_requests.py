"""What OpenRouter gets (docs/providers.md §5): the JSON for every input kind, images as data
URLs or signed links, the MP4 the channel gets, and what is refused before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import InvalidRequest
from bot.media import load_image
from bot.models import GenerationRequest
from storage.sqlite import SqliteStore
from tests.fakes.openrouter import API_KEY
from tests.openrouter.support import (
    CONTENT,
    FIRST,
    LAST,
    REF,
    SUBMIT,
    Bot,
    data_url,
    frame,
    openrouter_bot,
)
from tests.support import origin


async def test_text_to_video_sends_the_documented_body_and_posts_the_mp4(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="a paper boat drifts down a rainy street",
            model="google/veo-3.1",
            duration_s=6,
            aspect_ratio="9:16",
            resolution="1080p",
            seed=42,
            audio=True,
        )
    )

    bot.delivered_once(job)
    assert bot.sent() == [
        {
            "model": "google/veo-3.1",
            "prompt": "a paper boat drifts down a rainy street",
            "duration": 6,
            "resolution": "1080p",
            "aspect_ratio": "9:16",
            "generate_audio": True,
            "seed": 42,
        }
    ]
    [submit] = bot.fake.received("POST", SUBMIT)
    assert submit.headers["Authorization"] == f"Bearer {API_KEY}"
    assert job.provider_job_id in bot.fake.jobs
    polls = bot.fake.received("GET", f"{SUBMIT}/{job.provider_job_id}")
    assert polls and all(p.headers["Authorization"] == f"Bearer {API_KEY}" for p in polls)
    # The result is OpenRouter's own content route: fetched with the key.
    [download] = bot.fake.received("GET", CONTENT)
    assert download.path == f"{SUBMIT}/{job.provider_job_id}/content"
    assert download.query == {"index": "0"}
    assert download.headers["Authorization"] == f"Bearer {API_KEY}"
    [row] = await bot.store.ledger([job.id])
    assert row["status"] == "settled"


async def test_the_default_is_veo_31_fast_without_sound(bot: Bot) -> None:
    job = await bot.run(GenerationRequest(prompt="bees over lavender"))

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body["model"] == "google/veo-3.1-fast"
    assert (body["duration"], body["resolution"], body["aspect_ratio"]) == (8, "720p", "16:9")
    assert body["generate_audio"] is False  # OpenRouter's own default would be sound on
    assert isinstance(body["seed"], int)  # a seed is drawn so the video can be remade


async def test_first_frame_goes_in_frame_images(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="the lighthouse beam sweeps the fog",
            model="google/veo-3.1",
            duration_s=4,
            seed=1,
            first_frame=load_image(FIRST),
        )
    )

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body["frame_images"] == [frame(FIRST, "first_frame")]
    assert "input_references" not in body
    assert bot.fake.fetched_images == [FIRST]


async def test_first_and_last_frame_go_in_frame_images(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="day turns to night over the bay",
            model="google/veo-3.1-lite",
            seed=3,
            first_frame=load_image(FIRST),
            last_frame=load_image(LAST),
        )
    )

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body == {
        "model": "google/veo-3.1-lite",
        "prompt": "day turns to night over the bay",
        "duration": 8,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "generate_audio": False,
        "seed": 3,
        "frame_images": [frame(FIRST, "first_frame"), frame(LAST, "last_frame")],
    }


async def test_reference_images_go_in_input_references_at_eight_seconds(bot: Bot) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="the yellow robot waters the fern",
            model="google/veo-3.1",
            seed=5,
            reference_images=(load_image(REF), load_image(FIRST)),
        )
    )

    bot.delivered_once(job)
    [body] = bot.sent()
    assert body["input_references"] == [
        {"type": "image_url", "image_url": {"url": data_url(REF)}},
        {"type": "image_url", "image_url": {"url": data_url(FIRST)}},
    ]
    assert body["duration"] == 8 and "frame_images" not in body


async def test_with_a_public_url_images_are_signed_links_the_fake_fetches(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with openrouter_bot(store, tmp_path, public=True, http_callbacks=True) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="grass sways", model="google/veo-3.1", first_frame=load_image(FIRST)
            )
        )
        bot.delivered_once(job)
        [body] = bot.sent()
        url = body["frame_images"][0]["image_url"]["url"]
        assert url.startswith(f"{bot.public_url}/media/{job.id}/first_frame/0?expires=")
        assert bot.fake.fetched_images == [FIRST]
        assert body["callback_url"] == bot.service.callback_url(job)


async def test_frames_and_references_together_are_refused_before_anything_starts(
    bot: Bot,
) -> None:
    job = await bot.run(
        GenerationRequest(
            prompt="a fox",
            model="google/veo-3.1",
            first_frame=load_image(FIRST),
            reference_images=(load_image(REF),),
        )
    )

    await bot.failed(job, "provider_bad_request", "either frame images or reference images")
    assert bot.fake.received("POST", SUBMIT) == []


@pytest.mark.parametrize(
    ("request_", "field_"),
    [
        (GenerationRequest(prompt="a fox", negative_prompt="blur"), "negative_prompt"),
        (GenerationRequest(prompt="a fox", aspect_ratio="1:1"), "aspect_ratio"),
        (GenerationRequest(prompt="a fox", resolution="4K"), "resolution"),
        (GenerationRequest(prompt="a fox", duration_s=5), "duration"),
        (
            GenerationRequest(
                prompt="a fox",
                model="google/veo-3.1",
                duration_s=4,
                reference_images=(load_image(REF),),
            ),
            "duration",
        ),
        (
            GenerationRequest(
                prompt="a fox", model="google/veo-3.1-lite", reference_images=(load_image(REF),)
            ),
            "references",
        ),
        (GenerationRequest(prompt="a fox", model="openai/sora-9"), "model"),
    ],
)
async def test_the_catalog_refuses_before_anything_is_sent(
    bot: Bot, request_: GenerationRequest, field_: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(request_, origin())

    assert refused.value.field == field_
    assert bot.fake.requests == []
    assert await bot.store.recent_jobs(5) == []
