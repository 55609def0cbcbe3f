"""The OpenAI-style gateway adapter in both dialects against its fake: the JSON the gateway
gets, field by field (as tokensmind and uniall document them), every status shape, the result
download rules, and every failure ending refunded in plain words."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.providers.gateway import GatewayProvider
from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault
from tests.fakes.gateway import API_KEY, OTHER_KEY, GatewayFake
from tests.support import KeepingSurface, make_service, origin, png_bytes, run_cli

SUBMIT = "/v1/video/generations"
FIRST = png_bytes(640, 360, (250, 10, 10))
LAST = png_bytes(640, 360, (10, 10, 250))


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@dataclass
class Bot:
    fake: GatewayFake
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    def sent(self) -> dict[str, Any]:
        [post] = self.fake.received("POST", SUBMIT)
        body: dict[str, Any] = post.json()
        return body

    def delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]

    async def failed(self, job: Job, code: str, words: str) -> None:
        assert (job.state, job.error_code) == (JobState.FAILED, code)
        [post] = self.surface.of(job.id, "failure")
        assert words in post.text and "not charged" in post.text and "{" not in post.text
        [row] = await self.store.ledger([job.id])
        assert row["status"] == "refunded"


@asynccontextmanager
async def gateway_bot(
    store: SqliteStore, tmp_path: Path, **fake_options: Any
) -> AsyncIterator[Bot]:
    dialect = fake_options.get("dialect", "images")
    async with GatewayFake(job_duration_s=0.05, **fake_options) as fake:
        assert isinstance(fake, GatewayFake)
        provider = GatewayProvider(
            fake.base_url, API_KEY, MediaLinks(None, "s", SystemClock()), dialect=dialect
        )
        surface = KeepingSurface()
        service = make_service(
            store,
            tmp_path,
            providers={"gateway": provider},
            surfaces={"chat": surface},
            default_provider="gateway",
            gateway_dialect=dialect,
        )
        scheduler = Scheduler(service, idle_s=0.02)
        await scheduler.start()
        try:
            yield Bot(fake, service, surface, store)
        finally:
            await scheduler.stop()
            await provider.aclose()


async def test_images_dialect_first_frame_matches_tokensminds_example(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with gateway_bot(store, tmp_path) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="dance",
                model="veo-3.1-generate-preview",
                aspect_ratio="9:16",
                resolution="1080p",
                first_frame=load_image(FIRST),
            )
        )
        bot.delivered_once(job)
        assert bot.sent() == {
            "model": "veo-3.1-generate-preview",
            "prompt": "dance",
            "aspect_ratio": "9:16",
            "seconds": "8",
            "size": "1080p",
            "images": [data_uri(FIRST)],
        }
        assert bot.fake.fetched_images == [FIRST]
        auth = bot.fake.received("GET", "/v1/videos/*/content")[0].headers["Authorization"]
        assert auth == f"Bearer {API_KEY}"  # the proxy URL is the gateway's own: key sent


async def test_images_dialect_text_only(store: SqliteStore, tmp_path: Path) -> None:
    async with gateway_bot(store, tmp_path, result="cdn") as bot:
        job = await bot.run(
            GenerationRequest(prompt="a fox", model="veo-3.1-fast-generate-preview", duration_s=4)
        )
        bot.delivered_once(job)
        assert bot.sent() == {
            "model": "veo-3.1-fast-generate-preview",
            "prompt": "a fox",
            "aspect_ratio": "16:9",
            "seconds": "4",
            "size": "720p",
        }
        assert not bot.fake.cdn_saw_authorization  # a foreign host never gets the key


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            GenerationRequest(
                prompt="sea",
                model="veo3.1-video-1080p",
                duration_s=6,
                seed=7,
                audio=True,
                negative_prompt="blur",
            ),
            {
                "size": "1080p",
                "aspect_ratio": "16:9",
                "duration": 6,
                "extra_body": {"generate_audio": True, "negative_prompt": "blur", "seed": 7},
            },
        ),
        (
            GenerationRequest(
                prompt="sea",
                model="veo3.1-video-720p",
                duration_s=6,
                seed=1,
                first_frame=load_image(FIRST),
            ),
            {
                "size": "720p",
                "aspect_ratio": "16:9",
                "duration": 6,
                "image": data_uri(FIRST),
                "extra_body": {"generate_audio": False, "seed": 1},
            },
        ),
        (
            GenerationRequest(
                prompt="sea",
                model="veo3.1-fast-video-1080p",
                duration_s=6,
                seed=1,
                first_frame=load_image(FIRST),
                last_frame=load_image(LAST),
            ),
            {
                "size": "1080p",
                "aspect_ratio": "16:9",
                "duration": 6,
                "image": data_uri(FIRST),
                "last_image": data_uri(LAST),
                "extra_body": {"generate_audio": False, "seed": 1},
            },
        ),
        (
            GenerationRequest(
                prompt="sea",
                model="veo3.1-video-1080p",
                aspect_ratio="9:16",
                duration_s=6,
                seed=11,
                reference_images=(load_image(FIRST), load_image(LAST)),
            ),
            {
                "size": "1080p",
                "aspect_ratio": "9:16",
                "duration": 6,
                "images": [data_uri(FIRST), data_uri(LAST)],
                "extra_body": {"generate_audio": False, "seed": 11},
            },
        ),
        (
            GenerationRequest(
                prompt="go on",
                model="veo3.1-video-720p",
                seed=9,
                source_video="https://example.com/source.mp4",
            ),
            {
                "size": "720p",
                "video": "https://example.com/source.mp4",
                "extra_body": {"generate_audio": False, "seed": 9},
            },
        ),
    ],
    ids=["text", "image", "first-last", "references", "extension"],
)
async def test_veo31_dialect_modes_match_unialls_documentation(
    store: SqliteStore, tmp_path: Path, request_: GenerationRequest, expected: dict[str, Any]
) -> None:
    async with gateway_bot(store, tmp_path, dialect="veo31", result="data") as bot:
        job = await bot.run(request_)
        bot.delivered_once(job)
        assert bot.sent() == {"model": request_.model, "prompt": request_.prompt, **expected}


@pytest.mark.parametrize("shape", ["A", "B", "C"])
async def test_every_status_shape_is_read(store: SqliteStore, tmp_path: Path, shape: str) -> None:
    async with gateway_bot(store, tmp_path, shape=shape) as bot:
        bot.delivered_once(await bot.run(GenerationRequest(prompt="fox", duration_s=4)))
        assert bot.fake.received("GET", "/v1/video/generations/*")


async def test_shape_d_and_its_expired_status(store: SqliteStore, tmp_path: Path) -> None:
    async with gateway_bot(store, tmp_path, dialect="veo31") as bot:
        bot.delivered_once(await bot.run(GenerationRequest(prompt="fox")))
        assert bot.fake.received("GET", "/v1/videos/task_*")
        job = await bot.run(GenerationRequest(prompt="[expire] fox"))
        await bot.failed(job, "provider_job_not_found", "expired")


@pytest.mark.parametrize(
    ("shape", "prompt", "code", "words"),
    [
        *(
            (shape, prompt, code, words)
            for shape in "ABCD"
            for prompt, code, words in (
                ("[fail] fox", "provider_failed", "could not make this video"),
                ("[rai] fox", "content_rejected", "safety filter refused"),
            )
        ),
        # Shapes A to C name their URL; without one there is nothing to fetch. (Shape D never
        # names one: see the content-route tests below.)
        *((shape, "[nourl] fox", "no_output", "without returning a video") for shape in "ABC"),
    ],
)
async def test_failures_in_every_shape_are_refunded(
    store: SqliteStore, tmp_path: Path, shape: str, prompt: str, code: str, words: str
) -> None:
    async with gateway_bot(store, tmp_path, shape=shape) as bot:
        await bot.failed(await bot.run(GenerationRequest(prompt=prompt)), code, words)


CONTENT = "/v1/videos/*/content"


@pytest.mark.parametrize(
    ("dialect", "status_route"),
    [("images", "/v1/video/generations/task_*"), ("veo31", "/v1/videos/task_*")],
)
async def test_a_completed_video_object_without_a_url_is_fetched_with_the_same_key(
    store: SqliteStore, tmp_path: Path, dialect: str, status_route: str
) -> None:
    # new-api's OpenAI video object: {"object": "video", "status": "completed"}, no URL.
    async with gateway_bot(store, tmp_path, dialect=dialect, shape="D") as bot:
        job = await bot.run(GenerationRequest(prompt="fox"))

        bot.delivered_once(job)
        [row] = await bot.store.ledger([job.id])
        assert row["status"] == "settled"
        assert [r for r in bot.fake.received("GET", status_route) if "content" not in r.path]
        [download] = bot.fake.received("GET", CONTENT)
        assert download.path == f"/v1/videos/{job.provider_job_id}/content"
        assert download.headers["Authorization"] == f"Bearer {API_KEY}"
        assert job.result_url == f"{bot.fake.base_url}/v1/videos/{job.provider_job_id}/content"


async def test_a_content_route_not_ready_just_after_completion_is_asked_again(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with gateway_bot(store, tmp_path, dialect="veo31", content_not_ready=2) as bot:
        job = await bot.run(GenerationRequest(prompt="fox"))

        bot.delivered_once(job)
        assert len(bot.fake.received("GET", CONTENT)) == 3
        assert bot.fake.content_not_ready == 0


async def test_a_task_the_content_route_does_not_know_fails_refunded(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with gateway_bot(store, tmp_path, dialect="veo31") as bot:
        not_found = {"error": {"message": "Task not found", "type": "invalid_request_error"}}
        bot.fake.inject(Fault(CONTENT, 404, not_found, "GET", times=2))
        job = await bot.run(GenerationRequest(prompt="fox"))

        assert job.state is JobState.FAILED and job.error_code == "delivery_failed"
        [post] = bot.surface.of(job.id, "failure")
        assert "lost or expired" in post.text and "not charged" in post.text
        [row] = await bot.store.ledger([job.id])
        assert row["status"] == "refunded"
        assert len(bot.fake.received("GET", CONTENT)) == 2  # one fresh look, then refunded


async def test_a_video_object_naming_its_url_in_metadata_is_fetched_there(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with gateway_bot(store, tmp_path, dialect="veo31", shape_d_url=True, result="cdn") as bot:
        bot.delivered_once(await bot.run(GenerationRequest(prompt="fox")))
        assert bot.fake.received("GET", "/cdn/*") and not bot.fake.received("GET", CONTENT)
        assert not bot.fake.cdn_saw_authorization


@pytest.mark.parametrize(
    ("prompt", "key", "status", "words"),
    [
        ("fox", f"Bearer {API_KEY}", 200, ""),
        ("fox", API_KEY, 200, ""),  # new-api takes the bare key too
        ("fox", f"Bearer {OTHER_KEY}", 404, "Task not found"),
        ("fox", "Bearer sk-nobody", 401, "Invalid token"),
        ("[slow] fox", f"Bearer {API_KEY}", 400, "not completed yet, current status: QUEUED"),
        ("[fail] fox", f"Bearer {API_KEY}", 400, "not completed yet, current status: FAILURE"),
    ],
)
async def test_the_fake_content_route_answers_as_new_api_does(
    prompt: str, key: str, status: int, words: str
) -> None:
    moment = [0.0]
    fake = GatewayFake(dialect="veo31", job_duration_s=1.0, clock=lambda: moment[0])
    async with fake, httpx.AsyncClient(base_url=fake.base_url) as client:
        created = await client.post(
            "/v1/video/generations",
            json={
                "model": "veo3.1-video-720p",
                "prompt": prompt,
                "duration": 8,
                "aspect_ratio": "16:9",
                "size": "720p",
            },
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        task = created.json()["id"]
        moment[0] = 10.0  # past the job's 1 s (a "[slow]" one runs 100 s)
        answer = await client.get(f"/v1/videos/{task}/content", headers={"Authorization": key})
        missing = await client.get(
            "/v1/videos/task_unknown/content", headers={"Authorization": f"Bearer {API_KEY}"}
        )
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.content == fake.video
    else:
        assert words in answer.json()["error"]["message"]
    assert missing.status_code == 404


@pytest.mark.parametrize(("dialect", "missing"), [("images", "generations"), ("veo31", "videos")])
async def test_a_gateway_without_the_usual_status_route_is_asked_on_the_other(
    store: SqliteStore, tmp_path: Path, dialect: str, missing: str
) -> None:
    async with gateway_bot(store, tmp_path, dialect=dialect, missing_routes=(missing,)) as bot:
        bot.delivered_once(await bot.run(GenerationRequest(prompt="fox")))
        bot.delivered_once(await bot.run(GenerationRequest(prompt="owl")))
        misses = [
            r
            for r in bot.fake.requests
            if r.method == "GET"
            and "task_" in r.path
            and (("/v1/videos/" in r.path) == (missing == "videos"))
            and not r.path.endswith("/content")
        ]
        assert len(misses) == 1  # one miss, then the other route for good


async def test_refusals_auth_quota_and_lost_tasks(store: SqliteStore, tmp_path: Path) -> None:
    async with gateway_bot(store, tmp_path, credits=0) as bot:
        job = await bot.run(GenerationRequest(prompt="fox"))
        await bot.failed(job, "provider_out_of_credits", "out of credits")
        bot.fake.inject(Fault(SUBMIT, 401, {"error": {"message": "Invalid token"}}, "POST"))
        job = await bot.run(GenerationRequest(prompt="fox"))
        await bot.failed(job, "provider_auth", "key for this video provider was refused")
        bot.fake.credits = 5
        bot.fake.inject(
            Fault(
                "/v1/video/generations/task_*",
                400,
                {"code": "task_not_exist", "message": "task_not_exist", "data": None},
                "GET",
            )
        )
        job = await bot.run(GenerationRequest(prompt="fox"))
        await bot.failed(job, "provider_job_not_found", "lost or expired")


async def test_a_429_and_a_5xx_burst_are_retried(store: SqliteStore, tmp_path: Path) -> None:
    async with gateway_bot(store, tmp_path) as bot:
        bot.fake.inject(Fault("/v1/video/generations/*", 502, "bad gateway", "GET", times=3))
        job = await bot.run(GenerationRequest(prompt="[429] fox"))
        bot.delivered_once(job)
        assert len(bot.fake.received("POST", SUBMIT)) == 2


@pytest.mark.parametrize("dialect", ["images", "veo31"])
async def test_veo_bot_try_works_against_the_fake(tmp_path: Path, dialect: str) -> None:
    async with GatewayFake(dialect=dialect, job_duration_s=0.1) as fake:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a kite",
            "--provider",
            "gateway",
            GATEWAY_API_KEY=API_KEY,
            GATEWAY_BASE_URL=fake.base_url,
            GATEWAY_DIALECT=dialect,
        )
        assert result.returncode == 0, result.stderr
        assert await asyncio.to_thread(Path(result.stdout.strip()).read_bytes) == fake.video


async def test_verbose_logs_never_show_the_urls_the_bot_calls(tmp_path: Path) -> None:
    # Result URLs are often signed (a query string that lets anyone download the video), and
    # httpx logs every request URL at INFO, which `-v` and `veo-bot run` show.
    async with GatewayFake(dialect="images", job_duration_s=0.1) as fake:
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "-v",
            "try",
            "a kite",
            "--provider",
            "gateway",
            GATEWAY_API_KEY=API_KEY,
            GATEWAY_BASE_URL=fake.base_url,
        )
    assert result.returncode == 0, result.stderr
    assert "job " in result.stderr  # the bot's own INFO lines are there
    assert fake.base_url not in result.stderr
    assert "HTTP Request" not in result.stderr
