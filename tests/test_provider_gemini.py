"""The Gemini API (Veo) adapter against its fake: the JSON Google gets, field by field
(PROVIDERS.md §4.2), the MP4 the channel gets, and every failure ending refunded in plain
words."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from adapters.providers.gemini import GeminiProvider
from bot.errors import InvalidRequest
from bot.jobs import JobService
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault
from tests.fakes.gemini import API_KEY, RAI_REASON, GeminiFake, create
from tests.support import KeepingSurface, make_service, origin, png_bytes, run_cli

SUBMIT = "/v1beta/models/*:predictLongRunning"
OPERATION = "/v1beta/models/*/operations/*"
FAST = "veo-3.1-fast-generate-preview"
VEO31 = "veo-3.1-generate-preview"


@dataclass
class Bot:
    fake: GeminiFake
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    async def ledger(self, job: Job) -> str:
        rows = await self.store.ledger([job.id])
        assert len(rows) == 1
        return str(rows[0]["status"])

    def submitted(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.fake.received("POST", SUBMIT)]

    def failure(self, job: Job) -> str:
        posts = self.surface.of(job.id, "failure")
        assert len(posts) == 1 and not self.surface.of(job.id, "video")
        return posts[0].text

    def assert_delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def make_bot(store: SqliteStore, tmp_path: Path) -> AsyncIterator[BotFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def build(
            *, key: str = API_KEY, public_url: str | None = None, **options: Any
        ) -> Bot:
            fake = create(job_duration_s=0.06, **options)
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
            )
            # One scheduler for the whole test, like the bot's own loop.
            scheduler = Scheduler(service, idle_s=0.02)
            await scheduler.start()
            stack.push_async_callback(scheduler.stop)
            return Bot(fake, service, surface, store)

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


async def test_text_to_video_sends_the_documented_body_and_posts_the_mp4(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(
        GenerationRequest(
            prompt="a paper boat drifts down a rainy street",
            negative_prompt="people",
            duration_s=6,
            aspect_ratio="9:16",
        )
    )

    bot.assert_delivered_once(job)
    assert await bot.ledger(job) == "settled"
    [submit] = bot.fake.received("POST", SUBMIT)
    assert submit.path == f"/v1beta/models/{FAST}:predictLongRunning"
    assert submit.headers["x-goog-api-key"] == API_KEY and "key" not in submit.query
    # Field by field, and nothing else: no seed, no generateAudio (the Developer API refuses them).
    assert submit.json() == {
        "instances": [{"prompt": "a paper boat drifts down a rainy street"}],
        "parameters": {
            "aspectRatio": "9:16",
            "durationSeconds": 6,
            "resolution": "720p",
            "negativePrompt": "people",
            "personGeneration": "allow_all",
            "sampleCount": 1,
        },
    }
    polls = bot.fake.received("GET", OPERATION)
    assert polls and all(p.headers["x-goog-api-key"] == API_KEY for p in polls)
    assert job.provider_job_id is not None
    assert {p.path for p in polls} == {f"/v1beta/{job.provider_job_id}"}
    assert re.fullmatch(rf"models/{FAST}/operations/\w+", job.provider_job_id)
    [download] = bot.fake.received("GET", "/v1beta/files/*")
    assert download.headers["x-goog-api-key"] == API_KEY


async def test_first_frame_goes_inline_as_base64_with_its_mime_type(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first = png_bytes(320, 180, (10, 120, 200))
    job = await bot.run(
        GenerationRequest(
            prompt="the lighthouse beam sweeps the fog",
            model="veo-3.0-generate-001",
            duration_s=4,
            first_frame=load_image(first),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    image = body["instances"][0]["image"]
    assert image == {"bytesBase64Encoded": b64(first), "mimeType": "image/png"}
    assert base64.b64decode(image["bytesBase64Encoded"]) == first
    assert body["parameters"]["personGeneration"] == "allow_adult"
    assert body["parameters"]["durationSeconds"] == 4


async def test_first_and_last_frame_on_veo_31(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first, last = png_bytes(color=(200, 40, 40)), jpeg_bytes((40, 40, 200))
    job = await bot.run(
        GenerationRequest(
            prompt="day turns to night over the bay",
            model=VEO31,
            first_frame=load_image(first),
            last_frame=load_image(last),
        )
    )

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    instance = body["instances"][0]
    assert instance["image"] == {"bytesBase64Encoded": b64(first), "mimeType": "image/png"}
    assert instance["lastFrame"] == {"bytesBase64Encoded": b64(last), "mimeType": "image/jpeg"}
    assert body["parameters"] == {
        "aspectRatio": "16:9",
        "durationSeconds": 8,
        "resolution": "720p",
        "personGeneration": "allow_adult",
        "sampleCount": 1,
    }


async def test_reference_images_on_veo_31_at_eight_seconds(make_bot: BotFactory) -> None:
    bot = await make_bot()
    refs = [png_bytes(color=(250, 200, 0)), jpeg_bytes((0, 90, 30))]
    job = await bot.run(
        GenerationRequest(
            prompt="the yellow robot waters the fern",
            model=VEO31,
            duration_s=8,
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
    assert body["parameters"]["personGeneration"] == "allow_adult"


async def test_extension_sends_the_earlier_result_uri(make_bot: BotFactory) -> None:
    bot = await make_bot()
    first = await bot.run(GenerationRequest(prompt="a kite climbs", model=VEO31))
    bot.assert_delivered_once(first)
    assert first.result_url is not None

    extended = await bot.run(
        GenerationRequest(prompt="the kite loops", model=VEO31, source_video=first.result_url)
    )

    bot.assert_delivered_once(extended)
    body = bot.submitted()[1]
    assert body["instances"] == [{"prompt": "the kite loops", "video": {"uri": first.result_url}}]
    assert first.result_url.startswith(f"{bot.fake.base_url}/v1beta/files/")
    assert body["parameters"]["personGeneration"] == "allow_all"


async def test_callback_url_goes_in_webhook_config(make_bot: BotFactory) -> None:
    bot = await make_bot(public_url="https://bot.example")
    job = await bot.run(GenerationRequest(prompt="bees over lavender"))

    bot.assert_delivered_once(job)
    [body] = bot.submitted()
    assert body["webhookConfig"] == {
        "uris": [bot.service.callback_url(job)],
        "userMetadata": {"job_id": job.id},
    }


async def test_an_inline_encoded_video_is_delivered_and_can_be_extended(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(inline_video=True)
    job = await bot.run(GenerationRequest(prompt="snow on a red mailbox", model=VEO31))

    bot.assert_delivered_once(job)
    assert job.result_url is not None and job.result_url.startswith("data:video/mp4;base64,")
    assert not bot.fake.received("GET", "/v1beta/files/*")

    extended = await bot.run(
        GenerationRequest(prompt="the snow melts", model=VEO31, source_video=job.result_url)
    )

    bot.assert_delivered_once(extended)
    video = bot.submitted()[1]["instances"][0]["video"]
    assert video == {"encodedVideo": b64(bot.fake.video), "encoding": "video/mp4"}


async def test_redirected_download_never_shows_the_key_to_storage(make_bot: BotFactory) -> None:
    bot = await make_bot(redirect=True)
    job = await bot.run(GenerationRequest(prompt="a heron takes off"))

    bot.assert_delivered_once(job)
    [download] = bot.fake.received("GET", "/v1beta/files/*")
    assert download.headers["x-goog-api-key"] == API_KEY
    assert len(bot.fake.storage.requests) == 1
    assert not bot.fake.storage.saw_key()


async def test_a_failed_operation_is_refunded_in_plain_words(make_bot: BotFactory) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[fail] a glass city"))

    assert job.state is JobState.FAILED
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "could not make a video" in message and "not charged" in message
    assert_plain(message)


async def test_a_safety_filtered_video_says_so_without_echoing_the_reasons(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot()
    job = await bot.run(GenerationRequest(prompt="[rai] a famous face"))

    assert job.state is JobState.FAILED and job.error_code == "content_rejected"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "safety filter" in message
    assert RAI_REASON not in message and "RAI" not in message
    assert_plain(message)


async def test_a_bad_key_tells_people_an_admin_must_check_it(make_bot: BotFactory) -> None:
    bot = await make_bot(key="not-the-key")
    job = await bot.run(GenerationRequest(prompt="a red balloon"))

    assert job.state is JobState.FAILED and job.error_code == "provider_auth"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "key" in message and "admin" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", SUBMIT)) == 1  # not retried


async def test_a_rate_limited_submit_waits_retry_after_then_succeeds(make_bot: BotFactory) -> None:
    bot = await make_bot()
    started = time.monotonic()
    job = await bot.run(GenerationRequest(prompt="[429] fireflies in a jar"))

    bot.assert_delivered_once(job)
    assert time.monotonic() - started >= 0.95  # Retry-After: 1, not the 0.05 s backoff cap
    first, second = bot.submitted()
    assert first == second
    assert await bot.ledger(job) == "settled"


async def test_a_spent_daily_quota_is_not_retried_and_says_when(make_bot: BotFactory) -> None:
    bot = await make_bot(daily_quota_exhausted=True)
    job = await bot.run(GenerationRequest(prompt="a windmill at dusk"))

    assert job.state is JobState.FAILED and job.error_code == "provider_out_of_credits"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "today" in message and "tomorrow" in message
    assert_plain(message)
    assert len(bot.fake.received("POST", SUBMIT)) == 1


async def test_a_retired_model_is_named_as_unavailable(make_bot: BotFactory) -> None:
    bot = await make_bot(retired_models={FAST})
    job = await bot.run(GenerationRequest(prompt="a tram in the rain"))

    assert job.state is JobState.FAILED and job.error_code == "provider_bad_request"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "model is not available" in message
    assert_plain(message)


async def test_a_burst_of_server_errors_is_ridden_out(make_bot: BotFactory) -> None:
    bot = await make_bot()
    unavailable = {
        "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
    }
    bot.fake.inject(
        Fault(SUBMIT, status=503, body=unavailable),
        Fault(OPERATION, status=500, body={"error": {"code": 500, "status": "INTERNAL"}}, times=2),
        Fault(OPERATION, reset=True),
        Fault(
            "/v1beta/files/*",
            status=504,
            body={"error": {"code": 504, "status": "DEADLINE_EXCEEDED"}},
        ),
    )
    job = await bot.run(GenerationRequest(prompt="waves on basalt"))

    bot.assert_delivered_once(job)
    assert await bot.ledger(job) == "settled"
    assert len(bot.fake.received("POST", SUBMIT)) == 2
    assert len(bot.fake.received("GET", "/v1beta/files/*")) == 2


async def test_an_expired_operation_fails_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot(operation_ttl_s=0.03)
    job = await bot.run(GenerationRequest(prompt="[slow] a long night train"))

    assert job.state is JobState.FAILED and job.error_code == "provider_job_not_found"
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "lost or expired" in message
    assert_plain(message)


async def test_an_expired_file_fails_refunded(make_bot: BotFactory) -> None:
    bot = await make_bot(file_ttl_s=0)
    job = await bot.run(GenerationRequest(prompt="a cat on a piano"))

    assert job.state is JobState.FAILED
    assert await bot.ledger(job) == "refunded"
    message = bot.failure(job)
    assert "lost or expired" in message
    assert_plain(message)
    # A fresh reading of the operation was tried once more before giving up.
    assert len(bot.fake.received("GET", "/v1beta/files/*")) == 2


async def test_a_region_refusing_person_generation_gets_google_default(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(refused_person_generation={"allow_all"})
    job = await bot.run(GenerationRequest(prompt="a market at noon"))

    bot.assert_delivered_once(job)
    first, second = bot.submitted()
    assert first["parameters"]["personGeneration"] == "allow_all"
    assert "personGeneration" not in second["parameters"]
    assert first["instances"] == second["instances"]


@pytest.mark.parametrize(
    ("request_", "field_"),
    [
        (GenerationRequest(prompt="a fox", seed=42), "seed"),
        (GenerationRequest(prompt="a fox", duration_s=4, resolution="1080p"), "duration"),
    ],
)
async def test_the_core_refuses_before_anything_is_sent(
    make_bot: BotFactory, request_: GenerationRequest, field_: str
) -> None:
    bot = await make_bot()
    with pytest.raises(InvalidRequest) as refused:
        await bot.service.submit(request_, origin())

    assert refused.value.field == field_
    assert bot.fake.requests == []
    assert await bot.service.store.recent_jobs(5) == []


PNG = {"bytesBase64Encoded": b64(png_bytes()), "mimeType": "image/png"}
GIF_CALLED_PNG = {"bytesBase64Encoded": b64(b"GIF89a\x01\x00\x01\x00"), "mimeType": "image/png"}


@pytest.mark.parametrize(
    ("model", "instance", "parameters", "auth", "status", "words"),
    [
        (FAST, {}, {"seed": 1}, "header", 400, "only supported in Vertex"),
        (FAST, {}, {"generateAudio": True}, "header", 400, "only supported in Vertex"),
        ("veo-3.0-generate-001", {"image": PNG, "lastFrame": PNG}, {}, "header", 400, "lastFrame"),
        (
            VEO31,
            {"image": PNG, "referenceImages": [{"image": PNG, "referenceType": "asset"}]},
            {},
            "header",
            400,
            "cannot be combined",
        ),
        (FAST, {}, {"resolution": "1080p", "durationSeconds": 4}, "header", 400, "out of range"),
        ("veo-2.0-generate-001", {}, {"durationSeconds": 4}, "header", 400, "out of range"),
        (
            FAST,
            {"image": PNG},
            {"personGeneration": "allow_all"},
            "header",
            400,
            "personGeneration",
        ),
        (FAST, {"image": GIF_CALLED_PNG}, {}, "header", 400, "is not a image/png image"),
        (FAST, {}, {"aspectRatio": "1:1"}, "header", 400, "aspectRatio"),
        ("veo-9-imaginary", {}, {}, "header", 404, "not found"),
        (FAST, {}, {}, "wrong key", 400, "API key not valid"),
        (FAST, {}, {}, "none", 403, "unregistered callers"),
        (FAST, {}, {}, "query", 200, "operations/"),
    ],
)
async def test_the_fake_refuses_what_google_refuses(
    model: str,
    instance: dict[str, Any],
    parameters: dict[str, Any],
    auth: str,
    status: int,
    words: str,
) -> None:
    body = {
        "instances": [{"prompt": "a fox", **instance}],
        "parameters": {"aspectRatio": "16:9", "durationSeconds": 8, **parameters},
    }
    headers = {"header": {"x-goog-api-key": API_KEY}, "wrong key": {"x-goog-api-key": "nope"}}
    fake = create()
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=fake.base_url) as client:
            answer = await client.post(
                f"/v1beta/models/{model}:predictLongRunning",
                json=body,
                headers=headers.get(auth, {}),
                params={"key": API_KEY} if auth == "query" else {},
            )
    finally:
        await fake.close()
    assert answer.status_code == status, answer.text
    assert words in answer.text
    if status != 200:
        assert answer.json()["error"]["code"] == status


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
