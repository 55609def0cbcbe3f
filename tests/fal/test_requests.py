"""What fal.ai gets: the endpoint each kind of input goes to and the JSON it gets, field by field
(docs/providers.md §3), the request's own status / result / cancel URLs, the queue position, the
MP4 the channel gets, cancellation that stops the bill, and every failure refunded in plain
words."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from adapters.providers import default_catalog
from bot.clock import SystemClock
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, JobState, ProviderJobState
from tests.fakes.fal import API_KEY, JWKS_PATH, FalFake
from tests.fal.support import (
    FAST,
    FIRST,
    LAST,
    LITE,
    REF,
    VEO31,
    BotFactory,
    data_uri,
    fal_provider,
    submitted,
)
from tests.support import eventually, run_cli


async def test_text_goes_to_the_model_itself_and_the_mp4_reaches_the_channel(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(
            prompt="a paper boat drifts down a rainy street",
            negative_prompt="people",
            duration_s=6,
            aspect_ratio="9:16",
            seed=42,
        )
    )

    bot.assert_delivered_once(job)
    assert await bot.ledger(job) == "settled"
    assert submitted(bot) == [
        (
            FAST,
            {
                "prompt": "a paper boat drifts down a rainy street",
                "aspect_ratio": "9:16",
                "duration": "6s",
                "resolution": "720p",
                "generate_audio": False,
                "negative_prompt": "people",
                "seed": 42,
            },
        )
    ]
    [post] = [r for r in bot.fake.requests if r.method == "POST"]
    assert post.headers["Authorization"] == f"Key {API_KEY}" and "fal_webhook" not in post.query
    [request_id] = bot.fake.requests_by_id
    # The status and result URLs the submit answer named: the app, without the sub-path.
    polls = bot.fake.received("GET", "/fal-ai/*/status")
    assert {p.path for p in polls} == {f"/fal-ai/veo3.1/requests/{request_id}/status"}
    assert all(p.headers["Authorization"] == f"Key {API_KEY}" for p in polls)
    assert bot.fake.received("GET", f"/fal-ai/veo3.1/requests/{request_id}")
    # The video comes from fal's CDN, another host: the key never goes there.
    assert bot.fake.received("GET", "/files/*") and not bot.fake.cdn_saw_authorization
    assert job.provider_job_id is not None
    assert json.loads(job.provider_job_id)["id"] == request_id


@pytest.mark.parametrize(
    ("model", "frames", "endpoint"),
    [
        (FAST, "first", "fal-ai/veo3.1/fast/image-to-video"),
        (FAST, "first+last", "fal-ai/veo3.1/fast/first-last-frame-to-video"),
        (VEO31, "first", "fal-ai/veo3.1/image-to-video"),
        (VEO31, "first+last", "fal-ai/veo3.1/first-last-frame-to-video"),
        (LITE, "none", "fal-ai/veo3.1/lite"),
        (LITE, "first", "fal-ai/veo3.1/lite/image-to-video"),
        (LITE, "first+last", "fal-ai/veo3.1/lite/first-last-frame-to-video"),
    ],
)
async def test_the_inputs_pick_the_endpoint_and_images_go_as_data_uris(
    make_bot: BotFactory, model: str, frames: str, endpoint: str
) -> None:
    bot = await make_bot()
    first = load_image(FIRST) if frames != "none" else None
    last = load_image(LAST) if frames == "first+last" else None
    job = await bot.run(
        GenerationRequest(
            prompt="day turns to night", model=model, first_frame=first, last_frame=last
        )
    )

    bot.assert_delivered_once(job)
    [(path, body)] = submitted(bot)
    assert path == endpoint
    images = {k: v for k, v in body.items() if k.endswith("_url")}
    if frames == "first":
        assert images == {"image_url": data_uri(FIRST)}
    elif frames == "first+last":
        assert images == {"first_frame_url": data_uri(FIRST), "last_frame_url": data_uri(LAST)}
    else:
        assert images == {}
    assert bot.fake.fetched == [FIRST, LAST][: len(images)]
    # Whatever the endpoint, status lives under the app alone.
    app = "/".join(endpoint.split("/")[:2])
    assert {p.path.rsplit("/", 2)[0] for p in bot.fake.received("GET", "/*/status")} == {
        f"/{app}/requests"
    }


async def test_with_a_public_url_images_go_as_signed_links_the_fake_follows(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(public=True)
    job = await bot.run(
        GenerationRequest(
            prompt="the lighthouse dims as the sun rises",
            model=VEO31,
            resolution="1080p",
            audio=True,
            first_frame=load_image(FIRST),
            last_frame=load_image(LAST),
        )
    )

    bot.assert_delivered_once(job)
    [(path, body)] = submitted(bot)
    assert path == "fal-ai/veo3.1/first-last-frame-to-video"
    assert bot.public_url is not None
    for field_, role in (("first_frame_url", "first_frame"), ("last_frame_url", "last_frame")):
        assert body[field_].startswith(f"{bot.public_url}/media/{job.id}/{role}/0?expires=")
    assert body["resolution"] == "1080p" and body["generate_audio"] is True
    assert bot.fake.fetched == [FIRST, LAST]  # fetched through the links, as fal does
    # With a public URL the request asks fal to call back.
    [post] = [r for r in bot.fake.requests if r.method == "POST"]
    assert post.query["fal_webhook"] == bot.service.callback_url(job)


async def test_reference_images_go_to_reference_to_video_at_eight_seconds(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(
            prompt="the green robot waters the fern",
            model=VEO31,
            reference_images=(load_image(REF), load_image(FIRST)),
        )
    )

    bot.assert_delivered_once(job)
    [(path, body)] = submitted(bot)
    assert path == "fal-ai/veo3.1/reference-to-video"
    assert body["image_urls"] == [data_uri(REF), data_uri(FIRST)]
    assert body["duration"] == "8s"


async def test_extend_sends_the_earlier_result_to_extend_video(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first = await bot.run(GenerationRequest(prompt="a kite climbs", model=FAST))
    bot.assert_delivered_once(first)
    assert first.result_url is not None

    extended = await bot.run(
        GenerationRequest(prompt="the kite loops", model=FAST, source_video=first.result_url)
    )

    bot.assert_delivered_once(extended)
    path, body = submitted(bot)[1]
    assert path == "fal-ai/veo3.1/fast/extend-video"
    assert body == {
        "prompt": "the kite loops",
        "video_url": first.result_url,
        "generate_audio": False,
        "seed": extended.request.seed,
    }
    assert bot.fake.fetched == [bot.fake.video]  # fal fetched the earlier video


async def test_a_last_frame_without_a_first_is_refused_before_anything_is_sent(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="dusk", model=FAST, last_frame=load_image(LAST)))

    await bot.assert_failed_refunded(job, "provider_bad_request", "first frame")
    assert submitted(bot) == []


@pytest.mark.parametrize(
    ("prompt", "code", "words"),
    [
        ("[fail] a glass city", "provider_failed", "could not make this video"),
        ("[rai] a famous face", "content_rejected", "content checker refused"),
        ("[nourl] a glass city", "no_output", "without returning a video"),
    ],
)
async def test_failed_runs_are_refunded_in_plain_words(
    make_bot: BotFactory, prompt: str, code: str, words: str
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt=prompt))

    await bot.assert_failed_refunded(job, code, words)
    assert bot.fake.charged == []


async def test_a_refused_key_and_a_spent_balance_are_for_an_admin(make_bot: BotFactory) -> None:
    bot = await make_bot(key="fal-wrong:key")
    job = await bot.run(GenerationRequest(prompt="a red balloon"))
    await bot.assert_failed_refunded(job, "provider_auth", "an admin needs to check it")
    assert len(submitted(bot)) == 1  # not retried

    broke = await make_bot(balance=0)
    job = await broke.run(GenerationRequest(prompt="a red balloon"))
    await broke.assert_failed_refunded(job, "provider_out_of_credits", "out of credits")


async def test_request_urls_on_another_host_never_get_the_key(make_bot: BotFactory) -> None:
    bot = await make_bot(foreign_urls=True)
    job = await bot.run(GenerationRequest(prompt="a heron takes off"))

    assert job.state is JobState.FAILED and await bot.ledger(job) == "refunded"
    foreign = [r for r in bot.fake.requests if r.headers.get("Host", "").startswith("localhost")]
    assert foreign == []  # nothing at all was sent to the host the answer named


async def test_the_queue_position_is_shown_while_the_request_waits(tmp_path: Path) -> None:
    moment = [0.0]  # the fake's clock: still, so the request stays third in line
    async with FalFake(queue_ahead=3, clock=lambda: moment[0], job_duration_s=1.0) as fake:
        assert isinstance(fake, FalFake)
        cli = asyncio.create_task(
            asyncio.to_thread(
                run_cli,
                tmp_path,
                "try",
                "a lantern rises",
                "--provider",
                "fal",
                FAL_KEY=API_KEY,
                FAL_QUEUE_URL=fake.base_url,
                FAL_JWKS_URL=fake.base_url + JWKS_PATH,
            )
        )

        async def polled() -> bool | None:
            return True if fake.received("GET", "/fal-ai/*/status") else None

        await eventually(polled, timeout_s=60)
        moment[0] = 10.0  # now the request runs and finishes
        result = await cli
    assert result.returncode == 0, result.stderr
    assert "submitted 0% (queued at the provider — 3 ahead)" in result.stderr


async def test_a_timed_out_job_is_cancelled_at_fal_and_never_billed(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(job_timeout_s=0.3)
    job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))

    assert job.state is JobState.TIMED_OUT and await bot.ledger(job) == "refunded"
    [request_id] = bot.fake.requests_by_id
    [cancel] = bot.fake.received("PUT", "/fal-ai/*/cancel")
    assert cancel.path == f"/fal-ai/veo3.1/requests/{request_id}/cancel"
    assert cancel.headers["Authorization"] == f"Key {API_KEY}"
    assert bot.fake.requests_by_id[request_id].cancelled_at is not None
    assert bot.fake.charged == []


async def test_cancel_says_whether_fal_took_it(tmp_path: Path) -> None:
    moment = [0.0]
    async with FalFake(clock=lambda: moment[0], job_duration_s=3.0) as fake:
        assert isinstance(fake, FalFake)
        provider = fal_provider(fake, MediaLinks(None, "s", SystemClock()))
        catalog = default_catalog()
        try:
            ids = [
                await provider.submit(
                    "j1",
                    catalog.validate(GenerationRequest(prompt=p), provider="fal"),
                    callback_url=None,
                )
                for p in ("queued", "running", "done")
            ]
            assert await provider.cancel(ids[0]) is True  # queued: dropped ("OK")
            moment[0] = 1.5
            assert await provider.cancel(ids[1]) is True  # running: CANCELLATION_REQUESTED
            moment[0] = 5.0
            assert await provider.cancel(ids[2]) is False  # ALREADY_COMPLETED
            unknown = json.loads(ids[2])
            unknown["cancel"] = unknown["cancel"].replace(unknown["id"], str(uuid.uuid4()))
            assert await provider.cancel(json.dumps(unknown)) is False  # NOT_FOUND
            assert len(fake.received("PUT", "/fal-ai/*/cancel")) == 4
            cancelled = await provider.get_status(ids[0])
            assert cancelled.state is ProviderJobState.FAILED
            assert cancelled.error_code == "provider_cancelled"
            assert fake.charged == [json.loads(ids[2])["id"]]  # only the one that finished
        finally:
            await provider.aclose()
