"""The Gemini API adapter (Gemini Omni through the Interactions API) against its fake: the
JSON Google gets, field by field (docs/providers.md §2.3), the MP4 the channel gets, every
ending of an interaction refunded in plain words, and the retired Veo ids refused before
anything is sent."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from adapters.providers.gemini import OMNI, GeminiProvider
from bot.errors import InvalidRequest
from bot.jobs import JobService
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault
from tests.fakes.gemini import API_KEY, REFUSAL_TEXT, GeminiFake, create
from tests.support import KeepingSurface, eventually, make_service, origin, png_bytes, run_cli

CREATE = "/v1beta/interactions"
INTERACTION = "/v1beta/interactions/*"
RETIRED = "veo-3.1-fast-generate-preview"
RETIRED_SENTENCE = (
    "Veo 3.1 Fast (veo-3.1-fast-generate-preview) was retired by Google on 2026-10-22; "
    "use gemini-omni-1.1-flash instead."
)


@dataclass
class Bot:
    fake: GeminiFake
    provider: GeminiProvider
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    async def ledger(self, job: Job) -> str:
        [row] = await self.store.ledger([job.id])
        return str(row["status"])

    def created(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.fake.received("POST", CREATE)]

    def failure(self, job: Job) -> str:
        posts = self.surface.of(job.id, "failure")
        assert len(posts) == 1 and not self.surface.of(job.id, "video")
        return posts[0].text

    def assert_delivered_once(self, job: Job, video: bytes | None = None) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [video or self.fake.video]


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[BotFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def build(
            *,
            key: str = API_KEY,
            public_url: str | None = None,
            job_timeout_s: float = 600.0,
            **options: Any,
        ) -> Bot:
            fake = create(job_duration_s=options.pop("job_duration_s", 0.06), **options)
            await fake.start()
            stack.push_async_callback(fake.close)
            provider = GeminiProvider(key, base_url=fake.base_url)
            stack.push_async_callback(provider.aclose)
            surface = KeepingSurface()
            service = make_service(
                store,
                tmp_path,
                providers={"gemini": provider},
                surfaces={"chat": surface},
                default_provider="gemini",
                public_url=public_url,
                webhook_secret="hook-secret" if public_url else None,
                job_timeout_s=job_timeout_s,
            )
            # One scheduler for the whole test, like the bot's own loop.
            scheduler = Scheduler(service, idle_s=0.02)
            await scheduler.start()
            stack.push_async_callback(scheduler.stop)
            return Bot(fake, provider, service, surface, store)

        yield build


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def jpeg_bytes(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), color).save(buf, format="JPEG")
    return buf.getvalue()


def assert_plain(message: str) -> None:
    """Words for people: no HTTP codes, no Google status names, no JSON."""
    assert not re.search(r"\b[1-5]\d\d\b", message), message
    assert not re.search(r"\b[A-Z]+_[A-Z_]+\b", message), message
    assert "{" not in message and "error" not in message.lower(), message


# --- what Google gets ---------------------------------------------------------------------


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


# --- how the video comes back -------------------------------------------------------------


async def test_a_large_inline_video_is_decoded_from_the_spooled_answer(
    make_bot: BotFactory,
) -> None:
    video = b"\x00\x00\x00\x18ftypmp42" + os.urandom(3 * 1024 * 1024)  # spooled to disk
    bot = await make_bot(video=video)
    job = await bot.run(GenerationRequest(prompt="surf at dawn"))

    bot.assert_delivered_once(job, video)
    assert job.result_bytes == len(video)


async def test_a_uri_answer_waits_for_the_file_to_be_active_then_downloads_with_the_key(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(get_returns_uri=True, file_processing_reads=1)
    job = await bot.run(GenerationRequest(prompt="a heron takes off"))

    bot.assert_delivered_once(job)
    [interaction] = bot.fake.interactions.values()
    reads = bot.fake.received("GET", f"/v1beta/files/{interaction.file_id}")
    assert len(reads) == 2  # PROCESSING, then ACTIVE on the retried delivery
    [download] = bot.fake.received("GET", "/v1beta/files/*:download")
    assert download.query == {"alt": "media"}
    assert download.headers["x-goog-api-key"] == API_KEY


# --- how interactions end -----------------------------------------------------------------


async def test_a_completed_interaction_with_text_only_is_a_refusal_refunded(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[refuse] a famous face"))

    assert job.state is JobState.FAILED and job.error_code == "content_rejected"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "without making a video" in message and "not charged" in message
    assert REFUSAL_TEXT not in message  # the model's own words stay out of the channel
    assert_plain(message)


@pytest.mark.parametrize(
    ("flag", "code", "words"),
    [
        ("[fail]", "provider_failed", "ran into a problem"),
        ("[blocked]", "content_rejected", "safety filter"),
        ("[incomplete]", "provider_incomplete", "stopped before the video was finished"),
        ("[budget]", "provider_out_of_credits", "spending limit"),
        ("[action]", "provider_requires_action", "asked for a step the bot cannot take"),
    ],
)
async def test_every_unsuccessful_ending_is_refunded_in_plain_words(
    make_bot: BotFactory, flag: str, code: str, words: str
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt=f"{flag} a glass city"))

    assert job.state is JobState.FAILED and job.error_code == code
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert words in message
    assert_plain(message)


async def test_a_cancelled_interaction_is_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot(job_duration_s=5.0)
    job = await bot.service.submit(GenerationRequest(prompt="a long train"), origin())
    await eventually(lambda: _at_provider(bot, job))
    async with httpx.AsyncClient(base_url=bot.fake.base_url) as client:  # someone else cancels
        [interaction] = bot.fake.interactions
        cancelled = await client.post(
            f"/v1beta/interactions/{interaction}/cancel", headers={"x-goog-api-key": API_KEY}
        )
    assert cancelled.json()["status"] == "cancelled"

    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
    assert done.state is JobState.FAILED and done.error_code == "provider_cancelled"
    assert await bot.ledger(done) == "refunded"
    assert "cancelled at Google" in bot.failure(done)


async def _at_provider(bot: Bot, job: Job) -> Job | None:
    current = await bot.service.get_job(job.id)
    return current if current is not None and current.provider_job_id else None


async def test_a_timed_out_job_is_cancelled_at_google(make_bot: BotFactory) -> None:
    bot = await make_bot(job_timeout_s=0.5)
    job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))

    assert job.state is JobState.TIMED_OUT
    assert await bot.ledger(job) == "refunded"
    assert bot.fake.cancels == [job.provider_job_id]
    [cancel] = bot.fake.received("POST", "/v1beta/interactions/*/cancel")
    assert cancel.headers["x-goog-api-key"] == API_KEY


async def test_an_interaction_google_forgot_fails_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot(job_duration_s=5.0)
    job = await bot.service.submit(GenerationRequest(prompt="a cat on a piano"), origin())
    await eventually(lambda: _at_provider(bot, job))
    bot.fake.interactions.clear()  # GET now answers 400 "Invalid interaction name"

    done = await asyncio.wait_for(bot.service.wait_until_done(job.id), 10)
    assert done.state is JobState.FAILED and done.error_code == "provider_job_not_found"
    assert await bot.ledger(done) == "refunded"
    assert_plain(bot.failure(done))


# --- errors -------------------------------------------------------------------------------


async def test_a_bad_key_tells_people_an_admin_must_check_it(make_bot: BotFactory) -> None:
    bot = await make_bot(key="not-the-key")
    job = await bot.run(GenerationRequest(prompt="a red balloon"))

    assert job.state is JobState.FAILED and job.error_code == "provider_auth"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "key" in message and "admin" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", CREATE)) == 1  # not retried


@pytest.mark.parametrize("style", ["string", "rpc"])
async def test_both_error_envelopes_are_understood(make_bot: BotFactory, style: str) -> None:
    bot = await make_bot(error_style=style, daily_quota_exhausted=False)
    bot.fake.inject(
        Fault(
            CREATE,
            status=400,
            method="POST",
            body={"error": {"code": "invalid_request", "message": "Bad input."}}
            if style == "string"
            else {"error": {"code": 400, "message": "Bad input.", "status": "INVALID_ARGUMENT"}},
        )
    )
    job = await bot.run(GenerationRequest(prompt="a lamp"))

    assert job.state is JobState.FAILED and job.error_code == "provider_bad_request"
    assert await bot.ledger(job) == "refunded"
    assert_plain(bot.failure(job))


async def test_a_spent_daily_quota_is_not_retried_and_says_when(make_bot: BotFactory) -> None:
    bot = await make_bot(daily_quota_exhausted=True)
    job = await bot.run(GenerationRequest(prompt="a windmill at dusk"))

    assert job.state is JobState.FAILED and job.error_code == "provider_out_of_credits"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "today" in message and "tomorrow" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", CREATE)) == 1


# --- lifecycle ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "veo-3.1-fast-generate-preview",
        "veo-3.1-generate-preview",
        "veo-3.0-generate-001",
        "veo-3.0-fast-generate-001",
        "veo-2.0-generate-001",
    ],
)
async def test_a_retired_veo_id_is_refused_before_anything_is_sent_or_charged(
    make_bot: BotFactory, model: str
) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(GenerationRequest(prompt="a fox", model=model), origin())

    assert refused.value.field == "model"
    assert "was retired by Google on 2026-" in refused.value.user_message
    assert refused.value.user_message.endswith("; use gemini-omni-1.1-flash instead.")
    assert bot.fake.requests == []
    assert await bot.store.recent_jobs(5) == []


async def test_the_sentence_for_a_retired_veo_id(make_bot: BotFactory) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(GenerationRequest(prompt="a fox", model=RETIRED), origin())
    assert refused.value.user_message == RETIRED_SENTENCE


async def test_a_model_google_retired_unannounced_is_refunded_and_warned_once(
    make_bot: BotFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await make_bot(retired_models={OMNI})
    with caplog.at_level(logging.WARNING, logger="bot.lifecycle"):
        jobs = [await bot.run(GenerationRequest(prompt=f"a fox {n}")) for n in range(2)]

    for job in jobs:
        assert job.state is JobState.FAILED and job.error_code == "model_retired"
        assert await bot.ledger(job) == "refunded"
        message = bot.failure(job)
        assert message.startswith(
            "Gemini Omni Flash (gemini-omni-1.1-flash) was retired; pick another provider's model."
        )
        assert_plain(message)
    warnings = [r for r in caplog.records if "no longer available" in r.getMessage()]
    assert len(warnings) == 1 and OMNI in warnings[0].getMessage()
    assert len(bot.fake.received("POST", CREATE)) == 2  # each tried once, never retried


async def test_models_list_is_read_page_by_page_for_the_doctor(make_bot: BotFactory) -> None:
    bot = await make_bot(max_page_size=2)
    health = await bot.provider.health()

    assert health.reachable and health.key_accepted is True
    assert health.live_models is not None and OMNI in health.live_models
    assert len(health.live_models) == 4
    pages = bot.fake.received("GET", "/v1beta/models")
    assert [p.query.get("pageToken") for p in pages] == [None, "2"]
    assert all(p.headers["x-goog-api-key"] == API_KEY for p in pages)


async def test_the_doctor_call_says_when_the_key_is_refused(make_bot: BotFactory) -> None:
    bot = await make_bot(key="not-the-key")
    health = await bot.provider.health()

    assert health.reachable and health.key_accepted is False
    assert "not-the-key" not in health.detail


# --- the fake is as strict as Google --------------------------------------------------------

PNG = {"type": "image", "data": b64(png_bytes()), "mime_type": "image/png"}
GIF_CALLED_PNG = {"type": "image", "data": b64(b"GIF89a\x01\x00"), "mime_type": "image/png"}
TEXT = {"type": "text", "text": "a fox"}
VIDEO_FORMAT = {"type": "video", "duration": "8s"}


@pytest.mark.parametrize(
    ("changes", "auth", "status", "words"),
    [
        ({}, "header", 200, "queued"),
        ({}, "query", 200, "queued"),
        ({}, "wrong key", 400, "API key not valid"),
        ({}, "none", 403, "unregistered callers"),
        ({"negative_prompt": "people"}, "header", 400, 'Unknown name "negative_prompt"'),
        ({"model": "veo-3.1-fast-generate-preview"}, "header", 404, "is no longer available"),
        ({"model": "veo-9-imaginary"}, "header", 404, "is not found"),
        ({"response_format": {"type": "video", "duration": 8}}, "header", 400, 'like "8s"'),
        ({"response_format": {"type": "video", "duration": "12s"}}, "header", 400, "3s to 10s"),
        ({"response_format": {**VIDEO_FORMAT, "aspect_ratio": "1:1"}}, "header", 400, "16:9"),
        ({"response_format": {**VIDEO_FORMAT, "gcs_uri": "gs://b/"}}, "header", 400, "Vertex"),
        ({"response_format": {**VIDEO_FORMAT, "resolution": "4k"}}, "header", 200, "queued"),
        ({"system_instruction": "be nice"}, "header", 400, "not supported"),
        ({"generation_config": {"temperature": 0.5}}, "header", 400, "not supported"),
        ({"generation_config": {"seed": "7"}}, "header", 400, "seed"),
        ({"generation_config": {"video_config": {"task": "dance"}}}, "header", 400, "task"),
        ({"stream": True}, "header", 400, "stream"),
        ({"previous_interaction_id": "v1_nope"}, "header", 400, "Invalid interaction name"),
        ({"input": [PNG, {"type": "text", "text": "<LAST_FRAME> x"}]}, "header", 400, "FIRST"),
        ({"input": [PNG, {"type": "text", "text": "@Image2 x"}]}, "header", 400, "Image2"),
        ({"input": [GIF_CALLED_PNG, TEXT]}, "header", 400, "is not a image/png image"),
        ({"input": [PNG]}, "header", 400, "text prompt is required"),
        ({"input": [PNG, TEXT]}, "header", 200, "queued"),
        ({"input": [{"type": "user_input", "content": [TEXT]}]}, "header", 200, "queued"),
    ],
)
async def test_the_fake_refuses_what_google_refuses(
    changes: dict[str, Any], auth: str, status: int, words: str
) -> None:
    body = {"model": OMNI, "input": "a fox", "background": True, **changes}
    headers = {"header": {"x-goog-api-key": API_KEY}, "wrong key": {"x-goog-api-key": "nope"}}
    fake = create()
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=fake.base_url) as client:
            answer = await client.post(
                CREATE,
                json=body,
                headers=headers.get(auth, {}),
                params={"key": API_KEY} if auth == "query" else {},
            )
    finally:
        await fake.close()
    assert answer.status_code == status, answer.text
    found = answer.json()
    assert words in (found["status"] if status == 200 else found["error"]["message"])


# --- the command line ---------------------------------------------------------------------


async def test_the_cli_makes_a_video_through_the_fake(tmp_path: Path) -> None:
    fake = create(job_duration_s=0.1)
    await fake.start()
    try:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "gemini",
            "--model",
            OMNI,
            "--duration",
            "4",
            GEMINI_BASE_URL=fake.base_url,
            GEMINI_API_KEY=API_KEY,
        )
    finally:
        await fake.close()
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.suffix == ".mp4"
    assert await asyncio.to_thread(path.read_bytes) == fake.video
    assert API_KEY not in result.stdout + result.stderr
    [body] = [r.json() for r in fake.received("POST", CREATE)]
    assert body["model"] == OMNI and body["response_format"]["duration"] == "4s"


async def test_the_cli_refuses_a_retired_model_with_the_sentence_and_exit_2(
    tmp_path: Path,
) -> None:
    fake = create()
    await fake.start()
    try:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a paper lantern rises",
            "--provider",
            "gemini",
            "--model",
            RETIRED,
            GEMINI_BASE_URL=fake.base_url,
            GEMINI_API_KEY=API_KEY,
        )
    finally:
        await fake.close()
    assert result.returncode == 2
    assert result.stderr.strip() == f"veo-bot: {RETIRED_SENTENCE}"
    assert fake.requests == []
    assert "no jobs yet" in run_cli(tmp_path, "jobs").stdout
