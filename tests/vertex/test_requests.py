"""What Vertex gets: the JSON for every input kind (docs/providers.md §1.4) with a verified
token, and what Vertex would refuse refused before it is sent."""

from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from adapters.providers.vertex import SCOPE
from bot.errors import InvalidRequest
from bot.media import load_image
from bot.models import GenerationRequest, JobState
from tests.fakes.vertex import CLIENT_EMAIL, KEY_ID
from tests.support import origin, png_bytes
from tests.vertex.support import (
    FAST,
    FETCH,
    LITE,
    MODELS_PATH,
    SUBMIT,
    VEO31,
    BotFactory,
    assert_plain,
    b64,
    image_bytes,
)


async def test_text_to_video_sends_the_documented_body_with_a_verified_token(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(
            prompt="a paper boat drifts down a rainy street",
            negative_prompt="people",
            duration_s=6,
            aspect_ratio="9:16",
            seed=1234,
        )
    )

    bot.assert_delivered_once(job)
    assert await bot.ledger(job) == "settled"
    [submit] = bot.fake.received("POST", SUBMIT)
    assert submit.path == f"{MODELS_PATH}/{FAST}:predictLongRunning"
    assert submit.json() == {
        "instances": [{"prompt": "a paper boat drifts down a rainy street"}],
        "parameters": {
            "aspectRatio": "9:16",
            "sampleCount": 1,
            "durationSeconds": 6,
            "resolution": "720p",
            "generateAudio": False,
            "seed": 1234,
            "negativePrompt": "people",
            "personGeneration": "allow_adult",
        },
    }
    # One grant, signed by the key and checked by the token endpoint, as google-auth makes it.
    [grant] = bot.fake.grants
    assert grant.header["alg"] == "RS256" and grant.header["kid"] == KEY_ID
    assert grant.claims["iss"] == CLIENT_EMAIL
    assert grant.claims["aud"] == "https://oauth2.googleapis.com/token"
    assert grant.claims["scope"] == SCOPE
    [token] = bot.fake.received("POST", "/token")
    assert token.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert bot.tokens_used() == {f"Bearer {grant.issued}"}
    # Polled with fetchPredictOperation on the operation's own model path.
    assert job.provider_job_id is not None
    assert re.fullmatch(
        rf"{MODELS_PATH[1:].removeprefix('v1/')}/{FAST}/operations/\w+", job.provider_job_id
    )
    polls = bot.fake.received("POST", FETCH)
    assert len(polls) >= 2
    assert {p.path for p in polls} == {f"{MODELS_PATH}/{FAST}:fetchPredictOperation"}
    assert all(p.json() == {"operationName": job.provider_job_id} for p in polls)


async def test_a_first_frame_with_sound_at_1080p(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first = png_bytes(320, 180, (10, 120, 200))
    job = await bot.run(
        GenerationRequest(
            prompt="the lighthouse beam sweeps the fog",
            model=VEO31,
            resolution="1080p",
            audio=True,
            first_frame=load_image(first),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    assert body["instances"] == [
        {
            "prompt": "the lighthouse beam sweeps the fog",
            "image": {"bytesBase64Encoded": b64(first), "mimeType": "image/png"},
        }
    ]
    parameters = body["parameters"]
    assert (parameters["resolution"], parameters["durationSeconds"]) == ("1080p", 8)
    assert parameters["generateAudio"] is True
    assert bot.fake.received("POST", SUBMIT)[0].path.endswith(f"/{VEO31}:predictLongRunning")


async def test_first_and_last_frame_and_webp_becomes_png(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first, last = image_bytes("JPEG", (200, 40, 40)), image_bytes("WEBP", (40, 40, 200))
    job = await bot.run(
        GenerationRequest(
            prompt="day turns to night over the bay",
            model=LITE,
            duration_s=4,
            first_frame=load_image(first),
            last_frame=load_image(last),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    instance = body["instances"][0]
    assert instance["image"] == {"bytesBase64Encoded": b64(first), "mimeType": "image/jpeg"}
    # Vertex takes PNG and JPEG: the WebP arrives as the same picture in PNG.
    assert instance["lastFrame"]["mimeType"] == "image/png"
    converted = Image.open(
        io.BytesIO(base64.b64decode(instance["lastFrame"]["bytesBase64Encoded"]))
    )
    assert converted.format == "PNG" and converted.size == (320, 180)
    assert converted.convert("RGB").getpixel((160, 90)) == Image.open(io.BytesIO(last)).convert(
        "RGB"
    ).getpixel((160, 90))
    assert body["parameters"]["durationSeconds"] == 4


async def test_reference_images_are_assets_at_eight_seconds(make_bot: BotFactory) -> None:
    bot = await make_bot()
    refs = [png_bytes(color=(250, 200, 0)), image_bytes("JPEG", (0, 90, 30))]
    job = await bot.run(
        GenerationRequest(
            prompt="the yellow robot waters the fern",
            model=VEO31,
            reference_images=tuple(load_image(r) for r in refs),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    assert body["instances"] == [
        {
            "prompt": "the yellow robot waters the fern",
            "referenceImages": [
                {
                    "image": {"bytesBase64Encoded": b64(refs[0]), "mimeType": "image/png"},
                    "referenceType": "asset",
                },
                {
                    "image": {"bytesBase64Encoded": b64(refs[1]), "mimeType": "image/jpeg"},
                    "referenceType": "asset",
                },
            ],
        }
    ]
    assert body["parameters"]["durationSeconds"] == 8


REFERENCE = load_image(png_bytes(color=(90, 90, 90)))


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (
            GenerationRequest(
                prompt="a robot", model=VEO31, aspect_ratio="9:16", reference_images=(REFERENCE,)
            ),
            "16:9 only",
        ),
        (
            GenerationRequest(
                prompt="a robot", model=VEO31, negative_prompt="rust", reference_images=(REFERENCE,)
            ),
            "negative",
        ),
        (
            GenerationRequest(prompt="a robot", extras={"person_generation": "everyone"}),
            "people in videos",
        ),
    ],
    ids=["references at 9:16", "references with a negative prompt", "unknown person setting"],
)
async def test_what_vertex_refuses_is_refused_before_it_is_sent(
    make_bot: BotFactory, request_: GenerationRequest, words: str
) -> None:
    bot = await make_bot()
    job = await bot.run(request_)

    assert job.state is JobState.FAILED and job.error_code == "provider_bad_request"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert words in message
    assert_plain(message)
    assert bot.fake.received("POST", SUBMIT) == []


async def test_the_workspace_person_setting_is_sent(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(prompt="an empty market", extras={"person_generation": "dont_allow"})
    )

    bot.assert_delivered_once(job)
    assert bot.submitted()[0]["parameters"]["personGeneration"] == "dont_allow"


async def test_the_channel_person_setting_reaches_vertex(make_bot: BotFactory) -> None:
    bot = await make_bot()
    # Set by `/veo-admin channel set everywhere people:allow_all` (bot.channel_admin).
    await bot.store.set_channel_rule(
        origin().workspace_key, "*", {"person_generation": "allow_all"}, now=0
    )
    job = await bot.run(GenerationRequest(prompt="a crowded market"))

    bot.assert_delivered_once(job)
    assert job.request.extras == {"person_generation": "allow_all"}
    assert bot.submitted()[0]["parameters"]["personGeneration"] == "allow_all"


async def test_lite_takes_no_reference_images(make_bot: BotFactory) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(
            GenerationRequest(
                prompt="a fox", model=LITE, reference_images=(load_image(png_bytes()),)
            ),
            origin(),
        )

    assert refused.value.field == "references"
    assert bot.fake.requests == []
