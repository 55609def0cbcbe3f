"""What Google gets from the Gemini adapter, field by field (docs/providers.md §2.3): the text,
frames and references with their roles, extend chained to the earlier interaction, and the
callback URL."""

from __future__ import annotations

from adapters.providers.gemini import OMNI
from bot.media import load_image
from bot.models import GenerationRequest, JobState
from tests.fakes.gemini import API_KEY
from tests.gemini.support import CREATE, INTERACTION, BotFactory, assert_plain, b64, jpeg_bytes
from tests.support import png_bytes


async def test_text_to_video_sends_the_documented_body_and_posts_the_mp4(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(
            prompt="a paper boat drifts down a rainy street",
            duration_s=6,
            aspect_ratio="9:16",
            resolution="1080p",
            seed=42,
        )
    )

    bot.assert_delivered_once(job)
    assert await bot.ledger(job) == "settled"
    [create_call] = bot.fake.received("POST", CREATE)
    assert create_call.headers["x-goog-api-key"] == API_KEY and "key" not in create_call.query
    # Field by field, and nothing else: no negative prompt, no audio switch (Omni has none).
    assert create_call.json() == {
        "model": OMNI,
        "input": "a paper boat drifts down a rainy street",
        "response_format": {
            "type": "video",
            "aspect_ratio": "9:16",
            "resolution": "1080p",
            "duration": "6s",
            "delivery": "uri",
        },
        "background": True,
        "store": True,
        "generation_config": {"seed": 42},
    }
    [interaction] = bot.fake.interactions.values()
    assert job.provider_job_id == interaction.id
    polls = bot.fake.received("GET", INTERACTION)
    assert polls and {p.path for p in polls} == {f"/v1beta/interactions/{interaction.id}"}
    assert all(p.headers["x-goog-api-key"] == API_KEY for p in polls)
    # The video came inline in the last poll: nothing else was fetched.
    assert not bot.fake.received("GET", "/v1beta/files/*")
    assert job.result_url == f"{bot.fake.base_url}/v1beta/interactions/{interaction.id}"


async def test_a_first_frame_goes_inline_with_its_role_declared(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first = png_bytes(320, 180, (10, 120, 200))
    job = await bot.run(
        GenerationRequest(
            prompt="the lighthouse beam sweeps the fog", duration_s=4, first_frame=load_image(first)
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.created()
    assert body["input"] == [
        {"type": "image", "data": b64(first), "mime_type": "image/png"},
        {
            "type": "text",
            "text": "[# Sources <FIRST_FRAME>@Image1] the lighthouse beam sweeps the fog "
            "Use Image1 as the starting frame.",
        },
    ]


async def test_a_first_and_a_last_frame_go_in_that_order_with_both_roles(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    first, last = png_bytes(color=(200, 40, 40)), jpeg_bytes((40, 40, 200))
    job = await bot.run(
        GenerationRequest(
            prompt="day turns to night over the bay",
            first_frame=load_image(first),
            last_frame=load_image(last),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.created()
    assert body["input"] == [
        {"type": "image", "data": b64(first), "mime_type": "image/png"},
        {"type": "image", "data": b64(last), "mime_type": "image/jpeg"},
        {
            "type": "text",
            "text": "[# Sources <FIRST_FRAME>@Image1 <LAST_FRAME>@Image2] day turns to night "
            "over the bay Use Image1 as the starting frame. Use Image2 as the last frame.",
        },
    ]


async def test_reference_images_are_declared_as_references_not_frames(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    refs = [png_bytes(color=(250, 200, 0)), jpeg_bytes((0, 90, 30))]
    job = await bot.run(
        GenerationRequest(
            prompt="the yellow robot waters the fern",
            reference_images=tuple(load_image(r) for r in refs),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.created()
    assert body["input"][:2] == [
        {"type": "image", "data": b64(refs[0]), "mime_type": "image/png"},
        {"type": "image", "data": b64(refs[1]), "mime_type": "image/jpeg"},
    ]
    text = body["input"][2]["text"]
    assert text.startswith(
        "[# References <IMAGE_REF_0>@Image1 <IMAGE_REF_1>@Image2] the yellow robot"
    )
    assert "should not be used as literal initial frames" in text
    assert "<FIRST_FRAME>" not in text


async def test_extend_chains_to_the_earlier_interaction_and_posts_the_continuation(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    first = await bot.run(GenerationRequest(prompt="a kite climbs", duration_s=8))
    bot.assert_delivered_once(first)
    assert first.result_url is not None

    extended = await bot.run(
        GenerationRequest(prompt="the kite loops", duration_s=5, source_video=first.result_url)
    )

    # The fake repeats the earlier turn's video in the steps: the continuation is the one after
    # the last user turn, not the first video again.
    bot.assert_delivered_once(extended, bot.fake.extended_video)
    body = bot.created()[1]
    assert body["previous_interaction_id"] == first.provider_job_id
    assert body["input"] == (
        "[# Sources <PREVIOUS_VIDEO>@Video1] the kite loops Extend this video."
    )
    assert body["response_format"]["duration"] == "5s"


async def test_extending_a_video_google_no_longer_has_says_so(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first = await bot.run(GenerationRequest(prompt="a kite climbs"))
    assert first.result_url is not None
    bot.fake.interactions.clear()  # Google dropped the stored interaction

    extended = await bot.run(GenerationRequest(prompt="it loops", source_video=first.result_url))

    assert extended.state is JobState.FAILED
    assert await bot.ledger(extended) == "refunded"
    message = bot.failure(extended)
    assert "no longer has the earlier video" in message
    assert_plain(message)


async def test_the_callback_url_goes_in_webhook_config(make_bot: BotFactory) -> None:
    bot = await make_bot(public_url="https://bot.example")
    job = await bot.run(GenerationRequest(prompt="bees over lavender"))

    bot.assert_delivered_once(job)
    [body] = bot.created()
    assert body["webhook_config"] == {
        "uris": [bot.service.callback_url(job)],
        "user_metadata": {"job_id": job.id},
    }
