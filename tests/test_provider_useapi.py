"""The useapi.net LTX Studio adapter against its fake: uploads and create bodies field by
field (as useapi's examples show them), the MP4 the channel gets, callbacks, and every failure
ending refunded in plain words. The last tests hold the fake itself to the documented contract."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.providers.useapi import UseapiProvider
from bot.clock import SystemClock
from bot.jobs import JobService
from bot.links import MediaLinks
from bot.media import load_image
from bot.models import GenerationRequest, Job, JobState
from bot.scheduler import Scheduler
from bot.web import build_web_app
from storage.sqlite import SqliteStore
from tests.fakes._base import Fault
from tests.fakes.useapi import TOKEN, FakeJob, UseapiFake
from tests.support import KeepingSurface, eventually, make_service, origin, png_bytes, run_cli

UPLOAD = "/v1/ltxstudio/assets/"
CREATE = "/v1/ltxstudio/videos/*"
JOB = "/v1/ltxstudio/assets/email*"
FIRST = png_bytes(640, 360, (250, 10, 10))
LAST = png_bytes(640, 360, (10, 10, 250))


@dataclass
class Bot:
    fake: UseapiFake
    service: JobService
    surface: KeepingSurface
    store: SqliteStore

    async def run(self, request: GenerationRequest) -> Job:
        job = await self.service.submit(request, origin())
        return await asyncio.wait_for(self.service.wait_until_done(job.id), 10)

    def created(self, endpoint: str) -> dict[str, Any]:
        [post] = self.fake.received("POST", f"/v1/ltxstudio/videos/{endpoint}")
        body: dict[str, Any] = post.json()
        return body

    def delivered_once(self, job: Job) -> None:
        assert job.state is JobState.DELIVERED, (job.error_code, job.error_message)
        assert self.surface.videos[job.id] == [self.fake.video]
        assert not self.fake.result_saw_authorization  # storage never sees our token

    async def failed(self, job: Job, code: str, words: str) -> None:
        assert (job.state, job.error_code) == (JobState.FAILED, code)
        [post] = self.surface.of(job.id, "failure")
        assert words in post.text and "not charged" in post.text
        assert not re.search(r"[{}]|HTTP|\b[45]\d\d\b|Unauthorized|Insufficient", post.text)
        [row] = await self.store.ledger([job.id])
        assert row["status"] == "refunded"


HOOK_SECRET = "hook-secret"


@asynccontextmanager
async def useapi_bot(
    store: SqliteStore,
    tmp_path: Path,
    *,
    email: str | None = None,
    poll_interval_s: float = 0.01,
    http_timeout: httpx.Timeout | None = None,
    public_url: str | None = None,
    **fake_options: Any,
) -> AsyncIterator[Bot]:
    async with UseapiFake(job_duration_s=0.05, **fake_options) as fake:
        assert isinstance(fake, UseapiFake)
        provider = UseapiProvider(TOKEN, email=email, base_url=fake.base_url, timeout=http_timeout)
        surface = KeepingSurface()
        service = make_service(
            store,
            tmp_path,
            providers={"useapi": provider},
            surfaces={"chat": surface},
            default_provider="useapi",
            poll_interval_s=poll_interval_s,
            webhook_secret=HOOK_SECRET,
            public_url=public_url,
            unretired=("useapi",),  # LTX Studio API retired 2026-03-09: kept for its return
        )
        scheduler = Scheduler(service, idle_s=0.02)
        await scheduler.start()
        try:
            yield Bot(fake, service, surface, store)
        finally:
            await scheduler.stop()
            await provider.aclose()


async def test_veo2_from_a_first_frame_matches_useapis_example(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="A serene landscape",
                model="veo2",
                duration_s=5,
                aspect_ratio="16:9",
                seed=123456,
                first_frame=load_image(FIRST),
            )
        )
        bot.delivered_once(job)
        [upload] = bot.fake.received("POST", UPLOAD)
        assert upload.query == {"type": "reference-image"}
        assert upload.headers["Content-Type"] == "image/png" and upload.body == FIRST
        assert upload.headers["Authorization"] == f"Bearer {TOKEN}"
        body = bot.created("veo-create")
        file_id = body.pop("startAssetId")
        assert bot.fake.assets[file_id] == ("reference-image", FIRST)
        assert body == {
            "prompt": "A serene landscape",
            "model": "veo2",
            "duration": "5",
            "aspectRatio": "16:9",
            "audioSFX": False,
            "seed": 123456,
        }
        # The id holds ':' and '@': '@' goes percent-encoded, ':' as is.
        pid = job.provider_job_id or ""
        assert "@" in pid and ":" in pid
        assert set(bot.fake.job_reads) == {"/v1/ltxstudio/assets/" + pid.replace("@", "%40")}


async def test_veo3_from_text_sends_its_resolution(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        job = await bot.run(
            GenerationRequest(prompt="a fox", model="veo3", resolution="720p", audio=True, seed=1)
        )
        bot.delivered_once(job)
        assert bot.created("veo-create") == {
            "prompt": "a fox",
            "model": "veo3",
            "duration": "8",
            "aspectRatio": "16:9",
            "audioSFX": True,
            "seed": 1,
            "resolution": "720p",
        }
        assert bot.fake.received("POST", UPLOAD) == []


async def test_ltx_from_first_and_last_frame_matches_useapis_example(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="day to night",
                model="ltxv-turbo",
                duration_s=7,
                aspect_ratio="1:1",
                seed=5,
                first_frame=load_image(FIRST),
                last_frame=load_image(LAST),
                extras={"intensity": "high"},
            )
        )
        bot.delivered_once(job)
        assert [r.query["type"] for r in bot.fake.received("POST", UPLOAD)] == ["image", "image"]
        body = bot.created("ltx-create")
        assert bot.fake.assets[body.pop("startAssetId")] == ("image", FIRST)
        assert bot.fake.assets[body.pop("endAssetId")] == ("image", LAST)
        assert body == {
            "prompt": "day to night",
            "model": "ltxv-turbo",
            "duration": "7",
            "aspectRatio": "1:1",
            "audioSFX": False,
            "seed": 5,
            "intensity": "high",
        }


async def test_an_unknown_intensity_is_refused_before_anything_is_sent(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        job = await bot.run(
            GenerationRequest(
                prompt="waves",
                model="ltxv",
                last_frame=load_image(LAST),
                extras={"intensity": "extreme"},
            )
        )
        await bot.failed(job, "provider_bad_request", "Motion intensity must be low, medium")
        assert bot.fake.requests == []


async def test_completed_without_a_url_is_still_running(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path, completed_without_url_polls=2) as bot:
        job = await bot.run(GenerationRequest(prompt="a fox", model="veo3"))
        bot.delivered_once(job)
        [fake_job] = bot.fake.jobs.values()
        assert fake_job.completed_readings == 3  # twice without the URL, then with it


async def test_several_accounts_need_and_get_the_email(store: SqliteStore, tmp_path: Path) -> None:
    accounts = ("a@example.com", "b@example.com")
    async with useapi_bot(store, tmp_path, email="b@example.com", accounts=accounts) as bot:
        job = await bot.run(
            GenerationRequest(prompt="fox", model="veo2", first_frame=load_image(FIRST))
        )
        bot.delivered_once(job)
        assert bot.fake.received("POST", UPLOAD)[0].query["email"] == "b@example.com"
        assert bot.created("veo-create")["email"] == "b@example.com"
        assert (job.provider_job_id or "").startswith("email:b@example.com:")


@pytest.mark.parametrize(
    ("prompt", "code", "words"),
    [
        ("[fail] fox", "provider_failed", "could not make this video"),
        ("[rai] fox", "content_rejected", "safety filter refused"),
    ],
)
async def test_failed_jobs_are_refunded_in_plain_words(
    store: SqliteStore, tmp_path: Path, prompt: str, code: str, words: str
) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        job = await bot.run(GenerationRequest(prompt=prompt, model="veo3"))
        await bot.failed(job, code, words)
        [post] = bot.surface.of(job.id, "failure")
        assert "Generation failed" not in post.text and "moderation" not in post.text


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        (Fault(CREATE, 401, {"error": "Unauthorized", "code": 401}), "provider_auth", "refused"),
        (
            Fault(CREATE, 402, {"error": "Subscription required", "code": 402}),
            "provider_out_of_credits",
            "subscription behind this bot has lapsed",
        ),
        (None, "provider_out_of_credits", "out of credits"),
    ],
)
async def test_refused_keys_and_empty_accounts_are_refunded(
    store: SqliteStore, tmp_path: Path, fault: Fault | None, code: str, words: str
) -> None:
    async with useapi_bot(store, tmp_path, credits=0 if fault is None else 5) as bot:
        if fault is not None:
            bot.fake.inject(fault)
        job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
        await bot.failed(job, code, words)
        assert len(bot.fake.received("POST", CREATE)) == 1  # never retried


async def test_a_wrong_token_reads_as_a_refused_key(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path, tokens={"user:2-other"}) as bot:
        job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
        await bot.failed(job, "provider_auth", "key for this video provider was refused")


async def test_an_expired_job_is_lost_and_refunded(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        submitted = await bot.service.submit(
            GenerationRequest(prompt="[slow] fox", model="veo3"), origin()
        )

        async def provider_job_id() -> str | None:
            job = await bot.service.get_job(submitted.id)
            return job.provider_job_id if job else None

        bot.fake.expire_job(await eventually(provider_job_id))
        done = await asyncio.wait_for(bot.service.wait_until_done(submitted.id), 10)
        await bot.failed(done, "provider_job_not_found", "lost or expired")


async def test_a_429_waits_its_retry_after_then_succeeds(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        started = time.monotonic()
        job = await bot.run(GenerationRequest(prompt="[429] fox", model="veo3"))
        bot.delivered_once(job)
        assert len(bot.fake.received("POST", CREATE)) == 2
        assert time.monotonic() - started >= 1.0  # the fake's Retry-After: 1


async def test_a_429_without_retry_after_backs_off_five_seconds(
    store: SqliteStore, tmp_path: Path
) -> None:
    async with useapi_bot(store, tmp_path) as bot:
        bot.fake.inject(Fault(CREATE, 429, {"error": "All accounts are busy", "code": 429}))
        submitted = await bot.service.submit(
            GenerationRequest(prompt="fox", model="veo3"), origin()
        )

        async def throttled() -> Job | None:
            job = await bot.service.get_job(submitted.id)
            return job if job and job.error_code == "provider_rate_limited" else None

        job = await eventually(throttled)
        assert job.state is JobState.PENDING
        assert job.due_at is not None and job.due_at - time.time() > 4.5


async def test_5xx_resets_and_timeouts_are_survived(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path, http_timeout=httpx.Timeout(0.3)) as bot:
        bot.fake.inject(
            Fault(CREATE, 503, "Service Unavailable", "POST", times=3),
            Fault(JOB, 522, "Connection timed out", "GET"),
            Fault(JOB, method="GET", reset=True),
            Fault(JOB, method="GET", delay_s=1.0),
        )
        job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
        bot.delivered_once(job)
        assert len(bot.fake.received("POST", CREATE)) == 4
        assert len(bot.fake.jobs) == 1  # the failed creates started nothing


async def test_an_expired_result_url_is_signed_again(store: SqliteStore, tmp_path: Path) -> None:
    async with useapi_bot(store, tmp_path, result_ttl_s=0.3) as bot:
        # The first download arrives after its URL has expired, as after a long queue.
        bot.fake.inject(Fault("/results/*", method="GET", delay_s=0.5, passthrough=True))
        job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
        bot.delivered_once(job)
        first, second = (r.path for r in bot.fake.received("GET", "/results/*"))
        assert first != second  # a fresh GET of the job gave a freshly signed URL


@pytest.mark.parametrize("duplicates", [False, True])
async def test_the_reply_url_callback_brings_the_result_without_waiting_for_a_poll(
    store: SqliteStore, tmp_path: Path, duplicates: bool
) -> None:
    sock = socket.socket()  # bound first, so that the callback URL can name its port
    sock.bind(("127.0.0.1", 0))
    public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with useapi_bot(
        store, tmp_path, poll_interval_s=3600, duplicate_callbacks=duplicates, public_url=public_url
    ) as bot:
        # The web server checks callback tokens with the secret the service signs them with.
        links = MediaLinks(None, HOOK_SECRET, SystemClock())
        runner = web.AppRunner(build_web_app(store, links, service=bot.service))
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            job = await bot.run(GenerationRequest(prompt="fox", model="veo3"))
            bot.delivered_once(job)
            body = bot.created("veo-create")
            assert body["replyUrl"].startswith(f"{public_url}/callbacks/useapi/{job.id}?token=")
            assert body["replyRef"] == job.id
            [fake_job] = bot.fake.jobs.values()
            sent = 2 if duplicates else 1
            await asyncio.wait_for(_callbacks_sent(fake_job, sent), 10)
            assert [status for status, _ in fake_job.callbacks] == [200] * sent
            payload = fake_job.callbacks[0][1]
            assert (payload["jobId"], payload["replyRef"]) == (job.provider_job_id, job.id)
            assert payload["status"]["type"] == "completed"
            assert len(bot.surface.videos[job.id]) == 1  # a duplicate is harmless
        finally:
            await runner.cleanup()


async def _callbacks_sent(job: FakeJob, count: int) -> None:
    while len(job.callbacks) < count:  # noqa: ASYNC110 - the fake's sender has no event
        await asyncio.sleep(0.01)


async def test_veo_bot_try_refuses_the_retired_api_before_calling_it(tmp_path: Path) -> None:
    """useapi.net retired its LTX Studio API on 2026-03-09: `veo-bot try` says so (exit 2)
    and nothing reaches useapi or the quota."""
    async with UseapiFake(job_duration_s=0.1) as fake:
        (tmp_path / "first.png").write_bytes(FIRST)
        result = await asyncio.to_thread(
            run_cli,
            tmp_path,
            "try",
            "a kite",
            "--provider",
            "useapi",
            "--model",
            "veo2",
            "--image",
            "first.png",
            USEAPI_TOKEN=TOKEN,
            USEAPI_BASE_URL=fake.base_url,
        )
        assert result.returncode == 2
        assert result.stderr.strip() == (
            "veo-bot: Veo 2 (LTX Studio) (veo2) was retired by useapi.net on 2026-03-09; "
            "pick another provider's model."
        )
        assert fake.requests == []
    assert "no jobs yet" in run_cli(tmp_path, "jobs").stdout


# --- the fake itself keeps to the documented contract ---------------------------------------


async def test_the_fake_refuses_what_useapi_refuses() -> None:
    accounts = ("a@example.com", "b@example.com")
    async with (
        UseapiFake(job_duration_s=0.05, accounts=accounts) as fake,
        httpx.AsyncClient(base_url=f"{fake.base_url}/v1/ltxstudio/") as client,
    ):
        auth = {"Authorization": f"Bearer {TOKEN}"}
        wrong = await client.post("videos/veo-create", json={"prompt": "x"})
        assert (wrong.status_code, wrong.json()) == (401, {"error": "Unauthorized", "code": 401})
        no_email = await client.post("videos/veo-create", json={"prompt": "x"}, headers=auth)
        assert no_email.status_code == 400 and "email" in no_email.json()["error"]
        email = {"email": "a@example.com"}
        untyped = await client.post("assets/", content=FIRST, params=email, headers=auth)
        assert untyped.status_code == 400  # Content-Type is required
        image = await client.post(
            "assets/", content=FIRST, params=email, headers={**auth, "Content-Type": "image/png"}
        )
        file_id = image.json()["asset"]["fileId"]
        assert image.json()["asset"]["type"] == "image" and file_id.startswith("asset:")
        veo = {"prompt": "x", "startAssetId": file_id, **email}
        wrong_kind = await client.post("videos/veo-create", json=veo, headers=auth)
        assert wrong_kind.status_code == 400 and "format" in wrong_kind.json()["error"]
        no_frames = await client.post(
            "videos/ltx-create", json={"prompt": "x", **email}, headers=auth
        )
        assert no_frames.json() == {"error": "startAssetId or endAssetId is required", "code": 400}
        for bad in ({"model": "veo3", "duration": "5"}, {"model": "veo2", "resolution": "1080p"}):
            refused = await client.post("videos/veo-create", json={**veo, **bad}, headers=auth)
            assert refused.status_code == 400


async def test_the_fake_reads_job_ids_raw_or_encoded_and_polls_for_results() -> None:
    async with (
        UseapiFake(job_duration_s=0.05) as fake,
        httpx.AsyncClient(
            base_url=f"{fake.base_url}/v1/ltxstudio/",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as client,
    ):
        assert isinstance(fake, UseapiFake)
        queued = await client.post("videos/veo-create", json={"prompt": "x", "model": "veo3"})
        assert queued.status_code == 201
        job_id = queued.json()["jobId"]
        [running] = (await client.get("scheduler")).json()
        assert (running["jobId"], running["email"]) == (job_id, "ltx@example.com")
        for path in (job_id, job_id.replace("@", "%40")):
            reading = await client.get(f"assets/{path}")
            assert reading.json()["jobId"] == job_id
        waited = await client.post(
            "videos/veo-create", json={"prompt": "x", "model": "veo3", "pollForResult": 2}
        )
        assert waited.status_code == 200 and waited.json()["status"]["type"] == "completed"
        video = await client.get(waited.json()["status"]["artifact"]["assetUrl"])
        assert video.content == fake.video
        fake.expire_job(job_id)
        gone = await client.get(f"assets/{job_id}")
        assert gone.json() == {"error": "Job not found or has expired.", "code": 404}
